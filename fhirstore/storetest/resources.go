package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/carebridge/carebridge/fhirstore"
)

// NewStore returns a fresh, empty store whose clock is now, validating
// resources as FHIR R4. It is closed by the test's cleanup.
type NewStore func(t *testing.T, now func() time.Time) fhirstore.Store

// RunStore runs the resource store conformance suite: resources, versions
// and history, change sets with version checks and journal completions, the
// change feed, concurrency and search.
func RunStore(t *testing.T, newStore NewStore) {
	t.Run("CreateUpdateDelete", func(t *testing.T) { testCRUD(t, newStore) })
	t.Run("VersionConflicts", func(t *testing.T) { testConflicts(t, newStore) })
	t.Run("SearchChecks", func(t *testing.T) { testChecks(t, newStore) })
	t.Run("ReadChecks", func(t *testing.T) { testReads(t, newStore) })
	t.Run("InvalidResource", func(t *testing.T) { testInvalid(t, newStore) })
	t.Run("CompletionInChangeSet", func(t *testing.T) { testCompletion(t, newStore) })
	t.Run("ChangeFeed", func(t *testing.T) { testChangeFeed(t, newStore) })
	t.Run("ConcurrentApply", func(t *testing.T) { testConcurrentApply(t, newStore) })
	t.Run("Search", func(t *testing.T) { testSearch(t, newStore) })
	t.Run("SearchFollowsUpdates", func(t *testing.T) { testSearchFollowsUpdates(t, newStore) })
}

// Patient returns a minimal valid Patient with the given id and family name.
func Patient(id, family string) []byte {
	return []byte(fmt.Sprintf(`{"resourceType":"Patient","id":%q,"name":[{"family":%q}]}`, id, family))
}

func put(typ, id string, ifVersion int64, body []byte) fhirstore.Write {
	return fhirstore.Write{Type: typ, ID: id, IfVersion: ifVersion, Body: body}
}

func mustApply(t *testing.T, s fhirstore.Store, cs fhirstore.ChangeSet) []*fhirstore.Resource {
	t.Helper()
	out, err := s.Apply(context.Background(), cs)
	if err != nil {
		t.Fatalf("Apply: %v", err)
	}
	if len(out) != len(cs.Writes) {
		t.Fatalf("Apply returned %d resources for %d writes", len(out), len(cs.Writes))
	}
	return out
}

// meta decodes a stored body's meta.
func meta(t *testing.T, body []byte) map[string]any {
	t.Helper()
	var r struct {
		Meta map[string]any `json:"meta"`
	}
	if err := json.Unmarshal(body, &r); err != nil {
		t.Fatalf("stored body is not JSON: %v\n%s", err, body)
	}
	return r.Meta
}

func checkVersion(t *testing.T, r *fhirstore.Resource, version int64, at time.Time) {
	t.Helper()
	if r.Version != version || !r.LastUpdated.Equal(at) {
		t.Fatalf("%s/%s: version %d at %s, want %d at %s", r.Type, r.ID, r.Version, r.LastUpdated, version, at)
	}
	if r.Deleted {
		return
	}
	m := meta(t, r.Body)
	if m["versionId"] != fmt.Sprint(version) {
		t.Fatalf("meta.versionId = %v, want %d", m["versionId"], version)
	}
	lu, err := time.Parse(time.RFC3339Nano, fmt.Sprint(m["lastUpdated"]))
	if err != nil || !lu.Equal(at) {
		t.Fatalf("meta.lastUpdated = %v, want %s", m["lastUpdated"], at)
	}
}

