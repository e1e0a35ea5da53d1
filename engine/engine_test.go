package engine_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/fstest"
	"time"

	"github.com/carebridge/carebridge/config"
	"github.com/carebridge/carebridge/engine"
	"github.com/carebridge/carebridge/engine/hl7"
	"github.com/carebridge/carebridge/engine/mllp"
	"github.com/carebridge/carebridge/fhirstore"
	"github.com/carebridge/carebridge/fhirstore/sqlite"
	"github.com/carebridge/carebridge/mappings"
	"github.com/prometheus/client_golang/prometheus"
)

// node is an engine running on loopback port 0 with a real SQLite journal.
type node struct {
	eng     *engine.Engine
	store   *sqlite.Store
	addr    string
	cancel  context.CancelFunc
	stopped chan error
}

func testConfig(t testing.TB, mutate func(*config.Config)) *config.Config {
	t.Helper()
	cfg, err := config.Parse("test", []byte(`
mllp:
  - name: test
    addr: 127.0.0.1:0
    read_timeout: 2s
processing:
  workers: 2
  poll_interval: 50ms
`))
	if err != nil {
		t.Fatal(err)
	}
	cfg.DataDir = t.TempDir()
	cfg.HTTP.Addr = ""
	cfg.NodeID = "test-node"
	if mutate != nil {
		mutate(cfg)
	}
	return cfg
}

func start(t testing.TB, cfg *config.Config, p engine.Processor) *node {
	t.Helper()
	return startWith(t, cfg, func(store *sqlite.Store) engine.Deps { return engine.Deps{Journal: store, Processor: p} })
}

// startWith runs an engine over a fresh store with the deps made for it.
func startWith(t testing.TB, cfg *config.Config, deps func(*sqlite.Store) engine.Deps) *node {
	t.Helper()
	store, err := sqlite.Open(context.Background(), cfg.DatabasePath(), sqlite.Options{Durability: sqlite.Durability(cfg.Journal.Durability)})
	if err != nil {
		t.Fatal(err)
	}
	eng, err := engine.New(cfg, deps(store))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	n := &node{eng: eng, store: store, cancel: cancel, stopped: make(chan error, 1)}
	go func() { n.stopped <- eng.Run(ctx) }()
	select {
	case <-eng.Ready():
	case err := <-n.stopped:
		t.Fatalf("engine stopped: %v", err)
	}
	n.addr = eng.MLLPAddr(cfg.MLLP[0].Name).String()
	t.Cleanup(func() { n.stop(t) })
	return n
}

func (n *node) stop(t testing.TB) {
	if n.cancel == nil {
		return
	}
	n.cancel()
	if err := <-n.stopped; err != nil {
		t.Errorf("engine Run: %v", err)
	}
	n.cancel = nil
	n.store.Close()
}

func readFixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "testdata", "hl7", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func dial(t *testing.T, addr string) *mllp.Client {
	t.Helper()
	c, err := mllp.Dial(context.Background(), addr, mllp.ClientOptions{AckTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func parseAck(t *testing.T, ack []byte) *hl7.Message {
	t.Helper()
	m, err := hl7.Parse(ack)
	if err != nil {
		t.Fatalf("unparseable ACK %q: %v", ack, err)
	}
	return m
}

// waitStatus waits (event-driven by polling the journal, bounded) until the
// entry reaches a final status.
func waitFinal(t *testing.T, j fhirstore.Journal, id int64) *fhirstore.Entry {
	t.Helper()
	// Generous: under -race with the rest of the suite on two cores a
	// backlog of hundreds takes a while; a healthy run returns at once.
	deadline := time.Now().Add(60 * time.Second)
	for {
		e, err := j.Get(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if e.Status != fhirstore.StatusReceived && e.Status != fhirstore.StatusProcessing {
			return e
		}
		if time.Now().After(deadline) {
			t.Fatalf("entry %d still %s", id, e.Status)
		}
		time.Sleep(5 * time.Millisecond) // polling an external store; the deadline bounds it
	}
}

func entries(t *testing.T, j fhirstore.Journal, f fhirstore.Filter) []*fhirstore.Entry {
	t.Helper()
	var out []*fhirstore.Entry
	if err := j.List(context.Background(), f, func(e *fhirstore.Entry) error { out = append(out, e); return nil }); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestAcceptJournalAndProcess(t *testing.T) {
	n := start(t, testConfig(t, nil), nil)
	c := dial(t, n.addr)
	for _, f := range []string{"adt_a01.hl7", "adt_a08.hl7", "siu_s12.hl7", "dft_p03.hl7"} {
		t.Run(f, func(t *testing.T) {
			raw := readFixture(t, f)
			ack, err := c.Send(context.Background(), raw)
			if err != nil {
				t.Fatal(err)
			}
			a := parseAck(t, ack)
			msg, _ := hl7.Parse(raw)
			if a.Get("MSA-1") != "AA" || a.Get("MSA-2") != msg.ControlID() {
				t.Fatalf("ACK MSA = %s|%s, want AA|%s", a.Get("MSA-1"), a.Get("MSA-2"), msg.ControlID())
			}
			if a.Get("MSH-3") != msg.Get("MSH-5") || a.Get("MSH-5") != msg.Get("MSH-3") || a.Get("MSH-6") != msg.Get("MSH-4") {
				t.Fatalf("ACK sender/receiver not swapped: %q", ack)
			}
			es := entries(t, n.store, fhirstore.Filter{ControlID: msg.ControlID()})
			if len(es) != 1 {
				t.Fatalf("%d journal entries for %s, want 1", len(es), msg.ControlID())
			}
			e := waitFinal(t, n.store, es[0].ID)
			full, _ := n.store.Get(context.Background(), e.ID)
			if e.Status != fhirstore.StatusProcessed || !bytes.Equal(full.Raw, raw) || !bytes.Equal(full.Ack, ack) {
				t.Fatalf("entry = %s raw equal %v ack equal %v", e.Status, bytes.Equal(full.Raw, raw), bytes.Equal(full.Ack, ack))
			}
			if e.MessageType != msg.Type() || e.SendingApp != msg.SendingApplication() || e.Peer == "" || e.Listener != "test" {
				t.Fatalf("entry metadata = %+v", e)
			}
		})
	}
}

func TestDuplicateIsAckedAgainAndNotProcessedTwice(t *testing.T) {
	var calls sync.Map
	p := processorFunc(func(_ context.Context, e *fhirstore.Entry) engine.Outcome {
		v, _ := calls.LoadOrStore(e.ControlID, new(int))
		*v.(*int)++
		return engine.Outcome{Status: fhirstore.StatusProcessed}
	})
	n := start(t, testConfig(t, nil), p)
	c := dial(t, n.addr)
	raw := readFixture(t, "adt_a01.hl7")
	first, err := c.Send(context.Background(), raw)
	if err != nil {
		t.Fatal(err)
	}
	second, err := c.Send(context.Background(), raw)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(first, second) {
		t.Fatalf("duplicate ACK differs from the original:\n%q\n%q", first, second)
	}
	es := entries(t, n.store, fhirstore.Filter{ControlID: "MSG00001"})
	if len(es) != 2 || es[1].Status != fhirstore.StatusDuplicate || es[1].DuplicateOf != es[0].ID {
		t.Fatalf("journal = %+v, want the original and a duplicate of it", es)
	}
	waitFinal(t, n.store, es[0].ID)
	n.stop(t) // all workers finished
	v, _ := calls.Load("MSG00001")
	if v == nil || *v.(*int) != 1 {
		t.Fatalf("processed %v times, want once", v)
	}
}

// TestReusedControlIDIsRejected: a different message under a control ID
// the sender already used is kept (as a duplicate, not processed), and the
// sender is told so: AR with ERR-3 205 at MSH-10, not the original's AA for
// data that was not applied.
func TestReusedControlIDIsRejected(t *testing.T) {
	var calls atomic.Int32
	p := processorFunc(func(_ context.Context, e *fhirstore.Entry) engine.Outcome {
		calls.Add(1)
		return engine.Outcome{Status: fhirstore.StatusProcessed}
	})
	n := start(t, testConfig(t, nil), p)
	c := dial(t, n.addr)
	raw := readFixture(t, "adt_a01.hl7")
	if _, err := c.Send(context.Background(), raw); err != nil {
		t.Fatal(err)
	}
	other := bytes.Replace(raw, []byte("Testperson"), []byte("Otherperson"), 1)
	ack, err := c.Send(context.Background(), other)
	if err != nil {
		t.Fatal(err)
	}
	a, err := hl7.ParseAck(ack)
	if err != nil {
		t.Fatal(err)
	}
	if a.Get("MSA-1") != "AR" || a.Get("MSA-2") != "MSG00001" || a.Get("ERR-2") != "MSH^1^10" || a.Get("ERR-3.1") != "205" || !strings.Contains(a.Get("ERR-8"), "send it with a new control ID") {
		t.Fatalf("ACK of a different message under a used control ID:\n%q", ack)
	}
	es := entries(t, n.store, fhirstore.Filter{ControlID: "MSG00001"})
	if len(es) != 2 || es[1].Status != fhirstore.StatusDuplicate || es[1].DuplicateOf != es[0].ID {
		t.Fatalf("journal = %+v, want the original and the other message kept as a duplicate of it", es)
	}
	if full, _ := n.store.Get(context.Background(), es[1].ID); full == nil || !bytes.Equal(full.Raw, other) {
		t.Fatal("the other message is not kept as it came")
	}
	waitFinal(t, n.store, es[0].ID)
	n.stop(t)
	if calls.Load() != 1 {
		t.Fatalf("processed %d times, want once (the original)", calls.Load())
	}
}

type processorFunc func(context.Context, *fhirstore.Entry) engine.Outcome

func (f processorFunc) Process(ctx context.Context, e *fhirstore.Entry) engine.Outcome {
	return f(ctx, e)
}

func TestBadInputIsRejectedWithErrAndStored(t *testing.T) {
	n := start(t, testConfig(t, nil), nil)
	cases := []struct {
		name     string
		raw      string
		wantCode string // ERR-3.1
		wantLoc  string // ERR-2 prefix
	}{
		{"no MSH-10", "MSH|^~\\&|ADT|HOSP|CB|CB|20261101||ADT^A01||P|2.5.1\rPID|1||X^^^H^MR\r", "101", "MSH^1^10"},
		{"no MSH-12", "MSH|^~\\&|ADT|HOSP|CB|CB|20261101||ADT^A01|BAD2|P|\rPID|1\r", "101", "MSH^1^12"},
		{"no MSH-9", "MSH|^~\\&|ADT|HOSP|CB|CB|20261101|||BAD3|P|2.5.1\r", "101", "MSH^1^9"},
		{"not HL7", "hello, is this the billing department?", "", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			conn, err := net.Dial("tcp", n.addr)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			ack := firstReply(t, conn, tc.raw)
			a := parseAck(t, ack)
			if a.Get("MSA-1") != "AR" {
				t.Fatalf("MSA-1 = %q, want AR: %q", a.Get("MSA-1"), ack)
			}
			if a.Segment("ERR", 1) == nil {
				t.Fatalf("NAK has no ERR segment: %q", ack)
			}
			if tc.wantCode != "" && (a.Get("ERR-3.1") != tc.wantCode || !strings.HasPrefix(a.Get("ERR-2"), tc.wantLoc)) {
				t.Fatalf("ERR = code %q loc %q, want %s at %s: %q", a.Get("ERR-3.1"), a.Get("ERR-2"), tc.wantCode, tc.wantLoc, ack)
			}
			var found *fhirstore.Entry
			for _, e := range entries(t, n.store, fhirstore.Filter{Statuses: []fhirstore.Status{fhirstore.StatusRejected}}) {
				full, _ := n.store.Get(context.Background(), e.ID)
				if string(full.Raw) == tc.raw {
					found = full
				}
			}
			if found == nil || !bytes.Equal(found.Ack, ack) || found.Error == "" {
				t.Fatalf("rejected input not stored with its NAK and reason: %+v", found)
			}
		})
	}
}

func TestOnProcessPolicySendsAEWhenProcessingFails(t *testing.T) {
	cfg := testConfig(t, func(c *config.Config) { c.MLLP[0].AckPolicy = config.AckOnProcess })
	p := processorFunc(func(_ context.Context, e *fhirstore.Entry) engine.Outcome {
		if e.ControlID == "SIU00001" {
			return engine.Outcome{Status: fhirstore.StatusFailed, Err: errors.New("no route for SIU")}
		}
		return engine.Outcome{Status: fhirstore.StatusProcessed}
	})
	n := start(t, cfg, p)
	c := dial(t, n.addr)
	ok, _ := c.Send(context.Background(), readFixture(t, "adt_a01.hl7"))
	if code := parseAck(t, ok).Get("MSA-1"); code != "AA" {
		t.Fatalf("MSA-1 = %s, want AA", code)
	}
	bad, _ := c.Send(context.Background(), readFixture(t, "siu_s12.hl7"))
	a := parseAck(t, bad)
	if a.Get("MSA-1") != "AE" || !strings.Contains(string(bad), "no route for SIU") {
		t.Fatalf("ACK = %q; want AE with the processing error in ERR", bad)
	}
	es := entries(t, n.store, fhirstore.Filter{ControlID: "SIU00001"})
	if len(es) != 1 || es[0].Status != fhirstore.StatusFailed || es[0].Error != "no route for SIU" {
		t.Fatalf("journal = %+v", es)
	}
	full, _ := n.store.Get(context.Background(), es[0].ID)
	if !bytes.Equal(full.Ack, bad) {
		t.Fatal("the AE sent is not the ACK stored")
	}
}

func TestEnhancedModeHonoursMSH15(t *testing.T) {
	n := start(t, testConfig(t, nil), nil)
	conn, err := net.Dial("tcp", n.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	base := "MSH|^~\\&|ADT|HOSP|CB|CB|20261101120000||ADT^A08|%s|P|2.5.1|||%s|NE\rPID|1||E1^^^HOSP^MR\r"
	// NE: no accept acknowledgement at all; then AL: a CA. The first reply
	// read must therefore be the CA for the second message.
	ack := firstReply(t, conn, fmt.Sprintf(base, "ENH-NE", "NE"), fmt.Sprintf(base, "ENH-AL", "AL"))
	a := parseAck(t, ack)
	if a.Get("MSA-1") != "CA" || a.Get("MSA-2") != "ENH-AL" {
		t.Fatalf("first reply = %s for %s, want CA for ENH-AL", a.Get("MSA-1"), a.Get("MSA-2"))
	}
	if es := entries(t, n.store, fhirstore.Filter{ControlID: "ENH-NE"}); len(es) != 1 {
		t.Fatalf("the NE message was not journaled: %v", es)
	}
}

func TestOversizedMessageGetsARAndConnectionContinues(t *testing.T) {
	cfg := testConfig(t, func(c *config.Config) { c.MLLP[0].MaxMessageSize = 4096 })
	n := start(t, cfg, nil)
	c := dial(t, n.addr)
	big := "MSH|^~\\&|ADT|HOSP|CB|CB|20261101||ADT^A08|BIG1|P|2.5.1\rNTE|1||" + strings.Repeat("x", 8000) + "\r"
	ack, err := c.Send(context.Background(), []byte(big))
	if err != nil {
		t.Fatal(err)
	}
	if a := parseAck(t, ack); a.Get("MSA-1") != "AR" || a.Get("MSA-2") != "BIG1" || a.Segment("ERR", 1) == nil || a.Get("MSH-18") != "UNICODE UTF-8" {
		t.Fatalf("oversize reply = %q; want AR for BIG1 with ERR, naming the listener's charset as every ACK does", ack)
	}
	ok, err := c.Send(context.Background(), readFixture(t, "adt_a08.hl7"))
	if err != nil || parseAck(t, ok).Get("MSA-1") != "AA" {
		t.Fatalf("next message on the same connection: %q, %v", ok, err)
	}
}

func TestManyConcurrentConnections(t *testing.T) {
	n := start(t, testConfig(t, nil), nil)
	const conns, each = 200, 5
	var wg sync.WaitGroup
	errs := make(chan error, conns)
	for i := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := mllp.Dial(context.Background(), n.addr, mllp.ClientOptions{AckTimeout: 30 * time.Second})
			if err != nil {
				errs <- err
				return
			}
			defer c.Close()
			for k := range each {
				msg := fmt.Sprintf("MSH|^~\\&|LOAD|HOSP|CB|CB|20261101||ADT^A08|C%d-%d|P|2.5.1\rPID|1||P%d^^^HOSP^MR\r", i, k, i)
				ack, err := c.Send(context.Background(), []byte(msg))
				if err != nil {
					errs <- err
					return
				}
				if m, _ := hl7.Parse(ack); m == nil || m.Get("MSA-1") != "AA" || m.Get("MSA-2") != fmt.Sprintf("C%d-%d", i, k) {
					errs <- fmt.Errorf("bad ack %q", ack)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	counts, _ := n.store.Counts(context.Background())
	total := int64(0)
	for _, v := range counts {
		total += v
	}
	if total != conns*each || counts[fhirstore.StatusDuplicate] != 0 {
		t.Fatalf("journal counts %v, want %d entries and no duplicates", counts, conns*each)
	}
}

func TestStartupProcessesWhatACrashLeft(t *testing.T) {
	cfg := testConfig(t, nil)
	store, err := sqlite.Open(context.Background(), cfg.DatabasePath(), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	// As a crash would leave them: one received but not processed, one
	// claimed by this node mid-processing.
	left := []*fhirstore.Entry{
		{Listener: "test", ControlID: "CRASH1", Status: fhirstore.StatusReceived, Raw: readFixture(t, "adt_a01.hl7")},
		{Listener: "test", ControlID: "CRASH2", Status: fhirstore.StatusProcessing, ClaimedBy: cfg.NodeID, Raw: readFixture(t, "adt_a08.hl7")},
	}
	for _, e := range left {
		if _, err := store.Append(context.Background(), e); err != nil {
			t.Fatal(err)
		}
	}
	store.Close()
	n := start(t, cfg, nil)
	for _, e := range left {
		if got := waitFinal(t, n.store, e.ID); got.Status != fhirstore.StatusProcessed {
			t.Fatalf("%s ended %s", e.ControlID, got.Status)
		}
	}
}

func TestRejectionLogsNoPatientDataUnlessAllowed(t *testing.T) {
	raw := []byte("MSH|^~\\&|ADT|HOSP|CB|CB|20261101||ADT^A01|LOG1|P|\rPID|1||SECRETMRN^^^H^MR||Doe^Secretname\r")
	for _, allowed := range []bool{false, true} {
		cfg := testConfig(t, func(c *config.Config) { c.Log.PatientData = allowed })
		store, err := sqlite.Open(context.Background(), cfg.DatabasePath(), sqlite.Options{})
		if err != nil {
			t.Fatal(err)
		}
		var logs bytes.Buffer
		eng, err := engine.New(cfg, engine.Deps{Journal: store, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
		if err != nil {
			t.Fatal(err)
		}
		if r := eng.Receive(context.Background(), engine.Inbound{Listener: "t", Raw: raw}); !r.Rejected || r.Code != "AR" {
			t.Fatalf("receipt = %+v", r)
		}
		store.Close()
		if !strings.Contains(logs.String(), "message rejected") || !strings.Contains(logs.String(), "LOG1") {
			t.Fatalf("rejection not logged: %s", logs.String())
		}
		if got := strings.Contains(logs.String(), "Secretname"); got != allowed {
			t.Fatalf("patient_data=%v: message content in logs = %v:\n%s", allowed, got, logs.String())
		}
	}
}

// TestFailedStartLeavesRunningNodesClaims: a second Run on the same journal
// that cannot bind its listener must not return the running node's
// in-memory claims to the queue.
func TestFailedStartLeavesRunningNodesClaims(t *testing.T) {
	started, finish := make(chan int64, 1), make(chan struct{})
	cfg := testConfig(t, func(c *config.Config) { c.Processing.Workers = 1 })
	n := start(t, cfg, processorFunc(func(_ context.Context, e *fhirstore.Entry) engine.Outcome {
		started <- e.ID
		<-finish
		return engine.Outcome{Status: fhirstore.StatusProcessed}
	}))
	defer close(finish)
	c := dial(t, n.addr)
	if _, err := c.Send(context.Background(), readFixture(t, "adt_a01.hl7")); err != nil {
		t.Fatal(err)
	}
	id := <-started

	second := testConfig(t, func(c *config.Config) { c.MLLP[0].Addr = n.addr; c.NodeID = cfg.NodeID })
	eng, err := engine.New(second, engine.Deps{Journal: n.store})
	if err != nil {
		t.Fatal(err)
	}
	if err := eng.Run(context.Background()); err == nil {
		t.Fatal("a second Run on a bound address succeeded")
	}
	if got, err := n.store.Get(context.Background(), id); err != nil || got.Status != fhirstore.StatusProcessing || got.ClaimedBy != cfg.NodeID {
		t.Fatalf("entry being processed is now %v by %q (err %v); want still processing by %s", got.Status, got.ClaimedBy, err, cfg.NodeID)
	}
}

// TestOwnClaimOutlivingTimeoutIsProcessedOnce: a live message that waits
// or runs longer than the claim timeout is still this node's and must not
// be released to another worker while the node runs.
func TestOwnClaimOutlivingTimeoutIsProcessedOnce(t *testing.T) {
	cfg := testConfig(t, func(c *config.Config) {
		c.Processing.ClaimTimeout.D = time.Second
		c.Processing.Workers = 2
	})
	var mu sync.Mutex
	calls := map[string]int{}
	n := start(t, cfg, processorFunc(func(_ context.Context, e *fhirstore.Entry) engine.Outcome {
		mu.Lock()
		calls[e.ControlID]++
		first := calls[e.ControlID] == 1
		mu.Unlock()
		if first {
			time.Sleep(cfg.Processing.ClaimTimeout.D + 500*time.Millisecond)
		}
		return engine.Outcome{Status: fhirstore.StatusProcessed}
	}))
	c := dial(t, n.addr)
	ack, err := c.Send(context.Background(), readFixture(t, "adt_a01.hl7"))
	if err != nil {
		t.Fatal(err)
	}
	if got := parseAck(t, ack).Get("MSA-1"); got != "AA" {
		t.Fatalf("ACK %s", got)
	}
	waitFinal(t, n.store, 1)
	time.Sleep(4 * cfg.Processing.PollInterval.D) // let a wrongly released copy be claimed, if there were one
	mu.Lock()
	defer mu.Unlock()
	if calls["MSG00001"] != 1 {
		t.Fatalf("message processed %d times, want once", calls["MSG00001"])
	}
}

// TestAbandonedClaimsReleasedWhileWorkersAreBusy: the periodic release of
// other processes' stale claims does not wait for an idle worker.
func TestAbandonedClaimsReleasedWhileWorkersAreBusy(t *testing.T) {
	cfg := testConfig(t, func(c *config.Config) {
		c.Processing.ClaimTimeout.D = time.Second
		c.Processing.Workers = 1
	})
	started, finish := make(chan struct{}, 1), make(chan struct{})
	n := start(t, cfg, processorFunc(func(_ context.Context, e *fhirstore.Entry) engine.Outcome {
		if e.ControlID == "MSG00001" {
			started <- struct{}{}
			<-finish
		}
		return engine.Outcome{Status: fhirstore.StatusProcessed}
	}))
	defer close(finish)
	c := dial(t, n.addr)
	if _, err := c.Send(context.Background(), readFixture(t, "adt_a01.hl7")); err != nil {
		t.Fatal(err)
	}
	<-started // the only worker is busy from now on
	// Claimed an hour ago by a process that is gone.
	gone := &fhirstore.Entry{Listener: "test", ControlID: "GONE1", Status: fhirstore.StatusProcessing, ClaimedBy: "gone-node",
		ReceivedAt: time.Now().Add(-time.Hour), Raw: readFixture(t, "adt_a08.hl7")}
	if _, err := n.store.Append(context.Background(), gone); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		e, err := n.store.Get(context.Background(), gone.ID)
		if err != nil {
			t.Fatal(err)
		}
		// Released: back in the queue, or already claimed again by this
		// node's feeder (which waits for no worker) for the busy worker.
		if e.Status == fhirstore.StatusReceived || (e.Status == fhirstore.StatusProcessing && e.ClaimedBy == cfg.NodeID) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("abandoned claim still %s by %q while the worker is busy", e.Status, e.ClaimedBy)
		}
		time.Sleep(10 * time.Millisecond) // polling the store; the deadline bounds it
	}
}

func TestOnProcessDuplicateOfAMessageStillProcessingIsNotAcceptedYet(t *testing.T) {
	cfg := testConfig(t, func(c *config.Config) { c.MLLP[0].AckPolicy = config.AckOnProcess })
	entered, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	p := processorFunc(func(_ context.Context, e *fhirstore.Entry) engine.Outcome {
		once.Do(func() { close(entered); <-release })
		return engine.Outcome{Status: fhirstore.StatusProcessed}
	})
	n := start(t, cfg, p)
	raw := readFixture(t, "adt_a08.hl7")
	first := make(chan []byte, 1)
	c := dial(t, n.addr)
	go func() {
		ack, err := c.Send(context.Background(), raw)
		if err != nil {
			t.Error(err)
		}
		first <- ack
	}()
	<-entered
	dup, err := dial(t, n.addr).Send(context.Background(), raw)
	if err != nil {
		t.Fatal(err)
	}
	if a := parseAck(t, dup); a.Get("MSA-1") != "AE" || a.Get("ERR-3.1") != "206" {
		t.Fatalf("duplicate while the original is processing got %q", dup)
	}
	close(release)
	if a := parseAck(t, <-first); a.Get("MSA-1") != "AA" {
		t.Fatalf("original: %s", a.Get("MSA-1"))
	}
}

// signalHandler is a slog handler that closes a channel when a record with
// a given message is logged.
type signalHandler struct {
	slog.Handler
	msg  string
	once *sync.Once
	seen chan struct{}
}

func (h signalHandler) WithAttrs(as []slog.Attr) slog.Handler {
	h.Handler = h.Handler.WithAttrs(as)
	return h
}

func (h signalHandler) WithGroup(name string) slog.Handler {
	h.Handler = h.Handler.WithGroup(name)
	return h
}

func (h signalHandler) Handle(ctx context.Context, r slog.Record) error {
	if r.Message == h.msg {
		h.once.Do(func() { close(h.seen) })
	}
	return h.Handler.Handle(ctx, r)
}

// TestShutdownFinishesTheBatchInHandOnly: on shutdown a worker finishes the
// batch it is processing, but not the messages still waiting in its queue
// (a backlog would hold the shutdown for as long as it takes); those stay
// claimed and are processed, once, after the next start.
func TestShutdownFinishesTheBatchInHandOnly(t *testing.T) {
	cfg := testConfig(t, func(c *config.Config) { c.Processing.Workers = 1 })
	stopping := make(chan struct{})
	logger := slog.New(signalHandler{Handler: slog.NewTextHandler(io.Discard, nil), msg: "workers finishing the batches in hand", once: &sync.Once{}, seen: stopping})
	started, finish := make(chan struct{}, 1), make(chan struct{})
	var processed sync.Map
	p := processorFunc(func(_ context.Context, e *fhirstore.Entry) engine.Outcome {
		if e.ControlID == "HOLD" {
			started <- struct{}{}
			<-finish
		}
		processed.Store(e.ControlID, true)
		return engine.Outcome{Status: fhirstore.StatusProcessed}
	})
	n := startWith(t, cfg, func(store *sqlite.Store) engine.Deps {
		return engine.Deps{Journal: store, Processor: p, Logger: logger}
	})
	c := dial(t, n.addr)
	msg := func(ctl string) []byte {
		return []byte("MSH|^~\\&|APP|FAC|CB|CB|20261201120000+0000||ADT^A08^ADT_A01|" + ctl + "|P|2.5.1\rPID|1||" + ctl + "^^^FAC^MR\r")
	}
	if _, err := c.Send(context.Background(), msg("HOLD")); err != nil {
		t.Fatal(err)
	}
	<-started // the only worker holds HOLD; what follows waits in its queue
	const queued = 20
	for i := range queued {
		if _, err := c.Send(context.Background(), msg(fmt.Sprintf("Q%02d", i))); err != nil {
			t.Fatal(err)
		}
	}
	c.Close()
	n.cancel()
	<-stopping // the workers' context has ended
	close(finish)
	if err := <-n.stopped; err != nil {
		t.Fatal(err)
	}
	n.cancel = nil
	for i := range queued {
		if _, ok := processed.Load(fmt.Sprintf("Q%02d", i)); ok {
			t.Errorf("Q%02d was processed during shutdown", i)
		}
	}
	left := entries(t, n.store, fhirstore.Filter{Statuses: []fhirstore.Status{fhirstore.StatusProcessing}})
	if len(left) != queued {
		t.Fatalf("%d entries left claimed, want %d", len(left), queued)
	}
	n.store.Close()

	// The next start processes each of them once.
	processed.Clear()
	again := start(t, cfg, p)
	for _, e := range left {
		if got := waitFinal(t, again.store, e.ID); got.Status != fhirstore.StatusProcessed {
			t.Errorf("%s ended %s", e.ControlID, got.Status)
		}
		if _, ok := processed.Load(e.ControlID); !ok {
			t.Errorf("%s not processed after the restart", e.ControlID)
		}
	}
}

// TestOnProcessUnsupportedMessageGetsAR: under on-process, a message no map
// handles is answered AR, with ERR-3 200 (unsupported message type) or 201
// (unsupported event code), as HL7 answers what an application does not
// support; it is journaled failed with the reason.
func TestOnProcessUnsupportedMessageGetsAR(t *testing.T) {
	cfg := testConfig(t, func(c *config.Config) { c.MLLP[0].AckPolicy = config.AckOnProcess })
	set, err := mappings.Load(mappings.Shipped())
	if err != nil {
		t.Fatal(err)
	}
	n := startWith(t, cfg, func(store *sqlite.Store) engine.Deps { return engine.Deps{Journal: store, Mappings: set} })
	c := dial(t, n.addr)
	for _, tc := range []struct{ typ, err3, loc string }{
		{"ORU^R01^ORU_R01", "200", "MSH^1^9^1^1"},
		{"ADT^A99^ADT_A01", "201", "MSH^1^9^1^2"},
	} {
		raw := "MSH|^~\\&|LAB|GENHOSP|CB|CB|20261201120000+0000||" + tc.typ + "|U-" + tc.err3 + "|P|2.5.1\rPID|1||U1^^^GENHOSP^MR\r"
		ack, err := c.Send(context.Background(), []byte(raw))
		if err != nil {
			t.Fatal(err)
		}
		a := parseAck(t, ack)
		if a.Get("MSA-1") != "AR" || a.Get("ERR-3.1") != tc.err3 || a.Get("ERR-2") != tc.loc || !strings.Contains(a.Get("ERR-8"), "no map for") {
			t.Errorf("%s: ACK %q; want AR, ERR-3 %s at %s", tc.typ, ack, tc.err3, tc.loc)
		}
		if es := entries(t, n.store, fhirstore.Filter{ControlID: "U-" + tc.err3}); len(es) != 1 || es[0].Status != fhirstore.StatusFailed {
			t.Errorf("%s: journal %+v, want one failed entry", tc.typ, es)
		}
	}
	// A corrected resend under the same control ID is processed, not
	// answered with the old AR: the refused message was no original.
	fixed := "MSH|^~\\&|LAB|GENHOSP|CB|CB|20261201120000+0000||ADT^A08^ADT_A01|U-201|P|2.5.1\rEVN|A08|20261201120000+0000\rPID|1||U1^^^GENHOSP^MR||Resent^Rita||19800101|F\r"
	ack, err := c.Send(context.Background(), []byte(fixed))
	if err != nil {
		t.Fatal(err)
	}
	if a := parseAck(t, ack); a.Get("MSA-1") != "AA" {
		t.Errorf("corrected resend: ACK %q, want AA", ack)
	}
	es := entries(t, n.store, fhirstore.Filter{ControlID: "U-201"})
	if len(es) != 2 || es[1].Status != fhirstore.StatusProcessed {
		t.Errorf("journal after the corrected resend: %d entries, want the failed one and a processed one", len(es))
	}
}

// TestUnmappedRejectAnswersAROnArrival: a listener with unmapped: reject
// answers a message no map handles AR at once, whatever its ACK policy, with
// ERR-3 200 or 201 and the reason, and journals it rejected (never
// processed); a message a map handles is accepted as before, and so is an
// unmapped one on a listener that accepts them (the default), which fails
// processing with the same reason.
func TestUnmappedRejectAnswersAROnArrival(t *testing.T) {
	set, err := mappings.Load(mappings.Shipped())
	if err != nil {
		t.Fatal(err)
	}
	for _, policy := range []string{config.AckOnCommit, config.AckOnProcess} {
		t.Run(policy, func(t *testing.T) {
			cfg := testConfig(t, func(c *config.Config) {
				c.MLLP[0].AckPolicy, c.MLLP[0].Unmapped = policy, config.UnmappedReject
				second := c.MLLP[0]
				second.Name, second.Addr, second.Unmapped = "accepting", "127.0.0.1:0", config.UnmappedAccept
				c.MLLP = append(c.MLLP, second)
			})
			reg := prometheus.NewRegistry()
			n := startWith(t, cfg, func(store *sqlite.Store) engine.Deps {
				return engine.Deps{Journal: store, Mappings: set, Metrics: engine.NewMetrics(reg)}
			})
			c := dial(t, n.addr)
			for _, tc := range []struct{ typ, err3, loc, ctl string }{
				{"ORU^R01^ORU_R01", "200", "MSH^1^9^1^1", "R-200"},
				{"ADT^A99^ADT_A01", "201", "MSH^1^9^1^2", "R-201"},
			} {
				raw := "MSH|^~\\&|LAB|GENHOSP|CB|CB|20261201120000+0000||" + tc.typ + "|" + tc.ctl + "|P|2.5.1\rPID|1||U1^^^GENHOSP^MR\r"
				ack, err := c.Send(context.Background(), []byte(raw))
				if err != nil {
					t.Fatal(err)
				}
				a := parseAck(t, ack)
				if a.Get("MSA-1") != "AR" || a.Get("ERR-3.1") != tc.err3 || a.Get("ERR-2") != tc.loc || !strings.Contains(a.Get("ERR-8"), "no map for "+strings.Join(strings.Split(tc.typ, "^")[:2], "^")+" from sender LAB^GENHOSP") {
					t.Errorf("%s: ACK %q; want AR, ERR-3 %s at %s naming the type and sender", tc.typ, ack, tc.err3, tc.loc)
				}
				es := entries(t, n.store, fhirstore.Filter{ControlID: tc.ctl})
				if len(es) != 1 || es[0].Status != fhirstore.StatusRejected || !strings.Contains(es[0].Error, "no map for") {
					t.Errorf("%s: journal %+v, want one rejected entry with the reason", tc.typ, es)
				}
			}
			// A message a map handles is accepted and processed; so is one
			// resent under a rejected one's control ID (no original).
			ok := "MSH|^~\\&|ADT|GENHOSP|CB|CB|20261201120000+0000||ADT^A08^ADT_A01|R-OK|P|2.5.1\rEVN|A08|20261201120000+0000\rPID|1||U2^^^GENHOSP^MR||Mapped^Mia||19800101|F\r"
			ack, err := c.Send(context.Background(), []byte(ok))
			if err != nil {
				t.Fatal(err)
			}
			if a := parseAck(t, ack); a.Get("MSA-1") != "AA" {
				t.Errorf("mapped message: ACK %q, want AA", ack)
			}
			es := entries(t, n.store, fhirstore.Filter{ControlID: "R-OK"})
			if len(es) != 1 || waitFinal(t, n.store, es[0].ID).Status != fhirstore.StatusProcessed {
				t.Errorf("mapped message: journal %+v, want it processed", es)
			}
			resent := strings.Replace(ok, "|R-OK|", "|R-201|", 1)
			if ack, err = c.Send(context.Background(), []byte(resent)); err != nil {
				t.Fatal(err)
			}
			if a := parseAck(t, ack); a.Get("MSA-1") != "AA" {
				t.Errorf("resent under a rejected control ID: ACK %q, want AA", ack)
			}
			if es = entries(t, n.store, fhirstore.Filter{ControlID: "R-201"}); len(es) != 2 || waitFinal(t, n.store, es[1].ID).Status != fhirstore.StatusProcessed {
				t.Errorf("resent under a rejected control ID: journal %+v, want the rejected entry and a processed one", es)
			}
			// The accepting listener takes the unmapped message and fails
			// it in processing; under on-commit the sender saw AA.
			other := dial(t, n.eng.MLLPAddr("accepting").String())
			raw := "MSH|^~\\&|LAB|GENHOSP|CB|CB|20261201120000+0000||ORU^R01^ORU_R01|A-200|P|2.5.1\rPID|1||U1^^^GENHOSP^MR\r"
			ack, err = other.Send(context.Background(), []byte(raw))
			if err != nil {
				t.Fatal(err)
			}
			want := map[string]string{config.AckOnCommit: "AA", config.AckOnProcess: "AR"}[policy]
			if a := parseAck(t, ack); a.Get("MSA-1") != want {
				t.Errorf("accepting listener: ACK %q, want %s", ack, want)
			}
			es = entries(t, n.store, fhirstore.Filter{ControlID: "A-200"})
			if len(es) != 1 {
				t.Fatalf("accepting listener: %d entries, want 1", len(es))
			}
			if got := waitFinal(t, n.store, es[0].ID); got.Status != fhirstore.StatusFailed || !strings.Contains(got.Error, "no map for ORU^R01") {
				t.Errorf("accepting listener: entry %s %q, want failed with the reason", got.Status, got.Error)
			}
			// Both ways of handling them count as unmapped: the two
			// rejected on arrival and the one failed in processing.
			if v := counter(t, reg, "carebridge_messages_unmapped_total"); v != 3 {
				t.Errorf("carebridge_messages_unmapped_total = %v, want 3 (2 rejected, 1 failed)", v)
			}
		})
	}
}

// shippedWithout loads the shipped mappings with the trigger events given
// taken out of messages/ADT.yaml, as an edit applied by hot reload may do
// (it may drop events, not whole message types).
func shippedWithout(t *testing.T, events ...string) *mappings.Set {
	t.Helper()
	files := fstest.MapFS{}
	err := fs.WalkDir(mappings.Shipped(), ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := fs.ReadFile(mappings.Shipped(), path)
		if err != nil {
			return err
		}
		if path == "messages/ADT.yaml" {
			// The event's line in events, and its name in the resources'
			// lists of the events they are made for.
			for _, ev := range events {
				line := "\n  " + ev + ": ADT_A01\n"
				if !bytes.Contains(data, []byte(line)) {
					return fmt.Errorf("%s: no event line for %s", path, ev)
				}
				data = bytes.Replace(data, []byte(line), []byte("\n"), 1)
				data = bytes.ReplaceAll(data, []byte(" "+ev+","), nil)
			}
		}
		files[path] = &fstest.MapFile{Data: data}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	set, err := mappings.Load(files)
	if err != nil {
		t.Fatal(err)
	}
	return set
}

// A message accepted and processed, resent after a mapping edit dropped its
// trigger event, is a resend like any other on a listener that rejects
// unmapped messages: answered with the original's ACK and journaled as its
// duplicate, not rejected. The screen still answers what is not a resend: a
// different message under the used control ID, and a new one.
func TestUnmappedRejectAnswersAResendWithTheOriginalAck(t *testing.T) {
	shipped, err := mappings.Load(mappings.Shipped())
	if err != nil {
		t.Fatal(err)
	}
	withoutA08 := shippedWithout(t, "A08")
	const a08 = "MSH|^~\\&|ADT|GENHOSP|CB|CB|20261201120000+0000||ADT^A08^ADT_A01|RS-1|P|2.5.1\rEVN|A08|20261201120000+0000\rPID|1||U3^^^GENHOSP^MR||Resent^Rita||19800101|F\r"
	for _, policy := range []string{config.AckOnCommit, config.AckOnProcess} {
		t.Run(policy, func(t *testing.T) {
			cfg := testConfig(t, func(c *config.Config) {
				c.MLLP[0].AckPolicy, c.MLLP[0].Unmapped = policy, config.UnmappedReject
			})
			reg := prometheus.NewRegistry()
			metrics := engine.NewMetrics(reg)
			mp := engine.NewMapper(cfg, shipped, metrics, slog.New(slog.DiscardHandler))
			n := startWith(t, cfg, func(store *sqlite.Store) engine.Deps {
				return engine.Deps{Journal: store, Processor: mp, Metrics: metrics}
			})
			c := dial(t, n.addr)
			send := func(raw string) (*hl7.Message, []byte) {
				t.Helper()
				ack, err := c.Send(context.Background(), []byte(raw))
				if err != nil {
					t.Fatal(err)
				}
				return parseAck(t, ack), ack
			}

			if a, _ := send(a08); a.Get("MSA-1") != "AA" {
				t.Fatalf("original: MSA-1 %s, want AA", a.Get("MSA-1"))
			}
			es := entries(t, n.store, fhirstore.Filter{ControlID: "RS-1"})
			if len(es) != 1 || waitFinal(t, n.store, es[0].ID).Status != fhirstore.StatusProcessed {
				t.Fatalf("original: journal %+v, want it processed", es)
			}
			original, err := n.store.Get(context.Background(), es[0].ID)
			if err != nil {
				t.Fatal(err)
			}

			mp.Swap(withoutA08)
			// The same message, and the same stamped anew (MSH-7): the
			// original's ACK, byte for byte.
			for _, raw := range []string{a08, strings.Replace(a08, "|20261201120000+0000||ADT^A08", "|20261201120500+0000||ADT^A08", 1)} {
				if _, ack := send(raw); !bytes.Equal(ack, original.Ack) {
					t.Errorf("resend: ACK %q, want the original's %q", ack, original.Ack)
				}
			}
			es = entries(t, n.store, fhirstore.Filter{ControlID: "RS-1"})
			if len(es) != 3 {
				t.Fatalf("journal has %d entries under RS-1, want 3", len(es))
			}
			for _, e := range es[1:] {
				if e.Status != fhirstore.StatusDuplicate || e.DuplicateOf != original.ID || e.Error != "" {
					t.Errorf("resend %d: %s of %d, error %q; want a duplicate of %d", e.ID, e.Status, e.DuplicateOf, e.Error, original.ID)
				}
			}

			// A different message under RS-1, and a new A08: no resend,
			// refused as before.
			different := strings.Replace(a08, "Resent^Rita", "Other^Olga", 1)
			fresh := strings.Replace(a08, "|RS-1|", "|RS-2|", 1)
			for _, tc := range []struct{ name, raw, ctl string }{{"different", different, "RS-1"}, {"new", fresh, "RS-2"}} {
				a, ack := send(tc.raw)
				if a.Get("MSA-1") != "AR" || a.Get("ERR-3.1") != "201" || a.Get("ERR-2") != "MSH^1^9^1^2" {
					t.Errorf("%s message: ACK %q; want AR with ERR-3 201 at MSH^1^9^1^2", tc.name, ack)
				}
				es := entries(t, n.store, fhirstore.Filter{ControlID: tc.ctl})
				if last := es[len(es)-1]; last.Status != fhirstore.StatusRejected || !strings.Contains(last.Error, "no map for ADT^A08") {
					t.Errorf("%s message: journaled %s %q, want rejected with the reason", tc.name, last.Status, last.Error)
				}
			}
			for name, want := range map[string]float64{
				"carebridge_duplicates_total":        2,
				"carebridge_messages_rejected_total": 2,
				"carebridge_messages_unmapped_total": 2,
			} {
				if v := counter(t, reg, name); v != want {
					t.Errorf("%s = %v, want %v", name, v, want)
				}
			}
		})
	}
}

// A 0x1C byte inside a message would end its frame early: the message is
// refused whole (AR, ERR-3 102), nothing is journaled, and the connection
// goes on.
func TestStrayEndBlockGetsARNotAShortenedMessage(t *testing.T) {
	n := start(t, testConfig(t, nil), nil)
	conn, err := net.Dial("tcp", n.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	msg := "MSH|^~\\&|ADT|HOSP|CB|CB|20261101||ADT^A08|FS1|P|2.5.1\rPID|1||P1^^^HOSP^MR||Emb\x1cFs^Three||19700101|F\rPV1|1|I\r"
	if _, err := conn.Write([]byte("\x0b" + msg + "\x1c\r")); err != nil {
		t.Fatal(err)
	}
	r := mllp.NewReader(conn)
	ack, err := r.ReadFrame()
	if err != nil {
		t.Fatal(err)
	}
	if a := parseAck(t, ack); a.Get("MSA-1") != "AR" || a.Get("MSA-2") != "FS1" || a.Get("ERR-3.1") != hl7.CodeDataType {
		t.Fatalf("reply = %q; want AR for FS1 with ERR-3 102", ack)
	}
	if es := entries(t, n.store, fhirstore.Filter{ControlID: "FS1"}); len(es) != 0 {
		t.Fatalf("the cut message was journaled: %v", es)
	}
	if err := mllp.WriteFrame(conn, readFixture(t, "adt_a08.hl7")); err != nil {
		t.Fatal(err)
	}
	if ok, err := r.ReadFrame(); err != nil || parseAck(t, ok).Get("MSA-1") != "AA" {
		t.Fatalf("next message on the same connection: %q, %v", ok, err)
	}
}

// Two messages in one frame would be journaled as one, the second's
// patient under the first's control ID: the frame is refused (AR, ERR-3
// 100 at the second MSH) and nothing is journaled.
func TestTwoMessagesInOneFrameAreRefused(t *testing.T) {
	n := start(t, testConfig(t, nil), nil)
	c := dial(t, n.addr)
	one := func(ctl string) string {
		return "MSH|^~\\&|ADT|HOSP|CB|CB|20261101||ADT^A08|" + ctl + "|P|2.5.1\rPID|1||" + ctl + "^^^HOSP^MR||Batch^" + ctl + "\r"
	}
	ack, err := c.Send(context.Background(), []byte(one("TWO1")+one("TWO2")))
	if err != nil {
		t.Fatal(err)
	}
	if a := parseAck(t, ack); a.Get("MSA-1") != "AR" || a.Get("MSA-2") != "TWO1" || a.Get("ERR-3.1") != hl7.CodeSegmentSequence || a.Get("ERR-2.1") != "MSH" {
		t.Fatalf("reply = %q; want AR for TWO1 with ERR-3 100 at the second MSH", ack)
	}
	for _, ctl := range []string{"TWO1", "TWO2"} {
		for _, e := range entries(t, n.store, fhirstore.Filter{ControlID: ctl}) {
			if e.Status != fhirstore.StatusRejected {
				t.Errorf("%s journaled as %s, want only a rejected entry", ctl, e.Status)
			}
		}
	}
}

// Latin-1 text sent without MSH-18 to a UTF-8 listener would reach the
// record as U+FFFD: it is answered AR (ERR-3 102 on MSH-18, saying how to
// fix it) and journaled rejected, with its bytes.
func TestTextNotInTheCharsetIsRefused(t *testing.T) {
	n := start(t, testConfig(t, nil), nil)
	c := dial(t, n.addr)
	raw := "MSH|^~\\&|ADT|HOSP|CB|CB|20261101||ADT^A08|LAT1|P|2.5.1\rPID|1||P1^^^HOSP^MR||M\xfcller^J\xfcrgen\r"
	ack, err := c.Send(context.Background(), []byte(raw))
	if err != nil {
		t.Fatal(err)
	}
	a := parseAck(t, ack)
	if a.Get("MSA-1") != "AR" || a.Get("MSA-2") != "LAT1" || a.Get("ERR-2.1") != "MSH" || a.Get("ERR-2.3") != "18" || a.Get("ERR-3.1") != hl7.CodeDataType ||
		!strings.Contains(a.Get("ERR-8"), "listener's charset") {
		t.Fatalf("reply = %q; want AR for LAT1, ERR at MSH-18 with 102 saying how to fix it", ack)
	}
	es := entries(t, n.store, fhirstore.Filter{ControlID: "LAT1"})
	if len(es) != 1 || es[0].Status != fhirstore.StatusRejected {
		t.Fatalf("journal: %d entries, want one rejected", len(es))
	}
	if e, err := n.store.Get(context.Background(), es[0].ID); err != nil || string(e.Raw) != raw {
		t.Fatalf("journaled bytes %q (%v), want them as received", e.Raw, err)
	}
}

// TestNotReadyWhileShuttingDown: from the moment shutdown begins, /readyz
// answers 503 (a balancer stops sending), while a message in flight still
// holds the MLLP listener open.
func TestNotReadyWhileShuttingDown(t *testing.T) {
	cfg := testConfig(t, func(c *config.Config) {
		c.HTTP.Addr = "127.0.0.1:0"
		c.MLLP[0].AckPolicy = config.AckOnProcess // the sender waits for processing
	})
	entered, release := make(chan struct{}), make(chan struct{})
	n := start(t, cfg, processorFunc(func(_ context.Context, e *fhirstore.Entry) engine.Outcome {
		close(entered)
		<-release
		return engine.Outcome{Status: fhirstore.StatusProcessed}
	}))
	readyz := func() int {
		t.Helper()
		resp, err := http.Get("http://" + n.eng.HTTPAddr().String() + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := readyz(); code != http.StatusOK {
		t.Fatalf("/readyz before shutdown: %d", code)
	}
	c := dial(t, n.addr)
	sent := make(chan error, 1)
	go func() {
		_, err := c.Send(context.Background(), readFixture(t, "adt_a01.hl7"))
		sent <- err
	}()
	<-entered
	n.cancel()
	<-n.eng.Stopping()
	if code := readyz(); code != http.StatusServiceUnavailable {
		t.Errorf("/readyz while shutting down: %d, want 503", code)
	}
	close(release) // lets the message finish and the shutdown complete
	if err := <-sent; err != nil {
		t.Errorf("the message in flight: %v", err)
	}
	if err := <-n.stopped; err != nil {
		t.Errorf("engine Run: %v", err)
	}
	n.cancel = nil
	n.store.Close()
}

// TestUnparseableEnhancedModeGetsCRNamingItsCharset: a message that does not
// parse is answered from what can be read of its MSH: CR (not AR) when
// MSH-15/MSH-16 ask for enhanced mode, and MSH-18 naming the character set
// the ACK is in (the message's own when known, else the listener's), as an
// accepted message's ACK does.
func TestUnparseableEnhancedModeGetsCRNamingItsCharset(t *testing.T) {
	n := start(t, testConfig(t, nil), nil)
	c := dial(t, n.addr)
	// An unescaped line break inside PID-5 makes a line that is no segment.
	cases := []struct {
		name, raw, code, charset, cid string
	}{
		{"enhanced, no MSH-18", "MSH|^~\\&|ADT|HOSP|CB|CB|20261101||ADT^A08|ENHB1|P|2.5.1|||AL|NE\rPID|1||P1^^^HOSP^MR||Doe\n^Jane\r", "CR", "UNICODE UTF-8", "ENHB1"},
		{"enhanced, GB 18030", "MSH|^~\\&|ADT|HOSP|CB|CB|20261101||ADT^A08|ENHB2|P|2.5.1|||AL|NE||GB 18030\rPID|1||P2^^^HOSP^MR||Doe\n^Jane\r", "CR", "GB 18030", "ENHB2"},
		{"original mode", "MSH|^~\\&|ADT|HOSP|CB|CB|20261101||ADT^A08|ENHB3|P|2.5.1\rPID|1||P3^^^HOSP^MR||Doe\n^Jane\r", "AR", "UNICODE UTF-8", "ENHB3"},
	}
	for _, tc := range cases {
		ack, err := c.Send(context.Background(), []byte(tc.raw))
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		a := parseAck(t, ack)
		if a.Get("MSA-1") != tc.code || a.Get("MSA-2") != tc.cid || a.Get("MSH-18") != tc.charset || a.Get("ERR-3.1") != hl7.CodeSegmentSequence {
			t.Errorf("%s: reply = %q; want %s with MSH-18 %q and ERR-3 100", tc.name, ack, tc.code, tc.charset)
		}
		es := entries(t, n.store, fhirstore.Filter{ControlID: tc.cid})
		if len(es) != 1 || es[0].Status != fhirstore.StatusRejected {
			t.Errorf("%s: journal has %d entries for %q, want one rejected", tc.name, len(es), tc.cid)
		}
	}
}

// TestAnAckIsNotAcknowledged: HL7 does not acknowledge an acknowledgment
// (v2.5.1 2.9): an ACK sent to a listener is journaled but not answered,
// so that two peers that both answer ACKs do not bounce them forever. The
// first reply read is therefore the one for the message sent after it.
func TestAnAckIsNotAcknowledged(t *testing.T) {
	n := start(t, testConfig(t, nil), nil)
	conn, err := net.Dial("tcp", n.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ack := firstReply(t, conn,
		"MSH|^~\\&|ADT|HOSP|CB|CB|20261101120000||ACK^A01^ACK|ACK-IN-1|P|2.5.1\rMSA|AA|CB-0001\r",
		"MSH|^~\\&|ADT|HOSP|CB|CB|20261101120000||ACK|ACK-IN-2|P|2.5.1\rMSA|AA|CB-0002\r",
		"MSH|^~\\&|ADT|HOSP|CB|CB|20261101120000||ADT^A08|AFTER-ACK|P|2.5.1\rPID|1||A1^^^HOSP^MR\r")
	if a := parseAck(t, ack); a.Get("MSA-2") != "AFTER-ACK" || a.Get("MSA-1") != "AA" {
		t.Fatalf("first reply = %q; want the AA for AFTER-ACK (the ACKs sent before it unanswered)", ack)
	}
	for _, id := range []string{"ACK-IN-1", "ACK-IN-2"} {
		if es := entries(t, n.store, fhirstore.Filter{ControlID: id}); len(es) != 1 {
			t.Errorf("%s: %d journal entries, want 1", id, len(es))
		}
	}
}

// firstReply writes msgs to conn, each in its own frame, and returns the
// first frame read back (within 5 s).
func firstReply(t *testing.T, conn net.Conn, msgs ...string) []byte {
	t.Helper()
	for _, m := range msgs {
		if err := mllp.WriteFrame(conn, []byte(m)); err != nil {
			t.Fatal(err)
		}
	}
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	ack, err := mllp.NewReader(conn).ReadFrame()
	if err != nil {
		t.Fatal(err)
	}
	return ack
}
