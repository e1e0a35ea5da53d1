package record_test

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/carebridge/carebridge/engine/hl7"
	"github.com/carebridge/carebridge/fhirstore"
	"github.com/carebridge/carebridge/fhirstore/sqlite"
	"github.com/carebridge/carebridge/fhirvalid"
	"github.com/carebridge/carebridge/mappings"
	"github.com/carebridge/carebridge/record"
)

// The convergence tests generate, from fixed seeds, short sequences of ADT
// messages about one patient or one visit, each with its own event time
// (EVN-2), apply every sequence in many arrival orders, each to a fresh
// record, and check what the record promises whatever the order (see
// docs/record.md, "Out-of-order events"). A failure names its case's seed:
// `go test ./record/ -run TestConvergence -record.seed=N` runs that case
// alone, in every order, and logs its (synthetic) messages.
var (
	convergenceSeed  = flag.Uint64("record.seed", 0, "run only the convergence case generated from this seed (every arrival order)")
	convergenceCases = flag.Int("record.cases", 0, "how many convergence cases to generate per test (0: the default)")
)

// convergenceSeeds lists the seeds of a convergence test's cases: the one
// -record.seed names, else n (fewer with -short) from first on.
func convergenceSeeds(first uint64, n int) []uint64 {
	if *convergenceSeed != 0 {
		return []uint64{*convergenceSeed}
	}
	if *convergenceCases > 0 {
		n = *convergenceCases
	} else if testing.Short() {
		n = max(n/4, 1)
	}
	seeds := make([]uint64, n)
	for i := range seeds {
		seeds[i] = first + uint64(i)
	}
	return seeds
}

// arrivalOrders lists the orders a sequence of n messages (in event-time
// order) is applied in: the chronological order first, then every other
// order when there are at most 24, else the reverse order and a sample of
// the rest (rng's). With -record.seed every order is applied.
func arrivalOrders(rng *rand.Rand, n, sample int) [][]int {
	chrono := make([]int, n)
	for i := range chrono {
		chrono[i] = i
	}
	all := permutations(n)
	slices.SortFunc(all, slices.Compare) // deterministic, chronological first
	if len(all) <= 24 || *convergenceSeed != 0 {
		return all
	}
	reverse := slices.Clone(chrono)
	slices.Reverse(reverse)
	out := [][]int{chrono, reverse}
	rng.Shuffle(len(all), func(i, j int) { all[i], all[j] = all[j], all[i] })
	for _, p := range all {
		if len(out) >= sample {
			break
		}
		if !slices.Equal(p, chrono) && !slices.Equal(p, reverse) {
			out = append(out, p)
		}
	}
	return out
}

// convMessage is one generated HL7 message.
type convMessage struct {
	event string    // trigger: A01, A08, …
	at    time.Time // its event time (EVN-2, and MSH-7)
	segs  []string  // the segments after MSH and EVN
	parts []string  // what it says, for the case's description (synthetic data)
}

// raw is the message as a sender would send it.
func (c convMessage) raw(control string) []byte {
	structure := map[string]string{"A01": "ADT_A01", "A04": "ADT_A01", "A08": "ADT_A01", "A13": "ADT_A01",
		"A02": "ADT_A02", "A03": "ADT_A03", "A11": "ADT_A09", "A12": "ADT_A12", "A31": "ADT_A05"}[c.event]
	ts := hl7Time(c.at)
	segs := append([]string{
		"MSH|^~\\&|ADTSYS|GENHOSP|CAREBRIDGE|CB|" + ts + "||ADT^" + c.event + "^" + structure + "|" + control + "|P|2.5.1",
		"EVN|" + c.event + "|" + ts,
	}, c.segs...)
	return []byte(strings.Join(segs, "\r"))
}

func hl7Time(t time.Time) string { return t.UTC().Format("20060102150405") + "+0000" }

// convRun applies messages (in event-time order) in one arrival order to a
// fresh record and returns the store, open until the test ends.
type convRun struct {
	t    *testing.T
	ctx  context.Context
	set  *mappings.Set
	dir  string
	runs int
	// One validator for every store: building its schema is most of the
	// cost of opening one, and the cases open hundreds.
	valid *fhirvalid.Validator
	// An empty store's file, copied for each run: a fresh record without
	// creating the schema every time.
	template []byte
}

