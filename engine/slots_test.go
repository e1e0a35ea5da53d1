package engine

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestApplySlotsLimitFollowsTheListeners: while messages arrive, at most
// busy applies run; once the listeners are quiet, up to quiet.
func TestApplySlotsLimitFollowsTheListeners(t *testing.T) {
	var clock atomic.Int64
	clock.Store(time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC).UnixNano())
	now := func() time.Time { return time.Unix(0, clock.Load()) }
	s := newApplySlots(2, 4, now)

	s.received()
	if got := s.limit(); got != 2 {
		t.Fatalf("limit just after a message = %d, want 2", got)
	}
	s.acquire()
	s.acquire()
	if s.tryAcquire() {
		t.Fatal("a third apply may run while the listeners are busy")
	}
	// A third apply waits; once the listeners are quiet and a slot is
	// released (the release makes the waiter look at the limit again), it
	// runs, and a fourth finds a slot too.
	third := make(chan struct{})
	go func() {
		s.acquire()
		close(third)
	}()
	clock.Add(int64(quietAfter))
	s.release()
	<-third
	// In use: the first, the third; two more fit under the quiet limit.
	if !s.tryAcquire() || !s.tryAcquire() {
		t.Fatal("fewer than 4 slots once the listeners are quiet")
	}
	if s.tryAcquire() {
		t.Fatal("a fifth slot in use: the quiet limit is 4")
	}
	if got := s.limit(); got != 4 {
		t.Fatalf("quiet limit = %d, want 4", got)
	}
}

// TestApplySlotsNeverExceedTheLimit runs many applies at once and checks
// the high-water mark.
func TestApplySlotsNeverExceedTheLimit(t *testing.T) {
	s := newApplySlots(3, 3, time.Now)
	var running, most atomic.Int32
	var wg sync.WaitGroup
	for range 64 {
		wg.Go(func() {
			s.acquire()
			n := running.Add(1)
			for {
				m := most.Load()
				if n <= m || most.CompareAndSwap(m, n) {
					break
				}
			}
			running.Add(-1)
			s.release()
		})
	}
	wg.Wait()
	if m := most.Load(); m > 3 || m < 1 {
		t.Fatalf("at most %d ran at once, want 1..3", m)
	}
}

func TestApplySlotsBusyNeverAboveQuiet(t *testing.T) {
	if s := newApplySlots(16, 4, time.Now); s.busy != 4 || s.quiet != 4 {
		t.Fatalf("busy %d, quiet %d; want 4, 4", s.busy, s.quiet)
	}
	if s := newApplySlots(0, 0, time.Now); s.busy != 1 || s.quiet != 1 {
		t.Fatalf("busy %d, quiet %d; want 1, 1", s.busy, s.quiet)
	}
}
