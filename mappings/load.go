package mappings

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/cel-go/cel"
	"go.yaml.in/yaml/v3"

	"github.com/carebridge/carebridge/internal/strictyaml"
)

// Set is a compiled, immutable set of mappings: message, segment, datatype
// and code maps with the sender profiles. It is safe for concurrent use.
type Set struct {
	messages  map[string]*messageMap  // by message code (MSH-9.1)
	segments  map[string]*segmentMap  // by name, e.g. "PID[Patient]"
	datatypes map[string]*datatypeMap // by name, e.g. "CX[Identifier]"
	codes     map[string]*codeMap     // by name
	senders   []*profile              // specific first; the default last
	hash      string
	files     []string
	rows      []*compiledRow
	sources   sync.Map  // sourceKey → cachedSource, for v[...] in expressions
	paths     sync.Map  // string → cachedTerser, for m[...] in expressions
	states    sync.Pool // *mapState, reused across Map calls
	// How many nodes and lists the last message took (the first arena
	// block of the next: see arena).
	arenaNodes, arenaLists atomic.Int32
	// The literal paths of the set's expressions, parsed at load and only
	// read afterwards (see notePaths).
	segPaths, dtPaths map[string]cachedSource
	msgPaths          map[string]cachedTerser
}

// Hash identifies the mapping set's content (a hash of every file): each
// processed message records the hash of the set that produced it.
func (s *Set) Hash() string { return s.hash }

// Files lists the files the set was loaded from.
func (s *Set) Files() []string { return slices.Clone(s.files) }

type messageMap struct {
	file      *messageFile
	path      string
	events    map[string]string // trigger → structure
	groups    map[string]groupSpec
	ignore    map[string]ignoreRule // by segment name
	resources []*compiledResource
	// typeOf is the resource type of each rule, by rule name (the last rule
	// of a name decides), for the refs to it.
	typeOf map[string]string
}

// ignoreRule says what of a segment is never reported as unused.
type ignoreRule struct {
	whole  bool  // the whole segment
	fields []int // else these fields
}

// ignores reports whether the rule leaves out field f of its segment.
func (r ignoreRule) ignores(f int) bool { return r.whole || slices.Contains(r.fields, f) }

type compiledResource struct {
	rule     *resourceRule
	at       string
	seg      *segmentMap
	events   []string
	when     *program
	skipped  *program // the warning for what when leaves out
	key      *program
	require  []condition
	expect   []condition // the rule's, then its segment map's
	rows     []*compiledRow
	resource string // resourceType
	typeVal  any    // resource, boxed once for every object it is written to
	size     sizeHint
}

type segmentMap struct {
	name, resource string
	at             string
	key            *program
	expect         []condition
	rows           []*compiledRow
}

// condition is a condition a built resource must (require) or should
// (expect) meet, and the error or warning when it does not.
type condition struct {
	that    *program
	message string
}

type datatypeMap struct {
	name string
	at   string
	rows []*compiledRow
	// inPlace says whether the map may be applied at "." straight into
	// the object being built, rather than building an object and merging
	// it in, when that object holds none of writes (see mergeInPlace).
	inPlace bool
	writes  []string
}

type codeMap struct {
	name, at       string
	source, target string
	sourceV        any // source, boxed once
	codes          map[string]codeTarget
	entries        map[string]*codeEntry // codes, ready to write
}

type profile struct {
	file     *senderFile
	at       string
	loc      *time.Location
	codes    map[string]map[string]codeTarget
	entries  map[string]map[string]*codeEntry // codes, ready to write
	failCode bool
}

// compiledRow is a Row ready to run.
type compiledRow struct {
	row    *Row
	at     string // file:line:col
	to     targetPath
	from   *sourcePath
	via    string // resolved after loading: datatype map name
	viaDT  *datatypeMap
	segMap *segmentMap // Map, resolved after loading
	code   *codeMap
	as     string
	value  *program
	when   *program
	id     int          // index in the set, for coverage
	plain  *compiledRow // for an Each row: the row as applied to one occurrence

	eachSeg   string    // Each's segment
	eachField int       // Each's field (SEG-N), 0 for none
	size      *sizeHint // of the objects Via or Map build
}

