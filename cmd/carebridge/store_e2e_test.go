package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/carebridge/carebridge/engine/hl7"
	"github.com/carebridge/carebridge/engine/mllp"
	"github.com/carebridge/carebridge/fhirstore"
	"github.com/carebridge/carebridge/fhirstore/sqlite"
)

// seedOutdatedIndex writes a patient named in Chinese and a payment for a
// visit into a new data directory, then makes the search index look as a
// version without the CJK whole name and the payment's encounter parameter
// left it. It returns the directory.
func seedOutdatedIndex(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	ctx := context.Background()
	path := filepath.Join(dir, "carebridge.db")
	s, err := sqlite.Open(ctx, path, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.Apply(ctx, fhirstore.ChangeSet{Writes: []fhirstore.Write{
		{Type: "Patient", ID: "zhang", Body: []byte(`{"resourceType":"Patient","id":"zhang","name":[{"family":"张","given":["伟"]}],"birthDate":"1975-03-01"}`)},
		{Type: "Encounter", ID: "e1", Body: []byte(`{"resourceType":"Encounter","id":"e1","status":"in-progress",
			"class":{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"IMP"},"subject":{"reference":"Patient/zhang"}}`)},
		{Type: "PaymentReconciliation", ID: "pay1", Body: []byte(`{"resourceType":"PaymentReconciliation","id":"pay1","status":"active",
			"created":"2026-03-06","paymentDate":"2026-03-06","paymentAmount":{"value":20,"currency":"USD"},
			"extension":[{"url":"https://carebridge.dev/fhir/StructureDefinition/visit","valueReference":{"reference":"Encounter/e1"}}]}`)},
	}})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	db, err := sql.Open("sqlite3", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`DELETE FROM search_string WHERE value = ?;
		DELETE FROM search_ref WHERE param = (SELECT code FROM search_param WHERE type = 'PaymentReconciliation' AND name = 'encounter');
		UPDATE search_index SET fingerprint = 'older'`, fhirstore.NormalizeString("张伟")); err != nil {
		t.Fatal(err)
	}
	return dir
}

// searchPayments counts the payments for visit e1 in the store at dir.
func searchPayments(t *testing.T, dir string) int {
	t.Helper()
	s, err := sqlite.Open(context.Background(), filepath.Join(dir, "carebridge.db"), sqlite.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	found, err := s.Search(context.Background(), fhirstore.Query{Type: "PaymentReconciliation",
		Params: []fhirstore.Param{{Name: "encounter", Values: []string{"Encounter/e1"}}}})
	if err != nil {
		t.Fatal(err)
	}
	return len(found)
}

// TestStoreReindexCommand runs `carebridge store reindex` on a store an
// older version indexed: the read-only commands note the index needs
// rebuilding, the rebuild reports what it did, searches then find the CJK
// whole name and the payment by its visit, and a second run has nothing
// to do.
func TestStoreReindexCommand(t *testing.T) {
	data := seedOutdatedIndex(t)
	needs := "note: the search index was built by another carebridge version and needs rebuilding (3 resources): searches may miss records until then (`carebridge serve` rebuilds it on start; or run `carebridge store reindex`)\n"
	out, errOut, code := run(t, nil, "patients", "search", "--name", "张伟", "--data", data)
	if code != 0 || errOut != needs+"no patient matches\n" {
		t.Fatalf("patients search on an out-of-date index: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	if _, errOut, code := run(t, nil, "messages", "list", "--data", data); code != 0 || !strings.HasPrefix(errOut, needs) {
		t.Fatalf("messages list on an out-of-date index: exit %d, stderr:\n%s", code, errOut)
	}
	if searchPayments(t, data) != 0 {
		t.Fatal("the payment is found by its visit before the rebuild")
	}

	out, errOut, code = run(t, nil, "store", "reindex", "--data", data)
	if code != 0 {
		t.Fatalf("store reindex: exit %d\n%s%s", code, out, errOut)
	}
	for _, re := range []string{
		`^search index rebuilt: 3 resources in \S+ \(\d+ resources/s\)\n  rows added    2\n  rows removed  0\n$`,
	} {
		if !regexp.MustCompile(re).MatchString(out) {
			t.Errorf("summary %q does not match %s", out, re)
		}
	}
	if !regexp.MustCompile(`^reindex: 3/3 resources 100\.0% \d+ resources/s eta 0s\n$`).MatchString(errOut) {
		t.Errorf("progress on standard error: %q", errOut)
	}
	out, errOut, code = run(t, nil, "patients", "search", "--name", "张伟", "--data", data)
	if code != 0 || !strings.Contains(out, "zhang") || errOut != "" {
		t.Fatalf("patients search after the rebuild: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	if searchPayments(t, data) != 1 {
		t.Fatal("the payment is not found by its visit after the rebuild")
	}

	out, errOut, code = run(t, nil, "store", "reindex", "--data", data)
	if code != 0 || out != "search index is current: nothing to rebuild (--all rebuilds it anyway)\n" || errOut != "" {
		t.Fatalf("store reindex on a current index: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	out, _, code = run(t, nil, "store", "reindex", "--all", "--json", "--quiet", "--data", data)
	var res reindexJSON
	if err := json.Unmarshal([]byte(out), &res); code != 0 || err != nil {
		t.Fatalf("store reindex --all --json: exit %d, %v\n%s", code, err, out)
	}
	if res.UpToDate || res.Resources != 3 || res.RowsAdded != 0 || res.RowsRemoved != 0 {
		t.Fatalf("store reindex --all: %+v; want 3 resources walked, no row written", res)
	}

	if _, errOut, code := run(t, nil, "store", "reindex", "--data", t.TempDir()); code != 1 || !strings.Contains(errOut, "no journal at") {
		t.Fatalf("store reindex without a database: exit %d: %s", code, errOut)
	}
	if _, _, code := run(t, nil, "store", "reindex", "extra", "--data", data); code != 2 {
		t.Fatalf("store reindex with an argument: exit %d, want 2", code)
	}
}

// TestServeRebuildsAndStoreReindexRunsBeside: serve started on an
// out-of-date index warns and rebuilds it in the background; `store reindex
// --all` then runs beside the running serve, which keeps acknowledging.
func TestServeRebuildsAndStoreReindexRunsBeside(t *testing.T) {
	data := seedOutdatedIndex(t)
	s := startServer(t, data)
	at := s.waitLog(t, `level=WARN msg="search index built by another carebridge version: rebuilding it in the background; until it is done, searches (identity matching included) may miss resources not yet rebuilt" resources=3 continued=false`, 0)
	s.waitLog(t, `msg="search index rebuilt" resources=3 rows_added=2 rows_removed=0`, at)
	if searchPayments(t, data) != 1 {
		t.Fatal("the payment is not found by its visit after serve's rebuild")
	}

	out, errOut, code := run(t, nil, "store", "reindex", "--all", "--data", data)
	if code != 0 || !strings.HasPrefix(out, "search index rebuilt: 3 resources") {
		t.Fatalf("store reindex --all beside serve: exit %d\n%s%s", code, out, errOut)
	}
	c, err := mllp.Dial(context.Background(), s.addr, mllp.ClientOptions{AckTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ack, err := c.Send(context.Background(), synthetic("REINDEX1", 1))
	if err != nil {
		t.Fatal(err)
	}
	if m, err := hl7.Parse(ack); err != nil || m.Get("MSA-1") != "AA" {
		t.Fatalf("ACK after the rebuild: %q", ack)
	}
	if text := s.logText(); strings.Contains(text, "张") || strings.Contains(text, "zhang") {
		t.Fatalf("serve's log names the patient:\n%s", text)
	}
}
