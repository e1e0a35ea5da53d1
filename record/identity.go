package record

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/carebridge/carebridge/fhirstore"
	"github.com/carebridge/carebridge/mappings"
)

// maxChain bounds how many replaced-by links are followed.
const maxChain = 32

// resolvePatient decides which stored patient an incoming Patient is, and
// returns its id (the incoming id when it is a new patient):
//
//  1. the same id (its business identity was seen before), followed to the
//     final survivor when that record was merged;
//  2. else any of its identifiers (system + value, every repetition) on a
//     stored patient;
//  3. else the probabilistic score against the candidates the blocking
//     searches find: above auto_link it is that patient; between review and
//     auto_link a new patient is created and a review Task opened; below,
//     a new patient.
//
// Every decision that is not the first is noted with its scores. When the
// incoming patient is found to be another, stored one (2 and 3), link says
// why: the caller keeps the incoming record, with its own data, and links it
// to that one (see plan.link). owner, when set, is the record the Patient's
// own data go to (the incoming one for a new link, a linked record for a
// later message) while the message's other resources go to target.
// withheld, for a known patient, are the identifiers taken out of its update
// because another patient's record has them (see withholdOthersIdentifiers).
func (p *plan) resolvePatient(ctx context.Context, in Incoming) (target, link, owner string, withheld []any, err error) {
	s, err := p.get(ctx, key{"Patient", in.ID})
	if err != nil {
		return "", "", "", nil, err
	}
	if s.current() != nil {
		final, err := p.finalSurvivor(ctx, in.ID)
		if err != nil {
			return "", "", "", nil, err
		}
		// Merges are followed; a link is not, for the patient's own data:
		// they stay on the linked record (the end of the merges).
		end, err := p.mergedInto(ctx, in.ID)
		if err != nil {
			return "", "", "", nil, err
		}
		es, err := p.get(ctx, key{"Patient", end})
		if err != nil {
			return "", "", "", nil, err
		}
		if final == in.ID {
			// Not merged: a merge of it committed meanwhile (its survivor
			// then links to it) makes this plan start over.
			if _, err := p.searchChecked(ctx, fhirstore.Query{Type: "Patient", Params: []fhirstore.Param{{Name: "link", Values: []string{"Patient/" + in.ID}}}}); err != nil {
				return "", "", "", nil, err
			}
		}
		if final != in.ID {
			// The way from this record to where its resources go is
			// checked where the change set commits: a merge, link or
			// unmerge of any record on it meanwhile (it changes who links
			// to that record) makes this plan start over.
			chain, err := p.chainFrom(ctx, in.ID)
			if err != nil {
				return "", "", "", nil, err
			}
			for _, ref := range chain {
				if _, err := p.searchChecked(ctx, fhirstore.Query{Type: "Patient", Params: []fhirstore.Param{{Name: "link", Values: []string{ref}}}}); err != nil {
					return "", "", "", nil, err
				}
			}
		}
		if _, kind := forwardLink(es.current()); kind == "refer" {
			owner = end
		}
		withheld, err = p.withholdOthersIdentifiers(ctx, in, final)
		return final, "", owner, withheld, err
	}
	found := map[string]bool{}
	var order []string
	matchedBy := map[int]string{} // identifier index → the patient it matched
	for i, id := range list(in.Body, "identifier") {
		x, _ := id.(map[string]any)
		sys, val := str(x, "system"), str(x, "value")
		if sys == "" || val == "" {
			continue
		}
		hits, err := p.searchChecked(ctx, fhirstore.Query{Type: "Patient", Params: []fhirstore.Param{{Name: "identifier", Values: []string{fhirstore.TokenValue{System: sys, Code: val}.String()}}}, Count: 10, Sort: "_id"})
		if err != nil {
			return "", "", "", nil, err
		}
		for _, h := range hits {
			final, err := p.finalSurvivor(ctx, h.id)
			if err != nil {
				return "", "", "", nil, err
			}
			if _, ok := matchedBy[i]; !ok {
				matchedBy[i] = final
			}
			if !found[final] {
				found[final] = true
				order = append(order, final)
			}
		}
	}
	switch len(order) {
	case 0:
	case 1:
		// The identifier says it is this patient; a birth date that says
		// otherwise (a newborn under the mother's number, a recycled or
		// placeholder identifier) is not overwritten: a person decides.
		cand, err := p.get(ctx, key{"Patient", order[0]})
		if err != nil {
			return "", "", "", nil, err
		}
		if birthDatesDiffer(in.Body, cand.current()) {
			p.note("identity", "Patient/"+in.ID, "an identifier matches Patient/%s but the birth dates differ: new patient, review opened", order[0])
			dropIdentifiers(in.Body, matchedBy, "")
			return in.ID, "", "", nil, p.openReview(ctx, order[0], in.ID, Score{}, "an identifier matches but the birth dates differ")
		}
		p.note("identity", "Patient/"+in.ID, "matched Patient/%s by identifier", order[0])
		return order[0], "identity link: a shared identifier", in.ID, nil, nil
	default:
		p.note("identity", "Patient/"+in.ID, "identifiers match %d patients (%s): updating Patient/%s and opening a review", len(order), refs(order), order[0])
		for _, other := range order[1:] {
			if err := p.openReview(ctx, order[0], other, Score{}, "their identifiers are on one incoming patient"); err != nil {
				return "", "", "", nil, err
			}
		}
		// The identifiers that belong to the other records stay theirs.
		dropIdentifiers(in.Body, matchedBy, order[0])
		return order[0], "identity link: a shared identifier", in.ID, nil, nil
	}
	target, link, owner, err = p.probabilistic(ctx, in)
	return target, link, owner, nil, err
}

