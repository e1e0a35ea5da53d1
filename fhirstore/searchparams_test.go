package fhirstore

import (
	"encoding/json"
	"errors"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"
)

func decode(t testing.TB, s string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// entryKeys renders entries as "param=system|value" (tokens), "param~value"
// (strings), "param@low/high" (dates) and "param->target" (references).
func entryKeys(es []IndexEntry) []string {
	var out []string
	for _, e := range es {
		switch e.Kind {
		case KindToken:
			out = append(out, e.Param+"="+e.System+"|"+e.Value)
		case KindString:
			out = append(out, e.Param+"~"+e.Value)
		case KindDate:
			out = append(out, e.Param+"@"+e.Low.Format(time.RFC3339)+"/"+e.High.Format(time.RFC3339))
		case KindReference:
			out = append(out, e.Param+"->"+e.Value)
		}
	}
	slices.Sort(out)
	return out
}

// TestTypedReferencesShareEntries: every reference parameter with a
// target type whose expression an untyped one of its resource type indexes
// is answered from that one's entries.
func TestTypedReferencesShareEntries(t *testing.T) {
	shared := map[string]string{}
	for _, p := range SearchParams() {
		if p.IndexedAs != "" {
			shared[p.Type+"."+p.Name] = p.IndexedAs
		}
	}
	for k, want := range map[string]string{"Encounter.patient": "subject", "Encounter.practitioner": "participant",
		"Appointment.patient": "actor", "Appointment.location": "actor", "Task.patient": "subject",
		"Provenance.patient": "target", "Coverage.patient": "beneficiary", "AllergyIntolerance.patient": "subject"} {
		if shared[k] != want {
			t.Errorf("%s is indexed as %q, want %q", k, shared[k], want)
		}
	}
	if _, ok := shared["RelatedPerson.patient"]; ok {
		t.Error("RelatedPerson.patient has no untyped twin but is indexed as another")
	}
}

func TestIndexEntries(t *testing.T) {
	tests := []struct {
		name string
		body string
		want []string // every one must be present
		not  []string // none may be present
	}{
		{
			name: "patient",
			body: `{"resourceType":"Patient","id":"p1","active":true,
				"identifier":[{"system":"urn:mrn","value":"123"},{"value":"nosys"}],
				"name":[{"family":"Müller","given":["Zoë","Anna"],"prefix":["Dr."]},{"text":"张伟","family":"张","given":["伟"]}],
				"telecom":[{"system":"phone","value":"555-1"},{"system":"email","value":"z@example.org"}],
				"gender":"female","birthDate":"1980-02-29",
				"address":[{"city":"Zürich","postalCode":"8001","line":["Bahnhofstrasse 1"]}],
				"link":[{"other":{"reference":"Patient/p0"},"type":"replaces"}]}`,
			want: []string{
				"identifier=urn:mrn|123", "identifier=|nosys", "active=|true", "gender=|female",
				"name~muller", "name~zoe", "name~anna", "name~dr.", "name~张伟", "name~张", "name~伟",
				"family~muller", "family~张", "given~zoe", "given~伟",
				"telecom=phone|555-1", "telecom=email|z@example.org", "phone=phone|555-1", "email=email|z@example.org",
				"address-city~zurich", "address-postalcode~8001", "address~bahnhofstrasse 1",
				"birthdate@1980-02-29T00:00:00Z/1980-03-01T00:00:00Z",
				"link->Patient/p0",
			},
			not: []string{"phone=email|z@example.org", "email=phone|555-1", "family~zoe"},
		},
		{
			name: "encounter period and patient-only references",
			body: `{"resourceType":"Encounter","status":"in-progress",
				"class":{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"IMP"},
				"subject":{"reference":"Patient/p1"},
				"period":{"start":"2026-11-01T10:00:00+01:00"},
				"participant":[{"individual":{"reference":"Practitioner/d1"}},{"individual":{"reference":"RelatedPerson/r1"}}],
				"location":[{"location":{"reference":"Location/w1"}}],
				"account":[{"reference":"Account/a1"}],"appointment":[{"reference":"Appointment/ap1"}]}`,
			want: []string{
				"status=|in-progress", "class=http://terminology.hl7.org/CodeSystem/v3-ActCode|IMP",
				"subject->Patient/p1",
				"participant->Practitioner/d1", "participant->RelatedPerson/r1",
				"location->Location/w1", "account->Account/a1", "appointment->Appointment/ap1",
				"date@2026-11-01T09:00:00Z/9999-12-31T23:59:59Z",
			},
			// patient and practitioner are answered from subject's and
			// participant's entries (IndexedAs): not stored twice.
			not: []string{"practitioner->RelatedPerson/r1", "patient->Patient/p1", "practitioner->Practitioner/d1"},
		},
		{
			name: "appointment actors by type",
			body: `{"resourceType":"Appointment","status":"booked","start":"2026-11-02T08:30:00Z",
				"participant":[{"actor":{"reference":"Patient/p1"}},{"actor":{"reference":"Practitioner/d1"}},{"actor":{"reference":"Location/l1"}}]}`,
			want: []string{"actor->Patient/p1", "actor->Practitioner/d1", "actor->Location/l1",
				"date@2026-11-02T08:30:00Z/2026-11-02T08:30:01Z"},
			not: []string{"patient->Patient/p1", "practitioner->Practitioner/d1", "location->Location/l1"},
		},
		{
			name: "payment reconciliation account extension",
			body: `{"resourceType":"PaymentReconciliation","status":"active","created":"2026-11-03",
				"extension":[{"url":"https://carebridge.dev/fhir/StructureDefinition/account","valueReference":{"reference":"Account/a9"}},
				{"url":"http://other","valueReference":{"reference":"Account/zz"}}]}`,
			want: []string{"account->Account/a9", "status=|active", "created@2026-11-03T00:00:00Z/2026-11-04T00:00:00Z"},
			not:  []string{"account->Account/zz"},
		},
		{
			name: "choice types",
			body: `{"resourceType":"Condition","code":{"coding":[{"system":"http://snomed.info/sct","code":"38341003"}],"text":"HT"},
				"subject":{"reference":"Patient/p1"},"encounter":{"reference":"Encounter/e1"},"onsetPeriod":{"start":"2020","end":"2021-06"}}`,
			want: []string{"code=http://snomed.info/sct|38341003", "encounter->Encounter/e1",
				"onset-date@2020-01-01T00:00:00Z/2021-07-01T00:00:00Z"},
		},
		{
			name: "task",
			body: `{"resourceType":"Task","status":"requested","intent":"order","for":{"reference":"Patient/p1"},
				"owner":{"reference":"Practitioner/d1"},"focus":{"reference":"Appointment/ap1"},
				"businessStatus":{"coding":[{"code":"waiting"}]},"authoredOn":"2026-11-01T12:00:00Z",
				"executionPeriod":{"end":"2026-11-05"}}`,
			want: []string{"subject->Patient/p1", "owner->Practitioner/d1", "focus->Appointment/ap1",
				"business-status=|waiting", "authored-on@2026-11-01T12:00:00Z/2026-11-01T12:00:01Z",
				"period@0001-01-01T00:00:00Z/2026-11-06T00:00:00Z"},
		},
		{
			name: "provenance targets",
			body: `{"resourceType":"Provenance","recorded":"2026-11-01T12:00:00.5Z",
				"target":[{"reference":"Patient/p1"},{"reference":"Encounter/e1/_history/3"},{"reference":"urn:uuid:abc"}]}`,
			want: []string{"target->Encounter/e1", "target->Patient/p1"},
			not:  []string{"patient->Encounter/e1", "patient->Patient/p1"},
		},
		{
			name: "unknown type has no entries",
			body: `{"resourceType":"Observation","status":"final"}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			es, err := IndexEntries(decode(t, tt.body))
			if err != nil {
				t.Fatal(err)
			}
			got := entryKeys(es)
			for _, w := range tt.want {
				if !slices.Contains(got, w) {
					t.Errorf("missing %s in\n%s", w, strings.Join(got, "\n"))
				}
			}
			for _, n := range tt.not {
				if slices.Contains(got, n) {
					t.Errorf("unexpected %s", n)
				}
			}
			if tt.want == nil && len(got) != 0 {
				t.Errorf("entries %v, want none", got)
			}
		})
	}
}

func TestIndexEntriesErrors(t *testing.T) {
	for name, body := range map[string]string{
		"no resourceType": `{"id":"x"}`,
		"bad date":        `{"resourceType":"Patient","birthDate":"yesterday"}`,
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := IndexEntries(decode(t, body)); err == nil {
				t.Fatal("no error")
			}
		})
	}
}

func TestNormalizeString(t *testing.T) {
	for in, want := range map[string]string{
		"Müller":        "muller",
		"MULLER":        "muller",
		"Zoë":           "zoe",
		"  Anna  Maria": "anna maria",
		"张伟":            "张伟",
		"Straße":        "strasse",
		"ﬁne":           "fine", // NFKD ligature
		"Ｆｕｌｌ":          "full", // full-width
		"":              "",
	} {
		if got := NormalizeString(in); got != want {
			t.Errorf("NormalizeString(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestParseDate(t *testing.T) {
	utc := func(s string) time.Time {
		t.Helper()
		v, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatal(err)
		}
		return v.UTC()
	}
	tests := []struct {
		in        string
		prefix    string
		low, high string
	}{
		{"2024", "eq", "2024-01-01T00:00:00Z", "2025-01-01T00:00:00Z"},
		{"ge2024-02", "ge", "2024-02-01T00:00:00Z", "2024-03-01T00:00:00Z"},
		{"lt2024-12-31", "lt", "2024-12-31T00:00:00Z", "2025-01-01T00:00:00Z"},
		{"sa2024-03-05T10:00+01:00", "sa", "2024-03-05T09:00:00Z", "2024-03-05T09:01:00Z"},
		{"eb2024-03-05T10:00:30-05:00", "eb", "2024-03-05T15:00:30Z", "2024-03-05T15:00:31Z"},
		{"ne2024-03-05T10:00:30.25Z", "ne", "2024-03-05T10:00:30.25Z", "2024-03-05T10:00:30.26Z"},
		{"le2024-03-05T10:00:30", "le", "2024-03-05T10:00:30Z", "2024-03-05T10:00:31Z"},
		{"gt2024-03-05", "gt", "2024-03-05T00:00:00Z", "2024-03-06T00:00:00Z"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			d, err := ParseDate(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if d.Prefix != tt.prefix || !d.Low.Equal(utc(tt.low)) || !d.High.Equal(utc(tt.high)) {
				t.Fatalf("ParseDate = %s [%s, %s), want %s [%s, %s)", d.Prefix, d.Low, d.High, tt.prefix, tt.low, tt.high)
			}
		})
	}
	for _, bad := range []string{"", "xx2024", "20", "2024-13", "2024-02-30", "2024-03-05T10", "2024-03-05T25:00:00Z", "2024-03-05T10:00:00+1", "ge", "2024-03-05T10:00:00.1234567890Z"} {
		if _, err := ParseDate(bad); err == nil {
			t.Errorf("ParseDate(%q) succeeded", bad)
		}
	}
}

func TestParseToken(t *testing.T) {
	tests := []struct {
		in   string
		want TokenValue
	}{
		{"urn:mrn|123", TokenValue{System: "urn:mrn", Code: "123"}},
		{"|123", TokenValue{Code: "123"}},
		{"123", TokenValue{Code: "123", AnySystem: true}},
		{"urn:mrn|", TokenValue{System: "urn:mrn"}},
		{`a\|b|c`, TokenValue{System: "a|b", Code: "c"}},
	}
	for _, tt := range tests {
		got, err := ParseToken(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("ParseToken(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
		}
	}
	for _, bad := range []string{"", "|", "a|b|c"} {
		if _, err := ParseToken(bad); err == nil {
			t.Errorf("ParseToken(%q) succeeded", bad)
		}
	}
}

func TestParseReference(t *testing.T) {
	for in, want := range map[string]ReferenceValue{
		"Patient/p1":                         {Type: "Patient", ID: "p1"},
		"p1":                                 {ID: "p1"},
		"https://fhir.example.org/Patient/7": {Type: "Patient", ID: "7"},
		"Patient/7/_history/2":               {Type: "Patient", ID: "7"},
	} {
		got, err := ParseReference(in)
		if err != nil || got != want {
			t.Errorf("ParseReference(%q) = %+v, %v; want %+v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "patient/1", "Patient/", "a b", "#x"} {
		if _, err := ParseReference(bad); err == nil {
			t.Errorf("ParseReference(%q) succeeded", bad)
		}
	}
}

func TestParseQuery(t *testing.T) {
	q, err := ParseQuery("Patient", url.Values{
		"name":         {"müller,Zoë"},
		"birthdate":    {"ge1980", "lt1990"},
		"identifier":   {`urn:mrn|1\,2`},
		"family:exact": {"Müller"},
		"_count":       {"10"},
		"_sort":        {"-birthdate"},
		"_format":      {"json"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if q.Count != 10 || q.Sort != "-birthdate" || len(q.Params) != 5 {
		t.Fatalf("ParseQuery = %+v", q)
	}
	want := []Param{
		{Name: "birthdate", Values: []string{"ge1980"}},
		{Name: "birthdate", Values: []string{"lt1990"}},
		{Name: "family", Modifier: "exact", Values: []string{"Müller"}},
		{Name: "identifier", Values: []string{`urn:mrn|1,2`}},
		{Name: "name", Values: []string{"müller", "Zoë"}},
	}
	for i, p := range want {
		if q.Params[i].Name != p.Name || q.Params[i].Modifier != p.Modifier || !slices.Equal(q.Params[i].Values, p.Values) {
			t.Errorf("param %d = %+v, want %+v", i, q.Params[i], p)
		}
	}
	pq, err := PrepareQuery(q)
	if err != nil {
		t.Fatal(err)
	}
	if pq.Sort.Name != "birthdate" || !pq.Desc || pq.Clauses[4].Strings[0] != "muller" || pq.Clauses[3].Tokens[0].Code != "1,2" {
		t.Fatalf("PrepareQuery = %+v", pq)
	}

	bad := []struct {
		name   string
		typ    string
		v      url.Values
		inText string
	}{
		{"unknown parameter", "Patient", url.Values{"colour": {"red"}}, "colour"},
		{"bad date", "Patient", url.Values{"birthdate": {"xx1980"}}, "birthdate"},
		{"bad count", "Patient", url.Values{"_count": {"-1"}}, "_count"},
		{"bad sort", "Patient", url.Values{"_sort": {"gender"}}, "_sort"},
		{"bad modifier", "Patient", url.Values{"birthdate:exact": {"1980"}}, "birthdate:exact"},
		{"wrong reference type", "Encounter", url.Values{"patient": {"Group/1"}}, "patient"},
		{"bad missing", "Patient", url.Values{"gender:missing": {"maybe"}}, "gender:missing"},
		{"bad id", "Patient", url.Values{"_id": {"a b"}}, "_id"},
		{"empty value", "Patient", url.Values{"name": {""}}, "name"},
		{"no type", "", url.Values{}, "resource type"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseQuery(tt.typ, tt.v)
			if !errors.Is(err, ErrBadQuery) || !strings.Contains(err.Error(), tt.inText) {
				t.Fatalf("error = %v; want ErrBadQuery naming %q", err, tt.inText)
			}
		})
	}
}

func TestEveryTypeHasIDAndLastUpdated(t *testing.T) {
	for _, typ := range []string{"Patient", "Observation"} {
		for _, n := range []string{ParamID, ParamLastUpdated} {
			if p, ok := LookupSearchParam(typ, n); !ok || !p.Special() {
				t.Errorf("%s has no %s", typ, n)
			}
		}
	}
	if _, ok := LookupSearchParam("Observation", "identifier"); ok {
		t.Error("Observation has identifier, but no definition was given")
	}
}

func FuzzParseDate(f *testing.F) {
	for _, s := range []string{"2024", "ge2024-02", "sa2024-03-05T10:00+01:00", "2024-03-05T10:00:30.25Z", "eb0001-01-01"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseDate(s)
		if err == nil && !d.Low.Before(d.High) {
			t.Fatalf("ParseDate(%q) = empty range [%s, %s)", s, d.Low, d.High)
		}
	})
}

func FuzzParseToken(f *testing.F) {
	for _, s := range []string{"a|b", "|b", "a|", "b", `a\|b|c`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := ParseToken(s)
		if err == nil && v.Code == "" && v.System == "" {
			t.Fatalf("ParseToken(%q) = empty token", s)
		}
		if err != nil {
			return
		}
		// String is ParseToken's inverse: what it writes parses back.
		if back, err := ParseToken(v.String()); err != nil || back != v {
			t.Fatalf("ParseToken(%q) = %+v; its String %q parses to %+v, %v", s, v, v.String(), back, err)
		}
	})
}

// TestTokenValueString checks that identifier values holding the search
// syntax's '|' and '\\' survive the trip through a query.
func TestTokenValueString(t *testing.T) {
	for _, v := range []TokenValue{
		{System: "urn:mrn", Code: "A|B"},
		{System: `urn:x\y`, Code: `C:\temp`},
		{Code: "7|8", AnySystem: true},
		{System: "", Code: "no-system"},
		{System: "urn:mrn", Code: ""},
	} {
		back, err := ParseToken(v.String())
		if err != nil || back != v {
			t.Errorf("%+v → %q → %+v, %v", v, v.String(), back, err)
		}
	}
}

func FuzzParseQuery(f *testing.F) {
	f.Add("name=m%C3%BCller,zo%C3%AB&birthdate=ge1980&_count=5")
	f.Add("identifier=urn:mrn%7C1&_sort=-_lastUpdated")
	f.Add("patient:Patient=p1&gender:missing=true")
	f.Fuzz(func(t *testing.T, raw string) {
		v, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		q, err := ParseQuery("Patient", v)
		if err != nil {
			if !errors.Is(err, ErrBadQuery) {
				t.Fatalf("error %v does not wrap ErrBadQuery", err)
			}
			return
		}
		if _, err := PrepareQuery(q); err != nil {
			t.Fatalf("ParseQuery accepted what PrepareQuery refuses: %v", err)
		}
	})
}

func FuzzNormalizeString(f *testing.F) {
	// Not idempotence: case folding is not (Cherokee letters fold back and forth).
	for _, s := range []string{"Müller", "张伟", "Zoë", "ﬁ", "\u13a0", "\u0390"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n := NormalizeString(s)
		if utf8.ValidString(s) && !utf8.ValidString(n) {
			t.Fatalf("NormalizeString(%q) = %q, not UTF-8", s, n)
		}
		if n != strings.TrimSpace(n) || strings.Contains(n, "  ") {
			t.Fatalf("NormalizeString(%q) = %q, white space not collapsed", s, n)
		}
		for _, r := range n {
			if unicode.Is(unicode.Mn, r) {
				t.Fatalf("NormalizeString(%q) = %q keeps a combining mark", s, n)
			}
		}
	})
}

func BenchmarkIndexEntries(b *testing.B) {
	body := decode(b, `{"resourceType":"Patient","id":"p1","identifier":[{"system":"urn:mrn","value":"123"}],
		"name":[{"family":"Müller","given":["Zoë","Anna"]}],"telecom":[{"system":"phone","value":"555-1"}],
		"gender":"female","birthDate":"1980-02-29","address":[{"city":"Zürich","postalCode":"8001"}]}`)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := IndexEntries(body); err != nil {
			b.Fatal(err)
		}
	}
}

// TestPhoneKey: a phone number's last 8 digits, whatever its punctuation and
// prefix; nothing for a shorter number.
func TestPhoneKey(t *testing.T) {
	for in, want := range map[string]string{
		"+44-1632-960777": "32960777",
		"01632 960777":    "32960777",
		"(01632) 960 777": "32960777",
		"960777":          "",
		"":                "",
		"ext. 12345678":   "12345678",
	} {
		if got := PhoneKey(in); got != want {
			t.Errorf("PhoneKey(%q) = %q, want %q", in, got, want)
		}
	}
	entries, err := IndexEntries(map[string]any{"resourceType": "Patient", "id": "p",
		"telecom": []any{map[string]any{"system": "phone", "value": "01632 960777"}, map[string]any{"system": "email", "value": "a@example.org"}}})
	if err != nil {
		t.Fatal(err)
	}
	var phone []string
	for _, e := range entries {
		if e.Param == "phone" {
			phone = append(phone, e.System+"|"+e.Value)
		}
	}
	if want := []string{"phone|01632 960777", PhoneKeySystem + "|32960777"}; !slices.Equal(phone, want) {
		t.Errorf("phone entries %q, want %q", phone, want)
	}
}
