package record

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// mergeEvents are the ADT triggers that merge two patient records.
var mergeEvents = map[string]bool{"A40": true, "A34": true, "A30": true}

// message plans the changes of one mapped message.
func (p *plan) message(ctx context.Context, m *Message) error {
	in := make([]Incoming, 0, len(m.Resources))
	for _, r := range m.Resources {
		if r.Type == "Provenance" {
			// The mapping's record of the message itself is not kept: every
			// version written carries the journal entry it came from (and
			// the entry keeps the Bundle with this Provenance). Stored, it
			// was a resource, a dozen search rows and a quarter of the
			// writer's work per message, saying nothing the versions don't.
			continue
		}
		body, err := normalize(r.Body)
		if err != nil {
			return fmt.Errorf("%s/%s: %w", r.Type, r.ID, err)
		}
		in = append(in, Incoming{Type: r.Type, ID: r.ID, Body: body})
	}
	// What the message's earlier mapping made, by resource (reprocessing).
	prev := make([]map[string]any, len(in))
	var gone []key
	if len(m.Previous) > 0 {
		before := map[key]map[string]any{}
		var order []key
		for _, r := range m.Previous {
			if r.Type == "Provenance" {
				continue
			}
			body, err := normalize(r.Body)
			if err != nil {
				return fmt.Errorf("earlier %s/%s: %w", r.Type, r.ID, err)
			}
			k := key{r.Type, r.ID}
			before[k] = body
			order = append(order, k)
		}
		for i, r := range in {
			k := key{r.Type, r.ID}
			prev[i] = before[k]
			delete(before, k)
		}
		for _, k := range order {
			if _, ok := before[k]; ok {
				gone = append(gone, k)
			}
		}
	}
	if m.Code == "ADT" && m.Event == "A37" {
		if err := p.unlinkMessage(ctx, in); err != nil {
			return err
		}
	}
	var merge *mergeRoles
	if m.Code == "ADT" && mergeEvents[m.Event] {
		merge = mergeRolesOf(in)
	}
	if merge != nil && merge.merged != "" {
		// The merged record first (by id, else by identifier), so that the
		// survivor's identity knows it.
		if err := p.resolveMerged(ctx, merge, in); err != nil {
			return err
		}
	}
	// Identity first: every reference to an incoming patient that turns out
	// to be a known one is redirected to it, and the resource remembers the
	// patient the message named (an unmerge gives it back to that record).
	redirected := map[string]bool{}
	named := make([]string, len(in)) // per resource: the patient the message named, when redirected
	var links []identityLink
	var withheld []withheldIDs
	for i := range in {
		if in[i].Type != "Patient" || (merge != nil && merge.merged == in[i].ID) {
			continue
		}
		p.sameAs = ""
		if merge != nil && merge.survivor == in[i].ID {
			// A known survivor that was itself merged is updated on its
			// final survivor, unless that is the record being merged
			// (merge then refuses the circular merge).
			s, err := p.get(ctx, key{"Patient", in[i].ID})
			if err != nil {
				return err
			}
			if s.current() != nil {
				final, err := p.finalSurvivor(ctx, in[i].ID)
				if err != nil {
					return err
				}
				if final == in[i].ID || final == merge.merged {
					continue
				}
			}
			// The record being merged is this patient as the message says:
			// its identifiers are not another patient's.
			if ms, err := p.get(ctx, key{"Patient", merge.merged}); err != nil {
				return err
			} else if ms.current() != nil {
				if p.sameAs, err = p.mergedInto(ctx, merge.merged); err != nil {
					return err
				}
			}
		}
		all := list(in[i].Body, "identifier")
		target, why, owner, held, err := p.resolvePatient(ctx, in[i])
		if err != nil {
			return err
		}
		if len(held) > 0 {
			withheld = append(withheld, withheldIDs{at: i, target: target, sameAs: p.sameAs, all: all, ids: held})
		}
		if target == in[i].ID {
			continue
		}
		if why != "" && target == p.sameAs {
			// A new survivor found to be the record it merges: no link,
			// the merge joins the two.
			p.note("identity", "Patient/"+in[i].ID, "the merge's survivor is the record it merges (Patient/%s): kept as a new record for the merge", target)
			continue
		}
		orig := in[i].ID
		from, to := "Patient/"+orig, "Patient/"+target
		// Each redirected resource is tagged with the record the message
		// named: it belongs to it, and undoing any merge or link on its way
		// brings it back.
		var moved []key
		for j := range in {
			if j == i {
				continue
			}
			if prev[j] != nil {
				rewriteRefs(prev[j], from, to)
			}
			if rewriteRefs(in[j].Body, from, to) && in[j].Type != "Patient" {
				named[j] = orig
				moved = append(moved, key{in[j].Type, in[j].ID})
			}
		}
		if why != "" {
			// Found to be a stored patient: the incoming record is kept,
			// with its own data, and linked to that one; its visit and the
			// rest go there (see plan.link).
			links = append(links, identityLink{kept: orig, survivor: target, why: why, moved: moved})
		}
		dest := cmp.Or(owner, target) // where the Patient's own data go
		if merge != nil && merge.survivor == orig {
			// A linked survivor is merged into as itself (see merge).
			merge.survivor = dest
		}
		if dest != orig {
			in[i].ID = dest
			in[i].Body["id"] = dest
			redirected[dest] = true
		}
	}
	p.sameAs = ""
	var encounters, appointments []*state
	accounts := map[string]bool{}
	visit := messageVisit(in)
	for i, r := range in {
		s, err := p.get(ctx, key{r.Type, r.ID})
		if err != nil {
			return err
		}
		if prev[i] != nil {
			if err := p.dropRemoved(ctx, s, prev[i], r.Body, m); err != nil {
				return err
			}
		}
		switch r.Type {
		case "Encounter":
			if err := p.encounter(ctx, s, r.Body, m); err != nil {
				return err
			}
			encounters = append(encounters, s)
		case "Patient":
			// Links are the record's to make (merge and link below, unmerge,
			// unlink): a mapped one is never written as it stands (on a
			// record the patient was found to be, it could name that record
			// itself). The rest is an update.
			delete(r.Body, "link")
			if merge != nil && r.ID == merge.merged {
				delete(r.Body, "active")
			}
			var ids []any
			if redirected[r.ID] {
				// Another record's identifiers join this one's: added,
				// never replacing one of the same system.
				ids = list(r.Body, "identifier")
				delete(r.Body, "identifier")
			}
			if err := p.update(ctx, s, r.Body, m); err != nil {
				return err
			}
			if len(ids) > 0 {
				p.addIdentifiers(s, ids, m)
			}
		case "ChargeItem", "PaymentReconciliation":
			if err := p.visitAccount(ctx, r, visit); err != nil {
				return err
			}
			if err := p.update(ctx, s, r.Body, m); err != nil {
				return err
			}
		case "Appointment":
			p.keepArrival(s, r.Body, m)
			if err := p.update(ctx, s, r.Body, m); err != nil {
				return err
			}
			appointments = append(appointments, s)
		default:
			if err := p.update(ctx, s, r.Body, m); err != nil {
				return err
			}
		}
		if r.Type != "Patient" {
			markNamed(s, named[i])
		}
		for _, a := range accountsOf(r.Type, s.current()) {
			accounts[a] = true
		}
	}
	// An identifier withheld because another patient's record had it is
	// looked at again as the message leaves the records: an A37 that gives
	// each of its patients back its own number takes it off the other one.
	for _, w := range withheld {
		if err := p.addWithheld(ctx, in[w.at].ID, w, redirected[in[w.at].ID], m); err != nil {
			return err
		}
	}
	for _, k := range gone {
		if s, err := p.get(ctx, k); err != nil {
			return err
		} else if s.current() != nil {
			// Not deleted: other messages may have made the same resource
			// without writing a version of it. A person decides.
			p.note("reprocess", k.ref(), "made by this message's earlier mapping, not by its mapping now: kept")
		}
	}
	for _, l := range links {
		if err := p.link(ctx, l.survivor, l.kept, m.Code+"^"+m.Event, l.why, l.moved); err != nil {
			return err
		}
	}
	if merge != nil && merge.merged != "" && merge.survivor != "" {
		if err := p.merge(ctx, merge.survivor, merge.merged, m.Code+"^"+m.Event); err != nil {
			return err
		}
	}
	for _, s := range encounters {
		if err := p.arrival(ctx, s, m); err != nil {
			return err
		}
	}
	for _, s := range appointments {
		if err := p.scheduledAfterArrival(ctx, s, encounters, m); err != nil {
			return err
		}
	}
	for _, s := range encounters {
		if err := p.billVisitItems(ctx, s, accounts); err != nil {
			return err
		}
	}
	for _, a := range sortedKeys(accounts) {
		if err := p.balance(ctx, a); err != nil {
			return err
		}
	}
	return nil
}

