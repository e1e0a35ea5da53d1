// Package storetest is the conformance suite every fhirstore backend must
// pass. A backend's tests call Run with a constructor for a fresh, empty store.
package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/carebridge/carebridge/fhirstore"
)

// Options describes the backend under test.
type Options struct {
	// DuplicateWindow is the window the store was opened with.
	DuplicateWindow time.Duration
}

// NewJournal returns a fresh, empty journal whose clock is now. It is closed
// by the test's cleanup.
type NewJournal func(t *testing.T, now func() time.Time) fhirstore.Journal

// Run runs the journal conformance suite.
func Run(t *testing.T, newJournal NewJournal, opts Options) {
	t.Run("AppendAndGet", func(t *testing.T) { testAppendAndGet(t, newJournal) })
	t.Run("Duplicates", func(t *testing.T) { testDuplicates(t, newJournal, opts) })
	t.Run("RejectedIsNotAnOriginal", func(t *testing.T) { testRejected(t, newJournal) })
	t.Run("RejectedResendOfAnOriginal", func(t *testing.T) { testRejectedResend(t, newJournal, opts) })
	t.Run("ClaimIsExclusive", func(t *testing.T) { testClaimExclusive(t, newJournal) })
	t.Run("CompleteReleaseRequeue", func(t *testing.T) { testLifecycle(t, newJournal) })
	t.Run("ReleaseStaleClaims", func(t *testing.T) { testReleaseStale(t, newJournal) })
	t.Run("ListFilters", func(t *testing.T) { testListFilters(t, newJournal) })
	t.Run("ConcurrentAppends", func(t *testing.T) { testConcurrentAppends(t, newJournal) })
}

// Msg builds a journal entry for a synthetic message.
func Msg(app, fac, ctrl, typ string) *fhirstore.Entry {
	raw := fmt.Sprintf("MSH|^~\\&|%s|%s|CB|CB|20261101120000||%s|%s|P|2.5.1\rPID|1||X1^^^%s^MR\r", app, fac, typ, ctrl, fac)
	return &fhirstore.Entry{Listener: "test", SendingApp: app, SendingFacility: fac, ControlID: ctrl,
		MessageType: typ, Status: fhirstore.StatusReceived, Raw: []byte(raw), Ack: []byte("ACK " + ctrl)}
}

func fixedClock(t0 time.Time) (func() time.Time, func(time.Duration)) {
	var mu sync.Mutex
	now := t0
	return func() time.Time { mu.Lock(); defer mu.Unlock(); return now },
		func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
}

func mustAppend(t *testing.T, j fhirstore.Journal, e *fhirstore.Entry) fhirstore.AppendResult {
	t.Helper()
	res, err := j.Append(context.Background(), e)
	if err != nil {
		t.Fatalf("Append(%s): %v", e.ControlID, err)
	}
	return res
}

func testAppendAndGet(t *testing.T, newJournal NewJournal) {
	now, _ := fixedClock(time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC))
	j := newJournal(t, now)
	e := Msg("ADT", "HOSP", "C1", "ADT^A01")
	e.Peer = "10.0.0.1:5000"
	res := mustAppend(t, j, e)
	if res.ID == 0 || res.Duplicate || e.ID != res.ID {
		t.Fatalf("Append = %+v, entry ID %d; want a new non-duplicate ID", res, e.ID)
	}
	got, err := j.Get(context.Background(), res.ID)
	if err != nil {
		t.Fatal(err)
	}
	if string(got.Raw) != string(e.Raw) || string(got.Ack) != "ACK C1" || got.Status != fhirstore.StatusReceived ||
		got.Peer != e.Peer || got.MessageType != "ADT^A01" || got.SendingApp != "ADT" || !got.ReceivedAt.Equal(now()) {
		t.Fatalf("Get = %+v; want the appended entry back", got)
	}
	if _, err := j.Get(context.Background(), 9999); !errors.Is(err, fhirstore.ErrNotFound) {
		t.Fatalf("Get(missing) error = %v, want ErrNotFound", err)
	}
	if _, err := j.Append(context.Background(), &fhirstore.Entry{Status: fhirstore.StatusProcessed, Raw: []byte("x")}); err == nil {
		t.Fatal("Append with a final status succeeded; want an error")
	}
}

