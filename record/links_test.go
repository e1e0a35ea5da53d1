package record_test

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/carebridge/carebridge/engine/hl7"
	"github.com/carebridge/carebridge/fhirstore"
	"github.com/carebridge/carebridge/fhirstore/sqlite"
	"github.com/carebridge/carebridge/mappings"
	"github.com/carebridge/carebridge/record"
)

// chains applies messages written inline to a fresh record, for the cases
// of merges and links of merges and links.
type chains struct {
	t   *testing.T
	ctx context.Context
	st  *sqlite.Store
	rec *record.Recorder
	set *mappings.Set
}

func newChains(t *testing.T) *chains {
	st, rec := openRecord(t)
	set, err := mappings.Load(mappings.Shipped())
	if err != nil {
		t.Fatal(err)
	}
	return &chains{t, context.Background(), st, rec, set}
}

// openRecord opens a record on a fresh SQLite file, closed at the end of
// the test.
func openRecord(t *testing.T) (*sqlite.Store, *record.Recorder) {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "r.db"), sqlite.Options{Durability: sqlite.DurabilityOff})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	rec, err := record.New(objectsChecked{st, t}, record.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return st, rec
}

// msg applies one message: "TYPE CONTROL YYYYMMDDHHMM" then its PID (and
// MRG) segments; a visit number adds a PV1. It returns what the record did.
func (c *chains) msg(head string, segs ...string) *record.Outcome {
	c.t.Helper()
	f := strings.Fields(head) // type, control id, time
	m, raw := inlineMessage(c.t, f[0], f[1], f[2]+"00+0000", segs...)
	res, err := c.set.Map(m, mappings.Options{Sender: "genhosp-adt"})
	if err != nil {
		c.t.Fatal(err)
	}
	e := &fhirstore.Entry{Listener: "test", ControlID: f[1], MessageType: f[0], Status: fhirstore.StatusProcessing, ClaimedBy: "test", Raw: raw}
	if _, err := c.st.Append(c.ctx, e); err != nil {
		c.t.Fatal(err)
	}
	out, err := c.rec.Apply(c.ctx, record.FromMapping(m, res, e.ID), nil)
	if err != nil {
		c.t.Fatalf("%s: %v", f[1], err)
	}
	return out
}

// inlineMessage builds and parses a message of type typ ("ADT^A04") at
// time ts from its segments after MSH and EVN; "VN number" stands for a
// PV1 with that visit number.
func inlineMessage(t *testing.T, typ, ctl, ts string, segs ...string) (*hl7.Message, []byte) {
	t.Helper()
	event := strings.Split(typ, "^")[1]
	all := []string{"MSH|^~\\&|ADTSYS|GENHOSP|CAREBRIDGE|CB|" + ts + "||" + typ + "|" + ctl + "|P|2.5.1", "EVN|" + event + "|" + ts}
	for _, s := range segs {
		if strings.HasPrefix(s, "VN ") {
			s = "PV1|1|O|OPD^CR1^^NORTHCLINIC||||||||||||||||" + s[3:] + "^^^NORTHCLINIC^VN|||||||||||||||||||||||||" + ts
		}
		all = append(all, s)
	}
	raw := []byte(strings.Join(all, "\r"))
	m, err := hl7.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return m, raw
}

func (c *chains) all(typ string) []map[string]any {
	found, err := c.st.Search(c.ctx, fhirstore.Query{Type: typ, Count: 1000, Sort: "_id"})
	if err != nil {
		c.t.Fatal(err)
	}
	var out []map[string]any
	for _, f := range found {
		var m map[string]any
		if err := json.Unmarshal(f.Body, &m); err != nil {
			c.t.Fatal(err)
		}
		out = append(out, m)
	}
	return out
}

// id is the patient whose own identifier is mrn.
func (c *chains) id(mrn string) string {
	c.t.Helper()
	for _, p := range c.all("Patient") {
		for _, x := range asList(p["identifier"]) {
			if x.(map[string]any)["value"] == mrn {
				return p["id"].(string)
			}
		}
	}
	c.t.Fatalf("no patient %s", mrn)
	return ""
}

// wantVisits fails unless each visit is on the patient whose MRN is mrn.
func (c *chains) wantVisits(mrn string, visits ...string) {
	c.t.Helper()
	want := "Patient/" + c.id(mrn)
	for _, vn := range visits {
		found := false
		for _, e := range c.all("Encounter") {
			if asList(e["identifier"])[0].(map[string]any)["value"] == vn {
				found = true
				if got := e["subject"].(map[string]any)["reference"]; got != want {
					c.t.Errorf("visit %s is on %v, want %s (%s)", vn, got, want, mrn)
				}
			}
		}
		if !found {
			c.t.Errorf("no visit %s", vn)
		}
	}
}

