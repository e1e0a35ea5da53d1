package mappings

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"

	"github.com/google/cel-go/common/types"

	"github.com/carebridge/carebridge/engine/hl7"
	"github.com/carebridge/carebridge/fhirvalid"
	"github.com/carebridge/carebridge/internal/strictyaml"
)

// The static checks of a loaded set, made once every map is known: that
// each row's target exists in the FHIR R4 definition of what its map
// builds and takes the value the row writes, that the codes written to an
// element with a required binding are in its value set, and that source
// paths name fields and components the HL7 v2 data types have. Each error
// points at the value it is about (the `to:` of a row, the code of a code
// map), with a hint.

// segmentName is the segment (or v2 data type) of a map name: PID of
// PID[Patient], CX of CX[Identifier].
func segmentName(mapName string) string {
	name, _, _ := strings.Cut(mapName, "[")
	return name
}

// mapTarget is what a map name says it builds: Patient of PID[Patient],
// ContactPoint of XTN[ContactPoint-Home], Appointment.participant of
// AIP[Appointment.participant].
func mapTarget(mapName string) string {
	_, t, _ := strings.Cut(mapName, "[")
	t = strings.TrimSuffix(t, "]")
	t, _, _ = strings.Cut(t, "-")
	return t
}

// mapKeys lists a map's keys, sorted.
func mapKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// didYouMean is a hint naming the closest of names to name, else fallback.
func didYouMean(name string, names []string, fallback string) string {
	if best := strictyaml.Closest(name, names); best != "" {
		return fmt.Sprintf("did you mean %s?", best)
	}
	return fallback
}

// segmentMapHint is the hint for a segment map no file defines: the closest
// name, else the maps of the same segment, else how maps are named.
func (l *loader) segmentMapHint(name string) string {
	names := mapKeys(l.set.segments)
	if best := strictyaml.Closest(name, names); best != "" {
		return fmt.Sprintf("did you mean %s?", best)
	}
	var same []string
	for _, n := range names {
		if segmentName(n) == segmentName(name) {
			same = append(same, n)
		}
	}
	if len(same) > 0 {
		return "the segment maps of " + segmentName(name) + " are " + strings.Join(same, ", ")
	}
	return "segment maps are named SEG[Resource], e.g. PID[Patient]"
}

// sourceHint is the hint for a source path that does not parse.
func sourceHint(s string, inSegment bool) string {
	if inSegment {
		return "field, field.component or field.component.sub-component (3, 3.4, 3.4.1), a repetition 3(2).1, or SEG-N... for an absolute path"
	}
	return "in a datatype map: component or component.sub-component of the value (1, 4.1), or SEG-N... for an absolute path"
}

// yamlKeys lists the keys a struct type is decoded from.
func yamlKeys(v any) []string {
	t := reflect.TypeOf(v)
	var out []string
	for i := range t.NumField() {
		if tag, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ","); tag != "" && tag != "-" {
			out = append(out, tag)
		}
	}
	return out
}

var (
	rowKeys  = sync.OnceValue(func() []string { return yamlKeys(Row{}) })
	ruleKeys = sync.OnceValue(func() []string { return yamlKeys(resourceRule{}) })
)

// misspeltSource reports whether a row without a source has a misspelt
// source key (form: "5"), already reported by the decoder.
func misspeltSource(at strictyaml.Places) bool {
	for _, k := range []string{"from", "const", "value", "ref", "map", "clear"} {
		if misspelt(at, k, rowKeys()) {
			return true
		}
	}
	return false
}

// rowContext is what a row's paths are relative to.
type rowContext struct {
	base     *fhirvalid.Type // what the row's map builds; nil when not an R4 type
	baseName string          // as shown: Patient, Appointment.participant
	segment  string          // the segment of a segment map or rule
	datatype string          // the v2 data type of a datatype map
	inRule   bool            // a message map rule's rows (Z-segments may be read)
}