func newConvRun(t *testing.T) *convRun {
	set, err := mappings.Load(mappings.Shipped())
	if err != nil {
		t.Fatal(err)
	}
	valid, err := fhirvalid.New()
	if err != nil {
		t.Fatal(err)
	}
	c := &convRun{t: t, ctx: context.Background(), set: set, dir: t.TempDir(), valid: valid}
	path := filepath.Join(c.dir, "template.db")
	st, err := sqlite.Open(c.ctx, path, c.options())
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	if c.template, err = os.ReadFile(path); err != nil {
		t.Fatal(err)
	}
	return c
}

func (c *convRun) options() sqlite.Options {
	return sqlite.Options{Durability: sqlite.DurabilityOff, DuplicateWindow: -1, Now: func() time.Time { return clock }, Validator: c.valid}
}

// apply applies msgs in the given order to a fresh record, read back by
// read before the store is closed; it returns the outcome of each message,
// by its index in msgs.
func (c *convRun) apply(msgs []convMessage, order []int, read func(st *sqlite.Store)) []*record.Outcome {
	c.t.Helper()
	c.runs++
	path := filepath.Join(c.dir, fmt.Sprintf("conv%d.db", c.runs))
	if err := os.WriteFile(path, c.template, 0o600); err != nil {
		c.t.Fatal(err)
	}
	st, err := sqlite.Open(c.ctx, path, c.options())
	if err != nil {
		c.t.Fatal(err)
	}
	defer func() {
		st.Close()
		for _, suffix := range []string{"", "-wal", "-shm"} {
			os.Remove(path + suffix)
		}
	}()
	rec, err := record.New(st, record.Options{Now: func() time.Time { return clock }})
	if err != nil {
		c.t.Fatal(err)
	}
	outcomes := make([]*record.Outcome, len(msgs))
	for _, i := range order {
		raw := msgs[i].raw(fmt.Sprintf("CV%d", i+1))
		msg, err := hl7.Parse(raw)
		if err != nil {
			c.t.Fatalf("message %d: %v", i+1, err)
		}
		res, err := c.set.Map(msg, mappings.Options{Sender: "genhosp-adt", ReceivedAt: clock})
		if err != nil {
			c.t.Fatalf("message %d: %v", i+1, err)
		}
		e := &fhirstore.Entry{Listener: "test", SendingApp: msg.Get("MSH-3"), ControlID: msg.ControlID(), MessageType: msg.Type(),
			Status: fhirstore.StatusProcessing, ClaimedBy: "test", Raw: raw}
		if _, err := st.Append(c.ctx, e); err != nil {
			c.t.Fatal(err)
		}
		o, err := rec.Apply(c.ctx, record.FromMapping(msg, res, e.ID), nil)
		if err != nil {
			c.t.Fatalf("message %d (%s) refused in the order %v: %v", i+1, msgs[i].event, orderString(order), err)
		}
		outcomes[i] = o
	}
	read(st)
	return outcomes
}

// only returns the one resource of a type in st (nil when none).
func (c *convRun) only(st *sqlite.Store, typ string) map[string]any {
	c.t.Helper()
	found, err := st.Search(c.ctx, fhirstore.Query{Type: typ, Count: 10})
	if err != nil {
		c.t.Fatal(err)
	}
	if len(found) > 1 {
		c.t.Fatalf("%d %s resources, want one", len(found), typ)
	}
	if len(found) == 0 {
		return nil
	}
	var m map[string]any
	if err := json.Unmarshal(found[0].Body, &m); err != nil {
		c.t.Fatal(err)
	}
	return m
}

// orderString is an arrival order as the messages' numbers in event-time
// order ("3 1 2": the newest arrived first).
func orderString(order []int) string {
	s := make([]string, len(order))
	for i, o := range order {
		s[i] = fmt.Sprint(o + 1)
	}
	return strings.Join(s, " ")
}

// describe lists a case's messages for a failure's log.
func describe(msgs []convMessage) string {
	var b strings.Builder
	for i, m := range msgs {
		fmt.Fprintf(&b, "\n  %d. %s %s: %s", i+1, m.event, m.at.UTC().Format("01-02 15:04"), strings.Join(m.parts, ", "))
	}
	return b.String()
}

// decodeJSON decodes a stored resource.
func decodeJSON(b []byte) (map[string]any, error) {
	var m map[string]any
	err := json.Unmarshal(b, &m)
	return m, err
}
