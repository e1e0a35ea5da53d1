package mappings_test

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/carebridge/carebridge/engine/archive"
	"github.com/carebridge/carebridge/engine/hl7"
	"github.com/carebridge/carebridge/mappings"
)

// TestCorpusBundlesAreValidFHIR maps every message of the public corpus:
// each ADT, SIU and DFT message must map without error to a valid FHIR R4
// Bundle, and every other type must fail with a clear "no map" error, never
// an empty success. It skips when the corpus is absent (a fresh clone).
func TestCorpusBundlesAreValidFHIR(t *testing.T) {
	root := filepath.Join("..", "..", "shared", "corpus", "hl7v2")
	if _, err := os.Stat(root); err != nil {
		t.Skip("corpus not present:", root)
	}
	files, err := archive.Files([]string{root})
	if err != nil {
		t.Fatal(err)
	}
	set, err := mappings.Load(mappings.Shipped())
	if err != nil {
		t.Fatal(err)
	}
	counts := map[string]int{}
	var problems []string
	for _, f := range files {
		if !strings.HasSuffix(f, ".hl7") && !strings.HasSuffix(f, ".txt") {
			continue
		}
		sc, closer, err := archive.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		for sc.Scan() {
			m := sc.Message()
			if m.Err != nil {
				continue
			}
			msg, err := hl7.Parse(m.Raw)
			if err != nil {
				continue // the hl7 package's own tests cover parsing
			}
			code := msg.MessageCode()
			res, err := set.Map(msg, mappings.Options{JournalID: 1})
			mapped := slices.Contains([]string{"ADT", "SIU", "DFT"}, code)
			switch {
			case err != nil && errors.Is(err, mappings.ErrNoMap):
				if mapped && msg.TriggerEvent() != "A18" {
					problems = append(problems, f+": "+err.Error())
				}
				counts["no map"]++
			case err != nil:
				problems = append(problems, f+": "+err.Error())
			case !mapped:
				problems = append(problems, f+": "+msg.Type()+" mapped although no map exists for it")
			default:
				counts[code]++
				if verr := validator(t).Bundle(res.Bundle); verr != nil {
					problems = append(problems, f+": "+msg.Type()+": invalid FHIR: "+verr.Error())
				}
			}
		}
		closer.Close()
	}
	t.Logf("corpus: %v", counts)
	if counts["ADT"] == 0 || counts["SIU"] == 0 || counts["DFT"] == 0 {
		t.Errorf("the corpus should hold ADT, SIU and DFT messages: %v", counts)
	}
	for _, p := range problems {
		t.Error(p)
	}
}
