package mappings_test

import (
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/carebridge/carebridge/mappings"
)

// checkFiles is a small set that loads; each case below breaks one thing.
func checkFiles() fstest.MapFS {
	return fstest.MapFS{
		"msg.yaml": {Data: []byte(`message: ADT
events: {A01: ADT_A01}
resources:
  - name: patient
    segment: PID
    map: PID[Patient]
    key: identifierKey(resource.identifier)
    rows:
      - {from: "ZPI-2", to: "extension[]", value: '{"url": "https://example.org/vip", "valueString": it}'}
`)},
		"pid.yaml": {Data: []byte(`segment: PID[Patient]
resource: Patient
rows:
  - {from: "3", to: "identifier[]", via: "CX[Identifier]"}
  - {from: "5.1.1", to: "name[0].family"}
  - {from: "8", to: gender, code: Sex}
  - {from: "30", to: deceasedBoolean, as: boolean}
  - {from: "MRG-1", to: "link[0].other.display"}
`)},
		"cx.yaml": {Data: []byte(`datatype: CX[Identifier]
rows:
  - {from: "1", to: value}
  - {from: "4.1", to: system}
`)},
		"sex.yaml": {Data: []byte(`codemap: Sex
table: "0001"
target: http://hl7.org/fhir/administrative-gender
codes:
  F: {code: female}
  M: {code: male}
`)},
	}
}

