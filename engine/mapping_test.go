package engine

import (
	"bytes"
	"log/slog"
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
