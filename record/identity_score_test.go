package record

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"

	"github.com/carebridge/carebridge/fhirstore"
)

// isPatient builds a test Patient from its parts; empty parts are left out.
type isPatient struct {
	family, given, text string
	birth, gender       string
	phones              []string
	line, city, postal  string
	ni                  string // national id, typed NI
	niSystem            string
	extraID             string // another identifier: system|value
}

func (p isPatient) body() map[string]any {
	res := map[string]any{"resourceType": "Patient"}
	if p.family != "" || p.given != "" || p.text != "" {
		n := map[string]any{"use": "official"}
		if p.family != "" {
			n["family"] = p.family
		}
		if p.given != "" {
			var g []any
			for _, s := range strings.Fields(p.given) {
				g = append(g, s)
			}
			n["given"] = g
		}
		if p.text != "" {
			n["text"] = p.text
		}
		res["name"] = []any{n}
	}
	if p.birth != "" {
		res["birthDate"] = p.birth
	}
	if p.gender != "" {
		res["gender"] = p.gender
	}
	var tel []any
	for _, ph := range p.phones {
		tel = append(tel, map[string]any{"system": "phone", "value": ph, "use": "home"})
	}
	if tel != nil {
		res["telecom"] = append(tel, map[string]any{"system": "email", "value": "someone@example.org"})
	}
	if p.line != "" || p.city != "" || p.postal != "" {
		a := map[string]any{"use": "home"}
		if p.line != "" {
			a["line"] = []any{p.line}
		}
		if p.city != "" {
			a["city"] = p.city
		}
		if p.postal != "" {
			a["postalCode"] = p.postal
		}
		res["address"] = []any{a}
	}
	var ids []any
	if p.ni != "" {
		id := map[string]any{"value": p.ni, "type": map[string]any{"coding": []any{map[string]any{
			"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "NI"}}}}
		if p.niSystem != "" {
			id["system"] = p.niSystem
		}
		ids = append(ids, id)
	}
	if p.extraID != "" {
		sys, val, _ := strings.Cut(p.extraID, "|")
		ids = append(ids, map[string]any{"system": sys, "value": val})
	}
	if ids != nil {
		res["identifier"] = ids
	}
	return res
}

func isOutcomes(s Score) map[string]string {
	out := map[string]string{}
	for _, f := range s.Fields {
		out[f.Field] = f.Outcome
	}
	return out
}

func TestScoreDecisions(t *testing.T) {
	anna := isPatient{family: "Meyer", given: "Anna", birth: "1980-05-01", gender: "female",
		phones: []string{"+49 30 1234 5678"}, line: "Hauptstraße 1", city: "Berlin", postal: "10115",
		extraID: "urn:oid:1.2.276.0.1|MRN-1"}
	tests := []struct {
		name     string
		a, b     isPatient
		decision Decision
		total    float64
		outcomes map[string]string // only the fields named are checked
	}{
		{
			name: "same person at two hospitals, a typo in the given name",
			a:    anna,
			b: isPatient{family: "MEYER", given: "Ana", birth: "1980-05-01", gender: "female",
				phones: []string{"030 12345678"}, line: "Hauptstrasse 1", city: "Berlin", postal: "10115",
				extraID: "urn:oid:9.9.9|X-77"},
			decision: DecisionLink, total: 18,
			outcomes: map[string]string{"name": "partial", "birth_date": "agree", "phone": "agree", "address": "agree", "national_id": "missing"},
		},
		{
			name:     "same person identical in every field",
			a:        anna,
			b:        anna,
			decision: DecisionLink, total: 22,
		},
		{
			name:     "same national id and name, little else",
			a:        isPatient{family: "Okafor", given: "Chidi", ni: "123-45-6789"},
			b:        isPatient{family: "okafor", given: "CHIDI", ni: "123456789", birth: "1990-01-01"},
			decision: DecisionLink, total: 20,
			outcomes: map[string]string{"national_id": "agree", "birth_date": "missing"},
		},
		{
			name: "twins: same birth date, address and phone, other given names and national ids",
			a: isPatient{family: "Meyer", given: "Anna", birth: "2001-03-04", gender: "female", phones: []string{"030 1234 5678"},
				line: "Hauptstr. 1", city: "Berlin", postal: "10115", ni: "DE-1001"},
			b: isPatient{family: "Meyer", given: "Lena", birth: "2001-03-04", gender: "female", phones: []string{"030 1234 5678"},
				line: "Hauptstr. 1", city: "Berlin", postal: "10115", ni: "DE-1002"},
			decision: DecisionNew, total: -3,
			outcomes: map[string]string{"name": "disagree", "national_id": "disagree"},
		},
		{
			name: "twins without national ids are not linked either",
			a: isPatient{family: "Meyer", given: "Anna", birth: "2001-03-04", gender: "female", phones: []string{"030 1234 5678"},
				line: "Hauptstr. 1", city: "Berlin", postal: "10115"},
			b: isPatient{family: "Meyer", given: "Lena", birth: "2001-03-04", gender: "female", phones: []string{"030 1234 5678"},
				line: "Hauptstr. 1", city: "Berlin", postal: "10115"},
			decision: DecisionNew, total: 9,
		},
		{
			name:     "a typo in the family name and a missing middle name: review, as for either alone",
			a:        isPatient{family: "Quillfeather", given: "Oona Beth", birth: "1994-08-21", gender: "female"},
			b:        isPatient{family: "Quilfeather", given: "Oona", birth: "1994-08-21", gender: "female"},
			decision: DecisionReview, total: 11,
			outcomes: map[string]string{"name": "partial"},
		},
		{
			name:     "a typo in the family name and a shortened first name: review, as for either alone",
			a:        isPatient{family: "Quillfeather", given: "Christopher", birth: "1994-08-21", gender: "male"},
			b:        isPatient{family: "Quilfeather", given: "Chris", birth: "1994-08-21", gender: "male"},
			decision: DecisionReview, total: 11,
			outcomes: map[string]string{"name": "partial"},
		},
		{
			name:     "a typo in the family name and first names sharing two letters only: a new patient",
			a:        isPatient{family: "Quillfeather", given: "Al", birth: "1994-08-21", gender: "male"},
			b:        isPatient{family: "Quilfeather", given: "Alexander", birth: "1994-08-21", gender: "male"},
			decision: DecisionNew, total: 2,
			outcomes: map[string]string{"name": "disagree"},
		},
		{
			name:     "twins, a typo in the family name: other first names stay a new patient",
			a:        isPatient{family: "Quillfeather", given: "Oona Beth", birth: "1994-08-21", gender: "female"},
			b:        isPatient{family: "Quilfeather", given: "Orla", birth: "1994-08-21", gender: "female"},
			decision: DecisionNew, total: 2,
			outcomes: map[string]string{"name": "disagree"},
		},
		{
			name:     "review band: name and birth date only",
			a:        isPatient{family: "Smith", given: "John", birth: "1975-07-07"},
			b:        isPatient{family: "Smith", given: "John", birth: "1975-07-07", gender: "male", phones: []string{"555 0100 9999"}},
			decision: DecisionReview, total: 14,
		},
		{
			name:     "review band: name agrees, birth date day and month swapped, phone agrees",
			a:        isPatient{family: "Rossi", given: "Marco", birth: "1970-04-03", phones: []string{"+39 06 1234 5678"}},
			b:        isPatient{family: "Rossi", given: "Marco", birth: "1970-03-04", phones: []string{"06 12345678"}},
			decision: DecisionReview, total: 14,
			outcomes: map[string]string{"birth_date": "partial"},
		},
		{
			name:     "family and given swapped",
			a:        isPatient{family: "Nguyen", given: "Van", birth: "1960-02-02"},
			b:        isPatient{family: "Van", given: "Nguyen", birth: "1960-02-02"},
			decision: DecisionReview, total: 10, // 4 + 6: exactly review
			outcomes: map[string]string{"name": "partial"},
		},
		{
			name:     "different people with the same common name",
			a:        isPatient{family: "Smith", given: "John", birth: "1975-07-07", gender: "male", postal: "90210"},
			b:        isPatient{family: "Smith", given: "John", birth: "1982-11-30", gender: "male", postal: "10001"},
			decision: DecisionNew, total: 8 - 6 + 1 - 1,
		},
		{
			name:     "missing fields give 0",
			a:        isPatient{family: "Meyer", given: "Anna"},
			b:        isPatient{birth: "1980-05-01", gender: "female"},
			decision: DecisionNew, total: 0,
			outcomes: map[string]string{"name": "missing", "birth_date": "missing", "gender": "missing", "phone": "missing", "national_id": "missing", "address": "missing"},
		},
		{
			name:     "unknown gender counts as missing",
			a:        isPatient{gender: "unknown"},
			b:        isPatient{gender: "male"},
			decision: DecisionNew, total: 0,
		},
		{
			name:     "national ids of different systems are not compared",
			a:        isPatient{ni: "111", niSystem: "urn:oid:2.16.840.1.113883.4.1"},
			b:        isPatient{ni: "222", niSystem: "urn:oid:1.2.250.1.213.1.4.8"},
			decision: DecisionNew, total: 0,
			outcomes: map[string]string{"national_id": "missing"},
		},
	}
	c := DefaultMatchConfig()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, dir := range []string{"a→b", "b→a"} {
				in, cand := tc.a.body(), tc.b.body()
				if dir == "b→a" {
					in, cand = cand, in
				}
				s := c.Score(in, cand)
				if math.Abs(s.Total-tc.total) > 1e-9 {
					t.Errorf("%s: total %v, want %v (%v)", dir, s.Total, tc.total, isOutcomes(s))
				}
				if d := c.Decide(s); d != tc.decision {
					t.Errorf("%s: decision %q, want %q (total %v)", dir, d, tc.decision, s.Total)
				}
				got := isOutcomes(s)
				for f, want := range tc.outcomes {
					if got[f] != want {
						t.Errorf("%s: %s %q, want %q", dir, f, got[f], want)
					}
				}
				sum := 0.0
				for _, f := range s.Fields {
					sum += f.Points
				}
				if sum != s.Total || len(s.Fields) != 6 {
					t.Errorf("%s: fields %v do not add up to %v", dir, s.Fields, s.Total)
				}
			}
		})
	}
}

func TestScoreNames(t *testing.T) {
	name := func(family, given, text string) map[string]any {
		return isPatient{family: family, given: given, text: text}.body()
	}
	tests := []struct {
		name string
		a, b map[string]any
		want string
	}{
		{"Chinese names: the same", name("张", "伟", ""), name("张", "伟", ""), "agree"},
		{"Chinese names: family and given vs text", name("张", "伟", ""), name("", "", "张伟"), "agree"},
		{"Chinese names: one character differs", name("张", "伟", ""), name("张", "维", ""), "disagree"},
		{"Chinese names: two characters vs three", name("张", "伟", ""), name("张", "伟明", ""), "disagree"},
		{"Chinese names: full-width space ignored", name("", "", "张　伟"), name("", "", "张伟"), "agree"},
		{"a Chinese name and its romanisation are not compared", name("张", "伟", ""), name("Zhang", "Wei", ""), "missing"},
		{"accents and case", name("Müller", "José", ""), name("MULLER", "jose", ""), "agree"},
		{"ß folds to ss", name("Strauß", "Eva", ""), name("Strauss", "Eva", ""), "agree"},
		{"a typo in the family name", name("Schmidt", "Eva", ""), name("Schmitd", "Eva", ""), "partial"},
		{"an initial", name("Doe", "J", ""), name("Doe", "John", ""), "partial"},
		{"no given name on one side", name("Doe", "", ""), name("Doe", "Jane", ""), "partial"},
		{"different given names", name("Doe", "Jane", ""), name("Doe", "Mary", ""), "disagree"},
		{"different family names", name("Doe", "Jane", ""), name("Roe", "Jane", ""), "disagree"},
		{"a typo in the family name and a middle name on one side only", name("Quillfeather", "Oona Beth", ""), name("Quilfeather", "Oona", ""), "partial"},
		{"a typo in the family name and a middle initial", name("Quillfeather", "Oona Beth", ""), name("Quilfeather", "Oona B", ""), "partial"},
		{"a typo in the family name and an initial", name("Quillfeather", "Oona", ""), name("Quilfeather", "O", ""), "partial"},
		{"a middle name on one side only", name("Quillfeather", "Oona Beth", ""), name("Quillfeather", "Oona", ""), "partial"},
		{"same family, other first name", name("Quillfeather", "Oona", ""), name("Quillfeather", "Maud", ""), "disagree"},
		{"a typo in the family name and another first name", name("Quillfeather", "Oona Beth", ""), name("Quilfeather", "Maud", ""), "disagree"},
		{"a typo in the family name and another first name, the same middle name", name("Quillfeather", "Oona Beth", ""), name("Quilfeather", "Maud Beth", ""), "disagree"},
		{"a typo in the family name and other middle names", name("Quillfeather", "Oona Beth", ""), name("Quilfeather", "Oona Maud", ""), "disagree"},
		{"another family name, a middle name on one side only", name("Quillfeather", "Oona Beth", ""), name("Brightwater", "Oona", ""), "disagree"},
		{"text only", name("", "", "Jane Doe"), name("Doe", "Jane", ""), "agree"},
		{"hyphens and spaces", name("Meyer-Lang", "Anna Maria", ""), name("meyer lang", "Anna-Maria", ""), "agree"},
		{"no names", isPatient{}.body(), name("Doe", "", ""), "missing"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := compareNames(tc.a, tc.b); got != tc.want {
				t.Errorf("compareNames = %q, want %q", got, tc.want)
			}
			if got := compareNames(tc.b, tc.a); got != tc.want {
				t.Errorf("compareNames reversed = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestCompareBirthDates(t *testing.T) {
	tests := []struct{ a, b, want string }{
		{"1980-05-01", "1980-05-01", "agree"},
		{"1980-05-01", "1980-05-01T10:00:00+01:00", "agree"},
		{"1980-05-01", "1980-01-05", "partial"}, // day and month swapped
		{"1980-05-01", "1980-05-07", "partial"}, // one digit off
		{"1980-05-01", "1981-05-01", "partial"},
		{"1980-05-01", "1980", "partial"}, // less precise
		{"1980", "1980", "partial"},
		{"1980-05-01", "1981-06-01", "disagree"},
		{"1980-05-01", "1979", "disagree"},
		{"1980-05-01", "", "missing"},
		{"1980-05-01", "01.05.1980", "missing"},
	}
	for _, tc := range tests {
		if got := compareBirthDates(tc.a, tc.b); got != tc.want {
			t.Errorf("compareBirthDates(%q, %q) = %q, want %q", tc.a, tc.b, got, tc.want)
		}
		if got := compareBirthDates(tc.b, tc.a); got != tc.want {
			t.Errorf("compareBirthDates(%q, %q) = %q, want %q", tc.b, tc.a, got, tc.want)
		}
	}
}

func TestComparePhonesAndAddresses(t *testing.T) {
	phones := []struct {
		a, b []string
		want string
	}{
		{[]string{"+49 (30) 1234-5678"}, []string{"030 12345678"}, "agree"},
		{[]string{"030 12345678", "0170 9999 8888"}, []string{"+49 170 99998888"}, "agree"},
		{[]string{"030 12345678"}, []string{"030 87654321"}, "disagree"},
		{[]string{"1234"}, []string{"1234"}, "missing"}, // too short to compare
		{nil, []string{"030 12345678"}, "missing"},
	}
	for _, tc := range phones {
		if got := comparePhones(isPatient{phones: tc.a}.body(), isPatient{phones: tc.b}.body()); got != tc.want {
			t.Errorf("comparePhones(%q, %q) = %q, want %q", tc.a, tc.b, got, tc.want)
		}
	}
	addrs := []struct {
		a, b isPatient
		want string
	}{
		{isPatient{line: "Hauptstraße 1", postal: "10115"}, isPatient{line: "HAUPTSTRASSE 1", postal: "10 115", city: "Berlin"}, "agree"},
		{isPatient{line: "Hauptstraße 1", city: "Berlin"}, isPatient{line: "Hauptstrasse 1", city: "berlin"}, "agree"},
		{isPatient{line: "Hauptstraße 1", postal: "10115"}, isPatient{line: "Nebenweg 2", postal: "10115"}, "partial"},
		{isPatient{line: "Hauptstraße 1", postal: "10115"}, isPatient{line: "Hauptstraße 1", postal: "80331"}, "disagree"},
		{isPatient{}, isPatient{postal: "10115"}, "missing"},
	}
	for _, tc := range addrs {
		if got := compareAddresses(tc.a.body(), tc.b.body()); got != tc.want {
			t.Errorf("compareAddresses(%+v, %+v) = %q, want %q", tc.a, tc.b, got, tc.want)
		}
	}
}

func TestNationalIDSystems(t *testing.T) {
	c := DefaultMatchConfig()
	c.NationalIDSystems = []string{"urn:oid:2.16.840.1.113883.4.1"}
	a := isPatient{extraID: "urn:oid:2.16.840.1.113883.4.1|123-45-6789"}.body()
	b := isPatient{extraID: "urn:oid:2.16.840.1.113883.4.1|123456789"}.body()
	other := isPatient{extraID: "urn:oid:2.16.840.1.113883.4.1|987654321"}.body()
	if got := isOutcomes(c.Score(a, b))["national_id"]; got != "agree" {
		t.Errorf("same national id: %q", got)
	}
	if got := isOutcomes(c.Score(a, other))["national_id"]; got != "disagree" {
		t.Errorf("other national id: %q", got)
	}
	if got := isOutcomes(DefaultMatchConfig().Score(a, other))["national_id"]; got != "missing" {
		t.Errorf("system not configured: %q", got)
	}
}

func TestJaroWinkler(t *testing.T) {
	tests := []struct {
		a, b string
		want float64
	}{
		{"martha", "marhta", 0.961},
		{"dwayne", "duane", 0.840},
		{"dixon", "dicksonx", 0.813},
		{"abc", "abc", 1},
		{"abc", "xyz", 0},
		{"", "", 1},
		{"a", "", 0},
	}
	for _, tc := range tests {
		if got := jaroWinkler(tc.a, tc.b); math.Abs(got-tc.want) > 0.001 {
			t.Errorf("jaroWinkler(%q, %q) = %.4f, want %.3f", tc.a, tc.b, got, tc.want)
		}
	}
}

func TestMatchConfigValidate(t *testing.T) {
	if err := DefaultMatchConfig().Validate(); err != nil {
		t.Fatalf("DefaultMatchConfig: %v", err)
	}
	tests := []struct {
		name   string
		change func(*MatchConfig)
		want   []string
	}{
		{"review not below auto_link", func(c *MatchConfig) { c.Review = 17 }, []string{"review (17) must be below auto_link (17)"}},
		{"review 0", func(c *MatchConfig) { c.Review = 0 }, []string{"review (0) must be above 0"}},
		{"NaN threshold", func(c *MatchConfig) { c.AutoLink = math.NaN() }, []string{"must be finite"}},
		{"unknown field", func(c *MatchConfig) { c.Fields["surname"] = FieldWeights{Agree: 1} }, []string{`unknown field "surname"`}},
		{"agree not positive", func(c *MatchConfig) { c.Fields["gender"] = FieldWeights{Agree: -1, Disagree: -1} }, []string{"fields.gender.agree (-1) must be above 0"}},
		{"partial above agree", func(c *MatchConfig) { c.Fields["name"] = FieldWeights{Agree: 2, Partial: 3} }, []string{"fields.name.partial (3) must be between 0 and agree (2)"}},
		{"disagree positive", func(c *MatchConfig) { c.Fields["phone"] = FieldWeights{Agree: 2, Disagree: 1} }, []string{"fields.phone.disagree (1) must be 0 or below"}},
		{"auto_link unreachable", func(c *MatchConfig) { c.AutoLink = 100 }, []string{"auto_link (100) is above the highest possible score (34)"}},
		{"all problems at once", func(c *MatchConfig) {
			c.Review = 50
			c.Fields["dob"] = FieldWeights{}
			c.Fields["address"] = FieldWeights{Agree: 1, Disagree: 2}
		}, []string{"review (50) must be below", `unknown field "dob"`, "fields.address.disagree (2)"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := DefaultMatchConfig()
			tc.change(&c)
			err := c.Validate()
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
	t.Run("a field left out keeps its default, all zero switches it off", func(t *testing.T) {
		c := DefaultMatchConfig()
		delete(c.Fields, FieldGender)
		c.Fields[FieldPhone] = FieldWeights{}
		if err := c.Validate(); err != nil {
			t.Fatal(err)
		}
		s := c.Score(isPatient{gender: "male", phones: []string{"030 12345678"}}.body(), isPatient{gender: "male", phones: []string{"030 12345678"}}.body())
		if s.Total != 1 {
			t.Errorf("total %v, want 1 (gender by default, phone off)", s.Total)
		}
	})
}

func TestCandidateQueries(t *testing.T) {
	in := isPatient{family: "Meyer", given: "Anna", birth: "1980-05-01", phones: []string{"+49 30 1234 5678"},
		ni: "DE-1001", niSystem: "urn:de:ni", extraID: "urn:mrn|1"}.body()
	got := CandidateQueries(in)
	q := func(params ...fhirstore.Param) fhirstore.Query {
		return fhirstore.Query{Type: "Patient", Params: params, Count: 50}
	}
	want := []fhirstore.Query{
		q(fhirstore.Param{Name: "birthdate", Values: []string{"eq1980-05-01"}}),
		q(fhirstore.Param{Name: "family", Values: []string{"Mey"}}, fhirstore.Param{Name: "birthdate", Values: []string{"eq1980"}}),
		q(fhirstore.Param{Name: "phone", Values: []string{fhirstore.PhoneKeySystem + "|12345678"}}), // however written: its last 8 digits
		q(fhirstore.Param{Name: "identifier", Values: []string{"urn:de:ni|DE-1001"}}),
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("CandidateQueries =\n%v\nwant\n%v", fmtQueries(got), fmtQueries(want))
	}
	zh := CandidateQueries(isPatient{family: "张", given: "伟", birth: "1990"}.body())
	wantZh := []fhirstore.Query{q(fhirstore.Param{Name: "family", Values: []string{"张"}}, fhirstore.Param{Name: "birthdate", Values: []string{"eq1990"}})}
	if !reflect.DeepEqual(zh, wantZh) {
		t.Errorf("Chinese name: %v", fmtQueries(zh))
	}
	if got := CandidateQueries(isPatient{gender: "male"}.body()); len(got) != 0 {
		t.Errorf("nothing to block on: %v", fmtQueries(got))
	}
}

func fmtQueries(qs []fhirstore.Query) string {
	var b strings.Builder
	for _, q := range qs {
		fmt.Fprintf(&b, "%+v\n", q)
	}
	return b.String()
}

func BenchmarkScore(b *testing.B) {
	c := DefaultMatchConfig()
	x := isPatient{family: "Meyer", given: "Anna", birth: "1980-05-01", gender: "female", phones: []string{"+49 30 1234 5678"},
		line: "Hauptstraße 1", city: "Berlin", postal: "10115", ni: "DE-1"}.body()
	y := isPatient{family: "Meier", given: "Ana", birth: "1980-05-01", gender: "female", phones: []string{"030 12345678"},
		line: "Hauptstr. 1", city: "Berlin", postal: "10115", ni: "DE-1"}.body()
	b.ReportAllocs()
	for b.Loop() {
		c.Score(x, y)
	}
}

// Two hospitals' records of one patient, the second with a typo in the
// given name: the score links them.
func ExampleMatchConfig_Score() {
	var incoming, candidate map[string]any
	_ = json.Unmarshal([]byte(`{"resourceType":"Patient","name":[{"family":"Meyer","given":["Ana"]}],
		"birthDate":"1980-05-01","gender":"female","telecom":[{"system":"phone","value":"030 12345678"}],
		"address":[{"line":["Hauptstrasse 1"],"postalCode":"10115"}]}`), &incoming)
	_ = json.Unmarshal([]byte(`{"resourceType":"Patient","name":[{"family":"Meyer","given":["Anna"]}],
		"birthDate":"1980-05-01","gender":"female","telecom":[{"system":"phone","value":"+49 30 1234 5678"}],
		"address":[{"line":["Hauptstraße 1"],"postalCode":"10115"}]}`), &candidate)
	c := DefaultMatchConfig()
	s := c.Score(incoming, candidate)
	for _, f := range s.Fields {
		fmt.Printf("%-11s %-8s %+g\n", f.Field, f.Outcome, f.Points)
	}
	fmt.Println("total", s.Total, "→", c.Decide(s))
	// Output:
	// name        partial  +4
	// birth_date  agree    +6
	// gender      agree    +1
	// phone       agree    +4
	// national_id missing  +0
	// address     agree    +3
	// total 18 → link
}

// A name is written on one line as its script writes it.
func TestNameText(t *testing.T) {
	for _, tc := range []struct {
		n    Name
		want string
	}{
		{Name{Family: "Testperson", Given: []string{"Alice", "B"}}, "Alice B Testperson"},
		{Name{Family: "张", Given: []string{"伟"}}, "张伟"},
		{Name{Family: "山田", Given: []string{"太郎"}}, "山田太郎"},
		{Name{Given: []string{"Alice"}}, "Alice"},
	} {
		if got := nameText(tc.n); got != tc.want {
			t.Errorf("nameText(%+v) = %q, want %q", tc.n, got, tc.want)
		}
	}
}

// TestNormalizeASCIIIsNormalizeText checks the ASCII fast path against the
// Unicode one: every ASCII character alone and between letters, and
// random ASCII strings.
func TestNormalizeASCIIIsNormalizeText(t *testing.T) {
	var inputs []string
	for c := range 128 {
		inputs = append(inputs, string(rune(c)), "Ab"+string(rune(c))+"Cd", string(rune(c))+" x-Y ")
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		b := make([]byte, rng.IntN(24))
		for i := range b {
			b[i] = byte(rng.IntN(128))
		}
		inputs = append(inputs, string(b))
	}
	for _, s := range inputs {
		got, ok := normalizeASCII(s)
		if want := normalizeUnicode(s); !ok || got != want {
			t.Fatalf("normalizeASCII(%q) = %q, %v; normalizeUnicode %q", s, got, ok, want)
		}
	}
	for _, s := range []string{"Müller", "王", "a\x80"} {
		if _, ok := normalizeASCII(s); ok {
			t.Errorf("normalizeASCII(%q) took a string that is not ASCII", s)
		}
	}
}
