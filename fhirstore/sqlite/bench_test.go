package sqlite_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/carebridge/carebridge/fhirstore"
	"github.com/carebridge/carebridge/fhirstore/sqlite"
)

// Synthetic names: 40×25 = 1,000 family names (so a 4-letter prefix matches
// about 1 in 400 patients) and 200 given names.
var (
	famA  = []string{"Ab", "Bel", "Cor", "Dan", "El", "Fer", "Gar", "Hol", "Ing", "Jo", "Kel", "Lan", "Mar", "Nor", "Ol", "Pet", "Quin", "Ros", "Sal", "Tor", "Ul", "Van", "Wal", "Xav", "Yor", "Zel", "Mül", "Sch", "Bre", "Cas", "Dur", "Es", "Fal", "Gre", "Hun", "Ja", "Kr", "Lu", "Mo", "Ne"}
	famB  = []string{"bert", "mann", "son", "ley", "ner", "ton", "ez", "ini", "berg", "stein", "ford", "wood", "ard", "ovic", "ski", "ani", "elli", "ter", "dorf", "ham", "by", "rup", "sen", "ing", "ault"}
	given = func() []string {
		a := []string{"An", "Be", "Ca", "Da", "E", "Fa", "Ge", "Ha", "I", "Jo"}
		b := []string{"na", "ri", "to", "la", "ne", "mo", "ssa", "rk", "lia", "n", "va", "ra", "dy", "lo", "ke", "ta", "ro", "mi", "sa", "x"}
		var out []string
		for _, x := range a {
			for _, y := range b {
				out = append(out, x+y)
			}
		}
		return out
	}()
)

type synthPatient struct {
	id, mrn, family, given, birth string
}

// synth returns patient i of the benchmark population, deterministically.
func synth(i int) synthPatient {
	r := rand.New(rand.NewPCG(uint64(i), 42))
	birth := time.Date(1930, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, r.IntN(90*365))
	return synthPatient{
		id:     "pat-" + strconv.Itoa(i),
		mrn:    "MRN" + strconv.Itoa(1000000+i),
		family: famA[r.IntN(len(famA))] + famB[r.IntN(len(famB))],
		given:  given[r.IntN(len(given))],
		birth:  birth.Format("2006-01-02"),
	}
}

func (p synthPatient) body(i int) []byte {
	gender := "female"
	if i%2 == 1 {
		gender = "male"
	}
	return fmt.Appendf(nil, `{"resourceType":"Patient","id":%q,"active":true,`+
		`"identifier":[{"use":"usual","type":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v2-0203","code":"MR"}]},"system":"urn:oid:2.16.840.1.113883.19.5","value":%q}],`+
		`"name":[{"use":"official","family":%q,"given":[%q]}],"gender":%q,"birthDate":%q,`+
		`"telecom":[{"system":"phone","value":"+41 44 %07d","use":"home"}],`+
		`"address":[{"line":["Bahnhofstrasse %d"],"city":"Zürich","postalCode":"%04d","country":"CH"}]}`,
		p.id, p.mrn, p.family, p.given, gender, p.birth, i, i%200, 1000+i%9000)
}

func benchPatients(b *testing.B) int {
	n := 10000
	if s := os.Getenv("CAREBRIDGE_BENCH_PATIENTS"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v <= 0 {
			b.Fatalf("CAREBRIDGE_BENCH_PATIENTS=%q is not a positive number", s)
		}
		n = v
	}
	return n
}

// loadPatients writes patients [from, n) through Apply, without validation,
// in change sets of 1,000 from two goroutines (JSON work overlaps the writer).
func loadPatients(b *testing.B, s *sqlite.Store, from, n int) {
	const per = 1000
	var wg sync.WaitGroup
	next := make(chan int)
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for start := range next {
				var cs fhirstore.ChangeSet
				for i := start; i < min(start+per, n); i++ {
					p := synth(i)
					cs.Writes = append(cs.Writes, fhirstore.Write{Type: "Patient", ID: p.id, IfVersion: fhirstore.Unconditional, Body: p.body(i)})
				}
				if _, err := s.Apply(context.Background(), cs); err != nil {
					b.Error(err)
				}
			}
		}()
	}
	for start := from; start < n; start += per {
		next <- start
	}
	close(next)
	wg.Wait()
}

