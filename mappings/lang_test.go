package mappings_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/carebridge/carebridge/engine/hl7"
	"github.com/carebridge/carebridge/internal/strictyaml"
	"github.com/carebridge/carebridge/mappings"
)

// A small, self-contained mapping set exercising the language.
var langFiles = fstest.MapFS{
	"msg.yaml": {Data: []byte(`
message: ADT
events: {A01: ADT_A01, A08: ADT_A01, A03: ADT_A03}
groups:
  INSURANCE: {start: IN1, members: [IN2]}
ignore: [MSH, EVN]
resources:
  - name: patient
    segment: PID
    map: PID[Patient]
    key: identifierKey(resource.identifier)
    rows:
      - {to: active, value: 'event != "A03"'}
      - {to: link, clear: true, when: 'event == "A03"'}
      - {each: NK1, to: "contact[]", map: "NK1[Patient.contact]"}
  - name: kin
    segment: NK1
    each: true
    map: NK1[RelatedPerson]
    key: ids.patient + "|" + v["1"]
    rows:
      - {to: patient, ref: patient}
  - name: coverage
    segment: IN1
    group: INSURANCE
    map: IN1[Coverage]
    key: ids.patient + "|" + v["2"]
    rows:
      - {to: beneficiary, ref: patient}
      - {to: status, const: active}
`)},
	"pid.yaml": {Data: []byte(`
segment: PID[Patient]
resource: Patient
rows:
  - {from: "3", to: "identifier[]", via: "CX[Identifier]"}
  - {from: "5", to: "name[]", via: "XPN[HumanName]"}
  - {from: "7", to: birthDate, as: date}
  - {from: "8", to: gender, code: Sex}
  - {from: "11", to: "address[]", via: "XAD[Address]"}
  - {from: "16", to: maritalStatus, code: Marital, as: codeableConcept}
  - {from: "29", to: deceasedDateTime, as: dateTime}
  - {from: "30", to: deceasedBoolean, as: boolean, when: '!valued(v["29"])'}
`)},
	"nk1.yaml": {Data: []byte(`
segment: NK1[RelatedPerson]
resource: RelatedPerson
rows:
  - {from: "2", to: "name[]", via: "XPN[HumanName]"}
`)},
	"nk1contact.yaml": {Data: []byte(`
segment: NK1[Patient.contact]
rows:
  - {from: "2", to: name, via: "XPN[HumanName]"}
  - {to: "extension[0].url", const: "https://example.org/kin-record"}
  - {to: "extension[0].valueReference", ref: kin}
`)},
	"in1.yaml": {Data: []byte(`
segment: IN1[Coverage]
resource: Coverage
rows:
  - {from: "2", to: "identifier[0].value"}
  - {from: "IN2-2", to: subscriberId}
  - {from: "4", to: "payor[0].display", required: true}
`)},
	"cx.yaml": {Data: []byte(`
datatype: CX[Identifier]
rows:
  - {from: "1", to: value}
  - {from: "4", to: system, as: identifierSystem}
  - {from: "5", to: "type.coding[0].code"}
`)},
	"xpn.yaml": {Data: []byte(`
datatype: XPN[HumanName]
rows:
  - {from: "1", to: family}
  - {from: "2", to: "given[]"}
`)},
	"xad.yaml": {Data: []byte(`
datatype: XAD[Address]
rows:
  - {from: "1", to: "line[]"}
  - {from: "3", to: city}
`)},
	"sex.yaml": {Data: []byte(`
codemap: Sex
table: "0001"
target: http://hl7.org/fhir/administrative-gender
codes:
  F: {code: female}
  M: {code: male}
`)},
	"marital.yaml": {Data: []byte(`
codemap: Marital
table: "0002"
target: http://terminology.hl7.org/CodeSystem/v3-MaritalStatus
codes:
  M: {code: M, display: Married}
`)},
	"default.yaml": {Data: []byte(`
sender: default
application: "*"
identifier_systems: {HOSP: "https://hosp.example.org/mrn"}
default_assigning_authority: HOSP
`)},
	"strict.yaml": {Data: []byte(`
sender: strict
application: STRICT
timezone: Asia/Shanghai
unmapped_codes: fail
codes:
  Sex: {X: {code: other}}
`)},
}

func loadLang(t *testing.T) *mappings.Set {
	t.Helper()
	set, err := mappings.Load(langFiles)
	if err != nil {
		t.Fatal(err)
	}
	return set
}

