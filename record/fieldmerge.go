package record

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	apb "github.com/google/fhir/go/proto/google/fhir/proto/annotations_go_proto"
	rpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/bundle_and_contained_resource_go_proto"
)

// ClearElementURL is the URL of the meta.extension an incoming resource
// carries, once per element, to clear stored elements (HL7 v2 ""): its
// valueString is a selector (see Selector).
const ClearElementURL = "https://carebridge.dev/fhir/StructureDefinition/clear-element"

// ClearedElementURL is the URL of the meta.extension that keeps, on a
// stored resource, what a message explicitly cleared (its clear markers'
// selectors, one per extension, sorted) until a message sets it again: an
// older message that arrives afterwards does not add it back (fillGaps).
const ClearedElementURL = "https://carebridge.dev/fhir/StructureDefinition/cleared-element"

// ErrUnknownResourceType is wrapped by MergeFields' error for a resource
// type that is not FHIR R4.
var ErrUnknownResourceType = errors.New("unknown FHIR R4 resource type")

// MergeFields returns the new content of a stored resource after an
// incoming version of it (from a message) is applied. Neither argument is
// modified, and the result shares no maps or slices with them. A nil stored
// means there is no stored version yet.
//
// The rules: an incoming resource updates the elements it carries, an
// element it leaves out stays as stored, and its clear markers (see
// ClearElementURL) remove stored elements first.
//
//   - The resource root, BackboneElements (such as Encounter.hospitalization
//     or Patient.contact entries) and Period are merged element by element;
//     every other complex datatype (CodeableConcept, Identifier, Address,
//     Reference, ...) is a value that the incoming one replaces whole.
//   - Setting one variant of a choice element (deceasedDateTime) removes the
//     other variants (deceasedBoolean).
//   - Lists merge by key where one makes sense; otherwise the incoming list
//     replaces the stored one. Stored order is kept and new entries are
//     appended in incoming order. Identifier: by system (without one: type
//     codes and value). ContactPoint: an entry with the same system and
//     value (phone digits, e-mail case-insensitive) is replaced in place;
//     other incoming entries replace the stored entries of their (system,
//     use), so a new home phone replaces the old one. HumanName by use,
//     Address by use and type, Extension by url, Reference by reference:
//     the incoming entries of a key replace the stored ones of that key.
//     Some BackboneElement lists are keyed and their entries merged element
//     by element: Encounter.location (location), participant (individual
//     and type), diagnosis (condition), statusHistory and classHistory
//     (status or class, and period.start), Appointment.participant (actor),
//     Patient.link (other), Account.coverage and guarantor, ChargeItem and
//     Procedure performer, Provenance.agent, Coverage.class (type),
//     PaymentReconciliation.detail (identifier). Incoming entries without a
//     key are appended unless already present.
//   - id and resourceType come from stored; so does meta (the store sets
//     versionId and lastUpdated), except that clear markers never persist.
//     (The record keeps what they cleared: see mergeKeepingCleared.)
//   - An empty incoming list or object counts as absent; an incoming JSON
//     null removes the element.
//
// Element kinds come from the FHIR R4 definitions in google/fhir/go.
// MergeFields is idempotent: merging the same incoming resource into its
// own result changes nothing (see Equal). Errors never quote resource
// values: they are patient data.
func MergeFields(resourceType string, stored, incoming map[string]any) (map[string]any, error) {
	root, err := resourceElems(resourceType)
	if err != nil {
		return nil, err
	}
	for _, r := range []struct {
		role string
		res  map[string]any
	}{{"stored", stored}, {"incoming", incoming}} {
		if t, ok := r.res["resourceType"]; ok && t != resourceType {
			return nil, fmt.Errorf("merging %s: %s resource has another resourceType", resourceType, r.role)
		}
	}
	clears, err := clearSelectors(resourceType, ClearSelectors(incoming))
	if err != nil {
		return nil, err
	}

	out := cloneJSONMap(stored)
	if out == nil {
		out = map[string]any{}
	}
	for _, sel := range clears {
		clearElements(out, sel.steps)
	}
	out = mergeElements(root, out, incoming, true)
	if stored == nil {
		for _, k := range []string{"resourceType", "id", "meta"} {
			if v, ok := incoming[k]; ok {
				out[k] = cloneJSON(v)
			}
		}
	}
	stripClearMarkers(out)
	return out, nil
}

