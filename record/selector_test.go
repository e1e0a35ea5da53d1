package record

import (
	"errors"
	"strconv"
	"strings"
	"testing"
)

func TestParseSelector(t *testing.T) {
	tests := []struct {
		name, src, canonical string
	}{
		{"element", "address", "address"},
		{"nested element", "period.end", "period.end"},
		{"backbone element", "hospitalization.dischargeDisposition", "hospitalization.dischargeDisposition"},
		{"where with or and empty", `telecom.where(use = "home" or use.empty())`, `telecom.where(use = 'home' or use.empty())`},
		{"where on url", `extension.where(url = "http://hl7.org/fhir/StructureDefinition/patient-religion")`,
			`extension.where(url = 'http://hl7.org/fhir/StructureDefinition/patient-religion')`},
		{"where then path", "contact.where(relationship.coding.code='N').telecom", "contact.where(relationship.coding.code = 'N').telecom"},
		{"and binds tighter than or", "telecom.where(a='1' or b='2' and c.exists())", "telecom.where(a = '1' or b = '2' and c.exists())"},
		{"parentheses kept where needed", "telecom.where((a='1' or b='2') and c != 'x')", "telecom.where((a = '1' or b = '2') and c != 'x')"},
		{"redundant parentheses dropped", "telecom.where((a='1'))", "telecom.where(a = '1')"},
		{"not and booleans", "telecom.where(rank.exists().not() and active = true)", "telecom.where(rank.exists().not() and active = true)"},
		{"nested where", "contact.where(telecom.where(use='home').exists())", "contact.where(telecom.where(use = 'home').exists())"},
		{"two where filters", "telecom.where(use='home').where(system='phone')", "telecom.where(use = 'home').where(system = 'phone')"},
		{"escapes", `identifier.where(value = 'O\'Brien \u00e9\\')`, `identifier.where(value = 'O\'Brien é\\')`},
		{"double quotes inside single", `x.where(a = 'say "hi"')`, `x.where(a = 'say "hi"')`},
		{"whitespace", " name . where ( use = 'old' ) ", "name.where(use = 'old')"},
		{"right-nested or keeps grouping", "x.where(a='1' or (b='2' or c='3'))", "x.where(a = '1' or (b = '2' or c = '3'))"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sel, err := ParseSelector(tc.src)
			if err != nil {
				t.Fatalf("ParseSelector(%q): %v", tc.src, err)
			}
			if got := sel.String(); got != tc.canonical {
				t.Errorf("String() = %q, want %q", got, tc.canonical)
			}
			again, err := ParseSelector(sel.String())
			if err != nil || again.String() != sel.String() {
				t.Errorf("canonical form does not parse to itself: %v", err)
			}
		})
	}
}

func TestParseSelectorErrors(t *testing.T) {
	tests := []struct {
		name, src, want string
	}{
		{"empty", "", "offset 0: expected an element name"},
		{"trailing dot", "address.", "offset 8: expected an element name or where(...)"},
		{"leading where", "where(use='x')", "offset 5: expected \".\" or end"},
		{"missing operand", "telecom.where(use = )", "offset 20: expected an operand"},
		{"unterminated string", "telecom.where(use = 'home)", "offset 20: unterminated string"},
		{"unclosed where", "telecom.where(use = 'home'", "offset 26: expected \")\""},
		{"unknown function", "telecom.where(use.first() = 'x')", "unsupported function first()"},
		{"function as a step", "telecom.exists()", "function exists() cannot select elements"},
		{"chained comparison", "x.where(a = b = c)", "comparisons do not chain"},
		{"bad character", "telecom[0]", "offset 7: unexpected character '['"},
		{"bad escape", `x.where(a = '\q')`, `unknown escape \q`},
		{"bad unicode escape", `x.where(a = '\u12')`, `\u needs four hex digits`},
		{"keyword as element", "and", "expected an element name"},
		{"bare function", "x.where(exists())", "needs a target"},
		{"too deep", "x.where(" + strings.Repeat("(", 40) + "a='1'" + strings.Repeat(")", 40) + ")", "nested deeper than 32"},
		{"too long", strings.Repeat("a", 2000), "longer than 1024"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseSelector(tc.src)
			if err == nil {
				t.Fatalf("ParseSelector(%q) succeeded", tc.src)
			}
			if !errors.Is(err, ErrBadSelector) {
				t.Errorf("error %v does not wrap ErrBadSelector", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not contain %q", err, tc.want)
			}
			if len(tc.src) < 100 && !strings.Contains(err.Error(), strconv.Quote(tc.src)) {
				t.Errorf("error %q does not name the selector", err)
			}
		})
	}
}

