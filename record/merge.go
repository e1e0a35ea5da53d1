package record

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/carebridge/carebridge/fhirstore"
	"github.com/carebridge/carebridge/mappings"
)

// repointed lists the resource types a merge moves from the merged patient
// to the survivor, each found by its "patient" search parameter.
// Provenance is history and stays as it was.
var repointed = []string{
	"Encounter", "Appointment", "ChargeItem", "Account", "Task", "Communication", "CommunicationRequest",
	"Condition", "AllergyIntolerance", "Procedure", "Coverage", "RelatedPerson",
}

// mergeRoles are the two patients of a merge message.
type mergeRoles struct{ survivor, merged string }

// mergeRolesOf finds in a merge message's resources the survivor (the
// Patient that "replaces") and the merged record (the one "replaced-by").
func mergeRolesOf(in []Incoming) *mergeRoles {
	m := &mergeRoles{}
	for _, r := range in {
		if r.Type != "Patient" {
			continue
		}
		for _, l := range list(r.Body, "link") {
			switch str(l.(map[string]any), "type") {
			case "replaces":
				m.survivor = r.ID
			case "replaced-by":
				m.merged = r.ID
			}
		}
	}
	if m.survivor == "" {
		for _, r := range in {
			if r.Type == "Patient" && r.ID != m.merged {
				m.survivor = r.ID
				break
			}
		}
	}
	return m
}

// mergeGroups splits a merge message that merges several pairs of records
// (an A40 may repeat its patient group: PID and MRG, PID and MRG) into one
// message per pair, applied one after another in one change set: each pair
// is a merge of its own. A resource goes with the pair whose patients it
// refers to, else with the first; so does its earlier mapping when the
// message is processed again. Any other message is itself.
func (m *Message) mergeGroups() []*Message {
	if m.Code != "ADT" || !mergeEvents[m.Event] {
		return []*Message{m}
	}
	// The merged records, in message order, and the survivor each names.
	var pairs [][2]string
	for _, r := range m.Resources {
		if r.Type != "Patient" {
			continue
		}
		if survivor, kind := forwardLink(r.Body); kind == "replaced-by" {
			pairs = append(pairs, [2]string{r.ID, survivor})
		}
	}
	if len(pairs) < 2 {
		return []*Message{m}
	}
	groupOf := func(typ, id string, body map[string]any) int {
		for i, pr := range pairs {
			if typ == "Patient" && (id == pr[0] || id == pr[1]) {
				return i
			}
		}
		for i, pr := range pairs {
			if refersTo(body, "Patient/"+pr[0]) || refersTo(body, "Patient/"+pr[1]) {
				return i
			}
		}
		return 0
	}
	out := make([]*Message, len(pairs))
	for i := range out {
		g := *m
		g.Resources, g.Previous = nil, nil
		out[i] = &g
	}
	for _, r := range m.Resources {
		g := out[groupOf(r.Type, r.ID, r.Body)]
		g.Resources = append(g.Resources, r)
	}
	for _, r := range m.Previous {
		g := out[groupOf(r.Type, r.ID, r.Body)]
		g.Previous = append(g.Previous, r)
	}
	return out
}

// refersTo reports whether v holds a reference to ref.
func refersTo(v any, ref string) bool {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			if k == "reference" && e == ref || refersTo(e, ref) {
				return true
			}
		}
	case []any:
		for _, e := range x {
			if refersTo(e, ref) {
				return true
			}
		}
	}
	return false
}

// resolveMerged finds the stored record of a merge message's merged patient:
// by id, else by any of its identifiers. A record never seen is created
// from the message (so that later messages with its identifiers reach the
// survivor).
func (p *plan) resolveMerged(ctx context.Context, mr *mergeRoles, in []Incoming) error {
	s, err := p.get(ctx, key{"Patient", mr.merged})
	if err != nil || s.current() != nil {
		return err
	}
	var body map[string]any
	for _, r := range in {
		if r.Type == "Patient" && r.ID == mr.merged {
			body = r.Body
		}
	}
	for _, id := range list(body, "identifier") {
		x, _ := id.(map[string]any)
		sys, val := str(x, "system"), str(x, "value")
		if sys == "" || val == "" {
			continue
		}
		hits, err := p.search(ctx, fhirstore.Query{Type: "Patient", Params: []fhirstore.Param{{Name: "identifier", Values: []string{fhirstore.TokenValue{System: sys, Code: val}.String()}}}, Count: 2})
		if err != nil {
			return err
		}
		if len(hits) == 0 || hits[0].id == mr.survivor {
			continue
		}
		from, to := "Patient/"+mr.merged, "Patient/"+hits[0].id
		for i := range in {
			rewriteRefs(in[i].Body, from, to)
			if in[i].Type == "Patient" && in[i].ID == mr.merged {
				in[i].ID = hits[0].id
				in[i].Body["id"] = hits[0].id
			}
		}
		p.note("identity", from, "merged patient matched Patient/%s by identifier", hits[0].id)
		mr.merged = hits[0].id
		return nil
	}
	return nil
}

