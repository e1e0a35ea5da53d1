package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// runCLI runs the command line in process and returns stdout, stderr and
// the exit status.
func runCLI(t *testing.T, stdin string, args ...string) (string, string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	code := execute(context.Background(), args, strings.NewReader(stdin), &out, &errb)
	return out.String(), errb.String(), code
}

// writeFiles writes files (slash-separated paths → content) under dir.
func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

const (
	oruMessage = "MSH|^~\\&|LAB|GENHOSP|CB|CB|20261101120000||ORU^R01^ORU_R01|LAB0001|P|2.5.1\rPID|1||X1^^^GENHOSP^MR\rOBR|1\r"
	admitInput = "MSH|^~\\&|ADTSYS|GENHOSP|CB|CB|20261101083000+0100||ADT^A01^ADT_A01|MSG1|P|2.5.1\rPID|1||MRN1^^^GENHOSP^MR||Testperson^Alice||19800214|F\r"
)

// smallMappings is a complete mapping set: one message map with one
// example, one segment map (whose PID-30 row the example never reaches)
// and one code map.
var smallMappings = map[string]string{
	"messages/ADT.yaml": `message: ADT
events:
  A01: ADT_A01
ignore: [MSH]
resources:
  - name: patient
    segment: PID
    map: PID[Patient]
    key: m["PID-3.1"]
examples:
  - {name: admit, input: examples/a01.hl7, expect: examples/a01.json}
`,
	"segments/PID-Patient.yaml": `segment: PID[Patient]
resource: Patient
rows:
  - {from: "3.1", to: "identifier[0].value"}
  - {from: "5.1", to: "name[0].family"}
  - {from: "8", to: gender, code: Sex}
  - {from: "30", to: deceasedBoolean, as: boolean}
`,
	"codes/sex.yaml": `codemap: Sex
table: "0001"
target: http://hl7.org/fhir/administrative-gender
codes:
  F: {code: female}
  M: {code: male}
`,
	"messages/examples/a01.hl7": admitInput,
}

