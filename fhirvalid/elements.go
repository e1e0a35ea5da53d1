package fhirvalid

import (
	"slices"
	"strings"
	"sync"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	apb "github.com/google/fhir/go/proto/google/fhir/proto/annotations_go_proto"
)

// The element definitions the validator reads, for static checks of what
// will be written (a mapping's target paths, the codes it writes) before
// any resource exists. They come from the same R4 proto descriptors as the
// validator's, read lazily, a type at a time, so that looking up a handful
// of types costs a handful of types.

// Type is an R4 resource, datatype or backbone element: its elements, by
// their JSON names. A Type is immutable and safe for concurrent use.
type Type struct {
	// Name is the type's name: "Patient", "HumanName", or for a backbone
	// element its resource and element, "Patient.Contact".
	Name string

	md       protoreflect.MessageDescriptor
	once     sync.Once
	elements map[string]*Element
	names    []string
}

// Element is one JSON property of a Type. A choice element (deceased[x])
// appears once per type it may take, under its JSON name (deceasedBoolean,
// deceasedDateTime).
type Element struct {
	// Name is the JSON property name.
	Name string
	// Type is the FHIR type of the value: a primitive ("date", "boolean",
	// "code", "uri", ...), a datatype ("HumanName"), "BackboneElement",
	// "Resource" (a contained resource).
	Type string
	// Repeated says whether the element is a JSON array.
	Repeated bool
	// Primitive says whether the value is a JSON string, number or boolean.
	Primitive bool
	// Codes lists the codes of a required binding that the R4 model knows
	// (Patient.gender: female, male, other, unknown), sorted; nil when the
	// element has no such binding or any code of its type is accepted.
	Codes []string
	// ValueSet is the URL of the element's bound value set, when the model
	// records one.
	ValueSet string
	// Choice is the choice element's name without its type (deceased for
	// deceasedBoolean), "" for other elements.
	Choice string

	of *Type // the value's elements, for a datatype or backbone element
}

// Elements returns the definitions of the value's own elements (those of
// HumanName for Patient.name), or nil for a primitive or a contained
// resource.
func (e *Element) Elements() *Type { return e.of }

var (
	typeCache           sync.Map // protoreflect.FullName → *Type
	resourceDescriptors = sync.OnceValue(func() map[string]protoreflect.MessageDescriptor {
		out := map[string]protoreflect.MessageDescriptor{}
		fields := containedType.Oneofs().ByName("oneof_resource").Fields()
		for i := 0; i < fields.Len(); i++ {
			md := fields.Get(i).Message()
			out[string(md.Name())] = md
		}
		return out
	})
)

// LookupType returns the definition of the R4 resource or datatype called
// name ("Patient", "HumanName", "Identifier"); false for any other name.
func LookupType(name string) (*Type, bool) {
	md, ok := resourceDescriptors()[name]
	if !ok {
		d, err := protoregistry.GlobalFiles.FindDescriptorByName(protoreflect.FullName("google.fhir.r4.core." + name))
		if err != nil {
			return nil, false
		}
		m, isMsg := d.(protoreflect.MessageDescriptor)
		if !isMsg || isPrimitive(m) || isChoiceType(m) || m.Parent() != m.ParentFile() {
			return nil, false
		}
		md = m
	}
	return typeOf(md), true
}

func typeOf(md protoreflect.MessageDescriptor) *Type {
	if t, ok := typeCache.Load(md.FullName()); ok {
		return t.(*Type)
	}
	name := strings.TrimPrefix(string(md.FullName()), "google.fhir.r4.core.")
	t, _ := typeCache.LoadOrStore(md.FullName(), &Type{Name: name, md: md})
	return t.(*Type)
}

// Element returns the element of t with this JSON name.
func (t *Type) Element(name string) (*Element, bool) {
	t.once.Do(t.build)
	e, ok := t.elements[name]
	return e, ok
}

// ElementNames lists t's JSON property names, sorted.
func (t *Type) ElementNames() []string {
	t.once.Do(t.build)
	return slices.Clone(t.names)
}

func (t *Type) build() {
	t.elements = map[string]*Element{}
	reference := t.md.FullName() == referenceName
	fs := t.md.Fields()
	for i := 0; i < fs.Len(); i++ {
		fd := fs.Get(i)
		md := fd.Message()
		if md == nil {
			continue
		}
		if reference && fd.ContainingOneof() != nil && fd.Name() != "uri" {
			continue // the typed ids and fragment are not JSON properties
		}
		if isChoiceType(md) {
			members := md.Fields()
			for j := 0; j < members.Len(); j++ {
				mf := members.Get(j)
				if mf.Message() == nil {
					continue
				}
				e := elementOf(fd.JSONName()+upperFirst(mf.JSONName()), mf.Message(), fd.IsList())
				e.Choice = fd.JSONName()
				t.elements[e.Name] = e
			}
			continue
		}
		e := elementOf(fd.JSONName(), md, fd.IsList())
		t.elements[e.Name] = e
		if e.Primitive {
			// "_x": the primitive's id and extensions.
			t.elements["_"+e.Name] = &Element{Name: "_" + e.Name, Type: "Element", Repeated: e.Repeated, of: typeOf(md)}
		}
	}
	for n := range t.elements {
		t.names = append(t.names, n)
	}
	slices.Sort(t.names)
}

func elementOf(name string, md protoreflect.MessageDescriptor, repeated bool) *Element {
	e := &Element{Name: name, Repeated: repeated}
	e.ValueSet, _ = proto.GetExtension(md.Options(), apb.E_FhirValuesetUrl).(string)
	switch {
	case md.FullName() == anyName || md.FullName() == containedType.FullName():
		e.Type = "Resource"
	case isPrimitive(md):
		e.Primitive = true
		if _, ok := primKinds[md.FullName()]; ok {
			e.Type = lowerFirst(string(md.Name()))
			break
		}
		// A bound code, modelled as its own message: an enum of the
		// required binding's codes, or a string.
		e.Type = "code"
		if vf := md.Fields().ByName("value"); vf != nil && vf.Kind() == protoreflect.EnumKind {
			for c := range enumCodes(vf.Enum()) {
				e.Codes = append(e.Codes, c)
			}
			slices.Sort(e.Codes)
		}
	default:
		e.of = typeOf(md)
		e.Type = string(md.Name())
		if _, nested := md.Parent().(protoreflect.MessageDescriptor); nested {
			e.Type = "BackboneElement"
		}
	}
	return e
}

// CodeSystemCodes returns the codes of the FHIR code system with this
// canonical URL (http://hl7.org/fhir/administrative-gender), sorted, when
// the R4 model knows it: the code systems of the required bindings it
// models as enums. false for any other system.
func CodeSystemCodes(url string) ([]string, bool) {
	c, ok := codeSystems()[url]
	return c, ok
}

var codeSystems = sync.OnceValue(func() map[string][]string {
	out := map[string][]string{}
	protoregistry.GlobalTypes.RangeEnums(func(et protoreflect.EnumType) bool {
		ed := et.Descriptor()
		url, _ := proto.GetExtension(ed.Options(), apb.E_FhirCodeSystemUrl).(string)
		if url == "" || out[url] != nil {
			return true
		}
		var codes []string
		for c := range enumCodes(ed) {
			codes = append(codes, c)
		}
		slices.Sort(codes)
		out[url] = codes
		return true
	})
	return out
})
