package fhirvalid_test

import (
	"slices"
	"testing"

	"github.com/carebridge/carebridge/fhirvalid"
)

func TestLookupType(t *testing.T) {
	p, ok := fhirvalid.LookupType("Patient")
	if !ok {
		t.Fatal("no Patient")
	}
	tests := []struct {
		name, typ string
		repeated  bool
		codes     []string
	}{
		{"gender", "code", false, []string{"female", "male", "other", "unknown"}},
		{"name", "HumanName", true, nil},
		{"birthDate", "date", false, nil},
		{"deceasedBoolean", "boolean", false, nil},
		{"deceasedDateTime", "dateTime", false, nil},
		{"contact", "BackboneElement", true, nil},
		{"_birthDate", "Element", false, nil},
	}
	for _, tc := range tests {
		e, ok := p.Element(tc.name)
		if !ok {
			t.Errorf("Patient has no %s", tc.name)
			continue
		}
		if e.Type != tc.typ || e.Repeated != tc.repeated || !slices.Equal(e.Codes, tc.codes) && len(tc.codes) > 0 {
			t.Errorf("Patient.%s = %s repeated %v codes %v, want %s %v %v", tc.name, e.Type, e.Repeated, e.Codes, tc.typ, tc.repeated, tc.codes)
		}
	}
	for _, missing := range []string{"nmae", "deceased", "resourceType"} {
		if _, ok := p.Element(missing); ok {
			t.Errorf("Patient has %s", missing)
		}
	}
	name, _ := p.Element("name")
	if _, ok := name.Elements().Element("family"); !ok {
		t.Error("HumanName has no family")
	}
	ref, _ := fhirvalid.LookupType("Reference")
	if got := ref.ElementNames(); !slices.Equal(got, []string{"_display", "_id", "_reference", "_type", "display", "extension", "id", "identifier", "reference", "type"}) {
		t.Errorf("Reference elements = %v", got)
	}
	if _, ok := fhirvalid.LookupType("NoSuchType"); ok {
		t.Error("found NoSuchType")
	}
	if codes, ok := fhirvalid.CodeSystemCodes("http://hl7.org/fhir/appointmentstatus"); !ok || !slices.Contains(codes, "booked") {
		t.Errorf("appointmentstatus = %v, %v", codes, ok)
	}
	if _, ok := fhirvalid.CodeSystemCodes("http://snomed.info/sct"); ok {
		t.Error("SNOMED CT's codes are not in the R4 model")
	}
}
