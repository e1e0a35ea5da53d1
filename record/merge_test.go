package record_test

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/carebridge/carebridge/fhirstore"
	"github.com/carebridge/carebridge/fhirstore/sqlite"
	"github.com/carebridge/carebridge/record"
)

// TestMergeMovesMoreThanAPage: a merged record with more encounters than a
// search page returns (a long-term patient) has every one moved, and the
// unmerge moves every one back.
func TestMergeMovesMoreThanAPage(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "m.db"), sqlite.Options{Durability: sqlite.DurabilityOff})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	n := fhirstore.MaxCount + 5
	writes := []fhirstore.Write{
		{Type: "Patient", ID: "keep", Body: []byte(`{"resourceType":"Patient","id":"keep","name":[{"family":"Keep"}]}`)},
		{Type: "Patient", ID: "dup", Body: []byte(`{"resourceType":"Patient","id":"dup","name":[{"family":"Dup"}]}`)},
	}
	for i := range n {
		id := fmt.Sprintf("e%05d", i)
		writes = append(writes, fhirstore.Write{Type: "Encounter", ID: id, Body: fmt.Appendf(nil,
			`{"resourceType":"Encounter","id":%q,"status":"finished","class":{"code":"AMB"},"subject":{"reference":"Patient/dup"}}`, id)})
	}
	if _, err := st.Apply(ctx, fhirstore.ChangeSet{Writes: writes}); err != nil {
		t.Fatal(err)
	}
	rec, err := record.New(st, record.Options{})
	if err != nil {
		t.Fatal(err)
	}
	count := func(patient string) int {
		total := 0
		for after := ""; ; {
			rs, err := st.Search(ctx, fhirstore.Query{Type: "Encounter", Params: []fhirstore.Param{{Name: "patient", Values: []string{"Patient/" + patient}}}, Count: fhirstore.MaxCount, Sort: "_id", After: after})
			if err != nil {
				t.Fatal(err)
			}
			if len(rs) == 0 {
				return total
			}
			total += len(rs)
			after = rs[len(rs)-1].ID
		}
	}
	if _, err := rec.Merge(ctx, "keep", "dup"); err != nil {
		t.Fatal(err)
	}
	if got, left := count("keep"), count("dup"); got != n || left != 0 {
		t.Fatalf("after the merge: %d encounters on the survivor, %d left on the merged record; want %d and 0", got, left, n)
	}
	if _, err := rec.Unmerge(ctx, "dup"); err != nil {
		t.Fatal(err)
	}
	if got, left := count("dup"), count("keep"); got != n || left != 0 {
		t.Fatalf("after the unmerge: %d encounters back, %d left on the survivor; want %d and 0", got, left, n)
	}
}

// TestUnmergeAfterAChainedMerge: A merged into B, B merged into C; undoing
// A's merge brings A's visit back from C, where the second merge took it.
func TestUnmergeAfterAChainedMerge(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "m.db"), sqlite.Options{Durability: sqlite.DurabilityOff})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var writes []fhirstore.Write
	for _, id := range []string{"a", "b", "c"} {
		writes = append(writes,
			fhirstore.Write{Type: "Patient", ID: id, Body: fmt.Appendf(nil, `{"resourceType":"Patient","id":%q}`, id)},
			fhirstore.Write{Type: "Encounter", ID: "e" + id, Body: fmt.Appendf(nil, `{"resourceType":"Encounter","id":"e%s","status":"finished","class":{"code":"AMB"},"subject":{"reference":"Patient/%s"}}`, id, id)})
	}
	if _, err := st.Apply(ctx, fhirstore.ChangeSet{Writes: writes}); err != nil {
		t.Fatal(err)
	}
	rec, err := record.New(st, record.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rec.Merge(ctx, "b", "a"); err != nil {
		t.Fatal(err)
	}
	if _, err := rec.Merge(ctx, "c", "b"); err != nil {
		t.Fatal(err)
	}
	if _, err := rec.Unmerge(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	subject := func(enc string) string {
		r, err := st.Read(ctx, "Encounter", enc)
		if err != nil {
			t.Fatal(err)
		}
		var e struct {
			Subject struct{ Reference string } `json:"subject"`
		}
		if err := json.Unmarshal(r.Body, &e); err != nil {
			t.Fatal(err)
		}
		return e.Subject.Reference
	}
	if got := subject("ea"); got != "Patient/a" {
		t.Errorf("A's visit is on %s after the unmerge, want Patient/a", got)
	}
	if got := subject("eb"); got != "Patient/c" {
		t.Errorf("B's visit is on %s, want Patient/c (B stays merged into C)", got)
	}
}
