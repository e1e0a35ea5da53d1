package mappings_test

import (
	"context"
	"fmt"
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

// Deploying a new release of the mappings by replacing the directory (a
// copy moved into place) or by switching a symbolic link to another
// directory is seen: the new tree is loaded and then watched.
func TestWatcherFollowsAReplacedDirectory(t *testing.T) {
	for _, how := range []string{"directory moved into place", "symbolic link switched"} {
		t.Run(how, func(t *testing.T) {
			base := t.TempDir()
			release := func(name, female string) string {
				t.Helper()
				d := filepath.Join(base, name)
				if err := os.Mkdir(d, 0o755); err != nil {
					t.Fatal(err)
				}
				for file, f := range langFiles {
					data := f.Data
					if file == "sex.yaml" {
						data = []byte("codemap: Sex\ntable: \"0001\"\ntarget: http://hl7.org/fhir/administrative-gender\ncodes:\n  F: {code: " + female + "}\n  M: {code: male}\n")
					}
					if err := os.WriteFile(filepath.Join(d, file), data, 0o644); err != nil {
						t.Fatal(err)
					}
				}
				return d
			}
			dir := filepath.Join(base, "current")
			if how == "directory moved into place" {
				if err := os.Rename(release("r1", "female"), dir); err != nil {
					t.Fatal(err)
				}
			} else if err := os.Symlink("r1", dir); err != nil {
				t.Fatal(err)
			} else {
				release("r1", "female")
			}
			first, err := mappings.Load(os.DirFS(dir))
			if err != nil {
				t.Fatal(err)
			}
			loaded := make(chan *mappings.Set, 16)
			refused := make(chan error, 16)
			ctx, cancel := context.WithCancel(context.Background())
			w := &mappings.Watcher{Dir: dir, Debounce: 20 * time.Millisecond,
				OnLoad: func(s *mappings.Set) { loaded <- s }, OnError: func(err error) { refused <- err }}
			done := make(chan error, 1)
			go func() { done <- w.Run(ctx) }()
			defer func() { cancel(); <-done }()

			// Deploy release n (bounded retries: the watcher may not be
			// watching yet when the first deploy happens) and wait for a
			// set other than the one before.
			deadline := time.After(10 * time.Second)
			deploy := func(n int, female string, before *mappings.Set) *mappings.Set {
				t.Helper()
				name := fmt.Sprintf("r%d", n)
				for try := 0; ; try++ {
					rel := release(fmt.Sprintf("%s-%d", name, try), female)
					if how == "directory moved into place" {
						if err := os.RemoveAll(dir); err != nil {
							t.Fatal(err)
						}
						if err := os.Rename(rel, dir); err != nil {
							t.Fatal(err)
						}
					} else {
						tmp := filepath.Join(base, "current.tmp")
						if err := os.Symlink(filepath.Base(rel), tmp); err != nil {
							t.Fatal(err)
						}
						if err := os.Rename(tmp, dir); err != nil {
							t.Fatal(err)
						}
					}
					wait := time.After(500 * time.Millisecond)
					for {
						select {
						case s := <-loaded:
							if s.Hash() != before.Hash() {
								return s
							}
							continue
						case <-refused: // the directory was briefly gone
							continue
						case <-wait:
						case <-deadline:
							t.Fatalf("release %s never loaded", name)
						}
						break
					}
				}
			}
			second := deploy(2, "unknown", first)
			// And the new tree is watched: an edit inside it is loaded.
			tree, err := filepath.EvalSymlinks(dir)
			if err != nil {
				t.Fatal(err)
			}
			for {
				data := []byte("codemap: Sex\ntable: \"0001\"\ntarget: http://hl7.org/fhir/administrative-gender\ncodes:\n  F: {code: other}\n  M: {code: male}\n")
				if err := os.WriteFile(filepath.Join(tree, ".tmp"), data, 0o644); err != nil {
					t.Fatal(err)
				}
				if err := os.Rename(filepath.Join(tree, ".tmp"), filepath.Join(tree, "sex.yaml")); err != nil {
					t.Fatal(err)
				}
				select {
				case s := <-loaded:
					if s.Hash() != second.Hash() && s.Hash() != first.Hash() {
						return
					}
				case <-refused:
				case <-time.After(500 * time.Millisecond):
				case <-deadline:
					t.Fatal("an edit inside the new tree was never loaded")
				}
			}
		})
	}
}

// With the mappings directory given as ".", edits at its top level are
// seen like any others.
func TestWatcherOnTheCurrentDirectory(t *testing.T) {
	dir := t.TempDir()
	for name, f := range langFiles {
		if err := os.WriteFile(filepath.Join(dir, name), f.Data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Chdir(dir)
	refused := make(chan error, 16)
	ctx, cancel := context.WithCancel(context.Background())
	w := &mappings.Watcher{Dir: ".", Debounce: 20 * time.Millisecond, OnError: func(err error) { refused <- err }}
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	defer func() { cancel(); <-done }()
	deadline := time.After(10 * time.Second)
	for {
		if err := os.WriteFile("sex.yaml", []byte("codemap: Sex\ncolour: red\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-refused:
			if strings.Contains(err.Error(), "sex.yaml") {
				return
			}
		case <-time.After(300 * time.Millisecond):
		case <-deadline:
			t.Fatal("an edit at the top of \".\" was never seen")
		}
	}
}
