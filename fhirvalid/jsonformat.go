package fhirvalid

import (
	"reflect"
	"strconv"
	"strings"

	"github.com/google/fhir/go/jsonformat/fhirvalidate"
	"google.golang.org/protobuf/proto"

	rpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/bundle_and_contained_resource_go_proto"
)

// reporter collects jsonformat's validation-pass findings.
type reporter struct {
	c      *collector
	prefix string // prepended to paths (for contained resources)
}

func (r *reporter) ReportValidationError(path string, err error) error {
	for _, e := range libErrors(err) {
		p := path
		if p == "" {
			p = e.path
		}
		if r.prefix != "" {
			p = r.prefix + "." + p
		}
		r.c.add(p, CodeInvalid, e.message())
	}
	return nil
}

func (r *reporter) ReportValidationWarning(string, error) error { return nil }

// runJSONFormat runs jsonformat's R4 unmarshaller with validation, then the
// checks that need the parsed model (references, contained resources).
func (v *Validator) runJSONFormat(b []byte, c *collector) {
	res, err := v.um.UnmarshalWithErrorReporter(b, &reporter{c: c})
	if err != nil {
		for _, e := range libErrors(err) {
			path, code := e.path, CodeStructure
			switch e.details {
			case "unknown field":
				// Point at the element itself; the name is from the spec's
				// vocabulary or the sender's typo, not patient data.
				if name, uerr := strconv.Unquote(e.diagnostics); uerr == nil {
					path = joinPath(path, name)
				}
			case "invalid JSON":
				// Our structural scan already reported syntax errors.
				if path == "" {
					continue
				}
			}
			if isValueError(e.details) {
				code = CodeInvalid
			}
			c.add(path, code, e.message())
		}
		return
	}
	if res == nil {
		return
	}
	w := walker{c: c}
	w.walk(res.ProtoReflect(), "", 0)
}

func joinPath(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

// isValueError tells value problems ("expected date") from shape problems
// ("unknown field", "expected array").
func isValueError(details string) bool {
	switch {
	case details == "expected array", details == "invalid JSON", details == "unknown field",
		details == "invalid field", details == "invalid extension field",
		details == "unknown resource type", details == "invalid resource type",
		strings.HasPrefix(details, "cannot accept multiple values"),
		strings.HasPrefix(details, "array length mismatch"),
		strings.HasPrefix(details, "missing required field \"resourceType\""):
		return false
	}
	return true
}

// libError is jsonformat's internal UnmarshalError, read by reflection
// because its package is internal to google/fhir/go.
type libError struct {
	path, details, diagnostics string
	other                      string // Error() of an error of another type
}

// message renders the problem without patient data: jsonformat promises
// Details are PHI-free; Diagnostics may quote values, so only the few kinds
// whose diagnostics are element or type names are kept.
func (e libError) message() string {
	if e.details == "" {
		return e.other
	}
	switch {
	case strings.HasPrefix(e.details, "cannot accept multiple values"):
		if name, err := strconv.Unquote(e.diagnostics); err == nil {
			return e.details + " (" + name + ")"
		}
	case e.details == "unknown resource type":
		return e.details
	}
	if e.details == "code type mismatch" {
		return "invalid code (not in the required value set)"
	}
	return e.details
}

func libErrors(err error) []libError {
	if err == nil {
		return nil
	}
	rv := reflect.ValueOf(err)
	switch rv.Kind() {
	case reflect.Slice:
		out := make([]libError, 0, rv.Len())
		for i := 0; i < rv.Len(); i++ {
			if e, ok := rv.Index(i).Interface().(error); ok {
				out = append(out, libErrors(e)...)
			}
		}
		return out
	case reflect.Pointer:
		if rv.IsNil() {
			return nil
		}
		s := rv.Elem()
		if s.Kind() == reflect.Struct {
			get := func(name string) (string, bool) {
				f := s.FieldByName(name)
				if !f.IsValid() || f.Kind() != reflect.String {
					return "", false
				}
				return f.String(), true
			}
			details, ok1 := get("Details")
			path, ok2 := get("Path")
			diag, _ := get("Diagnostics")
			if ok1 && ok2 {
				return []libError{{path: path, details: details, diagnostics: diag}}
			}
		}
	}
	return []libError{{other: err.Error()}}
}

// containedType is the R4 ContainedResource message.
var containedType = (&rpb.ContainedResource{}).ProtoReflect().Descriptor()

// resourceTypes is the set of R4 resource type names; resourceJSONNames
// maps the ContainedResource field JSON names ("patient") to them.
var (
	resourceTypes     = map[string]bool{}
	resourceJSONNames = map[string]string{}
)

func init() {
	fields := containedType.Oneofs().ByName("oneof_resource").Fields()
	for i := 0; i < fields.Len(); i++ {
		f := fields.Get(i)
		name := string(f.Message().Name())
		resourceTypes[name] = true
		resourceJSONNames[f.JSONName()] = name
	}
}

// normalizePath rewrites jsonformat's validation-pass paths for nested
// resources ("Bundle.entry[0].resource.patient.name") into the style of its
// parse-pass paths ("Bundle.entry[0].resource.Patient.name").
func normalizePath(p string) string {
	if !strings.Contains(p, ".") {
		return p
	}
	segs := strings.Split(p, ".")
	changed := false
	for i := 1; i < len(segs); i++ {
		prev := segs[i-1]
		if j := strings.IndexByte(prev, '['); j >= 0 {
			prev = prev[:j]
		}
		switch prev {
		case "resource", "outcome", "return", "contained":
		default:
			continue
		}
		if t, ok := resourceJSONNames[segs[i]]; ok && t != segs[i] {
			segs[i] = t
			changed = true
		}
	}
	if !changed {
		return p
	}
	return strings.Join(segs, ".")
}

// validateContained runs jsonformat's validation pass (required elements,
// id syntax, reference types) on a contained resource, which jsonformat's
// own pass skips because R4 contained resources are packed in an Any.
func validateContained(cr proto.Message, path string, c *collector) {
	_ = fhirvalidate.ValidateWithErrorReporter(cr, &reporter{c: c, prefix: path})
}
