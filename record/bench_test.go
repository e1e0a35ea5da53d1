package record_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/carebridge/carebridge/engine/hl7"
	"github.com/carebridge/carebridge/fhirstore/sqlite"
	"github.com/carebridge/carebridge/mappings"
	"github.com/carebridge/carebridge/record"
)

// BenchmarkApplyADTA01 applies one mapped ADT^A01 of a new patient per
// operation (identity search, field-level update, validation, one commit
// with durability off): the record's share of the pipeline's cost. Mapping
// is done before the timer runs.
func BenchmarkApplyADTA01(b *testing.B) {
	msgs := benchMessages(b, b.N)
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "bench.db"), sqlite.Options{Durability: sqlite.DurabilityOff})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	rec, err := record.New(st, record.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := range b.N {
		if _, err := rec.Apply(ctx, msgs[i], nil); err != nil {
			b.Fatal(err)
		}
	}
}

// benchMessages maps n ADT^A01 of distinct synthetic patients.
func benchMessages(tb testing.TB, n int) []*record.Message {
	set, err := mappings.Load(mappings.Shipped())
	if err != nil {
		tb.Fatal(err)
	}
	raw, err := os.ReadFile("../testdata/hl7/adt_a01.hl7")
	if err != nil {
		tb.Fatal(err)
	}
	msgs := make([]*record.Message, n)
	for i := range msgs {
		m := bytes.ReplaceAll(raw, []byte("MRN100001"), fmt.Appendf(nil, "MRN%07d", i))
		m = bytes.ReplaceAll(m, []byte("VN500001"), fmt.Appendf(nil, "VN%07d", i))
		m = bytes.ReplaceAll(m, []byte("AB123456C"), fmt.Appendf(nil, "NH%07d", i))
		// A distinct person and message: family name, birth date, phone
		// and control ID vary.
		m = bytes.ReplaceAll(m, []byte("Testperson"), fmt.Appendf(nil, "Bench%c%c%c", 'a'+i%26, 'a'+i/26%26, 'a'+i/676%26))
		m = bytes.ReplaceAll(m, []byte("19800214"), []byte(time.Date(1930, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, i*37%25000).Format("20060102")))
		m = bytes.ReplaceAll(m, []byte("1632-960001"), fmt.Appendf(nil, "1632-%06d", i))
		m = bytes.ReplaceAll(m, []byte("1632-960002"), fmt.Appendf(nil, "1633-%06d", i))
		m = bytes.ReplaceAll(m, []byte("12 Synthetic Street"), fmt.Appendf(nil, "%d Synthetic Street", i))
		m = bytes.ReplaceAll(m, []byte("SP1 2AB"), fmt.Appendf(nil, "SP%d %dAB", i%97, i%9))
		m = bytes.ReplaceAll(m, []byte("MSG00001"), fmt.Appendf(nil, "BENCH%07d", i))
		m = bytes.ReplaceAll(m, []byte("ACC7788"), fmt.Appendf(nil, "AC%07d", i))
		msg, err := hl7.Parse(m)
		if err != nil {
			tb.Fatal(err)
		}
		res, err := set.Map(msg, mappings.Options{ReceivedAt: time.Now()})
		if err != nil {
			tb.Fatal(err)
		}
		msgs[i] = record.FromMapping(msg, res, 0)
	}
	return msgs
}
