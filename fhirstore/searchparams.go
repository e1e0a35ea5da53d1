package fhirstore

import (
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"
)

// ParamKind is the FHIR search parameter type of a SearchParam.
type ParamKind string

// The search parameter kinds Carebridge indexes.
const (
	KindToken     ParamKind = "token"
	KindString    ParamKind = "string"
	KindDate      ParamKind = "date"
	KindReference ParamKind = "reference"
)

// The names of the search parameters every resource type has. They are
// answered from the stored resource itself (its id and meta.lastUpdated),
// never from index entries.
const (
	ParamID          = "_id"
	ParamLastUpdated = "_lastUpdated"
)

// SearchParam defines one search parameter of one resource type.
type SearchParam struct {
	Type string    // the resource type ("Patient")
	Name string    // the parameter name as in a search URL ("birthdate")
	Kind ParamKind // token, string, date or reference
	// Expr is a FHIRPath-like expression relative to the resource: element
	// names joined with dots ("name.family"), "[x]" after a choice element
	// ("onset[x]" matches onsetDateTime, onsetPeriod, ...), filters such as
	// ".where(system='phone')" and alternatives joined with " | ". Empty for
	// _id and _lastUpdated.
	Expr string
	// Target, for a reference parameter, keeps only references to this
	// resource type ("Patient"); empty keeps all of them.
	Target string
	// IndexedAs, for a reference parameter with a Target, names the
	// parameter of the same type that indexes the same expression without
	// one (Encounter "patient" and "subject"): this one's entries are that
	// one's references of the Target type, so they are not stored twice; a
	// backend searches that one's entries, keeping the Target's type.
	IndexedAs string

	steps [][]step // Expr, compiled: one list of steps per alternative
}

// Special reports whether the parameter is answered from the resource's
// own columns (_id, _lastUpdated) instead of index entries.
func (p *SearchParam) Special() bool { return p.Name == ParamID || p.Name == ParamLastUpdated }

// IndexEntry is one value a resource has for a search parameter, as a
// backend stores it in its search index.
type IndexEntry struct {
	Param string    // the parameter name
	Kind  ParamKind // the parameter's kind
	// System is a token's system (Identifier.system, Coding.system,
	// ContactPoint.system), empty when there is none.
	System string
	// Value is a token's code or value; for a string the normalized text
	// (NormalizeString); for a reference the target as "Type/id".
	Value string
	// Raw is a string's value as written in the resource (for :exact).
	Raw string
	// Low and High bound a date as the half-open range [Low, High) its
	// precision covers: 2024 is [2024-01-01, 2025-01-01). A Period without
	// start has Low DateMin, one without end High DateMax.
	Low, High time.Time
}

// DateMin and DateMax stand for an open end of a date range.
var (
	DateMin = time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC)
	DateMax = time.Date(9999, 12, 31, 23, 59, 59, 999000000, time.UTC)
)

// step is one element of a compiled expression.
type step struct {
	name          string // element name; with choice, the name before [x]
	choice        bool   // name[x]
	whereKey      string // .where(key='value')
	whereValue    string
	isWhereClause bool
}

// sp builds a SearchParam definition.
func sp(typ, name string, kind ParamKind, expr string) SearchParam {
	return SearchParam{Type: typ, Name: name, Kind: kind, Expr: expr}
}

// ref builds a reference SearchParam that keeps only targets of type target.
func ref(typ, name, expr, target string) SearchParam {
	return SearchParam{Type: typ, Name: name, Kind: KindReference, Expr: expr, Target: target}
}

// The extensions carrying a PaymentReconciliation's account, and the visit
// of one that has no account yet (see record.AccountURL, record.VisitURL).
const (
	paymentAccountExt = "https://carebridge.dev/fhir/StructureDefinition/account"
	paymentVisitExt   = "https://carebridge.dev/fhir/StructureDefinition/visit"
)

