package fhirvalid

import (
	"bytes"
	"encoding/json"
	"unicode/utf8"
)

// The fast path reads the JSON bytes once against the compiled schema and
// answers only "certainly valid" (true) or "not known to be valid" (false).
// It is exact about the first: every document it accepts, the full path
// accepts too. Anything it does not model makes it answer false, and the
// caller then runs the full path, whose verdict and messages are the ones
// returned.

// fastMaxDepth bounds element nesting on the fast path; deeper documents
// take the full path (which allows maxDepth).
const fastMaxDepth = 24

type fastScan struct {
	sc  *schema
	b   []byte
	i   int
	buf []byte // unescaped string values
}

// fastValid reports whether b is certainly a valid R4 resource (not a
// Bundle) under the full path's rules.
func (v *Validator) fastValid(b []byte) bool {
	s := fastScan{sc: v.schema, b: b}
	s.ws()
	if s.i >= len(b) || b[s.i] != '{' {
		return false
	}
	root := s.i
	rt, ok := s.memberString(root, "resourceType")
	if !ok {
		return false
	}
	e := v.schema.resources[string(rt)]
	if e == nil || !s.object(e, nil, 0) {
		return false
	}
	s.ws()
	if s.i != len(b) {
		return false
	}
	if invs := invariants[string(rt)]; len(invs) > 0 {
		r := s.members(root)
		for _, inv := range invs {
			if _, _, ok := inv(r); !ok {
				return false
			}
		}
	}
	return true
}

func (s *fastScan) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// expect consumes c after optional whitespace.
func (s *fastScan) expect(c byte) bool {
	s.ws()
	if s.i < len(s.b) && s.b[s.i] == c {
		s.i++
		return true
	}
	return false
}

// peek returns the next byte after whitespace, or 0 at the end.
func (s *fastScan) peek() byte {
	s.ws()
	if s.i < len(s.b) {
		return s.b[s.i]
	}
	return 0
}

// object reads an element's JSON object; s.i is at '{'. refTypes are the
// reference targets the holding field allows (for a Reference).
func (s *fastScan) object(e *element, refTypes []string, depth int) bool {
	if e.unsupported || depth > fastMaxDepth {
		return false
	}
	s.i++ // '{'
	var (
		seen             [maxKeys / 64]uint64
		reqSeen, choices uint64
		twins            []int // "x" indexes that "_x" keys need
		sawType          bool
		ref, start, end  []byte
		n                int
	)
	for {
		c := s.peek()
		if c == '}' {
			s.i++
			break
		}
		if n > 0 {
			if c != ',' {
				return false
			}
			s.i++
			c = s.peek()
		}
		if c != '"' {
			return false
		}
		key, esc, ok := s.str()
		if !ok || esc || !s.expect(':') {
			return false
		}
		n++
		s.ws()
		if s.i >= len(s.b) {
			return false
		}
		if e.resource && string(key) == "resourceType" {
			// The type was found before the object was read; only a
			// string (no duplicate) is possible here.
			if sawType || s.b[s.i] != '"' {
				return false
			}
			sawType = true
			if _, _, ok := s.str(); !ok {
				return false
			}
			continue
		}
		f := e.fields[string(key)]
		if f == nil {
			return false
		}
		w, bit := f.index/64, uint64(1)<<(f.index%64)
		if seen[w]&bit != 0 {
			return false // duplicate property
		}
		seen[w] |= bit
		if f.choice != 0 {
			if choices&f.choice != 0 {
				return false // two values for one choice[x]
			}
			choices |= f.choice
		}
		reqSeen |= f.reqBit
		if f.twin != 0 {
			twins = append(twins, f.twin-1)
		}
		if f.repeated {
			if s.b[s.i] != '[' {
				return false
			}
			s.i++
			for k := 0; ; k++ {
				c := s.peek()
				if c == ']' {
					if k == 0 {
						return false // empty array
					}
					s.i++
					break
				}
				if k > 0 {
					if c != ',' {
						return false
					}
					s.i++
					s.ws()
				}
				if _, ok := s.value(f, depth+1, true); !ok {
					return false
				}
			}
			continue
		}
		v, ok := s.value(f, depth+1, false)
		if !ok {
			return false
		}
		switch e.special {
		case specialReference:
			if f.key == "reference" {
				ref = v
			}
		case specialPeriod:
			switch f.key {
			case "start":
				start = v
			case "end":
				end = v
			}
		}
	}
	if n == 0 || reqSeen&e.required != e.required {
		return false // empty object, or a required element missing
	}
	if e.resource && !sawType {
		return false
	}
	for _, t := range twins {
		if seen[t/64]&(uint64(1)<<(t%64)) == 0 {
			return false // "_x" without "x"
		}
	}
	switch e.special {
	case specialReference:
		if ref != nil && !s.referenceOK(ref, refTypes) {
			return false
		}
	case specialPeriod:
		if start != nil && end != nil {
			su, _, ok1 := parseDateTime(start, primDateTime)
			eu, ep, ok2 := parseDateTime(end, primDateTime)
			if !ok1 || !ok2 || !periodOrdered(su, eu, ep) {
				return false
			}
		}
	}
	return true
}