func TestStaticChecks(t *testing.T) {
	if _, err := mappings.Load(checkFiles()); err != nil {
		t.Fatalf("the base set does not load: %v", err)
	}
	tests := []struct {
		name     string
		file     string
		old, new string
		want     []string // error lines, in order
	}{
		{"unknown element", "pid.yaml", `to: "name[0].family"`, `to: nmae`,
			[]string{`pid.yaml:5:25: Patient has no element nmae (hint: did you mean name?)`}},
		{"unknown element of a datatype", "pid.yaml", `to: "name[0].family"`, `to: "name[0].famly"`,
			[]string{`pid.yaml:5:25: Patient.name has no element famly (hint: did you mean family?)`}},
		{"conversion into the wrong type", "pid.yaml", `{from: "30", to: deceasedBoolean, as: boolean}`, `{from: "7", to: birthDate, as: boolean}`,
			[]string{`pid.yaml:7:36: Patient.birthDate is a date: as boolean writes a boolean (hint: as: date)`}},
		{"a choice by its base name", "pid.yaml", `to: deceasedBoolean`, `to: deceased`,
			[]string{`pid.yaml:7:22: Patient has no element deceased (hint: deceased[x] is a choice: write one of deceasedBoolean, deceasedDateTime)`}},
		{"an index on a single element", "pid.yaml", `to: gender,`, `to: "gender[0]",`,
			[]string{`pid.yaml:6:21: Patient.gender does not repeat (hint: write gender without [0])`}},
		{"a repeating element without an index", "pid.yaml", `to: "name[0].family"`, `to: "name.family"`,
			[]string{`pid.yaml:5:25: Patient.name repeats: name which one (hint: write name[0] (the first) or name[] (a new one))`}},
		{"text into an object", "pid.yaml", `to: "name[0].family"`, `to: "name[]"`,
			[]string{`pid.yaml:5:25: Patient.name is a HumanName: as string writes text (hint: write to one of its elements (family, given, period, prefix, suffix, text, ...), or use via with a datatype map)`}},
		{"via building another type", "pid.yaml", `to: "identifier[]"`, `to: "name[]"`,
			[]string{`pid.yaml:4:36: CX[Identifier] builds an Identifier, but Patient.name is a HumanName`}},
		{"a code outside the required binding", "sex.yaml", `F: {code: female}`, `F: {code: femal}`,
			[]string{`sex.yaml:5:13: codemap Sex: F → femal: not a code of Patient.gender (required binding http://hl7.org/fhir/ValueSet/administrative-gender), which pid.yaml:6:5 writes it to (hint: did you mean female?)`}},
		{"a field the segment does not have", "pid.yaml", `from: "30"`, `from: "99"`,
			[]string{`pid.yaml:7:12: source "99": PID has no field 99 (hint: PID has 40 fields (HL7 v2.5.1 to v2.9))`}},
		{"an absolute field the segment does not have", "pid.yaml", `from: "MRG-1"`, `from: "PID-99"`,
			[]string{`pid.yaml:8:12: source "PID-99": PID has no field 99`}},
		{"a component the type does not have", "pid.yaml", `from: "MRG-1"`, `from: "PID-3.99"`,
			[]string{`pid.yaml:8:12: source "PID-3.99": PID-3 (CX) has no component 99 (hint: CX has 12 components)`}},
		{"a sub-component of a primitive", "pid.yaml", `from: "5.1.1"`, `from: "3.1.1"`,
			[]string{`pid.yaml:5:12: source "3.1.1": CX.1 is a ST, which has no sub-components (hint: read component 1 whole)`}},
		{"a component of a datatype map's type", "cx.yaml", `from: "4.1"`, `from: "4.9"`,
			[]string{`cx.yaml:4:12: source "4.9": CX.4 (HD) has no component 9 (hint: HD has 3 components)`}},
		{"a Z-segment in a segment map", "pid.yaml", `from: "MRG-1"`, `from: "ZZZ-1"`,
			[]string{`pid.yaml:8:12: source "ZZZ-1": ZZZ is not PID nor an HL7 v2 segment (hint: a map of a segment reads its own segment and the HL7 v2 segments; read a Z-segment in a message map rule's rows)`}},
		{"a misspelt segment map", "msg.yaml", `map: PID[Patient]`, `map: PID[Patinet]`,
			[]string{`msg.yaml:6:10: resource patient: no segment map "PID[Patinet]" (hint: did you mean PID[Patient]?)`}},
		{"a misspelt rule key is one error", "msg.yaml", `segment: PID`, `segmnt: PID`,
			[]string{`msg.yaml:5:5: resources[0].segmnt: unknown setting (did you mean "segment"?)`}},
		{"a misspelt file kind", "cx.yaml", `datatype: CX`, `datatyp: CX`,
			[]string{`cx.yaml:1:1: not a mapping file: unknown first key "datatyp" (did you mean "datatype"?)`,
				`pid.yaml:4:42: row identifier[]: no datatype map "CX[Identifier]" (hint: it may be in cx.yaml, which is not a mapping file: fix that first)`}},
		{"a field a condition reads that the segment does not have", "pid.yaml", `{from: "8", to: gender, code: Sex}`, `{from: "8", to: gender, code: Sex, when: 'valued(v["88"])'}`,
			[]string{`pid.yaml:6:46: when: v["88"]: PID has no field 88 (hint: PID has 40 fields (HL7 v2.5.1 to v2.9))`}},
		{"a component a value reads that the datatype does not have", "cx.yaml", `{from: "1", to: value}`, `{from: "1", to: value, value: 'it + v["4.7"]'}`,
			[]string{`cx.yaml:3:35: value: v["4.7"]: CX.4 (HD) has no component 7 (hint: HD has 3 components)`}},
		{"a message path a condition reads that the segment does not have", "pid.yaml", `{from: "8", to: gender, code: Sex}`, `{from: "8", to: gender, code: Sex, when: 'm["MSH-9.9"] == "A01"'}`,
			[]string{`pid.yaml:6:46: m["MSH-9.9"]: MSH-9 (MSG) has no component 9 (hint: MSG has 3 components)`}},
		{"a message path a resource key reads that the segment does not have", "msg.yaml", `key: identifierKey(resource.identifier)`, `key: 'identifierKey(resource.identifier) + m["PV1-444"]'`,
			[]string{`msg.yaml:7:10: m["PV1-444"]: PV1 has no field 444 (hint: PV1 has 54 fields (HL7 v2.5.1 to v2.9))`}},
		{"a path a condition reads that is no path", "pid.yaml", `{from: "8", to: gender, code: Sex}`, `{from: "8", to: gender, code: Sex, when: 'valued(v["x"])'}`,
			[]string{`pid.yaml:6:46: when: v["x"]: source "x": `}},
		{"an ignored field the segment does not have", "msg.yaml", "events: {A01: ADT_A01}\n", "events: {A01: ADT_A01}\nignore: [MSH, PID-1, PID-77]\n",
			[]string{`msg.yaml:3:9: ignore: PID-77: PID has no field 77 (hint: PID has 40 fields (HL7 v2.5.1 to v2.9))`}},
		{"an ignored segment HL7 v2 does not have", "msg.yaml", "events: {A01: ADT_A01}\n", "events: {A01: ADT_A01}\nignore: [MSH, PIX, ZPI]\n",
			[]string{`msg.yaml:3:9: ignore: PIX is not an HL7 v2 segment (hint: did you mean PID?)`}},
		{"an ignored field that is no field", "msg.yaml", "events: {A01: ADT_A01}\n", "events: {A01: ADT_A01}\nignore: [MSH, EVN-x]\n",
			[]string{`msg.yaml:3:9: ignore: "EVN-x" is not a segment or field (hint: a segment (EVN) or a field (EVN-1))`}},
		{"a bad condition at its value", "msg.yaml", `key: identifierKey(resource.identifier)`, "key: identifierKey(resource.identifier)\n    when: 'event =='",
			[]string{"msg.yaml:8:11: expression \"event ==\": ERROR: <input>:1:9: Syntax error:", "\n     | event ==\n     | ........^"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			files := checkFiles()
			src := string(files[tc.file].Data)
			if !strings.Contains(src, tc.old) {
				t.Fatalf("%s has no %q", tc.file, tc.old)
			}
			files[tc.file] = &fstest.MapFile{Data: []byte(strings.Replace(src, tc.old, tc.new, 1))}
			_, err := mappings.Load(files)
			if err == nil {
				t.Fatal("loaded")
			}
			got := err.Error()
			rest := got
			for _, w := range tc.want {
				i := strings.Index(rest, w)
				if i < 0 {
					t.Fatalf("errors lack %q (in order):\n%s", w, got)
				}
				rest = rest[i+len(w):]
			}
			if n := strings.Count(got, "\n") - strings.Count(got, "\n     |") + 1; n != 1 && !strings.Contains(got, "fix that first") {
				t.Errorf("%d errors for one mistake:\n%s", n, got)
			}
		})
	}
}

