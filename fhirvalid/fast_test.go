package fhirvalid

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
)

// sample is one resource for the differential tests.
type sample struct {
	name string
	json []byte
}

// ownSamples are resources as Carebridge writes them: the valid documents
// of this package's tests, the mapping examples' expected Bundle entries
// and the record scenarios' expected resources (both read-only here).
func ownSamples(t testing.TB) []sample {
	t.Helper()
	var out []sample
	for name, doc := range map[string]string{
		"validPatient": validPatient, "validEncounter": validEncounter,
		"validAppointment": validAppointment, "validChargeItem": validChargeItem,
	} {
		out = append(out, sample{name, []byte(doc)})
	}
	examples, err := filepath.Glob("../mappings/hl7v2/messages/examples/*/*.json")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range examples {
		var bd struct {
			Entry []struct {
				Resource json.RawMessage `json:"resource"`
			} `json:"entry"`
		}
		readJSON(t, f, &bd)
		for i, e := range bd.Entry {
			if len(e.Resource) > 0 {
				out = append(out, sample{fmt.Sprintf("%s#%d", filepath.Base(f), i), e.Resource})
			}
		}
	}
	scenarios, err := filepath.Glob("../record/testdata/scenarios/*.json")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range scenarios {
		var sc struct {
			Resources map[string][]json.RawMessage `json:"resources"`
		}
		readJSON(t, f, &sc)
		types := make([]string, 0, len(sc.Resources))
		for typ := range sc.Resources {
			types = append(types, typ)
		}
		sort.Strings(types)
		for _, typ := range types {
			for i, r := range sc.Resources[typ] {
				out = append(out, sample{fmt.Sprintf("%s/%s#%d", filepath.Base(f), typ, i), r})
			}
		}
	}
	if len(out) < 100 {
		t.Fatalf("only %d own samples found; the golden files moved?", len(out))
	}
	return out
}

// officialSamples are the R4 examples of the corpus (absent in some
// checkouts).
func officialSamples(t testing.TB) []sample {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(corpusDir, "r4-examples", "*.json"))
	var out []sample
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, sample{filepath.Base(f), b})
	}
	return out
}

func readJSON(t testing.TB, file string, v any) {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
}

// checkAgree fails when the fast path accepts what the full path rejects.
// It reports whether the fast path accepted and the full path's verdict.
func checkAgree(t *testing.T, v *Validator, name string, doc []byte) (fast, full bool) {
	t.Helper()
	fast = v.fastValid(doc)
	err := v.validateFull(doc, false)
	full = err == nil
	if fast && !full {
		t.Errorf("%s: fast path accepts what the full path rejects (%v):\n%s", name, err, doc)
	}
	if got := v.Resource(doc); (got == nil) != full || (got != nil && got.Error() != err.Error()) {
		t.Errorf("%s: Resource = %v, full path = %v", name, got, err)
	}
	return fast, full
}

// TestFastAgreesOwn: on Carebridge's own resources both paths accept, and
// the fast path never needs the fallback.
func TestFastAgreesOwn(t *testing.T) {
	v := newValidator(t)
	var fallbacks int
	samples := ownSamples(t)
	for _, s := range samples {
		fast, full := checkAgree(t, v, s.name, s.json)
		if !full {
			t.Errorf("%s: golden resource is invalid: %v", s.name, v.validateFull(s.json, false))
		}
		if full && !fast {
			fallbacks++
			t.Errorf("%s: valid resource takes the full path", s.name)
		}
	}
	t.Logf("own resources: %d, fallbacks %d", len(samples), fallbacks)
}

// TestFastAgreesOfficial: on the official R4 examples the fast path never
// accepts what the full path rejects; the fallback rate is logged (these
// use constructs the fast path leaves to the full path).
func TestFastAgreesOfficial(t *testing.T) {
	samples := officialSamples(t)
	if len(samples) == 0 {
		t.Skip("corpus absent")
	}
	v := newValidator(t)
	var valid, fastValid int
	for _, s := range samples {
		fast, full := checkAgree(t, v, s.name, s.json)
		if full {
			valid++
		}
		if fast {
			fastValid++
		}
	}
	t.Logf("official examples: %d, valid %d, fast-valid %d", len(samples), valid, fastValid)
	if fastValid < valid/2 {
		t.Errorf("fast path accepts only %d of %d valid official examples", fastValid, valid)
	}
}