// loader collects every error while compiling.
type loader struct {
	env  *cel.Env
	errs *strictyaml.Errors
	set  *Set
	rows []*compiledRow
	// unparsed are the files whose YAML is broken: a map they define is
	// missing, and what names it is told so instead of being sent to the
	// list of maps.
	unparsed []string
	// unknownKind are the files whose first key is a misspelt kind
	// (segmnt:): as unparsed, a map they define is missing.
	unknownKind []string
	// checked holds each compiled expression's checked AST and position,
	// for the checks that need every map first (resourceExprs).
	checked map[*program]checkedExpr
}

// missingHint is the hint for a reference to a map no file defines: hint,
// or, when some file did not parse, that file (it may define the map).
func (l *loader) missingHint(hint string) string {
	switch {
	case len(l.unparsed) > 0:
		return "it may be in " + strings.Join(l.unparsed, ", ") + ", which is not valid YAML: fix that first"
	case len(l.unknownKind) > 0:
		return "it may be in " + strings.Join(l.unknownKind, ", ") + ", which is not a mapping file: fix that first"
	}
	return hint
}

func (l *loader) errorf(at strictyaml.Position, hint string, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if hint != "" {
		msg += " (hint: " + hint + ")"
	}
	l.errs.Add(at, msg)
}

// Load reads and compiles every *.yaml file under fsys (recursively). It
// returns a *strictyaml.Errors listing every problem with file:line:col when
// anything is wrong.
func Load(fsys fs.FS) (*Set, error) {
	env, err := newEnv()
	if err != nil {
		return nil, fmt.Errorf("mapping expressions: %w", err)
	}
	l := &loader{env: env, errs: &strictyaml.Errors{}, set: &Set{
		messages: map[string]*messageMap{}, segments: map[string]*segmentMap{},
		datatypes: map[string]*datatypeMap{}, codes: map[string]*codeMap{},
		segPaths: map[string]cachedSource{}, dtPaths: map[string]cachedSource{}, msgPaths: map[string]cachedTerser{},
	}, checked: map[*program]checkedExpr{}}
	var names []string
	err = fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && (strings.HasSuffix(p, ".yaml") || strings.HasSuffix(p, ".yml")) {
			names = append(names, p)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read mappings: %w", err)
	}
	slices.Sort(names)
	if len(names) == 0 {
		l.errorf(strictyaml.Position{File: "."}, "point at a directory of mapping files (start from a copy of mappings/hl7v2)", "no mapping files (*.yaml) found")
		return nil, l.errs
	}
	h := sha256.New()
	var messages []*messageFile
	var msgPaths []string
	var segments []*segmentFile
	var datatypes []*datatypeFile
	var senders []*senderFile
	for _, name := range names {
		b, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, fmt.Errorf("read mappings: %w", err)
		}
		fmt.Fprintf(h, "%s\x00%d\x00", name, len(b))
		h.Write(b)
		kind := fileKind(b)
		var v any
		switch kind {
		case "message":
			f := &messageFile{}
			messages, msgPaths, v = append(messages, f), append(msgPaths, name), f
		case "segment":
			f := &segmentFile{}
			segments, v = append(segments, f), f
		case "datatype":
			f := &datatypeFile{}
			datatypes, v = append(datatypes, f), f
		case "codemap":
			v = &codeFile{}
		case "sender":
			f := &senderFile{}
			senders, v = append(senders, f), f
		default:
			var probe struct{}
			if _, errs := strictyaml.Decode(name, b, &probe); len(errs.List) > 0 && !strings.Contains(errs.List[0].Msg, "unknown setting") {
				l.errs.List = append(l.errs.List, errs.List[0]) // the YAML itself is broken
				l.unparsed = append(l.unparsed, name)
				continue
			}
			kinds := []string{"message", "segment", "datatype", "codemap", "sender"}
			if first, pos := firstKey(name, b); first != "" && strictyaml.Closest(first, kinds) != "" {
				l.errorf(pos, "start the file with one of the keys message, segment, datatype, codemap or sender",
					"not a mapping file: unknown first key %q (did you mean %q?)", first, strictyaml.Closest(first, kinds))
				l.unknownKind = append(l.unknownKind, name)
				continue
			}
			l.errorf(strictyaml.Position{File: name, Line: 1, Column: 1}, "start the file with one of the keys message, segment, datatype, codemap or sender",
				"not a mapping file")
			continue
		}
		_, errs := strictyaml.Decode(name, b, v)
		l.errs.List = append(l.errs.List, errs.List...)
		if cf, ok := v.(*codeFile); ok {
			l.addCodeMap(cf)
		}
	}
	l.set.hash = hex.EncodeToString(h.Sum(nil))[:16]
	l.set.files = names
	// Lower layers first, so that upper layers can be checked against them.
	for _, f := range datatypes {
		l.addDatatype(f)
	}
	for _, f := range segments {
		l.addSegment(f)
	}
	for i, f := range messages {
		l.addMessage(f, msgPaths[i])
	}
	for _, f := range senders {
		l.addSender(f)
	}
	for i, f := range messages {
		dir := path.Dir(msgPaths[i])
		for _, ex := range f.Examples {
			if ex.Name == "" {
				l.errorf(ex.Pos, "", "example: name is required")
			}
			for _, p := range []string{ex.Input, ex.Expect} {
				if p == "" {
					l.errorf(ex.Pos, "paths relative to the map file", "example %s: input and expect are required", ex.Name)
					continue
				}
				if _, err := fs.Stat(fsys, path.Join(dir, p)); err != nil && p == ex.Input {
					l.errorf(ex.Pos, "paths are relative to the map file", "example %s: %s does not exist", ex.Name, p)
				}
			}
		}
	}
	l.resolve()
	l.checkSet()
	l.set.rows = l.rows
	if len(l.errs.List) > 0 {
		l.errs.Sort()
		return nil, l.errs
	}
	return l.set, nil
}