const (
	pidH = "PID|1||H-1^^^GENHOSP^MR~111 111 1111^^^UKNHS^NH||Alpha^Ann||19700101|F"
	pidK = "PID|1||CL-K^^^NORTHCLINIC^MR~111 111 1111^^^UKNHS^NH||Alpha^Ann||19700101|F"
	pidF = "PID|1||H-F^^^GENHOSP^MR||Gamma^Gail||19600303|F"
)

// K is linked to H, the hospital merges H into F, K's next visit goes to
// F; then the hospital undoes its merge: K's visits follow K's link to H,
// they do not stay with F, another person.
func TestUnmergingTheSurvivorBringsBackWhatIsLinkedToIt(t *testing.T) {
	c := newChains(t)
	c.msg("ADT^A04 H1 202611010900", pidH, "VN HV-1")
	c.msg("ADT^A04 K1 202611020900", pidK, "VN KV-1")
	c.msg("ADT^A04 F1 202611030900", pidF, "VN FV-1")
	c.msg("ADT^A40 M1 202611040900", pidF, "MRG|H-1^^^GENHOSP^MR")
	c.msg("ADT^A04 K2 202611050900", "PID|1||CL-K^^^NORTHCLINIC^MR||Alpha^Ann||19700101|F", "VN KV-2")
	c.wantVisits("H-F", "HV-1", "KV-1", "KV-2", "FV-1")
	c.msg("ADT^A37 U1 202611060900", pidF, "PV1|1|N", strings.Replace(pidH, "PID|1|", "PID|2|", 1), "PV1|1|N")
	c.wantVisits("H-1", "HV-1", "KV-1", "KV-2")
	c.wantVisits("H-F", "FV-1")
}

// Plain merges: X merged into H, X's later visit on H; H merged into F, X's
// next visit on F; H unmerged from F: all of X's visits follow X to H.
func TestUnmergingTheSurvivorBringsBackWhatWasMergedIntoIt(t *testing.T) {
	c := newChains(t)
	pidX := "PID|1||H-X^^^GENHOSP^MR||Delta^Dee||19500505|F"
	c.msg("ADT^A04 H1 202611010900", pidH, "VN HV-1")
	c.msg("ADT^A04 X1 202611011000", pidX, "VN XV-1")
	c.msg("ADT^A40 M0 202611020900", pidH, "MRG|H-X^^^GENHOSP^MR")
	c.msg("ADT^A04 X2 202611021000", pidX, "VN XV-2")
	c.msg("ADT^A04 F1 202611030900", pidF, "VN FV-1")
	c.msg("ADT^A40 M1 202611040900", pidF, "MRG|H-1^^^GENHOSP^MR")
	c.msg("ADT^A04 X3 202611051000", pidX, "VN XV-3")
	c.msg("ADT^A37 U1 202611060900", pidF, "PV1|1|N", strings.Replace(pidH, "PID|1|", "PID|2|", 1), "PV1|1|N")
	c.wantVisits("H-1", "HV-1", "XV-1", "XV-2", "XV-3")
	c.wantVisits("H-F", "FV-1")
}

// The lab's record L is linked to the clinic's X; the clinic merges X into
// its K, which is linked to the hospital's H. L's visits keep saying whose
// they are: unlinking L brings them back from H.
func TestMergeIntoALinkedRecordKeepsWhoseResourcesTheyAre(t *testing.T) {
	c := newChains(t)
	pidX := "PID|1||CL-X^^^NORTHCLINIC^MR~222 222 2222^^^UKNHS^NH||Beta^Bob||19800202|M"
	c.msg("ADT^A04 H1 202611010900", pidH, "VN HV-1")
	c.msg("ADT^A04 X1 202611020900", pidX, "VN XV-1")
	c.msg("ADT^A04 L1 202611030900", "PID|1||LAB-L^^^LABSYS^MR~222 222 2222^^^UKNHS^NH||Beta^Bob||19800202|M", "VN LV-1")
	c.msg("ADT^A04 L2 202611040900", "PID|1||LAB-L^^^LABSYS^MR||Beta^Bob||19800202|M", "VN LV-2")
	c.msg("ADT^A04 K1 202611050900", pidK, "VN KV-1")
	c.msg("ADT^A40 M1 202611060900", "PID|1||CL-K^^^NORTHCLINIC^MR||Alpha^Ann||19700101|F", "MRG|CL-X^^^NORTHCLINIC^MR")
	c.wantVisits("H-1", "HV-1", "KV-1", "XV-1", "LV-1", "LV-2")
	c.msg("ADT^A37 U1 202611070900", "PID|1||LAB-L^^^LABSYS^MR||Beta^Bob||19800202|M", "PV1|1|N")
	c.wantVisits("LAB-L", "LV-1", "LV-2")
	c.wantVisits("H-1", "HV-1", "KV-1", "XV-1")
}

