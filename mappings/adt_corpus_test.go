package mappings_test

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/carebridge/carebridge/engine/hl7"
	"github.com/carebridge/carebridge/mappings"
)

const adtCorpusDir = "../../shared/corpus/hl7v2"

// adtSet loads the shipped mappings with ADT as the only message map, so
// that this test judges the ADT map (and the layers below it) alone.
func adtSet(t *testing.T) *mappings.Set {
	t.Helper()
	src := mappings.Shipped()
	fsys := fstest.MapFS{}
	err := fs.WalkDir(src, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if strings.HasPrefix(p, "messages/") && p != "messages/ADT.yaml" && !strings.HasPrefix(p, "messages/examples/ADT/") {
			return nil
		}
		b, err := fs.ReadFile(src, p)
		fsys[p] = &fstest.MapFile{Data: b}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	set, err := mappings.Load(fsys)
	if err != nil {
		t.Fatal(err)
	}
	return set
}

// corpusADT lists the ADT messages of the corpus, one per file.
func corpusADT(t *testing.T) map[string]*hl7.Message {
	t.Helper()
	if _, err := os.Stat(adtCorpusDir); err != nil {
		t.Skipf("no corpus at %s", adtCorpusDir)
	}
	out := map[string]*hl7.Message{}
	filepath.WalkDir(adtCorpusDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		raw, err := os.ReadFile(p)
		if err != nil || !strings.HasPrefix(strings.TrimSpace(string(raw)), "MSH") {
			return nil
		}
		msg, err := hl7.Parse(raw)
		if err != nil || msg.MessageCode() != "ADT" {
			return nil
		}
		out[p] = msg
		return nil
	})
	return out
}

// TestADTCorpus maps every ADT message of the shared corpus: none may fail
// (corpus senders have no profile: date-only times and warnings are fine).
// Trigger events the ADT map does not handle must fail with ErrNoMap, never
// silently.
func TestADTCorpus(t *testing.T) {
	msgs := corpusADT(t)
	set := adtSet(t)
	var failures []string
	mapped, nomap := 0, map[string]int{}
	for p, msg := range msgs {
		res, err := set.Map(msg, mappings.Options{JournalID: 1})
		if err != nil {
			if strings.Contains(err.Error(), "no map for") {
				nomap[msg.TriggerEvent()]++
				continue
			}
			failures = append(failures, fmt.Sprintf("%s: %v", p, err))
			continue
		}
		mapped++
		var b map[string]any
		if err := json.Unmarshal(res.Bundle, &b); err != nil {
			failures = append(failures, fmt.Sprintf("%s: bundle: %v", p, err))
			continue
		}
		_ = b
	}
	sort.Strings(failures)
	t.Logf("corpus: %d ADT messages, %d mapped, not handled by event: %v", len(msgs), mapped, nomap)
	if len(failures) > 0 {
		t.Errorf("%d of %d ADT messages failed:\n%s", len(failures), len(msgs), strings.Join(failures, "\n"))
	}
}

