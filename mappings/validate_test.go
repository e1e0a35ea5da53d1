package mappings_test

import "testing"

// validateBundle checks the Bundle is valid FHIR R4 (google/fhir/go
// jsonformat through package fhirvalid, once it exists).
func validateBundle(t *testing.T, bundle []byte) {
	t.Helper()
}
