package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/carebridge/carebridge/fhirstore"
	"github.com/carebridge/carebridge/fhirstore/sqlite"
	"github.com/carebridge/carebridge/record"
)

// Synthetic patients (no real data): p1 with a visit, an appointment and an
// account with charges and a payment; p2 with a visit of its own, sharing
// the value of p1's second identifier under another system; p3 opened for
// review as a possible duplicate of p1.
var patientFixtures = []string{
	`{"resourceType":"Patient","id":"p1","active":true,
	  "identifier":[{"system":"urn:oid:1.2.3.4.1","value":"MRN100"},{"system":"urn:oid:1.2.3.4.2","value":"SHARED1"}],
	  "name":[{"use":"official","family":"Testperson","given":["Alice"]}],"gender":"female","birthDate":"1980-02-14",
	  "telecom":[{"system":"phone","value":"555-0100","use":"home"}],
	  "address":[{"use":"home","line":["1 Test Street"],"city":"Springfield","postalCode":"00001"}]}`,
	`{"resourceType":"Patient","id":"p2",
	  "identifier":[{"system":"urn:oid:9.9.9","value":"SHARED1"},{"system":"urn:oid:9.9.9","value":"OTHER2"}],
	  "name":[{"family":"Testperson","given":["Alicia"]}],"gender":"female","birthDate":"1980-02-15"}`,
	`{"resourceType":"Patient","id":"p3","identifier":[{"system":"urn:oid:7.7","value":"NEW3"}],
	  "name":[{"family":"Testperson","given":["Alice"]}],"birthDate":"1980-02-14"}`,
	`{"resourceType":"Patient","id":"p4","name":[{"family":"Otherperson","given":["Bob"]}],"gender":"male","birthDate":"1980-02-14"}`,
	`{"resourceType":"Encounter","id":"e1","status":"finished","class":{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"IMP"},
	  "subject":{"reference":"Patient/p1"},"period":{"start":"2026-03-01T08:00:00Z","end":"2026-03-04T10:00:00Z"},
	  "statusHistory":[{"status":"in-progress","period":{"start":"2026-03-01T08:00:00Z","end":"2026-03-04T10:00:00Z"}}],
	  "location":[{"location":{"reference":"Location/w1","display":"Ward 1"},"status":"completed","period":{"start":"2026-03-01T08:00:00Z","end":"2026-03-04T10:00:00Z"}}],
	  "appointment":[{"reference":"Appointment/a1"}]}`,
	`{"resourceType":"Appointment","id":"a1","status":"fulfilled","start":"2026-03-01T07:30:00Z","end":"2026-03-01T08:00:00Z",
	  "participant":[{"actor":{"reference":"Patient/p1"},"status":"accepted"}]}`,
	`{"resourceType":"Account","id":"acc1","status":"active","subject":[{"reference":"Patient/p1"}],
	  "extension":[{"url":"https://carebridge.dev/fhir/StructureDefinition/account-balance","valueMoney":{"value":100.00,"currency":"USD"}}]}`,
	`{"resourceType":"ChargeItem","id":"c1","status":"billable","subject":{"reference":"Patient/p1"},"account":[{"reference":"Account/acc1"}],
	  "code":{"text":"Chest X-ray"},"occurrenceDateTime":"2026-03-02T10:00:00Z","priceOverride":{"value":120,"currency":"USD"}}`,
	`{"resourceType":"PaymentReconciliation","id":"pay1","status":"active","created":"2026-03-06","paymentDate":"2026-03-06",
	  "paymentAmount":{"value":20,"currency":"USD"},
	  "extension":[{"url":"https://carebridge.dev/fhir/StructureDefinition/account","valueReference":{"reference":"Account/acc1"}}]}`,
	`{"resourceType":"Encounter","id":"e2","status":"finished","class":{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"AMB"},
	  "subject":{"reference":"Patient/p2"},"period":{"start":"2025-12-24T09:00:00Z"}}`,
	`{"resourceType":"Task","id":"rev1","status":"requested","intent":"proposal",
	  "code":{"coding":[{"system":"https://carebridge.dev/fhir/CodeSystem/task-code","code":"identity-review"}]},
	  "description":"Possible duplicate: is Patient/p3 the same person as Patient/p1?",
	  "focus":{"reference":"Patient/p3"},"for":{"reference":"Patient/p3"},"authoredOn":"2026-03-08T00:00:00Z",
	  "input":[{"type":{"text":"candidate"},"valueReference":{"reference":"Patient/p1"}},{"type":{"text":"score"},"valueDecimal":9.5}]}`,
}

