// Package fhirvalid validates FHIR R4 resources in JSON form.
//
// The reference for the rules is google/fhir/go's jsonformat R4
// unmarshaller with validation enabled (v0.7.4). It checks, per the R4
// structure definitions compiled into its protos:
//
//   - resourceType is a known R4 resource; unknown elements; JSON types
//     (boolean, number, string, object, array vs. single value);
//   - primitive formats: date, dateTime (a time requires a zone), instant,
//     time, decimal, integer ranges, id, oid, uuid, code and uri syntax,
//     control characters and the 1 MB limit in strings;
//   - codes of required-binding value sets that the protos model as enums
//     (Patient.gender, Encounter.status, ...);
//   - min cardinality 1 ("required") elements, only one value per choice[x];
//   - the target type of typed relative references ("Patient/1" where only
//     Reference(Organization) is allowed).
//
// jsonformat does not check several rules that FHIR R4 states. fhirvalid
// adds these, because Carebridge must never write such resources:
//
//   - empty strings, empty arrays, empty objects and null values (outside
//     primitive-extension arrays) — FHIR forbids them (ele-1 and the JSON
//     format rules); jsonformat silently accepts "" and [];
//   - duplicate JSON property names (jsonformat keeps the last one silently);
//   - JSON syntax errors are reported with the byte offset;
//   - Narrative.div must be well-formed XHTML with a div root in the XHTML
//     namespace (txt-1/txt-2 in part: no check of allowed elements);
//   - literal reference format (Reference.reference): "#fragment",
//     "Type/id[/_history/vid]" with a known R4 resource type and a valid id,
//     a conditional reference "Type?query", or an absolute URI (urn:uuid:
//     and urn:oid: are checked for shape). jsonformat only checks the target
//     type of references it can parse and accepts anything else as opaque;
//   - required elements, id syntax and reference target types inside
//     contained resources (jsonformat parses contained resources but its
//     validation pass does not look inside them);
//   - Bundle invariants bdl-1, bdl-2, bdl-3, bdl-4, bdl-7 (duplicate
//     fullUrl), bdl-8, bdl-9, bdl-10, bdl-11 and bdl-12;
//   - Appointment invariants app-2 and app-3 (invariants.go), on the
//     resource and on every Bundle entry;
//   - the Period invariant per-1 (start not after end, compared at the
//     end's precision) on every Period, including contained resources'.
//
// Not checked: other FHIRPath invariants (e.g. pat-1, per-resource
// constraints), terminology bindings other than the enum-modelled required
// ones, profiles, max cardinality beyond single-vs-array, reference
// resolution (whether the target exists), and the XHTML element whitelist.
//
// # Two paths, one verdict
//
// Everything above is the full path: the structural scan (encoding/json
// tokens), jsonformat's unmarshal into protos with validation, a walk of
// the protos and the invariant checks. It is slow (proto reflection), so
// Resource first runs a fast path (fast.go): one pass over the JSON bytes
// against a schema compiled by New from the same R4 proto descriptors
// jsonformat reads (schema.go): element names, array or single value,
// datatypes, value[x] suffixes, required elements, enum-modelled codes,
// reference target types, contained resources and primitive syntax. It
// checks every rule listed above, on a subset of documents:
//
//   - when the fast path finds the resource valid, Resource returns nil;
//   - otherwise, whether it found a problem or met something it does not
//     model, Resource runs the full path and returns its result, so every
//     error and message comes from the full path.
//
// The fast path is exact about "valid" (fast-valid implies full-valid; the
// differential tests and FuzzFastAgrees check it) and accepts all of
// Carebridge's own output. It leaves to the full path: Bundles (Bundle and
// Resource on a Bundle always take the full path), nested resources other than contained ones
// (Parameters.parameter.resource), primitive extensions ("_x") in arrays,
// on choice elements or without their value, JSON objects given for
// primitives, property names in other spellings than the spec's
// ("Gender"), code spellings other than the code itself or its original
// code (jsonformat accepts "FEMALE"), base64Binary with separators,
// years before 0001, more than nine fractional seconds, URIs net/url might
// refuse (authorities with user info or IP literals), escapes that make
// control characters or UTF-16 surrogates, invalid UTF-8, null in arrays,
// and elements nested deeper than 24 levels.
//
// Problem messages are free of patient data: values from the input are not
// copied into them (only element names, resource type names and fullUrls).
package fhirvalid

