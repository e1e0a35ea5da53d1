package engine

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"time"

	"github.com/carebridge/carebridge/config"
	"github.com/carebridge/carebridge/engine/hl7"
	"github.com/carebridge/carebridge/fhirstore"
	"github.com/carebridge/carebridge/record"
)

// Processor turns one journaled message into its effects. It is called
// concurrently from several workers; each entry is given to exactly one call
// (the journal's claim guarantees it) unless a crash interrupts processing,
// in which case the entry is processed again after the restart.
type Processor interface {
	Process(ctx context.Context, e *fhirstore.Entry) Outcome
}

// Outcome is the result of processing one entry.
type Outcome struct {
	// Status is StatusProcessed, StatusFailed or StatusFiltered.
	Status fhirstore.Status
	// Err says why processing failed or the message was filtered.
	Err error
	// ResultHash names the version of what produced the result.
	ResultHash string
	// Result is what processing produced (the FHIR Bundle), kept with the
	// journal entry.
	Result []byte
	// Notes are warnings about the result (a JSON list), kept with it.
	Notes []byte
	// Record, when set, is what the message changes in the unified record:
	// applied in the same transaction as the journal status.
	Record *record.Message
	// Key orders the message: messages with the same key (one patient) are
	// applied one after another in arrival order.
	Key string
	// applied is the Bundle and hash of the entry's earlier processing when
	// it is processed again with other mappings: if the record refuses the
	// new result, the entry keeps these (what the record holds), so that a
	// later reprocessing compares with them.
	applied     []byte
	appliedHash string
}

// applyFailed marks o failed because the record refused its result (err).
// The error names the mapping set whose result failed when the entry keeps
// the result of an earlier one (which the record still holds), so that
// `messages show` says both.
func (o *Outcome) applyFailed(err error) {
	if o.applied != nil && o.appliedHash != o.ResultHash {
		err = fmt.Errorf("apply the result of mapping set %s to the record (the entry keeps mapping set %s's, which the record holds): %w", o.ResultHash, o.appliedHash, err)
	} else {
		err = fmt.Errorf("apply to the record: %w", err)
	}
	o.Status, o.Err = fhirstore.StatusFailed, err
	if o.applied != nil {
		o.Result, o.ResultHash = o.applied, o.appliedHash
	}
}

func (o Outcome) errText() string {
	if o.Err == nil {
		return ""
	}
	return o.Err.Error()
}

func (o Outcome) completion(e *fhirstore.Entry, ack []byte) fhirstore.Completion {
	return fhirstore.Completion{ID: e.ID, Owner: e.ClaimedBy, Status: o.Status, Error: o.errText(), Ack: ack, ResultHash: o.ResultHash, Result: o.Result, Notes: o.Notes}
}

// Validator is the processor used until mappings exist: it parses and
// validates the message (with the charset of the listener it came from).
type Validator struct {
	charsets map[string]string // listener name → fallback charset
}

// NewValidator returns a Validator for the listeners in cfg.
func NewValidator(cfg *config.Config) *Validator {
	return &Validator{charsets: cfg.Charsets()}
}

// Process parses and validates e.
func (v *Validator) Process(_ context.Context, e *fhirstore.Entry) Outcome {
	msg, err := hl7.ParseWithOptions(e.Raw, hl7.ParseOptions{FallbackCharset: v.charsets[e.Listener]})
	if err != nil {
		return Outcome{Status: fhirstore.StatusFailed, Err: err}
	}
	if problems := hl7.Validate(msg); len(problems) > 0 {
		var errs []error
		for _, p := range problems {
			errs = append(errs, errors.New(p.Text))
		}
		return Outcome{Status: fhirstore.StatusFailed, Err: fmt.Errorf("invalid message: %w", errors.Join(errs...))}
	}
	return Outcome{Status: fhirstore.StatusProcessed}
}

// process runs the processor on one entry, turning a panic into a failure.
func (e *Engine) process(ctx context.Context, entry *fhirstore.Entry) (out Outcome) {
	defer func() {
		if r := recover(); r != nil {
			// The panic's value may hold message content: log its type and
			// the stack, not the value.
			e.log.Error("processor panicked", "id", entry.ID, "panic", fmt.Sprintf("%T", r), "stack", string(debug.Stack()))
			out = Outcome{Status: fhirstore.StatusFailed, Err: errors.New("internal error while processing (see the log)")}
		}
	}()
	out = e.processor.Process(ctx, entry)
	if out.Status == "" {
		out.Status = fhirstore.StatusProcessed
	}
	if out.Record != nil && entry.ResultHash != "" && entry.ResultHash != out.ResultHash {
		// Processed before, with other mappings: the record takes out what
		// the earlier mapping made and this one no longer does.
		e.previousResult(ctx, entry, &out)
	}
	return out
}

