package mappings

import (
	"regexp"
	"strings"
	"testing"
	"testing/fstest"
)

// FuzzParseSource: a row's from (and a v[...] path) either parses or is an
// error naming it; never a panic.
func FuzzParseSource(f *testing.F) {
	for _, s := range []string{".", "3", "3.1", "3(2).1", "5.1.1", "PID-3", "PID-3(2).4.1", "MRG-1", "3(", "3(0)", "-", "ZPI-2.1", "PID[2]-3"} {
		f.Add(s, true)
		f.Add(s, false)
	}
	f.Fuzz(func(t *testing.T, s string, inSegment bool) {
		sp, err := parseSource(s, inSegment)
		if err != nil {
			if !strings.Contains(err.Error(), "source") {
				t.Fatalf("parseSource(%q) error %q does not say it is the source", s, err)
			}
			return
		}
		if sp.text != s || sp.field < 0 || sp.comp < 0 || sp.sub < 0 || sp.rep < 0 {
			t.Fatalf("parseSource(%q) = %+v", s, sp)
		}
	})
}

// FuzzParseTarget: a row's to either parses or is an error; never a panic,
// and a target that parses prints as it was written.
func FuzzParseTarget(f *testing.F) {
	for _, s := range []string{"gender", "name[0].family", "name[].given[]", "extension[0].url", "identifier[]", "a..b", "x[", "x[-1]", "[0]", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if _, err := parseTarget(s); err != nil && err.Error() == "" {
			t.Fatalf("parseTarget(%q): empty error", s)
		}
	})
}

// errorLine is how every load error starts: file:line:col.
var errorLine = regexp.MustCompile(`^[^\s:]+\.yaml:\d+:\d+: `)

// FuzzLoad: a mapping file changed in any way either loads or gives errors
// that each start with file:line:col; never a panic.
func FuzzLoad(f *testing.F) {
	f.Add([]byte(`segment: PID[Patient]
resource: Patient
rows:
  - {from: "3", to: "identifier[]", via: "CX[Identifier]"}
  - {from: "5.1", to: "name[0].family", when: 'valued(v["5.2"]) && m["MSH-9.2"] == "A01"'}
  - {from: "8", to: gender, code: Sex}
`))
	f.Add([]byte(`segment: PID[Patient]
resource: Patient
key: 'has(resource.identifier) ? identifierKey(resource.identifier) : resource.name[0].family + resource["gender"]'
expect:
  - {that: 'resource.name.exists(n, has(n.famly)) && resource.gender[0] == "" && resource.name.given', message: "names"}
rows:
  - {from: "8", to: gender, code: Sex, when: '!has(resource.deceased) && [resource].all(r, has(r.x))'}
`))
	f.Add([]byte("segment: PID[Patient]\nrows:\n  - {from: \"99\", to: nmae}\n"))
	f.Add([]byte("segment: [\n"))
	f.Fuzz(func(t *testing.T, pid []byte) {
		files := fstest.MapFS{
			"pid.yaml": {Data: pid},
			"cx.yaml":  {Data: []byte("datatype: CX[Identifier]\nrows:\n  - {from: \"1\", to: value}\n")},
			"sex.yaml": {Data: []byte("codemap: Sex\ntable: \"0001\"\ntarget: http://hl7.org/fhir/administrative-gender\ncodes:\n  F: {code: female}\n")},
			"msg.yaml": {Data: []byte("message: ADT\nevents: {A01: ADT_A01}\nresources:\n  - {name: patient, segment: PID, map: \"PID[Patient]\"}\n")},
		}
		_, err := Load(files)
		if err == nil {
			return
		}
		for _, line := range strings.Split(err.Error(), "\n") {
			if line == "" || strings.HasPrefix(line, " ") {
				continue // a CEL caret diagram under its error
			}
			if !errorLine.MatchString(line) {
				t.Fatalf("error line without file:line:col: %q\nall: %v", line, err)
			}
		}
	})
}
