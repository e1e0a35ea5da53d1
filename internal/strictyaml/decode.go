// Package strictyaml decodes YAML into Go structs strictly, for files people
// write by hand (configuration, mappings): unknown keys, keys set twice and
// wrongly typed values are errors with file:line:col, and every error in a
// file is collected instead of stopping at the first.
package strictyaml

import (
	"bytes"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Scalar is implemented by types written as one YAML scalar (durations,
// byte sizes, expressions).
type Scalar interface {
	DecodeYAMLScalar(s string) error
}

// positionType is the type of a struct field that receives the position of
// the mapping it was decoded from (a field named Pos of type Position).
var positionType = reflect.TypeOf(Position{})

// Places is the type of a struct field that receives where each setting of
// the mapping was written: the position of its value, by key. Checks made
// after decoding point at the value they are about ("to: nmae" at the
// column of nmae), not at the start of the mapping.
type Places map[string]Position

var placesType = reflect.TypeOf(Places{})

// Decode decodes the YAML document in b into v (a pointer to a struct) and
// returns where each setting was written, by dotted path ("mllp[0].addr"),
// and the errors found. file names the source in positions.
func Decode(file string, b []byte, v any) (map[string]Position, *Errors) {
	errs := &Errors{}
	d := &decoder{file: file, errs: errs, pos: map[string]Position{}}
	if len(bytes.TrimSpace(b)) == 0 {
		return d.pos, errs
	}
	var root yaml.Node
	if err := yaml.NewDecoder(bytes.NewReader(b)).Decode(&root); err != nil {
		errs.Add(syntaxErrorPosition(file, b, err), yamlErrorText(err))
		return d.pos, errs
	}
	if len(root.Content) > 0 {
		d.decode(root.Content[0], reflect.ValueOf(v).Elem(), "")
	}
	return d.pos, errs
}

// decoder turns a YAML node tree into a struct strictly: unknown keys,
// duplicate keys and wrongly typed values are errors, and every error is
// collected (with its position) instead of stopping at the first.
type decoder struct {
	file string
	errs *Errors
	pos  map[string]Position // dotted path → where it was written
}

func (d *decoder) errorf(n *yaml.Node, format string, args ...any) {
	d.errs.Add(Position{File: d.file, Line: n.Line, Column: n.Column}, fmt.Sprintf(format, args...))
}

func (d *decoder) decode(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	d.pos[path] = Position{File: d.file, Line: n.Line, Column: n.Column}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return // "key:" with no value keeps the default
	}
	if v.Kind() == reflect.Pointer {
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		v = v.Elem()
	}
	if sd, ok := v.Addr().Interface().(Scalar); ok {
		if n.Kind != yaml.ScalarNode {
			d.errorf(n, "%s: want a single value", path)
			return
		}
		if err := sd.DecodeYAMLScalar(n.Value); err != nil {
			d.errorf(n, "%s: %v", path, err)
		}
		return
	}
	switch v.Kind() {
	case reflect.Struct:
		d.decodeStruct(n, v, path)
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			d.errorf(n, "%s: want a list", path)
			return
		}
		s := reflect.MakeSlice(v.Type(), 0, len(n.Content))
		elem := v.Type().Elem()
		for i, item := range n.Content {
			if isStruct(elem) {
				// An entry of settings that is none ("-" with nothing
				// after it, or a single value) is left out: it has no
				// place of its own to report later errors at.
				real := item
				if real.Kind == yaml.AliasNode {
					real = real.Alias
				}
				switch {
				case real.Kind == yaml.ScalarNode && real.Tag == "!!null":
					d.errorf(item, "%s[%d]: empty entry (want a mapping of settings)", strings.TrimPrefix(path, "."), i)
					continue
				case real.Kind != yaml.MappingNode:
					d.errorf(item, "%s[%d]: want a mapping of settings", strings.TrimPrefix(path, "."), i)
					continue
				}
			}
			s = reflect.Append(s, reflect.Zero(elem))
			d.decode(item, s.Index(s.Len()-1), fmt.Sprintf("%s[%d]", path, i))
		}
		v.Set(s)
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			d.errorf(n, "%s: want a mapping", path)
			return
		}
		m := reflect.MakeMap(v.Type())
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, val := n.Content[i], n.Content[i+1]
			elem := reflect.New(v.Type().Elem()).Elem()
			d.decode(val, elem, path+"."+k.Value)
			m.SetMapIndex(reflect.ValueOf(k.Value), elem)
		}
		v.Set(m)
	case reflect.String:
		if n.Kind != yaml.ScalarNode {
			d.errorf(n, "%s: want a string", path)
			return
		}
		v.SetString(n.Value)
	case reflect.Bool:
		b, ok := coreBool(n)
		if !ok {
			d.errorf(n, "%s: want true or false, got %s", path, written(n))
			return
		}
		v.SetBool(b)
	case reflect.Int, reflect.Int64:
		i, err := strconv.ParseInt(strings.ReplaceAll(n.Value, "_", ""), 10, 64)
		if n.Kind != yaml.ScalarNode || err != nil {
			d.errorf(n, "%s: want a whole number, got %s", path, written(n))
			return
		}
		v.SetInt(i)
	case reflect.Float64:
		f, err := strconv.ParseFloat(n.Value, 64)
		if n.Kind != yaml.ScalarNode || err != nil {
			d.errorf(n, "%s: want a number, got %s", path, written(n))
			return
		}
		v.SetFloat(f)
	default:
		d.errorf(n, "%s: unsupported setting type %s", path, v.Type())
	}
}

