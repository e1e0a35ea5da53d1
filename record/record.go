package record

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/carebridge/carebridge/fhirstore"
	"github.com/carebridge/carebridge/internal/jsonmap"
)

// Store is what the record needs from a backend: reads, searches and
// all-or-nothing change sets. fhirstore.Store satisfies it.
type Store interface {
	fhirstore.Resources
	fhirstore.Searcher
	fhirstore.Applier
}

// Extension and code system URLs the record puts on what it stores.
const (
	// EventTimeURL, on a resource's meta, is the time of the event (EVN-2,
	// else MSH-7) that last changed it: an older event does not overwrite it.
	EventTimeURL = "https://carebridge.dev/fhir/StructureDefinition/event-time"
	// EventSystem tags (meta.tag) each version with the trigger event that
	// wrote it, so that a cancel finds the version it undoes.
	EventSystem = "https://carebridge.dev/fhir/CodeSystem/hl7v2-event"
	// NamedPatientSystem tags (meta.tag) a resource whose message named a
	// patient record that had been merged or linked into the one the
	// resource is on: the code is that record's id. Unmerging it gives the
	// resource back.
	NamedPatientSystem = "https://carebridge.dev/fhir/CodeSystem/named-patient"
	// BalanceURL, on an Account, is its balance: charges minus credits,
	// adjustments and payments.
	BalanceURL = "https://carebridge.dev/fhir/StructureDefinition/account-balance"
	// AccountURL, on a PaymentReconciliation, is the Account a payment is for.
	AccountURL = "https://carebridge.dev/fhir/StructureDefinition/account"
	// VisitURL, on a PaymentReconciliation that names no Account, is the
	// visit (Encounter) it was paid for while that visit had no Account yet:
	// when the visit's Account arrives, the payment goes to it.
	VisitURL = "https://carebridge.dev/fhir/StructureDefinition/visit"
	// TaskCodeSystem holds the codes of the Tasks the record opens.
	TaskCodeSystem = "https://carebridge.dev/fhir/CodeSystem/task-code"
	// LifecycleSystem is ISO 21089's record lifecycle events (merge, unmerge),
	// the activity of the Provenance a merge leaves.
	LifecycleSystem = "http://terminology.hl7.org/CodeSystem/iso-21089-lifecycle"
)

// ErrCircularMerge is returned for a merge whose survivor was itself merged
// into the record being merged (directly or through a chain).
var ErrCircularMerge = errors.New("circular merge")

// ErrNotMerged is returned by Unmerge for a patient that is not merged.
var ErrNotMerged = errors.New("patient is not merged")

// Options configures a Recorder.
type Options struct {
	// Match configures probabilistic identity matching; the zero value
	// means DefaultMatchConfig.
	Match *MatchConfig
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Log receives decisions (ids and scores only, never patient data).
	Log *slog.Logger
	// MaxRetries bounds how often a change set is recomputed after a
	// version conflict (another worker changed a shared resource). 0 means 16.
	MaxRetries int
}

// Recorder applies mapped messages and manual operations to the unified
// record. It is safe for concurrent use; the caller keeps the messages of
// one patient in order (one at a time, in arrival order).
type Recorder struct {
	store Store
	match MatchConfig
	now   func() time.Time
	log   *slog.Logger
	tries int
}

// New returns a Recorder over store.
func New(store Store, opts Options) (*Recorder, error) {
	r := &Recorder{store: store, match: DefaultMatchConfig(), now: opts.Now, log: opts.Log, tries: opts.MaxRetries}
	if opts.Match != nil {
		r.match = *opts.Match
	}
	if err := r.match.Validate(); err != nil {
		return nil, fmt.Errorf("identity matching: %w", err)
	}
	if r.now == nil {
		r.now = time.Now
	}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	if r.tries <= 0 {
		r.tries = 16
	}
	return r, nil
}

// Message is one mapped message to apply.
type Message struct {
	JournalID int64
	Code      string    // MSH-9.1, e.g. "ADT"
	Event     string    // the trigger event, e.g. "A01"
	EventTime time.Time // EVN-2, else MSH-7; zero when unknown (never "older")
	// Resources are the mapped resources (mappings.Result.Resources), the
	// Provenance last.
	Resources []Incoming
	// Previous, when the message is processed again (reprocessing after a
	// mapping change), are the resources its earlier mapping made: what
	// they had and the new mapping no longer makes is taken out of the
	// record (see PreviousFromBundle).
	Previous []Incoming
}

