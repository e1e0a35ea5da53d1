package mappings_test

import (
	"os"
	"testing"

	"github.com/carebridge/carebridge/engine/hl7"
	"github.com/carebridge/carebridge/mappings"
)

// BenchmarkLoadShipped compiles every shipped map (goal: ≤ 200 ms).
func BenchmarkLoadShipped(b *testing.B) {
	for b.Loop() {
		if _, err := mappings.Load(mappings.Shipped()); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkMapADTA01 maps the synthetic ADT^A01 to a Bundle on one core
// (goal: ≤ 50 µs per message).
func BenchmarkMapADTA01(b *testing.B) { benchmarkMap(b, "../testdata/hl7/adt_a01.hl7") }

// BenchmarkMapADTA01Bodies maps the synthetic ADT^A01 and makes every
// resource's Body, as the record reads them: what the pipeline pays.
func BenchmarkMapADTA01Bodies(b *testing.B) {
	benchmarkMapWith(b, "../testdata/hl7/adt_a01.hl7", func(res *mappings.Result) {
		for _, r := range res.Resources {
			r.Body()
		}
	})
}

// BenchmarkMapSIUS12 maps the synthetic SIU^S12 (a booked appointment).
func BenchmarkMapSIUS12(b *testing.B) { benchmarkMap(b, "../testdata/hl7/siu_s12.hl7") }

// BenchmarkMapDFTP03 maps the synthetic DFT^P03 (charges).
func BenchmarkMapDFTP03(b *testing.B) { benchmarkMap(b, "../testdata/hl7/dft_p03.hl7") }

// benchmarkMap parses and maps one message file per iteration.
func benchmarkMap(b *testing.B, file string) { benchmarkMapWith(b, file, nil) }

// benchmarkMapWith is benchmarkMap, with then (if not nil) run on each
// Result.
func benchmarkMapWith(b *testing.B, file string, then func(*mappings.Result)) {
	set, err := mappings.Load(mappings.Shipped())
	if err != nil {
		b.Fatal(err)
	}
	raw, err := os.ReadFile(file)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		msg, err := hl7.Parse(raw)
		if err != nil {
			b.Fatal(err)
		}
		res, err := set.Map(msg, mappings.Options{JournalID: 1})
		if err != nil {
			b.Fatal(err)
		}
		if then != nil {
			then(res)
		}
	}
}