// firstKey is the first key of a YAML document and where it is.
func firstKey(file string, b []byte) (string, strictyaml.Position) {
	var n yaml.Node
	if err := yaml.NewDecoder(bytes.NewReader(b)).Decode(&n); err != nil || len(n.Content) == 0 {
		return "", strictyaml.Position{}
	}
	doc := n.Content[0]
	if doc.Kind != yaml.MappingNode || len(doc.Content) == 0 {
		return "", strictyaml.Position{}
	}
	k := doc.Content[0]
	return k.Value, strictyaml.Position{File: file, Line: k.Line, Column: k.Column}
}

// fileKind is the first key of a YAML document.
func fileKind(b []byte) string {
	var n yaml.Node
	if err := yaml.NewDecoder(bytes.NewReader(b)).Decode(&n); err != nil || len(n.Content) == 0 {
		return ""
	}
	doc := n.Content[0]
	if doc.Kind != yaml.MappingNode || len(doc.Content) == 0 {
		return ""
	}
	return doc.Content[0].Value
}

func at(p strictyaml.Position) string { return p.String() }

// place is where the value of key was written in a mapping decoded with
// places at, else the mapping's own position: errors about a setting point
// at its value.
func place(at strictyaml.Places, pos strictyaml.Position, key string) strictyaml.Position {
	if p, ok := at[key]; ok {
		return p
	}
	return pos
}

// misspelt reports whether a mapping that lacks key has a key that looks
// like a misspelling of it, which the decoder already reported ("segmnt:
// unknown setting (did you mean segment?)"): the missing key is then not
// reported again.
func misspelt(at strictyaml.Places, key string, known []string) bool {
	for k := range at {
		if k != key && !slices.Contains(known, k) && strictyaml.Closest(k, []string{key}) == key {
			return true
		}
	}
	return false
}

func (l *loader) addCodeMap(f *codeFile) {
	if f.CodeMap == "" {
		l.errorf(f.Pos, "", "codemap: a name is required")
		return
	}
	if _, dup := l.set.codes[f.CodeMap]; dup {
		l.errorf(f.Pos, "code map names are unique across the set", "codemap %q is defined twice", f.CodeMap)
		return
	}
	if f.Target == "" {
		l.errorf(f.Pos, "the FHIR code system URI of the mapped codes", "codemap %s: target is required", f.CodeMap)
	}
	src := f.Source
	if src == "" && f.Table != "" {
		src = "http://terminology.hl7.org/CodeSystem/v2-" + f.Table
	}
	for code, t := range f.Codes {
		if t.Code == "" {
			l.errorf(t.Pos, "", "codemap %s: code %q maps to no code", f.CodeMap, code)
		}
	}
	cm := &codeMap{name: f.CodeMap, at: at(f.Pos), source: src, sourceV: src, target: f.Target, codes: f.Codes}
	cm.entries = codeEntries(cm, f.Codes)
	l.set.codes[f.CodeMap] = cm
}