func mapMsg(t *testing.T, set *mappings.Set, raw string) (*mappings.Result, map[string]map[string]any) {
	t.Helper()
	msg, err := hl7.Parse([]byte(strings.ReplaceAll(raw, "\n", "\r")))
	if err != nil {
		t.Fatal(err)
	}
	res, err := set.Map(msg, mappings.Options{})
	if err != nil {
		t.Fatal(err)
	}
	byType := map[string]map[string]any{}
	for _, r := range res.Resources {
		if _, ok := byType[r.Type]; !ok {
			byType[r.Type] = r.Body()
		}
	}
	return res, byType
}

func js(v any) string { b, _ := json.Marshal(v); return string(b) }

func TestLanguage(t *testing.T) {
	set := loadLang(t)
	res, r := mapMsg(t, set, `MSH|^~\&|HIS|HOSP|CB|CB|20261101120000||ADT^A01|C1|P|2.5.1
EVN|A01|20261101120000
PID|1||111^^^HOSP^MR~222^^^^NI||Doe^Jane~Roe^Janet||19800101|F|||1 Main St^^Springfield~""|||||X|||||||||||||20261001083000+0800|Y
NK1|1|Doe^John
NK1|2|Doe^Jim
IN1|1|PLAN-A||Acme Insurance
IN2|1|SUB-9
IN1|2|PLAN-B||Beta Mutual
ZZZ|1|secret`)
	p := r["Patient"]
	cases := []struct{ name, got, want string }{
		{"every PID-3 repetition, authority from registry, default authority", js(p["identifier"]),
			`[{"system":"https://hosp.example.org/mrn","type":{"coding":[{"code":"MR"}]},"value":"111"},{"system":"https://hosp.example.org/mrn","type":{"coding":[{"code":"NI"}]},"value":"222"}]`},
		{"name repetitions", js(p["name"]), `[{"family":"Doe","given":["Jane"]},{"family":"Roe","given":["Janet"]}]`},
		{"code map", js(p["gender"]), `"female"`},
		{"unmapped code kept as original coding", js(p["maritalStatus"]), `{"coding":[{"code":"X","system":"http://terminology.hl7.org/CodeSystem/v2-0002"}]}`},
		{"dateTime with offset", js(p["deceasedDateTime"]), `"2026-10-01T08:30:00+08:00"`},
		{"when on another field", js(p["deceasedBoolean"]), `null`},
		{"CEL on event", js(p["active"]), `true`},
		{"null clears, empty leaves", js(p["meta"]), `{"extension":[{"url":"https://carebridge.dev/fhir/StructureDefinition/clear-element","valueString":"address"}]}`},
		{"non-null repetition kept", js(p["address"]), `[{"city":"Springfield","line":["1 Main St"]}]`},
	}
	for _, c := range cases {
		if c.got != c.want {
			t.Errorf("%s:\n got %s\nwant %s", c.name, c.got, c.want)
		}
	}
	if got := js(p["contact"]); !strings.Contains(got, `"name":{"family":"Doe","given":["John"]}`) || !strings.Contains(got, `"given":["Jim"]`) ||
		strings.Count(got, `"valueReference"`) != 2 {
		t.Errorf("each + map: one contact per NK1, each referencing its own RelatedPerson: %s", got)
	}
	var kin, cov []map[string]any
	for _, x := range res.Resources {
		switch x.Type {
		case "RelatedPerson":
			kin = append(kin, x.Body())
		case "Coverage":
			cov = append(cov, x.Body())
		}
	}
	if len(kin) != 2 || kin[0]["id"] == kin[1]["id"] {
		t.Fatalf("each NK1 must make its own RelatedPerson: %s", js(kin))
	}
	if contacts := js(p["contact"]); !strings.Contains(contacts, kin[0]["id"].(string)) || !strings.Contains(contacts, kin[1]["id"].(string)) {
		t.Errorf("contacts do not reference the RelatedPerson of their own NK1: %s", contacts)
	}
	if js(kin[1]["patient"]) != `{"reference":"Patient/`+p["id"].(string)+`"}` {
		t.Errorf("ref: %s", js(kin[1]["patient"]))
	}
	if len(cov) != 2 || cov[0]["subscriberId"] != "SUB-9" || cov[1]["subscriberId"] != nil {
		t.Errorf("group members belong to their own instance: %s", js(cov))
	}
	var kinds []string
	for _, w := range res.Warnings {
		kinds = append(kinds, w.Kind+" "+w.Where)
	}
	all := strings.Join(kinds, "; ")
	for _, want := range []string{"unmapped-code PID-16", "unused-field ZZZ-2", "unused-field PID-1"} {
		if !strings.Contains(all, want) {
			t.Errorf("warnings lack %q: %s", want, all)
		}
	}
	if strings.Contains(all, "secret") {
		t.Error("a warning carries a message value")
	}
	if strings.Contains(all, "PID-8;") || strings.Contains(all, "PID-3;") || strings.Contains(all, "PID-3.") {
		t.Errorf("used fields reported unused: %s", all)
	}
}