// Incoming is one resource of a mapped message.
type Incoming struct {
	Type string
	ID   string
	Body map[string]any
}

// Note is something the record decided or refused about a message, kept
// with its journal entry (ids and scores, never patient data).
type Note struct {
	Kind    string `json:"kind"` // one of NoteKinds
	Where   string `json:"where"`
	Message string `json:"message"`
}

// NoteKinds are the kinds of the record's notes (docs/record.md), which
// tell them from the mapping's warnings kept in the same list.
var NoteKinds = []string{"account", "appointment", "cancel", "identity", "link", "merge", "out-of-order", "reprocess", "review", "unmerge"}

// IsNoteKind reports whether kind is one of NoteKinds.
func IsNoteKind(kind string) bool { return slices.Contains(NoteKinds, kind) }

// Outcome says what applying a message did.
type Outcome struct {
	Written []*fhirstore.Resource // the versions written (unchanged resources are not rewritten)
	Notes   []Note
}

// Apply applies m to the record and, in the same transaction, records the
// journal completion c (when not nil; its Notes gain the record's notes).
// Errors from the message's content (a circular merge, an invalid
// resource) are returned without anything written; the caller records the
// message as failed.
func (r *Recorder) Apply(ctx context.Context, m *Message, c *fhirstore.Completion) (*Outcome, error) {
	if err := m.checkPatient(); err != nil {
		return nil, err
	}
	groups := m.mergeGroups()
	return r.run(ctx, c, m.JournalID, func(ctx context.Context, p *plan) error {
		for _, g := range groups {
			if err := p.message(ctx, g); err != nil {
				return err
			}
		}
		return nil
	})
}

// run computes a change set with fn and applies it, computing again after a
// version conflict.
func (r *Recorder) run(ctx context.Context, c *fhirstore.Completion, journalID int64, fn func(context.Context, *plan) error) (*Outcome, error) {
	var lastErr error
	for attempt := 0; attempt < r.tries; attempt++ {
		p := newPlan(r)
		if err := fn(ctx, p); err != nil {
			return nil, err
		}
		cs, err := p.changeSet(journalID)
		if err != nil {
			return nil, err
		}
		if c != nil {
			cc := *c
			cc.Notes = appendNotes(c.Notes, p.notes)
			cs.Completion = &cc
		}
		written, err := r.store.Apply(ctx, cs)
		if err == nil {
			return &Outcome{Written: written, Notes: p.notes}, nil
		}
		if !errors.Is(err, fhirstore.ErrConflict) {
			return nil, err
		}
		lastErr = err
		// Another plan wrote a resource this one read (a shared Account,
		// Location or Practitioner): back off a little, at random, so that
		// the plans competing for it do not collide again in step.
		backoff := time.Duration(rand.Int64N(int64(time.Millisecond) << min(attempt, 8)))
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(backoff):
		}
	}
	return nil, fmt.Errorf("gave up after %d version conflicts: %w", r.tries, lastErr)
}

// appendNotes adds notes to a JSON list of notes (the mapping's warnings).
func appendNotes(list []byte, notes []Note) []byte {
	if len(notes) == 0 {
		return list
	}
	var all []any
	if len(bytes.TrimSpace(list)) > 0 {
		if err := json.Unmarshal(list, &all); err != nil {
			all = nil
		}
	}
	for _, n := range notes {
		all = append(all, n)
	}
	b, err := json.Marshal(all)
	if err != nil {
		return list
	}
	return b
}

// key names a resource.
type key struct{ typ, id string }

func (k key) ref() string { return k.typ + "/" + k.id }

func parseRef(ref string) (key, bool) {
	typ, id, ok := strings.Cut(ref, "/")
	if !ok || typ == "" || id == "" || strings.Contains(id, "/") {
		return key{}, false
	}
	return key{typ, id}, true
}

