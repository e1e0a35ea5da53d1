package record_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/carebridge/carebridge/fhirstore"
	"github.com/carebridge/carebridge/mappings"
	"github.com/carebridge/carebridge/record"
)

// TestMessageWithoutPatientIsRefused: an ADT or DFT message without a PID
// (or with one misspelt) maps to a visit or charges that belong to no one;
// the record refuses it as a content error (the message ends failed with
// the reason) and writes nothing. A schedule message may name no patient,
// but not a patient with nothing to tell who it is (an empty PID).
func TestMessageWithoutPatientIsRefused(t *testing.T) {
	st, rec := openRecord(t)
	set, err := mappings.Load(mappings.Shipped())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	pv1 := "PV1|1|I|WARD4^101^A^GENHOSP||||||||||||||||VNX01^^^GENHOSP^VN"
	for _, tc := range []struct {
		name, typ string
		segs      []string
	}{
		{"A01 without PID", "ADT^A01^ADT_A01", []string{pv1}},
		{"A01 with PID misspelt", "ADT^A01^ADT_A01", []string{"PDI|1||NOPID1^^^GENHOSP^MR||Nobody^Known||19800101|F", pv1}},
		{"A08 with nothing to map", "ADT^A08^ADT_A01", nil},
		{"P03 without PID", "DFT^P03^DFT_P03", []string{pv1, "FT1|1|TXNP1||20261206|20261207|CG|99213^Office visit^CPT|||1|25.00&GBP"}},
		// An empty PID (the shared corpus has such messages) maps to a
		// Patient keyed by the message alone, which names no one.
		{"A01 with an empty PID", "ADT^A01^ADT_A01", []string{"PID|1", pv1, "DG1|1||I10^Hypertension^I10"}},
		{"S12 with an empty PID", "SIU^S12^SIU_S12", []string{"SCH||APPT-NP1^SCHED|||||||30|min|^^30^20261201100000+0000", "PID|1||||||||", "RGS|1|A", "AIP|1|A|DOC123^Mensah^Kofi"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, _ := inlineMessage(t, tc.typ, "NP-"+tc.name, "20261201120000+0000", tc.segs...)
			res, err := set.Map(m, mappings.Options{})
			if err != nil {
				t.Fatalf("map: %v", err)
			}
			_, err = rec.Apply(ctx, record.FromMapping(m, res, 0), nil)
			if !errors.Is(err, record.ErrNoPatient) || !record.IsContentError(err) {
				t.Fatalf("apply: %v, want a content error ErrNoPatient", err)
			}
			for _, typ := range []string{"Encounter", "ChargeItem", "Account", "Patient", "Condition", "Appointment"} {
				if found, err := st.Search(ctx, fhirstore.Query{Type: typ, Count: 10}); err != nil || len(found) > 0 {
					t.Errorf("%s written: %d (%v)", typ, len(found), err)
				}
			}
		})
	}
}

// A bed status update (ADT^A20, mapped by a map of one's own) names no
// patient and needs none: its Location is recorded. An A01 that makes only
// a Location (no PID, no visit number) is still refused.
func TestBedStatusNeedsNoPatient(t *testing.T) {
	st, rec := openRecord(t)
	ctx := context.Background()
	m := &record.Message{Code: "ADT", Resources: []record.Incoming{
		{Type: "Location", ID: "bed-4-101-a", Body: map[string]any{"resourceType": "Location", "id": "bed-4-101-a", "name": "WARD4 101 A", "operationalStatus": map[string]any{"code": "U", "system": "http://terminology.hl7.org/CodeSystem/v2-0116"}}},
		{Type: "Provenance", ID: "prov-a20", Body: map[string]any{"resourceType": "Provenance", "id": "prov-a20", "recorded": "2026-12-01T12:00:00Z",
			"target": []any{map[string]any{"reference": "Location/bed-4-101-a"}}, "agent": []any{map[string]any{"who": map[string]any{"display": "ADTSYS^GENHOSP"}}}}},
	}}
	m.Event = "A01"
	if _, err := rec.Apply(ctx, m, nil); !errors.Is(err, record.ErrNoPatient) {
		t.Fatalf("apply an A01 making only a Location: %v, want ErrNoPatient", err)
	}
	m.Event = "A20"
	if _, err := rec.Apply(ctx, m, nil); err != nil {
		t.Fatalf("apply: %v", err)
	}
	if r, err := st.Read(ctx, "Location", "bed-4-101-a"); err != nil || r.Version != 1 {
		t.Fatalf("the Location was not recorded: %+v %v", r, err)
	}
}

// A charge made before its visit's Account in the same message (a map of
// one's own that builds the Account last) is billed to it all the same.
func TestChargeBeforeItsAccountInOneMessage(t *testing.T) {
	st, rec := openRecord(t)
	ctx := context.Background()
	ref := func(r string) map[string]any { return map[string]any{"reference": r} }
	m := &record.Message{Code: "DFT", Event: "P03", Resources: []record.Incoming{
		{Type: "Patient", ID: "pa", Body: map[string]any{"resourceType": "Patient", "id": "pa",
			"identifier": []any{map[string]any{"system": "urn:x", "value": "PA1"}}, "name": []any{map[string]any{"family": "Order", "given": []any{"Olive"}}}}},
		{Type: "ChargeItem", ID: "ch", Body: map[string]any{"resourceType": "ChargeItem", "id": "ch", "status": "billable",
			"code": map[string]any{"text": "Visit"}, "subject": ref("Patient/pa"), "context": ref("Encounter/en"),
			"priceOverride": map[string]any{"value": json.Number("12.50"), "currency": "GBP"}}},
		{Type: "Encounter", ID: "en", Body: map[string]any{"resourceType": "Encounter", "id": "en", "status": "in-progress",
			"class":   map[string]any{"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
			"subject": ref("Patient/pa"), "account": []any{ref("Account/ac")}}},
		{Type: "Account", ID: "ac", Body: map[string]any{"resourceType": "Account", "id": "ac", "status": "active", "subject": []any{ref("Patient/pa")}}},
		{Type: "Provenance", ID: "pr", Body: map[string]any{"resourceType": "Provenance", "id": "pr", "recorded": "2026-12-01T12:00:00Z",
			"target": []any{ref("ChargeItem/ch")}, "agent": []any{map[string]any{"who": map[string]any{"display": "BILLSYS^GENHOSP"}}}}},
	}}
	if _, err := rec.Apply(ctx, m, nil); err != nil {
		t.Fatalf("apply: %v", err)
	}
	acc, err := st.Read(ctx, "Account", "ac")
	if err != nil {
		t.Fatal(err)
	}
	var body map[string]any
	if err := json.Unmarshal(acc.Body, &body); err != nil {
		t.Fatal(err)
	}
	if v, cur := record.Balance(body); v != "12.50" || cur != "GBP" {
		t.Errorf("balance %s %s, want 12.50 GBP: the charge was not billed to its visit's account", v, cur)
	}
}