// coreBool reads a boolean as the YAML 1.2 core schema writes it: true or
// false (also True, TRUE, False, FALSE), quoted or not. Numbers (1, 0) and
// the words of YAML 1.1 (yes, no, on, off) are not booleans: a setting that
// turns on patient-data logging must not be switched by a 1.
func coreBool(n *yaml.Node) (b, ok bool) {
	if n.Kind != yaml.ScalarNode {
		return false, false
	}
	switch n.Value {
	case "true", "True", "TRUE":
		return true, true
	case "false", "False", "FALSE":
		return false, true
	}
	return false, false
}

// written renders a value for an error message as the file wrote it: a
// number or other plain non-string scalar bare (got 1), a string quoted
// (got "maybe"), a list or mapping by its kind.
func written(n *yaml.Node) string {
	switch {
	case n.Kind == yaml.SequenceNode:
		return "a list"
	case n.Kind == yaml.MappingNode:
		return "a mapping"
	case n.Style == 0 && n.Tag != "" && n.Tag != "!!str":
		return n.Value
	}
	return strconv.Quote(n.Value)
}

func (d *decoder) decodeStruct(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.MappingNode {
		d.errorf(n, "%s: want a mapping of settings", strings.TrimPrefix(path, "."))
		return
	}
	t := v.Type()
	fields := map[string]int{}
	var names []string
	var places Places
	for i := range t.NumField() {
		if t.Field(i).Name == "Pos" && t.Field(i).Type == positionType {
			v.Field(i).Set(reflect.ValueOf(Position{File: d.file, Line: n.Line, Column: n.Column}))
			continue
		}
		if t.Field(i).Type == placesType {
			places = make(Places, len(n.Content)/2)
			v.Field(i).Set(reflect.ValueOf(places))
			continue
		}
		tag := strings.Split(t.Field(i).Tag.Get("yaml"), ",")[0]
		if tag == "" || tag == "-" {
			continue
		}
		fields[tag] = i
		names = append(names, tag)
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		key := k.Value
		child := key
		if path != "" {
			child = path + "." + key
		}
		if seen[key] {
			d.errorf(k, "%s: set twice", child)
			continue
		}
		seen[key] = true
		if places != nil {
			places[key] = Position{File: d.file, Line: val.Line, Column: val.Column}
		}
		idx, ok := fields[key]
		if !ok {
			d.errorf(k, "%s: unknown setting%s", child, Suggest(key, names))
			continue
		}
		d.decode(val, v.Field(idx), child)
	}
}

// Closest returns the name among names nearest to s by edit distance, for a
// "did you mean" hint: "" when none is within 3 edits, or as many edits as
// s has letters.
func Closest(s string, names []string) string {
	best, bestD := "", 1<<30
	for _, n := range names {
		if dist := levenshtein(strings.ToLower(s), strings.ToLower(n)); dist < bestD || dist == bestD && n < best {
			best, bestD = n, dist
		}
	}
	if best == "" || bestD > 3 || bestD >= len(s) {
		return ""
	}
	return best
}

// Suggest returns a hint for an unknown name, to follow the message: the
// closest of names (` (did you mean "phone"?)`), or, when none is close, the
// list of them sorted (` (known: a, b)`).
func Suggest(key string, names []string) string {
	if best := Closest(key, names); best != "" {
		return fmt.Sprintf(" (did you mean %q?)", best)
	}
	sorted := slices.Clone(names)
	slices.Sort(sorted)
	return " (known: " + strings.Join(sorted, ", ") + ")"
}

func levenshtein(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// isStruct reports whether t is a struct of settings or a pointer to one
// (not one decoded from a single value: a Scalar).
func isStruct(t reflect.Type) bool {
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t.Kind() == reflect.Struct && !reflect.PointerTo(t).Implements(scalarType)
}

var scalarType = reflect.TypeFor[Scalar]()
