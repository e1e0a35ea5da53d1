package mappings

import (
	"github.com/carebridge/carebridge/internal/strictyaml"
)

// The four layers, as the HL7 v2-to-FHIR IG names them, each a kind of YAML
// file. A file declares its kind by its first key: message, segment,
// datatype or codemap; sender profiles use the key sender.

// Row is one mapping rule: where a value comes from, what happens to it, and
// where it goes. The same shape serves segment maps, datatype maps and the
// extra rows of a message map's resources.
type Row struct {
	Pos strictyaml.Position
	// At says where each setting's value was written, for errors about it.
	At strictyaml.Places
	// To is the target element, relative to what is being built: "gender",
	// "name[]" (append), "hospitalization.admitSource", "identifier[0].type".
	To string `yaml:"to"`
	// From is the source, relative to the context: a field ("3"), a
	// component ("3.1", "3(2).1") in a segment map, a component ("1") or
	// sub-component ("4.1") in a datatype map, or an absolute terser path
	// ("PV1-19", "MSH-7") anywhere.
	From string `yaml:"from"`
	// Via names the datatype map that turns the source into an object, e.g.
	// "CX[Identifier]". With a repeating source and a To ending in "[]", each
	// repetition becomes one element.
	Via string `yaml:"via"`
	// Code names the code map applied to the source's code (its first
	// component when composite).
	Code string `yaml:"code"`
	// As converts the value: string (default), code, date, dateTime,
	// instant, decimal, integer, positiveInt, unsignedInt, boolean, coding,
	// codeableConcept (the last two with Code).
	As string `yaml:"as"`
	// Const is a literal value (converted by As).
	Const string `yaml:"const"`
	// Value is a CEL expression computing the value; `it` is the source's
	// text when From is set.
	Value Expr `yaml:"value"`
	// When is a CEL condition; the row applies only when it is true.
	When Expr `yaml:"when"`
	// Ref sets a reference to another resource of the message map, by name.
	Ref string `yaml:"ref"`
	// Required makes an unvalued source a mapping error (the IG's
	// "NOT VALUED → error").
	Required bool `yaml:"required"`
	// Clears says what an HL7 "" in From clears, when To alone would say too
	// much: a FHIRPath selector such as 'telecom.where(use = "work")' or
	// 'extension.where(url = "http://...patient-religion")'. By default it is
	// To's element path (without list positions).
	Clears string `yaml:"clears"`
	// Clear records "clear this element" for To (as an HL7 "" would), e.g.
	// to drop the links of a patient on an unlink event.
	Clear bool `yaml:"clear"`
	// Each applies the row once per occurrence of this segment (within the
	// group instance when the segment belongs to the resource's group, else
	// in the whole message), with From relative to that occurrence; with Map
	// it builds one element per occurrence. "SEG-N" applies it once per
	// repetition of field N of each occurrence (reads of N read that one).
	Each string `yaml:"each"`
	// Map names a segment map that builds the element at To from the
	// segment occurrence (with Each), e.g. one Appointment.participant per AIP.
	Map string `yaml:"map"`
	// Note is free text (e.g. the IG row it implements); ignored.
	Note string `yaml:"note"`
}

// Expr is a CEL expression as written in a mapping file.
type Expr struct {
	Src string
}

// DecodeYAMLScalar keeps the expression text; it is compiled later.
func (e *Expr) DecodeYAMLScalar(s string) error { e.Src = s; return nil }

// Example is an example message with its expected output, kept next to a map
// and run by `carebridge mapping test`.
type Example struct {
	Pos strictyaml.Position
	At  strictyaml.Places
	// Name names the example.
	Name string `yaml:"name"`
	// Input is the HL7 v2 message file, relative to the map file.
	Input string `yaml:"input"`
	// Expect is the expected Bundle (JSON), relative to the map file.
	Expect string `yaml:"expect"`
	// Sender overrides the sender profile (by name) used for the example.
	Sender string `yaml:"sender"`
}

// messageFile is a message map: which segments (and groups) become which
// resources, for a family of trigger events.
type messageFile struct {
	Pos     strictyaml.Position
	At      strictyaml.Places
	Message string `yaml:"message"`
	// Description is free text.
	Description string `yaml:"description"`
	// Events maps each trigger event (MSH-9.2) to its message structure.
	Events map[string]string `yaml:"events"`
	// Groups names segment groups: a group starts at its first segment and
	// holds the member segments that follow it.
	Groups map[string]groupSpec `yaml:"groups"`
	// Ignore lists segments or fields ("MSH", "EVN-1") never reported as unused.
	Ignore    []string       `yaml:"ignore"`
	Resources []resourceRule `yaml:"resources"`
	Examples  []Example      `yaml:"examples"`
}

type groupSpec struct {
	Pos     strictyaml.Position
	At      strictyaml.Places
	Start   string   `yaml:"start"`
	Members []string `yaml:"members"`
}

