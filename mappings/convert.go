package mappings

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/carebridge/carebridge/engine/hl7"
)

// convert turns a source value into the FHIR primitive As names. A false
// second result with a nil error means "no value" (the row sets nothing).
func (st *mapState) convert(f hl7.Field, as string, r *compiledRow) (any, bool, error) {
	text := leafText(f)
	switch as {
	case "", "string":
		return text, text != "", nil
	case "code":
		text = strings.TrimSpace(text)
		return text, text != "", nil
	case "date", "dateTime", "instant":
		return st.convertTime(text, as, r)
	case "decimal":
		t, ok := decimalText(text)
		if !ok {
			return nil, false, errors.New("not a number")
		}
		return json.Number(t), true, nil
	case "integer", "positiveInt", "unsignedInt":
		n, err := strconv.Atoi(strings.TrimSpace(text))
		if err != nil {
			return nil, false, errors.New("not a whole number")
		}
		if (as == "positiveInt" && n < 1) || (as == "unsignedInt" && n < 0) {
			return nil, false, fmt.Errorf("not a %s", as)
		}
		return n, true, nil
	case "boolean":
		switch strings.ToUpper(strings.TrimSpace(text)) {
		case "Y", "YES", "TRUE", "T", "1":
			return true, true, nil
		case "N", "NO", "FALSE", "F", "0":
			return false, true, nil
		}
		return nil, false, errors.New("not a yes/no value")
	case "identifierSystem":
		return st.identifierSystem(f, r), true, nil
	}
	return nil, false, fmt.Errorf("unknown conversion %q", as)
}

