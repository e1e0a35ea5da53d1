package mappings

import (
	"fmt"
	"slices"

	"github.com/carebridge/carebridge/engine/hl7"
)

// Applying rows: reading sources, converting values, writing targets.

func (st *mapState) segAccessor(ctx *segContext) *accessor {
	if ctx.acc == nil {
		ctx.accv = accessor{st: st, seg: ctx}
		ctx.acc = &ctx.accv
	}
	return ctx.acc
}

// segValue reads a path relative to a segment context (v[...] in a segment
// map), marking it used.
func (st *mapState) segValue(ctx *segContext, path string) string {
	sp, err := st.set.cachedSource(path, true)
	if err != nil {
		return ""
	}
	return st.segValueAt(ctx, &sp)
}

// segValueAt is segValue of a parsed path.
func (st *mapState) segValueAt(ctx *segContext, sp *sourcePath) string {
	f, at, ok := st.resolveSeg(ctx, sp)
	if !ok {
		return ""
	}
	st.mark(at)
	return fieldText(f)
}

// dtValue reads a path relative to a data type value (v[...] in a datatype
// map), marking it used.
func (st *mapState) dtValue(ctx *dtContext, path string) string {
	sp, err := st.set.cachedSource(path, false)
	if err != nil {
		return ""
	}
	return st.dtValueAt(ctx, &sp)
}

// dtValueAt is dtValue of a parsed path.
func (st *mapState) dtValueAt(ctx *dtContext, sp *sourcePath) string {
	f := ctx.narrow(sp)
	st.mark(ctx.at(sp))
	return fieldText(f)
}

// pushDT makes the context of a datatype map applied to val at base, reusing
// the state's stack of contexts (popDT releases it): nothing of it outlives
// the rows it is made for.
func (st *mapState) pushDT(val hl7.Field, base posKey) *dtContext {
	if st.dtDepth == len(st.dtStack) {
		st.dtStack = append(st.dtStack, &dtContext{})
	}
	c := st.dtStack[st.dtDepth]
	st.dtDepth++
	*c = dtContext{val: val, base: base, comps: val.AppendComponents(c.comps[:0])}
	c.past = val.Component(len(c.comps) + 1)
	c.acc = accessor{st: st, dt: c}
	return c
}

// narrow applies sp to the context's value, taking its components from
// those split once by pushDT.
func (c *dtContext) narrow(sp *sourcePath) hl7.Field {
	if sp.rep > 0 || sp.comp == 0 {
		return sp.narrow(c.val)
	}
	var f hl7.Field
	if sp.comp <= len(c.comps) {
		f = c.comps[sp.comp-1]
	} else {
		f = c.past // empty, as every component past the last
	}
	if sp.sub > 0 {
		f = f.Component(sp.sub)
	}
	return f
}

func (st *mapState) popDT() { st.dtDepth-- }

// at is the position a datatype-relative source reads.
func (c *dtContext) at(sp *sourcePath) posKey {
	k := c.base
	if k.comp == 0 {
		k.comp = sp.comp
	}
	return k
}

// resolveSeg finds a source in a segment context: relative to the segment,
// or absolute (in the group instance first, then the message).
func (st *mapState) resolveSeg(ctx *segContext, sp *sourcePath) (hl7.Field, posKey, bool) {
	seg, idx := ctx.seg, ctx.idx
	if !sp.absolute && ctx.rep > 0 && sp.field == ctx.repField && sp.rep == 0 {
		own := *sp
		own.rep = ctx.rep // a context made per repetition reads its own
		sp = &own
	}
	if sp.absolute && sp.segment != seg.Name() { // an absolute path to the context's own segment reads this occurrence
		seg = nil
		inGroup := false
		for i, g := range ctx.group {
			if g.Name() == sp.segment {
				seg, idx = g, ctx.groupI[i]
				break
			}
		}
		if g := ctx.spec; g != nil {
			// A group's own segments are read only within this instance.
			inGroup = g.Start == sp.segment || slices.Contains(g.Members, sp.segment)
		}
		if seg == nil && inGroup {
			return hl7.Field{}, posKey{}, false
		}
		if seg == nil {
			if seg, idx = segmentAt(st.msg, sp.segment, 1); seg == nil {
				return hl7.Field{}, posKey{}, false
			}
		}
	}
	return sp.narrow(st.field(idx, seg, sp.field)), posKey{seg: idx, field: sp.field, rep: sp.rep, comp: sp.comp}, true
}