// checkSet runs the static checks over every compiled map.
func (l *loader) checkSet() {
	partTypes := map[string]*fhirvalid.Type{} // segment map → the type it builds
	for name, sm := range l.set.segments {
		if t, _ := l.builds(name, sm.resource); t != nil {
			partTypes[name] = t
		}
	}
	dtTypes := map[string]*fhirvalid.Type{}
	for name := range l.set.datatypes {
		if t, ok := fhirvalid.LookupType(mapTarget(name)); ok {
			dtTypes[name] = t
		}
	}
	c := &checker{l: l, parts: partTypes, dts: dtTypes, codeUses: map[codeUse]*compiledRow{}}
	for _, name := range mapKeys(l.set.segments) {
		sm := l.set.segments[name]
		_, shown := l.builds(name, sm.resource)
		c.rows(sm.rows, rowContext{base: partTypes[name], baseName: shown, segment: segmentName(name)})
	}
	for _, name := range mapKeys(l.set.datatypes) {
		dt := l.set.datatypes[name]
		c.rows(dt.rows, rowContext{base: dtTypes[name], baseName: mapTarget(name), datatype: segmentName(name)})
	}
	for _, code := range mapKeys(l.set.messages) {
		for _, cr := range l.set.messages[code].resources {
			ctx := rowContext{segment: cr.rule.Segment, inRule: true}
			if cr.seg != nil {
				ctx.base = partTypes[cr.seg.name]
				_, ctx.baseName = l.builds(cr.seg.name, cr.seg.resource)
			}
			c.rows(cr.rows, ctx)
		}
	}
	c.resourceExprs()
	c.codes()
}

// builds resolves what segment map name builds: its resource, or for a map
// of a part (AIP[Appointment.participant]) that element's type.
func (l *loader) builds(name, resource string) (*fhirvalid.Type, string) {
	target := resource
	if target == "" {
		target = mapTarget(name)
	}
	parts := strings.Split(target, ".")
	t, ok := fhirvalid.LookupType(parts[0])
	if !ok {
		return nil, target
	}
	for _, p := range parts[1:] {
		e, ok := t.Element(p)
		if !ok || e.Elements() == nil {
			return nil, target
		}
		t = e.Elements()
	}
	return t, target
}

type checker struct {
	l        *loader
	parts    map[string]*fhirvalid.Type
	dts      map[string]*fhirvalid.Type
	codeUses map[codeUse]*compiledRow // code maps written to bound code elements
}

// codeUse is a code map written, as a bare code, to an element with a
// required binding.
type codeUse struct {
	cm   *codeMap
	elem *fhirvalid.Element
	path string
}

func (c *checker) rows(rows []*compiledRow, ctx rowContext) {
	for _, r := range rows {
		c.source(r, ctx)
		if ctx.base != nil && r.to != nil {
			c.target(r, ctx)
		}
	}
}

// stringTypes are the FHIR primitives a text is written to as it is.
var stringTypes = []string{"string", "code", "id", "uri", "url", "canonical", "markdown", "oid", "uuid"}

// conversionTargets are the element types each conversion's values fit.
var conversionTargets = map[string][]string{
	"":                 stringTypes,
	"string":           stringTypes,
	"code":             {"code", "string", "uri"},
	"date":             {"date", "dateTime"},
	"dateTime":         {"dateTime"},
	"instant":          {"instant", "dateTime"},
	"decimal":          {"decimal"},
	"integer":          {"integer", "decimal"},
	"positiveInt":      {"positiveInt", "integer", "unsignedInt", "decimal"},
	"unsignedInt":      {"unsignedInt", "integer", "decimal"},
	"boolean":          {"boolean"},
	"coding":           {"Coding"},
	"codeableConcept":  {"CodeableConcept"},
	"identifierSystem": {"uri"},
}