func testCRUD(t *testing.T, newStore NewStore) {
	ctx := context.Background()
	t0 := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	now, advance := fixedClock(t0)
	s := newStore(t, now)

	created := mustApply(t, s, fhirstore.ChangeSet{Writes: []fhirstore.Write{put("Patient", "p1", 0, Patient("p1", "Alpha"))}})[0]
	checkVersion(t, created, 1, t0)
	got, err := s.Read(ctx, "Patient", "p1")
	if err != nil || string(got.Body) != string(created.Body) {
		t.Fatalf("Read = %v, %v; want the created body", got, err)
	}
	checkVersion(t, got, 1, t0)

	// An update keeps the rest of meta and replaces versionId and lastUpdated.
	advance(time.Minute)
	body := `{"resourceType":"Patient","id":"p1","meta":{"versionId":"77","lastUpdated":"2000-01-01T00:00:00Z","source":"urn:sender","tag":[{"code":"t"}]},"name":[{"family":"Beta"}]}`
	updated := mustApply(t, s, fhirstore.ChangeSet{Writes: []fhirstore.Write{put("Patient", "p1", 1, []byte(body))}})[0]
	checkVersion(t, updated, 2, t0.Add(time.Minute))
	if m := meta(t, updated.Body); m["source"] != "urn:sender" || m["tag"] == nil {
		t.Fatalf("meta after update = %v; want source and tag kept", m)
	}
	// A body without id gets the write's id.
	advance(time.Minute)
	noID := mustApply(t, s, fhirstore.ChangeSet{Writes: []fhirstore.Write{put("Patient", "p1", 2, []byte(`{"resourceType":"Patient","name":[{"family":"Gamma"}]}`))}})[0]
	if !strings.Contains(string(noID.Body), `"id":"p1"`) {
		t.Fatalf("body without id stored as %s", noID.Body)
	}

	v1, err := s.VRead(ctx, "Patient", "p1", 1)
	if err != nil || !strings.Contains(string(v1.Body), "Alpha") {
		t.Fatalf("VRead(1) = %v, %v; want the first version", v1, err)
	}
	if _, err := s.VRead(ctx, "Patient", "p1", 9); !errors.Is(err, fhirstore.ErrNotFound) {
		t.Fatalf("VRead(9) error = %v, want ErrNotFound", err)
	}

	advance(time.Minute)
	del := mustApply(t, s, fhirstore.ChangeSet{Writes: []fhirstore.Write{{Type: "Patient", ID: "p1", IfVersion: 3, Delete: true}}})[0]
	if !del.Deleted || del.Version != 4 || del.Body != nil {
		t.Fatalf("delete = %+v; want deletion version 4 without body", del)
	}
	if _, err := s.Read(ctx, "Patient", "p1"); !errors.Is(err, fhirstore.ErrGone) {
		t.Fatalf("Read after delete error = %v, want ErrGone", err)
	}
	h, err := s.History(ctx, "Patient", "p1")
	if err != nil || len(h) != 4 {
		t.Fatalf("History = %d versions, %v; want 4", len(h), err)
	}
	for i, r := range h {
		if r.Version != int64(4-i) {
			t.Fatalf("History[%d] is version %d; want newest first", i, r.Version)
		}
	}
	if !h[0].Deleted || h[1].Deleted || !strings.Contains(string(h[3].Body), "Alpha") {
		t.Fatalf("History = %+v", h)
	}
	if _, err := s.VRead(ctx, "Patient", "p1", 2); err != nil {
		t.Fatalf("VRead of a deleted resource's old version: %v", err)
	}
	if found := search(t, s, "Patient", "family", "", "Gamma"); len(found) != 0 {
		t.Fatalf("search finds the deleted resource: %v", found)
	}
	// Deleting again changes nothing; writing again makes version 5.
	if again := mustApply(t, s, fhirstore.ChangeSet{Writes: []fhirstore.Write{{Type: "Patient", ID: "p1", IfVersion: fhirstore.Unconditional, Delete: true}}})[0]; again.Version != 4 {
		t.Fatalf("second delete wrote version %d, want it to stay 4", again.Version)
	}
	back := mustApply(t, s, fhirstore.ChangeSet{Writes: []fhirstore.Write{put("Patient", "p1", 4, Patient("p1", "Delta"))}})[0]
	if back.Version != 5 {
		t.Fatalf("write after delete = version %d, want 5", back.Version)
	}
	if _, err := s.Read(ctx, "Patient", "p1"); err != nil {
		t.Fatalf("Read after re-creation: %v", err)
	}

	for _, miss := range []func() error{
		func() error { _, err := s.Read(ctx, "Patient", "nobody"); return err },
		func() error { _, err := s.History(ctx, "Patient", "nobody"); return err },
		func() error { _, err := s.Read(ctx, "Encounter", "p1"); return err },
		func() error {
			_, err := s.Apply(ctx, fhirstore.ChangeSet{Writes: []fhirstore.Write{{Type: "Patient", ID: "nobody", IfVersion: fhirstore.Unconditional, Delete: true}}})
			return err
		},
	} {
		if err := miss(); !errors.Is(err, fhirstore.ErrNotFound) {
			t.Fatalf("error = %v, want ErrNotFound", err)
		}
	}
}

