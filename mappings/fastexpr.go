package mappings

import (
	"crypto/sha256"
	"encoding/hex"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/google/cel-go/common/ast"
	"github.com/google/cel-go/common/operators"
	"github.com/google/cel-go/common/overloads"
	"github.com/google/cel-go/common/types"
)

// Mapping expressions are mostly string plumbing: conditions on a value or
// two (valued(v["2"]), it in ["M", "SH"], event == "A13"), keys joining
// values ("patient" in ids ? ids.patient : "") + "|" + v["3.1"], literal
// objects around it. The subset of CEL they use is compiled here, from the
// checked expression, to Go closures that read the values the same way (so
// that the same positions count as used), in the same order, and give the
// same result as the interpreter, without boxing a CEL value per step.
//
// A closure reports false when it meets anything it does not decide the way
// CEL would (a missing key, a value of another type): the caller then
// evaluates the expression with CEL, which reads the same values again (a
// read only marks a position) and gives its result or its error. Any form
// not listed is not compiled at all and always goes to CEL.

type (
	fastBool func(a *activation) (bool, bool)
	fastStr  func(a *activation) (string, bool)
	fastInt  func(a *activation) (int64, bool)
	fastAny  func(a *activation) (any, bool)
)

// itText is the text of the it variable.
func (a *activation) itText() string {
	if a.it != nil {
		return celText(a.it)
	}
	return a.itStr
}

// compileFastBool compiles a condition, or returns nil.
func compileFastBool(e ast.Expr) fastBool {
	switch e.Kind() {
	case ast.LiteralKind:
		if b, ok := e.AsLiteral().(types.Bool); ok {
			return func(*activation) (bool, bool) { return bool(b), true }
		}
		return nil
	case ast.SelectKind:
		sel := e.AsSelect()
		if !sel.IsTestOnly() {
			return nil
		}
		m := compileMapVar(sel.Operand())
		if m == nil {
			return nil
		}
		field := sel.FieldName()
		return func(a *activation) (bool, bool) { return m(a, field) }
	case ast.CallKind:
	default:
		return nil
	}
	call := e.AsCall()
	args := call.Args()
	switch fn := call.FunctionName(); {
	case (fn == "valued" || fn == "isNull") && len(args) == 1 && !call.IsMemberFunction():
		s := compileFastStr(args[0])
		if s == nil {
			return nil
		}
		if fn == "isNull" {
			return func(a *activation) (bool, bool) {
				v, ok := s(a)
				return v == `""`, ok
			}
		}
		return func(a *activation) (bool, bool) {
			v, ok := s(a)
			return v != "" && v != `""`, ok
		}
	case fn == operators.LogicalNot && len(args) == 1:
		x := compileFastBool(args[0])
		if x == nil {
			return nil
		}
		return func(a *activation) (bool, bool) {
			v, ok := x(a)
			return !v, ok
		}
	case (fn == operators.LogicalAnd || fn == operators.LogicalOr) && len(args) == 2:
		l, r := compileFastBool(args[0]), compileFastBool(args[1])
		if l == nil || r == nil {
			return nil
		}
		stopOn := fn == operators.LogicalOr // && stops at false, || at true
		return func(a *activation) (bool, bool) {
			v, ok := l(a)
			if !ok || v == stopOn {
				return v, ok
			}
			return r(a)
		}
	case (fn == operators.Equals || fn == operators.NotEquals) && len(args) == 2:
		l, r := compileFastStr(args[0]), compileFastStr(args[1])
		if l == nil || r == nil {
			return nil
		}
		ne := fn == operators.NotEquals
		return func(a *activation) (bool, bool) {
			x, ok := l(a)
			if !ok {
				return false, false
			}
			y, ok := r(a)
			return (x == y) != ne, ok
		}
	case (fn == operators.Less || fn == operators.LessEquals || fn == operators.Greater || fn == operators.GreaterEquals) && len(args) == 2:
		if l, r := compileFastInt(args[0]), compileFastInt(args[1]); l != nil && r != nil {
			return compareFn(fn, l, r)
		}
		if l, r := compileFastStr(args[0]), compileFastStr(args[1]); l != nil && r != nil {
			return compareFn(fn, l, r)
		}
		return nil
	case fn == operators.In && len(args) == 2:
		l := compileFastStr(args[0])
		if l == nil {
			return nil
		}
		if m := compileMapVar(args[1]); m != nil {
			return func(a *activation) (bool, bool) {
				k, ok := l(a)
				if !ok {
					return false, false
				}
				return m(a, k)
			}
		}
		items, ok := stringListLiteral(args[1])
		if !ok {
			return nil
		}
		return func(a *activation) (bool, bool) {
			k, ok := l(a)
			return slices.Contains(items, k), ok
		}
	case fn == overloads.Matches && len(args) == 1 && call.IsMemberFunction():
		s := compileFastStr(call.Target())
		pat, ok := stringLiteral(args[0])
		if s == nil || !ok {
			return nil
		}
		re, err := regexp.Compile(pat)
		if err != nil {
			return nil
		}
		return func(a *activation) (bool, bool) {
			v, ok := s(a)
			return ok && re.MatchString(v), ok
		}
	}
	return nil
}