func TestClearRow(t *testing.T) {
	set := loadLang(t)
	_, r := mapMsg(t, set, "MSH|^~\\&|HIS|HOSP|CB|CB|20261101||ADT^A03|C1|P|2.5.1\nPID|1||1^^^HOSP^MR||Doe")
	if got := js(r["Patient"]["meta"]); !strings.Contains(got, `"valueString":"link"`) {
		t.Errorf("A03 should clear link: %s", got)
	}
	_, r = mapMsg(t, set, "MSH|^~\\&|HIS|HOSP|CB|CB|20261101||ADT^A01|C1|P|2.5.1\nPID|1||1^^^HOSP^MR||Doe")
	if r["Patient"]["meta"] != nil {
		t.Errorf("A01 clears nothing: %s", js(r["Patient"]["meta"]))
	}
}

func TestDeterministicIDsAcrossMessages(t *testing.T) {
	set := loadLang(t)
	_, a := mapMsg(t, set, "MSH|^~\\&|HIS|HOSP|CB|CB|20261101||ADT^A01|C1|P|2.5.1\nPID|1||111^^^HOSP^MR||Doe^Jane")
	_, b := mapMsg(t, set, "MSH|^~\\&|HIS|HOSP|CB|CB|20261102||ADT^A08|C2|P|2.5.1\nPID|1||999^^^HOSP^PI~111^^^HOSP^MR||Doe^Jane")
	_, c := mapMsg(t, set, "MSH|^~\\&|HIS|HOSP|CB|CB|20261102||ADT^A08|C3|P|2.5.1\nPID|1||112^^^HOSP^MR||Doe^Jane")
	if a["Patient"]["id"] != b["Patient"]["id"] {
		t.Errorf("same MR identifier, different ids: %v %v", a["Patient"]["id"], b["Patient"]["id"])
	}
	if a["Patient"]["id"] == c["Patient"]["id"] {
		t.Error("different identifiers, same id")
	}
	if a["Provenance"]["id"] == b["Provenance"]["id"] {
		t.Error("two messages share a Provenance id")
	}
}

func TestTimeZonesComeFromTheSenderNeverTheServer(t *testing.T) {
	set := loadLang(t)
	// Strict sender: Asia/Shanghai; unmapped codes fail, but its overlay maps X.
	_, r := mapMsg(t, set, "MSH|^~\\&|STRICT|HOSP|CB|CB|20261101||ADT^A01|C1|P|2.5.1\nPID|1||1^^^HOSP^MR||Doe||19800101|X|||||||||||||||||||||20261001083000")
	if got := r["Patient"]["deceasedDateTime"]; got != "2026-10-01T08:30:00+08:00" {
		t.Errorf("profile zone: %v", got)
	}
	if got := r["Patient"]["gender"]; got != "other" {
		t.Errorf("overlay: %v", got)
	}
	// Default sender has no zone: date only, with a warning.
	res, r := mapMsg(t, set, "MSH|^~\\&|HIS|HOSP|CB|CB|20261101||ADT^A01|C1|P|2.5.1\nPID|1||1^^^HOSP^MR||Doe||||||||||||||||||||||||20261001083000")
	if got := r["Patient"]["deceasedDateTime"]; got != "2026-10-01" {
		t.Errorf("no zone: %v", got)
	}
	found := false
	for _, w := range res.Warnings {
		found = found || w.Kind == "no-timezone"
	}
	if !found {
		t.Error("no no-timezone warning")
	}
}