// dropRemoved takes out of a resource what the message's earlier mapping
// (prev) put there and its mapping now (in) no longer makes, when the
// message is processed again: an element in lacks goes if it is still what
// prev made it (in objects both have, element by element); of a list, the
// entries prev had and in has not go. Only where this message's earlier processing wrote a version of the
// resource, it is still the resource's latest event, and the element or
// entry was not there already before that version (an older message made
// it too); each removal is noted.
func (p *plan) dropRemoved(ctx context.Context, s *state, prev, in map[string]any, m *Message) error {
	cur := s.current()
	if cur == nil || m.JournalID == 0 || staleQuiet(s, m) {
		return nil
	}
	if _, dropped := withoutRemoved(s.typ, cur, prev, in, nil); len(dropped) == 0 {
		return nil
	}
	h, err := p.r.store.History(ctx, s.typ, s.id)
	if err != nil {
		return fmt.Errorf("history of %s: %w", s.ref(), err)
	}
	// h is newest first: the version before this message's first one.
	first := -1
	for i := len(h) - 1; i >= 0; i-- {
		if h[i].JournalID == m.JournalID {
			first = i
			break
		}
	}
	if first < 0 {
		return nil // the earlier processing wrote nothing here: what it made came from elsewhere too
	}
	var before map[string]any
	if first+1 < len(h) && !h[first+1].Deleted {
		if before, err = decode(h[first+1].Body); err != nil {
			return fmt.Errorf("read %s version %d: %w", s.ref(), h[first+1].Version, err)
		}
	}
	body, dropped := withoutRemoved(s.typ, cur, prev, in, before)
	if len(dropped) == 0 {
		return nil
	}
	stamp(body, m)
	p.set(s, body)
	p.note("reprocess", s.ref(), "removed what this message's earlier mapping made and its mapping now does not: %s", strings.Join(dropped, ", "))
	return nil
}

