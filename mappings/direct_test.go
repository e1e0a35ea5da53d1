package mappings

import (
	"slices"
	"testing"

	"github.com/google/cel-go/cel"

	"github.com/carebridge/carebridge/engine/hl7"
)

// TestDirectFormsAgreeWithCEL evaluates each simple condition both directly
// and with CEL, over values that are set, empty and the HL7 null, and checks
// the results and the values read are the same.
func TestDirectFormsAgreeWithCEL(t *testing.T) {
	env, err := newEnv()
	if err != nil {
		t.Fatal(err)
	}
	exprs := []string{
		`valued(v["2"])`, `!valued(v["3.1"])`, `valued(m["PID-18"])`, `!valued(m["PV1-2.1"])`,
		`event == "A13"`, `event != "A03"`, `it == "NET"`, `it != "NET"`, `v["17.1"] == "SEL"`, `v["1"] != ""`,
		`event in ["A40", "A34", "A30"]`, `it in ["M", "SH"]`, `it in ["X"]`,
	}
	values := []string{"", `""`, "NET", "A13", "SEL", "M", "x"}
	for _, src := range exprs {
		t.Run(src, func(t *testing.T) {
			direct := directForm(src)
			if direct == nil {
				t.Fatal("not taken as a simple form")
			}
			prg, err := compileExpr(env, src, cel.BoolType)
			if err != nil {
				t.Fatal(err)
			}
			for _, val := range values {
				celState, celVars := directFixture(t, val)
				want, _, err := prg.Eval(celVars)
				if err != nil {
					t.Fatal(err)
				}
				directState, directVars := directFixture(t, val)
				if got := direct(directVars); got != want {
					t.Errorf("value %q: direct %v, CEL %v", val, got, want)
				}
				if c, d := celState.used.marked(), directState.used.marked(); !slices.Equal(c, d) {
					t.Errorf("value %q: direct read %v, CEL read %v", val, d, c)
				}
			}
		})
	}
	for _, src := range []string{
		`valued(v["2"]) && valued(v["3"])`, `valued(it)`, `event == "A\"1"`, `size(it) > 8`,
		`v["2"] == m["PID-3"]`, `event in ["A01"] || it == "x"`, `!valued(v["2"]) || true`,
	} {
		if directForm(src) != nil {
			t.Errorf("%s: taken as a simple form", src)
		}
	}
}

// directFixture makes a message whose PID-1, 2, 3, 17 and 18 and PV1-2
// hold val, and the variables of a row of a PID segment map with event and
// it set to val too.
func directFixture(t *testing.T, val string) (*mapState, *activation) {
	t.Helper()
	text := "MSH|^~\\&|APP|FAC|||20260101||ADT^A01|1|P|2.5\r" +
		"PID|" + val + "|" + val + "|" + val + "^x|||||||||||||" + val + "|" + val + "\r" +
		"PV1||" + val + "\r"
	msg, err := hl7.Parse([]byte(text))
	if err != nil {
		t.Fatal(err)
	}
	st := &mapState{set: &Set{}, msg: msg}
	st.resetFields(msg)
	ctx := &segContext{seg: msg.Segments()[1], idx: 1}
	return st, &activation{it: celString(val), event: celString(val), v: st.segAccessor(ctx), m: &accessor{st: st, msg: true}}
}

// marked lists the positions in the set, sorted.
func (s *posSet) marked() []uint64 {
	var out []uint64
	for _, k := range s.slots {
		if k != 0 {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}
