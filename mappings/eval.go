package mappings

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"

	"github.com/carebridge/carebridge/engine/hl7"
)

// ErrNoMap matches (errors.Is) the error Map returns for a message no map
// handles.
var ErrNoMap = errors.New("no map")

// noMapError says which message no map handles; it matches ErrNoMap.
type noMapError struct{ msg string }

func (e *noMapError) Error() string        { return e.msg }
func (e *noMapError) Is(target error) bool { return target == ErrNoMap }

// MapError is a mapping failure, with the map row (file:line:col) and the
// message position involved.
type MapError struct {
	At    string // the map row or rule, file:line:col
	Where string // the HL7 position, e.g. PID-7
	Err   error
}

func (e *MapError) Error() string {
	s := e.At + ": "
	if e.Where != "" {
		s += e.Where + ": "
	}
	return s + e.Err.Error()
}

func (e *MapError) Unwrap() error { return e.Err }

// Warning is something a mapping did not do as well as it could: an
// unmapped code, a field no map uses, a missing time zone.
type Warning struct {
	Kind    string `json:"kind"`         // unmapped-code, unused-field, no-timezone, unregistered-authority
	At      string `json:"at,omitempty"` // the map row, file:line:col
	Where   string `json:"where"`        // the HL7 position
	Message string `json:"message"`
}

func (w Warning) String() string {
	s := w.Where + ": " + w.Kind + ": " + w.Message
	if w.At != "" {
		s += " (" + w.At + ")"
	}
	return s
}

// Options tune one mapping.
type Options struct {
	// Sender names the sender profile to use; empty matches MSH-3/MSH-4.
	Sender string
	// JournalID is the journal entry the message came from, recorded in the
	// Provenance.
	JournalID int64
	// ReceivedAt is when the message was received; the Provenance's recorded
	// time when MSH-7 cannot be placed in time (no offset, no sender zone).
	ReceivedAt time.Time
}

// posKey is a value position: segment index in the message, field,
// repetition and component (0: all of them).
type posKey struct{ seg, field, rep, comp int }

// mapState is the state of one Map call.
type mapState struct {
	set      *Set
	msg      *hl7.Message
	mm       *messageMap
	profile  *profile
	event    string
	segIndex map[*hl7.Segment]int
	used     map[uint64]struct{}
	warnings []Warning
	ids      map[string]any         // rule name → id (first resource)
	idsBySeg map[string]map[int]any // rule name → segment index → id
	hits     []bool                 // rows applied, for coverage
	senderV  map[string]string
	current  *built
	pos      posKey // the position being mapped, for warnings
	hasPos   bool
}

// built is one resource being built.
type built struct {
	rule     *compiledResource
	obj      map[string]any
	clears   []string
	refs     []pendingRef // applied once every id is known
	segIdx   int
	ctx      *segContext
	resource string
	id       string
}

// pendingRef is a ref row waiting for every id to be known.
type pendingRef struct {
	row *compiledRow
	obj map[string]any // where To is set
	seg int            // the segment occurrence the row was read in
}

// segContext is the segment (and group instance) rows read from.
type segContext struct {
	seg    *hl7.Segment
	idx    int
	group  []*hl7.Segment
	groupI []int
	acc    *accessor // v[...] for this context, made once
}

// dtContext is a data type value rows read from.
type dtContext struct {
	val  hl7.Field
	base posKey // where val sits (comp 0: a whole repetition)
}

// warnAt records a warning about a message position no row is behind.
func (st *mapState) warnAt(kind, where, msg string) {
	st.warnings = append(st.warnings, Warning{Kind: kind, Where: where, Message: msg})
}

func (st *mapState) warn(kind string, r *compiledRow, msg string) {
	w := Warning{Kind: kind, Message: msg}
	if r != nil {
		w.At = r.at
		w.Where = r.row.From
	}
	if st.hasPos {
		w.Where = st.where(st.pos)
	}
	st.warnings = append(st.warnings, w)
}