func testDuplicates(t *testing.T, newJournal NewJournal, opts Options) {
	now, advance := fixedClock(time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC))
	j := newJournal(t, now)
	first := mustAppend(t, j, Msg("ADT", "HOSP", "C1", "ADT^A01"))
	again := Msg("ADT", "HOSP", "C1", "ADT^A01")
	again.Ack = []byte("should not be kept")
	dup := mustAppend(t, j, again)
	if !dup.Duplicate || dup.Original != first.ID || string(dup.OriginalAck) != "ACK C1" {
		t.Fatalf("second Append = %+v; want a duplicate of %d with the original ACK", dup, first.ID)
	}
	got, _ := j.Get(context.Background(), dup.ID)
	if got.Status != fhirstore.StatusDuplicate || got.DuplicateOf != first.ID {
		t.Fatalf("duplicate stored as %s of %d", got.Status, got.DuplicateOf)
	}
	if dup.Differs || got.Error != "" {
		t.Fatalf("a resend of the same message: Differs %v, error %q", dup.Differs, got.Error)
	}
	// The same message with other segment terminators is the same message.
	crlf := Msg("ADT", "HOSP", "C1", "ADT^A01")
	crlf.Raw = bytes.ReplaceAll(crlf.Raw, []byte("\r"), []byte("\r\n"))
	if r := mustAppend(t, j, crlf); !r.Duplicate || r.Differs {
		t.Fatalf("CRLF resend: %+v; want a duplicate of the same message", r)
	}
	// Another message under the same control ID: still a duplicate (the
	// sender gets the original ACK), kept with an error saying so, and
	// processed only when a person names it.
	other := Msg("ADT", "HOSP", "C1", "ADT^A08")
	other.Raw = bytes.Replace(other.Raw, []byte("X1^^^"), []byte("X2^^^"), 1)
	diff := mustAppend(t, j, other)
	if !diff.Duplicate || !diff.Differs || diff.Original != first.ID {
		t.Fatalf("another message under a used control ID: %+v; want a duplicate that differs", diff)
	}
	got, _ = j.Get(context.Background(), diff.ID)
	if got.Status != fhirstore.StatusDuplicate || got.Error != fhirstore.DifferentDuplicateError(first.ID) {
		t.Fatalf("stored as %s with error %q", got.Status, got.Error)
	}
	if n, err := j.Requeue(context.Background(), fhirstore.Filter{Statuses: []fhirstore.Status{fhirstore.StatusDuplicate}}); err == nil || n != 0 {
		t.Fatalf("Requeue of duplicates by status: %d, %v; want an error", n, err)
	}
	if n, err := j.Requeue(context.Background(), fhirstore.Filter{IDs: []int64{diff.ID}}); err != nil || n != 1 {
		t.Fatalf("Requeue of the duplicate by ID: %d, %v; want 1", n, err)
	}
	if got, _ = j.Get(context.Background(), diff.ID); got.Status != fhirstore.StatusReceived {
		t.Fatalf("requeued duplicate is %s, want received", got.Status)
	}
	// Processed by hand, it is an original of its own: its resend is a
	// plain duplicate of it, not "different" from the first.
	other.ID, other.Status, other.Error = 0, fhirstore.StatusReceived, ""
	if r := mustAppend(t, j, other); !r.Duplicate || r.Differs || r.Original != diff.ID {
		t.Fatalf("resend of the message processed by hand: %+v; want a duplicate of %d that does not differ", r, diff.ID)
	}
	// Same control ID from another facility or application is not a duplicate.
	for _, e := range []*fhirstore.Entry{Msg("ADT", "OTHER", "C1", "ADT^A01"), Msg("LAB", "HOSP", "C1", "ADT^A01")} {
		if r := mustAppend(t, j, e); r.Duplicate {
			t.Fatalf("%s/%s C1 taken for a duplicate", e.SendingApp, e.SendingFacility)
		}
	}
	// Outside the window, the same key is a new message.
	advance(opts.DuplicateWindow + time.Minute)
	if r := mustAppend(t, j, Msg("ADT", "HOSP", "C1", "ADT^A01")); r.Duplicate {
		t.Fatal("a resend outside the duplicate window was taken for a duplicate")
	}
}