// definitions lists every search parameter beyond _id and _lastUpdated.
var definitions = []SearchParam{
	sp("Patient", "identifier", KindToken, "identifier"),
	sp("Patient", "name", KindString, "name"),
	sp("Patient", "family", KindString, "name.family"),
	sp("Patient", "given", KindString, "name.given"),
	sp("Patient", "birthdate", KindDate, "birthDate"),
	sp("Patient", "gender", KindToken, "gender"),
	sp("Patient", "telecom", KindToken, "telecom"),
	sp("Patient", "phone", KindToken, "telecom.where(system='phone')"),
	sp("Patient", "email", KindToken, "telecom.where(system='email')"),
	sp("Patient", "address", KindString, "address"),
	sp("Patient", "address-city", KindString, "address.city"),
	sp("Patient", "address-postalcode", KindString, "address.postalCode"),
	sp("Patient", "active", KindToken, "active"),
	ref("Patient", "link", "link.other", ""),
	ref("Patient", "organization", "managingOrganization", "Organization"),

	sp("RelatedPerson", "identifier", KindToken, "identifier"),
	sp("RelatedPerson", "name", KindString, "name"),
	ref("RelatedPerson", "patient", "patient", "Patient"),

	sp("Encounter", "identifier", KindToken, "identifier"),
	sp("Encounter", "status", KindToken, "status"),
	sp("Encounter", "class", KindToken, "class"),
	sp("Encounter", "date", KindDate, "period"),
	ref("Encounter", "patient", "subject", "Patient"),
	ref("Encounter", "subject", "subject", ""),
	ref("Encounter", "location", "location.location", ""),
	ref("Encounter", "appointment", "appointment", ""),
	ref("Encounter", "account", "account", ""),
	ref("Encounter", "participant", "participant.individual", ""),
	ref("Encounter", "practitioner", "participant.individual", "Practitioner"),

	sp("Appointment", "identifier", KindToken, "identifier"),
	sp("Appointment", "status", KindToken, "status"),
	sp("Appointment", "date", KindDate, "start"),
	ref("Appointment", "actor", "participant.actor", ""),
	ref("Appointment", "patient", "participant.actor", "Patient"),
	ref("Appointment", "practitioner", "participant.actor", "Practitioner"),
	ref("Appointment", "location", "participant.actor", "Location"),

	sp("ChargeItem", "identifier", KindToken, "identifier"),
	sp("ChargeItem", "code", KindToken, "code"),
	sp("ChargeItem", "entered-date", KindDate, "enteredDate"),
	sp("ChargeItem", "occurrence", KindDate, "occurrence[x]"),
	ref("ChargeItem", "patient", "subject", "Patient"),
	ref("ChargeItem", "subject", "subject", ""),
	ref("ChargeItem", "account", "account", ""),
	ref("ChargeItem", "context", "context", ""),

	sp("Account", "identifier", KindToken, "identifier"),
	sp("Account", "status", KindToken, "status"),
	ref("Account", "patient", "subject", "Patient"),
	ref("Account", "subject", "subject", ""),

	sp("PaymentReconciliation", "identifier", KindToken, "identifier"),
	sp("PaymentReconciliation", "status", KindToken, "status"),
	sp("PaymentReconciliation", "created", KindDate, "created"),
	ref("PaymentReconciliation", "account", "extension.where(url='"+paymentAccountExt+"').valueReference", ""),
	ref("PaymentReconciliation", "encounter", "extension.where(url='"+paymentVisitExt+"').valueReference", "Encounter"),

	sp("Condition", "identifier", KindToken, "identifier"),
	sp("Condition", "code", KindToken, "code"),
	sp("Condition", "onset-date", KindDate, "onset[x]"),
	ref("Condition", "patient", "subject", "Patient"),
	ref("Condition", "subject", "subject", ""),
	ref("Condition", "encounter", "encounter", ""),

	sp("AllergyIntolerance", "identifier", KindToken, "identifier"),
	sp("AllergyIntolerance", "code", KindToken, "code"),
	ref("AllergyIntolerance", "patient", "patient", "Patient"),
	ref("AllergyIntolerance", "subject", "patient", ""),
	ref("AllergyIntolerance", "encounter", "encounter", ""),

	sp("Procedure", "identifier", KindToken, "identifier"),
	sp("Procedure", "code", KindToken, "code"),
	sp("Procedure", "date", KindDate, "performed[x]"),
	ref("Procedure", "patient", "subject", "Patient"),
	ref("Procedure", "subject", "subject", ""),
	ref("Procedure", "encounter", "encounter", ""),

	sp("Coverage", "identifier", KindToken, "identifier"),
	ref("Coverage", "patient", "beneficiary", "Patient"),
	ref("Coverage", "beneficiary", "beneficiary", ""),
	ref("Coverage", "payor", "payor", ""),

	sp("Task", "identifier", KindToken, "identifier"),
	sp("Task", "status", KindToken, "status"),
	sp("Task", "code", KindToken, "code"),
	sp("Task", "business-status", KindToken, "businessStatus"),
	sp("Task", "period", KindDate, "executionPeriod"),
	sp("Task", "authored-on", KindDate, "authoredOn"),
	ref("Task", "owner", "owner", ""),
	ref("Task", "patient", "for", "Patient"),
	ref("Task", "subject", "for", ""),
	ref("Task", "focus", "focus", ""),

	sp("Communication", "identifier", KindToken, "identifier"),
	sp("Communication", "status", KindToken, "status"),
	sp("Communication", "sent", KindDate, "sent"),
	ref("Communication", "patient", "subject", "Patient"),
	ref("Communication", "subject", "subject", ""),

	sp("CommunicationRequest", "identifier", KindToken, "identifier"),
	sp("CommunicationRequest", "status", KindToken, "status"),
	sp("CommunicationRequest", "authored", KindDate, "authoredOn"),
	ref("CommunicationRequest", "patient", "subject", "Patient"),
	ref("CommunicationRequest", "subject", "subject", ""),

	sp("Provenance", "recorded", KindDate, "recorded"),
	ref("Provenance", "target", "target", ""),
	ref("Provenance", "patient", "target", "Patient"),

	sp("Location", "identifier", KindToken, "identifier"),
	sp("Location", "name", KindString, "name | alias"),
	sp("Practitioner", "identifier", KindToken, "identifier"),
	sp("Practitioner", "name", KindString, "name"),
	sp("Organization", "identifier", KindToken, "identifier"),
	sp("Organization", "name", KindString, "name | alias"),
}