// merge merges patient merged into survivor: everything that refers to the
// merged record moves to the survivor, the merged record is marked
// replaced-by (inactive, its history kept), and a Provenance records
// exactly what moved so that an unmerge can move it back.
func (p *plan) merge(ctx context.Context, survivor, merged, why string) error {
	if survivor == merged {
		return fmt.Errorf("merge Patient/%s into itself: %w", survivor, ErrCircularMerge)
	}
	// The survivor's merges and links must not lead to the merged record:
	// that would close a loop (for a record linked to the one to merge,
	// undo the link first).
	chain, err := p.chainFrom(ctx, survivor)
	if err != nil {
		return err
	}
	if slices.Contains(chain, "Patient/"+merged) {
		return fmt.Errorf("%w: Patient/%s leads to Patient/%s already (merged or linked): undo that first", ErrCircularMerge, survivor, merged)
	}
	// The survivor is the end of its chain of merges. A linked record
	// (refer) is merged into as itself: a link is the engine's guess, it is
	// not followed; what moves goes where the linked record's resources are.
	id := survivor
	for hop := 0; ; hop++ {
		if hop == maxChain {
			return fmt.Errorf("%w: more than %d replaced-by links from Patient/%s", ErrCircularMerge, maxChain, survivor)
		}
		s, err := p.get(ctx, key{"Patient", id})
		if err != nil {
			return err
		}
		if s.current() == nil {
			return fmt.Errorf("merge into Patient/%s: %w", id, fhirstore.ErrNotFound)
		}
		next, kind := forwardLink(s.current())
		if next == merged {
			return fmt.Errorf("%w: Patient/%s was merged into Patient/%s, which cannot now be merged into it", ErrCircularMerge, survivor, merged)
		}
		if next == "" || kind == "refer" {
			break
		}
		id = next
	}
	if id != survivor {
		p.note("merge", "Patient/"+survivor, "Patient/%s was itself merged: merging into its final survivor Patient/%s", survivor, id)
		survivor = id
	}
	ms, err := p.get(ctx, key{"Patient", merged})
	if err != nil {
		return err
	}
	if ms.current() == nil {
		return fmt.Errorf("merge Patient/%s: %w", merged, fhirstore.ErrNotFound)
	}
	// Where the survivor's resources are: itself, or for a linked record
	// the record its link leads to (tagged, so that an unlink brings them
	// back with its own).
	dest, err := p.finalSurvivor(ctx, survivor)
	if err != nil {
		return err
	}
	switch next, kind := forwardLink(ms.current()); kind {
	case "refer":
		// Linked by the engine to Patient/next; a merge is a person's or
		// the sender's decision: the link gives way (what it moved goes
		// back), then the merge moves it all.
		p.note("merge", "Patient/"+merged, "linked to Patient/%s: unlinked before the merge", next)
		// Merged into where its link led, it confirms the link: the links
		// decided on its data still stand, no review.
		linkedFinal, err := p.finalSurvivor(ctx, next)
		if err != nil {
			return err
		}
		if err := p.separate(ctx, merged, why, linkedFinal != dest); err != nil {
			return err
		}
	case "replaced-by":
		end, err := p.mergedInto(ctx, merged)
		if err != nil {
			return err
		}
		if end == survivor {
			p.note("merge", "Patient/"+merged, "already merged into Patient/%s: nothing to do", survivor)
			return nil
		}
		if end == merged {
			return fmt.Errorf("%w: Patient/%s", ErrCircularMerge, merged)
		}
		p.note("merge", "Patient/"+merged, "Patient/%s was already merged into Patient/%s: merging that record into Patient/%s", merged, end, survivor)
		return p.merge(ctx, survivor, end, why)
	}
	from, to := "Patient/"+merged, "Patient/"+survivor
	targets := []any{map[string]any{"reference": to}, map[string]any{"reference": from}}
	moved := 0
	var hits []*state
	for _, typ := range repointed {
		if ms.stored == nil {
			break // created by this plan: nothing stored refers to it
		}
		found, err := p.searchAll(ctx, fhirstore.Query{Type: typ, Params: []fhirstore.Param{{Name: "patient", Values: []string{from}}}}, true)
		if err != nil {
			return err
		}
		hits = append(hits, found...)
	}
	// And what this plan already put on the merged record (an unlink just
	// now brought back), which the store does not know yet.
	for _, k := range p.order {
		if s := p.res[k]; s.body != nil && slices.Contains(repointed, k.typ) && !slices.Contains(hits, s) {
			hits = append(hits, s)
		}
	}
	for _, h := range hits {
		if h.typ == "Task" && hasCoding(obj(h.current(), "code"), TaskCodeSystem, ReviewCode) {
			continue // an identity review names both records as they were
		}
		body := cloneJSONMap(h.current())
		if !rewriteRefs(body, from, "Patient/"+dest) {
			continue
		}
		if namedPatient(body) == "" {
			// It keeps the record it belongs to, so that undoing this merge
			// (or one it is later part of) finds it.
			setNamed(body, merged)
		}
		tagEvent(body, lifecycleEvent("merge", why))
		p.set(h, body)
		targets = append(targets, map[string]any{"reference": h.ref()})
		moved++
	}
	// The merged record: inactive, replaced-by the survivor.
	mb := cloneJSONMap(ms.current())
	mb["active"] = false
	mb["link"] = append(dropLinks(list(mb, "link"), to), map[string]any{"other": map[string]any{"reference": to}, "type": "replaced-by"})
	tagEvent(mb, lifecycleEvent("merge", why))
	p.set(ms, mb)
	ss, err := p.get(ctx, key{"Patient", survivor})
	if err != nil {
		return err
	}
	sb := cloneJSONMap(ss.current())
	sb["link"] = append(dropLinks(list(sb, "link"), from), map[string]any{"other": map[string]any{"reference": from}, "type": "replaces"})
	tagEvent(sb, lifecycleEvent("merge", why))
	p.set(ss, sb)

	what := map[string]any{"reference": from}
	if ms.version > 0 {
		what["reference"] = from + "/_history/" + strconv.FormatInt(ms.version, 10)
	}
	if err := p.provenance(ctx, "merge", survivor+"|"+merged, targets, []any{map[string]any{"role": "removal", "what": what}}, why); err != nil {
		return err
	}
	p.note("merge", from, "merged into %s (%d %s moved, %s)", to, moved, plural(moved, "resource", "resources"), why)
	return p.settleReviews(ctx, survivor, why)
}

