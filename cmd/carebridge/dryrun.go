package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/carebridge/carebridge/config"
	"github.com/carebridge/carebridge/engine"
	"github.com/carebridge/carebridge/fhirstore"
	"github.com/carebridge/carebridge/mappings"
	"github.com/carebridge/carebridge/record"
)

// The outcomes of a message in a reprocessing dry run.
const (
	dryUnchanged   = "unchanged"     // maps to the Bundle it has
	dryChanged     = "changed"       // maps to another Bundle
	dryFixed       = "fixed"         // failed before, maps now
	dryWouldFail   = "would-fail"    // had a Bundle, fails now
	dryStillFailed = "still-failing" // failed before, fails now
)

// dryRunMessage is what a dry run says of one message.
type dryRunMessage struct {
	ID          int64          `json:"id"`
	MessageType string         `json:"message_type"`
	Was         string         `json:"was"`                 // the entry's status
	WasHash     string         `json:"was_mapping_hash"`    // the set that made its Bundle ("" for none)
	Outcome     string         `json:"outcome"`             // unchanged, changed, fixed, would-fail, still-failing
	Error       string         `json:"error,omitempty"`     // why it fails now
	WasError    string         `json:"was_error,omitempty"` // why it failed before
	Warnings    int            `json:"warnings"`            // mapping warnings now
	WasWarnings int            `json:"was_warnings"`        // and before
	Changes     []dryRunChange `json:"changes,omitempty"`   // by resource, for changed and fixed
	// ComparedWith is, for a duplicate (which keeps no Bundle of its own),
	// the original whose Bundle the result is compared with.
	ComparedWith int64 `json:"compared_with,omitempty"`
	// NoBundle: nothing kept to compare with (a duplicate whose original
	// kept no Bundle), so the changes are not listed: all would be new.
	NoBundle bool `json:"no_bundle,omitempty"`
}

// dryRunChange is one resource's change.
type dryRunChange struct {
	Resource    string         `json:"resource"`
	Kind        string         `json:"kind"`                  // added, removed, changed
	Paths       []string       `json:"paths,omitempty"`       // what changed in it, for changed (a clear marker: "clears SELECTOR", "no longer clears SELECTOR")
	Differences []dryRunValues `json:"differences,omitempty"` // with --diff: the values too
}

type dryRunValues struct {
	Path string `json:"path"`
	Was  string `json:"was,omitempty"` // compact JSON; absent when the value is new
	Now  string `json:"now,omitempty"` // absent when the value goes
}

// dryRunReport is what `messages reprocess --dry-run --json` prints.
type dryRunReport struct {
	DryRun       bool            `json:"dry_run"`
	MappingHash  string          `json:"mapping_hash"`
	Total        int             `json:"total"`
	Unchanged    int             `json:"unchanged"`
	Changed      int             `json:"changed"`
	Fixed        int             `json:"fixed"`
	WouldFail    int             `json:"would_fail"`
	StillFailing int             `json:"still_failing"`
	Messages     []dryRunMessage `json:"messages"`      // every message that is not unchanged (all with --all)
	IDs          []idNote        `json:"ids,omitempty"` // the IDs named that would not be reprocessed, or with a note
}

func (r *dryRunReport) count(outcome string) {
	r.Total++
	switch outcome {
	case dryUnchanged:
		r.Unchanged++
	case dryChanged:
		r.Changed++
	case dryFixed:
		r.Fixed++
	case dryWouldFail:
		r.WouldFail++
	case dryStillFailed:
		r.StillFailing++
	}
}

