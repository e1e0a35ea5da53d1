package mappings

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/google/cel-go/common/ast"
	"github.com/google/cel-go/common/operators"
	"github.com/google/cel-go/common/types"

	"github.com/carebridge/carebridge/fhirvalid"
	"github.com/carebridge/carebridge/internal/strictyaml"
)

// The elements expressions read from the resource being built
// (resource.identifier, has(resource.name), resource.name[0].family) are
// checked against the FHIR R4 definition of that resource, as row targets
// are. To CEL, resource is dynamic: a misspelt element compiles and then
// reads nothing on every message, so that an expect always warns, a
// require always fails and a key silently changes every id.
//
// resource is the whole resource the rule builds wherever it is bound: in
// its segment map's rows and key and expect, the rule's rows, key, require
// and expect, and the rows of the part maps (AIP[Appointment.participant])
// and datatype maps applied while building it. A part or datatype map is
// checked against the resources of the rules that apply it; a path is
// wrong there only when no such resource has it (has(resource.gender) in a
// map used for a Patient and a Location is a fair test).

// checkedExpr is a compiled expression's checked AST and where it was
// written, kept while the set is checked.
type checkedExpr struct {
	pos  strictyaml.Position
	expr ast.Expr
}

// pathIssue is an element an expression reads that the resource does not
// have, by the id of the AST node that reads it.
type pathIssue struct {
	id        int64
	msg, hint string
}

// resourceExprs checks the resource paths of every expression where
// resource is bound.
func (c *checker) resourceExprs() {
	l := c.l
	checked := map[*program]bool{}
	check := func(p *program, owner string, roots ...*fhirvalid.Type) {
		if p == nil || checked[p] || len(roots) == 0 {
			return
		}
		checked[p] = true
		ce, ok := l.checked[p]
		if !ok {
			return
		}
		for _, is := range commonIssues(ce.expr, owner, roots) {
			l.errorf(ce.pos, is.hint, "%s", is.msg)
		}
	}
	rowExprs := func(rows []*compiledRow, owner string, roots ...*fhirvalid.Type) {
		for _, r := range rows {
			check(r.when, owner, roots...)
			check(r.value, owner, roots...)
		}
	}
	// The resources each part and datatype map is applied to.
	usedBy := map[any]map[*fhirvalid.Type]bool{}
	var reach func(rows []*compiledRow, root *fhirvalid.Type)
	reach = func(rows []*compiledRow, root *fhirvalid.Type) {
		for _, r := range rows {
			var m any
			var next []*compiledRow
			switch {
			case r.segMap != nil && r.segMap.resource == "":
				m, next = r.segMap, r.segMap.rows
			case r.viaDT != nil:
				m, next = r.viaDT, r.viaDT.rows
			default:
				continue
			}
			if usedBy[m] == nil {
				usedBy[m] = map[*fhirvalid.Type]bool{}
			}
			if !usedBy[m][root] {
				usedBy[m][root] = true // and datatype maps do not loop (else reported)
				reach(next, root)
			}
		}
	}
	for _, name := range mapKeys(l.set.segments) {
		sm := l.set.segments[name]
		if sm.resource == "" {
			continue // a part map: below
		}
		root, ok := fhirvalid.LookupType(sm.resource)
		if !ok {
			continue
		}
		rowExprs(sm.rows, name, root)
		check(sm.key, name, root)
		for _, q := range sm.expect {
			check(q.that, name, root)
		}
		reach(sm.rows, root)
	}
	for _, code := range mapKeys(l.set.messages) {
		for _, cr := range l.set.messages[code].resources {
			if cr.seg == nil {
				continue // no segment map: already an error
			}
			root, ok := fhirvalid.LookupType(cr.resource)
			if !ok {
				continue
			}
			owner := "resource " + cr.rule.Name
			rowExprs(cr.rows, owner, root)
			check(cr.key, owner, root)
			for _, q := range cr.require {
				check(q.that, owner, root)
			}
			for _, q := range cr.expect {
				check(q.that, owner, root)
			}
			reach(cr.rows, root)
		}
	}
	rootsOf := func(m any) []*fhirvalid.Type {
		roots := slices.Collect(maps.Keys(usedBy[m]))
		slices.SortFunc(roots, func(a, b *fhirvalid.Type) int { return strings.Compare(a.Name, b.Name) })
		return roots
	}
	for _, name := range mapKeys(l.set.segments) {
		if sm := l.set.segments[name]; sm.resource == "" {
			roots := rootsOf(sm)
			rowExprs(sm.rows, name, roots...)
			check(sm.key, name, roots...)
			for _, q := range sm.expect {
				check(q.that, name, roots...)
			}
		}
	}
	for _, name := range mapKeys(l.set.datatypes) {
		dt := l.set.datatypes[name]
		rowExprs(dt.rows, name, rootsOf(dt)...)
	}
}

