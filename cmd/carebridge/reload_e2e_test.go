package main

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// copyTree copies the shipped mappings into dir, as a user starting their own does.
func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o750)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(target, b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}

type shown struct {
	Status      string          `json:"status"`
	Error       string          `json:"error"`
	MappingHash string          `json:"mapping_hash"`
	Bundle      json.RawMessage `json:"bundle"`
	Warnings    json.RawMessage `json:"warnings"`
}

func showMessage(t *testing.T, data string, id int64) shown {
	t.Helper()
	out, errOut, code := run(t, nil, "messages", "show", fmt.Sprint(id), "--json", "--data", data)
	if code != 0 {
		t.Fatalf("messages show %d: %s", id, errOut)
	}
	var s shown
	if err := json.Unmarshal([]byte(out), &s); err != nil {
		t.Fatal(err)
	}
	return s
}

// TestMappingsHotReload: serve maps with a mappings directory; a valid edit
// is applied without a restart (new hash on later messages), an edit that
// does not compile is refused and logged while the previous set keeps
// working.
func TestMappingsHotReload(t *testing.T) {
	dir := t.TempDir()
	maps := filepath.Join(dir, "maps")
	copyTree(t, filepath.Join("..", "..", "mappings", "hl7v2"), maps)
	cfgFile := filepath.Join(dir, "carebridge.yaml")
	cfg := "mappings:\n  dir: maps\nmllp:\n  - addr: 127.0.0.1:0\n"
	if err := os.WriteFile(cfgFile, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(dir, "data")
	s := startServer(t, data, "--config", cfgFile)
	send := func(ctrl string) int64 {
		t.Helper()
		msg := "MSH|^~\\&|ADTSYS|GENHOSP|CB|CB|20261101120000+0000||ADT^A08^ADT_A01|" + ctrl + "|P|2.5.1\rEVN|A08|20261101120000+0000\rPID|1||RL1^^^GENHOSP^MR||Reload^Rita||19700101|F\rZZZ|secret-value\r"
		out, errOut, code := run(t, strings.NewReader(msg), "send", "--to", s.addr, "-")
		if code != 0 {
			t.Fatalf("send: %s %s", out, errOut)
		}
		got := listMessages(t, data, "--control-id", ctrl)
		if len(got) != 1 {
			t.Fatalf("journal has %v for %s", got, ctrl)
		}
		return got[0].ID
	}
	waitMapped := func(id int64) shown {
		t.Helper()
		for i := 0; ; i++ {
			sh := showMessage(t, data, id)
			if sh.Status != "received" && sh.Status != "processing" {
				return sh
			}
			if i > 2000 {
				t.Fatalf("message %d still %s", id, sh.Status)
			}
			s.waitLogOrProcessed(t)
		}
	}
	first := waitMapped(send("RL-1"))
	if first.Status != "processed" || !strings.Contains(string(first.Bundle), `"gender":"female"`) {
		t.Fatalf("first message: %+v", first)
	}
	// Nothing is lost silently: the Z-segment no map uses is reported with
	// the journal entry (its position, never its value).
	if !strings.Contains(string(first.Warnings), `"where":"ZZZ-1"`) || strings.Contains(string(first.Warnings), "secret-value") {
		t.Fatalf("warnings kept with the entry: %s", first.Warnings)
	}
	// A valid edit: women become "other" (a visible change).
	sexFile := filepath.Join(maps, "codes", "0001-AdministrativeSex.yaml")
	orig, err := os.ReadFile(sexFile)
	if err != nil {
		t.Fatal(err)
	}
	edited := strings.Replace(string(orig), "code: female", "code: other", 1)
	if edited == string(orig) {
		t.Fatal("fixture: no 'code: female' to edit")
	}
	mark := s.waitLog(t, "watching mappings for changes", 0)
	if err := os.WriteFile(sexFile, []byte(edited), 0o644); err != nil {
		t.Fatal(err)
	}
	mark = s.waitLog(t, "mappings reloaded", mark)
	second := waitMapped(send("RL-2"))
	if second.MappingHash == first.MappingHash || !strings.Contains(string(second.Bundle), `"gender":"other"`) {
		t.Fatalf("after the edit: hash %s (was %s), bundle %s", second.MappingHash, first.MappingHash, second.Bundle)
	}
	// A broken edit is refused with its position; the set in use stays.
	if err := os.WriteFile(sexFile, []byte(edited+"  Z: {code: other, colour: red}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	s.waitLog(t, "mapping edit refused", mark)
	s.waitLog(t, "colour", mark)
	third := waitMapped(send("RL-3"))
	if third.Status != "processed" || third.MappingHash != second.MappingHash {
		t.Fatalf("after a refused edit: %+v (want hash %s)", third, second.MappingHash)
	}
}
