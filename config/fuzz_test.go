package config

import (
	"errors"
	"strings"
	"testing"

	"github.com/carebridge/carebridge/configs"
)

// FuzzParse checks that any input either loads or fails with positioned
// errors, never a panic.
func FuzzParse(f *testing.F) {
	f.Add(configs.Default)
	f.Add([]byte("mllp:\n  - addr: 127.0.0.1:1\n    tls:\n      cert_file: a\n"))
	f.Add([]byte("journal: [1, 2]\n"))
	f.Add([]byte("a: &x {b: *x}\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := Parse("fuzz.yaml", b)
		if err != nil {
			var errs *Errors
			if !errors.As(err, &errs) || len(errs.List) == 0 {
				t.Fatalf("error %v is not a non-empty *Errors", err)
			}
			for _, e := range errs.List {
				if !strings.HasPrefix(e.Error(), "fuzz.yaml") {
					t.Fatalf("error without the file name: %q", e.Error())
				}
			}
			return
		}
		if c.DataDir == "" || c.Processing.Workers < 1 {
			t.Fatalf("accepted config without defaults: %+v", c)
		}
	})
}
