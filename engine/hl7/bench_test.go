package hl7

import (
	"os"
	"testing"
)

// BenchmarkParseADTA01 measures the engine's hot path: parse a typical
// ADT^A01 (1.6 KB, 19 segments) and read a handful of values. The goal is
// at most 3 µs on one core.
func BenchmarkParseADTA01(b *testing.B) {
	raw, err := os.ReadFile("testdata/adt_a01_large.hl7")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(raw)))
	for b.Loop() {
		m, err := Parse(raw)
		if err != nil {
			b.Fatal(err)
		}
		if m.Get("PID-3(1).1") == "" || m.Get("PID-5.1") == "" || m.Get("PV1-3.1") == "" ||
			m.Get("MSH-10") == "" || m.Get("MSH-9") == "" || m.Get("PID-7") == "" {
			b.Fatal("value missing")
		}
	}
}

// BenchmarkGet measures one path read on a parsed message.
func BenchmarkGet(b *testing.B) {
	raw, err := os.ReadFile("../../testdata/hl7/adt_a01.hl7")
	if err != nil {
		b.Fatal(err)
	}
	m, err := Parse(raw)
	if err != nil {
		b.Fatal(err)
	}
	p := MustCompilePath("PID-3(2).4")
	b.ReportAllocs()
	for b.Loop() {
		if m.GetPath(p) == "" {
			b.Fatal("value missing")
		}
	}
}

// BenchmarkEncode measures writing a parsed message back to the wire.
func BenchmarkEncode(b *testing.B) {
	raw, err := os.ReadFile("../../testdata/hl7/adt_a01.hl7")
	if err != nil {
		b.Fatal(err)
	}
	m, err := Parse(raw)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		_ = m.Encode()
	}
}