// profileFor picks the sender profile for msg.
func (s *Set) profileFor(msg *hl7.Message, name string) (*profile, error) {
	if name != "" {
		for _, p := range s.senders {
			if p.file.Sender == name {
				return p, nil
			}
		}
		return nil, fmt.Errorf("no sender profile %q", name)
	}
	app, fac := msg.Get("MSH-3.1"), msg.Get("MSH-4.1")
	for _, p := range s.senders {
		if matches(p.file.Application, app) && matches(p.file.Facility, fac) {
			return p, nil
		}
	}
	return s.senders[len(s.senders)-1], nil
}

func matches(pattern, v string) bool { return pattern == "" || pattern == "*" || pattern == v }

func (st *mapState) defaultProfile() *profile { return st.set.senders[len(st.set.senders)-1] }

// Map turns one HL7 v2 message into a FHIR R4 transaction Bundle.
func (s *Set) Map(msg *hl7.Message, opts Options) (*Result, error) {
	code, event := msg.MessageCode(), msg.TriggerEvent()
	sender := msg.Get("MSH-3.1")
	if f := msg.Get("MSH-4.1"); f != "" {
		sender += "^" + f
	}
	mm, ok := s.messages[code]
	if !ok {
		return nil, &noMapError{fmt.Sprintf("no map for %s^%s from sender %s", code, event, sender)}
	}
	structure, ok := mm.events[event]
	if !ok {
		evs := make([]string, 0, len(mm.events))
		for e := range mm.events {
			evs = append(evs, e)
		}
		slices.Sort(evs)
		return nil, &noMapError{fmt.Sprintf("no map for %s^%s from sender %s (the %s map handles %s)", code, event, sender, code, strings.Join(evs, ", "))}
	}
	p, err := s.profileFor(msg, opts.Sender)
	if err != nil {
		return nil, err
	}
	st := &mapState{set: s, msg: msg, mm: mm, profile: p, event: event,
		segIndex: map[*hl7.Segment]int{}, used: make(map[uint64]struct{}, 64), ids: map[string]any{}, idsBySeg: map[string]map[int]any{}, hits: make([]bool, s.rowCount),
		senderV: map[string]string{"name": p.file.Sender, "application": msg.Get("MSH-3.1"), "facility": msg.Get("MSH-4.1")},
	}
	for i, seg := range msg.Segments() {
		st.segIndex[seg] = i
	}
	vars := st.baseVars(structure)
	var all []*built
	for _, cr := range mm.resources {
		if len(cr.events) > 0 && !slices.Contains(cr.events, event) {
			continue
		}
		for _, ctx := range st.contexts(cr) {
			if cr.when != nil {
				// Evaluated per occurrence (or group instance), with v
				// bound to it: a false condition skips just this one.
				wv := *vars
				wv.v = st.segAccessor(ctx)
				ok, err := st.evalBool(cr.when, &wv)
				if err != nil {
					return nil, &MapError{At: cr.at, Where: ctx.seg.Name(), Err: err}
				}
				if !ok {
					continue
				}
			}
			b, err := st.build(cr, ctx, vars)
			if err != nil {
				return nil, err
			}
			if b != nil {
				all = append(all, b)
			}
		}
	}
	for _, b := range all {
		st.current = b
		for _, r := range b.refs {
			if err := st.applyRef(r); err != nil {
				return nil, err
			}
		}
	}
	return st.finish(all, opts, structure)
}

func (st *mapState) baseVars(structure string) *activation {
	return &activation{
		event: st.event, structure: structure, sender: st.senderV,
		m:        &accessor{get: st.messageValue},
		v:        &accessor{get: func(string) string { return "" }},
		resource: map[string]any{}, ids: st.ids,
	}
}