// withoutRemoved is cur without what prev made and in does not, and not
// already in before; dropped names what went. A Patient's link and active
// are left alone: merges and links own them.
func withoutRemoved(typ string, cur, prev, in, before map[string]any) (map[string]any, []string) {
	body := cloneJSONMap(cur)
	var dropped []string
	skip := map[string]bool{"resourceType": true, "id": true, "meta": true}
	if typ == "Patient" {
		skip["link"], skip["active"] = true, true
	}
	dropIn(body, prev, in, before, "", skip, &dropped)
	return body, dropped
}

// dropIn is withoutRemoved for one object: its elements, its lists'
// entries, and the elements of the objects both outputs have (a visit's
// hospitalization), named by their path.
func dropIn(body, prev, in, before map[string]any, path string, skip map[string]bool, dropped *[]string) {
	for _, k := range sortedKeys(prev) {
		if skip[k] {
			continue
		}
		pv, nv := prev[k], in[k]
		switch was := pv.(type) {
		case []any:
			stored, ok := body[k].([]any)
			if !ok {
				continue
			}
			now, _ := nv.([]any)
			had, _ := before[k].([]any)
			keep := slices.DeleteFunc(slices.Clone(stored), func(e any) bool {
				return containsValue(was, e) && !containsValue(now, e) && !containsValue(had, e)
			})
			if len(keep) == len(stored) {
				continue
			}
			*dropped = append(*dropped, fmt.Sprintf("%s%s (%d of %d)", path, k, len(stored)-len(keep), len(stored)))
			if len(keep) == 0 {
				delete(body, k)
			} else {
				body[k] = keep
			}
			continue
		case map[string]any:
			stored, ok := body[k].(map[string]any)
			now, still := nv.(map[string]any)
			if ok && still {
				had, _ := before[k].(map[string]any)
				dropIn(stored, was, now, had, path+k+".", nil, dropped)
				if len(stored) == 0 {
					delete(body, k)
				}
				continue
			}
		}
		if _, still := in[k]; still || !reflect.DeepEqual(body[k], pv) {
			continue
		}
		switch bv, had := before[k]; {
		case !had:
			delete(body, k)
			*dropped = append(*dropped, path+k)
		case !reflect.DeepEqual(bv, pv):
			// An older message had recorded another value: it is back.
			body[k] = bv
			*dropped = append(*dropped, path+k+" (the earlier value restored)")
		}
	}
}

// identityLink is an incoming patient found to be a stored one: its record
// is kept (made from the message) and linked to that one.
type identityLink struct {
	kept, survivor string
	why            string // the decision, e.g. "identity link: a shared identifier"
	moved          []key  // the message's resources that named it, now on the survivor
}

// markNamed records on a resource this message wrote which patient the
// message named when that patient was redirected to another record (a
// merged or linked one), and clears it when the message named the record
// the resource is on.
func markNamed(s *state, patient string) {
	if s.body == nil || referenceData[s.typ] {
		return
	}
	meta := obj(s.body, "meta")
	had := slices.ContainsFunc(list(meta, "tag"), func(e any) bool {
		x, _ := e.(map[string]any)
		return str(x, "system") == NamedPatientSystem
	})
	if patient == "" && !had {
		return
	}
	setNamed(s.body, patient)
}

