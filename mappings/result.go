package mappings

import (
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/carebridge/carebridge/engine/hl7"
)

var reflectAny = reflect.TypeOf((*any)(nil)).Elem()

// Extension URLs Carebridge puts on the resources it maps.
const (
	// ClearExtensionURL marks, on a resource's meta, an element the message
	// explicitly cleared (HL7 ""): the store erases it, while elements that
	// are simply absent are left as they were.
	ClearExtensionURL = "https://carebridge.dev/fhir/StructureDefinition/clear-element"
	// UnmappedExtensionURL keeps, on a resource, an HL7 v2 value no map used
	// (with keep_unmapped in the sender profile): sub-extensions position
	// (e.g. "ZPI-2.1") and value.
	UnmappedExtensionURL = "https://carebridge.dev/fhir/StructureDefinition/hl7v2-unmapped"
	// JournalSystem is the identifier system of journal entries in Provenance.
	JournalSystem = "urn:carebridge:journal"
)

// Result is what Map made of a message.
type Result struct {
	// Bundle is a FHIR R4 transaction Bundle (JSON): one PUT per resource,
	// at its deterministic id, and a Provenance.
	Bundle []byte
	// Resources are the resources in the Bundle, Provenance last.
	Resources []Resource
	// Warnings lists unmapped codes, unused fields and the like.
	Warnings []Warning
	// Unused lists the valued positions no map used.
	Unused []Unused
	// MappingHash is the Set's hash.
	MappingHash string
	// Profile is the sender profile used.
	Profile string

	hits []bool
}

// Resource is one mapped resource.
type Resource struct {
	Type string
	ID   string
	body *body
}

// Body is the resource as JSON values (maps, lists, strings, numbers,
// booleans), as the Bundle holds it. It is made on the first call, from
// any goroutine; later calls return the same map (a caller may edit it).
func (r Resource) Body() map[string]any { return r.body.get() }

// body is a resource's content: the tree it was built as (encoded into
// the Bundle; never changed once Map returns), and the map made of it when
// first asked for.
type body struct {
	once sync.Once
	tree *node
	m    map[string]any
}

func (b *body) get() map[string]any {
	if b == nil {
		return nil
	}
	b.once.Do(func() {
		if b.tree != nil {
			b.m, b.tree = b.tree.toMap(), nil
		}
	})
	return b.m
}

// encodable is the body as the encoder takes it; only for the Result
// being made (before any call of get).
func (b *body) encodable() any {
	if b.tree != nil {
		return b.tree
	}
	return b.m
}

// Unused is a valued position of the message no map used.
type Unused struct {
	Position string `json:"position"` // e.g. "ZPI-2", "PID-9(2).1"
	Value    string `json:"-"`        // kept out of logs: it may be patient data
}

func (st *mapState) finish(all []*built, opts Options, structure string) (*Result, error) {
	res := &Result{MappingHash: st.set.hash, Profile: st.profile.file.Sender, hits: st.hits}
	res.Unused = st.unused()
	for _, u := range res.Unused {
		st.warnings = append(st.warnings, Warning{Kind: "unused-field", Where: u.Position, Message: "no map uses this value"})
	}
	if st.profile.file.KeepUnmapped && len(res.Unused) > 0 && len(all) > 0 {
		st.keepUnmapped(all, res.Unused)
	}
	all = dedupe(&st.enc, all)
	targets := make([]any, 0, len(all))
	res.Resources = make([]Resource, 0, len(all)+1)
	for _, b := range all {
		if len(b.clears) > 0 {
			slices.Sort(b.clears)
			old, _ := b.obj.get("meta")
			meta, _ := old.(*node)
			if meta == nil {
				meta = st.arena.node(1)
				b.obj.put("meta", meta)
			}
			exts := listAt(&st.arena, meta, "extension")
			for _, c := range slices.Compact(b.clears) {
				exts.els = append(exts.els, &node{ms: []member{{"url", ClearExtensionURL}, {"valueString", c}}})
			}
		}
		b.rule.size.note(b.obj)
		res.Resources = append(res.Resources, Resource{Type: b.resource, ID: b.id, body: &body{tree: b.obj}})
		targets = append(targets, st.arena.nodeOf(member{"reference", b.ref}))
	}
	provID := StableID("Provenance", st.msgKey)
	res.Resources = append(res.Resources, Resource{Type: "Provenance", ID: provID, body: &body{tree: st.provenance(provID, targets, opts, structure)}})
	// Encoded in the state's scratch buffer, then copied at its size.
	b, err := st.enc.appendBundle(st.buf[:0], StableID("Bundle", st.msgKey), res.Resources)
	if err != nil {
		return nil, fmt.Errorf("encode bundle: %w", err)
	}
	res.Bundle = slices.Clone(b)
	if cap(b) <= maxScratch {
		st.buf = b
	}
	res.Warnings = st.warnings
	return res, nil
}

