package record_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/carebridge/carebridge/engine/hl7"
	"github.com/carebridge/carebridge/fhirstore"
	"github.com/carebridge/carebridge/fhirstore/sqlite"
	"github.com/carebridge/carebridge/mappings"
	"github.com/carebridge/carebridge/record"
)

var update = flag.Bool("update", false, "rewrite the expected records of the scenarios")

// examples are the shipped mapping examples; testdata/hl7 the record's own.
const examples = "../mappings/hl7v2/messages/examples/"

// scenarios are HL7 message sequences applied to an empty record; each has
// its expected record (every stored resource but Provenance and the
// reference data, and every message's outcome) in testdata/scenarios.
var scenarios = []struct {
	name  string
	steps []string
	check func(t *testing.T, v *view)
}{
	{"admit-transfer-discharge", []string{examples + "ADT/a01-admit.hl7", examples + "ADT/a02-transfer.hl7", examples + "ADT/a03-discharge.hl7"},
		func(t *testing.T, v *view) {
			enc := v.one(t, "Encounter")
			v.want(t, enc, "status", "finished")
			if h := v.statuses(enc); !slices.Equal(h, []string{"in-progress"}) {
				t.Errorf("statusHistory = %v, want [in-progress]", h)
			}
			if locs := v.locations(enc); len(locs) != 2 || locs[0] != "completed 2026-11-03T09:00:00Z..2026-11-04T11:59:00Z" || !strings.HasPrefix(locs[1], "completed 2026-11-04T11:59:00Z..2026-11-08T") {
				t.Errorf("location history = %q", locs)
			}
		}},
	{"admit-cancel-admit", []string{"testdata/hl7/a01-lindqvist.hl7", examples + "ADT/a11-cancel-admit.hl7"},
		func(t *testing.T, v *view) {
			enc := v.one(t, "Encounter")
			v.want(t, enc, "status", "cancelled")
			if h := v.statuses(enc); !slices.Equal(h, []string{"in-progress"}) {
				t.Errorf("statusHistory = %v", h)
			}
			// The bed is no longer taken: the location is closed at the
			// cancel.
			for _, l := range enc["location"].([]any) {
				x := l.(map[string]any)
				if end, _ := x["period"].(map[string]any)["end"].(string); x["status"] != "completed" || end == "" {
					t.Errorf("location after the cancel: %v", x)
				}
			}
		}},
	{"discharge-cancel-discharge", []string{examples + "ADT/a01-admit.hl7", examples + "ADT/a03-discharge.hl7", examples + "ADT/a13-cancel-discharge.hl7"},
		func(t *testing.T, v *view) {
			enc := v.one(t, "Encounter")
			v.want(t, enc, "status", "in-progress")
			if _, ok := enc["hospitalization"].(map[string]any)["dischargeDisposition"]; ok {
				t.Error("discharge disposition survived the cancel")
			}
			if end := enc["period"].(map[string]any)["end"]; end != nil {
				t.Errorf("period.end = %v after the cancel", end)
			}
			if h := v.statuses(enc); !slices.Equal(h, []string{"in-progress", "finished"}) {
				t.Errorf("statusHistory = %v, want [in-progress finished]", h)
			}
		}},
	{"transfer-cancel-transfer", []string{examples + "ADT/a01-admit.hl7", examples + "ADT/a02-transfer.hl7", examples + "ADT/a12-cancel-transfer.hl7"},
		func(t *testing.T, v *view) {
			enc := v.one(t, "Encounter")
			if locs := v.locations(enc); len(locs) != 1 || locs[0] != "active 2026-11-03T09:00:00Z.." {
				t.Errorf("location history after A12 = %q, want the admit's ward active again", locs)
			}
		}},
	{"update-with-nulls", []string{examples + "ADT/a01-admit.hl7", examples + "ADT/a08-update-nulls.hl7"},
		func(t *testing.T, v *view) {
			p := v.patient(t, "MRN200001")
			if _, ok := p["address"]; ok {
				t.Error(`PID-11 "" did not clear the address`)
			}
			if _, ok := p["maritalStatus"]; !ok {
				t.Error("an absent field (PID-16) erased maritalStatus")
			}
			for _, tc := range p["telecom"].([]any) {
				if tc.(map[string]any)["use"] == "home" {
					t.Error(`PID-13 "" left a home telecom`)
				}
			}
			if len(p["identifier"].([]any)) != 3 {
				t.Errorf("identifiers = %d, want the admit's 3", len(p["identifier"].([]any)))
			}
		}},
	{"out-of-order-update", []string{examples + "ADT/a01-admit.hl7", examples + "ADT/a08-update-nulls.hl7", "testdata/hl7/a08-older.hl7"},
		func(t *testing.T, v *view) {
			p := v.patient(t, "MRN200001")
			if _, ok := p["address"]; ok {
				t.Error("an older A08 re-added the address a newer one cleared")
			}
			v.wantNote(t, "RC-A08-OLD", "out-of-order")
		}},
	// The newer update (A08 of 5 Nov) says what the admission said: it
	// changes nothing, so it writes no version, but the record keeps that
	// it said so. An update older than it (3 Nov, after the admission)
	// that arrives last does not change the address.
	{"newer-update-without-changes-then-older-update", []string{examples + "ADT/a01-admit.hl7", "testdata/hl7/a08-same-as-admit.hl7", "testdata/hl7/a08-older.hl7"},
		func(t *testing.T, v *view) {
			p := v.patient(t, "MRN200001")
			var lines []string
			for _, a := range list(p["address"]) {
				lines = append(lines, fmt.Sprint(a.(map[string]any)["line"]))
			}
			if len(lines) == 0 || lines[0] != "[7 Lantern Row]" || slices.Contains(lines, "[99 Old Street]") {
				t.Errorf("addresses %v: the update older than the one that restated the admission's changed them", lines)
			}
			v.wantNote(t, "RC-A08-OLD", "out-of-order")
			for _, o := range v.outcomes {
				if o.Control == "RC-A08-OLD" && !strings.Contains(fmt.Sprint(o.Notes), "2026-11-05T09:00:00Z that found Patient/") {
					t.Errorf("the older update's notes do not say a newer event found the patient as it is: %v", o.Notes)
				}
			}
			h, err := v.store.(fhirstore.Store).History(context.Background(), "Patient", p["id"].(string))
			if err != nil || len(h) != 1 {
				t.Errorf("Patient history: %d versions (%v), want 1: an update that changes nothing writes no version", len(h), err)
			}
		}},
	{"two-systems-one-person", []string{examples + "ADT/a01-admit.hl7", "testdata/hl7/a04-clinic-same-person.hl7", "testdata/hl7/a04-clinic-maybe.hl7", "testdata/hl7/a04-clinic-other.hl7"},
		func(t *testing.T, v *view) {
			p := v.patient(t, "MRN200001")
			v.wantNote(t, "RC-A04-CL1", "identity")
			v.wantNote(t, "RC-A04-CL1", "link")
			if n := len(v.live("Patient")); n != 3 {
				t.Errorf("patients = %d, want 3 (hospital+clinic linked, the uncertain one, the other person)", n)
			}
			// The clinic's own record is kept, with its own data, and
			// refers to the hospital's; the hospital's data are its own.
			clinic := v.patient(t, "CL-77001")
			if fmt.Sprint(clinic["link"]) != fmt.Sprint([]any{map[string]any{"other": map[string]any{"reference": "Patient/" + p["id"].(string)}, "type": "refer"}}) {
				t.Errorf("the clinic's record does not refer to the hospital's: %v", clinic["link"])
			}
			if !strings.Contains(fmt.Sprint(p["link"]), "seealso") || v.hasIdentifier(p, "CL-77001") {
				t.Errorf("the hospital's record: links %v, identifiers %v (want a seealso link, not the clinic's MRN)", p["link"], p["identifier"])
			}
			for _, e := range v.all("Encounter") {
				if strings.Contains(fmt.Sprint(e["identifier"]), "CLV-1") && e["subject"].(map[string]any)["reference"] != "Patient/"+p["id"].(string) {
					t.Errorf("the clinic's visit is on %v, want the hospital's record", e["subject"])
				}
			}
			if n := len(v.all("Task")); n != 1 {
				t.Errorf("review tasks = %d, want 1 (for the uncertain record)", n)
			}
		}},
	{"link-then-unmerge", []string{examples + "ADT/a01-admit.hl7", "testdata/hl7/a04-clinic-same-person.hl7", "testdata/hl7/a04-clinic-second-visit.hl7", "testdata/hl7/a37-clinic-unlink.hl7"},
		func(t *testing.T, v *view) {
			// The clinic's record was linked to the hospital's by the NHS
			// number; A37 says they are not the same person after all.
			hosp := v.patient(t, "MRN200001")
			var clinic map[string]any
			for _, c := range v.all("Patient") {
				if c["id"] != hosp["id"] && v.hasIdentifier(c, "CL-77001") {
					clinic = c
				}
			}
			if clinic == nil {
				t.Fatal("no clinic record")
			}
			for _, p := range []map[string]any{hosp, clinic} {
				if p["link"] != nil || p["active"] == false {
					t.Errorf("Patient/%s still linked: link %v, active %v", p["id"], p["link"], p["active"])
				}
			}
			if v.hasIdentifier(hosp, "CL-77001") || !v.hasIdentifier(hosp, "943 476 5919") {
				t.Errorf("hospital identifiers after the unmerge = %v, want its own (with its NHS number) and not the clinic's", hosp["identifier"])
			}
			if tel := fmt.Sprint(hosp["telecom"]); strings.Contains(tel, "960999") || !strings.Contains(tel, "chiamaka.okafor@example.org") {
				t.Errorf("hospital telecom after the unmerge = %s, want its own without the phone the clinic sent after the link", tel)
			}
			if tel := fmt.Sprint(clinic["telecom"]); !strings.Contains(tel, "960999") || strings.Contains(tel, "example.org") {
				t.Errorf("clinic telecom after the unmerge = %s, want the phone it sent after the link and nothing of the hospital's", tel)
			}
			for _, e := range v.all("Encounter") {
				ids := fmt.Sprint(e["identifier"])
				want := hosp["id"]
				if strings.Contains(ids, "CLV-") {
					want = clinic["id"]
				}
				if e["subject"].(map[string]any)["reference"] != "Patient/"+want.(string) {
					t.Errorf("Encounter %s is on %v, want Patient/%s", ids, e["subject"], want)
				}
				if strings.Contains(fmt.Sprint(e["meta"]), record.NamedPatientSystem) {
					t.Errorf("Encounter %s still says it was addressed to another record", ids)
				}
			}
			if n := len(v.all("Encounter")); n != 3 {
				t.Errorf("encounters = %d, want the hospital's and the clinic's two", n)
			}
		}},
	{"score-link-then-unmerge", []string{examples + "ADT/a01-admit.hl7", "testdata/hl7/a04-clinic-no-shared-id.hl7", "testdata/hl7/a37-clinic-score-unlink.hl7"},
		func(t *testing.T, v *view) {
			hosp, clinic := v.patient(t, "MRN200001"), v.patient(t, "CL-77003")
			if hosp["id"] == clinic["id"] {
				t.Fatal("one record after the unmerge")
			}
			v.wantNote(t, "RC-A04-CL3", "identity")
			if v.hasIdentifier(hosp, "CL-77003") || clinic["link"] != nil || hosp["link"] != nil {
				t.Errorf("still linked: hospital %v / %v, clinic %v", hosp["identifier"], hosp["link"], clinic["link"])
			}
			for _, e := range v.all("Encounter") {
				if strings.Contains(fmt.Sprint(e["identifier"]), "CLV-3") && e["subject"].(map[string]any)["reference"] != "Patient/"+clinic["id"].(string) {
					t.Errorf("the clinic's visit stayed on %v", e["subject"])
				}
			}
		}},
	{"clinic-merges-linked-record", []string{examples + "ADT/a01-admit.hl7", "testdata/hl7/a04-clinic-y.hl7", "testdata/hl7/a04-clinic-same-person.hl7", "testdata/hl7/a40-clinic-linked-into-y.hl7"},
		func(t *testing.T, v *view) {
			// The clinic merges its record K (linked by the engine to the
			// hospital's H) into its record Y: the link gives way, H is
			// not touched.
			h, k, y := v.byID(t, v.patient(t, "MRN200001")), v.patient(t, "CL-77001"), v.patient(t, "CL-77006")
			if h["link"] != nil || h["active"] == false {
				t.Errorf("the hospital's record was changed by the clinic's merge: link %v active %v", h["link"], h["active"])
			}
			v.wantLink(t, k, "replaced-by", y)
			v.wantVisitOn(t, "CLV-1", y)
			v.wantVisitOn(t, "CLV-6", y)
			v.wantVisitOn(t, "VN800001", h)
		}},
	{"clinic-merges-into-linked-record-then-unlink", []string{examples + "ADT/a01-admit.hl7", "testdata/hl7/a04-clinic-x.hl7", "testdata/hl7/a04-clinic-same-person.hl7",
		"testdata/hl7/a40-clinic-x-into-linked.hl7", "testdata/hl7/a08-clinic-x.hl7", "testdata/hl7/a37-clinic-only.hl7"},
		func(t *testing.T, v *view) {
			// X is merged into the linked K: X's data go to K, never to the
			// hospital's H; unlinking K takes X's visits along.
			h, k := v.patient(t, "MRN200001"), v.patient(t, "CL-77001")
			if b := fmt.Sprint(h["telecom"], h["address"]); strings.Contains(b, "960888") || strings.Contains(b, "Clinic Lane") {
				t.Errorf("the clinic's data for a record merged into the linked one reached the hospital's: %s", b)
			}
			if b := fmt.Sprint(k["telecom"], k["address"]); !strings.Contains(b, "960888") || !strings.Contains(b, "Clinic Lane") {
				t.Errorf("the linked record lacks what the clinic sent for the record merged into it: %s", b)
			}
			v.wantLink(t, v.patient(t, "CL-77005"), "replaced-by", k)
			for _, vn := range []string{"CLV-1", "CLV-5", "CLV-7"} {
				v.wantVisitOn(t, vn, k)
			}
			v.wantVisitOn(t, "VN800001", h)
			for _, l := range asList(k["link"]) {
				if l.(map[string]any)["type"] == "refer" {
					t.Errorf("still linked: %v", k["link"])
				}
			}
		}},
	{"unlink-after-survivor-merged", []string{examples + "ADT/a01-admit.hl7", "testdata/hl7/a04-clinic-same-person.hl7", "testdata/hl7/a04-third-record.hl7",
		"testdata/hl7/a40-chain.hl7", "testdata/hl7/a04-clinic-second-visit.hl7", "testdata/hl7/a37-clinic-unlink.hl7"},
		func(t *testing.T, v *view) {
			// K linked to H; the hospital merges H into F; K's next visit
			// goes to F. An A37 naming H and K undoes the link only, and
			// both of K's visits come back from wherever they are.
			f, k := v.patient(t, "MRN200009"), v.patient(t, "CL-77001")
			var h map[string]any
			for _, p := range v.all("Patient") {
				if v.hasIdentifier(p, "P1234567") {
					h = p
				}
			}
			v.wantLink(t, h, "replaced-by", f)
			for _, vn := range []string{"CLV-1", "CLV-2"} {
				v.wantVisitOn(t, vn, k)
			}
		}},
	{"linked-record-never-takes-anothers-identifier", []string{examples + "ADT/a01-admit.hl7", "testdata/hl7/a04-other-person-z.hl7", "testdata/hl7/a04-clinic-same-person.hl7",
		"testdata/hl7/a08-clinic-typo-others-number.hl7", "testdata/hl7/a04-lab-z.hl7"},
		func(t *testing.T, v *view) {
			// The clinic's update of K carries Z's NHS number by mistake:
			// not added to K, so the lab's record of Z links to Z, and
			// Z's lab visit stays off the hospital patient's record.
			k, z := v.patient(t, "CL-77001"), v.patient(t, "MRN200777")
			if v.hasIdentifier(k, "999 888 7777") {
				t.Error("the linked record took another patient's NHS number")
			}
			v.wantVisitOn(t, "LV-1", z)
		}},
	{"merge-then-unmerge", []string{examples + "ADT/a01-admit.hl7", "testdata/hl7/a04-duplicate.hl7", examples + "ADT/a40-merge.hl7", "testdata/hl7/a37-unmerge.hl7"},
		func(t *testing.T, v *view) {
			dup := v.patient(t, "MRN299901")
			if _, ok := dup["link"]; ok {
				t.Errorf("links survived the unmerge: %v", dup["link"])
			}
			for _, e := range v.all("Encounter") {
				if strings.Contains(fmt.Sprint(e["identifier"]), "VN899901") && e["subject"].(map[string]any)["reference"] != "Patient/"+dup["id"].(string) {
					t.Error("the duplicate's visit was not moved back by the unmerge")
				}
			}
		}},
	{"merge-moves-history", []string{examples + "ADT/a01-admit.hl7", "testdata/hl7/a04-duplicate.hl7", examples + "ADT/a40-merge.hl7"},
		func(t *testing.T, v *view) {
			surv, dup := v.patient(t, "MRN200001"), v.patient(t, "MRN299901")
			if dup["active"] != false {
				t.Error("the merged record is still active")
			}
			for _, e := range v.all("Encounter") {
				if e["subject"].(map[string]any)["reference"] != "Patient/"+surv["id"].(string) {
					t.Errorf("Encounter %v still on the merged record", e["identifier"])
				}
			}
		}},
	{"circular-merge", []string{examples + "ADT/a01-admit.hl7", "testdata/hl7/a04-duplicate.hl7", examples + "ADT/a40-merge.hl7", "testdata/hl7/a40-reverse.hl7"},
		func(t *testing.T, v *view) {
			v.wantFailed(t, "RC-A40-REV", "circular merge")
		}},
	{"siu-book-reschedule-cancel", []string{examples + "SIU/s12-book.hl7", examples + "SIU/s13-reschedule.hl7", examples + "SIU/s15-cancel.hl7"},
		func(t *testing.T, v *view) {
			a := v.one(t, "Appointment")
			v.want(t, a, "status", "cancelled")
			v.want(t, a, "start", "2026-03-17T10:00:00Z")
		}},
	{"book-then-arrive", []string{examples + "SIU/s12-with-visit.hl7", "testdata/hl7/a04-arrive.hl7"},
		func(t *testing.T, v *view) {
			v.want(t, v.one(t, "Appointment"), "status", "arrived")
			enc := v.one(t, "Encounter")
			v.want(t, enc, "status", "in-progress")
			if !strings.Contains(fmt.Sprint(enc["appointment"]), "Appointment/") {
				t.Error("the visit lost its appointment")
			}
		}},
	// The scheduler sends a modify (S14, still "Booked", with the visit)
	// after the patient arrived: the arrival stands, for the appointment
	// and for the visit.
	{"arrive-then-schedule-modify", []string{examples + "SIU/s12-with-visit.hl7", "testdata/hl7/a04-arrive.hl7", "testdata/hl7/s14-after-arrival.hl7"},
		func(t *testing.T, v *view) {
			v.want(t, v.one(t, "Appointment"), "status", "arrived")
			v.want(t, v.one(t, "Encounter"), "status", "in-progress")
			v.wantNote(t, "SIU0009", "appointment")
		}},
	// The SIU comes after the ADT (booked late, or the scheduler's feed
	// lagging): the outcome is the same as in the other order.
	{"arrive-then-book-with-visit", []string{"testdata/hl7/a04-arrive.hl7", examples + "SIU/s12-with-visit.hl7"},
		func(t *testing.T, v *view) {
			v.want(t, v.one(t, "Appointment"), "status", "arrived")
			enc := v.one(t, "Encounter")
			v.want(t, enc, "status", "in-progress")
			if !strings.Contains(fmt.Sprint(enc["appointment"]), "Appointment/") {
				t.Error("the visit is not linked to its appointment")
			}
		}},
	{"arrive-discharge-then-book-by-appointment-id", []string{"testdata/hl7/a04-arrive-appointment-id.hl7", "testdata/hl7/a03-appointment-id.hl7", examples + "SIU/s12-book.hl7"},
		func(t *testing.T, v *view) {
			v.want(t, v.one(t, "Appointment"), "status", "fulfilled")
			enc := v.one(t, "Encounter")
			v.want(t, enc, "status", "finished")
			if !strings.Contains(fmt.Sprint(enc["appointment"]), "Appointment/") {
				t.Error("the visit is not linked to its appointment")
			}
		}},
	// The visit number is the appointment's filler id (SCH-2): the A04
	// finds the appointment by it, but only for its own patient.
	{"book-then-arrive-by-appointment-id", []string{examples + "SIU/s12-book.hl7", "testdata/hl7/a04-other-patient-same-number.hl7",
		"testdata/hl7/a04-arrive-appointment-id.hl7", "testdata/hl7/a03-appointment-id.hl7"},
		func(t *testing.T, v *view) {
			v.want(t, v.one(t, "Appointment"), "status", "fulfilled")
			var linked []string
			for _, enc := range v.all("Encounter") {
				if strings.Contains(fmt.Sprint(enc["appointment"]), "Appointment/") {
					linked = append(linked, fmt.Sprint(enc["subject"]))
				}
			}
			okonkwo := "Patient/" + fmt.Sprint(v.patient(t, "700123")["id"])
			if len(linked) != 1 || !strings.Contains(linked[0], okonkwo) {
				t.Errorf("visits linked to the appointment: %v, want only Okonkwo's (%s)", linked, okonkwo)
			}
			v.wantNote(t, "RC-A04-APPTID", "appointment")
		}},
	{"dft-charges-credits-payments", []string{examples + "DFT/p03-mixed.hl7"},
		func(t *testing.T, v *view) {
			value, cur := record.Balance(v.one(t, "Account"))
			if value != "30.00" || cur != "GBP" {
				t.Errorf("balance = %s %s, want 30.00 GBP (125 charge - 40 credit - 5 adjustment - 50 payment)", value, cur)
			}
		}},
	{"update-reports-new-bed-and-visit-charges", []string{"../testdata/hl7/adt_a01.hl7", "../testdata/hl7/adt_a08.hl7", "../testdata/hl7/dft_p03.hl7"},
		func(t *testing.T, v *view) {
			enc := v.one(t, "Encounter")
			v.want(t, enc, "status", "in-progress")
			if h := v.statuses(enc); len(h) != 0 {
				t.Errorf("statusHistory = %v: an update that does not give the status changed it", h)
			}
			locs := v.locations(enc)
			if len(locs) != 2 || !strings.HasPrefix(locs[0], "completed ") || !strings.HasPrefix(locs[1], "active ") {
				t.Errorf("location history = %q, want the admit's bed completed and the A08's bed active", locs)
			}
			if value, _ := record.Balance(v.one(t, "Account")); value != "100.00" {
				t.Errorf("balance = %s, want 100.00: the DFT names no account, its charges go to the visit's", value)
			}
		}},
	{"class-change-same-visit", []string{examples + "ADT/a04-register-zsegment.hl7", "testdata/hl7/a06-same-visit.hl7", "testdata/hl7/a07-same-visit.hl7"},
		func(t *testing.T, v *view) {
			enc := v.one(t, "Encounter")
			if c := enc["class"].(map[string]any)["code"]; c != "AMB" {
				t.Errorf("class = %v after A07, want AMB", c)
			}
			h, _ := enc["classHistory"].([]any)
			var codes []string
			for _, e := range h {
				codes = append(codes, e.(map[string]any)["class"].(map[string]any)["code"].(string))
			}
			if !slices.Equal(codes, []string{"AMB", "IMP"}) {
				t.Errorf("classHistory = %v, want [AMB IMP]", codes)
			}
		}},
	{"merge-patient-id-a34", []string{examples + "ADT/a04-register-zsegment.hl7", examples + "ADT/a34-merge-patient-id.hl7"},
		func(t *testing.T, v *view) {
			surv, old := v.patient(t, "MRN200002"), v.patient(t, "MRN299902")
			if old["active"] != false || !strings.Contains(fmt.Sprint(old["link"]), "replaced-by") || !strings.Contains(fmt.Sprint(surv["link"]), "replaces") {
				t.Errorf("A34 did not link the records: survivor %v, merged %v", surv["link"], old["link"])
			}
		}},
	{"chained-merge", []string{examples + "ADT/a01-admit.hl7", "testdata/hl7/a04-duplicate.hl7", examples + "ADT/a40-merge.hl7",
		"testdata/hl7/a04-third-record.hl7", "testdata/hl7/a40-chain.hl7", "testdata/hl7/a08-old-identifier.hl7"},
		func(t *testing.T, v *view) {
			final := v.patient(t, "MRN200009")
			ref := "Patient/" + final["id"].(string)
			for _, e := range v.all("Encounter") {
				if e["subject"].(map[string]any)["reference"] != ref {
					t.Errorf("Encounter %v is not on the final survivor", e["identifier"])
				}
			}
			if !strings.Contains(fmt.Sprint(final["address"]), "21 New Road") {
				t.Errorf("an update for the first merged record's identifier did not reach the final survivor: %v", final["address"])
			}
			for _, p := range v.all("Patient") {
				if p["active"] == false && strings.Contains(fmt.Sprint(p["address"]), "21 New Road") {
					t.Error("the update was written to a merged record")
				}
			}
			if ids := fmt.Sprint(final["identifier"]); !strings.Contains(ids, "MRN200009") || !strings.Contains(ids, "MRN299901") {
				t.Errorf("the final survivor's identifiers = %s, want its own MRN kept and the old one added", ids)
			}
		}},
	{"merge-then-cancel-transfer", []string{examples + "ADT/a01-admit.hl7", "testdata/hl7/a04-duplicate.hl7", "testdata/hl7/a02-duplicate.hl7",
		examples + "ADT/a40-merge.hl7", "testdata/hl7/a12-duplicate.hl7"},
		func(t *testing.T, v *view) {
			surv := v.patient(t, "MRN200001")
			for _, e := range v.all("Encounter") {
				if !strings.Contains(fmt.Sprint(e["identifier"]), "VN899901") {
					continue
				}
				if e["subject"].(map[string]any)["reference"] != "Patient/"+surv["id"].(string) {
					t.Errorf("the cancel put the visit back on the merged record: %v", e["subject"])
				}
				if locs := v.locations(e); len(locs) != 1 || !strings.HasPrefix(locs[0], "active ") || !strings.HasSuffix(locs[0], "..") {
					t.Errorf("location history after A12 = %q, want the room before the transfer, active again", locs)
				}
			}
		}},
	{"shared-identifier-other-birth-date", []string{examples + "ADT/a01-admit.hl7", "testdata/hl7/a04-newborn-mothers-number.hl7"},
		func(t *testing.T, v *view) {
			mother, baby := v.patient(t, "MRN200001"), v.patient(t, "CL-77009")
			if mother["id"] == baby["id"] {
				t.Fatal("a newborn under the mother's NHS number was merged into the mother")
			}
			if mother["birthDate"] != "1985-04-12" || len(v.all("Task")) != 1 {
				t.Errorf("mother's birth date %v, review tasks %d (want 1)", mother["birthDate"], len(v.all("Task")))
			}
			if strings.Contains(fmt.Sprint(baby["identifier"]), "943 476 5919") {
				t.Error("the newborn's record holds the mother's NHS number")
			}
		}},
	{"visit-account-charges-credit-payment", []string{"testdata/hl7/a01-account-visit.hl7", "testdata/hl7/p03-visit-no-account.hl7"},
		// The DFT names no account (PID-18 empty): its charge, credit and
		// payment all go to the account the A01 opened for the visit.
		wantVisitBilled},
	{"dft-before-adt-charges-credit-payment", []string{"testdata/hl7/p03-visit-no-account.hl7", "testdata/hl7/a01-account-visit.hl7"},
		// The same messages the other way round: the DFT comes before the
		// A01 that opens the visit's account. When the account arrives,
		// the charge, credit and payment go to it.
		wantVisitBilled},
	{"balances-per-currency", []string{examples + "DFT/p03-mixed.hl7", "testdata/hl7/p03-euro.hl7"},
		func(t *testing.T, v *view) {
			got := record.Balances(v.one(t, "Account"))
			want := []record.Money{{Value: "10.00", Currency: "EUR"}, {Value: "30.00", Currency: "GBP"}}
			if !slices.Equal(got, want) {
				t.Errorf("balances = %v, want %v (currencies are never added up)", got, want)
			}
		}},
}