// dryRun maps the messages a reprocessing with f would take with set, as
// the engine would (the listener's character set, the entry's journal ID and
// receipt time; the Bundle validated as FHIR R4 as the record does before it
// stores anything), and compares each result with what the entry keeps. It
// writes nothing: no entry is queued, no Bundle kept, the record untouched.
//
// The IDs are listed first, so that no read transaction stays open while
// the messages are mapped (it would keep a running server's WAL from being
// checkpointed). progress, called after each message, may print progress.
func dryRun(ctx context.Context, cfg *config.Config, j fhirstore.Journal, set *mappings.Set, f fhirstore.Filter, withDiff, all bool, emit func(dryRunMessage), progress func(done, total int)) (*dryRunReport, error) {
	statuses, err := fhirstore.Requeueable(f)
	if err != nil {
		return nil, err
	}
	f.Statuses = statuses
	var ids []int64
	if err := j.List(ctx, f, func(e *fhirstore.Entry) error {
		ids = append(ids, e.ID)
		return nil
	}); err != nil {
		return nil, err
	}
	mapper := engine.NewMapper(cfg, set, engine.NewMetrics(nil), slog.New(slog.DiscardHandler))
	charsets := cfg.Charsets()
	report := &dryRunReport{DryRun: true, MappingHash: set.Hash(), Messages: []dryRunMessage{}}
	for i, id := range ids {
		progress(i, len(ids))
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		e, err := j.Get(ctx, id)
		if err != nil {
			return nil, err
		}
		base := e
		if e.Status == fhirstore.StatusDuplicate && len(e.Result) == 0 && e.DuplicateOf != 0 {
			// A duplicate keeps no Bundle: what processing it would
			// change is told against its original's.
			orig, err := j.Get(ctx, e.DuplicateOf)
			if err != nil && !errors.Is(err, fhirstore.ErrNotFound) {
				return nil, err
			}
			if orig != nil {
				base = orig
			}
		}
		m := dryRunOne(ctx, mapper, e, base, withDiff)
		if _, ok := charsets[e.Listener]; !ok && e.Listener != "replay" && m.Error != "" && strings.HasPrefix(m.Error, "parse hl7") {
			// Read with the default character set, not the one its
			// listener has in the server's configuration.
			m.Error += fmt.Sprintf(" (its listener %q is not in this configuration: give the server's --config)", e.Listener)
		}
		report.count(m.Outcome)
		if m.Outcome != dryUnchanged || all {
			report.Messages = append(report.Messages, m)
			emit(m)
		}
	}
	progress(len(ids), len(ids))
	return report, nil
}

// dryRunOne maps one entry again and says how the result compares with
// the Bundle base keeps (e itself, or a duplicate's original).
func dryRunOne(ctx context.Context, mapper *engine.Mapper, e, base *fhirstore.Entry, withDiff bool) dryRunMessage {
	m := dryRunMessage{ID: e.ID, MessageType: e.MessageType, Was: string(e.Status), WasWarnings: countWarnings(base.Notes)}
	if base != e {
		m.ComparedWith = base.ID
	}
	if len(base.Result) > 0 {
		m.WasHash = base.ResultHash
	}
	if e.Status == fhirstore.StatusFailed {
		m.WasError = e.Error
	}
	failed := e.Status == fhirstore.StatusFailed
	fails := func(err error) dryRunMessage {
		m.Error = err.Error()
		m.Outcome = dryWouldFail
		if failed {
			m.Outcome = dryStillFailed
		}
		return m
	}
	out := mapper.Process(ctx, e)
	m.Warnings = countWarnings(out.Notes)
	if out.Status == fhirstore.StatusFailed {
		return fails(out.Err)
	}
	if err := mappings.ValidateEntries(out.Result); err != nil {
		return fails(fmt.Errorf("%w; the record would refuse it", err))
	}
	// What the record refuses whatever it holds (a message that names no
	// patient): a reprocessing would fail it again, so it is not "fixed".
	if out.Record != nil {
		if err := out.Record.Check(); err != nil {
			return fails(fmt.Errorf("%w; the record would refuse it", err))
		}
	}
	// Against the Bundle the entry keeps: none when it failed mapping, the
	// Bundle the record holds when the record refused a later one.
	changes, err := mappings.DiffBundles(base.Result, out.Result)
	if err != nil {
		// The kept Bundle cannot be read: say so rather than guess.
		return fails(fmt.Errorf("compare with the kept Bundle: %w", err))
	}
	switch {
	case failed:
		m.Outcome = dryFixed
		if len(e.Result) == 0 {
			return m // everything would be added: the list would be the whole Bundle
		}
	case len(base.Result) == 0:
		// A duplicate whose original kept no Bundle: likewise.
		m.Outcome, m.NoBundle = dryChanged, true
		return m
	case len(changes) == 0:
		m.Outcome = dryUnchanged
	default:
		m.Outcome = dryChanged
	}
	for _, c := range changes {
		dc := dryRunChange{Resource: c.Resource, Kind: c.Kind}
		for _, d := range c.Differences {
			dc.Paths = append(dc.Paths, d.Path)
			if withDiff {
				dc.Differences = append(dc.Differences, dryRunValues{Path: d.Path, Was: d.Want, Now: d.Got})
			}
		}
		m.Changes = append(m.Changes, dc)
	}
	return m
}

