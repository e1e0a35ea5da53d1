package record

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/carebridge/carebridge/fhirstore"
)

// cancels maps a cancel trigger to the trigger whose effect it undoes.
var cancels = map[string]string{"A12": "A02", "A13": "A03"}

// encounter applies an incoming Encounter: field-level update plus the
// state the record keeps across events — status history, class history,
// location history with periods — and cancels that undo exactly the event
// they cancel.
func (p *plan) encounter(ctx context.Context, s *state, in map[string]any, m *Message) error {
	cur := s.current()
	if cur == nil {
		if err := p.update(ctx, s, in, m); err != nil {
			return err
		}
		if s.body != nil {
			// The first locations start with the encounter when it says
			// when it started (PV1-44), else at the event.
			at := m.EventTime
			if t, err := time.Parse(time.RFC3339, str(obj(s.body, "period"), "start")); err == nil {
				at = t
			}
			stampLocations(nil, s.body, at)
			endStays(s.body, m.EventTime)
		}
		return nil
	}
	if p.stale(s, m) {
		if err := p.fillGaps(ctx, s, in, m); err != nil {
			return err
		}
		p.visitBeganAfterAll(s, in, m)
		return nil
	}
	in = cloneJSONMap(in)
	if str(in, "status") == "unknown" && str(cur, "status") != "" {
		// "unknown" (an update that does not say) is no news.
		delete(in, "status")
	}
	if m.Code == "SIU" && str(in, "status") != "" && str(cur, "status") != "planned" && str(cur, "status") != str(in, "status") {
		// A schedule message speaks of the planned visit; once the ADT
		// says the visit began (or was cancelled), the schedule's repeat
		// of "planned" (an S14 after the arrival) does not take it back.
		p.note("appointment", s.ref(), "%s %s: the visit is %s; the schedule's status %s is not applied to it", m.Code, m.Event, str(cur, "status"), str(in, "status"))
		delete(in, "status")
	}
	base := cur
	var reverted map[string]any // what a cancel restored, nil when it undid nothing
	relocated := false          // the cancel's own current location applies over what it restored
	if undone := cancels[m.Event]; undone != "" && m.Code == "ADT" {
		var fields []string
		var err error
		reverted, fields, err = p.undo(ctx, s, "ADT^"+undone, "ADT^"+m.Event, m.EventTime, in)
		if errors.Is(err, errCancelled) {
			p.note("cancel", s.ref(), "%s: the last %s is already cancelled", m.Event, undone)
			return nil
		}
		switch {
		case errors.Is(err, errMadeByUndone):
			// Undone, it would leave a visit with no class or status.
			reverted = nil
			p.note("cancel", s.ref(), "%s: the %s it cancels was the first message of %s, with nothing before it to go back to: applied as an update", m.Event, undone, s.ref())
		case err != nil:
			return err
		case reverted != nil:
			base = reverted
			in = cloneJSONMap(in)
			for _, f := range fields {
				switch {
				case f == "status":
					// What the cancel says the visit is now holds: the
					// status the undone event found may not be the one
					// it replaced in the sender's system (an older
					// cancel of a discharge not received yet, A13 after
					// A02, made the transfer seem to reopen the visit).
				case f == "location" && !sameActiveLocations(reverted, in):
					// Where the cancel says the patient is now holds
					// over where the undone event found them (a
					// transfer not received yet): only its active
					// locations, so that the cancelled transfer's
					// location (PV1-6) does not come back as a stay.
					in["location"] = activeLocations(in)
					relocated = true
				default:
					delete(in, f) // the cancel's own copy of what it restores
				}
			}
			p.note("cancel", s.ref(), "%s undid the last %s (%d %s restored)", m.Event, undone, len(fields), plural(len(fields), "element", "elements"))
		default:
			p.note("cancel", s.ref(), "%s found no %s in the history of %s: applied as an update", m.Event, undone, s.ref())
		}
	}
	merged, err := mergeKeepingCleared(s.typ, base, in)
	if err != nil {
		return fmt.Errorf("%s: %w", s.ref(), err)
	}
	closeMovedFrom(merged, in)
	history(cur, merged, m.EventTime)
	if reverted == nil {
		// Not a cancel, or one applied as an update: locations it makes
		// active start now, those it ends end now. (A cancel that undid
		// its event restored the locations as they were, periods too.)
		// In a visit that is over none is active: ended before they are
		// dated, a location that was active ends now, and one that had
		// ended keeps its period.
		endStays(merged, time.Time{})
		stampLocations(cur, merged, m.EventTime)
	} else if relocated {
		// The locations the cancel makes active start now, those it
		// ends end now, from what the undo restored.
		endStays(merged, time.Time{})
		stampLocations(reverted, merged, m.EventTime)
	} else {
		endStays(merged, m.EventTime)
	}
	if Equal(cur, merged) {
		p.confirm(s, m)
		return nil
	}
	stamp(merged, m)
	p.set(s, merged)
	return nil
}

