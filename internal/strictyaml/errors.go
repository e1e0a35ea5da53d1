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
// is found instead: the shortest run of b's first lines, from the line the
// parser named on, that fails to parse by itself. (A construct that spans
// lines, such as a quoted string or a [flow, list], is named at the line it
// opens on when it is what fails.)
func syntaxErrorPosition(file string, b []byte, err error) Position {
	from := 1
	if m := yamlLineRe.FindStringSubmatch(err.Error()); m != nil {
		from, _ = strconv.Atoi(m[1])
	}
	lines := bytes.SplitAfter(b, []byte("\n"))
	end := 0 // bytes in the first n lines
	for n, l := range lines {
		end += len(l)
		if n+1 < from {
			continue
		}
		var node yaml.Node
		if yaml.Unmarshal(b[:end], &node) != nil {
			return Position{File: file, Line: n + 1, Column: 1}
		}
	}
	return Position{File: file, Line: max(from, 1), Column: 1}
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
