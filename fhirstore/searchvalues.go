package fhirstore

import (
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"

	"golang.org/x/text/cases"
	"golang.org/x/text/runes"
	"golang.org/x/text/transform"
	"golang.org/x/text/unicode/norm"
)

// ContainsCJK reports whether s holds a character of a CJK script (Han,
// kana or Hangul): names in these scripts are written family name first,
// run together, and compared as written.
func ContainsCJK(s string) bool {
	return strings.IndexFunc(s, func(r rune) bool {
		return unicode.In(r, unicode.Han, unicode.Hiragana, unicode.Katakana, unicode.Hangul)
	}) >= 0
}

// NormalizeString is how string search parameters compare text: Unicode
// NFKD, combining marks dropped, case folded, white space collapsed to one
// space and trimmed. "Müller" and "MULLER" both become "muller", "Zoë"
// becomes "zoe"; Chinese text is kept as it is ("张伟").
func NormalizeString(s string) string {
	// A transformer chain is not safe for concurrent use: build one per call
	// (cheap next to the work it does).
	t := transform.Chain(cases.Fold(), norm.NFKD, runes.Remove(runes.In(unicode.Mn)))
	out, _, err := transform.String(t, s)
	if err != nil {
		out = strings.ToLower(s)
	}
	return strings.Join(strings.Fields(out), " ")
}

// Date prefixes (FHIR R4 search, section 3.1.1.4.1).
const (
	PrefixEq = "eq"
	PrefixNe = "ne"
	PrefixLt = "lt"
	PrefixGt = "gt"
	PrefixLe = "le"
	PrefixGe = "ge"
	PrefixSa = "sa"
	PrefixEb = "eb"
)

// DateValue is a parsed date search value: a prefix and the half-open
// range [Low, High) the date's precision covers.
type DateValue struct {
	Prefix    string // one of the Prefix constants; eq when the value had none
	Low, High time.Time
}

// ParseDate parses a date search value: an optional prefix (eq, ne, lt, gt,
// le, ge, sa, eb) then a date of any precision: 2024, 2024-03, 2024-03-05,
// 2024-03-05T10:00 with a zone, seconds or fractions of a second. A date
// without a zone is taken as UTC.
func ParseDate(s string) (DateValue, error) {
	v := DateValue{Prefix: PrefixEq}
	if len(s) >= 2 && s[0] >= 'a' && s[0] <= 'z' {
		switch p := s[:2]; p {
		case PrefixEq, PrefixNe, PrefixLt, PrefixGt, PrefixLe, PrefixGe, PrefixSa, PrefixEb:
			v.Prefix, s = p, s[2:]
		default:
			if len(s) == 2 || s[2] < '0' || s[2] > '9' {
				// Not a prefix and a date ("yesterday", "today"): no date.
				return DateValue{}, fmt.Errorf("%q is not a date (want YYYY, YYYY-MM, YYYY-MM-DD or a dateTime with zone, optionally after a prefix eq, ne, lt, gt, le, ge, sa or eb)", s)
			}
			return DateValue{}, fmt.Errorf("unknown date prefix %q (want eq, ne, lt, gt, le, ge, sa or eb)", p)
		}
	}
	lo, hi, err := dateRange(s)
	if err != nil {
		return DateValue{}, err
	}
	v.Low, v.High = lo, hi
	return v, nil
}

