package mappings

import (
	"io/fs"
	"path"
	"reflect"
	"slices"
	"testing"

	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"

	"github.com/carebridge/carebridge/engine/hl7"
)

// TestFastExpressionsAgreeWithCEL evaluates every expression of the shipped
// maps that fastexpr.go compiles both ways, in every segment of every
// example message (as a segment and as a data type value), with several
// values of it, ids and resource, and checks that the results and the
// positions read are the same whenever the fast path decides.
func TestFastExpressionsAgreeWithCEL(t *testing.T) {
	set, err := Load(Shipped())
	if err != nil {
		t.Fatal(err)
	}
	var progs []*program
	seen := map[*program]bool{}
	add := func(p *program) {
		if p != nil && !seen[p] && (p.fastBool != nil || p.fastStr != nil || p.fastAny != nil) {
			seen[p] = true
			progs = append(progs, p)
		}
	}
	for _, r := range set.rows {
		add(r.value)
		add(r.when)
	}
	for _, mm := range set.messages {
		for _, cr := range mm.resources {
			add(cr.when)
			add(cr.key)
			for _, q := range append(slices.Clone(cr.require), cr.expect...) {
				add(q.that)
			}
		}
	}
	if len(progs) < 100 {
		t.Fatalf("only %d expressions take the fast path", len(progs))
	}
	var msgs []*hl7.Message
	err = fs.WalkDir(Shipped(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || path.Ext(p) != ".hl7" {
			return err
		}
		b, err := fs.ReadFile(Shipped(), p)
		if err != nil {
			return err
		}
		m, err := hl7.Parse(b)
		if err != nil {
			return err
		}
		msgs = append(msgs, m)
		return nil
	})
	if err != nil || len(msgs) == 0 {
		t.Fatalf("examples: %v (%d)", err, len(msgs))
	}
	its := []string{"", `""`, "SV", "20261101082500+0100"}
	vars := []struct{ ids, resource map[string]any }{{map[string]any{}, map[string]any{}}, {
		map[string]any{"patient": "p-1", "encounter": "e-1"},
		map[string]any{
			"identifier": []any{map[string]any{"system": "s", "value": "1", "type": map[string]any{"coding": []any{map[string]any{"code": "MR"}}}}},
			"status":     "booked", "start": "x",
		},
	}}
	decided, runs := 0, 0
	for _, msg := range msgs {
		for si, seg := range msg.Segments() {
			for _, dt := range []bool{false, true} {
				for _, it := range its {
					for _, vv := range vars {
						for _, p := range progs {
							runs++
							celSt, celVars := fastFixture(set, msg, si, seg, dt, it, vv.ids, vv.resource)
							want, _, celErr := p.prg.Eval(celVars)
							fastSt, fastVars := fastFixture(set, msg, si, seg, dt, it, vv.ids, vv.resource)
							got, ok := p.evalFast(fastVars)
							if !ok {
								continue
							}
							decided++
							if celErr != nil || types.IsError(want) {
								t.Fatalf("%s (%s, it %q): fast gave %v, CEL failed: %v %v", p.src, seg.Name(), it, got, celErr, want)
							}
							if w := plain(p, want); !reflect.DeepEqual(got, w) {
								t.Fatalf("%s (%s, it %q): fast %#v, CEL %#v", p.src, seg.Name(), it, got, w)
							}
							if c, f := celSt.used.marked(), fastSt.used.marked(); !slices.Equal(c, f) {
								t.Fatalf("%s (%s, it %q): fast read %v, CEL read %v", p.src, seg.Name(), it, f, c)
							}
						}
					}
				}
			}
		}
	}
	t.Logf("%d expressions, %d evaluations, %d decided by the fast path", len(progs), runs, decided)
	if decided < runs/2 {
		t.Errorf("the fast path decided only %d of %d evaluations", decided, runs)
	}
}

// evalFast runs p's fast path, giving what the evaluation would (a value
// pruned as evalValue prunes it).
func (p *program) evalFast(a *activation) (any, bool) {
	switch {
	case p.fastBool != nil:
		return p.fastBool(a)
	case p.fastStr != nil:
		return p.fastStr(a)
	}
	v, ok := p.fastAny(a)
	if pv, keep := prune(v); keep {
		return pv, ok
	}
	return nil, ok
}

// plain converts CEL's result as evalBool, evalString or evalValue do.
func plain(p *program, v ref.Val) any {
	if p.fastAny == nil {
		return v.Value()
	}
	if pv, keep := prune(native(v)); keep {
		return pv
	}
	return nil
}

// fastFixture makes the state and variables of a row reading segment seg
// (index si) of msg, or, with dt, its field 3's first repetition as a data
// type value.
func fastFixture(set *Set, msg *hl7.Message, si int, seg *hl7.Segment, dt bool, it string, ids, res map[string]any) (*mapState, *activation) {
	st := &mapState{set: set, msg: msg}
	st.resetFields(msg)
	var resource *node // the resource being built, as rows hold it
	if res != nil {
		resource = toNodes(nil, res).(*node)
	}
	a := &activation{
		itStr: it, event: celString(msg.TriggerEvent()), structure: celString("X"),
		m:      &accessor{st: st, msg: true},
		sender: map[string]string{"name": "default", "application": msg.Get("MSH-3.1"), "facility": msg.Get("MSH-4.1")},
		ids:    ids, resource: resource,
	}
	if dt {
		c := &dtContext{val: seg.Field(3).Repetition(1), base: posKey{seg: si, field: 3, rep: 1}}
		c.acc = accessor{st: st, dt: c}
		a.v = &c.acc
	} else {
		a.v = st.segAccessor(&segContext{seg: seg, idx: si})
	}
	return st, a
}
