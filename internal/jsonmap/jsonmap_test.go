package jsonmap

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// seeds are inputs at the edges of what the fast paths handle.
var seeds = []string{
	`{}`, ` { } `, `null`, `[]`, `"x"`, `1`, `{"a":1}x`, `{"a":1} `, `{"a":1}{"b":2}`,
	`{"resourceType":"Patient","id":"p1","active":true,"deceasedBoolean":false,"x":null}`,
	`{"n":[0,-0,1.5,-2e10,3E+2,4e-7,12345678901234567890123]}`,
	`{"n":01}`, `{"n":1.}`, `{"n":-}`, `{"n":1e}`, `{"n":.5}`, `{"n":+1}`,
	`{"a":{"b":{"c":[[],[{}],[1,"2",[true]]]}}}`,
	`{"a":1,"a":2}`, `{"a":{"x":1},"a":[2]}`,
	`{"s":"\"\\\/\b\f\n\r\t"}`, `{"s":"\u00e9\u4e2d\uD83D\uDE00"}`,
	`{"s":"\uD83D"}`, `{"s":"\uD83Dx"}`, `{"s":"\uD83D\u0041"}`, `{"s":"\uDE00\uD83D"}`, `{"s":"\uD83D\uZZZZ"}`,
	`{"s":"\u00"}`, `{"s":"\x"}`, `{"s":"\'"}`, "{\"s\":\"a\tb\"}", "{\"s\":\"a\x01b\"}",
	"{\"s\":\"caf\xc3\xa9 \xff\xfe \xe4\xb8\"}", "{\"\xff\":\"k\"}", `{"s":"  "}`,
	`{"s":"<a href='x'>&amp;</a>"}`, `{"a" : 1 , "b" : [ 1 , 2 ] }`, "{\n\t\"a\":\r1}",
	`{"a":1,}`, `{"a":[1,]}`, `{"a"}`, `{"a":}`, `{a:1}`, `{"a":tru}`, `{"a":nul}`, `{"a":1`, `{"a":"x`,
	`{"a":"x\`, `{"a":[`, `{"a":{`, ``, ` `, `{"a":1}}`,
	`{"a":"` + strings.Repeat(`\u0041`, 40) + `"}`,
	`{"system":"official","use\"":"home\"","use":"home","x":["male","http://hl7.org/fhir/sid/icd-10"],"code\u0073":"\u0068ome"}`,
	`{"system":"official`, `{"system`, `{"use":"home"`,
	strings.Repeat(`{"a":`, 1200) + `1` + strings.Repeat(`}`, 1200),
	strings.Repeat(`{"a":[`, 600) + `1` + strings.Repeat(`]}`, 600),
}

func stdDecode(b []byte) (map[string]any, error) { return decodeStd(b) }

// checkDecode fails t unless Decode(b) is what encoding/json makes of b.
func checkDecode(t *testing.T, b []byte) {
	t.Helper()
	got, err := Decode(b)
	want, werr := stdDecode(b)
	if (err == nil) != (werr == nil) || err != nil && err.Error() != werr.Error() {
		t.Fatalf("Decode(%q): error %v, encoding/json %v", b, err, werr)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Decode(%q) = %#v, encoding/json %#v", b, got, want)
	}
	if got == nil {
		return
	}
	// And Append gives encoding/json's bytes for what was decoded.
	checkAppend(t, got)
}

func checkAppend(t *testing.T, v any) {
	t.Helper()
	for _, html := range []bool{true, false} {
		got, err := Append([]byte("prefix"), v, html)
		want, werr := appendStd([]byte("prefix"), v, html)
		if (err == nil) != (werr == nil) || err != nil && err.Error() != werr.Error() {
			t.Fatalf("Append(%#v, %v): error %v, encoding/json %v", v, html, err, werr)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("Append(%#v, %v) = %s, encoding/json %s", v, html, got, want)
		}
	}
	if b, err := Append(nil, v, true); err == nil {
		if m, err := json.Marshal(v); err != nil || !bytes.Equal(b, m) {
			t.Fatalf("Append(%#v) = %s, json.Marshal %s (%v)", v, b, m, err)
		}
	}
}

func TestDecodeAsEncodingJSON(t *testing.T) {
	for _, s := range seeds {
		checkDecode(t, []byte(s))
	}
}

// TestDecodeRecordScenarios decodes the record's golden scenarios: FHIR
// resources as the store and the record read them.
func TestDecodeRecordScenarios(t *testing.T) {
	files, _ := filepath.Glob(scenarios)
	if len(files) == 0 {
		t.Fatal("no scenarios in " + scenarios)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		checkDecode(t, b)
	}
}

func TestAppendAsEncodingJSON(t *testing.T) {
	for _, v := range []any{
		nil, "", "a\u2028b\u2029c", "\x00\x1f\x7f", "<>&", "bad \xff\xc3", true, false,
		json.Number(""), json.Number("1.50"), json.Number("01"), json.Number("x"),
		0.0, -0.0, 1.0, 0.1, 1e-7, 1e-6, 123456789.125, 1e20, 1e21, -1e21, 5e-324, math.MaxFloat64,
		math.NaN(), math.Inf(1),
		map[string]any(nil), []any(nil), map[string]any{}, []any{},
		map[string]any{"b": 1.5, "a": []any{"x", nil, map[string]any{"<": "&"}}, "": "empty", "é": "k", "B": true},
		map[string]any{"int": 3, "strings": []string{"a"}, "nested": map[string]string{"z": "y", "a": "b"}},
		map[string]any{"f": func() {}},
		map[string]any{"n": json.Number("1e400")},
	} {
		checkAppend(t, v)
	}
}

func FuzzDecode(f *testing.F) {
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) { checkDecode(t, b) })
}

const scenarios = "../../record/testdata/scenarios/*.json"

func BenchmarkDecode(b *testing.B) {
	data, err := os.ReadFile(strings.Replace(scenarios, "*", "admit-transfer-discharge", 1))
	if err != nil {
		b.Fatal(err)
	}
	b.Run("jsonmap", func(b *testing.B) {
		for b.Loop() {
			if _, err := Decode(data); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		for b.Loop() {
			if _, err := stdDecode(data); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// TestPlainPrefixMatchesByteScan checks the eight-bytes-at-a-time scan
// against the byte table: every byte value, at every place of a word, after
// plain text of every length up to two words, at the end or followed by
// more plain text.
func TestPlainPrefixMatchesByteScan(t *testing.T) {
	byteScan := func(s string) int {
		i := 0
		for i < len(s) && safeSet[s[i]] {
			i++
		}
		return i
	}
	for c := 0; c < 256; c++ {
		for at := 0; at < 17; at++ {
			b := []byte("abcdefgh~ !#[]{}xyz")
			b = append(b[:at], byte(c))
			for _, s := range []string{string(b), string(b) + "tail text ok", string(b[:at])} {
				if got, want := plainPrefix(s), byteScan(s); got != want {
					t.Fatalf("plainPrefix(%q) = %d, want %d", s, got, want)
				}
			}
		}
	}
}