// withholdOthersIdentifiers takes out of an incoming patient (known as
// target) the identifiers it does not have yet that are on another
// patient's record, and returns them: an update never moves one person's
// identifier onto another's record. They are looked at again once the
// message's patients are updated (see plan.addWithheld), since the message
// itself may take one off that record.
func (p *plan) withholdOthersIdentifiers(ctx context.Context, in Incoming, target string) ([]any, error) {
	ids := list(in.Body, "identifier")
	matchedBy, err := p.othersIdentifiers(ctx, ids, target, p.sameAs)
	if err != nil || len(matchedBy) == 0 {
		return nil, err
	}
	var withheld []any
	for i, id := range ids {
		if _, ok := matchedBy[i]; ok {
			withheld = append(withheld, id)
		}
	}
	dropIdentifiers(in.Body, matchedBy, target)
	return withheld, nil
}

// othersIdentifiers finds which of ids, the identifiers of an incoming
// patient known as target, target does not have and another patient's
// record has, as this plan leaves the records: by index, that patient (the
// end of the record's merges and links). sameAs, for a merge message's
// survivor, is the record it merges: neither it nor a record on the way to
// it is another patient.
func (p *plan) othersIdentifiers(ctx context.Context, ids []any, target, sameAs string) (map[int]string, error) {
	t, err := p.get(ctx, key{"Patient", target})
	if err != nil || t.current() == nil {
		return nil, err
	}
	matchedBy := map[int]string{}
	for i, id := range ids {
		x, _ := id.(map[string]any)
		sys, val := str(x, "system"), str(x, "value")
		if sys == "" || val == "" || hasIdentifier(t.current(), sys, val) {
			continue
		}
		hits, err := p.searchChecked(ctx, fhirstore.Query{Type: "Patient", Params: []fhirstore.Param{{Name: "identifier", Values: []string{fhirstore.TokenValue{System: sys, Code: val}.String()}}}, Count: 10, Sort: "_id"})
		if err != nil {
			return nil, err
		}
		// And the records this plan gave it (another patient of the
		// message), which the store does not know yet.
		for _, k := range p.order {
			if s := p.res[k]; k.typ == "Patient" && s.body != nil && !slices.Contains(hits, s) {
				hits = append(hits, s)
			}
		}
		for _, h := range hits {
			if !hasIdentifier(h.current(), sys, val) {
				continue // taken off it by this message
			}
			way, err := p.walk(ctx, h.id, false)
			if err != nil {
				return nil, err
			}
			final := way[len(way)-1]
			if final != target && (sameAs == "" || !slices.Contains(way, sameAs)) {
				matchedBy[i] = final
				break
			}
		}
	}
	return matchedBy, nil
}

// hasIdentifier reports whether a patient has the identifier system|value.
func hasIdentifier(body map[string]any, sys, val string) bool {
	return slices.ContainsFunc(list(body, "identifier"), func(id any) bool {
		x, _ := id.(map[string]any)
		return str(x, "system") == sys && str(x, "value") == val
	})
}

// birthDatesDiffer reports whether two patients both have a birth date and
// they disagree (at the precision both have).
func birthDatesDiffer(a, b map[string]any) bool {
	x, y := str(a, "birthDate"), str(b, "birthDate")
	if x == "" || y == "" {
		return false
	}
	n := min(len(x), len(y))
	return x[:n] != y[:n]
}