// A merge that would close a loop of merges and links is refused; a
// person confirming the engine's link by merging the linked record into the
// one it was found to be is not a loop.
func TestMergesThatWouldLoopAreRefused(t *testing.T) {
	c := newChains(t)
	c.msg("ADT^A04 H1 202611010900", pidH, "VN HV-1")
	c.msg("ADT^A04 K1 202611020900", pidK, "VN KV-1")
	c.msg("ADT^A04 F1 202611030900", pidF, "VN FV-1")
	c.msg("ADT^A40 M1 202611040900", pidF, "MRG|H-1^^^GENHOSP^MR")
	h, k, f := c.id("H-1"), c.id("CL-K"), c.id("H-F")
	for _, m := range [][2]string{{k, f}, {k, h}, {h, f}} {
		if _, err := c.rec.Merge(c.ctx, m[0], m[1]); !errors.Is(err, record.ErrCircularMerge) {
			t.Errorf("Merge(%s, %s) = %v, want a circular merge refused", m[0], m[1], err)
		}
	}
	if _, err := c.rec.Merge(c.ctx, f, k); err != nil {
		t.Fatalf("merging the linked record into where its link leads: %v", err)
	}
	c.msg("ADT^A08 H2 202611080900", pidH)
	c.wantVisits("H-F", "HV-1", "KV-1", "FV-1")
	for _, p := range c.all("Patient") {
		if p["id"] == k && !strings.Contains(asString(p["link"]), "replaced-by") {
			t.Errorf("K after the merge: %v", p["link"])
		}
	}
}

func asString(v any) string { b, _ := json.Marshal(v); return string(b) }

// N (a lab's record) is linked to H only because it scores on the data of
// K, a clinic's record linked to H. When K is unlinked, N's link no longer
// stands on its own: a review is opened, and rejecting it unlinks N.
func TestUnlinkingPutsLinksThatRestedOnItToAPerson(t *testing.T) {
	c := newChains(t)
	c.msg("ADT^A04 H1 202611010900", pidH, "VN HV-1")
	c.msg("ADT^A04 K1 202611020900", pidK+"|||||01632 960555^PRN^PH", "VN KV-1")
	c.msg("ADT^A04 N1 202611030900", "PID|1||LAB-N^^^LABSYS^MR||Alpha^Ann||19700101|F|||||01632 960555^PRN^PH", "VN NV-1")
	c.wantVisits("H-1", "HV-1", "KV-1", "NV-1")
	if rs, err := c.rec.Reviews(c.ctx, "requested"); err != nil || len(rs) != 0 {
		t.Fatalf("reviews before the unlink: %v %v", rs, err)
	}
	c.msg("ADT^A37 U1 202611070900", "PID|1||CL-K^^^NORTHCLINIC^MR||Alpha^Ann||19700101|F", "PV1|1|N")
	rs, err := c.rec.Reviews(c.ctx, "requested")
	if err != nil || len(rs) != 1 || rs[0].Patient != c.id("LAB-N") || rs[0].Candidate != c.id("H-1") {
		t.Fatalf("reviews after unlinking K: %+v %v, want one asking whether N is H", rs, err)
	}
	if _, err := c.rec.Reject(c.ctx, rs[0].TaskID); err != nil {
		t.Fatal(err)
	}
	c.wantVisits("LAB-N", "NV-1")
	c.wantVisits("CL-K", "KV-1")
	c.wantVisits("H-1", "HV-1")
}

const (
	pidR = "PID|1||H-R^^^GENHOSP^MR||Rho^Rita||19410101|F"
	pidM = "PID|1||H-M^^^GENHOSP^MR||Mu^Max||19520202|M"
	pidS = "PID|1||H-S^^^GENHOSP^MR||Sigma^Sam||19630303|M"
)

