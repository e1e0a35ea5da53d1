package mappings

import (
	"encoding/json"
	"os"
	"testing"

	"github.com/carebridge/carebridge/engine/hl7"
	"github.com/carebridge/carebridge/fhirvalid"
)

func TestSmoke(t *testing.T) {
	set, err := Load(Shipped())
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile("../testdata/hl7/adt_a01.hl7")
	msg, err := hl7.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	res, err := set.Map(msg, Options{JournalID: 7})
	if err != nil {
		t.Fatal(err)
	}
	var pretty map[string]any
	json.Unmarshal(res.Bundle, &pretty)
	b, _ := json.MarshalIndent(pretty, "", "  ")
	t.Logf("%s", b)
	for _, w := range res.Warnings {
		t.Log(w)
	}
}

func TestSmokeValid(t *testing.T) {
	set, err := Load(Shipped())
	if err != nil {
		t.Skip(err) // the shipped maps are being written
	}
	raw, _ := os.ReadFile("../testdata/hl7/adt_a01.hl7")
	msg, _ := hl7.Parse(raw)
	res, err := set.Map(msg, Options{JournalID: 7})
	if err != nil {
		t.Fatal(err)
	}
	v, err := fhirvalid.New()
	if err != nil {
		t.Fatal(err)
	}
	if err := v.Bundle(res.Bundle); err != nil {
		t.Fatal(err)
	}
}
