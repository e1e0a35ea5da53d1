package fhirvalid

import (
	"fmt"
	"regexp"
	"strings"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	apb "github.com/google/fhir/go/proto/google/fhir/proto/annotations_go_proto"
	d4pb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
)

// The fast path's schema: the part of the R4 model that jsonformat reads
// from its proto descriptors, compiled once into maps keyed by the exact
// JSON property names. Whatever is left out of it (Bundle, base64Binary,
// nested resources other than contained ones, upper-case spellings that
// jsonformat tolerates, ...) is an unknown key to the fast path, which then
// defers to the full path.

// elemKind says how an element's JSON value is read.
type elemKind uint8

const (
	elemPrimitive elemKind = iota + 1 // a JSON string, number or boolean
	elemComplex                       // a JSON object of a datatype or backbone element
	elemContained                     // a JSON object that is a contained resource
)

// primKind is a primitive type, as jsonformat parses and fhirvalidate
// checks it.
type primKind uint8

const (
	primBoolean primKind = iota + 1
	primString
	primCode       // the generic code type: value_regex
	primEnumCode   // a required binding modelled as an enum: only its codes
	primStringCode // a bound code modelled as a string: any string
	primID
	primOID
	primUUID
	primURI // uri, url, canonical: must parse as a URL
	primMarkdown
	primXHTML
	primDate
	primDateTime
	primInstant
	primTime
	primDecimal
	primInteger
	primPositiveInt
	primUnsignedInt
	primBase64
)

// primKinds maps the primitive message names that jsonformat's
// parsePrimitiveType switches on. ReferenceId is left out: it is no JSON
// property.
var primKinds = map[protoreflect.FullName]primKind{
	"google.fhir.r4.core.Boolean":      primBoolean,
	"google.fhir.r4.core.String":       primString,
	"google.fhir.r4.core.Code":         primCode,
	"google.fhir.r4.core.Id":           primID,
	"google.fhir.r4.core.Oid":          primOID,
	"google.fhir.r4.core.Uuid":         primUUID,
	"google.fhir.r4.core.Uri":          primURI,
	"google.fhir.r4.core.Url":          primURI,
	"google.fhir.r4.core.Canonical":    primURI,
	"google.fhir.r4.core.Markdown":     primMarkdown,
	"google.fhir.r4.core.Xhtml":        primXHTML,
	"google.fhir.r4.core.Date":         primDate,
	"google.fhir.r4.core.DateTime":     primDateTime,
	"google.fhir.r4.core.Instant":      primInstant,
	"google.fhir.r4.core.Time":         primTime,
	"google.fhir.r4.core.Decimal":      primDecimal,
	"google.fhir.r4.core.Integer":      primInteger,
	"google.fhir.r4.core.PositiveInt":  primPositiveInt,
	"google.fhir.r4.core.UnsignedInt":  primUnsignedInt,
	"google.fhir.r4.core.Base64Binary": primBase64,
}

// maxKeys bounds the JSON property names per element the fast path tracks
// for duplicate detection (Extension, with its value[x], has about 50).
const maxKeys = 512

// field is one JSON property name of an element.
type field struct {
	key      string
	index    int // unique per element, for duplicate detection
	kind     elemKind
	prim     primKind
	codes    map[string]struct{} // primEnumCode: the codes jsonformat accepts as written
	msg      *element            // elemComplex
	repeated bool
	reqBit   uint64 // the element's required-field bit, 0 if optional
	choice   uint64 // the element's choice-group bit, 0 if not a value[x]
	refTypes []string
	twin     int // "_x": index of "x" plus one; 0 for other keys
}

// special marks elements with rules beyond their fields.
type special uint8

const (
	specialNone      special = iota
	specialReference         // reference format and target type
	specialPeriod            // per-1
)

// element is the schema of a datatype, backbone element or resource.
type element struct {
	fields      map[string]*field
	nkeys       int
	required    uint64 // bits of the required fields
	special     special
	resource    bool // has a resourceType property
	unsupported bool // the fast path must not accept any instance
}

// schema is the fast path's compiled R4 model.
type schema struct {
	resources map[string]*element
	// typedRef maps the Type of "Type/id" to the target type jsonformat
	// records when it normalizes such a reference.
	typedRef  map[string]string
	oid, uuid *regexp.Regexp
}

type schemaBuilder struct {
	elements map[protoreflect.FullName]*element
	codes    map[protoreflect.FullName]map[string]struct{}
}

