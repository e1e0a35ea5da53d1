package mappings

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/common/types/traits"
	"github.com/google/cel-go/ext"
	"github.com/google/cel-go/interpreter"

	"github.com/carebridge/carebridge/engine/hl7"
)

// The CEL environment of mapping expressions. Variables:
//
//	it        the source value's text (when the row has From), "" otherwise
//	v         the context's values by relative path: v["3.1"] in a segment
//	          map, v["1"] in a datatype map
//	m         the message's values by terser path: m["PV1-2"], m["MSH-9.2"]
//	event     the trigger event (MSH-9.2), e.g. "A01"
//	structure the message structure, e.g. "ADT_A01"
//	sender    the sender profile: sender.name, sender.application, sender.facility
//	resource  the resource built so far (in key expressions)
//	ids       the ids of the resources built so far, by rule name (in key expressions)
//
// Functions, besides CEL's standard ones:
//
//	valued(s)         s holds a value: not empty and not the HL7 null ""
//	isNull(s)         s is the HL7 explicit null ""
//	identifierKey(l)  the business key "system|value" of a list of FHIR
//	                  Identifiers: the first of type MR, else the first
//	identifierKeyOf(l, t)  the same, for the first identifier of type code t
//	                  ("" when there is none)
//	addMinutes(ts, n) an HL7 date/time plus n minutes (an int or a string of
//	                  digits), as an HL7 date/time
//	                  (keeping its offset, or its absence); "" if ts is not one
//	hash(s)           a short stable hash of s (hex)
func newEnv() (*cel.Env, error) {
	return cel.NewEnv(
		// cel-go's string extensions: trim, replace, substring, split,
		// lowerAscii, upperAscii, indexOf, join, format, ...
		ext.Strings(),
		cel.Variable("it", cel.StringType),
		cel.Variable("v", cel.MapType(cel.StringType, cel.StringType)),
		cel.Variable("m", cel.MapType(cel.StringType, cel.StringType)),
		cel.Variable("event", cel.StringType),
		cel.Variable("structure", cel.StringType),
		cel.Variable("sender", cel.MapType(cel.StringType, cel.StringType)),
		cel.Variable("resource", cel.DynType),
		cel.Variable("ids", cel.MapType(cel.StringType, cel.DynType)),
		cel.Function("valued",
			cel.Overload("valued_string", []*cel.Type{cel.StringType}, cel.BoolType,
				cel.UnaryBinding(func(s ref.Val) ref.Val {
					str, _ := s.(types.String)
					return types.Bool(str != "" && str != `""`)
				}))),
		cel.Function("isNull",
			cel.Overload("isnull_string", []*cel.Type{cel.StringType}, cel.BoolType,
				cel.UnaryBinding(func(s ref.Val) ref.Val {
					str, _ := s.(types.String)
					return types.Bool(str == `""`)
				}))),
		cel.Function("identifierKey",
			cel.Overload("identifierkey_dyn", []*cel.Type{cel.DynType}, cel.StringType,
				cel.UnaryBinding(func(l ref.Val) ref.Val {
					native, err := l.ConvertToNative(reflect.TypeOf([]any{}))
					if err != nil {
						return types.String("")
					}
					return types.String(identifierKey(native.([]any)))
				}))),
		cel.Function("identifierKeyOf",
			cel.Overload("identifierkeyof_dyn_string", []*cel.Type{cel.DynType, cel.StringType}, cel.StringType,
				cel.BinaryBinding(func(l, typ ref.Val) ref.Val {
					native, err := l.ConvertToNative(reflect.TypeOf([]any{}))
					if err != nil {
						return types.String("")
					}
					t, _ := typ.(types.String)
					return types.String(identifierKeyOf(native.([]any), string(t)))
				}))),
		cel.Function("addMinutes",
			cel.Overload("addminutes_string_int", []*cel.Type{cel.StringType, cel.IntType}, cel.StringType,
				cel.BinaryBinding(func(ts, n ref.Val) ref.Val {
					minutes, _ := n.Value().(int64)
					return types.String(addMinutes(ts, minutes))
				})),
			cel.Overload("addminutes_string_string", []*cel.Type{cel.StringType, cel.StringType}, cel.StringType,
				cel.BinaryBinding(func(ts, n ref.Val) ref.Val {
					s, _ := n.(types.String)
					minutes, err := strconv.ParseInt(strings.TrimSpace(string(s)), 10, 64)
					if err != nil {
						return types.String("")
					}
					return types.String(addMinutes(ts, minutes))
				}))),
		cel.Function("hash",
			cel.Overload("hash_string", []*cel.Type{cel.StringType}, cel.StringType,
				cel.UnaryBinding(func(s ref.Val) ref.Val {
					str, _ := s.(types.String)
					sum := sha256.Sum256([]byte(str))
					return types.String(hex.EncodeToString(sum[:8]))
				}))),
	)
}

