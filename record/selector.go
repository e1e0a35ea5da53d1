package record

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Selector limits: a clear marker comes from a mapping, so it is small; the
// limits only stop hostile or broken input from costing time or stack.
const (
	maxSelectorLen   = 1024 // bytes
	maxSelectorDepth = 32   // nesting of parentheses and where(...)
)

// ErrBadSelector is wrapped by the error for a clear selector that does not
// parse (see ParseSelector).
var ErrBadSelector = errors.New("bad clear selector")

// Selector is a parsed clear selector: a small FHIRPath subset naming the
// elements of a resource to remove.
//
// The grammar:
//
//	selector := name ( "." ( name | "where" "(" selExpr ")" ) )*
//	selExpr     := and ( "or" and )*
//	and      := eq ( "and" eq )*
//	eq       := term ( ( "=" | "!=" ) term )?
//	term     := primary ( "." ( name | fn "(" ")" | "where" "(" selExpr ")" ) )*
//	primary  := string | "true" | "false" | name | "(" selExpr ")"
//	fn       := "empty" | "exists" | "not"
//
// Strings are quoted with ' or " and take FHIRPath escapes (\' \" \\ \/ \f
// \n \r \t \uXXXX). A name is [A-Za-z_][A-Za-z0-9_]*. Examples:
// "address", "period.end", `telecom.where(use = "home" or use.empty())`,
// "extension.where(url = 'http://example.org/x')".
//
// Semantics follow FHIRPath where the subset overlaps it: a name selects
// the element (all variants of a choice element such as deceased[x]);
// navigating through a list visits every entry; where keeps the entries its
// criteria are true for (an empty result counts as false); = compares
// collections (empty on either side gives empty); and/or are three-valued.
type Selector struct {
	steps []selStep
	src   string
}

// step is one element of a selector path: a name, or a where filter on the
// entries selected so far.
type selStep struct {
	name  string
	where selExpr // set for a where(...) step
}

// String returns the selector in canonical form (single spaces around
// operators, strings in single quotes).
func (s *Selector) String() string {
	var b strings.Builder
	for i, st := range s.steps {
		if i > 0 {
			b.WriteByte('.')
		}
		if st.where != nil {
			b.WriteString("where(")
			writeSelExpr(&b, st.where, 0)
			b.WriteByte(')')
			continue
		}
		b.WriteString(st.name)
	}
	return b.String()
}

// ParseSelector parses a clear selector. Its error wraps ErrBadSelector and
// names the selector and the byte offset of the problem.
func ParseSelector(src string) (*Selector, error) {
	if len(src) > maxSelectorLen {
		return nil, fmt.Errorf("%w: selector of %d bytes is longer than %d", ErrBadSelector, len(src), maxSelectorLen)
	}
	p := &selParser{src: src}
	sel, err := p.selector()
	if err != nil {
		return nil, fmt.Errorf("%w %q: %v", ErrBadSelector, src, err)
	}
	sel.src = src
	return sel, nil
}

// Expressions inside where(...).
type selExpr interface{ isExpr() }

type (
	// selLiteral is a string or boolean constant.
	selLiteral struct{ value any }
	// selMember navigates to a child element of every item of target
	// (nil target: the item being filtered, FHIRPath's $this).
	selMember struct {
		target selExpr
		name   string
	}
	// selCall is target.fn() or target.where(arg).
	selCall struct {
		target selExpr
		fn     string
		arg    selExpr
	}
	// selBinary is =, !=, and, or.
	selBinary struct {
		op   string
		l, r selExpr
	}
)

func (selLiteral) isExpr() {}
func (selMember) isExpr()  {}
func (selCall) isExpr()    {}
func (selBinary) isExpr()  {}

// Tokens.
type selTokKind int

const (
	selTokEOF selTokKind = iota
	selTokName
	selTokString
	selTokDot
	selTokLParen
	selTokRParen
	selTokEq
	selTokNe
)

func (k selTokKind) String() string {
	switch k {
	case selTokEOF:
		return "end of selector"
	case selTokName:
		return "name"
	case selTokString:
		return "string"
	case selTokDot:
		return `"."`
	case selTokLParen:
		return `"("`
	case selTokRParen:
		return `")"`
	case selTokEq:
		return `"="`
	case selTokNe:
		return `"!="`
	}
	return "selToken"
}

type selToken struct {
	kind selTokKind
	text string // the name, or the decoded string
	pos  int
}

