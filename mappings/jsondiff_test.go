package mappings

import (
	"encoding/json"
	"slices"
	"strings"
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

func TestDiffBundles(t *testing.T) {
	entry := func(typ, id, rest string) string {
		return `{"fullUrl":"urn:uuid:` + id + `","resource":{"resourceType":"` + typ + `","id":"` + id + `"` + rest + `},"request":{"method":"PUT","url":"` + typ + `/` + id + `"}}`
	}
	bundle := func(entries ...string) []byte {
		return []byte(`{"resourceType":"Bundle","type":"transaction","entry":[` + strings.Join(entries, ",") + `]}`)
	}
	old := bundle(
		entry("Patient", "p1", `,"name":[{"use":"usual","family":"Fixture"}],"gender":"female"`),
		entry("Encounter", "e1", `,"status":"in-progress"`),
		entry("Location", "l1", `,"name":"Ward 1"`),
	)
	// The new set names the name's use right, makes an Account before the
	// Encounter (which moves every later entry) and no Location.
	new := bundle(
		entry("Patient", "p1", `,"name":[{"use":"official","family":"Fixture"}],"gender":"female"`),
		entry("Account", "a1", `,"status":"active"`),
		entry("Encounter", "e1", `,"status":"in-progress"`),
	)
	changes, err := DiffBundles(old, new)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range changes {
		s := c.Kind + " " + c.Resource
		for _, d := range c.Differences {
			s += "; " + d.String()
		}
		got = append(got, s)
	}
	want := []string{`changed Patient/p1; name[0].use: want "usual", got "official"`, "added Account/a1", "removed Location/l1"}
	if !slices.Equal(got, want) {
		t.Errorf("changes:\n%q\nwant:\n%q", got, want)
	}
	if changes, err := DiffBundles(new, new); err != nil || len(changes) != 0 {
		t.Errorf("a Bundle against itself: %v, %v; want no change", changes, err)
	}
	// A message that failed before has no Bundle: everything is added.
	if changes, err := DiffBundles(nil, new); err != nil || len(changes) != 3 || changes[0].Kind != "added" {
		t.Errorf("against no Bundle: %v, %v; want three added", changes, err)
	}
	if _, err := DiffBundles([]byte(`{"entry":[{"resource":{}}]}`), new); err == nil {
		t.Error("no error for an entry without a resource type and id")
	}
}

// A clear marker (meta.extension with ClearExtensionURL) reads as what it
// clears, whether the markers change in place, come or go with meta
// itself; other meta changes read as before.
func TestDiffBundlesClearMarkers(t *testing.T) {
	marker := func(sel string) string {
		b, _ := json.Marshal(map[string]string{"url": ClearExtensionURL, "valueString": sel})
		return string(b)
	}
	bundle := func(resources ...string) []byte {
		var entries []string
		for _, r := range resources {
			entries = append(entries, `{"resource":`+r+`}`)
		}
		return []byte(`{"resourceType":"Bundle","type":"transaction","entry":[` + strings.Join(entries, ",") + `]}`)
	}
	old := bundle(
		`{"resourceType":"Patient","id":"p1","meta":{"extension":[`+marker("address")+`]},"gender":"female"}`,
		`{"resourceType":"Patient","id":"p2","meta":{"extension":[`+marker(`telecom.where(use = "work")`)+`]}}`,
		`{"resourceType":"Patient","id":"p3"}`,
		`{"resourceType":"Encounter","id":"e1","meta":{"source":"a","extension":[{"url":"urn:other","valueString":"x"},`+marker("location")+`]}}`,
	)
	new := bundle(
		`{"resourceType":"Patient","id":"p1","meta":{"extension":[`+marker(`address.where(use = "home")`)+`]},"gender":"male"}`,
		`{"resourceType":"Patient","id":"p2"}`,
		`{"resourceType":"Patient","id":"p3","meta":{"extension":[`+marker("telecom")+`]}}`,
		`{"resourceType":"Encounter","id":"e1","meta":{"source":"b","extension":[{"url":"urn:other","valueString":"y"},`+marker("location")+`]}}`,
	)
	changes, err := DiffBundles(old, new)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range changes {
		for _, d := range c.Differences {
			got = append(got, c.Resource+" "+d.String())
		}
	}
	want := []string{
		`Patient/p1 gender: want "female", got "male"`,
		`Patient/p1 clears address.where(use = "home"): want nothing, got ` + marker(`address.where(use = "home")`),
		`Patient/p1 no longer clears address: want ` + marker("address") + `, got nothing`,
		`Patient/p2 no longer clears telecom.where(use = "work"): want ` + marker(`telecom.where(use = "work")`) + `, got nothing`,
		`Patient/p3 clears telecom: want nothing, got ` + marker("telecom"),
		`Encounter/e1 meta.extension[0].valueString: want "x", got "y"`,
		`Encounter/e1 meta.source: want "a", got "b"`,
	}
	if !slices.Equal(got, want) {
		t.Errorf("differences:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if changes, err := DiffBundles(old, old); err != nil || len(changes) != 0 {
		t.Errorf("a Bundle with clear markers against itself: %v, %v; want no change", changes, err)
	}
}