// addMinutes adds minutes to an HL7 date/time, keeping its offset (or its
// absence); "" when ts is not a date/time.
func addMinutes(ts ref.Val, minutes int64) string {
	s, _ := ts.(types.String)
	t, err := hl7.ParseTime(string(s), time.UTC)
	if err != nil || t.IsZero() {
		return ""
	}
	t.Time = t.Time.Add(time.Duration(minutes) * time.Minute)
	if t.Precision < hl7.PrecisionMinute {
		t.Precision = hl7.PrecisionMinute
	}
	return t.String()
}

// identifierKey picks the business identifier of a list of FHIR
// Identifiers: the first with type code MR, else the first with a value.
func identifierKey(ids []any) string {
	var first string
	for _, id := range ids {
		value, _ := memberOf(id, "value").(string)
		if value == "" {
			continue
		}
		system, _ := memberOf(id, "system").(string)
		key := system + "|" + value
		if first == "" {
			first = key
		}
		if identifierTypeCode(id) == "MR" {
			return key
		}
	}
	return first
}

// identifierKeyOf is the business key of the first identifier of type code t.
func identifierKeyOf(ids []any, t string) string {
	for _, id := range ids {
		if identifierTypeCode(id) != t {
			continue
		}
		if value, _ := memberOf(id, "value").(string); value != "" {
			system, _ := memberOf(id, "system").(string)
			return system + "|" + value
		}
	}
	return ""
}

// identifierTypeCode is the first code of an identifier's type: of a node
// or a map (see memberOf).
func identifierTypeCode(id any) string {
	for _, c := range elementsOf(memberOf(memberOf(id, "type"), "coding")) {
		if code, _ := memberOf(c, "code").(string); code != "" {
			return code
		}
	}
	return ""
}

// program is a compiled expression with where it was written.
type program struct {
	prg cel.Program
	src string
	at  string    // file:line:col
	out *cel.Type // the type the checker gives the expression
	// constant holds the value of an expression that reads no variable
	// (e.g. a URL literal), computed once at load.
	constant ref.Val
	// direct evaluates the few simplest forms of condition (see
	// directForm) without the interpreter, with the same result and the
	// same reads; nil for any other expression.
	direct func(a *activation) ref.Val
	// constNative is constant as a plain Go value, pruned (nil when it
	// prunes to nothing); copied when it is a map or list.
	constNative any
	// fastBool, fastStr and fastAny evaluate the expression without the
	// interpreter when it is of the subset fastexpr.go compiles (by the
	// type the expression is used as); nil otherwise.
	fastBool fastBool
	fastStr  fastStr
	fastAny  fastAny
}

// compileFast prepares what evaluates p without the interpreter: its
// constant as a Go value, or the closures of fastexpr.go.
func (p *program) compileFast(checked *cel.Ast, want *cel.Type) {
	if p.constant != nil {
		if v, ok := prune(native(p.constant)); ok {
			p.constNative = v
		}
		return
	}
	e := checked.NativeRep().Expr()
	switch want {
	case cel.BoolType:
		p.fastBool = compileFastBool(e)
	case cel.StringType:
		p.fastStr = compileFastStr(e)
	case nil:
		p.fastAny = compileFastAny(e)
	}
}

// eval evaluates the program (or returns its constant).
func (p *program) eval(a *activation) (ref.Val, error) {
	if p.constant != nil {
		return p.constant, nil
	}
	if p.direct != nil {
		return p.direct(a), nil
	}
	out, _, err := p.prg.Eval(a)
	return out, err
}

// probe is an activation that records whether any variable was read.
type probe struct{ read bool }

func (p *probe) ResolveName(string) (any, bool) { p.read = true; return nil, false }
func (p *probe) Parent() interpreter.Activation { return nil }

// foldConstant evaluates p once without variables: if it reads none, its
// value never changes and is kept.
func (p *program) foldConstant() {
	var pr probe
	out, _, err := p.prg.Eval(&pr)
	if err == nil && !pr.read && !types.IsError(out) {
		p.constant = out
	}
}

// compileExpr compiles src, checking that it yields want (nil: any type).
func compileExpr(env *cel.Env, src string, want *cel.Type) (cel.Program, error) {
	prg, _, err := compileChecked(env, src, want)
	return prg, err
}

// compileChecked is compileExpr, also returning the checked expression.
func compileChecked(env *cel.Env, src string, want *cel.Type) (cel.Program, *cel.Ast, error) {
	ast, iss := env.Compile(src)
	if iss != nil && iss.Err() != nil {
		return nil, nil, fmt.Errorf("%s", iss.Err().Error())
	}
	if want != nil && !ast.OutputType().IsAssignableType(want) && ast.OutputType() != cel.DynType {
		return nil, nil, &wrongTypeError{got: ast.OutputType(), want: want}
	}
	prg, err := env.Program(ast, cel.EvalOptions(cel.OptOptimize))
	if err != nil {
		return nil, nil, err
	}
	return prg, ast, nil
}

// wrongTypeError is an expression whose checked type is not the one its
// place needs (a condition giving a number), which would otherwise only
// show at run time, on every message.
type wrongTypeError struct{ got, want *cel.Type }