// selParser is a recursive-descent selParser over a one-selToken lookahead lexer.
type selParser struct {
	src   string
	pos   int // next byte to lex
	tok   selToken
	depth int
	err   error
}

func (p *selParser) fail(pos int, format string, args ...any) {
	if p.err == nil {
		p.err = fmt.Errorf("at offset %d: %s", pos, fmt.Sprintf(format, args...))
	}
}

// next lexes the next selToken into p.tok.
func (p *selParser) next() {
	for p.pos < len(p.src) && strings.IndexByte(" \t\r\n", p.src[p.pos]) >= 0 {
		p.pos++
	}
	start := p.pos
	if p.pos >= len(p.src) {
		p.tok = selToken{kind: selTokEOF, pos: start}
		return
	}
	c := p.src[p.pos]
	switch {
	case c == '.':
		p.pos++
		p.tok = selToken{kind: selTokDot, pos: start}
	case c == '(':
		p.pos++
		p.tok = selToken{kind: selTokLParen, pos: start}
	case c == ')':
		p.pos++
		p.tok = selToken{kind: selTokRParen, pos: start}
	case c == '=':
		p.pos++
		p.tok = selToken{kind: selTokEq, pos: start}
	case c == '!' && p.pos+1 < len(p.src) && p.src[p.pos+1] == '=':
		p.pos += 2
		p.tok = selToken{kind: selTokNe, pos: start}
	case c == '\'' || c == '"':
		s, ok := p.lexString(c)
		if !ok {
			p.tok = selToken{kind: selTokEOF, pos: start}
			return
		}
		p.tok = selToken{kind: selTokString, text: s, pos: start}
	case isSelNameStart(c):
		for p.pos < len(p.src) && isSelNameChar(p.src[p.pos]) {
			p.pos++
		}
		p.tok = selToken{kind: selTokName, text: p.src[start:p.pos], pos: start}
	default:
		r, _ := utf8.DecodeRuneInString(p.src[p.pos:])
		p.fail(start, "unexpected character %q", r)
		p.tok = selToken{kind: selTokEOF, pos: start}
	}
}

func isSelNameStart(c byte) bool {
	return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
}

func isSelNameChar(c byte) bool { return isSelNameStart(c) || (c >= '0' && c <= '9') }

// lexString decodes a quoted string starting at p.pos.
func (p *selParser) lexString(quote byte) (string, bool) {
	start := p.pos
	p.pos++
	var b strings.Builder
	for p.pos < len(p.src) {
		c := p.src[p.pos]
		switch {
		case c == quote:
			p.pos++
			return b.String(), true
		case c == '\\':
			if p.pos+1 >= len(p.src) {
				p.fail(p.pos, "unterminated escape")
				return "", false
			}
			e := p.src[p.pos+1]
			p.pos += 2
			switch e {
			case '\'', '"', '\\', '/', '`':
				b.WriteByte(e)
			case 'f':
				b.WriteByte('\f')
			case 'n':
				b.WriteByte('\n')
			case 'r':
				b.WriteByte('\r')
			case 't':
				b.WriteByte('\t')
			case 'u':
				if p.pos+4 > len(p.src) {
					p.fail(p.pos-2, `\u needs four hex digits`)
					return "", false
				}
				n, err := strconv.ParseUint(p.src[p.pos:p.pos+4], 16, 16)
				if err != nil {
					p.fail(p.pos-2, `\u needs four hex digits`)
					return "", false
				}
				b.WriteRune(rune(n))
				p.pos += 4
			default:
				p.fail(p.pos-2, "unknown escape \\%c", e)
				return "", false
			}
		default:
			b.WriteByte(c)
			p.pos++
		}
	}
	p.fail(start, "unterminated string")
	return "", false
}

func (p *selParser) expect(k selTokKind) selToken {
	t := p.tok
	if t.kind != k {
		p.fail(t.pos, "expected %s, found %s", k, describeSelToken(t))
		return t
	}
	p.next()
	return t
}

func describeSelToken(t selToken) string {
	if t.kind == selTokName {
		return fmt.Sprintf("name %q", t.text)
	}
	return t.kind.String()
}