func testRejected(t *testing.T, newJournal NewJournal) {
	now, _ := fixedClock(time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC))
	j := newJournal(t, now)
	bad := Msg("ADT", "HOSP", "C9", "ADT^A01")
	bad.Status, bad.Error = fhirstore.StatusRejected, "MSH-12 missing"
	mustAppend(t, j, bad)
	if r := mustAppend(t, j, Msg("ADT", "HOSP", "C9", "ADT^A01")); r.Duplicate {
		t.Fatal("a corrected resend of a rejected message was taken for a duplicate")
	}
	c, _ := j.Claim(context.Background(), "w", 10)
	if len(c) != 1 || c[0].ControlID != "C9" || c[0].Status != fhirstore.StatusProcessing {
		t.Fatalf("Claim = %v; want only the accepted resend", c)
	}
	// Under on-process, a message whose processing failed was answered AE
	// (or AR): no original either, its corrected resend is taken afresh.
	// One answered AA after it failed (on-commit) stays an original.
	for _, tc := range []struct {
		ctrl, ack string
		original  bool
	}{
		{"C10", "MSH|^~\\&|CB|CB|ADT|HOSP|20261101120000||ACK^A01^ACK|A1|P|2.5.1\rMSA|AE|C10\rERR|||207^Application internal error^HL70357|E", false},
		{"C11", "MSH|^~\\&|CB|CB|ADT|HOSP|20261101120000||ACK^A01^ACK|A2|P|2.5.1\rMSA|AR|C11\rERR|||200^Unsupported message type^HL70357|E", false},
		{"C12", "MSH|^~\\&|CB|CB|ADT|HOSP|20261101120000||ACK^A01^ACK|A3|P|2.5.1\rMSA|AA|C12", true},
	} {
		e := Msg("ADT", "HOSP", tc.ctrl, "ADT^A01")
		e.Status, e.ClaimedBy, e.Ack = fhirstore.StatusProcessing, "w", nil
		first := mustAppend(t, j, e)
		if err := j.Complete(context.Background(), []fhirstore.Completion{{ID: first.ID, Owner: "w", Status: fhirstore.StatusFailed, Error: "failed", Ack: []byte(tc.ack)}}); err != nil {
			t.Fatal(err)
		}
		r := mustAppend(t, j, Msg("ADT", "HOSP", tc.ctrl, "ADT^A01"))
		if r.Duplicate != tc.original {
			t.Errorf("%s: resend of a message answered %q taken for a duplicate: %v, want %v", tc.ctrl, tc.ack[strings.Index(tc.ack, "MSA"):], r.Duplicate, tc.original)
		}
	}
}

// A message the engine would refuse for what it handles now, not for what
// the message is (Entry.CheckResend), is a duplicate when it resends an
// original exactly, and rejected otherwise.
func testRejectedResend(t *testing.T, newJournal NewJournal, opts Options) {
	now, advance := fixedClock(time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC))
	j := newJournal(t, now)
	refused := func(e *fhirstore.Entry) *fhirstore.Entry {
		e.Status, e.Error, e.Ack, e.CheckResend = fhirstore.StatusRejected, "no map for ADT^A08", []byte("NAK "+e.ControlID), true
		return e
	}
	first := mustAppend(t, j, Msg("ADT", "HOSP", "C20", "ADT^A08"))

	resend := refused(Msg("ADT", "HOSP", "C20", "ADT^A08"))
	r := mustAppend(t, j, resend)
	if !r.Duplicate || r.Differs || r.Original != first.ID || string(r.OriginalAck) != "ACK C20" {
		t.Fatalf("a resend of an original, refused: %+v; want a duplicate of %d with the original ACK", r, first.ID)
	}
	got, _ := j.Get(context.Background(), r.ID)
	if got.Status != fhirstore.StatusDuplicate || got.DuplicateOf != first.ID || got.Error != "" || string(got.Ack) != "ACK C20" {
		t.Fatalf("stored as %s of %d, error %q, ACK %q; want a duplicate with the original ACK and no error", got.Status, got.DuplicateOf, got.Error, got.Ack)
	}
	if resend.Status != fhirstore.StatusDuplicate || resend.DuplicateOf != first.ID || resend.Error != "" {
		t.Fatalf("entry after Append: %s of %d, error %q", resend.Status, resend.DuplicateOf, resend.Error)
	}

	// A different message under the key keeps its rejection.
	other := refused(Msg("ADT", "HOSP", "C20", "ADT^A08"))
	other.Raw = bytes.Replace(other.Raw, []byte("X1^^^"), []byte("X2^^^"), 1)
	if r := mustAppend(t, j, other); r.Duplicate {
		t.Fatalf("a different message under a used key, refused: %+v; want it rejected", r)
	}
	// So does one with no original: none under its key, or only a
	// rejected one (the entry just stored), or one answered AR.
	lone := mustAppend(t, j, refused(Msg("ADT", "HOSP", "C21", "ADT^A08")))
	again := mustAppend(t, j, refused(Msg("ADT", "HOSP", "C21", "ADT^A08")))
	e := Msg("ADT", "HOSP", "C22", "ADT^A08")
	e.Status, e.ClaimedBy, e.Ack = fhirstore.StatusProcessing, "w", nil
	failed := mustAppend(t, j, e)
	if err := j.Complete(context.Background(), []fhirstore.Completion{{ID: failed.ID, Owner: "w", Status: fhirstore.StatusFailed, Error: "no map",
		Ack: []byte("MSH|^~\\&|CB|CB|ADT|HOSP|20261101120000||ACK^A08^ACK|A1|P|2.5.1\rMSA|AR|C22")}}); err != nil {
		t.Fatal(err)
	}
	afterAR := mustAppend(t, j, refused(Msg("ADT", "HOSP", "C22", "ADT^A08")))
	// Without CheckResend a rejected entry is never a duplicate.
	plain := refused(Msg("ADT", "HOSP", "C20", "ADT^A08"))
	plain.CheckResend = false
	plainRes := mustAppend(t, j, plain)
	// Outside the window there is no original.
	advance(opts.DuplicateWindow + time.Minute)
	late := mustAppend(t, j, refused(Msg("ADT", "HOSP", "C20", "ADT^A08")))
	for name, res := range map[string]fhirstore.AppendResult{"different": {ID: other.ID}, "no original": lone, "resend of a rejected one": again,
		"resend of one answered AR": afterAR, "without CheckResend": plainRes, "outside the window": late} {
		if res.Duplicate {
			t.Errorf("%s: %+v; want rejected", name, res)
		}
		got, err := j.Get(context.Background(), res.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Status != fhirstore.StatusRejected || got.Error != "no map for ADT^A08" || !strings.HasPrefix(string(got.Ack), "NAK ") || got.DuplicateOf != 0 {
			t.Errorf("%s: stored as %s, error %q, ACK %q, duplicate of %d; want rejected with its reason and NAK", name, got.Status, got.Error, got.Ack, got.DuplicateOf)
		}
	}
}