// target checks r's `to` against ctx.base and the value r writes there.
func (c *checker) target(r *compiledRow, ctx rowContext) {
	l := c.l
	toPos := place(r.row.At, r.row.Pos, "to")
	cur, shown := ctx.base, ctx.baseName
	var e *fhirvalid.Element
	for i, step := range r.to {
		el, ok := cur.Element(step.name)
		if !ok {
			l.errorf(toPos, elementHint(cur, step.name), "%s has no element %s", shown, step.name)
			return
		}
		e, shown = el, shown+"."+step.name
		last := i == len(r.to)-1
		switch {
		case step.index != indexNone && !e.Repeated:
			l.errorf(toPos, fmt.Sprintf("write %s without [%s]", step.name, indexText(step.index)), "%s does not repeat", shown)
			return
		case step.index == indexNone && e.Repeated && !last:
			l.errorf(toPos, fmt.Sprintf("write %s[0] (the first) or %s[] (a new one)", step.name, step.name), "%s repeats: name which one", shown)
			return
		case step.index == indexNone && e.Repeated && last && !writesList(r):
			l.errorf(toPos, fmt.Sprintf("write %s[] to add one, %s[0] for the first", step.name, step.name), "%s repeats: one value written to it would not be a list", shown)
			return
		}
		if !last {
			if e.Elements() == nil {
				l.errorf(toPos, "", "%s is %s: it has no element %s", shown, article(e.Type), r.to[i+1].name)
				return
			}
			cur = e.Elements()
		}
	}
	if r.row.Clear {
		return
	}
	// What the row writes, and where it was said.
	var wantType *fhirvalid.Type // an object of this type
	key, what := "", ""
	switch {
	case r.row.Ref != "":
		wantType, _ = fhirvalid.LookupType("Reference")
		key, what = "ref", "a ref writes a Reference"
	case r.row.Map != "":
		wantType, key, what = c.parts[r.row.Map], "map", r.row.Map+" builds "+article(mapTarget(r.row.Map))
	case r.viaDT != nil:
		wantType, key, what = c.dts[r.via], "via", r.via+" builds "+article(mapTarget(r.via))
		if wantType == nil {
			return // a map of something that is no R4 type: not checked
		}
	}
	if len(r.to) == 0 { // "." : an object merged into the one being built
		if wantType != nil && wantType != ctx.base {
			l.errorf(place(r.row.At, r.row.Pos, key), "", "%s, not %s", what, article(ctx.baseName))
		}
		return
	}
	if wantType != nil {
		if e.Elements() != wantType {
			l.errorf(place(r.row.At, r.row.Pos, key), "", "%s, but %s is %s", what, shown, article(e.Type))
		}
		return
	}
	if e.Type == "Resource" || !slices.Contains(conversions, r.as) || r.via != "" && r.viaDT == nil ||
		r.row.Code != "" && r.code == nil || r.from == nil && r.row.Const == "" && r.value == nil && r.as != "identifierSystem" {
		return // not known, or already reported
	}
	as := r.as
	if r.code != nil && as == "" {
		as = "code"
	}
	if r.value != nil && r.row.As == "" {
		c.celValue(r, e, shown)
		return
	}
	fits := conversionTargets[as]
	if e.Primitive && e.Type == "code" && slices.Contains(fits, "string") {
		fits = append(fits, "code")
	}
	if !slices.Contains(fits, e.Type) {
		posKey, conv := "as", as
		if r.row.As == "" {
			posKey = "to"
			if conv == "" {
				conv = "string"
			}
		}
		l.errorf(place(r.row.At, r.row.Pos, posKey), conversionHint(e), "%s is %s: as %s writes %s", shown, article(e.Type), conv, conversionWrites(conv))
		return
	}
	if r.code != nil && len(e.Codes) > 0 && as == "code" {
		u := codeUse{cm: r.code, elem: e, path: shown}
		if _, seen := c.codeUses[u]; !seen {
			c.codeUses[u] = r
		}
	}
}

// writesList reports whether r may write a list (or nothing but a clear),
// so that its target may be a repeating element without [].
func writesList(r *compiledRow) bool {
	switch {
	case r.row.Clear:
		return true
	case r.value != nil && r.row.As == "" && r.value.out != nil:
		k := r.value.out.Kind()
		return k == types.ListKind || k == types.DynKind
	}
	return false
}

func indexText(i int) string {
	if i == indexAppend {
		return ""
	}
	return fmt.Sprint(i)
}

// celValue checks what a CEL value without a conversion writes to e.
func (c *checker) celValue(r *compiledRow, e *fhirvalid.Element, shown string) {
	if r.value.out == nil {
		return
	}
	var writes string
	ok := true
	switch r.value.out.Kind() {
	case types.BoolKind:
		writes, ok = "a bool", e.Type == "boolean"
	case types.IntKind, types.UintKind:
		writes, ok = "a number", slices.Contains([]string{"integer", "positiveInt", "unsignedInt", "decimal"}, e.Type)
	case types.DoubleKind:
		writes, ok = "a number", e.Type == "decimal"
	case types.StringKind:
		writes, ok = "a string", e.Primitive && e.Type != "boolean"
	case types.MapKind:
		writes, ok = "an object", !e.Primitive
	case types.ListKind:
		writes, ok = "a list", e.Repeated
	}
	if !ok {
		c.l.errorf(place(r.row.At, r.row.Pos, "value"), conversionHint(e), "%s is %s: the expression gives %s", shown, article(e.Type), writes)
	}
}

