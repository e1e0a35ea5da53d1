package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestMapBinary runs the built binary: `map -` reads standard input, prints
// a Bundle per message on stdout, and exits 1 (after mapping the others)
// when a message has no map.
func TestMapBinary(t *testing.T) {
	adt, err := os.ReadFile(filepath.Join("..", "..", "testdata", "hl7", "adt_a01.hl7"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		stdin   string
		code    int
		bundles int
		stderr  string
	}{
		{name: "ADT^A01", stdin: string(adt), code: 0, bundles: 1, stderr: "-:1: PV1-18: unused-field"},
		{name: "ORU^R01 then ADT^A01", stdin: oruMessage + string(adt), code: 1, bundles: 1, stderr: "-:1: error: no map for ORU^R01"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, errOut, code := run(t, strings.NewReader(tc.stdin), "map", "-")
			if code != tc.code {
				t.Fatalf("exit status %d, want %d\n%s", code, tc.code, errOut)
			}
			lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
			if len(lines) != tc.bundles {
				t.Fatalf("%d lines on stdout, want %d", len(lines), tc.bundles)
			}
			var b struct {
				ResourceType string `json:"resourceType"`
				Entry        []struct {
					Resource map[string]any `json:"resource"`
				} `json:"entry"`
			}
			if err := json.Unmarshal([]byte(lines[0]), &b); err != nil || b.ResourceType != "Bundle" || len(b.Entry) == 0 || b.Entry[0].Resource["resourceType"] != "Patient" {
				t.Errorf("not a Bundle starting with a Patient (%v): %.300s", err, lines[0])
			}
			if !strings.Contains(errOut, tc.stderr) {
				t.Errorf("stderr lacks %q:\n%s", tc.stderr, errOut)
			}
		})
	}
}