func testConflicts(t *testing.T, newStore NewStore) {
	ctx := context.Background()
	now, _ := fixedClock(time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC))
	s := newStore(t, now)
	mustApply(t, s, fhirstore.ChangeSet{Writes: []fhirstore.Write{put("Patient", "p1", 0, Patient("p1", "One"))}})
	before, _ := s.Changes(ctx, 0, 100)

	tests := []struct {
		name   string
		writes []fhirstore.Write
	}{
		{"create twice", []fhirstore.Write{put("Patient", "p2", 0, Patient("p2", "Two")), put("Patient", "p1", 0, Patient("p1", "Again"))}},
		{"stale version", []fhirstore.Write{put("Patient", "p2", 0, Patient("p2", "Two")), put("Patient", "p1", 5, Patient("p1", "Stale"))}},
		{"update of a missing resource", []fhirstore.Write{put("Patient", "p2", 0, Patient("p2", "Two")), put("Patient", "p3", 1, Patient("p3", "Ghost"))}},
		{"delete with a stale version", []fhirstore.Write{put("Patient", "p2", 0, Patient("p2", "Two")), {Type: "Patient", ID: "p1", IfVersion: 2, Delete: true}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.Apply(ctx, fhirstore.ChangeSet{Writes: tt.writes})
			if !errors.Is(err, fhirstore.ErrConflict) {
				t.Fatalf("Apply error = %v, want ErrConflict", err)
			}
			if _, err := s.Read(ctx, "Patient", "p2"); !errors.Is(err, fhirstore.ErrNotFound) {
				t.Fatalf("a write of the failed change set was kept (Read p2: %v)", err)
			}
			if p1, _ := s.Read(ctx, "Patient", "p1"); p1.Version != 1 {
				t.Fatalf("p1 at version %d after a failed change set", p1.Version)
			}
			if after, _ := s.Changes(ctx, 0, 100); len(after) != len(before) {
				t.Fatalf("change feed grew from %d to %d rows", len(before), len(after))
			}
		})
	}
	// Unconditional writes skip the check.
	if r := mustApply(t, s, fhirstore.ChangeSet{Writes: []fhirstore.Write{put("Patient", "p1", fhirstore.Unconditional, Patient("p1", "Forced"))}}); r[0].Version != 2 {
		t.Fatalf("unconditional update wrote version %d, want 2", r[0].Version)
	}
	// Two writes of one resource in one change set: the second sees the first.
	r := mustApply(t, s, fhirstore.ChangeSet{Writes: []fhirstore.Write{
		put("Patient", "p4", 0, Patient("p4", "Four")), put("Patient", "p4", 1, Patient("p4", "Four b")),
	}})
	if r[0].Version != 1 || r[1].Version != 2 {
		t.Fatalf("versions %d, %d; want 1, 2", r[0].Version, r[1].Version)
	}
}

func testInvalid(t *testing.T, newStore NewStore) {
	ctx := context.Background()
	s := newStore(t, time.Now)
	tests := []struct {
		name  string
		write fhirstore.Write
	}{
		{"unknown code", put("Patient", "bad", 0, []byte(`{"resourceType":"Patient","id":"bad","gender":"robot"}`))},
		{"unknown element", put("Patient", "bad", 0, []byte(`{"resourceType":"Patient","id":"bad","colour":"red"}`))},
		{"empty string", put("Patient", "bad", 0, []byte(`{"resourceType":"Patient","id":"bad","name":[{"family":""}]}`))},
		{"not JSON", put("Patient", "bad", 0, []byte(`{"resourceType":`))},
		{"type mismatch", put("Encounter", "bad", 0, Patient("bad", "X"))},
		{"id mismatch", put("Patient", "other", 0, Patient("bad", "X"))},
		{"bad id", put("Patient", "a b", 0, Patient("a b", "X"))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.Apply(ctx, fhirstore.ChangeSet{Writes: []fhirstore.Write{put("Patient", "good", 0, Patient("good", "Fine")), tt.write}})
			if !errors.Is(err, fhirstore.ErrInvalid) {
				t.Fatalf("Apply error = %v, want ErrInvalid", err)
			}
			if _, err := s.Read(ctx, "Patient", "good"); !errors.Is(err, fhirstore.ErrNotFound) {
				t.Fatalf("the valid resource of a refused change set was written (%v)", err)
			}
		})
	}
	if c, _ := s.Changes(ctx, 0, 10); len(c) != 0 {
		t.Fatalf("change feed has %d rows after refused change sets", len(c))
	}
}

