package record_test

import (
	"errors"
	"fmt"
	"math/rand"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/carebridge/carebridge/fhirstore"
	"github.com/carebridge/carebridge/mappings"
	"github.com/carebridge/carebridge/record"
)

type fzNumber struct {
	sys, mrn string
	person   int
}

type fzPerson struct {
	nhs, family, given, dob, sex string
}

type fz struct {
	*chains
	rng      *rand.Rand
	step     int
	t0       time.Time
	belongs  map[string]string // Encounter id -> patient id named
	seen     map[string]string // mrn -> patient id
	log      []string
	numbers  []fzNumber
	persons  []fzPerson
	vn       int
	idem     bool // every message is applied twice: the second must write nothing
	review   bool // accept and reject reviews among the steps
	revisit  bool // move existing visits to other numbers among the steps
	failures int
	sink     *fzT
	vnNum    map[int]string
}

func (f *fz) pid(n fzNumber, seq int, withNHS bool) string {
	p := f.persons[n.person]
	ids := n.mrn + "^^^" + n.sys + "^MR"
	if withNHS && p.nhs != "" {
		ids += "~" + p.nhs + "^^^UKNHS^NH"
	}
	return fmt.Sprintf("PID|%d||%s||%s^%s||%s|%s", seq, ids, p.family, p.given, p.dob, p.sex)
}

// apply maps and applies a message; returns the mapped Patient ids (in order), the encounter id, and the error.
func (f *fz) apply(typ string, segs ...string) (pats []string, enc string, err error) {
	f.step++
	ts := f.t0.Add(time.Duration(f.step)*time.Minute).Format("200601021504") + "00+0000"
	ctl := "C" + strconv.Itoa(f.step)
	m, raw := inlineMessage(f.t, typ, ctl, ts, segs...)
	res, merr := f.set.Map(m, mappingsOpts())
	if merr != nil {
		f.t.Fatal(merr)
	}
	for _, r := range res.Resources {
		switch r.Type {
		case "Patient":
			pats = append(pats, r.ID)
		case "Encounter":
			enc = r.ID
		}
	}
	for try := 0; try < 2; try++ {
		e := &fhirstore.Entry{Listener: "test", ControlID: ctl, MessageType: typ, Status: fhirstore.StatusProcessing, ClaimedBy: "test", Raw: raw}
		if _, aerr := f.st.Append(f.ctx, e); aerr != nil {
			f.t.Fatal(aerr)
		}
		res2, _ := f.set.Map(m, mappingsOpts())
		out, aerr := f.rec.Apply(f.ctx, record.FromMapping(m, res2, e.ID), nil)
		if try == 0 {
			err = aerr
			if err != nil {
				break
			}
			continue
		}
		if f.idem && aerr == nil && len(out.Written) > 0 {
			var ws []string
			for _, w := range out.Written {
				ws = append(ws, w.Type+"/"+w.ID)
			}
			f.fail("resend of %s %s wrote %v", typ, ctl, ws)
		} else if f.idem && aerr != nil {
			f.fail("resend of %s %s failed: %v", typ, ctl, aerr)
		}
	}
	return
}

func (f *fz) fail(format string, args ...any) {
	f.failures++
	if f.sink != nil {
		f.sink.errs = append(f.sink.errs, fmt.Sprintf(format, args...))
		return
	}
	f.t.Errorf("step %d: %s\nsequence:\n  %s", f.step, fmt.Sprintf(format, args...), strings.Join(f.log, "\n  "))
}

func (f *fz) patients() map[string]map[string]any {
	out := map[string]map[string]any{}
	for _, p := range f.all("Patient") {
		out[p["id"].(string)] = p
	}
	return out
}

func fwd(p map[string]any) (string, string, int) {
	n := 0
	var id, kind string
	for _, l := range asList(p["link"]) {
		x := l.(map[string]any)
		t := x["type"].(string)
		if t == "replaced-by" || t == "refer" {
			n++
			if id == "" {
				id = strings.TrimPrefix(x["other"].(map[string]any)["reference"].(string), "Patient/")
				kind = t
			}
		}
	}
	return id, kind, n
}

func (f *fz) final(ps map[string]map[string]any, id string) (string, bool) {
	seen := map[string]bool{}
	for {
		if seen[id] {
			return id, false
		}
		seen[id] = true
		p := ps[id]
		if p == nil {
			return id, true
		}
		next, _, _ := fwd(p)
		if next == "" {
			return id, true
		}
		id = next
	}
}

