package mappings_test

import (
	"bytes"
	"errors"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/carebridge/carebridge/engine/hl7"
	"github.com/carebridge/carebridge/fhirvalid"
	"github.com/carebridge/carebridge/mappings"
)

var (
	validatorOnce   sync.Once
	sharedValidator *fhirvalid.Validator
	validatorErr    error
)

// validator returns the shared FHIR validator.
func validator(t *testing.T) *fhirvalid.Validator {
	t.Helper()
	validatorOnce.Do(func() { sharedValidator, validatorErr = fhirvalid.New() })
	if validatorErr != nil {
		t.Fatal(validatorErr)
	}
	return sharedValidator
}

// validateBundle checks that a mapped Bundle and every resource in it are
// valid FHIR R4 (google/fhir/go jsonformat, through package fhirvalid).
func validateBundle(t *testing.T, bundle []byte) {
	t.Helper()
	if err := validator(t).Bundle(bundle); err != nil {
		t.Errorf("not valid FHIR R4: %v", err)
	}
}

// ValidateEntries judges a mapped Bundle's resources as ValidateBundle does
// (the record's verdict), and names the resource at fault.
func TestValidateEntries(t *testing.T) {
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
	if err := mappings.ValidateEntries(res.Bundle); err != nil {
		t.Fatalf("valid Bundle: %v", err)
	}
	bad := bytes.Replace(res.Bundle, []byte(`"gender":"female"`), []byte(`"gender":"femme"`), 1)
	if bytes.Equal(bad, res.Bundle) {
		t.Fatal("fixture: no female gender to break")
	}
	for name, check := range map[string]func([]byte) error{"ValidateEntries": mappings.ValidateEntries, "ValidateBundle": mappings.ValidateBundle} {
		err := check(bad)
		if !errors.Is(err, mappings.ErrInvalidFHIR) || !strings.Contains(err.Error(), "gender") {
			t.Errorf("%s: %v, want ErrInvalidFHIR about the gender", name, err)
		}
	}
	if err := mappings.ValidateEntries(bad); !strings.Contains(err.Error(), "(Patient/") {
		t.Errorf("ValidateEntries does not name the resource: %v", err)
	}
}