// buildSchema compiles the schema from the R4 descriptors jsonformat uses.
func buildSchema() (*schema, error) {
	b := &schemaBuilder{
		elements: map[protoreflect.FullName]*element{},
		codes:    map[protoreflect.FullName]map[string]struct{}{},
	}
	s := &schema{resources: map[string]*element{}, typedRef: map[string]string{}}
	fields := containedType.Oneofs().ByName("oneof_resource").Fields()
	for i := 0; i < fields.Len(); i++ {
		md := fields.Get(i).Message()
		name := string(md.Name())
		if name == "Bundle" {
			continue // Bundles always take the full path
		}
		e := b.element(md)
		e.resource = true
		s.resources[name] = e
	}
	refOneof := (&d4pb.Reference{}).ProtoReflect().Descriptor().Oneofs().ByName("reference")
	for i := 0; i < refOneof.Fields().Len(); i++ {
		f := refOneof.Fields().Get(i)
		t, _ := proto.GetExtension(f.Options(), apb.E_ReferencedFhirType).(string)
		if t != "" {
			s.typedRef[t] = t
		}
	}
	var err error
	if s.oid, err = valueRegex(&d4pb.Oid{}); err != nil {
		return nil, err
	}
	if s.uuid, err = valueRegex(&d4pb.Uuid{}); err != nil {
		return nil, err
	}
	return s, nil
}

// valueRegex compiles a primitive's value_regex as jsonformat does.
func valueRegex(m proto.Message) (*regexp.Regexp, error) {
	d := m.ProtoReflect().Descriptor()
	re, _ := proto.GetExtension(d.Options(), apb.E_ValueRegex).(string)
	if re == "" {
		return nil, fmt.Errorf("fhirvalid: no value_regex on %s", d.FullName())
	}
	return regexp.Compile("^" + re + "$")
}

func (b *schemaBuilder) element(md protoreflect.MessageDescriptor) *element {
	if e, ok := b.elements[md.FullName()]; ok {
		return e
	}
	e := &element{fields: map[string]*field{}}
	b.elements[md.FullName()] = e
	switch md.FullName() {
	case referenceName:
		e.special = specialReference
	case periodName:
		e.special = specialPeriod
	}
	poisoned := map[string]bool{}
	add := func(f *field) *field {
		if poisoned[f.key] || e.fields[f.key] != nil || lowerFirst(f.key) != f.key {
			// Two fields under one name, or a name jsonformat would
			// normalize: leave it to the full path.
			delete(e.fields, f.key)
			poisoned[f.key] = true
			return nil
		}
		f.index = e.nkeys
		e.nkeys++
		e.fields[f.key] = f
		return f
	}
	var nreq, nchoice int
	fs := md.Fields()
	for i := 0; i < fs.Len(); i++ {
		fd := fs.Get(i)
		if fd.Message() == nil {
			continue // jsonformat: "invalid field"
		}
		if e.special == specialReference && fd.ContainingOneof() != nil && fd.Name() != "uri" {
			continue // fragment and the typed ids are not JSON properties
		}
		var req uint64
		if r, _ := proto.GetExtension(fd.Options(), apb.E_ValidationRequirement).(apb.Requirement); r == apb.Requirement_REQUIRED_BY_FHIR {
			if nreq == 64 {
				e.unsupported = true
				continue
			}
			req = 1 << nreq
			nreq++
			e.required |= req
		}
		if isChoiceType(fd.Message()) {
			if fd.IsList() || nchoice == 64 {
				e.unsupported = true
				continue
			}
			bit := uint64(1) << nchoice
			nchoice++
			members := fd.Message().Fields()
			for j := 0; j < members.Len(); j++ {
				mf := members.Get(j)
				if mf.Message() == nil {
					continue
				}
				key := fd.JSONName() + upperFirst(mf.JSONName())
				// jsonformat maps the key back by trimming the choice's name.
				if lowerFirst(strings.TrimPrefix(key, fd.JSONName())) != mf.JSONName() {
					continue
				}
				f := b.value(key, mf, mf.Message(), false)
				if f == nil {
					continue
				}
				f.reqBit, f.choice = req, bit
				add(f)
			}
			continue
		}
		f := b.value(fd.JSONName(), fd, fd.Message(), fd.IsList())
		if f == nil {
			continue
		}
		f.reqBit = req
		if add(f) == nil || f.kind != elemPrimitive || f.repeated {
			continue
		}
		// "_x": the primitive's id and extensions, accepted only next to "x".
		add(&field{key: "_" + f.key, kind: elemComplex, msg: b.element(fd.Message()), twin: f.index + 1})
	}
	if e.nkeys > maxKeys {
		e.unsupported = true
	}
	return e
}

