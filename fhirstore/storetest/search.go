package storetest

import (
	"context"
	"errors"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/carebridge/carebridge/fhirstore"
)

// search runs a one-parameter search and returns the ids found, in order.
func search(t *testing.T, s fhirstore.Store, typ, name, modifier string, values ...string) []string {
	t.Helper()
	rs, err := s.Search(context.Background(), fhirstore.Query{Type: typ, Params: []fhirstore.Param{{Name: name, Modifier: modifier, Values: values}}})
	if err != nil {
		t.Fatalf("Search %s?%s: %v", typ, name, err)
	}
	return ids(rs)
}

func ids(rs []*fhirstore.Resource) []string {
	out := []string{}
	for _, r := range rs {
		out = append(out, r.ID)
	}
	return out
}

// searchPatients are the search suite's patients, written in this order one
// minute apart from searchT0.
var searchPatients = []struct{ id, body string }{
	{"p-muller", `{"resourceType":"Patient","id":"p-muller","active":true,
		"identifier":[{"system":"urn:mrn","value":"M1"}],
		"name":[{"family":"Müller","given":["Hans"],"prefix":["Dr."]}],
		"telecom":[{"system":"phone","value":"555-0101"},{"system":"email","value":"hans@example.org"}],
		"gender":"male","birthDate":"1980-02-29","address":[{"city":"Zürich","postalCode":"8001"}]}`},
	{"p-mueller", `{"resourceType":"Patient","id":"p-mueller",
		"identifier":[{"system":"urn:mrn","value":"M2"},{"system":"urn:other","value":"X9"}],
		"name":[{"family":"MÜLLER","given":["Anna"]}],"gender":"female","birthDate":"1985-07",
		"address":[{"city":"Basel"}]}`},
	{"p-zoe", `{"resourceType":"Patient","id":"p-zoe","active":false,
		"identifier":[{"system":"urn:mrn","value":"M3"}],
		"name":[{"family":"Smith","given":["Zoë"]}],"gender":"female","birthDate":"1990-12-01"}`},
	{"p-zhang", `{"resourceType":"Patient","id":"p-zhang",
		"identifier":[{"system":"urn:mrn","value":"M4"}],
		"name":[{"text":"张伟","family":"张","given":["伟"]}],"gender":"male","birthDate":"1975",
		"telecom":[{"system":"phone","value":"13800000000"}]}`},
	{"p-wang", `{"resourceType":"Patient","id":"p-wang",
		"identifier":[{"system":"urn:mrn","value":"M5"}],
		"name":[{"family":"王","given":["芳"]}],"gender":"female","birthDate":"2001-01-01",
		"link":[{"other":{"reference":"Patient/p-zhang"},"type":"seealso"}]}`},
}

var searchOthers = []struct{ typ, id, body string }{
	{"Encounter", "e1", `{"resourceType":"Encounter","id":"e1","status":"in-progress",
		"class":{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"IMP"},
		"subject":{"reference":"Patient/p-muller"},
		"participant":[{"individual":{"reference":"Practitioner/d1"}}],
		"period":{"start":"2026-11-01T10:00:00+01:00","end":"2026-11-01T12:00:00+01:00"}}`},
	{"Encounter", "e2", `{"resourceType":"Encounter","id":"e2","status":"finished",
		"class":{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"AMB"},
		"subject":{"reference":"Patient/p-zoe"},
		"period":{"start":"2026-10-15T08:00:00Z","end":"2026-10-15T09:00:00Z"}}`},
	{"Appointment", "a1", `{"resourceType":"Appointment","id":"a1","status":"booked",
		"start":"2026-11-20T09:00:00Z","end":"2026-11-20T09:30:00Z",
		"participant":[{"actor":{"reference":"Patient/p-zhang"},"status":"accepted"},
			{"actor":{"reference":"Practitioner/d1"},"status":"accepted"}]}`},
}

var searchT0 = time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)

func loadSearchData(t *testing.T, newStore NewStore) fhirstore.Store {
	now, advance := fixedClock(searchT0)
	s := newStore(t, now)
	for _, p := range searchPatients {
		mustApply(t, s, fhirstore.ChangeSet{Writes: []fhirstore.Write{put("Patient", p.id, 0, []byte(p.body))}})
		advance(time.Minute)
	}
	var writes []fhirstore.Write
	for _, o := range searchOthers {
		writes = append(writes, put(o.typ, o.id, 0, []byte(o.body)))
	}
	mustApply(t, s, fhirstore.ChangeSet{Writes: writes})
	return s
}