// dropIdentifiers removes from an incoming patient the identifiers that
// matched a stored patient other than keep ("" drops every matched one).
func dropIdentifiers(body map[string]any, matchedBy map[int]string, keep string) {
	ids := list(body, "identifier")
	out := make([]any, 0, len(ids))
	for i, id := range ids {
		if who, ok := matchedBy[i]; ok && who != keep {
			continue
		}
		out = append(out, id)
	}
	if len(out) == 0 {
		delete(body, "identifier")
		return
	}
	body["identifier"] = out
}

func refs(ids []string) string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = "Patient/" + id
	}
	return strings.Join(out, ", ")
}

// probabilistic scores the candidates of the blocking searches.
func (p *plan) probabilistic(ctx context.Context, in Incoming) (target, link, owner string, err error) {
	seen := map[string]bool{}
	var best, scored string // the patient, and the record of it that scored best
	var bestScore Score
	// The best score of each other patient that reached auto_link: two
	// patients that both would be linked to leave the choice to a person.
	linkable := map[string]float64{}
	for _, block := range CandidateQueries(in.Body) {
		// A blocking key shared by more records than a page (a clinic's
		// switchboard number, a placeholder phone) narrows nothing: its
		// candidates are left to the other keys.
		q := fhirstore.Query{Type: block.Type, Params: block.Params, Count: block.Count + 1, Unordered: true}
		found, err := p.r.store.Search(ctx, q)
		if err != nil {
			return "", "", "", fmt.Errorf("search %s: %w", q.Type, err)
		}
		if len(found) > block.Count {
			continue
		}
		// Checked where the change set commits: a matching patient another
		// worker created meanwhile (the same person's first message from
		// another system) makes this plan start over and find it. (A key
		// left to the others is not checked: whatever it finds, it stays
		// left.)
		ids := make([]string, len(found))
		for i, f := range found {
			ids[i] = f.ID
		}
		p.checks = append(p.checks, fhirstore.Check{Query: q, IDs: ids})
		hits, err := p.states(found)
		if err != nil {
			return "", "", "", err
		}
		for _, h := range hits {
			// Each record is scored as it is (a record linked or merged
			// into another keeps its own data) and counts for the record
			// it leads to.
			if seen[h.id] || h.current() == nil {
				continue
			}
			seen[h.id] = true
			final, err := p.finalSurvivor(ctx, h.id)
			if err != nil {
				return "", "", "", err
			}
			if final == in.ID {
				continue
			}
			sc := p.r.match.Score(in.Body, h.current())
			if p.r.match.Decide(sc) == DecisionLink && sc.Total > linkable[final] {
				linkable[final] = sc.Total
			}
			if best == "" || sc.Total > bestScore.Total || (sc.Total == bestScore.Total && final < best) {
				best, scored, bestScore = final, h.id, sc
			}
		}
	}
	if best == "" {
		p.note("identity", "Patient/"+in.ID, "new patient: no candidate found")
		return in.ID, "", "", nil
	}
	decision := p.r.match.Decide(bestScore)
	if others := otherPatients(linkable, best); decision == DecisionLink && len(others) > 0 {
		// Linked to one, the message's data would go to a patient chosen
		// by a tie-break among records that all match this well.
		p.note("identity", "Patient/"+in.ID, "new patient, review opened: Patient/%s %sscores %.1f ≥ auto_link %.1f (%s), but so do %s: not linked to one of them",
			best, via(scored, best), bestScore.Total, p.r.match.AutoLink, scoreText(bestScore), strings.Join(others, ", "))
		return in.ID, "", "", p.openReview(ctx, best, in.ID, bestScore, "other records match as well: "+strings.Join(others, ", "))
	}
	switch decision {
	case DecisionLink:
		if scored != best {
			if p.linkedVia == nil {
				p.linkedVia = map[string]string{}
			}
			p.linkedVia[in.ID] = scored
		}
		p.note("identity", "Patient/"+in.ID, "linked to Patient/%s: %sscore %.1f ≥ auto_link %.1f (%s)", best, via(scored, best), bestScore.Total, p.r.match.AutoLink, scoreText(bestScore))
		return best, fmt.Sprintf("identity link: %sscore %.1f ≥ auto_link %.1f", via(scored, best), bestScore.Total, p.r.match.AutoLink), in.ID, nil
	case DecisionReview:
		p.note("identity", "Patient/"+in.ID, "new patient, review opened: Patient/%s %sscores %.1f, between review %.1f and auto_link %.1f (%s)",
			best, via(scored, best), bestScore.Total, p.r.match.Review, p.r.match.AutoLink, scoreText(bestScore))
		return in.ID, "", "", p.openReview(ctx, best, in.ID, bestScore, "")
	default:
		p.note("identity", "Patient/"+in.ID, "new patient: best candidate Patient/%s scores %.1f < review %.1f (%s)", best, bestScore.Total, p.r.match.Review, scoreText(bestScore))
		return in.ID, "", "", nil
	}
}