func (e *wrongTypeError) Error() string {
	return fmt.Sprintf("expression gives %s, want %s", e.got, e.want)
}

// hint says how to make the expression give what is wanted.
func (e *wrongTypeError) hint() string {
	switch e.want {
	case cel.BoolType:
		return "a condition gives true or false: compare or test the value, e.g. size(resource.name) > 0, has(resource.name), valued(it)"
	case cel.StringType:
		return "a key or warning gives text: convert with string(...), join parts with +"
	}
	return ""
}

// accessor exposes HL7 values to CEL by index (v["3.1"], m["PID-3"]) and
// records what was read, so that unused fields can be reported. It reads
// the message (msg), a segment context (seg) or a data type value (dt);
// with none of them every value is empty.
type accessor struct {
	st  *mapState
	msg bool
	seg *segContext
	dt  *dtContext
}

func (a *accessor) get(path string) string {
	switch {
	case a.msg:
		return a.st.messageValue(path)
	case a.seg != nil:
		return a.st.segValue(a.seg, path)
	case a.dt != nil:
		return a.st.dtValue(a.dt, path)
	}
	return ""
}

// literalPath is a path written as a literal index (v["3.1"]), parsed
// when the expression is compiled for either context it may read, so that
// reading it costs no lookup of the parsed path.
type literalPath struct {
	text          string
	seg, dt       sourcePath // in a segment map, in a datatype map
	segErr, dtErr error
}

func newLiteralPath(text string) *literalPath {
	p := &literalPath{text: text}
	p.seg, p.segErr = parseSource(text, true)
	p.dt, p.dtErr = parseSource(text, false)
	return p
}

// getLiteral is get of a literal path.
func (a *accessor) getLiteral(p *literalPath) string {
	switch {
	case a.msg:
		return a.st.messageValue(p.text)
	case a.seg != nil:
		if p.segErr != nil {
			return ""
		}
		return a.st.segValueAt(a.seg, &p.seg)
	case a.dt != nil:
		if p.dtErr != nil {
			return ""
		}
		return a.st.dtValueAt(a.dt, &p.dt)
	}
	return ""
}

var accessorType = types.NewOpaqueType("carebridge.HL7Values")

var (
	_ ref.Val        = (*accessor)(nil)
	_ traits.Indexer = (*accessor)(nil)
)

func (a *accessor) ConvertToNative(reflect.Type) (any, error) {
	return nil, fmt.Errorf("HL7 values cannot be converted")
}
func (a *accessor) ConvertToType(t ref.Type) ref.Val {
	return types.NewErr("HL7 values cannot be converted to %s", t)
}
func (a *accessor) Equal(other ref.Val) ref.Val { return types.Bool(other == a) }
func (a *accessor) Type() ref.Type              { return accessorType }
func (a *accessor) Value() any                  { return a }

// Get returns the text at the path given as index.
func (a *accessor) Get(index ref.Val) ref.Val {
	p, ok := index.(types.String)
	if !ok {
		return types.NewErr("index HL7 values with a path string, e.g. v[\"3.1\"]")
	}
	return celString(a.get(string(p)))
}

// fieldText is the text of a value for CEL and plain rows: the leaf text,
// or the first component's text for a composite.
func fieldText(f hl7.Field) string {
	if f.IsNull() {
		return `""`
	}
	return f.String()
}

// activation holds the variables of one evaluation; it is a struct (not a
// map) so that switching context costs no allocation. The string variables
// are held as CEL values (types.String), converted once when set rather
// than at every read.
type activation struct {
	// it is the source's text as a CEL value, or nil: then itStr is the
	// text, converted only when the interpreter reads it.
	it, event, structure ref.Val
	itStr                string
	v, m                 *accessor
	sender               map[string]string
	resource             *node
	ids                  map[string]any
}

var _ interpreter.Activation = (*activation)(nil)

// ResolveName returns a variable's value.
func (a *activation) ResolveName(name string) (any, bool) {
	switch name {
	case "it":
		if a.it == nil {
			return celString(a.itStr), true
		}
		return a.it, true
	case "v":
		return a.v, true
	case "m":
		return a.m, true
	case "event":
		return orEmpty(a.event), true
	case "structure":
		return orEmpty(a.structure), true
	case "sender":
		return a.sender, true
	case "resource":
		if a.resource == nil {
			return map[string]any(nil), true
		}
		return a.resource.toMap(), true // made for the interpreter only
	case "ids":
		return a.ids, true
	}
	return nil, false
}

var emptyString ref.Val = types.String("")

// orEmpty is v, or the empty string when v is unset.
func orEmpty(v ref.Val) ref.Val {
	if v == nil {
		return emptyString
	}
	return v
}

// celString converts s to a CEL value once.
func celString(s string) ref.Val {
	if s == "" {
		return emptyString
	}
	return types.String(s)
}

// Parent returns nil: there is no enclosing activation.
func (a *activation) Parent() interpreter.Activation { return nil }
