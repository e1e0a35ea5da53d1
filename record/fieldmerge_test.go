package record

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
)

// fmDecode decodes a JSON object for a test; useNumber keeps numbers as
// json.Number, as a store decoding with UseNumber would.
func fmDecode(t testing.TB, src string, useNumber bool) map[string]any {
	t.Helper()
	if src == "" {
		return nil
	}
	d := json.NewDecoder(strings.NewReader(src))
	if useNumber {
		d.UseNumber()
	}
	var m map[string]any
	if err := d.Decode(&m); err != nil {
		t.Fatalf("test JSON: %v\n%s", err, src)
	}
	return m
}

func fmShow(v any) string {
	b, _ := json.MarshalIndent(v, "", "  ")
	return string(b)
}

// fmClear builds a meta with clear markers.
func fmClear(selectors ...string) string {
	var exts []string
	for _, s := range selectors {
		b, _ := json.Marshal(s)
		exts = append(exts, `{"url":"`+ClearElementURL+`","valueString":`+string(b)+`}`)
	}
	return `"meta":{"extension":[` + strings.Join(exts, ",") + `]}`
}

func TestMergeFields(t *testing.T) {
	tests := []struct {
		name     string
		typ      string
		stored   string
		incoming string
		want     string
	}{
		{
			name: "A08 with empty address and home telecom clears them",
			typ:  "Patient",
			stored: `{"resourceType":"Patient","id":"p1","meta":{"versionId":"3","lastUpdated":"2024-01-01T00:00:00Z"},
				"name":[{"use":"official","family":"Meyer","given":["Anna"]}],
				"address":[{"use":"home","line":["Hauptstr. 1"],"city":"Berlin","postalCode":"10115"}],
				"telecom":[{"system":"phone","value":"030 111","use":"home"},{"system":"phone","value":"030 222","use":"work"},{"system":"email","value":"a@example.org"}]}`,
			incoming: `{"resourceType":"Patient","id":"p1",` + fmClear("address", `telecom.where(use = "home" or use.empty())`) + `,
				"name":[{"use":"official","family":"Meyer","given":["Anna","Maria"]}]}`,
			want: `{"resourceType":"Patient","id":"p1","meta":{"versionId":"3","lastUpdated":"2024-01-01T00:00:00Z"},
				"name":[{"use":"official","family":"Meyer","given":["Anna","Maria"]}],
				"telecom":[{"system":"phone","value":"030 222","use":"work"}]}`,
		},
		{
			name:     "absent elements stay",
			typ:      "Patient",
			stored:   `{"resourceType":"Patient","id":"p1","gender":"female","birthDate":"1980-05-01","active":true}`,
			incoming: `{"resourceType":"Patient","id":"p1","gender":"male"}`,
			want:     `{"resourceType":"Patient","id":"p1","gender":"male","birthDate":"1980-05-01","active":true}`,
		},
		{
			name:     "a new MRN system is added, the other identifiers stay",
			typ:      "Patient",
			stored:   `{"resourceType":"Patient","id":"p1","identifier":[{"system":"urn:oid:1.2.3","value":"A1"},{"system":"urn:ssn","value":"123"}]}`,
			incoming: `{"resourceType":"Patient","id":"p1","identifier":[{"system":"urn:oid:9.9","value":"B7"}]}`,
			want:     `{"resourceType":"Patient","id":"p1","identifier":[{"system":"urn:oid:1.2.3","value":"A1"},{"system":"urn:ssn","value":"123"},{"system":"urn:oid:9.9","value":"B7"}]}`,
		},
		{
			name:     "an identifier of the same system is replaced in place",
			typ:      "Patient",
			stored:   `{"resourceType":"Patient","id":"p1","identifier":[{"system":"urn:oid:1.2.3","value":"A1"},{"system":"urn:ssn","value":"123"}]}`,
			incoming: `{"resourceType":"Patient","id":"p1","identifier":[{"system":"urn:oid:1.2.3","value":"A2","use":"official"}]}`,
			want:     `{"resourceType":"Patient","id":"p1","identifier":[{"system":"urn:oid:1.2.3","value":"A2","use":"official"},{"system":"urn:ssn","value":"123"}]}`,
		},
		{
			name:     "identifiers without system are keyed by type and value",
			typ:      "Patient",
			stored:   `{"resourceType":"Patient","id":"p1","identifier":[{"type":{"coding":[{"code":"MR"}]},"value":"1"}]}`,
			incoming: `{"resourceType":"Patient","id":"p1","identifier":[{"type":{"coding":[{"code":"MR"}]},"value":"2"},{"type":{"coding":[{"code":"MR"}]},"value":"1","use":"old"}]}`,
			want:     `{"resourceType":"Patient","id":"p1","identifier":[{"type":{"coding":[{"code":"MR"}]},"value":"1","use":"old"},{"type":{"coding":[{"code":"MR"}]},"value":"2"}]}`,
		},
		{
			// As a PID with PID-2, three PID-3 and PID-4 is first written:
			// the same message again changes nothing, order included.
			name:     "identifiers of one system between another's stay in place when unchanged",
			typ:      "Patient",
			stored:   `{"resourceType":"Patient","id":"p1","identifier":[{"system":"s","value":"1"},{"system":"m","value":"2"},{"system":"m","value":"3"},{"system":"s","value":"4"}]}`,
			incoming: `{"resourceType":"Patient","id":"p1","identifier":[{"system":"s","value":"1"},{"system":"m","value":"2"},{"system":"m","value":"3"},{"system":"s","value":"4"}]}`,
			want:     `{"resourceType":"Patient","id":"p1","identifier":[{"system":"s","value":"1"},{"system":"m","value":"2"},{"system":"m","value":"3"},{"system":"s","value":"4"}]}`,
		},
		{
			name:     "a changed system's identifiers take its first place; an unchanged one's stay",
			typ:      "Patient",
			stored:   `{"resourceType":"Patient","id":"p1","identifier":[{"system":"s","value":"1"},{"system":"m","value":"2"},{"system":"s","value":"4"}]}`,
			incoming: `{"resourceType":"Patient","id":"p1","identifier":[{"system":"s","value":"1"},{"system":"m","value":"9"},{"system":"s","value":"4"}]}`,
			want:     `{"resourceType":"Patient","id":"p1","identifier":[{"system":"s","value":"1"},{"system":"m","value":"9"},{"system":"s","value":"4"}]}`,
		},
		{
			name:     "a name without use that restates the official name is not added beside it",
			typ:      "Patient",
			stored:   `{"resourceType":"Patient","id":"p1","name":[{"use":"official","family":"Okafor","given":["Chiamaka"]},{"use":"maiden","family":"Eze","given":["Chiamaka"]}]}`,
			incoming: `{"resourceType":"Patient","id":"p1","name":[{"family":"Okafor","given":["Chiamaka"]}]}`,
			want:     `{"resourceType":"Patient","id":"p1","name":[{"use":"official","family":"Okafor","given":["Chiamaka"]},{"use":"maiden","family":"Eze","given":["Chiamaka"]}]}`,
		},
		{
			name:     "a name without use that differs is added",
			typ:      "Patient",
			stored:   `{"resourceType":"Patient","id":"p1","name":[{"use":"official","family":"Okafor","given":["Chiamaka"]}]}`,
			incoming: `{"resourceType":"Patient","id":"p1","name":[{"family":"Okafor","given":["Chiamaka","Grace"]}]}`,
			want:     `{"resourceType":"Patient","id":"p1","name":[{"use":"official","family":"Okafor","given":["Chiamaka"]},{"family":"Okafor","given":["Chiamaka","Grace"]}]}`,
		},
		{
			name: "a changed home phone replaces the old home phone, in its place",
			typ:  "Patient",
			stored: `{"resourceType":"Patient","id":"p1","telecom":[{"system":"phone","value":"111","use":"home"},
				{"system":"phone","value":"222","use":"work"},{"system":"email","value":"a@example.org","use":"home"}]}`,
			incoming: `{"resourceType":"Patient","id":"p1","telecom":[{"system":"phone","value":"333","use":"home"}]}`,
			want: `{"resourceType":"Patient","id":"p1","telecom":[{"system":"phone","value":"333","use":"home"},
				{"system":"phone","value":"222","use":"work"},{"system":"email","value":"a@example.org","use":"home"}]}`,
		},
		{
			name: "the same phone number, reformatted, is updated in place and keeps the group",
			typ:  "Patient",
			stored: `{"resourceType":"Patient","id":"p1","telecom":[{"system":"phone","value":"030-111 2222","use":"home"},
				{"system":"phone","value":"030 999","use":"home"}]}`,
			incoming: `{"resourceType":"Patient","id":"p1","telecom":[{"system":"phone","value":"(030) 1112222","use":"home","rank":1}]}`,
			want: `{"resourceType":"Patient","id":"p1","telecom":[{"system":"phone","value":"(030) 1112222","use":"home","rank":1},
				{"system":"phone","value":"030 999","use":"home"}]}`,
		},
		{
			name:     "a mobile phone is a new group, appended",
			typ:      "Patient",
			stored:   `{"resourceType":"Patient","id":"p1","telecom":[{"system":"phone","value":"111","use":"home"}]}`,
			incoming: `{"resourceType":"Patient","id":"p1","telecom":[{"system":"phone","value":"444","use":"mobile"}]}`,
			want:     `{"resourceType":"Patient","id":"p1","telecom":[{"system":"phone","value":"111","use":"home"},{"system":"phone","value":"444","use":"mobile"}]}`,
		},
		{
			name:     "deceasedDateTime replaces deceasedBoolean",
			typ:      "Patient",
			stored:   `{"resourceType":"Patient","id":"p1","deceasedBoolean":false,"_deceasedBoolean":{"id":"x"}}`,
			incoming: `{"resourceType":"Patient","id":"p1","deceasedDateTime":"2024-03-01T10:00:00Z"}`,
			want:     `{"resourceType":"Patient","id":"p1","deceasedDateTime":"2024-03-01T10:00:00Z"}`,
		},
		{
			name:     "multipleBirthInteger replaces multipleBirthBoolean",
			typ:      "Patient",
			stored:   `{"resourceType":"Patient","id":"p1","multipleBirthBoolean":true}`,
			incoming: `{"resourceType":"Patient","id":"p1","multipleBirthInteger":2}`,
			want:     `{"resourceType":"Patient","id":"p1","multipleBirthInteger":2}`,
		},
		{
			name:     "onsetPeriod replaces onsetDateTime on a Condition",
			typ:      "Condition",
			stored:   `{"resourceType":"Condition","id":"c1","subject":{"reference":"Patient/p1"},"onsetDateTime":"2024-01-01"}`,
			incoming: `{"resourceType":"Condition","id":"c1","onsetPeriod":{"start":"2023-12-30"}}`,
			want:     `{"resourceType":"Condition","id":"c1","subject":{"reference":"Patient/p1"},"onsetPeriod":{"start":"2023-12-30"}}`,
		},
		{
			name:     "clearing a choice element removes every variant",
			typ:      "Patient",
			stored:   `{"resourceType":"Patient","id":"p1","deceasedBoolean":true,"gender":"male"}`,
			incoming: `{"resourceType":"Patient","id":"p1",` + fmClear("deceased") + `}`,
			want:     `{"resourceType":"Patient","id":"p1","gender":"male"}`,
		},
		{
			name: "an Encounter location's status is updated, its period kept and completed",
			typ:  "Encounter",
			stored: `{"resourceType":"Encounter","id":"e1","status":"in-progress","class":{"code":"IMP"},
				"location":[{"location":{"reference":"Location/ward-1"},"status":"active","period":{"start":"2024-01-01T08:00:00Z"}},
				{"location":{"reference":"Location/bed-7"},"status":"active"}]}`,
			incoming: `{"resourceType":"Encounter","id":"e1","location":[{"location":{"reference":"Location/ward-1"},"status":"completed","period":{"end":"2024-01-03T10:00:00Z"}},
				{"location":{"reference":"Location/ward-2"},"status":"active"}]}`,
			want: `{"resourceType":"Encounter","id":"e1","status":"in-progress","class":{"code":"IMP"},
				"location":[{"location":{"reference":"Location/ward-1"},"status":"completed","period":{"start":"2024-01-01T08:00:00Z","end":"2024-01-03T10:00:00Z"}},
				{"location":{"reference":"Location/bed-7"},"status":"active"},
				{"location":{"reference":"Location/ward-2"},"status":"active"}]}`,
		},
		{
			name:     "hospitalization.dischargeDisposition is added to the BackboneElement",
			typ:      "Encounter",
			stored:   `{"resourceType":"Encounter","id":"e1","status":"in-progress","hospitalization":{"admitSource":{"coding":[{"code":"emd"}]}}}`,
			incoming: `{"resourceType":"Encounter","id":"e1","status":"finished","hospitalization":{"dischargeDisposition":{"coding":[{"code":"home"}]}}}`,
			want: `{"resourceType":"Encounter","id":"e1","status":"finished","hospitalization":{"admitSource":{"coding":[{"code":"emd"}]},
				"dischargeDisposition":{"coding":[{"code":"home"}]}}}`,
		},
		{
			name: "hospitalization.dischargeDisposition is cleared",
			typ:  "Encounter",
			stored: `{"resourceType":"Encounter","id":"e1","status":"finished","hospitalization":{"admitSource":{"coding":[{"code":"emd"}]},
				"dischargeDisposition":{"coding":[{"code":"home"}]}}}`,
			incoming: `{"resourceType":"Encounter","id":"e1","status":"in-progress",` + fmClear("hospitalization.dischargeDisposition") + `}`,
			want:     `{"resourceType":"Encounter","id":"e1","status":"in-progress","hospitalization":{"admitSource":{"coding":[{"code":"emd"}]}}}`,
		},
		{
			name:     "a parent left empty by a clear is removed",
			typ:      "Encounter",
			stored:   `{"resourceType":"Encounter","id":"e1","status":"finished","hospitalization":{"dischargeDisposition":{"coding":[{"code":"home"}]}},"period":{"end":"2024-01-02"}}`,
			incoming: `{"resourceType":"Encounter","id":"e1",` + fmClear("hospitalization.dischargeDisposition", "Encounter.period.end") + `}`,
			want:     `{"resourceType":"Encounter","id":"e1","status":"finished"}`,
		},
		{
			name:     "Period is merged element by element",
			typ:      "Encounter",
			stored:   `{"resourceType":"Encounter","id":"e1","status":"in-progress","period":{"start":"2024-01-01T08:00:00Z"}}`,
			incoming: `{"resourceType":"Encounter","id":"e1","period":{"end":"2024-01-02T08:00:00Z"}}`,
			want:     `{"resourceType":"Encounter","id":"e1","status":"in-progress","period":{"start":"2024-01-01T08:00:00Z","end":"2024-01-02T08:00:00Z"}}`,
		},
		{
			name:     "a CodeableConcept is replaced whole",
			typ:      "Patient",
			stored:   `{"resourceType":"Patient","id":"p1","maritalStatus":{"coding":[{"system":"s","code":"M"}],"text":"married"}}`,
			incoming: `{"resourceType":"Patient","id":"p1","maritalStatus":{"coding":[{"system":"s","code":"D"}]}}`,
			want:     `{"resourceType":"Patient","id":"p1","maritalStatus":{"coding":[{"system":"s","code":"D"}]}}`,
		},
		{
			name:     "a Reference is replaced whole",
			typ:      "Patient",
			stored:   `{"resourceType":"Patient","id":"p1","managingOrganization":{"reference":"Organization/a","display":"A"}}`,
			incoming: `{"resourceType":"Patient","id":"p1","managingOrganization":{"reference":"Organization/b"}}`,
			want:     `{"resourceType":"Patient","id":"p1","managingOrganization":{"reference":"Organization/b"}}`,
		},
		{
			name:     "names merge by use, a name without use is its own group",
			typ:      "Patient",
			stored:   `{"resourceType":"Patient","id":"p1","name":[{"use":"official","family":"Meyer"},{"use":"maiden","family":"Schulz"},{"family":"M"}]}`,
			incoming: `{"resourceType":"Patient","id":"p1","name":[{"use":"official","family":"Meyer-Lang"},{"family":"ML"}]}`,
			want:     `{"resourceType":"Patient","id":"p1","name":[{"use":"official","family":"Meyer-Lang"},{"use":"maiden","family":"Schulz"},{"family":"ML"}]}`,
		},
		{
			name: "addresses merge by use and type",
			typ:  "Patient",
			stored: `{"resourceType":"Patient","id":"p1","address":[{"use":"home","type":"physical","city":"Berlin"},
				{"use":"home","type":"postal","city":"Potsdam"},{"use":"work","city":"Bonn"}]}`,
			incoming: `{"resourceType":"Patient","id":"p1","address":[{"use":"home","type":"physical","city":"Hamburg"}]}`,
			want: `{"resourceType":"Patient","id":"p1","address":[{"use":"home","type":"physical","city":"Hamburg"},
				{"use":"home","type":"postal","city":"Potsdam"},{"use":"work","city":"Bonn"}]}`,
		},
		{
			name: "extensions merge by url and can be cleared by url",
			typ:  "Patient",
			stored: `{"resourceType":"Patient","id":"p1","extension":[
				{"url":"http://hl7.org/fhir/StructureDefinition/patient-religion","valueCodeableConcept":{"text":"x"}},
				{"url":"http://hl7.org/fhir/StructureDefinition/patient-birthPlace","valueAddress":{"city":"Rome"}},
				{"url":"http://example.org/nationality","valueString":"it"}]}`,
			incoming: `{"resourceType":"Patient","id":"p1",` + fmClear(`extension.where(url = 'http://hl7.org/fhir/StructureDefinition/patient-religion')`) + `,
				"extension":[{"url":"http://example.org/nationality","valueString":"de"},{"url":"http://example.org/new","valueBoolean":true}]}`,
			want: `{"resourceType":"Patient","id":"p1","extension":[
				{"url":"http://hl7.org/fhir/StructureDefinition/patient-birthPlace","valueAddress":{"city":"Rome"}},
				{"url":"http://example.org/nationality","valueString":"de"},{"url":"http://example.org/new","valueBoolean":true}]}`,
		},
		{
			name: "Patient.link merges by reference",
			typ:  "Patient",
			stored: `{"resourceType":"Patient","id":"p1","link":[{"other":{"reference":"Patient/p2"},"type":"seealso"},
				{"other":{"reference":"Patient/p3"},"type":"seealso"}]}`,
			incoming: `{"resourceType":"Patient","id":"p1","link":[{"other":{"reference":"Patient/p2"},"type":"replaced-by"}]}`,
			want: `{"resourceType":"Patient","id":"p1","link":[{"other":{"reference":"Patient/p2"},"type":"replaced-by"},
				{"other":{"reference":"Patient/p3"},"type":"seealso"}]}`,
		},
		{
			name:     "Patient.link cleared whole",
			typ:      "Patient",
			stored:   `{"resourceType":"Patient","id":"p1","active":true,"link":[{"other":{"reference":"Patient/p2"},"type":"seealso"}]}`,
			incoming: `{"resourceType":"Patient","id":"p1",` + fmClear("link") + `}`,
			want:     `{"resourceType":"Patient","id":"p1","active":true}`,
		},
		{
			name:     "reference lists merge by reference",
			typ:      "Encounter",
			stored:   `{"resourceType":"Encounter","id":"e1","status":"planned","account":[{"reference":"Account/a1"}],"appointment":[{"reference":"Appointment/x"}]}`,
			incoming: `{"resourceType":"Encounter","id":"e1","account":[{"reference":"Account/a2"},{"reference":"Account/a1","display":"main"}]}`,
			want:     `{"resourceType":"Encounter","id":"e1","status":"planned","account":[{"reference":"Account/a1","display":"main"},{"reference":"Account/a2"}],"appointment":[{"reference":"Appointment/x"}]}`,
		},
		{
			name:     "Account.subject merges by reference",
			typ:      "Account",
			stored:   `{"resourceType":"Account","id":"a1","status":"active","subject":[{"reference":"Patient/p1"}]}`,
			incoming: `{"resourceType":"Account","id":"a1","subject":[{"reference":"Patient/p2"}]}`,
			want:     `{"resourceType":"Account","id":"a1","status":"active","subject":[{"reference":"Patient/p1"},{"reference":"Patient/p2"}]}`,
		},
		{
			name: "Encounter.participant merges by individual and type",
			typ:  "Encounter",
			stored: `{"resourceType":"Encounter","id":"e1","status":"in-progress","participant":[
				{"type":[{"coding":[{"code":"ATND"}]}],"individual":{"reference":"Practitioner/d1"},"period":{"start":"2024-01-01"}},
				{"type":[{"coding":[{"code":"REF"}]}],"individual":{"reference":"Practitioner/d2"}}]}`,
			incoming: `{"resourceType":"Encounter","id":"e1","participant":[
				{"type":[{"coding":[{"code":"ATND"}]}],"individual":{"reference":"Practitioner/d1"},"period":{"end":"2024-01-05"}},
				{"type":[{"coding":[{"code":"ATND"}]}],"individual":{"reference":"Practitioner/d3"}}]}`,
			want: `{"resourceType":"Encounter","id":"e1","status":"in-progress","participant":[
				{"type":[{"coding":[{"code":"ATND"}]}],"individual":{"reference":"Practitioner/d1"},"period":{"start":"2024-01-01","end":"2024-01-05"}},
				{"type":[{"coding":[{"code":"REF"}]}],"individual":{"reference":"Practitioner/d2"}},
				{"type":[{"coding":[{"code":"ATND"}]}],"individual":{"reference":"Practitioner/d3"}}]}`,
		},
		{
			name:     "Encounter.diagnosis merges by condition",
			typ:      "Encounter",
			stored:   `{"resourceType":"Encounter","id":"e1","status":"in-progress","diagnosis":[{"condition":{"reference":"Condition/c1"},"rank":1}]}`,
			incoming: `{"resourceType":"Encounter","id":"e1","diagnosis":[{"condition":{"reference":"Condition/c1"},"use":{"coding":[{"code":"DD"}]}},{"condition":{"reference":"Condition/c2"}}]}`,
			want: `{"resourceType":"Encounter","id":"e1","status":"in-progress","diagnosis":[{"condition":{"reference":"Condition/c1"},"rank":1,"use":{"coding":[{"code":"DD"}]}},
				{"condition":{"reference":"Condition/c2"}}]}`,
		},
		{
			name: "Encounter.statusHistory appends, keeping order, and completes a period",
			typ:  "Encounter",
			stored: `{"resourceType":"Encounter","id":"e1","status":"arrived","statusHistory":[
				{"status":"planned","period":{"start":"2024-01-01T08:00:00Z","end":"2024-01-01T09:00:00Z"}},
				{"status":"arrived","period":{"start":"2024-01-01T09:00:00Z"}}]}`,
			incoming: `{"resourceType":"Encounter","id":"e1","status":"in-progress","statusHistory":[
				{"status":"arrived","period":{"start":"2024-01-01T09:00:00Z","end":"2024-01-01T09:30:00Z"}},
				{"status":"in-progress","period":{"start":"2024-01-01T09:30:00Z"}}]}`,
			want: `{"resourceType":"Encounter","id":"e1","status":"in-progress","statusHistory":[
				{"status":"planned","period":{"start":"2024-01-01T08:00:00Z","end":"2024-01-01T09:00:00Z"}},
				{"status":"arrived","period":{"start":"2024-01-01T09:00:00Z","end":"2024-01-01T09:30:00Z"}},
				{"status":"in-progress","period":{"start":"2024-01-01T09:30:00Z"}}]}`,
		},
		{
			name: "Appointment.participant's status changes by actor",
			typ:  "Appointment",
			stored: `{"resourceType":"Appointment","id":"ap1","status":"booked","participant":[
				{"actor":{"reference":"Patient/p1"},"status":"accepted"},{"actor":{"reference":"Practitioner/d1"},"required":"required","status":"accepted"}]}`,
			incoming: `{"resourceType":"Appointment","id":"ap1","participant":[{"actor":{"reference":"Practitioner/d1"},"status":"declined"}]}`,
			want: `{"resourceType":"Appointment","id":"ap1","status":"booked","participant":[
				{"actor":{"reference":"Patient/p1"},"status":"accepted"},{"actor":{"reference":"Practitioner/d1"},"required":"required","status":"declined"}]}`,
		},
		{
			name:     "an unkeyed list is replaced",
			typ:      "Encounter",
			stored:   `{"resourceType":"Encounter","id":"e1","status":"planned","type":[{"text":"a"},{"text":"b"}]}`,
			incoming: `{"resourceType":"Encounter","id":"e1","type":[{"text":"c"}]}`,
			want:     `{"resourceType":"Encounter","id":"e1","status":"planned","type":[{"text":"c"}]}`,
		},
		{
			name:     "Patient.contact (no key) is replaced whole",
			typ:      "Patient",
			stored:   `{"resourceType":"Patient","id":"p1","contact":[{"name":{"family":"A"}},{"name":{"family":"B"}}]}`,
			incoming: `{"resourceType":"Patient","id":"p1","contact":[{"name":{"family":"C"}}]}`,
			want:     `{"resourceType":"Patient","id":"p1","contact":[{"name":{"family":"C"}}]}`,
		},
		{
			name: "a clear through a list applies to every entry and drops emptied entries",
			typ:  "Patient",
			stored: `{"resourceType":"Patient","id":"p1","contact":[
				{"name":{"family":"A"},"telecom":[{"system":"phone","value":"1","use":"home"},{"system":"phone","value":"2","use":"work"}]},
				{"telecom":[{"system":"phone","value":"3","use":"home"}]}]}`,
			incoming: `{"resourceType":"Patient","id":"p1",` + fmClear(`contact.telecom.where(use = 'home')`) + `}`,
			want: `{"resourceType":"Patient","id":"p1","contact":[
				{"name":{"family":"A"},"telecom":[{"system":"phone","value":"2","use":"work"}]}]}`,
		},
		{
			name:     "a clear and a new value for the same element: the new value stays",
			typ:      "Patient",
			stored:   `{"resourceType":"Patient","id":"p1","address":[{"use":"home","city":"Berlin"},{"use":"work","city":"Bonn"}]}`,
			incoming: `{"resourceType":"Patient","id":"p1",` + fmClear("address") + `,"address":[{"use":"home","city":"Hamburg"}]}`,
			want:     `{"resourceType":"Patient","id":"p1","address":[{"use":"home","city":"Hamburg"}]}`,
		},
		{
			name:     "meta comes from stored; clear markers never persist",
			typ:      "Patient",
			stored:   `{"resourceType":"Patient","id":"p1","meta":{"versionId":"2","profile":["http://example.org/p"],"extension":[{"url":"http://example.org/keep","valueString":"k"}]},"active":true}`,
			incoming: `{"resourceType":"Patient","id":"p1","meta":{"versionId":"9","source":"x","extension":[{"url":"` + ClearElementURL + `","valueString":"active"}]}}`,
			want:     `{"resourceType":"Patient","id":"p1","meta":{"versionId":"2","profile":["http://example.org/p"],"extension":[{"url":"http://example.org/keep","valueString":"k"}]}}`,
		},
		{
			name:     "no stored version: the incoming resource without its markers",
			typ:      "Patient",
			incoming: `{"resourceType":"Patient","id":"p1",` + fmClear("address") + `,"gender":"other"}`,
			want:     `{"resourceType":"Patient","id":"p1","gender":"other"}`,
		},
		{
			name:     "an empty incoming list or object counts as absent",
			typ:      "Patient",
			stored:   `{"resourceType":"Patient","id":"p1","telecom":[{"system":"phone","value":"1"}],"maritalStatus":{"text":"m"}}`,
			incoming: `{"resourceType":"Patient","id":"p1","telecom":[],"maritalStatus":{}}`,
			want:     `{"resourceType":"Patient","id":"p1","telecom":[{"system":"phone","value":"1"}],"maritalStatus":{"text":"m"}}`,
		},
		{
			name:     "an incoming null removes the element",
			typ:      "Patient",
			stored:   `{"resourceType":"Patient","id":"p1","gender":"male","birthDate":"1980-01-01"}`,
			incoming: `{"resourceType":"Patient","id":"p1","gender":null}`,
			want:     `{"resourceType":"Patient","id":"p1","birthDate":"1980-01-01"}`,
		},
		{
			name:     "clearing a primitive also clears its extensions",
			typ:      "Patient",
			stored:   `{"resourceType":"Patient","id":"p1","birthDate":"1980-01-01","_birthDate":{"extension":[{"url":"http://example.org/t","valueTime":"10:00:00"}]},"gender":"male"}`,
			incoming: `{"resourceType":"Patient","id":"p1",` + fmClear("birthDate") + `}`,
			want:     `{"resourceType":"Patient","id":"p1","gender":"male"}`,
		},
		{
			name: "where with and, != and exists",
			typ:  "Patient",
			stored: `{"resourceType":"Patient","id":"p1","telecom":[{"system":"phone","value":"1","use":"home","rank":1},
				{"system":"phone","value":"2","use":"home"},{"system":"email","value":"e","use":"home","rank":2}]}`,
			incoming: `{"resourceType":"Patient","id":"p1",` + fmClear(`telecom.where(system != 'email' and rank.exists())`) + `}`,
			want: `{"resourceType":"Patient","id":"p1","telecom":[{"system":"phone","value":"2","use":"home"},
				{"system":"email","value":"e","use":"home","rank":2}]}`,
		},
		{
			name:     "Coverage.class merges by type",
			typ:      "Coverage",
			stored:   `{"resourceType":"Coverage","id":"c1","status":"active","class":[{"type":{"coding":[{"code":"group"}]},"value":"G1"},{"type":{"coding":[{"code":"plan"}]},"value":"P1"}]}`,
			incoming: `{"resourceType":"Coverage","id":"c1","class":[{"type":{"coding":[{"code":"plan"}]},"value":"P2","name":"Gold"}]}`,
			want:     `{"resourceType":"Coverage","id":"c1","status":"active","class":[{"type":{"coding":[{"code":"group"}]},"value":"G1"},{"type":{"coding":[{"code":"plan"}]},"value":"P2","name":"Gold"}]}`,
		},
	}
	for _, tc := range tests {
		for _, useNumber := range []bool{false, true} {
			name := tc.name
			if useNumber {
				name += " (json.Number)"
			}
			t.Run(name, func(t *testing.T) {
				stored := fmDecode(t, tc.stored, useNumber)
				incoming := fmDecode(t, tc.incoming, useNumber)
				want := fmDecode(t, tc.want, useNumber)
				storedBefore, incomingBefore := fmShow(stored), fmShow(incoming)

				got, err := MergeFields(tc.typ, stored, incoming)
				if err != nil {
					t.Fatalf("MergeFields: %v", err)
				}
				if !Equal(got, want) || fmShow(got) != fmShow(want) {
					t.Fatalf("got\n%s\nwant\n%s", fmShow(got), fmShow(want))
				}
				if fmShow(stored) != storedBefore || fmShow(incoming) != incomingBefore {
					t.Fatal("MergeFields modified its arguments")
				}
				again, err := MergeFields(tc.typ, got, incoming)
				if err != nil {
					t.Fatalf("MergeFields again: %v", err)
				}
				if !Equal(again, got) {
					t.Fatalf("not idempotent: merging again gives\n%s\nafter\n%s", fmShow(again), fmShow(got))
				}
				// The result shares nothing with the arguments.
				fmScribble(got)
				if fmShow(stored) != storedBefore || fmShow(incoming) != incomingBefore {
					t.Fatal("the result shares maps or slices with the arguments")
				}
			})
		}
	}
}

