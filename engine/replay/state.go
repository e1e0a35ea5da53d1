package replay

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"time"
)

const stateVersion = 1

// headSize is how much of a file's start goes into its fingerprint.
const headSize = 1024

// state is the checkpoint kept in the state file.
type state struct {
	Version int       `json:"version"`
	Updated time.Time `json:"updated"`
	// Target is where the messages were delivered (Options.Target); empty
	// when unknown.
	Target string `json:"target,omitempty"`
	// Complete is true when every file of the last run was done.
	Complete bool `json:"complete"`
	// Files maps a file's absolute path to its progress.
	Files map[string]*fileState `json:"files"`
}

// fingerprint identifies a file's contents well enough to tell that it
// changed.
type fingerprint struct {
	Size    int64  `json:"size"`
	ModTime int64  `json:"mtime_ns"`
	Head    string `json:"head_sha256"`
}

// fileState is one file's progress.
type fileState struct {
	fingerprint
	// Done is the watermark: messages 1..Done all have an outcome.
	Done int `json:"done"`
	// Above lists messages past Done that have an outcome (completed out
	// of order).
	Above []int `json:"above,omitempty"`
	// Complete is true when all of the file's messages have an outcome;
	// Done is then their number.
	Complete bool `json:"complete,omitempty"`
}

// ErrOtherTarget is returned by Run when Resume is asked for with a state
// file that records a replay to another destination: what it records as
// delivered was delivered there, not to Options.Target.
var ErrOtherTarget = errors.New("the state file is for another destination")

// openState reads the state file for a resumed run to target, or starts
// afresh.
func openState(path string, resume bool, target string) (*state, error) {
	st := &state{Version: stateVersion, Target: target, Files: make(map[string]*fileState)}
	if !resume {
		return st, nil
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return st, nil
	}
	if err != nil {
		return nil, fmt.Errorf("replay: read state: %w", err)
	}
	if err := json.Unmarshal(b, st); err != nil {
		return nil, fmt.Errorf("replay: read state %s: %w", path, err)
	}
	if st.Version != stateVersion {
		return nil, fmt.Errorf("replay: state %s has version %d, want %d", path, st.Version, stateVersion)
	}
	if st.Target != "" && target != "" && st.Target != target {
		return nil, fmt.Errorf("replay: cannot resume: state %s records a replay to %s, not to %s: %w", path, st.Target, target, ErrOtherTarget)
	}
	if target != "" {
		st.Target = target
	}
	if st.Files == nil {
		st.Files = make(map[string]*fileState)
	}
	return st, nil
}

// save writes the state atomically: to a temporary file beside path, then
// renamed over it.
func (st *state) save(path string, now time.Time) error {
	st.Updated = now.UTC()
	b, err := json.MarshalIndent(st, "", " ")
	if err != nil {
		return fmt.Errorf("replay: encode state: %w", err)
	}
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, base+".tmp-*")
	if err != nil {
		return fmt.Errorf("replay: write state: %w", err)
	}
	_, err = f.Write(append(b, '\n'))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("replay: write state: %w", err)
	}
	return nil
}

// stateKey is the state's name for a file.
func stateKey(path string) string {
	if abs, err := filepath.Abs(path); err == nil {
		return abs
	}
	return path
}

// fingerprintFile computes path's fingerprint.
func fingerprintFile(path string) (fingerprint, error) {
	f, err := os.Open(path)
	if err != nil {
		return fingerprint{}, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fingerprint{}, err
	}
	h := sha256.New()
	if _, err := io.CopyN(h, f, headSize); err != nil && err != io.EOF {
		return fingerprint{}, err
	}
	return fingerprint{Size: fi.Size(), ModTime: fi.ModTime().UnixNano(), Head: hex.EncodeToString(h.Sum(nil))}, nil
}

// tracker follows one file's completions during a run.
type tracker struct {
	st    *fileState
	above map[int]struct{}
	count int // messages in the file, or -1 while unknown
}

func newTracker(st *fileState) *tracker {
	t := &tracker{st: st, above: make(map[int]struct{}, len(st.Above)), count: -1}
	for _, i := range st.Above {
		t.above[i] = struct{}{}
	}
	return t
}

// mark records that message index has an outcome.
func (t *tracker) mark(index int) {
	switch {
	case index <= t.st.Done:
		return
	case index == t.st.Done+1:
		t.st.Done++
		for {
			if _, ok := t.above[t.st.Done+1]; !ok {
				break
			}
			delete(t.above, t.st.Done+1)
			t.st.Done++
		}
	default:
		t.above[index] = struct{}{}
	}
	t.check()
}

// end records that the file holds count messages.
func (t *tracker) end(count int) {
	t.count = count
	t.check()
}

func (t *tracker) check() {
	if t.count >= 0 && t.st.Done >= t.count {
		t.st.Complete = true
		t.st.Done = t.count
		clear(t.above)
	}
}

// sync copies the out-of-order set into the file state, sorted.
func (t *tracker) sync() {
	t.st.Above = t.st.Above[:0]
	for i := range t.above {
		t.st.Above = append(t.st.Above, i)
	}
	slices.Sort(t.st.Above)
}