func TestMapCommand(t *testing.T) {
	tmp := t.TempDir()
	small := filepath.Join(tmp, "small")
	writeFiles(t, small, smallMappings)
	broken := filepath.Join(tmp, "broken")
	writeFiles(t, broken, map[string]string{"segments/PID.yaml": "segment: PID[Patient]\nresource: Patient\nrows:\n  - {form: \"3\", to: gender}\n"})
	oru := filepath.Join(tmp, "oru.hl7")
	mixed := filepath.Join(tmp, "mixed.hl7")
	writeFiles(t, tmp, map[string]string{"oru.hl7": oruMessage, "mixed.hl7": oruMessage + admitInput})
	adt := filepath.Join("..", "..", "testdata", "hl7", "adt_a01.hl7")

	tests := []struct {
		name       string
		args       []string
		stdin      string
		code       int
		bundles    int      // Bundles expected on stdout (one per line unless --pretty)
		stdout     []string // substrings of stdout
		stderr     []string // substrings of stderr
		notStderr  []string
		jsonStderr bool // every stderr line but the last is a JSON object
	}{
		{name: "shipped set maps an ADT^A01 to a Bundle with a Patient", args: []string{"map", adt}, code: 0, bundles: 1,
			stdout: []string{`"resourceType":"Bundle"`, `"resourceType":"Patient"`, `"type":"transaction"`},
			stderr: []string{adt + ":1: PV1-18: unused-field: no map uses this value"}},
		{name: "no map for the message type", args: []string{"map", oru}, code: 1,
			stderr: []string{oru + ":1: error: no map for ORU^R01 from sender LAB^GENHOSP", "1 of 1 message(s) could not be mapped"}},
		{name: "messages after a failing one are still mapped", args: []string{"map", "--mappings", small, mixed}, code: 1, bundles: 1,
			stdout: []string{`"family":"Testperson"`, `"gender":"female"`},
			stderr: []string{mixed + ":1: error: no map for ORU^R01", mixed + ":2: PID-7: unused-field", "1 of 2 message(s) could not be mapped"}},
		{name: "standard input", args: []string{"map", "--mappings", small, "-"}, stdin: admitInput, code: 0, bundles: 1,
			stdout: []string{`"value":"MRN1"`}, stderr: []string{"-:1: PID-1: unused-field"}},
		{name: "pretty", args: []string{"map", "--pretty", "--mappings", small, "-"}, stdin: admitInput, code: 0,
			stdout: []string{"{\n  \"entry\": [\n"}},
		{name: "json warnings", args: []string{"map", "--json-warnings", "--mappings", small, mixed}, code: 1, bundles: 1, jsonStderr: true,
			stderr: []string{`{"file":"` + mixed + `","index":1,"severity":"error","kind":"no-map","message":"no map for ORU^R01 from sender LAB^GENHOSP"}`,
				`{"file":"` + mixed + `","index":2,"severity":"warning","kind":"unused-field","where":"PID-7","message":"no map uses this value"}`}},
		{name: "missing file is reported, the others mapped", args: []string{"map", "--mappings", small, filepath.Join(tmp, "nope.hl7"), mixed}, code: 1, bundles: 1,
			stderr: []string{"nope.hl7: error: archive: open", "1 file error(s)"}},
		{name: "a file without a message is an error, not an empty success", args: []string{"map", "--mappings", small, "-"}, stdin: "garbage\r", code: 1,
			stderr: []string{"-: archive: offset 0: skipped 8 bytes", "-: error: no HL7 messages found", "1 file error(s)"}},
		{name: "broken mappings", args: []string{"map", "--mappings", broken, oru}, code: 1,
			stderr: []string{filepath.Join(broken, "segments", "PID.yaml") + ":4:6: rows[0].form: unknown setting", "mappings " + broken + ": 1 error(s)"}},
		{name: "unknown sender profile is a usage error", args: []string{"map", "--sender", "nobody", "--mappings", small, oru}, code: 2,
			stderr: []string{"--sender nobody: no such sender profile", "profiles: default", "run 'carebridge map --help' for usage"}},
		{name: "no file", args: []string{"map"}, code: 2, stderr: []string{"requires at least 1 arg"}},
		{name: "unknown flag", args: []string{"map", "--frob", oru}, code: 2, stderr: []string{"unknown flag: --frob"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, errOut, code := runCLI(t, tc.stdin, tc.args...)
			if code != tc.code {
				t.Fatalf("exit status %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tc.code, out, errOut)
			}
			if tc.bundles > 0 {
				lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
				if len(lines) != tc.bundles {
					t.Fatalf("%d stdout lines, want %d Bundles:\n%s", len(lines), tc.bundles, out)
				}
				for _, l := range lines {
					var b struct {
						ResourceType string `json:"resourceType"`
						Entry        []struct {
							Resource struct {
								ResourceType string `json:"resourceType"`
							} `json:"resource"`
						} `json:"entry"`
					}
					if err := json.Unmarshal([]byte(l), &b); err != nil || b.ResourceType != "Bundle" || len(b.Entry) < 2 {
						t.Errorf("not a Bundle with resources (%v): %.200s", err, l)
					} else if b.Entry[0].Resource.ResourceType != "Patient" {
						t.Errorf("first entry is a %s, want a Patient", b.Entry[0].Resource.ResourceType)
					}
				}
			}
			for _, s := range tc.stdout {
				if !strings.Contains(out, s) {
					t.Errorf("stdout lacks %q:\n%.2000s", s, out)
				}
			}
			for _, s := range tc.stderr {
				if !strings.Contains(errOut, s) {
					t.Errorf("stderr lacks %q:\n%s", s, errOut)
				}
			}
			if tc.jsonStderr {
				lines := strings.Split(strings.TrimSuffix(errOut, "\n"), "\n")
				for _, l := range lines[:len(lines)-1] {
					if !json.Valid([]byte(l)) {
						t.Errorf("stderr line is not JSON: %s", l)
					}
				}
			}
		})
	}
}

func TestMappingCheck(t *testing.T) {
	tmp := t.TempDir()
	small := filepath.Join(tmp, "small")
	writeFiles(t, small, smallMappings)
	broken := filepath.Join(tmp, "broken")
	writeFiles(t, broken, map[string]string{
		// An unknown key (a typo for from).
		"segments/PID-Patient.yaml": "segment: PID[Patient]\nresource: Patient\nrows:\n  - {form: \"3.1\", to: \"identifier[0].value\"}\n",
		// A segment map that does not exist.
		"messages/ADT.yaml": "message: ADT\nevents:\n  A01: ADT_A01\nresources:\n  - name: patient\n    segment: PID\n    map: PID[Nope]\n    key: m[\"PID-3.1\"]\n",
		// A CEL expression that does not compile.
		"datatypes/CX.yaml": "datatype: CX[Identifier]\nrows:\n  - {from: \"1\", to: value, when: 'valued(it) &&'}\n",
	})
	in := func(dir, file string) string { return filepath.Join(dir, filepath.FromSlash(file)) }

	tests := []struct {
		name   string
		args   []string
		code   int
		stdout []string
		stderr []string // in this order
	}{
		{name: "every error of three broken files, with file:line:col", args: []string{"mapping", "check", broken}, code: 1,
			stderr: []string{
				in(broken, "datatypes/CX.yaml") + `:3:34: expression "valued(it) &&": `,
				"\n     | valued(it) &&\n     | .............^\n",
				in(broken, "messages/ADT.yaml") + `:7:10: resource patient: no segment map "PID[Nope]" (hint: the segment maps of PID are PID[Patient])`,
				in(broken, "segments/PID-Patient.yaml") + `:4:6: rows[0].form: unknown setting (did you mean "from"?)`,
				"carebridge: mappings " + broken + ": 3 error(s)",
			}},
		{name: "a good directory", args: []string{"mapping", "check", small}, code: 0,
			stdout: []string{"mappings " + small + ": ok: 3 files; 1 message map ADT (A01); 1 segment map, 0 datatype maps, 1 code map; 1 sender profile default; 4 rows, 1 example; hash "}},
		{name: "the shipped set", args: []string{"mapping", "check"}, code: 0, stdout: []string{"mappings (shipped): ok: ", "message map", "ADT ("}},
		{name: "missing directory", args: []string{"mapping", "check", filepath.Join(tmp, "nope")}, code: 1, stderr: []string{"no such file or directory"}},
		{name: "two directories", args: []string{"mapping", "check", small, broken}, code: 2, stderr: []string{"accepts at most 1 arg"}},
		{name: "mapping alone prints help", args: []string{"mapping"}, code: 0, stdout: []string{"check", "test"}},
		{name: "unknown subcommand", args: []string{"mapping", "frob"}, code: 2, stderr: []string{`unknown command "frob" for "carebridge mapping"`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, errOut, code := runCLI(t, "", tc.args...)
			if code != tc.code {
				t.Fatalf("exit status %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tc.code, out, errOut)
			}
			for _, s := range tc.stdout {
				if !strings.Contains(out, s) {
					t.Errorf("stdout lacks %q:\n%s", s, out)
				}
			}
			rest := errOut
			for _, s := range tc.stderr {
				i := strings.Index(rest, s)
				if i < 0 {
					t.Errorf("stderr lacks %q (after the lines before it):\n%s", s, errOut)
					continue
				}
				rest = rest[i+len(s):]
			}
		})
	}
}

// TestMappingTestExamples runs `mapping test` over a small directory through
// its life: no expected file yet, -update writes it, it passes, a changed
// expectation fails with a path diff, --update repairs it.
func TestMappingTestExamples(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, smallMappings)
	expect := filepath.Join(dir, "messages", "examples", "a01.json")
	at := filepath.Join(dir, "messages", "ADT.yaml") + ":11:5"
	unexercised := regexp.MustCompile(`(?m)^rows never exercised:\n  ` + regexp.QuoteMeta(filepath.Join(dir, "segments", "PID-Patient.yaml")) + `:7:5  deceasedBoolean ← 30\n\z`)
	breakExpectation := func(t *testing.T) {
		b, err := os.ReadFile(expect)
		if err != nil {
			t.Fatal(err)
		}
		changed := bytes.Replace(b, []byte(`"gender": "female"`), []byte(`"gender": "male"`), 1)
		if bytes.Equal(b, changed) {
			t.Fatalf("no gender in the expected file:\n%s", b)
		}
		if err := os.WriteFile(expect, changed, 0o644); err != nil {
			t.Fatal(err)
		}
	}

	steps := []struct {
		name   string
		before func(t *testing.T)
		args   []string
		code   int
		stdout []string
		check  func(t *testing.T, out string)
	}{
		{name: "expected file missing", args: []string{"mapping", "test", dir}, code: 1,
			stdout: []string{"FAIL admit (" + at + "): " + expect + " is missing (run with -update to write it)"}},
		{name: "-update writes it", args: []string{"mapping", "test", dir, "-update"}, code: 0,
			stdout: []string{"UPDATED admit (" + at + "): wrote " + expect, "examples: 0 passed, 0 failed, 0 errors, 1 updated"},
			check: func(t *testing.T, _ string) {
				b, err := os.ReadFile(expect)
				if err != nil {
					t.Fatal(err)
				}
				for _, s := range []string{`"resourceType": "Patient"`, `"gender": "female"`, `"family": "Testperson"`} {
					if !bytes.Contains(b, []byte(s)) {
						t.Errorf("written %s lacks %s:\n%s", expect, s, b)
					}
				}
			}},
		{name: "passes, with coverage", args: []string{"mapping", "test", dir}, code: 0,
			stdout: []string{"PASS admit (" + at + ")", "examples: 1 passed, 0 failed, 0 errors", "coverage: 3/4 rows exercised by the examples (75%)"},
			check: func(t *testing.T, out string) {
				if !unexercised.MatchString(out) {
					t.Errorf("the unexercised row is not listed alone:\n%s", out)
				}
			}},
		{name: "changed expectation fails with a path diff", before: breakExpectation, args: []string{"mapping", "test", dir}, code: 1,
			stdout: []string{"FAIL admit (" + at + "): " + expect + " differs:\n    entry[0].resource.gender: want \"male\", got \"female\"\nexamples: 0 passed, 1 failed"}},
		{name: "json", args: []string{"mapping", "test", "--json", dir}, code: 1,
			check: func(t *testing.T, out string) {
				lines := strings.Split(strings.TrimSpace(out), "\n")
				if len(lines) != 2 {
					t.Fatalf("want 2 JSON lines:\n%s", out)
				}
				var ex exampleLine
				var cov coverageJSON
				if err := json.Unmarshal([]byte(lines[0]), &ex); err != nil {
					t.Fatal(err)
				}
				if err := json.Unmarshal([]byte(lines[1]), &cov); err != nil {
					t.Fatal(err)
				}
				if ex.Status != "fail" || len(ex.Diff) != 1 || ex.Diff[0].Path != "entry[0].resource.gender" || string(ex.Diff[0].Want) != `"male"` || string(ex.Diff[0].Got) != `"female"` {
					t.Errorf("example line: %+v", ex)
				}
				if cov.Rows != 4 || cov.Exercised != 3 || len(cov.Unexercised) != 1 || cov.Unexercised[0].To != "deceasedBoolean" {
					t.Errorf("coverage line: %+v", cov)
				}
			}},
		{name: "--update repairs it", args: []string{"mapping", "test", "--update", dir}, code: 0, stdout: []string{"UPDATED admit"}},
		{name: "passes again", args: []string{"mapping", "test", dir}, code: 0, stdout: []string{"PASS admit"}},
		{name: "-update needs a directory", args: []string{"mapping", "test", "-update"}, code: 2},
		{name: "unknown flag", args: []string{"mapping", "test", "-frob", dir}, code: 2},
		{name: "two directories", args: []string{"mapping", "test", dir, dir}, code: 2},
		{name: "help", args: []string{"mapping", "test", "--help"}, code: 0, stdout: []string{"-update (or --update)"}},
	}
	for _, st := range steps {
		if !t.Run(st.name, func(t *testing.T) {
			if st.before != nil {
				st.before(t)
			}
			out, errOut, code := runCLI(t, "", st.args...)
			if code != st.code {
				t.Fatalf("exit status %d, want %d\nstdout:\n%s\nstderr:\n%s", code, st.code, out, errOut)
			}
			for _, s := range st.stdout {
				if !strings.Contains(out, s) {
					t.Errorf("stdout lacks %q:\n%s", s, out)
				}
			}
			if st.check != nil {
				st.check(t, out)
			}
		}) {
			break // the steps build on each other
		}
	}
}

// TestMappingTestReportsMappingErrors: an example whose mapping fails is an
// ERROR with the map row, and the exit status is 1.
func TestMappingTestReportsMappingErrors(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{}
	for k, v := range smallMappings {
		files[k] = v
	}
	files["messages/examples/a01.hl7"] = strings.Replace(admitInput, "MRN1^^^GENHOSP^MR", "", 1) // no PID-3.1: the key is empty
	writeFiles(t, dir, files)
	out, errOut, code := runCLI(t, "", "mapping", "test", dir)
	if code != 1 {
		t.Fatalf("exit status %d, want 1\n%s%s", code, out, errOut)
	}
	adt := filepath.Join(dir, "messages", "ADT.yaml")
	want := "ERROR admit (" + adt + ":11:5): PID: resource patient (Patient) has no business identity: its key \"m[\\\"PID-3.1\\\"]\" is empty (map " + adt + ":9:10)"
	if !strings.Contains(out, want) {
		t.Errorf("stdout lacks %q:\n%s", want, out)
	}
}
