package engine_test

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/carebridge/carebridge/engine"
)

func TestLockDataDirIsExclusive(t *testing.T) {
	if runtime.GOOS == "windows" || runtime.GOOS == "plan9" {
		t.Skip("no flock on " + runtime.GOOS)
	}
	dir := filepath.Join(t.TempDir(), "data") // created by the lock
	first, err := engine.LockDataDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	_, err = engine.LockDataDir(dir)
	var inUse *engine.DataDirInUseError
	if !errors.As(err, &inUse) || inUse.PID != os.Getpid() || inUse.Dir != dir {
		t.Fatalf("second lock: %v; want a DataDirInUseError naming %s and pid %d", err, dir, os.Getpid())
	}
	if want := "data directory " + dir + " is in use by another carebridge serve (pid "; !strings.HasPrefix(err.Error(), want) {
		t.Fatalf("error %q does not start with %q", err, want)
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	again, err := engine.LockDataDir(dir)
	if err != nil {
		t.Fatalf("lock after release: %v", err)
	}
	again.Close()
}