func (l *loader) addDatatype(f *datatypeFile) {
	if !validMapName(f.Datatype) {
		l.errorf(f.Pos, `name it TYPE[Target], e.g. CX[Identifier]`, "datatype: %q is not a map name", f.Datatype)
		return
	}
	if _, dup := l.set.datatypes[f.Datatype]; dup {
		l.errorf(f.Pos, "", "datatype map %s is defined twice", f.Datatype)
		return
	}
	l.set.datatypes[f.Datatype] = &datatypeMap{name: f.Datatype, at: at(f.Pos), rows: l.compileRows(f.Rows, false)}
}

func (l *loader) addSegment(f *segmentFile) {
	if !validMapName(f.Segment) {
		l.errorf(f.Pos, `name it SEG[Resource], e.g. PID[Patient]`, "segment: %q is not a map name", f.Segment)
		return
	}
	if f.Resource == "" && !strings.Contains(f.Segment, ".") {
		l.errorf(f.Pos, "the FHIR resourceType this map builds, e.g. Patient (a map of a part, named like AIP[Appointment.participant], needs none)", "segment map %s: resource is required", f.Segment)
	}
	if _, dup := l.set.segments[f.Segment]; dup {
		l.errorf(f.Pos, "", "segment map %s is defined twice", f.Segment)
		return
	}
	sm := &segmentMap{name: f.Segment, resource: f.Resource, at: at(f.Pos), rows: l.compileRows(f.Rows, true)}
	if f.Key.Src != "" {
		sm.key = l.compile(place(f.At, f.Pos, "key"), f.Key.Src, cel.StringType)
	}
	sm.expect = l.compileConditions(f.Expect, "segment map "+f.Segment, "expect", "warning")
	l.set.segments[f.Segment] = sm
}

// compileConditions compiles the require or expect conditions (kind) of
// owner (a resource rule or a segment map); outcome names what a false one
// gives.
func (l *loader) compileConditions(qs []requirement, owner, kind, outcome string) []condition {
	var out []condition
	for _, q := range qs {
		if q.That.Src == "" || q.Message == "" {
			l.errorf(q.Pos, "a CEL condition on resource and the "+outcome+" to give when it is false", "%s: %s needs that and message", owner, kind)
			continue
		}
		out = append(out, condition{that: l.compile(place(q.At, q.Pos, "that"), q.That.Src, cel.BoolType), message: q.Message})
	}
	return out
}

func validMapName(s string) bool {
	i := strings.IndexByte(s, '[')
	return i > 0 && strings.HasSuffix(s, "]") && len(s) > i+2
}