func testClaimExclusive(t *testing.T, newJournal NewJournal) {
	j := newJournal(t, time.Now)
	const n = 200
	for i := range n {
		mustAppend(t, j, Msg("ADT", "HOSP", fmt.Sprint("C", i), "ADT^A01"))
	}
	var mu sync.Mutex
	seen := map[int64]string{}
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			owner := fmt.Sprint("worker", w)
			for {
				es, err := j.Claim(context.Background(), owner, 7)
				if err != nil {
					t.Error(err)
					return
				}
				if len(es) == 0 {
					return
				}
				mu.Lock()
				for _, e := range es {
					if prev, ok := seen[e.ID]; ok {
						t.Errorf("entry %d claimed by %s and %s", e.ID, prev, owner)
					}
					seen[e.ID] = owner
					if len(e.Raw) == 0 {
						t.Errorf("claimed entry %d has no raw bytes", e.ID)
					}
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(seen) != n {
		t.Fatalf("%d entries claimed, want %d", len(seen), n)
	}
}

func testLifecycle(t *testing.T, newJournal NewJournal) {
	ctx := context.Background()
	j := newJournal(t, time.Now)
	var ids []int64
	for i := range 3 {
		ids = append(ids, mustAppend(t, j, Msg("ADT", "HOSP", fmt.Sprint("L", i), "ADT^A08")).ID)
	}
	claimed, err := j.Claim(ctx, "a", 2)
	if err != nil || len(claimed) != 2 || claimed[0].ID != ids[0] || claimed[1].ID != ids[1] {
		t.Fatalf("Claim = %v, %v; want the two oldest", claimed, err)
	}
	if claimed[0].Attempts != 1 || claimed[0].ClaimedBy != "a" {
		t.Fatalf("claimed entry attempts=%d by %q", claimed[0].Attempts, claimed[0].ClaimedBy)
	}
	if err := j.Complete(ctx, []fhirstore.Completion{
		{ID: ids[0], Owner: "a", Status: fhirstore.StatusProcessed, ResultHash: "h1", Result: []byte(`{"resourceType":"Bundle"}`), Notes: []byte(`[{"kind":"unused-field"}]`)},
		{ID: ids[1], Owner: "a", Status: fhirstore.StatusFailed, Error: "boom", Ack: []byte("AE")},
	}); err != nil {
		t.Fatal(err)
	}
	// A late completion (the claim was released and another process took
	// it) records nothing; completing an unknown entry neither.
	late := j.Complete(ctx, []fhirstore.Completion{{ID: ids[0], Owner: "a", Status: fhirstore.StatusFailed, Error: "late"}, {ID: 99999, Owner: "a", Status: fhirstore.StatusProcessed}})
	if !errors.Is(late, fhirstore.ErrNotClaimed) {
		t.Fatalf("late Complete error = %v, want ErrNotClaimed", late)
	}
	if e, _ := j.Get(ctx, ids[0]); e.Status != fhirstore.StatusProcessed || e.Error != "" {
		t.Fatalf("a late completion overwrote the outcome: %+v", e)
	}
	if err := j.Complete(ctx, []fhirstore.Completion{{ID: ids[0], Status: fhirstore.StatusReceived}}); err == nil {
		t.Fatal("Complete with a non-final status succeeded")
	}
	// A crashed owner's claims are released.
	if _, err := j.Claim(ctx, "crashed", 5); err != nil {
		t.Fatal(err)
	}
	if n, err := j.Release(ctx, "someone-else"); err != nil || n != 0 {
		t.Fatalf("Release(other owner) = %d, %v; want 0", n, err)
	}
	if n, err := j.Release(ctx, "crashed"); err != nil || n != 1 {
		t.Fatalf("Release = %d, %v; want 1", n, err)
	}
	done, _ := j.Get(ctx, ids[0])
	if string(done.Result) != `{"resourceType":"Bundle"}` || done.ResultHash != "h1" || string(done.Ack) != "ACK L0" || string(done.Notes) != `[{"kind":"unused-field"}]` {
		t.Fatalf("processed entry result %q hash %q ack %q", done.Result, done.ResultHash, done.Ack)
	}
	failed, _ := j.Get(ctx, ids[1])
	if failed.Status != fhirstore.StatusFailed || failed.Error != "boom" || string(failed.Ack) != "AE" || failed.ProcessedAt.IsZero() {
		t.Fatalf("failed entry = %+v", failed)
	}
	n, err := j.Requeue(ctx, fhirstore.Filter{Statuses: []fhirstore.Status{fhirstore.StatusFailed}})
	if err != nil || n != 1 {
		t.Fatalf("Requeue(failed) = %d, %v; want 1", n, err)
	}
	if _, err := j.Requeue(ctx, fhirstore.Filter{Statuses: []fhirstore.Status{fhirstore.StatusDuplicate}}); err == nil {
		t.Fatal("Requeue of duplicates succeeded; want an error")
	}
	again, _ := j.Claim(ctx, "b", 10)
	if len(again) != 2 || again[0].ID != ids[1] || again[1].ID != ids[2] || again[0].Attempts != 2 {
		t.Fatalf("Claim after requeue = %v; want the requeued and the released entry", again)
	}
	counts, err := j.Counts(ctx)
	if err != nil || counts[fhirstore.StatusProcessed] != 1 || counts[fhirstore.StatusProcessing] != 2 {
		t.Fatalf("Counts = %v, %v", counts, err)
	}
}

func testListFilters(t *testing.T, newJournal NewJournal) {
	ctx := context.Background()
	now, advance := fixedClock(time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC))
	j := newJournal(t, now)
	mustAppend(t, j, Msg("ADT", "HOSP", "A", "ADT^A01"))
	advance(time.Hour)
	mid := now()
	mustAppend(t, j, Msg("ADT", "CLINIC", "B", "ADT^A08"))
	mustAppend(t, j, Msg("SCHED", "HOSP", "C", "SIU^S12"))
	bad := Msg("BILL", "HOSP", "D", "DFT^P03")
	bad.Status = fhirstore.StatusRejected
	mustAppend(t, j, bad)
	cases := []struct {
		name string
		f    fhirstore.Filter
		want string
	}{
		{"all", fhirstore.Filter{}, "ABCD"},
		{"type code", fhirstore.Filter{MessageType: "ADT"}, "AB"},
		{"type with event", fhirstore.Filter{MessageType: "ADT^A08"}, "B"},
		{"type wildcard", fhirstore.Filter{MessageType: "SIU^*"}, "C"},
		{"sender app", fhirstore.Filter{Sender: "ADT"}, "AB"},
		{"sender app and facility", fhirstore.Filter{Sender: "ADT^CLINIC"}, "B"},
		{"status", fhirstore.Filter{Statuses: []fhirstore.Status{fhirstore.StatusRejected}}, "D"},
		{"since", fhirstore.Filter{Since: mid}, "BCD"},
		{"until", fhirstore.Filter{Until: mid}, "A"},
		{"control id", fhirstore.Filter{ControlID: "C"}, "C"},
		{"limit", fhirstore.Filter{Limit: 2}, "AB"},
		{"newest first", fhirstore.Filter{Descending: true, Limit: 2}, "DC"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := ""
			if err := j.List(ctx, c.f, func(e *fhirstore.Entry) error { got += e.ControlID; return nil }); err != nil {
				t.Fatal(err)
			}
			if got != c.want {
				t.Fatalf("List(%+v) = %q, want %q", c.f, got, c.want)
			}
		})
	}
}