// via names the record that scored when it is not the patient it leads to
// (a record linked or merged into it): "Patient/K ".
func via(scored, patient string) string {
	if scored == patient || scored == "" {
		return ""
	}
	return "(its linked or merged record Patient/" + scored + ") "
}

// scoreText lists the points of each field, e.g. "name agree +6.0, gender
// disagree -2.0": no values, only outcomes.
func scoreText(s Score) string {
	var parts []string
	for _, f := range s.Fields {
		if f.Outcome == "missing" {
			continue
		}
		parts = append(parts, fmt.Sprintf("%s %s %+.1f", f.Field, f.Outcome, f.Points))
	}
	if len(parts) == 0 {
		return "no field compared"
	}
	return strings.Join(parts, ", ")
}

// finalSurvivor follows replaced-by (and identity-link refer) links from a
// patient to the record that survived its merges.
func (p *plan) finalSurvivor(ctx context.Context, id string) (string, error) {
	ids, err := p.walk(ctx, id, false)
	if err != nil {
		return "", err
	}
	return ids[len(ids)-1], nil
}

// forwardLink is the patient a record forwards to and how: "replaced-by"
// (merged into it) or "refer" (an identity link: the record stays in use,
// the other is the main one); "" when neither.
func forwardLink(body map[string]any) (id, kind string) {
	for _, l := range list(body, "link") {
		x, _ := l.(map[string]any)
		t := str(x, "type")
		if t != "replaced-by" && t != "refer" {
			continue
		}
		// A link to the record itself (written by an earlier version that
		// applied a mapped A40's links as they stood) forwards nowhere.
		if k, ok := parseRef(str(obj(x, "other"), "reference")); ok && k.typ == "Patient" && k.id != str(body, "id") {
			return k.id, t
		}
	}
	return "", ""
}

// ReviewCode is the Task code of identity reviews.
const ReviewCode = "identity-review"

// openReview opens a Task asking a person whether patient b is the same
// person as a (a, the older record, would survive).
func (p *plan) openReview(ctx context.Context, a, b string, sc Score, why string) error {
	id := mappings.StableID("Task", ReviewCode+"|"+a+"|"+b)
	s, err := p.get(ctx, key{"Task", id})
	if err != nil {
		return err
	}
	if s.current() != nil {
		return nil // already asked; its answer stands
	}
	desc := fmt.Sprintf("Possible duplicate: is Patient/%s the same person as Patient/%s? Accept merges it into Patient/%s.", b, a, a)
	if why != "" {
		desc += " (" + why + ")"
	}
	inputs := []any{
		map[string]any{"type": map[string]any{"text": "candidate"}, "valueReference": map[string]any{"reference": "Patient/" + a}},
	}
	if len(sc.Fields) > 0 {
		inputs = append(inputs,
			map[string]any{"type": map[string]any{"text": "score"}, "valueDecimal": round1(sc.Total)},
			map[string]any{"type": map[string]any{"text": "field scores"}, "valueString": scoreText(sc)})
	}
	p.set(s, map[string]any{
		"resourceType": "Task",
		"id":           id,
		"status":       "requested",
		"intent":       "proposal",
		"code":         map[string]any{"coding": []any{map[string]any{"system": TaskCodeSystem, "code": ReviewCode, "display": "Review a possible duplicate patient"}}},
		"description":  desc,
		"focus":        map[string]any{"reference": "Patient/" + b},
		"for":          map[string]any{"reference": "Patient/" + b},
		"authoredOn":   p.now.Format("2006-01-02T15:04:05Z"),
		"input":        inputs,
	})
	return nil
}

func round1(f float64) float64 {
	return float64(int64(f*10+sign(f)*0.5)) / 10
}

func sign(f float64) float64 {
	if f < 0 {
		return -1
	}
	return 1
}

// otherPatients lists, best first, the patients in linkable other than
// best, with their scores ("Patient/X (score 18.0)").
func otherPatients(linkable map[string]float64, best string) []string {
	var ids []string
	for id := range linkable {
		if id != best {
			ids = append(ids, id)
		}
	}
	slices.SortFunc(ids, func(a, b string) int {
		if c := cmp.Compare(linkable[b], linkable[a]); c != 0 {
			return c
		}
		return strings.Compare(a, b)
	})
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = fmt.Sprintf("Patient/%s (score %.1f)", id, linkable[id])
	}
	return out
}