func (l *loader) addMessage(f *messageFile, file string) {
	if f.Message == "" {
		l.errorf(f.Pos, "the message code (MSH-9.1), e.g. ADT", "message: a code is required")
		return
	}
	if _, dup := l.set.messages[f.Message]; dup {
		l.errorf(f.Pos, "one message map per message code; list every trigger event under events", "message map %s is defined twice", f.Message)
		return
	}
	if len(f.Events) == 0 {
		l.errorf(f.Pos, "map each trigger event to its structure, e.g. A01: ADT_A01", "message map %s: events is required", f.Message)
	}
	mm := &messageMap{file: f, path: file, events: f.Events, groups: f.Groups}
	for name, g := range f.Groups {
		if g.Start == "" {
			l.errorf(g.Pos, "", "group %s: start (its first segment) is required", name)
		}
	}
	mm.ignore = map[string]ignoreRule{}
	ignorePos := place(f.At, f.Pos, "ignore")
	for _, ig := range f.Ignore {
		seg, field, hasField := strings.Cut(ig, "-")
		if len(seg) != 3 || strings.ToUpper(seg) != seg {
			l.errorf(ignorePos, "a segment (EVN) or a field (EVN-1)", "ignore: %q is not a segment or field", ig)
			continue
		}
		if !v2Segment(seg) && seg[0] != 'Z' {
			l.errorf(ignorePos, didYouMean(seg, v2SegmentNames(), "a segment of HL7 v2 or a Z-segment"), "ignore: %s is not an HL7 v2 segment", seg)
			continue
		}
		r := mm.ignore[seg]
		if hasField {
			n, err := strconv.Atoi(field)
			if err != nil || n < 1 {
				l.errorf(ignorePos, "a segment (EVN) or a field (EVN-1)", "ignore: %q is not a segment or field", ig)
				continue
			}
			if msg, hint := checkPositions(seg, "", n, 0, 0); msg != "" {
				l.errorf(ignorePos, hint, "ignore: %s: %s", ig, msg)
				continue
			}
			r.fields = append(r.fields, n)
		} else {
			r.whole = true
		}
		mm.ignore[seg] = r
	}
	names := map[string]bool{}
	for i := range f.Resources {
		r := &f.Resources[i]
		cr := &compiledResource{rule: r, at: at(r.Pos), events: r.Events}
		known := ruleKeys()
		pos := func(key string) strictyaml.Position { return place(r.At, r.Pos, key) }
		if r.Name == "" {
			if !misspelt(r.At, "name", known) {
				l.errorf(r.Pos, "rows refer to resources by name (ref: patient)", "resource: name is required")
			}
		} else if names[r.Name] {
			l.errorf(pos("name"), "", "resource name %q is used twice", r.Name)
		}
		names[r.Name] = true
		if r.Segment == "" && !misspelt(r.At, "segment", known) {
			l.errorf(r.Pos, "the segment the resource comes from, e.g. PID", "resource %s: segment is required", r.Name)
		}
		if r.Repeat < 0 {
			l.errorf(pos("repeat"), "the number of the field whose repetitions each make a resource", "resource %s: repeat %d is not a field", r.Name, r.Repeat)
		} else if r.Repeat > 0 && r.Segment != "" {
			if msg, hint := checkPositions(r.Segment, "", r.Repeat, 0, 0); msg != "" {
				l.errorf(pos("repeat"), hint, "resource %s: repeat %d: %s", r.Name, r.Repeat, msg)
			}
		}
		if r.Group != "" {
			g, ok := f.Groups[r.Group]
			switch {
			case !ok:
				l.errorf(pos("group"), didYouMean(r.Group, mapKeys(f.Groups), "declare it under groups"), "resource %s: unknown group %q", r.Name, r.Group)
			case g.Start != r.Segment && r.Segment != "" && g.Start != "":
				l.errorf(pos("group"), "", "resource %s: group %s starts with %s, not %s", r.Name, r.Group, g.Start, r.Segment)
			}
		}
		for _, ev := range r.Events {
			if _, ok := f.Events[ev]; !ok {
				l.errorf(pos("events"), didYouMean(ev, mapKeys(f.Events), "list it under the message map's events"), "resource %s: event %s is not an event of this message map", r.Name, ev)
			}
		}
		seg, ok := l.set.segments[r.Map]
		switch {
		case r.Map == "":
			if !misspelt(r.At, "map", known) {
				l.errorf(r.Pos, "name the segment map, e.g. PID[Patient]", "resource %s: map is required", r.Name)
			}
		case !ok:
			l.errorf(pos("map"), l.missingHint(l.segmentMapHint(r.Map)), "resource %s: no segment map %q", r.Name, r.Map)
		default:
			cr.seg, cr.resource, cr.typeVal = seg, seg.resource, seg.resource
			if segName := segmentName(r.Map); segName != r.Segment && r.Segment != "" {
				l.errorf(pos("map"), "", "resource %s: map %s is for segment %s, not %s", r.Name, r.Map, segName, r.Segment)
			}
		}
		if r.When.Src != "" {
			cr.when = l.compile(pos("when"), r.When.Src, cel.BoolType)
		}
		if r.Skipped.Src != "" {
			if r.When.Src == "" {
				l.errorf(pos("skipped"), "skipped gives the warning for what when leaves out", "resource %s: skipped without when", r.Name)
			}
			cr.skipped = l.compile(pos("skipped"), r.Skipped.Src, cel.StringType)
		}
		switch {
		case r.Key.Src != "":
			cr.key = l.compile(pos("key"), r.Key.Src, cel.StringType)
		case cr.seg != nil && cr.seg.key != nil:
			cr.key = cr.seg.key
		case cr.seg != nil && !misspelt(r.At, "key", known):
			l.errorf(r.Pos, "a CEL expression giving the business identity, e.g. identifierKey(resource.identifier), here or in the segment map", "resource %s: key is required (ids derive from it)", r.Name)
		}
		cr.rows = l.compileRows(r.Rows, true)
		cr.require = l.compileConditions(r.Require, "resource "+r.Name, "require", "error")
		cr.expect = l.compileConditions(r.Expect, "resource "+r.Name, "expect", "warning")
		if cr.seg != nil {
			cr.expect = append(cr.expect, cr.seg.expect...)
		}
		mm.resources = append(mm.resources, cr)
	}
	l.set.messages[f.Message] = mm
}