// settleReviews closes the open identity reviews a merge has answered: those
// whose two records are now merged into one (replaced-by links, not the
// engine's identity links, which a review exists to confirm). Left open, a
// reviewer would be asked about records that are already one, and a
// reject would record "different people" against the merge. Such a
// review's two records are both merged into survivor now, its patient
// (the Task's for) among them: only those patients' reviews are read.
func (p *plan) settleReviews(ctx context.Context, survivor, why string) error {
	merged, err := p.mergedFrom(ctx, survivor)
	if err != nil {
		return err
	}
	params := []fhirstore.Param{
		{Name: "code", Values: []string{TaskCodeSystem + "|" + ReviewCode}},
		{Name: "status", Values: []string{"requested"}},
	}
	if merged != nil {
		params = append(params, fhirstore.Param{Name: "patient", Values: merged})
	} // else more records than a search names: every open review is read
	open, err := p.searchAll(ctx, fhirstore.Query{Type: "Task", Params: params}, false)
	if err != nil {
		return err
	}
	// And the reviews this plan opened (a merge message whose survivor
	// scored in the review band against the record it merges), which the
	// store does not know yet.
	for _, st := range p.made("Task") {
		if !slices.Contains(open, st) && hasCoding(obj(st.body, "code"), TaskCodeSystem, ReviewCode) {
			open = append(open, st)
		}
	}
	for _, t := range open {
		rv := reviewOf(t.current())
		if rv.Status != "requested" || rv.Patient == "" || rv.Candidate == "" {
			continue // closed by this plan (an accept), or not one of ours
		}
		a, err := p.mergedInto(ctx, rv.Patient)
		if err != nil {
			return err
		}
		b, err := p.mergedInto(ctx, rv.Candidate)
		if err != nil {
			return err
		}
		if a == b {
			p.closeTask(t, "completed", "settled by a merge ("+why+")")
		}
	}
	return nil
}

// mergedFrom lists survivor and every record merged into it, directly or
// through others (their replaced-by links end there; found by the
// survivors' replaces links), as references; nil when they are more than
// maxMergedFrom.
func (p *plan) mergedFrom(ctx context.Context, survivor string) ([]string, error) {
	ids := []string{survivor}
	for i := 0; i < len(ids); i++ {
		s, err := p.get(ctx, key{"Patient", ids[i]})
		if err != nil {
			return nil, err
		}
		for _, l := range list(s.current(), "link") {
			x, _ := l.(map[string]any)
			if o, ok := parseRef(str(obj(x, "other"), "reference")); ok && str(x, "type") == "replaces" && o.typ == "Patient" && !slices.Contains(ids, o.id) {
				if len(ids) == maxMergedFrom {
					return nil, nil
				}
				ids = append(ids, o.id)
			}
		}
	}
	refs := make([]string, len(ids))
	for i, id := range ids {
		refs[i] = "Patient/" + id
	}
	return refs, nil
}

