package mappings

import (
	"slices"
	"testing"
)

func TestDiffJSON(t *testing.T) {
	tests := []struct {
		name      string
		want, got string
		diffs     []string
	}{
		{name: "equal, keys in another order", want: `{"a":1,"b":[1,2]}`, got: `{"b":[1,2],"a":1}`},
		{name: "changed value", want: `{"entry":[{"resource":{"gender":"female"}}]}`, got: `{"entry":[{"resource":{"gender":"male"}}]}`,
			diffs: []string{`entry[0].resource.gender: want "female", got "male"`}},
		{name: "missing and unexpected keys, sorted", want: `{"b":1,"a":{"x":true}}`, got: `{"c":"new"}`,
			diffs: []string{`a: want {"x":true}, got nothing`, `b: want 1, got nothing`, `c: want nothing, got "new"`}},
		{name: "inserted element aligns", want: `{"id":[{"v":"a"},{"v":"c"}]}`, got: `{"id":[{"v":"a"},{"v":"b"},{"v":"c"}]}`,
			diffs: []string{`id[1]: want nothing, got {"v":"b"}`}},
		{name: "removed element aligns", want: `[1,2,3]`, got: `[1,3]`, diffs: []string{`[1]: want 2, got nothing`}},
		{name: "changed element in a longer array", want: `[1,{"k":2}]`, got: `[0,1,{"k":3}]`,
			diffs: []string{`[0]: want nothing, got 0`, `[1→2].k: want 2, got 3`}},
		{name: "type change", want: `{"a":[1]}`, got: `{"a":{"0":1}}`, diffs: []string{`a: want [1], got {"0":1}`}},
		{name: "numbers by text", want: `{"n":1.0}`, got: `{"n":1}`, diffs: []string{`n: want 1.0, got 1`}},
		{name: "odd keys quoted", want: `{"a b":1}`, got: `{"a b":2}`, diffs: []string{`["a b"]: want 1, got 2`}},
		{name: "whole document", want: `1`, got: `"x"`, diffs: []string{`(document): want 1, got "x"`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			diffs, err := DiffJSON([]byte(tc.want), []byte(tc.got))
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, d := range diffs {
				got = append(got, d.String())
			}
			if !slices.Equal(got, tc.diffs) {
				t.Errorf("differences:\n%q\nwant:\n%q", got, tc.diffs)
			}
		})
	}
	if _, err := DiffJSON([]byte(`{`), []byte(`{}`)); err == nil {
		t.Error("no error for broken expected JSON")
	}
}