// countWarnings counts the mapping warnings in an entry's notes (a JSON
// list that also holds the record's notes, which are not counted).
func countWarnings(notes []byte) int {
	var ws []struct {
		Kind string `json:"kind"`
	}
	if len(bytes.TrimSpace(notes)) == 0 || json.Unmarshal(notes, &ws) != nil {
		return 0
	}
	n := 0
	for _, w := range ws {
		if !record.IsNoteKind(w.Kind) {
			n++
		}
	}
	return n
}

// writeDryRunMessage prints one message's line (and, with the differences
// in m, one line per value).
func writeDryRunMessage(w io.Writer, m dryRunMessage) {
	what := m.Was + " → " + m.Outcome
	if m.ComparedWith != 0 {
		what = fmt.Sprintf("%s (of %d) → %s", m.Was, m.ComparedWith, m.Outcome)
	}
	fmt.Fprintf(w, "%d\t%s\t%s", m.ID, m.MessageType, what)
	switch {
	case m.Error != "":
		fmt.Fprintf(w, "\t%s", oneLine(m.Error))
	case m.Outcome == dryFixed && m.WasError != "":
		fmt.Fprintf(w, "\twas: %s", oneLine(m.WasError))
	case m.NoBundle:
		fmt.Fprintf(w, "\tentry %d keeps no Bundle to compare with", m.ComparedWith)
	case len(m.Changes) > 0:
		parts := make([]string, 0, len(m.Changes))
		for _, c := range m.Changes {
			if c.Kind == "changed" {
				parts = append(parts, c.Resource+": "+strings.Join(c.Paths, ", "))
			} else {
				parts = append(parts, c.Resource+" "+c.Kind)
			}
		}
		fmt.Fprintf(w, "\t%s", strings.Join(parts, "; "))
	}
	if m.Warnings != m.WasWarnings && m.Error == "" { // a failure has none
		fmt.Fprintf(w, "\t(warnings %d → %d)", m.WasWarnings, m.Warnings)
	}
	fmt.Fprintln(w)
	for _, c := range m.Changes {
		for _, d := range c.Differences {
			fmt.Fprintf(w, "\t%s %s: was %s, now %s\n", c.Resource, d.Path, orNothing(d.Was), orNothing(d.Now))
		}
	}
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

func orNothing(s string) string {
	if s == "" {
		return "nothing"
	}
	return s
}

// dryRunSummary is the closing line of a dry run, and the error that makes
// the command exit 1 when a message would fail.
func dryRunSummary(r *dryRunReport) (string, error) {
	line := fmt.Sprintf("dry run with mapping set %s: %d message(s): %d unchanged, %d changed, %d fixed, %d would fail, %d still failing; nothing was queued or changed",
		r.MappingHash, r.Total, r.Unchanged, r.Changed, r.Fixed, r.WouldFail, r.StillFailing)
	if n := r.WouldFail + r.StillFailing; n > 0 {
		return line, &exitError{code: exitFailure, err: errors.New(plural(n, "message") + " would fail with these mappings")}
	}
	return line, nil
}

// dryRunProgress prints a progress line to w every interval (none for a dry
// run shorter than that), and the last one when done.
func dryRunProgress(w io.Writer, now func() time.Time, interval time.Duration) func(done, total int) {
	start := now()
	last := start
	return func(done, total int) {
		t := now()
		if t.Sub(last) < interval && (done < total || last == start) {
			return
		}
		last = t
		rate := 0.0
		if secs := t.Sub(start).Seconds(); secs > 0 {
			rate = float64(done) / secs
		}
		fmt.Fprintf(w, "dry run: %d/%d messages %.1f%% %.0f msg/s\n", done, total, 100*float64(done)/float64(max(total, 1)), rate)
	}
}
