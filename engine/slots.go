package engine

import (
	"sync"
	"sync/atomic"
	"time"
)

// applySlots bounds how many messages the workers apply to the record at
// once, across the engine. Applying is CPU work; while messages arrive, it
// shares the CPU with the listeners, whose ACKs must stay fast, so fewer
// applies run (busy: one per CPU); once the listeners have been quiet for
// quietAfter, more (quiet), so that a backlog drains with fuller commits.
type applySlots struct {
	busy, quiet int
	now         func() time.Time
	// lastReceive is when a message last arrived (Unix nanoseconds).
	lastReceive atomic.Int64

	mu    sync.Mutex
	freed *sync.Cond // signalled when a slot is released
	inUse int
}

// quietAfter is how long after the last message the listeners count as
// quiet.
const quietAfter = 100 * time.Millisecond

func newApplySlots(busy, quiet int, now func() time.Time) *applySlots {
	s := &applySlots{busy: max(min(busy, quiet), 1), quiet: max(quiet, 1), now: now}
	s.freed = sync.NewCond(&s.mu)
	return s
}

// received notes that a message arrived.
func (s *applySlots) received() {
	s.lastReceive.Store(s.now().UnixNano())
}

func (s *applySlots) limit() int {
	if s.now().UnixNano()-s.lastReceive.Load() < int64(quietAfter) {
		return s.busy
	}
	return s.quiet
}

// acquire waits for a slot. A waiter looks at the limit again whenever a
// slot is released: applies finish every few milliseconds, so a rise of
// the limit (the listeners went quiet) is seen soon.
func (s *applySlots) acquire() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for !s.takeLocked() {
		s.freed.Wait()
	}
}

// tryAcquire takes a slot if one is free now.
func (s *applySlots) tryAcquire() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.takeLocked()
}

func (s *applySlots) takeLocked() bool {
	if s.inUse >= s.limit() {
		return false
	}
	s.inUse++
	return true
}

func (s *applySlots) release() {
	s.mu.Lock()
	s.inUse--
	s.mu.Unlock()
	s.freed.Broadcast()
}
