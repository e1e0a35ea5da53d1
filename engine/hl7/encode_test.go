package hl7

import (
	"errors"
	"testing"
)

func TestBuildMessage(t *testing.T) {
	m := NewMessage(Delimiters{})
	steps := []struct{ path, text string }{
		{"MSH-3", "APP"},
		{"MSH-9.1", "ADT"},
		{"MSH-9.2", "A01"},
		{"MSH-10", "id|1"},
		{"MSH-12", "2.5.1"},
		{"PID-3(2).4.2", "1.2.3"},
		{"PID-5.1", "O'Neil^Smith"},
		{"PID-5.2", "Line\nbreak"},
		{"PID-1", "1"},
		{"OBX-5", "first"},
		{"OBX(2)-5", "second"},
	}
	for _, s := range steps {
		if err := m.Set(s.path, s.text); err != nil {
			t.Fatalf("Set(%q): %v", s.path, err)
		}
	}
	want := "MSH|^~\\&|APP||||||ADT^A01|id\\F\\1||2.5.1\r" +
		"PID|1||~^^^&1.2.3||O'Neil\\S\\Smith^Line\\.br\\break\r" +
		"OBX|||||first\r" +
		"OBX|||||second\r"
	if got := string(m.Encode()); got != want {
		t.Errorf("Encode() =\n%q\nwant\n%q", got, want)
	}
	back, err := Parse(m.Encode())
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range steps {
		if got := back.Get(s.path); got != s.text {
			t.Errorf("after round trip Get(%q) = %q, want %q", s.path, got, s.text)
		}
	}
}

func TestSetErrors(t *testing.T) {
	m := mustParse(t, adt)
	tests := []struct {
		path string
		is   error
	}{
		{"MSH-1", ErrInvalidPath},
		{"MSH-2", ErrInvalidPath},
		{"OBX(4)-5", ErrInvalidPath},
		{"bad", ErrInvalidPath},
	}
	for _, tt := range tests {
		if err := m.Set(tt.path, "x"); !errors.Is(err, tt.is) {
			t.Errorf("Set(%q) error = %v, want %v", tt.path, err, tt.is)
		}
	}
}

func TestModifyParsedMessage(t *testing.T) {
	m := mustParse(t, adt)
	if err := m.Set("PID-5.2", "Johanna"); err != nil {
		t.Fatal(err)
	}
	if err := m.SetRaw("PID-3(2)", "NEW^^^X^MR"); err != nil {
		t.Fatal(err)
	}
	m.AddSegment("NTE", "1", "", "note | with ^ delimiters")
	if got := m.Get("PID-5.2"); got != "Johanna" {
		t.Errorf("PID-5.2 = %q", got)
	}
	if got := m.Get("PID-5.1.2"); got != "van" {
		t.Errorf("PID-5.1.2 = %q: neighbour changed", got)
	}
	if got := m.Get("PID-3(2).4"); got != "X" {
		t.Errorf("PID-3(2).4 = %q", got)
	}
	if got := m.Get("NTE-3"); got != "note | with ^ delimiters" {
		t.Errorf("NTE-3 = %q", got)
	}
	if got := m.Segment("NTE", 1).String(); got != `NTE|1||note \F\ with \S\ delimiters` {
		t.Errorf("NTE = %q", got)
	}
	// Untouched segments keep their bytes.
	if got := m.Segment("OBX", 2).String(); got != "OBX|2|TX|CODE2||second value" {
		t.Errorf("OBX(2) = %q", got)
	}
	back := mustParse(t, string(m.Encode()))
	if back.Get("PID-5.2") != "Johanna" || back.Get("MSH-10") != "CTRL0001" {
		t.Errorf("re-parse lost values: %q", m.Encode())
	}
}

func TestSetPart(t *testing.T) {
	tests := []struct {
		s    string
		n    int
		v    string
		want string
	}{
		{"", 1, "x", "x"},
		{"", 3, "x", "^^x"},
		{"a", 3, "x", "a^^x"},
		{"a^b^c", 2, "x", "a^x^c"},
		{"a^b^c", 3, "", "a^b^"},
		{"a^b", 1, "x", "x^b"},
	}
	for _, tt := range tests {
		if got := setPart(tt.s, '^', tt.n, tt.v); got != tt.want {
			t.Errorf("setPart(%q, %d, %q) = %q, want %q", tt.s, tt.n, tt.v, got, tt.want)
		}
	}
}
