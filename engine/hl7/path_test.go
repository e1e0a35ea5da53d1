package hl7

import (
	"errors"
	"testing"
)

func TestCompilePath(t *testing.T) {
	tests := []struct {
		in   string
		want Path
		str  string
	}{
		{"PID-3", Path{Segment: "PID", Field: 3}, "PID-3"},
		{"PID-3(2).1", Path{Segment: "PID", Field: 3, Repetition: 2, Component: 1}, "PID-3(2).1"},
		{"PID-5.1.1", Path{Segment: "PID", Field: 5, Component: 1, SubComponent: 1}, "PID-5.1.1"},
		{"OBX(2)-5", Path{Segment: "OBX", Occurrence: 2, Field: 5}, "OBX(2)-5"},
		{"MSH-9.2", Path{Segment: "MSH", Field: 9, Component: 2}, "MSH-9.2"},
		{"MSH-1", Path{Segment: "MSH", Field: 1}, "MSH-1"},
		{"/PID-3-1", Path{Segment: "PID", Field: 3, Component: 1}, "PID-3.1"},
		{"PID.3.1", Path{Segment: "PID", Field: 3, Component: 1}, "PID-3.1"},
		{"OBX[3]-5[2].1.2", Path{Segment: "OBX", Occurrence: 3, Field: 5, Repetition: 2, Component: 1, SubComponent: 2}, "OBX(3)-5(2).1.2"},
		{"ZP1-12", Path{Segment: "ZP1", Field: 12}, "ZP1-12"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := CompilePath(tt.in)
			if err != nil {
				t.Fatalf("CompilePath: %v", err)
			}
			if got != tt.want {
				t.Errorf("CompilePath = %+v, want %+v", got, tt.want)
			}
			if got.String() != tt.str {
				t.Errorf("String() = %q, want %q", got.String(), tt.str)
			}
		})
	}
}

func TestCompilePathErrors(t *testing.T) {
	for _, in := range []string{"", "PID", "PID-", "PID-0", "PID-x", "pid-3", "PI-3", "PID-3(", "PID-3(0)",
		"PID-3(2", "PID-3.1.2.3", "PID-3.", "PID(1-3", "PID-3 ", "PID-99999999999", "1ID-3"} {
		t.Run(in, func(t *testing.T) {
			if _, err := CompilePath(in); !errors.Is(err, ErrInvalidPath) {
				t.Errorf("CompilePath(%q) error = %v, want ErrInvalidPath", in, err)
			}
		})
	}
}

func TestFieldAccess(t *testing.T) {
	m := mustParse(t, adt)
	f := m.Field("PID-3")
	if n := f.RepetitionCount(); n != 2 {
		t.Fatalf("RepetitionCount = %d", n)
	}
	reps := f.Repetitions()
	if reps[1].Component(1).String() != "NHS9" || reps[1].Component(4).Component(1).String() != "NHS" {
		t.Errorf("repetition 2 = %q", reps[1].Raw())
	}
	if !m.Field("PID-4").IsEmpty() || m.Field("PID-4").RepetitionCount() != 0 {
		t.Errorf("PID-4 should be empty")
	}
	null := mustParse(t, "MSH|^~\\&|A|B|C|D|1||ADT^A08|1|P|2.5\rPID|1||1||\"\"")
	if f := null.Field("PID-5"); !f.IsNull() || f.String() != `""` {
		t.Errorf("PID-5 null: IsNull %v String %q", f.IsNull(), f.String())
	}
	sub := NewField("a&b^c", DefaultDelimiters())
	if got := sub.Component(1).Component(2).String(); got != "b" {
		t.Errorf("NewField sub-component = %q", got)
	}
	if got := sub.Component(1).Component(2).Component(1).String(); got != "b" {
		t.Errorf("leaf Component(1) = %q", got)
	}
	if got := sub.Component(1).Component(2).Component(2).String(); got != "" {
		t.Errorf("leaf Component(2) = %q", got)
	}
	if got := m.Field("MSH-2").Component(1).String(); got != "^~\\&" {
		t.Errorf("MSH-2 is not literal: %q", got)
	}
}
