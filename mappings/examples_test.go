package mappings_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/carebridge/carebridge/mappings"
)

var update = flag.Bool("update", false, "rewrite the expected output of the shipped examples")

// TestShippedExamples runs every example of the shipped maps against its
// golden Bundle (go test ./mappings -run ShippedExamples -update rewrites them).
func TestShippedExamples(t *testing.T) {
	dir := filepath.Join("hl7v2")
	fsys := os.DirFS(dir)
	set, err := mappings.Load(fsys)
	if err != nil {
		t.Fatal(err)
	}
	exs := set.Examples()
	if len(exs) < 30 {
		t.Fatalf("only %d shipped examples: the golden tests cover every trigger", len(exs))
	}
	for _, ex := range exs {
		t.Run(ex.Name, func(t *testing.T) {
			run, err := set.RunExample(fsys, ex)
			if err != nil {
				t.Fatal(err)
			}
			if *update {
				if err := os.WriteFile(filepath.Join(dir, ex.Expect), run.Got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			if !run.Passed() {
				t.Errorf("%s: output differs from %s (run with -update to accept):\n%s", ex.At, ex.Expect, diffLines(string(run.Want), string(run.Got)))
			}
			// The golden file is indented; the Bundle itself must be its
			// compact form byte for byte (key order, escaping, numbers).
			var compact bytes.Buffer
			if err := json.Compact(&compact, run.Want); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(run.Result.Bundle, compact.Bytes()) {
				t.Errorf("%s: the Bundle's bytes differ from the compact form of %s", ex.At, ex.Expect)
			}
			validateBundle(t, run.Got)
		})
	}
}
