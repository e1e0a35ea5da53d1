package mappings

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/fsnotify/fsnotify"
)

// Watcher reloads a directory of mappings when its files change. An edit
// that does not compile is refused: OnError receives every error and the
// previous set stays in use.
type Watcher struct {
	// Dir is the mappings directory (watched recursively).
	Dir string
	// Debounce is how long to wait for more changes before reloading
	// (editors write several times); default 200ms.
	Debounce time.Duration
	// OnLoad receives each newly compiled set.
	OnLoad func(*Set)
	// OnError receives the errors of a refused reload.
	OnError func(error)
}

// Run watches until ctx ends. It does not load the initial set: load it
// with Load(os.DirFS(dir)) before.
func (w *Watcher) Run(ctx context.Context) error {
	fw, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("watch mappings: %w", err)
	}
	defer fw.Close()
	if err := addTree(fw, w.Dir); err != nil {
		return fmt.Errorf("watch mappings %s: %w", w.Dir, err)
	}
	debounce := w.Debounce
	if debounce <= 0 {
		debounce = 200 * time.Millisecond
	}
	var timer <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-fw.Events:
			if !ok {
				return nil
			}
			if ev.Op&fsnotify.Create != 0 {
				if st, err := os.Stat(ev.Name); err == nil && st.IsDir() {
					_ = addTree(fw, ev.Name)
				}
			}
			timer = time.After(debounce)
		case err, ok := <-fw.Errors:
			if !ok {
				return nil
			}
			if w.OnError != nil {
				w.OnError(fmt.Errorf("watch mappings: %w", err))
			}
		case <-timer:
			timer = nil
			set, err := Load(os.DirFS(w.Dir))
			if err != nil {
				if w.OnError != nil {
					w.OnError(err)
				}
				continue
			}
			if w.OnLoad != nil {
				w.OnLoad(set)
			}
		}
	}
}

func addTree(fw *fsnotify.Watcher, root string) error {
	return filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if d.IsDir() {
			return fw.Add(p)
		}
		return nil
	})
}