// seedPatients writes the fixtures into a new database under a temporary
// data directory through the store's Apply, and returns the directory.
func seedPatients(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	ctx := context.Background()
	s, err := sqlite.Open(ctx, filepath.Join(dir, "carebridge.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var cs fhirstore.ChangeSet
	for _, b := range patientFixtures {
		var head struct{ ResourceType, ID string }
		if err := json.Unmarshal([]byte(b), &head); err != nil {
			t.Fatalf("fixture: %v\n%s", err, b)
		}
		cs.Writes = append(cs.Writes, fhirstore.Write{Type: head.ResourceType, ID: head.ID, Body: []byte(b)})
	}
	if _, err := s.Apply(ctx, cs); err != nil {
		t.Fatalf("seed: %v", err)
	}
	return dir
}

// showJSON runs `patients show ID --json` and returns the view.
func showJSON(t *testing.T, dir, id string) *record.PatientView {
	t.Helper()
	out, errOut, code := runCLI(t, "", "patients", "show", id, "--json", "--data", dir)
	if code != 0 {
		t.Fatalf("show %s: exit %d: %s", id, code, errOut)
	}
	var v record.PatientView
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatalf("show %s --json: %v\n%s", id, err, out)
	}
	return &v
}

// timelineRefs lists the refs of a view's timeline, in order.
func timelineRefs(v *record.PatientView) []string {
	var out []string
	for _, e := range v.Timeline {
		out = append(out, e.Ref)
	}
	return out
}

func TestPatientsReadOnly(t *testing.T) {
	dir := seedPatients(t)
	tests := []struct {
		name   string
		args   []string
		code   int
		stdout []string // regular expressions the output must match
		notOut []string // ... and must not
		stderr string
	}{
		{name: "show by id", args: []string{"show", "p1"}, stdout: []string{
			`(?m)^Patient p1 \(version 1, updated \S+\)$`,
			`(?m)^  Name:\s+Alice Testperson \(official\)$`,
			`(?m)^  Birth date:\s+1980-02-14$`,
			`(?m)^  Telecom:\s+phone 555-0100 \(home\)$`,
			`(?m)^  Address:\s+1 Test Street, Springfield 00001 \(home\)$`,
			`(?m)^  Identifiers:\s+urn:oid:1.2.3.4.1\|MRN100$`,
			`(?m)^\s+urn:oid:1.2.3.4.2\|SHARED1$`,
			`(?s)Timeline:\n  2026-03-01T07:30:00Z\s+appointment\s+Appointment/a1\s+fulfilled, until 2026-03-01T08:00:00Z\n` +
				`  2026-03-01T08:00:00Z\s+visit\s+Encounter/e1\s+IMP finished, until 2026-03-04T10:00:00Z\n` +
				`\s+was in-progress 2026-03-01T08:00:00Z → 2026-03-04T10:00:00Z\n` +
				`\s+at Ward 1 \(completed\) 2026-03-01T08:00:00Z → 2026-03-04T10:00:00Z\n` +
				`\s+for Appointment/a1\n` +
				`  2026-03-02T10:00:00Z\s+charge\s+ChargeItem/c1\s+120.00 USD  Chest X-ray  Account/acc1  billable\n` +
				`  2026-03-06\s+payment\s+PaymentReconciliation/pay1\s+20.00 USD  Account/acc1  active\n`,
			`(?m)^Accounts:\n  Account/acc1\s+-\s+active\s+balance 100.00 USD\s+1 charge\(s\), 1 payment\(s\)$`,
		}, notOut: []string{`MERGED`, `Encounter/e2`}},
		{name: "show by bare identifier", args: []string{"show", "--identifier", "MRN100"}, stdout: []string{`(?m)^Patient p1 `}},
		{name: "show by system and identifier", args: []string{"show", "--identifier", "urn:oid:9.9.9|SHARED1"}, stdout: []string{`(?m)^Patient p2 `, `Encounter/e2`}},
		{name: "ambiguous identifier lists both", args: []string{"show", "--identifier", "SHARED1"}, code: 1,
			stdout: []string{`(?m)^ID\s+NAME\s+BIRTH DATE\n`, `(?m)^p1\s+Alice Testperson\s+1980-02-14$`, `(?m)^p2\s+Alicia Testperson\s+1980-02-15$`},
			notOut: []string{`Timeline`, `555-0100`, `MRN100`},
			stderr: "carebridge: 2 patients have identifier \"SHARED1\": choose one and run `carebridge patients show ID`\n"},
		{name: "ambiguous identifier as JSON", args: []string{"show", "--identifier", "SHARED1", "--json"}, code: 1,
			stdout: []string{`(?m)^\{"id":"p1","name":"Alice Testperson","birth_date":"1980-02-14"\}\n\{"id":"p2","name":"Alicia Testperson","birth_date":"1980-02-15"\}\n$`}},
		{name: "unknown identifier", args: []string{"show", "--identifier", "urn:x|NOPE"}, code: 1,
			stderr: "carebridge: no patient has identifier \"urn:x|NOPE\"\n"},
		{name: "unknown id", args: []string{"show", "nope"}, code: 1, stderr: "carebridge: no patient nope\n"},
		{name: "search by name and birth date", args: []string{"search", "--name", "alice", "--birthdate", "1980-02-14"},
			stdout: []string{`^ID\s+NAME\s+BIRTH DATE\s+GENDER\s+IDENTIFIERS\s+MERGED INTO\s+LINKED TO\n`,
				`(?m)^p1\s+Alice Testperson\s+1980-02-14\s+female\s+urn:oid:1.2.3.4.1\|MRN100 urn:oid:1.2.3.4.2\|SHARED1\s+-\s+-$`,
				`(?m)^p3\s+Alice Testperson\s+1980-02-14\s+-\s+urn:oid:7.7\|NEW3\s+-\s+-$`},
			notOut: []string{`p2`, `p4`, `555-0100`}},
		{name: "search by phone as JSON", args: []string{"search", "--phone", "555-0100", "--json"},
			stdout: []string{`^\{"id":"p1","name":"Alice Testperson","birth_date":"1980-02-14","gender":"female","identifiers":\[\{"system":"urn:oid:1.2.3.4.1","value":"MRN100"\},\{"system":"urn:oid:1.2.3.4.2","value":"SHARED1"\}\]\}\n$`}},
		{name: "search by identifier, capped", args: []string{"search", "--identifier", "SHARED1", "--count", "1"},
			stdout: []string{`^ID.*\n\S+ .*\n$`}, stderr: "showing the first 1: there may be more (narrow the search or raise --count)\n"},
		{name: "search by birth date with a prefix", args: []string{"search", "--birthdate", "ge1980-02-15", "--json"},
			stdout: []string{`^\{"id":"p2",[^\n]*\n$`}},
		{name: "search finds nobody", args: []string{"search", "--name", "zz"}, stdout: []string{`^ID.*\n$`}, stderr: "no patient matches\n"},
		{name: "search finds nobody, as JSON", args: []string{"search", "--name", "zz", "--json"}, stdout: []string{`^$`}, stderr: "no patient matches\n"},
		{name: "search as JSON, capped", args: []string{"search", "--identifier", "SHARED1", "--count", "1", "--json"},
			stdout: []string{`^\{"id":"p[12]"[^\n]*\n$`}, stderr: "showing the first 1: there may be more (narrow the search or raise --count)\n"},
		{name: "open reviews", args: []string{"review"}, stdout: []string{`^TASK\s+PATIENT\s+CANDIDATE\s+SCORE\s+STATUS\nrev1\s+p3\s+p1\s+9.5\s+requested\n$`}},
		{name: "reviews as JSON", args: []string{"review", "--json"}, stdout: []string{`^\{"task":"rev1","patient":"p3","candidate":"p1","score":9.5,"status":"requested","description":"Possible duplicate: [^"]*"\}\n$`}},

		{name: "show without patient", args: []string{"show"}, code: 2, stderr: "carebridge: carebridge patients show: give a patient ID or --identifier, one of them\nrun 'carebridge patients show --help' for usage\n"},
		{name: "show with id and identifier", args: []string{"show", "p1", "--identifier", "MRN100"}, code: 2},
		{name: "show with two ids", args: []string{"show", "p1", "p2"}, code: 2},
		{name: "show with empty identifier value", args: []string{"show", "--identifier", "urn:x|"}, code: 2},
		{name: "search without criteria", args: []string{"search"}, code: 2, stderr: "carebridge: carebridge patients search: say whom to look for: --name, --birthdate, --identifier or --phone\nrun 'carebridge patients search --help' for usage\n"},
		{name: "search with a bad count", args: []string{"search", "--name", "a", "--count", "0"}, code: 2},
		{name: "search with a bad date", args: []string{"search", "--birthdate", "yesterday"}, code: 2},
		{name: "merge with one patient", args: []string{"merge", "p1"}, code: 2},
		{name: "unmerge without patient", args: []string{"unmerge"}, code: 2},
		{name: "unknown subcommand", args: []string{"frob"}, code: 2},
		{name: "unknown review subcommand", args: []string{"review", "frob"}, code: 2, stderr: "carebridge: unknown command \"frob\" for \"carebridge patients review\"\nrun 'carebridge patients review --help' for usage\n"},
		{name: "accept without task", args: []string{"review", "accept"}, code: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, errOut, code := runCLI(t, "", append(append([]string{"patients"}, tt.args...), "--data", dir)...)
			if code != tt.code {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tt.code, out, errOut)
			}
			for _, re := range tt.stdout {
				if !regexp.MustCompile(re).MatchString(out) {
					t.Errorf("stdout does not match %s:\n%s", re, out)
				}
			}
			for _, re := range tt.notOut {
				if regexp.MustCompile(re).MatchString(out) {
					t.Errorf("stdout matches %s:\n%s", re, out)
				}
			}
			if tt.stderr != "" && errOut != tt.stderr {
				t.Errorf("stderr:\n%q\nwant\n%q", errOut, tt.stderr)
			}
			if tt.code == 0 && tt.stderr == "" && errOut != "" {
				t.Errorf("unexpected stderr: %s", errOut)
			}
		})
	}
}