// setNamed sets (or with "" removes) the named-patient tag of a resource.
func setNamed(body map[string]any, patient string) { setTag(body, NamedPatientSystem, patient) }

// namedPatient is the patient a resource's last message named, when that
// was not the record it is on ("" otherwise).
func namedPatient(body map[string]any) string { return tagOf(body, NamedPatientSystem) }

// setTag sets a resource's one meta.tag of a system to code ("" removes it).
func setTag(body map[string]any, system, code string) {
	meta := obj(body, "meta")
	if meta == nil {
		meta = map[string]any{}
		body["meta"] = meta
	}
	tags := slices.DeleteFunc(slices.Clone(list(meta, "tag")), func(e any) bool {
		x, _ := e.(map[string]any)
		return str(x, "system") == system
	})
	if code != "" {
		tags = append(tags, map[string]any{"system": system, "code": code})
	}
	setMetaList(body, meta, "tag", tags)
}

// setMetaList sets meta's list k (an empty one removes it, and an empty
// meta goes from the resource).
func setMetaList(body, meta map[string]any, k string, l []any) {
	if len(l) == 0 {
		delete(meta, k)
	} else {
		meta[k] = l
	}
	if len(meta) == 0 {
		delete(body, "meta")
	}
}

// tagOf is the code of a resource's meta.tag of a system, "" when none.
func tagOf(body map[string]any, system string) string {
	for _, t := range list(obj(body, "meta"), "tag") {
		x, _ := t.(map[string]any)
		if str(x, "system") == system {
			return str(x, "code")
		}
	}
	return ""
}

// visitAccount puts a charge or payment that names no Account on the
// Account of its visit (a DFT without PID-18 bills the visit the ADT
// opened the account for). A charge's visit is its context; a
// PaymentReconciliation has no element for a visit, so a payment's is the
// message's visit (visit: the DFT's PV1), and its Account goes in the
// AccountURL extension, as the mapping puts the one PID-18 names.
func (p *plan) visitAccount(ctx context.Context, r Incoming, visit string) error {
	if len(accountsOf(r.Type, r.Body)) > 0 {
		return nil
	}
	if r.Type == "ChargeItem" {
		visit = str(obj(r.Body, "context"), "reference")
	}
	k, ok := parseRef(visit)
	if !ok || k.typ != "Encounter" {
		return nil
	}
	enc, err := p.get(ctx, k)
	if err != nil {
		return err
	}
	var accounts []string
	if enc.current() != nil {
		accounts = encounterAccounts(enc.current())
	}
	if len(accounts) == 0 {
		// Unless the message that gives the visit its Account commits
		// first, and then its billVisitItems did not see this item: then
		// this plan starts over and finds the Account.
		enc.checked = true
		if r.Type == "PaymentReconciliation" {
			// A charge finds its way to the Account the visit gets later by
			// its context; a payment by this (see billVisitItems).
			r.Body["extension"] = append(list(r.Body, "extension"), map[string]any{"url": VisitURL, "valueReference": map[string]any{"reference": k.ref()}})
		}
		return nil
	}
	billTo(r.Type, r.Body, accounts)
	return nil
}

// encounterAccounts lists the Accounts a visit names.
func encounterAccounts(enc map[string]any) []string {
	var accounts []string
	for _, a := range list(enc, "account") {
		if ref := str(a.(map[string]any), "reference"); ref != "" {
			accounts = append(accounts, ref)
		}
	}
	return accounts
}

// billTo puts a charge or payment (body, of type typ) on accounts.
func billTo(typ string, body map[string]any, accounts []string) {
	switch typ {
	case "ChargeItem":
		refs := make([]any, 0, len(accounts))
		for _, ref := range accounts {
			refs = append(refs, map[string]any{"reference": ref})
		}
		body["account"] = refs
	case "PaymentReconciliation":
		exts := list(body, "extension")
		for _, ref := range accounts {
			exts = append(exts, map[string]any{"url": AccountURL, "valueReference": map[string]any{"reference": ref}})
		}
		body["extension"] = exts
	}
}

// messageVisit is the reference to the one Encounter a message carries
// ("" when it carries none or several): the visit of a DFT's PV1, which
// its payments are for.
func messageVisit(in []Incoming) string {
	visit := ""
	for _, r := range in {
		if r.Type != "Encounter" {
			continue
		}
		if visit != "" {
			return ""
		}
		visit = "Encounter/" + r.ID
	}
	return visit
}

// withheldIDs are the identifiers withheld from an incoming patient because
// another patient's record had them (see plan.withholdOthersIdentifiers).
type withheldIDs struct {
	at             int    // the incoming Patient
	target, sameAs string // the patient it was found to be, and the record a merge message's survivor merges
	all, ids       []any  // its identifiers as the message has them, and those withheld
}

