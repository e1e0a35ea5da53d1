package record_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/carebridge/carebridge/mappings"
	"github.com/carebridge/carebridge/record"
)

// TestOlderAdmissionAddsWhatOnlyItSays: the admission (A01) arrives after a
// newer update (A08) that named the patient by the MRN alone. The update's
// data stay; what only the admission says is added: the NHS number and the
// passport (systems the record never had) and the maiden name (a use it
// never had), but not its official name beside the update's (the same
// name, use aside).
func TestOlderAdmissionAddsWhatOnlyItSays(t *testing.T) {
	set, err := mappings.Load(mappings.Shipped())
	if err != nil {
		t.Fatal(err)
	}
	v := run(t, set, []string{examples + "ADT/a08-update-nulls.hl7", examples + "ADT/a01-admit.hl7"}, 1)
	p := v.one(t, "Patient")
	var systems []string
	for _, id := range list(p["identifier"]) {
		systems = append(systems, fmt.Sprint(id.(map[string]any)["system"]))
	}
	for _, want := range []string{"https://genhosp.example.org/fhir/sid/mrn", "https://fhir.nhs.uk/Id/nhs-number"} {
		if !slices.Contains(systems, want) {
			t.Errorf("identifier systems %v lack %s", systems, want)
		}
	}
	if len(systems) != 3 {
		t.Errorf("identifier systems %v, want the MRN, the NHS number and the passport", systems)
	}
	var names []string
	for _, n := range list(p["name"]) {
		x := n.(map[string]any)
		names = append(names, fmt.Sprint(x["use"], " ", x["family"]))
	}
	if !slices.Equal(names, []string{"<nil> Okafor", "maiden Eze"}) {
		t.Errorf("names %v, want the update's and the maiden name", names)
	}
	if notes := fmt.Sprint(v.outcomes[1].Notes); !strings.Contains(notes, "identifier (2 entries)") || !strings.Contains(notes, "name (1 entry)") {
		t.Errorf("notes: %s", notes)
	}
	// The update cleared the address (PID-11 ""), the home contacts
	// (PID-13 "") and the religion (PID-17 ""): the older admission does
	// not add them back; the work phone and the birth place it adds.
	if a, ok := p["address"]; ok {
		t.Errorf("address %v: the older admission added back what the newer update cleared", a)
	}
	var telecom []string
	for _, c := range list(p["telecom"]) {
		x := c.(map[string]any)
		telecom = append(telecom, fmt.Sprint(x["system"], " ", x["use"]))
	}
	if !slices.Equal(telecom, []string{"phone work"}) {
		t.Errorf("telecom %v, want only the work phone (the update cleared the home contacts)", telecom)
	}
	var exts []string
	for _, e := range list(p["extension"]) {
		exts = append(exts, fmt.Sprint(e.(map[string]any)["url"]))
	}
	if !slices.Equal(exts, []string{"http://hl7.org/fhir/StructureDefinition/patient-birthPlace"}) {
		t.Errorf("extensions %v, want the birth place only (the update cleared the religion)", exts)
	}
	if notes := fmt.Sprint(v.outcomes[1].Notes); !strings.Contains(notes, "what a newer message cleared: address, extension, telecom") {
		t.Errorf("notes do not say what was not added: %s", notes)
	}
}

// TestClearedUntilSetAgain: what an update cleared (the address, PID-11
// "") is kept as cleared on the Patient until a newer message gives an
// address again; then it is no longer marked.
func TestClearedUntilSetAgain(t *testing.T) {
	set, err := mappings.Load(mappings.Shipped())
	if err != nil {
		t.Fatal(err)
	}
	cleared := func(p map[string]any) []string {
		var out []string
		meta, _ := p["meta"].(map[string]any)
		for _, e := range list(meta["extension"]) {
			x := e.(map[string]any)
			if x["url"] == record.ClearedElementURL {
				out = append(out, fmt.Sprint(x["valueString"]))
			}
		}
		return out
	}
	v := run(t, set, []string{examples + "ADT/a01-admit.hl7", examples + "ADT/a08-update-nulls.hl7"}, 1)
	if got := cleared(v.one(t, "Patient")); !slices.Contains(got, "address") {
		t.Fatalf("cleared %v after the update that cleared the address, want address among them", got)
	}
	v = run(t, set, []string{examples + "ADT/a01-admit.hl7", examples + "ADT/a08-update-nulls.hl7", "testdata/hl7/a08-same-as-admit.hl7"}, 1)
	p := v.one(t, "Patient")
	if got := cleared(p); slices.Contains(got, "address") || slices.Contains(got, "telecom.where(use = 'home' or use.empty())") {
		t.Errorf("cleared %v after a newer update gave the address and home phone again", got)
	}
	if _, ok := p["address"]; !ok {
		t.Error("the newer update's address is missing")
	}
}