func (p *selParser) selector() (*Selector, error) {
	p.next()
	sel := &Selector{}
	if p.tok.kind != selTokName || isSelKeyword(p.tok.text) {
		p.fail(p.tok.pos, "expected an element name, found %s", describeSelToken(p.tok))
		return nil, p.err
	}
	sel.steps = append(sel.steps, selStep{name: p.tok.text})
	p.next()
	for p.err == nil && p.tok.kind == selTokDot {
		p.next()
		t := p.tok
		if t.kind != selTokName || isSelKeyword(t.text) {
			p.fail(t.pos, "expected an element name or where(...), found %s", describeSelToken(t))
			break
		}
		p.next()
		if p.tok.kind == selTokLParen {
			if t.text != "where" {
				p.fail(t.pos, "function %s() cannot select elements (only where(...) can)", t.text)
				break
			}
			p.next()
			w := p.selExpr()
			p.expect(selTokRParen)
			sel.steps = append(sel.steps, selStep{where: w})
			continue
		}
		sel.steps = append(sel.steps, selStep{name: t.text})
	}
	if p.err == nil && p.tok.kind != selTokEOF {
		p.fail(p.tok.pos, "expected \".\" or end of selector, found %s", describeSelToken(p.tok))
	}
	if p.err != nil {
		return nil, p.err
	}
	return sel, nil
}

func isSelKeyword(s string) bool {
	switch s {
	case "and", "or", "true", "false":
		return true
	}
	return false
}

func (p *selParser) enter(pos int) bool {
	p.depth++
	if p.depth > maxSelectorDepth {
		p.fail(pos, "nested deeper than %d", maxSelectorDepth)
		return false
	}
	return true
}

func (p *selParser) leave() { p.depth-- }

func (p *selParser) selExpr() selExpr {
	if !p.enter(p.tok.pos) {
		return nil
	}
	defer p.leave()
	l := p.and()
	for p.err == nil && p.tok.kind == selTokName && p.tok.text == "or" {
		p.next()
		l = selBinary{op: "or", l: l, r: p.and()}
	}
	return l
}

func (p *selParser) and() selExpr {
	l := p.eq()
	for p.err == nil && p.tok.kind == selTokName && p.tok.text == "and" {
		p.next()
		l = selBinary{op: "and", l: l, r: p.eq()}
	}
	return l
}

func (p *selParser) eq() selExpr {
	l := p.term()
	if p.err == nil && (p.tok.kind == selTokEq || p.tok.kind == selTokNe) {
		op := "="
		if p.tok.kind == selTokNe {
			op = "!="
		}
		p.next()
		l = selBinary{op: op, l: l, r: p.term()}
		if p.err == nil && (p.tok.kind == selTokEq || p.tok.kind == selTokNe) {
			p.fail(p.tok.pos, "comparisons do not chain: use and/or")
		}
	}
	return l
}

func (p *selParser) term() selExpr {
	e := p.primary()
	for p.err == nil && p.tok.kind == selTokDot {
		p.next()
		t := p.tok
		if t.kind != selTokName || isSelKeyword(t.text) {
			p.fail(t.pos, "expected a name or function after \".\", found %s", describeSelToken(t))
			return e
		}
		p.next()
		if p.tok.kind != selTokLParen {
			e = selMember{target: e, name: t.text}
			continue
		}
		p.next()
		switch t.text {
		case "empty", "exists", "not":
			p.expect(selTokRParen)
			e = selCall{target: e, fn: t.text}
		case "where":
			arg := p.selExpr()
			p.expect(selTokRParen)
			e = selCall{target: e, fn: "where", arg: arg}
		default:
			p.fail(t.pos, "unsupported function %s()", t.text)
		}
	}
	return e
}

func (p *selParser) primary() selExpr {
	t := p.tok
	switch t.kind {
	case selTokString:
		p.next()
		return selLiteral{value: t.text}
	case selTokLParen:
		p.next()
		e := p.selExpr()
		p.expect(selTokRParen)
		return e
	case selTokName:
		switch t.text {
		case "true", "false":
			p.next()
			return selLiteral{value: t.text == "true"}
		case "and", "or":
			p.fail(t.pos, "expected an operand, found %q", t.text)
			return nil
		}
		p.next()
		if p.tok.kind == selTokLParen {
			p.fail(t.pos, "function %s() needs a target (write name.%s())", t.text, t.text)
			return nil
		}
		return selMember{name: t.text}
	}
	p.fail(t.pos, "expected an operand, found %s", describeSelToken(t))
	return nil
}

