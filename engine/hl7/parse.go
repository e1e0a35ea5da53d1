package hl7

import (
	"bytes"
	"cmp"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/encoding"
)

// ParseOptions adjust Parse.
type ParseOptions struct {
	// FallbackCharset is the character set (an HL7 table 0211 value such as
	// "8859/1", "GB 18030" or "UNICODE UTF-8") used when MSH-18 is empty.
	// Empty means ASCII/UTF-8.
	FallbackCharset string
	// Lenient skips a line that is not a segment instead of failing with
	// an error (code 100). A message's lines that are not segments are
	// mostly the rest of a segment after a line break sent unescaped, whose
	// fields would be lost without a word: only reading what is not a
	// message to process (an acknowledgement) skips them.
	Lenient bool
}

// Message is one parsed HL7 v2 message. Its text is UTF-8 whatever the wire
// character set. A Message may be read concurrently; modifying it (Set,
// SetRaw, AddSegment) needs exclusive access.
type Message struct {
	raw      []byte
	d        Delimiters
	cs       charset
	charset  string // MSH-18 as received, or the fallback used
	segments []*Segment
}

// Segment is one segment of a message.
type Segment struct {
	name string
	// line is the segment's wire text, without terminator, as parsed. It is
	// split on access; fields is nil until the segment is modified.
	line string
	// fields[0] is the segment ID. For MSH, fields[1] is the field separator
	// and fields[2] the encoding characters, so that fields[n] is always
	// field n. Values are in wire form (escaped).
	fields []string
	m      *Message
}

// newSegment returns a modifiable segment holding fields.
func newSegment(m *Message, fields []string) *Segment {
	return &Segment{name: fields[0], fields: fields, m: m}
}

// Parse parses one HL7 v2 message. raw is kept as received (Message.Raw);
// the text inside the message is UTF-8. On failure the error is a
// *ParseError.
func Parse(raw []byte) (*Message, error) {
	return ParseWithOptions(raw, ParseOptions{})
}

var utf8BOM = []byte{0xEF, 0xBB, 0xBF}

// ParseWithOptions parses one HL7 v2 message like Parse, with options.
func ParseWithOptions(raw []byte, opts ParseOptions) (*Message, error) {
	m := &Message{raw: raw}
	text, err := m.decode(raw, opts)
	if err != nil {
		return nil, err
	}
	if err := m.split(text, !opts.Lenient); err != nil {
		return nil, err
	}
	return m, nil
}

// decode finds the character set and returns the message text as UTF-8,
// trimmed of surrounding whitespace.
func (m *Message) decode(raw []byte, opts ParseOptions) (string, error) {
	body := bytes.TrimPrefix(raw, utf8BOM)
	if enc, ok := utf16Layout(body); ok {
		m.cs = charset{enc: enc}
		text, err := m.cs.decode(body)
		if err != nil {
			return "", &ParseError{Segment: "MSH", Line: 1, Field: 18, Code: CodeDataType, Err: fmt.Errorf("decode utf-16: %w", err)}
		}
		text = trimMessage(strings.TrimPrefix(text, "\ufeff"))
		m.charset = strings.TrimSpace(headerField(text[:lineEnd(text)], 18))
		if m.charset == "" {
			m.charset = "UNICODE UTF-16"
		}
		return text, nil
	}
	body = trimMessageBytes(body)
	// MSH is ASCII in every character set HL7 allows, so MSH-18 can be read
	// before the message is decoded.
	line := string(body[:lineEnd(body)])
	msh18 := strings.TrimSpace(headerField(line, 18))
	var reps []string
	if msh18 != "" {
		enc := headerField(line, 2)
		if len(enc) > 1 && strings.IndexByte(msh18, enc[1]) >= 0 {
			reps = strings.Split(msh18, enc[1:2])
		} else {
			var one [1]string
			one[0] = msh18
			reps = one[:]
		}
		if len(enc) > 0 {
			for i, r := range reps {
				r, _, _ = strings.Cut(r, enc[:1])
				reps[i] = strings.TrimSpace(r)
			}
		}
	}
	m.charset = msh18
	primary := ""
	if len(reps) > 0 {
		primary = reps[0]
	} else if opts.FallbackCharset != "" {
		primary = opts.FallbackCharset
		m.charset = opts.FallbackCharset
	}
	enc, err := lookupCharset(primary)
	if err != nil {
		return "", &ParseError{Segment: "MSH", Line: 1, Field: 18, Code: CodeTableValueNotFound, Err: err}
	}
	if enc == nil && len(reps) > 1 {
		for _, alt := range reps[1:] {
			if isJapaneseAlternate(alt) {
				enc, _ = lookupCharset(alt)
				break
			}
		}
	}
	m.cs = charset{enc: enc}
	text, err := m.cs.decode(body)
	if err != nil {
		return "", &ParseError{Segment: "MSH", Line: 1, Field: 18, Code: CodeDataType, Err: fmt.Errorf("decode %s: %w", primary, err)}
	}
	// Bytes that are not text in the character set would reach the record
	// as U+FFFD (a name no one can find): the message is refused instead.
	if at := invalidText(body, text, enc); at != "" {
		name := cmp.Or(primary, "UNICODE UTF-8")
		how := "the message's MSH-18"
		if msh18 == "" {
			how = "assumed: the message has no MSH-18"
		}
		return "", &ParseError{Segment: "MSH", Line: 1, Field: 18, Code: CodeDataType,
			Err: fmt.Errorf("%w: %s is not valid %s (%s); name the sender's character set in MSH-18 or in the listener's charset", ErrInvalidText, at, name, how)}
	}
	if enc != nil {
		text = trimMessage(text)
		if !headerConsistent(line, text[:lineEnd(text)], msh18) {
			return "", &ParseError{Segment: "MSH", Line: 1, Field: 18, Code: CodeDataType,
				Err: fmt.Errorf("character set %q: %w", primary, ErrAmbiguousHeader)}
		}
	}
	return text, nil
}