// maxScratch bounds the Bundle buffer a pooled state keeps.
const maxScratch = 1 << 20

// dedupe merges resources with the same type and id (the same insurer in two
// IN1 groups, the same practitioner in two roles) into the first: a Bundle
// must not hold one resource twice.
func dedupe(enc *jsonEncoder, all []*built) []*built {
	var seen map[string]*built // for many resources; a few are compared in turn
	if len(all) > 32 {
		seen = make(map[string]*built, len(all))
	}
	out := all[:0]
	for _, b := range all {
		var first *built
		if seen != nil {
			k := b.resource + "/" + b.id
			if first = seen[k]; first == nil {
				seen[k] = b
			}
		} else {
			for _, o := range out {
				if o.id == b.id && o.resource == b.resource {
					first = o
					break
				}
			}
		}
		if first != nil {
			mergeResource(enc, first.obj, b.obj)
			first.clears = append(first.clears, b.clears...)
			continue
		}
		out = append(out, b)
	}
	return out
}

// mergeResource adds to dst what src has and dst lacks; list elements of src
// not already in dst are appended (compared by their JSON, encoded with enc).
func mergeResource(enc *jsonEncoder, dst, src *node) {
	for _, m := range src.ms {
		old, ok := dst.get(m.k)
		if !ok {
			dst.put(m.k, m.v)
			continue
		}
		switch nv := m.v.(type) {
		case *node:
			if om, ok := old.(*node); ok {
				mergeResource(enc, om, nv)
			}
		case *list:
			if ol, ok := old.(*list); ok {
				for _, e := range nv.els {
					if !containsJSON(enc, ol.els, e) {
						ol.els = append(ol.els, e)
					}
				}
			}
		}
	}
}

func containsJSON(enc *jsonEncoder, list []any, e any) bool {
	eb, _ := enc.append(nil, e)
	var xb []byte // reused for every element
	for _, x := range list {
		xb, _ = enc.append(xb[:0], x)
		if string(xb) == string(eb) {
			return true
		}
	}
	return false
}

// listAt is the list member k of n, made (in place of whatever else was
// there) when n has none.
func listAt(a *arena, n *node, k string) *list {
	old, _ := n.get(k)
	l, ok := old.(*list)
	if !ok {
		l = a.list()
		n.put(k, l)
	}
	return l
}

// appendBundle encodes the transaction Bundle of resources as appendJSON
// would encode its map form (keys sorted), without building that map:
// {"entry":[{"fullUrl","request":{"method","url"},"resource"}...],"id",
// "resourceType","type"}.
func (e *jsonEncoder) appendBundle(b []byte, id string, resources []Resource) ([]byte, error) {
	b = append(b, `{"entry":[`...)
	for i, r := range resources {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"fullUrl":"urn:uuid:`...)
		b = appendStringBody(b, r.ID)
		b = append(b, `","request":{"method":"PUT","url":"`...)
		b = appendStringBody(b, r.Type)
		b = append(b, '/')
		b = appendStringBody(b, r.ID)
		b = append(b, `"},"resource":`...)
		var err error
		if b, err = e.append(b, r.body.encodable()); err != nil {
			return nil, err
		}
		b = append(b, '}')
	}
	b = append(b, `],"id":`...)
	b = appendString(b, id)
	return append(b, `,"resourceType":"Bundle","type":"transaction"}`...), nil
}