// maxMergedFrom bounds the records settleReviews names in one search.
const maxMergedFrom = 100

// reviewLinksVia opens a review for each record still linked to patient
// survivor whose link was decided on the data of record gone (a record
// linked to survivor, just unlinked from it): that decision no longer
// stands on its own, so a person confirms or undoes it.
func (p *plan) reviewLinksVia(ctx context.Context, survivor, gone string) error {
	ss, err := p.get(ctx, key{"Patient", survivor})
	if err != nil || ss.current() == nil {
		return err
	}
	for _, l := range list(ss.current(), "link") {
		x, _ := l.(map[string]any)
		k, ok := parseRef(str(obj(x, "other"), "reference"))
		if str(x, "type") != "seealso" || !ok || k.typ != "Patient" || k.id == gone {
			continue
		}
		prov, err := p.lastMerge(ctx, k.id)
		if err != nil {
			return err
		}
		rested := false
		for _, e := range list(prov, "entity") {
			y, _ := e.(map[string]any)
			if str(y, "role") == "quotation" && str(obj(y, "what"), "reference") == "Patient/"+gone {
				rested = true
			}
		}
		if !rested {
			continue
		}
		p.note("identity", "Patient/"+k.id, "linked to Patient/%s on the strength of Patient/%s's data, which was unlinked: review opened", survivor, gone)
		if err := p.openReview(ctx, survivor, k.id, Score{}, "linked on the strength of Patient/"+gone+"'s data, which was unlinked"); err != nil {
			return err
		}
	}
	return nil
}

// upstreamOf is a patient and every record merged or linked into it,
// directly or through others (found by the survivors' replaces and
// seealso links).
func (p *plan) upstreamOf(ctx context.Context, id string) (map[string]bool, error) {
	out := map[string]bool{id: true}
	queue := []string{id}
	for len(queue) > 0 {
		s, err := p.get(ctx, key{"Patient", queue[0]})
		if err != nil {
			return nil, err
		}
		queue = queue[1:]
		for _, l := range list(s.current(), "link") {
			x, _ := l.(map[string]any)
			if t := str(x, "type"); t != "replaces" && t != "seealso" {
				continue
			}
			k, ok := parseRef(str(obj(x, "other"), "reference"))
			if !ok || k.typ != "Patient" || out[k.id] {
				continue
			}
			if len(out) >= 1000 {
				return nil, fmt.Errorf("more than 1000 records merged or linked into Patient/%s", id)
			}
			out[k.id] = true
			queue = append(queue, k.id)
		}
	}
	return out, nil
}

// chainFrom lists the references of a patient and of every record its
// merges and links lead to, to the final survivor.
func (p *plan) chainFrom(ctx context.Context, id string) ([]string, error) {
	ids, err := p.walk(ctx, id, false)
	for i := range ids {
		ids[i] = "Patient/" + ids[i]
	}
	return ids, err
}

// mergedInto follows a record's replaced-by links (not identity links) to
// the record it was last merged into (itself when not merged).
func (p *plan) mergedInto(ctx context.Context, id string) (string, error) {
	ids, err := p.walk(ctx, id, true)
	if err != nil {
		return "", err
	}
	return ids[len(ids)-1], nil
}

// walk follows a patient's forward links — replaced-by, and unless
// mergesOnly the identity links' refer — and returns the ids on the way:
// the patient first, the record it ends at last.
func (p *plan) walk(ctx context.Context, id string, mergesOnly bool) ([]string, error) {
	var out []string
	for range maxChain {
		if slices.Contains(out, id) {
			return nil, fmt.Errorf("%w: replaced-by links of Patient/%s loop", ErrCircularMerge, id)
		}
		out = append(out, id)
		s, err := p.get(ctx, key{"Patient", id})
		if err != nil {
			return nil, err
		}
		next, kind := forwardLink(s.current())
		if next == "" || (mergesOnly && kind != "replaced-by") {
			return out, nil
		}
		id = next
	}
	return nil, fmt.Errorf("%w: more than %d replaced-by links from Patient/%s", ErrCircularMerge, maxChain, id)
}