// state is a resource as the plan sees it: as stored, and as it will be.
type state struct {
	key
	version int64          // the stored version, 0 when new
	journal int64          // the journal entry that wrote the stored version, 0 when none
	stored  map[string]any // nil when new
	body    map[string]any // nil: unchanged
	deleted bool           // stored as deleted
	// checked: the plan rests on this resource as stored (a visit found
	// to have no Account yet), so the change set fails if another writes
	// it first, written by this plan or not (fhirstore.Read).
	checked bool
	// marked is the newest event that found the stored version as it
	// already was (its mark); confirm, one this plan found so, to mark.
	marked, confirm eventMark
}

// current is the resource as it will be after the plan.
func (s *state) current() map[string]any {
	if s.body != nil {
		return s.body
	}
	return s.stored
}

// plan computes one change set: every read goes through it, so that a
// resource read twice is the same, and a change made earlier in the plan is
// seen later in it.
type plan struct {
	r      *Recorder
	res    map[key]*state
	order  []key
	notes  []Note
	checks []fhirstore.Check
	now    time.Time
	// linkedVia: for an incoming patient linked by score, the record (linked
	// or merged into the one it is linked to) whose data scored.
	linkedVia map[string]string
	// sameAs, while the survivor of a merge message is resolved, is the
	// record it merges (its final survivor): not another patient.
	sameAs string
}

func newPlan(r *Recorder) *plan {
	return &plan{r: r, res: map[key]*state{}, now: r.now().UTC()}
}

func (p *plan) note(kind, where, format string, args ...any) {
	n := Note{Kind: kind, Where: where, Message: fmt.Sprintf(format, args...)}
	p.notes = append(p.notes, n)
	p.r.log.Debug("record: "+n.Message, "kind", kind, "where", where)
}

// get returns the state of a resource, reading it once. A resource that does
// not exist comes back with stored == nil.
func (p *plan) get(ctx context.Context, k key) (*state, error) {
	if s, ok := p.res[k]; ok {
		return s, nil
	}
	s := &state{key: k}
	r, err := p.r.store.Read(ctx, k.typ, k.id)
	switch {
	case err == nil:
		s.version, s.journal, s.marked = r.Version, r.JournalID, parseMark(r.Mark)
		if s.stored, err = decode(r.Body); err != nil {
			return nil, fmt.Errorf("read %s: %w", k.ref(), err)
		}
	case errors.Is(err, fhirstore.ErrGone):
		// Deleted: writing it again makes a new version. Its version is
		// needed for the check, so read its history.
		h, herr := p.r.store.History(ctx, k.typ, k.id)
		if herr != nil || len(h) == 0 {
			return nil, fmt.Errorf("read %s: %w", k.ref(), err)
		}
		s.version, s.deleted = h[0].Version, true
	case errors.Is(err, fhirstore.ErrNotFound):
	default:
		return nil, fmt.Errorf("read %s: %w", k.ref(), err)
	}
	p.res[k] = s
	p.order = append(p.order, k)
	return s, nil
}

// made lists the resources of the given types this plan creates, in the
// order it met them: searches of the store do not find them yet.
func (p *plan) made(types ...string) []*state {
	var out []*state
	for _, k := range p.order {
		if s := p.res[k]; s.stored == nil && s.body != nil && slices.Contains(types, k.typ) {
			out = append(out, s)
		}
	}
	return out
}

// set replaces the planned content of s.
func (p *plan) set(s *state, body map[string]any) { s.body = body }

// search runs q and returns the states of the resources found (with this
// plan's changes applied).
func (p *plan) search(ctx context.Context, q fhirstore.Query) ([]*state, error) {
	found, err := p.r.store.Search(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("search %s: %w", q.Type, err)
	}
	return p.states(found)
}

// searchChecked is search for a query the decision rests on (which patient
// an identifier names, what a merge moves): it is run again where the
// change set commits, and a different answer there makes the plan start
// over (another worker changed what it found meanwhile).
func (p *plan) searchChecked(ctx context.Context, q fhirstore.Query) ([]*state, error) {
	if q.Sort == "" {
		q.Sort = "_id" // the same page each time
	}
	found, err := p.search(ctx, q)
	if err != nil {
		return nil, err
	}
	ids := make([]string, len(found))
	for i, s := range found {
		ids[i] = s.id
	}
	p.checks = append(p.checks, fhirstore.Check{Query: q, IDs: ids})
	return found, nil
}