func testSearch(t *testing.T, newStore NewStore) {
	s := loadSearchData(t, newStore)
	minute := func(i int) string { return searchT0.Add(time.Duration(i) * time.Minute).Format(time.RFC3339) }
	tests := []struct {
		name  string
		typ   string // Patient when empty
		query string // a search URL's query string
		want  []string
		order bool // want is in the expected order
	}{
		{"string accent and case", "", "name=muller", []string{"p-muller", "p-mueller"}, false},
		{"string with umlaut", "", "name=Müller", []string{"p-muller", "p-mueller"}, false},
		{"string prefix", "", "family=MÜL", []string{"p-muller", "p-mueller"}, false},
		{"string exact", "", "family:exact=Müller", []string{"p-muller"}, false},
		{"string exact is case-sensitive", "", "family:exact=müller", nil, false},
		{"string contains", "", "name:contains=ll", []string{"p-muller", "p-mueller"}, false},
		{"string diaeresis", "", "given=zoe", []string{"p-zoe"}, false},
		{"string diaeresis in query", "", "given=Zoë", []string{"p-zoe"}, false},
		{"name matches prefix part", "", "name=dr", []string{"p-muller"}, false},
		{"chinese family prefix", "", "name=张", []string{"p-zhang"}, false},
		{"chinese text", "", "name=张伟", []string{"p-zhang"}, false},
		{"chinese given", "", "given=伟", []string{"p-zhang"}, false},
		{"chinese family", "", "family=王", []string{"p-wang"}, false},
		{"string no match", "", "name=nobody", nil, false},
		{"string OR", "", "family=smith,王", []string{"p-zoe", "p-wang"}, false},
		{"address city", "", "address-city=zurich", []string{"p-muller"}, false},
		{"postal code", "", "address-postalcode=8001", []string{"p-muller"}, false},

		{"token system and code", "", "identifier=urn:mrn|M1", []string{"p-muller"}, false},
		{"token code only", "", "identifier=X9", []string{"p-mueller"}, false},
		{"token without system", "", "identifier=|M2", nil, false},
		{"token system only", "", "identifier=urn:other|", []string{"p-mueller"}, false},
		{"token OR", "", "identifier=urn:mrn|M1,urn:mrn|M3", []string{"p-muller", "p-zoe"}, false},
		{"token not", "", "identifier:not=urn:mrn|M1", []string{"p-mueller", "p-zoe", "p-zhang", "p-wang"}, false},
		{"code", "", "gender=female", []string{"p-mueller", "p-zoe", "p-wang"}, false},
		{"boolean", "", "active=true", []string{"p-muller"}, false},
		{"boolean false", "", "active=false", []string{"p-zoe"}, false},
		{"missing", "", "active:missing=true", []string{"p-mueller", "p-zhang", "p-wang"}, false},
		{"not missing", "", "telecom:missing=false", []string{"p-muller", "p-zhang"}, false},
		{"phone", "", "phone=555-0101", []string{"p-muller"}, false},
		{"email", "", "email=hans@example.org", []string{"p-muller"}, false},
		{"phone is not email", "", "phone=hans@example.org", nil, false},
		{"telecom with system", "", "telecom=phone|13800000000", []string{"p-zhang"}, false},
		{"_id", "", "_id=p-zoe,p-wang", []string{"p-zoe", "p-wang"}, false},
		{"_id not", "", "_id:not=p-zoe", []string{"p-muller", "p-mueller", "p-zhang", "p-wang"}, false},

		{"AND of params", "", "gender=female&name=smith", []string{"p-zoe"}, false},
		{"AND of three", "", "gender=male&birthdate=ge1979&identifier=M1", []string{"p-muller"}, false},
		{"AND of one param twice", "", "birthdate=ge1980&birthdate=lt1990", []string{"p-muller", "p-mueller"}, false},

		{"date year", "", "birthdate=1980", []string{"p-muller"}, false},
		{"date month", "", "birthdate=1985-07", []string{"p-mueller"}, false},
		{"month within year", "", "birthdate=1985", []string{"p-mueller"}, false},
		{"month not within day", "", "birthdate=1985-07-15", nil, false},
		{"date day", "", "birthdate=eq1990-12-01", []string{"p-zoe"}, false},
		{"date ge", "", "birthdate=ge1990", []string{"p-zoe", "p-wang"}, false},
		{"date lt", "", "birthdate=lt1980", []string{"p-zhang"}, false},
		{"date le", "", "birthdate=le1980-02-29", []string{"p-muller", "p-zhang"}, false},
		{"date gt", "", "birthdate=gt1985-07-31", []string{"p-zoe", "p-wang"}, false},
		{"date sa", "", "birthdate=sa1985", []string{"p-zoe", "p-wang"}, false},
		{"date eb", "", "birthdate=eb1980", []string{"p-zhang"}, false},
		{"date ne", "", "birthdate=ne1980", []string{"p-mueller", "p-zoe", "p-zhang", "p-wang"}, false},
		{"date OR", "", "birthdate=1975,2001", []string{"p-zhang", "p-wang"}, false},
		{"dateTime with offset", "Encounter", "date=ge2026-11-01T10:30:00%2B01:00", []string{"e1"}, false},
		{"period within day", "Encounter", "date=2026-11-01", []string{"e1"}, false},
		{"period within month", "Encounter", "date=2026-10", []string{"e2"}, false},
		{"period not within minute", "Encounter", "date=2026-11-01T10:00%2B01:00", nil, false},
		{"period ends before", "Encounter", "date=eb2026-11-01", []string{"e2"}, false},
		{"_lastUpdated", "", "_lastUpdated=ge" + url.QueryEscape(minute(3)), []string{"p-zhang", "p-wang"}, false},
		{"_lastUpdated lt", "", "_lastUpdated=lt" + url.QueryEscape(minute(1)), []string{"p-muller"}, false},

		{"reference typed", "Encounter", "patient=Patient/p-muller", []string{"e1"}, false},
		{"reference bare id", "Encounter", "patient=p-muller", []string{"e1"}, false},
		{"reference subject", "Encounter", "subject=Patient/p-zoe", []string{"e2"}, false},
		{"reference with type modifier", "Encounter", "subject:Patient=p-zoe", []string{"e2"}, false},
		{"reference OR", "Encounter", "subject=p-zoe,Patient/p-muller", []string{"e1", "e2"}, false},
		{"reference practitioner", "Encounter", "practitioner=d1", []string{"e1"}, false},
		{"token coding", "Encounter", "class=http://terminology.hl7.org/CodeSystem/v3-ActCode|IMP", []string{"e1"}, false},
		{"appointment patient", "Appointment", "patient=p-zhang", []string{"a1"}, false},
		{"patient only matches patients", "Appointment", "patient=d1", nil, false},
		{"appointment actor", "Appointment", "actor=Practitioner/d1", []string{"a1"}, false},
		{"typed reference missing", "Appointment", "location:missing=true", []string{"a1"}, false},
		{"typed reference not missing", "Encounter", "practitioner:missing=false", []string{"e1"}, false},
		{"patient link", "", "link=p-zhang", []string{"p-wang"}, false},

		{"default sort: newest first", "", "", []string{"p-wang", "p-zhang", "p-zoe", "p-mueller", "p-muller"}, true},
		{"sort by birthdate", "", "_sort=birthdate", []string{"p-zhang", "p-muller", "p-mueller", "p-zoe", "p-wang"}, true},
		{"sort by birthdate descending", "", "_sort=-birthdate", []string{"p-wang", "p-zoe", "p-mueller", "p-muller", "p-zhang"}, true},
		{"sort by _id", "", "_sort=_id", []string{"p-mueller", "p-muller", "p-wang", "p-zhang", "p-zoe"}, true},
		{"sort by _lastUpdated", "", "_sort=_lastUpdated&gender=female", []string{"p-mueller", "p-zoe", "p-wang"}, true},
		{"sort with count", "", "_sort=birthdate&_count=2", []string{"p-zhang", "p-muller"}, true},
		{"count", "", "_count=1", []string{"p-wang"}, true},
		{"sort by date", "Encounter", "_sort=date", []string{"e2", "e1"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			typ := tt.typ
			if typ == "" {
				typ = "Patient"
			}
			v, err := url.ParseQuery(tt.query)
			if err != nil {
				t.Fatal(err)
			}
			q, err := fhirstore.ParseQuery(typ, v)
			if err != nil {
				t.Fatal(err)
			}
			rs, err := s.Search(context.Background(), q)
			if err != nil {
				t.Fatalf("Search(%s?%s): %v", typ, tt.query, err)
			}
			got := ids(rs)
			want := append([]string{}, tt.want...)
			if !tt.order {
				slices.Sort(got)
				slices.Sort(want)
			}
			if !slices.Equal(got, want) {
				t.Fatalf("Search(%s?%s) = %v, want %v", typ, tt.query, got, want)
			}
			for _, r := range rs {
				if r.Type != typ || r.Version != 1 || len(r.Body) == 0 || r.Deleted {
					t.Fatalf("found %+v", r)
				}
			}
		})
	}

	// Paging by id walks every match exactly once, in id order.
	var walked []string
	for after := ""; ; {
		rs, err := s.Search(context.Background(), fhirstore.Query{Type: "Patient", Params: []fhirstore.Param{{Name: "gender", Values: []string{"female"}}}, Count: 2, Sort: "_id", After: after})
		if err != nil {
			t.Fatalf("page after %q: %v", after, err)
		}
		if len(rs) == 0 {
			break
		}
		walked = append(walked, ids(rs)...)
		after = rs[len(rs)-1].ID
	}
	if want := []string{"p-mueller", "p-wang", "p-zoe"}; !slices.Equal(walked, want) {
		t.Errorf("paging by id = %v, want %v", walked, want)
	}
	// Unordered: Count of the matches, whichever they are.
	rs, err := s.Search(context.Background(), fhirstore.Query{Type: "Patient", Params: []fhirstore.Param{{Name: "gender", Values: []string{"female"}}}, Count: 2, Unordered: true})
	if err != nil || len(rs) != 2 {
		t.Errorf("unordered search: %d results, %v", len(rs), err)
	}
	for _, r := range rs {
		if !slices.Contains([]string{"p-mueller", "p-wang", "p-zoe"}, r.ID) {
			t.Errorf("unordered search found %s", r.ID)
		}
	}

	bad := []fhirstore.Query{
		{Type: "Patient", Sort: "birthdate", After: "p-a"},
		{Type: "Patient", Sort: "birthdate", Unordered: true},
		{Type: "Patient", Params: []fhirstore.Param{{Name: "colour", Values: []string{"red"}}}},
		{Type: "Patient", Params: []fhirstore.Param{{Name: "birthdate", Values: []string{"yesterday"}}}},
		{Type: "Patient", Params: []fhirstore.Param{{Name: "identifier", Values: []string{"a|b|c"}}}},
		{Type: "Patient", Params: []fhirstore.Param{{Name: "name", Modifier: "above", Values: []string{"x"}}}},
		{Type: "Patient", Sort: "gender"},
		{Type: "Encounter", Params: []fhirstore.Param{{Name: "patient", Values: []string{"Group/g1"}}}},
	}
	for _, q := range bad {
		if _, err := s.Search(context.Background(), q); !errors.Is(err, fhirstore.ErrBadQuery) {
			t.Errorf("Search(%+v) error = %v, want ErrBadQuery", q, err)
		}
	}
}

