package replay

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// ErrUnavailable is matched (errors.Is) by the error a Sink returns when
// the destination could not be reached or did not answer: the connection
// was refused or reset, the TLS handshake failed, no acknowledgement came
// within the timeout. The message itself did not fail: Run keeps it, waits
// for the destination with a backoff and delivers it again. Make such an
// error with Unavailable.
var ErrUnavailable = errors.New("destination unavailable")

// ErrGaveUp is matched (errors.Is) by the error Run returns when the
// destination stayed unavailable for Options.GiveUpAfter. The messages not
// delivered are not recorded in the state file: a resumed run sends them.
var ErrGaveUp = errors.New("gave up waiting for the destination")

// Default backoff between attempts to reach an unavailable destination:
// from DefaultRetryMin, doubling up to DefaultRetryMax.
const (
	DefaultRetryMin = 100 * time.Millisecond
	DefaultRetryMax = 30 * time.Second
)

// DefaultGiveUpAfter is how long Run waits for an unavailable destination
// before it gives up, when Options.GiveUpAfter is zero.
const DefaultGiveUpAfter = time.Hour

// Unavailable returns an error matching ErrUnavailable whose text is
// reason (a few words for the progress line, such as "connection
// refused") and which wraps err.
func Unavailable(reason string, err error) error {
	return &unavailableError{reason: reason, err: err}
}

type unavailableError struct {
	reason string
	err    error
}

func (e *unavailableError) Error() string        { return e.reason }
func (e *unavailableError) Unwrap() error        { return e.err }
func (e *unavailableError) Is(target error) bool { return target == ErrUnavailable }

// gaveUpError is Run's error after GiveUpAfter.
type gaveUpError struct{ msg string }

func (e *gaveUpError) Error() string        { return e.msg }
func (e *gaveUpError) Is(target error) bool { return target == ErrGaveUp }

// outage is what the delivery goroutines know of an unavailable
// destination. While it is down they hold their messages and wait; one of
// them, the prober, sends its message again after each backoff. The first
// answer of any kind to the prober ends the outage and the others send
// theirs.
type outage struct {
	isDown   atomic.Bool // down, for the common case without the lock
	mu       sync.Mutex
	down     bool
	gen      int           // outages so far; a prober belongs to one
	ends     atomic.Int64  // outages ended so far (written under mu)
	up       chan struct{} // closed when the current outage ends
	since    time.Time
	attempts int  // failed attempts of the prober in this outage
	probing  bool // a goroutine is the prober of this outage
	reason   error
}

// probe is a delivery goroutine's part in an outage, from failed.
type probe struct {
	gen      int // the outage; 0 for none
	prober   bool
	stale    bool // the failure is older than the end of the last outage: try again at once
	attempts int
	since    time.Time
}

// epoch identifies the outages ended so far; a delivery takes it before it
// starts, for failed.
func (o *outage) epoch() int64 { return o.ends.Load() }

// failed records that a delivery begun at epoch found the destination
// unavailable at now. p is the caller's part so far (zero for its first
// failure). The caller becomes (or stays) the prober if the outage has
// none; otherwise it waits. A failure of a delivery begun before the last
// outage ended (its goroutine was slow to report it) starts no new outage:
// the destination has answered since, and the caller tries again at once.
func (o *outage) failed(p probe, epoch int64, now time.Time, reason error) probe {
	o.mu.Lock()
	defer o.mu.Unlock()
	if !o.down && epoch != o.ends.Load() {
		return probe{stale: true}
	}
	if !o.down {
		o.down, o.gen, o.since = true, o.gen+1, now
		o.isDown.Store(true)
		o.up = make(chan struct{})
		o.attempts, o.probing = 0, false
	}
	o.reason = reason
	if (p.prober && p.gen == o.gen) || !o.probing {
		o.probing = true
		o.attempts++
		return probe{gen: o.gen, prober: true, attempts: o.attempts, since: o.since}
	}
	return probe{gen: o.gen, since: o.since}
}

// wait returns a channel closed when the destination may be tried: at
// once if it is not known to be down.
func (o *outage) wait() <-chan struct{} {
	if !o.isDown.Load() {
		return closedChan
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if !o.down {
		return closedChan
	}
	return o.up
}

var closedChan = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

// answered records that the destination answered a delivery by the
// goroutine whose part is p; it reports whether that ended an outage, and
// when the outage began. Only the prober's answer ends one: an answer to a
// delivery sent before the outage began (a server finishing the messages
// under way as it shuts down) says nothing about new ones.
func (o *outage) answered(p probe) (ended bool, since time.Time) {
	if !o.isDown.Load() {
		return false, time.Time{}
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if !o.down || !p.prober || p.gen != o.gen {
		return false, time.Time{}
	}
	o.down, o.probing = false, false
	o.ends.Add(1)
	o.isDown.Store(false)
	close(o.up)
	return true, o.since
}

// retryDelay is the wait before the n-th attempt of an outage's prober:
// from lo, doubling, at most hi.
func retryDelay(n int, lo, hi time.Duration) time.Duration {
	d := lo
	for i := 1; i < n && d < hi; i++ {
		d *= 2
	}
	return min(d, hi)
}

// destinationName is Target as people write it: "host:port" for
// "mllp://host:port", "the destination" when unknown.
func destinationName(target string) string {
	if target == "" {
		return "the destination"
	}
	if _, rest, ok := strings.Cut(target, "://"); ok {
		return rest
	}
	return target
}

// giveUp builds Run's error after waiting for GiveUpAfter.
func giveUp(target string, after time.Duration, reason error, unsent int64) error {
	return &gaveUpError{msg: fmt.Sprintf("replay: gave up after waiting %v for %s (%v); %d messages not sent",
		after, destinationName(target), reason, unsent)}
}
