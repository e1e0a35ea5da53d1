package engine

import (
	"context"
	"errors"
	"hash/fnv"
	"sync"
	"time"

	"github.com/carebridge/carebridge/engine/hl7"
	"github.com/carebridge/carebridge/fhirstore"
	"github.com/carebridge/carebridge/record"
)

// The pipeline keeps the messages of one patient in order and processes
// different patients in parallel: every message is routed by its patient
// key (the first PID-3 identifier and its authority) to one worker's queue,
// and a worker applies the messages of one patient one after another, in
// arrival order. Live messages are routed by the listener that journaled
// them; messages waiting in the journal (after a restart, an overflow or a
// reprocess) are claimed by one feeder and routed the same way.

// routeKey is the key that orders a message: its patient, else itself.
func routeKey(msg *hl7.Message) string {
	if id := msg.Get("PID-3(1).1"); id != "" {
		return id + "^" + msg.Get("PID-3(1).4.1")
	}
	return msg.Get("MSH-3") + "|" + msg.Get("MSH-4") + "|" + msg.ControlID()
}

// routeKeyOf is routeKey for a journal entry (parsed with its listener's
// fallback charset); an entry that does not parse is keyed by its ID.
func (e *Engine) routeKeyOf(entry *fhirstore.Entry) string {
	msg, err := hl7.ParseWithOptions(entry.Raw, hl7.ParseOptions{FallbackCharset: e.charsets[entry.Listener]})
	if err != nil {
		return "entry|" + entry.SendingApp + "|" + entry.ControlID
	}
	return routeKey(msg)
}

// queueFor is the worker queue of a route key.
func (e *Engine) queueFor(key string) chan *fhirstore.Entry {
	h := fnv.New32a()
	_, _ = h.Write([]byte(key))
	return e.queues[h.Sum32()%uint32(len(e.queues))]
}

// feed claims the messages waiting in the journal and routes them to the
// workers, until ctx ends. It waits for a nudge (a message was journaled
// without being handed over) or the poll interval.
func (e *Engine) feed(ctx context.Context) {
	poll := time.NewTicker(e.cfg.Processing.PollInterval.D)
	defer poll.Stop()
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		mark := e.backlogMark()
		entries, err := e.journal.Claim(ctx, e.cfg.NodeID, e.cfg.Processing.BatchSize)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			e.log.Error("claim journal entries", "err", err)
			select {
			case <-ctx.Done():
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, 5*time.Second)
			continue
		}
		backoff = 100 * time.Millisecond
		if len(entries) == 0 {
			// Everything queued in the journal is in the workers' queues:
			// live messages may go straight there again.
			e.clearBacklog(mark)
		}
		for _, entry := range entries {
			// A slot per entry bounds what waits in memory; claimed
			// entries not handed over stay claimed and are released by
			// the next start.
			select {
			case e.hotSlots <- struct{}{}:
			case <-ctx.Done():
				return
			}
			e.queueFor(e.routeKeyOf(entry)) <- entry
		}
		if len(entries) == e.cfg.Processing.BatchSize {
			continue // there may be more
		}
		select {
		case <-ctx.Done():
		case <-e.wake:
			// Let a few more messages arrive so that one claim takes a
			// batch: claims are writes that compete with appends.
			linger := time.NewTimer(claimLinger)
			select {
			case <-ctx.Done():
				linger.Stop()
			case <-linger.C:
			}
		case <-poll.C:
		}
	}
}

// work is worker n: it processes what is routed to its queue, in order,
// until ctx ends. The batch in hand when ctx ends is finished; what still
// waits in the queue is not: those entries stay claimed under this node's
// id and go back to the journal's queue at its next start (Engine.Run), so
// a shutdown takes one batch, not a backlog (up to hotCapacity messages).
func (e *Engine) work(ctx context.Context, n int) {
	q := e.queues[n]
	batch := make([]*fhirstore.Entry, 0, e.cfg.Processing.BatchSize)
	for {
		// A ready entry and an ended ctx: select picks either, so ctx is
		// looked at first.
		if ctx.Err() != nil {
			return
		}
		select {
		case entry := <-q:
			e.processEntries(ctx, e.drain(q, append(batch[:0], entry)))
		case <-ctx.Done():
			return
		}
	}
}