// compareFn compares two integers or two strings (by their bytes, as CEL
// compares strings).
func compareFn[T int64 | string](fn string, l, r func(*activation) (T, bool)) fastBool {
	return func(a *activation) (bool, bool) {
		x, ok := l(a)
		if !ok {
			return false, false
		}
		y, ok := r(a)
		switch fn {
		case operators.Less:
			return x < y, ok
		case operators.LessEquals:
			return x <= y, ok
		case operators.Greater:
			return x > y, ok
		}
		return x >= y, ok
	}
}

// compileFastStr compiles a string-valued expression, or returns nil.
func compileFastStr(e ast.Expr) fastStr {
	switch e.Kind() {
	case ast.LiteralKind:
		if s, ok := stringLiteral(e); ok {
			return func(*activation) (string, bool) { return s, true }
		}
		return nil
	case ast.IdentKind:
		switch e.AsIdent() {
		case "it":
			return func(a *activation) (string, bool) { return a.itText(), true }
		case "event":
			return func(a *activation) (string, bool) { return celText(a.event), true }
		case "structure":
			return func(a *activation) (string, bool) { return celText(a.structure), true }
		}
		return nil
	case ast.SelectKind:
		sel := e.AsSelect()
		if sel.IsTestOnly() || sel.Operand().Kind() != ast.IdentKind {
			return nil
		}
		field := sel.FieldName()
		switch sel.Operand().AsIdent() {
		case "sender":
			return func(a *activation) (string, bool) {
				v, ok := a.sender[field]
				return v, ok
			}
		case "ids":
			return func(a *activation) (string, bool) {
				v, ok := a.ids[field].(string)
				return v, ok
			}
		case "resource":
			return func(a *activation) (string, bool) {
				v, _ := a.resource.get(field)
				s, ok := v.(string)
				return s, ok
			}
		}
		return nil
	case ast.CallKind:
	default:
		return nil
	}
	call := e.AsCall()
	args := call.Args()
	switch fn := call.FunctionName(); {
	case fn == operators.Add && len(args) == 2:
		var parts []fastStr
		if !flattenConcat(e, &parts) {
			return nil
		}
		return concatFn(parts)
	case fn == operators.Conditional && len(args) == 3:
		c, t, f := compileFastBool(args[0]), compileFastStr(args[1]), compileFastStr(args[2])
		if c == nil || t == nil || f == nil {
			return nil
		}
		return func(a *activation) (string, bool) {
			v, ok := c(a)
			if !ok {
				return "", false
			}
			if v {
				return t(a)
			}
			return f(a)
		}
	case fn == operators.Index && len(args) == 2:
		path, ok := stringLiteral(args[1])
		if !ok || args[0].Kind() != ast.IdentKind {
			return nil
		}
		switch args[0].AsIdent() {
		case "v":
			lp := newLiteralPath(path)
			return func(a *activation) (string, bool) { return a.v.getLiteral(lp), true }
		case "m":
			return func(a *activation) (string, bool) { return a.m.get(path), true }
		}
		return nil
	case (fn == "identifierKey" || fn == "identifierKeyOf") && !call.IsMemberFunction() && len(args) >= 1:
		list := compileResourceList(args[0])
		if list == nil {
			return nil
		}
		if fn == "identifierKey" {
			if len(args) != 1 {
				return nil
			}
			return func(a *activation) (string, bool) {
				l, ok := list(a)
				if !ok {
					return "", false
				}
				return identifierKey(l), true
			}
		}
		typ := compileFastStr(args[1])
		if len(args) != 2 || typ == nil {
			return nil
		}
		return func(a *activation) (string, bool) {
			l, ok := list(a)
			if !ok {
				return "", false
			}
			t, ok := typ(a)
			return identifierKeyOf(l, t), ok
		}
	case fn == "addMinutes" && !call.IsMemberFunction() && len(args) == 2:
		ts := compileFastStr(args[0])
		if ts == nil {
			return nil
		}
		if n := compileFastInt(args[1]); n != nil {
			return func(a *activation) (string, bool) {
				t, ok := ts(a)
				if !ok {
					return "", false
				}
				minutes, ok := n(a)
				return addMinutes(types.String(t), minutes), ok
			}
		}
		n := compileFastStr(args[1])
		if n == nil {
			return nil
		}
		return func(a *activation) (string, bool) {
			t, ok := ts(a)
			if !ok {
				return "", false
			}
			s, ok := n(a)
			minutes, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
			if err != nil {
				return "", ok
			}
			return addMinutes(types.String(t), minutes), ok
		}
	case fn == "hash" && !call.IsMemberFunction() && len(args) == 1:
		s := compileFastStr(args[0])
		if s == nil {
			return nil
		}
		return func(a *activation) (string, bool) {
			v, ok := s(a)
			sum := sha256.Sum256([]byte(v))
			return hex.EncodeToString(sum[:8]), ok
		}
	}
	return nil
}

