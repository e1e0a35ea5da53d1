package mappings

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
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

// ErrNoEventMap matches (errors.Is) the error Map returns for a message whose
// type has a map that does not handle its trigger event; it matches ErrNoMap
// too.
var ErrNoEventMap = errors.New("no map for the trigger event")

// noMapError says which message no map handles; it matches ErrNoMap, and
// ErrNoEventMap when only the event is not handled.
type noMapError struct {
	msg       string
	eventOnly bool
}

func (e *noMapError) Error() string { return e.msg }
func (e *noMapError) Is(target error) bool {
	return target == ErrNoMap || (e.eventOnly && target == ErrNoEventMap)
}

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
	Kind    string `json:"kind"`         // unmapped-code, unused-field, no-timezone, unregistered-authority, skipped-resource, expectation, ...
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
	used     posSet
	warnings []Warning
	ids      map[string]any            // rule name → id (first resource)
	idsBySeg map[string]map[int]string // rule name → occurrence key (segContext.key) → id
	refOf    map[string]any            // id → "Type/id", boxed once for every reference to it
	hits     []bool                    // rows applied, for coverage
	senderV  map[string]string
	current  *built
	occ      map[string][]*segContext // occurrences by segment name (see occurrences)
	curObj   *node                    // the object a conversion's row writes to
	pos      posKey                   // the position being mapped, for warnings
	hasPos   bool
	fields   [][]hl7.Field // fields, by segment index, split on first read (see field)
	buf      []byte        // scratch for the Bundle's JSON
	enc      jsonEncoder   // its encoder's scratch
	msgKey   string        // messageKey, read once
	// The variables of expressions and the accessors of m and of v outside
	// any context (see baseVars); noResource stays empty.
	vars       activation
	msgAcc     accessor
	noAcc      accessor
	noResource *node
	builts     []*built      // reused from message to message (see newBuilt)
	nBuilt     int           // how many of builts this message uses
	all        []*built      // the resources built, in order
	ctxs       []*segContext // reused from message to message (see newContext)
	nCtx       int           // how many of ctxs this message uses
	parts      []hl7.Field   // scratch for a value's components (see unused)
	// dirty says whether the object being built may hold what prune
	// removes (see targetPath.set); nested objects save and restore it.
	dirty   bool
	dtStack []*dtContext // reused datatype contexts (pushDT)
	dtDepth int
	// arena makes the message's nodes and lists; never kept in the pool
	// (the Result owns what it made).
	arena arena
}

// built is one resource being built.
type built struct {
	rule     *compiledResource
	obj      *node
	clears   []string
	refs     []pendingRef // applied once every id is known
	ctx      *segContext
	resource string
	id       string
	ref      any // "Type/id"
}

// pendingRef is a ref row waiting for every id to be known.
type pendingRef struct {
	row *compiledRow
	obj *node // where To is set
	seg int   // the segment occurrence the row was read in
}

// segContext is the segment (and group instance) rows read from.
type segContext struct {
	seg      *hl7.Segment
	idx      int
	repField int // with rep: reads of this field read repetition rep
	rep      int
	group    []*hl7.Segment
	groupI   []int
	spec     *groupSpec // the group group is an instance of
	acc      *accessor  // v[...] for this context, made once (&accv)
	accv     accessor
}