// What a merge's Provenance lists comes back on unmerge only if it still
// belongs to a record that unmerge undoes.
func TestUnmergeLeavesWhatSinceBelongsElsewhere(t *testing.T) {
	c := newChains(t)
	c.msg("ADT^A04 R1 202611010900", pidR, "VN RV-1")
	c.msg("ADT^A04 M1 202611010901", pidM, "VN MV-1")
	c.msg("ADT^A04 S1 202611010902", pidS, "VN SV-1")
	r, m, s := c.id("H-R"), c.id("H-M"), c.id("H-S")
	must := func(_ *record.Outcome, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(c.rec.Merge(c.ctx, m, r)) // R into M
	must(c.rec.Merge(c.ctx, s, m)) // M into S: Provenance lists RV-1
	must(c.rec.Unmerge(c.ctx, r))  // R out of (M->S): RV-1 back on R
	must(c.rec.Merge(c.ctx, s, r)) // R into S: RV-1 on S, tagged R
	must(c.rec.Unmerge(c.ctx, m))  // M out of S: RV-1 belongs to R, final S
	c.wantVisits("H-S", "RV-1", "SV-1")
	c.wantVisits("H-M", "MV-1")
}

// A visit sent for X, merged into K which is linked to H, belongs to X:
// unmerging X brings it back.
func TestVisitOfARecordMergedIntoALinkedOneBelongsToIt(t *testing.T) {
	c := newChains(t)
	pidX := "PID|1||CL-X^^^NORTHCLINIC^MR||Xi^Xena||19900909|F"
	c.msg("ADT^A04 H1 202611010900", pidH, "VN HV-1")
	c.msg("ADT^A04 K1 202611020900", pidK, "VN KV-1")
	c.msg("ADT^A04 X1 202611030900", pidX, "VN XV-1")
	c.msg("ADT^A40 M1 202611040900", "PID|1||CL-K^^^NORTHCLINIC^MR||Alpha^Ann||19700101|F", "MRG|CL-X^^^NORTHCLINIC^MR")
	c.msg("ADT^A04 X2 202611050900", pidX, "VN XV-2")
	c.wantVisits("H-1", "HV-1", "KV-1", "XV-1", "XV-2")
	c.msg("ADT^A37 U1 202611060900", pidX, "PV1|1|N")
	c.wantVisits("CL-X", "XV-1", "XV-2")
	c.wantVisits("H-1", "HV-1", "KV-1")
}

// An A40 whose survivor is a new number of the same person (same national
// number, or the same demographics) merges; it is not refused as circular.
func TestA40WithANewSurvivorOfTheSamePerson(t *testing.T) {
	c := newChains(t)
	c.msg("ADT^A04 H1 202611010900", pidH, "VN HV-1")
	c.msg("ADT^A40 M1 202611040900", "PID|1||H-9^^^GENHOSP^MR~111 111 1111^^^UKNHS^NH||Alpha^Ann||19700101|F", "MRG|H-1^^^GENHOSP^MR")
	c.msg("ADT^A04 H2 202611050900", pidH, "VN HV-2")
	c.wantVisits("H-9", "HV-1", "HV-2")
}

// racing wraps a store: the first Apply whose change set writes an
// Encounter runs hook first (another worker committing meanwhile).
type racing struct {
	record.Store
	once sync.Once
	hook func()
}

func (r *racing) Apply(ctx context.Context, cs fhirstore.ChangeSet) ([]*fhirstore.Resource, error) {
	for _, w := range cs.Writes {
		if w.Type == "Encounter" && r.hook != nil {
			r.once.Do(r.hook)
		}
	}
	return r.Store.Apply(ctx, cs)
}

// A visit for M planned while another worker merges M into S lands on S:
// the plan starts over when the merge committed first.
func TestVisitRacingAMerge(t *testing.T) {
	c := newChains(t)
	c.msg("ADT^A04 M1 202611010901", pidM, "VN MV-1")
	c.msg("ADT^A04 S1 202611010902", pidS, "VN SV-1")
	m, s := c.id("H-M"), c.id("H-S")
	rs := &racing{Store: c.st}
	rec, err := record.New(rs, record.Options{})
	if err != nil {
		t.Fatal(err)
	}
	orig := c.rec
	rs.hook = func() {
		if _, err := orig.Merge(c.ctx, s, m); err != nil {
			t.Error(err)
		}
	}
	c.rec = rec
	c.msg("ADT^A04 M2 202611020900", pidM, "VN MV-2")
	c.wantVisits("H-S", "MV-1", "SV-1", "MV-2")
}

func TestA40WithANewSurvivorOfTheSameDemographics(t *testing.T) {
	c := newChains(t)
	c.msg("ADT^A04 H1 202611010900", pidF+"|||1 High St^^Leeds^^LS1 1AA||01632 960777^PRN^PH", "VN FV-1")
	c.msg("ADT^A40 M1 202611040900", "PID|1||H-F2^^^GENHOSP^MR||Gamma^Gail||19600303|F|||1 High St^^Leeds^^LS1 1AA||01632 960777^PRN^PH", "MRG|H-F^^^GENHOSP^MR")
	c.wantVisits("H-F2", "FV-1")
}

// Merging K into H confirms the engine's link: N's link, which rested on
// K's data, still stands (no review).
func TestConfirmingALinkByMergeOpensNoReview(t *testing.T) {
	c := newChains(t)
	c.msg("ADT^A04 H1 202611010900", pidH, "VN HV-1")
	c.msg("ADT^A04 K1 202611020900", pidK+"|||||01632 960555^PRN^PH", "VN KV-1")
	c.msg("ADT^A04 N1 202611030900", "PID|1||LAB-N^^^LABSYS^MR||Alpha^Ann||19700101|F|||||01632 960555^PRN^PH", "VN NV-1")
	if _, err := c.rec.Merge(c.ctx, c.id("H-1"), c.id("CL-K")); err != nil {
		t.Fatal(err)
	}
	if rs, err := c.rec.Reviews(c.ctx, "requested"); err != nil || len(rs) != 0 {
		t.Errorf("reviews after K was merged into H: %+v %v", rs, err)
	}
	c.wantVisits("H-1", "HV-1", "KV-1", "NV-1")
}

// The clinic replaces its number CL-K (linked by the engine to H) by CL-K2
// with an A40: the person stays one, with H.
func TestA40ReplacingALinkedNumberKeepsThePersonWhole(t *testing.T) {
	c := newChains(t)
	c.msg("ADT^A04 H1 202611010900", pidH, "VN HV-1")
	c.msg("ADT^A04 K1 202611020900", pidK, "VN KV-1")
	c.msg("ADT^A40 M1 202611040900", "PID|1||CL-K2^^^NORTHCLINIC^MR~111 111 1111^^^UKNHS^NH||Alpha^Ann||19700101|F", "MRG|CL-K^^^NORTHCLINIC^MR")
	c.msg("ADT^A04 K3 202611050900", "PID|1||CL-K2^^^NORTHCLINIC^MR~111 111 1111^^^UKNHS^NH||Alpha^Ann||19700101|F", "VN KV-3")
	c.msg("ADT^A04 Z4 202611060900", "PID|1||LAB-Z^^^LABSYS^MR~111 111 1111^^^UKNHS^NH||Alpha^Ann||19700101|F", "VN ZV-4")
	c.wantVisits("H-1", "HV-1", "KV-1", "KV-3", "ZV-4")
	if rs, err := c.rec.Reviews(c.ctx, "requested"); err != nil || len(rs) != 0 {
		t.Errorf("reviews: %+v %v (one person, nothing to ask)", rs, err)
	}
}

// An A40 whose survivor and merged numbers are both new to the record, the
// merged one found by its second identifier on H: it merges.
func TestA40WithBothNumbersNewMerges(t *testing.T) {
	c := newChains(t)
	c.msg("ADT^A04 H1 202611010900", pidH, "VN HV-1")
	c.msg("ADT^A40 M1 202611040900", "PID|1||H-9^^^GENHOSP^MR~111 111 1111^^^UKNHS^NH||Alpha^Ann||19700101|F", "MRG|OLD-1^^^OLDSYS^MR~H-1^^^GENHOSP^MR")
	c.wantVisits("H-9", "HV-1")
}

// A message for CL-1, merged into CL-3, put CL-1's number on CL-3; CL-1 was
// unmerged and then merged into LAB-2 by hand. An A37 naming CL-3 and CL-1
// (separate people), in either order, gives CL-3 its own clinic number
// only, which takes CL-1's off it: CL-1's number then belongs to no other
// patient, and joins LAB-2 with CL-1's update — the first time, so that the
// resent A37 writes nothing.
func TestA37TakingANumberOffOneRecordLetsItsOwnerHaveIt(t *testing.T) {
	pid1 := "PID|1||CL-1^^^NORTHCLINIC^MR~111 111 1111^^^UKNHS^NH||Alpha^Ann||19700101|F"
	pid3 := "PID|1||CL-3^^^NORTHCLINIC^MR||Delta^Dee||19500505|F"
	a37pid1 := "PID|1||CL-1^^^NORTHCLINIC^MR||Alpha^Ann||19700101|F"
	second := func(pid string) string { return strings.Replace(pid, "PID|1|", "PID|2|", 1) }
	for _, tc := range []struct {
		name string
		a37  []string
	}{
		{"CL-3 first", []string{pid3, "PV1|1|N", second(a37pid1), "PV1|1|N"}},
		{"CL-1 first", []string{a37pid1, "PV1|1|N", second(pid3), "PV1|1|N"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newChains(t)
			c.msg("ADT^A04 A1 202611010900", pid1, "VN AV-1")
			c.msg("ADT^A04 L1 202611010901", "PID|1||LAB-2^^^LABSYS^MR~222 222 2222^^^UKNHS^NH||Beta^Bob||19800202|M", "VN LV-1")
			c.msg("ADT^A04 D1 202611010902", pid3, "VN DV-1")
			c.msg("ADT^A40 M1 202611020900", pid3, "MRG|CL-1^^^NORTHCLINIC^MR")
			one, three, lab := c.id("CL-1"), c.id("CL-3"), c.id("LAB-2")
			c.msg("ADT^A08 A2 202611030900", pid1) // to CL-3, with CL-1's number
			c.msg("ADT^A37 U1 202611040900", a37pid1, "PV1|1|N")
			if _, err := c.rec.Merge(c.ctx, lab, one); err != nil {
				t.Fatal(err)
			}
			c.msg("ADT^A37 U2 202611050900", tc.a37...)
			on := map[string]bool{}
			for _, p := range c.all("Patient") {
				for _, x := range asList(p["identifier"]) {
					if x.(map[string]any)["value"] == "CL-1" {
						on[p["id"].(string)] = true
					}
				}
			}
			if on[three] || !on[lab] {
				t.Errorf("CL-1's number on CL-3: %v, on LAB-2: %v; want only on LAB-2 (and CL-1's own record)", on[three], on[lab])
			}
			if out := c.msg("ADT^A37 U2 202611050900", tc.a37...); len(out.Written) > 0 {
				var ws []string
				for _, w := range out.Written {
					ws = append(ws, w.Type+"/"+w.ID)
				}
				t.Errorf("the resent A37 wrote %v", ws)
			}
		})
	}
}

// Two systems' records of one person (name and birth date only) open a
// review; an A40 that merges them answers it, in either direction, so the
// review is closed as settled rather than left for a person (whose reject
// would have contradicted the merge). A review the merge does not answer
// stays open.
func TestMergeSettlesTheReviewItAnswers(t *testing.T) {
	for _, tc := range []struct{ name, pid, mrg string }{
		{"the newer record merged into the candidate", "PID|1||H-Q^^^GENHOSP^MR||Quill^Quentin||19550505|M", "MRG|CL-Q^^^NORTHCLINIC^MR"},
		{"the candidate merged into the newer record", "PID|1||CL-Q^^^NORTHCLINIC^MR||Quill^Quentin||19550505|M", "MRG|H-Q^^^GENHOSP^MR"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newChains(t)
			c.msg("ADT^A04 Q1 202611010900", "PID|1||H-Q^^^GENHOSP^MR||Quill^Quentin||19550505|M", "VN QV-1")
			c.msg("ADT^A04 Q2 202611020900", "PID|1||CL-Q^^^NORTHCLINIC^MR||Quill^Quentin||19550505|M", "VN QV-2")
			c.msg("ADT^A04 Z1 202611020930", "PID|1||H-Z^^^GENHOSP^MR||Zeta^Zoe||19660606|F", "VN ZV-1")
			c.msg("ADT^A04 Z2 202611021000", "PID|1||CL-Z^^^NORTHCLINIC^MR||Zeta^Zoe||19660606|F", "VN ZV-2")
			rs, err := c.rec.Reviews(c.ctx, "requested")
			if err != nil || len(rs) != 2 {
				t.Fatalf("reviews before the merge: %+v %v, want two", rs, err)
			}
			c.msg("ADT^A40 M1 202611030900", tc.pid, tc.mrg)
			rs, err = c.rec.Reviews(c.ctx, "requested")
			if err != nil || len(rs) != 1 || rs[0].Patient != c.id("CL-Z") {
				t.Fatalf("open reviews after the merge: %+v %v, want only Zoe's", rs, err)
			}
			done, err := c.rec.Reviews(c.ctx, "completed")
			if err != nil || len(done) != 1 || done[0].Patient != c.id("CL-Q") {
				t.Fatalf("completed reviews: %+v %v, want Quentin's", done, err)
			}
			for _, task := range c.all("Task") {
				if task["id"] == done[0].TaskID {
					if got := asString(task["businessStatus"]); !strings.Contains(got, "settled by a merge (ADT^A40)") {
						t.Errorf("businessStatus %s, want it to say the A40 settled it", got)
					}
				}
			}
			if _, err := c.rec.Reject(c.ctx, done[0].TaskID); !errors.Is(err, record.ErrReviewClosed) {
				t.Errorf("rejecting the settled review: %v, want ErrReviewClosed", err)
			}
			// Accepting the other still merges, and closes it as merged.
			if _, err := c.rec.Accept(c.ctx, rs[0].TaskID); err != nil {
				t.Fatal(err)
			}
			done, err = c.rec.Reviews(c.ctx, "completed")
			if err != nil || len(done) != 2 {
				t.Fatalf("completed reviews after the accept: %+v %v", done, err)
			}
			for _, task := range c.all("Task") {
				if task["id"] == rs[0].TaskID && asString(task["businessStatus"]) != `{"text":"merged"}` {
					t.Errorf("accepted review's businessStatus %s, want merged", asString(task["businessStatus"]))
				}
			}
		})
	}
}