// addWithheld adds to a patient's record (id, where its data went; joined:
// another record's, whose identifiers join it) those of its message's
// identifiers withheld at first that no other patient's record has now that
// the message's patients are updated; the others are noted. Deciding on the
// records as the message leaves them makes the message's second
// application decide the same.
func (p *plan) addWithheld(ctx context.Context, id string, w withheldIDs, joined bool, m *Message) error {
	others, err := p.othersIdentifiers(ctx, w.ids, w.target, w.sameAs)
	if err != nil {
		return err
	}
	var still, add []any
	for i, x := range w.ids {
		if who, ok := others[i]; ok {
			p.note("identity", "Patient/"+w.target, "an identifier of this message belongs to Patient/%s: not added", who)
			still = append(still, x)
		} else {
			add = append(add, x)
		}
	}
	if len(add) == 0 {
		return nil
	}
	s, err := p.get(ctx, key{"Patient", id})
	if err != nil {
		return err
	}
	if joined {
		p.addIdentifiers(s, add, m)
		return nil
	}
	if staleQuiet(s, m) {
		return nil // not applied, and noted
	}
	// The record's own identifiers: as the message has them (same system
	// replaced), without those still another's.
	ids := slices.DeleteFunc(slices.Clone(w.all), func(x any) bool { return containsValue(still, x) })
	return p.update(ctx, s, map[string]any{"identifier": ids}, m)
}

// addIdentifiers adds to a patient the identifiers it lacks (same system
// and value), keeping every one it has.
func (p *plan) addIdentifiers(s *state, ids []any, m *Message) {
	cur := s.current()
	if cur == nil || staleQuiet(s, m) {
		return
	}
	have := map[string]bool{}
	for _, id := range list(cur, "identifier") {
		x, _ := id.(map[string]any)
		have[str(x, "system")+"|"+str(x, "value")] = true
	}
	var add []any
	for _, id := range ids {
		x, _ := id.(map[string]any)
		k := str(x, "system") + "|" + str(x, "value")
		if str(x, "value") == "" || have[k] {
			continue
		}
		have[k] = true
		add = append(add, cloneJSON(x))
	}
	if len(add) == 0 {
		return
	}
	body := cloneJSONMap(cur)
	body["identifier"] = append(list(body, "identifier"), add...)
	stamp(body, m)
	p.set(s, body)
}

// normalize copies a mapped resource into the form stored resources are
// read in (what encoding/json makes of its JSON: numbers as json.Number,
// invalid UTF-8 replaced), so that comparing them compares values. Maps,
// lists, strings and json.Number are copied directly; anything else goes
// through JSON.
func normalize(body map[string]any) (map[string]any, error) {
	v, err := normalizeValue(body)
	if err != nil {
		return nil, err
	}
	m, _ := v.(map[string]any)
	return m, nil
}

func normalizeValue(v any) (any, error) {
	switch x := v.(type) {
	case map[string]any:
		if x == nil {
			return nil, nil // JSON null
		}
		out := make(map[string]any, len(x))
		for k, e := range x {
			n, err := normalizeValue(e)
			if err != nil {
				return nil, err
			}
			out[validUTF8(k)] = n
		}
		return out, nil
	case []any:
		if x == nil {
			return nil, nil // JSON null
		}
		out := make([]any, len(x))
		for i, e := range x {
			n, err := normalizeValue(e)
			if err != nil {
				return nil, err
			}
			out[i] = n
		}
		return out, nil
	case string:
		return validUTF8(x), nil
	case bool, nil:
		return x, nil
	case json.Number:
		if _, err := json.Marshal(x); err != nil { // not a JSON number
			return nil, err
		}
		return x, nil
	default:
		b, err := json.Marshal(x)
		if err != nil {
			return nil, err
		}
		d := json.NewDecoder(bytes.NewReader(b))
		d.UseNumber()
		var out any
		if err := d.Decode(&out); err != nil {
			return nil, err
		}
		return out, nil
	}
}