func TestScenarios(t *testing.T) {
	set, err := mappings.Load(mappings.Shipped())
	if err != nil {
		t.Fatal(err)
	}
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			v := run(t, set, sc.steps, 1)
			golden := filepath.Join("testdata", "scenarios", sc.name+".json")
			got := v.dump(t)
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			} else {
				want, err := os.ReadFile(golden)
				if err != nil {
					t.Fatalf("%v (run with -update to create it)", err)
				}
				if !bytes.Equal(got, want) {
					t.Errorf("record differs from %s (run with -update after checking):\n%s", golden, lineDiff(string(want), string(got)))
				}
			}
			sc.check(t, v)
			// Reprocessing: every message applied twice in a row leaves
			// exactly the same record.
			twice := run(t, set, sc.steps, 2)
			if d := twice.dump(t); !bytes.Equal(d, got) {
				if dir := os.Getenv("SCENARIO_DUMP"); dir != "" {
					_ = os.WriteFile(filepath.Join(dir, sc.name+".once.json"), got, 0o644)
					_ = os.WriteFile(filepath.Join(dir, sc.name+".twice.json"), d, 0o644)
				}
				t.Errorf("applying every message twice changed the record:\n%s", lineDiff(string(got), string(d)))
			}
		})
	}
}

// view is the record after a scenario.
type view struct {
	res      map[string][]map[string]any // type → resources (current, sorted by id)
	outcomes []outcome
	store    record.ViewStore // the scenario's store, open until the test ends
}