// registry is the compiled table: type → name → parameter.
type registry struct {
	byType map[string]map[string]*SearchParam
	all    []*SearchParam
}

var (
	regOnce sync.Once
	reg     registry
)

func theRegistry() *registry {
	regOnce.Do(func() {
		reg.byType = map[string]map[string]*SearchParam{}
		add := func(p SearchParam) {
			if p.Expr != "" {
				var err error
				if p.steps, err = compileExpr(p.Expr); err != nil {
					panic(fmt.Sprintf("search parameter %s.%s: %v", p.Type, p.Name, err))
				}
			}
			m := reg.byType[p.Type]
			if m == nil {
				m = map[string]*SearchParam{}
				reg.byType[p.Type] = m
				for _, special := range []SearchParam{
					{Type: p.Type, Name: ParamID, Kind: KindToken},
					{Type: p.Type, Name: ParamLastUpdated, Kind: KindDate},
				} {
					s := special
					m[s.Name] = &s
					reg.all = append(reg.all, &s)
				}
			}
			if _, dup := m[p.Name]; dup {
				panic(fmt.Sprintf("search parameter %s.%s defined twice", p.Type, p.Name))
			}
			q := p
			m[p.Name] = &q
			reg.all = append(reg.all, &q)
		}
		for _, d := range definitions {
			add(d)
		}
		for _, m := range reg.byType {
			for _, p := range m {
				if p.Kind != KindReference || p.Target == "" {
					continue
				}
				for _, q := range m {
					if q.Kind == KindReference && q.Target == "" && q.Expr == p.Expr {
						p.IndexedAs = q.Name
					}
				}
			}
		}
		sort.Slice(reg.all, func(i, j int) bool {
			if reg.all[i].Type != reg.all[j].Type {
				return reg.all[i].Type < reg.all[j].Type
			}
			return reg.all[i].Name < reg.all[j].Name
		})
	})
	return &reg
}