// mergeKeepingCleared is MergeFields keeping on the result what incoming's
// clear markers cleared (ClearedElementURL), with what stored kept as
// cleared, until set again: how the record applies a message.
func mergeKeepingCleared(resourceType string, stored, incoming map[string]any) (map[string]any, error) {
	out, err := MergeFields(resourceType, stored, incoming)
	if err != nil {
		return nil, err
	}
	clears, err := clearSelectors(resourceType, ClearSelectors(incoming))
	if err != nil {
		return nil, err
	}
	if err := keepCleared(resourceType, out, clears); err != nil {
		return nil, err
	}
	return out, nil
}

// clearSelectors parses the selectors of clear markers of a resource of
// type resourceType ("Patient.address" means "address").
func clearSelectors(resourceType string, srcs []string) ([]*Selector, error) {
	var out []*Selector
	for _, src := range srcs {
		sel, err := ParseSelector(src)
		if err != nil {
			return nil, fmt.Errorf("merging %s: %w", resourceType, err)
		}
		if len(sel.steps) > 1 && sel.steps[0].name == resourceType {
			sel.steps = sel.steps[1:]
		}
		switch sel.steps[0].name {
		case "id", "resourceType", "meta":
			return nil, fmt.Errorf("merging %s: %w %q: %s cannot be cleared", resourceType, ErrBadSelector, src, sel.steps[0].name)
		}
		out = append(out, sel)
	}
	return out, nil
}

// clearedSelectors returns the selectors res keeps as cleared
// (ClearedElementURL), in order.
func clearedSelectors(resourceType string, res map[string]any) ([]*Selector, error) {
	return clearSelectors(resourceType, metaExtensionValues(res, ClearedElementURL))
}

// metaExtensionValues returns the valueStrings of res's meta.extension
// entries with the given URL, in order.
func metaExtensionValues(res map[string]any, url string) []string {
	meta, _ := res["meta"].(map[string]any)
	exts, _ := meta["extension"].([]any)
	var out []string
	for _, e := range exts {
		m, _ := e.(map[string]any)
		if m["url"] != url {
			continue
		}
		if s, ok := m["valueString"].(string); ok {
			out = append(out, s)
		}
	}
	return out
}

// keepCleared records on res (a merge's result) what is cleared now: the
// selectors it kept as cleared and those of the message's clear markers,
// but for those selecting something res has (set again since).
func keepCleared(resourceType string, res map[string]any, clears []*Selector) error {
	kept, err := clearedSelectors(resourceType, res)
	if err != nil {
		return err
	}
	var srcs []string
	for _, sel := range append(kept, clears...) {
		if !selectsAny(res, sel.steps) {
			srcs = append(srcs, sel.String())
		}
	}
	slices.Sort(srcs)
	srcs = slices.Compact(srcs)
	if slices.Equal(srcs, metaExtensionValues(res, ClearedElementURL)) {
		return nil // unchanged, and left where they are in meta
	}
	meta, _ := res["meta"].(map[string]any)
	if meta == nil {
		meta = map[string]any{}
		res["meta"] = meta
	}
	exts, _ := meta["extension"].([]any)
	exts = slices.DeleteFunc(slices.Clone(exts), func(e any) bool {
		m, _ := e.(map[string]any)
		return m["url"] == ClearedElementURL
	})
	for _, s := range srcs {
		exts = append(exts, map[string]any{"url": ClearedElementURL, "valueString": s})
	}
	setMetaExtensions(res, meta, exts)
	return nil
}

