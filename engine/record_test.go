package engine_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/carebridge/carebridge/config"
	"github.com/carebridge/carebridge/engine"
	"github.com/carebridge/carebridge/fhirstore"
	"github.com/carebridge/carebridge/fhirstore/sqlite"
	"github.com/carebridge/carebridge/mappings"
	"github.com/carebridge/carebridge/record"
)

// startRecording starts an engine that maps every message and applies it
// to the unified record.
func startRecording(t *testing.T, cfg *config.Config) (*node, *sqlite.Store) {
	t.Helper()
	set, err := mappings.Load(mappings.Shipped())
	if err != nil {
		t.Fatal(err)
	}
	n := startWith(t, cfg, func(store *sqlite.Store) engine.Deps {
		rec, err := record.New(store, record.Options{})
		if err != nil {
			t.Fatal(err)
		}
		return engine.Deps{Journal: store, Mappings: set, Record: rec}
	})
	return n, n.store
}

func example(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("../mappings/hl7v2/messages/examples/ADT/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// forPatient makes an example message about patient i: its identifiers
// (MRN, NHS number, passport), visit and control ID.
func forPatient(msg []byte, i int) []byte {
	msg = bytes.ReplaceAll(msg, []byte("943 476 5919"), fmt.Appendf(nil, "900 000 %04d", i))
	msg = bytes.ReplaceAll(msg, []byte("P1234567"), fmt.Appendf(nil, "P77%05d", i))
	// Distinct people: otherwise their demographics match and the record
	// rightly takes them for one.
	msg = bytes.ReplaceAll(msg, []byte("Okafor^Chiamaka"), fmt.Appendf(nil, "Okafor%c^Chiamaka", 'a'+i))
	msg = bytes.ReplaceAll(msg, []byte("|19850412"), fmt.Appendf(nil, "|1985%02d12", i+1))
	msg = bytes.ReplaceAll(msg, []byte("Eze^Chiamaka"), fmt.Appendf(nil, "Eze%c^Chiamaka", 'a'+i))
	msg = bytes.ReplaceAll(msg, []byte("01632 9601"), fmt.Appendf(nil, "01632 97%02d", i))
	msg = bytes.ReplaceAll(msg, []byte("01632 9602"), fmt.Appendf(nil, "01632 98%02d", i))
	msg = bytes.ReplaceAll(msg, []byte("07700 9001"), fmt.Appendf(nil, "07700 9%03d", i)) // mobiles
	msg = bytes.ReplaceAll(msg, []byte("7 Lantern Row"), fmt.Appendf(nil, "%d Lantern Row", 10+i))
	msg = bytes.ReplaceAll(msg, []byte("ACC300001"), fmt.Appendf(nil, "ACC7%05d", i))
	msg = bytes.ReplaceAll(msg, []byte("MRN200001"), fmt.Appendf(nil, "MRN7%05d", i))
	msg = bytes.ReplaceAll(msg, []byte("VN800001"), fmt.Appendf(nil, "VN7%05d", i))
	return bytes.Replace(msg, []byte("|EX-"), fmt.Appendf(nil, "|P%d-", i), 1)
}

// TestRecordAppliesEachPatientsMessagesInOrder sends, for several patients
// at once, admit → transfer → discharge on one connection each: every
// visit must end finished with its whole history, which it only does when
// each patient's messages are applied in order. A message the record
// refuses fails alone.
func TestRecordAppliesEachPatientsMessagesInOrder(t *testing.T) {
	n, store := startRecording(t, testConfig(t, nil))
	steps := [][]byte{example(t, "a01-admit.hl7"), example(t, "a02-transfer.hl7"), example(t, "a03-discharge.hl7")}
	const patients = 6
	var wg sync.WaitGroup
	for i := range patients {
		wg.Go(func() {
			c := dial(t, n.addr)
			for _, s := range steps {
				ack, err := c.Send(context.Background(), forPatient(s, i))
				if err != nil {
					t.Error(err)
					return
				}
				if code := parseAck(t, ack).Get("MSA-1"); code != "AA" {
					t.Errorf("patient %d: ACK %s", i, code)
				}
			}
		})
	}
	// A merge of a patient into itself: refused by the record.
	self := []byte("MSH|^~\\&|ADTSYS|GENHOSP|CAREBRIDGE|CB|20261109100000+0000||ADT^A40^ADT_A39|SELF-1|P|2.5.1\rEVN|A40|20261109100000+0000\rPID|1||MRN799999^^^GENHOSP^MR||Self^Merge||19700101|F\rMRG|MRN799999^^^GENHOSP^MR\r")
	if _, err := dial(t, n.addr).Send(context.Background(), self); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	for _, e := range entries(t, store, fhirstore.Filter{}) {
		final := waitFinal(t, store, e.ID)
		switch {
		case e.ControlID == "SELF-1":
			if final.Status != fhirstore.StatusFailed {
				t.Errorf("self-merge ended %s (%s), want failed", final.Status, final.Error)
			}
		case final.Status != fhirstore.StatusProcessed:
			t.Errorf("%s ended %s: %s", e.ControlID, final.Status, final.Error)
		case bytes.Contains(final.Notes, []byte("out-of-order")):
			// Applied after a later message of the same patient.
			t.Errorf("%s was applied out of order: %s", e.ControlID, final.Notes)
		}
	}
	encs, err := store.Search(context.Background(), fhirstore.Query{Type: "Encounter", Count: 100})
	if err != nil {
		t.Fatal(err)
	}
	if len(encs) != patients {
		t.Fatalf("%d encounters, want %d", len(encs), patients)
	}
	for _, r := range encs {
		var enc struct {
			Status        string `json:"status"`
			StatusHistory []struct {
				Status string `json:"status"`
			} `json:"statusHistory"`
			Location []struct {
				Status string `json:"status"`
			} `json:"location"`
		}
		if err := json.Unmarshal(r.Body, &enc); err != nil {
			t.Fatal(err)
		}
		if enc.Status != "finished" || len(enc.StatusHistory) != 1 || enc.StatusHistory[0].Status != "in-progress" || len(enc.Location) != 2 {
			t.Errorf("Encounter/%s v%d: %+v, want finished after in-progress, two locations", r.ID, r.Version, enc)
		}
	}
}

// TestOnProcessAcksAfterTheRecordCommitted: with ack_policy on-process the
// ACK comes only once the record holds the message's resources.
func TestOnProcessAcksAfterTheRecordCommitted(t *testing.T) {
	n, store := startRecording(t, testConfig(t, func(c *config.Config) { c.MLLP[0].AckPolicy = config.AckOnProcess }))
	ack, err := dial(t, n.addr).Send(context.Background(), example(t, "a01-admit.hl7"))
	if err != nil {
		t.Fatal(err)
	}
	if code := parseAck(t, ack).Get("MSA-1"); code != "AA" {
		t.Fatalf("ACK %s", code)
	}
	found, err := store.Search(context.Background(), fhirstore.Query{Type: "Patient", Params: []fhirstore.Param{{Name: "identifier", Values: []string{"https://genhosp.example.org/fhir/sid/mrn|MRN200001"}}}})
	if err != nil {
		t.Fatal(err)
	}
	if len(found) != 1 {
		t.Fatalf("right after the ACK, %d patients with the admitted MRN, want 1", len(found))
	}
	es := entries(t, store, fhirstore.Filter{})
	if len(es) != 1 || es[0].Status != fhirstore.StatusProcessed {
		t.Fatalf("journal after the ACK: %+v", es)
	}
}

// TestLiveMessagesWaitBehindTheJournalBacklog: messages queued in the
// journal before a start (a crash, an overflow) are applied before a live
// message of the same patient that arrives meanwhile.
func TestLiveMessagesWaitBehindTheJournalBacklog(t *testing.T) {
	cfg := testConfig(t, nil)
	st, err := sqlite.Open(context.Background(), cfg.DatabasePath(), sqlite.Options{Durability: sqlite.DurabilityNormal})
	if err != nil {
		t.Fatal(err)
	}
	queue := func(raw []byte, ctrl string) {
		e := &fhirstore.Entry{Listener: "test", SendingApp: "ADTSYS", SendingFacility: "GENHOSP", ControlID: ctrl, MessageType: "ADT^A01", Status: fhirstore.StatusReceived, Raw: raw}
		if _, err := st.Append(context.Background(), e); err != nil {
			t.Fatal(err)
		}
	}
	// Other patients' messages first, so that the backlog takes a while.
	for i := range 300 {
		queue(forPatient(example(t, "a01-admit.hl7"), 100+i), fmt.Sprintf("P%d-A01", 100+i))
	}
	queue(forPatient(example(t, "a01-admit.hl7"), 1), "P1-A01")
	st.Close()

	n, store := startRecording(t, cfg)
	ack, err := dial(t, n.addr).Send(context.Background(), forPatient(example(t, "a02-transfer.hl7"), 1))
	if err != nil {
		t.Fatal(err)
	}
	if code := parseAck(t, ack).Get("MSA-1"); code != "AA" {
		t.Fatalf("ACK %s", code)
	}
	for _, e := range entries(t, store, fhirstore.Filter{}) {
		final := waitFinal(t, store, e.ID)
		if final.Status != fhirstore.StatusProcessed {
			t.Fatalf("%s ended %s: %q", e.ControlID, final.Status, final.Error)
		}
		if bytes.Contains(final.Notes, []byte("out-of-order")) {
			t.Fatalf("%s was applied after the live message that came later: %s", e.ControlID, final.Notes)
		}
	}
}

// syncBuffer is a log destination the engine's goroutines may share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestRecordRefusalLogsNoResourceIDs: a message the record refuses (a
// merge of a patient into itself) is logged without the resource ids the
// error names: a Patient's id is a hash of its MRN, which the small space
// of MRNs gives back. The journal entry keeps the whole error.
func TestRecordRefusalLogsNoResourceIDs(t *testing.T) {
	set, err := mappings.Load(mappings.Shipped())
	if err != nil {
		t.Fatal(err)
	}
	var logs syncBuffer
	cfg := testConfig(t, func(c *config.Config) { c.MLLP[0].AckPolicy = config.AckOnProcess })
	n := startWith(t, cfg, func(store *sqlite.Store) engine.Deps {
		rec, err := record.New(store, record.Options{})
		if err != nil {
			t.Fatal(err)
		}
		return engine.Deps{Journal: store, Mappings: set, Record: rec, Logger: slog.New(slog.NewTextHandler(&logs, nil))}
	})
	msg := "MSH|^~\\&|ADTSYS|GENHOSP|CAREBRIDGE|CB|20261110090000+0000||ADT^A40^ADT_A39|SELF1|P|2.5.1\r" +
		"EVN|A40|20261110090000+0000\rPID|1||SECRETMRN77^^^GENHOSP^MR||Self^Sam||19700101|M\rMRG|SECRETMRN77^^^GENHOSP^MR\r"
	ack, err := dial(t, n.addr).Send(context.Background(), []byte(msg))
	if err != nil {
		t.Fatal(err)
	}
	if code := parseAck(t, ack).Get("MSA-1"); code != "AE" {
		t.Fatalf("ACK %s, want AE", code)
	}
	got := logs.String()
	if !strings.Contains(got, "message not applied to the record") || !strings.Contains(got, "circular merge") {
		t.Fatalf("refusal not logged:\n%s", got)
	}
	if strings.Contains(got, "Patient/") && !strings.Contains(got, "Patient/…") || regexp.MustCompile(`Patient/[0-9a-f]{8}-`).MatchString(got) {
		t.Errorf("a resource id in the log:\n%s", got)
	}
	es := entries(t, n.store, fhirstore.Filter{})
	if len(es) != 1 || !regexp.MustCompile(`Patient/[0-9a-f]{8}-`).MatchString(es[0].Error) {
		t.Errorf("the journal entry lost the whole error: %+v", es)
	}
}

// TestOnProcessMessageWithoutPatientGetsAR: under on-process, an ADT
// message without a PID cannot be recorded (it names no patient): no resend
// of it can succeed, so it is answered AR with ERR-3 100 (segment sequence
// error) at PID, not AE 207 (application internal error, "try again").
func TestOnProcessMessageWithoutPatientGetsAR(t *testing.T) {
	n, _ := startRecording(t, testConfig(t, func(c *config.Config) { c.MLLP[0].AckPolicy = config.AckOnProcess }))
	c := dial(t, n.addr)
	raw := "MSH|^~\\&|ADT|GENHOSP|CB|CB|20261201120000+0000||ADT^A01^ADT_A01|NOPID1|P|2.5.1\rEVN|A01|20261201120000+0000\rPV1|1|I|WARD1^1^A^GENHOSP\r"
	ack, err := c.Send(context.Background(), []byte(raw))
	if err != nil {
		t.Fatal(err)
	}
	a := parseAck(t, ack)
	if a.Get("MSA-1") != "AR" || a.Get("ERR-3.1") != "100" || a.Get("ERR-2.1") != "PID" || !strings.Contains(a.Get("ERR-8"), "names no patient") {
		t.Fatalf("ACK %q; want AR, ERR-3 100 at PID saying the message names no patient", ack)
	}
	if es := entries(t, n.store, fhirstore.Filter{ControlID: "NOPID1"}); len(es) != 1 || es[0].Status != fhirstore.StatusFailed {
		t.Fatalf("journal %+v, want one failed entry", es)
	}
}
