package record_test

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/carebridge/carebridge/fhirstore"
	"github.com/carebridge/carebridge/fhirstore/sqlite"
	"github.com/carebridge/carebridge/record"
)

// A DFT's payment is dated to the day (PaymentReconciliation.paymentDate is
// a FHIR date): on the timeline it comes after that day's events that have
// a time — the admission and the charge it paid —, not before them as if it
// had been paid at midnight; before the next day's.
func TestTimelineDateOnlyAfterTheDaysTimedEvents(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "t.db"), sqlite.Options{Durability: sqlite.DurabilityOff})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	bodies := map[string]string{
		"Patient/p":                 `{"resourceType":"Patient","id":"p"}`,
		"Encounter/e":               `{"resourceType":"Encounter","id":"e","status":"in-progress","class":{"code":"IMP"},"subject":{"reference":"Patient/p"},"period":{"start":"2026-12-02T08:00:00Z"}}`,
		"Account/a":                 `{"resourceType":"Account","id":"a","status":"active","subject":[{"reference":"Patient/p"}]}`,
		"ChargeItem/c":              `{"resourceType":"ChargeItem","id":"c","status":"billable","code":{"text":"Admission care"},"subject":{"reference":"Patient/p"},"account":[{"reference":"Account/a"}],"occurrenceDateTime":"2026-12-02T10:00:00Z","priceOverride":{"value":300,"currency":"GBP"}}`,
		"PaymentReconciliation/pay": `{"resourceType":"PaymentReconciliation","id":"pay","status":"active","created":"2026-12-02T12:00:00Z","paymentDate":"2026-12-02","paymentAmount":{"value":100,"currency":"GBP"},"extension":[{"url":"https://carebridge.dev/fhir/StructureDefinition/account","valueReference":{"reference":"Account/a"}}]}`,
		"ChargeItem/next":           `{"resourceType":"ChargeItem","id":"next","status":"billable","code":{"text":"X-ray"},"subject":{"reference":"Patient/p"},"account":[{"reference":"Account/a"}],"occurrenceDateTime":"2026-12-03T00:30:00Z","priceOverride":{"value":60,"currency":"GBP"}}`,
	}
	var writes []fhirstore.Write
	for ref, b := range bodies {
		typ, id, _ := strings.Cut(ref, "/")
		writes = append(writes, fhirstore.Write{Type: typ, ID: id, Body: []byte(b)})
	}
	if _, err := st.Apply(ctx, fhirstore.ChangeSet{Writes: writes}); err != nil {
		t.Fatal(err)
	}
	v, err := record.Show(ctx, st, "p")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range v.Timeline {
		got = append(got, e.Time+" "+e.Ref)
	}
	want := []string{
		"2026-12-02T08:00:00Z Encounter/e",
		"2026-12-02T10:00:00Z ChargeItem/c",
		"2026-12-02 PaymentReconciliation/pay",
		"2026-12-03T00:30:00Z ChargeItem/next",
	}
	if !slices.Equal(got, want) {
		t.Errorf("timeline:\n got %q\nwant %q", got, want)
	}
}
