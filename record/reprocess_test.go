package record_test

import (
	"context"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/carebridge/carebridge/fhirstore"
	"github.com/carebridge/carebridge/record"
)

// TestReprocessTakesOutWhatTheOldMappingMade: a message mapped with a bug
// (the official name as "usual", a marital status from the wrong field, a
// RelatedPerson from a misread segment) is processed again after the fix.
// What only the old mapping made goes (noted), what both make stays, a
// resource only the old mapping made is kept and noted; doing it twice
// changes nothing more; a message that is no longer the latest event, or
// whose earlier processing wrote nothing, takes nothing out.
func TestReprocessTakesOutWhatTheOldMappingMade(t *testing.T) {
	ctx := context.Background()
	st, rec := openRecord(t)
	entry := func() int64 {
		t.Helper()
		e := &fhirstore.Entry{Listener: "test", ControlID: "C", MessageType: "ADT^A08", Status: fhirstore.StatusProcessing, ClaimedBy: "test", Raw: []byte("MSH|")}
		if _, err := st.Append(ctx, e); err != nil {
			t.Fatal(err)
		}
		return e.ID
	}
	ident := []any{map[string]any{"system": "urn:test:mrn", "value": "RP1"}}
	patient := func(name map[string]any, extra map[string]any) map[string]any {
		b := map[string]any{"resourceType": "Patient", "id": "rp-1", "identifier": ident, "gender": "female", "birthDate": "1970-01-01",
			"name": []any{name}, "telecom": []any{map[string]any{"system": "phone", "value": "01632 960111", "use": "home"}}}
		for k, v := range extra {
			b[k] = v
		}
		return b
	}
	usual := map[string]any{"use": "usual", "family": "Reprocess", "given": []any{"Rita"}}
	official := map[string]any{"use": "official", "family": "Reprocess", "given": []any{"Rita"}}
	married := map[string]any{"coding": []any{map[string]any{"system": "http://terminology.hl7.org/CodeSystem/v3-MaritalStatus", "code": "M"}}}
	related := map[string]any{"resourceType": "RelatedPerson", "id": "rp-1-nk1", "patient": map[string]any{"reference": "Patient/rp-1"}, "name": []any{map[string]any{"family": "Misread"}}}
	at := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	msg := func(journal int64, when time.Time, res ...map[string]any) *record.Message {
		m := &record.Message{JournalID: journal, Code: "ADT", Event: "A08", EventTime: when}
		for _, r := range res {
			m.Resources = append(m.Resources, record.Incoming{Type: r["resourceType"].(string), ID: r["id"].(string), Body: r})
		}
		return m
	}
	apply := func(m *record.Message) *record.Outcome {
		t.Helper()
		o, err := rec.Apply(ctx, m, nil)
		if err != nil {
			t.Fatal(err)
		}
		return o
	}
	read := func() map[string]any {
		t.Helper()
		r, err := st.Read(ctx, "Patient", "rp-1")
		if err != nil {
			t.Fatal(err)
		}
		var b map[string]any
		if err := json.Unmarshal(r.Body, &b); err != nil {
			t.Fatal(err)
		}
		return b
	}
	noteOf := func(o *record.Outcome, kind string) string {
		var out []string
		for _, n := range o.Notes {
			if n.Kind == kind {
				out = append(out, n.Where+": "+n.Message)
			}
		}
		return strings.Join(out, "\n")
	}
	clone := func(m map[string]any) map[string]any {
		b, _ := json.Marshal(m)
		var out map[string]any
		_ = json.Unmarshal(b, &out)
		return out
	}

	j1 := entry()
	old := msg(j1, at, patient(usual, map[string]any{"maritalStatus": married}), related)
	apply(old)
	fixed := msg(j1, at, patient(official, nil))
	fixed.Previous = msg(0, at, patient(usual, map[string]any{"maritalStatus": married}), clone(related)).Resources
	o := apply(fixed)
	p := read()
	if got := p["name"].([]any); len(got) != 1 || got[0].(map[string]any)["use"] != "official" {
		t.Errorf("names after reprocessing = %v, want only the official one", got)
	}
	if _, ok := p["maritalStatus"]; ok {
		t.Error("the marital status only the old mapping made is still there")
	}
	if len(p["telecom"].([]any)) != 1 || p["gender"] != "female" {
		t.Errorf("what both mappings make changed: %v %v", p["telecom"], p["gender"])
	}
	if n := noteOf(o, "reprocess"); !strings.Contains(n, "Patient/rp-1: removed") || !strings.Contains(n, "name (1 of 1)") || !strings.Contains(n, "maritalStatus") ||
		!strings.Contains(n, "RelatedPerson/rp-1-nk1: made by this message's earlier mapping") || strings.Contains(n, "Reprocess") {
		t.Errorf("reprocess notes = %q", n)
	}
	if _, err := st.Read(ctx, "RelatedPerson", "rp-1-nk1"); err != nil {
		t.Errorf("the RelatedPerson only the old mapping made was not kept: %v", err)
	}
	// Twice changes nothing more.
	if o := apply(fixed); len(o.Written) != 0 {
		t.Errorf("reprocessing again wrote %d versions", len(o.Written))
	}

	// A newer event since: reprocessing the older message takes nothing out.
	j2 := entry()
	apply(msg(j2, at, patient(usual, map[string]any{"maritalStatus": married})))
	j3 := entry()
	newer := patient(usual, nil)
	newer["telecom"] = []any{map[string]any{"system": "phone", "value": "01632 960222", "use": "mobile"}}
	if o := apply(msg(j3, at.Add(time.Hour), newer)); len(o.Written) != 1 {
		t.Fatalf("the newer message wrote %d versions", len(o.Written))
	}
	before := read()
	again := msg(j2, at, patient(official, nil))
	again.Previous = msg(0, at, patient(usual, map[string]any{"maritalStatus": married})).Resources
	if o := apply(again); len(o.Written) != 0 || noteOf(o, "out-of-order") == "" {
		t.Errorf("an older message reprocessed wrote %d versions (notes %v)", len(o.Written), o.Notes)
	}
	if !reflect.DeepEqual(read(), before) {
		t.Error("an older message reprocessed changed the record")
	}

	// What an older message had already recorded stays, even when the
	// earlier mapping of the reprocessed one also made it.
	k1, k2 := entry(), entry()
	other := func(status map[string]any) map[string]any {
		b := map[string]any{"resourceType": "Patient", "id": "rp-2", "identifier": []any{map[string]any{"system": "urn:test:mrn", "value": "RP2"}},
			"name": []any{official}, "telecom": []any{map[string]any{"system": "phone", "value": "01632 960333", "use": "home"}}}
		if status != nil {
			b["maritalStatus"] = status
		}
		return b
	}
	apply(msg(k1, at, other(married)))
	changed := other(married)
	changed["telecom"] = []any{map[string]any{"system": "phone", "value": "01632 960444", "use": "home"}}
	apply(msg(k2, at.Add(time.Hour), changed))
	fixed2 := msg(k2, at.Add(time.Hour), func() map[string]any { b := clone(changed); delete(b, "maritalStatus"); return b }())
	fixed2.Previous = msg(0, at, clone(changed)).Resources
	apply(fixed2)
	r2, err := st.Read(ctx, "Patient", "rp-2")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(r2.Body), `"maritalStatus"`) {
		t.Error("reprocessing the newer message took out the marital status an older message had recorded")
	}

	// Inside an element both outputs make (a visit's hospitalization), what
	// only the earlier one made goes too.
	j5 := entry()
	visit := func(disposition bool) map[string]any {
		h := map[string]any{"admitSource": map[string]any{"text": "Emergency"}}
		if disposition {
			h["dischargeDisposition"] = map[string]any{"text": "Home"}
		}
		return map[string]any{"resourceType": "Encounter", "id": "rv-1", "status": "finished",
			"class":   map[string]any{"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "IMP"},
			"subject": map[string]any{"reference": "Patient/rp-2"}, "hospitalization": h}
	}
	apply(msg(j5, at.Add(2*time.Hour), visit(true)))
	fixed5 := msg(j5, at.Add(2*time.Hour), visit(false))
	fixed5.Previous = msg(0, at, visit(true)).Resources
	o5 := apply(fixed5)
	e5, err := st.Read(ctx, "Encounter", "rv-1")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(e5.Body), "dischargeDisposition") || !strings.Contains(string(e5.Body), "admitSource") {
		t.Errorf("after reprocessing, the visit is %s: want the admit source kept and the disposition only the earlier mapping made gone", e5.Body)
	}
	if n := noteOf(o5, "reprocess"); !strings.Contains(n, "hospitalization.dischargeDisposition") {
		t.Errorf("reprocess note = %q", n)
	}
	// An older message had recorded another value: it comes back.
	j6, j7 := entry(), entry()
	withDisposition := func(d string) map[string]any {
		v := visit(true)
		v["id"] = "rv-2"
		v["hospitalization"].(map[string]any)["dischargeDisposition"] = map[string]any{"text": d}
		return v
	}
	apply(msg(j6, at.Add(3*time.Hour), withDisposition("Rehab")))
	apply(msg(j7, at.Add(4*time.Hour), withDisposition("Home")))
	without := withDisposition("Home")
	delete(without["hospitalization"].(map[string]any), "dischargeDisposition")
	fixed7 := msg(j7, at.Add(4*time.Hour), without)
	fixed7.Previous = msg(0, at, withDisposition("Home")).Resources
	apply(fixed7)
	if e, err := st.Read(ctx, "Encounter", "rv-2"); err != nil || !strings.Contains(string(e.Body), "Rehab") {
		t.Errorf("the disposition an older message recorded was not restored: %s %v", e.Body, err)
	}

	// Its earlier processing wrote nothing (the same content was there):
	// what it made came from elsewhere too, so nothing goes.
	j4 := entry()
	same := msg(j4, at.Add(time.Hour), newer)
	if o := apply(same); len(o.Written) != 0 {
		t.Fatalf("an unchanged message wrote %d versions", len(o.Written))
	}
	fixed4 := msg(j4, at.Add(time.Hour), patient(official, nil))
	fixed4.Previous = msg(0, at, clone(newer)).Resources
	apply(fixed4)
	if names := read()["name"].([]any); len(names) != 2 {
		t.Errorf("names = %v: the usual name another message made was taken out", names)
	}
}
