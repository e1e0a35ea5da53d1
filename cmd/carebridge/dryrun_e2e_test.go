package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// TestReprocessDryRunSaysWhatTheRecordRefuses: a dry run tells what a real
// reprocessing would do with messages the record refuses whatever the
// mappings (an empty PID: still failing, not "fixed"), compares a
// duplicate named by ID with its original's Bundle (not with nothing), and
// with --json names the IDs that would not be reprocessed, as the text does.
func TestReprocessDryRunSaysWhatTheRecordRefuses(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	admit := "MSH|^~\\&|ADTSYS|GENHOSP|CB|CB|20261101080000+0000||ADT^A01^ADT_A01|DR-1|P|2.5.1\rEVN|A01|20261101080000+0000\r" +
		"PID|1||DRY1^^^GENHOSP^MR||Dryrun^Dana||19800101|F\rPV1|1|I|WARD1^1^A^GENHOSP||||||||||||||||DRYV1^^^GENHOSP^VN\r"
	empty := "MSH|^~\\&|ADTSYS|GENHOSP|CB|CB|20261101090000+0000||ADT^A08^ADT_A01|DR-2|P|2.5.1\rEVN|A08|20261101090000+0000\r" +
		"PID|1\rPV1|1|I|WARD1^1^A^GENHOSP||||||||||||||||DRYV2^^^GENHOSP^VN\r"
	for name, m := range map[string]string{"1-admit.hl7": admit, "2-empty.hl7": empty, "3-resend.hl7": admit} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(m), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{"1-admit.hl7", "2-empty.hl7", "3-resend.hl7"} {
		if out, errOut, code := run(t, nil, "replay", "--data", data, filepath.Join(dir, name)); code != 0 {
			t.Fatalf("replay %s: exit %d: %s %s", name, code, out, errOut)
		}
	}
	// Processes what replay journaled (and queues nothing: nothing failed yet).
	if out, errOut, code := run(t, nil, "messages", "reprocess", "--data", data, "--status", "failed"); code != 1 || !strings.Contains(out, "processed 1, failed 1") {
		t.Fatalf("processing: exit %d: %s %s", code, out, errOut)
	}
	got := listMessages(t, data)
	if len(got) != 3 || got[0].Status != "processed" || got[1].Status != "failed" || got[2].Status != "duplicate" {
		t.Fatalf("journal: %+v, want processed, failed (no patient), duplicate", got)
	}

	// The empty PID maps, but the record refuses it: still failing.
	out, errOut, code := run(t, nil, "messages", "reprocess", "--dry-run", "--data", data, "--status", "failed")
	if code != 1 || !strings.Contains(out, "2\tADT^A08\tfailed → still-failing\tthe message names no patient: its PID has no identifier and no name") ||
		!strings.Contains(out, "; the record would refuse it") || !strings.Contains(out, "0 fixed, 0 would fail, 1 still failing") {
		t.Fatalf("dry run of a message the record refuses: exit %d:\n%s%s", code, out, errOut)
	}
	// And so it is: a real reprocessing fails it again.
	if out, errOut, code := run(t, nil, "messages", "reprocess", "--data", data, "--status", "failed"); code != 1 || !strings.Contains(out, "processed 0, failed 1") {
		t.Fatalf("reprocess: exit %d: %s %s", code, out, errOut)
	}

	// The duplicate named by ID: compared with its original's Bundle, only
	// the Provenance differs (it names the journal entry).
	out, errOut, code = run(t, nil, "messages", "reprocess", "--dry-run", "--data", data, "3")
	if code != 0 || !strings.Contains(out, "3\tADT^A01\tduplicate (of 1) → changed\tProvenance/") || strings.Contains(out, "added") ||
		!strings.Contains(out, ": entity[0].what.identifier.value\n") || !strings.Contains(out, "note: 3 is a resend of entry 1") {
		t.Fatalf("dry run of a duplicate: exit %d:\n%s%s", code, out, errOut)
	}

	// --json: the IDs that would not be reprocessed are in the object.
	out, errOut, code = run(t, nil, "messages", "reprocess", "--dry-run", "--json", "--data", data, "3", "999")
	var report struct {
		Total    int
		Messages []struct {
			ID           int64
			Outcome      string
			ComparedWith int64 `json:"compared_with"`
		}
		IDs []struct {
			ID     int64
			Queued bool
			Why    string
		}
	}
	if err := json.Unmarshal([]byte(out), &report); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if code != 1 || report.Total != 1 || len(report.IDs) != 2 || report.IDs[1].ID != 999 || report.IDs[1].Why != "no such message" || !report.IDs[0].Queued {
		t.Fatalf("dry run --json with an unknown ID: exit %d: %+v\n%s%s", code, report, out, errOut)
	}
}

