package mappings_test

import (
	"io/fs"
	"os"
	"path"
	"regexp"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/carebridge/carebridge/mappings"
)

// codeMaps are the code maps other maps refer to, by name, with their table.
var codeMaps = map[string]string{
	"AdministrativeSex":              "0001",
	"MaritalStatus":                  "0002",
	"PatientClass":                   "0004",
	"Race":                           "0005",
	"Religion":                       "0006",
	"AdmissionType":                  "0007",
	"TransactionType":                "0017",
	"AdmitSource":                    "0023",
	"DiagnosisType":                  "0052",
	"Relationship":                   "0063",
	"HospitalService":                "0069",
	"DischargeDisposition":           "0112",
	"AllergenType":                   "0127",
	"AllergySeverity":                "0128",
	"ContactRole":                    "0131",
	"YesNo":                          "0136",
	"EthnicGroup":                    "0189",
	"AddressUse":                     "0190",
	"AddressType":                    "0190",
	"NameType":                       "0200",
	"TelecommunicationUse":           "0201",
	"TelecommunicationEquipmentType": "0202",
	"IdentifierType":                 "0203",
	"AppointmentReason":              "0276",
	"AppointmentType":                "0277",
	"FillerStatus":                   "0278",
	"PrimaryLanguage":                "0296",
	"ModeOfArrival":                  "0430",
	"ProviderRole":                   "0443",
}

var tableKey = regexp.MustCompile(`(?m)^table: "(\d{4})"$`)

// TestCodeFiles loads every file of hl7v2/codes on its own: each must decode
// cleanly, define exactly the code map its name says (<table>-<Name>.yaml)
// and declare that table.
func TestCodeFiles(t *testing.T) {
	files, err := fs.Glob(os.DirFS("hl7v2/codes"), "*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no code files: %v", err)
	}
	for _, f := range files {
		t.Run(f, func(t *testing.T) {
			b, err := os.ReadFile(path.Join("hl7v2/codes", f))
			if err != nil {
				t.Fatal(err)
			}
			set, err := mappings.Load(fstest.MapFS{f: {Data: b}})
			if err != nil {
				t.Fatal(err)
			}
			table, name, ok := strings.Cut(strings.TrimSuffix(f, ".yaml"), "-")
			if !ok {
				t.Fatalf("file name %s is not <table>-<Name>.yaml", f)
			}
			if got := set.CodeMapNames(); !slices.Equal(got, []string{name}) {
				t.Errorf("defines %v, want [%s]", got, name)
			}
			if m := tableKey.FindSubmatch(b); m == nil || string(m[1]) != table {
				t.Errorf("table key does not say %q", table)
			}
			if want, known := codeMaps[name]; known && want != table {
				t.Errorf("code map %s is table %s, not %s", name, want, table)
			}
		})
	}
}