// An older registration arriving after a newer update gives what no message
// had given (an address, a phone) but changes nothing the newer one says.
func TestOlderEventFillsOnlyWhatTheRecordNeverHad(t *testing.T) {
	c := newChains(t)
	c.msg("ADT^A08 G2 202611050900", "PID|1||H-G^^^GENHOSP^MR||Gamma^Gwen||19600303|F")
	out := c.msg("ADT^A04 G1 202611010900", "PID|1||H-G^^^GENHOSP^MR||Gamma^Gwendolyn||19600303|F|||2 Low St^^Leeds^^LS2 2BB||01632 960888^PRN^PH")
	var p map[string]any
	for _, x := range c.all("Patient") {
		p = x
	}
	if got := asString(p["name"]); !strings.Contains(got, `"Gwen"`) || strings.Contains(got, "Gwendolyn") {
		t.Errorf("name %s: the older event overwrote the newer", got)
	}
	if got := asString(p["address"]); !strings.Contains(got, "2 Low St") {
		t.Errorf("address %s, want the older event's (no message had given one)", got)
	}
	if got := asString(p["telecom"]); !strings.Contains(got, "01632 960888") {
		t.Errorf("telecom %s, want the older event's", got)
	}
	var notes []string
	for _, n := range out.Notes {
		notes = append(notes, n.Message)
	}
	if !strings.Contains(strings.Join(notes, "\n"), "added what Patient/"+p["id"].(string)+" never had: address, telecom") {
		t.Errorf("notes %q, want one naming the elements added", notes)
	}
	// A resend of the older event: nothing more to add, nothing written.
	c.msg("ADT^A04 G1B 202611010900", "PID|1||H-G^^^GENHOSP^MR||Gamma^Gwendolyn||19600303|F|||2 Low St^^Leeds^^LS2 2BB||01632 960888^PRN^PH")
	for _, x := range c.all("Patient") {
		if v := x["meta"].(map[string]any)["versionId"]; v != "2" {
			t.Errorf("versionId %v after the resend, want 2", v)
		}
	}
}

