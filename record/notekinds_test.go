package record

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"testing"
)

// TestNoteKindsListed: every kind the record's code notes is in NoteKinds,
// so that `messages show` files the note under the record, not under the
// mapping's warnings.
func TestNoteKindsListed(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	seen := 0
	for _, f := range files {
		file, err := parser.ParseFile(fset, f, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(file, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok || len(call.Args) == 0 {
				return true
			}
			sel, ok := call.Fun.(*ast.SelectorExpr)
			if !ok || sel.Sel.Name != "note" {
				return true
			}
			lit, ok := call.Args[0].(*ast.BasicLit)
			if !ok {
				t.Errorf("%s: a note whose kind is not a literal: list it in NoteKinds and make it one", fset.Position(call.Pos()))
				return true
			}
			kind, _ := strconv.Unquote(lit.Value)
			seen++
			if !IsNoteKind(kind) {
				t.Errorf("%s: note kind %q is not in NoteKinds", fset.Position(call.Pos()), kind)
			}
			return true
		})
	}
	if seen < 30 {
		t.Fatalf("found only %d notes: is the test still looking at the right calls?", seen)
	}
}