// messageKey identifies the message: sender and control ID.
func (st *mapState) messageKey() string {
	return st.msg.Get("MSH-3") + "|" + st.msg.Get("MSH-4") + "|" + st.msg.ControlID()
}

// provenance records where the resources came from: the message (sender,
// control ID, type) and the journal entry.
func (st *mapState) provenance(id string, targets []any, opts Options, structure string) *node {
	if len(targets) == 0 {
		targets = []any{noTargets}
	}
	recorded := st.recorded(opts)
	sender := strings.Trim(st.senderV["application"]+"^"+st.senderV["facility"], "^")
	if sender == "" {
		sender = "unidentified sender (no MSH-3 or MSH-4)"
	}
	a := &st.arena
	what := a.nodeOf(member{"display", fmt.Sprintf("%s^%s %s from %s (%s)", st.msg.MessageCode(), st.event, st.msg.ControlID(), sender, structure)})
	if opts.JournalID != 0 {
		what.ms = append(what.ms, member{"identifier", a.nodeOf(member{"system", JournalSystem}, member{"value", strconv.FormatInt(opts.JournalID, 10)})})
	}
	agent, entity := a.list(), a.list()
	agent.els = append(agent.els, a.nodeOf(member{"type", provenanceAuthor}, member{"who", a.nodeOf(member{"display", sender})}))
	entity.els = append(entity.els, a.nodeOf(member{"role", "source"}, member{"what", what}))
	// Members in key order.
	return a.nodeOf(
		member{"activity", provenanceActivity},
		member{"agent", agent},
		member{"entity", entity},
		member{"id", id},
		member{"recorded", recorded},
		member{"resourceType", "Provenance"},
		member{"target", &list{els: targets}},
	)
}

// The parts of every Provenance that never change, shared by them all: a
// Result's trees are only read once made (Body makes maps of its own).
var (
	provenanceActivity = newNodeOf(member{"coding", &list{els: []any{newNodeOf(
		member{"code", "UPDATE"}, member{"display", "revise"}, member{"system", "http://terminology.hl7.org/CodeSystem/v3-DataOperation"})}}})
	provenanceAuthor = newNodeOf(member{"coding", &list{els: []any{newNodeOf(
		member{"code", "author"}, member{"display", "Author"}, member{"system", "http://terminology.hl7.org/CodeSystem/provenance-participant-type"})}}})
	noTargets = newNodeOf(member{"display", "no resources"})
)

// recorded is the Provenance's time: MSH-7 when it can be placed in time
// (an offset, or the sender's zone), else when the message was received, else
// MSH-7 read as UTC with a warning.
func (st *mapState) recorded(opts Options) string {
	t, err := hl7.ParseTime(st.msg.Get("MSH-7"), st.profile.loc)
	placed := err == nil && !t.IsZero() && (t.HasOffset || st.profile.loc != nil)
	switch {
	case placed:
		return t.Time.UTC().Format("2006-01-02T15:04:05Z")
	case !opts.ReceivedAt.IsZero():
		return opts.ReceivedAt.UTC().Format("2006-01-02T15:04:05Z")
	case err == nil && !t.IsZero():
		st.warnAt("no-timezone", "MSH-7", "message time without offset and no time zone for sender "+st.profile.file.Sender+": Provenance.recorded read it as UTC")
		return t.Time.UTC().Format("2006-01-02T15:04:05Z")
	}
	st.warnAt("invalid-value", "MSH-7", "no usable message time: Provenance.recorded is the Unix epoch")
	return "1970-01-01T00:00:00Z"
}