// fmScribble modifies every map and slice in v.
func fmScribble(v any) {
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			fmScribble(x)
			v[k+"~"] = 1
		}
	case []any:
		for i, x := range v {
			fmScribble(x)
			v[i] = x
		}
		if len(v) > 0 {
			if _, ok := v[0].(map[string]any); !ok {
				v[0] = "scribbled"
			}
		}
	}
}

func TestMergeFieldsErrors(t *testing.T) {
	const secret = "SECRET-PATIENT-VALUE"
	tests := []struct {
		name     string
		typ      string
		stored   string
		incoming string
		is       error
		mention  string
	}{
		{
			name:     "a selector that does not parse",
			typ:      "Patient",
			stored:   `{"resourceType":"Patient","id":"p1","name":[{"family":"` + secret + `"}]}`,
			incoming: `{"resourceType":"Patient","id":"p1",` + fmClear("telecom.where(use = )") + `,"gender":"` + secret + `"}`,
			is:       ErrBadSelector,
			mention:  `"telecom.where(use = )"`,
		},
		{
			name:     "meta cannot be cleared",
			typ:      "Patient",
			stored:   `{"resourceType":"Patient","id":"p1"}`,
			incoming: `{"resourceType":"Patient","id":"p1",` + fmClear("meta.tag") + `}`,
			is:       ErrBadSelector,
			mention:  "meta",
		},
		{
			name:     "an unknown resource type",
			typ:      "Patients",
			stored:   `{"resourceType":"Patients","id":"p1"}`,
			incoming: `{"resourceType":"Patients","id":"p1"}`,
			is:       ErrUnknownResourceType,
			mention:  "Patients",
		},
		{
			name:     "another resourceType in the incoming resource",
			typ:      "Patient",
			stored:   `{"resourceType":"Patient","id":"p1"}`,
			incoming: `{"resourceType":"Person","id":"p1","name":[{"family":"` + secret + `"}]}`,
			mention:  "incoming",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := MergeFields(tc.typ, fmDecode(t, tc.stored, false), fmDecode(t, tc.incoming, false))
			if err == nil {
				t.Fatal("no error")
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("error %v does not wrap %v", err, tc.is)
			}
			if !strings.Contains(err.Error(), tc.mention) {
				t.Errorf("error %q does not mention %s", err, tc.mention)
			}
			if strings.Contains(err.Error(), secret) {
				t.Errorf("error %q quotes patient data", err)
			}
		})
	}
}