// messageValue reads a terser path anywhere in the message, marking it used.
func (st *mapState) messageValue(path string) string {
	p, err := st.set.cachedPath(path)
	if err != nil {
		return ""
	}
	occ := max(p.Occurrence, 1)
	seg := st.msg.Segment(p.Segment, occ)
	if seg == nil {
		return ""
	}
	sp := sourcePath{field: p.Field, rep: p.Repetition, comp: p.Component, sub: p.SubComponent}
	f := sp.narrow(seg.Field(p.Field))
	st.mark(posKey{seg: st.segIndex[seg], field: p.Field, rep: max(p.Repetition, 1), comp: p.Component})
	return fieldText(f)
}

// contexts lists where a resource rule applies: each group instance, each
// occurrence, or the first occurrence of its segment.
func (st *mapState) contexts(cr *compiledResource) []*segContext {
	segs := st.msg.Segments()
	var out []*segContext
	if cr.rule.Group != "" {
		g := st.mm.groups[cr.rule.Group]
		var cur *segContext
		for i, seg := range segs {
			switch {
			case seg.Name() == g.Start:
				cur = &segContext{seg: seg, idx: i, group: []*hl7.Segment{seg}, groupI: []int{i}}
				out = append(out, cur)
			case cur != nil && slices.Contains(g.Members, seg.Name()):
				cur.group = append(cur.group, seg)
				cur.groupI = append(cur.groupI, i)
			default:
				cur = nil
			}
		}
		return out
	}
	for i, seg := range segs {
		if seg.Name() == cr.rule.Segment {
			out = append(out, &segContext{seg: seg, idx: i})
			if !cr.rule.Each {
				break
			}
		}
	}
	return out
}

// build makes one resource from one context.
func (st *mapState) build(cr *compiledResource, ctx *segContext, vars *activation) (*built, error) {
	b := &built{rule: cr, obj: map[string]any{"resourceType": cr.resource}, segIdx: ctx.idx, ctx: ctx, resource: cr.resource}
	st.current = b
	if err := st.applyRows(cr.seg.rows, ctx, nil, b.obj, vars); err != nil {
		return nil, err
	}
	if err := st.applyRows(cr.rows, ctx, nil, b.obj, vars); err != nil {
		return nil, err
	}
	pruned, _ := prune(b.obj)
	b.obj = pruned.(map[string]any)
	b.obj["resourceType"] = cr.resource
	kv := *vars
	kv.resource = b.obj
	kv.v = st.segAccessor(ctx)
	for i, q := range cr.require {
		if q == nil {
			continue
		}
		ok, err := st.evalBool(q, &kv)
		if err != nil {
			return nil, &MapError{At: q.at, Where: ctx.seg.Name(), Err: err}
		}
		if !ok {
			return nil, &MapError{At: q.at, Where: ctx.seg.Name(), Err: fmt.Errorf("%s %s: %s", cr.resource, cr.rule.Name, cr.rule.Require[i].Message)}
		}
	}
	key, err := st.evalString(cr.key, &kv)
	if err != nil {
		return nil, &MapError{At: cr.key.at, Where: ctx.seg.Name(), Err: fmt.Errorf("resource %s (%s) has no business identity: its key failed: %w", cr.rule.Name, cr.resource, err)}
	}
	if key == "" {
		return nil, &MapError{At: cr.key.at, Where: ctx.seg.Name(), Err: fmt.Errorf("resource %s (%s) has no business identity: its key %q is empty", cr.rule.Name, cr.resource, cr.key.src)}
	}
	b.id = StableID(cr.resource, key)
	b.obj["id"] = b.id
	if _, seen := st.ids[cr.rule.Name]; !seen {
		st.ids[cr.rule.Name] = b.id
	}
	if st.idsBySeg[cr.rule.Name] == nil {
		st.idsBySeg[cr.rule.Name] = map[int]any{}
	}
	st.idsBySeg[cr.rule.Name][ctx.idx] = b.id
	return b, nil
}