// value reads one value of field f. For a primitive string it returns its
// unescaped bytes when they are needed after the call (reference, period
// bounds), in memory the scanner does not reuse.
func (s *fastScan) value(f *field, depth int, inArray bool) ([]byte, bool) {
	if s.i >= len(s.b) {
		return nil, false
	}
	c := s.b[s.i]
	switch f.kind {
	case elemComplex:
		if c != '{' {
			return nil, false
		}
		return nil, s.object(f.msg, f.refTypes, depth)
	case elemContained:
		if c != '{' {
			return nil, false
		}
		rt, ok := s.memberString(s.i, "resourceType")
		if !ok {
			return nil, false
		}
		e := s.sc.resources[string(rt)]
		if e == nil {
			return nil, false
		}
		return nil, s.object(e, nil, depth)
	}
	switch f.prim {
	case primBoolean:
		return nil, s.literal("true") || s.literal("false")
	case primDecimal, primInteger, primPositiveInt, primUnsignedInt:
		num, ok := s.number()
		return nil, ok && numberOK(f.prim, num)
	}
	if c != '"' {
		return nil, false
	}
	raw, esc, ok := s.str()
	if !ok || len(raw) == 0 {
		return nil, false // "" is not allowed
	}
	if f.prim == primBase64 {
		return nil, !esc && s.base64OK(raw)
	}
	v := raw
	if esc {
		if v, ok = s.unescape(raw); !ok {
			return nil, false
		}
	}
	if !s.stringOK(f, v) {
		return nil, false
	}
	if f.key == "div" && !inArray && checkXHTML(string(v)) != "" {
		return nil, false
	}
	if esc {
		v = append([]byte(nil), v...) // s.buf is reused
	}
	return v, true
}

// stringOK checks a string primitive's value as jsonformat's parse and
// fhirvalidate's primitive checks would.
func (s *fastScan) stringOK(f *field, v []byte) bool {
	switch f.prim {
	case primString:
		return len(v) <= maxStringSize // control characters were refused while reading
	case primMarkdown, primXHTML, primStringCode:
		return true
	case primCode:
		return codeOK(v)
	case primEnumCode:
		_, ok := f.codes[string(v)]
		return ok
	case primID:
		return idOK(v)
	case primOID:
		return s.sc.oid.Match(v)
	case primUUID:
		return s.sc.uuid.Match(v)
	case primURI:
		return uriOK(v)
	case primDate, primDateTime, primInstant:
		_, _, ok := parseDateTime(v, f.prim)
		return ok
	case primTime:
		return timeOK(v)
	}
	return false
}

// maxStringSize is fhirvalidate's limit on a string's length.
const maxStringSize = 1024 * 1024

func (s *fastScan) literal(lit string) bool {
	if len(s.b)-s.i >= len(lit) && string(s.b[s.i:s.i+len(lit)]) == lit {
		s.i += len(lit)
		return true
	}
	return false
}

// number reads a JSON number (RFC 8259 grammar).
func (s *fastScan) number() ([]byte, bool) {
	b, i := s.b, s.i
	start := i
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && b[i] >= '1' && b[i] <= '9':
		for i < len(b) && isDigit(b[i]) {
			i++
		}
	default:
		return nil, false
	}
	if i < len(b) && b[i] == '.' {
		i++
		d := i
		for i < len(b) && isDigit(b[i]) {
			i++
		}
		if i == d {
			return nil, false
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		d := i
		for i < len(b) && isDigit(b[i]) {
			i++
		}
		if i == d {
			return nil, false
		}
	}
	s.i = i
	return b[start:i], true
}

