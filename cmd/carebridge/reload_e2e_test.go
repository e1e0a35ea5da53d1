package main

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// copyTree copies the shipped mappings into dir, as a user starting their own does.
func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o750)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(target, b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}

type shown struct {
	Status      string          `json:"status"`
	Error       string          `json:"error"`
	MappingHash string          `json:"mapping_hash"`
	Bundle      json.RawMessage `json:"bundle"`
	Warnings    json.RawMessage `json:"warnings"`
}

func showMessage(t *testing.T, data string, id int64) shown {
	t.Helper()
	out, errOut, code := run(t, nil, "messages", "show", fmt.Sprint(id), "--json", "--data", data)
	if code != 0 {
		t.Fatalf("messages show %d: %s", id, errOut)
	}
	var s shown
	if err := json.Unmarshal([]byte(out), &s); err != nil {
		t.Fatal(err)
	}
	return s
}

// TestMappingsHotReload: serve maps with a mappings directory; a valid edit
// is applied without a restart (new hash on later messages) once its
// examples agree, an edit that does not compile is refused and logged while
// the previous set keeps working.
func TestMappingsHotReload(t *testing.T) {
	dir := t.TempDir()
	maps := filepath.Join(dir, "maps")
	copyTree(t, filepath.Join("..", "..", "mappings", "hl7v2"), maps)
	cfgFile := filepath.Join(dir, "carebridge.yaml")
	cfg := "mappings:\n  dir: maps\nmllp:\n  - addr: 127.0.0.1:0\n"
	if err := os.WriteFile(cfgFile, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(dir, "data")
	s := startServer(t, data, "--config", cfgFile)
	send := func(ctrl string) int64 {
		t.Helper()
		msg := "MSH|^~\\&|ADTSYS|GENHOSP|CB|CB|20261101120000+0000||ADT^A08^ADT_A01|" + ctrl + "|P|2.5.1\rEVN|A08|20261101120000+0000\rPID|1||RL1^^^GENHOSP^MR||Reload^Rita||19700101|F\rZZZ|secret-value\r"
		out, errOut, code := run(t, strings.NewReader(msg), "send", "--to", s.addr, "-")
		if code != 0 {
			t.Fatalf("send: %s %s", out, errOut)
		}
		got := listMessages(t, data, "--control-id", ctrl)
		if len(got) != 1 {
			t.Fatalf("journal has %v for %s", got, ctrl)
		}
		return got[0].ID
	}
	waitMapped := func(id int64) shown {
		t.Helper()
		for i := 0; ; i++ {
			sh := showMessage(t, data, id)
			if sh.Status != "received" && sh.Status != "processing" {
				return sh
			}
			if i > 2000 {
				t.Fatalf("message %d still %s", id, sh.Status)
			}
			s.waitLogOrProcessed(t)
		}
	}
	first := waitMapped(send("RL-1"))
	if first.Status != "processed" || !strings.Contains(string(first.Bundle), `"gender":"female"`) {
		t.Fatalf("first message: %+v", first)
	}
	// Nothing is lost silently: the Z-segment no map uses is reported with
	// the journal entry (its position, never its value).
	if !strings.Contains(string(first.Warnings), `"where":"ZZZ-1"`) || strings.Contains(string(first.Warnings), "secret-value") {
		t.Fatalf("warnings kept with the entry: %s", first.Warnings)
	}
	// A valid edit: women become "other" (a visible change).
	sexFile := filepath.Join(maps, "codes", "0001-AdministrativeSex.yaml")
	orig, err := os.ReadFile(sexFile)
	if err != nil {
		t.Fatal(err)
	}
	edited := strings.Replace(string(orig), "code: female", "code: other", 1)
	if edited == string(orig) {
		t.Fatal("fixture: no 'code: female' to edit")
	}
	mark := s.waitLog(t, "watching mappings for changes", 0)
	if err := os.WriteFile(sexFile, []byte(edited), 0o644); err != nil {
		t.Fatal(err)
	}
	// It compiles, but the examples next to the maps expect "female": the
	// edit is refused until they are updated, which puts it in use.
	mark = s.waitLog(t, "example(s) fail with the edited mappings", mark)
	if out, errOut, code := run(t, nil, "mapping", "test", maps, "-update"); code != 0 {
		t.Fatalf("mapping test -update: exit %d\n%s%s", code, out, errOut)
	}
	mark = s.waitLog(t, "mappings reloaded", mark)
	second := waitMapped(send("RL-2"))
	if second.MappingHash == first.MappingHash || !strings.Contains(string(second.Bundle), `"gender":"other"`) {
		t.Fatalf("after the edit: hash %s (was %s), bundle %s", second.MappingHash, first.MappingHash, second.Bundle)
	}
	// A broken edit is refused with its position; the set in use stays.
	if err := os.WriteFile(sexFile, []byte(edited+"  Z: {code: other, colour: red}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	mark = s.waitLog(t, "mapping edit refused", mark)
	s.waitLog(t, "colour", mark)
	third := waitMapped(send("RL-3"))
	if third.Status != "processed" || third.MappingHash != second.MappingHash {
		t.Fatalf("after a refused edit: %+v (want hash %s)", third, second.MappingHash)
	}
	// The broken edit undone: the log says the files are what runs again.
	if err := os.WriteFile(sexFile, []byte(edited), 0o644); err != nil {
		t.Fatal(err)
	}
	s.waitLog(t, "mapping edit withdrawn: the files are the mappings in use again", mark)
}

// TestReprocessAfterMappingFix: messages mapped with a broken mapping (the
// official name type mapped as "usual") are reprocessed after the fix; the
// record then holds what the fixed mapping makes and no longer what only
// the broken one made, and reprocessing again changes nothing more.
func TestReprocessAfterMappingFix(t *testing.T) {
	dir := t.TempDir()
	maps := filepath.Join(dir, "maps")
	copyTree(t, filepath.Join("..", "..", "mappings", "hl7v2"), maps)
	nameFile := filepath.Join(maps, "codes", "0200-NameType.yaml")
	good, err := os.ReadFile(nameFile)
	if err != nil {
		t.Fatal(err)
	}
	broken := strings.Replace(string(good), "L: {code: official, display: Official}", "L: {code: usual, display: Usual}", 1)
	if broken == string(good) {
		t.Fatal("fixture: no official name type to break")
	}
	if err := os.WriteFile(nameFile, []byte(broken), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "carebridge.yaml")
	if err := os.WriteFile(cfg, []byte("mappings:\n  dir: maps\n  reload: false\nmllp:\n  - addr: 127.0.0.1:0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(dir, "data")
	// Processed by serve with the broken mappings.
	s := startServer(t, data, "--config", cfg)
	msg := "MSH|^~\\&|ADTSYS|GENHOSP|CB|CB|20261101120000+0000||ADT^A01^ADT_A01|FIX-1|P|2.5.1\rEVN|A01|20261101120000+0000\r" +
		"PID|1||FX1^^^GENHOSP^MR||Fixture^Fiona^^^^^L||19700101|F\rPV1|1|I|WARD1^1^A^GENHOSP||||||||||||||||FXV1^^^GENHOSP^VN\r"
	if out, errOut, code := run(t, strings.NewReader(msg), "send", "--to", s.addr, "-"); code != 0 {
		t.Fatalf("send: %s %s", out, errOut)
	}
	for i := 0; ; i++ {
		got := listMessages(t, data, "--control-id", "FIX-1")
		if len(got) == 1 && got[0].Status == "processed" {
			break
		}
		if i > 2000 {
			t.Fatalf("not processed: %+v", got)
		}
		s.waitLogOrProcessed(t)
	}
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := <-s.exit; err != nil {
		t.Fatalf("serve: %v", err)
	}
	names := func() string {
		t.Helper()
		out, errOut, code := run(t, nil, "patients", "show", "--identifier", "FX1", "--data", data, "--json")
		if code != 0 {
			t.Fatalf("patients show: exit %d: %s", code, errOut)
		}
		var v struct {
			Names []struct{ Use, Family string }
		}
		if err := json.Unmarshal([]byte(out), &v); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		return fmt.Sprint(v.Names)
	}
	if got := names(); got != "[{usual Fixture}]" {
		t.Fatalf("names with the broken mapping = %s", got)
	}
	// A first attempt at the fix that the record refuses (it computes a
	// gender code FHIR does not have, which no load check can see in an
	// expression): the message fails, and the entry keeps the result the
	// record holds.
	if err := os.WriteFile(nameFile, good, 0o644); err != nil {
		t.Fatal(err)
	}
	sexFile := filepath.Join(maps, "segments", "PID-Patient.yaml")
	sexGood, err := os.ReadFile(sexFile)
	if err != nil {
		t.Fatal(err)
	}
	const sexRow = `{from: "8", to: gender, code: AdministrativeSex}`
	if !strings.Contains(string(sexGood), sexRow) {
		t.Fatalf("%s has no row %s", sexFile, sexRow)
	}
	if err := os.WriteFile(sexFile, []byte(strings.Replace(string(sexGood), sexRow, `{from: "8", to: gender, value: 'it == "F" ? "femme" : "male"'}`, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	// A dry run says so first, and changes nothing.
	out, errOut, code := run(t, nil, "messages", "reprocess", "--dry-run", "--config", cfg, "--data", data, "--status", "processed")
	if code != 1 || !strings.Contains(out, "1\tADT^A01\tprocessed → would-fail\t") || !strings.Contains(out, "Patient.gender") ||
		!strings.Contains(out, ": 1 message(s): 0 unchanged, 0 changed, 0 fixed, 1 would fail, 0 still failing; nothing was queued or changed") ||
		!strings.Contains(errOut, "1 message would fail with these mappings") {
		t.Fatalf("dry run with a mapping the record refuses: exit %d:\n%s%s", code, out, errOut)
	}
	if got := listMessages(t, data, "--control-id", "FIX-1"); len(got) != 1 || got[0].Status != "processed" {
		t.Fatalf("after the dry run: %+v, want the entry as it was", got)
	}
	if out, errOut, code := run(t, nil, "messages", "reprocess", "--config", cfg, "--data", data, "--status", "processed"); code != 1 || !strings.Contains(out, "failed 1") {
		t.Fatalf("reprocess with a mapping the record refuses: exit %d: %s %s", code, out, errOut)
	}
	if got := names(); got != "[{usual Fixture}]" {
		t.Fatalf("names after a refused reprocessing = %s", got)
	}
	// The entry says which set failed, and keeps the Bundle (and its set)
	// that the record holds.
	out, errOut, code = run(t, nil, "messages", "show", "1", "--json", "--data", data)
	if code != 0 {
		t.Fatalf("messages show: exit %d: %s", code, errOut)
	}
	var shown struct {
		Status, Error string
		MappingHash   string `json:"mapping_hash"`
	}
	if err := json.Unmarshal([]byte(out), &shown); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if shown.Status != "failed" || shown.MappingHash == "" ||
		!strings.HasPrefix(shown.Error, "apply the result of mapping set ") ||
		!strings.Contains(shown.Error, "(the entry keeps mapping set "+shown.MappingHash+"'s, which the record holds)") {
		t.Errorf("the refused entry: status %s, mapping_hash %s, error %q", shown.Status, shown.MappingHash, shown.Error)
	}
	// The fix, then reprocessing: the usual name only the broken mapping
	// made goes; twice changes nothing more.
	if err := os.WriteFile(sexFile, sexGood, 0o644); err != nil {
		t.Fatal(err)
	}
	// The dry run of the fix: the failed message maps again, and its
	// Patient's name changes from what the record holds (the kept Bundle).
	out, errOut, code = run(t, nil, "messages", "reprocess", "--dry-run", "--diff", "--json", "--config", cfg, "--data", data, "--status", "failed")
	if code != 0 {
		t.Fatalf("dry run of the fix: exit %d: %s %s", code, out, errOut)
	}
	var dry struct {
		Total, Fixed int
		Messages     []struct {
			ID      int64
			Was     string
			Outcome string
			Changes []struct {
				Resource, Kind string
				Paths          []string
				Differences    []struct{ Path, Was, Now string }
			}
		}
	}
	if err := json.Unmarshal([]byte(out), &dry); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if dry.Total != 1 || dry.Fixed != 1 || len(dry.Messages) != 1 || dry.Messages[0].Was != "failed" || dry.Messages[0].Outcome != "fixed" ||
		len(dry.Messages[0].Changes) != 1 || !strings.HasPrefix(dry.Messages[0].Changes[0].Resource, "Patient/") ||
		fmt.Sprint(dry.Messages[0].Changes[0].Differences) != `[{name[0].use "usual" "official"}]` {
		t.Fatalf("dry run of the fix: %+v\n%s", dry, out)
	}
	for i := range 2 {
		out, errOut, code := run(t, nil, "messages", "reprocess", "--config", cfg, "--data", data, "--status", "processed,failed")
		if code != 0 || !strings.Contains(out, "processed here: 1") {
			t.Fatalf("reprocess %d: exit %d: %s %s", i, code, out, errOut)
		}
		if got := names(); got != "[{official Fixture}]" {
			t.Fatalf("names after reprocessing %d = %s, want only the official one", i, got)
		}
	}
	// Reprocessed, the message has what the mappings make: a dry run finds
	// nothing to change, and lists it only when asked to.
	out, errOut, code = run(t, nil, "messages", "reprocess", "--dry-run", "--config", cfg, "--data", data, "--status", "processed")
	if code != 0 || !strings.Contains(out, ": 1 message(s): 1 unchanged, 0 changed") || strings.Contains(out, "ADT^A01") {
		t.Fatalf("dry run after the fix: exit %d:\n%s%s", code, out, errOut)
	}
	out, errOut, code = run(t, nil, "messages", "reprocess", "--dry-run", "--all", "--config", cfg, "--data", data, "--status", "processed")
	if code != 0 || !strings.Contains(out, "1\tADT^A01\tprocessed → unchanged\n") {
		t.Fatalf("dry run --all after the fix: exit %d:\n%s%s", code, out, errOut)
	}
	if _, errOut, code := run(t, nil, "messages", "reprocess", "--dry-run", "--queue-only", "--data", data, "--status", "processed"); code != 2 || !strings.Contains(errOut, "does not go with --queue-only") {
		t.Errorf("--dry-run --queue-only: exit %d: %s", code, errOut)
	}
	if _, errOut, code := run(t, nil, "messages", "reprocess", "--diff", "--data", data, "--status", "processed"); code != 2 || !strings.Contains(errOut, "--diff and --all go with --dry-run") {
		t.Errorf("--diff without --dry-run: exit %d: %s", code, errOut)
	}
}
