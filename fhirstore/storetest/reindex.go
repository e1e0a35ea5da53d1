package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/carebridge/carebridge/fhirstore"
)

// Forget makes a store's search index look as an older Carebridge, whose
// definitions lacked something, left it: the rows of parameter param of
// resource type typ are gone (only those for value, when value is not
// empty: a string's normalized text, a reference's "Type/id", a token's
// code), and the store records other definitions than the current ones.
// The store s is one NewStore returned.
type Forget func(t *testing.T, s fhirstore.Store, typ, param, value string)

// RunReindex runs the conformance suite of fhirstore.Reindexer, which
// every store newStore returns must implement.
func RunReindex(t *testing.T, newStore NewStore, forget Forget) {
	t.Run("NewStoreIsCurrent", func(t *testing.T) { testNewStoreIsCurrent(t, newStore) })
	t.Run("RebuildFindsWhatOlderDefinitionsMissed", func(t *testing.T) { testRebuildFinds(t, newStore, forget) })
	t.Run("InterruptedRebuildContinues", func(t *testing.T) { testRebuildContinues(t, newStore, forget) })
	t.Run("RebuildWhileWriting", func(t *testing.T) { testRebuildWhileWriting(t, newStore, forget) })
}

func reindexer(t *testing.T, s fhirstore.Store) fhirstore.Reindexer {
	t.Helper()
	r, ok := s.(fhirstore.Reindexer)
	if !ok {
		t.Fatalf("%T is not a fhirstore.Reindexer", s)
	}
	return r
}

func indexStatus(t *testing.T, r fhirstore.Reindexer) fhirstore.IndexStatus {
	t.Helper()
	st, err := r.IndexStatus(context.Background())
	if err != nil {
		t.Fatalf("IndexStatus: %v", err)
	}
	return st
}

// reindexFixtures are written by the rebuild tests: a Patient whose name is
// written in Chinese (found whole, 张伟, only since the CJK whole name is
// indexed) and a payment for a visit (found by encounter only since
// PaymentReconciliation has that parameter), with the visit, and a
// resource deleted since.
var reindexFixtures = []struct{ typ, id, body string }{
	{"Patient", "zhang", `{"resourceType":"Patient","id":"zhang","name":[{"family":"张","given":["伟"]}],"birthDate":"1975-03-01"}`},
	{"Patient", "other", `{"resourceType":"Patient","id":"other","name":[{"family":"Testperson","given":["Bob"]}]}`},
	{"Encounter", "e1", `{"resourceType":"Encounter","id":"e1","status":"in-progress",
		"class":{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"IMP"},"subject":{"reference":"Patient/zhang"}}`},
	{"PaymentReconciliation", "pay1", `{"resourceType":"PaymentReconciliation","id":"pay1","status":"active",
		"created":"2026-03-06","paymentDate":"2026-03-06","paymentAmount":{"value":20,"currency":"USD"},
		"extension":[{"url":"https://carebridge.dev/fhir/StructureDefinition/visit","valueReference":{"reference":"Encounter/e1"}}]}`},
	{"Patient", "gone", `{"resourceType":"Patient","id":"gone","name":[{"family":"王","given":["芳"]}]}`},
}

// writeReindexFixtures writes the fixtures (and deletes "gone").
func writeReindexFixtures(t *testing.T, s fhirstore.Store) {
	t.Helper()
	var cs fhirstore.ChangeSet
	for _, f := range reindexFixtures {
		cs.Writes = append(cs.Writes, put(f.typ, f.id, 0, []byte(f.body)))
	}
	mustApply(t, s, cs)
	mustApply(t, s, fhirstore.ChangeSet{Writes: []fhirstore.Write{{Type: "Patient", ID: "gone", IfVersion: 1, Delete: true}}})
}

// lastSeq is the change feed's last sequence number.
func lastSeq(t *testing.T, s fhirstore.Store) int64 {
	t.Helper()
	var last int64
	for {
		cs, err := s.Changes(context.Background(), last, 1000)
		if err != nil {
			t.Fatal(err)
		}
		if len(cs) == 0 {
			return last
		}
		last = cs[len(cs)-1].Seq
	}
}