// value describes the JSON value of field fd (of message type md), or
// returns nil when the fast path does not model it.
func (b *schemaBuilder) value(key string, fd protoreflect.FieldDescriptor, md protoreflect.MessageDescriptor, repeated bool) *field {
	f := &field{key: key, repeated: repeated}
	switch {
	case md.FullName() == anyName:
		if key != "contained" {
			return nil
		}
		f.kind = elemContained
	case md.FullName() == containedType.FullName():
		return nil
	case isPrimitive(md):
		f.kind = elemPrimitive
		if k, ok := primKinds[md.FullName()]; ok {
			f.prim = k
			break
		}
		if !proto.HasExtension(md.Options(), apb.E_FhirValuesetUrl) || primNameTaken(md.Name()) {
			return nil
		}
		vf := md.Fields().ByName("value")
		switch {
		case vf == nil:
			return nil
		case vf.Kind() == protoreflect.StringKind:
			f.prim = primStringCode
		case vf.Kind() == protoreflect.EnumKind:
			f.prim = primEnumCode
			f.codes = b.enumCodes(md.FullName(), vf.Enum())
		default:
			return nil
		}
	default:
		f.kind = elemComplex
		f.msg = b.element(md)
	}
	if types, _ := proto.GetExtension(fd.Options(), apb.E_ValidReferenceType).([]string); len(types) > 0 {
		f.refTypes = types
		for _, t := range types {
			if t == "Resource" {
				f.refTypes = nil
			}
		}
	}
	return f
}

// primNameTaken reports whether jsonformat would parse a message of this
// short name as a plain primitive (it switches on the short name).
func primNameTaken(name protoreflect.Name) bool {
	switch name {
	case "Base64Binary", "Boolean", "Code", "Date", "DateTime", "Decimal", "Id", "Instant", "Integer",
		"Oid", "PositiveInt", "String", "Time", "UnsignedInt", "Url", "Uri", "Canonical", "Markdown",
		"Xhtml", "Uuid", "ReferenceId":
		return true
	}
	return false
}

// enumCodes lists the spellings of an enum-modelled code that jsonformat
// accepts and that the fast path recognizes: each value's code as FHIR
// writes it (lower case, "-" for "_") and its original code, if any.
// jsonformat also accepts other spellings (upper case); those go to the
// full path.
func (b *schemaBuilder) enumCodes(name protoreflect.FullName, ed protoreflect.EnumDescriptor) map[string]struct{} {
	if c, ok := b.codes[name]; ok {
		return c
	}
	c := enumCodes(ed)
	b.codes[name] = c
	return c
}

// enumCodes lists the spellings of an enum-modelled code that jsonformat
// accepts and that the fast path recognizes (see schemaBuilder.enumCodes).
func enumCodes(ed protoreflect.EnumDescriptor) map[string]struct{} {
	c := map[string]struct{}{}
	vals := ed.Values()
	for i := 0; i < vals.Len(); i++ {
		ev := vals.Get(i)
		if orig, _ := proto.GetExtension(ev.Options(), apb.E_FhirOriginalCode).(string); orig != "" {
			c[orig] = struct{}{}
		}
		if ev.Number() == 0 {
			continue
		}
		code := strings.ReplaceAll(strings.ToLower(string(ev.Name())), "_", "-")
		// jsonformat looks the code up as upper case with "_" for "-".
		if v := vals.ByName(protoreflect.Name(strings.ReplaceAll(strings.ToUpper(code), "-", "_"))); v != nil && v.Number() == ev.Number() {
			c[code] = struct{}{}
		}
	}
	return c
}

// isChoiceType is jsonpbhelper.IsChoice: the annotation's presence counts.
func isChoiceType(md protoreflect.MessageDescriptor) bool {
	return md != nil && proto.HasExtension(md.Options(), apb.E_IsChoiceType)
}

func isPrimitive(md protoreflect.MessageDescriptor) bool {
	k, _ := proto.GetExtension(md.Options(), apb.E_StructureDefinitionKind).(apb.StructureDefinitionKindValue)
	return k == apb.StructureDefinitionKindValue_KIND_PRIMITIVE_TYPE
}

func lowerFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToLower(s[:1]) + s[1:]
}