// dateRange returns the range a FHIR date, dateTime or instant covers.
func dateRange(s string) (lo, hi time.Time, err error) {
	bad := func() (time.Time, time.Time, error) {
		return time.Time{}, time.Time{}, fmt.Errorf("%q is not a date (want YYYY, YYYY-MM, YYYY-MM-DD or a dateTime with zone)", s)
	}
	switch {
	case len(s) == 4:
		t, err := time.Parse("2006", s)
		if err != nil {
			return bad()
		}
		return t, t.AddDate(1, 0, 0), nil
	case len(s) == 7:
		t, err := time.Parse("2006-01", s)
		if err != nil {
			return bad()
		}
		return t, t.AddDate(0, 1, 0), nil
	case len(s) == 10:
		t, err := time.Parse("2006-01-02", s)
		if err != nil {
			return bad()
		}
		return t, t.AddDate(0, 0, 1), nil
	case len(s) > 10 && s[10] == 'T':
	default:
		return bad()
	}
	// A dateTime: find the zone and the precision of the time part.
	rest := s[11:]
	zone := ""
	if i := strings.IndexAny(rest, "Z+-"); i >= 0 {
		rest, zone = rest[:i], rest[i:]
	}
	var layout string
	var step time.Duration
	switch {
	case len(rest) == 5:
		layout, step = "15:04", time.Minute
	case len(rest) == 8:
		layout, step = "15:04:05", time.Second
	case len(rest) > 9 && rest[8] == '.':
		digits := len(rest) - 9
		if digits > 9 {
			return bad()
		}
		layout = "15:04:05." + strings.Repeat("0", digits)
		step = time.Duration(1)
		for range 9 - digits {
			step *= 10
		}
	default:
		return bad()
	}
	loc := time.UTC
	switch {
	case zone == "" || zone == "Z":
	case len(zone) == 6 && zone[3] == ':':
		h, err1 := strconv.Atoi(zone[1:3])
		m, err2 := strconv.Atoi(zone[4:6])
		if err1 != nil || err2 != nil || h > 14 || m > 59 {
			return bad()
		}
		off := h*3600 + m*60
		if zone[0] == '-' {
			off = -off
		}
		loc = time.FixedZone("", off)
	default:
		return bad()
	}
	d, err := time.Parse("2006-01-02", s[:10])
	if err != nil {
		return bad()
	}
	tod, err := time.Parse(layout, rest)
	if err != nil {
		return bad()
	}
	t := time.Date(d.Year(), d.Month(), d.Day(), tod.Hour(), tod.Minute(), tod.Second(), tod.Nanosecond(), loc).UTC()
	return t, t.Add(step), nil
}

// TokenValue is a parsed token search value.
type TokenValue struct {
	// System is the system to match; with AnySystem it is not checked.
	System    string
	Code      string // empty for "system|" (any code of the system)
	AnySystem bool   // the value had no '|': any system matches
}

// String returns the search value ParseToken parses back into t: "code"
// for any system, else "system|code", with '\\' and '|' in the system or
// code escaped (an identifier value may hold either).
func (t TokenValue) String() string {
	if t.AnySystem {
		return escapeToken(t.Code)
	}
	return escapeToken(t.System) + "|" + escapeToken(t.Code)
}

func escapeToken(s string) string {
	if !strings.ContainsAny(s, `\|`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' || s[i] == '|' {
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// ParseToken parses a token search value: "system|code", "|code" (the
// code without a system), "code" (any system) or "system|" (any code in
// the system). "\|" stands for a '|' inside the system or code.
func ParseToken(s string) (TokenValue, error) {
	parts := splitEscaped(s, '|')
	switch len(parts) {
	case 1:
		if parts[0] == "" {
			return TokenValue{}, fmt.Errorf("empty token")
		}
		return TokenValue{Code: parts[0], AnySystem: true}, nil
	case 2:
		if parts[0] == "" && parts[1] == "" {
			return TokenValue{}, fmt.Errorf("token %q has neither system nor code", s)
		}
		return TokenValue{System: parts[0], Code: parts[1]}, nil
	default:
		return TokenValue{}, fmt.Errorf("token %q has more than one unescaped '|'", s)
	}
}

// ReferenceValue is a parsed reference search value.
type ReferenceValue struct {
	Type string // empty for a bare id (any type)
	ID   string
}

// String returns "Type/id", or the bare id.
func (r ReferenceValue) String() string {
	if r.Type == "" {
		return r.ID
	}
	return r.Type + "/" + r.ID
}

// ParseReference parses a reference search value: "Type/id", a bare id, or
// an absolute URL ending in Type/id.
func ParseReference(s string) (ReferenceValue, error) {
	if !strings.Contains(s, "/") {
		if !validID(s) {
			return ReferenceValue{}, fmt.Errorf("%q is not a resource id", s)
		}
		return ReferenceValue{ID: s}, nil
	}
	t, id, ok := splitReference(s)
	if !ok {
		return ReferenceValue{}, fmt.Errorf("%q is not a reference (want Type/id or an id)", s)
	}
	return ReferenceValue{Type: t, ID: id}, nil
}

// splitEscaped splits s at each sep not preceded by a backslash and
// removes the backslash escapes (\, \| \$ \\) from the parts.
func splitEscaped(s string, sep byte) []string {
	var parts []string
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\' && i+1 < len(s):
			i++
			b.WriteByte(s[i])
		case c == sep:
			parts = append(parts, b.String())
			b.Reset()
		default:
			b.WriteByte(c)
		}
	}
	return append(parts, b.String())
}