// searchAll runs q page by page (in id order) and returns every match.
// With checked, every page is checked (searchChecked), so that a match
// added or removed meanwhile by another worker (a visit of a patient being
// merged) makes the plan start over.
func (p *plan) searchAll(ctx context.Context, q fhirstore.Query, checked bool) ([]*state, error) {
	q.Count, q.Sort = fhirstore.MaxCount, "_id"
	search := p.search
	if checked {
		search = p.searchChecked
	}
	var all []*state
	for {
		page, err := search(ctx, q)
		if err != nil {
			return nil, err
		}
		all = append(all, page...)
		if len(page) < q.Count {
			return all, nil
		}
		q.After = page[len(page)-1].id
	}
}

// states returns the states of resources found by a search (with this
// plan's changes applied), decoding those the plan has not seen yet.
func (p *plan) states(found []*fhirstore.Resource) ([]*state, error) {
	out := make([]*state, 0, len(found))
	for _, f := range found {
		k := key{f.Type, f.ID}
		if s, ok := p.res[k]; ok {
			out = append(out, s)
			continue
		}
		s := &state{key: k, version: f.Version, journal: f.JournalID, marked: parseMark(f.Mark)}
		var err error
		if s.stored, err = decode(f.Body); err != nil {
			return nil, fmt.Errorf("read %s: %w", k.ref(), err)
		}
		p.res[k] = s
		p.order = append(p.order, k)
		out = append(out, s)
	}
	return out, nil
}

// changeSet turns the plan into writes: only resources whose content
// changes are written.
func (p *plan) changeSet(journalID int64) (fhirstore.ChangeSet, error) {
	cs := fhirstore.ChangeSet{JournalID: journalID, Checks: p.checks}
	for _, k := range p.order {
		s := p.res[k]
		if s.body == nil || (s.stored != nil && Equal(s.stored, s.body)) {
			if s.checked || !s.confirm.at.IsZero() {
				cs.Reads = append(cs.Reads, fhirstore.Read{Type: k.typ, ID: k.id, Version: s.version, Mark: s.confirm.String()})
			}
			continue
		}
		b, err := jsonmap.Append(nil, s.body, true)
		if err != nil {
			return cs, fmt.Errorf("encode %s: %w", k.ref(), err)
		}
		// s.body is what decoding b gives (incoming resources are
		// normalized; a number the record computes may be a float64, which
		// encodes alike): the store need not decode b again. The scenario
		// and sequence tests check this on every write (objectsChecked).
		cs.Writes = append(cs.Writes, fhirstore.Write{Type: k.typ, ID: k.id, IfVersion: s.version, Body: b, Object: s.body, Mark: s.keptMark(journalID)})
	}
	return cs, nil
}

// keptMark is the mark a new version of s carries (fhirstore.Write.Mark):
// the newest event known to have found s as it was (the stored version's
// mark, or one this plan confirmed), when it is newer than the event the
// new version is stamped with. A version that an older event writes (what
// fillGaps adds) changes nothing that event said, so the newer one's time
// must stay on it; lost with the old version, an update from between the
// two would count as newer than the resource and overwrite what the newer
// event said.
func (s *state) keptMark(journalID int64) string {
	mark := s.marked
	if s.confirm.newer(mark.at, mark.journal) {
		mark = s.confirm
	}
	if !mark.newer(eventTimeOf(s.body), journalID) {
		return ""
	}
	return mark.String()
}

// decode reads a stored resource as encoding/json does (numbers as
// json.Number), faster.
func decode(b []byte) (map[string]any, error) { return jsonmap.Decode(b) }

// rewriteRefs replaces every reference to from by to in v, and says whether
// it changed anything.
func rewriteRefs(v any, from, to string) bool {
	changed := false
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			if k == "reference" {
				if s, ok := e.(string); ok && s == from {
					x[k] = to
					changed = true
				}
				continue
			}
			if rewriteRefs(e, from, to) {
				changed = true
			}
		}
	case []any:
		for _, e := range x {
			if rewriteRefs(e, from, to) {
				changed = true
			}
		}
	}
	return changed
}

func str(m map[string]any, k string) string {
	s, _ := m[k].(string)
	return s
}

func obj(m map[string]any, k string) map[string]any {
	o, _ := m[k].(map[string]any)
	return o
}

func list(m map[string]any, k string) []any {
	l, _ := m[k].([]any)
	return l
}
