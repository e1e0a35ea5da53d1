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

// set stores v at p in obj. Maps met on the way are created; a map value
// stored where a map already is is merged into it. It reports whether it
// may have left something prune removes (a list slot skipped by an index,
// an empty value); the values rows write are otherwise already pruned.
func (p targetPath) set(obj map[string]any, v any) (dirty bool) {
	dirty = prunable(v)
	if len(p) == 0 { // "." : merge an object into the one being built
		if m, ok := v.(map[string]any); ok {
			merge(obj, m)
		}
		return dirty
	}
	cur := obj
	for i, step := range p {
		last := i == len(p)-1
		if step.index == indexNone {
			if last {
				// Only an object is merged: other values need no look-up.
				if nv, ok := v.(map[string]any); ok {
					if old, ok := cur[step.name].(map[string]any); ok {
						merge(old, nv)
						return dirty
					}
				}
				cur[step.name] = v
				return dirty
			}
			next, ok := cur[step.name].(map[string]any)
			if !ok {
				next = map[string]any{}
				cur[step.name] = next
			}
			cur = next
			continue
		}
		list, _ := cur[step.name].([]any)
		idx := step.index
		if idx == indexAppend {
			idx = len(list)
		}
		if idx >= len(list) {
			if idx > len(list) {
				dirty = true // slots before idx stay nil
			}
			if len(list) == 0 {
				list = make([]any, idx+1) // most lists hold one element: no growth
			} else {
				list = append(list, make([]any, idx+1-len(list))...)
			}
			// A list in an interface is a copy of its header: store it
			// again only when its length changed.
			cur[step.name] = list
		}
		if last {
			if nv, ok := v.(map[string]any); ok {
				if old, ok := list[idx].(map[string]any); ok {
					merge(old, nv)
					return dirty
				}
			}
			list[idx] = v
			return dirty
		}
		next, ok := list[idx].(map[string]any)
		if !ok {
			next = map[string]any{}
			list[idx] = next
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
	}
	return false
}

// merge copies src into dst, merging nested maps and appending lists.
func merge(dst, src map[string]any) {
	for k, v := range src {
		switch nv := v.(type) {
		case map[string]any:
			if old, ok := dst[k].(map[string]any); ok {
				merge(old, nv)
				continue
			}
		case []any:
			if old, ok := dst[k].([]any); ok {
				dst[k] = append(old, nv...)
				continue
			}
		}
		dst[k] = v
	}
}

// prune removes nil list slots and empty maps, lists and strings, which
// FHIR forbids. It works in place and reports whether v keeps any content.
func prune(v any) (any, bool) {
	switch x := v.(type) {
	case map[string]any:
		return x, pruneMap(x)
	case []any:
		out := pruneList(x)
		return out, len(out) > 0
	case string:
		return x, x != ""
	case nil:
		return nil, false
	}
	return v, true
}

func pruneMap(m map[string]any) bool {
	for k, e := range m {
		switch x := e.(type) {
		case map[string]any:
			if !pruneMap(x) {
				delete(m, k)
			}
		case []any:
			out := pruneList(x)
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

func pruneList(l []any) []any {
	out := l[:0]
	for _, e := range l {
		switch x := e.(type) {
		case map[string]any:
			if pruneMap(x) {
				out = append(out, x)
			}
		case []any:
			if o := pruneList(x); len(o) > 0 {
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
