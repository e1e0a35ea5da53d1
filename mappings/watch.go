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
// previous set stays in use. The directory itself may be replaced (a new
// copy moved into place, a symbolic link switched to another release): the
// watcher watches the new one and reloads.
type Watcher struct {
	// Dir is the mappings directory (watched recursively; a symbolic link
	// is followed, and watched for being switched).
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
	// The directory's own entry is watched in its parent: a replaced
	// directory or a switched link shows there, not inside the old tree.
	dir, err := filepath.Abs(w.Dir) // "." has a parent too
	if err != nil {
		return fmt.Errorf("watch mappings %s: %w", w.Dir, err)
	}
	parent, base := filepath.Dir(dir), filepath.Base(dir)
	if err := fw.Add(parent); err != nil {
		return fmt.Errorf("watch mappings %s: %w", parent, err)
	}
	if err := w.arm(fw, parent); err != nil {
		return fmt.Errorf("watch mappings %s: %w", w.Dir, err)
	}
	debounce := w.Debounce
	if debounce <= 0 {
		debounce = 200 * time.Millisecond
	}
	var timer <-chan time.Time
	rearm := false
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-fw.Events:
			if !ok {
				return nil
			}
			if filepath.Dir(ev.Name) == parent {
				if filepath.Base(ev.Name) != base {
					continue // the parent's other entries
				}
				rearm = true // the directory (or the link) itself changed
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
			if rearm {
				rearm = false
				if err := w.arm(fw, parent); err != nil && w.OnError != nil {
					w.OnError(fmt.Errorf("watch mappings %s: %w", w.Dir, err))
				}
			}
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

// arm watches the directory tree Dir leads to now (following a link),
// instead of the one it led to before; parent stays watched. A directory
// that is gone for the moment is not an error: its return is seen in
// parent.
func (w *Watcher) arm(fw *fsnotify.Watcher, parent string) error {
	for _, p := range fw.WatchList() {
		if p != parent {
			_ = fw.Remove(p)
		}
	}
	root, err := filepath.EvalSymlinks(w.Dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	return addTree(fw, root)
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
