package hl7

import "strings"

// level says which delimiter splits a Field's value one level down.
type level uint8

const (
	levelField   level = iota // a whole field: repetitions, then components
	levelRep                  // one repetition: components
	levelComp                 // one component: sub-components
	levelSub                  // one sub-component: a leaf
	levelLiteral              // MSH-1 or MSH-2: never split nor unescaped
)

// Field is a value taken from a message: a whole field, one repetition of
// it, one of its components or one sub-component. Component descends one
// level (repetition → component → sub-component), so a data type reader such
// as ParseHD works the same on MSH-4 (components) and on CX.4 (sub-components).
// The zero Field is empty.
type Field struct {
	raw   string
	d     Delimiters
	cs    *charset
	level level
}

// NewField returns a Field for one field repetition in wire form, split with
// delimiters d. Use it to read values that do not come from a Message.
func NewField(raw string, d Delimiters) Field {
	return Field{raw: raw, d: d, level: levelRep}
}

// Raw returns the value in wire form: escaped, delimiters included.
func (f Field) Raw() string { return f.raw }

// IsEmpty reports whether the value is absent (no text at all).
func (f Field) IsEmpty() bool { return f.raw == "" }

// IsNull reports whether the value is the HL7 explicit null "".
func (f Field) IsNull() bool { return f.raw == `""` }

// String returns the value with escape sequences resolved when it is a leaf,
// and its wire text when it still holds delimiters of a lower level (so that
// "ADT^A01" stays "ADT^A01" and is not confused with "ADT\S\A01").
func (f Field) String() string {
	if f.level == levelLiteral || f.hasStructure() {
		return f.raw
	}
	return unescape(f.raw, f.d, f.cs)
}

// Text returns the value with escape sequences resolved, whatever its level.
// On a composite value the result is ambiguous; prefer Component.
func (f Field) Text() string {
	if f.level == levelLiteral {
		return f.raw
	}
	return unescape(f.raw, f.d, f.cs)
}

// HasStructure reports whether the value holds parts one level down (it is a
// composite with the message's own delimiters), so that String returns its
// wire text rather than a decoded leaf.
func (f Field) HasStructure() bool { return f.hasStructure() }

func (f Field) hasStructure() bool {
	has := func(c byte) bool { return c != 0 && strings.IndexByte(f.raw, c) >= 0 }
	switch f.level {
	case levelField:
		return has(f.d.Repetition) || has(f.d.Component) || has(f.d.SubComponent)
	case levelRep:
		return has(f.d.Component) || has(f.d.SubComponent)
	case levelComp:
		return has(f.d.SubComponent)
	}
	return false
}

// RepetitionCount returns how many repetitions a whole field has (0 when it
// is empty); a value below field level counts as one.
func (f Field) RepetitionCount() int {
	if f.raw == "" {
		return 0
	}
	if f.level != levelField || f.d.Repetition == 0 {
		return 1
	}
	return strings.Count(f.raw, string(f.d.Repetition)) + 1
}

// Repetition returns repetition n (1-based) of a whole field. Below field
// level, Repetition(1) is the value itself.
func (f Field) Repetition(n int) Field {
	switch f.level {
	case levelField:
		return Field{raw: nth(f.raw, f.d.Repetition, n), d: f.d, cs: f.cs, level: levelRep}
	case levelLiteral:
		if n == 1 {
			return f
		}
		return Field{d: f.d, cs: f.cs, level: levelLiteral}
	}
	if n == 1 {
		return f
	}
	return Field{d: f.d, cs: f.cs, level: f.level}
}

// Repetitions returns every repetition of a whole field; an empty field has
// none.
func (f Field) Repetitions() []Field {
	n := f.RepetitionCount()
	out := make([]Field, 0, n)
	for i := 1; i <= n; i++ {
		out = append(out, f.Repetition(i))
	}
	return out
}

// Component returns part n (1-based) one level down: a component of a
// repetition (of the first repetition of a whole field), or a sub-component
// of a component. A sub-component has only itself as part 1.
func (f Field) Component(n int) Field {
	switch f.level {
	case levelField:
		return f.Repetition(1).Component(n)
	case levelRep:
		return Field{raw: nth(f.raw, f.d.Component, n), d: f.d, cs: f.cs, level: levelComp}
	case levelComp:
		return Field{raw: nth(f.raw, f.d.SubComponent, n), d: f.d, cs: f.cs, level: levelSub}
	}
	if n == 1 {
		return f
	}
	return Field{d: f.d, cs: f.cs, level: f.level}
}

// AppendComponents appends the parts of the value one level down to dst, so
// that Component(n) is dst[len(dst)+n-1] for n up to the number of parts
// (past those, Component gives an empty value), and returns the extended
// slice. It splits the value once, where reading every part with Component
// scans the value from its start each time.
func (f Field) AppendComponents(dst []Field) []Field {
	var sep byte
	var next level
	switch f.level {
	case levelField:
		return f.Repetition(1).AppendComponents(dst)
	case levelRep:
		sep, next = f.d.Component, levelComp
	case levelComp:
		sep, next = f.d.SubComponent, levelSub
	default:
		return append(dst, f) // a leaf is its own only part
	}
	s := f.raw
	if sep == 0 {
		return append(dst, Field{raw: s, d: f.d, cs: f.cs, level: next})
	}
	for {
		i := strings.IndexByte(s, sep)
		if i < 0 {
			return append(dst, Field{raw: s, d: f.d, cs: f.cs, level: next})
		}
		dst = append(dst, Field{raw: s[:i], d: f.d, cs: f.cs, level: next})
		s = s[i+1:]
	}
}

// nth returns the n-th (1-based) part of s split on sep. A byte loop skips
// the parts before it (HL7 parts are short and often empty); the end of the
// part is found with strings.IndexByte, as the first part of a value is often
// all of it (a field scanned for a repetition separator it does not hold),
// where a vectorised search beats the byte loop.
func nth(s string, sep byte, n int) string {
	if n < 1 {
		return ""
	}
	if sep == 0 {
		if n == 1 {
			return s
		}
		return ""
	}
	if n > 1 {
		start := -1
		for i := 0; i < len(s); i++ {
			if s[i] == sep {
				n--
				if n == 1 {
					start = i + 1
					break
				}
			}
		}
		if start < 0 {
			return ""
		}
		s = s[start:]
	}
	if i := strings.IndexByte(s, sep); i >= 0 {
		return s[:i]
	}
	return s
}
