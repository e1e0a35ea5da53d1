package mllp_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"time"

	"github.com/carebridge/carebridge/engine/mllp"
)

// A receiver acknowledging every message, and a sender waiting for the ACK
// of its message.
func Example() {
	ctx := context.Background()
	srv := &mllp.Server{
		Name:        "adt-in",
		ReadTimeout: 10 * time.Second,
		Handler: mllp.HandlerFunc(func(ctx context.Context, conn *mllp.ConnInfo, msg []byte) []byte {
			// A real handler commits msg durably before acknowledging it.
			header, _, _ := strings.Cut(string(msg), "\r")
			controlID := strings.Split(header, "|")[9]
			return []byte("MSH|^~\\&|CB|CB|HIS|GEN|20240102||ACK|A" + controlID + "|P|2.5.1\rMSA|AA|" + controlID + "\r")
		}),
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Println(err)
		return
	}
	go srv.Serve(ctx, ln)
	defer srv.Shutdown(ctx)

	client, err := mllp.Dial(ctx, ln.Addr().String(), mllp.ClientOptions{AckTimeout: 5 * time.Second, Reconnect: true})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer client.Close()
	ack, err := client.Send(ctx, []byte("MSH|^~\\&|HIS|GEN|CB|CB|20240102||ADT^A01|MSG0001|P|2.5.1\rPID|1||123^^^GEN^MR\r"))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(strings.ReplaceAll(string(ack), "\r", "\n"))
	// Output:
	// MSH|^~\&|CB|CB|HIS|GEN|20240102||ACK|AMSG0001|P|2.5.1
	// MSA|AA|MSG0001
}

// Reading frames from any io.Reader: garbage between frames is skipped and
// a frame over the limit is reported and discarded.
func ExampleReader() {
	input := "noise\x0bMSH|first\x1c\r\x0bMSH|this one is far too long\x1c\r\x0bMSH|third\x1c\r"
	r := mllp.NewReader(strings.NewReader(input), mllp.WithMaxFrameSize(16))
	for {
		payload, err := r.ReadFrame()
		if err != nil {
			fmt.Println("error:", err)
			if errors.Is(err, io.EOF) {
				break
			}
			continue
		}
		fmt.Printf("frame: %q\n", payload)
	}
	fmt.Println("skipped bytes:", r.Skipped())
	// Output:
	// frame: "MSH|first"
	// error: mllp: frame of 28 bytes exceeds the limit of 16 bytes
	// frame: "MSH|third"
	// error: EOF
	// skipped bytes: 5
}