func testSearchFollowsUpdates(t *testing.T, newStore NewStore) {
	ctx := context.Background()
	s := loadSearchData(t, newStore)
	body := strings.Replace(searchPatients[2].body, "Smith", "Jones", 1)
	mustApply(t, s, fhirstore.ChangeSet{Writes: []fhirstore.Write{put("Patient", "p-zoe", 1, []byte(body))}})
	if got := search(t, s, "Patient", "family", "", "smith"); len(got) != 0 {
		t.Fatalf("old value still found: %v", got)
	}
	if got := search(t, s, "Patient", "family", "", "jones"); !slices.Equal(got, []string{"p-zoe"}) {
		t.Fatalf("new value found %v", got)
	}
	if got := search(t, s, "Patient", "identifier", "", "urn:mrn|M3"); !slices.Equal(got, []string{"p-zoe"}) {
		t.Fatalf("unchanged value found %v", got)
	}
	mustApply(t, s, fhirstore.ChangeSet{Writes: []fhirstore.Write{{Type: "Patient", ID: "p-zoe", IfVersion: 2, Delete: true}}})
	for _, q := range [][2]string{{"family", "jones"}, {"identifier", "M3"}, {"birthdate", "1990"}} {
		if got := search(t, s, "Patient", q[0], "", q[1]); len(got) != 0 {
			t.Fatalf("deleted resource found by %s: %v", q[0], got)
		}
	}
	rs, err := s.Search(ctx, fhirstore.Query{Type: "Patient"})
	if err != nil || len(rs) != 4 || slices.Contains(ids(rs), "p-zoe") {
		t.Fatalf("Search(all) = %v, %v; want the 4 not deleted", ids(rs), err)
	}
	// Written again after its deletion, it is found by what it says now.
	mustApply(t, s, fhirstore.ChangeSet{Writes: []fhirstore.Write{put("Patient", "p-zoe", 3, []byte(body))}})
	for _, q := range [][2]string{{"family", "jones"}, {"identifier", "urn:mrn|M3"}} {
		if got := search(t, s, "Patient", q[0], "", q[1]); !slices.Equal(got, []string{"p-zoe"}) {
			t.Fatalf("re-created resource found by %s: %v", q[0], got)
		}
	}
	// A version that changes nothing searchable keeps every row.
	same := strings.Replace(body, `"gender"`, `"multipleBirthBoolean": false, "gender"`, 1)
	if same == body {
		t.Fatal("test data: no gender to put multipleBirthBoolean before")
	}
	mustApply(t, s, fhirstore.ChangeSet{Writes: []fhirstore.Write{put("Patient", "p-zoe", 4, []byte(same))}})
	for _, q := range [][2]string{{"family", "jones"}, {"identifier", "urn:mrn|M3"}, {"birthdate", "1990"}} {
		if got := search(t, s, "Patient", q[0], "", q[1]); !slices.Equal(got, []string{"p-zoe"}) {
			t.Fatalf("after an update changing no searchable value, found by %s: %v", q[0], got)
		}
	}
}
