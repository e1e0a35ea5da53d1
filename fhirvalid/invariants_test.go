package fhirvalid

import (
	"strings"
	"testing"
)

func TestAppointmentInvariants(t *testing.T) {
	v, err := New()
	if err != nil {
		t.Fatal(err)
	}
	part := `"participant":[{"actor":{"display":"Dr A"},"status":"accepted"}]`
	cases := []struct {
		name, json, want string // want: "" for valid, else the invariant reported
	}{
		{"booked with times", `{"resourceType":"Appointment","status":"booked","start":"2026-01-01T09:00:00Z","end":"2026-01-01T09:30:00Z",` + part + `}`, ""},
		{"proposed without times", `{"resourceType":"Appointment","status":"proposed",` + part + `}`, ""},
		{"cancelled without times", `{"resourceType":"Appointment","status":"cancelled",` + part + `}`, ""},
		{"booked without times", `{"resourceType":"Appointment","status":"booked",` + part + `}`, "app-3"},
		{"start without end", `{"resourceType":"Appointment","status":"booked","start":"2026-01-01T09:00:00Z",` + part + `}`, "app-2"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := v.Resource([]byte(c.json))
			if c.want == "" {
				if err != nil {
					t.Fatalf("valid appointment refused: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error = %v, want %s", err, c.want)
			}
		})
	}
	bundle := `{"resourceType":"Bundle","type":"transaction","entry":[{"fullUrl":"urn:uuid:0f6b8e52-9d3f-4c1a-8b1e-2a7c0b7e9a11","resource":{"resourceType":"Appointment","id":"0f6b8e52-9d3f-4c1a-8b1e-2a7c0b7e9a11","status":"booked",` + part + `},"request":{"method":"PUT","url":"Appointment/0f6b8e52-9d3f-4c1a-8b1e-2a7c0b7e9a11"}}]}`
	if err := v.Bundle([]byte(bundle)); err == nil || !strings.Contains(err.Error(), "Bundle.entry[0].resource.Appointment") || !strings.Contains(err.Error(), "app-3") {
		t.Fatalf("bundle entry: %v", err)
	}
}