// setMetaExtensions sets res's meta.extension to exts, leaving out
// meta.extension, and meta, when they would be empty.
func setMetaExtensions(res, meta map[string]any, exts []any) {
	if len(exts) == 0 {
		delete(meta, "extension")
	} else {
		meta["extension"] = exts
	}
	if len(meta) == 0 {
		delete(res, "meta")
	}
}

// selectsAny reports whether steps (as in clearElements) select anything
// in m.
func selectsAny(m map[string]any, steps []selStep) bool {
	rest := steps[1:]
	var filters []selExpr
	for len(rest) > 0 && rest[0].where != nil {
		filters = append(filters, rest[0].where)
		rest = rest[1:]
	}
	match := func(item any) bool {
		if !matchesAll(filters, item) {
			return false
		}
		if len(rest) == 0 {
			return true
		}
		child, ok := item.(map[string]any)
		return ok && selectsAny(child, rest)
	}
	for _, k := range elementKeys(m, steps[0].name) {
		if l, ok := m[k].([]any); ok {
			if slices.ContainsFunc(l, match) {
				return true
			}
			continue
		}
		if match(m[k]) {
			return true
		}
	}
	return false
}

// ClearSelectors returns the selectors of res's clear markers
// (meta.extension entries with ClearElementURL), in order.
func ClearSelectors(res map[string]any) []string {
	return metaExtensionValues(res, ClearElementURL)
}

// Equal reports whether two resources have the same content, ignoring
// meta.versionId and meta.lastUpdated (which the store sets). Numbers
// compare by value whether float64 or json.Number.
func Equal(a, b map[string]any) bool {
	return jsonEqual(withoutVersion(a), withoutVersion(b))
}

// withoutVersion returns res with meta.versionId and meta.lastUpdated
// removed (copying only what it changes).
func withoutVersion(res map[string]any) map[string]any {
	meta, ok := res["meta"].(map[string]any)
	if !ok {
		return res
	}
	out := make(map[string]any, len(res))
	for k, v := range res {
		out[k] = v
	}
	m := make(map[string]any, len(meta))
	for k, v := range meta {
		if k != "versionId" && k != "lastUpdated" {
			m[k] = v
		}
	}
	if len(m) == 0 {
		delete(out, "meta")
	} else {
		out["meta"] = m
	}
	return out
}

// stripClearMarkers removes clear markers from res.meta.extension, and
// meta.extension and meta when left empty.
func stripClearMarkers(res map[string]any) {
	meta, ok := res["meta"].(map[string]any)
	if !ok {
		return
	}
	exts, _ := meta["extension"].([]any)
	setMetaExtensions(res, meta, slices.DeleteFunc(slices.Clone(exts), func(e any) bool {
		m, ok := e.(map[string]any)
		return ok && m["url"] == ClearElementURL
	}))
}

// clearElements removes from m what steps select: steps[0] is a name; where
// steps right after it filter the selected entries; the rest continues
// inside them. Containers left empty are removed.
func clearElements(m map[string]any, steps []selStep) {
	name := steps[0].name
	rest := steps[1:]
	var filters []selExpr
	for len(rest) > 0 && rest[0].where != nil {
		filters = append(filters, rest[0].where)
		rest = rest[1:]
	}
	for _, k := range elementKeys(m, name) {
		v := m[k]
		if len(rest) == 0 && len(filters) == 0 {
			delete(m, k)
			delete(m, "_"+k)
			continue
		}
		visit := func(item any) (remove bool) {
			if !matchesAll(filters, item) {
				return false
			}
			if len(rest) == 0 {
				return true
			}
			child, ok := item.(map[string]any)
			if !ok {
				return false
			}
			clearElements(child, rest)
			return len(child) == 0
		}
		if l, ok := v.([]any); ok {
			kept := l[:0:0]
			for _, item := range l {
				if !visit(item) {
					kept = append(kept, item)
				}
			}
			if len(kept) == 0 {
				delete(m, k)
				delete(m, "_"+k)
			} else if len(kept) != len(l) {
				m[k] = kept
			}
			continue
		}
		if visit(v) {
			delete(m, k)
			delete(m, "_"+k)
		}
	}
}