func TestClearSelectors(t *testing.T) {
	res := fmDecode(t, `{"resourceType":"Patient","meta":{"extension":[
		{"url":"`+ClearElementURL+`","valueString":"address"},
		{"url":"http://example.org/other","valueString":"x"},
		{"url":"`+ClearElementURL+`","valueString":"telecom.where(use='home')"}]}}`, false)
	got := ClearSelectors(res)
	if want := []string{"address", "telecom.where(use='home')"}; strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("ClearSelectors = %q, want %q", got, want)
	}
	if got := ClearSelectors(map[string]any{"resourceType": "Patient"}); got != nil {
		t.Errorf("ClearSelectors without meta = %q", got)
	}
}

func TestEqual(t *testing.T) {
	tests := []struct {
		name string
		a, b string
		want bool
	}{
		{"versionId and lastUpdated are ignored",
			`{"resourceType":"Patient","id":"p","meta":{"versionId":"1","lastUpdated":"2024-01-01T00:00:00Z"},"active":true}`,
			`{"resourceType":"Patient","id":"p","active":true}`, true},
		{"other meta counts",
			`{"resourceType":"Patient","id":"p","meta":{"versionId":"1","profile":["x"]}}`,
			`{"resourceType":"Patient","id":"p","meta":{"versionId":"2"}}`, false},
		{"a changed value counts",
			`{"resourceType":"Patient","id":"p","gender":"male"}`,
			`{"resourceType":"Patient","id":"p","gender":"female"}`, false},
		{"list order counts",
			`{"resourceType":"Patient","id":"p","name":[{"family":"a"},{"family":"b"}]}`,
			`{"resourceType":"Patient","id":"p","name":[{"family":"b"},{"family":"a"}]}`, false},
		{"an extra element counts",
			`{"resourceType":"Patient","id":"p"}`,
			`{"resourceType":"Patient","id":"p","active":false}`, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, b := fmDecode(t, tc.a, false), fmDecode(t, tc.b, false)
			if got := Equal(a, b); got != tc.want {
				t.Errorf("Equal = %v, want %v", got, tc.want)
			}
			if got := Equal(b, a); got != tc.want {
				t.Errorf("Equal reversed = %v, want %v", got, tc.want)
			}
		})
	}
	t.Run("float64 and json.Number compare by value", func(t *testing.T) {
		a := fmDecode(t, `{"resourceType":"Patient","multipleBirthInteger":2}`, false)
		b := fmDecode(t, `{"resourceType":"Patient","multipleBirthInteger":2}`, true)
		if !Equal(a, b) {
			t.Error("2 (float64) and 2 (json.Number) differ")
		}
		c := fmDecode(t, `{"resourceType":"Patient","multipleBirthInteger":3}`, true)
		if Equal(a, c) {
			t.Error("2 and 3 are equal")
		}
		d := fmDecode(t, `{"resourceType":"Observation","valueQuantity":{"value":1.50}}`, true)
		e := fmDecode(t, `{"resourceType":"Observation","valueQuantity":{"value":1.5}}`, true)
		if !Equal(d, e) {
			t.Error("1.50 and 1.5 (json.Number) differ")
		}
	})
}

