package configs

import (
	"bytes"
	"os"
	"testing"
)

// The configuration reference shows the embedded default as it is.
func TestReferenceShowsTheDefault(t *testing.T) {
	doc, err := os.ReadFile("../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	block := append(append([]byte("```yaml\n"), bytes.TrimRight(Default, "\n")...), "\n```"...)
	if !bytes.Contains(doc, block) {
		t.Error("docs/configuration.md does not show configs/default.yaml as it is: copy it into the first yaml block")
	}
}