func TestPatientsShowJSON(t *testing.T) {
	dir := seedPatients(t)
	v := showJSON(t, dir, "p1")
	if want := []string{"Appointment/a1", "Encounter/e1", "ChargeItem/c1", "PaymentReconciliation/pay1"}; !slices.Equal(timelineRefs(v), want) {
		t.Errorf("timeline %q, want %q", timelineRefs(v), want)
	}
	if len(v.Accounts) != 1 || v.Accounts[0].Balance != "100.00" || v.Accounts[0].Charges != 1 || v.Accounts[0].Payments != 1 {
		t.Errorf("accounts: %+v", v.Accounts)
	}
	e := v.Timeline[1].Visit
	if e == nil || len(e.Locations) != 1 || e.Locations[0].Location != "Ward 1" || len(e.StatusHistory) != 1 {
		t.Errorf("visit: %+v", e)
	}
}

func TestPatientsMergeUnmerge(t *testing.T) {
	dir := seedPatients(t)
	cli := func(args ...string) (string, string, int) {
		return runCLI(t, "", append(append([]string{"patients"}, args...), "--data", dir)...)
	}

	out, errOut, code := cli("merge", "p1", "p2")
	if code != 0 {
		t.Fatalf("merge: exit %d: %s", code, errOut)
	}
	if !regexp.MustCompile(`(?m)^merge\s+Patient/p2\s+merged into Patient/p1 \(1 resource moved, manual merge\)$`).MatchString(out) ||
		!regexp.MustCompile(`(?m)^wrote \d+ resource version\(s\)$`).MatchString(out) {
		t.Errorf("merge output:\n%s", out)
	}
	merged := showJSON(t, dir, "p2")
	if merged.ReplacedBy != "p1" || len(merged.Timeline) != 0 {
		t.Errorf("merged record: replaced_by %q, timeline %q", merged.ReplacedBy, timelineRefs(merged))
	}
	if out, _, _ := cli("show", "p2"); !strings.Contains(out, "MERGED: replaced by Patient/p1; its events are there: carebridge patients show p1\n") ||
		!regexp.MustCompile(`(?m)^  Links:\s+replaced-by Patient/p1 \(urn:oid:1\.2\.3\.4\.1\|MRN100, .*\)$`).MatchString(out) {
		t.Errorf("show of the merged record:\n%s", out)
	}
	survivor := showJSON(t, dir, "p1")
	if !slices.Contains(timelineRefs(survivor), "Encounter/e2") || timelineRefs(survivor)[0] != "Encounter/e2" {
		t.Errorf("survivor's timeline %q lacks the merged record's visit first", timelineRefs(survivor))
	}
	// Both holders of SHARED1 now lead to p1: no longer ambiguous.
	if out, errOut, code := cli("show", "--identifier", "SHARED1"); code != 0 || !strings.HasPrefix(out, "Patient p1 ") {
		t.Errorf("show --identifier SHARED1 after the merge: exit %d\n%s%s", code, out, errOut)
	}
	if out, _, code := cli("show", "--identifier", "OTHER2"); code != 0 || !strings.HasPrefix(out, "Patient p1 ") {
		t.Errorf("the merged record's own identifier leads to the survivor: exit %d\n%s", code, out)
	}
	if out, _, _ := cli("search", "--identifier", "OTHER2"); !regexp.MustCompile(`(?m)^p2\s.*\sp1\s+-$`).MatchString(out) {
		t.Errorf("search shows the merged record and its survivor:\n%s", out)
	}

	_, errOut, code = cli("merge", "p2", "p1")
	if code != 1 || !strings.Contains(errOut, "carebridge: cannot merge: circular merge") {
		t.Errorf("circular merge: exit %d: %s", code, errOut)
	}
	_, errOut, code = cli("merge", "p1", "p1")
	if code != 1 || !strings.Contains(errOut, "circular merge") {
		t.Errorf("merge into itself: exit %d: %s", code, errOut)
	}
	_, errOut, code = cli("merge", "p1", "nope")
	if code != 1 || !strings.Contains(errOut, "cannot merge") || !strings.Contains(errOut, "not found") {
		t.Errorf("merge of an unknown patient: exit %d: %s", code, errOut)
	}

	out, errOut, code = cli("unmerge", "p2")
	if code != 0 || !regexp.MustCompile(`(?m)^unmerge\s+Patient/p2\s+unmerged from Patient/p1 \(1 resource moved back, manual unmerge\)$`).MatchString(out) {
		t.Fatalf("unmerge: exit %d\n%s%s", code, out, errOut)
	}
	restored := showJSON(t, dir, "p2")
	if restored.ReplacedBy != "" || !slices.Equal(timelineRefs(restored), []string{"Encounter/e2"}) || len(restored.Links) != 0 {
		t.Errorf("unmerged record: %+v", restored)
	}
	if slices.Contains(timelineRefs(showJSON(t, dir, "p1")), "Encounter/e2") {
		t.Error("the survivor kept the visit after the unmerge")
	}
	_, errOut, code = cli("unmerge", "p2")
	if code != 1 || errOut != "carebridge: cannot unmerge: unmerge Patient/p2: patient is not merged\n" {
		t.Errorf("unmerge of a record not merged: exit %d: %q", code, errOut)
	}
}