// link records an identity link: the incoming patient's own record (kept,
// made from the message) refers to the stored patient it was found to be
// (link type refer: in use, but not the main source of information), and
// that one gets a seealso link back. The survivor's own data are not
// changed: only the message's other resources (its visit, appointment,
// charges) went to it, so that a wrong link is undone by moving them back.
// moved are those resources; the ones this message created are listed in
// the Provenance for the unlink.
func (p *plan) link(ctx context.Context, survivor, kept, event, why string, moved []key) error {
	ks, err := p.get(ctx, key{"Patient", kept})
	if err != nil {
		return err
	}
	ss, err := p.get(ctx, key{"Patient", survivor})
	if err != nil {
		return err
	}
	if ks.current() == nil || ss.current() == nil {
		return fmt.Errorf("link Patient/%s to Patient/%s: %w", kept, survivor, fhirstore.ErrNotFound)
	}
	from, to := "Patient/"+kept, "Patient/"+survivor
	kb := cloneJSONMap(ks.current())
	kb["link"] = append(dropLinks(list(kb, "link"), to), map[string]any{"other": map[string]any{"reference": to}, "type": "refer"})
	p.set(ks, kb)
	sb := cloneJSONMap(ss.current())
	sb["link"] = append(dropLinks(list(sb, "link"), from), map[string]any{"other": map[string]any{"reference": from}, "type": "seealso"})
	tagEvent(sb, event)
	p.set(ss, sb)
	targets := []any{map[string]any{"reference": to}, map[string]any{"reference": from}}
	for _, k := range moved {
		if s, err := p.get(ctx, k); err != nil {
			return err
		} else if s.stored == nil && !s.deleted {
			// Created by this message: it goes back with the record. One
			// that existed (a shared account number) goes back only if
			// tagged as addressed to the linked record when unlinked.
			targets = append(targets, map[string]any{"reference": k.ref()})
		}
	}
	entities := []any{map[string]any{"role": "source", "what": map[string]any{"reference": from}}}
	if via := p.linkedVia[kept]; via != "" {
		// The score rested on that record's data: if it is unlinked, this
		// link is put to a person (see reviewLinksVia).
		entities = append(entities, map[string]any{"role": "quotation", "what": map[string]any{"reference": "Patient/" + via}})
	}
	if err := p.provenance(ctx, "link", survivor+"|"+kept, targets, entities, why); err != nil {
		return err
	}
	p.note("link", from, "linked to %s (%s): its visits, appointments and charges are there; its own data stay on it", to, why)
	return nil
}

// lifecycleEvent is the event tag of a version a merge or unmerge wrote:
// the message's trigger ("ADT^A40") or the lifecycle activity of a manual
// change ("merge", "unmerge"), so that a later cancel never takes such a
// version for the event it cancels.
func lifecycleEvent(activity, why string) string {
	if strings.HasPrefix(why, "ADT^") {
		return why
	}
	return activity
}

// tagEvent sets the event tag of a version without changing its event time.
func tagEvent(body map[string]any, code string) { setTag(body, EventSystem, code) }

// dropLinks removes the links to ref.
func dropLinks(links []any, ref string) []any {
	return slices.DeleteFunc(slices.Clone(links), func(l any) bool {
		x, _ := l.(map[string]any)
		return str(obj(x, "other"), "reference") == ref
	})
}

// provenance records a merge or unmerge.
func (p *plan) provenance(ctx context.Context, activity, subject string, targets, entities []any, why string) error {
	recorded := p.now.Format(time.RFC3339Nano)
	id := mappings.StableID("Provenance", activity+"|"+subject+"|"+recorded)
	s, err := p.get(ctx, key{"Provenance", id})
	if err != nil {
		return err
	}
	body := map[string]any{
		"resourceType": "Provenance",
		"id":           id,
		"target":       targets,
		"recorded":     recorded,
		"activity":     map[string]any{"coding": []any{map[string]any{"system": LifecycleSystem, "code": activity}}},
		"agent":        []any{map[string]any{"who": map[string]any{"display": "carebridge"}}},
		"entity":       entities,
	}
	if why != "" {
		body["reason"] = []any{map[string]any{"text": why}}
	}
	p.set(s, body)
	return nil
}

// unmerge undoes the latest merge (or identity link) of patient merged:
// what that merge moved, and what messages addressed to the merged record
// put on the survivor since, moves back if it still refers to the survivor;
// both records' links go, and a merged record is active again as it was
// before. An identity link never changed the survivor's own data, so there
// is nothing else to take back.
func (p *plan) unmerge(ctx context.Context, merged, why string) error {
	return p.separate(ctx, merged, why, true)
}