// flattenConcat lists the operands of a chain of string concatenations, so
// that the result is built in one allocation.
func flattenConcat(e ast.Expr, parts *[]fastStr) bool {
	if e.Kind() == ast.CallKind {
		if call := e.AsCall(); call.FunctionName() == operators.Add && len(call.Args()) == 2 {
			return flattenConcat(call.Args()[0], parts) && flattenConcat(call.Args()[1], parts)
		}
	}
	s := compileFastStr(e)
	if s == nil {
		return false
	}
	*parts = append(*parts, s)
	return true
}

// concatFn joins the values of parts, read in order.
func concatFn(parts []fastStr) fastStr {
	return func(a *activation) (string, bool) {
		var buf [16]string
		vals := buf[:0]
		n := 0
		for _, p := range parts {
			v, ok := p(a)
			if !ok {
				return "", false
			}
			vals = append(vals, v)
			n += len(v)
		}
		var b strings.Builder
		b.Grow(n)
		for _, v := range vals {
			b.WriteString(v)
		}
		return b.String(), true
	}
}

// compileFastInt compiles an integer expression (a literal or the size of a
// string), or returns nil.
func compileFastInt(e ast.Expr) fastInt {
	switch e.Kind() {
	case ast.LiteralKind:
		if n, ok := e.AsLiteral().(types.Int); ok {
			return func(*activation) (int64, bool) { return int64(n), true }
		}
	case ast.CallKind:
		call := e.AsCall()
		var arg ast.Expr
		switch {
		case call.FunctionName() != overloads.Size:
		case call.IsMemberFunction() && len(call.Args()) == 0:
			arg = call.Target()
		case !call.IsMemberFunction() && len(call.Args()) == 1:
			arg = call.Args()[0]
		}
		if arg == nil {
			return nil
		}
		s := compileFastStr(arg)
		if s == nil {
			return nil
		}
		return func(a *activation) (int64, bool) {
			v, ok := s(a)
			return int64(utf8.RuneCountInString(v)), ok // CEL counts code points
		}
	}
	return nil
}

