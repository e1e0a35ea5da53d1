package strictyaml

import (
	"bytes"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

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

// Add records a problem at p.
func (e *Errors) Add(p Position, msg string) { e.List = append(e.List, Error{Pos: p, Msg: msg}) }

// Sort orders the problems by position.
func (e *Errors) Sort() {
	slices.SortStableFunc(e.List, func(a, b Error) int {
		if a.Pos.File != b.Pos.File {
			return strings.Compare(a.Pos.File, b.Pos.File)
		}
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

// syntaxErrorPosition says where in b the YAML syntax error err is. The
// parser's own "line N" is not that line: it is the zero-based line of the
// problem, or the line where the enclosing construct began, and it is left
// out altogether on the first line. The line the document stops parsing at
// is found instead, starting from the parser's line: the first n such that
// b's first n lines do not parse by themselves — going forward while they
// do (or while a longer run parses again: the cut fell inside a construct
// over several lines), and back while the shorter runs fail too, so that a
// construct that spans lines and is what fails (a quoted string, a
// [flow, list] left open) is named at the line it opens on.
func syntaxErrorPosition(file string, b []byte, err error) Position {
	var ends []int // ends[n-1]: bytes in the first n lines
	for off, l := 0, b; len(l) > 0; {
		n := bytes.IndexByte(l, '\n') + 1
		if n == 0 {
			n = len(l)
		}
		off += n
		ends = append(ends, off)
		l = l[n:]
	}
	if len(ends) == 0 {
		return Position{File: file, Line: 1, Column: 1}
	}
	fails := func(n int) bool {
		var node yaml.Node
		return yaml.Unmarshal(b[:ends[n-1]], &node) != nil
	}
	n := 1
	if m := yamlLineRe.FindStringSubmatch(err.Error()); m != nil {
		n, _ = strconv.Atoi(m[1])
	}
	n = min(max(n, 1), len(ends))
	if fails(n) {
		// Cut inside a construct that a longer run closes (a quoted
		// string over two lines)? Then the error is further down.
		m := n + 1
		for m <= len(ends) && fails(m) {
			m++
		}
		if m > len(ends) {
			for n > 1 && fails(n-1) {
				n--
			}
			return Position{File: file, Line: n, Column: 1}
		}
		n = m
	}
	for n < len(ends) && !fails(n) {
		n++
	}
	return Position{File: file, Line: n, Column: 1}
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
