package fhirvalid

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

const corpusDir = "../../shared/corpus/fhir"

// TestOfficialExamples validates a sample of the official R4 examples of the
// resource types Carebridge writes; all must pass.
func TestOfficialExamples(t *testing.T) {
	dir := filepath.Join(corpusDir, "r4-examples")
	if _, err := os.Stat(dir); err != nil {
		t.Skipf("corpus absent: %v", err)
	}
	v := newValidator(t)
	const perType = 10
	for _, typ := range []string{"Patient", "Encounter", "Appointment", "ChargeItem", "Account",
		"Coverage", "Practitioner", "Organization", "Location"} {
		files, err := filepath.Glob(filepath.Join(dir, typ+"-*.json"))
		if err != nil {
			t.Fatal(err)
		}
		sort.Strings(files)
		if len(files) == 0 {
			t.Errorf("%s: no examples found", typ)
		}
		if len(files) > perType {
			files = files[:perType]
		}
		for _, f := range files {
			t.Run(filepath.Base(f), func(t *testing.T) {
				b, err := os.ReadFile(f)
				if err != nil {
					t.Fatal(err)
				}
				if err := v.Resource(b); err != nil {
					t.Errorf("official example rejected: %v", err)
				}
			})
		}
	}
}

// TestTestCasesAgreement measures agreement with the HL7 Java validator's
// outcomes on the fhir-test-cases R4 subset (general/bundle/references). It
// logs the rate and the disagreements and does not require 100%: those
// cases exercise terminology, profiles and resolution that are out of scope.
func TestTestCasesAgreement(t *testing.T) {
	dir := filepath.Join(corpusDir, "fhir-test-cases", "validator")
	mb, err := os.ReadFile(filepath.Join(dir, "manifest-r4-subset.json"))
	if err != nil {
		t.Skipf("test cases absent: %v", err)
	}
	var manifest struct {
		Cases []struct {
			Name, File, Java string
		} `json:"test-cases"`
	}
	if err := json.Unmarshal(mb, &manifest); err != nil {
		t.Fatal(err)
	}
	v := newValidator(t)
	var n, agree, tp, tn, fp, fn int
	var disagreements []string
	for _, c := range manifest.Cases {
		in, err := os.ReadFile(filepath.Join(dir, c.File))
		if err != nil {
			continue
		}
		ob, err := os.ReadFile(filepath.Join(dir, "outcomes", c.Java))
		if err != nil {
			continue
		}
		var oo struct {
			Issue []struct{ Severity string } `json:"issue"`
		}
		if err := json.Unmarshal(ob, &oo); err != nil {
			continue
		}
		javaValid := true
		for _, is := range oo.Issue {
			if is.Severity == "error" || is.Severity == "fatal" {
				javaValid = false
			}
		}
		verr := v.Resource(in)
		var ve *Error
		if verr != nil && !errors.As(verr, &ve) {
			t.Errorf("%s: non-validation error %v", c.Name, verr)
		}
		ours := verr == nil
		n++
		switch {
		case ours == javaValid:
			agree++
			if ours {
				tn++
			} else {
				tp++
			}
		case ours:
			fn++
			disagreements = append(disagreements, c.Name+": Java rejects, we accept")
		default:
			fp++
			msg := verr.Error()
			if len(msg) > 200 {
				msg = msg[:200] + "..."
			}
			disagreements = append(disagreements, c.Name+": Java accepts, we reject: "+msg)
		}
	}
	if n == 0 {
		t.Skip("no usable test cases")
	}
	t.Logf("agreement with Java validator: %d/%d = %.1f%% (both reject %d, both accept %d, only Java rejects %d, only we reject %d)",
		agree, n, 100*float64(agree)/float64(n), tp, tn, fn, fp)
	t.Logf("disagreements:\n  %s", strings.Join(disagreements, "\n  "))
}