// visitBeganAfterAll applies the status of an ADT older than the schedule
// message that last changed the visit, when that message left it planned:
// what the ADT says happened outranks what the schedule repeats, in either
// order (an S14 after the arrival, received before the A04).
func (p *plan) visitBeganAfterAll(s *state, in map[string]any, m *Message) {
	cur := s.current()
	status := str(in, "status")
	if m.Code != "ADT" || str(cur, "status") != "planned" || !strings.HasPrefix(eventOf(cur), "SIU^") {
		return
	}
	switch status {
	case "arrived", "triaged", "in-progress", "onleave", "finished", "cancelled":
	default:
		return
	}
	body := cloneJSONMap(cur)
	body["status"] = status
	history(cur, body, m.EventTime)
	p.set(s, body)
	p.note("out-of-order", s.ref(), "%s %s is older than the schedule message that last changed %s, but says the visit is %s: applied (a schedule's planned does not outrank it)", m.Code, m.Event, s.ref(), status)
}

// errCancelled says the event to undo was already cancelled.
var errCancelled = errors.New("already cancelled")

// errMadeByUndone says the event to undo made the resource.
var errMadeByUndone = errors.New("made by the event undone")

// undo returns the content of s with the fields the latest version written
// by event changed set back to what they were before it (those not changed
// since), and the names of those fields. It returns nil when no version in
// the history was written by event, or when a version written by an
// earlier cancel (older than at, the cancel's event) comes after it; and
// errCancelled when a version written by cancel at or after at comes after
// it (this cancel was applied already).
//
// A transfer to undo must be the one the cancel names (in, the cancel's
// Encounter): the transfer that made active a location the cancel ends
// (an A12's PV1-6). An A12 received before its transfer finds an earlier
// transfer of the visit as the latest: that one is not undone.
func (p *plan) undo(ctx context.Context, s *state, event, cancel string, at time.Time, in map[string]any) (map[string]any, []string, error) {
	h, err := p.r.store.History(ctx, s.typ, s.id)
	if err != nil {
		return nil, nil, fmt.Errorf("history of %s: %w", s.ref(), err)
	}
	// h is newest first: find the newest version written by event, and the
	// version before it.
	for i, v := range h {
		if v.Deleted {
			continue
		}
		after, err := decode(v.Body)
		if err != nil {
			return nil, nil, fmt.Errorf("history of %s: %w", s.ref(), err)
		}
		switch eventOf(after) {
		case cancel:
			if t := eventTimeOf(after); !at.IsZero() && t.Before(at) {
				// An earlier cancel (of an earlier discharge, whose
				// cancel came first) undid the latest event of its
				// kind the record has: this one's event is not here
				// yet, and there is nothing for it to undo.
				return nil, nil, nil
			}
			return nil, nil, errCancelled
		case event:
		default:
			continue
		}
		if event == "ADT^A02" && !transferCancelled(after, in) {
			return nil, nil, nil
		}
		if i+1 >= len(h) || h[i+1].Deleted {
			// The event made the resource: there is nothing before it to
			// go back to (an A02 was the first message of the visit).
			return nil, nil, errMadeByUndone
		}
		before, err := decode(h[i+1].Body)
		if err != nil {
			return nil, nil, fmt.Errorf("history of %s: %w", s.ref(), err)
		}
		out := cloneJSONMap(s.current())
		var fields []string
		for _, f := range changedFields(before, after) {
			if !reflect.DeepEqual(out[f], after[f]) {
				continue // changed again since: a later event's data stays
			}
			if v, ok := before[f]; ok {
				out[f] = cloneJSON(v)
			} else {
				delete(out, f)
			}
			fields = append(fields, f)
		}
		return out, fields, nil
	}
	return nil, nil, nil
}