// SearchParams returns every defined search parameter, sorted by type then
// name, including _id and _lastUpdated for each type that has parameters.
// The caller must not modify them.
func SearchParams() []*SearchParam { return theRegistry().all }

// LookupSearchParam returns the parameter name of resource type typ. Every
// type has _id and _lastUpdated, also types without other parameters.
func LookupSearchParam(typ, name string) (*SearchParam, bool) {
	if p, ok := theRegistry().byType[typ][name]; ok {
		return p, true
	}
	switch name {
	case ParamID:
		return &SearchParam{Type: typ, Name: ParamID, Kind: KindToken}, true
	case ParamLastUpdated:
		return &SearchParam{Type: typ, Name: ParamLastUpdated, Kind: KindDate}, true
	}
	return nil, false
}

// compileExpr parses "a.b.where(k='v').c | d" into steps.
func compileExpr(expr string) ([][]step, error) {
	var out [][]step
	for _, alt := range strings.Split(expr, "|") {
		alt = strings.TrimSpace(alt)
		if alt == "" {
			return nil, fmt.Errorf("empty alternative in %q", expr)
		}
		var steps []step
		for alt != "" {
			var part string
			if strings.HasPrefix(alt, "where(") {
				end := strings.Index(alt, ")")
				if end < 0 {
					return nil, fmt.Errorf("unclosed where( in %q", expr)
				}
				part, alt = alt[:end+1], strings.TrimPrefix(alt[end+1:], ".")
				k, v, ok := strings.Cut(strings.TrimSuffix(strings.TrimPrefix(part, "where("), ")"), "=")
				v = strings.TrimSpace(v)
				if !ok || len(v) < 2 || v[0] != '\'' || v[len(v)-1] != '\'' {
					return nil, fmt.Errorf("where() must be key='value' in %q", expr)
				}
				steps = append(steps, step{isWhereClause: true, whereKey: strings.TrimSpace(k), whereValue: v[1 : len(v)-1]})
				continue
			}
			part, alt, _ = strings.Cut(alt, ".")
			st := step{name: part}
			if n, ok := strings.CutSuffix(part, "[x]"); ok {
				st.name, st.choice = n, true
			}
			if st.name == "" {
				return nil, fmt.Errorf("empty element name in %q", expr)
			}
			steps = append(steps, st)
		}
		out = append(out, steps)
	}
	return out, nil
}

// eval applies steps to root and returns the leaf values, arrays flattened.
// With a choice step, the leaf carries the chosen element's type suffix.
func eval(root any, steps []step) []leaf {
	cur := []leaf{{v: root}}
	for _, st := range steps {
		var next []leaf
		for _, l := range cur {
			m, ok := l.v.(map[string]any)
			if !ok {
				continue
			}
			if st.isWhereClause {
				if s, _ := m[st.whereKey].(string); s == st.whereValue {
					next = append(next, l)
				}
				continue
			}
			if !st.choice {
				next = appendFlat(next, m[st.name], l.choiceType)
				continue
			}
			for k, v := range m {
				if len(k) > len(st.name) && strings.HasPrefix(k, st.name) && k[len(st.name)] >= 'A' && k[len(st.name)] <= 'Z' {
					next = appendFlat(next, v, k[len(st.name):])
				}
			}
		}
		cur = next
	}
	return cur
}

// leaf is one value an expression selected; choiceType is the type suffix
// of a choice element ("DateTime", "Period"), when the path went through one.
type leaf struct {
	v          any
	choiceType string
}