// TestMergeFieldsReprocessing replays a sequence of updates twice: the
// second pass must change nothing.
func TestMergeFieldsReprocessing(t *testing.T) {
	msgs := []string{
		`{"resourceType":"Patient","id":"p1","identifier":[{"system":"urn:a","value":"1"}],"name":[{"use":"official","family":"Meyer","given":["Anna"]}],
			"telecom":[{"system":"phone","value":"111","use":"home"}],"birthDate":"1980-05-01"}`,
		`{"resourceType":"Patient","id":"p1","identifier":[{"system":"urn:b","value":"9"}],"telecom":[{"system":"phone","value":"222","use":"home"},{"system":"phone","value":"333","use":"mobile"}],
			"address":[{"use":"home","city":"Berlin"}]}`,
		`{"resourceType":"Patient","id":"p1",` + fmClear("address", "telecom.where(use='mobile')") + `,"deceasedBoolean":false}`,
		`{"resourceType":"Patient","id":"p1","deceasedDateTime":"2024-01-01"}`,
	}
	var rec, firstPass map[string]any
	for pass := 0; pass < 2; pass++ {
		for i, m := range msgs {
			next, err := MergeFields("Patient", rec, fmDecode(t, m, false))
			if err != nil {
				t.Fatalf("pass %d message %d: %v", pass, i, err)
			}
			rec = next
		}
		if pass == 0 {
			firstPass = rec
		}
	}
	if !Equal(firstPass, rec) {
		t.Errorf("reprocessing changed\n%s\ninto\n%s", fmShow(firstPass), fmShow(rec))
	}
	want := fmDecode(t, `{"resourceType":"Patient","id":"p1","identifier":[{"system":"urn:a","value":"1"},{"system":"urn:b","value":"9"}],
		"name":[{"use":"official","family":"Meyer","given":["Anna"]}],"telecom":[{"system":"phone","value":"222","use":"home"}],
		"birthDate":"1980-05-01","deceasedDateTime":"2024-01-01"}`, false)
	if !Equal(rec, want) {
		t.Errorf("got\n%s\nwant\n%s", fmShow(rec), fmShow(want))
	}
}