// str reads a JSON string at s.i ('"') and returns its raw content and
// whether it holds escapes. It refuses raw control characters (invalid
// JSON) and invalid UTF-8.
func (s *fastScan) str() (raw []byte, esc, ok bool) {
	b := s.b
	i := s.i + 1
	start, ascii := i, true
	for i < len(b) {
		c := b[i]
		switch {
		case c == '"':
			raw = b[start:i]
			if !ascii && !utf8.Valid(raw) {
				return nil, false, false
			}
			s.i = i + 1
			return raw, esc, true
		case c == '\\':
			esc = true
			if i+1 >= len(b) {
				return nil, false, false
			}
			switch b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+6 > len(b) || !isHex4(b[i+2:i+6]) {
					return nil, false, false
				}
				i += 6
			default:
				return nil, false, false
			}
		case c < 0x20:
			return nil, false, false
		default:
			if c >= 0x80 {
				ascii = false
			}
			i++
		}
	}
	return nil, false, false
}

func isHex4(b []byte) bool {
	for _, c := range b {
		if hexVal(c) < 0 {
			return false
		}
	}
	return true
}

func hexVal(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'f':
		return int(c-'a') + 10
	case c >= 'A' && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

// unescape decodes the escapes of a string's raw content into s.buf. It
// refuses control characters other than tab, newline and carriage return
// (fhirvalidate refuses them in strings) and UTF-16 surrogates.
func (s *fastScan) unescape(raw []byte) ([]byte, bool) {
	out := s.buf[:0]
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		if c != '\\' {
			out = append(out, c)
			continue
		}
		i++
		switch raw[i] {
		case '"', '\\', '/':
			out = append(out, raw[i])
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			r := rune(hexVal(raw[i+1])<<12 | hexVal(raw[i+2])<<8 | hexVal(raw[i+3])<<4 | hexVal(raw[i+4]))
			i += 4
			if (r < 0x20 && r != '\t' && r != '\n' && r != '\r') || (r >= 0xD800 && r <= 0xDFFF) {
				return nil, false
			}
			out = utf8.AppendRune(out, r)
		default: // \b, \f: control characters
			return nil, false
		}
	}
	s.buf = out
	return out, true
}

// memberString finds the string value of key among the members of the
// object at b[at] ('{') without reading the values. It trusts the JSON to
// be well formed: object() checks that afterwards.
func (s *fastScan) memberString(at int, key string) ([]byte, bool) {
	t := fastScan{b: s.b, i: at + 1}
	for {
		switch t.peek() {
		case '}', 0:
			return nil, false
		case ',':
			t.i++
			t.ws()
		}
		if t.i >= len(t.b) || t.b[t.i] != '"' {
			return nil, false
		}
		k, _, ok := t.str()
		if !ok || !t.expect(':') {
			return nil, false
		}
		t.ws()
		if string(k) == key {
			if t.i >= len(t.b) || t.b[t.i] != '"' {
				return nil, false
			}
			v, esc, ok := t.str()
			return v, ok && !esc
		}
		if !t.skip() {
			return nil, false
		}
	}
}

// members returns the members of the object at b[at], which object() has
// read without finding problems (so keys hold no escapes and are unique):
// what json.Unmarshal into this map type would give.
func (s *fastScan) members(at int) map[string]json.RawMessage {
	r := map[string]json.RawMessage{}
	t := fastScan{b: s.b, i: at + 1}
	for {
		switch t.peek() {
		case '}', 0:
			return r
		case ',':
			t.i++
			t.ws()
		}
		k, _, ok := t.str()
		if !ok || !t.expect(':') {
			return r
		}
		t.ws()
		start := t.i
		if !t.skip() {
			return r
		}
		r[string(k)] = t.b[start:t.i]
	}
}

// skip passes over one JSON value without checking it (object() does).
func (s *fastScan) skip() bool {
	b := s.b
	depth := 0
	for i := s.i; i < len(b); {
		switch b[i] {
		case '"':
			// Find the closing quote: one not preceded by an odd number
			// of backslashes.
			j := i + 1
			for {
				k := bytes.IndexByte(b[j:], '"')
				if k < 0 {
					return false
				}
				j += k
				bs := 0
				for bs < j-i-1 && b[j-1-bs] == '\\' {
					bs++
				}
				j++
				if bs%2 == 0 {
					break
				}
			}
			i = j
		case '{', '[':
			depth++
			i++
		case '}', ']':
			if depth == 0 {
				s.i = i
				return true
			}
			depth--
			i++
		case ',':
			if depth == 0 {
				s.i = i
				return true
			}
			i++
		default:
			i++
		}
		if depth == 0 && i < len(b) {
			switch b[i] {
			case ',', '}', ']', ' ', '\t', '\n', '\r':
				s.i = i
				return true
			}
		}
	}
	s.i = len(b)
	return depth == 0
}