func appendFlat(out []leaf, v any, choiceType string) []leaf {
	switch x := v.(type) {
	case nil:
	case []any:
		for _, e := range x {
			if e != nil {
				out = append(out, leaf{v: e, choiceType: choiceType})
			}
		}
	default:
		out = append(out, leaf{v: x, choiceType: choiceType})
	}
	return out
}

// IndexEntries returns the search index entries of a decoded FHIR resource
// (a JSON object decoded into map[string]any, numbers as float64 or
// json.Number) for every parameter its resourceType defines, except _id and
// _lastUpdated which backends read from the resource itself. Duplicate
// entries are removed. An error says the resource has no resourceType or a
// date that cannot be indexed.
func IndexEntries(body map[string]any) ([]IndexEntry, error) {
	typ, _ := body["resourceType"].(string)
	if typ == "" {
		return nil, fmt.Errorf("index resource: no resourceType")
	}
	params := theRegistry().byType[typ]
	if len(params) == 0 {
		return nil, nil
	}
	names := make([]string, 0, len(params))
	for n := range params {
		names = append(names, n)
	}
	sort.Strings(names)
	var out []IndexEntry
	seen := map[IndexEntry]bool{}
	emit := func(e IndexEntry) {
		if !seen[e] {
			seen[e] = true
			out = append(out, e)
		}
	}
	for _, n := range names {
		p := params[n]
		if p.IndexedAs != "" {
			continue // its entries are another parameter's
		}
		for _, steps := range p.steps {
			for _, l := range eval(body, steps) {
				if err := p.entries(l, emit); err != nil {
					return nil, fmt.Errorf("index %s.%s: %w", typ, p.Name, err)
				}
			}
		}
	}
	return out, nil
}

// stringParts are the elements of HumanName and Address (and similar
// complex types) that a string parameter on them searches.
var stringParts = []string{"text", "family", "given", "prefix", "suffix", "line", "city", "district", "state", "postalCode", "country"}

// cjkFullName is a HumanName in a CJK script written whole, family name
// then given names run together (张伟), as people search for it; "" for
// other names and for names that carry it as their text already.
func cjkFullName(name map[string]any) string {
	family, _ := name["family"].(string)
	var given strings.Builder
	for _, g := range appendFlat(nil, name["given"], "") {
		if s, ok := g.v.(string); ok {
			given.WriteString(s)
		}
	}
	full := family + given.String()
	if family == "" || given.Len() == 0 || name["text"] == full || !ContainsCJK(full) {
		return ""
	}
	return full
}

// entries converts one selected value to index entries for p.
func (p *SearchParam) entries(l leaf, emit func(IndexEntry)) error {
	switch p.Kind {
	case KindToken:
		tokenEntries(p.Name, l.v, emit)
	case KindString:
		addString := func(s string) {
			if n := NormalizeString(s); n != "" {
				emit(IndexEntry{Param: p.Name, Kind: KindString, Value: n, Raw: s})
			}
		}
		switch x := l.v.(type) {
		case string:
			addString(x)
		case map[string]any:
			for _, k := range stringParts {
				for _, v := range appendFlat(nil, x[k], "") {
					if s, ok := v.v.(string); ok {
						addString(s)
					}
				}
			}
			if full := cjkFullName(x); full != "" {
				addString(full)
			}
		}
	case KindDate:
		switch x := l.v.(type) {
		case string:
			lo, hi, err := dateRange(x)
			if err != nil {
				return err
			}
			emit(IndexEntry{Param: p.Name, Kind: KindDate, Low: lo, High: hi})
		case map[string]any: // Period
			lo, hi := DateMin, DateMax
			start, _ := x["start"].(string)
			end, _ := x["end"].(string)
			if start == "" && end == "" {
				return nil
			}
			if start != "" {
				l, _, err := dateRange(start)
				if err != nil {
					return err
				}
				lo = l
			}
			if end != "" {
				_, h, err := dateRange(end)
				if err != nil {
					return err
				}
				hi = h
			}
			emit(IndexEntry{Param: p.Name, Kind: KindDate, Low: lo, High: hi})
		}
	case KindReference:
		m, ok := l.v.(map[string]any)
		if !ok {
			return nil
		}
		s, _ := m["reference"].(string)
		t, id, ok := splitReference(s)
		if !ok || (p.Target != "" && t != p.Target) {
			return nil
		}
		emit(IndexEntry{Param: p.Name, Kind: KindReference, Value: t + "/" + id})
	}
	return nil
}

