package mappings_test

import (
	"sync"
	"testing"

	"github.com/carebridge/carebridge/fhirvalid"
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
