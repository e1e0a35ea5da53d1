package mappings

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/carebridge/carebridge/engine/hl7"
)

// sourcePath is a compiled From: either relative to the context (a segment
// or a data type value) or absolute (a terser path into the message).
type sourcePath struct {
	text     string
	absolute bool
	segment  string // absolute: the segment name
	// field is the field number (relative in a segment context, or
	// absolute); 0 in a datatype context.
	field int
	rep   int // 0: the whole field (every repetition)
	comp  int // 0: the whole field or repetition
	sub   int
}

// parseSource parses From. inSegment says whether the context is a segment
// (relative paths start with a field) or a data type value (they start with
// a component).
func parseSource(s string, inSegment bool) (sourcePath, error) {
	sp := sourcePath{text: s}
	if s == "." {
		if inSegment {
			return sp, fmt.Errorf(`source ".": the whole value is only a source in a datatype map (in a segment map name a field)`)
		}
		return sp, nil // the value being mapped, whole
	}
	if strings.Contains(s, "-") {
		p, err := hl7.CompilePath(s)
		if err != nil {
			return sp, fmt.Errorf("source %q: %w", s, err)
		}
		sp.absolute, sp.segment, sp.field, sp.rep, sp.comp, sp.sub = true, p.Segment, p.Field, p.Repetition, p.Component, p.SubComponent
		if p.Occurrence > 1 {
			return sp, fmt.Errorf("source %q: a segment occurrence cannot be chosen here; use a group or each", s)
		}
		return sp, nil
	}
	nums := strings.Split(s, ".")
	first := nums[0]
	if inSegment {
		if i := strings.IndexByte(first, '('); i >= 0 {
			if !strings.HasSuffix(first, ")") {
				return sp, fmt.Errorf("source %q: missing )", s)
			}
			r, err := strconv.Atoi(first[i+1 : len(first)-1])
			if err != nil || r < 1 {
				return sp, fmt.Errorf("source %q: repetition %q is not a positive number", s, first[i+1:len(first)-1])
			}
			sp.rep, first = r, first[:i]
		}
	}
	var parts []int
	for _, n := range append([]string{first}, nums[1:]...) {
		v, err := strconv.Atoi(n)
		if err != nil || v < 1 {
			return sp, fmt.Errorf("source %q: %q is not a position (write e.g. 3, 3.1, 3(2).1, or PID-3 for an absolute path)", s, n)
		}
		parts = append(parts, v)
	}
	if inSegment {
		if len(parts) > 3 {
			return sp, fmt.Errorf("source %q: too deep (field.component.sub-component)", s)
		}
		sp.field = parts[0]
		if len(parts) > 1 {
			sp.comp = parts[1]
		}
		if len(parts) > 2 {
			sp.sub = parts[2]
		}
		return sp, nil
	}
	if len(parts) > 2 {
		return sp, fmt.Errorf("source %q: too deep (component.sub-component)", s)
	}
	sp.comp = parts[0]
	if len(parts) > 1 {
		sp.sub = parts[1]
	}
	return sp, nil
}

// narrow applies the repetition, component and sub-component parts to a
// whole field (or, in a datatype context, to the value itself).
func (sp *sourcePath) narrow(f hl7.Field) hl7.Field {
	if sp.rep > 0 {
		f = f.Repetition(sp.rep)
	}
	if sp.comp > 0 {
		f = f.Component(sp.comp)
		if sp.sub > 0 {
			f = f.Component(sp.sub)
		}
	}
	return f
}

// whole reports whether the path selects a whole field (all repetitions).
func (sp *sourcePath) whole() bool { return sp.rep == 0 && sp.comp == 0 }

type sourceKey struct {
	path      string
	inSegment bool
}

type cachedSource struct {
	sp  sourcePath
	err error
}

// cachedSource parses a path read through v[...] in an expression once per
// set: the literal paths of the set's expressions at load (read without a
// lock), any other the first time it is read.
func (s *Set) cachedSource(path string, inSegment bool) (sourcePath, error) {
	known := s.dtPaths
	if inSegment {
		known = s.segPaths
	}
	if c, ok := known[path]; ok {
		return c.sp, c.err
	}
	k := sourceKey{path, inSegment}
	if c, ok := s.sources.Load(k); ok {
		cs := c.(cachedSource)
		return cs.sp, cs.err
	}
	sp, err := parseSource(path, inSegment)
	s.sources.Store(k, cachedSource{sp, err})
	return sp, err
}

type cachedTerser struct {
	p   hl7.Path
	err error
}

// cachedPath compiles a terser path read through m[...] once per set (the
// literal ones at load).
func (s *Set) cachedPath(path string) (hl7.Path, error) {
	if c, ok := s.msgPaths[path]; ok {
		return c.p, c.err
	}
	if c, ok := s.paths.Load(path); ok {
		ct := c.(cachedTerser)
		return ct.p, ct.err
	}
	p, err := hl7.CompilePath(path)
	s.paths.Store(path, cachedTerser{p, err})
	return p, err
}

// literalIndex finds the constant paths an expression reads: v["3.1"],
// m['PID-3'].
var literalIndex = regexp.MustCompile(`\b([vm])\[\s*(?:"([^"\\]*)"|'([^'\\]*)')\s*\]`)

// notePaths parses the literal v[...] and m[...] paths of an expression
// ahead of the first message.
func (s *Set) notePaths(src string) {
	for _, m := range literalIndex.FindAllStringSubmatch(src, -1) {
		path := m[2] + m[3]
		if m[1] == "m" {
			if _, ok := s.msgPaths[path]; !ok {
				p, err := hl7.CompilePath(path)
				s.msgPaths[path] = cachedTerser{p, err}
			}
			continue
		}
		if _, ok := s.segPaths[path]; !ok {
			sp, err := parseSource(path, true)
			s.segPaths[path] = cachedSource{sp, err}
			sp, err = parseSource(path, false)
			s.dtPaths[path] = cachedSource{sp, err}
		}
	}
}