func conversionWrites(as string) string {
	switch as {
	case "", "string", "code", "identifierSystem":
		return "text"
	case "coding":
		return "a Coding"
	case "codeableConcept":
		return "a CodeableConcept"
	}
	return article(as)
}

// article puts "a" or "an" before a type name.
func article(name string) string {
	if strings.ContainsRune("AEIOUaeiou", rune(name[0])) {
		return "an " + name
	}
	return "a " + name
}

// conversionHint says which conversion (or which of its elements) fits e.
func conversionHint(e *fhirvalid.Element) string {
	if !e.Primitive {
		names := e.Elements().ElementNames()
		names = slices.DeleteFunc(names, func(n string) bool { return n == "id" || n == "extension" || strings.HasPrefix(n, "_") })
		if len(names) > 6 {
			names = names[:6]
		}
		return fmt.Sprintf("write to one of its elements (%s, ...), or use via with a datatype map", strings.Join(names, ", "))
	}
	var fit []string
	for _, as := range conversions[1:] {
		if slices.Contains(conversionTargets[as], e.Type) {
			fit = append(fit, as)
		}
	}
	if len(fit) == 0 {
		return ""
	}
	return "as: " + strings.Join(fit, " or ")
}

// elementHint is the did-you-mean for a missing element of t.
func elementHint(t *fhirvalid.Type, name string) string {
	names := t.ElementNames()
	var choices []string
	for _, n := range names {
		if e, _ := t.Element(n); e.Choice == name {
			choices = append(choices, n)
		}
	}
	if len(choices) > 0 {
		return fmt.Sprintf("%s[x] is a choice: write one of %s", name, strings.Join(choices, ", "))
	}
	if !strings.HasPrefix(name, "_") {
		names = slices.DeleteFunc(names, func(n string) bool { return strings.HasPrefix(n, "_") })
	}
	if best := strictyaml.Closest(name, names); best != "" {
		return fmt.Sprintf("did you mean %s?", best)
	}
	return ""
}

// source checks r's source path against the HL7 v2 structure tables.
func (c *checker) source(r *compiledRow, ctx rowContext) {
	l := c.l
	if r.eachSeg != "" && r.eachField > 0 {
		if msg, hint := checkPositions(r.eachSeg, "", r.eachField, 0, 0); msg != "" {
			l.errorf(place(r.row.At, r.row.Pos, "each"), hint, "each %s: %s", r.row.Each, msg)
		}
	}
	c.exprPaths(r, ctx)
	sp := r.from
	if sp == nil {
		return
	}
	if msg, hint := c.sourcePositions(sp, r, ctx); msg != "" {
		l.errorf(place(r.row.At, r.row.Pos, "from"), hint, "source %q: %s", sp.text, msg)
	}
}

// messagePaths checks the constant message paths an expression reads,
// m["PID-3.1"], against the HL7 v2 structures.
func (l *loader) messagePaths(pos strictyaml.Position, src string) {
	for _, m := range literalIndex.FindAllStringSubmatch(src, -1) {
		if m[1] != "m" {
			continue
		}
		path := m[2] + m[3]
		p, err := hl7.CompilePath(path)
		if err != nil {
			l.errorf(pos, `m[...] reads the message by a path such as "PID-3.1"`, "m[%q]: %v", path, err)
			continue
		}
		if msg, hint := checkPositions(p.Segment, "", p.Field, p.Component, p.SubComponent); msg != "" {
			l.errorf(pos, hint, "m[%q]: %s", path, msg)
		}
	}
}

