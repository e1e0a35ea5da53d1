package fhirvalid

import (
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/anypb"

	apb "github.com/google/fhir/go/proto/google/fhir/proto/annotations_go_proto"
	d4pb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
	rpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/bundle_and_contained_resource_go_proto"
)

var (
	idRE   = regexp.MustCompile(`^[A-Za-z0-9\-.]{1,64}$`)
	uuidRE = regexp.MustCompile(`^urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)
	oidRE  = regexp.MustCompile(`^urn:oid:[0-2](\.(0|[1-9][0-9]*))+$`)

	referenceName = (&d4pb.Reference{}).ProtoReflect().Descriptor().FullName()
	periodName    = (&d4pb.Period{}).ProtoReflect().Descriptor().FullName()
	anyName       = (&anypb.Any{}).ProtoReflect().Descriptor().FullName()
)

// walker visits the parsed model for the checks jsonformat leaves out:
// literal reference format, and validation inside contained resources.
type walker struct {
	c *collector
}

func (w *walker) walk(m protoreflect.Message, path string, depth int) {
	if depth > 4*maxDepth {
		return
	}
	desc := m.Descriptor()
	switch desc.FullName() {
	case containedType.FullName():
		f := m.WhichOneof(containedType.Oneofs().ByName("oneof_resource"))
		if f != nil {
			w.walk(m.Get(f).Message(), joinPath(path, string(f.Message().Name())), depth+1)
		}
		return
	case anyName:
		// R4 Resource.contained: an Any holding a ContainedResource.
		a, ok := m.Interface().(*anypb.Any)
		if !ok {
			return
		}
		cr := &rpb.ContainedResource{}
		if err := a.UnmarshalTo(cr); err != nil {
			return
		}
		validateContained(cr, path, w.c)
		w.walk(cr.ProtoReflect(), path, depth+1)
		return
	case referenceName:
		if ref, ok := m.Interface().(*d4pb.Reference); ok {
			w.checkReference(ref, path)
		}
	case periodName:
		if p, ok := m.Interface().(*d4pb.Period); ok && !periodInOrder(p) {
			w.c.add(path, CodeInvalid, "per-1: start SHALL have a lower value than or equal to end")
		}
	}
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		md := fd.Message()
		if md == nil {
			return true
		}
		p := joinPath(path, fd.JSONName())
		if fd.IsList() {
			l := v.List()
			for i := 0; i < l.Len(); i++ {
				w.walkField(md, l.Get(i).Message(), fd, p+"["+strconv.Itoa(i)+"]", depth)
			}
			return true
		}
		w.walkField(md, v.Message(), fd, p, depth)
		return true
	})
}

func (w *walker) walkField(md protoreflect.MessageDescriptor, m protoreflect.Message, fd protoreflect.FieldDescriptor, path string, depth int) {
	if isChoice(md) {
		// value[x]: the JSON name is the field name plus the type.
		od := md.Oneofs()
		if od.Len() == 0 {
			return
		}
		member := m.WhichOneof(od.Get(0))
		if member == nil || member.Message() == nil {
			return
		}
		base := path[:len(path)-len(fd.JSONName())]
		w.walk(m.Get(member).Message(), base+fd.JSONName()+upperFirst(member.JSONName()), depth+1)
		return
	}
	w.walk(m, path, depth+1)
}

// periodInOrder is invariant per-1: a Period's start is not after its end.
// Values of different precision compare as FHIRPath does only when the
// answer is certain: the start must not begin after the whole of the end
// (2026-03-05 is not after 2026-03, which runs to the end of March).
func periodInOrder(p *d4pb.Period) bool {
	start, end := p.GetStart(), p.GetEnd()
	if start == nil || end == nil {
		return true
	}
	return periodOrdered(start.GetValueUs(), end.GetValueUs(), end.GetPrecision())
}

// periodOrdered is per-1 on start and end in microseconds since the epoch,
// the end having precision endPrec.
func periodOrdered(startUs, endUs int64, endPrec d4pb.DateTime_Precision) bool {
	var span int64 // microseconds the end covers at its precision
	endAt := time.UnixMicro(endUs).UTC()
	switch endPrec {
	case d4pb.DateTime_YEAR:
		span = endAt.AddDate(1, 0, 0).Sub(endAt).Microseconds()
	case d4pb.DateTime_MONTH:
		span = endAt.AddDate(0, 1, 0).Sub(endAt).Microseconds()
	case d4pb.DateTime_DAY:
		span = endAt.AddDate(0, 0, 1).Sub(endAt).Microseconds()
	case d4pb.DateTime_SECOND:
		span = 1e6
	case d4pb.DateTime_MILLISECOND:
		span = 1e3
	default:
		span = 1
	}
	return startUs < endUs+span
}

func isChoice(md protoreflect.MessageDescriptor) bool {
	v, _ := proto.GetExtension(md.Options(), apb.E_IsChoiceType).(bool)
	return v
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// checkReference applies Carebridge's rule for Reference.reference:
// "#fragment", "Type/id" or "Type/id/_history/vid" (known R4 type, valid
// ids), "Type?query" (conditional, for transactions), urn:uuid:, urn:oid:,
// or another absolute URI. The reference's value is not quoted in messages.
func (w *walker) checkReference(ref *d4pb.Reference, path string) {
	p := joinPath(path, "reference")
	m := ref.ProtoReflect()
	f := m.WhichOneof(m.Descriptor().Oneofs().ByName("reference"))
	if f == nil {
		return // identifier- or display-only reference
	}
	switch f.Name() {
	case "fragment":
		return
	case "uri":
		w.checkRawReference(ref.GetUri().GetValue(), p)
		return
	}
	// Typed "Type/id[/_history/vid]", normalized by jsonformat.
	rid, ok := m.Get(f).Message().Interface().(*d4pb.ReferenceId)
	if !ok {
		return
	}
	if !idRE.MatchString(rid.GetValue()) {
		w.c.add(p, CodeInvalid, "reference id is not a valid FHIR id ([A-Za-z0-9-.]{1,64})")
	}
	if h := rid.GetHistory(); h != nil && !idRE.MatchString(h.GetValue()) {
		w.c.add(p, CodeInvalid, "reference version id is not a valid FHIR id")
	}
}

func (w *walker) checkRawReference(s, p string) {
	if msg := rawReferenceProblem(s); msg != "" {
		w.c.add(p, CodeInvalid, msg)
	}
}

// rawReferenceProblem checks a reference that jsonformat did not parse as
// "#fragment" or a typed "Type/id": it returns "" or the problem.
func rawReferenceProblem(s string) string {
	switch {
	case s == "":
		return "" // "" is reported by the structural scan
	case strings.HasPrefix(s, "urn:uuid:"):
		if !uuidRE.MatchString(s) {
			return "urn:uuid: reference is not a lower-case UUID"
		}
		return ""
	case strings.HasPrefix(s, "urn:oid:"):
		if !oidRE.MatchString(s) {
			return "urn:oid: reference is not a valid OID"
		}
		return ""
	}
	if u, err := url.Parse(s); err == nil && u.Scheme != "" && u.IsAbs() {
		return "" // absolute URL: resolvable elsewhere, not checked further
	}
	if typ, query, ok := strings.Cut(s, "?"); ok {
		if resourceTypes[typ] && query != "" {
			return "" // conditional reference, resolved by the server in a transaction
		}
		return "conditional reference must be Type?query with a known resource type"
	}
	parts := strings.Split(s, "/")
	if len(parts) == 2 || (len(parts) == 4 && parts[2] == "_history") {
		if !resourceTypes[parts[0]] {
			return "reference names an unknown resource type"
		}
		if !idRE.MatchString(parts[1]) || (len(parts) == 4 && !idRE.MatchString(parts[3])) {
			return "reference id is not a valid FHIR id ([A-Za-z0-9-.]{1,64})"
		}
		return ""
	}
	return "reference must be #fragment, Type/id[/_history/vid], Type?query or an absolute URI"
}
