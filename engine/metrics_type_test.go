package engine

import "testing"

// The message type label takes what HL7 message types look like; any other
// MSH-9 text (which may be patient data a sender misplaced, and would make
// a new series each time) is "other".
func TestMetricTypeBoundsTheLabel(t *testing.T) {
	for in, want := range map[string]string{
		"ADT^A01":        "ADT^A01",
		"ACK":            "ACK",
		"ZQ1^Z01":        "ZQ1^Z01",
		"MRN12345^SMITH": "other",
		"Z00^Q000":       "other",
		"adt^a01":        "other",
		"":               "other",
		"ADT^A01^ADT":    "other",
	} {
		if got := metricType(in); got != want {
			t.Errorf("metricType(%q) = %q, want %q", in, got, want)
		}
	}
}
