package hl7

import (
	"fmt"
	"strings"
)

// NewMessage returns a message holding only an MSH segment with MSH-1 and
// MSH-2 set from d (DefaultDelimiters when d is the zero value). Fill it
// with Set and AddSegment; it is encoded as UTF-8.
func NewMessage(d Delimiters) *Message {
	if d == (Delimiters{}) {
		d = DefaultDelimiters()
	}
	m := &Message{d: d}
	m.segments = []*Segment{newSegment(m, []string{"MSH", string(d.Field), d.EncodingCharacters()})}
	return m
}

// Encode returns the message in wire form: every segment terminated by a
// CR, in the character set the message was parsed with (UTF-8 for a
// NewMessage). For a well-formed message with CR terminators, Encode returns
// the bytes that were parsed, with a final CR; a leading byte order mark,
// whitespace before MSH, blank lines, blanks before segment names and lines
// skipped by Parse are not written, and LF or CRLF terminators become CR.
func (m *Message) Encode() []byte {
	n := 0
	for _, s := range m.segments {
		n += len(s.line) + 1 + len(s.fields)
		for _, f := range s.fields {
			n += len(f)
		}
	}
	b := make([]byte, 0, n)
	for _, s := range m.segments {
		b = s.appendTo(b)
		b = append(b, '\r')
	}
	return m.cs.encode(b)
}

// AddSegment appends a segment named name with the given field values,
// escaped for the message's delimiters: values[0] is field 1 (for MSH,
// values start at MSH-3). Use Set or SetRaw to fill components and
// repetitions.
func (m *Message) AddSegment(name string, values ...string) *Segment {
	fields := make([]string, 0, len(values)+3)
	fields = append(fields, name)
	if name == "MSH" {
		fields = append(fields, string(m.d.Field), m.d.EncodingCharacters())
	}
	for _, v := range values {
		fields = append(fields, EscapeText(v, m.d))
	}
	s := newSegment(m, fields)
	m.segments = append(m.segments, s)
	return s
}

// Set stores text at a terser path, escaped for the message's delimiters.
// Missing repetitions, components and fields are created; a segment
// occurrence one past the last is appended. MSH-1 and MSH-2 cannot be set.
func (m *Message) Set(path, text string) error {
	p, err := CompilePath(path)
	if err != nil {
		return err
	}
	return m.SetPath(p, EscapeText(text, m.d))
}

// SetRaw is Set for a value already in wire form: its delimiters are kept,
// so it may hold components or repetitions.
func (m *Message) SetRaw(path, raw string) error {
	p, err := CompilePath(path)
	if err != nil {
		return err
	}
	return m.SetPath(p, raw)
}

// SetPath stores raw, a value in wire form, at p.
func (m *Message) SetPath(p Path, raw string) error {
	seg := m.Segment(p.Segment, p.Occurrence)
	if seg == nil {
		occ := max(p.Occurrence, 1)
		if len(m.SegmentsNamed(p.Segment)) != occ-1 {
			return fmt.Errorf("set %s: segment occurrence %d does not exist: %w", p, occ, ErrInvalidPath)
		}
		seg = m.AddSegment(p.Segment)
	}
	return seg.setPath(p, raw)
}

func (s *Segment) setPath(p Path, raw string) error {
	if s.name == "MSH" && p.Field <= 2 {
		return fmt.Errorf("set %s: MSH-1 and MSH-2 hold the delimiters: %w", p, ErrInvalidPath)
	}
	s.materialize()
	for len(s.fields) <= p.Field {
		s.fields = append(s.fields, "")
	}
	d := s.m.d
	v := s.fields[p.Field]
	if p.Repetition == 0 && p.Component == 0 {
		s.fields[p.Field] = raw
		return nil
	}
	rep := max(p.Repetition, 1)
	r := nth(v, d.Repetition, rep)
	if p.Component > 0 {
		c := nth(r, d.Component, p.Component)
		if p.SubComponent > 0 {
			c = setPart(c, d.SubComponent, p.SubComponent, raw)
		} else {
			c = raw
		}
		r = setPart(r, d.Component, p.Component, c)
	} else {
		r = raw
	}
	s.fields[p.Field] = setPart(v, d.Repetition, rep, r)
	return nil
}

// setPart replaces part n (1-based) of s split on sep with v, adding empty
// parts when s has fewer.
func setPart(s string, sep byte, n int, v string) string {
	if sep == 0 {
		return v
	}
	start := 0
	for i := 1; i < n; i++ {
		j := strings.IndexByte(s[start:], sep)
		if j < 0 {
			return s + strings.Repeat(string(sep), n-i) + v
		}
		start += j + 1
	}
	end := len(s)
	if j := strings.IndexByte(s[start:], sep); j >= 0 {
		end = start + j
	}
	return s[:start] + v + s[end:]
}