func TestPatientsReview(t *testing.T) {
	dir := seedPatients(t)
	cli := func(args ...string) (string, string, int) {
		return runCLI(t, "", append(append([]string{"patients"}, args...), "--data", dir)...)
	}
	out, errOut, code := cli("review", "accept", "rev1")
	if code != 0 || !regexp.MustCompile(`(?m)^merge\s+Patient/p3\s+merged into Patient/p1 `).MatchString(out) ||
		!regexp.MustCompile(`(?m)^review\s+Task/rev1\s+review completed: merged$`).MatchString(out) {
		t.Fatalf("accept: exit %d\n%s%s", code, out, errOut)
	}
	if v := showJSON(t, dir, "p3"); v.ReplacedBy != "p1" {
		t.Errorf("accepted review did not merge p3 into p1: %+v", v)
	}
	if out, _, code := cli("review"); code != 0 || out != "no open identity reviews\n" {
		t.Errorf("open reviews after accept: exit %d %q", code, out)
	}
	// The closed review still names both records as they were.
	if out, _, _ := cli("review", "--all"); !regexp.MustCompile(`(?m)^rev1\s+p3\s+p1\s+9.5\s+completed$`).MatchString(out) {
		t.Errorf("review --all:\n%s", out)
	}
	_, errOut, code = cli("review", "reject", "rev1")
	if code != 1 || !strings.Contains(errOut, "review is closed") {
		t.Errorf("reject a closed review: exit %d: %s", code, errOut)
	}
	_, errOut, code = cli("review", "accept", "nope")
	if code != 1 || !strings.Contains(errOut, "cannot accept review nope") {
		t.Errorf("accept an unknown review: exit %d: %s", code, errOut)
	}
	// What a change did, as JSON: the notes and the versions written.
	out, errOut, code = cli("unmerge", "p3", "--json")
	var did struct {
		Notes   []struct{ Kind, Where, Message string }
		Written []struct {
			Type, ID string
			Version  int64
		}
	}
	if code != 0 || json.Unmarshal([]byte(out), &did) != nil || len(did.Written) == 0 {
		t.Fatalf("unmerge --json: exit %d\n%s%s", code, out, errOut)
	}
	found := false
	for _, n := range did.Notes {
		found = found || n.Kind == "unmerge" && n.Where == "Patient/p3"
	}
	wrote := false
	for _, w := range did.Written {
		wrote = wrote || w.Type == "Patient" && w.ID == "p3" && w.Version > 1
	}
	if !found || !wrote {
		t.Errorf("unmerge --json: %+v, want an unmerge note on Patient/p3 and a new version of it", did)
	}
}