func TestMappingErrors(t *testing.T) {
	set := loadLang(t)
	cases := []struct{ name, raw, want string }{
		{"no map for the type", "MSH|^~\\&|HIS|HOSP|CB|CB|20261101||ORU^R01|C1|P|2.5.1", "no map for ORU^R01 from sender HIS^HOSP"},
		{"no map for the event", "MSH|^~\\&|HIS|HOSP|CB|CB|20261101||ADT^A99|C1|P|2.5.1", "no map for ADT^A99 from sender HIS^HOSP (the ADT map handles A01, A03, A08)"},
		{"unmapped code with policy fail", "MSH|^~\\&|STRICT|HOSP|CB|CB|20261101||ADT^A01|C1|P|2.5.1\nPID|1||1^^^HOSP^MR||Doe|||Q", `pid.yaml:8:5: PID-8: code "Q" is not in code map Sex`},
		{"required value missing", "MSH|^~\\&|HIS|HOSP|CB|CB|20261101||ADT^A01|C1|P|2.5.1\nPID|1||1^^^HOSP^MR\nIN1|1|P", "in1.yaml:7:5: IN1-4: required value 4 is missing"},
		{"empty business key", "MSH|^~\\&|HIS|HOSP|CB|CB|20261101||ADT^A01|C1|P|2.5.1\nPID|1||||Doe", "has no business identity"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			msg, err := hl7.Parse([]byte(strings.ReplaceAll(c.raw, "\n", "\r")))
			if err != nil {
				t.Fatal(err)
			}
			_, err = set.Map(msg, mappings.Options{})
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error = %v, want it to contain %q", err, c.want)
			}
			// Handles answers on arrival what Map would: the same error
			// when no map handles the message, nil otherwise (a message
			// it lets through may still fail mapping).
			switch handled := set.Handles(msg); {
			case errors.Is(err, mappings.ErrNoMap):
				if handled == nil || handled.Error() != err.Error() || errors.Is(handled, mappings.ErrNoEventMap) != errors.Is(err, mappings.ErrNoEventMap) {
					t.Errorf("Handles = %v, want %v", handled, err)
				}
			case handled != nil:
				t.Errorf("Handles = %v, want nil: a map handles the message", handled)
			}
		})
	}
	msg, _ := hl7.Parse([]byte("MSH|^~\\&|HIS|HOSP|CB|CB|20261101||ORU^R01|C1|P|2.5.1\r"))
	if _, err := set.Map(msg, mappings.Options{}); !errors.Is(err, mappings.ErrNoMap) {
		t.Errorf("no-map error is not ErrNoMap: %v", err)
	}
}

func TestLoadReportsEveryErrorWithPosition(t *testing.T) {
	bad := fstest.MapFS{
		"m.yaml": {Data: []byte(`message: ADT
events: {A01: ADT_A01}
resources:
  - name: patient
    segment: PID
    map: PID[Patient]
    key: 'resource.identifier +'
  - name: patient
    segment: PV1
    map: PV1[Nothing]
    key: '"x"'
    rows:
      - {to: subject, ref: nobody}
`)},
		"p.yaml": {Data: []byte(`segment: PID[Patient]
resource: Patient
rows:
  - {from: "3", to: "identifier[]", via: "CX[Nope]"}
  - {from: "x.1", to: gender}
  - {from: "8", to: gender, code: Missing}
  - {to: birthDate}
  - {from: "7", to: birthDate, as: when}
  - {from: "9", tooo: x}
`)},
	}
	_, err := mappings.Load(bad)
	var errs *strictyaml.Errors
	if !errors.As(err, &errs) {
		t.Fatalf("error %v is not *strictyaml.Errors", err)
	}
	want := []string{
		"m.yaml:7:10: expression \"resource.identifier +\"",
		"\n     | resource.identifier +\n     | .....................^",
		"m.yaml:8:11: resource name \"patient\" is used twice",
		"m.yaml:10:10: resource patient: no segment map \"PV1[Nothing]\" (hint: segment maps are named SEG[Resource]",
		"m.yaml:13:28: ref \"nobody\": no resource of that name",
		"p.yaml:4:42: row identifier[]: no datatype map \"CX[Nope]\"",
		"p.yaml:5:12: source \"x.1\"",
		"p.yaml:6:35: row gender: no code map \"Missing\"",
		"p.yaml:7:5: row birthDate: no source",
		"p.yaml:8:36: row birthDate: unknown conversion \"when\" (hint: string, code, date,",
		`p.yaml:9:17: rows[5].tooo: unknown setting`,
	}
	got := err.Error()
	for _, w := range want {
		if !strings.Contains(got, w) {
			t.Errorf("errors lack %q", w)
		}
	}
	if t.Failed() {
		t.Log(got)
	}
}

