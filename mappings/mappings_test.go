package mappings

import (
	"os"
	"strings"
	"testing"

	"github.com/carebridge/carebridge/engine/hl7"
	"github.com/carebridge/carebridge/fhirvalid"
)

// TestShippedSetMapsTheA01Fixture maps testdata's ADT^A01 with the embedded
// set (what serve uses by default) to a valid FHIR R4 Bundle.
func TestShippedSetMapsTheA01Fixture(t *testing.T) {
	set, err := Load(Shipped())
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile("../testdata/hl7/adt_a01.hl7")
	if err != nil {
		t.Fatal(err)
	}
	msg, err := hl7.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	res, err := set.Map(msg, Options{JournalID: 7})
	if err != nil {
		t.Fatal(err)
	}
	v, err := fhirvalid.New()
	if err != nil {
		t.Fatal(err)
	}
	if err := v.Bundle(res.Bundle); err != nil {
		t.Fatal(err)
	}
	// A coding system name the CodingSystem code map does not know
	// (AL1-3.3 "L") writes nothing through that row, and the warning says
	// so; the coding keeps the fallback system an earlier row wrote, never
	// the raw name.
	var got string
	for _, w := range res.Warnings {
		if w.Kind == "unmapped-code" && w.Where == "AL1-3.3" {
			got = w.Message
		}
	}
	if want := `code "L" is not in code map CodingSystem: this row writes nothing to coding[0].system (a raw v2 code there would not be valid FHIR)`; got != want {
		t.Errorf("warning %q, want %q", got, want)
	}
	if !strings.Contains(string(res.Bundle), `"system":"urn:carebridge:codesystem:L"`) {
		t.Errorf("no allergen coding with the fallback system: %s", res.Bundle)
	}
}
