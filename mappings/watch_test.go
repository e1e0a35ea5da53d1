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
	write := func(content string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, "sex.yaml"), []byte(content), 0o644); err != nil {
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
			t.Fatalf("a broken set was loaded: %s", s.Hash())
		case <-time.After(200 * time.Millisecond):
		case <-deadline:
			t.Fatal("the watcher never reacted")
		}
	}
	if !strings.Contains(got.Error(), "sex.yaml:5:") || !strings.Contains(got.Error(), "colour") {
		t.Fatalf("refusal = %v; want the file position and the bad key", got)
	}
	// A good edit is loaded, with a new hash.
	write("codemap: Sex\ntable: \"0001\"\ntarget: http://hl7.org/fhir/administrative-gender\ncodes:\n  F: {code: female}\n  M: {code: male}\n  U: {code: unknown}\n")
	select {
	case s := <-loaded:
		if s.Hash() == first.Hash() {
			t.Fatal("reloaded set has the old hash")
		}
	case err := <-refused:
		t.Fatalf("a good edit was refused: %v", err)
	case <-deadline:
		t.Fatal("the good edit was never loaded")
	}
}