// unused lists the valued component positions no row read.
func (st *mapState) unused() []Unused {
	var out []Unused
	comp := string(st.msg.Delimiters().Component)
	var occ []int // occurrence of each segment by name, counted when first needed
	for i, seg := range st.msg.Segments() {
		name := seg.Name()
		ignore := st.mm.ignore[name]
		if ignore.whole {
			continue
		}
		first := 1
		if name == "MSH" {
			first = 3
		}
		fields := st.segFields(i, seg)
		for f := first; f < len(fields)-1; f++ {
			field := fields[f]
			if field.IsEmpty() || ignore.ignores(f) || st.isUsed(posKey{seg: i, field: f}) {
				continue
			}
			reps := field.RepetitionCount()
			for r := 1; r <= reps; r++ {
				rep := field.Repetition(r)
				if rep.IsEmpty() || st.isUsed(posKey{seg: i, field: f, rep: r}) || (r == 1 && st.isUsed(posKey{seg: i, field: f, rep: 0})) {
					continue
				}
				// Split once, not scanned again for every component.
				parts := st.parts[:0]
				if strings.Contains(rep.Raw(), comp) {
					parts = rep.AppendComponents(parts)
					st.parts = parts
				}
				comps := max(len(parts), 1)
				for c := 1; c <= comps; c++ {
					cv := rep
					if comps > 1 {
						cv = parts[c-1]
					}
					if cv.IsEmpty() || st.isUsed(posKey{seg: i, field: f, rep: r, comp: c}) || (r == 1 && st.isUsed(posKey{seg: i, field: f, rep: 0, comp: c})) {
						continue
					}
					if occ == nil {
						occ = occurrences(st.msg.Segments())
					}
					out = append(out, Unused{Position: position(name, occ[i], f, r, reps, c, comps), Value: cv.Raw()})
				}
			}
		}
	}
	return out
}

// occurrences numbers each segment among those of its name (1-based).
func occurrences(segs []*hl7.Segment) []int {
	out := make([]int, len(segs))
	seen := make(map[string]int, 8)
	for i, s := range segs {
		seen[s.Name()]++
		out[i] = seen[s.Name()]
	}
	return out
}

// position renders SEG(occ)-field(rep).comp, leaving out what is implied.
func position(name string, occ, f, r, reps, c, comps int) string {
	b := make([]byte, 0, 16)
	b = append(b, name...)
	if occ > 1 {
		b = append(b, '(')
		b = strconv.AppendInt(b, int64(occ), 10)
		b = append(b, ')')
	}
	b = append(b, '-')
	b = strconv.AppendInt(b, int64(f), 10)
	if r > 1 {
		b = append(b, '(')
		b = strconv.AppendInt(b, int64(r), 10)
		b = append(b, ')')
	}
	if comps > 1 {
		b = append(b, '.')
		b = strconv.AppendInt(b, int64(c), 10)
	}
	return string(b)
}

// keepUnmapped puts unused values on the resource made from their segment,
// or on the first resource when no resource came from it.
func (st *mapState) keepUnmapped(all []*built, unused []Unused) {
	for _, u := range unused {
		target := all[0]
		segName, _, _ := strings.Cut(u.Position, "-")
		segName, _, _ = strings.Cut(segName, "(")
		for _, b := range all {
			if b.ctx.seg.Name() == segName {
				target = b
				break
			}
		}
		ext := &node{ms: []member{
			{"extension", &list{els: []any{
				&node{ms: []member{{"url", "position"}, {"valueString", u.Position}}},
				&node{ms: []member{{"url", "value"}, {"valueString", u.Value}}},
			}}},
			{"url", UnmappedExtensionURL},
		}}
		l := listAt(&st.arena, target.obj, "extension")
		l.els = append(l.els, ext)
	}
}