func testConcurrentAppends(t *testing.T, newJournal NewJournal) {
	j := newJournal(t, time.Now)
	const senders, each = 16, 50
	var wg sync.WaitGroup
	for s := range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				if _, err := j.Append(context.Background(), Msg("ADT", "HOSP", fmt.Sprintf("S%d-%d", s, i), "ADT^A01")); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	counts, err := j.Counts(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if counts[fhirstore.StatusReceived] != senders*each {
		t.Fatalf("received = %d, want %d", counts[fhirstore.StatusReceived], senders*each)
	}
}

func testReleaseStale(t *testing.T, newJournal NewJournal) {
	ctx := context.Background()
	now, advance := fixedClock(time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC))
	j := newJournal(t, now)
	claim := func(ctrl, owner string) {
		t.Helper()
		mustAppend(t, j, Msg("ADT", "HOSP", ctrl, "ADT^A01"))
		if c, err := j.Claim(ctx, owner, 1); err != nil || len(c) != 1 || c[0].ControlID != ctrl {
			t.Fatalf("Claim(%s) = %v, %v; want %s", owner, c, err, ctrl)
		}
	}
	claim("GONE", "gone-node")
	claim("MINE", "me")
	// A live message appended already claimed, as a running node does.
	live := Msg("ADT", "HOSP", "LIVE", "ADT^A01")
	live.Status, live.ClaimedBy = fhirstore.StatusProcessing, "me"
	mustAppend(t, j, live)
	advance(time.Minute)
	claim("FRESH", "live-node")
	status := func(ctrl string) fhirstore.Status {
		t.Helper()
		var st fhirstore.Status
		if err := j.List(ctx, fhirstore.Filter{ControlID: ctrl}, func(e *fhirstore.Entry) error { st = e.Status; return nil }); err != nil {
			t.Fatal(err)
		}
		return st
	}

	// Claims older than 30s are abandoned, except those of "me" (however
	// old) and the fresh one.
	n, err := j.ReleaseStale(ctx, "me", now().Add(-30*time.Second))
	if err != nil || n != 1 {
		t.Fatalf("ReleaseStale = %d, %v; want 1", n, err)
	}
	for ctrl, want := range map[string]fhirstore.Status{
		"GONE": fhirstore.StatusReceived, "MINE": fhirstore.StatusProcessing,
		"LIVE": fhirstore.StatusProcessing, "FRESH": fhirstore.StatusProcessing,
	} {
		if got := status(ctrl); got != want {
			t.Errorf("after ReleaseStale(except me), %s is %s, want %s", ctrl, got, want)
		}
	}
	c, _ := j.Claim(ctx, "other", 10)
	if len(c) != 1 || c[0].ControlID != "GONE" {
		t.Fatalf("reclaimed %v, want GONE", c)
	}
	if n, err := j.ReleaseStale(ctx, "me", now().Add(-30*time.Second)); err != nil || n != 0 {
		t.Fatalf("ReleaseStale again = %d, %v; want 0 (the reclaim is fresh)", n, err)
	}

	// Release takes back all of one owner's claims, whatever their age.
	if n, err := j.Release(ctx, "me"); err != nil || n != 2 {
		t.Fatalf("Release(me) = %d, %v; want 2", n, err)
	}
	for ctrl, want := range map[string]fhirstore.Status{
		"MINE": fhirstore.StatusReceived, "LIVE": fhirstore.StatusReceived, "FRESH": fhirstore.StatusProcessing,
	} {
		if got := status(ctrl); got != want {
			t.Errorf("after Release(me), %s is %s, want %s", ctrl, got, want)
		}
	}
}
