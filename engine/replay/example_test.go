package replay_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/carebridge/carebridge/engine/archive"
	"github.com/carebridge/carebridge/engine/replay"
)

// countingSink accepts every message.
type countingSink struct{}

func (countingSink) Deliver(ctx context.Context, msg archive.Message) (replay.Result, error) {
	return replay.Result{Outcome: replay.Accepted, AckCode: "AA"}, nil
}

func ExampleRun() {
	dir, _ := os.MkdirTemp("", "replay-example")
	defer os.RemoveAll(dir)
	os.WriteFile(filepath.Join(dir, "adt.hl7"), []byte(
		"MSH|^~\\&|ADT|GENHOSP|||20260101||ADT^A08|1|P|2.5.1\rPID|1||MRN1\r"+
			"MSH|^~\\&|ADT|GENHOSP|||20260101||ADT^A08|2|P|2.5.1\rPID|1||MRN2\r"), 0o644)

	sum, err := replay.Run(context.Background(), countingSink{}, replay.Options{
		Paths:     []string{dir},
		StateFile: filepath.Join(dir, "replay.state"),
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%d messages, %d accepted\n", sum.Total, sum.Accepted)
	// Output: 2 messages, 2 accepted
}