// checkNoChange fails when the change feed moved past seq or a fixture got
// another version: a rebuild changes no resource.
func checkNoChange(t *testing.T, s fhirstore.Store, seq int64) {
	t.Helper()
	if cs, err := s.Changes(context.Background(), seq, 10); err != nil || len(cs) > 0 {
		t.Fatalf("the rebuild added change-feed entries: %+v (%v)", cs, err)
	}
	for _, f := range reindexFixtures {
		h, err := s.History(context.Background(), f.typ, f.id)
		want := 1
		if f.id == "gone" {
			want = 2
		}
		if err != nil || len(h) != want {
			t.Fatalf("%s/%s has %d versions (%v), want %d", f.typ, f.id, len(h), err, want)
		}
	}
}

func testNewStoreIsCurrent(t *testing.T, newStore NewStore) {
	s := newStore(t, time.Now)
	r := reindexer(t, s)
	if st := indexStatus(t, r); !st.Current || st.Rebuilding || st.Remaining != 0 {
		t.Fatalf("a new store: %+v, want current", st)
	}
	writeReindexFixtures(t, s)
	if st := indexStatus(t, r); !st.Current {
		t.Fatalf("a store written by this version: %+v, want current", st)
	}
	res, err := r.Reindex(context.Background(), fhirstore.ReindexOptions{})
	if err != nil || !res.UpToDate || res.Resources != 0 || res.Added+res.Removed != 0 {
		t.Fatalf("Reindex of a current store = %+v, %v; want up to date, nothing done", res, err)
	}
}

func testRebuildFinds(t *testing.T, newStore NewStore, forget Forget) {
	ctx := context.Background()
	s := newStore(t, time.Now)
	r := reindexer(t, s)
	writeReindexFixtures(t, s)
	findsZhang := func() bool { return slices.Equal(search(t, s, "Patient", "name", "", "张伟"), []string{"zhang"}) }
	findsPay := func() bool {
		return slices.Equal(search(t, s, "PaymentReconciliation", "encounter", "", "Encounter/e1"), []string{"pay1"})
	}
	if !findsZhang() || !findsPay() {
		t.Fatal("a store written by this version does not find the fixtures")
	}
	// As a version before the CJK whole name and the payment's encounter
	// left the store.
	forget(t, s, "Patient", "name", fhirstore.NormalizeString("张伟"))
	forget(t, s, "PaymentReconciliation", "encounter", "")
	if findsZhang() || findsPay() {
		t.Fatal("Forget left rows that search finds")
	}
	st := indexStatus(t, r)
	if st.Current || st.Rebuilding || st.Remaining < int64(len(reindexFixtures)-1) {
		t.Fatalf("a store built by other definitions: %+v; want not current, no rebuild begun, every resource remaining", st)
	}
	seq := lastSeq(t, s)

	var progress []fhirstore.ReindexResult
	res, err := r.Reindex(ctx, fhirstore.ReindexOptions{BatchSize: 2, Progress: func(p fhirstore.ReindexResult) { progress = append(progress, p) }})
	if err != nil {
		t.Fatalf("Reindex: %v", err)
	}
	if res.UpToDate || res.Resources != res.Total || res.Total != st.Remaining || res.Added < 2 || res.Removed != 0 || res.Unindexable != 0 {
		t.Fatalf("Reindex = %+v; want every one of %d resources, the two forgotten rows (at least) added, none removed", res, st.Remaining)
	}
	if len(progress) < 2 || progress[len(progress)-1].Resources != res.Resources || progress[0].Resources > 2 {
		t.Fatalf("progress after each batch of 2: %+v", progress)
	}
	if !findsZhang() || !findsPay() {
		t.Fatal("after the rebuild, search still misses the CJK whole name or the payment by encounter")
	}
	if st := indexStatus(t, r); !st.Current || st.Rebuilding || st.Remaining != 0 {
		t.Fatalf("after the rebuild: %+v, want current", st)
	}
	if got := search(t, s, "Patient", "name", "", "王"); len(got) != 0 {
		t.Fatalf("the rebuild indexed a deleted patient: %v", got)
	}
	checkNoChange(t, s, seq)

	// Rows already right are not written again, also when forced.
	again, err := r.Reindex(ctx, fhirstore.ReindexOptions{All: true})
	if err != nil || again.UpToDate || again.Resources != res.Total || again.Added != 0 || again.Removed != 0 {
		t.Fatalf("Reindex All of a rebuilt store = %+v, %v; want every resource walked, no row written", again, err)
	}
	checkNoChange(t, s, seq)
	if st := indexStatus(t, r); !st.Current {
		t.Fatalf("after Reindex All: %+v, want current", st)
	}
}