// BenchmarkSearch measures search latency over N synthetic patients
// (CAREBRIDGE_BENCH_PATIENTS, default 10,000) and reports p50/p99 in
// microseconds and the database's bytes per patient. The 1,000,000 case:
//
//	CAREBRIDGE_BENCH_PATIENTS=1000000 CAREBRIDGE_BENCH_DB=/var/tmp/cb-1m.db \
//	  go test ./fhirstore/sqlite -run '^$' -bench BenchmarkSearch -benchtime 5000x -timeout 2h
//
// CAREBRIDGE_BENCH_DB keeps the loaded database for the next run (loading a
// million patients takes minutes); without it the database is temporary.
func BenchmarkSearch(b *testing.B) {
	n := benchPatients(b)
	ctx := context.Background()
	path := os.Getenv("CAREBRIDGE_BENCH_DB")
	if path == "" {
		path = filepath.Join(b.TempDir(), "bench.db")
	}
	s, err := sqlite.Open(ctx, path, sqlite.Options{Durability: sqlite.DurabilityOff, Validator: sqlite.NoValidation})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	// Resume a kept database: find the first patient not loaded yet.
	have := 0
	if _, err := s.Read(ctx, "Patient", synth(n-1).id); err != nil {
		for have < n {
			if _, err := s.Read(ctx, "Patient", synth(have).id); err != nil {
				break
			}
			have += 1000
		}
		start := time.Now()
		loadPatients(b, s, have, n)
		b.Logf("loaded patients %d..%d in %s", have, n, time.Since(start).Round(time.Millisecond))
	}
	// Search a checkpointed database through a read-only handle, as a second
	// process would, not one still busy with the load.
	if err := s.Close(); err != nil {
		b.Fatal(err)
	}
	if s, err = sqlite.Open(ctx, path, sqlite.Options{ReadOnly: true}); err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	size := func() float64 {
		var total int64
		for _, suffix := range []string{"", "-wal"} {
			if fi, err := os.Stat(path + suffix); err == nil {
				total += fi.Size()
			}
		}
		return float64(total) / float64(n)
	}

	run := func(b *testing.B, query func(r *rand.Rand) (fhirstore.Query, string)) {
		r := rand.New(rand.NewPCG(7, 7))
		lat := make([]time.Duration, 0, b.N)
		found := 0
		b.ResetTimer()
		for b.Loop() {
			q, want := query(r)
			t0 := time.Now()
			rs, err := s.Search(ctx, q)
			lat = append(lat, time.Since(t0))
			if err != nil {
				b.Fatal(err)
			}
			for _, res := range rs {
				if res.ID == want {
					found++
					break
				}
			}
		}
		b.StopTimer()
		if found != len(lat) {
			b.Fatalf("%d of %d searches did not find their patient", len(lat)-found, len(lat))
		}
		slices.Sort(lat)
		pct := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))].Microseconds()) }
		b.ReportMetric(pct(0.50), "p50-µs")
		b.ReportMetric(pct(0.99), "p99-µs")
		b.ReportMetric(size(), "bytes/patient")
	}
	b.Run(fmt.Sprintf("identifier/patients=%d", n), func(b *testing.B) {
		run(b, func(r *rand.Rand) (fhirstore.Query, string) {
			p := synth(r.IntN(n))
			return fhirstore.Query{Type: "Patient", Params: []fhirstore.Param{
				{Name: "identifier", Values: []string{"urn:oid:2.16.840.1.113883.19.5|" + p.mrn}},
			}}, p.id
		})
	})
	b.Run(fmt.Sprintf("name+birthdate/patients=%d", n), func(b *testing.B) {
		run(b, func(r *rand.Rand) (fhirstore.Query, string) {
			p := synth(r.IntN(n))
			return fhirstore.Query{Type: "Patient", Params: []fhirstore.Param{
				{Name: "name", Values: []string{p.family[:4]}},
				{Name: "birthdate", Values: []string{p.birth}},
			}}, p.id
		})
	})
	b.Run(fmt.Sprintf("family-prefix/patients=%d", n), func(b *testing.B) {
		run(b, func(r *rand.Rand) (fhirstore.Query, string) {
			p := synth(r.IntN(n))
			return fhirstore.Query{Type: "Patient", Count: 1000, Params: []fhirstore.Param{
				{Name: "family", Modifier: "exact", Values: []string{p.family}},
				{Name: "given", Values: []string{p.given}},
				{Name: "gender", Values: []string{map[bool]string{true: "male", false: "female"}[p.id[len(p.id)-1]%2 == 1]}},
			}}, p.id
		})
	})
}