// drain adds to batch what else waits in q, up to the batch size, and frees
// their slots.
func (e *Engine) drain(q chan *fhirstore.Entry, batch []*fhirstore.Entry) []*fhirstore.Entry {
	for len(batch) < cap(batch) {
		select {
		case entry := <-q:
			batch = append(batch, entry)
			continue
		default:
		}
		break
	}
	e.releaseHot(len(batch))
	return batch
}

// applyConcurrency is how many patients one worker applies at once (when
// e.slots allows): their change sets share the store's commits, and more
// of them per commit is what makes the single writer go further (8: about
// a quarter more messages/s than 2 on the reference machine).
const applyConcurrency = 8

// processEntries processes entries, records their outcomes and returns
// them. Messages that change the record are applied per patient, one after
// another in batch order, different patients concurrently (they share the
// store's commits); the others are completed in one write. A batch once
// started is finished, also during shutdown.
func (e *Engine) processEntries(ctx context.Context, entries []*fhirstore.Entry) []Outcome {
	ctx = context.WithoutCancel(ctx)
	var plain []fhirstore.Completion
	groups := map[string][]int{}
	var order []string
	outs := make([]Outcome, len(entries))
	for i, entry := range entries {
		outs[i] = e.process(ctx, entry)
		if e.recorder == nil || outs[i].Record == nil || outs[i].Status != fhirstore.StatusProcessed {
			plain = append(plain, outs[i].completion(entry, nil))
			continue
		}
		k := outs[i].Key
		if _, ok := groups[k]; !ok {
			order = append(order, k)
		}
		groups[k] = append(groups[k], i)
	}
	var wg sync.WaitGroup
	// Several patients at a time, so that their change sets share
	// commits; e.slots bounds them across the workers, to one per CPU
	// while messages arrive, so that the listeners (ACKs) keep the CPU
	// they need.
	sem := make(chan struct{}, applyConcurrency)
	for _, k := range order {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			for _, i := range groups[k] {
				outs[i] = e.record(ctx, entries[i], outs[i])
			}
		})
	}
	if len(plain) > 0 {
		if err := e.complete(ctx, plain); err != nil {
			e.log.Error("record processing results", "err", err)
		}
	}
	wg.Wait()
	return outs
}

// applyRecord applies a mapped message with its journal completion. A store
// failure (not the message's content) is tried again a few times, backing
// off, before it is returned. A worker's apply (slotted) holds one of
// e.slots while it runs, not while it backs off; an apply an ACK waits for
// (on-process) takes none.
func (e *Engine) applyRecord(ctx context.Context, entry *fhirstore.Entry, m *record.Message, c *fhirstore.Completion, slotted bool) error {
	start := time.Now()
	defer func() { e.metrics.recordLatency.Observe(time.Since(start).Seconds()) }()
	apply := func() error {
		if slotted {
			e.slots.acquire()
			defer e.slots.release()
		}
		_, err := e.recorder.Apply(ctx, m, c)
		return err
	}
	err := apply()
	for wait := 100 * time.Millisecond; err != nil && !record.IsContentError(err) && !errors.Is(err, fhirstore.ErrNotClaimed) && wait <= 2*time.Second; wait *= 4 {
		e.log.Warn("applying to the record failed; trying again", "id", entry.ID, "err", logSafe(err))
		time.Sleep(wait) // backing off from a failing store
		err = apply()
	}
	return err
}

// record applies a mapped message to the unified record, with its journal
// completion in the same transaction. A message the record refuses (a
// circular merge, an invalid resource) is completed as failed with the
// reason; a store failure too (it is retried by reprocessing).
func (e *Engine) record(ctx context.Context, entry *fhirstore.Entry, out Outcome) Outcome {
	c := out.completion(entry, nil)
	err := e.applyRecord(ctx, entry, out.Record, &c, true)
	if err == nil {
		e.metrics.processed.WithLabelValues(string(c.Status)).Inc()
		return out
	}
	if errors.Is(err, fhirstore.ErrNotClaimed) {
		e.log.Warn("record result dropped: another process had taken the message", "id", entry.ID)
		return out
	}
	e.log.Warn("message not applied to the record", "id", entry.ID, "type", entry.MessageType, "err", logSafe(err))
	// The record still holds the earlier result, if any: the entry keeps it.
	out.applyFailed(err)
	c = out.completion(entry, nil)
	if err := e.complete(ctx, []fhirstore.Completion{c}); err != nil {
		e.log.Error("record processing result", "id", entry.ID, "err", err)
	}
	return out
}