// changedFields lists the top-level elements that differ between two
// versions, meta and the record's own histories aside.
func changedFields(before, after map[string]any) []string {
	var out []string
	seen := map[string]bool{}
	for _, m := range []map[string]any{after, before} {
		for k := range m {
			if seen[k] || k == "meta" || k == "statusHistory" || k == "classHistory" || k == "id" || k == "resourceType" {
				continue
			}
			seen[k] = true
			if !reflect.DeepEqual(before[k], after[k]) {
				out = append(out, k)
			}
		}
	}
	slices.Sort(out)
	return out
}

// transferCancelled reports whether the transfer that wrote the version
// after is the one a cancel (in) cancels: one of the locations the cancel
// ends (its PV1-6, the ward the cancelled transfer moved the patient to)
// is active in after. A cancel that ends none cannot tell, and is taken to
// cancel it.
func transferCancelled(after, in map[string]any) bool {
	active := map[string]bool{}
	for _, l := range activeLocations(after) {
		active[str(obj(l.(map[string]any), "location"), "reference")] = true
	}
	named := false
	for _, l := range list(in, "location") {
		x, _ := l.(map[string]any)
		if str(x, "status") == "active" {
			continue
		}
		named = true
		if active[str(obj(x, "location"), "reference")] {
			return true
		}
	}
	return !named
}

// activeLocations are the entries of a resource's location list that are
// active.
func activeLocations(r map[string]any) []any {
	var out []any
	for _, l := range list(r, "location") {
		if x, _ := l.(map[string]any); str(x, "status") == "active" {
			out = append(out, x)
		}
	}
	return out
}

// sameActiveLocations reports whether in says the patient is where the
// visit r has them (the same active locations), or says nowhere.
func sameActiveLocations(r, in map[string]any) bool {
	refs := func(l []any) []string {
		var out []string
		for _, e := range l {
			out = append(out, str(obj(e.(map[string]any), "location"), "reference"))
		}
		slices.Sort(out)
		return out
	}
	now := refs(activeLocations(in))
	return len(now) == 0 || slices.Equal(now, refs(activeLocations(r)))
}

// closeMovedFrom ends the stay in every location that is still active but
// not among the active locations the message reports: the patient is where
// the message says (an A08 may report a new bed without an A02).
func closeMovedFrom(merged, in map[string]any) {
	now := map[string]bool{}
	for _, l := range list(in, "location") {
		x, _ := l.(map[string]any)
		if str(x, "status") == "active" {
			now[str(obj(x, "location"), "reference")] = true
		}
	}
	if len(now) == 0 {
		return
	}
	for _, l := range list(merged, "location") {
		x, _ := l.(map[string]any)
		if str(x, "status") == "active" && !now[str(obj(x, "location"), "reference")] {
			x["status"] = "completed"
		}
	}
}

// endStays ends the stay in every location still active once the visit is
// finished or cancelled: no bed stays taken by a visit that is over. The
// discharge names only the location the patient left (PV1-3); one the
// record still has active besides it (its transfer not received yet) ends
// at the discharge too, and an update after the discharge that repeats
// PV1-3 (mapped active: only A03 and A11 say completed) does not take the
// bed again. With at, the period ends then unless it ended already;
// without, only the status changes (stampLocations dates it).
func endStays(merged map[string]any, at time.Time) {
	switch str(merged, "status") {
	case "finished", "cancelled":
	default:
		return
	}
	for _, l := range list(merged, "location") {
		x, _ := l.(map[string]any)
		if str(x, "status") != "active" {
			continue
		}
		x["status"] = "completed"
		if at.IsZero() {
			continue
		}
		period := obj(x, "period")
		if period == nil {
			period = map[string]any{}
			x["period"] = period
		}
		if str(period, "end") == "" {
			period["end"] = notBefore(str(period, "start"), at)
		}
	}
}

