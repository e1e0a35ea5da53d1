package mappings

import (
	"os"
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
}