func (l *loader) addSender(f *senderFile) {
	p := &profile{file: f, at: at(f.Pos), codes: f.Codes}
	if f.Sender == "" {
		l.errorf(f.Pos, "", "sender: a profile name is required")
	}
	if f.Application == "" && f.Facility == "" && f.Sender != "default" {
		l.errorf(f.Pos, `set application (MSH-3) and/or facility (MSH-4); "*" matches any`, "sender %s: matches no message", f.Sender)
	}
	if f.Timezone != "" {
		loc, err := time.LoadLocation(f.Timezone)
		if err != nil {
			l.errorf(f.Pos, "an IANA zone name such as Europe/London or Asia/Shanghai", "sender %s: unknown timezone %q", f.Sender, f.Timezone)
		}
		p.loc = loc
	}
	switch f.UnmappedCodes {
	case "", "keep":
	case "fail":
		p.failCode = true
	default:
		l.errorf(f.Pos, "keep or fail", "sender %s: unmapped_codes %q", f.Sender, f.UnmappedCodes)
	}
	for name, codes := range f.Codes {
		cm, ok := l.set.codes[name]
		if !ok {
			l.errorf(f.Pos, didYouMean(name, mapKeys(l.set.codes), "overlays extend an existing code map"), "sender %s: no code map %q to overlay", f.Sender, name)
			continue
		}
		if p.entries == nil {
			p.entries = map[string]map[string]*codeEntry{}
		}
		p.entries[name] = codeEntries(cm, codes)
	}
	for _, other := range l.set.senders {
		if other.file.Sender == f.Sender {
			l.errorf(f.Pos, "", "sender profile %q is defined twice", f.Sender)
		}
	}
	l.set.senders = append(l.set.senders, p)
}

func (l *loader) compile(pos strictyaml.Position, src string, want *cel.Type) *program {
	prg, checked, err := compileChecked(l.env, src, want)
	var wrong *wrongTypeError
	if errors.As(err, &wrong) {
		l.errorf(pos, wrong.hint(), "expression %q: %v", src, err)
		return nil
	}
	if err != nil {
		// CEL's caret diagrams stay on lines of their own, indented under
		// the error's line, as CEL prints them.
		first, diagram, _ := strings.Cut(err.Error(), "\n")
		msg := fmt.Sprintf("expression %q: %s (hint: a CEL expression over it, v[...], m[...], event, structure, sender, resource, ids; see docs/mappings.md, Expressions)", src, first)
		if diagram != "" {
			msg += "\n    " + strings.ReplaceAll(diagram, "\n", "\n    ")
		}
		l.errs.Add(pos, msg)
		return nil
	}
	p := &program{prg: prg, src: src, at: at(pos), direct: directForm(src), out: checked.OutputType()}
	p.foldConstant()
	p.compileFast(checked, want)
	l.checked[p] = checkedExpr{pos: pos, expr: checked.NativeRep().Expr()}
	l.set.notePaths(src)
	l.messagePaths(pos, src)
	return p
}

var conversions = []string{"", "string", "code", "date", "dateTime", "instant", "decimal", "integer", "positiveInt", "unsignedInt", "boolean", "coding", "codeableConcept", "identifierSystem"}

