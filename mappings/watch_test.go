package mappings_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/carebridge/carebridge/mappings"
)

func TestWatcherReloadsAndRefusesBadEdits(t *testing.T) {
	dir := t.TempDir()
	for name, f := range langFiles {
		if err := os.WriteFile(filepath.Join(dir, name), f.Data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	first, err := mappings.Load(os.DirFS(dir))
	if err != nil {
		t.Fatal(err)
	}
	loaded := make(chan *mappings.Set, 4)
	refused := make(chan error, 4)
	ctx, cancel := context.WithCancel(context.Background())
	w := &mappings.Watcher{Dir: dir, Debounce: 20 * time.Millisecond,
		OnLoad: func(s *mappings.Set) { loaded <- s }, OnError: func(err error) { refused <- err }}
	done := make(chan error, 1)
	ready := make(chan struct{})
	go func() { close(ready); done <- w.Run(ctx) }()
	<-ready
	defer func() { cancel(); <-done }()

	// A bad edit is refused with its position; nothing is loaded.
	// Write as editors and deploy tools should: a temporary file renamed
	// over the old one, so that no reload sees a half-written file.
	write := func(content string) {
		t.Helper()
		tmp := filepath.Join(dir, ".sex.yaml.tmp")
		if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, filepath.Join(dir, "sex.yaml")); err != nil {
			t.Fatal(err)
		}
	}
	// The watcher may not be watching yet when the first write happens:
	// keep writing until it reacts (bounded).
	deadline := time.After(10 * time.Second)
	bad := "codemap: Sex\ntable: \"0001\"\ntarget: x\ncodes:\n  F: {code: female, colour: red}\n"
	var got error
	for got == nil {
		write(bad)
		select {
		case got = <-refused:
		case s := <-loaded:
			if s.Hash() != first.Hash() {
				t.Fatalf("a broken set was loaded: %s", s.Hash())
			}
			// A reload between the temporary file and the rename saw the old set.
		case <-time.After(200 * time.Millisecond):
		case <-deadline:
			t.Fatal("the watcher never reacted")
		}
	}
	if !strings.Contains(got.Error(), "sex.yaml:5:") || !strings.Contains(got.Error(), "colour") {
		t.Fatalf("refusal = %v; want the file position and the bad key", got)
	}
	// A good edit is loaded, with a new hash (a refusal of the broken edit
	// may still be on its way: wait for the load).
	write("codemap: Sex\ntable: \"0001\"\ntarget: http://hl7.org/fhir/administrative-gender\ncodes:\n  F: {code: female}\n  M: {code: male}\n  U: {code: unknown}\n")
	for {
		select {
		case s := <-loaded:
			if s.Hash() != first.Hash() {
				return
			}
		case <-refused:
		case <-deadline:
			t.Fatal("the good edit was never loaded")
		}
	}
}
