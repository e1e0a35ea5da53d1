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