func (l *loader) compileRows(rows []Row, inSegment bool) []*compiledRow {
	var out []*compiledRow
	for i := range rows {
		r := &rows[i]
		cr := &compiledRow{row: r, at: at(r.Pos), as: r.As, via: r.Via, id: len(l.rows), size: &sizeHint{}}
		l.rows = append(l.rows, cr)
		out = append(out, cr)
		pos := func(key string) strictyaml.Position { return place(r.At, r.Pos, key) }
		if r.To == "" {
			if !misspelt(r.At, "to", rowKeys()) {
				l.errorf(r.Pos, "the target element, e.g. gender or name[]", "row: to is required")
			}
		} else if tp, err := parseTarget(r.To); err != nil {
			l.errorf(pos("to"), "", "%v", err)
		} else {
			cr.to = tp
		}
		sources := 0
		for _, set := range []bool{r.From != "" || r.Via != "" || r.Code != "", r.Const != "", r.Ref != "", r.Clear, r.Map != ""} {
			if set {
				sources++
			}
		}
		if r.Value.Src != "" && (r.Const != "" || r.Ref != "") {
			sources++
		}
		if sources == 0 && r.Value.Src == "" && r.As != "identifierSystem" && !misspeltSource(r.At) {
			l.errorf(r.Pos, "give from, const, value or ref", "row %s: no source", r.To)
		}
		if sources > 1 {
			l.errorf(r.Pos, "from (with via, code or value), const, ref, clear and map exclude each other", "row %s: more than one source", r.To)
		}
		if r.Map != "" && r.Each == "" {
			l.errorf(r.Pos, "map builds one element per occurrence of the segment named by each", "row %s: map needs each", r.To)
		}
		if r.Each != "" {
			seg, field, hasField := strings.Cut(r.Each, "-")
			n, err := strconv.Atoi(field)
			switch {
			case len(seg) != 3 || strings.ToUpper(seg) != seg:
				l.errorf(pos("each"), "a segment name such as AIP, or SEG-N for each repetition of field N", "row %s: each %q is not a segment name", r.To, r.Each)
			case hasField && (err != nil || n < 1):
				l.errorf(pos("each"), "SEG-N, e.g. PV1-7", "row %s: each %q: %q is not a field number", r.To, r.Each, field)
			default:
				cr.eachSeg, cr.eachField = seg, n
			}
		}
		if (r.Each != "" || r.Map != "") && !inSegment {
			l.errorf(r.Pos, "each and map read segment occurrences: use them in segment and message maps", "row %s: each and map cannot be used in a datatype map", r.To)
		}
		rowInSegment := inSegment || r.Each != ""
		if r.From != "" {
			sp, err := parseSource(r.From, rowInSegment)
			if err != nil {
				l.errorf(pos("from"), sourceHint(r.From, rowInSegment), "%v", err)
			} else {
				cr.from = &sp
			}
		} else if r.Via != "" || r.Code != "" || r.Required {
			l.errorf(r.Pos, "add from: the field or component they apply to", "row %s: via, code and required need from", r.To)
		}
		if r.Via != "" && r.Code != "" {
			l.errorf(r.Pos, "apply the code map inside the datatype map", "row %s: via and code exclude each other", r.To)
		}
		if !slices.Contains(conversions, r.As) {
			l.errorf(pos("as"), didYouMean(r.As, conversions[1:], strings.Join(conversions[1:], ", ")), "row %s: unknown conversion %q", r.To, r.As)
		}
		if (r.As == "coding" || r.As == "codeableConcept") && r.Code == "" {
			l.errorf(r.Pos, "name the code map with code", "row %s: as %s needs code", r.To, r.As)
		}
		if r.Code != "" {
			cm, ok := l.set.codes[r.Code]
			if !ok {
				l.errorf(pos("code"), l.missingHint(didYouMean(r.Code, mapKeys(l.set.codes), "code maps are named by their codemap key")), "row %s: no code map %q", r.To, r.Code)
			}
			cr.code = cm
		}
		if r.Value.Src != "" {
			cr.value = l.compile(pos("value"), r.Value.Src, nil)
		}
		if r.When.Src != "" {
			cr.when = l.compile(pos("when"), r.When.Src, cel.BoolType)
		}
	}
	return out
}