type outcome struct {
	Control string        `json:"control"`
	Status  string        `json:"status"`
	Error   string        `json:"error,omitempty"`
	Notes   []record.Note `json:"notes,omitempty"`
}

// clock is the fixed time of the scenarios' store and record.
var clock = time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)

func run(t *testing.T, set *mappings.Set, steps []string, times int) *view {
	t.Helper()
	ctx := context.Background()
	now := func() time.Time { return clock }
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "carebridge.db"), sqlite.Options{Durability: sqlite.DurabilityOff, Now: now, DuplicateWindow: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	rec, err := record.New(objectsChecked{st, t}, record.Options{Now: now})
	if err != nil {
		t.Fatal(err)
	}
	v := &view{res: map[string][]map[string]any{}, store: st}
	for _, step := range steps {
		raw, err := os.ReadFile(step)
		if err != nil {
			t.Fatal(err)
		}
		msg, err := hl7.Parse(raw)
		if err != nil {
			t.Fatalf("%s: %v", step, err)
		}
		for range times {
			res, err := set.Map(msg, mappings.Options{Sender: "genhosp-adt"})
			if err != nil {
				t.Fatalf("%s: %v", step, err)
			}
			e := &fhirstore.Entry{Listener: "test", SendingApp: msg.Get("MSH-3"), ControlID: msg.ControlID(), MessageType: msg.Type(),
				Status: fhirstore.StatusProcessing, ClaimedBy: "test", Raw: raw}
			if _, err := st.Append(ctx, e); err != nil {
				t.Fatal(err)
			}
			c := fhirstore.Completion{ID: e.ID, Owner: "test", Status: fhirstore.StatusProcessed}
			out := outcome{Control: msg.ControlID(), Status: "processed"}
			o, err := rec.Apply(ctx, record.FromMapping(msg, res, e.ID), &c)
			if err != nil {
				if !record.IsContentError(err) {
					t.Fatalf("%s: %v", step, err)
				}
				out.Status, out.Error = "failed", err.Error()
				if err := st.Complete(ctx, []fhirstore.Completion{{ID: e.ID, Owner: "test", Status: fhirstore.StatusFailed, Error: err.Error()}}); err != nil {
					t.Fatal(err)
				}
			} else {
				out.Notes = o.Notes
			}
			got, err := st.Get(ctx, e.ID)
			if err != nil {
				t.Fatal(err)
			}
			if string(got.Status) != out.Status {
				t.Errorf("%s: journal status %s, want %s: the record and the journal disagree", step, got.Status, out.Status)
			}
			v.outcomes = append(v.outcomes, out)
		}
	}
	if os.Getenv("SCENARIO_HISTORY") != "" {
		h, _ := st.History(ctx, "Encounter", os.Getenv("SCENARIO_HISTORY"))
		for _, r := range h {
			t.Logf("v%d %s", r.Version, r.Body)
		}
	}
	for _, typ := range []string{"Patient", "Encounter", "Appointment", "Account", "ChargeItem", "PaymentReconciliation", "Task", "RelatedPerson", "AllergyIntolerance", "Condition"} {
		found, err := st.Search(ctx, fhirstore.Query{Type: typ, Count: 1000, Sort: "_id"})
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range found {
			var m map[string]any
			if err := json.Unmarshal(f.Body, &m); err != nil {
				t.Fatal(err)
			}
			v.res[typ] = append(v.res[typ], m)
		}
	}
	if times == 2 {
		// Keep only the first outcome of each message: the second is the
		// reprocessing.
		var firsts []outcome
		for i := 0; i < len(v.outcomes); i += 2 {
			firsts = append(firsts, v.outcomes[i])
		}
		v.outcomes = firsts
	}
	return v
}