// invalidText says where body first holds bytes that are not text in its
// character set (enc; nil for UTF-8), "" when it holds none: for UTF-8 the
// byte offset of an invalid sequence; for the others, whose decoders put
// U+FFFD for what they cannot read, the segment of the first U+FFFD in text
// (body decoded) unless text encodes back to body exactly (a U+FFFD the
// sender wrote, in a set such as GB 18030 that can).
func invalidText(body []byte, text string, enc encoding.Encoding) string {
	if enc == nil {
		if utf8.Valid(body) {
			return ""
		}
		for i := 0; i < len(body); {
			r, n := utf8.DecodeRune(body[i:])
			if r == utf8.RuneError && n <= 1 {
				return "byte " + strconv.Itoa(i)
			}
			i += n
		}
		return ""
	}
	i := strings.IndexRune(text, utf8.RuneError)
	if i < 0 {
		return ""
	}
	if back, err := enc.NewEncoder().Bytes([]byte(text)); err == nil && bytes.Equal(back, body) {
		return ""
	}
	return "segment " + strconv.Itoa(1+strings.Count(text[:i], "\r"))
}

// headerConsistent reports whether the MSH line read as bytes (to find
// MSH-18) and the same line decoded have the same fields. They differ when
// a multi-byte character in MSH has a trailing byte equal to the field
// separator; MSH-18 may then have been misread.
func headerConsistent(raw, decoded, msh18 string) bool {
	ascii := true
	for i := 0; i < len(raw); i++ {
		if raw[i] >= 0x80 {
			ascii = false
			break
		}
	}
	if ascii {
		return true
	}
	if len(raw) < 4 || len(decoded) < 4 || raw[3] != decoded[3] {
		return false
	}
	return strings.Count(raw, raw[3:4]) == strings.Count(decoded, decoded[3:4]) &&
		strings.TrimSpace(headerField(decoded, 18)) == msh18
}

// headerField returns MSH field n (n ≥ 2) of the first line of text, in
// wire form, or "" when the text does not start with MSH.
func headerField(line string, n int) string {
	if len(line) < 4 || line[:3] != "MSH" {
		return ""
	}
	return nth(line[4:], line[3], n-1)
}

func lineEnd[T string | []byte](b T) int {
	for i := 0; i < len(b); i++ {
		if b[i] == '\r' || b[i] == '\n' {
			return i
		}
	}
	return len(b)
}

// isSpace reports whether c is blank between segments: white space, NUL
// padding, and the end-of-file mark (0x1A) files written on DOS and
// Windows may end with.
func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f' || c == 0 || c == 0x1a
}

// trimMessageBytes drops whitespace before the message. Blank lines after
// it are skipped with the other blank lines; blanks before the last
// terminator belong to the last segment, so that Encode and Parse agree.
func trimMessageBytes(b []byte) []byte {
	for len(b) > 0 && isSpace(b[0]) {
		b = b[1:]
	}
	return b
}

// trimMessage is trimMessageBytes for decoded text.
func trimMessage(s string) string {
	for len(s) > 0 && isSpace(s[0]) {
		s = s[1:]
	}
	return s
}

