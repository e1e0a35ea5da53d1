package mappings

import (
	"fmt"
	"strconv"
	"strings"
)

// A target path names where a row's value goes in the resource (or data
// type) being built: dotted element names, each optionally followed by
// "[n]" (that element of a list, created as needed) or "[]" (a new element
// appended to the list).
type targetPath []targetStep

type targetStep struct {
	name  string
	index int // indexNone, indexAppend, or the 0-based index
}

const (
	indexNone   = -1
	indexAppend = -2
)

func parseTarget(s string) (targetPath, error) {
	if s == "" {
		return nil, fmt.Errorf("empty target")
	}
	if s == "." {
		return targetPath{}, nil // the object being built itself
	}
	var out targetPath
	for _, part := range strings.Split(s, ".") {
		step := targetStep{name: part, index: indexNone}
		if i := strings.IndexByte(part, '['); i >= 0 {
			if !strings.HasSuffix(part, "]") {
				return nil, fmt.Errorf("target %q: %q lacks a closing ]", s, part)
			}
			step.name = part[:i]
			idx := part[i+1 : len(part)-1]
			if idx == "" {
				step.index = indexAppend
			} else {
				n, err := strconv.Atoi(idx)
				if err != nil || n < 0 {
					return nil, fmt.Errorf("target %q: index %q is not a whole number", s, idx)
				}
				step.index = n
			}
		}
		if !validElementName(step.name) {
			return nil, fmt.Errorf("target %q: %q is not an element name", s, step.name)
		}
		out = append(out, step)
	}
	return out, nil
}

func validElementName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// String renders the path as written.
func (p targetPath) String() string {
	var b strings.Builder
	for i, s := range p {
		if i > 0 {
			b.WriteByte('.')
		}
		b.WriteString(s.name)
		switch {
		case s.index == indexAppend:
			b.WriteString("[]")
		case s.index >= 0:
			fmt.Fprintf(&b, "[%d]", s.index)
		}
	}
	return b.String()
}

// clearPath is the path without list positions, as recorded for an HL7
// explicit null ("clear this element").
func (p targetPath) clearPath() string {
	names := make([]string, len(p))
	for i, s := range p {
		names[i] = s.name
	}
	return strings.Join(names, ".")
}

// set stores v at p in obj. Objects met on the way are created (by a); an object
// stored where an object already is is merged into it. Maps and lists in v
// are converted to nodes (see toNodes). It reports whether it may have left
// something prune removes (a list slot skipped by an index, an empty
// value); the values rows write are otherwise already pruned.
func (p targetPath) set(a *arena, obj *node, v any) (dirty bool) {
	dirty = prunable(v)
	v = toNodes(a, v)
	if len(p) == 0 { // "." : merge an object into the one being built
		if n, ok := v.(*node); ok {
			merge(obj, n)
		}
		return dirty
	}
	cur := obj
	for i, step := range p {
		last := i == len(p)-1
		if step.index == indexNone {
			if last {
				// Only an object is merged: other values need no look-up.
				if nv, ok := v.(*node); ok {
					if old, _ := cur.get(step.name); old != nil {
						if old, ok := old.(*node); ok {
							merge(old, nv)
							return dirty
						}
					}
				}
				cur.put(step.name, v)
				return dirty
			}
			old, _ := cur.get(step.name)
			next, ok := old.(*node)
			if !ok {
				next = a.node(4)
				cur.put(step.name, next)
			}
			cur = next
			continue
		}
		old, _ := cur.get(step.name)
		l, ok := old.(*list)
		if !ok {
			l = a.list()
			cur.put(step.name, l)
		}
		idx := step.index
		if idx == indexAppend {
			idx = len(l.els)
		}
		if idx > len(l.els) {
			dirty = true // slots before idx stay nil
		}
		for len(l.els) <= idx {
			l.els = append(l.els, nil)
		}
		if last {
			if nv, ok := v.(*node); ok {
				if old, ok := l.els[idx].(*node); ok {
					merge(old, nv)
					return dirty
				}
			}
			l.els[idx] = v
			return dirty
		}
		next, ok := l.els[idx].(*node)
		if !ok {
			next = a.node(4)
			l.els[idx] = next
		}
		cur = next
	}
	return dirty
}

// prunable reports whether v itself is something prune removes.
func prunable(v any) bool {
	switch x := v.(type) {
	case nil:
		return true
	case string:
		return x == ""
	case map[string]any:
		return len(x) == 0
	case []any:
		return len(x) == 0
	case *node:
		return len(x.ms) == 0
	case *list:
		return len(x.els) == 0
	}
	return false
}

// merge copies src into dst, merging nested objects and appending lists.
func merge(dst, src *node) {
	for _, m := range src.ms {
		switch nv := m.v.(type) {
		case *node:
			if old, _ := dst.get(m.k); old != nil {
				if old, ok := old.(*node); ok {
					merge(old, nv)
					continue
				}
			}
		case *list:
			if old, _ := dst.get(m.k); old != nil {
				if old, ok := old.(*list); ok {
					old.els = append(old.els, nv.els...)
					continue
				}
			}
		}
		dst.put(m.k, m.v)
	}
}

// prune removes nil list slots and empty objects, lists and strings, which
// FHIR forbids, from a value under construction or one an expression made
// (maps and slices). It works in place and reports whether v keeps any
// content.
func prune(v any) (any, bool) {
	switch x := v.(type) {
	case *node:
		return x, pruneNode(x)
	case *list:
		pruneList(x)
		return x, len(x.els) > 0
	case map[string]any:
		return x, pruneMap(x)
	case []any:
		out := pruneSlice(x)
		return out, len(out) > 0
	case string:
		return x, x != ""
	case nil:
		return nil, false
	}
	return v, true
}

func pruneNode(n *node) bool {
	out := n.ms[:0]
	for _, m := range n.ms {
		switch x := m.v.(type) {
		case *node:
			if !pruneNode(x) {
				continue
			}
		case *list:
			if pruneList(x); len(x.els) == 0 {
				continue
			}
		case string:
			if x == "" {
				continue
			}
		case nil:
			continue
		}
		out = append(out, m)
	}
	clear(n.ms[len(out):])
	n.ms = out
	return len(n.ms) > 0
}

func pruneList(l *list) {
	out := l.els[:0]
	for _, e := range l.els {
		switch x := e.(type) {
		case *node:
			if pruneNode(x) {
				out = append(out, x)
			}
		case *list:
			if pruneList(x); len(x.els) > 0 {
				out = append(out, x)
			}
		case string:
			if x != "" {
				out = append(out, x)
			}
		case nil:
		default:
			out = append(out, e)
		}
	}
	clear(l.els[len(out):])
	l.els = out
}

func pruneMap(m map[string]any) bool {
	for k, e := range m {
		switch x := e.(type) {
		case map[string]any:
			if !pruneMap(x) {
				delete(m, k)
			}
		case []any:
			out := pruneSlice(x)
			if len(out) == 0 {
				delete(m, k)
			} else if len(out) != len(x) {
				m[k] = out
			}
		case string:
			if x == "" {
				delete(m, k)
			}
		case nil:
			delete(m, k)
		}
	}
	return len(m) > 0
}

func pruneSlice(l []any) []any {
	out := l[:0]
	for _, e := range l {
		switch x := e.(type) {
		case map[string]any:
			if pruneMap(x) {
				out = append(out, x)
			}
		case []any:
			if o := pruneSlice(x); len(o) > 0 {
				out = append(out, o)
			}
		case string:
			if x != "" {
				out = append(out, x)
			}
		case nil:
		default:
			out = append(out, e)
		}
	}
	return out
}