func testRebuildContinues(t *testing.T, newStore NewStore, forget Forget) {
	s := newStore(t, time.Now)
	r := reindexer(t, s)
	writeReindexFixtures(t, s)
	forget(t, s, "Patient", "name", fhirstore.NormalizeString("张伟"))
	forget(t, s, "PaymentReconciliation", "encounter", "")
	total := indexStatus(t, r).Remaining
	seq := lastSeq(t, s)

	// Stopped after the first batch, as a killed process would be.
	ctx, cancel := context.WithCancel(context.Background())
	first, err := r.Reindex(ctx, fhirstore.ReindexOptions{BatchSize: 2, Progress: func(fhirstore.ReindexResult) { cancel() }})
	if !errors.Is(err, context.Canceled) || first.Resources != 2 {
		t.Fatalf("interrupted Reindex = %+v, %v; want 2 resources done and context.Canceled", first, err)
	}
	st := indexStatus(t, r)
	if st.Current || !st.Rebuilding || st.Remaining != total-2 {
		t.Fatalf("after an interrupted rebuild: %+v; want not current, rebuilding, %d remaining", st, total-2)
	}
	rest, err := r.Reindex(context.Background(), fhirstore.ReindexOptions{BatchSize: 2})
	if err != nil || rest.Total != total-2 || rest.Resources != total-2 {
		t.Fatalf("continued Reindex = %+v, %v; want the %d resources left", rest, err, total-2)
	}
	if first.Added+rest.Added < 2 || first.Removed+rest.Removed != 0 {
		t.Fatalf("rows added %d+%d, removed %d+%d; want the forgotten ones back, none removed", first.Added, rest.Added, first.Removed, rest.Removed)
	}
	if st := indexStatus(t, r); !st.Current {
		t.Fatalf("after the continued rebuild: %+v, want current", st)
	}
	if got := search(t, s, "Patient", "name", "", "张伟"); !slices.Equal(got, []string{"zhang"}) {
		t.Fatalf("name=张伟 after the rebuild: %v", got)
	}
	checkNoChange(t, s, seq)
}

// testRebuildWhileWriting rebuilds in small batches while patients are
// renamed: afterwards every patient is found by its new name and by no
// other (a rebuild never brings back the rows of an older version).
func testRebuildWhileWriting(t *testing.T, newStore NewStore, forget Forget) {
	ctx := context.Background()
	s := newStore(t, time.Now)
	r := reindexer(t, s)
	const n = 60
	var cs fhirstore.ChangeSet
	for i := range n {
		cs.Writes = append(cs.Writes, put("Patient", fmt.Sprintf("w%d", i), 0, Patient(fmt.Sprintf("w%d", i), fmt.Sprintf("Before%d", i))))
	}
	mustApply(t, s, cs)
	forget(t, s, "Patient", "given", "") // nothing to forget: only the stamp changes

	var wg sync.WaitGroup
	wg.Go(func() {
		for i := range n {
			id := fmt.Sprintf("w%d", i)
			if _, err := s.Apply(ctx, fhirstore.ChangeSet{Writes: []fhirstore.Write{put("Patient", id, 1, Patient(id, fmt.Sprintf("After%d", i)))}}); err != nil {
				t.Errorf("rename %s: %v", id, err)
			}
		}
	})
	res, err := r.Reindex(ctx, fhirstore.ReindexOptions{BatchSize: 3})
	wg.Wait()
	if err != nil || res.Removed != 0 {
		t.Fatalf("Reindex while writing = %+v, %v; want no error, no row removed (the rows were right)", res, err)
	}
	for i := range n {
		id := fmt.Sprintf("w%d", i)
		if got := search(t, s, "Patient", "family", "exact", fmt.Sprintf("After%d", i)); !slices.Equal(got, []string{id}) {
			t.Errorf("family After%d finds %v, want [%s]", i, got, id)
		}
		if got := search(t, s, "Patient", "family", "exact", fmt.Sprintf("Before%d", i)); len(got) != 0 {
			t.Errorf("family Before%d still finds %v", i, got)
		}
	}
	if st := indexStatus(t, r); !st.Current {
		t.Fatalf("after the rebuild: %+v, want current", st)
	}
}