// decimalText reads an HL7 NM value (an optional sign, digits, an optional
// decimal point and digits; no exponent) as the text of a JSON number with
// the same decimal places: "+020.50" → "20.50", "-.5" → "-0.5", "20." →
// "20", "-0.00" → "0.00".
func decimalText(s string) (string, bool) {
	s = strings.TrimSpace(s)
	neg := false
	if s != "" && (s[0] == '+' || s[0] == '-') {
		neg, s = s[0] == '-', s[1:]
	}
	whole, frac, _ := strings.Cut(s, ".")
	if whole == "" && frac == "" || !allDigits(whole) || !allDigits(frac) {
		return "", false
	}
	whole = strings.TrimLeft(whole, "0")
	if whole == "" {
		whole = "0"
	}
	out := whole
	if frac != "" {
		out += "." + frac
	}
	if neg && strings.Trim(whole+frac, "0") != "" { // no "-0"
		out = "-" + out
	}
	return out, true
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// leafText is the text of a value: its first part's when composite (with
// whatever delimiters the message uses). A value without structure is a
// leaf, whose String is its Text: Text does not look for structure again.
func leafText(f hl7.Field) string {
	if f.HasStructure() {
		return leafText(f.Component(1))
	}
	return f.Text()
}

func (st *mapState) convertTime(text, as string, r *compiledRow) (any, bool, error) {
	t, err := hl7.ParseTime(text, st.profile.loc)
	if err != nil {
		return nil, false, errors.New("not a valid HL7 date/time") // hl7's error quotes the value
	}
	if t.IsZero() {
		return nil, false, nil
	}
	if as == "instant" && t.Precision <= hl7.PrecisionDay {
		st.warn("imprecise-time", r, "an instant needs a time of day; only a date was sent: left out")
		return nil, false, nil
	}
	if as == "date" || t.Precision <= hl7.PrecisionDay {
		return formatDate(t), true, nil
	}
	if !t.HasOffset && st.profile.loc == nil {
		if as == "instant" {
			st.warn("no-timezone", r, fmt.Sprintf("time without offset and no time zone for sender %s: an instant cannot be written, left out (set timezone in its profile)", st.profile.file.Sender))
			return nil, false, nil
		}
		st.warn("no-timezone", r, fmt.Sprintf("time without offset and no time zone for sender %s: kept as a date only (set timezone in its profile)", st.profile.file.Sender))
		return formatDate(t), true, nil
	}
	tm := t.Time
	layout := "2006-01-02T15:04:05"
	switch t.Precision {
	case hl7.PrecisionHour, hl7.PrecisionMinute:
		// FHIR needs seconds once there is a time.
	case hl7.PrecisionTenthSecond:
		layout += ".0"
	case hl7.PrecisionHundredthSecond:
		layout += ".00"
	case hl7.PrecisionMillisecond:
		layout += ".000"
	case hl7.PrecisionTenthMillisecond:
		layout += ".0000"
	}
	layout += "Z07:00"
	return tm.Format(layout), true, nil
}

func formatDate(t hl7.Time) string {
	switch t.Precision {
	case hl7.PrecisionYear:
		return t.Time.Format("2006")
	case hl7.PrecisionMonth:
		return t.Time.Format("2006-01")
	}
	return t.Time.Format("2006-01-02")
}

// identifierSystem maps an assigning authority (an HD: namespace ID,
// universal ID, universal ID type) to an identifier system URI: the sender
// profile's registry first, then the universal ID itself (an OID or a URI),
// then a stable URN naming the namespace, with a warning. A missing
// authority takes the profile's default.
func (st *mapState) identifierSystem(f hl7.Field, r *compiledRow) string {
	ns, uid, uidType := f.Component(1).String(), f.Component(2).String(), strings.ToUpper(f.Component(3).String())
	if ns == "" && uid == "" {
		ns = st.profile.file.DefaultAssigningAuthority
		if ns == "" {
			for _, p := range st.set.senders {
				if p.file.Sender == "default" {
					ns = p.file.DefaultAssigningAuthority
				}
			}
		}
		if ns == "" {
			// No authority at all: the identifier is only unique within
			// its sender. Scope it to the sender rather than leave it
			// without system (where two senders' "123" would be one).
			sender := urnPart(st.senderV["application"]) + "^" + urnPart(st.senderV["facility"])
			st.warn("no-authority", r, fmt.Sprintf("identifier without assigning authority and no default_assigning_authority for sender %s: scoped to the sender (urn:carebridge:sender:%s)", st.profile.file.Sender, sender))
			return "urn:carebridge:sender:" + sender
		}
	}
	// The registry is keyed by authority, or by authority and identifier
	// type ("GENHOSP^VN") when one authority issues several kinds of numbers;
	// the type is the one the datatype map already wrote on the identifier.
	typ := ""
	if st.curObj != nil {
		typ = identifierTypeCode(st.curObj)
	}
	for _, key := range []string{ns, uid} {
		if key == "" {
			continue
		}
		keys := []string{key}
		if typ != "" {
			keys = []string{key + "^" + typ, key}
		}
		for _, k := range keys {
			if uri, ok := st.profile.file.IdentifierSystems[k]; ok {
				return uri
			}
			if uri, ok := st.defaultProfile().file.IdentifierSystems[k]; ok {
				return uri
			}
		}
	}
	switch {
	case uid != "" && (uidType == "ISO" || isOID(uid)):
		return "urn:oid:" + uid
	case uid != "" && (uidType == "URI" || uidType == "URL" || strings.Contains(uid, ":")):
		return uid
	case uid != "" && uidType == "UUID":
		return "urn:uuid:" + strings.ToLower(uid)
	}
	name := ns
	if name == "" {
		name = uid
	}
	st.warn("unregistered-authority", r, fmt.Sprintf("assigning authority %q of sender %s is not in identifier_systems: using urn:carebridge:authority:%s", name, st.profile.file.Sender, urnPart(name)))
	return "urn:carebridge:authority:" + urnPart(name)
}

func isOID(s string) bool {
	if s == "" || s[0] < '0' || s[0] > '2' {
		return false
	}
	for i := 0; i < len(s); i++ {
		if (s[i] < '0' || s[i] > '9') && s[i] != '.' {
			return false
		}
	}
	return strings.Count(s, ".") >= 2
}

// urnPart makes s safe inside a URN.
func urnPart(s string) string {
	var b strings.Builder
	for _, c := range s {
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_' {
			b.WriteRune(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

// codeEntry is a code map's target for one code, with the values a
// conversion writes boxed once at load.
type codeEntry struct {
	t             codeTarget
	system        string // t.System, else the code map's target
	code, display any    // display nil when empty
	systemV       any
}

func newCodeEntry(cm *codeMap, t codeTarget) *codeEntry {
	e := &codeEntry{t: t, system: t.System, code: t.Code}
	if e.system == "" {
		e.system = cm.target
	}
	e.systemV = e.system
	if t.Display != "" {
		e.display = t.Display
	}
	return e
}

// entries boxes the targets of codes for cm.
func codeEntries(cm *codeMap, codes map[string]codeTarget) map[string]*codeEntry {
	out := make(map[string]*codeEntry, len(codes))
	for code, t := range codes {
		out[code] = newCodeEntry(cm, t)
	}
	return out
}

// lookupCode finds code in cm, the sender's overlay first.
func (st *mapState) lookupCode(cm *codeMap, code string) (*codeEntry, bool) {
	if ov, ok := st.profile.entries[cm.name]; ok {
		if e, ok := ov[code]; ok {
			return e, true
		}
	}
	e, ok := cm.entries[code]
	return e, ok
}

// convertCode maps a coded value through cm as the row asks.
func (st *mapState) convertCode(f hl7.Field, cm *codeMap, as string, r *compiledRow) (any, bool, error) {
	code := strings.TrimSpace(leafText(f))
	if code == "" {
		return nil, false, nil
	}
	text := f.Component(2).String()
	origSystem, origSystemV := cm.source, cm.sourceV
	if sys := f.Component(3).String(); sys != "" && !strings.HasPrefix(strings.ToUpper(sys), "HL7") {
		origSystem, origSystemV = sys, nil
	}
	// The original coding: kept when the code is unmapped, or next to the
	// mapped one in a CodeableConcept when they differ.
	original := func() *node {
		o := st.arena.node(3) // members in key order
		o.ms = append(o.ms, member{"code", code})
		if text != "" {
			o.ms = append(o.ms, member{"display", text})
		}
		if origSystem != "" {
			if origSystemV == nil {
				origSystemV = origSystem
			}
			o.ms = append(o.ms, member{"system", origSystemV})
		}
		return o
	}
	e, ok := st.lookupCode(cm, code)
	if !ok {
		if st.profile.failCode {
			return nil, false, fmt.Errorf("code %q is not in code map %s (sender %s fails on unmapped codes)", code, cm.name, st.profile.file.Sender)
		}
		switch as {
		case "coding":
			st.warn("unmapped-code", r, fmt.Sprintf("code %q is not in code map %s: kept as the original coding", code, cm.name))
			return original(), true, nil
		case "codeableConcept":
			st.warn("unmapped-code", r, fmt.Sprintf("code %q is not in code map %s: kept as the original coding", code, cm.name))
			return codeableConcept(&st.arena, text, original()), true, nil
		}
		// A bare code cannot keep an unmapped value: a raw v2 code would be
		// invalid FHIR.
		st.warn("unmapped-code", r, fmt.Sprintf("code %q is not in code map %s: this row writes nothing to %s (a raw v2 code there would not be valid FHIR)", code, cm.name, r.to))
		return nil, false, nil
	}
	if as != "coding" && as != "codeableConcept" {
		return e.code, true, nil
	}
	mapped := st.arena.node(3) // members in key order
	mapped.ms = append(mapped.ms, member{"code", e.code})
	if e.display != nil {
		mapped.ms = append(mapped.ms, member{"display", e.display})
	}
	mapped.ms = append(mapped.ms, member{"system", e.systemV})
	if as == "coding" {
		return mapped, true, nil
	}
	if origSystem != e.system || code != e.t.Code {
		return codeableConcept(&st.arena, text, mapped, original()), true, nil
	}
	return codeableConcept(&st.arena, text, mapped), true, nil
}

// codeableConcept makes a CodeableConcept of codings and text.
func codeableConcept(a *arena, text string, codings ...any) *node {
	cc := a.node(2) // members in key order
	l := a.list()
	l.els = append(l.els, codings...)
	cc.ms = append(cc.ms, member{"coding", l})
	if text != "" {
		cc.ms = append(cc.ms, member{"text", text})
	}
	return cc
}
