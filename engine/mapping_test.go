package engine

import (
	"bytes"
	"log/slog"
	"maps"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/carebridge/carebridge/config"
	"github.com/carebridge/carebridge/mappings"
)

func TestReloadRefusesASetThatDropsMessageMaps(t *testing.T) {
	load := func(files fstest.MapFS) *mappings.Set {
		t.Helper()
		s, err := mappings.Load(files)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	seg := &fstest.MapFile{Data: []byte("segment: PID[Patient]\nresource: Patient\nrows:\n  - {from: \"5.1\", to: \"name[0].family\"}\n")}
	adt := &fstest.MapFile{Data: []byte("message: ADT\nevents: {A01: ADT_A01}\nresources:\n  - {name: p, segment: PID, map: \"PID[Patient]\", key: '\"k\"'}\n")}
	siu := &fstest.MapFile{Data: []byte("message: SIU\nevents: {S12: SIU_S12}\nresources:\n  - {name: p, segment: PID, map: \"PID[Patient]\", key: '\"k\"'}\n")}
	both := load(fstest.MapFS{"seg.yaml": seg, "adt.yaml": adt, "siu.yaml": siu})
	var logs bytes.Buffer
	mp := NewMapper(&config.Config{}, both, NewMetrics(nil), slog.New(slog.NewTextHandler(&logs, nil)))

	mp.reload(load(fstest.MapFS{"seg.yaml": seg, "adt.yaml": adt}))
	if mp.Set() != both || !strings.Contains(logs.String(), "no message map for SIU") {
		t.Fatalf("a set without SIU was applied:\n%s", logs.String())
	}
	if _, err := mappings.Load(fstest.MapFS{}); err == nil {
		t.Fatal("an empty directory loaded")
	}
	edited := load(fstest.MapFS{"seg.yaml": &fstest.MapFile{Data: []byte(string(seg.Data) + "  - {from: \"8\", to: gender}\n")}, "adt.yaml": adt, "siu.yaml": siu})
	mp.reload(edited)
	if mp.Set() != edited {
		t.Fatal("a good edit was not applied")
	}
}

// A reload whose maps compile but fail their own examples (the edit breaks
// what the examples pin) is refused, naming the failing example; once the
// examples are updated it is applied.
func TestReloadRefusesASetThatFailsItsExamples(t *testing.T) {
	seg := "segment: PID[Patient]\nresource: Patient\nrows:\n  - {from: \"5.1\", to: \"name[0].family\"}\n"
	adt := "message: ADT\nevents: {A01: ADT_A01}\nresources:\n  - {name: p, segment: PID, map: \"PID[Patient]\", key: '\"k\"'}\nexamples:\n  - {name: admit, input: a01.hl7, expect: a01.json}\n"
	files := fstest.MapFS{
		"seg.yaml": {Data: []byte(seg)},
		"adt.yaml": {Data: []byte(adt)},
		"a01.hl7":  {Data: []byte("MSH|^~\\&|A|B|C|D|20261101120000+0000||ADT^A01^ADT_A01|1|P|2.5.1\rPID|1||1^^^B^MR||Doe^Jane\r")},
	}
	set, err := mappings.Load(files)
	if err != nil {
		t.Fatal(err)
	}
	run, err := set.RunExample(files, set.Examples()[0])
	if err != nil {
		t.Fatal(err)
	}
	files["a01.json"] = &fstest.MapFile{Data: run.Got}
	var logs bytes.Buffer
	mp := NewMapper(&config.Config{}, set, NewMetrics(nil), slog.New(slog.NewTextHandler(&logs, nil)))
	mp.files = files

	// The family name goes to given: compiles, but the example's Bundle differs.
	broken := maps.Clone(files)
	broken["seg.yaml"] = &fstest.MapFile{Data: []byte(strings.Replace(seg, "name[0].family", "name[0].given[0]", 1))}
	edited, err := mappings.Load(broken)
	if err != nil {
		t.Fatal(err)
	}
	mp.files = broken
	mp.reload(edited)
	if mp.Set() != set || !strings.Contains(logs.String(), "1 of 1 example(s) fail") || !strings.Contains(logs.String(), "example admit: the Bundle differs from a01.json") {
		t.Fatalf("a set failing its examples was applied:\n%s", logs.String())
	}
	// With the example updated, the edit is applied.
	run, err = edited.RunExample(broken, edited.Examples()[0])
	if err != nil {
		t.Fatal(err)
	}
	broken["a01.json"] = &fstest.MapFile{Data: run.Got}
	mp.reload(edited)
	if mp.Set() != edited {
		t.Fatalf("the edit with its example updated was not applied:\n%s", logs.String())
	}
}
