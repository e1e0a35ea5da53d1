package record_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/carebridge/carebridge/engine/hl7"
	"github.com/carebridge/carebridge/fhirstore"
	"github.com/carebridge/carebridge/fhirstore/sqlite"
	"github.com/carebridge/carebridge/mappings"
	"github.com/carebridge/carebridge/record"
)

// TestScenariosInEveryOrder applies the messages of every scenario of up to
// four messages in every order, as feeds that overtake one another would
// deliver them: the record refuses none (but a merge circular in that
// order), whatever arrives first. (The scenarios' expected records are for
// their own order; older events arriving late are TestScenarios' and
// fillGaps' business.)
func TestScenariosInEveryOrder(t *testing.T) {
	set, err := mappings.Load(mappings.Shipped())
	if err != nil {
		t.Fatal(err)
	}
	parsed := map[string]*hl7.Message{}
	raws := map[string][]byte{}
	for _, sc := range scenarios {
		for _, step := range sc.steps {
			if parsed[step] != nil {
				continue
			}
			raw, err := os.ReadFile(step)
			if err != nil {
				t.Fatal(err)
			}
			if parsed[step], err = hl7.Parse(raw); err != nil {
				t.Fatalf("%s: %v", step, err)
			}
			raws[step] = raw
		}
	}
	ctx := context.Background()
	for _, sc := range scenarios {
		if len(sc.steps) > 4 {
			continue
		}
		for _, perm := range permutations(len(sc.steps)) {
			st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "p.db"), sqlite.Options{Durability: sqlite.DurabilityOff, DuplicateWindow: -1})
			if err != nil {
				t.Fatal(err)
			}
			rec, err := record.New(st, record.Options{Now: func() time.Time { return clock }})
			if err != nil {
				t.Fatal(err)
			}
			var order []string
			for _, i := range perm {
				step := sc.steps[i]
				order = append(order, filepath.Base(step))
				msg := parsed[step]
				res, err := set.Map(msg, mappings.Options{Sender: "genhosp-adt", ReceivedAt: clock})
				if err != nil {
					t.Fatalf("%s: %v", step, err)
				}
				e := &fhirstore.Entry{Listener: "test", SendingApp: msg.Get("MSH-3"), ControlID: msg.ControlID(), MessageType: msg.Type(),
					Status: fhirstore.StatusProcessing, ClaimedBy: "test", Raw: raws[step]}
				if _, err := st.Append(ctx, e); err != nil {
					t.Fatal(err)
				}
				if _, err := rec.Apply(ctx, record.FromMapping(msg, res, e.ID), nil); err != nil && !errors.Is(err, record.ErrCircularMerge) {
					t.Errorf("%s in the order %s: %s refused: %v", sc.name, strings.Join(order, " → "), filepath.Base(step), err)
				}
			}
			st.Close()
		}
	}
}

// permutations lists every order of 0..n-1.
func permutations(n int) [][]int {
	if n == 0 {
		return [][]int{nil}
	}
	var out [][]int
	for _, p := range permutations(n - 1) {
		for i := 0; i <= len(p); i++ {
			q := append(append(append(make([]int, 0, n), p[:i]...), n-1), p[i:]...)
			out = append(out, q)
		}
	}
	return out
}