// sourcePositions checks what a source path of r reads against the HL7 v2
// structures: its segment, field, component and sub-component.
func (c *checker) sourcePositions(sp *sourcePath, r *compiledRow, ctx rowContext) (msg, hint string) {
	own := ctx.segment
	if r.eachSeg != "" {
		own = r.eachSeg
	}
	switch {
	case sp.absolute:
		if sp.segment != own && !v2Segment(sp.segment) && !ctx.inRule {
			return fmt.Sprintf("%s is not %s nor an HL7 v2 segment", sp.segment, ownName(own, ctx)),
				didYouMean(sp.segment, v2SegmentNames(), "a map of a segment reads its own segment and the HL7 v2 segments; read a Z-segment in a message map rule's rows")
		}
		return checkPositions(sp.segment, "", sp.field, sp.comp, sp.sub)
	case own != "" && (ctx.datatype == "" || r.eachSeg != ""):
		return checkPositions(own, "", sp.field, sp.comp, sp.sub)
	case ctx.datatype != "":
		return checkPositions("", ctx.datatype, 0, sp.comp, sp.sub)
	}
	return "", ""
}

// exprPaths checks the constant paths r's expressions read from what the
// row maps, v["5.1"], as its source is checked: a typo there reads nothing
// and would map nothing, silently. (The message's, m["PID-3"], are checked
// where every expression is compiled: messagePaths.)
func (c *checker) exprPaths(r *compiledRow, ctx rowContext) {
	for _, e := range []struct{ key, src string }{{"when", r.row.When.Src}, {"value", r.row.Value.Src}} {
		pos := place(r.row.At, r.row.Pos, e.key)
		for _, m := range literalIndex.FindAllStringSubmatch(e.src, -1) {
			path := m[2] + m[3]
			if m[1] == "m" {
				continue
			}
			sp, err := parseSource(path, ctx.datatype == "" || r.eachSeg != "")
			if err != nil {
				c.l.errorf(pos, `v[...] reads what the row maps by a path as in from: ("3.1" in a segment map, "2" in a datatype map)`, "%s: v[%q]: %v", e.key, path, err)
				continue
			}
			if msg, hint := c.sourcePositions(&sp, r, ctx); msg != "" {
				c.l.errorf(pos, hint, "%s: v[%q]: %s", e.key, path, msg)
			}
		}
	}
}

func ownName(own string, ctx rowContext) string {
	if own != "" {
		return own
	}
	return "a segment of " + ctx.datatype
}

// codes checks the codes that code maps (and the senders' overlays of
// them) write: to an element whose required binding the R4 model knows,
// against that value set; and, whatever they feed, against the code map's
// target code system when that is a FHIR code system the model knows.
func (c *checker) codes() {
	l := c.l
	reported := map[strictyaml.Position]bool{}
	check := func(cm *codeMap, overlay string, codes map[string]codeTarget, allowed []string, against string) {
		for _, v2code := range mapKeys(codes) {
			t := codes[v2code]
			if t.Code == "" || t.System != "" && t.System != cm.target || slices.Contains(allowed, t.Code) {
				continue
			}
			pos := place(t.At, t.Pos, "code")
			if reported[pos] {
				continue
			}
			reported[pos] = true
			hint := didYouMean(t.Code, allowed, "the codes are "+strings.Join(allowed, ", "))
			l.errorf(pos, hint, "codemap %s%s: %s → %s: %s", cm.name, overlay, v2code, t.Code, against)
		}
	}
	each := func(cm *codeMap, fn func(overlay string, codes map[string]codeTarget)) {
		fn("", cm.codes)
		for _, p := range l.set.senders {
			if codes, ok := p.codes[cm.name]; ok {
				fn(" (overlay of sender "+p.file.Sender+")", codes)
			}
		}
	}
	uses := make([]codeUse, 0, len(c.codeUses))
	for u := range c.codeUses {
		uses = append(uses, u)
	}
	slices.SortFunc(uses, func(a, b codeUse) int { return strings.Compare(a.cm.name+a.path, b.cm.name+b.path) })
	for _, u := range uses {
		r := c.codeUses[u]
		against := fmt.Sprintf("not a code of %s (required binding %s), which %s writes it to", u.path, u.elem.ValueSet, r.at)
		each(u.cm, func(overlay string, codes map[string]codeTarget) { check(u.cm, overlay, codes, u.elem.Codes, against) })
	}
	for _, name := range mapKeys(l.set.codes) {
		cm := l.set.codes[name]
		allowed, ok := fhirvalid.CodeSystemCodes(cm.target)
		if !ok {
			continue
		}
		against := "not a code of " + cm.target
		each(cm, func(overlay string, codes map[string]codeTarget) { check(cm, overlay, codes, allowed, against) })
	}
}