func TestIdentifierKeyOf(t *testing.T) {
	files := copyLang()
	files["msg.yaml"] = &fstest.MapFile{Data: []byte(strings.Replace(string(langFiles["msg.yaml"].Data),
		"key: identifierKey(resource.identifier)",
		`key: 'identifierKeyOf(resource.identifier, "NI") != "" ? identifierKeyOf(resource.identifier, "NI") : identifierKey(resource.identifier)'`, 1))}
	set, err := mappings.Load(files)
	if err != nil {
		t.Fatal(err)
	}
	// Same national ID, different MRNs: one patient under the NI policy.
	_, a := mapMsg(t, set, "MSH|^~\\&|HIS|HOSP|CB|CB|20261101||ADT^A01|C1|P|2.5.1\nPID|1||111^^^HOSP^MR~N-1^^^HOSP^NI||Doe")
	_, b := mapMsg(t, set, "MSH|^~\\&|HIS|HOSP|CB|CB|20261101||ADT^A01|C2|P|2.5.1\nPID|1||999^^^HOSP^MR~N-1^^^HOSP^NI||Doe")
	_, c := mapMsg(t, set, "MSH|^~\\&|HIS|HOSP|CB|CB|20261101||ADT^A01|C3|P|2.5.1\nPID|1||111^^^HOSP^MR||Doe")
	if a["Patient"]["id"] != b["Patient"]["id"] {
		t.Error("same NI, different ids")
	}
	if a["Patient"]["id"] == c["Patient"]["id"] {
		t.Error("without an NI the key falls back to the MR, which differs from the NI key")
	}
}

func TestInvalidValuesAndDuplicatesDoNotBreakTheBundle(t *testing.T) {
	files := copyLang()
	// Two coverages with the same key: one resource in the Bundle.
	files["msg.yaml"] = &fstest.MapFile{Data: []byte(strings.Replace(string(langFiles["msg.yaml"].Data),
		`key: ids.patient + "|" + v["2"]`, `key: ids.patient`, 1))}
	set, err := mappings.Load(files)
	if err != nil {
		t.Fatal(err)
	}
	res, r := mapMsg(t, set, "MSH|^~\\&|||CB|CB|20261101||ADT^A01|C1|P|2.5.1\nPID|1||1^^^HOSP^MR||Doe||female\nIN1|1|A||Acme\nIN1|2|B||Acme")
	if _, ok := r["Patient"]["birthDate"]; ok {
		t.Error("a malformed birth date was kept")
	}
	kinds := ""
	coverages := 0
	for _, w := range res.Warnings {
		kinds += w.Kind + " " + w.Where + "; "
	}
	for _, x := range res.Resources {
		if x.Type == "Coverage" {
			coverages++
		}
	}
	if !strings.Contains(kinds, "invalid-value PID-7") || strings.Contains(kinds, "female") {
		t.Errorf("warnings: %s", kinds)
	}
	if coverages != 1 || !strings.Contains(js(r["Coverage"]["identifier"]), `"A"`) || !strings.Contains(js(r["Coverage"]["identifier"]), `"B"`) {
		t.Errorf("duplicates must merge into one resource: %d, %s", coverages, js(r["Coverage"]))
	}
	if got := js(r["Provenance"]["agent"]); !strings.Contains(got, "unidentified sender") {
		t.Errorf("provenance agent without a sender: %s", got)
	}
	validateBundle(t, res.Bundle)
}

func TestIdentifiersWithoutAuthorityAreScopedToTheirSender(t *testing.T) {
	files := copyLang()
	files["default.yaml"] = &fstest.MapFile{Data: []byte("sender: default\napplication: \"*\"\n")}
	set, err := mappings.Load(files)
	if err != nil {
		t.Fatal(err)
	}
	resA, a := mapMsg(t, set, "MSH|^~\\&|SYS1|FAC1|CB|CB|20261101||ADT^A01|C1|P|2.5.1\nPID|1||123^^^^MR||Doe^Jane")
	_, b := mapMsg(t, set, "MSH|^~\\&|SYS2|FAC2|CB|CB|20261101||ADT^A01|C2|P|2.5.1\nPID|1||123^^^^MR||Smith^Bob")
	if a["Patient"]["id"] == b["Patient"]["id"] {
		t.Fatal("two senders' patient 123 without authority became one patient")
	}
	if got := js(a["Patient"]["identifier"]); !strings.Contains(got, `"system":"urn:carebridge:sender:SYS1^FAC1"`) {
		t.Errorf("identifier: %s", got)
	}
	warned := false
	for _, w := range resA.Warnings {
		warned = warned || w.Kind == "no-authority"
	}
	if !warned {
		t.Error("no no-authority warning")
	}
}