// TestADTAgainstIGSample compares the key fields of the IG's ADT_A01 sample
// with its expected FHIR bundle. Identifier systems differ by design (the
// IG's converter leaves them out or writes the raw authority): values are
// compared.
func TestADTAgainstIGSample(t *testing.T) {
	in := filepath.Join(adtCorpusDir, "v2-to-fhir-ig/extracted-from-input/pagecontent/test_conversions/ADT_A01.hl7")
	want := filepath.Join(adtCorpusDir, "v2-to-fhir-ig/samples/fhir-bundles/FHIR_bundle.hl7_ADT_A01.json")
	raw, err := os.ReadFile(in)
	if err != nil {
		t.Skipf("no IG sample: %v", err)
	}
	wb, err := os.ReadFile(want)
	if err != nil {
		t.Skipf("no IG bundle: %v", err)
	}
	msg, err := hl7.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	res, err := adtSet(t).Map(msg, mappings.Options{JournalID: 1})
	if err != nil {
		t.Fatal(err)
	}
	got := byType(t, res.Bundle)
	exp := byType(t, wb)

	field := func(what string, g, w any) {
		t.Helper()
		gs, ws := adtJS(g), adtJS(w)
		if gs != ws {
			t.Errorf("%s: got %s, IG %s", what, gs, ws)
		}
	}
	// Patient
	gp, ep := got["Patient"][0], exp["Patient"][0]
	var gotIDs []any
	for _, id := range adtList(gp["identifier"]) {
		gotIDs = append(gotIDs, id.(map[string]any)["value"])
	}
	for _, id := range adtList(ep["identifier"]) {
		v := id.(map[string]any)["value"]
		if v == "125189" {
			continue // the IG's converter adds IN1-49 to the patient; Carebridge keeps it on the Coverage
		}
		if !adtContains(gotIDs, v) {
			t.Errorf("Patient.identifier %v missing: got %v", v, gotIDs)
		}
	}
	for i, n := range adtList(ep["name"]) {
		gn := adtList(gp["name"])[i].(map[string]any)
		en := n.(map[string]any)
		field(fmt.Sprintf("Patient.name[%d].family", i), gn["family"], en["family"])
		field(fmt.Sprintf("Patient.name[%d].given", i), gn["given"], en["given"])
	}
	field("Patient.gender", gp["gender"], ep["gender"])
	field("Patient.birthDate", gp["birthDate"], strings.SplitN(ep["birthDate"].(string), "T", 2)[0]) // the IG writes a dateTime into a date
	field("Patient.maritalStatus.coding[0].code", adtAt(gp, "maritalStatus", "coding", 0, "code"), adtAt(ep, "maritalStatus", "coding", 0, "code"))
	// Encounter
	ge, ee := got["Encounter"][0], exp["Encounter"][0]
	field("Encounter.identifier[0].value", adtAt(ge, "identifier", 0, "value"), adtAt(ee, "identifier", 0, "value"))
	field("Encounter.period.start", adtAt(ge, "period", "start"), adtAt(ee, "period", "start"))
	field("Encounter.class.code", adtAt(ge, "class", "code"), "EMER") // the IG bundle omits class; PV1-2 E → EMER (PatientClass)
	field("Encounter.type[0].coding[0].code", adtAt(ge, "type", 0, "coding", 0, "code"), adtAt(ee, "type", 0, "coding", 0, "code"))
	field("Encounter.serviceType code (original)", lastCode(adtAt(ge, "serviceType")), adtAt(ee, "serviceType", "coding", 0, "code"))
	// PV2-25 2 (urgent) → v3-ActPriority UR (IG EncounterPriority)
	field("Encounter.priority.coding[0].system", adtAt(ge, "priority", "coding", 0, "system"), adtAt(ee, "priority", "coding", 0, "system"))
	field("Encounter.priority.coding[0].code", adtAt(ge, "priority", "coding", 0, "code"), adtAt(ee, "priority", "coding", 0, "code"))
	// RelatedPerson (the sample's NK1 has its name where the relationship goes, as the IG bundle shows)
	gr, er := got["RelatedPerson"][0], exp["RelatedPerson"][0]
	field("RelatedPerson.name[0].family", adtAt(gr, "name", 0, "family"), adtAt(er, "name", 0, "family"))
	field("RelatedPerson.name[0].given", adtAt(gr, "name", 0, "given"), adtAt(er, "name", 0, "given"))
	field("RelatedPerson.relationship[0].coding[0].code", adtAt(gr, "relationship", 0, "coding", 0, "code"), adtAt(er, "relationship", 0, "coding", 0, "code"))
	// Coverage: the IG bundle's payor is a display of IN1-4; Carebridge references the payer Organization
	gc, ec := got["Coverage"][0], exp["Coverage"][0]
	field("Coverage.period.start", adtAt(gc, "period", "start"), adtAt(ec, "period", "start"))
	payer := got["Organization"][0]
	field("Coverage payor name", payer["name"], adtAt(ec, "payor", 0, "display"))
	if adtAt(gc, "payor", 0, "reference") != "Organization/"+payer["id"].(string) {
		t.Errorf("Coverage.payor: %s", adtJS(gc["payor"]))
	}
	// AllergyIntolerance
	ga, ea := got["AllergyIntolerance"][0], exp["AllergyIntolerance"][0]
	field("AllergyIntolerance.code.text", adtAt(ga, "code", "text"), adtAt(ea, "code", "text"))
	field("AllergyIntolerance.code.coding[0].display", adtAt(ga, "code", "coding", 0, "display"), adtAt(ea, "code", "coding", 0, "display"))
	// criticality: AL1-4 MO has no target in the IG's AllergySeverity map, and the IG bundle has none either
	field("AllergyIntolerance.criticality", ga["criticality"], ea["criticality"])
}

func byType(t *testing.T, bundle []byte) map[string][]map[string]any {
	t.Helper()
	var b map[string]any
	if err := json.Unmarshal(bundle, &b); err != nil {
		t.Fatal(err)
	}
	out := map[string][]map[string]any{}
	for _, e := range adtList(b["entry"]) {
		r := e.(map[string]any)["resource"].(map[string]any)
		typ := r["resourceType"].(string)
		out[typ] = append(out[typ], r)
	}
	return out
}

func adtList(v any) []any { l, _ := v.([]any); return l }

func adtJS(v any) string { b, _ := json.Marshal(v); return string(b) }

func adtContains(l []any, v any) bool {
	for _, x := range l {
		if x == v {
			return true
		}
	}
	return false
}

// at walks maps (string keys) and lists (int indexes).
func adtAt(v any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, _ := v.(map[string]any)
			v = m[k]
		case int:
			l, _ := v.([]any)
			if k >= len(l) {
				return nil
			}
			v = l[k]
		}
	}
	return v
}

// lastCode is the code of a CodeableConcept's last coding (the original v2 code).
func lastCode(cc any) any {
	l := adtList(adtAt(cc, "coding"))
	if len(l) == 0 {
		return nil
	}
	return adtAt(l[len(l)-1], "code")
}
