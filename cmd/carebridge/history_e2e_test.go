package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestPatientsHistory: a patient's versions as messages made them, through
// the real server: which message wrote each, what changed (paths; values
// with --diff), what a message cleared, the record's notes, a person's merge
// as a version of no message; and a visit confirmed by a later message that
// changed nothing. An older message that changed nothing is no version.
func TestPatientsHistory(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "carebridge.yaml")
	// on-process: each message is applied before its ACK returns.
	if err := os.WriteFile(cfg, []byte("mllp:\n  - addr: 127.0.0.1:0\n    ack_policy: on-process\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(dir, "data")
	s := startServer(t, data, "--config", cfg)
	msg := func(at, event, ctl, mrn, family, addr, phone string) string {
		return "MSH|^~\\&|ADTSYS|GENHOSP|CB|CB|" + at + "+0000||ADT^" + event + "^ADT_A01|" + ctl + "|P|2.5.1\rEVN|" + event + "|" + at + "+0000\r" +
			"PID|1||" + mrn + "^^^GENHOSP^MR||" + family + "^Hanna||19750505|F|||" + addr + "||" + phone + "\r" +
			"PV1|1|I|WARD1^1^A^GENHOSP||||||||||||||||V-" + mrn + "^^^GENHOSP^VN\r"
	}
	var files []string
	for i, m := range []string{
		msg("20261101080000", "A01", "H1", "HX1", "History", "1 Old Road^^Springfield^^SP1 1AA", "+44-1632-960100^PRN^PH"),
		msg("20261102080000", "A08", "H2", "HX1", "History", "2 New Road^^Springfield^^SP2 2BB", ""),
		msg("20261103080000", "A08", "H3", "HX1", "History", `""`, ""),
		// Older than H2 and H3: its address is not added back (H3 cleared
		// it) and the home phone stays: it changes nothing.
		msg("20261101120000", "A08", "H4", "HX1", "History", "9 Stale Road^^Springfield^^SP9 9ZZ", "+44-1632-960199^PRN^PH"),
		// Another patient, merged into the first by a person below.
		msg("20261101090000", "A01", "H5", "HX2", "Other", "", ""),
	} {
		f := filepath.Join(dir, fmt.Sprintf("m%d.hl7", i))
		if err := os.WriteFile(f, []byte(m), 0o644); err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	if out, errOut, code := run(t, nil, append([]string{"send", "--to", s.addr}, files...)...); code != 0 {
		t.Fatalf("send: exit %d: %s %s", code, out, errOut)
	}
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := <-s.exit; err != nil {
		t.Fatalf("serve: %v", err)
	}
	patientID := func(mrn string) string {
		t.Helper()
		out, errOut, code := run(t, nil, "patients", "show", "--identifier", mrn, "--data", data, "--json")
		if code != 0 {
			t.Fatalf("patients show %s: exit %d: %s", mrn, code, errOut)
		}
		var v struct{ ID string }
		if err := json.Unmarshal([]byte(out), &v); err != nil {
			t.Fatal(err)
		}
		return v.ID
	}
	p1, p2 := patientID("HX1"), patientID("HX2")
	if out, errOut, code := run(t, nil, "patients", "merge", p1, p2, "--data", data); code != 0 {
		t.Fatalf("merge: exit %d: %s %s", code, out, errOut)
	}

	out, errOut, code := run(t, nil, "patients", "history", "--identifier", "HX1", "--data", data)
	if code != 0 {
		t.Fatalf("history: exit %d: %s", code, errOut)
	}
	for _, want := range []string{
		"Patient/" + p1 + ": 4 versions, oldest first\n",
		"\tcreate\tmessage 1 ADT^A01 H1, event 2026-11-01T08:00:00Z\n\tnote identity: new patient: no candidate found\n",
		"\tupdate\tmessage 2 ADT^A08 H2, event 2026-11-02T08:00:00Z\n\tchanged: address[0].line[0], address[0].postalCode\n",
		"\tupdate\tmessage 3 ADT^A08 H3, event 2026-11-03T08:00:00Z\n\tchanged: address\n\tcleared (kept cleared against older messages): address\n",
		// The merge replaces the other record: the survivor's link.
		"4\t", "\tupdate\tno message: merge (manual merge)\n\tchanged: link\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("history lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "Stale") || strings.Contains(out, "Old Road") || strings.Contains(out, "H4") {
		t.Errorf("history without --diff shows values, or the older message that changed nothing:\n%s", out)
	}
	out, errOut, code = run(t, nil, "patients", "history", "Patient/"+p1, "--diff", "--data", data)
	if code != 0 || !strings.Contains(out, "\taddress[0].line[0]: was \"1 Old Road\", now \"2 New Road\"\n") {
		t.Errorf("history --diff: exit %d: %s%s", code, out, errOut)
	}
	// The merged record: its merge is a version no message wrote.
	out, errOut, code = run(t, nil, "patients", "history", p2, "--json", "--data", data)
	if code != 0 {
		t.Fatalf("history --json: exit %d: %s", code, errOut)
	}
	var h historyJSON
	if err := json.Unmarshal([]byte(out), &h); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	last := h.Versions[len(h.Versions)-1]
	if h.Resource != "Patient/"+p2 || len(h.Versions) != 2 || h.Versions[0].JournalID != 5 || last.JournalID != 0 || last.Interaction != "update" ||
		last.Command != "merge" || last.Reason != "manual merge" ||
		!strings.Contains(fmt.Sprint(last.Changes), "link") {
		t.Errorf("merged record's history: %+v", h)
	}
	// The visit: written by the admission; H2 and H3 found it as it was,
	// and the later of them confirmed it.
	out, errOut, code = run(t, nil, "patients", "show", p1, "--json", "--data", data)
	if code != 0 {
		t.Fatalf("show: exit %d: %s", code, errOut)
	}
	var v struct{ Timeline []struct{ Kind, Ref string } }
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatal(err)
	}
	enc := ""
	for _, e := range v.Timeline {
		if e.Kind == "visit" {
			enc = e.Ref
		}
	}
	out, errOut, code = run(t, nil, "patients", "history", enc, "--data", data)
	if code != 0 || !strings.Contains(out, enc+": 1 version, oldest first\n") ||
		!strings.Contains(out, "confirmed as it is by message 3, event 2026-11-03T08:00:00Z") {
		t.Errorf("visit history (%s): exit %d: %s%s", enc, code, out, errOut)
	}
	if _, errOut, code := run(t, nil, "patients", "history", "Encounter/none", "--data", data); code != 1 || !strings.Contains(errOut, "no encounter none") {
		t.Errorf("history of no resource: exit %d: %s", code, errOut)
	}
	if _, errOut, code := run(t, nil, "patients", "history", "--data", data); code != 2 || !strings.Contains(errOut, "give a patient ID") {
		t.Errorf("history without a patient: exit %d: %s", code, errOut)
	}
}

// TestPatientsHistoryOfAnA40: the versions an A40 writes (the survivor's
// link, the merged record's) carry no event stamp of the A40's own (the
// record does not restamp a merge): history does not show the event time
// of the earlier message whose stamp they keep as if it were the A40's.
func TestPatientsHistoryOfAnA40(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	adt := func(at, event, structure, ctl, rest string) string {
		return "MSH|^~\\&|ADTSYS|GENHOSP|CB|CB|" + at + "+0000||ADT^" + event + "^" + structure + "|" + ctl + "|P|2.5.1\rEVN|" + event + "|" + at + "+0000\r" + rest
	}
	for i, m := range []string{
		adt("20261101080000", "A01", "ADT_A01", "Y1", "PID|1||HY1^^^GENHOSP^MR||Keeper^Kim||19700101|F\r"),
		adt("20261102080000", "A01", "ADT_A01", "Y2", "PID|1||HY2^^^GENHOSP^MR||Gone^Gail||19710101|F\r"),
		adt("20261105080000", "A40", "ADT_A39", "Y3", "PID|1||HY1^^^GENHOSP^MR||Keeper^Kim||19700101|F\rMRG|HY2^^^GENHOSP^MR\r"),
	} {
		f := filepath.Join(dir, fmt.Sprintf("y%d.hl7", i))
		if err := os.WriteFile(f, []byte(m), 0o644); err != nil {
			t.Fatal(err)
		}
		if out, errOut, code := run(t, nil, "replay", "--data", data, f); code != 0 {
			t.Fatalf("replay: exit %d: %s %s", code, out, errOut)
		}
	}
	if out, errOut, code := run(t, nil, "messages", "reprocess", "--data", data, "--status", "failed"); code != 0 || !strings.Contains(out, "processed 3, failed 0") {
		t.Fatalf("processing: exit %d: %s %s", code, out, errOut)
	}
	out, errOut, code := run(t, nil, "patients", "history", "--identifier", "HY1", "--data", data)
	if code != 0 || !strings.Contains(out, "\tcreate\tmessage 1 ADT^A01 Y1, event 2026-11-01T08:00:00Z\n") ||
		!strings.Contains(out, "\tupdate\tmessage 3 ADT^A40 Y3\n\tchanged: link\n") {
		t.Errorf("survivor's history: exit %d:\n%s%s", code, out, errOut)
	}
	out, errOut, code = run(t, nil, "patients", "history", "--json", "--identifier", "HY1", "--data", data)
	var h historyJSON
	if err := json.Unmarshal([]byte(out), &h); code != 0 || err != nil {
		t.Fatalf("history --json: exit %d, %v: %s%s", code, err, out, errOut)
	}
	if v := h.Versions[len(h.Versions)-1]; v.JournalID != 3 || v.Event != "ADT^A40" || v.EventTime != "" {
		t.Errorf("the A40's version: %+v, want journal 3, event ADT^A40 and no event time of another message", v)
	}
}