import (
	"fmt"
	"slices"
	"strings"

	"github.com/google/fhir/go/fhirversion"
	"github.com/google/fhir/go/jsonformat"
)

// Issue codes used in Problem.Code (FHIR IssueType).
const (
	CodeStructure = "structure" // the JSON structure is not a valid R4 resource
	CodeInvalid   = "invalid"   // a value or rule violation
)

// Validator checks FHIR R4 JSON resources. Safe for concurrent use.
type Validator struct {
	um     *jsonformat.Unmarshaller
	schema *schema // the fast path's model
}

// New returns a Validator for FHIR R4. Date-only values carry no zone; the
// unmarshaller's default zone (UTC) is only used internally and does not
// affect the outcome.
func New() (*Validator, error) {
	um, err := jsonformat.NewUnmarshaller("UTC", fhirversion.R4)
	if err != nil {
		return nil, fmt.Errorf("fhirvalid: creating R4 unmarshaller: %w", err)
	}
	// Bound recursion on hostile input; real resources are far shallower.
	um.MaxNestingDepth = maxDepth
	sc, err := buildSchema()
	if err != nil {
		return nil, err
	}
	return &Validator{um: um, schema: sc}, nil
}

// maxDepth is the deepest element nesting (counted in path dots) accepted.
const maxDepth = 64

// Error lists the problems found in a resource.
type Error struct {
	Problems []Problem
}

// Problem is one validation finding.
type Problem struct {
	// Path locates the element, in jsonformat's dotted style rooted at the
	// resource type: "Patient.name[0].given[1]". Nested resources add their
	// type: "Bundle.entry[2].resource.Encounter.status". A missing required
	// element is reported at its parent. Empty when not known.
	Path string
	// Message says what is wrong; it holds no patient data.
	Message string
	// Code is CodeStructure or CodeInvalid.
	Code string
	// FullURL is the fullUrl of the Bundle entry the problem is in, if any.
	FullURL string
}

func (p Problem) String() string {
	var b strings.Builder
	if p.Path != "" {
		b.WriteString(p.Path)
		if p.FullURL != "" {
			fmt.Fprintf(&b, " (fullUrl %s)", p.FullURL)
		}
		b.WriteString(": ")
	}
	b.WriteString(p.Message)
	return b.String()
}

// Error joins the problems with "; ".
func (e *Error) Error() string {
	parts := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		parts[i] = p.String()
	}
	return "invalid FHIR R4 resource: " + strings.Join(parts, "; ")
}

// Resource validates one resource (any resourceType) and returns nil or an
// *Error listing every problem found. When the JSON cannot be parsed into
// the R4 model (unknown element, wrong JSON type, bad primitive format),
// jsonformat reports all such parse problems but skips its second pass
// (required elements, id syntax, reference types), so those are listed only
// once the parse problems are fixed.
func (v *Validator) Resource(b []byte) error {
	return v.validate(b, false)
}

// Bundle validates a Bundle and each entry's resource, reporting the entry
// index (in Problem.Path) and fullUrl (Problem.FullURL) with each problem.
// Input whose resourceType is not Bundle is an error.
func (v *Validator) Bundle(b []byte) error {
	return v.validate(b, true)
}

// validate runs the fast path and, unless it finds the resource certainly
// valid, the full path, whose verdict and problems are returned.
func (v *Validator) validate(b []byte, wantBundle bool) error {
	if !wantBundle && v.fastValid(b) {
		return nil
	}
	return v.validateFull(b, wantBundle)
}