func TestClearsSelector(t *testing.T) {
	files := copyLang()
	files["pid.yaml"] = &fstest.MapFile{Data: []byte(string(langFiles["pid.yaml"].Data) + `  - {from: "14", to: "telecom[]", value: '{"system": "phone", "use": "work", "value": it}', clears: 'telecom.where(use = "work")'}
  - {from: "17", to: "extension[0].valueString", clears: 'extension.where(url = "http://example.org/religion")'}
  - {from: "17", to: "extension[0].url", value: '"http://example.org/religion"'}
`)}
	set, err := mappings.Load(files)
	if err != nil {
		t.Fatal(err)
	}
	_, r := mapMsg(t, set, `MSH|^~\&|HIS|HOSP|CB|CB|20261101||ADT^A08|C1|P|2.5.1
PID|1||1^^^HOSP^MR||Doe|||||||||""|||""`)
	got := js(r["Patient"]["meta"])
	for _, want := range []string{`telecom.where(use = \"work\")`, `extension.where(url = \"http://example.org/religion\")`} {
		if !strings.Contains(got, want) {
			t.Errorf("clears lack %s: %s", want, got)
		}
	}
	if strings.Contains(got, `"valueString":"telecom"`) || strings.Contains(got, "extension.url") {
		t.Errorf("a clear says more than the sender cleared: %s", got)
	}
}

func TestEmptyDirectoryIsAnError(t *testing.T) {
	_, err := mappings.Load(fstest.MapFS{"README.md": {Data: []byte("no maps")}})
	if err == nil || !strings.Contains(err.Error(), "no mapping files") {
		t.Fatalf("error = %v", err)
	}
}

// langWith loads the language test set with one edit in one of its files.
func langWith(t *testing.T, file, old, new string) *mappings.Set {
	t.Helper()
	files := copyLang()
	files[file] = &fstest.MapFile{Data: []byte(strings.Replace(string(langFiles[file].Data), old, new, 1))}
	set, err := mappings.Load(files)
	if err != nil {
		t.Fatal(err)
	}
	return set
}

// mapError maps raw (segments separated by \r) and returns the error.
func mapError(t *testing.T, set *mappings.Set, raw string) error {
	t.Helper()
	msg, err := hl7.Parse([]byte(raw))
	if err != nil {
		t.Fatal(err)
	}
	_, err = set.Map(msg, mappings.Options{})
	return err
}

func TestRequire(t *testing.T) {
	set := langWith(t, "msg.yaml", "    key: identifierKey(resource.identifier)\n",
		"    key: identifierKey(resource.identifier)\n    require:\n      - {that: has(resource.name), message: a patient needs a name}\n")
	if err := mapError(t, set, "MSH|^~\\&|HIS|HOSP|CB|CB|20261101||ADT^A01|C1|P|2.5.1\rPID|1||1^^^HOSP^MR\r"); err == nil || !strings.Contains(err.Error(), "msg.yaml:13:16: PID: Patient patient: a patient needs a name") {
		t.Fatalf("error = %v", err)
	}
	mapMsg(t, set, "MSH|^~\\&|HIS|HOSP|CB|CB|20261101||ADT^A01|C1|P|2.5.1\nPID|1||1^^^HOSP^MR||Doe")
}

