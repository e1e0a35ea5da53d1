package record

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/carebridge/carebridge/fhirstore"
)

// viewFake is a ViewStore over resources in memory. Its searches know the
// parameters Show and FindByIdentifier use: a reference parameter
// (patient, account) matches a resource that refers to the value anywhere
// in its body; identifier is a FHIR token.
type viewFake struct {
	res      map[string]*fhirstore.Resource // "Type/id"
	searches []fhirstore.Query
}

var _ ViewStore = (*viewFake)(nil)

func newViewFake(t *testing.T, bodies ...string) *viewFake {
	t.Helper()
	f := &viewFake{res: map[string]*fhirstore.Resource{}}
	for _, b := range bodies {
		var m map[string]any
		if err := json.Unmarshal([]byte(b), &m); err != nil {
			t.Fatalf("fixture %s: %v", b, err)
		}
		typ, id := m["resourceType"].(string), m["id"].(string)
		f.res[typ+"/"+id] = &fhirstore.Resource{Type: typ, ID: id, Version: 1, LastUpdated: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), Body: []byte(b)}
	}
	return f
}

func (f *viewFake) Read(_ context.Context, typ, id string) (*fhirstore.Resource, error) {
	r, ok := f.res[typ+"/"+id]
	if !ok {
		return nil, fhirstore.ErrNotFound
	}
	return r, nil
}

