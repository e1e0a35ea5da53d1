package hl7

import (
	"fmt"
	"strings"
	"time"
)

// Precision is how much of a TS/DTM value the sender gave.
type Precision uint8

// Precisions of a TS/DTM value, coarsest first.
const (
	PrecisionNone             Precision = iota // no value
	PrecisionYear                              // YYYY
	PrecisionMonth                             // YYYYMM
	PrecisionDay                               // YYYYMMDD
	PrecisionHour                              // YYYYMMDDHH
	PrecisionMinute                            // YYYYMMDDHHMM
	PrecisionSecond                            // YYYYMMDDHHMMSS
	PrecisionTenthSecond                       // YYYYMMDDHHMMSS.S
	PrecisionHundredthSecond                   // YYYYMMDDHHMMSS.SS
	PrecisionMillisecond                       // YYYYMMDDHHMMSS.SSS
	PrecisionTenthMillisecond                  // YYYYMMDDHHMMSS.SSSS
)

// String names the precision, such as "day".
func (p Precision) String() string {
	names := [...]string{"none", "year", "month", "day", "hour", "minute", "second",
		"tenth-second", "hundredth-second", "millisecond", "tenth-millisecond"}
	if int(p) < len(names) {
		return names[p]
	}
	return fmt.Sprintf("Precision(%d)", p)
}

// Time is a TS or DTM value: the instant, how precisely it was given and
// whether it carried its own UTC offset. Parts below the precision are zero.
type Time struct {
	Time      time.Time
	Precision Precision
	HasOffset bool // the value carried +/-ZZZZ; otherwise the default location applied
}

// IsZero reports whether the value was empty.
func (t Time) IsZero() bool { return t.Precision == PrecisionNone }

// String formats t back in HL7 form at its precision, with the offset when
// the value had one.
func (t Time) String() string {
	if t.IsZero() {
		return ""
	}
	layouts := [...]string{"", "2006", "200601", "20060102", "2006010215", "200601021504",
		"20060102150405", "20060102150405.0", "20060102150405.00", "20060102150405.000",
		"20060102150405.0000"}
	s := t.Time.Format(layouts[t.Precision])
	if t.HasOffset {
		s += t.Time.Format("-0700")
	}
	return s
}

// ParseTime parses a TS/DTM value, YYYY[MM[DD[HH[MM[SS[.S[S[S[S]]]]]]]]][+/-ZZZZ].
// Without an offset the time is in defaultLoc (the sender's zone), UTC when
// defaultLoc is nil. An empty value or the HL7 null "" gives the zero Time
// and no error. Surrounding blanks are ignored; other malformed input gives
// an error wrapping ErrInvalidTime.
func ParseTime(s string, defaultLoc *time.Location) (Time, error) {
	s = strings.TrimSpace(s)
	if s == "" || s == `""` {
		return Time{}, nil
	}
	in := s
	loc := defaultLoc
	if loc == nil {
		loc = time.UTC
	}
	hasOffset := false
	if i := strings.IndexAny(s, "+-"); i >= 0 {
		off := s[i:]
		s = s[:i]
		if len(off) != 5 || !digits(off[1:]) {
			return Time{}, fmt.Errorf("time %q: offset must be +/-HHMM: %w", in, ErrInvalidTime)
		}
		h, mi := atoi2(off[1:3]), atoi2(off[3:5])
		if h > 14 || mi > 59 {
			return Time{}, fmt.Errorf("time %q: offset out of range: %w", in, ErrInvalidTime)
		}
		secs := (h*60 + mi) * 60
		if off[0] == '-' {
			secs = -secs
		}
		loc = time.FixedZone("", secs)
		hasOffset = true
	}
	date, frac, hasFrac := strings.Cut(s, ".")
	if !digits(date) {
		return Time{}, fmt.Errorf("time %q: %w", in, ErrInvalidTime)
	}
	var p Precision
	switch len(date) {
	case 4:
		p = PrecisionYear
	case 6:
		p = PrecisionMonth
	case 8:
		p = PrecisionDay
	case 10:
		p = PrecisionHour
	case 12:
		p = PrecisionMinute
	case 14:
		p = PrecisionSecond
	default:
		return Time{}, fmt.Errorf("time %q: %d digits: %w", in, len(date), ErrInvalidTime)
	}
	nsec := 0
	if hasFrac {
		if p != PrecisionSecond || len(frac) < 1 || len(frac) > 4 || !digits(frac) {
			return Time{}, fmt.Errorf("time %q: fraction of a second: %w", in, ErrInvalidTime)
		}
		p += Precision(len(frac))
		for i := 0; i < 9; i++ {
			nsec *= 10
			if i < len(frac) {
				nsec += int(frac[i] - '0')
			}
		}
	}
	part := func(i, def int) int {
		if len(date) < i+2 {
			return def
		}
		return atoi2(date[i : i+2])
	}
	year := atoi2(date[0:2])*100 + atoi2(date[2:4])
	month, day, hour, minute, sec := part(4, 1), part(6, 1), part(8, 0), part(10, 0), part(12, 0)
	t := time.Date(year, time.Month(month), day, hour, minute, sec, nsec, loc)
	if t.Month() != time.Month(month) || t.Day() != day || t.Hour() != hour || t.Minute() != minute || t.Second() != sec {
		return Time{}, fmt.Errorf("time %q: out of range: %w", in, ErrInvalidTime)
	}
	return Time{Time: t, Precision: p, HasOffset: hasOffset}, nil
}

func digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

func atoi2(s string) int { return int(s[0]-'0')*10 + int(s[1]-'0') }

// Time reads the TS/DTM value at path (component 1 when the path names no
// component, since TS is a composite before v2.6), using defaultLoc when the
// value has no offset.
func (m *Message) Time(path string, defaultLoc *time.Location) (Time, error) {
	p, err := CompilePath(path)
	if err != nil {
		return Time{}, err
	}
	if p.Repetition == 0 {
		p.Repetition = 1
	}
	if p.Component == 0 {
		p.Component = 1
	}
	return ParseTime(m.GetPath(p), defaultLoc)
}