// mergeElements merges incoming into out (a private copy of the stored
// object, modified and returned) element by element.
func mergeElements(s *elemSchema, out, incoming map[string]any, root bool) map[string]any {
	keys := make([]string, 0, len(incoming))
	for k := range incoming {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := incoming[k]
		if root && (k == "id" || k == "resourceType" || k == "meta") {
			continue
		}
		if v == nil {
			delete(out, k)
			continue
		}
		if isEmptyJSON(v) {
			continue
		}
		el := s.element(k)
		if el != nil && el.choice != "" {
			for _, other := range s.variants[el.choice] {
				if other != k {
					delete(out, other)
					delete(out, "_"+other)
				}
			}
		}
		switch {
		case el == nil:
			out[k] = cloneJSON(v)
		case el.list:
			sl, sok := out[k].([]any)
			il, iok := v.([]any)
			if !sok || !iok {
				out[k] = cloneJSON(v)
				continue
			}
			out[k] = mergeListElement(s.path+"."+k, el, sl, il)
		case el.kind == elemMerged:
			sm, sok := out[k].(map[string]any)
			im, iok := v.(map[string]any)
			if !sok || !iok {
				out[k] = cloneJSON(v)
				continue
			}
			out[k] = mergeElements(el.children, sm, im, false)
		default:
			out[k] = cloneJSON(v)
		}
	}
	return out
}

func isEmptyJSON(v any) bool {
	switch v := v.(type) {
	case []any:
		return len(v) == 0
	case map[string]any:
		return len(v) == 0
	}
	return false
}

// listKeyFunc returns the key that identifies a list entry, and whether the
// entry has one.
type listKeyFunc func(entry map[string]any) (string, bool)

// backboneListKeys are the keys of BackboneElement lists whose entries are
// merged element by element (so that, say, a location's status changes
// without losing its period). A BackboneElement list not named here is
// replaced whole.
var backboneListKeys = map[string]listKeyFunc{
	"Encounter.location":           keyByPaths("location.reference"),
	"Encounter.participant":        keyByPaths("individual.reference", "type.coding.code"),
	"Encounter.diagnosis":          keyByPaths("condition.reference"),
	"Encounter.statusHistory":      keyByPaths("status", "period.start"),
	"Encounter.classHistory":       keyByPaths("class.system", "class.code", "period.start"),
	"Appointment.participant":      keyByPaths("actor.reference"),
	"Patient.link":                 keyByPaths("other.reference"),
	"Patient.communication":        keyByPaths("language.coding.code"),
	"RelatedPerson.communication":  keyByPaths("language.coding.code"),
	"Account.coverage":             keyByPaths("coverage.reference"),
	"Account.guarantor":            keyByPaths("party.reference"),
	"ChargeItem.performer":         keyByPaths("actor.reference", "function.coding.code"),
	"Procedure.performer":          keyByPaths("actor.reference", "function.coding.code"),
	"Provenance.agent":             keyByPaths("who.reference", "type.coding.code"),
	"Coverage.class":               keyByPaths("type.coding.code"),
	"PaymentReconciliation.detail": keyByPaths("identifier.system", "identifier.value"),
}

// valueListKeys are the keys of datatype lists, by datatype: the incoming
// entries with a key replace the stored entries with that key.
var valueListKeys = map[string]listKeyFunc{
	"Identifier": identifierListKey,
	"HumanName":  groupByPaths("use"),
	"Address":    groupByPaths("use", "type"),
	"Extension":  keyByPaths("url"),
	"Reference":  referenceListKey,
}

// keyByPaths builds a key from the values at simple dotted paths; an entry has
// a key when any of them has a value.
func keyByPaths(paths ...string) listKeyFunc {
	k := pathsKey(paths)
	return func(entry map[string]any) (string, bool) { return k(entry) }
}