// TestReprocessDryRunNamesAnUnconfiguredListener: an entry received by a
// listener with its own character set, dry-run with a configuration that
// lacks that listener (just --data), cannot be read in the default UTF-8:
// the error says the listener is not configured, not only that the bytes
// are not UTF-8.
func TestReprocessDryRunNamesAnUnconfiguredListener(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	cfg := filepath.Join(dir, "carebridge.yaml")
	if err := os.WriteFile(cfg, []byte("data_dir: "+data+"\nmllp:\n  - name: legacy\n    addr: 127.0.0.1:0\n    charset: 8859/1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	msg := filepath.Join(dir, "latin1.hl7")
	raw := "MSH|^~\\&|ADTSYS|GENHOSP|CB|CB|20261101080000+0000||ADT^A01^ADT_A01|L1|P|2.5.1\rEVN|A01|20261101080000+0000\rPID|1||LAT1^^^GENHOSP^MR||M\xfcller^J\xfcrgen||19700101|M\r"
	if err := os.WriteFile(msg, []byte(raw), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, errOut, code := run(t, nil, "replay", "--config", cfg, "--listener", "legacy", msg); code != 0 {
		t.Fatalf("replay: exit %d: %s %s", code, out, errOut)
	}
	if out, errOut, code := run(t, nil, "messages", "reprocess", "--config", cfg, "--status", "failed"); code != 0 || !strings.Contains(out, "processed 1") {
		t.Fatalf("processing: exit %d: %s %s", code, out, errOut)
	}
	if out, errOut, code := run(t, nil, "messages", "reprocess", "--dry-run", "--all", "--config", cfg, "--status", "processed"); code != 0 || !strings.Contains(out, "processed → unchanged") {
		t.Fatalf("dry run with the listener's configuration: exit %d: %s %s", code, out, errOut)
	}
	out, errOut, code := run(t, nil, "messages", "reprocess", "--dry-run", "--data", data, "--status", "processed")
	if code != 1 || !strings.Contains(out, "processed → would-fail\tparse hl7") || !strings.Contains(out, `(its listener "legacy" is not in this configuration: give the server's --config)`) {
		t.Fatalf("dry run without the listener: exit %d: %s %s", code, out, errOut)
	}
}

// TestReprocessDryRunSaysWhatAMessageClears: when a mapping edit changes
// what a message's HL7 "" clears, the dry run says so in words (`clears
// SELECTOR`, `no longer clears SELECTOR`), in text and in --json's paths,
// not as the meta.extension entries that carry it; --diff still gives the
// entries themselves.
func TestReprocessDryRunSaysWhatAMessageClears(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	maps := filepath.Join(dir, "maps")
	copyTree(t, filepath.Join("..", "..", "mappings", "hl7v2"), maps)
	// PID-11 "" (clears address) and PID-14 "" (clears the work phone).
	const head = "MSH|^~\\&|ADTSYS|GENHOSP|CB|CB|20261101090000+0000||ADT^A08^ADT_A01|"
	msgs := map[string]string{
		"1.hl7": head + "CL-1|P|2.5.1\rEVN|A08|20261101090000+0000\rPID|1||CLR1^^^GENHOSP^MR||Clearing^Clara||19800101|F|||\"\"\r",
		"2.hl7": head + "CL-2|P|2.5.1\rEVN|A08|20261101090000+0000\rPID|1||CLR2^^^GENHOSP^MR||Clearing^Carl||19800101|M||||||\"\"\r",
	}
	for _, name := range []string{"1.hl7", "2.hl7"} {
		file := filepath.Join(dir, name)
		if err := os.WriteFile(file, []byte(msgs[name]), 0o644); err != nil {
			t.Fatal(err)
		}
		if out, errOut, code := run(t, nil, "replay", "--data", data, file); code != 0 {
			t.Fatalf("replay %s: exit %d: %s %s", name, code, out, errOut)
		}
	}
	if out, errOut, code := run(t, nil, "messages", "reprocess", "--data", data, "--status", "failed"); code != 0 || !strings.Contains(out, "processed 2") {
		t.Fatalf("processing: exit %d: %s %s", code, out, errOut)
	}
	// The edit: PID-11 "" clears only the home address; PID-14 is no
	// longer mapped (so its "" clears nothing, and the Patient has no meta).
	pid := filepath.Join(maps, "segments", "PID-Patient.yaml")
	b, err := os.ReadFile(pid)
	if err != nil {
		t.Fatal(err)
	}
	const addressRow = `{from: "11", to: "address[]", via: "XAD[Address]"}`
	workRow := regexp.MustCompile(`(?m)^  - \{from: "14", to: "telecom\[\]".*\n`)
	if !strings.Contains(string(b), addressRow) || !workRow.Match(b) {
		t.Fatalf("%s: no PID-11 or PID-14 row to edit", pid)
	}
	edited := strings.Replace(string(b), addressRow, `{from: "11", to: "address[]", via: "XAD[Address]", clears: 'address.where(use = "home")'}`, 1)
	edited = workRow.ReplaceAllString(edited, "")
	if err := os.WriteFile(pid, []byte(edited), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "carebridge.yaml")
	if err := os.WriteFile(cfg, []byte("mappings:\n  dir: "+maps+"\n  reload: false\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	out, errOut, code := run(t, nil, "messages", "reprocess", "--dry-run", "--config", cfg, "--data", data, "--status", "processed")
	if code != 0 || !regexp.MustCompile(`(?m)^1\tADT\^A08\tprocessed → changed\tPatient/[0-9a-f-]+: clears address\.where\(use = "home"\), no longer clears address$`).MatchString(out) ||
		!regexp.MustCompile(`(?m)^2\tADT\^A08\tprocessed → changed\tPatient/[0-9a-f-]+: no longer clears telecom\.where\(use = "work"\)\t\(warnings 0 → 1\)$`).MatchString(out) ||
		strings.Contains(out, "meta") {
		t.Fatalf("dry run: exit %d:\n%s%s", code, out, errOut)
	}

	out, errOut, code = run(t, nil, "messages", "reprocess", "--dry-run", "--diff", "--json", "--config", cfg, "--data", data, "1")
	if code != 0 {
		t.Fatalf("dry run --diff --json: exit %d: %s %s", code, out, errOut)
	}
	var dry struct {
		Messages []struct {
			Changes []struct {
				Paths       []string
				Differences []struct{ Path, Was, Now string }
			}
		}
	}
	if err := json.Unmarshal([]byte(out), &dry); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	marker := func(sel string) string {
		return `{"url":"https://carebridge.dev/fhir/StructureDefinition/clear-element","valueString":` + strconv.Quote(sel) + `}`
	}
	want := fmt.Sprint([]any{
		[]string{`clears address.where(use = "home")`, "no longer clears address"},
		[]struct{ Path, Was, Now string }{
			{`clears address.where(use = "home")`, "", marker(`address.where(use = "home")`)},
			{"no longer clears address", marker("address"), ""},
		},
	})
	if len(dry.Messages) != 1 || len(dry.Messages[0].Changes) != 1 ||
		fmt.Sprint([]any{dry.Messages[0].Changes[0].Paths, dry.Messages[0].Changes[0].Differences}) != want {
		t.Fatalf("dry run --diff --json: %+v, want paths and differences %s\n%s", dry, want, out)
	}
}
