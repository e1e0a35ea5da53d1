package mappings_test

import (
	"os"
	"strings"
	"testing"

	"github.com/carebridge/carebridge/engine/hl7"
	"github.com/carebridge/carebridge/mappings"
)

// TestUnmappedCodeIntoAURI: a coding system name the CodingSystem code map
// does not know (AL1-3.3 "L") writes nothing through that row, and the
// warning says so; the coding keeps the fallback system an earlier row
// wrote, never the raw name.
func TestUnmappedCodeIntoAURI(t *testing.T) {
	set, err := mappings.Load(mappings.Shipped())
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
	res, err := set.Map(msg, mappings.Options{})
	if err != nil {
		t.Fatal(err)
	}
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
