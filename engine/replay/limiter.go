package replay

import (
	"sync"
	"time"
)

// limiter is a token bucket shared by the delivery goroutines. A caller
// takes a token with reserve and waits the time it returns: the bucket may
// go into debt, so that waiting callers queue up at exactly the rate.
type limiter struct {
	mu     sync.Mutex
	rate   float64 // tokens per second
	burst  float64
	tokens float64
	last   time.Time
	now    func() time.Time
}

// newLimiter returns a limiter of rate tokens per second that allows
// bursts of a twentieth of a second's worth (at least one token).
func newLimiter(rate float64, now func() time.Time) *limiter {
	return &limiter{rate: rate, burst: max(1, rate/20), now: now}
}

// reserve takes one token and returns how long to wait before using it.
func (l *limiter) reserve() time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	if l.last.IsZero() {
		l.tokens = l.burst
		l.last = now
	} else if now.After(l.last) {
		l.tokens = min(l.burst, l.tokens+now.Sub(l.last).Seconds()*l.rate)
		l.last = now
	}
	l.tokens--
	if l.tokens >= 0 {
		return 0
	}
	return time.Duration(-l.tokens / l.rate * float64(time.Second))
}
