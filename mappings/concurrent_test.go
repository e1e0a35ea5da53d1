package mappings_test

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/carebridge/carebridge/engine/hl7"
	"github.com/carebridge/carebridge/mappings"
)

// TestMapConcurrentlyMatchesSequential maps every test and example message
// from several goroutines sharing one Set, each in its own order, and
// compares every result with the one mapped alone: per-message state (which
// Map reuses across messages) must neither leak from one message into the
// next nor be shared between goroutines (run it with -race).
func TestMapConcurrentlyMatchesSequential(t *testing.T) {
	set, err := mappings.Load(os.DirFS("hl7v2"))
	if err != nil {
		t.Fatal(err)
	}
	var files []string
	for _, root := range []string{"../testdata/hl7", "hl7v2/messages/examples"} {
		err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() && strings.HasSuffix(p, ".hl7") {
				files = append(files, p)
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if len(files) < 10 {
		t.Fatalf("only %d messages found", len(files))
	}
	type outcome struct {
		bundle   []byte
		warnings []mappings.Warning
		unused   []mappings.Unused
		hits     []bool
		err      string
	}
	mapOne := func(raw []byte) outcome {
		msg, err := hl7.Parse(raw)
		if err != nil {
			return outcome{err: err.Error()}
		}
		res, err := set.Map(msg, mappings.Options{JournalID: 3})
		if err != nil {
			return outcome{err: err.Error()}
		}
		return outcome{bundle: res.Bundle, warnings: res.Warnings, unused: res.Unused, hits: res.Hits()}
	}
	raws := make([][]byte, len(files))
	want := make([]outcome, len(files))
	for i, f := range files {
		if raws[i], err = os.ReadFile(f); err != nil {
			t.Fatal(err)
		}
		want[i] = mapOne(raws[i])
	}
	const workers, rounds = 6, 5
	var wg sync.WaitGroup
	errs := make(chan string, workers*rounds*len(files))
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := range rounds {
				for k := range files {
					i := (k*(w+1) + r) % len(files) // a different order per worker and round
					got := mapOne(raws[i])
					switch {
					case got.err != want[i].err:
						errs <- fmt.Sprintf("%s: error %q, alone %q", files[i], got.err, want[i].err)
					case !bytes.Equal(got.bundle, want[i].bundle):
						errs <- fmt.Sprintf("%s: the Bundle differs from the one mapped alone", files[i])
					case !reflect.DeepEqual(got.warnings, want[i].warnings) || !reflect.DeepEqual(got.unused, want[i].unused) || !reflect.DeepEqual(got.hits, want[i].hits):
						errs <- fmt.Sprintf("%s: warnings, unused fields or coverage differ from the message mapped alone", files[i])
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	n := 0
	for e := range errs {
		if n < 10 {
			t.Error(e)
		}
		n++
	}
	if n > 10 {
		t.Errorf("... and %d more", n-10)
	}
}
