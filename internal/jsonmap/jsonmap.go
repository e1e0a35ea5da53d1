// Package jsonmap decodes and encodes the JSON trees the record and the
// store work on (map[string]any, []any, string, json.Number, bool, nil)
// several times faster than encoding/json's reflection, with exactly
// encoding/json's results: Decode is json.Decoder.Decode with UseNumber
// into a map[string]any, Append is json.Marshal (or a json.Encoder with
// SetEscapeHTML(false), without the newline). Whatever the fast paths do
// not handle — malformed input, values of other types, an encoding error —
// is handed to encoding/json, so that results and errors stay its own.
//
// Why not a library: the two well-kept fast JSON libraries served here were
// tried against this package's differential tests on 2026-12-07 and differ
// from encoding/json where the store's bytes depend on it —
// github.com/goccy/go-json v0.10.5 (writes \b and \f as \u0008 and
// \u000c, HTML-escapes with MarshalNoEscape, accepts control characters
// and bad \u escapes in strings) and github.com/bytedance/sonic v1.15.5
// (the same escapes, U+2028 and U+2029 left raw, control characters
// accepted) — and neither decodes into map[string]any faster than this
// package (go-json 1.4–1.9× slower; sonic within the noise).
package jsonmap

import (
	"bytes"
	"encoding/json"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// Decode decodes the JSON object b as json.NewDecoder with UseNumber into
// a map[string]any does: numbers are json.Number, invalid UTF-8 becomes
// U+FFFD, a duplicate key keeps its last value, and "null" gives a nil map.
func Decode(b []byte) (map[string]any, error) {
	d := decoder{b: b}
	d.space()
	if d.i < len(b) && b[d.i] == '{' {
		if m, ok := d.object(); ok {
			// What follows the value is not read by json.Decoder.Decode;
			// anything but white space is left to it all the same.
			if d.space(); d.i == len(b) {
				return m, nil
			}
		}
	}
	return decodeStd(b)
}

func decodeStd(b []byte) (map[string]any, error) {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var m map[string]any
	if err := d.Decode(&m); err != nil {
		return nil, err
	}
	return m, nil
}

// maxDepth bounds nesting in the fast paths; deeper input goes to
// encoding/json (which has limits of its own).
const maxDepth = 1000

// decoder reads one JSON value from b at i. Its methods report !ok for
// anything they do not accept, and Decode then asks encoding/json.
type decoder struct {
	b     []byte
	i     int
	depth int
}

func (d *decoder) space() {
	for d.i < len(d.b) {
		switch d.b[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

func (d *decoder) value() (any, bool) {
	d.space()
	if d.i >= len(d.b) {
		return nil, false
	}
	switch c := d.b[d.i]; {
	case c == '{':
		m, ok := d.object()
		return m, ok
	case c == '[':
		return d.array()
	case c == '"':
		if end := d.i + 1 + bytes.IndexByte(d.b[d.i+1:], '"'); end > d.i {
			// A common value is shared, already boxed. (Common values
			// hold no backslash: the quote found is the closing one.)
			if v, ok := commonValues[string(d.b[d.i+1:end])]; ok {
				d.i = end + 1
				return v, true
			}
		}
		s, ok := d.string()
		return s, ok
	case c == '-' || c >= '0' && c <= '9':
		return d.number()
	case c == 't':
		return true, d.literal("true")
	case c == 'f':
		return false, d.literal("false")
	case c == 'n':
		return nil, d.literal("null")
	}
	return nil, false
}

func (d *decoder) literal(s string) bool {
	if !bytes.HasPrefix(d.b[d.i:], []byte(s)) {
		return false
	}
	d.i += len(s)
	return true
}

// object reads an object, d.i at its '{'.
func (d *decoder) object() (map[string]any, bool) {
	if d.depth++; d.depth > maxDepth {
		return nil, false
	}
	d.i++
	m := map[string]any{}
	d.space()
	if d.i < len(d.b) && d.b[d.i] == '}' {
		d.i++
		d.depth--
		return m, true
	}
	for {
		d.space()
		if d.i >= len(d.b) || d.b[d.i] != '"' {
			return nil, false
		}
		k, ok := d.key()
		if !ok {
			return nil, false
		}
		d.space()
		if d.i >= len(d.b) || d.b[d.i] != ':' {
			return nil, false
		}
		d.i++
		v, ok := d.value()
		if !ok {
			return nil, false
		}
		m[k] = v
		d.space()
		if d.i >= len(d.b) {
			return nil, false
		}
		switch d.b[d.i] {
		case ',':
			d.i++
		case '}':
			d.i++
			d.depth--
			return m, true
		default:
			return nil, false
		}
	}
}

// array reads an array, d.i at its '['.
func (d *decoder) array() (any, bool) {
	if d.depth++; d.depth > maxDepth {
		return nil, false
	}
	d.i++
	l := []any{}
	d.space()
	if d.i < len(d.b) && d.b[d.i] == ']' {
		d.i++
		d.depth--
		return l, true
	}
	for {
		v, ok := d.value()
		if !ok {
			return nil, false
		}
		l = append(l, v)
		d.space()
		if d.i >= len(d.b) {
			return nil, false
		}
		switch d.b[d.i] {
		case ',':
			d.i++
		case ']':
			d.i++
			d.depth--
			return l, true
		default:
			return nil, false
		}
	}
}

// key reads an object's key, d.i at its opening quote: a common element
// name is shared rather than allocated. (Element names hold no backslash:
// the quote found is the closing one.)
func (d *decoder) key() (string, bool) {
	if end := d.i + 1 + bytes.IndexByte(d.b[d.i+1:], '"'); end > d.i {
		if k, ok := commonKeys[string(d.b[d.i+1:end])]; ok {
			d.i = end + 1
			return k, true
		}
	}
	return d.string()
}

// string reads a string, d.i at its opening quote.
func (d *decoder) string() (string, bool) {
	start := d.i + 1
	plain := true // no escapes and nothing but ASCII
	for j := start; j < len(d.b); j++ {
		if plainInString[d.b[j]] {
			continue
		}
		switch c := d.b[j]; {
		case c == '"':
			d.i = j + 1
			s := d.b[start:j]
			if plain || utf8.Valid(s) && !hasEscape(s) {
				return string(s), true
			}
			return unquote(s)
		case c == '\\':
			plain = false
			j++ // the escaped character: never the closing quote
		case c < 0x20:
			return "", false
		case c >= utf8.RuneSelf:
			plain = false
		}
	}
	return "", false
}

// plainInString are the bytes a string's content may have that neither
// end it, nor escape, nor need a look at their encoding.
var plainInString = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

func hasEscape(s []byte) bool { return bytes.IndexByte(s, '\\') >= 0 }

// unquote is encoding/json's unquoting of a string's content (between the
// quotes) with escapes or non-ASCII bytes.
func unquote(s []byte) (string, bool) {
	out := make([]byte, 0, len(s)+2*utf8.UTFMax)
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == '\\':
			i++
			if i >= len(s) {
				return "", false
			}
			switch s[i] {
			case '"', '\\', '/':
				out = append(out, s[i])
				i++
			case 'b':
				out = append(out, '\b')
				i++
			case 'f':
				out = append(out, '\f')
				i++
			case 'n':
				out = append(out, '\n')
				i++
			case 'r':
				out = append(out, '\r')
				i++
			case 't':
				out = append(out, '\t')
				i++
			case 'u':
				rr := hex4(s[i+1:])
				if rr < 0 {
					return "", false
				}
				i += 5
				if utf16.IsSurrogate(rr) {
					// A pair makes one rune; anything else is replaced.
					if i+1 < len(s) && s[i] == '\\' && s[i+1] == 'u' {
						if rr1 := hex4(s[i+2:]); rr1 >= 0 {
							if dec := utf16.DecodeRune(rr, rr1); dec != utf8.RuneError {
								out = utf8.AppendRune(out, dec)
								i += 6
								continue
							}
						} else {
							return "", false
						}
					}
					rr = utf8.RuneError
				}
				out = utf8.AppendRune(out, rr)
			default:
				return "", false
			}
		case c < 0x20:
			return "", false
		case c < utf8.RuneSelf:
			out = append(out, c)
			i++
		default:
			r, size := utf8.DecodeRune(s[i:])
			i += size
			out = utf8.AppendRune(out, r) // invalid UTF-8: U+FFFD
		}
	}
	return string(out), true
}

// hex4 is the value of four hex digits at the start of s, -1 if not.
func hex4(s []byte) rune {
	if len(s) < 4 {
		return -1
	}
	var r rune
	for _, c := range s[:4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			c = c - 'A' + 10
		default:
			return -1
		}
		r = r*16 + rune(c)
	}
	return r
}

// number reads a number (JSON's grammar) as a json.Number.
func (d *decoder) number() (any, bool) {
	b, i := d.b, d.i
	if b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && b[i] >= '1' && b[i] <= '9':
		for i++; i < len(b) && isDigit(b[i]); i++ {
		}
	default:
		return nil, false
	}
	if i < len(b) && b[i] == '.' {
		i++
		if i >= len(b) || !isDigit(b[i]) {
			return nil, false
		}
		for i++; i < len(b) && isDigit(b[i]); i++ {
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if i >= len(b) || !isDigit(b[i]) {
			return nil, false
		}
		for i++; i < len(b) && isDigit(b[i]); i++ {
		}
	}
	n := json.Number(b[d.i:i])
	d.i = i
	return n, true
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// Append appends the JSON encoding of v to b: json.Marshal's bytes with
// escapeHTML, else those of a json.Encoder with SetEscapeHTML(false)
// (without its newline). Maps are encoded with their keys sorted.
func Append(b []byte, v any, escapeHTML bool) ([]byte, error) {
	e := encoder{html: escapeHTML}
	if out, ok := e.value(b, v); ok {
		return out, nil
	}
	return appendStd(b, v, escapeHTML)
}

func appendStd(b []byte, v any, escapeHTML bool) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(escapeHTML)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return append(b, bytes.TrimSuffix(buf.Bytes(), []byte("\n"))...), nil
}

// encoder is Append's fast path; !ok hands the whole value to
// encoding/json (a type it does not know, an error).
type encoder struct {
	html  bool
	depth int
	keys  []string // scratch for sorting an object's keys
}

func (e *encoder) value(b []byte, v any) ([]byte, bool) {
	switch x := v.(type) {
	case nil:
		return append(b, "null"...), true
	case string:
		return appendString(b, x, e.html), true
	case map[string]any:
		if x == nil {
			return append(b, "null"...), true
		}
		return e.object(b, x)
	case []any:
		if x == nil {
			return append(b, "null"...), true
		}
		if e.depth++; e.depth > maxDepth {
			return nil, false
		}
		b = append(b, '[')
		for i, el := range x {
			if i > 0 {
				b = append(b, ',')
			}
			var ok bool
			if b, ok = e.value(b, el); !ok {
				return nil, false
			}
		}
		e.depth--
		return append(b, ']'), true
	case bool:
		return strconv.AppendBool(b, x), true
	case json.Number:
		s := string(x)
		if s == "" {
			s = "0" // as encoding/json
		}
		if !validNumber(s) {
			return nil, false
		}
		return append(b, s...), true
	case float64:
		if math.IsInf(x, 0) || math.IsNaN(x) {
			return nil, false
		}
		return appendFloat(b, x), true
	}
	// Another type (rare): encoding/json encodes it as it would inside
	// the whole value.
	out, err := appendStd(b, v, e.html)
	return out, err == nil
}

func (e *encoder) object(b []byte, m map[string]any) ([]byte, bool) {
	if e.depth++; e.depth > maxDepth {
		return nil, false
	}
	mark := len(e.keys)
	for k := range m {
		e.keys = append(e.keys, k)
	}
	keys := e.keys[mark:]
	slices.SortFunc(keys, strings.Compare)
	b = append(b, '{')
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, k, e.html)
		b = append(b, ':')
		var ok bool
		if b, ok = e.value(b, m[k]); !ok {
			return nil, false
		}
	}
	e.keys = e.keys[:mark]
	e.depth--
	return append(b, '}'), true
}