// TestSelectorWhere checks the FHIRPath semantics of where criteria.
func TestSelectorWhere(t *testing.T) {
	entry := fmDecode(t, `{"system":"phone","value":"1","use":"home","rank":2,"period":{"start":"2020"},
		"coding":[{"code":"a"},{"code":"b"}],"answerString":"v","active":true}`, false)
	tests := []struct {
		criteria string
		want     bool
	}{
		{"use = 'home'", true},
		{"use = \"work\"", false},
		{"use != 'work'", true},
		{"missing = 'x'", false},  // empty = x is empty: not kept
		{"missing != 'x'", false}, // likewise
		{"missing.empty()", true}, //
		{"use.exists()", true},    //
		{"use.empty()", false},    //
		{"period.start = '2020'", true},
		{"period.end.exists()", false},
		{"use = 'home' and system = 'phone'", true},
		{"use = 'home' and system = 'email'", false},
		{"use = 'work' or system = 'phone'", true},
		{"missing = 'x' or use = 'home'", true},   // empty or true is true
		{"missing = 'x' and use = 'home'", false}, // empty and true is empty
		{"missing = 'x' and use = 'work'", false}, // empty and false is false
		{"(use = 'work').not()", true},
		{"missing.exists().not()", true},
		{"coding.code = 'a'", false}, // two codes are not equal to one
		{"coding.where(code = 'b').exists()", true},
		{"rank = '2'", false},  // a number is not a string
		{"answer = 'v'", true}, // a choice element by its name
		{"active = true", true},
		{"active = false", false},
	}
	for _, tc := range tests {
		t.Run(tc.criteria, func(t *testing.T) {
			sel, err := ParseSelector("telecom.where(" + tc.criteria + ")")
			if err != nil {
				t.Fatal(err)
			}
			if got := matchesAll([]selExpr{sel.steps[1].where}, entry); got != tc.want {
				t.Errorf("where(%s) = %v, want %v", tc.criteria, got, tc.want)
			}
		})
	}
}

func FuzzParseSelector(f *testing.F) {
	for _, s := range []string{
		"address", "period.end", "hospitalization.dischargeDisposition", "link",
		`telecom.where(use = "home" or use.empty())`,
		`extension.where(url = "http://hl7.org/fhir/StructureDefinition/patient-religion")`,
		"contact.where(relationship.coding.code='N').telecom",
		"x.where((a='1' or b!='2') and c.exists().not())",
		`x.where(a = 'O\'B\u00e9\\')`, "telecom.where(use.first())", "x.where(", "'", "a.b.c.d.e",
	} {
		f.Add(s)
	}
	res := fmDecode(f, `{"resourceType":"Patient","telecom":[{"system":"phone","use":"home","value":"1"},{"use":"work"}],
		"contact":[{"relationship":[{"coding":[{"code":"N"}]}],"telecom":[{"use":"home"}]}],"period":{"end":"x"},
		"extension":[{"url":"u","valueString":"s"}],"deceasedBoolean":true}`, false)
	f.Fuzz(func(t *testing.T, src string) {
		sel, err := ParseSelector(src)
		if err != nil {
			if !errors.Is(err, ErrBadSelector) {
				t.Fatalf("error %v does not wrap ErrBadSelector", err)
			}
			return
		}
		canon := sel.String()
		again, err := ParseSelector(canon)
		if err != nil {
			t.Fatalf("canonical form %q of %q does not parse: %v", canon, src, err)
		}
		if again.String() != canon {
			t.Fatalf("canonical form is not stable: %q then %q", canon, again.String())
		}
		// Clearing with any selector that parses must not panic.
		if sel.steps[0].name != "meta" && sel.steps[0].name != "id" && sel.steps[0].name != "resourceType" {
			clearElements(cloneJSONMap(res), sel.steps)
		}
	})
}
