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

// interleaved is a store whose first Apply of a change set that writes a
// resource of type when runs other first: the plan of that change set was
// computed before other's message was applied, as when two workers apply
// messages about one visit at the same moment.
type interleaved struct {
	record.Store
	when  string
	other func()
	once  sync.Once
}

func (s *interleaved) Apply(ctx context.Context, cs fhirstore.ChangeSet) ([]*fhirstore.Resource, error) {
	for _, w := range cs.Writes {
		if w.Type == s.when {
			s.once.Do(s.other)
			break
		}
	}
	return s.Store.Apply(ctx, cs)
}

// TestVisitChargeAndAccountAtOnce: a DFT and the ADT that gives the visit
// its Account, routed to different workers (their first PID-3 differ), are
// applied at the same moment, each committing while the other was being
// planned. Either way round the charge ends on the Account and in its
// balance: the ADT's search for the visit's unbilled items is checked where
// it commits, and so is the DFT's finding that the visit had no Account.
func TestVisitChargeAndAccountAtOnce(t *testing.T) {
	set, err := mappings.Load(mappings.Shipped())
	if err != nil {
		t.Fatal(err)
	}
	mapped := func(typ, ctl, ts string, segs ...string) *record.Message {
		m, _ := inlineMessage(t, typ, ctl, ts, segs...)
		res, err := set.Map(m, mappings.Options{})
		if err != nil {
			t.Fatal(err)
		}
		return record.FromMapping(m, res, 0)
	}
	const pv1 = "PV1|1|O|OPD^CR1^^GENHOSP||||||||||||||||VN700001^^^GENHOSP^VN"
	// The visit, opened without an Account.
	open := mapped("ADT^A04^ADT_A01", "RACE-A04", "20261207080000+0000",
		"PID|1||MRN700001^^^GENHOSP^MR||Racecase^Rita||19700707|F", pv1)
	// The billing system names the patient by another identifier first,
	// and its PV1 says nothing new about the visit.
	charge := mapped("DFT^P03^DFT_P03", "RACE-P03", "20261207080000+0000",
		"PID|1||NH7000011^^^NHS^NH~MRN700001^^^GENHOSP^MR||Racecase^Rita||19700707|F", pv1,
		"FT1|1|TXR7001||20261207|20261207|CG|99213^Office visit^CPT|||1|80.00&GBP")
	account := mapped("ADT^A08^ADT_A01", "RACE-A08", "20261207090000+0000",
		"PID|1||MRN700001^^^GENHOSP^MR||Racecase^Rita||19700707|F||||||||||ACC7001^^^GENHOSP^AN", pv1)

	for _, tc := range []struct {
		name          string
		first, second *record.Message
		when          string // the type only the first message's change set writes
	}{
		{"account commits while the charge is planned", charge, account, "ChargeItem"},
		{"charge commits while the account is planned", account, charge, "Account"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			st, plain := openRecord(t)
			if _, err := plain.Apply(ctx, open, nil); err != nil {
				t.Fatal(err)
			}
			hooked := &interleaved{Store: st, when: tc.when, other: func() {
				if _, err := plain.Apply(ctx, tc.second, nil); err != nil {
					t.Errorf("second message: %v", err)
				}
			}}
			rec, err := record.New(hooked, record.Options{})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := rec.Apply(ctx, tc.first, nil); err != nil {
				t.Fatal(err)
			}
			accs, err := st.Search(ctx, fhirstore.Query{Type: "Account"})
			if err != nil || len(accs) != 1 {
				t.Fatalf("accounts: %d, %v", len(accs), err)
			}
			var acc map[string]any
			if err := json.Unmarshal(accs[0].Body, &acc); err != nil {
				t.Fatal(err)
			}
			if v, c := record.Balance(acc); v != "80.00" || c != "GBP" {
				t.Errorf("balance = %s %s, want 80.00 GBP", v, c)
			}
			items, err := st.Search(ctx, fhirstore.Query{Type: "ChargeItem", Params: []fhirstore.Param{{Name: "account", Values: []string{"Account/" + accs[0].ID}}}})
			if err != nil || len(items) != 1 {
				t.Errorf("charges on the account: %d, %v", len(items), err)
			}
		})
	}
}
