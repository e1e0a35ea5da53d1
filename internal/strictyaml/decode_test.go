package strictyaml

import (
	"testing"
)

// TestBooleansAreTrueOrFalse: a boolean is written true or false (YAML 1.2
// core); a number or a YAML 1.1 word is an error at the value, never read
// as on or off.
func TestBooleansAreTrueOrFalse(t *testing.T) {
	type settings struct {
		On    bool  `yaml:"on"`
		Maybe *bool `yaml:"maybe"`
	}
	for _, tc := range []struct {
		name, doc string
		want      bool
		err       string
	}{
		{"true", "on: true\n", true, ""},
		{"false", "on: false\n", false, ""},
		{"capitalised", "on: True\n", true, ""},
		{"quoted", "on: \"true\"\n", true, ""},
		{"one", "on: 1\n", false, "f.yaml:1:5: on: want true or false, got 1"},
		{"zero", "on: 0\n", false, "f.yaml:1:5: on: want true or false, got 0"},
		{"quoted one", "on: \"1\"\n", false, `f.yaml:1:5: on: want true or false, got "1"`},
		{"yes", "on: yes\n", false, `f.yaml:1:5: on: want true or false, got "yes"`},
		{"off", "on: off\n", false, `f.yaml:1:5: on: want true or false, got "off"`},
		{"t", "on: t\n", false, `f.yaml:1:5: on: want true or false, got "t"`},
		{"a list", "on: [true]\n", false, "f.yaml:1:5: on: want true or false, got a list"},
		{"through a pointer", "maybe: 0\n", false, "f.yaml:1:8: maybe: want true or false, got 0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var v settings
			_, errs := Decode("f.yaml", []byte(tc.doc), &v)
			if tc.err == "" {
				if len(errs.List) > 0 || v.On != tc.want {
					t.Fatalf("on = %v, errors %v; want %v and no error", v.On, errs, tc.want)
				}
				return
			}
			if errs.Error() != tc.err {
				t.Fatalf("errors:\n%v\nwant:\n%s", errs, tc.err)
			}
			if v.On || v.Maybe != nil && *v.Maybe {
				t.Fatalf("a refused value switched the setting on: %+v", v)
			}
		})
	}
}

// TestEmptyListEntry: a list entry with nothing after its "-" is an error
// at that entry, and is not decoded as an entry without a place (whose
// later errors would have no file:line:col).
func TestEmptyListEntry(t *testing.T) {
	type row struct {
		Pos Position
		To  string `yaml:"to"`
	}
	var v struct {
		Rows []row `yaml:"rows"`
	}
	_, errs := Decode("f.yaml", []byte("rows:\n  - {to: a}\n  -\n  - {to: b}\n"), &v)
	if errs == nil || len(errs.List) != 1 {
		t.Fatalf("errors %v, want one", errs)
	}
	if e := errs.List[0]; e.Pos.Line != 3 || e.Pos.Column != 4 || e.Msg != "rows[1]: empty entry (want a mapping of settings)" {
		t.Errorf("error %s: %s", e.Pos, e.Msg)
	}
	if len(v.Rows) != 2 || v.Rows[0].To != "a" || v.Rows[1].To != "b" || v.Rows[1].Pos.Line != 4 {
		t.Errorf("rows %+v, want a and b with their places", v.Rows)
	}
}