// validateFull is the full path: the structural scan, jsonformat, the
// model walk and the invariants.
func (v *Validator) validateFull(b []byte, wantBundle bool) error {
	var c collector
	sc := scanStructure(b, &c)
	if sc.syntaxErr {
		return c.result()
	}
	if wantBundle && sc.rootType != "Bundle" {
		c.add("", CodeStructure, "expected a Bundle, found resourceType "+quoteType(sc.rootType))
	}
	var jf collector
	v.runJSONFormat(b, &jf)
	// A structural finding and jsonformat's complaint about the same element
	// (e.g. null → "expected code") say the same thing; keep the clearer one.
	seen := make(map[string]bool, len(c.problems))
	for _, p := range c.problems {
		seen[p.Path] = true
	}
	for _, p := range jf.problems {
		if !seen[p.Path] {
			c.problems = append(c.problems, p)
		}
	}
	if sc.rootType == "Bundle" {
		checkBundle(b, &c)
	}
	checkInvariants(b, sc.rootType, &c)
	return c.result()
}

func quoteType(t string) string {
	if t == "" {
		return "(none)"
	}
	if !resourceTypes[t] {
		return "(unknown)"
	}
	return t
}

// collector accumulates problems.
type collector struct {
	problems []Problem
	// fullURLs maps Bundle entry index to fullUrl, for annotation.
	fullURLs map[int]string
}

func (c *collector) add(path, code, msg string) {
	c.problems = append(c.problems, Problem{Path: path, Code: code, Message: msg})
}

func (c *collector) result() error {
	if len(c.problems) == 0 {
		return nil
	}
	ps := c.problems
	for i := range ps {
		ps[i].Path = normalizePath(ps[i].Path)
		if c.fullURLs != nil {
			if idx, ok := entryIndex(ps[i].Path); ok {
				ps[i].FullURL = c.fullURLs[idx]
			}
		}
	}
	slices.SortStableFunc(ps, func(a, b Problem) int {
		if r := naturalCompare(a.Path, b.Path); r != 0 {
			return r
		}
		return strings.Compare(a.Message, b.Message)
	})
	ps = slices.CompactFunc(ps, func(a, b Problem) bool { return a == b })
	return &Error{Problems: ps}
}

// entryIndex extracts N from a path starting "Bundle.entry[N]".
func entryIndex(path string) (int, bool) {
	const prefix = "Bundle.entry["
	if !strings.HasPrefix(path, prefix) {
		return 0, false
	}
	n := 0
	rest := path[len(prefix):]
	i := 0
	for ; i < len(rest) && rest[i] >= '0' && rest[i] <= '9'; i++ {
		n = n*10 + int(rest[i]-'0')
		if n > 1<<30 {
			return 0, false
		}
	}
	if i == 0 || i >= len(rest) || rest[i] != ']' {
		return 0, false
	}
	return n, true
}

// naturalCompare orders strings with embedded decimal numbers numerically,
// so entry[2] sorts before entry[10].
func naturalCompare(a, b string) int {
	for a != "" && b != "" {
		if isDigit(a[0]) && isDigit(b[0]) {
			i, j := 0, 0
			for i < len(a) && isDigit(a[i]) {
				i++
			}
			for j < len(b) && isDigit(b[j]) {
				j++
			}
			na, nb := strings.TrimLeft(a[:i], "0"), strings.TrimLeft(b[:j], "0")
			if len(na) != len(nb) {
				if len(na) < len(nb) {
					return -1
				}
				return 1
			}
			if r := strings.Compare(na, nb); r != 0 {
				return r
			}
			a, b = a[i:], b[j:]
			continue
		}
		if a[0] != b[0] {
			if a[0] < b[0] {
				return -1
			}
			return 1
		}
		a, b = a[1:], b[1:]
	}
	return len(a) - len(b)
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }
