package mappings_test

import (
	"fmt"
	"strings"
)

// diffLines is a small line diff for test failures.
func diffLines(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	var b strings.Builder
	n := 0
	for i := 0; i < len(w) || i < len(g); i++ {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			fmt.Fprintf(&b, "line %d:\n- %s\n+ %s\n", i+1, wl, gl)
			if n++; n > 20 {
				b.WriteString("...\n")
				break
			}
		}
	}
	return b.String()
}