// TestShippedCodeMaps checks that the shipped set has every code map other
// maps refer to, and a few real lookups taken from the IG ConceptMaps (and
// our documented choices where the IG has none).
func TestShippedCodeMaps(t *testing.T) {
	set, err := mappings.Load(os.DirFS("hl7v2"))
	if err != nil {
		t.Fatal(err)
	}
	names := set.CodeMapNames()
	for name := range codeMaps {
		if !slices.Contains(names, name) {
			t.Errorf("code map %s is missing", name)
		}
	}
	const (
		tho  = "http://terminology.hl7.org/CodeSystem/"
		fhir = "http://hl7.org/fhir/"
	)
	for _, c := range []struct {
		m, code    string
		system, to string
		unmapped   bool
	}{
		{m: "AdministrativeSex", code: "F", system: fhir + "administrative-gender", to: "female"},
		{m: "AdministrativeSex", code: "A", system: fhir + "administrative-gender", to: "other"},
		{m: "MaritalStatus", code: "S", system: tho + "v3-MaritalStatus", to: "S"},
		{m: "MaritalStatus", code: "A", system: tho + "v3-MaritalStatus", to: "L"},
		{m: "MaritalStatus", code: "U", system: tho + "v3-NullFlavor", to: "UNK"},
		{m: "PatientClass", code: "I", system: tho + "v3-ActCode", to: "IMP"},
		{m: "PatientClass", code: "O", system: tho + "v3-ActCode", to: "AMB"},
		{m: "PatientClass", code: "R", system: tho + "v2-0004", to: "R"},
		{m: "Race", code: "2106-3", system: "urn:oid:2.16.840.1.113883.6.238", to: "2106-3"},
		{m: "EthnicGroup", code: "H", system: "urn:oid:2.16.840.1.113883.6.238", to: "2135-2"},
		{m: "Religion", code: "CAT", system: tho + "v3-ReligiousAffiliation", to: "1041"},
		{m: "Religion", code: "C", unmapped: true},
		{m: "AdmissionType", code: "E", system: tho + "v2-0007", to: "E"},
		{m: "TransactionType", code: "CG", system: tho + "v2-0017", to: "CG"},
		{m: "AdmitSource", code: "7", system: tho + "admit-source", to: "emd"},
		{m: "AdmitSource", code: "4", system: tho + "admit-source", to: "hosp-trans"},
		{m: "DiagnosisType", code: "A", system: tho + "diagnosis-role", to: "AD"},
		{m: "DiagnosisType", code: "W", unmapped: true},
		{m: "Relationship", code: "SPO", system: tho + "v3-RoleCode", to: "SPS"},
		{m: "Relationship", code: "EMC", system: tho + "v2-0131", to: "C"},
		{m: "HospitalService", code: "MED", system: tho + "service-type", to: "382"},
		{m: "HospitalService", code: "CAR", system: tho + "v2-0069", to: "CAR"},
		{m: "DischargeDisposition", code: "01", system: tho + "discharge-disposition", to: "home"},
		{m: "DischargeDisposition", code: "20", system: tho + "discharge-disposition", to: "exp"},
		{m: "AllergenType", code: "DA", system: fhir + "allergy-intolerance-category", to: "medication"},
		{m: "AllergenType", code: "AA", system: fhir + "allergy-intolerance-category", to: "biologic"},
		{m: "AllergySeverity", code: "SV", system: fhir + "allergy-intolerance-criticality", to: "high"},
		{m: "AllergySeverity", code: "MO", unmapped: true},
		{m: "ContactRole", code: "N", system: tho + "v2-0131", to: "N"},
		{m: "YesNo", code: "Y", system: tho + "special-values", to: "true"},
		{m: "YesNo", code: "N", system: tho + "special-values", to: "false"},
		{m: "AddressUse", code: "H", system: fhir + "address-use", to: "home"},
		{m: "AddressUse", code: "BA", system: fhir + "address-use", to: "old"},
		{m: "AddressType", code: "M", system: fhir + "address-type", to: "postal"},
		{m: "AddressType", code: "H", unmapped: true},
		{m: "NameType", code: "L", system: fhir + "name-use", to: "official"},
		{m: "NameType", code: "TEMP", system: fhir + "name-use", to: "temp"},
		{m: "TelecommunicationUse", code: "PRN", system: fhir + "contact-point-use", to: "home"},
		{m: "TelecommunicationUse", code: "NET", unmapped: true},
		{m: "TelecommunicationEquipmentType", code: "Internet", system: fhir + "contact-point-system", to: "email"},
		{m: "TelecommunicationEquipmentType", code: "CP", system: fhir + "contact-point-system", to: "phone"},
		{m: "IdentifierType", code: "MR", system: tho + "v2-0203", to: "MR"},
		{m: "AppointmentReason", code: "FOLLOWUP", system: "http://snomed.info/sct", to: "185389009"},
		{m: "AppointmentType", code: "Normal", system: tho + "v2-0277", to: "Normal"},
		{m: "FillerStatus", code: "Booked", system: fhir + "appointmentstatus", to: "booked"},
		{m: "FillerStatus", code: "Started", system: fhir + "appointmentstatus", to: "checked-in"},
		{m: "FillerStatus", code: "Deleted", system: fhir + "appointmentstatus", to: "entered-in-error"},
		{m: "FillerStatus", code: "Blocked", unmapped: true},
		{m: "PrimaryLanguage", code: "en-US", system: "urn:ietf:bcp:47", to: "en-US"},
		{m: "PrimaryLanguage", code: "SPA", system: "urn:ietf:bcp:47", to: "es"},
		{m: "ModeOfArrival", code: "A", system: tho + "v2-0430", to: "A"},
		{m: "ProviderRole", code: "AT", system: tho + "v3-ParticipationType", to: "ATND"},
		{m: "ProviderRole", code: "PP", system: "http://snomed.info/sct", to: "446050000"},
	} {
		system, to, _, ok := set.CodeMapping(c.m, c.code)
		if c.unmapped {
			if ok {
				t.Errorf("%s %s: mapped to %s|%s, want unmapped", c.m, c.code, system, to)
			}
			continue
		}
		if !ok || system != c.system || to != c.to {
			t.Errorf("%s %s: got %s|%s (found %v), want %s|%s", c.m, c.code, system, to, ok, c.system, c.to)
		}
	}
}
