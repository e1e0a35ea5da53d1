package record

import (
	"encoding/json"
	"reflect"
	"testing"
)

// roundTrip is what normalize must equal: the body written as JSON and read
// back as stored resources are.
func roundTrip(t testing.TB, body map[string]any) (map[string]any, error) {
	t.Helper()
	b, err := json.Marshal(body)
	if err != nil {
		return nil, err
	}
	return decode(b)
}

func TestNormalizeIsTheJSONRoundTrip(t *testing.T) {
	for _, body := range []map[string]any{
		{"resourceType": "Patient", "active": true, "deceasedBoolean": false, "name": []any{map[string]any{"family": "Okafor", "given": []any{"Chiamaka"}}}},
		{"quantity": map[string]any{"value": json.Number("1.50")}, "count": 3, "ratio": 0.000001, "big": 1e21, "unsigned": uint64(7), "f32": float32(0.1)},
		{"text": "bad \xff\xfe utf-8 \xe2\x82", "bad\xffkey": "v", "html": "<b>&amp;</b>"},
		{"typed": []string{"a", "b"}, "nested": map[string]string{"k": "v"}, "null": nil, "empty": []any{}},
		{"han": "王小明", "escaped": "a\"b\\c\n"},
		{"nilMap": map[string]any(nil), "nilList": []any(nil), "nested": []any{map[string]any(nil), []any(nil)}},
	} {
		want, err := roundTrip(t, body)
		if err != nil {
			t.Fatal(err)
		}
		got, err := normalize(body)
		if err != nil {
			t.Fatalf("normalize(%v): %v", body, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("normalize(%v)\n = %#v\nwant %#v", body, got, want)
		}
	}
}

func TestNormalizeRejectsWhatJSONRejects(t *testing.T) {
	for _, body := range []map[string]any{
		{"n": json.Number("0x10")},
		{"n": json.Number("NaN")},
		{"c": make(chan int)},
	} {
		if _, err := roundTrip(t, body); err == nil {
			t.Fatalf("encoding/json accepts %v", body)
		}
		if got, err := normalize(body); err == nil {
			t.Errorf("normalize(%v) = %v, want an error", body, got)
		}
	}
}

// FuzzNormalize checks normalize against the JSON round trip on decoded
// JSON with strings the fuzzer chooses (any bytes, also invalid UTF-8).
func FuzzNormalize(f *testing.F) {
	f.Add(`{"a":[1,"x",{"b":null}],"c":true}`, "text", "key")
	f.Add(`{"n":1e400}`, "\xff", "\xc0")
	f.Fuzz(func(t *testing.T, src, s, k string) {
		var body map[string]any
		if json.Unmarshal([]byte(src), &body) != nil || body == nil {
			body = map[string]any{}
		}
		body[k] = s
		body["list"] = []any{s, map[string]any{k: 1.5}}
		want, werr := roundTrip(t, body)
		got, gerr := normalize(body)
		if (werr == nil) != (gerr == nil) {
			t.Fatalf("round trip error %v, normalize error %v", werr, gerr)
		}
		if werr == nil && !reflect.DeepEqual(got, want) {
			t.Fatalf("normalize = %#v\nwant %#v", got, want)
		}
	})
}