// resourcePathFiles is a set whose expressions read the resource being
// built in every place resource is bound, all correctly.
func resourcePathFiles() fstest.MapFS {
	return fstest.MapFS{
		"msg.yaml": {Data: []byte(`message: ADT
events: {A01: ADT_A01}
resources:
  - name: patient
    segment: PID
    map: PID[Patient]
    key: 'identifierKey(resource.identifier) + resource.resourceType'
    require:
      - {that: 'has(resource.name) || resource["identifier"].size() > 0', message: "who"}
    expect:
      - {that: 'resource.name.all(n, has(n.family) && n.given.exists(g, g != ""))', message: "names"}
    rows:
      - {to: active, value: 'has(resource.deceasedBoolean) && !has(resource._birthDate)'}
  - name: encounter
    segment: PV1
    map: PV1[Encounter]
    rows:
      - {each: PV1, to: "location[]", map: "PV1[Encounter.location]"}
`)},
		"pid.yaml": {Data: []byte(`segment: PID[Patient]
resource: Patient
key: 'resource.name[size(resource.name) - 1].family + resource.contained[0].anything'
expect:
  - {that: 'resource.identifier.exists(i, i.type.coding[0].code == "MR")', message: "an MRN"}
rows:
  - {from: "3", to: "identifier[]", via: "CX[Identifier]"}
  - {from: "8", to: gender, code: Sex, when: '!has(resource.gender) && [1].exists(resource, resource > 0)'}
`)},
		"pv1.yaml": {Data: []byte(`segment: PV1[Encounter]
resource: Encounter
key: v["19"]
rows:
  - {from: "19", to: "identifier[]", via: "CX[Identifier]"}
`)},
		"pv1loc.yaml": {Data: []byte(`segment: PV1[Encounter.location]
rows:
  - {from: "3.1", to: location.display, when: 'resource.status != "planned"'}
`)},
		"cx.yaml": {Data: []byte(`datatype: CX[Identifier]
rows:
  - {from: "1", to: value, when: '!has(resource.identifier) || size(resource.identifier) < 9'}
`)},
		"sex.yaml": {Data: []byte(`codemap: Sex
table: "0001"
target: http://hl7.org/fhir/administrative-gender
codes:
  F: {code: female}
  M: {code: male}
`)},
	}
}