// split reads the delimiters and cuts text into segments and fields.
func (m *Message) split(text string, strict bool) error {
	if len(text) < 4 || text[:3] != "MSH" {
		err := ErrNoHeader
		if strings.HasPrefix(text, "FHS") || strings.HasPrefix(text, "BHS") {
			err = fmt.Errorf("%w: a batch (FHS/BHS) is not accepted here, send each message on its own", ErrNoHeader)
		}
		return &ParseError{Segment: "MSH", Line: 1, Code: CodeSegmentSequence, Err: err}
	}
	fs := text[3]
	encEnd := 4
	for encEnd < len(text) && text[encEnd] != fs && text[encEnd] != '\r' && text[encEnd] != '\n' {
		encEnd++
	}
	d, err := parseDelimiters(fs, text[4:encEnd])
	if err != nil {
		field := 2
		if !validDelimiterChar(fs) {
			field = 1
		}
		return &ParseError{Segment: "MSH", Line: 1, Field: field, Code: CodeDataType, Err: err}
	}
	m.d = d

	// One allocation for all segments; fields are found on access.
	nLines := strings.Count(text, "\r")
	if nLines == 0 {
		nLines = strings.Count(text, "\n")
	}
	block := make([]Segment, 0, nLines+1)

	nextCR, nextLF := -2, -2 // -2: not searched yet
	line := 0
	for pos := 0; pos < len(text); {
		if nextCR != -1 && nextCR < pos {
			nextCR = indexFrom(text, '\r', pos)
		}
		if nextLF != -1 && nextLF < pos {
			nextLF = indexFrom(text, '\n', pos)
		}
		end := len(text)
		if nextCR >= 0 {
			end = nextCR
		}
		if nextLF >= 0 && nextLF < end {
			end = nextLF
		}
		s := text[pos:end]
		pos = end + 1
		for len(s) > 0 && (s[0] == ' ' || s[0] == '\t') {
			s = s[1:]
		}
		if len(s) == 0 || isBlank(s) {
			continue
		}
		line++
		if !isSegmentStart(s, fs) {
			if strict {
				return &ParseError{Line: line, Code: CodeSegmentSequence, Err: fmt.Errorf("line %d: %w (it does not start with a segment ID and the field separator: a line break inside a field must be sent escaped, as \\.br\\)", line, ErrSegment)}
			}
			line--
			continue
		}
		block = append(block, Segment{name: s[:3], line: s, m: m})
	}
	m.segments = make([]*Segment, len(block))
	for i := range block {
		m.segments[i] = &block[i]
	}
	return nil
}

func isBlank(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isSpace(s[i]) {
			return false
		}
	}
	return true
}

func indexFrom(s string, c byte, from int) int {
	i := strings.IndexByte(s[from:], c)
	if i < 0 {
		return -1
	}
	return from + i
}

// appendFields appends the fields of s split on fs.
func appendFields(arena []string, s string, fs byte) []string {
	for {
		i := strings.IndexByte(s, fs)
		if i < 0 {
			return append(arena, s)
		}
		arena = append(arena, s[:i])
		s = s[i+1:]
	}
}

// isSegmentStart reports whether s starts with a segment ID followed by the
// field separator or the end of the line.
func isSegmentStart(s string, fs byte) bool {
	return len(s) >= 3 && ValidID(s[:3]) && (len(s) == 3 || s[3] == fs)
}

// ValidID reports whether s is written as HL7 writes segment IDs and
// message codes and trigger events: three characters, an upper-case letter
// then upper-case letters or digits ("PID", "ADT", "A01").
func ValidID(s string) bool {
	if len(s) != 3 || s[0] < 'A' || s[0] > 'Z' {
		return false
	}
	for i := 1; i < 3; i++ {
		if c := s[i]; (c < 'A' || c > 'Z') && (c < '0' || c > '9') {
			return false
		}
	}
	return true
}

// Raw returns the bytes the message was parsed from, as received. Do not
// modify them.
func (m *Message) Raw() []byte { return m.raw }

// Delimiters returns the message's delimiters.
func (m *Message) Delimiters() Delimiters { return m.d }

// Charset returns MSH-18 as received, or the fallback character set that was
// used because MSH-18 was empty; "" means ASCII/UTF-8 by default.
func (m *Message) Charset() string { return m.charset }

// Segments returns the message's segments in order. The slice is shared;
// do not modify it.
func (m *Message) Segments() []*Segment { return m.segments }