func (f *viewFake) Search(_ context.Context, q fhirstore.Query) ([]*fhirstore.Resource, error) {
	f.searches = append(f.searches, q)
	var out []*fhirstore.Resource
	for _, r := range f.res {
		if r.Type != q.Type {
			continue
		}
		body, err := decode(r.Body)
		if err != nil {
			return nil, err
		}
		all := true
		for _, p := range q.Params {
			if !slices.ContainsFunc(p.Values, func(v string) bool { return fakeMatch(body, p.Name, v) }) {
				all = false
			}
		}
		if all {
			out = append(out, r)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	if q.Count > 0 && len(out) > q.Count {
		out = out[:q.Count]
	}
	return out, nil
}

func fakeMatch(body map[string]any, param, value string) bool {
	switch param {
	case "identifier":
		sys, val, hasSys := strings.Cut(value, "|")
		if !hasSys {
			sys, val = "", value
		}
		for _, id := range list(body, "identifier") {
			x := id.(map[string]any)
			if str(x, "value") == val && (!hasSys || str(x, "system") == sys) {
				return true
			}
		}
		return false
	case "patient", "account":
		b, _ := json.Marshal(body)
		return strings.Contains(string(b), `"reference":"`+value+`"`)
	}
	panic("fake search: no parameter " + param)
}

// The synthetic record of one patient: every kind of timeline event, out
// of time order in the store.
var aliceRecord = []string{
	`{"resourceType":"Patient","id":"p1","active":true,
	  "identifier":[{"system":"urn:oid:1.2.3.4.1","value":"MRN100","type":{"coding":[{"code":"MR"}]}},{"system":"urn:oid:9.9","value":"X7"}],
	  "name":[{"use":"official","family":"Testperson","given":["Alice","B"]},{"text":"Ally Testperson"}],
	  "gender":"female","birthDate":"1980-02-14",
	  "telecom":[{"system":"phone","value":"555-0100","use":"home"},{"system":"email","value":""}],
	  "address":[{"use":"home","line":["1 Test Street"],"city":"Springfield","state":"ST","postalCode":"00001","country":"XX"}],
	  "link":[{"other":{"reference":"Patient/p0"},"type":"replaces"}]}`,
	`{"resourceType":"Encounter","id":"e2","status":"finished","class":{"code":"IMP"},
	  "subject":{"reference":"Patient/p1"},"period":{"start":"2026-03-01T08:00:00Z","end":"2026-03-04T10:00:00Z"},
	  "identifier":[{"system":"urn:visit","value":"V2"}],
	  "statusHistory":[{"status":"in-progress","period":{"start":"2026-03-01T08:00:00Z","end":"2026-03-04T10:00:00Z"}}],
	  "classHistory":[{"class":{"code":"EMER"},"period":{"start":"2026-03-01T08:00:00Z","end":"2026-03-01T12:00:00Z"}}],
	  "location":[{"location":{"reference":"Location/w1","display":"Ward 1"},"status":"completed","period":{"start":"2026-03-01T12:00:00Z","end":"2026-03-03T09:00:00Z"}},
	              {"location":{"reference":"Location/w3"},"status":"completed","period":{"start":"2026-03-03T09:00:00Z","end":"2026-03-03T10:00:00Z"}},
	              {"location":{"reference":"Location/w2"},"status":"active","period":{"start":"2026-03-03T10:00:00Z"}}],
	  "appointment":[{"reference":"Appointment/a1"}]}`,
	`{"resourceType":"Location","id":"w3","name":"Ward 3"}`,
	`{"resourceType":"Encounter","id":"e1","status":"finished","class":{"code":"AMB"},"subject":{"reference":"Patient/p1"},"period":{"start":"2025-12-24"}}`,
	`{"resourceType":"Appointment","id":"a1","status":"fulfilled","start":"2026-03-01T07:30:00Z","end":"2026-03-01T08:00:00Z",
	  "serviceType":[{"text":"Cardiology"}],"participant":[{"actor":{"reference":"Patient/p1"},"status":"accepted"}]}`,
	`{"resourceType":"Account","id":"acc1","status":"active","subject":[{"reference":"Patient/p1"}],
	  "identifier":[{"system":"urn:account","value":"AN1"}],
	  "extension":[{"url":"https://carebridge.dev/fhir/StructureDefinition/account-balance","valueMoney":{"value":95.5,"currency":"USD"}}]}`,
	`{"resourceType":"ChargeItem","id":"c1","status":"billable","subject":{"reference":"Patient/p1"},"account":[{"reference":"Account/acc1"}],
	  "code":{"text":"Chest X-ray","coding":[{"code":"71020"}]},"occurrenceDateTime":"2026-03-02T10:00:00Z","priceOverride":{"value":120,"currency":"USD"}}`,
	`{"resourceType":"ChargeItem","id":"c2","status":"billable","subject":{"reference":"Patient/p9"},"account":[{"reference":"Account/acc1"}],
	  "code":{"coding":[{"code":"CRED"}]},"enteredDate":"2026-03-05T00:00:00Z","priceOverride":{"value":-4.5,"currency":"USD"}}`,
	`{"resourceType":"PaymentReconciliation","id":"pay1","status":"active","created":"2026-03-06","paymentDate":"2026-03-06",
	  "paymentAmount":{"value":20,"currency":"USD"},
	  "extension":[{"url":"https://carebridge.dev/fhir/StructureDefinition/account","valueReference":{"reference":"Account/acc1"}}]}`,
	`{"resourceType":"Task","id":"t1","status":"requested","intent":"order","for":{"reference":"Patient/p1"},
	  "code":{"text":"Call back"},"description":"Discuss results","authoredOn":"2026-03-05T09:00:00Z"}`,
	`{"resourceType":"CommunicationRequest","id":"cr1","status":"active","subject":{"reference":"Patient/p1"},
	  "payload":[{"contentString":"Remind about follow-up visit"}],"occurrenceDateTime":"2026-04-01"}`,
	`{"resourceType":"Communication","id":"m1","status":"completed","subject":{"reference":"Patient/p1"},
	  "category":[{"coding":[{"display":"reminder"}]}],"sent":"2026-03-07T08:00:00+02:00","payload":[{"contentString":"See you soon"}]}`,
	`{"resourceType":"Encounter","id":"other","status":"finished","subject":{"reference":"Patient/p9"},"period":{"start":"2026-01-01"}}`,
}

func TestShowTimeline(t *testing.T) {
	s := newViewFake(t, aliceRecord...)
	v, err := Show(context.Background(), s, "p1")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range v.Timeline {
		got = append(got, e.Time+" "+e.Kind+" "+e.Ref)
	}
	want := []string{
		"2025-12-24 visit Encounter/e1",
		"2026-03-01T07:30:00Z appointment Appointment/a1",
		"2026-03-01T08:00:00Z visit Encounter/e2",
		"2026-03-02T10:00:00Z charge ChargeItem/c1",
		"2026-03-05T00:00:00Z charge ChargeItem/c2",
		"2026-03-05T09:00:00Z follow-up Task/t1",
		"2026-03-06 payment PaymentReconciliation/pay1",
		"2026-03-07T08:00:00+02:00 message Communication/m1",
		"2026-04-01 follow-up CommunicationRequest/cr1",
	}
	if !slices.Equal(got, want) {
		t.Errorf("timeline:\n got %q\nwant %q", got, want)
	}

	if v.Gender != "female" || v.BirthDate != "1980-02-14" || v.Active == nil || !*v.Active || v.ReplacedBy != "" {
		t.Errorf("demographics: %+v", v)
	}
	if len(v.Names) != 2 || v.Names[0].Text != "Alice B Testperson" || v.Names[1].Text != "Ally Testperson" {
		t.Errorf("names: %+v", v.Names)
	}
	if len(v.Telecom) != 1 || v.Telecom[0] != (Contact{System: "phone", Value: "555-0100", Use: "home"}) {
		t.Errorf("telecom (empty values left out): %+v", v.Telecom)
	}
	if len(v.Addresses) != 1 || v.Addresses[0].Text != "1 Test Street, Springfield ST 00001, XX" {
		t.Errorf("addresses: %+v", v.Addresses)
	}
	if len(v.Identifiers) != 2 || v.Identifiers[0] != (Identifier{System: "urn:oid:1.2.3.4.1", Value: "MRN100", Type: "MR"}) {
		t.Errorf("identifiers: %+v", v.Identifiers)
	}
	if len(v.Links) != 1 || v.Links[0].Type != "replaces" || v.Links[0].Patient != "p0" {
		t.Errorf("links: %+v", v.Links)
	}

	visit := v.Timeline[2].Visit
	if visit == nil || visit.Class != "IMP" || visit.Status != "finished" || visit.Period.End != "2026-03-04T10:00:00Z" ||
		len(visit.StatusHistory) != 1 || visit.StatusHistory[0].Status != "in-progress" ||
		len(visit.ClassHistory) != 1 || visit.ClassHistory[0].Class != "EMER" ||
		!slices.Equal(visit.Appointments, []string{"a1"}) {
		t.Errorf("visit: %+v", visit)
	}
	wantLocs := []LocationStay{
		{Location: "Ward 1", Reference: "Location/w1", Status: "completed", Period: Period{"2026-03-01T12:00:00Z", "2026-03-03T09:00:00Z"}},
		{Location: "Ward 3", Reference: "Location/w3", Status: "completed", Period: Period{"2026-03-03T09:00:00Z", "2026-03-03T10:00:00Z"}}, // the Location's name
		{Location: "Location/w2", Reference: "Location/w2", Status: "active", Period: Period{Start: "2026-03-03T10:00:00Z"}},                // not stored: its reference
	}
	if visit == nil || !slices.Equal(visit.Locations, wantLocs) {
		t.Errorf("location history: %+v", visit)
	}
	if a := v.Timeline[1].Appointment; a == nil || *a != (Appointment{Status: "fulfilled", Start: "2026-03-01T07:30:00Z", End: "2026-03-01T08:00:00Z", Type: "Cardiology"}) {
		t.Errorf("appointment: %+v", a)
	}
	if c := v.Timeline[3].Charge; c == nil || *c != (Charge{Account: "acc1", Status: "billable", Code: "Chest X-ray", Amount: "120.00", Currency: "USD"}) {
		t.Errorf("charge: %+v", c)
	}
	if c := v.Timeline[4].Charge; c == nil || c.Amount != "-4.50" || c.Code != "CRED" {
		t.Errorf("credit on the patient's account (another subject): %+v", c)
	}
	if p := v.Timeline[6].Payment; p == nil || *p != (Payment{Account: "acc1", Status: "active", Amount: "20.00", Currency: "USD"}) {
		t.Errorf("payment: %+v", p)
	}
	if f := v.Timeline[5].FollowUp; f == nil || f.Code != "Call back" || f.Description != "Discuss results" {
		t.Errorf("task: %+v", f)
	}
	if f := v.Timeline[8].FollowUp; f == nil || f.Description != "Remind about follow-up visit" || f.Due.Start != "2026-04-01" {
		t.Errorf("communication request: %+v", f)
	}
	if m := v.Timeline[7].Message; m == nil || m.Category != "reminder" || m.Text != "See you soon" {
		t.Errorf("message: %+v", m)
	}
	wantAcc := []AccountView{{ID: "acc1", Status: "active", Identifiers: []Identifier{{System: "urn:account", Value: "AN1"}},
		Balance: "95.50", Currency: "USD", Charges: 2, Payments: 1}}
	if fmt.Sprint(v.Accounts) != fmt.Sprint(wantAcc) {
		t.Errorf("accounts:\n got %+v\nwant %+v", v.Accounts, wantAcc)
	}
	for _, q := range s.searches {
		if q.Count != MaxViewItems+1 {
			t.Errorf("search %s: count %d, want a bound of %d+1", q.Type, q.Count, MaxViewItems)
		}
	}
}

// TestViewJSONFieldNames pins the names `patients show --json` prints.
func TestViewJSONFieldNames(t *testing.T) {
	v, err := Show(context.Background(), newViewFake(t, aliceRecord...), "p1")
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	want := []string{"accounts", "active", "addresses", "birth_date", "gender", "id", "identifiers", "last_updated", "links", "names", "telecom", "timeline", "version"}
	if !slices.Equal(keys, want) {
		t.Errorf("top-level keys:\n got %q\nwant %q", keys, want)
	}
	for _, frag := range []string{
		`"kind":"visit","ref":"Encounter/e2","visit":{"status":"finished","class":"IMP"`,
		`"status_history":[{"status":"in-progress"`, `"class_history":[{"class":"EMER"`,
		`"locations":[{"location":"Ward 1","reference":"Location/w1","status":"completed","period":{"start":"2026-03-01T12:00:00Z","end":"2026-03-03T09:00:00Z"}}`,
		`"charge":{"account":"acc1","status":"billable","code":"Chest X-ray","amount":"120.00","currency":"USD"}`,
		`"follow_up":{"status":"requested","code":"Call back"`,
		`"balance":"95.50","currency":"USD","charges":2,"payments":1`,
	} {
		if !strings.Contains(string(b), frag) {
			t.Errorf("JSON lacks %s:\n%s", frag, b)
		}
	}
	if strings.Contains(string(b), `"due":{}`) {
		t.Errorf("empty due period printed: %s", b)
	}
}

func TestShowMergedRecord(t *testing.T) {
	s := newViewFake(t,
		`{"resourceType":"Patient","id":"old","active":false,"link":[{"other":{"reference":"Patient/mid"},"type":"replaced-by"}]}`,
		`{"resourceType":"Patient","id":"mid","active":false,"link":[{"other":{"reference":"Patient/old"},"type":"replaces"},{"other":{"reference":"Patient/new"},"type":"replaced-by"}]}`,
		`{"resourceType":"Patient","id":"new","link":[{"other":{"reference":"Patient/mid"},"type":"replaces"}]}`,
	)
	v, err := Show(context.Background(), s, "old")
	if err != nil {
		t.Fatal(err)
	}
	if v.ReplacedBy != "mid" || v.FinalSurvivor != "new" || v.Active == nil || *v.Active {
		t.Errorf("merged view: replaced_by %q final %q active %v", v.ReplacedBy, v.FinalSurvivor, v.Active)
	}
	if len(v.Timeline) != 0 || v.Timeline == nil || v.Accounts == nil {
		t.Errorf("empty timeline and accounts must be empty lists (JSON []): %#v %#v", v.Timeline, v.Accounts)
	}
	v, err = Show(context.Background(), s, "new")
	if err != nil {
		t.Fatal(err)
	}
	if v.ReplacedBy != "" || v.FinalSurvivor != "" || len(v.Links) != 1 || v.Links[0].Type != "replaces" {
		t.Errorf("survivor view: %+v", v)
	}
}

func TestShowLinkedRecord(t *testing.T) {
	s := newViewFake(t,
		`{"resourceType":"Patient","id":"k","name":[{"family":"Own"}],"identifier":[{"system":"urn:clinic","value":"K-1"}],"link":[{"other":{"reference":"Patient/h"},"type":"refer"}]}`,
		`{"resourceType":"Patient","id":"h","link":[{"other":{"reference":"Patient/k"},"type":"seealso"},{"other":{"reference":"Patient/f"},"type":"replaced-by"}]}`,
		`{"resourceType":"Patient","id":"f","link":[{"other":{"reference":"Patient/h"},"type":"replaces"}]}`,
	)
	v, err := Show(context.Background(), s, "k")
	if err != nil {
		t.Fatal(err)
	}
	if v.LinkedTo != "h" || v.ReplacedBy != "" || v.FinalSurvivor != "f" || len(v.Names) != 1 {
		t.Errorf("linked view: linked_to %q replaced_by %q final %q names %v", v.LinkedTo, v.ReplacedBy, v.FinalSurvivor, v.Names)
	}
	// The record it was found to be lists it, with its identifiers: the
	// numbers other systems know the patient by.
	v, err = Show(context.Background(), s, "h")
	if err != nil {
		t.Fatal(err)
	}
	if len(v.Links) != 2 || v.Links[0].Type != "seealso" || len(v.Links[0].Identifiers) != 1 || v.Links[0].Identifiers[0].Value != "K-1" {
		t.Errorf("survivor's links: %+v", v.Links)
	}
}

func TestShowErrors(t *testing.T) {
	loop := newViewFake(t,
		`{"resourceType":"Patient","id":"a","link":[{"other":{"reference":"Patient/b"},"type":"replaced-by"}]}`,
		`{"resourceType":"Patient","id":"b","link":[{"other":{"reference":"Patient/a"},"type":"replaced-by"}]}`,
	)
	tests := []struct {
		name string
		s    *viewFake
		id   string
		want error
	}{
		{"no such patient", newViewFake(t), "nope", fhirstore.ErrNotFound},
		{"replaced-by loop", loop, "a", ErrCircularMerge},
		{"survivor missing", newViewFake(t, `{"resourceType":"Patient","id":"a","link":[{"other":{"reference":"Patient/gone"},"type":"replaced-by"}]}`), "a", fhirstore.ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Show(context.Background(), tt.s, tt.id)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Show: %v, want %v", err, tt.want)
			}
		})
	}
	if !IsMissing(fmt.Errorf("x: %w", fhirstore.ErrGone)) || IsMissing(ErrCircularMerge) {
		t.Error("IsMissing")
	}
}