func (f *fz) check() {
	ps := f.patients()
	for id, p := range ps {
		next, kind, n := fwd(p)
		if n > 1 {
			f.fail("Patient/%s has %d forward links: %v", id, n, p["link"])
		}
		if next != "" {
			back := map[string]string{"replaced-by": "replaces", "refer": "seealso"}[kind]
			if !hasLink(ps[next], id, back) {
				f.fail("Patient/%s %s Patient/%s but no %s back-link: %v", id, kind, next, back, ps[next]["link"])
			}
		}
		for _, l := range asList(p["link"]) {
			x := l.(map[string]any)
			t := x["type"].(string)
			o := strings.TrimPrefix(x["other"].(map[string]any)["reference"].(string), "Patient/")
			fw := map[string]string{"replaces": "replaced-by", "seealso": "refer"}[t]
			if fw == "" {
				continue
			}
			if n2, k2, _ := fwd(ps[o]); n2 != id || k2 != fw {
				f.fail("Patient/%s %s Patient/%s but that one has no %s to it: %v", id, t, o, fw, ps[o]["link"])
			}
		}
		if _, ok := f.final(ps, id); !ok {
			f.fail("loop from Patient/%s", id)
		}
	}
	for _, e := range f.all("Encounter") {
		id := e["id"].(string)
		b, ok := f.belongs[id]
		if !ok {
			continue
		}
		want, _ := f.final(ps, b)
		got := e["subject"].(map[string]any)["reference"]
		if got != "Patient/"+want {
			tag := ""
			if meta, ok := e["meta"].(map[string]any); ok {
				tag = asString(meta["tag"])
			}
			f.fail("Encounter/%s (%s) belongs to Patient/%s, want on Patient/%s, is on %v; tags %s", id, vnOf(e), b, want, got, tag)
		}
	}
}

func vnOf(e map[string]any) string {
	return asList(e["identifier"])[0].(map[string]any)["value"].(string)
}

func hasLink(p map[string]any, other, typ string) bool {
	for _, l := range asList(p["link"]) {
		x := l.(map[string]any)
		if x["type"] == typ && x["other"].(map[string]any)["reference"] == "Patient/"+other {
			return true
		}
	}
	return false
}

func (f *fz) name(id string) string {
	for mrn, pid := range f.seen {
		if pid == id {
			return mrn
		}
	}
	return id
}

type fzOp struct {
	kind string // A04 A40 A37 M U
	a, b int    // number indexes (b=-1 none)
	nhs  bool
}

func (f *fz) genOp() fzOp {
	r := f.rng
	var seenIdx []int
	for i, n := range f.numbers {
		if _, ok := f.seen[n.mrn]; ok {
			seenIdx = append(seenIdx, i)
		}
	}
	op := r.Intn(10)
	if f.review && r.Intn(5) == 0 {
		return fzOp{"R", r.Intn(8), r.Intn(2), false}
	}
	if f.revisit && f.vn > 0 && r.Intn(6) == 0 {
		v := 1 + r.Intn(f.vn)
		if r.Intn(2) == 0 {
			// same number as the one that last sent it
			for i, n := range f.numbers {
				if f.vnNum[v] == n.mrn {
					return fzOp{"A08", i, v, r.Intn(2) == 0}
				}
			}
		}
		return fzOp{"A08", r.Intn(len(f.numbers)), v, r.Intn(2) == 0}
	}
	if len(seenIdx) < 2 {
		op = 0
	}
	pick := func() int { return seenIdx[r.Intn(len(seenIdx))] }
	switch {
	case op <= 3:
		return fzOp{"A04", r.Intn(len(f.numbers)), -1, r.Intn(3) > 0}
	case op <= 5:
		a := pick()
		var same []int
		for _, b := range seenIdx {
			if f.numbers[b].sys == f.numbers[a].sys && b != a {
				same = append(same, b)
			}
		}
		if len(same) == 0 {
			return fzOp{"A04", r.Intn(len(f.numbers)), -1, r.Intn(3) > 0}
		}
		return fzOp{"A40", a, same[r.Intn(len(same))], r.Intn(2) > 0}
	case op <= 7:
		a, b := pick(), -1
		if r.Intn(2) == 0 {
			if x := pick(); x != a {
				b = x
			}
		}
		return fzOp{"A37", a, b, false}
	case op == 8:
		return fzOp{"M", pick(), pick(), false}
	default:
		return fzOp{"U", pick(), -1, false}
	}
}