// history appends to merged's statusHistory and classHistory the status and
// class that end at this event.
func history(cur, merged map[string]any, at time.Time) {
	if old, now := str(cur, "status"), str(merged, "status"); old != "" && old != now {
		entry := map[string]any{"status": old, "period": sincePeriod(cur, "statusHistory", at)}
		merged["statusHistory"] = append(list(merged, "statusHistory"), entry)
	}
	oldClass, newClass := obj(cur, "class"), obj(merged, "class")
	if oldClass != nil && !reflect.DeepEqual(oldClass, newClass) {
		entry := map[string]any{"class": cloneJSON(oldClass), "period": sincePeriod(cur, "classHistory", at)}
		merged["classHistory"] = append(list(merged, "classHistory"), entry)
	}
}

// sincePeriod is the period of the state that ends at this event: from the
// end of the last history entry (else the encounter's start) to at.
func sincePeriod(cur map[string]any, hist string, at time.Time) map[string]any {
	p := map[string]any{}
	if h := list(cur, hist); len(h) > 0 {
		last, _ := h[len(h)-1].(map[string]any)
		if end := str(obj(last, "period"), "end"); end != "" {
			p["start"] = end
		}
	} else if start := str(obj(cur, "period"), "start"); start != "" {
		p["start"] = start
	}
	if !at.IsZero() {
		p["end"] = notBefore(str(p, "start"), at)
	}
	if len(p) == 0 {
		p["end"] = time.Unix(0, 0).UTC().Format(time.RFC3339) // a Period needs content; never reached with an event time
	}
	return p
}

// notBefore is at as a FHIR dateTime, or start when at is before it (an
// event dated before the state it ends began: a Period must not end before
// it starts, per-1).
func notBefore(start string, at time.Time) string {
	if t, err := time.Parse(time.RFC3339, start); err == nil && at.Before(t) {
		return start
	}
	if len(start) == 10 { // a date: compare at day precision
		if d, err := time.Parse("2006-01-02", start); err == nil && at.Before(d) {
			return start
		}
	}
	return at.UTC().Format(time.RFC3339)
}

// stampLocations dates the location history: a location that becomes
// active starts at the event, one that stops being active ends at it.
func stampLocations(cur, merged map[string]any, at time.Time) {
	if at.IsZero() {
		return
	}
	was := map[string]string{}
	for _, l := range list(cur, "location") {
		x, _ := l.(map[string]any)
		was[str(obj(x, "location"), "reference")] = str(x, "status")
	}
	ts := at.UTC().Format(time.RFC3339)
	for _, l := range list(merged, "location") {
		x, _ := l.(map[string]any)
		ref := str(obj(x, "location"), "reference")
		status, before := str(x, "status"), was[ref]
		period := obj(x, "period")
		switch {
		case status == "active" && before != "active":
			if period == nil {
				period = map[string]any{}
			}
			if str(period, "start") == "" {
				period["start"] = ts
			}
			delete(period, "end")
			x["period"] = period
		case status != "active" && before == "active":
			if period == nil {
				period = map[string]any{}
			}
			if str(period, "end") == "" {
				period["end"] = notBefore(str(period, "start"), at)
			}
			x["period"] = period
		}
	}
}

// arrivalStatus is what an Encounter's event makes of its appointments.
var arrivalStatus = map[string]string{"A01": "arrived", "A04": "arrived", "A03": "fulfilled"}

