package hl7

import (
	"fmt"
	"strconv"
)

// Path addresses a value in a message, like a HAPI terser path. Zero numbers
// mean "not given": the first occurrence of the segment, the first
// repetition for reads (all of them for typed readers), the whole field or
// component.
type Path struct {
	Segment      string // segment ID, such as "PID"
	Occurrence   int    // 1-based occurrence of the segment, 0 for the first
	Field        int    // 1-based field position (MSH-1 is the field separator)
	Repetition   int    // 1-based repetition, 0 when not given
	Component    int    // 1-based component, 0 for the whole repetition
	SubComponent int    // 1-based sub-component, 0 for the whole component
}

// CompilePath parses a terser path: a segment ID with an optional
// occurrence, then a field with an optional repetition, then optional
// component and sub-component numbers. Examples: "PID-3", "PID-3(2).1",
// "PID-5.1.1", "OBX(2)-5", "MSH-9.2". Occurrences and repetitions may be
// written (n) or [n]; parts may be separated by '-' or '.'; a leading '/'
// is ignored. Errors wrap ErrInvalidPath.
func CompilePath(s string) (Path, error) {
	var p Path
	in := s
	if len(s) > 0 && s[0] == '/' {
		s = s[1:]
	}
	if !isSegmentStart(s, '-') && !isSegmentStart(s, '.') && !isSegmentStart(s, '(') && !isSegmentStart(s, '[') {
		return Path{}, fmt.Errorf("path %q: segment ID: %w", in, ErrInvalidPath)
	}
	p.Segment, s = s[:3], s[3:]
	var ok bool
	if p.Occurrence, s, ok = index(s); !ok {
		return Path{}, fmt.Errorf("path %q: segment occurrence: %w", in, ErrInvalidPath)
	}
	if len(s) == 0 || (s[0] != '-' && s[0] != '.') {
		return Path{}, fmt.Errorf("path %q: field missing: %w", in, ErrInvalidPath)
	}
	if p.Field, s, ok = number(s[1:]); !ok {
		return Path{}, fmt.Errorf("path %q: field: %w", in, ErrInvalidPath)
	}
	if p.Repetition, s, ok = index(s); !ok {
		return Path{}, fmt.Errorf("path %q: repetition: %w", in, ErrInvalidPath)
	}
	for _, dst := range []*int{&p.Component, &p.SubComponent} {
		if len(s) == 0 {
			break
		}
		if s[0] != '-' && s[0] != '.' {
			return Path{}, fmt.Errorf("path %q: unexpected %q: %w", in, s, ErrInvalidPath)
		}
		if *dst, s, ok = number(s[1:]); !ok {
			return Path{}, fmt.Errorf("path %q: component: %w", in, ErrInvalidPath)
		}
	}
	if len(s) != 0 {
		return Path{}, fmt.Errorf("path %q: unexpected %q: %w", in, s, ErrInvalidPath)
	}
	return p, nil
}

// MustCompilePath is CompilePath for paths known to be valid, such as
// constants; it panics on an invalid path.
func MustCompilePath(s string) Path {
	p, err := CompilePath(s)
	if err != nil {
		panic(err)
	}
	return p
}

// number reads a positive decimal number at the start of s.
func number(s string) (int, string, bool) {
	n, i := 0, 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		n = n*10 + int(s[i]-'0')
		if n > 1<<20 {
			return 0, s, false
		}
		i++
	}
	if i == 0 || n == 0 {
		return 0, s, false
	}
	return n, s[i:], true
}

// index reads an optional "(n)" or "[n]".
func index(s string) (int, string, bool) {
	if len(s) == 0 || (s[0] != '(' && s[0] != '[') {
		return 0, s, true
	}
	closing := byte(')')
	if s[0] == '[' {
		closing = ']'
	}
	n, rest, ok := number(s[1:])
	if !ok || len(rest) == 0 || rest[0] != closing {
		return 0, s, false
	}
	return n, rest[1:], true
}

// String returns the path in canonical form, such as "OBX(2)-5(1).3".
func (p Path) String() string {
	s := p.Segment
	if p.Occurrence > 1 {
		s += "(" + strconv.Itoa(p.Occurrence) + ")"
	}
	s += "-" + strconv.Itoa(p.Field)
	if p.Repetition > 0 {
		s += "(" + strconv.Itoa(p.Repetition) + ")"
	}
	if p.Component > 0 {
		s += "." + strconv.Itoa(p.Component)
		if p.SubComponent > 0 {
			s += "." + strconv.Itoa(p.SubComponent)
		}
	}
	return s
}

// Get returns the value at a terser path (see CompilePath) with escape
// sequences resolved, or "" when the path is invalid or the value absent.
// Without a repetition the first one is read. A path that stops above the
// leaf level returns the wire text of that element (see Field.String).
func (m *Message) Get(path string) string {
	p, err := CompilePath(path)
	if err != nil {
		return ""
	}
	return m.GetPath(p)
}

// GetPath is Get with a compiled path.
func (m *Message) GetPath(p Path) string {
	if p.Repetition == 0 {
		p.Repetition = 1
	}
	return m.FieldPath(p).String()
}

// Field returns the element at a terser path. When the path names neither a
// repetition nor a component, the result is the whole field with all its
// repetitions. An invalid path or an absent value gives an empty Field.
func (m *Message) Field(path string) Field {
	p, err := CompilePath(path)
	if err != nil {
		return Field{d: m.d, cs: &m.cs}
	}
	return m.FieldPath(p)
}

// FieldPath is Field with a compiled path.
func (m *Message) FieldPath(p Path) Field {
	seg := m.Segment(p.Segment, p.Occurrence)
	if seg == nil {
		return Field{d: m.d, cs: &m.cs}
	}
	f := seg.Field(p.Field)
	if f.level == levelLiteral {
		if p.Repetition > 1 || p.Component > 1 || p.SubComponent > 1 {
			return Field{d: m.d, cs: &m.cs}
		}
		return f
	}
	if p.Repetition > 0 || p.Component > 0 {
		f = f.Repetition(max(p.Repetition, 1))
	}
	if p.Component > 0 {
		f = f.Component(p.Component)
		if p.SubComponent > 0 {
			f = f.Component(p.SubComponent)
		}
	}
	return f
}
