package config

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Duration is a time.Duration written as "30s", "5m", "168h".
type Duration struct {
	D   time.Duration
	set bool // written explicitly (so that "0s" can mean "off")
}

func (d *Duration) decodeScalar(s string) error {
	v, err := time.ParseDuration(strings.TrimSpace(s))
	if err != nil {
		return fmt.Errorf("%q is not a duration (write e.g. 30s, 5m, 168h)", s)
	}
	d.D, d.set = v, true
	return nil
}

// String returns the duration as Go writes it.
func (d Duration) String() string { return d.D.String() }

// ByteSize is a size in bytes written as "10MiB", "512KiB", "1048576".
type ByteSize int64

var sizeRe = regexp.MustCompile(`^\s*(\d+)\s*([KMG]i?B|B)?\s*$`)

func (b *ByteSize) decodeScalar(s string) error {
	m := sizeRe.FindStringSubmatch(s)
	if m == nil {
		return fmt.Errorf("%q is not a size (write e.g. 10MiB, 512KiB or a number of bytes)", s)
	}
	n, err := strconv.ParseInt(m[1], 10, 64)
	if err != nil {
		return fmt.Errorf("%q is not a size: %w", s, err)
	}
	mult := map[string]int64{"": 1, "B": 1, "KB": 1000, "KiB": 1 << 10, "MB": 1000 * 1000, "MiB": 1 << 20, "GB": 1e9, "GiB": 1 << 30}[m[2]]
	*b = ByteSize(n * mult)
	return nil
}

// Position is where a setting was written.
type Position struct {
	File   string
	Line   int
	Column int
}

// String renders the position as file:line:col.
func (p Position) String() string {
	if p.Line == 0 {
		return p.File
	}
	return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Column)
}

// Error is one configuration problem.
type Error struct {
	Pos Position
	Msg string
}

func (e Error) Error() string { return e.Pos.String() + ": " + e.Msg }

// Errors is every problem found in a configuration, in file order.
type Errors struct{ List []Error }

func (e *Errors) add(p Position, msg string) { e.List = append(e.List, Error{Pos: p, Msg: msg}) }

func (e *Errors) sort() {
	slices.SortStableFunc(e.List, func(a, b Error) int {
		if a.Pos.Line != b.Pos.Line {
			return a.Pos.Line - b.Pos.Line
		}
		return a.Pos.Column - b.Pos.Column
	})
}

func (e *Errors) Error() string {
	var b strings.Builder
	for i, x := range e.List {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(x.Error())
	}
	return b.String()
}

// Unwrap exposes the individual errors to errors.Is and errors.As.
func (e *Errors) Unwrap() []error {
	out := make([]error, len(e.List))
	for i, x := range e.List {
		out[i] = x
	}
	return out
}

var yamlLineRe = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

func yamlErrorPosition(file string, err error) Position {
	if m := yamlLineRe.FindStringSubmatch(err.Error()); m != nil {
		n, _ := strconv.Atoi(m[1])
		return Position{File: file, Line: n, Column: 1}
	}
	return Position{File: file}
}

func yamlErrorText(err error) string {
	if m := yamlLineRe.FindStringSubmatch(err.Error()); m != nil {
		return "invalid YAML: " + m[2]
	}
	var e *Errors
	if errors.As(err, &e) {
		return e.Error()
	}
	return "invalid YAML: " + strings.TrimPrefix(err.Error(), "yaml: ")
}

// String renders the size in the largest binary unit that divides it.
func (b ByteSize) String() string {
	switch {
	case b != 0 && b%(1<<30) == 0:
		return fmt.Sprintf("%dGiB", b>>30)
	case b != 0 && b%(1<<20) == 0:
		return fmt.Sprintf("%dMiB", b>>20)
	case b != 0 && b%(1<<10) == 0:
		return fmt.Sprintf("%dKiB", b>>10)
	}
	return fmt.Sprintf("%dB", int64(b))
}