// appendFloat formats f as encoding/json does (as ES6 converts numbers to
// strings).
func appendFloat(b []byte, f float64) []byte {
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' {
		// e-09 → e-9
		if n := len(b); n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b
}

// validNumber reports whether s is a JSON number.
func validNumber(s string) bool {
	d := decoder{b: []byte(s)}
	if _, ok := d.number(); !ok {
		return false
	}
	return d.i == len(s)
}

const hexDigits = "0123456789abcdef"

// safeSet and htmlSafeSet are the bytes appendString copies as they are
// (ASCII only: other bytes are looked at as UTF-8), without and with HTML
// escaping.
var safeSet, htmlSafeSet = func() (t, h [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
		h[c] = t[c] && c != '<' && c != '>' && c != '&'
	}
	return t, h
}()

// appendString is encoding/json's string encoding, quoted.
func appendString(b []byte, s string, html bool) []byte {
	b = append(b, '"')
	return append(AppendStringBody(b, s, html), '"')
}

// AppendStringBody appends s as encoding/json writes it inside a string's
// quotes: '"', '\\' and control characters escaped, with html also '<',
// '>' and '&'; U+2028 and U+2029 escaped; invalid UTF-8 as \ufffd. (The
// mappings' Bundle encoder writes its strings with it too.)
func AppendStringBody(b []byte, s string, html bool) []byte {
	safe := &safeSet
	i := 0
	if html {
		safe = &htmlSafeSet
	} else if i = plainPrefix(s); i == len(s) {
		return append(b, s...) // the common case: nothing to escape
	}
	start := 0
	for i < len(s) {
		c := s[i]
		if safe[c] {
			i++
			continue
		}
		if c < utf8.RuneSelf {
			b = append(b, s[start:i]...)
			switch c {
			case '\\', '"':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	return append(b, s[start:]...)
}

// plainPrefix is the length of the longest prefix of s that needs no
// escaping (without HTML escaping), tested eight bytes at a time (most
// values and every element name need none).
func plainPrefix(s string) int {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	i := 0
	for ; i+8 <= len(s); i += 8 {
		t := s[i : i+8] // one bounds check; the compiler makes one load of it
		w := uint64(t[0]) | uint64(t[1])<<8 | uint64(t[2])<<16 | uint64(t[3])<<24 |
			uint64(t[4])<<32 | uint64(t[5])<<40 | uint64(t[6])<<48 | uint64(t[7])<<56
		// A high bit set in special marks a byte ≥ 0x80 (w itself), one
		// < 0x20 (its subtraction borrows; bytes ≥ 0xa0 too, already
		// marked), or a '"' or '\\' (a zero byte after the xor).
		quote, backslash := w^(ones*'"'), w^(ones*'\\')
		special := w | (w - ones*0x20) | (quote-ones)&^quote | (backslash-ones)&^backslash
		if special&highs != 0 {
			break
		}
	}
	for i < len(s) && safeSet[s[i]] {
		i++
	}
	return i
}

// commonKeys are FHIR element names: decoded, each is one shared string
// rather than a string allocated per occurrence.
var commonKeys = func() map[string]string {
	m := map[string]string{}
	for _, k := range strings.Fields(`resourceType id meta versionId lastUpdated tag extension url
		valueDateTime valueString valueCode valueCoding valueReference valueMoney valueDecimal valueBoolean
		system code display coding text value type use reference identifier status period start end
		subject patient encounter name family given prefix suffix telecom rank address line city district
		state postalCode country gender birthDate active link other class location participant individual
		actor account category condition clinicalStatus verificationStatus criticality reaction
		manifestation severity relationship serviceType reasonCode diagnosis communication language
		preferred maritalStatus contact assigner managingOrganization serviceProvider hospitalization
		statusHistory classHistory priority appointment minutesDuration description focus for intent
		authoredOn input currency amount quantity context occurrenceDateTime performer entered enteredDate
		payment paymentAmount detail onsetDateTime recordedDate note deceasedBoolean deceasedDateTime
		multipleBirthBoolean multipleBirthInteger generalPractitioner partOf physicalType mode alias`) {
		m[k] = k
	}
	return m
}()

// commonValues are values FHIR resources repeat (code systems, the
// record's extension and tag systems, frequent codes), boxed once.
var commonValues = func() map[string]any {
	m := map[string]any{}
	for _, v := range strings.Fields(`official usual home work mobile temp old phone email fax sms
		male female unknown other true false active inactive completed in-progress finished planned
		cancelled arrived booked fulfilled billable entered-in-error
		http://terminology.hl7.org/CodeSystem/v2-0203 http://terminology.hl7.org/CodeSystem/v3-ActCode
		http://terminology.hl7.org/CodeSystem/v3-ParticipationType http://terminology.hl7.org/CodeSystem/v3-MaritalStatus
		http://terminology.hl7.org/CodeSystem/condition-category http://terminology.hl7.org/CodeSystem/condition-clinical
		http://terminology.hl7.org/CodeSystem/v2-0131 http://terminology.hl7.org/CodeSystem/v3-RoleCode
		http://hl7.org/fhir/sid/icd-10 urn:ietf:bcp:47 urn:iso:std:iso:3166
		https://carebridge.dev/fhir/StructureDefinition/event-time https://carebridge.dev/fhir/CodeSystem/hl7v2-event
		https://carebridge.dev/fhir/CodeSystem/named-patient https://carebridge.dev/fhir/StructureDefinition/account-balance
		https://carebridge.dev/fhir/StructureDefinition/account MR VN AN NI PI PRN WPN IMP AMB EMER ATND ADM`) {
		m[v] = v
	}
	return m
}()
