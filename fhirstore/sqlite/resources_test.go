package sqlite

import (
	"bytes"
	"encoding/json"
	"testing"
)

// TestVersionMarkJSON checks that the encoded marker prepareWrite looks
// for is what the encoder makes of versionMark.
func TestVersionMarkJSON(t *testing.T) {
	if b, err := json.Marshal(versionMark); err != nil || !bytes.Equal(b, versionMarkJSON) {
		t.Fatalf("versionMark encodes as %s (%v), versionMarkJSON is %s", b, err, versionMarkJSON)
	}
}