func (f *fz) exec(o fzOp) {
	a := f.numbers[o.a]
	var b fzNumber
	if o.kind == "R" {
		rs, err := f.rec.Reviews(f.ctx, "requested")
		if err != nil {
			f.t.Fatal(err)
		}
		if len(rs) == 0 {
			f.log = append(f.log, "Review: none open")
			return
		}
		rv := rs[o.a%len(rs)]
		if o.b == 0 {
			f.log = append(f.log, fmt.Sprintf("Accept(%s is %s)", f.name(rv.Patient), f.name(rv.Candidate)))
			_, err = f.rec.Accept(f.ctx, rv.TaskID)
		} else {
			f.log = append(f.log, fmt.Sprintf("Reject(%s is %s)", f.name(rv.Patient), f.name(rv.Candidate)))
			_, err = f.rec.Reject(f.ctx, rv.TaskID)
		}
		if err != nil {
			f.log = append(f.log, "   -> "+err.Error())
			if !record.IsContentError(err) {
				f.fail("review: %v", err)
			}
		}
		return
	}
	if o.b >= 0 && o.kind != "A08" {
		b = f.numbers[o.b]
	}
	note := func(err error) {
		if err != nil {
			f.log = append(f.log, "   -> "+err.Error())
			if !record.IsContentError(err) {
				f.fail("%s: %v", o.kind, err)
			}
		}
	}
	switch o.kind {
	case "A04":
		f.vn++
		vn := fmt.Sprintf("V%d", f.vn)
		f.log = append(f.log, fmt.Sprintf("A04 %s nhs=%v %s", a.mrn, o.nhs, vn))
		pats, enc, err := f.apply("ADT^A04", f.pid(a, 1, o.nhs), "VN "+vn)
		note(err)
		if err == nil {
			f.seen[a.mrn] = pats[0]
			f.belongs[enc] = pats[0]
			f.vnNum[f.vn] = a.mrn
		}
	case "A08":
		vn := fmt.Sprintf("V%d", o.b)
		f.log = append(f.log, fmt.Sprintf("A08 %s nhs=%v %s", a.mrn, o.nhs, vn))
		pats, enc, err := f.apply("ADT^A08", f.pid(a, 1, o.nhs), "VN "+vn)
		note(err)
		if err == nil {
			f.seen[a.mrn] = pats[0]
			f.belongs[enc] = pats[0]
			f.vnNum[o.b] = a.mrn
		}
	case "A40":
		f.log = append(f.log, fmt.Sprintf("A40 %s <- %s nhs=%v", a.mrn, b.mrn, o.nhs))
		_, _, err := f.apply("ADT^A40", f.pid(a, 1, o.nhs), "MRG|"+b.mrn+"^^^"+b.sys+"^MR")
		note(err)
	case "A37":
		segs := []string{f.pid(a, 1, false), "PV1|1|N"}
		desc := a.mrn
		if o.b >= 0 {
			segs = append(segs, f.pid(b, 2, false), "PV1|1|N")
			desc += " " + b.mrn
		}
		f.log = append(f.log, "A37 "+desc)
		_, _, err := f.apply("ADT^A37", segs...)
		note(err)
	case "M":
		f.log = append(f.log, fmt.Sprintf("Merge(%s, %s)", a.mrn, b.mrn))
		if f.seen[a.mrn] == "" || f.seen[b.mrn] == "" {
			f.log = append(f.log, "   -> skipped")
			return
		}
		_, err := f.rec.Merge(f.ctx, f.seen[a.mrn], f.seen[b.mrn])
		note(err)
	case "U":
		f.log = append(f.log, fmt.Sprintf("Unmerge(%s)", a.mrn))
		if f.seen[a.mrn] == "" {
			f.log = append(f.log, "   -> skipped")
			return
		}
		_, err := f.rec.Unmerge(f.ctx, f.seen[a.mrn])
		if errors.Is(err, record.ErrNotMerged) {
			err = nil
		}
		note(err)
	}
}