// TestElementKinds checks what the R4 descriptors say about a few
// elements, the ground the merge rules stand on.
func TestElementKinds(t *testing.T) {
	tests := []struct {
		typ, path string
		kind      elemKind
		list      bool
		choice    string
	}{
		{"Patient", "contact", elemMerged, true, ""},
		{"Patient", "name", elemValue, true, ""},
		{"Patient", "gender", elemPrimitive, false, ""},
		{"Patient", "deceasedDateTime", elemPrimitive, false, "deceased"},
		{"Patient", "link", elemMerged, true, ""},
		{"Encounter", "hospitalization", elemMerged, false, ""},
		{"Encounter", "hospitalization.dischargeDisposition", elemValue, false, ""},
		{"Encounter", "period", elemMerged, false, ""},
		{"Encounter", "class", elemValue, false, ""},
		{"Encounter", "location.period", elemMerged, false, ""},
		{"Condition", "abatementString", elemPrimitive, false, "abatement"},
		{"Procedure", "performedPeriod", elemMerged, false, "performed"},
		{"Task", "input", elemMerged, true, ""},
		{"ChargeItem", "occurrenceTiming", elemValue, false, "occurrence"},
		{"Provenance", "agent", elemMerged, true, ""},
		{"PaymentReconciliation", "detail", elemMerged, true, ""},
		{"Practitioner", "qualification", elemMerged, true, ""},
	}
	for _, tc := range tests {
		t.Run(tc.typ+"."+tc.path, func(t *testing.T) {
			s, err := resourceElems(tc.typ)
			if err != nil {
				t.Fatal(err)
			}
			var el *elemInfo
			for _, name := range strings.Split(tc.path, ".") {
				if el != nil {
					s = el.children
				}
				el = s.element(name)
				if el == nil {
					t.Fatalf("no element %s", name)
				}
			}
			if el.kind != tc.kind || el.list != tc.list || el.choice != tc.choice {
				t.Errorf("kind %d list %v choice %q, want %d %v %q", el.kind, el.list, el.choice, tc.kind, tc.list, tc.choice)
			}
		})
	}
	for _, typ := range []string{"Patient", "RelatedPerson", "Encounter", "Appointment", "ChargeItem", "Account", "Condition",
		"AllergyIntolerance", "Procedure", "Coverage", "Location", "Practitioner", "Organization", "Task", "PaymentReconciliation", "Provenance"} {
		if _, err := resourceElems(typ); err != nil {
			t.Errorf("%s: %v", typ, err)
		}
	}
	if s, _ := resourceElems("Patient"); strings.Join(s.variants["deceased"], ",") != "deceasedBoolean,deceasedDateTime" {
		t.Errorf("Patient deceased variants = %v", s.variants["deceased"])
	}
}

