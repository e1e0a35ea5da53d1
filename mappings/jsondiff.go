package mappings

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// Difference is one place where two JSON documents differ.
type Difference struct {
	// Path locates the value, e.g. `entry[0].resource.gender`; "" is the
	// whole document. An array index whose position moved reads `[2→3]`
	// (expected at 2, produced at 3). In DiffBundles' results a clear
	// marker reads `clears SELECTOR` or `no longer clears SELECTOR` instead
	// (see ClearExtensionURL).
	Path string
	// Want and Got are the values, as compact JSON; "" when the value is
	// absent on that side.
	Want, Got string
}

// maxShown is how much of a value Difference.String prints.
const maxShown = 120

// String renders the difference for people, e.g.
// `entry[0].resource.gender: want "female", got "male"`.
func (d Difference) String() string {
	p := d.Path
	if p == "" {
		p = "(document)"
	}
	show := func(s string) string {
		if s == "" {
			return "nothing"
		}
		if r := []rune(s); len(r) > maxShown {
			return string(r[:maxShown]) + "…"
		}
		return s
	}
	return p + ": want " + show(d.Want) + ", got " + show(d.Got)
}

// DiffJSON compares two JSON documents by structure, not text: object keys
// in any order are equal, and the differences are listed by path (keys
// sorted) down to the smallest differing values. Arrays of equal length are
// compared element by element; arrays of different lengths are aligned on
// their equal elements first, so that one inserted element reads as one
// difference. Numbers compare by their text.
func DiffJSON(want, got []byte) ([]Difference, error) {
	w, err := decodeJSON(want)
	if err != nil {
		return nil, fmt.Errorf("expected JSON: %w", err)
	}
	g, err := decodeJSON(got)
	if err != nil {
		return nil, fmt.Errorf("produced JSON: %w", err)
	}
	var out []Difference
	diffValue("", w, g, &out)
	return out, nil
}

// Diff compares the example's expected output with the output produced.
func (r *ExampleRun) Diff() ([]Difference, error) { return DiffJSON(r.Want, r.Got) }

func decodeJSON(b []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if dec.More() {
		return nil, fmt.Errorf("more than one JSON value")
	}
	return v, nil
}

func compactJSON(v any) string {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return fmt.Sprint(v)
	}
	return strings.TrimSuffix(buf.String(), "\n")
}

var identKey = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

func keyPath(base, key string) string {
	if !identKey.MatchString(key) {
		return base + "[" + compactJSON(key) + "]"
	}
	if base == "" {
		return key
	}
	return base + "." + key
}

func diffValue(path string, want, got any, out *[]Difference) {
	switch w := want.(type) {
	case map[string]any:
		if g, ok := got.(map[string]any); ok {
			diffObject(path, w, g, out)
			return
		}
	case []any:
		if g, ok := got.([]any); ok {
			diffArray(path, w, g, out)
			return
		}
	}
	ws, gs := compactJSON(want), compactJSON(got)
	if ws != gs {
		*out = append(*out, Difference{Path: path, Want: ws, Got: gs})
	}
}

func diffObject(path string, want, got map[string]any, out *[]Difference) {
	keys := make([]string, 0, len(want)+len(got))
	for k := range want {
		keys = append(keys, k)
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		w, inW := want[k]
		g, inG := got[k]
		p := keyPath(path, k)
		switch {
		case !inG:
			*out = append(*out, Difference{Path: p, Want: compactJSON(w)})
		case !inW:
			*out = append(*out, Difference{Path: p, Got: compactJSON(g)})
		default:
			diffValue(p, w, g, out)
		}
	}
}