// The forms of a choice element are one element: an older event saying
// deceasedBoolean (or multipleBirthBoolean) adds nothing where a newer one
// said deceasedDateTime (multipleBirthInteger), and the message is applied,
// not refused as an invalid resource.
func TestOlderEventDoesNotAddAnotherFormOfAChoice(t *testing.T) {
	c := newChains(t)
	c.msg("ADT^A08 D2 202611050900", "PID|1||H-D^^^GENHOSP^MR||Delta^Dora||19600303|F||||||||||||||||Y|2||||20261104")
	c.msg("ADT^A08 D1 202611010900", "PID|1||H-D^^^GENHOSP^MR||Delta^Dora||19600303|F|||3 Mid St^^Leeds^^LS3 3CC||||||||||||||N|||||N")
	p := c.all("Patient")[0]
	if p["deceasedBoolean"] != nil || p["deceasedDateTime"] == nil || p["multipleBirthBoolean"] != nil || p["multipleBirthInteger"] == nil {
		t.Errorf("deceased %v/%v, multiple birth %v/%v: want the newer event's forms only", p["deceasedDateTime"], p["deceasedBoolean"], p["multipleBirthInteger"], p["multipleBirthBoolean"])
	}
	if got := asString(p["address"]); !strings.Contains(got, "3 Mid St") {
		t.Errorf("address %s: the older event's address (never given) should be added", got)
	}
}