func testCompletion(t *testing.T, newStore NewStore) {
	ctx := context.Background()
	s := newStore(t, time.Now)
	mustAppend(t, s, Msg("ADT", "HOSP", "C1", "ADT^A01"))
	claimed, err := s.Claim(ctx, "w1", 1)
	if err != nil || len(claimed) != 1 {
		t.Fatalf("Claim = %v, %v", claimed, err)
	}
	id := claimed[0].ID
	out := mustApply(t, s, fhirstore.ChangeSet{
		JournalID:  id,
		Writes:     []fhirstore.Write{put("Patient", "p1", 0, Patient("p1", "Done"))},
		Completion: &fhirstore.Completion{ID: id, Owner: "w1", Status: fhirstore.StatusProcessed, Result: []byte(`{"resourceType":"Bundle"}`), ResultHash: "h"},
	})
	if out[0].JournalID != id {
		t.Fatalf("resource JournalID = %d, want %d", out[0].JournalID, id)
	}
	e, _ := s.Get(ctx, id)
	if e.Status != fhirstore.StatusProcessed || string(e.Result) != `{"resourceType":"Bundle"}` || e.ResultHash != "h" {
		t.Fatalf("journal entry after Apply = %+v", e)
	}
	if r, err := s.Read(ctx, "Patient", "p1"); err != nil || r.JournalID != id {
		t.Fatalf("Read = %+v, %v; want JournalID %d", r, err, id)
	}
	if c, _ := s.Changes(ctx, 0, 10); len(c) != 1 || c[0].JournalID != id {
		t.Fatalf("change feed = %+v; want one row with JournalID %d", c, id)
	}

	// The claim is lost (released and taken by w2): the whole set fails.
	mustAppend(t, s, Msg("ADT", "HOSP", "C2", "ADT^A01"))
	lost, _ := s.Claim(ctx, "w1", 1)
	if _, err := s.Release(ctx, "w1"); err != nil {
		t.Fatal(err)
	}
	if again, _ := s.Claim(ctx, "w2", 1); len(again) != 1 || again[0].ID != lost[0].ID {
		t.Fatalf("w2 did not take the released entry: %v", again)
	}
	_, err = s.Apply(ctx, fhirstore.ChangeSet{
		JournalID:  lost[0].ID,
		Writes:     []fhirstore.Write{put("Patient", "p2", 0, Patient("p2", "Late"))},
		Completion: &fhirstore.Completion{ID: lost[0].ID, Owner: "w1", Status: fhirstore.StatusProcessed},
	})
	if !errors.Is(err, fhirstore.ErrNotClaimed) {
		t.Fatalf("Apply with a lost claim error = %v, want ErrNotClaimed", err)
	}
	if _, err := s.Read(ctx, "Patient", "p2"); !errors.Is(err, fhirstore.ErrNotFound) {
		t.Fatalf("resource of a change set with a lost claim was written (%v)", err)
	}
	if e, _ := s.Get(ctx, lost[0].ID); e.Status != fhirstore.StatusProcessing || e.ClaimedBy != "w2" {
		t.Fatalf("entry after the failed Apply = %s by %s; want still processing by w2", e.Status, e.ClaimedBy)
	}
	// A conflict fails the completion with it.
	_, err = s.Apply(ctx, fhirstore.ChangeSet{
		Writes:     []fhirstore.Write{put("Patient", "p1", 0, Patient("p1", "Dup"))},
		Completion: &fhirstore.Completion{ID: lost[0].ID, Owner: "w2", Status: fhirstore.StatusProcessed},
	})
	if !errors.Is(err, fhirstore.ErrConflict) {
		t.Fatalf("Apply error = %v, want ErrConflict", err)
	}
	if e, _ := s.Get(ctx, lost[0].ID); e.Status != fhirstore.StatusProcessing {
		t.Fatalf("completion of a failed change set recorded: %s", e.Status)
	}
	// A change set may be only a completion.
	mustApply(t, s, fhirstore.ChangeSet{Completion: &fhirstore.Completion{ID: lost[0].ID, Owner: "w2", Status: fhirstore.StatusFiltered}})
	if e, _ := s.Get(ctx, lost[0].ID); e.Status != fhirstore.StatusFiltered {
		t.Fatalf("completion-only change set: status %s", e.Status)
	}
}