// resourceRule makes resources of one kind from one segment (or group).
type resourceRule struct {
	Pos strictyaml.Position
	At  strictyaml.Places
	// Name is how rows and keys refer to these resources.
	Name string `yaml:"name"`
	// Segment is the segment the resource comes from.
	Segment string `yaml:"segment"`
	// Group, when set, makes one resource per instance of the group (whose
	// first segment is Segment); rows may read the group's other segments.
	Group string `yaml:"group"`
	// Each makes one resource per occurrence of Segment (otherwise the
	// first occurrence only).
	Each bool `yaml:"each"`
	// Repeat makes one resource per repetition of this field of the segment
	// (e.g. 7 for PV1-7, several attending doctors); rows reading the field
	// (7, 7.1) read that repetition.
	Repeat int `yaml:"repeat"`
	// Required makes a message without Segment (or, with Group, without
	// an instance of the group) a mapping error rather than a Bundle
	// without these resources: an ADT without a PID has no patient to
	// apply its visit to.
	Required bool `yaml:"required"`
	// Map names the segment map, e.g. "PID[Patient]".
	Map string `yaml:"map"`
	// Events limits the rule to these trigger events.
	Events []string `yaml:"events"`
	// When is a CEL condition on the message.
	When Expr `yaml:"when"`
	// Skipped, when set, is a CEL expression giving the warning (kind
	// skipped-resource) for an occurrence of Segment that When leaves out,
	// "" for none: a segment that is there but makes no resource is said,
	// not lost silently.
	Skipped Expr `yaml:"skipped"`
	// Key is a CEL expression giving the resource's business identity; the
	// resource id derives from it. Without it, the segment map's key applies.
	Key Expr `yaml:"key"`
	// Rows are applied after the segment map's rows.
	Rows []Row `yaml:"rows"`
	// Require lists conditions the built resource must meet (CEL on
	// `resource`, `v`, `m`); a failed one is a mapping error with its
	// message, rather than an invalid resource.
	Require []requirement `yaml:"require"`
	// Expect lists conditions the built resource should meet; a failed one
	// is a warning (kind expectation) with its message, and the resource is
	// made all the same. The segment map's expectations apply as well.
	Expect []requirement `yaml:"expect"`
}

type requirement struct {
	Pos     strictyaml.Position
	At      strictyaml.Places
	That    Expr   `yaml:"that"`
	Message string `yaml:"message"`
}

// segmentFile is a segment map: one segment's fields to one resource.
type segmentFile struct {
	Pos         strictyaml.Position
	At          strictyaml.Places
	Segment     string `yaml:"segment"`  // "PID[Patient]"
	Resource    string `yaml:"resource"` // resourceType
	Description string `yaml:"description"`
	// Key is the business identity of the resources this map builds (a CEL
	// expression, as a resource rule's key), used by every rule that sets
	// none: the same patient, visit or account gets the same id whichever
	// message map made it.
	Key  Expr  `yaml:"key"`
	Rows []Row `yaml:"rows"`
	// Expect lists conditions each resource this map builds should meet
	// (CEL on `resource`, `v`, `m`): a failed one is a warning (kind
	// expectation) with its message, for whatever message map uses it.
	Expect []requirement `yaml:"expect"`
}

// datatypeFile is a datatype map: one v2 data type to one FHIR type.
type datatypeFile struct {
	Pos         strictyaml.Position
	At          strictyaml.Places
	Datatype    string `yaml:"datatype"` // "CX[Identifier]"
	Description string `yaml:"description"`
	Rows        []Row  `yaml:"rows"`
}

// codeFile is a code map: a v2 table to a FHIR code system, as a compact
// form of a FHIR ConceptMap.
type codeFile struct {
	Pos         strictyaml.Position
	At          strictyaml.Places
	CodeMap     string `yaml:"codemap"`
	Description string `yaml:"description"`
	// Table is the HL7 table number, e.g. "0001".
	Table string `yaml:"table"`
	// Source is the code system of the v2 codes (default
	// http://terminology.hl7.org/CodeSystem/v2-<table>).
	Source string `yaml:"source"`
	// Target is the FHIR code system of the mapped codes.
	Target string                `yaml:"target"`
	Codes  map[string]codeTarget `yaml:"codes"`
}

type codeTarget struct {
	Pos     strictyaml.Position
	At      strictyaml.Places
	Code    string `yaml:"code"`
	Display string `yaml:"display"`
	System  string `yaml:"system"` // overrides Target for this code
}

// senderFile is a sender profile.
type senderFile struct {
	Pos    strictyaml.Position
	At     strictyaml.Places
	Sender string `yaml:"sender"` // profile name
	// Match selects the messages the profile applies to; "*" matches all.
	Application string `yaml:"application"` // MSH-3.1
	Facility    string `yaml:"facility"`    // MSH-4.1
	// Timezone (IANA name) for times without an offset.
	Timezone string `yaml:"timezone"`
	// IdentifierSystems maps an assigning authority (CX-4.1, or CX-4.2)
	// to the identifier system URI.
	IdentifierSystems map[string]string `yaml:"identifier_systems"`
	// DefaultAssigningAuthority fills a missing CX-4.
	DefaultAssigningAuthority string `yaml:"default_assigning_authority"`
	// Codes overlays code maps: map name → v2 code → target.
	Codes map[string]map[string]codeTarget `yaml:"codes"`
	// UnmappedCodes: "keep" (keep the original coding and warn; default) or "fail".
	UnmappedCodes string `yaml:"unmapped_codes"`
	// KeepUnmapped keeps fields no map uses on the resources, in an extension.
	KeepUnmapped bool `yaml:"keep_unmapped"`
}