// groupByPaths is keyByPaths where every entry has a key: absent components are part
// of it (a name without use is its own group).
func groupByPaths(paths ...string) listKeyFunc {
	k := pathsKey(paths)
	return func(entry map[string]any) (string, bool) {
		key, _ := k(entry)
		return key, true
	}
}

func pathsKey(paths []string) listKeyFunc {
	split := make([][]string, len(paths))
	for i, p := range paths {
		split[i] = strings.Split(p, ".")
	}
	return func(entry map[string]any) (string, bool) {
		var b strings.Builder
		found := false
		for i, names := range split {
			items := []any{entry}
			for _, n := range names {
				items = selectChildren(items, n)
			}
			if i > 0 {
				b.WriteByte(0)
			}
			for j, it := range items {
				if j > 0 {
					b.WriteByte(1)
				}
				fmt.Fprint(&b, it)
				found = true
			}
		}
		return b.String(), found
	}
}

// identifierListKey is the system, or for an identifier without one, its type
// codes and value.
func identifierListKey(id map[string]any) (string, bool) {
	if s, ok := id["system"].(string); ok && s != "" {
		return "s\x00" + s, true
	}
	k, ok := keyByPaths("type.coding.code", "value")(id)
	return "t\x00" + k, ok
}

// referenceListKey is the literal reference, else the logical one (identifier
// system and value).
func referenceListKey(ref map[string]any) (string, bool) {
	if r, ok := ref["reference"].(string); ok && r != "" {
		return "r\x00" + r, true
	}
	id, _ := ref["identifier"].(map[string]any)
	if v, ok := id["value"].(string); ok && v != "" {
		s, _ := id["system"].(string)
		return "i\x00" + s + "\x00" + v, true
	}
	return "", false
}

// mergeListElement merges an incoming list into a stored one (out, a private
// copy). path names the element ("Encounter.location").
func mergeListElement(path string, el *elemInfo, stored, incoming []any) []any {
	if el.kind == elemMerged {
		if key, ok := backboneListKeys[path]; ok {
			return mergeKeyedEntries(el.children, key, stored, incoming)
		}
		return cloneJSON(incoming).([]any)
	}
	if el.typeName == "ContactPoint" {
		return mergeTelecom(stored, incoming)
	}
	if key, ok := valueListKeys[el.typeName]; ok {
		if el.typeName == "HumanName" || el.typeName == "Address" {
			incoming = dropRestated(stored, incoming)
		}
		return replaceKeyedGroups(key, stored, incoming)
	}
	return cloneJSON(incoming).([]any)
}

// dropRestated leaves out of incoming names or addresses that say no use
// but are, use aside, one the resource has under a use: a sender that
// leaves XPN-7 or XAD-7 empty restates the official name or home address,
// it does not add a second one (keyed by use, it would be added beside it).
func dropRestated(stored, incoming []any) []any {
	out := incoming[:0:0]
	for _, e := range incoming {
		m, ok := e.(map[string]any)
		if ok && m["use"] == nil && slices.ContainsFunc(stored, func(s any) bool {
			sm, ok := s.(map[string]any)
			return ok && sm["use"] != nil && sameButUse(sm, m)
		}) {
			continue
		}
		out = append(out, e)
	}
	return out
}

// sameButUse reports whether two list entries are alike but for their use
// (a name without use and the official one).
func sameButUse(a, b any) bool {
	am, ok1 := a.(map[string]any)
	bm, ok2 := b.(map[string]any)
	return ok1 && ok2 && jsonEqual(withoutUse(am), withoutUse(bm))
}

// withoutUse is m without its use.
func withoutUse(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		if k != "use" {
			out[k] = v
		}
	}
	return out
}

// listEntryKey applies key to a list entry that is an object.
func listEntryKey(key listKeyFunc, e any) (string, bool) {
	m, ok := e.(map[string]any)
	if !ok {
		return "", false
	}
	return key(m)
}