// writeSelExpr prints e canonically; prec is the binding strength of the
// context (0 or, 1 and, 2 comparison), parenthesising looser operators.
func writeSelExpr(b *strings.Builder, e selExpr, prec int) {
	switch e := e.(type) {
	case selLiteral:
		switch v := e.value.(type) {
		case bool:
			b.WriteString(strconv.FormatBool(v))
		case string:
			b.WriteByte('\'')
			for _, r := range v {
				switch r {
				case '\'', '\\':
					b.WriteByte('\\')
					b.WriteRune(r)
				case '\n':
					b.WriteString(`\n`)
				case '\r':
					b.WriteString(`\r`)
				case '\t':
					b.WriteString(`\t`)
				case '\f':
					b.WriteString(`\f`)
				default:
					b.WriteRune(r)
				}
			}
			b.WriteByte('\'')
		}
	case selMember:
		if e.target != nil {
			writeSelTarget(b, e.target)
			b.WriteByte('.')
		}
		b.WriteString(e.name)
	case selCall:
		writeSelTarget(b, e.target)
		b.WriteString("." + e.fn + "(")
		if e.arg != nil {
			writeSelExpr(b, e.arg, 0)
		}
		b.WriteByte(')')
	case selBinary:
		p := map[string]int{"or": 0, "and": 1, "=": 2, "!=": 2}[e.op]
		if p < prec {
			b.WriteByte('(')
		}
		writeSelExpr(b, e.l, p)
		b.WriteString(" " + e.op + " ")
		// Left-associative: a right operand of the same strength needs
		// parentheses to keep its grouping.
		writeSelExpr(b, e.r, p+1)
		if p < prec {
			b.WriteByte(')')
		}
	}
}

// writeSelTarget prints the target of a member or call, parenthesised unless
// it is itself a path or call.
func writeSelTarget(b *strings.Builder, e selExpr) {
	switch e.(type) {
	case selMember, selCall:
		writeSelExpr(b, e, 3)
	default:
		b.WriteByte('(')
		writeSelExpr(b, e, 0)
		b.WriteByte(')')
	}
}

// Evaluation of where criteria over decoded FHIR JSON.

// children returns the values of element name in every item (lists
// flattened), including the variants of a choice element: "value" selects
// valueString, valueCoding, ...
func selectChildren(items []any, name string) []any {
	var out []any
	for _, it := range items {
		m, ok := it.(map[string]any)
		if !ok {
			continue
		}
		for _, k := range elementKeys(m, name) {
			out = appendFlatJSON(out, m[k])
		}
	}
	return out
}

func appendFlatJSON(out []any, v any) []any {
	if l, ok := v.([]any); ok {
		for _, x := range l {
			if x != nil {
				out = append(out, x)
			}
		}
		return out
	}
	if v != nil {
		out = append(out, v)
	}
	return out
}

// elementKeys returns the keys of m that element name selects: name
// itself, or name followed by a type name (a choice variant such as
// valueString for "value") when name is not itself present.
func elementKeys(m map[string]any, name string) []string {
	if _, ok := m[name]; ok {
		return []string{name}
	}
	var keys []string
	for k := range m {
		if len(k) > len(name) && strings.HasPrefix(k, name) && k[len(name)] >= 'A' && k[len(name)] <= 'Z' && isChoiceSuffix(k[len(name):]) {
			keys = append(keys, k)
		}
	}
	return keys
}

// eval evaluates e with this as the focus; the result is a collection.
func evalSel(e selExpr, this any) []any {
	switch e := e.(type) {
	case selLiteral:
		return []any{e.value}
	case selMember:
		var items []any
		if e.target == nil {
			items = []any{this}
		} else {
			items = evalSel(e.target, this)
		}
		return selectChildren(items, e.name)
	case selCall:
		items := evalSel(e.target, this)
		switch e.fn {
		case "empty":
			return []any{len(items) == 0}
		case "exists":
			return []any{len(items) > 0}
		case "not":
			b, ok := fhirpathBool(items)
			if !ok {
				return nil
			}
			return []any{!b}
		case "where":
			var out []any
			for _, it := range items {
				if fhirpathTrue(evalSel(e.arg, it)) {
					out = append(out, it)
				}
			}
			return out
		}
	case selBinary:
		switch e.op {
		case "=", "!=":
			l, r := evalSel(e.l, this), evalSel(e.r, this)
			if len(l) == 0 || len(r) == 0 {
				return nil
			}
			eq := len(l) == len(r)
			for i := 0; eq && i < len(l); i++ {
				eq = jsonEqual(l[i], r[i])
			}
			return []any{eq == (e.op == "=")}
		case "and", "or":
			l, lok := fhirpathBool(evalSel(e.l, this))
			r, rok := fhirpathBool(evalSel(e.r, this))
			if e.op == "and" {
				switch {
				case (lok && !l) || (rok && !r):
					return []any{false}
				case lok && rok:
					return []any{true}
				}
				return nil
			}
			switch {
			case (lok && l) || (rok && r):
				return []any{true}
			case lok && rok:
				return []any{false}
			}
			return nil
		}
	}
	return nil
}

