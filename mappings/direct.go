package mappings

import (
	"regexp"
	"slices"
	"strings"

	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
)

// Most conditions in mapping files are one test of one value:
// valued(v["2"]), !valued(m["PID-18"]), event == "A13", it in ["M", "SH"],
// v["17.1"] == "SEL". These are evaluated directly, reading the value the
// same way (so that it counts as used) and giving the same result as CEL;
// everything else goes to the interpreter.

// A quoted literal without escapes: its text is its value.
const directLit = `"([^"\\]*)"`

var (
	directValued  = regexp.MustCompile(`^(!?)valued\(([vm])\[` + directLit + `\]\)$`)
	directCompare = regexp.MustCompile(`^(event|it|v\[` + directLit + `\]) (==|!=) ` + directLit + `$`)
	directIn      = regexp.MustCompile(`^(event|it) in \[((?:` + directLit + `, )*` + directLit + `)\]$`)
	directItem    = regexp.MustCompile(directLit)
)

// directForm returns a direct evaluation of src, or nil when src is not one
// of the simple forms.
func directForm(src string) func(a *activation) ref.Val {
	if m := directValued.FindStringSubmatch(src); m != nil {
		not, fromMsg, path := m[1] == "!", m[2] == "m", m[3]
		return func(a *activation) ref.Val {
			acc := a.v
			if fromMsg {
				acc = a.m
			}
			s := acc.get(path)
			return types.Bool((s != "" && s != `""`) != not)
		}
	}
	if m := directCompare.FindStringSubmatch(src); m != nil {
		operand, path, ne, lit := m[1], m[2], m[3] == "!=", m[4]
		get := directOperand(operand, path)
		return func(a *activation) ref.Val { return types.Bool((get(a) == lit) != ne) }
	}
	if m := directIn.FindStringSubmatch(src); m != nil {
		var items []string
		for _, it := range directItem.FindAllStringSubmatch(m[2], -1) {
			items = append(items, it[1])
		}
		get := directOperand(m[1], "")
		return func(a *activation) ref.Val { return types.Bool(slices.Contains(items, get(a))) }
	}
	return nil
}

// directOperand reads event, it or v[path] as a string.
func directOperand(operand, path string) func(a *activation) string {
	switch {
	case operand == "event":
		return func(a *activation) string { return celText(a.event) }
	case operand == "it":
		return func(a *activation) string { return a.itText() }
	case strings.HasPrefix(operand, "v["):
		return func(a *activation) string { return a.v.get(path) }
	}
	return nil
}

// celText is the text of a string variable (unset: "").
func celText(v ref.Val) string {
	s, _ := v.(types.String)
	return string(s)
}