// dtContext is a data type value rows read from.
type dtContext struct {
	val   hl7.Field
	comps []hl7.Field // val's components, split once (see narrow)
	past  hl7.Field   // the (empty) component past the last, read as any of them
	base  posKey      // where val sits (comp 0: a whole repetition)
	acc   accessor    // v[...] for this value
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

// profileFor picks the sender profile by name, or for a message from
// application app (MSH-3.1) and facility fac (MSH-4.1).
func (s *Set) profileFor(app, fac, name string) (*profile, error) {
	if name != "" {
		for _, p := range s.senders {
			if p.file.Sender == name {
				return p, nil
			}
		}
		return nil, fmt.Errorf("no sender profile %q", name)
	}
	for _, p := range s.senders {
		if matches(p.file.Application, app) && matches(p.file.Facility, fac) {
			return p, nil
		}
	}
	return s.senders[len(s.senders)-1], nil
}

// senderName names a sender in errors: APP^FACILITY, or APP.
func senderName(app, fac string) string {
	if fac != "" {
		return app + "^" + fac
	}
	return app
}

func matches(pattern, v string) bool { return pattern == "" || pattern == "*" || pattern == v }

func (st *mapState) defaultProfile() *profile { return st.set.senders[len(st.set.senders)-1] }

// Handles says whether the set has a map for msg's message type and trigger
// event: nil if it has, else the error Map would return (matching ErrNoMap,
// and ErrNoEventMap when only the event is missing). It does not map: a
// message it accepts may still fail to map.
func (s *Set) Handles(msg *hl7.Message) error {
	_, _, err := s.messageMap(msg.MessageCode(), msg.TriggerEvent(), msg.Get("MSH-3.1"), msg.Get("MSH-4.1"))
	return err
}

// messageMap finds the message map and structure for a message code and
// trigger event; app and fac name the sender in the error.
func (s *Set) messageMap(code, event, app, fac string) (*messageMap, string, error) {
	mm, ok := s.messages[code]
	if !ok {
		return nil, "", &noMapError{msg: fmt.Sprintf("no map for %s^%s from sender %s", code, event, senderName(app, fac))}
	}
	structure, ok := mm.events[event]
	if !ok {
		evs := make([]string, 0, len(mm.events))
		for e := range mm.events {
			evs = append(evs, e)
		}
		slices.Sort(evs)
		return nil, "", &noMapError{msg: fmt.Sprintf("no map for %s^%s from sender %s (the %s map handles %s)", code, event, senderName(app, fac), code, strings.Join(evs, ", ")), eventOnly: true}
	}
	return mm, structure, nil
}

// Map turns one HL7 v2 message into a FHIR R4 transaction Bundle.
func (s *Set) Map(msg *hl7.Message, opts Options) (*Result, error) {
	code, event := msg.MessageCode(), msg.TriggerEvent()
	app, fac := msg.Get("MSH-3.1"), msg.Get("MSH-4.1") // read once: the sender is named in several places
	mm, structure, err := s.messageMap(code, event, app, fac)
	if err != nil {
		return nil, err
	}
	p, err := s.profileFor(app, fac, opts.Sender)
	if err != nil {
		return nil, err
	}
	st := s.newState()
	defer s.releaseState(st)
	st.arena.nodeBlock, st.arena.listBlock = s.arenaNodes.Load(), s.arenaLists.Load()
	st.msg, st.mm, st.profile, st.event = msg, mm, p, event
	st.resetFields(msg)
	st.hits = make([]bool, len(s.rows))
	st.senderV["name"], st.senderV["application"], st.senderV["facility"] = p.file.Sender, app, fac
	st.msgKey = st.messageKey()
	vars := st.baseVars(structure)
	all := st.all[:0]
	for _, cr := range mm.resources {
		if len(cr.events) > 0 && !slices.Contains(cr.events, event) {
			continue
		}
		ctxs := st.contexts(cr)
		if len(ctxs) == 0 && cr.rule.Required {
			return nil, &MapError{At: cr.at, Where: cr.rule.Segment, Err: fmt.Errorf("required segment %s is missing (resource %s)", cr.rule.Segment, cr.rule.Name)}
		}
		if cr.rule.Repeat > 0 {
			ctxs = st.perRepetition(ctxs, cr.rule.Repeat)
		}
		for _, ctx := range ctxs {
			if cr.when != nil {
				// Evaluated per occurrence (or group instance), with v
				// bound to it: a false condition skips just this one.
				savedV := vars.v
				vars.v = st.segAccessor(ctx)
				ok, err := st.evalBool(cr.when, vars)
				var why string
				if err == nil && !ok && cr.skipped != nil {
					// The segment is there but makes no resource: said,
					// so that nothing is lost silently.
					why, err = st.evalString(cr.skipped, vars)
				}
				vars.v = savedV
				if err != nil {
					return nil, &MapError{At: cr.at, Where: ctx.seg.Name(), Err: err}
				}
				if !ok {
					if why != "" {
						st.warnings = append(st.warnings, Warning{Kind: "skipped-resource", At: cr.at, Where: ctx.seg.Name(), Message: why})
					}
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
	st.all = all // its memory, for the next message
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

// baseVars sets the variables of the message's expressions, held in the
// state (as are the accessors): outside any context v reads nothing and
// resource is empty.
func (st *mapState) baseVars(structure string) *activation {
	st.msgAcc = accessor{st: st, msg: true}
	st.vars = activation{
		event: celString(st.event), structure: celString(structure), sender: st.senderV,
		m: &st.msgAcc, v: &st.noAcc, resource: st.noResource, ids: st.ids,
	}
	return &st.vars
}

// messageValue reads a terser path anywhere in the message, marking it used.
func (st *mapState) messageValue(path string) string {
	p, err := st.set.cachedPath(path)
	if err != nil {
		return ""
	}
	seg, idx := segmentAt(st.msg, p.Segment, p.Occurrence)
	if seg == nil {
		return ""
	}
	sp := sourcePath{field: p.Field, rep: p.Repetition, comp: p.Component, sub: p.SubComponent}
	f := sp.narrow(st.field(idx, seg, p.Field))
	st.mark(posKey{seg: idx, field: p.Field, rep: max(p.Repetition, 1), comp: p.Component})
	return fieldText(f)
}

// contexts lists where a resource rule applies: each group instance, each
// occurrence, or the first occurrence of its segment.
func (st *mapState) contexts(cr *compiledResource) []*segContext {
	segs := st.msg.Segments()
	var out []*segContext
	if cr.rule.Group != "" {
		// Made once per message, shared by the rules of the group.
		key := "\x00" + cr.rule.Group
		if out, ok := st.occ[key]; ok {
			return out
		}
		defer func() { st.cacheOcc(key, out) }()
		g := st.mm.groups[cr.rule.Group]
		spec := &g // shared by the instances
		var cur *segContext
		for i, seg := range segs {
			switch {
			case seg.Name() == g.Start:
				cur = st.newContext()
				cur.seg, cur.idx, cur.group, cur.groupI, cur.spec = seg, i, []*hl7.Segment{seg}, []int{i}, spec
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
	// The contexts of a segment's occurrences are made once per message and
	// shared by the rules (and each rows) reading them.
	occ := st.occurrences(cr.rule.Segment)
	if !cr.rule.Each && len(occ) > 1 {
		return occ[:1:1]
	}
	return occ
}

// perRepetition expands contexts into one per repetition of field f.
func (st *mapState) perRepetition(ctxs []*segContext, f int) []*segContext {
	var out []*segContext
	for _, c := range ctxs {
		field := st.field(c.idx, c.seg, f)
		for r := 1; r <= field.RepetitionCount(); r++ {
			if field.Repetition(r).IsEmpty() {
				continue
			}
			rc := st.newContext()
			*rc = *c
			rc.repField, rc.rep, rc.acc = f, r, nil
			out = append(out, rc)
		}
	}
	return out
}

// key identifies the occurrence (and repetition) a context reads, so that a
// ref finds the resource made from the same one.
func (c *segContext) key() int { return c.idx<<12 | c.rep&0xfff }

// build makes one resource from one context.
func (st *mapState) build(cr *compiledResource, ctx *segContext, vars *activation) (*built, error) {
	obj := cr.size.newObject(&st.arena)
	obj.put("resourceType", cr.typeVal)
	b := st.newBuilt()
	b.rule, b.obj, b.ctx, b.resource = cr, obj, ctx, cr.resource
	st.current = b
	// Rows may read the resource built so far (the segment map's rows run
	// first, then the rule's): e.g. a status that depends on whether a
	// start time could be written.
	saved := vars.resource
	vars.resource = b.obj
	defer func() { vars.resource = saved }()
	st.dirty = false
	if err := st.applyRows(cr.seg.rows, ctx, nil, b.obj, vars); err != nil {
		return nil, err
	}
	if err := st.applyRows(cr.rows, ctx, nil, b.obj, vars); err != nil {
		return nil, err
	}
	if st.dirty { // else every value written was already pruned
		pruneNode(b.obj)
	}
	b.obj.put("resourceType", cr.typeVal)
	// The key and requirements read the resource and the context (switched
	// in place, as applyRows does, and restored on return).
	savedV := vars.v
	defer func() { vars.v = savedV }()
	kv := vars
	kv.resource = b.obj
	kv.v = st.segAccessor(ctx)
	for _, q := range cr.require {
		if q.that == nil {
			continue
		}
		ok, err := st.evalBool(q.that, kv)
		if err != nil {
			return nil, &MapError{At: q.that.at, Where: ctx.seg.Name(), Err: err}
		}
		if !ok {
			return nil, &MapError{At: q.that.at, Where: ctx.seg.Name(), Err: fmt.Errorf("%s %s: %s", cr.resource, cr.rule.Name, q.message)}
		}
	}
	for _, x := range cr.expect {
		if x.that == nil {
			continue
		}
		ok, err := st.evalBool(x.that, kv)
		if err != nil {
			return nil, &MapError{At: x.that.at, Where: ctx.seg.Name(), Err: err}
		}
		if !ok {
			st.warnings = append(st.warnings, Warning{Kind: "expectation", At: x.that.at, Where: ctx.seg.Name(), Message: x.message})
		}
	}
	key, err := st.evalString(cr.key, kv)
	if err != nil {
		return nil, &MapError{At: cr.key.at, Where: ctx.seg.Name(), Err: fmt.Errorf("resource %s (%s) has no business identity: its key failed: %w", cr.rule.Name, cr.resource, err)}
	}
	if key == "" {
		return nil, &MapError{At: cr.key.at, Where: ctx.seg.Name(), Err: fmt.Errorf("resource %s (%s) has no business identity: its key %q is empty", cr.rule.Name, cr.resource, cr.key.src)}
	}
	ref, idText := stableRef(cr.resource, key)
	b.id = idText
	id := any(b.id) // boxed once for both maps
	b.obj.put("id", id)
	b.ref = ref
	if _, seen := st.refOf[b.id]; !seen {
		st.refOf[b.id] = b.ref
	}
	if _, seen := st.ids[cr.rule.Name]; !seen {
		st.ids[cr.rule.Name] = id
	}
	bySeg := st.idsBySeg[cr.rule.Name]
	if bySeg == nil {
		bySeg = map[int]string{}
		st.idsBySeg[cr.rule.Name] = bySeg
	}
	bySeg[ctx.key()] = b.id
	return b, nil
}

// StableID derives a resource id from its type and business key: the same
// identity always gets the same id, so a resend or replay updates instead of
// duplicating. The id is a name-based UUID (version 5 layout).
func StableID(resourceType, key string) string {
	id := stableID(resourceType, key)
	return string(id[:])
}

// stableRef is the reference "Type/id" to the resource StableID names, and
// its id within it: one string for both.
func stableRef(resourceType, key string) (ref, id string) {
	uuid := stableID(resourceType, key)
	var b strings.Builder
	b.Grow(len(resourceType) + 1 + len(uuid))
	b.WriteString(resourceType)
	b.WriteByte('/')
	b.Write(uuid[:])
	ref = b.String()
	return ref, ref[len(resourceType)+1:]
}

// stableID is StableID's text.
func stableID(resourceType, key string) [36]byte {
	var in [256]byte
	sum := sha256.Sum256(append(append(append(append(in[:0], "carebridge\x00"...), resourceType...), 0), key...))
	u := sum[:16]
	u[6] = (u[6] & 0x0f) | 0x50
	u[8] = (u[8] & 0x3f) | 0x80
	var out [36]byte
	hex.Encode(out[0:8], u[0:4])
	out[8] = '-'
	hex.Encode(out[9:13], u[4:6])
	out[13] = '-'
	hex.Encode(out[14:18], u[6:8])
	out[18] = '-'
	hex.Encode(out[19:23], u[8:10])
	out[23] = '-'
	hex.Encode(out[24:36], u[10:16])
	return out
}

func (st *mapState) mark(k posKey) { st.used.add(k) }

// isUsed reports whether k was read.
func (st *mapState) isUsed(k posKey) bool { return st.used.has(k) }

// newState takes a mapState from the pool (its maps and position set
// emptied), or makes one. Nothing a Result keeps comes from the pool.
func (s *Set) newState() *mapState {
	if st, ok := s.states.Get().(*mapState); ok {
		return st
	}
	return &mapState{set: s, ids: map[string]any{}, idsBySeg: map[string]map[int]string{}, refOf: map[string]any{},
		senderV: make(map[string]string, 3), noResource: &node{}}
}

// releaseState empties st and puts it back in the pool.
func (s *Set) releaseState(st *mapState) {
	if n := st.arena.usedNodes; n != s.arenaNodes.Load() {
		s.arenaNodes.Store(n)
	}
	if n := st.arena.usedLists; n != s.arenaLists.Load() {
		s.arenaLists.Store(n)
	}
	st.used.reset()
	clear(st.ids)
	clear(st.refOf)
	for _, m := range st.idsBySeg {
		clear(m) // an empty map finds nothing, as a missing one
	}
	clear(st.occ)
	for i := range st.fields {
		clear(st.fields[i]) // keep no message text in the pool
	}
	st.enc.reset() // keep no message text in the pool
	clear(st.parts[:cap(st.parts)])
	for _, c := range st.dtStack {
		clear(c.comps) // keep no message text in the pool
		*c = dtContext{comps: c.comps[:0]}
	}
	st.releaseBuilts()
	st.releaseContexts()
	clear(st.all[:cap(st.all)])
	*st = mapState{set: s, ids: st.ids, idsBySeg: st.idsBySeg, refOf: st.refOf, occ: st.occ, used: st.used,
		dtStack: st.dtStack, fields: st.fields, buf: st.buf, enc: st.enc, parts: st.parts[:0],
		senderV: st.senderV, noResource: st.noResource, builts: st.builts, all: st.all[:0], ctxs: st.ctxs}
	s.states.Put(st)
}

// pack makes a compact map key of k.
func (k posKey) pack() uint64 {
	// seg 24 bits, field 16, repetition 12, component 12: beyond those
	// (4096 repetitions) two positions could share a key.
	return uint64(k.seg&0xffffff)<<40 | uint64(k.field&0xffff)<<24 | uint64(k.rep&0xfff)<<12 | uint64(k.comp&0xfff)
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

func (st *mapState) evalBool(p *program, vars *activation) (bool, error) {
	if p.fastBool != nil {
		if b, ok := p.fastBool(vars); ok {
			return b, nil
		}
	}
	out, err := p.eval(vars)
	if err != nil {
		return false, fmt.Errorf("%s: %s", p.src, redact(err))
	}
	b, ok := out.Value().(bool)
	if !ok {
		return false, fmt.Errorf("%s: gave a %s, not true or false", p.src, out.Type())
	}
	return b, nil
}

func (st *mapState) evalString(p *program, vars *activation) (string, error) {
	if p.fastStr != nil {
		if s, ok := p.fastStr(vars); ok {
			return s, nil
		}
	}
	out, err := p.eval(vars)
	if err != nil {
		return "", fmt.Errorf("%s: %s", p.src, redact(err))
	}
	s, ok := out.Value().(string)
	if !ok {
		return "", fmt.Errorf("%s: gave a %s, not a string", p.src, out.Type())
	}
	return s, nil
}

// evalValue evaluates an expression into a JSON-ready value; an empty
// string, list or map means no value.
func (st *mapState) evalValue(p *program, vars *activation) (any, error) {
	if p.constant != nil {
		return cloneValue(p.constNative), nil
	}
	if p.fastAny != nil {
		if v, ok := p.fastAny(vars); ok {
			if pv, ok := prune(v); ok {
				return pv, nil
			}
			return nil, nil
		}
	}
	out, err := p.eval(vars)
	if err != nil {
		return nil, fmt.Errorf("%s: %s", p.src, redact(err))
	}
	v := native(out)
	if pv, ok := prune(v); ok {
		return pv, nil
	}
	return nil, nil
}

// cloneValue copies the maps and lists of a JSON-ready value: a constant
// written to a resource must not be changed by the rows that follow.
func cloneValue(v any) any {
	switch x := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[k] = cloneValue(e)
		}
		return m
	case []any:
		l := make([]any, len(x))
		for i, e := range x {
			l[i] = cloneValue(e)
		}
		return l
	}
	return v
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

var quoted = regexp.MustCompile(`"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'`)

// redact removes quoted text from an expression's run-time error: it may
// quote a message value (patient data), and the error ends up in the journal.
func redact(err error) string {
	return quoted.ReplaceAllString(err.Error(), `"…"`)
}
