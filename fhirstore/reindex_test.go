package fhirstore

import (
	"slices"
	"testing"
)

// TestIndexFingerprint: the fingerprint changes with every field of a
// definition and with IndexVersion, not with the definitions' order.
func TestIndexFingerprint(t *testing.T) {
	base := fingerprintOf(definitions, IndexVersion)
	if IndexFingerprint() != base {
		t.Fatalf("IndexFingerprint %s, fingerprintOf the definitions %s", IndexFingerprint(), base)
	}
	reversed := slices.Clone(definitions)
	slices.Reverse(reversed)
	if fingerprintOf(reversed, IndexVersion) != base {
		t.Error("the definitions' order changes the fingerprint")
	}
	if fingerprintOf(definitions, IndexVersion+1) == base {
		t.Error("IndexVersion does not change the fingerprint")
	}
	changes := map[string]func(*SearchParam){
		"type":   func(p *SearchParam) { p.Type = "Person" },
		"name":   func(p *SearchParam) { p.Name += "x" },
		"kind":   func(p *SearchParam) { p.Kind = KindToken },
		"expr":   func(p *SearchParam) { p.Expr += ".text" },
		"target": func(p *SearchParam) { p.Target = "Patient" },
		"added":  nil,
	}
	for name, change := range changes {
		defs := slices.Clone(definitions)
		if change == nil {
			defs = append(defs, sp("PaymentReconciliation", "new", KindToken, "outcome"))
		} else {
			i := slices.IndexFunc(defs, func(p SearchParam) bool { return p.Kind == KindString })
			change(&defs[i])
		}
		if fingerprintOf(defs, IndexVersion) == base {
			t.Errorf("a change of %s leaves the fingerprint as it was", name)
		}
	}
}
