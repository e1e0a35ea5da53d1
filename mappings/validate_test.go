package mappings_test

import (
	"sync"
	"testing"

	"github.com/carebridge/carebridge/fhirvalid"
)

var (
	validatorOnce sync.Once
	validator     *fhirvalid.Validator
	validatorErr  error
)

// validateBundle checks that a mapped Bundle and every resource in it are
// valid FHIR R4 (google/fhir/go jsonformat, through package fhirvalid).
func validateBundle(t *testing.T, bundle []byte) {
	t.Helper()
	validatorOnce.Do(func() { validator, validatorErr = fhirvalid.New() })
	if validatorErr != nil {
		t.Fatal(validatorErr)
	}
	if err := validator.Bundle(bundle); err != nil {
		t.Errorf("not valid FHIR R4: %v", err)
	}
}