// TestResourcePaths: the elements expressions read from resource are
// checked against the R4 definition of the resource built there, every
// mistake reported at once, each once, at its expression, with a hint.
func TestResourcePaths(t *testing.T) {
	if _, err := mappings.Load(resourcePathFiles()); err != nil {
		t.Fatalf("the base set does not load: %v", err)
	}
	files := resourcePathFiles()
	for file, edits := range map[string][][2]string{
		"msg.yaml": {
			{`identifierKey(resource.identifier)`, `identifierKey(resource.identifer)`},
			{`resource["identifier"].size() > 0`, `resource["identifiers"].size() > 0`},
			{`has(n.family)`, `has(n.famly)`},
			{`has(resource.deceasedBoolean)`, `has(resource.deceased)`},
		},
		"pid.yaml": {
			{`i.type.coding[0].code`, `i.type.coding.code`},
			{`!has(resource.gender)`, `resource.gender[0] != ""`},
		},
		"pv1loc.yaml": {{`resource.status`, `resource.statuss`}},
		"cx.yaml":     {{`size(resource.identifier)`, `size(resource.identifier[0].sytem)`}},
	} {
		src := string(files[file].Data)
		for _, e := range edits {
			if !strings.Contains(src, e[0]) {
				t.Fatalf("%s has no %q", file, e[0])
			}
			src = strings.Replace(src, e[0], e[1], 1)
		}
		files[file] = &fstest.MapFile{Data: []byte(src)}
	}
	_, err := mappings.Load(files)
	if err == nil {
		t.Fatal("loaded")
	}
	want := []string{
		`cx.yaml:3:34: resource.identifier[0].sytem: Encounter.identifier has no element sytem (CX[Identifier] is applied to Encounter, Patient: none of them has it) (hint: did you mean system?)`,
		`msg.yaml:7:10: resource.identifer: Patient has no element identifer (hint: did you mean identifier?)`,
		`msg.yaml:9:16: resource.identifiers: Patient has no element identifiers (hint: did you mean identifier?)`,
		`msg.yaml:11:16: n.famly: Patient.name has no element famly (hint: did you mean family?)`,
		`msg.yaml:13:29: resource.deceased: Patient has no element deceased (hint: deceased[x] is a choice: write one of deceasedBoolean, deceasedDateTime)`,
		`pid.yaml:5:12: i.type.coding.code: Patient.identifier.type.coding repeats: it is a list, which has no element code (hint: read one (i.type.coding[0].code) or test each (i.type.coding.exists(x, has(x.code))))`,
		`pid.yaml:8:46: resource.gender[0]: Patient.gender does not repeat (hint: read gender without [0])`,
		`pv1loc.yaml:3:47: resource.statuss: Encounter has no element statuss (hint: did you mean status?)`,
	}
	if got := strings.Split(err.Error(), "\n"); !slices.Equal(got, want) {
		t.Errorf("errors:\n%s\nwant:\n%s", err, strings.Join(want, "\n"))
	}
}

// TestResourcePathsInSharedMaps: a datatype map applied to several
// resources reads an element wrongly only when none of them has it.
func TestResourcePathsInSharedMaps(t *testing.T) {
	files := resourcePathFiles()
	cx := string(files["cx.yaml"].Data)
	for _, tc := range []struct{ expr, want string }{
		{`has(resource.gender)`, ""}, // Patient has it; an Encounter's reads nothing
		{`has(resource.gendr)`, `cx.yaml:3:34: resource.gendr: Encounter has no element gendr (CX[Identifier] is applied to Encounter, Patient: none of them has it)`},
	} {
		files["cx.yaml"] = &fstest.MapFile{Data: []byte(strings.Replace(cx, `!has(resource.identifier)`, tc.expr, 1))}
		_, err := mappings.Load(files)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v", tc.expr, err)
		case tc.want != "" && (err == nil || !strings.HasPrefix(err.Error(), tc.want)):
			t.Errorf("%s: got %v, want %s", tc.expr, err, tc.want)
		}
	}
}

// TestConditionsAreBoolean: a condition the checker types as anything but
// a bool (or dynamic) is a load error at its position.
func TestConditionsAreBoolean(t *testing.T) {
	for _, tc := range []struct{ file, old, new, want string }{
		{"msg.yaml", `that: 'has(resource.name) || resource["identifier"].size() > 0'`, `that: 'size(resource.name)'`,
			`msg.yaml:9:16: expression "size(resource.name)": expression gives int, want bool (hint: a condition gives true or false`},
		{"pid.yaml", `that: 'resource.identifier.exists(i, i.type.coding[0].code == "MR")'`, `that: '"MR"'`,
			`pid.yaml:5:12: expression "\"MR\"": expression gives string, want bool (hint: a condition gives true or false`},
		{"pid.yaml", `when: '!has(resource.gender) && [1].exists(resource, resource > 0)'`, `when: 'v["8"]'`,
			`pid.yaml:8:46: expression "v[\"8\"]": expression gives string, want bool (hint: a condition gives true or false`},
		{"msg.yaml", `map: PV1[Encounter]`, "map: PV1[Encounter]\n    when: 'm[\"PV1-19\"]'",
			`msg.yaml:17:11: expression "m[\"PV1-19\"]": expression gives string, want bool (hint: a condition gives true or false`},
		{"msg.yaml", `key: 'identifierKey(resource.identifier) + resource.resourceType'`, `key: 'size(resource.identifier)'`,
			`msg.yaml:7:10: expression "size(resource.identifier)": expression gives int, want string (hint: a key or warning gives text`},
	} {
		files := resourcePathFiles()
		src := string(files[tc.file].Data)
		if !strings.Contains(src, tc.old) {
			t.Fatalf("%s has no %q", tc.file, tc.old)
		}
		files[tc.file] = &fstest.MapFile{Data: []byte(strings.Replace(src, tc.old, tc.new, 1))}
		_, err := mappings.Load(files)
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: got %v\nwant one error: %s...", tc.new, err, tc.want)
		}
	}
}
