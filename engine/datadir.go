package engine

import (
	"fmt"
	"os"
	"path/filepath"
)

// LockFileName is the file in a data directory that `carebridge serve`
// holds an exclusive lock on while it runs. It holds the holder's process
// ID; the file itself is left in place when the lock is released.
const LockFileName = "serve.lock"

// DataDirLock is an exclusive lock on a data directory, held by one node
// (one `carebridge serve`) for its lifetime, so that no second node runs on
// the same journal: a starting node returns its own claims to the queue,
// which would take messages from a running one.
//
// The lock is an advisory flock(2) on the lock file: the operating system
// drops it when the process exits, however it exits, so a crash never
// leaves the directory locked. Other commands (replay into the journal,
// messages list and reprocess) do not take it and may run beside serve.
type DataDirLock struct {
	f *os.File
}

// DataDirInUseError says that another process holds a data directory's lock.
type DataDirInUseError struct {
	// Dir is the data directory, absolute when it could be made so.
	Dir string
	// PID is the holder's process ID, or 0 when unknown.
	PID int
}

func (e *DataDirInUseError) Error() string {
	pid := "pid unknown"
	if e.PID > 0 {
		pid = fmt.Sprintf("pid %d", e.PID)
	}
	return fmt.Sprintf("data directory %s is in use by another carebridge serve (%s)", e.Dir, pid)
}

// LockDataDir creates dir if it does not exist and takes the exclusive lock
// on it without waiting. If another process holds the lock, it returns a
// *DataDirInUseError naming that process. The lock lasts until Close or the
// end of the process.
func LockDataDir(dir string) (*DataDirLock, error) {
	if abs, err := filepath.Abs(dir); err == nil {
		dir = abs
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("lock data directory: %w", err)
	}
	path := filepath.Join(dir, LockFileName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o640)
	if err != nil {
		return nil, fmt.Errorf("lock data directory: %w", err)
	}
	held, err := tryLock(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("lock data directory: %s: %w", path, err)
	}
	if !held {
		pid := readPID(f)
		f.Close()
		return nil, &DataDirInUseError{Dir: dir, PID: pid}
	}
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt(fmt.Appendf(nil, "%d\n", os.Getpid()), 0)
	}
	return &DataDirLock{f: f}, nil
}

// Close releases the lock.
func (l *DataDirLock) Close() error {
	if l == nil || l.f == nil {
		return nil
	}
	err := l.f.Close() // closing the descriptor drops the flock
	l.f = nil
	return err
}

// readPID reads the holder's process ID from the lock file, 0 if it
// cannot (the holder may not have written it yet).
func readPID(f *os.File) int {
	b := make([]byte, 32)
	n, _ := f.ReadAt(b, 0)
	var pid int
	if _, err := fmt.Sscanf(string(b[:n]), "%d", &pid); err != nil {
		return 0
	}
	return pid
}