// commonIssues is the issues of e, in map owner, read against each of
// roots that every one of them has, as the first root gives them.
func commonIssues(e ast.Expr, owner string, roots []*fhirvalid.Type) []pathIssue {
	first := resourcePathIssues(e, roots[0])
	if len(roots) == 1 || len(first) == 0 {
		return first
	}
	names := []string{roots[0].Name}
	for _, root := range roots[1:] {
		names = append(names, root.Name)
		ids := map[int64]bool{}
		for _, is := range resourcePathIssues(e, root) {
			ids[is.id] = true
		}
		first = slices.DeleteFunc(first, func(is pathIssue) bool { return !ids[is.id] })
	}
	for i := range first {
		first[i].msg += fmt.Sprintf(" (%s is applied to %s: none of them has it)", owner, strings.Join(names, ", "))
	}
	return first
}

// pathVal is what an expression reads from the resource, as far as it can
// be followed statically.
type pathVal struct {
	t     *fhirvalid.Type    // its elements; nil for a primitive
	elem  *fhirvalid.Element // its definition; nil for the resource itself
	list  bool               // a repeating element, not yet indexed
	shown string             // the element, as check.go names it: Patient.name
	text  string             // as the expression writes it: resource.name[0]
}

// resourceTypeElem is the resourceType every resource carries, which the
// R4 definitions do not list as an element.
var resourceTypeElem = &fhirvalid.Element{Name: "resourceType", Type: "code", Primitive: true}

// pathWalker follows an expression's reads of resource.
type pathWalker struct {
	root   *fhirvalid.Type
	scope  map[string]*pathVal // comprehension variables; nil when not a path
	issues []pathIssue
}

// resourcePathIssues lists the elements e reads from resource, a root,
// that root does not have, one per mistake: what is read from a wrong path
// is not followed further.
func resourcePathIssues(e ast.Expr, root *fhirvalid.Type) []pathIssue {
	w := &pathWalker{root: root, scope: map[string]*pathVal{}}
	w.walk(e)
	return w.issues
}

func (w *pathWalker) issue(id int64, hint, format string, args ...any) {
	w.issues = append(w.issues, pathIssue{id: id, msg: fmt.Sprintf(format, args...), hint: hint})
}

// walk visits every node of e and returns the element e reads, or nil
// when e is not (or no longer statically) a path into resource.
func (w *pathWalker) walk(e ast.Expr) *pathVal {
	switch e.Kind() {
	case ast.IdentKind:
		name := e.AsIdent()
		if v, ok := w.scope[name]; ok {
			return v // a comprehension variable, shadowing any other
		}
		if name == "resource" {
			return &pathVal{t: w.root, shown: w.root.Name, text: "resource"}
		}
	case ast.SelectKind:
		sel := e.AsSelect()
		return w.field(e.ID(), w.walk(sel.Operand()), sel.FieldName())
	case ast.CallKind:
		call := e.AsCall()
		if call.IsMemberFunction() {
			w.walk(call.Target())
		}
		args := call.Args()
		vals := make([]*pathVal, len(args))
		for i, a := range args {
			vals[i] = w.walk(a)
		}
		if call.FunctionName() == operators.Index && len(args) == 2 {
			return w.index(e.ID(), vals[0], args[1])
		}
	case ast.ListKind:
		for _, x := range e.AsList().Elements() {
			w.walk(x)
		}
	case ast.MapKind:
		for _, x := range e.AsMap().Entries() {
			if x.Kind() == ast.MapEntryKind {
				w.walk(x.AsMapEntry().Key())
				w.walk(x.AsMapEntry().Value())
			}
		}
	case ast.StructKind:
		for _, x := range e.AsStruct().Fields() {
			if x.Kind() == ast.StructFieldKind {
				w.walk(x.AsStructField().Value())
			}
		}
	case ast.ComprehensionKind:
		w.comprehension(e.AsComprehension())
	}
	return nil
}