// An A40 whose new survivor scores in the review band against the record
// it merges opens a review and settles it in the same message: no review
// is left open about two records that are one.
func TestMergeSettlesTheReviewItOpened(t *testing.T) {
	c := newChains(t)
	c.msg("ADT^A04 O1 202611010900", "PID|1||H-O^^^GENHOSP^MR||Okafor^Chiamaka||19850412|F", "VN OV-1")
	c.msg("ADT^A40 O2 202611090900", "PID|1||H-O2^^^GENHOSP^MR||Okafor-Eze^Chiamaka||19850412|F", "MRG|H-O^^^GENHOSP^MR")
	if rs, err := c.rec.Reviews(c.ctx, "requested"); err != nil || len(rs) != 0 {
		t.Fatalf("open reviews after the A40: %+v %v, want none", rs, err)
	}
	c.wantVisits("H-O2", "OV-1")
}

// Through a chain: the review's candidate was merged into a third record
// first; merging the review's patient into that record settles it too.
func TestMergeSettlesAReviewThroughAChain(t *testing.T) {
	c := newChains(t)
	c.msg("ADT^A04 Q1 202611010900", "PID|1||H-Q^^^GENHOSP^MR||Quill^Quentin||19550505|M", "VN QV-1")
	c.msg("ADT^A04 Q2 202611020900", "PID|1||CL-Q^^^NORTHCLINIC^MR||Quill^Quentin||19550505|M", "VN QV-2")
	c.msg("ADT^A04 Q3 202611020930", "PID|1||H-Q3^^^GENHOSP^MR||Quillon^Quincy||19550506|M", "VN QV-3")
	if rs, err := c.rec.Reviews(c.ctx, "requested"); err != nil || len(rs) != 1 {
		t.Fatalf("reviews: %+v %v, want one (Quentin's two records)", rs, err)
	}
	if _, err := c.rec.Merge(c.ctx, c.id("H-Q3"), c.id("H-Q")); err != nil {
		t.Fatal(err)
	}
	if rs, err := c.rec.Reviews(c.ctx, "requested"); err != nil || len(rs) != 1 {
		t.Fatalf("after the first merge: %+v %v, want the review still open", rs, err)
	}
	if _, err := c.rec.Merge(c.ctx, c.id("H-Q3"), c.id("CL-Q")); err != nil {
		t.Fatal(err)
	}
	if rs, err := c.rec.Reviews(c.ctx, "requested"); err != nil || len(rs) != 0 {
		t.Fatalf("after both are merged into the third: %+v %v, want none open", rs, err)
	}
}