// applyRows applies rows to obj, reading from a segment context (seg) or a
// data type value (dt).
func (st *mapState) applyRows(rows []*compiledRow, seg *segContext, dt *dtContext, obj *node, vars *activation) error {
	// The activation is switched in place and restored: one mapping runs on
	// one goroutine, and this saves a copy per context.
	saved, savedIt, savedItStr := vars.v, vars.it, vars.itStr
	if seg != nil {
		vars.v = st.segAccessor(seg)
	} else {
		vars.v = &dt.acc
	}
	var err error
	for _, r := range rows {
		if err = st.applyRow(r, seg, dt, obj, vars); err != nil {
			break
		}
	}
	vars.v, vars.it, vars.itStr = saved, savedIt, savedItStr
	return err
}

func (st *mapState) applyRow(r *compiledRow, seg *segContext, dt *dtContext, obj *node, vars *activation) error {
	if r.to == nil {
		return nil
	}
	err := st.applyRowTo(r, seg, dt, obj, vars)
	st.hasPos = false // a later row's warnings must not take this row's position
	return err
}

func (st *mapState) applyRowTo(r *compiledRow, seg *segContext, dt *dtContext, obj *node, vars *activation) error {
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
		segKey := -1
		if seg != nil {
			segKey = seg.key()
		}
		st.current.refs = append(st.current.refs, pendingRef{row: r, obj: obj, seg: segKey})
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
	if r.from != nil {
		var f hl7.Field
		var at posKey
		if seg != nil {
			var ok bool
			f, at, ok = st.resolveSeg(seg, r.from)
			if !ok {
				if r.row.Required {
					return &MapError{At: r.at, Where: r.from.text, Err: fmt.Errorf("required segment %s is missing", r.from.segment)}
				}
				return nil
			}
		} else {
			f = dt.narrow(r.from)
			at = dt.at(r.from)
		}
		// A context made per repetition has already chosen the repetition.
		whole := r.from.whole() && !(seg != nil && seg.rep > 0 && !r.from.absolute && r.from.field == seg.repField)
		if seg == nil || !whole {
			return st.applyValue(r, f, at, obj, vars)
		}
		appendAll := len(r.to) > 0 && r.to[len(r.to)-1].index == indexAppend
		if appendAll && f.RepetitionCount() > 1 {
			// Every repetition of the source becomes one element.
			for i, rep := range f.Repetitions() {
				k := at
				k.rep = i + 1
				if err := st.applyValue(r, rep, k, obj, vars); err != nil {
					return err
				}
			}
			return nil
		}
		at.rep = 1
		return st.applyValue(r, f.Repetition(1), at, obj, vars)
	}
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
			st.put(r, obj, v)
		}
		return nil
	}
	if r.as == "identifierSystem" {
		st.curObj = obj
		sys := st.identifierSystem(hl7.Field{}, r)
		st.curObj = nil
		if sys != "" {
			st.put(r, obj, sys)
		}
		return nil
	}
	v, err := st.evalValue(r.value, vars)
	if err != nil {
		return &MapError{At: r.at, Err: err}
	}
	if v != nil {
		st.put(r, obj, v)
	}
	return nil
}

