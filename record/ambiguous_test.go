package record_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/carebridge/carebridge/mappings"
)

// TestTwoLinkableRecordsOpenAReview: a newcomer that scores auto_link or
// more against two different patients is linked to neither (which one
// would be a tie-break, not a match): it is a new patient with a review
// against the best, and the note names the other.
func TestTwoLinkableRecordsOpenAReview(t *testing.T) {
	set, err := mappings.Load(mappings.Shipped())
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	msg := func(name, control, mrn, facility, phone, postal string) string {
		raw := fmt.Sprintf("MSH|^~\\&|ADTSYS|%[4]s|CAREBRIDGE|CB|20261106100000+0000||ADT^A04^ADT_A01|%[2]s|P|2.5.1\r"+
			"EVN|A04|20261106100000+0000\r"+
			"PID|1||%[3]s^^^%[4]s^MR||Berglund^Annika||19700101|F|||1 Road^^Town^^%[6]s^GBR^H||%[5]s^PRN^PH\r", name, control, mrn, facility, phone, postal)
		path := filepath.Join(dir, name+".hl7")
		if err := os.WriteFile(path, []byte(raw), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	steps := []string{
		msg("his", "TIE-1", "H1", "GENHOSP", "01632 960111", "AA1 1AA"),
		// Another phone and postcode: 15 − 1 − 1 = 13, a review with H1.
		msg("clinic", "TIE-2", "C1", "NORTHCLINIC", "01632 960222", "BB2 2BB"),
		// H1's phone, C1's postcode: 18 against H1, 17 against C1.
		msg("lab", "TIE-3", "L1", "LABSYS", "01632 960111", "BB2 2BB"),
	}
	v := run(t, set, steps, 1)
	if n := len(v.live("Patient")); n != 3 {
		t.Fatalf("%d patients, want 3 (the newcomer linked to neither)", n)
	}
	var notes string
	for _, o := range v.outcomes {
		if o.Control == "TIE-3" {
			notes = fmt.Sprint(o.Notes)
		}
	}
	if !strings.Contains(notes, "review opened") || !strings.Contains(notes, "scores 18.0 ≥ auto_link 17.0") || !strings.Contains(notes, "but so do Patient/") || !strings.Contains(notes, "(score 17.0)") {
		t.Errorf("notes of the newcomer: %s", notes)
	}
	reviews := 0
	for _, task := range v.all("Task") {
		if strings.Contains(fmt.Sprint(task["description"]), "other records match as well") {
			reviews++
		}
	}
	if reviews != 1 {
		t.Errorf("%d reviews saying others match as well, want 1", reviews)
	}
}