func (v *view) dump(t *testing.T) []byte {
	t.Helper()
	b, err := json.MarshalIndent(map[string]any{"messages": v.outcomes, "resources": v.res}, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return append(b, '\n')
}

func (v *view) all(typ string) []map[string]any { return v.res[typ] }

// show is what `carebridge patients show` prints of p: its record and
// timeline.
func (v *view) show(t *testing.T, p map[string]any) *record.PatientView {
	t.Helper()
	pv, err := record.Show(context.Background(), v.store, p["id"].(string))
	if err != nil {
		t.Fatal(err)
	}
	return pv
}

// accountOf is the Account a PaymentReconciliation is for ("" when none).
func accountOf(pay map[string]any) string {
	for _, e := range list(pay["extension"]) {
		x := e.(map[string]any)
		if x["url"] == record.AccountURL {
			return fmt.Sprint(x["valueReference"].(map[string]any)["reference"])
		}
	}
	return ""
}

// byID returns the record itself (for readability at call sites).
func (v *view) byID(t *testing.T, p map[string]any) map[string]any { return p }

// wantLink fails unless p has a link of type typ to other.
func (v *view) wantLink(t *testing.T, p map[string]any, typ string, other map[string]any) {
	t.Helper()
	if p == nil || other == nil {
		t.Fatalf("wantLink: no such patient")
	}
	for _, l := range asList(p["link"]) {
		x := l.(map[string]any)
		if x["type"] == typ && x["other"].(map[string]any)["reference"] == "Patient/"+other["id"].(string) {
			return
		}
	}
	t.Errorf("Patient/%s links %v, want %s Patient/%s", p["id"], p["link"], typ, other["id"])
}

// wantVisitOn fails unless the Encounter with visit number vn is on p.
func (v *view) wantVisitOn(t *testing.T, vn string, p map[string]any) {
	t.Helper()
	for _, e := range v.all("Encounter") {
		for _, id := range asList(e["identifier"]) {
			if id.(map[string]any)["value"] == vn {
				if got := e["subject"].(map[string]any)["reference"]; got != "Patient/"+p["id"].(string) {
					t.Errorf("visit %s is on %v, want Patient/%s", vn, got, p["id"])
				}
				return
			}
		}
	}
	t.Errorf("no visit %s", vn)
}

func asList(v any) []any { l, _ := v.([]any); return l }

// live is all but the records merged or linked into another.
func (v *view) live(typ string) []map[string]any {
	var out []map[string]any
	for _, r := range v.res[typ] {
		if l := fmt.Sprint(r["link"]); !strings.Contains(l, "replaced-by") && !strings.Contains(l, "refer]") {
			out = append(out, r)
		}
	}
	return out
}

func (v *view) one(t *testing.T, typ string) map[string]any {
	t.Helper()
	if n := len(v.res[typ]); n != 1 {
		t.Fatalf("%d %s resources, want 1", n, typ)
	}
	return v.res[typ][0]
}

func (v *view) patient(t *testing.T, mrn string) map[string]any {
	t.Helper()
	for _, p := range v.res["Patient"] {
		if v.hasIdentifier(p, mrn) {
			return p
		}
	}
	t.Fatalf("no patient with identifier %s", mrn)
	return nil
}

func (v *view) hasIdentifier(p map[string]any, value string) bool {
	ids, _ := p["identifier"].([]any)
	for _, id := range ids {
		if id.(map[string]any)["value"] == value {
			return true
		}
	}
	return false
}

func (v *view) want(t *testing.T, r map[string]any, field string, want any) {
	t.Helper()
	if got := r[field]; got != want {
		t.Errorf("%s.%s = %v, want %v", r["resourceType"], field, got, want)
	}
}

func (v *view) statuses(enc map[string]any) []string {
	var out []string
	h, _ := enc["statusHistory"].([]any)
	for _, e := range h {
		out = append(out, e.(map[string]any)["status"].(string))
	}
	return out
}

// locations lists an Encounter's location history as "status start..end".
func (v *view) locations(enc map[string]any) []string {
	var out []string
	l, _ := enc["location"].([]any)
	for _, e := range l {
		x := e.(map[string]any)
		p, _ := x["period"].(map[string]any)
		start, _ := p["start"].(string)
		end, _ := p["end"].(string)
		out = append(out, fmt.Sprintf("%s %s..%s", x["status"], start, end))
	}
	return out
}

func (v *view) wantNote(t *testing.T, control, kind string) {
	t.Helper()
	for _, o := range v.outcomes {
		if o.Control != control {
			continue
		}
		for _, n := range o.Notes {
			if n.Kind == kind {
				return
			}
		}
		t.Errorf("message %s has no %s note: %+v", control, kind, o.Notes)
		return
	}
	t.Errorf("no message %s", control)
}

func (v *view) wantFailed(t *testing.T, control, reason string) {
	t.Helper()
	for _, o := range v.outcomes {
		if o.Control == control {
			if o.Status != "failed" || !strings.Contains(o.Error, reason) {
				t.Errorf("message %s: %s %q, want failed with %q", control, o.Status, o.Error, reason)
			}
			return
		}
	}
	t.Errorf("no message %s", control)
}

// lineDiff shows the lines that differ, with a little context.
func lineDiff(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	var out []string
	for i := 0; i < max(len(al), len(bl)) && len(out) < 40; i++ {
		var x, y string
		if i < len(al) {
			x = al[i]
		}
		if i < len(bl) {
			y = bl[i]
		}
		if x != y {
			out = append(out, fmt.Sprintf("%d:\n  - %s\n  + %s", i+1, x, y))
		}
	}
	return strings.Join(out, "\n")
}

// TestArrivalByAppointmentIDAmongOtherPatients: other patients' appointments
// with the same number (other schedulers counting alike) neither link to
// the visit nor keep the patient's own appointment from linking, however
// many there are.
func TestArrivalByAppointmentIDAmongOtherPatients(t *testing.T) {
	set, err := mappings.Load(mappings.Shipped())
	if err != nil {
		t.Fatal(err)
	}
	book, err := os.ReadFile(examples + "SIU/s12-book.hl7")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	var steps []string
	for i := range 12 {
		// Another patient's booking, number AP55021 from another scheduler.
		m := bytes.ReplaceAll(book, []byte("AP55021^SCHEDSYS"), fmt.Appendf(nil, "AP55021^SCHED%02d", i))
		m = bytes.ReplaceAll(m, []byte("700123^^^GENHOSP^MR||Okonkwo^Adaeze^N||19850417"), fmt.Appendf(nil, "7009%02d^^^GENHOSP^MR||Other%c^Person||19700101", i, 'a'+i))
		m = bytes.ReplaceAll(m, []byte("SIU0001"), fmt.Appendf(nil, "SIU-OTHER-%02d", i))
		f := filepath.Join(dir, fmt.Sprintf("other-%02d.hl7", i))
		if err := os.WriteFile(f, m, 0o600); err != nil {
			t.Fatal(err)
		}
		steps = append(steps, f)
	}
	steps = append(steps, examples+"SIU/s12-book.hl7", "testdata/hl7/a04-arrive-appointment-id.hl7")
	v := run(t, set, steps, 1)
	okonkwo := "Patient/" + fmt.Sprint(v.patient(t, "700123")["id"])
	var arrived []string // the patients of the arrived appointments
	for _, a := range v.all("Appointment") {
		if a["status"] != "arrived" {
			continue
		}
		for _, p := range list(a["participant"]) {
			ref := fmt.Sprint(p.(map[string]any)["actor"].(map[string]any)["reference"])
			if strings.HasPrefix(ref, "Patient/") {
				arrived = append(arrived, ref)
			}
		}
	}
	if !slices.Equal(arrived, []string{okonkwo}) {
		t.Fatalf("the patients of the arrived appointments: %v; want only Okonkwo (%s)", arrived, okonkwo)
	}
	enc := v.one(t, "Encounter")
	if refs := list(enc["appointment"]); len(refs) != 1 {
		t.Errorf("the visit links %d appointments, want 1: %v", len(refs), enc["appointment"])
	}
}

func list(v any) []any {
	l, _ := v.([]any)
	return l
}

// wantVisitBilled checks that MRN600001's charge, credit and payment (of a
// DFT naming no account) are on the account of their visit, and its
// balance.
func wantVisitBilled(t *testing.T, v *view) {
	acc := v.one(t, "Account")
	if value, cur := record.Balance(acc); value != "120.25" || cur != "GBP" {
		t.Errorf("balance = %s %s, want 120.25 GBP (250.50 charge - 30.25 credit - 100.00 payment)", value, cur)
	}
	pay := v.one(t, "PaymentReconciliation")
	if got, want := accountOf(pay), "Account/"+acc["id"].(string); got != want {
		t.Errorf("the payment is for %q, want the visit's %s", got, want)
	}
	for _, c := range v.all("ChargeItem") {
		if got := asString(c["account"]); got != `[{"reference":"Account/`+acc["id"].(string)+`"}]` {
			t.Errorf("ChargeItem/%s account %s, want the visit's", c["id"], got)
		}
	}
	pv := v.show(t, v.patient(t, "MRN600001"))
	if len(pv.Accounts) != 1 || pv.Accounts[0].Charges != 2 || pv.Accounts[0].Payments != 1 || pv.Accounts[0].Balance != "120.25" {
		t.Errorf("patients show: accounts %+v, want one with balance 120.25, 2 charges and 1 payment", pv.Accounts)
	}
	var payments int
	for _, e := range pv.Timeline {
		if e.Payment != nil {
			payments++
		}
	}
	if payments != 1 {
		t.Errorf("the timeline has %d payments, want 1", payments)
	}
}

// TestUntimedAppointmentArrival: an appointment without start and end
// (its times had no offset and the sender's profile no time zone, so the
// mapping made it proposed) is linked to its visit when the visit begins,
// in either order, but stays proposed: FHIR (app-3) allows no status but
// proposed, cancelled and waitlist without times, and the message would
// otherwise fail.
func TestUntimedAppointmentArrival(t *testing.T) {
	set, err := mappings.Load(mappings.Shipped())
	if err != nil {
		t.Fatal(err)
	}
	book, err := os.ReadFile(examples + "SIU/s12-book.hl7")
	if err != nil {
		t.Fatal(err)
	}
	untimed := bytes.ReplaceAll(book, []byte("^^30^20260310143000^20260310150000"), []byte("^^30"))
	untimed = bytes.ReplaceAll(untimed, []byte("|20260310143000|"), []byte("||"))
	file := filepath.Join(t.TempDir(), "s12-untimed.hl7")
	if err := os.WriteFile(file, untimed, 0o600); err != nil {
		t.Fatal(err)
	}
	arrive := "testdata/hl7/a04-arrive-appointment-id.hl7"
	for _, steps := range [][]string{{file, arrive}, {arrive, file}} {
		t.Run(filepath.Base(steps[0])+" first", func(t *testing.T) {
			v := run(t, set, steps, 1)
			appt := v.one(t, "Appointment")
			v.want(t, appt, "status", "proposed")
			enc := v.one(t, "Encounter")
			if got := asString(enc["appointment"]); got != `[{"reference":"Appointment/`+appt["id"].(string)+`"}]` {
				t.Errorf("the visit's appointments: %s", got)
			}
		})
	}
}
