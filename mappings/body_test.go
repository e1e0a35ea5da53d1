package mappings_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/carebridge/carebridge/engine/hl7"
	"github.com/carebridge/carebridge/mappings"
)

// bodiesMatchBundle checks that every resource's Body, made on first call
// from the tree the Bundle was encoded from, holds what the Bundle's entry
// holds (compared as decoded JSON, numbers as written), and that a second
// call returns the same map.
func bodiesMatchBundle(res *mappings.Result) error {
	var bundle struct {
		Entry []struct {
			Resource json.RawMessage `json:"resource"`
		} `json:"entry"`
	}
	if err := json.Unmarshal(res.Bundle, &bundle); err != nil {
		return err
	}
	if len(bundle.Entry) != len(res.Resources) {
		return fmt.Errorf("%d entries in the Bundle, %d resources", len(bundle.Entry), len(res.Resources))
	}
	for i, r := range res.Resources {
		body := r.Body()
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(body); err != nil {
			return fmt.Errorf("%s/%s: %v", r.Type, r.ID, err)
		}
		got, want := decodeNumbers(buf.Bytes()), decodeNumbers(bundle.Entry[i].Resource)
		if !reflect.DeepEqual(got, want) {
			return fmt.Errorf("%s/%s: Body %s\nBundle entry %s", r.Type, r.ID, buf.Bytes(), bundle.Entry[i].Resource)
		}
		if reflect.ValueOf(r.Body()).Pointer() != reflect.ValueOf(body).Pointer() {
			return fmt.Errorf("%s/%s: a second call of Body made another map", r.Type, r.ID)
		}
	}
	return nil
}

func decodeNumbers(b []byte) any {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return err.Error()
	}
	return v
}

// TestBodyMatchesBundleForShippedExamples checks Resource.Body against the
// Bundle for every example of the shipped maps.
func TestBodyMatchesBundleForShippedExamples(t *testing.T) {
	fsys := os.DirFS("hl7v2")
	set, err := mappings.Load(fsys)
	if err != nil {
		t.Fatal(err)
	}
	for _, ex := range set.Examples() {
		run, err := set.RunExample(fsys, ex)
		if err != nil {
			t.Fatal(err)
		}
		if err := bodiesMatchBundle(run.Result); err != nil {
			t.Errorf("%s: %v", ex.Name, err)
		}
	}
}

// TestResultOutlivesLaterMaps keeps the Results of every test message while
// many more messages are mapped from several goroutines (reusing pooled
// state), and reads their Bodies from several goroutines meanwhile: a
// Result must share nothing Map reuses (run it with -race), and its Bundle
// and Bodies must stay as they were made.
func TestResultOutlivesLaterMaps(t *testing.T) {
	set, err := mappings.Load(os.DirFS("hl7v2"))
	if err != nil {
		t.Fatal(err)
	}
	var raws [][]byte
	for _, root := range []string{"../testdata/hl7", "hl7v2/messages/examples"} {
		err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() && strings.HasSuffix(p, ".hl7") {
				raw, err := os.ReadFile(p)
				raws = append(raws, raw)
				return err
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	mapOne := func(raw []byte) *mappings.Result {
		msg, err := hl7.Parse(raw)
		if err != nil {
			return nil
		}
		res, err := set.Map(msg, mappings.Options{JournalID: 7})
		if err != nil {
			return nil
		}
		return res
	}
	var kept []*mappings.Result
	var bundles [][]byte
	for _, raw := range raws {
		if res := mapOne(raw); res != nil {
			kept = append(kept, res)
			bundles = append(bundles, bytes.Clone(res.Bundle))
		}
	}
	if len(kept) < 20 {
		t.Fatalf("only %d messages mapped", len(kept))
	}
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 5 {
				for _, raw := range raws {
					mapOne(raw)
				}
			}
		}()
	}
	errs := make(chan error, 2*len(kept))
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, res := range kept {
				if err := bodiesMatchBundle(res); err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for i, res := range kept {
		if !bytes.Equal(res.Bundle, bundles[i]) {
			t.Errorf("result %d: the Bundle changed after later messages were mapped", i)
		}
		if err := bodiesMatchBundle(res); err != nil {
			t.Errorf("result %d: %v", i, err)
		}
	}
}

// An A01 whose PV1 has nothing to identify the visit by makes no
// Encounter: a warning says so (with the map row), so that its class,
// location and doctors are not lost silently; a PV1 saying "not
// applicable" (PV1-2 N) is left out without one.
func TestPV1WithoutVisitIdentityIsReported(t *testing.T) {
	set, err := mappings.Load(mappings.Shipped())
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		pv1  string
		warn bool
	}{
		{"PV1|1|I|WARD4^101^A^GENHOSP|||||1234^Attending^Ann", true},
		{"PV1|1|N", false},
		{"PV1|1|I|WARD4^101^A^GENHOSP||||||||||||||||VN1^^^GENHOSP^VN", false},
	} {
		raw := "MSH|^~\\&|ADTSYS|GENHOSP|CB|CB|20261201120000+0000||ADT^A01^ADT_A01|SK1|P|2.5.1\rEVN|A01|20261201120000+0000\rPID|1||SK1^^^GENHOSP^MR||Skip^Sam\r" + tc.pv1 + "\r"
		msg, err := hl7.Parse([]byte(raw))
		if err != nil {
			t.Fatal(err)
		}
		res, err := set.Map(msg, mappings.Options{})
		if err != nil {
			t.Fatal(err)
		}
		var got *mappings.Warning
		for i, w := range res.Warnings {
			if w.Kind == "skipped-resource" {
				got = &res.Warnings[i]
			}
		}
		if (got != nil) != tc.warn {
			t.Errorf("%s: skipped-resource warning %+v, want one: %v", tc.pv1, got, tc.warn)
		}
		if got != nil && (got.Where != "PV1" || !strings.Contains(got.At, "ADT.yaml:") || !strings.Contains(got.Message, "no Encounter made")) {
			t.Errorf("warning %+v, want it on PV1, at the ADT map's row, saying no Encounter was made", got)
		}
	}
}