// TestExpect: a rule's expect and its segment map's give warnings (kind
// expectation, at the condition) and the resource is made; an expect
// without its message is a load error.
func TestExpect(t *testing.T) {
	files := copyLang()
	files["pid.yaml"] = &fstest.MapFile{Data: []byte(string(langFiles["pid.yaml"].Data) +
		"expect:\n  - {that: has(resource.birthDate), message: no birth date}\n")}
	files["msg.yaml"] = &fstest.MapFile{Data: []byte(strings.Replace(string(langFiles["msg.yaml"].Data),
		"    key: identifierKey(resource.identifier)\n",
		"    key: identifierKey(resource.identifier)\n    expect:\n      - {that: has(resource.name), message: no name}\n", 1))}
	set, err := mappings.Load(files)
	if err != nil {
		t.Fatal(err)
	}
	res, r := mapMsg(t, set, "MSH|^~\\&|HIS|HOSP|CB|CB|20261101||ADT^A01|C1|P|2.5.1\nPID|1||1^^^HOSP^MR")
	if r["Patient"] == nil {
		t.Fatal("no Patient made")
	}
	var got []string
	for _, w := range res.Warnings {
		if w.Kind == "expectation" {
			got = append(got, w.Where+" "+w.Message+" "+w.At)
		}
	}
	if len(got) != 2 || !strings.HasPrefix(got[0], "PID no name msg.yaml:") || !strings.HasPrefix(got[1], "PID no birth date pid.yaml:") {
		t.Errorf("expectation warnings %q, want the rule's then the segment map's, on PID at their conditions", got)
	}
	res, _ = mapMsg(t, set, "MSH|^~\\&|HIS|HOSP|CB|CB|20261101||ADT^A01|C1|P|2.5.1\nPID|1||1^^^HOSP^MR||Doe||19800101")
	for _, w := range res.Warnings {
		if w.Kind == "expectation" {
			t.Errorf("a Patient meeting the expectations warned: %+v", w)
		}
	}
	files["pid.yaml"] = &fstest.MapFile{Data: []byte(string(langFiles["pid.yaml"].Data) + "expect:\n  - {that: has(resource.birthDate)}\n")}
	if _, err := mappings.Load(files); err == nil || !strings.Contains(err.Error(), "segment map PID[Patient]: expect needs that and message") {
		t.Errorf("expect without message: %v", err)
	}
}

func TestRequiredSegment(t *testing.T) {
	set := langWith(t, "msg.yaml", "    key: identifierKey(resource.identifier)\n", "    key: identifierKey(resource.identifier)\n    required: true\n")
	if err := mapError(t, set, "MSH|^~\\&|HIS|HOSP|CB|CB|20261101||ADT^A01|C1|P|2.5.1\rPV1|1|I\r"); err == nil || !strings.Contains(err.Error(), "PID: required segment PID is missing (resource patient)") {
		t.Fatalf("error = %v", err)
	}
	mapMsg(t, set, "MSH|^~\\&|HIS|HOSP|CB|CB|20261101||ADT^A01|C1|P|2.5.1\nPID|1||1^^^HOSP^MR||Doe")
}

// TestConditionErrorNamesTheField: a row condition that fails at run time
// names the message position it read (PID-7), not the row's relative path.
func TestConditionErrorNamesTheField(t *testing.T) {
	set := langWith(t, "pid.yaml", `  - {from: "7", to: birthDate, as: date}`, `  - {from: "7", to: birthDate, as: date, when: 'int(it) > 0'}`)
	if err := mapError(t, set, "MSH|^~\\&|HIS|HOSP|CB|CB|20261101||ADT^A01|C1|P|2.5.1\rPID|1||1^^^HOSP^MR||Doe||1980x\r"); err == nil || !strings.Contains(err.Error(), "pid.yaml:7:5: PID-7: ") {
		t.Fatalf("error = %v", err)
	}
}

func TestMappingErrorsCarryNoMessageValues(t *testing.T) {
	files := copyLang()
	files["pid.yaml"] = &fstest.MapFile{Data: []byte(strings.Replace(string(langFiles["pid.yaml"].Data),
		`{from: "7", to: birthDate, as: date}`, `{from: "7", to: birthDate, as: date, required: true}`, 1) +
		`  - {from: "9", to: "name[1].text", value: 'string(int(it))'}
`)}
	set, err := mappings.Load(files)
	if err != nil {
		t.Fatal(err)
	}
	for _, raw := range []string{
		"MSH|^~\\&|HIS|HOSP|CB|CB|20261101||ADT^A01|C1|P|2.5.1\rPID|1||1^^^HOSP^MR||Doe||19801340SECRET\r",
		"MSH|^~\\&|HIS|HOSP|CB|CB|20261101||ADT^A01|C1|P|2.5.1\rPID|1||1^^^HOSP^MR||Doe||19800101||SECRET\r",
	} {
		msg, _ := hl7.Parse([]byte(raw))
		_, err := set.Map(msg, mappings.Options{})
		if err == nil {
			t.Fatal("no error")
		}
		if strings.Contains(err.Error(), "SECRET") {
			t.Errorf("the error quotes the message: %v", err)
		}
	}
}