func TestShowTruncates(t *testing.T) {
	bodies := []string{`{"resourceType":"Patient","id":"p"}`}
	for i := range MaxViewItems + 1 {
		bodies = append(bodies, fmt.Sprintf(`{"resourceType":"Encounter","id":"e%04d","status":"planned","subject":{"reference":"Patient/p"}}`, i))
	}
	v, err := Show(context.Background(), newViewFake(t, bodies...), "p")
	if err != nil {
		t.Fatal(err)
	}
	if len(v.Timeline) != MaxViewItems || !slices.Equal(v.Truncated, []string{"Encounter"}) {
		t.Errorf("timeline %d events, truncated %q", len(v.Timeline), v.Truncated)
	}
}

func TestFindByIdentifier(t *testing.T) {
	s := newViewFake(t,
		`{"resourceType":"Patient","id":"a","identifier":[{"system":"urn:h1","value":"123"}]}`,
		`{"resourceType":"Patient","id":"b","identifier":[{"system":"urn:h2","value":"123"}]}`,
		`{"resourceType":"Patient","id":"m","identifier":[{"system":"urn:h1","value":"777"}],"link":[{"other":{"reference":"Patient/s"},"type":"replaced-by"}]}`,
		`{"resourceType":"Patient","id":"s","identifier":[{"system":"urn:h1","value":"777"},{"value":"nosys"}],"link":[{"other":{"reference":"Patient/m"},"type":"replaces"}]}`,
		`{"resourceType":"Patient","id":"m2","identifier":[{"system":"urn:h3","value":"888"}],"link":[{"other":{"reference":"Patient/m"},"type":"replaced-by"}]}`,
		`{"resourceType":"Patient","id":"k","identifier":[{"system":"urn:clinic","value":"999"}],"link":[{"other":{"reference":"Patient/s"},"type":"refer"}]}`,
	)
	tests := []struct {
		token string
		want  []string
	}{
		{"123", []string{"a", "b"}},
		{"urn:h2|123", []string{"b"}},
		{"urn:h3|123", nil},
		{"777", []string{"s"}}, // merged and survivor both carry it: one patient
		{"888", []string{"s"}}, // followed through two merges
		{"999", []string{"s"}}, // an identity link leads to the record it was found to be
		{"|nosys", []string{"s"}},
		{"nothing", nil},
	}
	for _, tt := range tests {
		t.Run(tt.token, func(t *testing.T) {
			got, err := FindByIdentifier(context.Background(), s, tt.token)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
	for _, bad := range []string{"", "urn:h1|", "  "} {
		if _, err := FindByIdentifier(context.Background(), s, bad); !errors.Is(err, fhirstore.ErrBadQuery) {
			t.Errorf("FindByIdentifier(%q): %v, want ErrBadQuery", bad, err)
		}
	}
}

// TestShowPlannedVisit: a visit not begun yet (A05 pre-admission) is placed
// in the timeline at its expected start, and shows when it is expected.
func TestShowPlannedVisit(t *testing.T) {
	s := newViewFake(t,
		`{"resourceType":"Patient","id":"p1","name":[{"family":"Testperson"}]}`,
		`{"resourceType":"Encounter","id":"e1","status":"planned","class":{"code":"PRENC"},"subject":{"reference":"Patient/p1"},
		  "extension":[{"url":"http://hl7.org/fhir/5.0/StructureDefinition/extension-Encounter.plannedStartDate","valueDateTime":"2026-11-20T09:00:00Z"},
		               {"url":"http://hl7.org/fhir/5.0/StructureDefinition/extension-Encounter.plannedEndDate","valueDateTime":"2026-11-22T12:00:00Z"}]}`,
		`{"resourceType":"Encounter","id":"e2","status":"finished","class":{"code":"AMB"},"subject":{"reference":"Patient/p1"},"period":{"start":"2026-11-21T08:00:00Z"}}`,
	)
	v, err := Show(context.Background(), s, "p1")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range v.Timeline {
		got = append(got, e.Time+" "+e.Ref)
	}
	if want := []string{"2026-11-20T09:00:00Z Encounter/e1", "2026-11-21T08:00:00Z Encounter/e2"}; !slices.Equal(got, want) {
		t.Errorf("timeline %q, want %q", got, want)
	}
	if p := v.Timeline[0].Visit.Planned; p == nil || *p != (Period{Start: "2026-11-20T09:00:00Z", End: "2026-11-22T12:00:00Z"}) {
		t.Errorf("planned %+v", p)
	}
	if p := v.Timeline[1].Visit.Planned; p != nil {
		t.Errorf("a visit without planned dates has planned %+v", p)
	}
}