func BenchmarkMergeFields(b *testing.B) {
	stored := fmDecode(b, `{"resourceType":"Encounter","id":"e1","status":"in-progress","class":{"code":"IMP"},
		"identifier":[{"system":"urn:visit","value":"V1"}],"period":{"start":"2024-01-01T08:00:00Z"},
		"location":[{"location":{"reference":"Location/ward-1"},"status":"active","period":{"start":"2024-01-01T08:00:00Z"}}],
		"participant":[{"type":[{"coding":[{"code":"ATND"}]}],"individual":{"reference":"Practitioner/d1"}}],
		"hospitalization":{"admitSource":{"coding":[{"code":"emd"}]}}}`, false)
	incoming := fmDecode(b, `{"resourceType":"Encounter","id":"e1",`+fmClear("hospitalization.dischargeDisposition")+`,"status":"finished","period":{"end":"2024-01-03T08:00:00Z"},
		"location":[{"location":{"reference":"Location/ward-1"},"status":"completed","period":{"end":"2024-01-03T08:00:00Z"}}]}`, false)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := MergeFields("Encounter", stored, incoming); err != nil {
			b.Fatal(err)
		}
	}
}

// An A08 that carries a new home phone and an empty address (HL7 "",
// mapped to a clear marker) updates the stored patient: the work phone and
// the birth date it does not carry stay.
func ExampleMergeFields() {
	var stored, incoming map[string]any
	_ = json.Unmarshal([]byte(`{"resourceType":"Patient","id":"p1","birthDate":"1980-05-01",
		"telecom":[{"system":"phone","value":"111","use":"home"},{"system":"phone","value":"222","use":"work"}],
		"address":[{"use":"home","city":"Berlin"}]}`), &stored)
	_ = json.Unmarshal([]byte(`{"resourceType":"Patient","id":"p1",
		"meta":{"extension":[{"url":"https://carebridge.dev/fhir/StructureDefinition/clear-element","valueString":"address"}]},
		"telecom":[{"system":"phone","value":"333","use":"home"}]}`), &incoming)
	merged, err := MergeFields("Patient", stored, incoming)
	if err != nil {
		fmt.Println(err)
		return
	}
	out, _ := json.Marshal(merged)
	fmt.Println(string(out))
	again, _ := MergeFields("Patient", merged, incoming)
	fmt.Println("reprocessing changes something:", !Equal(merged, again))
	// Output:
	// {"birthDate":"1980-05-01","id":"p1","resourceType":"Patient","telecom":[{"system":"phone","use":"home","value":"333"},{"system":"phone","use":"work","value":"222"}]}
	// reprocessing changes something: false
}

