package mappings_test

import (
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