// separate is unmerge; review says whether unlinking a record puts the links
// decided on its data to a person (see reviewLinksVia).
func (p *plan) separate(ctx context.Context, merged, why string, review bool) error {
	ms, err := p.get(ctx, key{"Patient", merged})
	if err != nil {
		return err
	}
	if ms.current() == nil {
		return fmt.Errorf("unmerge Patient/%s: %w", merged, fhirstore.ErrNotFound)
	}
	survivor, kind := forwardLink(ms.current())
	if survivor == "" {
		return fmt.Errorf("unmerge Patient/%s: %w", merged, ErrNotMerged)
	}
	activity, back := "unmerge", "seealso"
	if kind == "replaced-by" {
		back = "replaces"
	} else {
		activity = "unlink"
	}
	from, to := "Patient/"+survivor, "Patient/"+merged
	// The survivor and every record its merges and links lead to since:
	// what moved may be on any of them now.
	chain, err := p.chainFrom(ctx, survivor)
	if err != nil {
		return err
	}
	prov, err := p.lastMerge(ctx, merged)
	if err != nil {
		return err
	}
	// The records whose resources come back: the merged one and every record
	// merged or linked into it (their merges and links lead through it).
	upstream, err := p.upstreamOf(ctx, merged)
	if err != nil {
		return err
	}
	moved := 0
	// moveBack puts a resource that went to the survivor (or to a record
	// the survivor was merged or linked into since) back on the merged
	// record: the end, after this unmerge, of the chain of the record it
	// belongs to.
	moveBack := func(s *state) {
		if s.current() == nil {
			return
		}
		body := cloneJSONMap(s.current())
		changed := false
		for _, on := range chain {
			if rewriteRefs(body, on, to) {
				changed = true
			}
		}
		if !changed {
			return
		}
		if namedPatient(body) == merged {
			setNamed(body, "")
		}
		tagEvent(body, lifecycleEvent(activity, why))
		p.set(s, body)
		moved++
	}
	var prior map[string]any
	if prov != nil {
		for _, t := range list(prov, "target") {
			k, ok := parseRef(str(t.(map[string]any), "reference"))
			if !ok || k.typ == "Patient" {
				continue
			}
			s, err := p.get(ctx, k)
			if err != nil {
				return err
			}
			if !upstream[namedPatient(s.current())] {
				continue // since given to another record (or to the one it is on)
			}
			moveBack(s)
		}
		for _, e := range list(prov, "entity") {
			x, _ := e.(map[string]any)
			ref := str(obj(x, "what"), "reference")
			if str(x, "role") != "removal" || !strings.HasPrefix(ref, to+"/_history/") {
				continue
			}
			v, err := strconv.ParseInt(strings.TrimPrefix(ref, to+"/_history/"), 10, 64)
			if err != nil {
				continue
			}
			r, err := p.r.store.VRead(ctx, "Patient", merged, v)
			if err == nil {
				prior, _ = decode(r.Body)
			}
		}
	}
	// What belongs to those records and is on the survivor (or on a record
	// it was merged or linked into since) goes back too: what this merge
	// moved, and what messages for them put there since.
	for _, typ := range repointed {
		for _, on := range chain {
			hits, err := p.searchAll(ctx, fhirstore.Query{Type: typ, Params: []fhirstore.Param{{Name: "patient", Values: []string{on}}}}, true)
			if err != nil {
				return err
			}
			for _, h := range hits {
				if upstream[namedPatient(h.current())] {
					moveBack(h)
				}
			}
		}
	}
	if kind == "replaced-by" {
		if err := p.takeBackIdentifiers(ctx, merged, survivor, upstream); err != nil {
			return err
		}
	}
	mb := cloneJSONMap(ms.current())
	mb["link"] = dropLinks(list(mb, "link"), from)
	if len(list(mb, "link")) == 0 {
		delete(mb, "link")
	}
	if kind == "replaced-by" {
		if a, ok := prior["active"]; ok {
			mb["active"] = a
		} else {
			delete(mb, "active")
		}
	}
	tagEvent(mb, lifecycleEvent(activity, why))
	p.set(ms, mb)
	ss, err := p.get(ctx, key{"Patient", survivor})
	if err != nil {
		return err
	}
	if ss.current() != nil {
		sb := cloneJSONMap(ss.current())
		sb["link"] = slices.DeleteFunc(list(sb, "link"), func(l any) bool {
			x, _ := l.(map[string]any)
			return str(obj(x, "other"), "reference") == to && str(x, "type") == back
		})
		if len(list(sb, "link")) == 0 {
			delete(sb, "link")
		}
		tagEvent(sb, lifecycleEvent(activity, why))
		p.set(ss, sb)
	}
	targets := []any{map[string]any{"reference": to}, map[string]any{"reference": from}}
	var entities []any
	if prov != nil {
		entities = []any{map[string]any{"role": "revision", "what": map[string]any{"reference": "Provenance/" + str(prov, "id")}}}
	}
	if err := p.provenance(ctx, activity, survivor+"|"+merged, targets, entities, why); err != nil {
		return err
	}
	if activity == "unlink" && review {
		if err := p.reviewLinksVia(ctx, survivor, merged); err != nil {
			return err
		}
	}
	verb := "unmerged"
	if activity == "unlink" {
		verb = "unlinked"
	}
	p.note("unmerge", to, "%s from %s (%d %s moved back, %s)", verb, from, moved, plural(moved, "resource", "resources"), why)
	return nil
}