// TestFastAgreesMutants mutates Carebridge's resources in the ways that
// break FHIR rules and checks that the fast path rejects every variant the
// full path rejects. Each kind of mutation must produce invalid variants,
// or the test would prove nothing.
func TestFastAgreesMutants(t *testing.T) {
	v := newValidator(t)
	samples := ownSamples(t)
	if testing.Short() {
		samples = samples[:20]
	}
	seen, shapes := map[string]bool{}, map[string]bool{}
	type tally struct{ n, invalid, fastValid, fullValid int }
	kinds := map[string]*tally{}
	for _, s := range samples {
		// Resources of one shape (same elements, codes and kinds of
		// values) break in the same ways; mutate one of each.
		if sh := shape(t, s.json); shapes[sh] {
			continue
		} else {
			shapes[sh] = true
		}
		var rt struct{ ResourceType string }
		if err := json.Unmarshal(s.json, &rt); err != nil {
			t.Fatal(err)
		}
		for _, m := range mutants(t, s.json) {
			// One variant per resource type, element and mutation: the
			// same change at another index or in another resource of
			// the type would test the same rule again.
			key := rt.ResourceType + " " + indexRE.ReplaceAllString(m.name, "[]")
			if seen[key] {
				continue
			}
			seen[key] = true
			fast := v.fastValid(m.json)
			err := v.validateFull(m.json, false)
			full := err == nil
			if fast && !full {
				t.Errorf("%s %s: fast path accepts what the full path rejects (%v):\n%s", s.name, m.name, err, m.json)
			}
			k := kinds[m.kind]
			if k == nil {
				k = &tally{}
				kinds[m.kind] = k
			}
			k.n++
			if !full {
				k.invalid++
			}
			if fast {
				k.fastValid++
			}
			if full {
				k.fullValid++
			}
		}
	}
	names := make([]string, 0, len(kinds))
	for k := range kinds {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, name := range names {
		k := kinds[name]
		t.Logf("%-16s variants %5d  invalid %5d  full-valid %5d  fast-valid %5d", name, k.n, k.invalid, k.fullValid, k.fastValid)
		if k.invalid == 0 {
			t.Errorf("mutation %q never produced an invalid resource", name)
		}
	}
	for _, want := range []string{"drop", "empty-string", "enum-code", "bad-date", "duplicate-key", "reference-type",
		"choice-suffix", "unknown-element", "wrong-json-type", "period-reversed", "null", "empty-array", "empty-object"} {
		if kinds[want] == nil {
			t.Errorf("mutation %q never applied", want)
		}
	}
}

var indexRE = regexp.MustCompile(`\[\d+\]`)

// shape describes a resource's structure: its element paths, its codes
// and the kind of its other values.
func shape(t *testing.T, doc []byte) string {
	t.Helper()
	var root any
	if err := json.Unmarshal(doc, &root); err != nil {
		t.Fatal(err)
	}
	var paths []string
	var walk func(node any, path string)
	walk = func(node any, path string) {
		switch n := node.(type) {
		case map[string]any:
			for k, val := range n {
				walk(val, path+"."+k)
			}
		case []any:
			for _, e := range n {
				walk(e, path+"[]")
			}
		case string:
			switch {
			case isCodeLike(n):
				paths = append(paths, path+"="+n)
			case isDateLike(n):
				paths = append(paths, path+"=date"+fmt.Sprint(len(n)))
			default:
				paths = append(paths, path)
			}
		default:
			paths = append(paths, path+fmt.Sprintf("=%T", n))
		}
	}
	walk(root, "")
	sort.Strings(paths)
	return strings.Join(slices.Compact(paths), "\n")
}

type mutant struct {
	kind, name string
	json       []byte
}

// mutants returns variants of doc, each breaking (or possibly breaking)
// one rule at one place.
func mutants(t *testing.T, doc []byte) []mutant {
	t.Helper()
	var root map[string]any
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	if err := dec.Decode(&root); err != nil {
		t.Fatal(err)
	}
	var out []mutant
	add := func(kind, path string, r any) {
		b, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, mutant{kind, kind + " " + path, b})
	}
	// Each visit mutates in place, records the variant, then restores.
	var visit func(node any, path string)
	visit = func(node any, path string) {
		switch n := node.(type) {
		case map[string]any:
			keys := make([]string, 0, len(n))
			for k := range n {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			n["bogusElement"] = "x"
			add("unknown-element", path, root)
			delete(n, "bogusElement")
			if _, ok := n["start"]; ok {
				if _, ok := n["end"]; ok {
					s, e := n["start"], n["end"]
					n["start"], n["end"] = "2026-03-05T10:00:00Z", "2026-03-04"
					add("period-reversed", path, root)
					n["start"], n["end"] = s, e
				}
			}
			for _, k := range keys {
				if k == "resourceType" && path != "" {
					continue
				}
				val := n[k]
				p := path + "." + k
				delete(n, k)
				add("drop", p, root)
				n[k] = val
				n[k] = nil
				add("null", p, root)
				n[k] = val
				if strings.HasPrefix(k, "value") && len(k) > 5 {
					delete(n, k)
					n["valueBogus"] = val
					add("choice-suffix", p, root)
					delete(n, "valueBogus")
					n[k] = val
				}
				switch val.(type) {
				case map[string]any:
					n[k] = "text"
					add("wrong-json-type", p, root)
					n[k] = map[string]any{}
					add("empty-object", p, root)
				case []any:
					n[k] = []any{}
					add("empty-array", p, root)
					n[k] = val.([]any)[0]
					add("wrong-json-type", p, root)
				case string:
					n[k] = json.Number("1")
					add("wrong-json-type", p, root)
				case bool:
					n[k] = "true"
					add("wrong-json-type", p, root)
				case json.Number:
					n[k] = "1"
					add("wrong-json-type", p, root)
				}
				n[k] = val
				visit(val, p)
			}
		case []any:
			for i, e := range n {
				visit(e, fmt.Sprintf("%s[%d]", path, i))
			}
		case string:
			// Strings are mutated through their parent below.
		}
	}
	visit(root, "")
	// Value mutations on every string, found by path.
	var strs func(node any, path string, set func(any))
	strs = func(node any, path string, set func(any)) {
		switch n := node.(type) {
		case map[string]any:
			for k, val := range n {
				strs(val, path+"."+k, func(x any) { n[k] = x })
			}
		case []any:
			for i, e := range n {
				strs(e, fmt.Sprintf("%s[%d]", path, i), func(x any) { n[i] = x })
			}
		case string:
			last := path[strings.LastIndexAny(path, ".]")+1:]
			set("")
			add("empty-string", path, root)
			if isDateLike(n) {
				set(n[:4] + "-02-30" + n[min(len(n), 10):])
				add("bad-date", path, root)
				if strings.Contains(n, "T") {
					set(strings.TrimSuffix(strings.TrimSuffix(n, "Z"), "+00:00"))
					add("bad-date", path+" (no zone)", root)
				}
			} else if isCodeLike(n) {
				set(n + "-bogus")
				add("enum-code", path, root)
				set(" " + n)
				add("enum-code", path+" (leading space)", root)
			}
			if last == "reference" {
				if i := strings.IndexByte(n, '/'); i > 0 && !strings.Contains(n, ":") {
					set("Basic" + n[i:])
					add("reference-type", path, root)
					set(n[:i] + "/bad_id")
					add("reference-type", path+" (bad id)", root)
				}
				set("not a reference")
				add("reference-type", path+" (garbage)", root)
			}
			if last == "id" {
				set(n + "!")
				add("enum-code", path+" (bad id)", root)
			}
			set(n)
		}
	}
	strs(root, "", func(any) {})
	// Duplicate keys can only be written by hand: repeat the first member
	// of every object in the text.
	for i := 0; i < len(doc); i++ {
		if doc[i] != '{' {
			continue
		}
		j := i + 1
		for j < len(doc) && (doc[j] == ' ' || doc[j] == '\n' || doc[j] == '\t' || doc[j] == '\r') {
			j++
		}
		if j >= len(doc) || doc[j] != '"' {
			continue
		}
		// The first member ends at the next top-level ',' or '}'.
		s := fastScan{b: doc, i: j}
		if _, _, ok := s.str(); !ok || !s.expect(':') {
			continue
		}
		s.ws()
		if !s.skip() {
			continue
		}
		member := doc[j:s.i]
		dup := append(append(append(append([]byte(nil), doc[:j]...), member...), ','), doc[j:]...)
		out = append(out, mutant{"duplicate-key", fmt.Sprintf("duplicate-key %s", member), dup})
	}
	return out
}

func isDateLike(s string) bool {
	return len(s) >= 10 && s[4] == '-' && s[7] == '-' && isDigit(s[0]) && isDigit(s[9])
}

func isCodeLike(s string) bool {
	if s == "" || len(s) > 30 {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c == '-') {
			return false
		}
	}
	return true
}

// BenchmarkResource compares Resource (fast path, falling back when
// needed) with the full path alone on typical Carebridge resources.
func BenchmarkResource(b *testing.B) {
	v := newValidator(b)
	byType := map[string][]byte{}
	for _, s := range ownSamples(b) {
		var r struct{ ResourceType string }
		if err := json.Unmarshal(s.json, &r); err != nil {
			b.Fatal(err)
		}
		if len(s.json) > len(byType[r.ResourceType]) {
			byType[r.ResourceType] = s.json // the largest of each type
		}
	}
	types := make([]string, 0, len(byType))
	for typ := range byType {
		types = append(types, typ)
	}
	sort.Strings(types)
	for _, typ := range types {
		doc := byType[typ]
		b.Run(typ+"/fast", func(b *testing.B) {
			b.SetBytes(int64(len(doc)))
			b.ReportAllocs()
			for b.Loop() {
				if err := v.Resource(doc); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(typ+"/full", func(b *testing.B) {
			b.SetBytes(int64(len(doc)))
			b.ReportAllocs()
			for b.Loop() {
				if err := v.validateFull(doc, false); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