// fhirpathBool converts a collection to a boolean as FHIRPath does: a
// single boolean is itself, any other single item is true, empty is empty.
func fhirpathBool(c []any) (value, ok bool) {
	if len(c) != 1 {
		return false, false
	}
	if b, isBool := c[0].(bool); isBool {
		return b, true
	}
	return true, true
}

// truth is whether where(...) keeps an item: the criteria are true.
func fhirpathTrue(c []any) bool {
	b, ok := fhirpathBool(c)
	return ok && b
}

// matches reports whether item passes every where filter.
func matchesAll(filters []selExpr, item any) bool {
	for _, f := range filters {
		if !fhirpathTrue(evalSel(f, item)) {
			return false
		}
	}
	return true
}

// jsonEqual compares two decoded JSON values; numbers compare by value
// whether they are float64 or json.Number.
func jsonEqual(a, b any) bool {
	if x, ok := a.(json.Number); ok {
		if y, ok := b.(json.Number); ok {
			return jsonDecimalsEqual(x, y)
		}
	}
	if x, ok := jsonFloat(a); ok {
		y, ok := jsonFloat(b)
		return ok && x == y
	}
	switch a := a.(type) {
	case string:
		b, ok := b.(string)
		return ok && a == b
	case bool:
		b, ok := b.(bool)
		return ok && a == b
	case nil:
		return b == nil
	case map[string]any:
		b, ok := b.(map[string]any)
		if !ok || len(a) != len(b) {
			return false
		}
		for k, v := range a {
			w, ok := b[k]
			if !ok || !jsonEqual(v, w) {
				return false
			}
		}
		return true
	case []any:
		b, ok := b.([]any)
		if !ok || len(a) != len(b) {
			return false
		}
		for i := range a {
			if !jsonEqual(a[i], b[i]) {
				return false
			}
		}
		return true
	}
	return false
}

// number returns v as a float64 if it is a JSON number.
func jsonFloat(v any) (float64, bool) {
	switch v := v.(type) {
	case float64:
		return v, true
	case json.Number:
		f, err := v.Float64()
		return f, err == nil
	}
	return 0, false
}

// jsonDecimalsEqual compares two json.Numbers exactly by value ("1.0" equals
// "1"); long or exponent forms fall back to float64.
func jsonDecimalsEqual(a, b json.Number) bool {
	if a == b {
		return true
	}
	if len(a) > 64 || len(b) > 64 || strings.ContainsAny(string(a)+string(b), "eE") {
		x, errx := a.Float64()
		y, erry := b.Float64()
		return errx == nil && erry == nil && x == y
	}
	x, okx := new(big.Rat).SetString(string(a))
	y, oky := new(big.Rat).SetString(string(b))
	return okx && oky && x.Cmp(y) == 0
}

// choiceSuffixes are the R4 type names that end the JSON name of a choice
// element's variant (deceasedBoolean, valueCodeableConcept).
var choiceSuffixes = map[string]bool{}

func init() {
	for _, t := range strings.Fields(`Base64Binary Boolean Canonical Code Date DateTime Decimal Id
		Instant Integer Markdown Oid PositiveInt String Time UnsignedInt Uri Url Uuid Address Age
		Annotation Attachment CodeableConcept Coding ContactPoint Count Distance Duration
		HumanName Identifier Money Period Quantity Range Ratio Reference SampledData Signature
		Timing ContactDetail Contributor DataRequirement Expression ParameterDefinition
		RelatedArtifact TriggerDefinition UsageContext Dosage Meta`) {
		choiceSuffixes[t] = true
	}
}

func isChoiceSuffix(s string) bool { return choiceSuffixes[s] }