// TestPIDWithoutIdentifierIsReported: a PID without any identifier still
// makes its Patient (keyed by name, birth date and sex), with a warning of
// kind expectation from the segment map's expect, whatever message map uses
// it; a PID with one makes none.
func TestPIDWithoutIdentifierIsReported(t *testing.T) {
	set, err := mappings.Load(mappings.Shipped())
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		msg  string
		warn bool
	}{
		{"MSH|^~\\&|ADTSYS|GENHOSP|CB|CB|20261201120000+0000||ADT^A08^ADT_A01|X1|P|2.5.1\rEVN|A08|20261201120000+0000\rPID|1||||Noid^Nina||19750505|F\r", true},
		{"MSH|^~\\&|SCHED|GENHOSP|CB|CB|20261201120000+0000||SIU^S12^SIU_S12|X2|P|2.5.1\rSCH||A1^SCHED|||||||30|min|^^30^20261201100000+0000\rPID|1||||Noid^Nina||19750505|F\rRGS|1|A\rAIP|1|A|DOC123^Mensah^Kofi\r", true},
		{"MSH|^~\\&|ADTSYS|GENHOSP|CB|CB|20261201120000+0000||ADT^A08^ADT_A01|X3|P|2.5.1\rEVN|A08|20261201120000+0000\rPID|1||ID1^^^GENHOSP^MR||Noid^Nina||19750505|F\r", false},
	} {
		msg, err := hl7.Parse([]byte(tc.msg))
		if err != nil {
			t.Fatal(err)
		}
		res, err := set.Map(msg, mappings.Options{})
		if err != nil {
			t.Fatal(err)
		}
		var got []mappings.Warning
		for _, w := range res.Warnings {
			if w.Kind == "expectation" {
				got = append(got, w)
			}
		}
		if (len(got) > 0) != tc.warn || len(got) > 1 {
			t.Errorf("%s: expectation warnings %+v, want one: %v", msg.Type(), got, tc.warn)
			continue
		}
		if tc.warn && (got[0].Where != "PID" || !strings.Contains(got[0].At, "segments/PID-Patient.yaml:") || !strings.Contains(got[0].Message, "no patient identifier")) {
			t.Errorf("%s: warning %+v, want it on PID, at the PID map's expect", msg.Type(), got[0])
		}
		if !strings.Contains(string(res.Bundle), `"resourceType":"Patient"`) {
			t.Errorf("%s: no Patient made", msg.Type())
		}
	}
}
