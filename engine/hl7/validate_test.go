package hl7

import (
	"reflect"
	"strings"
	"testing"
)

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		msg  string
		want []string // "location code"
	}{
		{"valid", adt, nil},
		{"ACK without trigger", "MSH|^~\\&|A|B|C|D|1||ACK|9|P|2.3\rMSA|AA|1", nil},
		{"missing everything", "MSH|^~\\&|A|B|C|D|1", []string{"MSH^1^9^1^1 101", "MSH^1^9^1^2 101", "MSH^1^10 101", "MSH^1^12 101"}},
		{"missing trigger", "MSH|^~\\&|A|B|C|D|1||ADT|9|P|2.5", []string{"MSH^1^9^1^2 101"}},
		{"blank control ID", "MSH|^~\\&|A|B|C|D|1||ADT^A01| |P|2.5", []string{"MSH^1^10 101"}},
		{"unknown version", "MSH|^~\\&|A|B|C|D|1||ADT^A01|9|P|3.0", []string{"MSH^1^12 203"}},
		{"control ID of 199 characters", "MSH|^~\\&|A|B|C|D|1||ADT^A01|" + strings.Repeat("9", 199) + "|P|2.5", nil},
		{"control ID of 200 characters", "MSH|^~\\&|A|B|C|D|1||ADT^A01|" + strings.Repeat("9", 200) + "|P|2.5", []string{"MSH^1^10 102"}},
		{"version with components", "MSH|^~\\&|A|B|C|D|1||ADT^A01|9|P|2.5.1^^^^", nil},
		{"bad processing ID", "MSH|^~\\&|A|B|C|D|1||ADT^A01|9|X|2.5", []string{"MSH^1^11 202"}},
		{"two messages in one", adt + "\r" + adt, []string{"MSH^2 100"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, e := range Validate(mustParse(t, tt.msg)) {
				if e.Severity != SeverityError || e.Text == "" {
					t.Errorf("detail %+v lacks severity or text", e)
				}
				got = append(got, e.Location+" "+e.Code)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Validate = %v, want %v", got, tt.want)
			}
		})
	}
	if errs := Validate(nil); len(errs) != 1 || errs[0].Code != CodeSegmentSequence {
		t.Errorf("Validate(nil) = %+v", errs)
	}
	if errs := Validate(&Message{}); len(errs) != 1 || errs[0].Code != CodeSegmentSequence {
		t.Errorf("Validate(empty) = %+v", errs)
	}
}

func TestValidateFeedsAck(t *testing.T) {
	m := mustParse(t, "MSH|^~\\&|A|B|C|D|1||ADT^A01||P|9.9")
	errs := Validate(m)
	a := mustParse(t, string(fixedAcker.Ack(m, AckCodeFor(m, Rejected), "rejected", errs...)))
	segs := a.SegmentsNamed("ERR")
	if len(segs) != len(errs) || len(segs) != 2 {
		t.Fatalf("%d ERR segments for %d errors", len(segs), len(errs))
	}
	if got := segs[1].Field(2).Raw(); got != "MSH^1^12" {
		t.Errorf("ERR-2 = %q", got)
	}
	if got := segs[1].Field(3).Component(1).String(); got != CodeUnsupportedVersionID {
		t.Errorf("ERR-3.1 = %q", got)
	}
}