// replaceKeyedGroups: the incoming entries of each key replace the stored
// entries of that key, where the first of those stood (or at the end); a
// key whose incoming entries are the stored ones, in the same order, leaves
// them where they stand (so that a list with entries of one key between
// another's, as a resource is first written, is not reordered by the same
// message again). Incoming entries without a key are appended unless
// already present.
func replaceKeyedGroups(key listKeyFunc, stored, incoming []any) []any {
	groups := map[string][]any{}
	var order []string
	var unkeyed []any
	for _, e := range incoming {
		k, ok := listEntryKey(key, e)
		if !ok {
			unkeyed = append(unkeyed, e)
			continue
		}
		if _, seen := groups[k]; !seen {
			order = append(order, k)
		}
		groups[k] = append(groups[k], e)
	}
	had := map[string][]any{}
	for _, e := range stored {
		if k, ok := listEntryKey(key, e); ok {
			had[k] = append(had[k], e)
		}
	}
	for k, g := range groups {
		if jsonEqual(had[k], g) {
			delete(groups, k) // the same: stays as stored
			order = slices.DeleteFunc(order, func(o string) bool { return o == k })
		}
	}
	out := make([]any, 0, len(stored)+len(incoming))
	placed := map[string]bool{}
	for _, e := range stored {
		k, ok := listEntryKey(key, e)
		if g, replaced := groups[k]; ok && replaced {
			if !placed[k] {
				out = append(out, cloneJSON(g).([]any)...)
				placed[k] = true
			}
			continue
		}
		out = append(out, e)
	}
	for _, k := range order {
		if !placed[k] {
			out = append(out, cloneJSON(groups[k]).([]any)...)
		}
	}
	return appendAbsentEntries(out, unkeyed)
}

// appendAbsentEntries appends the entries of add not already in out.
func appendAbsentEntries(out, add []any) []any {
	for _, e := range add {
		present := false
		for _, o := range out {
			if jsonEqual(o, e) {
				present = true
				break
			}
		}
		if !present {
			out = append(out, cloneJSON(e))
		}
	}
	return out
}

// mergeKeyedEntries merges each incoming entry element by element into the
// next stored entry with its key; entries without a stored partner are
// appended.
func mergeKeyedEntries(s *elemSchema, key listKeyFunc, stored, incoming []any) []any {
	out := stored
	used := make([]bool, len(stored))
	var added, unkeyed []any
	for _, e := range incoming {
		k, ok := listEntryKey(key, e)
		if !ok {
			unkeyed = append(unkeyed, e)
			continue
		}
		partner := -1
		for i, se := range stored {
			if sk, sok := listEntryKey(key, se); !used[i] && sok && sk == k {
				partner = i
				break
			}
		}
		if partner < 0 {
			added = append(added, cloneJSON(e))
			continue
		}
		used[partner] = true
		out[partner] = mergeElements(s, out[partner].(map[string]any), e.(map[string]any), false)
	}
	out = append(out, added...)
	return appendAbsentEntries(out, unkeyed)
}