// StableID derives a resource id from its type and business key: the same
// identity always gets the same id, so a resend or replay updates instead of
// duplicating. The id is a name-based UUID (version 5 layout).
func StableID(resourceType, key string) string {
	sum := sha256.Sum256([]byte("carebridge\x00" + resourceType + "\x00" + key))
	u := sum[:16]
	u[6] = (u[6] & 0x0f) | 0x50
	u[8] = (u[8] & 0x3f) | 0x80
	h := hex.EncodeToString(u)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

func (st *mapState) segAccessor(ctx *segContext) *accessor {
	if ctx.acc != nil {
		return ctx.acc
	}
	ctx.acc = &accessor{get: func(path string) string {
		sp, err := st.set.cachedSource(path, true)
		if err != nil {
			return ""
		}
		f, at, ok := st.resolveSeg(ctx, sp)
		if !ok {
			return ""
		}
		st.mark(at)
		return fieldText(f)
	}}
	return ctx.acc
}

func (st *mapState) dtAccessor(ctx *dtContext) *accessor {
	return &accessor{get: func(path string) string {
		sp, err := st.set.cachedSource(path, false)
		if err != nil {
			return ""
		}
		f := sp.narrow(ctx.val)
		st.mark(ctx.at(sp))
		return fieldText(f)
	}}
}

// at is the position a datatype-relative source reads.
func (c *dtContext) at(sp sourcePath) posKey {
	k := c.base
	if k.comp == 0 {
		k.comp = sp.comp
	}
	return k
}

// resolveSeg finds a source in a segment context: relative to the segment,
// or absolute (in the group instance first, then the message).
func (st *mapState) resolveSeg(ctx *segContext, sp sourcePath) (hl7.Field, posKey, bool) {
	seg, idx := ctx.seg, ctx.idx
	if sp.absolute {
		seg = nil
		inGroup := false
		for i, g := range ctx.group {
			if g.Name() == sp.segment {
				seg, idx = g, ctx.groupI[i]
				break
			}
		}
		if ctx.group != nil {
			// A group's own segments are read only within this instance.
			g := st.groupOf(ctx)
			inGroup = g != nil && (g.Start == sp.segment || slices.Contains(g.Members, sp.segment))
		}
		if seg == nil && inGroup {
			return hl7.Field{}, posKey{}, false
		}
		if seg == nil {
			seg = st.msg.Segment(sp.segment, 1)
			if seg == nil {
				return hl7.Field{}, posKey{}, false
			}
			idx = st.segIndex[seg]
		}
	}
	whole := seg.Field(sp.field)
	if sp.segment == "MSH" || (!sp.absolute && seg.Name() == "MSH") {
		whole = seg.Field(sp.field)
	}
	return sp.narrow(whole), posKey{seg: idx, field: sp.field, rep: sp.rep, comp: sp.comp}, true
}

func (st *mapState) mark(k posKey) { st.used[k.pack()] = struct{}{} }

// isUsed reports whether k was read.
func (st *mapState) isUsed(k posKey) bool {
	_, ok := st.used[k.pack()]
	return ok
}

// pack makes a compact map key of k.
func (k posKey) pack() uint64 {
	return uint64(k.seg)<<32 | uint64(k.field&0xffff)<<16 | uint64(k.rep&0xff)<<8 | uint64(k.comp&0xff)
}

// groupOf finds the group a context is an instance of.
func (st *mapState) groupOf(ctx *segContext) *groupSpec {
	if len(ctx.group) == 0 {
		return nil
	}
	for _, g := range st.mm.groups {
		if g.Start == ctx.group[0].Name() {
			return &g
		}
	}
	return nil
}

// applyRows applies rows to obj, reading from a segment context (seg) or a
// data type value (dt).
func (st *mapState) applyRows(rows []*compiledRow, seg *segContext, dt *dtContext, obj map[string]any, vars *activation) error {
	// The activation is switched in place and restored: one mapping runs on
	// one goroutine, and this saves a copy per context.
	saved, savedIt := vars.v, vars.it
	defer func() { vars.v, vars.it = saved, savedIt }()
	if seg != nil {
		vars.v = st.segAccessor(seg)
	} else {
		vars.v = st.dtAccessor(dt)
	}
	for _, r := range rows {
		if err := st.applyRow(r, seg, dt, obj, vars); err != nil {
			return err
		}
	}
	return nil
}

func (st *mapState) applyRow(r *compiledRow, seg *segContext, dt *dtContext, obj map[string]any, vars *activation) error {
	if r.to == nil {
		return nil
	}
	if r.row.Ref != "" {
		if r.when != nil {
			ok, err := st.evalBool(r.when, vars)
			if err != nil {
				return &MapError{At: r.at, Err: err}
			}
			if !ok {
				return nil
			}
		}
		segIdx := -1
		if seg != nil {
			segIdx = seg.idx
		}
		st.current.refs = append(st.current.refs, pendingRef{row: r, obj: obj, seg: segIdx})
		st.hits[r.id] = true
		return nil
	}
	if r.row.Each != "" {
		return st.applyEach(r, seg, obj, vars)
	}
	if r.row.Clear {
		if r.when != nil {
			ok, err := st.evalBool(r.when, vars)
			if err != nil || !ok {
				return wrapRowErr(r, err)
			}
		}
		st.hits[r.id] = true
		st.current.clears = append(st.current.clears, r.to.clearPath())
		return nil
	}
	// Values to map: the source's repetitions (or one value), or none.
	var valuesBuf [1]hl7.Field
	var positionsBuf [1]posKey
	values, positions := valuesBuf[:0], positionsBuf[:0]
	hasSource := r.from != nil
	if hasSource {
		var f hl7.Field
		var at posKey
		if seg != nil {
			var ok bool
			f, at, ok = st.resolveSeg(seg, *r.from)
			if !ok {
				if r.row.Required {
					return &MapError{At: r.at, Where: r.from.text, Err: fmt.Errorf("required segment %s is missing", r.from.segment)}
				}
				return nil
			}
		} else {
			f = r.from.narrow(dt.val)
			at = dt.at(*r.from)
		}
		appendAll := r.to[len(r.to)-1].index == indexAppend
		if seg != nil && r.from.whole() && f.RepetitionCount() > 1 && appendAll {
			for i, rep := range f.Repetitions() {
				k := at
				k.rep = i + 1
				values, positions = append(values, rep), append(positions, k)
			}
		} else {
			if seg != nil && r.from.whole() {
				f = f.Repetition(1)
				at.rep = 1
			}
			values, positions = append(values, f), append(positions, at)
		}
	}
	if !hasSource {
		if r.when != nil {
			ok, err := st.evalBool(r.when, vars)
			if err != nil {
				return &MapError{At: r.at, Err: err}
			}
			if !ok {
				return nil
			}
		}
		st.hits[r.id] = true
		if r.row.Const != "" {
			v, ok, err := st.convert(hl7.NewField(r.row.Const, hl7.Delimiters{}), r.as, r)
			if err != nil {
				return &MapError{At: r.at, Err: err}
			}
			if ok {
				r.to.set(obj, v)
			}
			return nil
		}
		if r.as == "identifierSystem" {
			if sys := st.identifierSystem(hl7.Field{}, r); sys != "" {
				r.to.set(obj, sys)
			}
			return nil
		}
		v, err := st.evalValue(r.value, vars)
		if err != nil {
			return &MapError{At: r.at, Err: err}
		}
		if v != nil {
			r.to.set(obj, v)
		}
		return nil
	}
	for i, f := range values {
		if f.IsNull() {
			st.mark(positions[i])
			st.hits[r.id] = true
			switch {
			case r.row.Clears != "":
				st.current.clears = append(st.current.clears, r.row.Clears)
			case r.value != nil && r.value.constant != nil:
				// A structural companion (an extension's url): the row that
				// carries the value records the clear.
			default:
				st.current.clears = append(st.current.clears, r.to.clearPath())
			}
			continue
		}
		if f.IsEmpty() && r.as != "identifierSystem" {
			if r.row.Required {
				return &MapError{At: r.at, Where: st.where(positions[i]), Err: fmt.Errorf("required value %s is missing", r.from.text)}
			}
			continue
		}
		if r.when != nil {
			vars.it = fieldText(f)
			ok, err := st.evalBool(r.when, vars)
			vars.it = ""
			if err != nil {
				return &MapError{At: r.at, Where: r.from.text, Err: err}
			}
			if !ok {
				continue
			}
		}
		st.hits[r.id] = true
		st.pos, st.hasPos = positions[i], true
		var v any
		var ok bool
		var err error
		switch {
		case r.viaDT != nil:
			child := map[string]any{}
			base := positions[i]
			if base.rep == 0 {
				base.rep = 1
			}
			if err := st.applyRows(r.viaDT.rows, nil, &dtContext{val: f, base: base}, child, vars); err != nil {
				return err
			}
			pv, keep := prune(child)
			v, ok = pv, keep
			if keep && base.comp != 0 {
				st.mark(base)
			}
		case r.code != nil:
			st.mark(positions[i])
			v, ok, err = st.convertCode(f, r.code, r.as, r)
		case r.value != nil:
			st.mark(positions[i])
			vars.it = fieldText(f)
			v, err = st.evalValue(r.value, vars)
			vars.it = ""
			ok = v != nil
			if str, isStr := v.(string); err == nil && isStr && r.as != "" {
				v, ok, err = st.convert(hl7.NewField(str, st.msg.Delimiters()), r.as, r)
				if err != nil {
					st.pos, st.hasPos = positions[i], true
					st.warn("invalid-value", r, invalidValueText(r.as))
					continue
				}
			}
		default:
			st.mark(positions[i])
			v, ok, err = st.convert(f, r.as, r)
			if err != nil && !r.row.Required {
				// A malformed value (a date that is no date, "abc" for a
				// number) is left out with a warning; the message still maps.
				st.pos, st.hasPos = positions[i], true
				st.warn("invalid-value", r, invalidValueText(r.as))
				continue
			}
		}
		if err != nil {
			return &MapError{At: r.at, Where: st.where(positions[i]), Err: err}
		}
		if ok {
			r.to.set(obj, v)
		}
		st.pos = positions[i] // restore after a nested datatype map moved it
	}
	return nil
}

// where renders a position as SEG-field(rep).comp.
func (st *mapState) where(k posKey) string {
	segs := st.msg.Segments()
	if k.seg < 0 || k.seg >= len(segs) {
		return ""
	}
	s := fmt.Sprintf("%s-%d", segs[k.seg].Name(), k.field)
	if k.rep > 1 {
		s += fmt.Sprintf("(%d)", k.rep)
	}
	if k.comp > 0 {
		s += fmt.Sprintf(".%d", k.comp)
	}
	return s
}

func (st *mapState) applyRef(p pendingRef) error {
	r := p.row
	id, ok := st.idsBySeg[r.row.Ref][p.seg] // the resource made from the same segment occurrence
	if !ok {
		id, ok = st.ids[r.row.Ref]
	}
	if !ok {
		return nil // the referenced resource was not produced by this message
	}
	target := ""
	for _, cr := range st.mm.resources {
		if cr.rule.Name == r.row.Ref {
			target = cr.resource
		}
	}
	if target == "" {
		return &MapError{At: r.at, Err: fmt.Errorf("ref %q names no resource", r.row.Ref)}
	}
	r.to.set(p.obj, map[string]any{"reference": target + "/" + id.(string)})
	return nil
}

// invalidValueText says what a malformed value should have been, without
// repeating the value (it may be patient data).
func invalidValueText(as string) string {
	switch as {
	case "date", "dateTime", "instant":
		return "not a valid HL7 date/time: left out"
	case "decimal", "integer", "positiveInt", "unsignedInt":
		return "not a valid " + as + ": left out"
	case "boolean":
		return "not a yes/no value: left out"
	}
	return "not a valid value: left out"
}

func wrapRowErr(r *compiledRow, err error) error {
	if err == nil {
		return nil
	}
	return &MapError{At: r.at, Err: err}
}

// applyEach applies a row once per occurrence of its Each segment: within
// the current group instance when the segment belongs to it, else in the
// whole message.
func (st *mapState) applyEach(r *compiledRow, seg *segContext, obj map[string]any, vars *activation) error {
	var occ []*segContext
	inGroup := false
	if seg != nil && len(seg.group) > 0 {
		if g := st.groupOf(seg); g != nil && (g.Start == r.row.Each || slices.Contains(g.Members, r.row.Each)) {
			inGroup = true // a group's segments are read only within this instance
			for i, s := range seg.group {
				if s.Name() == r.row.Each {
					occ = append(occ, &segContext{seg: s, idx: seg.groupI[i], group: seg.group, groupI: seg.groupI})
				}
			}
		}
	}
	if !inGroup {
		for i, s := range st.msg.Segments() {
			if s.Name() == r.row.Each {
				occ = append(occ, &segContext{seg: s, idx: i})
			}
		}
	}
	plain := *r
	plain.row = &Row{}
	*plain.row = *r.row
	plain.row.Each = ""
	for _, c := range occ {
		cvv := *vars
		cvv.v = st.segAccessor(c)
		cv := &cvv
		if r.when != nil {
			ok, err := st.evalBool(r.when, cv)
			if err != nil {
				return &MapError{At: r.at, Where: c.seg.Name(), Err: err}
			}
			if !ok {
				continue
			}
		}
		st.hits[r.id] = true
		if r.segMap != nil {
			child := map[string]any{}
			if err := st.applyRows(r.segMap.rows, c, nil, child, vars); err != nil {
				return err
			}
			if pv, ok := prune(child); ok {
				r.to.set(obj, pv)
			}
			continue
		}
		p := plain
		p.when = nil
		if err := st.applyRow(&p, c, nil, obj, cv); err != nil {
			return err
		}
	}
	return nil
}

func (st *mapState) evalBool(p *program, vars *activation) (bool, error) {
	out, err := p.eval(vars)
	if err != nil {
		return false, fmt.Errorf("%s: %w", p.src, err)
	}
	b, ok := out.Value().(bool)
	if !ok {
		return false, fmt.Errorf("%s: gave %v, not true or false", p.src, out.Value())
	}
	return b, nil
}

func (st *mapState) evalString(p *program, vars *activation) (string, error) {
	out, err := p.eval(vars)
	if err != nil {
		return "", fmt.Errorf("%s: %w", p.src, err)
	}
	s, ok := out.Value().(string)
	if !ok {
		return "", fmt.Errorf("%s: gave %v, not a string", p.src, out.Value())
	}
	return s, nil
}

// evalValue evaluates an expression into a JSON-ready value; an empty
// string, list or map means no value.
func (st *mapState) evalValue(p *program, vars *activation) (any, error) {
	out, err := p.eval(vars)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p.src, err)
	}
	v := native(out)
	if pv, ok := prune(v); ok {
		return pv, nil
	}
	return nil, nil
}

// native converts a CEL value to plain Go JSON values.
func native(v ref.Val) any {
	switch x := v.(type) {
	case types.String:
		return string(x)
	case types.Bool:
		return bool(x)
	case types.Int:
		return int64(x)
	case types.Uint:
		return uint64(x)
	case types.Double:
		return float64(x)
	case types.Null:
		return nil
	}
	if l, ok := v.Value().([]ref.Val); ok {
		out := make([]any, len(l))
		for i, e := range l {
			out[i] = native(e)
		}
		return out
	}
	switch x := v.Value().(type) {
	case map[ref.Val]ref.Val:
		out := map[string]any{}
		for k, e := range x {
			out[fmt.Sprint(k.Value())] = native(e)
		}
		return out
	case map[string]any, []any, string, bool, int64, float64:
		return x
	}
	if n, err := v.ConvertToNative(reflectAny); err == nil {
		return n
	}
	return v.Value()
}