func TestPatientsNoDatabase(t *testing.T) {
	for _, args := range [][]string{{"show", "p1"}, {"search", "--name", "a"}, {"merge", "a", "b"}, {"unmerge", "a"}, {"review"}, {"review", "reject", "t"}} {
		_, errOut, code := runCLI(t, "", append(append([]string{"patients"}, args...), "--data", t.TempDir())...)
		if code != 1 || !strings.Contains(errOut, "no journal at") {
			t.Errorf("%v: exit %d: %s", args, code, errOut)
		}
	}
}

// TestWriteView covers what the seeded database does not: a deceased
// patient, a chain of merges, follow-ups, messages, a truncated timeline.
func TestWriteView(t *testing.T) {
	no := false
	v := &record.PatientView{ID: "x", Version: 3, Active: &no, ReplacedBy: "y", FinalSurvivor: "z",
		Deceased: true, DeceasedAt: "2026-01-02",
		Timeline: []record.Event{
			{Time: "2026-01-01", Kind: record.KindFollowUp, Ref: "Task/t1", FollowUp: &record.FollowUp{Status: "requested", Code: "Call back", Due: record.Period{Start: "2026-01-05"}}},
			{Kind: record.KindMessage, Ref: "Communication/m1", Message: &record.SentMessage{Status: "completed", Text: strings.Repeat("a", 80)}},
		},
		Truncated: []string{"Encounter", "Task"}}
	var b strings.Builder
	writeView(&b, v)
	for _, want := range []string{
		"MERGED: replaced by Patient/y, which was merged into Patient/z; its events are there: carebridge patients show z\n",
		"  Deceased:  2026-01-02\n",
		"  Active:    no\n",
		"  2026-01-01  follow-up  Task/t1           requested  Call back  due 2026-01-05 →\n",
		"  -           message    Communication/m1  completed  " + strings.Repeat("a", 59) + "…\n",
		"Accounts:\n  (none)\n",
		"\nOnly the first 1000 of each shown: Encounter, Task\n",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, b.String())
		}
	}
}