// copyLang returns a copy of langFiles that a test may change.
func copyLang() fstest.MapFS {
	files := fstest.MapFS{}
	for k, v := range langFiles {
		files[k] = v
	}
	return files
}

func TestKeepUnmappedPutsUnusedValuesOnTheResources(t *testing.T) {
	files := copyLang()
	files["keep.yaml"] = &fstest.MapFile{Data: []byte("sender: keeper\napplication: KEEP\nkeep_unmapped: true\n")}
	set, err := mappings.Load(files)
	if err != nil {
		t.Fatal(err)
	}
	res, r := mapMsg(t, set, "MSH|^~\\&|KEEP|HOSP|CB|CB|20261101||ADT^A01|C1|P|2.5.1\nPID|1||1^^^HOSP^MR||Doe\nZPI|1|VIP")
	ext := js(r["Patient"]["extension"])
	for _, want := range []string{`"url":"https://carebridge.dev/fhir/StructureDefinition/hl7v2-unmapped"`, `{"url":"position","valueString":"ZPI-2"}`, `{"url":"value","valueString":"VIP"}`, `{"url":"position","valueString":"PID-1"}`} {
		if !strings.Contains(ext, want) {
			t.Errorf("extension lacks %s: %s", want, ext)
		}
	}
	validateBundle(t, res.Bundle)
	// Without keep_unmapped the values are only reported.
	_, r = mapMsg(t, set, "MSH|^~\\&|HIS|HOSP|CB|CB|20261101||ADT^A01|C1|P|2.5.1\nPID|1||1^^^HOSP^MR||Doe\nZPI|1|VIP")
	if strings.Contains(js(r["Patient"]), "VIP") {
		t.Error("a value was kept without keep_unmapped")
	}
}

func TestIdentifierSystemsByAuthorityAndType(t *testing.T) {
	files := copyLang()
	files["default.yaml"] = &fstest.MapFile{Data: []byte("sender: default\napplication: \"*\"\nidentifier_systems:\n  HOSP^MR: https://hosp.example.org/mrn\n  HOSP: https://hosp.example.org/local\n")}
	files["cx.yaml"] = &fstest.MapFile{Data: []byte("datatype: CX[Identifier]\nrows:\n  - {from: \"1\", to: value}\n  - {from: \"5\", to: \"type.coding[0].code\"}\n  - {from: \"4\", to: system, as: identifierSystem}\n")}
	set, err := mappings.Load(files)
	if err != nil {
		t.Fatal(err)
	}
	_, r := mapMsg(t, set, "MSH|^~\\&|HIS|HOSP|CB|CB|20261101||ADT^A01|C1|P|2.5.1\nPID|1||111^^^HOSP^MR~222^^^HOSP^PI||Doe")
	got := js(r["Patient"]["identifier"])
	if !strings.Contains(got, `"system":"https://hosp.example.org/mrn","type":{"coding":[{"code":"MR"}]},"value":"111"`) ||
		!strings.Contains(got, `"system":"https://hosp.example.org/local","type":{"coding":[{"code":"PI"}]},"value":"222"`) {
		t.Errorf("identifiers: %s", got)
	}
}

// TestBrokenFileIsNamedByWhatMissesItsMaps: a map file that is not valid
// YAML is reported at the line of the syntax error, and a reference to a map
// it would have defined says so instead of sending the reader to the list of
// maps.
func TestBrokenFileIsNamedByWhatMissesItsMaps(t *testing.T) {
	bad := fstest.MapFS{
		"m.yaml": {Data: []byte(`message: ADT
events: {A01: ADT_A01}
resources:
  - name: patient
    segment: PID
    map: PID[Patient]
    key: '"x"'
`)},
		"p.yaml": {Data: []byte(`segment: PID[Patient]
resource: Patient
rows:
  - {from: "8", to: gender
  - {from: "7", to: birthDate}
`)},
	}
	_, err := mappings.Load(bad)
	if err == nil {
		t.Fatal("loaded a set with a broken file")
	}
	got := err.Error()
	for _, w := range []string{
		"p.yaml:4:1: invalid YAML",
		`m.yaml:6:10: resource patient: no segment map "PID[Patient]" (hint: it may be in p.yaml, which is not valid YAML: fix that first)`,
	} {
		if !strings.Contains(got, w) {
			t.Errorf("errors lack %q:\n%s", w, got)
		}
	}
}