// applyValue maps one value of a row's source (one repetition when each
// becomes an element) read at position at.
func (st *mapState) applyValue(r *compiledRow, f hl7.Field, at posKey, obj *node, vars *activation) error {
	if f.IsNull() {
		st.mark(at)
		st.hits[r.id] = true
		switch {
		case r.row.Clears != "":
			st.current.clears = append(st.current.clears, r.row.Clears)
		case r.value != nil && r.value.constant != nil:
			// A structural companion (an extension's url): the row that
			// carries the value records the clear.
		case len(r.to) > 0:
			st.current.clears = append(st.current.clears, r.to.clearPath())
		}
		return nil
	}
	if f.IsEmpty() && r.as != "identifierSystem" {
		if r.row.Required {
			return &MapError{At: r.at, Where: st.where(at), Err: fmt.Errorf("required value %s is missing", r.from.text)}
		}
		return nil
	}
	if r.when != nil {
		vars.it, vars.itStr = nil, fieldText(f)
		ok, err := st.evalBool(r.when, vars)
		vars.itStr = ""
		if err != nil {
			return &MapError{At: r.at, Where: st.where(at), Err: err}
		}
		if !ok {
			return nil
		}
	}
	st.hits[r.id] = true
	st.pos, st.hasPos = at, true
	var v any
	var ok bool
	var err error
	switch {
	case r.viaDT != nil && len(r.to) == 0 && at.comp == 0 && r.viaDT.inPlace && holdsNone(obj, r.viaDT.writes):
		// Applied at "." into an object holding none of what it writes:
		// written there directly, as merging would.
		base := at
		if base.rep == 0 {
			base.rep = 1
		}
		dc := st.pushDT(f, base)
		err := st.applyRows(r.viaDT.rows, nil, dc, obj, vars)
		st.popDT()
		if err != nil {
			return err
		}
		st.pos, st.hasPos = at, true
		return nil
	case r.viaDT != nil:
		child := r.size.newObject(&st.arena)
		dirty := st.dirty
		st.dirty = false
		base := at
		if base.rep == 0 {
			base.rep = 1
		}
		dc := st.pushDT(f, base)
		err := st.applyRows(r.viaDT.rows, nil, dc, child, vars)
		st.popDT()
		if err != nil {
			return err
		}
		r.size.note(child)
		pv, keep := st.pruneChild(child, dirty)
		v, ok = pv, keep
		if keep && base.comp != 0 {
			st.mark(base)
		}
	case r.code != nil:
		st.mark(at)
		v, ok, err = st.convertCode(f, r.code, r.as, r)
	case r.value != nil:
		st.mark(at)
		vars.it, vars.itStr = nil, fieldText(f)
		v, err = st.evalValue(r.value, vars)
		vars.itStr = ""
		ok = v != nil
		if str, isStr := v.(string); err == nil && isStr && r.as != "" {
			v, ok, err = st.convert(hl7.NewField(str, st.msg.Delimiters()), r.as, r)
			if err != nil {
				st.pos, st.hasPos = at, true
				st.warn("invalid-value", r, invalidValueText(r.as))
				return nil
			}
		}
	default:
		st.mark(at)
		st.curObj = obj
		v, ok, err = st.convert(f, r.as, r)
		st.curObj = nil
		if err != nil && !r.row.Required {
			// A malformed value (a date that is no date, "abc" for a
			// number) is left out with a warning; the message still maps.
			st.pos, st.hasPos = at, true
			st.warn("invalid-value", r, invalidValueText(r.as))
			return nil
		}
	}
	if err != nil {
		return &MapError{At: r.at, Where: st.where(at), Err: err}
	}
	if ok {
		st.put(r, obj, v)
	}
	st.pos, st.hasPos = at, true // restore after a nested datatype map moved it
	return nil
}

// holdsNone reports whether obj has none of the elements names.
func holdsNone(obj *node, names []string) bool {
	if len(obj.ms) > 8 {
		return false // not worth looking
	}
	for _, m := range obj.ms {
		if _, found := slices.BinarySearch(names, m.k); found {
			return false
		}
	}
	return true
}

// put writes a row's value, noting whether the object now needs pruning.
func (st *mapState) put(r *compiledRow, obj *node, v any) {
	if r.to.set(&st.arena, obj, v) {
		st.dirty = true
	}
}

