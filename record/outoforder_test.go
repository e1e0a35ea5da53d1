package record_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/carebridge/carebridge/mappings"
)

// TestOlderAdmissionAddsWhatOnlyItSays: the admission (A01) arrives after a
// newer update (A08) that named the patient by the MRN alone. The update's
// data stay; what only the admission says is added: the NHS number and the
// passport (systems the record never had) and the maiden name (a use it
// never had), but not its official name beside the update's (the same
// name, use aside).
func TestOlderAdmissionAddsWhatOnlyItSays(t *testing.T) {
	set, err := mappings.Load(mappings.Shipped())
	if err != nil {
		t.Fatal(err)
	}
	v := run(t, set, []string{examples + "ADT/a08-update-nulls.hl7", examples + "ADT/a01-admit.hl7"}, 1)
	p := v.one(t, "Patient")
	var systems []string
	for _, id := range list(p["identifier"]) {
		systems = append(systems, fmt.Sprint(id.(map[string]any)["system"]))
	}
	for _, want := range []string{"https://genhosp.example.org/fhir/sid/mrn", "https://fhir.nhs.uk/Id/nhs-number"} {
		if !slices.Contains(systems, want) {
			t.Errorf("identifier systems %v lack %s", systems, want)
		}
	}
	if len(systems) != 3 {
		t.Errorf("identifier systems %v, want the MRN, the NHS number and the passport", systems)
	}
	var names []string
	for _, n := range list(p["name"]) {
		x := n.(map[string]any)
		names = append(names, fmt.Sprint(x["use"], " ", x["family"]))
	}
	if !slices.Equal(names, []string{"<nil> Okafor", "maiden Eze"}) {
		t.Errorf("names %v, want the update's and the maiden name", names)
	}
	if notes := fmt.Sprint(v.outcomes[1].Notes); !strings.Contains(notes, "identifier (2 entries)") || !strings.Contains(notes, "name (1 entry)") {
		t.Errorf("notes: %s", notes)
	}
}
