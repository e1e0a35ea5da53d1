package strictyaml

import (
	"strings"
	"testing"
)

// TestSyntaxErrorLine: a YAML syntax error is reported at the line where it
// is, not where the parser's message puts it (zero-based, the enclosing
// construct's line, or nowhere on line 1).
func TestSyntaxErrorLine(t *testing.T) {
	for _, tc := range []struct {
		name, doc string
		line      int
	}{
		{"unclosed flow list", "a: 1\nb: 2\nc: 3\nd e f: [1\ng: 2\n", 4},
		{"braces in a plain value", "a: 1\nb: 2\nc: 3\nd: {{\ne: 2\n", 4},
		{"mapping in a plain value on line 1", "a: b: c\n", 1},
		{"tab in indentation", "a: 1\nb:\n  c: 1\n\td: 2\n", 4},
		{"key outdented into a mapping value", "a:\n  b: 1\n  c: 2\n d: 3\ne: 4\n", 4},
		{"no final newline", "a: 1\nb: [1, 2\n", 2},
		{"unterminated quote opens the construct", "a: 1\nb: \"x\nc: 2\n", 2},
		{"error after a valid multi-line flow list", "a: [1,\n  2]\nb: 1\nc: {{\n", 4},
		{"unterminated quote with a blank line in it", "a: 'x\n\nb: 1\n", 1},
		{"error after a valid two-line quoted string", "a: 'x\n  y'\nb: {{\n", 3},
		{"unterminated quote further down", "a: 1\nb: 2\nc: 'x\n\nd: 1\ne: 2\n", 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var v struct {
				A any `yaml:"a"`
			}
			_, errs := Decode("f.yaml", []byte(tc.doc), &v)
			if len(errs.List) != 1 {
				t.Fatalf("got %d errors, want 1: %v", len(errs.List), errs)
			}
			e := errs.List[0]
			if e.Pos.Line != tc.line || e.Pos.File != "f.yaml" || e.Pos.Column != 1 {
				t.Errorf("at %s, want f.yaml:%d:1 (%s)", e.Pos, tc.line, e.Msg)
			}
			if !strings.HasPrefix(e.Msg, "invalid YAML: ") {
				t.Errorf("message %q", e.Msg)
			}
		})
	}
}

// FuzzDecode: any input decodes or fails without panicking, and every error
// position lies within the file.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{"a: 1\n", "a: [1\n", "a: 'x\n\nb: 1\n", "a:\n  b: {{\n", "\tc: 1", "a: b: c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, doc string) {
		var v struct {
			A any `yaml:"a"`
			B any `yaml:"b"`
		}
		_, errs := Decode("f.yaml", []byte(doc), &v)
		// Line breaks as YAML counts them: CRLF, CR or LF.
		lines := strings.Count(strings.ReplaceAll(doc, "\r\n", "\n"), "\n") + strings.Count(strings.ReplaceAll(doc, "\r\n", ""), "\r") + 1
		for _, e := range errs.List {
			if e.Pos.Line < 0 || e.Pos.Line > lines {
				t.Fatalf("error at line %d of a %d-line file: %v", e.Pos.Line, lines, e)
			}
		}
	})
}