// tokenEntries indexes a code, boolean, Coding, CodeableConcept, Identifier
// or ContactPoint.
func tokenEntries(param string, v any, emit func(IndexEntry)) {
	tok := func(system, value string) {
		if value != "" {
			emit(IndexEntry{Param: param, Kind: KindToken, System: system, Value: value})
		}
	}
	switch x := v.(type) {
	case string:
		tok("", x)
	case bool:
		tok("", fmt.Sprint(x))
	case map[string]any:
		str := func(k string) string { s, _ := x[k].(string); return s }
		if codings, ok := x["coding"].([]any); ok { // CodeableConcept
			for _, c := range codings {
				if cm, ok := c.(map[string]any); ok {
					s, _ := cm["system"].(string)
					code, _ := cm["code"].(string)
					tok(s, code)
				}
			}
			return
		}
		if code := str("code"); code != "" { // Coding
			tok(str("system"), code)
			return
		}
		tok(str("system"), str("value")) // Identifier, ContactPoint
		if sys := str("system"); sys == "phone" || sys == "sms" {
			// Also by its last digits, so that a search finds it however
			// it was written (spaces, dashes, +44 or 0).
			tok(PhoneKeySystem, PhoneKey(str("value")))
		}
	}
}

// PhoneKeySystem is the system of the extra token a phone number is
// indexed under (PhoneKey): search phone=PhoneKeySystem|KEY finds it
// whatever its punctuation and prefix.
const PhoneKeySystem = "https://carebridge.dev/fhir/phone-key"

// PhoneKeyDigits is how many trailing digits identify a phone number: enough
// to tell numbers apart, few enough to leave out country and trunk prefixes
// (+44 1632 960001 and 01632 960001).
const PhoneKeyDigits = 8

// PhoneKey is the last PhoneKeyDigits digits of a phone number, "" when it
// has fewer.
func PhoneKey(s string) string {
	var b []byte
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= '0' && c <= '9' {
			b = append(b, c)
		}
	}
	if len(b) < PhoneKeyDigits {
		return ""
	}
	return string(b[len(b)-PhoneKeyDigits:])
}

// splitReference returns the type and id of a literal reference:
// "Patient/1", "Patient/1/_history/2" or an absolute URL ending so.
// Contained ("#x"), urn: and conditional references are not indexed.
func splitReference(s string) (typ, id string, ok bool) {
	if s == "" || strings.HasPrefix(s, "#") || strings.HasPrefix(s, "urn:") || strings.Contains(s, "?") {
		return "", "", false
	}
	parts := strings.Split(s, "/")
	if n := len(parts); n >= 4 && parts[n-2] == "_history" {
		parts = parts[:n-2]
	}
	n := len(parts)
	if n < 2 {
		return "", "", false
	}
	typ, id = parts[n-2], parts[n-1]
	if !isResourceTypeName(typ) || !validID(id) {
		return "", "", false
	}
	return typ, id, true
}

// isResourceTypeName reports whether s looks like a resource type name
// (an upper-case ASCII letter, then letters).
func isResourceTypeName(s string) bool {
	if s == "" || s[0] < 'A' || s[0] > 'Z' {
		return false
	}
	for i := 1; i < len(s); i++ {
		c := s[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z') {
			return false
		}
	}
	return true
}

// validID reports whether s is a FHIR id: 1-64 of [A-Za-z0-9-.].
func validID(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

// ValidID reports whether s is a valid FHIR resource id (1 to 64 letters,
// digits, '-' and '.').
func ValidID(s string) bool { return validID(s) }