// TestCancelAppliedAsUpdateDatesLocations: a cancel of a transfer (A12)
// and of a discharge (A13) that find no transfer or discharge to undo are
// applied as updates; the locations they make active start at their event
// and those they end end at it, as any update's.
func TestCancelAppliedAsUpdateDatesLocations(t *testing.T) {
	set, err := mappings.Load(mappings.Shipped())
	if err != nil {
		t.Fatal(err)
	}
	v := run(t, set, []string{examples + "ADT/a01-admit.hl7", examples + "ADT/a12-cancel-transfer.hl7", examples + "ADT/a13-cancel-discharge.hl7"}, 1)
	v.wantNote(t, "EX-A13", "cancel")
	var periods []string // in the Encounter's order: the ward, then the ICU
	for _, l := range list(v.one(t, "Encounter")["location"]) {
		x := l.(map[string]any)
		p, _ := x["period"].(map[string]any)
		periods = append(periods, fmt.Sprint(x["status"], " ", p["start"], " → ", p["end"]))
	}
	want := []string{
		"completed 2026-11-03T09:00:00Z → 2026-11-08T17:00:00Z",
		"active 2026-11-08T17:00:00Z → <nil>",
	}
	if !slices.Equal(periods, want) {
		t.Errorf("locations %v, want %v", periods, want)
	}
}

// TestGapFillKeepsNewerEventsMark: a newer update (A31 of 15:00) finds
// the patient as it is, so it writes no version and only marks the
// resource with its time. An older update (09:00) then adds the maiden
// name the patient never had, which writes a version; the mark must go
// with it, or an update from between the two (12:00) overwrites the name
// the 15:00 event confirmed.
func TestGapFillKeepsNewerEventsMark(t *testing.T) {
	c := newChains(t)
	c.msg("ADT^A01 GF-A01 202603020800", "PID|1||MRN900101^^^GENHOSP^MR||Blythe^Ada^^^^^L||20061205|U")
	c.msg("ADT^A31 GF-NEW 202603021500", "PID|1||MRN900101^^^GENHOSP^MR||||20061205|U")
	c.msg("ADT^A31 GF-OLD 202603020900", "PID|1||MRN900101^^^GENHOSP^MR||Fenwick^Bram^^^^^M")
	out := c.msg("ADT^A31 GF-MID 202603021200", "PID|1||MRN900101^^^GENHOSP^MR||Corrow^Cora^^^^^L||20061205|F")
	p := c.all("Patient")[0]
	var names []string
	for _, n := range list(p["name"]) {
		x := n.(map[string]any)
		names = append(names, fmt.Sprint(x["use"], " ", x["family"]))
	}
	if !slices.Equal(names, []string{"official Blythe", "maiden Fenwick"}) || p["gender"] != "unknown" {
		t.Errorf("names %v, gender %v: want the admission's official name and sex (confirmed at 15:00) and the older update's maiden name", names, p["gender"])
	}
	if notes := fmt.Sprint(out.Notes); !strings.Contains(notes, "that found Patient/") {
		t.Errorf("the 12:00 update's notes do not say a newer event found the patient as it is: %s", notes)
	}
}

// TestOlderMessageAddsPhoneOfAUseNeverHad: the newer update (A08) gives
// the home phone; the admission (A01), older and received after it, gave
// a mobile and a work number too. Delivered in order, the update would
// have replaced the home phone only; so the admission's mobile and work
// numbers (a system and use the record never had) are added, its home
// phone is not.
func TestOlderMessageAddsPhoneOfAUseNeverHad(t *testing.T) {
	c := newChains(t)
	c.msg("ADT^A08 TP-A08 202603021200", "PID|1||MRN900102^^^GENHOSP^MR||Hollis^Ada^^^^^L||19800101|F|||||01632 960555^PRN^PH")
	out := c.msg("ADT^A01 TP-A01 202603020800", "PID|1||MRN900102^^^GENHOSP^MR||Hollis^Ada^^^^^L||19800101|F|||||01632 960111^PRN^PH~07700 900222^PRN^CP|01632 960333^WPN^PH")
	var telecom []string
	for _, x := range list(c.all("Patient")[0]["telecom"]) {
		cp := x.(map[string]any)
		telecom = append(telecom, fmt.Sprint(cp["use"], " ", cp["value"]))
	}
	want := []string{"home 01632 960555", "mobile 07700 900222", "work 01632 960333"}
	if !slices.Equal(telecom, want) {
		t.Errorf("telecom %v, want %v", telecom, want)
	}
	if notes := fmt.Sprint(out.Notes); !strings.Contains(notes, "telecom (2 entries)") {
		t.Errorf("notes do not name the phones added: %s", notes)
	}
}
