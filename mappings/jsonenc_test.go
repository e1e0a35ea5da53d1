package mappings

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestAppendJSONMatchesEncodingJSON(t *testing.T) {
	cases := []any{
		map[string]any{"b": "x", "a": []any{"<&>", `q"uote\`, "tab\tnew\nline", "\x01", "张伟", "bad\xffutf8", "\u2028"}, "n": json.Number("12.50"), "t": true, "i": 3, "f": 1.5, "z": nil},
	}
	for _, c := range cases {
		got, err := appendJSON(nil, c)
		if err != nil {
			t.Fatal(err)
		}
		if !json.Valid(got) {
			t.Fatalf("invalid JSON: %s", got)
		}
		var a, b any
		json.Unmarshal(got, &a)
		want, _ := json.Marshal(c)
		json.Unmarshal(want, &b)
		ga, _ := json.Marshal(a)
		gb, _ := json.Marshal(b)
		if string(ga) != string(gb) {
			t.Fatalf("appendJSON = %s\nencoding/json = %s", got, want)
		}
	}
	if _, err := appendJSON(nil, json.Number("1e")); err == nil {
		t.Fatal("an invalid number was encoded")
	}
}

func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "plain", "<&>\"\\", "\x00\x1f", "张伟", "\xff\xfe", "\u2028\u2029"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		b := appendString(nil, s)
		if !json.Valid(b) {
			t.Fatalf("invalid JSON for %q: %s", s, b)
		}
		var back string
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatal(err)
		}
		want, _ := json.Marshal(s)
		var w string
		json.Unmarshal(want, &w)
		if back != w {
			t.Fatalf("round trip of %q = %q, encoding/json gives %q", s, back, w)
		}
	})
}

// TestEncoderReuse encodes nested objects with one encoder twice: the
// member stack shared by nested objects must give the same bytes as a
// fresh encoder, and keep no value once reset.
func TestEncoderReuse(t *testing.T) {
	v := map[string]any{"z": map[string]any{"y": []any{map[string]any{"b": 1, "a": "x"}}, "c": true}, "a": "first"}
	want, _ := appendJSON(nil, v)
	var e jsonEncoder
	for range 2 {
		got, err := e.append(nil, v)
		if err != nil || string(got) != string(want) {
			t.Fatalf("reused encoder = %s, %v; want %s", got, err, want)
		}
	}
	if string(want) != `{"a":"first","z":{"c":true,"y":[{"a":"x","b":1}]}}` {
		t.Fatalf("appendJSON = %s", want)
	}
	e.reset()
	for _, m := range e.members[:cap(e.members)] {
		if m.v != nil || m.k != "" {
			t.Fatal("reset kept a member")
		}
	}
}

// TestKeyLessMatchesCompare checks the first-byte shortcut of keyLess
// against strings.Compare: empty keys, shared prefixes, bytes past ASCII.
func TestKeyLessMatchesCompare(t *testing.T) {
	keys := []string{"", "a", "b", "ab", "abc", "abd", "B", "_x", "z", "\xff", "é", "id", "identifier", "meta", "resourceType"}
	for _, a := range keys {
		for _, b := range keys {
			if got, want := keyLess(a, b), strings.Compare(a, b) < 0; got != want {
				t.Errorf("keyLess(%q, %q) = %v, want %v", a, b, got, want)
			}
		}
	}
}