// arrival marks the appointments an Encounter refers to as arrived (A01,
// A04) or fulfilled (A03): the visit the appointment was booked for began
// or ended. An appointment the Encounter does not refer to yet is found by
// its id: a visit number equal to one of the appointment's identifiers
// (SCH-1 placer or SCH-2 filler id, as senders that number the visit after
// its appointment do), for the same patient, links the two first.
func (p *plan) arrival(ctx context.Context, enc *state, m *Message) error {
	want := arrivalStatus[m.Event]
	if m.Code != "ADT" || want == "" || enc.current() == nil {
		return nil
	}
	if err := p.linkAppointments(ctx, enc, m); err != nil {
		return err
	}
	for _, a := range list(enc.current(), "appointment") {
		k, ok := parseRef(str(a.(map[string]any), "reference"))
		if !ok || k.typ != "Appointment" {
			continue
		}
		s, err := p.get(ctx, k)
		if err != nil {
			return err
		}
		cur := s.current()
		if cur == nil {
			continue
		}
		switch str(cur, "status") {
		case "cancelled", "noshow", "entered-in-error", "fulfilled", want:
			continue
		}
		if !p.timed(s, want, m) {
			continue
		}
		body := cloneJSONMap(cur)
		body["status"] = want
		stamp(body, m)
		p.set(s, body)
		p.note("appointment", k.ref(), "%s %s: appointment %s", m.Code, m.Event, want)
	}
	return nil
}

// timed reports whether an appointment has its start and end, which FHIR
// requires of every status but proposed, cancelled and waitlist (app-3);
// when not (the schedule's times had no offset and its sender's profile no
// time zone), it notes that the appointment stays as it is rather than
// become want. The link to the visit is made all the same.
func (p *plan) timed(appt *state, want string, m *Message) bool {
	cur := appt.current()
	if str(cur, "start") != "" && str(cur, "end") != "" {
		return true
	}
	p.note("appointment", appt.ref(), "%s %s: the visit began, but the appointment has no start and end (see the mapping's no-timezone warning), which FHIR requires of an appointment %s: it stays %s", m.Code, m.Event, want, str(cur, "status"))
	return false
}

// linkAppointments adds to an Encounter the appointments of its patient
// whose identifier value is one of the Encounter's identifier values (the
// visit number PV1-19 or the alternate visit ID PV1-50; any system: the
// scheduling system and the ADT system name their authorities
// differently). The patient is part of the search, so that the numbers of
// other patients' appointments (two clinics counting from 1) neither link
// nor crowd the patient's own out of the page. Appointments that will not
// take place (cancelled, no-show, entered in error) or took place are not
// linked. The search is checked where the change set commits: an SIU of
// another system applied at the same moment makes the plan start over and
// find its appointment.
func (p *plan) linkAppointments(ctx context.Context, enc *state, m *Message) error {
	subject, ok := parseRef(str(obj(enc.current(), "subject"), "reference"))
	if !ok || subject.typ != "Patient" {
		return nil
	}
	var values []string
	for _, id := range objects(list(enc.current(), "identifier")) {
		if v := str(id, "value"); v != "" && !slices.Contains(values, v) {
			values = append(values, v)
		}
	}
	if len(values) == 0 {
		return nil
	}
	linked := map[string]bool{}
	for _, a := range objects(list(enc.current(), "appointment")) {
		linked[str(a, "reference")] = true
	}
	for _, v := range values {
		found, err := p.searchChecked(ctx, fhirstore.Query{Type: "Appointment", Count: maxLinkedAppointments, Params: []fhirstore.Param{
			{Name: "identifier", Values: []string{fhirstore.TokenValue{Code: v, AnySystem: true}.String()}},
			{Name: "patient", Values: []string{subject.ref()}},
		}})
		if err != nil {
			return err
		}
		for _, s := range found {
			ref := s.ref()
			cur := s.current()
			if cur == nil || linked[ref] {
				continue
			}
			switch str(cur, "status") {
			case "cancelled", "noshow", "entered-in-error", "fulfilled":
				continue
			}
			p.linkVisit(enc, ref, m, "its visit number is the appointment's id")
			linked[ref] = true
		}
	}
	return nil
}

