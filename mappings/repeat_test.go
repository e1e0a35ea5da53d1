package mappings_test

import (
	"strings"
	"testing"

	"github.com/carebridge/carebridge/engine/hl7"
	"github.com/carebridge/carebridge/mappings"
)

// TestEveryAttendingDoctorIsKept: PV1-7 repeats; each repetition is its own
// Practitioner and Encounter participant (nothing reported unused), and a
// doctor named in two roles is one Practitioner.
func TestEveryAttendingDoctorIsKept(t *testing.T) {
	set, err := mappings.Load(mappings.Shipped())
	if err != nil {
		t.Fatal(err)
	}
	raw := "MSH|^~\\&|ADTSYS|GENHOSP|CB|CB|20261101083000+0000||ADT^A01^ADT_A01|R1|P|2.5.1\r" +
		"EVN|A01|20261101083000+0000\r" +
		"PID|1||MRN9^^^GENHOSP^MR||Repeat^Rose||19800101|F\r" +
		"PV1|1|I|W1^1^A^GENHOSP||||DOC1^One^Ann~DOC2^Two^Ben|||MED|||||||DOC2^Two^Ben||VN9^^^GENHOSP^VN|||||||||||||||||||||||||20261101082500+0000||\r"
	msg, err := hl7.Parse([]byte(raw))
	if err != nil {
		t.Fatal(err)
	}
	res, err := set.Map(msg, mappings.Options{Sender: "genhosp-adt"})
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]string{}
	var enc map[string]any
	for _, r := range res.Resources {
		switch r.Type {
		case "Practitioner":
			ids[js(r.Body()["identifier"])] = r.ID
		case "Encounter":
			enc = r.Body()
		}
	}
	if len(ids) != 2 {
		t.Fatalf("want 2 practitioners (DOC1, DOC2; DOC2 also admits), got %d: %v", len(ids), ids)
	}
	parts := js(enc["participant"])
	for _, id := range ids {
		if !strings.Contains(parts, "Practitioner/"+id) {
			t.Errorf("participants lack Practitioner/%s: %s", id, parts)
		}
	}
	if strings.Count(parts, `"code":"ATND"`) != 2 || strings.Count(parts, `"code":"ADM"`) != 1 {
		t.Errorf("participants: %s", parts)
	}
	for _, w := range res.Warnings {
		if w.Kind == "unused-field" && strings.HasPrefix(w.Where, "PV1-7") {
			t.Errorf("attending doctor reported unused: %s", w.Where)
		}
	}
	validateBundle(t, res.Bundle)
}