// mergeTelecom merges ContactPoint lists: an incoming entry with the
// system and value of a stored one replaces it in place; the other
// incoming entries are new numbers or addresses, and replace the stored
// entries of their (system, use) group that no incoming entry matched (a
// new home phone replaces the old home phone). Other groups stay.
func mergeTelecom(stored, incoming []any) []any {
	replacedBy := make([]any, len(stored))
	newByGroup := map[string][]any{}
	var groupOrder []string
	for _, e := range incoming {
		m, ok := e.(map[string]any)
		if !ok {
			continue
		}
		if sv, ok := telecomValueKey(m); ok {
			partner := -1
			for i, se := range stored {
				sm, _ := se.(map[string]any)
				if sk, sok := telecomValueKey(sm); replacedBy[i] == nil && sok && sk == sv {
					partner = i
					break
				}
			}
			if partner >= 0 {
				replacedBy[partner] = cloneJSON(m)
				continue
			}
		}
		g := telecomGroup(m)
		if _, seen := newByGroup[g]; !seen {
			groupOrder = append(groupOrder, g)
		}
		newByGroup[g] = append(newByGroup[g], cloneJSON(m))
	}
	out := make([]any, 0, len(stored)+len(incoming))
	placed := map[string]bool{}
	for i, se := range stored {
		if replacedBy[i] != nil {
			out = append(out, replacedBy[i])
			continue
		}
		sm, _ := se.(map[string]any)
		g := telecomGroup(sm)
		if news, ok := newByGroup[g]; ok && sm != nil {
			if !placed[g] {
				out = append(out, news...)
				placed[g] = true
			}
			continue
		}
		out = append(out, se)
	}
	for _, g := range groupOrder {
		if !placed[g] {
			out = append(out, newByGroup[g]...)
		}
	}
	return out
}

// telecomValueKey is a ContactPoint's system and value, the value compared
// by digits for phone-like systems and case-insensitively for e-mail.
func telecomValueKey(cp map[string]any) (string, bool) {
	v, _ := cp["value"].(string)
	if v == "" {
		return "", false
	}
	sys, _ := cp["system"].(string)
	switch sys {
	case "phone", "fax", "sms", "pager":
		if d := asciiDigits(v); d != "" {
			v = d
		}
	case "email":
		v = strings.ToLower(strings.TrimSpace(v))
	}
	return sys + "\x00" + v, true
}

func telecomGroup(cp map[string]any) string {
	sys, _ := cp["system"].(string)
	use, _ := cp["use"].(string)
	return sys + "\x00" + use
}

