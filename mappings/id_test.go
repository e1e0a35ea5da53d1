package mappings

import "testing"

// TestStableRefMatchesStableID checks that the reference built with a
// resource's id names the same id as StableID.
func TestStableRefMatchesStableID(t *testing.T) {
	for _, c := range []struct{ typ, key string }{
		{"Patient", "https://genhosp.example.org/fhir/sid/mrn|12345"},
		{"Encounter", ""},
		{"Practitioner", "张伟|\x00|x"},
	} {
		ref, id := stableRef(c.typ, c.key)
		if want := StableID(c.typ, c.key); id != want || ref != c.typ+"/"+want {
			t.Errorf("stableRef(%q, %q) = %q, %q; want %q", c.typ, c.key, ref, id, c.typ+"/"+want)
		}
	}
	if got := StableID("Patient", "x|1"); len(got) != 36 || got[14] != '5' {
		t.Errorf("StableID = %q, not a version 5 UUID", got)
	}
}