// adtChangeSet is what an ADT^A01 writes: a patient, an encounter, two
// practitioners, a location and an account.
func adtChangeSet(i int64) fhirstore.ChangeSet {
	id := strconv.FormatInt(i, 10)
	w := func(typ, id, body string) fhirstore.Write {
		return fhirstore.Write{Type: typ, ID: id, IfVersion: fhirstore.Unconditional, Body: []byte(body)}
	}
	return fhirstore.ChangeSet{Writes: []fhirstore.Write{
		w("Patient", "p"+id, `{"resourceType":"Patient","id":"p`+id+`","identifier":[{"system":"urn:mrn","value":"M`+id+`"}],`+
			`"name":[{"family":"Müller","given":["Hans","Peter"]}],"gender":"male","birthDate":"1980-02-29",`+
			`"telecom":[{"system":"phone","value":"555-0101"}],"address":[{"line":["Main 1"],"city":"Zürich","postalCode":"8001"}]}`),
		w("Practitioner", "d1-"+id, `{"resourceType":"Practitioner","id":"d1-`+id+`","identifier":[{"system":"urn:doc","value":"D1"}],"name":[{"family":"House","given":["Greg"]}]}`),
		w("Practitioner", "d2-"+id, `{"resourceType":"Practitioner","id":"d2-`+id+`","identifier":[{"system":"urn:doc","value":"D2"}],"name":[{"family":"Wilson"}]}`),
		w("Location", "l"+id, `{"resourceType":"Location","id":"l`+id+`","name":"Ward 3 Bed 12","identifier":[{"system":"urn:loc","value":"W3-12"}]}`),
		w("Account", "a"+id, `{"resourceType":"Account","id":"a`+id+`","status":"active","identifier":[{"system":"urn:acct","value":"A`+id+`"}],"subject":[{"reference":"Patient/p`+id+`"}]}`),
		w("Encounter", "e"+id, `{"resourceType":"Encounter","id":"e`+id+`","status":"in-progress",`+
			`"class":{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"IMP"},"subject":{"reference":"Patient/p`+id+`"},`+
			`"participant":[{"individual":{"reference":"Practitioner/d1-`+id+`"}},{"individual":{"reference":"Practitioner/d2-`+id+`"}}],`+
			`"period":{"start":"2026-11-23T10:00:00+01:00"},"location":[{"location":{"reference":"Location/l`+id+`"}}],"account":[{"reference":"Account/a`+id+`"}]}`),
	}}
}

// BenchmarkApply writes ADT^A01-sized change sets (6 resources) from many
// goroutines, with and without FHIR validation (durability normal: the
// figure is the CPU cost, not the disk's fsync latency).
func BenchmarkApply(b *testing.B) {
	for _, tc := range []struct {
		name string
		v    sqlite.Validator
	}{{"validate", nil}, {"novalidate", sqlite.NoValidation}} {
		b.Run(tc.name, func(b *testing.B) {
			s, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), "b.db"), sqlite.Options{Durability: sqlite.DurabilityNormal, Validator: tc.v})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			var n atomicCounter
			b.SetParallelism(4)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := s.Apply(context.Background(), adtChangeSet(n.next())); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}