func testChangeFeed(t *testing.T, newStore NewStore) {
	ctx := context.Background()
	t0 := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	now, advance := fixedClock(t0)
	s := newStore(t, now)
	mustApply(t, s, fhirstore.ChangeSet{JournalID: 7, Writes: []fhirstore.Write{
		put("Patient", "p1", 0, Patient("p1", "A")), put("Patient", "p2", 0, Patient("p2", "B")),
	}})
	advance(time.Second)
	mustApply(t, s, fhirstore.ChangeSet{Writes: []fhirstore.Write{put("Patient", "p1", 1, Patient("p1", "A2"))}})
	mustApply(t, s, fhirstore.ChangeSet{Writes: []fhirstore.Write{{Type: "Patient", ID: "p2", IfVersion: 1, Delete: true}}})
	all, err := s.Changes(ctx, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"p1 1 create", "p2 1 create", "p1 2 update", "p2 2 delete"}
	if len(all) != len(want) {
		t.Fatalf("Changes = %+v; want %v", all, want)
	}
	for i, c := range all {
		if got := fmt.Sprintf("%s %d %s", c.ID, c.Version, c.Interaction); got != want[i] || c.Type != "Patient" {
			t.Fatalf("change %d = %s, want %s", i, got, want[i])
		}
		if i > 0 && c.Seq <= all[i-1].Seq {
			t.Fatalf("Seq not increasing: %d after %d", c.Seq, all[i-1].Seq)
		}
	}
	if all[0].JournalID != 7 || all[2].JournalID != 0 || !all[0].At.Equal(t0) || !all[2].At.Equal(t0.Add(time.Second)) {
		t.Fatalf("change rows = %+v", all)
	}
	page, _ := s.Changes(ctx, all[0].Seq, 2)
	if len(page) != 2 || page[0].Seq != all[1].Seq || page[1].Seq != all[2].Seq {
		t.Fatalf("Changes(after first, 2) = %+v", page)
	}
	if rest, _ := s.Changes(ctx, all[3].Seq, 10); len(rest) != 0 {
		t.Fatalf("Changes after the last = %+v", rest)
	}
}

func testConcurrentApply(t *testing.T, newStore NewStore) {
	ctx := context.Background()
	s := newStore(t, time.Now)
	const goroutines, each = 16, 10
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				id := fmt.Sprintf("g%d-%d", g, i)
				// Every other change set conflicts, to show that one failing
				// change set does not take the concurrent ones with it.
				writes := []fhirstore.Write{put("Patient", id, 0, Patient(id, "Conc")), put("Patient", id+"-b", 0, Patient(id+"-b", "Conc"))}
				if i%2 == 1 {
					writes = append(writes, put("Patient", fmt.Sprintf("g%d-%d", g, i-1), 0, Patient(fmt.Sprintf("g%d-%d", g, i-1), "X")))
				}
				_, err := s.Apply(ctx, fhirstore.ChangeSet{Writes: writes})
				if i%2 == 1 && !errors.Is(err, fhirstore.ErrConflict) {
					t.Errorf("conflicting Apply %s error = %v", id, err)
				}
				if i%2 == 0 && err != nil {
					t.Errorf("Apply %s: %v", id, err)
				}
			}
		}()
	}
	wg.Wait()
	changes, err := s.Changes(ctx, 0, 10000)
	if err != nil {
		t.Fatal(err)
	}
	if want := goroutines * each; len(changes) != want {
		t.Fatalf("%d changes, want %d", len(changes), want)
	}
	seen := map[string]bool{}
	for i, c := range changes {
		if i > 0 && c.Seq <= changes[i-1].Seq {
			t.Fatalf("Seq not strictly increasing at %d: %d after %d", i, c.Seq, changes[i-1].Seq)
		}
		seen[c.ID] = true
	}
	for g := range goroutines {
		for i := range each {
			id := fmt.Sprintf("g%d-%d", g, i)
			_, err := s.Read(ctx, "Patient", id)
			if i%2 == 0 && (err != nil || !seen[id] || !seen[id+"-b"]) {
				t.Fatalf("%s: Read %v, in feed %v", id, err, seen[id])
			}
			if i%2 == 1 && !errors.Is(err, fhirstore.ErrNotFound) {
				t.Fatalf("%s of a conflicting change set: Read error %v", id, err)
			}
		}
	}
}