// validUTF8 replaces each byte of s that is not valid UTF-8 with U+FFFD, as
// encoding/json does.
func validUTF8(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b.WriteString("\uFFFD")
		} else {
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

// update applies an incoming resource to s field by field. An event older
// than the one that last changed the stored resource changes nothing and is
// noted.
func (p *plan) update(ctx context.Context, s *state, in map[string]any, m *Message) error {
	cur := s.current()
	if cur == nil {
		body, err := mergeKeepingCleared(s.typ, map[string]any{"resourceType": s.typ, "id": s.id}, in)
		if err != nil {
			return fmt.Errorf("%s: %w", s.ref(), err)
		}
		stamp(body, m)
		p.set(s, body)
		return nil
	}
	if p.stale(s, m) {
		return p.fillGaps(ctx, s, in, m)
	}
	merged, err := mergeKeepingCleared(s.typ, cur, in)
	if err != nil {
		return fmt.Errorf("%s: %w", s.ref(), err)
	}
	if Equal(cur, merged) {
		p.confirm(s, m)
		return nil
	}
	stamp(merged, m)
	p.set(s, merged)
	return nil
}

// confirm records that m, newer than the event that last changed s, found
// s as it already was: s is marked with m's event (fhirstore.Read.Mark),
// without a new version, so that an event older than m that arrives later
// does not overwrite what m said. Reference data are not marked (see
// stale).
func (p *plan) confirm(s *state, m *Message) {
	if s.stored == nil || s.typ == "Provenance" || referenceData[s.typ] || m.EventTime.IsZero() || m.JournalID == 0 {
		return
	}
	// Only a later time: of events at the same time, the one received
	// later counts as newer already (staleQuiet), and a message sent
	// twice marks nothing.
	if at, _ := lastEvent(s); m.EventTime.After(at) {
		s.confirm = eventMark{at: m.EventTime, journal: m.JournalID}
	}
}

// referenceData are the types shared by many patients' messages.
var referenceData = map[string]bool{"Practitioner": true, "PractitionerRole": true, "Location": true, "Organization": true}

// stale reports (and notes) that m is older than the event that last changed
// s: it must not overwrite newer data.
func (p *plan) stale(s *state, m *Message) bool {
	if s.typ == "Provenance" || !staleQuiet(s, m) {
		return false
	}
	if referenceData[s.typ] {
		// Shared by every patient's messages, which come in no order
		// across patients: skipped as stale, not worth a note each time.
		return true
	}
	last, journal := lastEvent(s)
	said := "last changed " + s.ref()
	if s.marked.newer(eventTimeOf(s.current()), s.journal) {
		said = "found " + s.ref() + " as it is"
	}
	if m.EventTime.Equal(last) {
		p.note("out-of-order", s.ref(), "event %s of %s was received before the message (journal entry %d) of the same time that %s: what it changes is not applied",
			m.Event, m.EventTime.UTC().Format(time.RFC3339), journal, said)
		return true
	}
	p.note("out-of-order", s.ref(), "event %s of %s is older than the event %s that %s: what it changes is not applied",
		m.Event, m.EventTime.UTC().Format(time.RFC3339), last.UTC().Format(time.RFC3339), said)
	return true
}

// fillGaps adds to s, which an event newer than m last changed, the
// elements of m's resource (in) that the record never had: newer data are
// never overwritten, but what only the older event says is not lost (the
// admission's period, class and account when a DFT for the visit came
// first; an address only the older registration gave), and the entries of
// keyed lists under keys it never had (the NHS number, the maiden name).
// An element, or a key, any version had is left alone: a newer event may
// have cleared it. Reference data are left as they are (see stale).
func (p *plan) fillGaps(ctx context.Context, s *state, in map[string]any, m *Message) error {
	if referenceData[s.typ] || s.typ == "Provenance" {
		return nil
	}
	cur := s.current()
	elems, err := resourceElems(s.typ)
	if err != nil {
		return err
	}
	// The forms of a choice element (deceasedBoolean, deceasedDateTime)
	// are one element: one form is no gap where another is said.
	said := func(body map[string]any, k string) bool {
		if el := elems.element(k); el != nil && el.choice != "" {
			return slices.ContainsFunc(elems.variants[el.choice], func(v string) bool { return knownElement(s.typ, v, body[v]) })
		}
		return knownElement(s.typ, k, body[k])
	}
	// Gaps are the elements never said, and, of the lists merged by key
	// (identifiers by system, names by use, addresses by use and type,
	// extensions by URL), the entries of keys never had: the national
	// number or the maiden name only the older admission gave.
	var gaps []string
	entries := map[string]*keyGaps{} // by list element
	for k, v := range in {
		if k == "resourceType" || k == "id" || k == "meta" || !knownElement(s.typ, k, v) {
			continue
		}
		if !said(cur, k) {
			gaps = append(gaps, k)
			continue
		}
		key := gapListKey(elems.element(k))
		if key == nil {
			continue
		}
		for _, e := range list(in, k) {
			if ek, ok := listEntryKey(key, e); ok && !hasEntryKey(key, list(cur, k), ek) {
				if entries[k] == nil {
					entries[k] = &keyGaps{key: key, keys: map[string]bool{}}
				}
				entries[k].keys[ek] = true
			}
		}
	}
	if len(gaps) == 0 && len(entries) == 0 {
		return nil
	}
	h, err := p.r.store.History(ctx, s.typ, s.id)
	if err != nil {
		return fmt.Errorf("history of %s: %w", s.ref(), err)
	}
	for _, v := range h {
		if v.Deleted {
			continue
		}
		body, err := decode(v.Body)
		if err != nil {
			return fmt.Errorf("read %s version %d: %w", s.ref(), v.Version, err)
		}
		gaps = slices.DeleteFunc(gaps, func(k string) bool { return said(body, k) })
		for k, g := range entries {
			for ek := range g.keys {
				if hasEntryKey(g.key, list(body, k), ek) {
					delete(g.keys, ek)
				}
			}
		}
	}
	// What a newer message cleared (HL7 "") the older one does not add:
	// applied in order, the clear would have removed it.
	cleared, err := clearedSelectors(s.typ, cur)
	if err != nil {
		return fmt.Errorf("%s: %w", s.ref(), err)
	}
	var refused []string
	uncleared := func(k string, v any) (any, bool) {
		add := map[string]any{k: v}
		for _, sel := range cleared {
			if !selectsAny(add, sel.steps) {
				continue
			}
			// (Tested before clearing: clearElements changes nested
			// objects of v in place, so a comparison after it sees none.)
			if !slices.Contains(refused, k) {
				refused = append(refused, k)
			}
			clearElements(add, sel.steps)
		}
		v, ok := add[k]
		return v, ok
	}
	body := cloneJSONMap(cur)
	var added []string
	for _, k := range gaps {
		if v, ok := uncleared(k, cloneJSON(in[k])); ok {
			body[k] = v
			added = append(added, k)
		}
	}
	for _, k := range sortedKeys(entries) {
		g := entries[k]
		had := list(body, k)
		n := 0
		for _, e := range list(in, k) { // in the message's order
			ek, ok := listEntryKey(g.key, e)
			if !ok || !g.keys[ek] || slices.ContainsFunc(had, func(h any) bool { return sameButUse(h, e) }) {
				continue
			}
			if v, ok := uncleared(k, []any{cloneJSON(e)}); ok {
				had = append(had, list(map[string]any{k: v}, k)...)
				n++
			}
		}
		if n > 0 {
			body[k] = had
			added = append(added, fmt.Sprintf("%s (%d %s)", k, n, plural(n, "entry", "entries")))
		}
	}
	slices.Sort(refused)
	if len(refused) > 0 {
		p.note("out-of-order", s.ref(), "%s %s did not add to %s what a newer message cleared: %s", m.Code, m.Event, s.ref(), strings.Join(refused, ", "))
	}
	if len(added) == 0 {
		return nil
	}
	slices.Sort(added)
	p.set(s, body)
	p.note("out-of-order", s.ref(), "%s %s added what %s never had: %s", m.Code, m.Event, s.ref(), strings.Join(added, ", "))
	return nil
}

// keyGaps are the keys of a keyed list's entries that an older event
// brings and the resource never had (fillGaps).
type keyGaps struct {
	key  listKeyFunc
	keys map[string]bool
}

// gapListKey is the key of a list element whose entries an older event may
// add (fillGaps), nil for other elements: references (a GP, a patient's
// accounts) say what holds now, and an older one is not added beside it.
// Contact points count by system and use, the group a newer one replaces
// (mergeTelecom): an older message's mobile number is added beside the
// newer home phone, as it would have stayed beside it in event order.
func gapListKey(el *elemInfo) listKeyFunc {
	if el == nil || !el.list || el.typeName == "Reference" {
		return nil
	}
	if el.typeName == "ContactPoint" {
		return telecomGapKey
	}
	return valueListKeys[el.typeName]
}

// telecomGapKey is a contact point's system and use (absent ones are part
// of the key: a number without a use is its own group).
var telecomGapKey = groupByPaths("system", "use")

// hasEntryKey reports whether an entry of list has the key k.
func hasEntryKey(key listKeyFunc, l []any, k string) bool {
	return slices.ContainsFunc(l, func(e any) bool {
		ek, ok := listEntryKey(key, e)
		return ok && ek == k
	})
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// knownElement reports whether v, element k of a resource of type typ,
// says something: an Encounter's status "unknown" (what a DFT's or an
// update's visit carries) does not.
func knownElement(typ, k string, v any) bool {
	switch x := v.(type) {
	case nil:
		return false
	case string:
		return x != "" && !(typ == "Encounter" && k == "status" && x == "unknown")
	case []any:
		return len(x) > 0
	case map[string]any:
		return len(x) > 0
	}
	return true
}

// staleQuiet is stale without the note (also for a second look at the
// same resource in one message).
func staleQuiet(s *state, m *Message) bool {
	if m.EventTime.IsZero() {
		return false
	}
	if s.marked.newer(eventTimeOf(s.current()), s.journal) {
		// A newer event found the resource as it is (confirm).
		return m.EventTime.Before(s.marked.at) || (m.EventTime.Equal(s.marked.at) && m.JournalID != 0 && s.marked.journal > m.JournalID)
	}
	last := eventTimeOf(s.current())
	if last.IsZero() {
		return false
	}
	if m.EventTime.Equal(last) {
		// Of two events at the same time, the one received later is the
		// newer: so a message processed again after a later one of the
		// same second (messages reprocess) does not take back what that
		// one changed, and doing it twice changes nothing more.
		return s.body == nil && m.JournalID != 0 && s.journal > m.JournalID
	}
	return m.EventTime.Before(last)
}

// lastEvent is the newest event known to have said what s holds: the one
// that last changed it (its time stamped on the resource, its journal
// entry the version's) or a newer one that found it so (its mark).
func lastEvent(s *state) (time.Time, int64) {
	at, journal := eventTimeOf(s.current()), s.journal
	if s.marked.newer(at, journal) {
		return s.marked.at, s.marked.journal
	}
	return at, journal
}

// eventMark is an event that found a resource as it already was (the mark
// confirm sets): its time and journal entry, as "TIME@ENTRY".
type eventMark struct {
	at      time.Time
	journal int64
}

func (e eventMark) String() string {
	if e.at.IsZero() {
		return ""
	}
	return e.at.UTC().Format(time.RFC3339Nano) + "@" + strconv.FormatInt(e.journal, 10)
}

// parseMark reads a mark; one it cannot read (none, or not the record's)
// is zero.
func parseMark(s string) eventMark {
	at, entry, ok := strings.Cut(s, "@")
	if !ok {
		return eventMark{}
	}
	t, err := time.Parse(time.RFC3339Nano, at)
	j, jerr := strconv.ParseInt(entry, 10, 64)
	if err != nil || jerr != nil {
		return eventMark{}
	}
	return eventMark{at: t, journal: j}
}

// newer reports whether e is a later event than the one at the given time
// and journal entry (of two at the same time, the one received later).
func (e eventMark) newer(at time.Time, journal int64) bool {
	if e.at.IsZero() {
		return false
	}
	return e.at.After(at) || (e.at.Equal(at) && e.journal > journal)
}

// stamp records on a resource's meta the event that changed it.
func stamp(body map[string]any, m *Message) {
	meta := obj(body, "meta")
	if meta == nil {
		meta = map[string]any{}
		body["meta"] = meta
	}
	if !m.EventTime.IsZero() {
		exts := slices.DeleteFunc(slices.Clone(list(meta, "extension")), func(e any) bool {
			x, _ := e.(map[string]any)
			return str(x, "url") == EventTimeURL
		})
		meta["extension"] = append(exts, map[string]any{"url": EventTimeURL, "valueDateTime": m.EventTime.UTC().Format(time.RFC3339Nano)})
	}
	if m.Event != "" {
		tagEvent(body, m.Code+"^"+m.Event)
	}
}

// eventTimeOf is the event time stamped on a resource, zero when none.
func eventTimeOf(body map[string]any) time.Time {
	for _, e := range list(obj(body, "meta"), "extension") {
		x, _ := e.(map[string]any)
		if str(x, "url") == EventTimeURL {
			t, err := time.Parse(time.RFC3339Nano, str(x, "valueDateTime"))
			if err == nil {
				return t
			}
		}
	}
	return time.Time{}
}

// eventOf is the trigger event stamped on a resource ("ADT^A02"), "" when none.
func eventOf(body map[string]any) string { return tagOf(body, EventSystem) }

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// keepArrival keeps an Appointment arrived or fulfilled (what the ADT said
// happened) when a schedule message repeats an earlier state of the
// booking (booked, pending, proposed, waitlist: an S14 modify after the
// patient arrived). An explicit cancel, no-show or entered-in-error still
// applies.
func (p *plan) keepArrival(s *state, in map[string]any, m *Message) {
	cur := s.current()
	if m.Code != "SIU" || cur == nil {
		return
	}
	switch str(cur, "status") {
	case "arrived", "fulfilled":
	default:
		return
	}
	switch str(in, "status") {
	case "booked", "pending", "proposed", "waitlist":
		p.note("appointment", s.ref(), "%s %s: the appointment is %s; the schedule's status %s is not applied to it", m.Code, m.Event, str(cur, "status"), str(in, "status"))
		delete(in, "status")
	}
}