// messages show prints a message in a character set other than UTF-8 as
// text (decoded with its MSH-18, else its listener's), and --json keeps its
// bytes exactly (raw_base64) beside the text.
func TestMessagesShowDecodesTheCharset(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	s, err := sqlite.Open(ctx, filepath.Join(dir, "carebridge.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	raw := []byte("MSH|^~\\&|ADT|HOSP|CB|CB|20261101||ADT^A08|GB1|P|2.5.1||||||GB 18030\rPID|1||P1^^^HOSP^MR||\xcd\xf5^\xb7\xbc\r")
	e := &fhirstore.Entry{Listener: "mllp", SendingApp: "ADT", SendingFacility: "HOSP", ControlID: "GB1", MessageType: "ADT^A08", Status: fhirstore.StatusReceived, Raw: raw}
	if _, err := s.Append(ctx, e); err != nil {
		t.Fatal(err)
	}
	s.Close()
	out, errOut, code := runCLI(t, "", "messages", "show", fmt.Sprint(e.ID), "--data", dir)
	if code != 0 || !strings.Contains(out, "  PID|1||P1^^^HOSP^MR||王^芳\n") {
		t.Fatalf("messages show: exit %d\n%s%s", code, out, errOut)
	}
	out, errOut, code = runCLI(t, "", "messages", "show", fmt.Sprint(e.ID), "--data", dir, "--json")
	var got struct {
		Raw       string `json:"raw"`
		RawBase64 []byte `json:"raw_base64"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &got) != nil || !strings.Contains(got.Raw, "王^芳") || !bytes.Equal(got.RawBase64, raw) {
		t.Fatalf("messages show --json: exit %d\n%s%s", code, out, errOut)
	}
}

// Every output names records as references (`Links: replaces Patient/p2`,
// `merge  Patient/p2  merged into Patient/p1`, the review's description):
// a reference copied from there names the record in every command, instead
// of failing as "Patient/Patient/p2: not found". An empty id or a reference
// to another type is a usage error (exit 2), not "no patient".
func TestPatientsTakeReferences(t *testing.T) {
	dir := seedPatients(t)
	cli := func(args ...string) (string, string, int) {
		return runCLI(t, "", append(append([]string{"patients"}, args...), "--data", dir)...)
	}
	if out, errOut, code := cli("show", "Patient/p1"); code != 0 || !strings.HasPrefix(out, "Patient p1 ") {
		t.Errorf("show Patient/p1: exit %d\n%s%s", code, out, errOut)
	}
	if out, errOut, code := cli("merge", "Patient/p1", "Patient/p2"); code != 0 ||
		!regexp.MustCompile(`(?m)^merge\s+Patient/p2\s+merged into Patient/p1 `).MatchString(out) {
		t.Errorf("merge Patient/p1 Patient/p2: exit %d\n%s%s", code, out, errOut)
	}
	if out, errOut, code := cli("unmerge", "Patient/p2"); code != 0 ||
		!regexp.MustCompile(`(?m)^unmerge\s+Patient/p2\s+unmerged from Patient/p1 `).MatchString(out) {
		t.Errorf("unmerge Patient/p2: exit %d\n%s%s", code, out, errOut)
	}
	if out, errOut, code := cli("review", "reject", "Task/rev1"); code != 0 ||
		!regexp.MustCompile(`(?m)^review\s+Task/rev1\s+review rejected`).MatchString(out) {
		t.Errorf("review reject Task/rev1: exit %d\n%s%s", code, out, errOut)
	}
	for _, args := range [][]string{
		{"show", ""},
		{"show", "Encounter/e1"},
		{"merge", "p1", ""},
		{"merge", "Patient/p1", "Encounter/e2"},
		{"unmerge", "Patient/"},
		{"review", "accept", "Patient/p3"},
	} {
		out, errOut, code := cli(args...)
		if code != 2 || out != "" || !strings.Contains(errOut, "is not a ") || !strings.Contains(errOut, " id (give ID or ") {
			t.Errorf("%q: exit %d, want 2 (usage)\n%s%s", args, code, out, errOut)
		}
	}
}

// A birth date that is no date ("yesterday") is said to be no date, not an
// "unknown date prefix "ye""; a real unknown prefix still is named as one.
func TestPatientsSearchBirthdateThatIsNoDate(t *testing.T) {
	dir := seedPatients(t)
	for in, want := range map[string]string{
		"yesterday": `"yesterday" is not a date (want YYYY, YYYY-MM, YYYY-MM-DD`,
		"xx1980":    `unknown date prefix "xx"`,
	} {
		out, errOut, code := runCLI(t, "", "patients", "search", "--birthdate", in, "--data", dir)
		if code != 2 || out != "" || !strings.Contains(errOut, want) {
			t.Errorf("--birthdate %s: exit %d, want 2 and %q\n%s%s", in, code, want, out, errOut)
		}
	}
}

// A review's candidate merged into another record since the review was
// opened: the list says so (an accept merges into that record), so that the
// reviewer compares the right record.
func TestPatientsReviewShowsMergesSince(t *testing.T) {
	dir := seedPatients(t)
	cli := func(args ...string) (string, string, int) {
		return runCLI(t, "", append(append([]string{"patients"}, args...), "--data", dir)...)
	}
	if out, _, _ := cli("review"); !regexp.MustCompile(`(?m)^rev1\s+p3\s+p1\s+9\.5\s+requested$`).MatchString(out) {
		t.Errorf("review list before any merge:\n%s", out)
	}
	if _, errOut, code := cli("merge", "p4", "p1"); code != 0 {
		t.Fatalf("merge p4 p1: exit %d: %s", code, errOut)
	}
	if out, _, _ := cli("review"); !regexp.MustCompile(`(?m)^rev1\s+p3\s+p1 \(merged into p4\)\s+9\.5\s+requested$`).MatchString(out) {
		t.Errorf("review list after the candidate was merged into p4:\n%s", out)
	}
	out, _, _ := cli("review", "--json")
	var rj reviewJSON
	if err := json.Unmarshal([]byte(out), &rj); err != nil || rj.Candidate != "p1" || rj.CandidateMergedInto != "p4" || rj.PatientMergedInto != "" {
		t.Errorf("review --json: %v\n%s", err, out)
	}
}

// p2 merged into p1, then p1 into p4: searching p2's number tells where its
// record is now, not only the record it was merged into first.
func TestPatientsSearchShowsTheFinalSurvivor(t *testing.T) {
	dir := seedPatients(t)
	cli := func(args ...string) (string, string, int) {
		return runCLI(t, "", append(append([]string{"patients"}, args...), "--data", dir)...)
	}
	for _, m := range [][2]string{{"p1", "p2"}, {"p4", "p1"}} {
		if _, errOut, code := cli("merge", m[0], m[1]); code != 0 {
			t.Fatalf("merge %s %s: exit %d: %s", m[0], m[1], code, errOut)
		}
	}
	if out, _, _ := cli("search", "--identifier", "OTHER2"); !regexp.MustCompile(`(?m)^p2\s.*\sp1 \(now p4\)\s+-$`).MatchString(out) {
		t.Errorf("search for p2's number:\n%s", out)
	}
	out, _, _ := cli("search", "--identifier", "OTHER2", "--json")
	var s summaryJSON
	if err := json.Unmarshal([]byte(out), &s); err != nil || s.ReplacedBy != "p1" || s.FinalSurvivor != "p4" {
		t.Errorf("search --json: %v\n%s", err, out)
	}
	if out, _, _ := cli("search", "--identifier", "MRN100"); !regexp.MustCompile(`(?m)^p1\s.*\sp4\s+-$`).MatchString(out) {
		t.Errorf("a record merged once shows its survivor alone:\n%s", out)
	}
}

// TestSearchPhoneHoweverWritten: --phone finds a number recorded with
// another punctuation or prefix by its last 8 digits, and not a number
// that only shares fewer of them.
func TestSearchPhoneHoweverWritten(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	s, err := sqlite.Open(ctx, filepath.Join(dir, "carebridge.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var cs fhirstore.ChangeSet
	for _, b := range []string{
		`{"resourceType":"Patient","id":"ph1","name":[{"family":"Dialtone"}],"telecom":[{"system":"phone","value":"+44-1632-960777"}]}`,
		`{"resourceType":"Patient","id":"ph2","name":[{"family":"Busyline"}],"telecom":[{"system":"phone","value":"01632 960778"}]}`,
	} {
		var head struct{ ID string }
		json.Unmarshal([]byte(b), &head)
		cs.Writes = append(cs.Writes, fhirstore.Write{Type: "Patient", ID: head.ID, Body: []byte(b)})
	}
	if _, err := s.Apply(ctx, cs); err != nil {
		t.Fatal(err)
	}
	s.Close()
	for _, tc := range []struct{ phone, want string }{
		{"01632960777", "ph1"},
		{"01632 960 777", "ph1"},
		{"+44-1632-960777", "ph1"}, // as recorded
		{"(01632) 960778", "ph2"},
		{"960777", ""}, // too few digits to say which number
	} {
		out, errOut, code := runCLI(t, "", "patients", "search", "--phone", tc.phone, "--json", "--data", dir)
		if code != 0 {
			t.Fatalf("search --phone %q: exit %d: %s", tc.phone, code, errOut)
		}
		var ids []string
		for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
			var p struct{ ID string }
			if json.Unmarshal([]byte(line), &p) == nil && p.ID != "" {
				ids = append(ids, p.ID)
			}
		}
		if got := strings.Join(ids, ","); got != tc.want {
			t.Errorf("search --phone %q found %q, want %q", tc.phone, got, tc.want)
		}
	}
}