// testChecks: a change set's searches are run again where it commits; one
// that finds other resources now fails the change set with ErrConflict and
// writes nothing.
func testChecks(t *testing.T, newStore NewStore) {
	ctx := context.Background()
	s := newStore(t, time.Now)
	byMRN := fhirstore.Query{Type: "Patient", Params: []fhirstore.Param{{Name: "identifier", Values: []string{"urn:mrn|M7"}}}}
	// Computed when no patient had M7: holds while none has.
	mustApply(t, s, fhirstore.ChangeSet{
		Writes: []fhirstore.Write{put("Patient", "p1", 0, []byte(`{"resourceType":"Patient","id":"p1","identifier":[{"system":"urn:mrn","value":"M7"}]}`))},
		Checks: []fhirstore.Check{{Query: byMRN}},
	})
	// Computed from the same empty search, after p1 was written: refused.
	_, err := s.Apply(ctx, fhirstore.ChangeSet{
		Writes: []fhirstore.Write{put("Patient", "p2", 0, []byte(`{"resourceType":"Patient","id":"p2","identifier":[{"system":"urn:mrn","value":"M7"}]}`))},
		Checks: []fhirstore.Check{{Query: byMRN}},
	})
	if !errors.Is(err, fhirstore.ErrConflict) {
		t.Fatalf("Apply with a stale search = %v, want ErrConflict", err)
	}
	if _, err := s.Read(ctx, "Patient", "p2"); !errors.Is(err, fhirstore.ErrNotFound) {
		t.Fatalf("the refused change set wrote p2: %v", err)
	}
	// Computed from the search as it is now: accepted.
	mustApply(t, s, fhirstore.ChangeSet{
		Writes: []fhirstore.Write{put("Patient", "p1", 1, []byte(`{"resourceType":"Patient","id":"p1","active":true,"identifier":[{"system":"urn:mrn","value":"M7"}]}`))},
		Checks: []fhirstore.Check{{Query: byMRN, IDs: []string{"p1"}}},
	})
	// A malformed check is refused before anything runs.
	if _, err := s.Apply(ctx, fhirstore.ChangeSet{Checks: []fhirstore.Check{{Query: fhirstore.Query{Type: "Patient", Params: []fhirstore.Param{{Name: "colour"}}}}}}); !errors.Is(err, fhirstore.ErrBadQuery) {
		t.Fatalf("a malformed check = %v, want ErrBadQuery", err)
	}
}