// maxLinkedAppointments bounds the appointments of one patient one visit
// number links.
const maxLinkedAppointments = 10

// scheduledAfterArrival handles a schedule message about an appointment
// whose visit already began: the booking entered after the patient
// arrived, or an SIU that came in after the ADT. The visit the message
// carries, the stored visits that refer to the appointment and those of
// its patient whose visit number is its id are looked at; one that is under way makes
// the appointment arrived, one that ended makes it fulfilled, and the visit
// gains the reference. So the outcome does not depend on which of the two
// systems' messages came first.
func (p *plan) scheduledAfterArrival(ctx context.Context, appt *state, inMessage []*state, m *Message) error {
	cur := appt.current()
	if m.Code != "SIU" || cur == nil {
		return nil
	}
	switch str(cur, "status") {
	case "booked", "pending", "proposed", "waitlist":
	default:
		return nil
	}
	var patient string
	for _, part := range objects(list(cur, "participant")) {
		if k, ok := parseRef(str(obj(part, "actor"), "reference")); ok && k.typ == "Patient" {
			patient = k.ref()
			break
		}
	}
	if patient == "" {
		return nil
	}
	ref := appt.ref()
	var visits []*state
	why := map[string]string{} // visit → how it was found
	add := func(reason string, ss ...*state) {
		for _, s := range ss {
			if why[s.ref()] == "" {
				why[s.ref()] = reason
				visits = append(visits, s)
			}
		}
	}
	// The visit an SIU carries (PV1) is its appointment's, also when that
	// visit's own update was older than the stored one and not applied.
	add("the visit of this message", inMessage...)
	if appt.stored != nil {
		// Only a schedule message names an appointment, and one naming it
		// stored it: a new appointment has no stored visit referring to it.
		found, err := p.searchChecked(ctx, fhirstore.Query{Type: "Encounter", Count: maxLinkedAppointments,
			Params: []fhirstore.Param{{Name: "appointment", Values: []string{ref}}}})
		if err != nil {
			return err
		}
		add("it refers to the appointment", found...)
	}
	for _, id := range objects(list(cur, "identifier")) {
		v := str(id, "value")
		if v == "" {
			continue
		}
		found, err := p.searchChecked(ctx, fhirstore.Query{Type: "Encounter", Count: maxLinkedAppointments, Params: []fhirstore.Param{
			{Name: "identifier", Values: []string{fhirstore.TokenValue{Code: v, AnySystem: true}.String()}},
			{Name: "patient", Values: []string{patient}},
		}})
		if err != nil {
			return err
		}
		add("its visit number is the appointment's id", found...)
	}
	want := ""
	for _, enc := range visits {
		ec := enc.current()
		if ec == nil {
			continue
		}
		var w string
		switch str(ec, "status") {
		case "arrived", "triaged", "in-progress", "onleave":
			w = "arrived"
		case "finished":
			w = "fulfilled"
		default:
			continue
		}
		if !slices.ContainsFunc(objects(list(ec, "appointment")), func(a map[string]any) bool { return str(a, "reference") == ref }) {
			p.linkVisit(enc, ref, m, why[enc.ref()])
		}
		if want != "fulfilled" {
			want = w
		}
	}
	if want == "" || !p.timed(appt, want, m) {
		return nil
	}
	body := cloneJSONMap(cur)
	body["status"] = want
	stamp(body, m)
	p.set(appt, body)
	p.note("appointment", ref, "%s %s: the visit already began: appointment %s", m.Code, m.Event, want)
	return nil
}

// linkVisit adds the appointment ref to a visit's appointments and notes
// why.
func (p *plan) linkVisit(enc *state, ref string, m *Message, why string) {
	body := cloneJSONMap(enc.current())
	body["appointment"] = append(list(body, "appointment"), map[string]any{"reference": ref})
	p.set(enc, body)
	p.note("appointment", ref, "%s %s: linked to Encounter/%s (%s)", m.Code, m.Event, enc.id, why)
}
