package hl7

import (
	"fmt"
)

// Delimiters are the message's separator characters, taken from MSH-1 and
// MSH-2. A zero byte means the message does not define that character.
type Delimiters struct {
	Field        byte // MSH-1, usually '|'
	Component    byte // usually '^'
	Repetition   byte // usually '~'
	Escape       byte // usually '\'
	SubComponent byte // usually '&'
	Truncation   byte // usually '#' (HL7 v2.7 and later), 0 when absent
}

// DefaultDelimiters returns the delimiters recommended by HL7: |^~\&.
func DefaultDelimiters() Delimiters {
	return Delimiters{Field: '|', Component: '^', Repetition: '~', Escape: '\\', SubComponent: '&'}
}

// EncodingCharacters returns the MSH-2 text for d, such as "^~\&" or "^~\&#".
func (d Delimiters) EncodingCharacters() string {
	b := make([]byte, 0, 5)
	for _, c := range []byte{d.Component, d.Repetition, d.Escape, d.SubComponent, d.Truncation} {
		if c == 0 {
			break
		}
		b = append(b, c)
	}
	return string(b)
}

// isDelimiter reports whether c is one of the structural delimiters.
func (d Delimiters) isDelimiter(c byte) bool {
	return c != 0 && (c == d.Field || c == d.Component || c == d.Repetition ||
		c == d.Escape || c == d.SubComponent)
}

// validDelimiterChar reports whether c may serve as a delimiter: printable,
// not alphanumeric and not a blank.
func validDelimiterChar(c byte) bool {
	switch {
	case c <= ' ' || c >= 0x7f:
		return false
	case c >= '0' && c <= '9', c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z':
		return false
	}
	return true
}

// parseDelimiters builds Delimiters from the field separator and the MSH-2
// text. It repairs "^~\\&" (a doubled escape character, a frequent mistake of
// senders that escape the backslash twice) to "^~\&".
func parseDelimiters(field byte, enc string) (Delimiters, error) {
	if len(enc) == 5 && enc[2] == enc[3] {
		enc = enc[:3] + enc[4:]
	}
	if !validDelimiterChar(field) {
		return Delimiters{}, fmt.Errorf("field separator %q is not a usable delimiter: %w", field, ErrEncodingCharacters)
	}
	if enc == "" {
		return Delimiters{}, fmt.Errorf("encoding characters are empty: %w", ErrEncodingCharacters)
	}
	if len(enc) > 5 {
		return Delimiters{}, fmt.Errorf("encoding characters %q are longer than 5: %w", enc, ErrEncodingCharacters)
	}
	var seen [256]bool
	seen[field] = true
	for i := 0; i < len(enc); i++ {
		c := enc[i]
		if !validDelimiterChar(c) {
			return Delimiters{}, fmt.Errorf("encoding character %q is not a usable delimiter: %w", c, ErrEncodingCharacters)
		}
		if seen[c] {
			return Delimiters{}, fmt.Errorf("encoding character %q is used twice: %w", c, ErrEncodingCharacters)
		}
		seen[c] = true
	}
	d := Delimiters{Field: field}
	targets := []*byte{&d.Component, &d.Repetition, &d.Escape, &d.SubComponent, &d.Truncation}
	for i := 0; i < len(enc); i++ {
		*targets[i] = enc[i]
	}
	return d, nil
}