// previousResult gives a message processed again the resources of the
// Bundle its earlier processing kept with its journal entry. Without them
// (unreadable), the message is applied as any other.
func (e *Engine) previousResult(ctx context.Context, entry *fhirstore.Entry, out *Outcome) {
	full, err := e.journal.Get(ctx, entry.ID)
	if err != nil {
		e.log.Warn("earlier result of a reprocessed message not read; applying it without", "id", entry.ID, "err", err)
		return
	}
	if len(full.Result) == 0 {
		return
	}
	prev, err := record.PreviousFromBundle(full.Result)
	if err != nil {
		e.log.Warn("earlier result of a reprocessed message not read; applying it without", "id", entry.ID, "err", err)
		return
	}
	out.Record.Previous = prev
	out.applied, out.appliedHash = full.Result, entry.ResultHash
}

// complete records outcomes, retrying a failed write a few times (the work
// is done; losing its record would leave the entries claimed until the next
// start). Entries another process took meanwhile keep that process's outcome.
func (e *Engine) complete(ctx context.Context, cs []fhirstore.Completion) error {
	var err error
	for attempt, wait := 0, 50*time.Millisecond; attempt < 5; attempt, wait = attempt+1, wait*2 {
		if err = e.journal.Complete(ctx, cs); err == nil || errors.Is(err, fhirstore.ErrNotClaimed) {
			break
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(wait):
		}
	}
	if errors.Is(err, fhirstore.ErrNotClaimed) {
		e.log.Warn("processing results dropped: another process had taken the messages", "err", err)
		err = nil
	}
	if err != nil {
		return err
	}
	for _, c := range cs {
		e.metrics.processed.WithLabelValues(string(c.Status)).Inc()
	}
	return nil
}

// claimLinger is how long an idle worker, once woken, waits before claiming,
// so that under load each claim takes a batch instead of one message.
const claimLinger = 2 * time.Millisecond

// releaseAbandoned returns to the queue the claims of other owners older
// than the claim timeout (their process is taken to be gone). This node's
// own claims are never released while it runs: it still holds them, in
// memory or in a worker, however long they wait.
func (e *Engine) releaseAbandoned(ctx context.Context) {
	n, err := e.journal.ReleaseStale(ctx, e.cfg.NodeID, time.Now().Add(-e.cfg.Processing.ClaimTimeout.D))
	if err != nil {
		if ctx.Err() == nil {
			e.log.Error("release abandoned claims", "err", err)
		}
		return
	}
	if n > 0 {
		e.log.Warn("messages claimed by a process that is gone were queued again", "count", n)
	}
}

// releaseInterval is how often a running node looks for abandoned claims:
// a quarter of the claim timeout, but not more often than workers poll.
func releaseInterval(p config.Processing) time.Duration {
	return max(p.ClaimTimeout.D/4, p.PollInterval.D)
}

// releaseAbandonedEvery calls releaseAbandoned every interval until ctx
// ends. It runs in its own goroutine so that it happens also while every
// worker is busy.
func (e *Engine) releaseAbandonedEvery(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			e.releaseAbandoned(ctx)
		}
	}
}

// Tally counts processed entries by final status.
type Tally map[fhirstore.Status]int

// Total is the number of entries counted.
func (t Tally) Total() int {
	n := 0
	for _, v := range t {
		n += v
	}
	return n
}

// ProcessPending processes every received entry until none is left, in this
// process, and says how they ended. It is what `carebridge messages
// reprocess` runs; claims keep it from processing an entry a running server
// also takes. It claims under its own owner, the node ID followed by
// "/reprocess", so that a server of the same node neither mistakes those
// claims for its own nor keeps them forever if this process dies: they are
// released once older than the claim timeout.
func (e *Engine) ProcessPending(ctx context.Context) (Tally, error) {
	t := Tally{}
	owner := e.cfg.NodeID + "/reprocess"
	for {
		entries, err := e.journal.Claim(ctx, owner, e.cfg.Processing.BatchSize)
		if err != nil {
			return t, err
		}
		if len(entries) == 0 {
			return t, nil
		}
		for _, out := range e.processEntries(ctx, entries) {
			t[out.Status]++
		}
	}
}