// Segment returns the n-th (1-based) segment named name, or nil.
func (m *Message) Segment(name string, n int) *Segment {
	if n < 1 {
		n = 1
	}
	for _, s := range m.segments {
		if s.name == name {
			n--
			if n == 0 {
				return s
			}
		}
	}
	return nil
}

// SegmentsNamed returns every segment named name, in order.
func (m *Message) SegmentsNamed(name string) []*Segment {
	var out []*Segment
	for _, s := range m.segments {
		if s.name == name {
			out = append(out, s)
		}
	}
	return out
}

// Name returns the segment ID, such as "PID".
func (s *Segment) Name() string { return s.name }

// FieldCount returns the number of the segment's last field present on the
// wire (for MSH, counting MSH-1 and MSH-2).
func (s *Segment) FieldCount() int {
	if s.fields != nil {
		return len(s.fields) - 1
	}
	n := strings.Count(s.line, string(s.m.d.Field))
	if s.name == "MSH" {
		n++
	}
	return n
}

// rawField returns field n in wire form, or "".
func (s *Segment) rawField(n int) string {
	if n < 1 {
		return ""
	}
	if s.fields != nil {
		if n >= len(s.fields) {
			return ""
		}
		return s.fields[n]
	}
	if s.name == "MSH" {
		if n == 1 {
			return s.line[3:4]
		}
		return nth(s.line, s.m.d.Field, n)
	}
	return nth(s.line, s.m.d.Field, n+1)
}

// materialize splits the segment into fields so that it can be modified.
func (s *Segment) materialize() {
	if s.fields != nil {
		return
	}
	if s.name == "MSH" && len(s.line) > 3 {
		s.fields = appendFields([]string{"MSH", s.line[3:4]}, s.line[4:], s.m.d.Field)
	} else {
		s.fields = appendFields(nil, s.line, s.m.d.Field)
	}
	s.line = ""
}

// Field returns field n (1-based) with all its repetitions. For MSH, field 1
// is the field separator and field 2 the encoding characters.
func (s *Segment) Field(n int) Field {
	f := Field{raw: s.rawField(n), d: s.m.d, cs: &s.m.cs, level: levelField}
	if s.name == "MSH" && (n == 1 || n == 2) {
		f.level = levelLiteral
	}
	return f
}

// AppendFields appends fields 0 to FieldCount() of the segment to dst, so
// that field n is at dst[len(dst)+n] and equal to Field(n), and returns the
// extended slice. It splits the segment once, where reading every field with
// Field scans the segment from its start each time.
func (s *Segment) AppendFields(dst []Field) []Field {
	d, cs := s.m.d, &s.m.cs
	if s.fields != nil {
		for n := range s.fields {
			dst = append(dst, s.Field(n))
		}
		return dst
	}
	dst = append(dst, Field{d: d, cs: cs, level: levelField}) // field 0: as Field(0), empty
	line := s.line
	if i := strings.IndexByte(line, d.Field); i >= 0 {
		line = line[i+1:]
	} else {
		line = ""
		if s.name != "MSH" {
			return dst
		}
	}
	if s.name == "MSH" {
		if len(s.line) < 4 {
			return append(dst, Field{raw: "", d: d, cs: cs, level: levelLiteral})
		}
		dst = append(dst, Field{raw: s.line[3:4], d: d, cs: cs, level: levelLiteral})
		// MSH-2 is the first part after the separator, a literal too.
		i := strings.IndexByte(line, d.Field)
		if i < 0 {
			return append(dst, Field{raw: line, d: d, cs: cs, level: levelLiteral})
		}
		dst = append(dst, Field{raw: line[:i], d: d, cs: cs, level: levelLiteral})
		line = line[i+1:]
	}
	for {
		i := strings.IndexByte(line, d.Field)
		if i < 0 {
			return append(dst, Field{raw: line, d: d, cs: cs, level: levelField})
		}
		dst = append(dst, Field{raw: line[:i], d: d, cs: cs, level: levelField})
		line = line[i+1:]
	}
}

// String returns the segment in wire form, without a terminator.
func (s *Segment) String() string {
	return string(s.appendTo(nil))
}

func (s *Segment) appendTo(b []byte) []byte {
	if s.fields == nil {
		return append(b, s.line...)
	}
	b = append(b, s.fields[0]...)
	first := 1
	if s.name == "MSH" && len(s.fields) > 1 {
		first = 2
	}
	for _, f := range s.fields[first:] {
		b = append(b, s.m.d.Field)
		b = append(b, f...)
	}
	return b
}