func diffArray(path string, want, got []any, out *[]Difference) {
	idx := func(i, j int) string {
		if i == j {
			return fmt.Sprintf("%s[%d]", path, i)
		}
		return fmt.Sprintf("%s[%d→%d]", path, i, j)
	}
	if len(want) == len(got) {
		for i := range want {
			diffValue(idx(i, i), want[i], got[i], out)
		}
		return
	}
	// Align on the longest common subsequence of equal elements; compare
	// the elements between two anchors pairwise, and report the rest as
	// missing or unexpected.
	ws, gs := make([]string, len(want)), make([]string, len(got))
	for i, v := range want {
		ws[i] = compactJSON(v)
	}
	for j, v := range got {
		gs[j] = compactJSON(v)
	}
	lcs := make([][]int, len(ws)+1)
	for i := range lcs {
		lcs[i] = make([]int, len(gs)+1)
	}
	for i := len(ws) - 1; i >= 0; i-- {
		for j := len(gs) - 1; j >= 0; j-- {
			if ws[i] == gs[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	gap := func(wi, wj, gi, gj int) {
		for wi < wj && gi < gj {
			diffValue(idx(wi, gi), want[wi], got[gi], out)
			wi, gi = wi+1, gi+1
		}
		for ; wi < wj; wi++ {
			*out = append(*out, Difference{Path: fmt.Sprintf("%s[%d]", path, wi), Want: ws[wi]})
		}
		for ; gi < gj; gi++ {
			*out = append(*out, Difference{Path: fmt.Sprintf("%s[%d]", path, gi), Got: gs[gi]})
		}
	}
	i, j, wStart, gStart := 0, 0, 0, 0
	for i < len(ws) && j < len(gs) {
		switch {
		case ws[i] == gs[j]:
			gap(wStart, i, gStart, j)
			i, j = i+1, j+1
			wStart, gStart = i, j
		case lcs[i+1][j] >= lcs[i][j+1]:
			i++
		default:
			j++
		}
	}
	gap(wStart, len(ws), gStart, len(gs))
}

// ResourceChange is how one resource of a Bundle differs from the same
// resource (same type and id) in another Bundle of the same message.
type ResourceChange struct {
	// Resource is the reference, e.g. "Patient/71bf…".
	Resource string
	// Kind is "added" (only in the new Bundle), "removed" (only in the old
	// one) or "changed".
	Kind string
	// Differences, for a changed resource, are its differing values by path
	// within the resource (e.g. `name[0].use`); Want is the old value, Got
	// the new one.
	Differences []Difference
}

// DiffBundles compares two Bundles made from one message (old, as the
// journal kept it, and new, as a mapping set makes it now) resource by
// resource, matching entries by resource type and id: so that a resource
// added or left out reads as that, not as every later entry changed. The
// changes come in the new Bundle's order, then the removed resources in the
// old one's; identical resources are left out.
func DiffBundles(old, new []byte) ([]ResourceChange, error) {
	o, err := bundleResources(old)
	if err != nil {
		return nil, fmt.Errorf("old bundle: %w", err)
	}
	n, err := bundleResources(new)
	if err != nil {
		return nil, fmt.Errorf("new bundle: %w", err)
	}
	oldByRef := make(map[string]any, len(o))
	for _, r := range o {
		oldByRef[r.ref] = r.body
	}
	var out []ResourceChange
	seen := make(map[string]bool, len(n))
	for _, r := range n {
		seen[r.ref] = true
		was, ok := oldByRef[r.ref]
		if !ok {
			out = append(out, ResourceChange{Resource: r.ref, Kind: "added"})
			continue
		}
		var diffs []Difference
		wasClears, nowClears := takeClearMarkers(was), takeClearMarkers(r.body)
		diffValue("", was, r.body, &diffs)
		diffs = append(diffs, diffClears(wasClears, nowClears)...)
		if len(diffs) > 0 {
			out = append(out, ResourceChange{Resource: r.ref, Kind: "changed", Differences: diffs})
		}
	}
	for _, r := range o {
		if !seen[r.ref] {
			out = append(out, ResourceChange{Resource: r.ref, Kind: "removed"})
		}
	}
	return out, nil
}

// clearMarker is one clear marker of a resource (a meta.extension with
// ClearExtensionURL): the selector of what it clears, and the extension as
// compact JSON.
type clearMarker struct{ selector, json string }

// takeClearMarkers removes res's clear markers from its meta, and
// meta.extension and meta when nothing else is left in them, and returns
// them. Compared as markers, not as meta.extension entries, a cleared
// element reads as what it is (`clears address`), not as an opaque
// `meta.extension[0]`. Map puts the markers after any extension a map
// writes in meta, so that the others keep their indices.
func takeClearMarkers(res any) []clearMarker {
	body, _ := res.(map[string]any)
	meta, _ := body["meta"].(map[string]any)
	exts, _ := meta["extension"].([]any)
	var out []clearMarker
	kept := exts[:0:0]
	for _, e := range exts {
		m, _ := e.(map[string]any)
		sel, ok := m["valueString"].(string)
		if !ok || m["url"] != ClearExtensionURL {
			kept = append(kept, e)
			continue
		}
		out = append(out, clearMarker{selector: sel, json: compactJSON(e)})
	}
	if len(out) == 0 {
		return nil
	}
	if len(kept) > 0 {
		meta["extension"] = kept
	} else {
		delete(meta, "extension")
	}
	if len(meta) == 0 {
		delete(body, "meta")
	}
	return out
}

// diffClears lists the elements now cleared that were not (`clears
// SELECTOR`, the marker as the new value), then those no longer cleared
// (`no longer clears SELECTOR`, the marker as the old value), each in its
// Bundle's order.
func diffClears(was, now []clearMarker) []Difference {
	has := func(ms []clearMarker, sel string) bool {
		return slices.ContainsFunc(ms, func(m clearMarker) bool { return m.selector == sel })
	}
	var out []Difference
	for _, m := range now {
		if !has(was, m.selector) {
			out = append(out, Difference{Path: "clears " + m.selector, Got: m.json})
		}
	}
	for _, m := range was {
		if !has(now, m.selector) {
			out = append(out, Difference{Path: "no longer clears " + m.selector, Want: m.json})
		}
	}
	return out
}

type bundleResource struct {
	ref  string // Type/id
	body any
}

// bundleResources lists a Bundle's entries' resources with their references.
func bundleResources(b []byte) ([]bundleResource, error) {
	if len(b) == 0 {
		return nil, nil
	}
	v, err := decodeJSON(b)
	if err != nil {
		return nil, err
	}
	bundle, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("not a JSON object")
	}
	entries, _ := bundle["entry"].([]any)
	out := make([]bundleResource, 0, len(entries))
	for i, e := range entries {
		entry, _ := e.(map[string]any)
		res, _ := entry["resource"].(map[string]any)
		typ, _ := res["resourceType"].(string)
		id, _ := res["id"].(string)
		if typ == "" || id == "" {
			return nil, fmt.Errorf("entry %d has no resource with a resourceType and an id", i)
		}
		out = append(out, bundleResource{ref: typ + "/" + id, body: res})
	}
	return out, nil
}