// takeBackIdentifiers removes from the survivor of a merge being undone,
// and from every record it was merged into since, the identifiers of the
// records coming back (upstream: the merged one and those merged or linked
// into it) that they did not have before they joined: messages for the
// merged record's number update its final survivor, so while merged they
// may have added that number there. Left on it, the number would name two
// patients after the unmerge, and the next message with it could not tell
// them apart. An identifier the record already had before the merge (the two
// shared it) stays. The other data those messages changed stay (a merge was
// a decision that the two are one person).
func (p *plan) takeBackIdentifiers(ctx context.Context, merged, survivor string, upstream map[string]bool) error {
	theirs := map[[2]string]bool{}
	for id := range upstream {
		s, err := p.get(ctx, key{"Patient", id})
		if err != nil {
			return err
		}
		for _, x := range list(s.current(), "identifier") {
			m, _ := x.(map[string]any)
			if v := str(m, "value"); v != "" {
				theirs[[2]string{str(m, "system"), v}] = true
			}
		}
	}
	if len(theirs) == 0 {
		return nil
	}
	chain, err := p.walk(ctx, survivor, true)
	if err != nil {
		return err
	}
	prev := merged
	for i, id := range chain {
		s, err := p.get(ctx, key{"Patient", id})
		if err != nil {
			return err
		}
		if i > 0 {
			s.checked = true // left as it is only if nobody adds one meanwhile
		}
		cur := s.current()
		ids := list(cur, "identifier")
		joined := func(x any) bool {
			m, _ := x.(map[string]any)
			return theirs[[2]string{str(m, "system"), str(m, "value")}]
		}
		if !slices.ContainsFunc(ids, joined) {
			prev = id
			continue
		}
		before, err := p.beforeJoin(ctx, id, prev)
		if err != nil {
			return err
		}
		keep := make([]any, 0, len(ids))
		for _, x := range ids {
			m, _ := x.(map[string]any)
			if joined(x) && !hasIdentifier(before, str(m, "system"), str(m, "value")) {
				continue
			}
			keep = append(keep, x)
		}
		if n := len(ids) - len(keep); n > 0 {
			body := cloneJSONMap(cur)
			if len(keep) == 0 {
				delete(body, "identifier")
			} else {
				body["identifier"] = keep
			}
			p.set(s, body)
			p.note("unmerge", "Patient/"+id, "%d identifier(s) of Patient/%s taken off: added by messages for it while it was merged", n, merged)
		}
		prev = id
	}
	return nil
}

// beforeJoin is patient id as it was before the merge that joined patient
// prev to it (its newest stored version without the link to prev), nil
// when it never was without it.
func (p *plan) beforeJoin(ctx context.Context, id, prev string) (map[string]any, error) {
	h, err := p.r.store.History(ctx, "Patient", id)
	if err != nil {
		return nil, fmt.Errorf("history of Patient/%s: %w", id, err)
	}
	for _, r := range h {
		if len(r.Body) == 0 {
			continue
		}
		b, err := decode(r.Body)
		if err != nil {
			return nil, fmt.Errorf("read Patient/%s/_history/%d: %w", id, r.Version, err)
		}
		if !slices.ContainsFunc(list(b, "link"), func(l any) bool {
			x, _ := l.(map[string]any)
			t := str(x, "type")
			return (t == "replaces" || t == "seealso") && str(obj(x, "other"), "reference") == "Patient/"+prev
		}) {
			return b, nil
		}
	}
	return nil, nil
}

func containsValue(list []any, v any) bool {
	return slices.ContainsFunc(list, func(e any) bool { return reflect.DeepEqual(e, v) })
}