func asciiDigits(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r >= '0' && r <= '9' {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// clone deep-copies decoded JSON.
func cloneJSON(v any) any {
	switch v := v.(type) {
	case map[string]any:
		return cloneJSONMap(v)
	case []any:
		out := make([]any, len(v))
		for i, x := range v {
			out[i] = cloneJSON(x)
		}
		return out
	}
	return v
}

func cloneJSONMap(m map[string]any) map[string]any {
	if m == nil {
		return nil
	}
	out := make(map[string]any, len(m))
	for k, x := range m {
		out[k] = cloneJSON(x)
	}
	return out
}

// Element kinds, derived from the FHIR R4 structure definitions.

type elemKind uint8

const (
	elemPrimitive elemKind = iota // a JSON string, number or boolean
	elemValue                     // a complex datatype or resource: replaced whole
	elemMerged                    // a BackboneElement or Period: merged element by element
)

// element describes one element of a resource, BackboneElement or
// datatype, by its JSON name.
type elemInfo struct {
	kind     elemKind
	list     bool
	typeName string      // the datatype ("Identifier"); for BackboneElements the message name
	children *elemSchema // the element's own elements, nil for primitives
	choice   string      // for a choice variant (deceasedBoolean), the element (deceased)
}

// schema describes the elements of one resource, BackboneElement or
// datatype.
type elemSchema struct {
	path     string // "Encounter", "Encounter.hospitalization", "Period"
	elems    map[string]*elemInfo
	variants map[string][]string // choice element → its variants' JSON names
}

// element returns the element named k (nil when unknown). "_birthDate"
// (a primitive's id and extensions) is unknown: it is replaced whole.
func (s *elemSchema) element(k string) *elemInfo {
	if s == nil {
		return nil
	}
	return s.elems[k]
}

// elemSchemas caches what the R4 descriptors say, built on first use of each
// resource type.
var elemSchemas = struct {
	sync.Mutex
	byMessage  map[protoreflect.FullName]*elemSchema
	byResource map[string]*elemSchema
	resources  map[string]protoreflect.MessageDescriptor
}{}

func resourceElems(resourceType string) (*elemSchema, error) {
	elemSchemas.Lock()
	defer elemSchemas.Unlock()
	if s, ok := elemSchemas.byResource[resourceType]; ok {
		return s, nil
	}
	if elemSchemas.resources == nil {
		elemSchemas.resources = map[string]protoreflect.MessageDescriptor{}
		elemSchemas.byMessage = map[protoreflect.FullName]*elemSchema{}
		elemSchemas.byResource = map[string]*elemSchema{}
		cd := (&rpb.ContainedResource{}).ProtoReflect().Descriptor()
		fields := cd.Oneofs().ByName("oneof_resource").Fields()
		for i := 0; i < fields.Len(); i++ {
			md := fields.Get(i).Message()
			elemSchemas.resources[string(md.Name())] = md
		}
	}
	md, ok := elemSchemas.resources[resourceType]
	if !ok {
		return nil, fmt.Errorf("merging %q: %w", resourceType, ErrUnknownResourceType)
	}
	s := buildElemSchema(md, resourceType)
	elemSchemas.byResource[resourceType] = s
	return s, nil
}

// buildElemSchema describes message md, reached at path; the caller holds
// elemSchemas' lock. Recursive structures (Questionnaire.item.item) share one
// schema.
func buildElemSchema(md protoreflect.MessageDescriptor, path string) *elemSchema {
	if s, ok := elemSchemas.byMessage[md.FullName()]; ok {
		return s
	}
	s := &elemSchema{path: path, elems: map[string]*elemInfo{}, variants: map[string][]string{}}
	elemSchemas.byMessage[md.FullName()] = s
	fields := md.Fields()
	for i := 0; i < fields.Len(); i++ {
		fd := fields.Get(i)
		name := fd.JSONName()
		fmd := fd.Message()
		if fmd == nil {
			s.elems[name] = &elemInfo{kind: elemPrimitive, list: fd.IsList()}
			continue
		}
		if isChoiceType(fmd) {
			members := fmd.Fields()
			for j := 0; j < members.Len(); j++ {
				mf := members.Get(j)
				if mf.Message() == nil {
					continue
				}
				variant := name + upperFirstASCII(mf.JSONName())
				el := describeElement(mf.Message(), path+"."+name)
				el.choice = name
				s.elems[variant] = el
				s.variants[name] = append(s.variants[name], variant)
			}
			continue
		}
		el := describeElement(fmd, path+"."+name)
		el.list = fd.IsList()
		s.elems[name] = el
	}
	return s
}

func describeElement(md protoreflect.MessageDescriptor, path string) *elemInfo {
	kind, _ := proto.GetExtension(md.Options(), apb.E_StructureDefinitionKind).(apb.StructureDefinitionKindValue)
	switch {
	case kind == apb.StructureDefinitionKindValue_KIND_PRIMITIVE_TYPE:
		return &elemInfo{kind: elemPrimitive, typeName: string(md.Name())}
	case kind == apb.StructureDefinitionKindValue_KIND_COMPLEX_TYPE:
		el := &elemInfo{kind: elemValue, typeName: string(md.Name())}
		if md.Name() == "Period" {
			el.kind = elemMerged
		}
		el.children = buildElemSchema(md, string(md.Name()))
		return el
	case isBackbone(md):
		return &elemInfo{kind: elemMerged, typeName: string(md.Name()), children: buildElemSchema(md, path)}
	}
	// Contained resources (google.protobuf.Any) and anything unforeseen.
	return &elemInfo{kind: elemValue, typeName: string(md.Name())}
}

// isBackbone reports whether md is a BackboneElement: a message defined
// inside a resource's message that is neither a code nor a choice.
func isBackbone(md protoreflect.MessageDescriptor) bool {
	_, nested := md.Parent().(protoreflect.MessageDescriptor)
	return nested && !isChoiceType(md)
}

func isChoiceType(md protoreflect.MessageDescriptor) bool {
	v, _ := proto.GetExtension(md.Options(), apb.E_IsChoiceType).(bool)
	return v
}

func upperFirstASCII(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
