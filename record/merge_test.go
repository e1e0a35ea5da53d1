package record_test

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/carebridge/carebridge/engine/hl7"
	"github.com/carebridge/carebridge/fhirstore"
	"github.com/carebridge/carebridge/fhirstore/sqlite"
	"github.com/carebridge/carebridge/mappings"
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

// TestMergeOfTwoPairsInOneMessage: an A40 may repeat its patient group
// (PID and MRG, then PID and MRG): each pair is merged, the visits of each
// merged record go to its own survivor, and no record is ever linked to
// itself, also when the first pair was merged before and the message comes
// again.
func TestMergeOfTwoPairsInOneMessage(t *testing.T) {
	c := newChains(t)
	pid := func(mrn, family string, born int) string {
		return fmt.Sprintf("PID|1||%s^^^GENHOSP^MR||%s^Pat||%d0101|F", mrn, family, born)
	}
	c.msg("ADT^A04 P1 202611010900", pid("MP-1", "Ashdown", 1941), "VN PV-1")
	c.msg("ADT^A04 P2 202611010910", pid("MP-2", "Brightwater", 1952), "VN PV-2")
	c.msg("ADT^A04 P3 202611010920", pid("MP-3", "Calloway", 1963), "VN PV-3")
	c.msg("ADT^A04 P4 202611010930", pid("MP-4", "Dunmore", 1974), "VN PV-4")
	// The first pair is merged on its own first, as a feed may do.
	c.msg("ADT^A40 M1 202611020900", pid("MP-1", "Ashdown", 1941), "MRG|MP-2^^^GENHOSP^MR")
	for _, ctl := range []string{"M2", "M2-again"} {
		c.msg("ADT^A40 "+ctl+" 202611030900", pid("MP-1", "Ashdown", 1941), "MRG|MP-2^^^GENHOSP^MR",
			strings.Replace(pid("MP-3", "Calloway", 1963), "PID|1|", "PID|2|", 1), "MRG|MP-4^^^GENHOSP^MR")
		c.wantVisits("MP-1", "PV-1", "PV-2")
		c.wantVisits("MP-3", "PV-3", "PV-4")
		for _, p := range c.all("Patient") {
			for _, l := range asList(p["link"]) {
				other := l.(map[string]any)["other"].(map[string]any)["reference"]
				if other == "Patient/"+p["id"].(string) {
					t.Errorf("%s: Patient/%s is linked to itself: %v", ctl, p["id"], p["link"])
				}
			}
		}
		for mrn, survivor := range map[string]string{"MP-2": "MP-1", "MP-4": "MP-3"} {
			if got := replacedBy(c, mrn); got != "Patient/"+c.id(survivor) {
				t.Errorf("%s: %s replaced by %q, want %s's record", ctl, mrn, got, survivor)
			}
		}
	}
}

// replacedBy is the record the patient whose own identifier is mrn was
// merged into ("" when none).
func replacedBy(c *chains, mrn string) string {
	for _, p := range c.all("Patient") {
		if !slices.ContainsFunc(asList(p["identifier"]), func(x any) bool { return x.(map[string]any)["value"] == mrn }) {
			continue
		}
		for _, l := range asList(p["link"]) {
			if x := l.(map[string]any); x["type"] == "replaced-by" {
				return x["other"].(map[string]any)["reference"].(string)
			}
		}
	}
	return ""
}

// TestCancelOfTheVisitsFirstMessage: an interface that goes live during a
// stay may first hear of a visit from a transfer (A02); its cancel (A12)
// has nothing before the transfer to go back to, so it is applied as an
// update, and the visit keeps its class and status (undone, they would go:
// an Encounter FHIR refuses).
func TestCancelOfTheVisitsFirstMessage(t *testing.T) {
	c := newChains(t)
	pid := "PID|1||MT-1^^^GENHOSP^MR||Transferred^Tess||19660606|F"
	c.msg("ADT^A02 T1 202611100900", pid, "PV1|1|I|WARD7^12^A^GENHOSP|||WARD2^3^B^GENHOSP|||||||||||||VN-T1^^^GENHOSP^VN")
	out := c.msg("ADT^A12 C1 202611100930", pid, "PV1|1|I|WARD2^3^B^GENHOSP|||WARD7^12^A^GENHOSP|||||||||||||VN-T1^^^GENHOSP^VN")
	encs := c.all("Encounter")
	if len(encs) != 1 {
		t.Fatalf("%d encounters", len(encs))
	}
	if encs[0]["status"] != "in-progress" || encs[0]["class"] == nil {
		t.Errorf("after the cancel: status %v, class %v", encs[0]["status"], encs[0]["class"])
	}
	if !slices.ContainsFunc(out.Notes, func(n record.Note) bool {
		return n.Kind == "cancel" && strings.Contains(n.Message, "was the first message of")
	}) {
		t.Errorf("no note of the cancel applied as an update: %v", out.Notes)
	}
	// Again: the cancel is already applied.
	if out := c.msg("ADT^A12 C2 202611100930", pid, "PV1|1|I|WARD2^3^B^GENHOSP|||WARD7^12^A^GENHOSP|||||||||||||VN-T1^^^GENHOSP^VN"); len(out.Written) != 0 {
		t.Errorf("the cancel again wrote %d resources", len(out.Written))
	}
}

// TestSameTimeEventsProcessedAgain: two messages about one patient with the
// same event time (to the second) — the later received wins, and
// processing them again in order (messages reprocess) writes nothing: the
// first, received before the one that last changed the patient, is as
// good as older.
func TestSameTimeEventsProcessedAgain(t *testing.T) {
	c := newChains(t)
	type sent struct {
		m  *hl7.Message
		id int64
	}
	var msgs []sent
	for _, tc := range []struct{ ctl, pid string }{
		{"S1", "PID|1||ST-1^^^GENHOSP^MR||Maidenname^Eve||19700101|F"},
		{"S2", "PID|1||ST-1^^^GENHOSP^MR||Doe^Jane||19700101|F"},
	} {
		m, raw := inlineMessage(t, "ADT^A08^ADT_A01", tc.ctl, "20261110090000+0000", tc.pid)
		e := &fhirstore.Entry{Listener: "test", ControlID: tc.ctl, MessageType: "ADT^A08", Status: fhirstore.StatusProcessing, ClaimedBy: "test", Raw: raw}
		if _, err := c.st.Append(c.ctx, e); err != nil {
			t.Fatal(err)
		}
		msgs = append(msgs, sent{m, e.ID})
	}
	apply := func(s sent) *record.Outcome {
		res, err := c.set.Map(s.m, mappings.Options{Sender: "genhosp-adt"})
		if err != nil {
			t.Fatal(err)
		}
		out, err := c.rec.Apply(c.ctx, record.FromMapping(s.m, res, s.id), nil)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	for _, s := range msgs {
		apply(s)
	}
	family := func() any { return asList(c.all("Patient")[0]["name"])[0].(map[string]any)["family"] }
	if got := family(); got != "Doe" {
		t.Fatalf("family after both = %v, want the later received one's", got)
	}
	for round := range 2 {
		for i, s := range msgs {
			if out := apply(s); len(out.Written) != 0 {
				t.Errorf("round %d: message %d again wrote %d resources (notes %v)", round, i+1, len(out.Written), out.Notes)
			}
		}
	}
	if got := family(); got != "Doe" {
		t.Errorf("family after processing again = %v", got)
	}
}