// testReads: the resources a change set was computed from without writing
// them must still be at the versions it saw (0: absent) where it commits;
// else it fails with ErrConflict and writes nothing.
func testReads(t *testing.T, newStore NewStore) {
	ctx := context.Background()
	s := newStore(t, time.Now)
	enc := func(v int64, body string) fhirstore.Write {
		return put("Encounter", "e1", v, []byte(`{"resourceType":"Encounter","id":"e1","status":"in-progress","class":{"code":"IMP"}`+body+`}`))
	}
	charge := func(id string) fhirstore.Write {
		return put("Basic", id, 0, []byte(`{"resourceType":"Basic","id":"`+id+`","code":{"text":"charge"}}`))
	}
	// Computed when e1 did not exist: holds while it does not.
	mustApply(t, s, fhirstore.ChangeSet{Writes: []fhirstore.Write{charge("c1")}, Reads: []fhirstore.Read{{Type: "Encounter", ID: "e1"}}})
	mustApply(t, s, fhirstore.ChangeSet{Writes: []fhirstore.Write{enc(0, "")}})
	// Computed before e1 was written: refused, nothing written.
	_, err := s.Apply(ctx, fhirstore.ChangeSet{Writes: []fhirstore.Write{charge("c2")}, Reads: []fhirstore.Read{{Type: "Encounter", ID: "e1"}}})
	if !errors.Is(err, fhirstore.ErrConflict) {
		t.Fatalf("Apply from e1 as absent, after it was written = %v, want ErrConflict", err)
	}
	if _, err := s.Read(ctx, "Basic", "c2"); !errors.Is(err, fhirstore.ErrNotFound) {
		t.Fatalf("the refused change set wrote c2: %v", err)
	}
	// Computed from version 1: holds until e1 changes.
	mustApply(t, s, fhirstore.ChangeSet{Writes: []fhirstore.Write{charge("c3")}, Reads: []fhirstore.Read{{Type: "Encounter", ID: "e1", Version: 1}}})
	mustApply(t, s, fhirstore.ChangeSet{Writes: []fhirstore.Write{enc(1, `,"account":[{"reference":"Account/a1"}]`)}})
	_, err = s.Apply(ctx, fhirstore.ChangeSet{Writes: []fhirstore.Write{charge("c4")}, Reads: []fhirstore.Read{{Type: "Encounter", ID: "e1", Version: 1}}})
	if !errors.Is(err, fhirstore.ErrConflict) {
		t.Fatalf("Apply from e1 version 1, after version 2 = %v, want ErrConflict", err)
	}
	if _, err := s.Read(ctx, "Basic", "c4"); !errors.Is(err, fhirstore.ErrNotFound) {
		t.Fatalf("the refused change set wrote c4: %v", err)
	}

	// A mark is set on the version read, if the check holds, without a
	// new version or a change-feed row; Read, VRead, History and Search
	// return it; the next version starts without one.
	before, err := s.Changes(ctx, 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	mustApply(t, s, fhirstore.ChangeSet{Reads: []fhirstore.Read{{Type: "Encounter", ID: "e1", Version: 2, Mark: "m1"}}})
	_, err = s.Apply(ctx, fhirstore.ChangeSet{Reads: []fhirstore.Read{{Type: "Encounter", ID: "e1", Version: 1, Mark: "stale"}}})
	if !errors.Is(err, fhirstore.ErrConflict) {
		t.Fatalf("mark on e1 version 1, after version 2 = %v, want ErrConflict", err)
	}
	r, err := s.Read(ctx, "Encounter", "e1")
	if err != nil || r.Version != 2 || r.Mark != "m1" {
		t.Fatalf("Read after mark = %+v, %v; want version 2 marked m1", r, err)
	}
	if v, err := s.VRead(ctx, "Encounter", "e1", 1); err != nil || v.Mark != "" {
		t.Fatalf("VRead version 1 = %+v, %v; want no mark", v, err)
	}
	if h, err := s.History(ctx, "Encounter", "e1"); err != nil || len(h) != 2 || h[0].Mark != "m1" || h[1].Mark != "" {
		t.Fatalf("History after mark = %v; want 2 versions, the newest marked m1", err)
	}
	found, err := s.Search(ctx, fhirstore.Query{Type: "Encounter", Params: []fhirstore.Param{{Name: "_id", Values: []string{"e1"}}}})
	if err != nil || len(found) != 1 || found[0].Mark != "m1" {
		t.Fatalf("Search after mark = %v, %v; want e1 marked m1", found, err)
	}
	after, err := s.Changes(ctx, 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	if len(after) != len(before) {
		t.Fatalf("a mark wrote %d change-feed rows", len(after)-len(before))
	}
	mustApply(t, s, fhirstore.ChangeSet{Reads: []fhirstore.Read{{Type: "Encounter", ID: "e1", Version: 2, Mark: "m2"}}})
	if r, err := s.Read(ctx, "Encounter", "e1"); err != nil || r.Mark != "m2" {
		t.Fatalf("Read after a second mark = %+v, %v; want m2", r, err)
	}
	mustApply(t, s, fhirstore.ChangeSet{Writes: []fhirstore.Write{enc(2, "")}})
	if r, err := s.Read(ctx, "Encounter", "e1"); err != nil || r.Version != 3 || r.Mark != "" {
		t.Fatalf("Read after a write = %+v, %v; want version 3 without a mark", r, err)
	}
	// A write may set its new version's mark (the record keeps a newer
	// event's mark on a version an older event wrote).
	w := enc(3, `,"priority":{"text":"routine"}`)
	w.Mark = "m3"
	written := mustApply(t, s, fhirstore.ChangeSet{Writes: []fhirstore.Write{w}})
	if len(written) != 1 || written[0].Mark != "m3" {
		t.Fatalf("Apply of a write with a mark returned %+v; want version 4 marked m3", written)
	}
	if r, err := s.Read(ctx, "Encounter", "e1"); err != nil || r.Version != 4 || r.Mark != "m3" {
		t.Fatalf("Read after a write with a mark = %+v, %v; want version 4 marked m3", r, err)
	}
	if h, err := s.History(ctx, "Encounter", "e1"); err != nil || len(h) != 4 || h[0].Mark != "m3" || h[1].Mark != "" {
		t.Fatalf("History after a write with a mark: %v; want the newest version marked m3, the one before without", err)
	}
}
