package replay

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/carebridge/carebridge/engine/archive"
)

// queueDepth is how many messages per delivery goroutine may wait in the
// queue: enough to keep them busy, few enough to bound memory; maxQueue
// caps the queue whatever the concurrency.
const (
	queueDepth = 16
	maxQueue   = 1024
)

// maxPooled is the largest message buffer kept for reuse.
const maxPooled = 64 << 10

// job is one message handed to a delivery goroutine.
type job struct {
	file int
	msg  archive.Message
	buf  *[]byte // pooled copy of msg.Raw
}

type eventKind int

const (
	evResult    eventKind = iota // a message has an outcome
	evFileStart                  // the reader started a file
	evFileEnd                    // the reader read a file to its end
	evWarning                    // an archive warning
	evFileError                  // a file could not be read
)

// event reports progress to the collector, which alone owns the summary
// and the state.
type event struct {
	kind    eventKind
	file    int
	index   int
	outcome Outcome
	ack     string
	detail  string // problem, failure or warning text
	problem bool   // unreadable message or failed Check
	offset  int64  // of a warning
	count   int    // evFileEnd: messages in the file
	start   *fileState
}

// run is one call of Run.
type run struct {
	opts  Options
	sink  Sink
	files []string
	state *state               // nil in a dry run; owned by the collector once running
	prior map[string]fileState // resumed progress, read by the reader

	pool      sync.Pool
	completed atomic.Int64 // messages with an outcome in this run
	skipped   atomic.Int64
	total     atomic.Int64 // estimate from archive.Count, or -1
	pending   atomic.Int64 // messages handed out and not yet answered
	start     time.Time
	out       *output
	outage    outage
}

func (r *run) run(parent context.Context) (Summary, error) {
	o := r.opts
	// Giving up on an unavailable destination stops the run as an
	// interruption does, with its own cause.
	ctx, stop := context.WithCancelCause(parent)
	defer stop(nil)
	r.start = o.Clock()
	r.total.Store(-1)
	r.pool.New = func() any { b := make([]byte, 0, 4096); return &b }
	r.out = newOutput(o, r.start)

	// Deliveries under way when ctx ends may run DrainTimeout longer.
	deliverCtx, stopDeliveries := context.WithCancel(context.WithoutCancel(ctx))
	defer stopDeliveries()
	stopDrain := context.AfterFunc(ctx, func() {
		t := time.AfterFunc(o.DrainTimeout, stopDeliveries)
		context.AfterFunc(deliverCtx, func() { t.Stop() })
	})
	defer stopDrain()

	var bg sync.WaitGroup
	bgCtx, stopBg := context.WithCancel(ctx)
	if o.Progress != nil && !o.NoCount {
		bg.Go(func() {
			if n, err := archive.Count(bgCtx, r.files); err == nil {
				r.total.Store(int64(n))
			}
		})
	}
	if o.Progress != nil {
		bg.Go(func() { r.out.progressLoop(bgCtx, r.counts) })
	}

	jobs := make(chan job, min(o.Concurrency*queueDepth, maxQueue))
	events := make(chan event, min(o.Concurrency*queueDepth, maxQueue))
	var lim *limiter
	if o.Rate > 0 && !o.DryRun {
		lim = newLimiter(o.Rate, o.Clock)
	}
	var workers sync.WaitGroup
	for range o.Concurrency {
		workers.Go(func() { r.deliver(ctx, deliverCtx, stop, lim, jobs, events) })
	}
	var reader sync.WaitGroup
	reader.Go(func() {
		r.read(ctx, jobs, events)
		close(jobs)
	})
	go func() {
		reader.Wait()
		workers.Wait()
		close(events)
	}()

	sum, saveErr := r.collect(events)

	stopBg()
	bg.Wait()
	if ctx.Err() == nil {
		// Every file was read to its end: the total is now exact.
		done, _, _ := r.counts()
		r.total.Store(done)
	}
	sum.Files = len(r.files)
	sum.DryRun = o.DryRun
	sum.Skipped = int(r.skipped.Load())
	sum.Total += sum.Skipped
	sum.Elapsed = o.Clock().Sub(r.start)
	if secs := sum.Elapsed.Seconds(); secs > 0 {
		sum.PerSecond = float64(sum.Total-sum.Skipped) / secs
	}
	r.out.finish(r.counts())
	return sum, errors.Join(context.Cause(ctx), saveErr)
}