// comprehension walks a macro's expansion (exists, all, map, filter), its
// variable bound to an element of the list it ranges over when that is a
// path: resource.name.exists(n, n.family == "") reads Patient.name.family.
func (w *pathWalker) comprehension(c ast.ComprehensionExpr) {
	rng := w.walk(c.IterRange())
	w.walk(c.AccuInit())
	var elem *pathVal
	if rng != nil && rng.list {
		v := *rng
		v.list = false
		elem = &v
	}
	saved := maps.Clone(w.scope)
	if c.HasIterVar2() {
		// Two variables: the index (or key), then the element (or value).
		w.scope[c.IterVar()] = nil
		if elem != nil {
			elem.text = c.IterVar2()
		}
		w.scope[c.IterVar2()] = elem
	} else {
		if elem != nil {
			elem.text = c.IterVar()
		}
		w.scope[c.IterVar()] = elem
	}
	w.scope[c.AccuVar()] = nil
	w.walk(c.LoopCondition())
	w.walk(c.LoopStep())
	w.walk(c.Result())
	w.scope = saved
}

// field is element name of v, which node id reads (resource.name,
// has(resource.name), resource["name"]).
func (w *pathWalker) field(id int64, v *pathVal, name string) *pathVal {
	if v == nil {
		return nil
	}
	text := v.text + "." + name
	switch {
	case v.list:
		w.issue(id, fmt.Sprintf("read one (%s[0].%s) or test each (%s.exists(x, has(x.%s)))", v.text, name, v.text, name),
			"%s: %s repeats: it is a list, which has no element %s", text, v.shown, name)
		return nil
	case v.t == nil:
		w.issue(id, "", "%s: %s is %s: it has no element %s", text, v.shown, article(v.elem.Type), name)
		return nil
	}
	el, ok := v.t.Element(name)
	if !ok && v.elem == nil && name == "resourceType" {
		el, ok = resourceTypeElem, true
	}
	if !ok {
		w.issue(id, elementHint(v.t, name), "%s: %s has no element %s", text, v.shown, name)
		return nil
	}
	if !el.Primitive && el.Elements() == nil {
		return nil // a contained resource: of any type
	}
	return &pathVal{t: el.Elements(), elem: el, list: el.Repeated, shown: v.shown + "." + name, text: text}
}

// index is v[i], which node id reads: an element of a list, or an element
// of an object by its name.
func (w *pathWalker) index(id int64, v *pathVal, i ast.Expr) *pathVal {
	if v == nil {
		return nil
	}
	var lit any
	if i.Kind() == ast.LiteralKind {
		lit = i.AsLiteral()
	}
	if v.list {
		out := *v
		out.list = false
		if n, ok := lit.(types.Int); ok {
			out.text = fmt.Sprintf("%s[%d]", v.text, n)
		} else {
			out.text = v.text + "[...]"
		}
		return &out
	}
	switch lit := lit.(type) {
	case types.String:
		if v.t != nil {
			return w.field(id, v, string(lit))
		}
	case types.Int, types.Uint:
		name := v.shown[strings.LastIndexByte(v.shown, '.')+1:]
		w.issue(id, fmt.Sprintf("read %s without [%v]", name, lit), "%s[%v]: %s does not repeat", v.text, lit, v.shown)
	}
	return nil
}