// pruneChild prunes an object built by a nested map (via, or map with each)
// when its rows left anything to prune, and restores the outer object's
// dirty flag saved before it was built.
func (st *mapState) pruneChild(child *node, outerDirty bool) (any, bool) {
	dirty := st.dirty
	st.dirty = outerDirty
	if dirty {
		return prune(child)
	}
	return child, len(child.ms) > 0
}

func (st *mapState) applyRef(p pendingRef) error {
	r := p.row
	id, ok := st.idsBySeg[r.row.Ref][p.seg] // the resource made from the same segment occurrence
	if !ok {
		var v any
		v, ok = st.ids[r.row.Ref]
		id, _ = v.(string)
	}
	if !ok {
		return nil // the referenced resource was not produced by this message
	}
	target := st.mm.typeOf[r.row.Ref]
	if target == "" {
		return &MapError{At: r.at, Err: fmt.Errorf("ref %q names no resource", r.row.Ref)}
	}
	ref, ok := st.refOf[id]
	if s, _ := ref.(string); !ok || s[:len(s)-len(id)-1] != target {
		ref = target + "/" + id // not made by this message (or of another type)
	}
	r.to.set(&st.arena, p.obj, st.arena.nodeOf(member{"reference", ref}))
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
func (st *mapState) applyEach(r *compiledRow, seg *segContext, obj *node, vars *activation) error {
	var occ []*segContext
	inGroup := false
	if seg != nil && len(seg.group) > 0 {
		if g := seg.spec; g != nil && (g.Start == r.eachSeg || slices.Contains(g.Members, r.eachSeg)) {
			inGroup = true // a group's segments are read only within this instance
			for i, s := range seg.group {
				if s.Name() == r.eachSeg {
					c := st.newContext()
					c.seg, c.idx, c.group, c.groupI, c.spec = s, seg.groupI[i], seg.group, seg.groupI, seg.spec
					occ = append(occ, c)
				}
			}
		}
	}
	if !inGroup {
		occ = st.occurrences(r.eachSeg)
	}
	if r.eachField > 0 {
		occ = st.perRepetition(occ, r.eachField)
	}
	savedV := vars.v
	err := st.applyEachOf(r, occ, obj, vars)
	vars.v = savedV
	return err
}

// applyEachOf applies an each row to the occurrences occ, switching the
// context of vars in place (applyEach restores it).
func (st *mapState) applyEachOf(r *compiledRow, occ []*segContext, obj *node, vars *activation) error {
	for _, c := range occ {
		vars.v = st.segAccessor(c)
		if r.when != nil {
			ok, err := st.evalBool(r.when, vars)
			if err != nil {
				return &MapError{At: r.at, Where: c.seg.Name(), Err: err}
			}
			if !ok {
				continue
			}
		}
		st.hits[r.id] = true
		if r.segMap != nil {
			child := r.size.newObject(&st.arena)
			dirty := st.dirty
			st.dirty = false
			if err := st.applyRows(r.segMap.rows, c, nil, child, vars); err != nil {
				return err
			}
			r.size.note(child)
			if pv, ok := st.pruneChild(child, dirty); ok {
				st.put(r, obj, pv)
			}
			continue
		}
		if err := st.applyRow(r.plain, c, nil, obj, vars); err != nil {
			return err
		}
	}
	return nil
}

// occurrences lists the contexts of every occurrence of a segment in the
// message, made once per message so that their accessors are shared.
func (st *mapState) occurrences(name string) []*segContext {
	if occ, ok := st.occ[name]; ok {
		return occ
	}
	var occ []*segContext
	for i, s := range st.msg.Segments() {
		if s.Name() == name {
			c := st.newContext()
			c.seg, c.idx = s, i
			occ = append(occ, c)
		}
	}
	st.cacheOcc(name, occ)
	return occ
}

// cacheOcc keeps the contexts of a segment (or, keyed "\x00GROUP", of a
// group's instances) for the rest of the message.
func (st *mapState) cacheOcc(key string, occ []*segContext) {
	if st.occ == nil {
		st.occ = map[string][]*segContext{}
	}
	st.occ[key] = occ
}