// patientsWith lists the patients that have an identifier of value v.
func (c *chains) patientsWith(v string) []string {
	var out []string
	for _, p := range c.all("Patient") {
		for _, x := range asList(p["identifier"]) {
			if x.(map[string]any)["value"] == v {
				out = append(out, p["id"].(string))
			}
		}
	}
	return out
}

// A clinic's record K is merged by hand into the hospital's H; the clinic's
// next message for K (its number CL-K) updates H and adds CL-K to it. Then
// the merge is undone: CL-K goes back to naming K alone — left on H too,
// `patients show --identifier CL-K` could no longer choose, and nothing
// would ever take it off. The same after H was merged into F meanwhile (the
// message for K reached F). An identifier H had before the merge stays.
func TestUnmergeTakesTheMergedRecordsNumberBack(t *testing.T) {
	for _, chained := range []bool{false, true} {
		c := newChains(t)
		pidK := "PID|1||CL-K^^^NORTHCLINIC^MR||Kappa^Kim||19720202|F"
		c.msg("ADT^A04 H1 202611010900", "PID|1||H-1^^^GENHOSP^MR~SHARED-9^^^LABSYS^MR||Kappa^Kimberley||19720202|F", "VN HV-1")
		c.msg("ADT^A04 K1 202611020900", "PID|1||CL-K^^^NORTHCLINIC^MR||Kappa^Kim||19720202|F", "VN KV-1")
		h, k := c.id("H-1"), c.id("CL-K")
		if _, err := c.rec.Merge(c.ctx, h, k); err != nil {
			t.Fatal(err)
		}
		survivor := h
		if chained {
			c.msg("ADT^A04 F1 202611021000", pidF, "VN FV-1")
			survivor = c.id("H-F")
			if _, err := c.rec.Merge(c.ctx, survivor, h); err != nil {
				t.Fatal(err)
			}
		}
		c.msg("ADT^A08 K2 202611030900", pidK, "VN KV-2")
		if got := c.patientsWith("CL-K"); len(got) != 2 || !strings.Contains(strings.Join(got, " "), survivor) {
			t.Fatalf("chained %v: before the unmerge CL-K is on %v, want on %s (the message for K updated it) and on K", chained, got, survivor)
		}
		out, err := c.rec.Unmerge(c.ctx, k)
		if err != nil {
			t.Fatal(err)
		}
		if got := c.patientsWith("CL-K"); len(got) != 1 || got[0] != k {
			t.Errorf("chained %v: after the unmerge CL-K is on %v, want only on K %s; notes %v", chained, got, k, out.Notes)
		}
		if got := c.patientsWith("SHARED-9"); len(got) != 1 || got[0] != h {
			t.Errorf("chained %v: H's own SHARED-9 is on %v, want on H %s", chained, got, h)
		}
		c.wantVisits("CL-K", "KV-1", "KV-2")
	}
}