// FuzzMergeFields checks, for any pair of JSON objects, that MergeFields
// neither panics nor modifies its arguments, and that it is idempotent.
func FuzzMergeFields(f *testing.F) {
	f.Add(true, `{"resourceType":"Patient","id":"p1","telecom":[{"system":"phone","value":"111","use":"home"},{"system":"phone","value":"222","use":"work"}],"deceasedBoolean":true}`,
		`{"resourceType":"Patient","id":"p1",`+fmClear(`telecom.where(use = 'home')`)+`,"telecom":[{"system":"phone","value":"333","use":"home"}],"deceasedDateTime":"2024"}`)
	f.Add(true, `{"resourceType":"Patient","identifier":[{"system":"a","value":"1"},{"value":"2"}],"name":[{"use":"official","family":"A"},{"family":"B"}],"link":[{"other":{"reference":"Patient/x"},"type":"seealso"}]}`,
		`{"resourceType":"Patient","identifier":[{"system":"a","value":"3"},{"value":"2"}],"name":[{"family":"C"}],"link":[{"other":{"reference":"Patient/x"},"type":"replaced-by"}],"address":[{"use":"home","line":["x"]}]}`)
	f.Add(false, `{"resourceType":"Encounter","status":"in-progress","location":[{"location":{"reference":"Location/a"},"status":"active","period":{"start":"1"}}],"hospitalization":{"admitSource":{"text":"x"}}}`,
		`{"resourceType":"Encounter",`+fmClear("hospitalization.dischargeDisposition", "location.where(status='planned')")+`,"location":[{"location":{"reference":"Location/a"},"status":"completed","period":{"end":"2"}}],"statusHistory":[{"status":"arrived","period":{"start":"1"}}]}`)
	f.Fuzz(func(t *testing.T, patient bool, storedJSON, incomingJSON string) {
		typ := "Encounter"
		if patient {
			typ = "Patient"
		}
		var stored, incoming map[string]any
		if json.Unmarshal([]byte(storedJSON), &stored) != nil || json.Unmarshal([]byte(incomingJSON), &incoming) != nil {
			return
		}
		for _, m := range []map[string]any{stored, incoming} {
			if m != nil {
				m["resourceType"] = typ
			}
		}
		storedBefore, incomingBefore := fmShow(stored), fmShow(incoming)
		got, err := MergeFields(typ, stored, incoming)
		if fmShow(stored) != storedBefore || fmShow(incoming) != incomingBefore {
			t.Fatal("MergeFields modified its arguments")
		}
		if err != nil {
			return
		}
		if len(ClearSelectors(got)) != 0 {
			t.Fatalf("clear markers persist: %s", fmShow(got))
		}
		again, err := MergeFields(typ, got, incoming)
		if err != nil {
			t.Fatalf("second merge: %v", err)
		}
		if !Equal(got, again) {
			t.Fatalf("not idempotent:\n%s\nthen\n%s", fmShow(got), fmShow(again))
		}
	})
}