// lastMerge finds the Provenance of the latest merge or identity link of
// patient id.
func (p *plan) lastMerge(ctx context.Context, id string) (map[string]any, error) {
	hits, err := p.searchAll(ctx, fhirstore.Query{Type: "Provenance", Params: []fhirstore.Param{{Name: "target", Values: []string{"Patient/" + id}}}}, false)
	if err != nil {
		return nil, err
	}
	var best map[string]any
	var bestAt time.Time
	for _, h := range hits {
		b := h.current()
		role := "removal" // a merge removes the merged record
		switch {
		case hasCoding(obj(b, "activity"), LifecycleSystem, "merge"):
		case hasCoding(obj(b, "activity"), LifecycleSystem, "link"):
			role = "source" // a link refers the linked record to the survivor
		default:
			continue
		}
		removes := false
		for _, e := range list(b, "entity") {
			x, _ := e.(map[string]any)
			ref := str(obj(x, "what"), "reference")
			if str(x, "role") == role && (ref == "Patient/"+id || strings.HasPrefix(ref, "Patient/"+id+"/_history/")) {
				removes = true
			}
		}
		if !removes {
			continue
		}
		at, _ := time.Parse(time.RFC3339Nano, str(b, "recorded"))
		if best == nil || at.After(bestAt) {
			best, bestAt = b, at
		}
	}
	return best, nil
}

func hasCoding(cc map[string]any, system, code string) bool {
	for _, c := range list(cc, "coding") {
		x, _ := c.(map[string]any)
		if str(x, "system") == system && str(x, "code") == code {
			return true
		}
	}
	return false
}

// unlinkMessage handles A37: each patient of the message that is merged or
// linked (into another patient of the message, when it names several) is
// unmerged. The message's "clear link" markers are then dropped, so that
// the update does not remove links unrelated to this merge.
func (p *plan) unlinkMessage(ctx context.Context, in []Incoming) error {
	named := map[string]bool{}
	for _, r := range in {
		if r.Type == "Patient" {
			named[r.ID] = true
		}
	}
	done := false
	for _, r := range in {
		if r.Type != "Patient" {
			continue
		}
		s, err := p.get(ctx, key{"Patient", r.ID})
		if err != nil {
			return err
		}
		if s.current() == nil {
			continue
		}
		next, _ := forwardLink(s.current())
		if next == "" {
			continue
		}
		if len(named) > 1 {
			// The message names the two records to separate: only a record
			// whose merges and links lead to the other one is undone, not
			// an unrelated merge of one of them.
			leads, err := p.leadsTo(ctx, next, named)
			if err != nil {
				return err
			}
			if !leads {
				continue
			}
		}
		if err := p.unmerge(ctx, r.ID, "ADT^A37"); err != nil {
			return err
		}
		done = true
	}
	// Links are the merges' and links' business, never the update's:
	// a resent A37 must not clear the links of a later merge.
	for _, r := range in {
		if r.Type == "Patient" {
			dropClear(r.Body, "link")
		}
	}
	if !done {
		p.note("unmerge", "", "A37: no patient of the message is merged or linked: nothing to undo")
	}
	return nil
}

// leadsTo reports whether the chain of merges and links from patient id
// reaches one of the patients in set.
func (p *plan) leadsTo(ctx context.Context, id string, set map[string]bool) (bool, error) {
	for range maxChain {
		if set[id] {
			return true, nil
		}
		s, err := p.get(ctx, key{"Patient", id})
		if err != nil || s.current() == nil {
			return false, err
		}
		next, _ := forwardLink(s.current())
		if next == "" {
			return false, nil
		}
		id = next
	}
	return false, nil
}

// dropClear removes one clear-element marker from a resource's meta.
func dropClear(body map[string]any, selector string) {
	meta := obj(body, "meta")
	if meta == nil {
		return
	}
	exts := slices.DeleteFunc(list(meta, "extension"), func(e any) bool {
		x, _ := e.(map[string]any)
		return str(x, "url") == mappings.ClearExtensionURL && str(x, "valueString") == selector
	})
	setMetaList(body, meta, "extension", exts)
}

// Merge merges patient merged into survivor by hand (a person decided).
func (r *Recorder) Merge(ctx context.Context, survivor, merged string) (*Outcome, error) {
	return r.run(ctx, nil, 0, func(ctx context.Context, p *plan) error {
		return p.merge(ctx, survivor, merged, "manual merge")
	})
}

// Unmerge undoes the latest merge of patient id by hand.
func (r *Recorder) Unmerge(ctx context.Context, id string) (*Outcome, error) {
	return r.run(ctx, nil, 0, func(ctx context.Context, p *plan) error {
		return p.unmerge(ctx, id, "manual unmerge")
	})
}

// IsContentError reports whether err comes from what a message or request
// asks (a circular merge, an unknown patient, an invalid resource) rather
// than from the store: retrying does not help.
func IsContentError(err error) bool {
	return errors.Is(err, ErrCircularMerge) || errors.Is(err, ErrNotMerged) || errors.Is(err, ErrNoPatient) ||
		errors.Is(err, fhirstore.ErrInvalid) || errors.Is(err, fhirstore.ErrNotFound)
}