// counts returns progress: messages done (with skipped ones), those done
// in this run, and the estimated total (-1 while unknown).
func (r *run) counts() (done, completed, total int64) {
	c := r.completed.Load()
	return c + r.skipped.Load(), c, r.total.Load()
}

// read scans the files in order and hands out their messages.
func (r *run) read(ctx context.Context, jobs chan<- job, events chan<- event) {
	for i, path := range r.files {
		if ctx.Err() != nil {
			return
		}
		if !r.readFile(ctx, i, path, jobs, events) {
			return
		}
	}
}

// readFile hands out one file's messages; it returns false when ctx ended.
func (r *run) readFile(ctx context.Context, file int, path string, jobs chan<- job, events chan<- event) bool {
	var skipTo int
	var skipSet map[int]bool
	if r.state != nil {
		fp, err := fingerprintFile(path)
		if err != nil {
			events <- event{kind: evFileError, file: file, detail: err.Error()}
			return true
		}
		start := &fileState{fingerprint: fp}
		if prior, ok := r.prior[stateKey(path)]; ok {
			if prior.fingerprint != fp {
				events <- event{kind: evWarning, file: file, offset: -1,
					detail: "changed since the state file was written; replaying it from the start"}
			} else {
				start.Done, start.Complete = prior.Done, prior.Complete
				start.Above = slices.Clone(prior.Above)
			}
		}
		skipTo = start.Done
		for _, n := range start.Above {
			if skipSet == nil {
				skipSet = make(map[int]bool)
			}
			skipSet[n] = true
		}
		events <- event{kind: evFileStart, file: file, start: start}
		if start.Complete {
			r.skipped.Add(int64(start.Done))
			return true
		}
	}
	sc, closer, err := archive.Open(path, archive.MaxMessageSize(r.opts.MaxMessageSize),
		archive.OnWarning(func(w archive.Warning) {
			events <- event{kind: evWarning, file: file, offset: w.Offset, detail: w.Text}
		}))
	if err != nil {
		events <- event{kind: evFileError, file: file, detail: err.Error()}
		return true
	}
	defer closer.Close()
	last := 0
	for sc.Scan() {
		if ctx.Err() != nil {
			return false
		}
		m := sc.Message()
		last = m.Index
		if m.Index <= skipTo || skipSet[m.Index] {
			r.skipped.Add(1)
			continue
		}
		if m.Err != nil {
			events <- event{kind: evResult, file: file, index: m.Index, problem: true, detail: m.Err.Error()}
			continue
		}
		buf := r.pool.Get().(*[]byte)
		*buf = append((*buf)[:0], m.Raw...)
		m.Raw = *buf
		r.pending.Add(1)
		select {
		case jobs <- job{file: file, msg: m, buf: buf}:
		case <-ctx.Done():
			r.pending.Add(-1)
			r.release(buf)
			return false
		}
	}
	if err := sc.Err(); err != nil {
		events <- event{kind: evFileError, file: file, detail: err.Error()}
		return true
	}
	events <- event{kind: evFileEnd, file: file, count: last}
	return true
}

func (r *run) release(buf *[]byte) {
	if cap(*buf) <= maxPooled {
		r.pool.Put(buf)
	}
}

// deliver runs in each delivery goroutine.
func (r *run) deliver(ctx, deliverCtx context.Context, stop context.CancelCauseFunc, lim *limiter, jobs <-chan job, events chan<- event) {
	for j := range jobs {
		ev, ok := r.deliverOne(ctx, deliverCtx, stop, lim, j)
		r.release(j.buf)
		r.pending.Add(-1)
		if ok {
			events <- ev
		}
	}
}