func newFz(t *testing.T, seed int64) *fz {
	f := &fz{chains: newChains(t), rng: rand.New(rand.NewSource(seed)), t0: time.Date(2026, 11, 1, 9, 0, 0, 0, time.UTC),
		belongs: map[string]string{}, vnNum: map[int]string{}, seen: map[string]string{}, idem: true, review: true, revisit: true}
	f.persons = []fzPerson{
		{"111 111 1111", "Alpha", "Ann", "19700101", "F"},
		{"222 222 2222", "Beta", "Bob", "19800202", "M"},
		{"333 333 3333", "Gamma", "Gail", "19600303", "F"},
		{"", "Delta", "Dee", "19500505", "F"},
	}
	f.numbers = []fzNumber{
		{"GENHOSP", "H-1", 0}, {"GENHOSP", "H-2", 1}, {"GENHOSP", "H-3", 2}, {"GENHOSP", "H-4", 0}, {"GENHOSP", "H-5", 3},
		{"NORTHCLINIC", "C-1", 0}, {"NORTHCLINIC", "C-2", 1}, {"NORTHCLINIC", "C-3", 3}, {"NORTHCLINIC", "C-4", 2},
		{"LABSYS", "L-1", 0}, {"LABSYS", "L-2", 1}, {"LABSYS", "L-3", 2},
	}
	return f
}

// TestRandomMergeLinkSequences applies random sequences of admissions for
// a dozen numbers from three systems (sharing national numbers, so that the
// engine links), A40 merges, A37 unmerges, merges and unmerges by hand,
// visits moved to other numbers, and review decisions, each message twice,
// and checks after every step: every visit is on the final survivor of the
// record its message named; forward and back links agree; no loops; a
// resent message writes nothing. CAREBRIDGE_SEQ_SEEDS, _STEPS and _FIRST
// run more; CAREBRIDGE_SEQ_MIN shrinks a failing sequence to a minimal one.
func TestRandomMergeLinkSequences(t *testing.T) {
	seeds, _ := strconv.Atoi(os.Getenv("CAREBRIDGE_SEQ_SEEDS"))
	if seeds == 0 {
		seeds = 20
	}
	steps, _ := strconv.Atoi(os.Getenv("CAREBRIDGE_SEQ_STEPS"))
	if steps == 0 {
		steps = 40
	}
	first, _ := strconv.Atoi(os.Getenv("CAREBRIDGE_SEQ_FIRST"))
	for s := first; s < first+seeds; s++ {
		var ops []fzOp
		failed := false
		t.Run(fmt.Sprint(s), func(t *testing.T) {
			f := newFz(t, int64(s))
			for i := 0; i < steps && f.failures == 0; i++ {
				o := f.genOp()
				ops = append(ops, o)
				f.exec(o)
				f.check()
			}
			failed = f.failures > 0
		})
		if failed && os.Getenv("CAREBRIDGE_SEQ_MIN") != "" {
			min := minimize(t, ops)
			t.Logf("seed %d minimal (%d ops):", s, len(min))
			replay(t, min, true)
		}
	}
}

func mappingsOpts() mappings.Options { return mappings.Options{Sender: "genhosp-adt"} }

// replay runs ops on a fresh record (silently) and reports whether an invariant failed.
func replay(t *testing.T, ops []fzOp, verbose bool) bool {
	var failed bool
	var log []string
	var msgs []string
	t.Run("replay", func(tt *testing.T) {
		f := newFz(tt, 0)
		sub := &fzT{}
		f.chains.t = tt
		f.sink = sub
		for _, o := range ops {
			f.exec(o)
			f.check()
			if len(sub.errs) > 0 {
				failed = true
				msgs = sub.errs
				break
			}
		}
		log = f.log
		if !verbose {
			tt.SkipNow()
		}
	})
	if verbose {
		t.Logf("sequence:\n  %s\nfailures:\n  %s", strings.Join(log, "\n  "), strings.Join(msgs, "\n  "))
	}
	return failed
}

type fzT struct{ errs []string }

func minimize(t *testing.T, ops []fzOp) []fzOp {
	cur := ops
	for changed := true; changed; {
		changed = false
		for i := len(cur) - 1; i >= 0; i-- {
			try := append(append([]fzOp{}, cur[:i]...), cur[i+1:]...)
			if replay(t, try, false) {
				cur = try
				changed = true
			}
		}
	}
	return cur
}
