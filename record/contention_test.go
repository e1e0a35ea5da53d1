package record_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/carebridge/carebridge/engine/hl7"
	"github.com/carebridge/carebridge/fhirstore"
	"github.com/carebridge/carebridge/fhirstore/sqlite"
	"github.com/carebridge/carebridge/mappings"
	"github.com/carebridge/carebridge/record"
)

// TestConcurrentPatientsSharingAnAccount: many patients' messages applied
// four at a time (as two workers do) all update one shared Account (a
// family account): every one lands, none is lost to a version conflict.
func TestConcurrentPatientsSharingAnAccount(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "c.db"), sqlite.Options{Durability: sqlite.DurabilityOff})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	rec, err := record.New(st, record.Options{})
	if err != nil {
		t.Fatal(err)
	}
	set, err := mappings.Load(mappings.Shipped())
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile("../testdata/hl7/adt_a01.hl7")
	if err != nil {
		t.Fatal(err)
	}
	const n = 24
	var wg sync.WaitGroup
	errs := make(chan error, n)
	sem := make(chan struct{}, 4)
	for i := range n {
		m := bytes.ReplaceAll(raw, []byte("MRN100001"), fmt.Appendf(nil, "MRN9%05d", i))
		m = bytes.ReplaceAll(m, []byte("AB123456C"), fmt.Appendf(nil, "NH9%05d", i))
		m = bytes.ReplaceAll(m, []byte("VN500001"), fmt.Appendf(nil, "VN9%05d", i))
		m = bytes.ReplaceAll(m, []byte("Testperson"), fmt.Appendf(nil, "Shared%c%c", 'a'+i%26, 'a'+i/26))
		// Distinct people (or the record rightly links them).
		m = bytes.ReplaceAll(m, []byte("19800214"), fmt.Appendf(nil, "19%02d0214", 40+i))
		m = bytes.ReplaceAll(m, []byte("1632-96000"), fmt.Appendf(nil, "1632-97%02d", i))
		m = bytes.ReplaceAll(m, []byte("12 Synthetic Street"), fmt.Appendf(nil, "%d Synthetic Street", 100+i))
		msg, err := hl7.Parse(m)
		if err != nil {
			t.Fatal(err)
		}
		res, err := set.Map(msg, mappings.Options{ReceivedAt: time.Now()})
		if err != nil {
			t.Fatal(err)
		}
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			if _, err := rec.Apply(ctx, record.FromMapping(msg, res, 0), nil); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	accs, err := st.Search(ctx, fhirstore.Query{Type: "Account"})
	if err != nil || len(accs) != 1 {
		t.Fatalf("accounts: %d, %v", len(accs), err)
	}
	var acc struct {
		Subject []any `json:"subject"`
	}
	if err := json.Unmarshal(accs[0].Body, &acc); err != nil {
		t.Fatal(err)
	}
	if len(acc.Subject) != n {
		t.Fatalf("the shared account has %d subjects, want %d: an update was lost", len(acc.Subject), n)
	}
}

// TestTwoSystemsFirstMessagesAtOnce: two systems' first messages about one
// person (the same NHS number under different MRNs) applied at the same
// moment make one patient, not two: the identifier search each was planned
// from is checked again where it commits.
func TestTwoSystemsFirstMessagesAtOnce(t *testing.T) {
	set, err := mappings.Load(mappings.Shipped())
	if err != nil {
		t.Fatal(err)
	}
	mapped := func(file string) *record.Message {
		raw, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		msg, err := hl7.Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		res, err := set.Map(msg, mappings.Options{Sender: "genhosp-adt"})
		if err != nil {
			t.Fatal(err)
		}
		return record.FromMapping(msg, res, 0)
	}
	for _, tc := range []struct{ name, clinic string }{
		{"shared NHS number", "testdata/hl7/a04-clinic-same-person.hl7"},
		// No identifier in common: the clinic's record links by score
		// (name, birth date, gender, phone, address), so the blocking
		// searches are what must be checked again.
		{"no shared identifier", "testdata/hl7/a04-clinic-no-shared-id.hl7"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			appliedAtOnce(t, mapped(examples+"ADT/a01-admit.hl7"), mapped(tc.clinic))
		})
	}
}

// appliedAtOnce applies the two messages at the same moment, in eight
// fresh stores, and fails unless each store ends with one patient (the
// other message's record, if any, linked or merged into it).
func appliedAtOnce(t *testing.T, hospital, clinic *record.Message) {
	ctx := context.Background()
	for round := range 8 {
		st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), fmt.Sprint(round, ".db")), sqlite.Options{Durability: sqlite.DurabilityOff})
		if err != nil {
			t.Fatal(err)
		}
		rec, err := record.New(st, record.Options{})
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		for _, m := range []*record.Message{hospital, clinic} {
			wg.Go(func() {
				if _, err := rec.Apply(ctx, m, nil); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		ps, err := st.Search(ctx, fhirstore.Query{Type: "Patient"})
		if err != nil {
			t.Fatal(err)
		}
		st.Close()
		var live, merged int
		for _, p := range ps {
			var b struct {
				Link []struct{ Type string }
			}
			if err := json.Unmarshal(p.Body, &b); err != nil {
				t.Fatal(err)
			}
			if len(b.Link) > 0 && (b.Link[0].Type == "replaced-by" || b.Link[0].Type == "refer") {
				merged++
			} else {
				live++
			}
		}
		if live != 1 || merged > 1 {
			t.Fatalf("round %d: %d patients for one person (and %d linked or merged records)", round, live, merged)
		}
	}
}