// resolve links rows to the datatype maps they name.
func (l *loader) resolve() {
	for _, r := range l.rows {
		if r.row.Map != "" {
			sm, ok := l.set.segments[r.row.Map]
			if !ok {
				l.errorf(place(r.row.At, r.row.Pos, "map"), l.missingHint(l.segmentMapHint(r.row.Map)), "row %s: no segment map %q", r.row.To, r.row.Map)
			}
			r.segMap = sm
		}
		if r.via == "" {
			continue
		}
		dt, ok := l.set.datatypes[r.via]
		if !ok {
			l.errorf(place(r.row.At, r.row.Pos, "via"), l.missingHint(didYouMean(r.via, mapKeys(l.set.datatypes), "datatype maps are named TYPE[Target], e.g. CX[Identifier]")), "row %s: no datatype map %q", r.row.To, r.via)
			continue
		}
		r.viaDT = dt
	}
	// An each row applies a copy of itself without each to every occurrence.
	for _, r := range l.rows {
		if r.row.Each != "" {
			p := *r
			row := *r.row
			row.Each = ""
			p.row, p.when = &row, nil
			r.plain = &p
		}
	}
	// A datatype map must not reach itself through via.
	loops := false
	for _, dt := range l.set.datatypes {
		if path := cycle(dt, nil); path != nil {
			l.errorf(l.rowPos(dt), "", "datatype maps loop: %s", strings.Join(path, " → "))
			loops = true
		}
	}
	if !loops {
		for _, dt := range l.set.datatypes {
			mergeInPlace(dt)
		}
	}
	// Every ref reachable from a message map (its rules' rows, their segment
	// maps' rows, and the part maps those name) must name one of its
	// resources: an unresolved ref would silently make no reference.
	for _, mm := range l.set.messages {
		names := map[string]bool{}
		mm.typeOf = make(map[string]string, len(mm.resources))
		for _, cr := range mm.resources {
			names[cr.rule.Name] = true
			mm.typeOf[cr.rule.Name] = cr.resource
		}
		seen := map[*compiledRow]bool{}
		var walk func(rows []*compiledRow)
		walk = func(rows []*compiledRow) {
			for _, r := range rows {
				if seen[r] {
					continue
				}
				seen[r] = true
				if r.row.Ref != "" && !names[r.row.Ref] {
					l.errorf(place(r.row.At, r.row.Pos, "ref"), didYouMean(r.row.Ref, mapKeys(names), "name a resource rule of the message map"), "ref %q: no resource of that name in message map %s, which uses this row", r.row.Ref, mm.file.Message)
				}
				if r.segMap != nil {
					walk(r.segMap.rows)
				}
			}
		}
		for _, cr := range mm.resources {
			walk(cr.rows)
			if cr.seg != nil {
				walk(cr.seg.rows)
			}
		}
	}
	hasDefault := false
	for _, p := range l.set.senders {
		if p.file.Sender == "default" {
			hasDefault = true
		}
	}
	if !hasDefault {
		l.set.senders = append(l.set.senders, &profile{file: &senderFile{Sender: "default", Application: "*", Facility: "*"}, at: "(built-in default)"})
	}
	// Specific profiles first: application and facility, then one of them, then the default.
	slices.SortStableFunc(l.set.senders, func(a, b *profile) int { return specificity(b.file) - specificity(a.file) })
}

func (l *loader) rowPos(dt *datatypeMap) strictyaml.Position {
	var p strictyaml.Position
	fmt.Sscanf(strings.ReplaceAll(dt.at, ":", " "), "%s %d %d", &p.File, &p.Line, &p.Column)
	return p
}

func specificity(f *senderFile) int {
	n := 0
	if f.Application != "" && f.Application != "*" {
		n += 2
	}
	if f.Facility != "" && f.Facility != "*" {
		n++
	}
	if f.Sender == "default" {
		n = -1
	}
	return n
}

// mergeInPlace finds whether dt, used at ".", may write straight into the
// object being built, and the top-level elements it may write there. It may
// when merging the object it builds into one that holds none of those
// elements would give the same: no row reads the object it writes (an
// identifier system reads the type written), no ref is set later into it,
// no value is merged at "." (its elements are not known), and the maps it
// applies at "." may too.
func mergeInPlace(dt *datatypeMap) (bool, []string) {
	if dt.writes != nil || dt.inPlace {
		return dt.inPlace, dt.writes
	}
	var writes []string
	for _, r := range dt.rows {
		switch {
		case r.row.Ref != "" || r.as == "identifierSystem":
			return false, nil
		case len(r.to) == 0 && r.viaDT == nil:
			return false, nil
		case len(r.to) == 0:
			ok, w := mergeInPlace(r.viaDT)
			if !ok {
				return false, nil
			}
			writes = append(writes, w...)
		default:
			writes = append(writes, r.to[0].name)
		}
	}
	slices.Sort(writes)
	dt.inPlace, dt.writes = true, slices.Compact(writes)
	return true, dt.writes
}

func cycle(dt *datatypeMap, seen []string) []string {
	if slices.Contains(seen, dt.name) {
		return append(seen, dt.name)
	}
	seen = append(seen, dt.name)
	for _, r := range dt.rows {
		if r.viaDT != nil {
			if c := cycle(r.viaDT, seen); c != nil {
				return c
			}
		}
	}
	return nil
}