// deliverOne delivers (or, in a dry run, checks) one message and returns
// its result; ok is false when the message got none (interrupted, cut
// short by the drain timeout, or given up on): it is not counted, and a
// resumed run delivers it. While the destination is unavailable it holds
// the message and waits (see outage).
func (r *run) deliverOne(ctx, deliverCtx context.Context, stop context.CancelCauseFunc, lim *limiter, j job) (ev event, ok bool) {
	if ctx.Err() != nil {
		return ev, false
	}
	if lim != nil {
		if err := r.opts.sleep(ctx, lim.reserve()); err != nil {
			return ev, false
		}
	}
	ev = event{kind: evResult, file: j.file, index: j.msg.Index}
	if r.opts.DryRun {
		if r.opts.Check != nil {
			if err := r.opts.Check(j.msg.Raw); err != nil {
				ev.problem, ev.detail = true, err.Error()
			}
		}
		return ev, true
	}
	var p probe
	for {
		if !p.prober {
			select {
			case <-r.outage.wait():
			case <-ctx.Done():
				return ev, false
			}
		}
		epoch := r.outage.epoch()
		res, err := r.sink.Deliver(deliverCtx, j.msg)
		if err != nil && deliverCtx.Err() != nil {
			return ev, false // cut short by the drain timeout
		}
		if !errors.Is(err, ErrUnavailable) {
			if ended, since := r.outage.answered(p); ended {
				r.out.answering(destinationName(r.opts.Target), r.opts.Clock().Sub(since), r.pending.Load())
			}
			switch {
			case err != nil:
				ev.outcome, ev.detail = Failed, err.Error()
			case res.Outcome < Accepted || res.Outcome > Failed:
				ev.outcome, ev.ack = Failed, res.AckCode
				ev.detail = fmt.Sprintf("sink returned %v", res.Outcome)
			default:
				ev.outcome, ev.ack, ev.detail = res.Outcome, res.AckCode, res.Detail
			}
			return ev, true
		}
		now := r.opts.Clock()
		p = r.outage.failed(p, epoch, now, err)
		if !p.prober {
			continue // wait for the prober to get an answer, or (stale) try again
		}
		delay := retryDelay(p.attempts, r.opts.RetryMin, r.opts.RetryMax)
		if r.opts.GiveUpAfter > 0 {
			left := p.since.Add(r.opts.GiveUpAfter).Sub(now)
			if left <= 0 {
				stop(giveUp(r.opts.Target, r.opts.GiveUpAfter, err, r.pending.Load()))
				return ev, false
			}
			delay = min(delay, left)
		}
		r.out.waiting(destinationName(r.opts.Target), err, delay, r.pending.Load())
		if r.opts.sleep(ctx, delay) != nil {
			return ev, false
		}
	}
}

// collect owns the summary and the state: it counts events, lists
// problems and writes the state file every second and at the end.
func (r *run) collect(events <-chan event) (Summary, error) {
	var (
		sum      Summary
		trackers = make([]*tracker, len(r.files))
		dirty    bool
		saveErr  error
	)
	save := func() {
		if r.state == nil {
			return
		}
		complete := true
		for _, t := range trackers {
			if t == nil || !t.st.Complete {
				complete = false
			}
			if t != nil {
				t.sync()
			}
		}
		r.state.Complete = complete
		if err := r.state.save(r.opts.StateFile, r.opts.Clock()); err != nil && saveErr == nil {
			saveErr = err
			r.out.fileError("", err.Error())
		}
		dirty = false
	}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		var ev event
		var ok bool
		select {
		case ev, ok = <-events:
		case <-tick.C:
			if dirty {
				save()
			}
			continue
		}
		if !ok {
			break
		}
		dirty = true
		path := r.files[ev.file]
		switch ev.kind {
		case evFileStart:
			trackers[ev.file] = newTracker(ev.start)
			r.state.Files[stateKey(path)] = ev.start
		case evFileEnd:
			if t := trackers[ev.file]; t != nil {
				t.end(ev.count)
			}
		case evWarning:
			sum.Warnings++
			r.out.warning(path, ev.offset, ev.detail)
		case evFileError:
			sum.FileErrors++
			r.out.fileError(path, ev.detail)
		case evResult:
			if t := trackers[ev.file]; t != nil {
				t.mark(ev.index)
			}
			r.completed.Add(1)
			sum.Total++
			switch {
			case ev.problem:
				sum.Problems++
				r.out.problem(path, ev.index, "", "", ev.detail)
			case r.opts.DryRun:
				sum.Fine++
			case ev.outcome == Accepted:
				sum.Accepted++
			case ev.outcome == Duplicate:
				sum.Duplicates++
			case ev.outcome == Rejected:
				sum.Rejected++
				r.out.problem(path, ev.index, "rejected", ev.ack, ev.detail)
			default:
				sum.Failed++
				r.out.problem(path, ev.index, "failed", ev.ack, ev.detail)
			}
		}
	}
	save()
	return sum, saveErr
}