// compileFastAny compiles a value expression: a string, a bool, an integer,
// or a map or list literal of those (built anew at each evaluation, as the
// interpreter's result converted by native is).
func compileFastAny(e ast.Expr) fastAny {
	if s := compileFastStr(e); s != nil {
		return func(a *activation) (any, bool) { return s(a) }
	}
	if b := compileFastBool(e); b != nil {
		return func(a *activation) (any, bool) { return b(a) }
	}
	if n := compileFastInt(e); n != nil {
		return func(a *activation) (any, bool) { return n(a) }
	}
	switch e.Kind() {
	case ast.CallKind:
		call := e.AsCall()
		if call.FunctionName() != operators.Conditional || len(call.Args()) != 3 {
			return nil
		}
		c, t, f := compileFastBool(call.Args()[0]), compileFastAny(call.Args()[1]), compileFastAny(call.Args()[2])
		if c == nil || t == nil || f == nil {
			return nil
		}
		return func(a *activation) (any, bool) {
			v, ok := c(a)
			if !ok {
				return nil, false
			}
			if v {
				return t(a)
			}
			return f(a)
		}
	case ast.ListKind:
		l := e.AsList()
		if len(l.OptionalIndices()) > 0 {
			return nil
		}
		elems := make([]fastAny, 0, l.Size())
		for _, x := range l.Elements() {
			f := compileFastAny(x)
			if f == nil {
				return nil
			}
			elems = append(elems, f)
		}
		return func(a *activation) (any, bool) {
			out := make([]any, len(elems))
			for i, f := range elems {
				v, ok := f(a)
				if !ok {
					return nil, false
				}
				out[i] = v
			}
			return out, true
		}
	case ast.MapKind:
		type entry struct {
			key string
			val fastAny
		}
		var entries []entry
		for _, x := range e.AsMap().Entries() {
			if x.Kind() != ast.MapEntryKind || x.AsMapEntry().IsOptional() {
				return nil
			}
			k, ok := stringLiteral(x.AsMapEntry().Key())
			if !ok || slices.ContainsFunc(entries, func(e entry) bool { return e.key == k }) {
				return nil // a repeated key is an error in CEL
			}
			v := compileFastAny(x.AsMapEntry().Value())
			if v == nil {
				return nil
			}
			entries = append(entries, entry{k, v})
		}
		return func(a *activation) (any, bool) {
			out := make(map[string]any, len(entries))
			for _, en := range entries {
				v, ok := en.val(a)
				if !ok {
					return nil, false
				}
				out[en.key] = v
			}
			return out, true
		}
	}
	return nil
}

// compileMapVar compiles a map variable tested for a key ("k" in ids,
// has(resource.identifier)): the test reports whether the key is present.
func compileMapVar(e ast.Expr) func(a *activation, key string) (bool, bool) {
	if e.Kind() != ast.IdentKind {
		return nil
	}
	switch e.AsIdent() {
	case "ids":
		return func(a *activation, k string) (bool, bool) { _, ok := a.ids[k]; return ok, true }
	case "resource":
		return func(a *activation, k string) (bool, bool) {
			if a.resource == nil {
				return false, false
			}
			return a.resource.has(k), true
		}
	case "sender":
		return func(a *activation, k string) (bool, bool) { _, ok := a.sender[k]; return ok, true }
	}
	return nil
}

// compileResourceList compiles resource.<element> read as a list (the
// argument of identifierKey).
func compileResourceList(e ast.Expr) func(a *activation) ([]any, bool) {
	if e.Kind() != ast.SelectKind {
		return nil
	}
	sel := e.AsSelect()
	if sel.IsTestOnly() || sel.Operand().Kind() != ast.IdentKind || sel.Operand().AsIdent() != "resource" {
		return nil
	}
	field := sel.FieldName()
	return func(a *activation) ([]any, bool) {
		v, _ := a.resource.get(field)
		l, ok := v.(*list)
		if !ok {
			return nil, false
		}
		return l.els, true
	}
}

func stringLiteral(e ast.Expr) (string, bool) {
	if e.Kind() != ast.LiteralKind {
		return "", false
	}
	s, ok := e.AsLiteral().(types.String)
	return string(s), ok
}

func stringListLiteral(e ast.Expr) ([]string, bool) {
	if e.Kind() != ast.ListKind || len(e.AsList().OptionalIndices()) > 0 {
		return nil, false
	}
	var out []string
	for _, x := range e.AsList().Elements() {
		s, ok := stringLiteral(x)
		if !ok {
			return nil, false
		}
		out = append(out, s)
	}
	return out, true
}
