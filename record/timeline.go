package record

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/carebridge/carebridge/fhirstore"
)

// ViewStore is what Show and FindByIdentifier read the record through:
// current versions and searches, never writes. fhirstore.Store satisfies
// it. Implementations are safe for concurrent use and see committed data
// only (Read and Search may see different commits).
type ViewStore interface {
	Read(ctx context.Context, typ, id string) (*fhirstore.Resource, error)
	Search(ctx context.Context, q fhirstore.Query) ([]*fhirstore.Resource, error)
}

var _ ViewStore = fhirstore.Store(nil)

// MaxViewItems bounds how many resources of one type Show reads for one
// patient (and how many patients FindByIdentifier returns). A type that
// reaches it is listed in PatientView.Truncated.
const MaxViewItems = 1000

// PatientView is a read-only picture of one patient's record: who the
// patient is, how the record is linked to others, and what happened to
// them in time order. Field names are stable: `carebridge patients show
// --json` prints it.
type PatientView struct {
	ID          string    `json:"id"`
	Version     int64     `json:"version"`
	LastUpdated time.Time `json:"last_updated"`
	// Active is the Patient's active flag; nil when the record does not say.
	Active *bool `json:"active,omitempty"`
	// ReplacedBy is the record this one was merged into (its replaced-by
	// link), and FinalSurvivor the record at the end of that chain of
	// merges; both empty when the record was not merged.
	ReplacedBy    string `json:"replaced_by,omitempty"`
	FinalSurvivor string `json:"final_survivor,omitempty"`
	// LinkedTo is the record an identity link found this one to be (its
	// refer link): this record keeps its own data, its visits and the rest
	// are on that one (FinalSurvivor, at the end of the chain).
	LinkedTo string `json:"linked_to,omitempty"`

	Names       []Name       `json:"names,omitempty"`
	Gender      string       `json:"gender,omitempty"`
	BirthDate   string       `json:"birth_date,omitempty"`
	Deceased    bool         `json:"deceased,omitempty"`
	DeceasedAt  string       `json:"deceased_at,omitempty"`
	Telecom     []Contact    `json:"telecom,omitempty"`
	Addresses   []Address    `json:"addresses,omitempty"`
	Identifiers []Identifier `json:"identifiers,omitempty"`
	Links       []Link       `json:"links,omitempty"`

	// Timeline is every event of the record, oldest first; events without a
	// time come last.
	Timeline []Event `json:"timeline"`
	// Accounts are the patient's accounts with their recorded balances;
	// their charges and payments are in Timeline.
	Accounts []AccountView `json:"accounts"`
	// Truncated lists the resource types of which more than MaxViewItems
	// were found: the view shows only the first MaxViewItems of them.
	Truncated []string `json:"truncated,omitempty"`
}

// Name is one of a patient's names.
type Name struct {
	Use    string   `json:"use,omitempty"`
	Text   string   `json:"text"` // as written, else given names then family name (in CJK scripts family then given, run together: 张伟)
	Family string   `json:"family,omitempty"`
	Given  []string `json:"given,omitempty"`
}

// Contact is a phone number, e-mail address or other contact point.
type Contact struct {
	System string `json:"system,omitempty"`
	Value  string `json:"value"`
	Use    string `json:"use,omitempty"`
}

// Address is a postal address.
type Address struct {
	Use        string   `json:"use,omitempty"`
	Text       string   `json:"text"` // the parts on one line
	Lines      []string `json:"lines,omitempty"`
	City       string   `json:"city,omitempty"`
	State      string   `json:"state,omitempty"`
	PostalCode string   `json:"postal_code,omitempty"`
	Country    string   `json:"country,omitempty"`
}

// Identifier is a business identifier (medical record number, visit or
// account number).
type Identifier struct {
	System string `json:"system,omitempty"`
	Value  string `json:"value"`
	Type   string `json:"type,omitempty"` // the identifier type's text or code
}

// Link is a link between two patient records left by a merge.
type Link struct {
	Type    string `json:"type"`    // replaced-by, replaces, refer, seealso
	Patient string `json:"patient"` // the other record's id
	// Identifiers are the other record's (in Show): by which numbers the
	// other systems know this patient.
	Identifiers []Identifier `json:"identifiers,omitempty"`
}

// Period is a span of time as recorded (FHIR dateTime strings).
type Period struct {
	Start string `json:"start,omitempty"`
	End   string `json:"end,omitempty"`
}

// The kinds of timeline events.
const (
	KindVisit       = "visit"
	KindAppointment = "appointment"
	KindCharge      = "charge"
	KindPayment     = "payment"
	KindFollowUp    = "follow-up"
	KindMessage     = "message"
)

// Event is one entry of a patient's timeline. Exactly one of the detail
// fields is set, the one named by Kind.
type Event struct {
	Time string `json:"time,omitempty"` // as recorded
	Kind string `json:"kind"`
	Ref  string `json:"ref"` // "Encounter/E1"

	Visit       *Visit       `json:"visit,omitempty"`
	Appointment *Appointment `json:"appointment,omitempty"`
	Charge      *Charge      `json:"charge,omitempty"`
	Payment     *Payment     `json:"payment,omitempty"`
	FollowUp    *FollowUp    `json:"follow_up,omitempty"`
	Message     *SentMessage `json:"message,omitempty"`

	at time.Time // Time parsed, for sorting; zero when unknown
}

// Visit is an Encounter.
type Visit struct {
	Status string `json:"status"`
	Class  string `json:"class,omitempty"`
	Period Period `json:"period"`
	// Planned is when a visit not begun yet is expected (PV2-8 and PV2-9,
	// the R5 plannedStartDate and plannedEndDate extensions).
	Planned       *Period        `json:"planned,omitempty"`
	Identifiers   []Identifier   `json:"identifiers,omitempty"`
	StatusHistory []StatusPeriod `json:"status_history,omitempty"`
	ClassHistory  []ClassPeriod  `json:"class_history,omitempty"`
	Locations     []LocationStay `json:"locations,omitempty"`
	Appointments  []string       `json:"appointments,omitempty"` // Appointment ids
}

// StatusPeriod is a status an encounter had, and when.
type StatusPeriod struct {
	Status string `json:"status"`
	Period Period `json:"period"`
}

// ClassPeriod is a class an encounter had (inpatient, outpatient,
// emergency: the class code), and when.
type ClassPeriod struct {
	Class  string `json:"class"`
	Period Period `json:"period"`
}

// LocationStay is one entry of an encounter's location history.
type LocationStay struct {
	Location  string `json:"location"`            // its display, else the Location's name, else its reference
	Reference string `json:"reference,omitempty"` // Location/id
	Status    string `json:"status,omitempty"`
	Period    Period `json:"period"`
}

// Appointment is a booked appointment.
type Appointment struct {
	Status string `json:"status"`
	Start  string `json:"start,omitempty"`
	End    string `json:"end,omitempty"`
	Type   string `json:"type,omitempty"` // appointment or service type text
}

// Charge is a ChargeItem: a charge, or a credit (negative amount).
type Charge struct {
	Account  string `json:"account,omitempty"` // Account id
	Status   string `json:"status"`
	Code     string `json:"code,omitempty"` // the code's text, else display, else code
	Amount   string `json:"amount,omitempty"`
	Currency string `json:"currency,omitempty"`
}

// Payment is a PaymentReconciliation applied to one of the patient's
// accounts.
type Payment struct {
	Account  string `json:"account"`
	Status   string `json:"status"`
	Amount   string `json:"amount,omitempty"`
	Currency string `json:"currency,omitempty"`
}

// FollowUp is a Task or a CommunicationRequest about the patient.
type FollowUp struct {
	Status      string `json:"status"`
	Code        string `json:"code,omitempty"`
	Description string `json:"description,omitempty"`
	Due         Period `json:"due,omitzero"`
}

// SentMessage is a Communication sent to, from or about the patient.
type SentMessage struct {
	Status   string `json:"status"`
	Category string `json:"category,omitempty"`
	Sent     string `json:"sent,omitempty"`
	Received string `json:"received,omitempty"`
	Text     string `json:"text,omitempty"` // the first text payload
}

// AccountView is one of the patient's accounts.
type AccountView struct {
	ID          string       `json:"id"`
	Status      string       `json:"status,omitempty"`
	Identifiers []Identifier `json:"identifiers,omitempty"`
	Balance     string       `json:"balance,omitempty"` // as recorded, "" when none is
	Currency    string       `json:"currency,omitempty"`
	// Balances has one balance per currency when the account has amounts in
	// several (Balance and Currency are then the first).
	Balances []Money `json:"balances,omitempty"`
	Charges  int     `json:"charges"`
	Payments int     `json:"payments"`
}

// Show reads the record of patient id and everything that refers to it.
// It returns an error wrapping fhirstore.ErrNotFound (or ErrGone) when
// there is no such patient. The view of a merged record is the record as
// it stands (what was moved to the survivor is no longer in it) with
// ReplacedBy and FinalSurvivor set.
func Show(ctx context.Context, s ViewStore, id string) (*PatientView, error) {
	r, err := s.Read(ctx, "Patient", id)
	if err != nil {
		return nil, fmt.Errorf("read Patient/%s: %w", id, err)
	}
	v, err := Describe(r)
	if err != nil {
		return nil, err
	}
	if next := cmp.Or(v.ReplacedBy, v.LinkedTo); next != "" {
		if v.FinalSurvivor, err = followReplacedBy(ctx, s, next); err != nil {
			return nil, err
		}
	}
	for i, l := range v.Links {
		o, err := s.Read(ctx, "Patient", l.Patient)
		if err != nil {
			continue // a link to a record not (or no longer) there: shown as it is
		}
		ob, err := decode(o.Body)
		if err != nil {
			return nil, fmt.Errorf("read Patient/%s: %w", l.Patient, err)
		}
		v.Links[i].Identifiers = identifiersOf(ob)
	}
	b := &viewBuilder{ctx: ctx, s: s, v: v, ref: "Patient/" + id, seen: map[string]bool{}}
	if err := b.build(); err != nil {
		return nil, err
	}
	return v, nil
}

// Describe returns the patient part of a view (demographics, identifiers,
// links) from a stored Patient, without its timeline: what a list of
// patients shows.
func Describe(r *fhirstore.Resource) (*PatientView, error) {
	if r.Type != "Patient" {
		return nil, fmt.Errorf("describe %s/%s: not a Patient", r.Type, r.ID)
	}
	b, err := decode(r.Body)
	if err != nil {
		return nil, fmt.Errorf("read Patient/%s: %w", r.ID, err)
	}
	v := &PatientView{ID: r.ID, Version: r.Version, LastUpdated: r.LastUpdated.UTC(),
		Gender: str(b, "gender"), BirthDate: str(b, "birthDate"), Timeline: []Event{}, Accounts: []AccountView{}}
	if a, ok := b["active"].(bool); ok {
		v.Active = &a
	}
	if d, ok := b["deceasedBoolean"].(bool); ok {
		v.Deceased = d
	}
	if at := str(b, "deceasedDateTime"); at != "" {
		v.Deceased, v.DeceasedAt = true, at
	}
	for _, n := range objects(list(b, "name")) {
		nm := Name{Use: str(n, "use"), Text: str(n, "text"), Family: str(n, "family"), Given: stringList(list(n, "given"))}
		if nm.Text == "" {
			nm.Text = nameText(nm)
		}
		v.Names = append(v.Names, nm)
	}
	for _, t := range objects(list(b, "telecom")) {
		if val := str(t, "value"); val != "" {
			v.Telecom = append(v.Telecom, Contact{System: str(t, "system"), Value: val, Use: str(t, "use")})
		}
	}
	for _, a := range objects(list(b, "address")) {
		ad := Address{Use: str(a, "use"), Lines: stringList(list(a, "line")), City: str(a, "city"), State: str(a, "state"),
			PostalCode: str(a, "postalCode"), Country: str(a, "country"), Text: str(a, "text")}
		if ad.Text == "" {
			ad.Text = addressText(ad)
		}
		v.Addresses = append(v.Addresses, ad)
	}
	v.Identifiers = identifiersOf(b)
	for _, l := range objects(list(b, "link")) {
		k, ok := parseRef(str(obj(l, "other"), "reference"))
		if !ok || k.typ != "Patient" {
			continue
		}
		v.Links = append(v.Links, Link{Type: str(l, "type"), Patient: k.id})
	}
	switch next, kind := forwardLink(b); kind {
	case "replaced-by":
		v.ReplacedBy = next
	case "refer":
		v.LinkedTo = next
	}
	return v, nil
}

// FindByIdentifier returns the patients with an identifier matching token,
// written "[SYSTEM|]VALUE" ("VALUE" alone matches any system, "|VALUE"
// only identifiers without one). Each match is followed through its
// replaced-by (and identity-link refer) links to the record that survived
// its merges; the ids are
// de-duplicated and sorted. No match is an empty list, not an error.
func FindByIdentifier(ctx context.Context, s ViewStore, token string) ([]string, error) {
	value := token
	if _, v, ok := strings.Cut(token, "|"); ok {
		value = v
	}
	if strings.TrimSpace(value) == "" {
		return nil, fmt.Errorf("find patient by identifier %q: %w: no value", token, fhirstore.ErrBadQuery)
	}
	found, err := s.Search(ctx, fhirstore.Query{Type: "Patient", Count: MaxViewItems,
		Params: []fhirstore.Param{{Name: "identifier", Values: []string{token}}}})
	if err != nil {
		return nil, fmt.Errorf("find patient by identifier: %w", err)
	}
	seen := map[string]bool{}
	var out []string
	for _, f := range found {
		b, err := decode(f.Body)
		if err != nil {
			return nil, fmt.Errorf("read Patient/%s: %w", f.ID, err)
		}
		id := f.ID
		if next, _ := forwardLink(b); next != "" {
			if id, err = followReplacedBy(ctx, s, next); err != nil {
				return nil, err
			}
		}
		if !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	slices.Sort(out)
	return out, nil
}

// FinalSurvivor is the record at the end of the chain of merges (and
// identity links) that starts at patient id: id itself when it was neither
// merged nor linked.
func FinalSurvivor(ctx context.Context, s ViewStore, id string) (string, error) {
	return followReplacedBy(ctx, s, id)
}

// followReplacedBy returns the record at the end of the replaced-by chain
// that starts at patient id (id itself when it was not merged).
func followReplacedBy(ctx context.Context, s ViewStore, id string) (string, error) {
	seen := map[string]bool{}
	for range maxChain {
		if seen[id] {
			return "", fmt.Errorf("%w: replaced-by links of Patient/%s loop", ErrCircularMerge, id)
		}
		seen[id] = true
		r, err := s.Read(ctx, "Patient", id)
		if err != nil {
			return "", fmt.Errorf("follow merges: read Patient/%s: %w", id, err)
		}
		b, err := decode(r.Body)
		if err != nil {
			return "", fmt.Errorf("follow merges: read Patient/%s: %w", id, err)
		}
		next, _ := forwardLink(b)
		if next == "" {
			return id, nil
		}
		id = next
	}
	return "", fmt.Errorf("%w: more than %d replaced-by links from Patient/%s", ErrCircularMerge, maxChain, id)
}

// viewBuilder gathers the resources that refer to one patient.
type viewBuilder struct {
	ctx  context.Context
	s    ViewStore
	v    *PatientView
	ref  string          // "Patient/ID"
	seen map[string]bool // "Type/id" already on the timeline
	// locations caches the names of the Locations visits were at, by id.
	locations map[string]string
}

func (b *viewBuilder) search(typ, param, value string) ([]map[string]any, error) {
	found, err := b.s.Search(b.ctx, fhirstore.Query{Type: typ, Count: MaxViewItems + 1,
		Params: []fhirstore.Param{{Name: param, Values: []string{value}}}})
	if err != nil {
		return nil, fmt.Errorf("show %s: search %s: %w", b.ref, typ, err)
	}
	if len(found) > MaxViewItems {
		found = found[:MaxViewItems]
		if !slices.Contains(b.v.Truncated, typ) {
			b.v.Truncated = append(b.v.Truncated, typ)
		}
	}
	out := make([]map[string]any, 0, len(found))
	for _, f := range found {
		k := f.Type + "/" + f.ID
		if b.seen[k] {
			continue
		}
		b.seen[k] = true
		body, err := decode(f.Body)
		if err != nil {
			return nil, fmt.Errorf("show %s: read %s: %w", b.ref, k, err)
		}
		out = append(out, body)
	}
	return out, nil
}

func (b *viewBuilder) add(e Event) {
	e.at = placeFHIRTime(e.Time)
	b.v.Timeline = append(b.v.Timeline, e)
}

func (b *viewBuilder) build() error {
	steps := []func() error{b.visits, b.appointments, b.accounts, b.charges, b.followUps, b.messages}
	for _, step := range steps {
		if err := step(); err != nil {
			return err
		}
	}
	kindOrder := map[string]int{KindVisit: 0, KindAppointment: 1, KindCharge: 2, KindPayment: 3, KindFollowUp: 4, KindMessage: 5}
	slices.SortStableFunc(b.v.Timeline, func(x, y Event) int {
		if x.at.IsZero() != y.at.IsZero() {
			if x.at.IsZero() {
				return 1
			}
			return -1
		}
		if c := x.at.Compare(y.at); c != 0 {
			return c
		}
		if c := cmp.Compare(kindOrder[x.Kind], kindOrder[y.Kind]); c != 0 {
			return c
		}
		return cmp.Compare(x.Ref, y.Ref)
	})
	slices.SortFunc(b.v.Accounts, func(x, y AccountView) int { return cmp.Compare(x.ID, y.ID) })
	slices.Sort(b.v.Truncated)
	return nil
}

// locationName is the name of the Location ref points to ("" when it has
// none or cannot be read: the reference is shown instead).
func (b *viewBuilder) locationName(ref string) string {
	k, ok := parseRef(ref)
	if !ok || k.typ != "Location" {
		return ""
	}
	if name, ok := b.locations[k.id]; ok {
		return name
	}
	name := ""
	if r, err := b.s.Read(b.ctx, "Location", k.id); err == nil {
		if body, err := decode(r.Body); err == nil {
			name = str(body, "name")
		}
	}
	if b.locations == nil {
		b.locations = map[string]string{}
	}
	b.locations[k.id] = name
	return name
}

func (b *viewBuilder) visits() error {
	found, err := b.search("Encounter", "patient", b.ref)
	if err != nil {
		return err
	}
	for _, e := range found {
		vis := &Visit{Status: str(e, "status"), Class: codingText(obj(e, "class")), Period: periodOf(obj(e, "period")), Identifiers: identifiersOf(e)}
		for _, h := range objects(list(e, "statusHistory")) {
			vis.StatusHistory = append(vis.StatusHistory, StatusPeriod{Status: str(h, "status"), Period: periodOf(obj(h, "period"))})
		}
		for _, h := range objects(list(e, "classHistory")) {
			vis.ClassHistory = append(vis.ClassHistory, ClassPeriod{Class: codingText(obj(h, "class")), Period: periodOf(obj(h, "period"))})
		}
		for _, l := range objects(list(e, "location")) {
			loc := obj(l, "location")
			ref := str(loc, "reference")
			name := str(loc, "display")
			if name == "" {
				name = cmp.Or(b.locationName(ref), ref) // read only when there is no display
			}
			vis.Locations = append(vis.Locations, LocationStay{Location: name, Reference: ref, Status: str(l, "status"), Period: periodOf(obj(l, "period"))})
		}
		for _, a := range objects(list(e, "appointment")) {
			if k, ok := parseRef(str(a, "reference")); ok && k.typ == "Appointment" {
				vis.Appointments = append(vis.Appointments, k.id)
			}
		}
		planned := Period{Start: extensionDateTime(e, plannedStartURL), End: extensionDateTime(e, plannedEndURL)}
		if planned != (Period{}) {
			vis.Planned = &planned
		}
		at := vis.Period.Start
		if at == "" && len(vis.StatusHistory) > 0 {
			at = vis.StatusHistory[0].Period.Start
		}
		if at == "" {
			at = planned.Start // a visit not begun yet, when it is expected
		}
		b.add(Event{Time: at, Kind: KindVisit, Ref: "Encounter/" + str(e, "id"), Visit: vis})
	}
	return nil
}

func (b *viewBuilder) appointments() error {
	found, err := b.search("Appointment", "patient", b.ref)
	if err != nil {
		return err
	}
	for _, a := range found {
		ap := &Appointment{Status: str(a, "status"), Start: str(a, "start"), End: str(a, "end"), Type: conceptText(obj(a, "appointmentType"))}
		if ap.Type == "" {
			for _, st := range objects(list(a, "serviceType")) {
				if ap.Type = conceptText(st); ap.Type != "" {
					break
				}
			}
		}
		at := ap.Start
		if at == "" {
			at = str(a, "created")
		}
		b.add(Event{Time: at, Kind: KindAppointment, Ref: "Appointment/" + str(a, "id"), Appointment: ap})
	}
	return nil
}

// accounts lists the patient's accounts and their payments.
func (b *viewBuilder) accounts() error {
	found, err := b.search("Account", "patient", b.ref)
	if err != nil {
		return err
	}
	for _, a := range found {
		id := str(a, "id")
		av := AccountView{ID: id, Status: str(a, "status"), Identifiers: identifiersOf(a)}
		av.Balance, av.Currency = Balance(a)
		if bs := Balances(a); len(bs) > 1 {
			av.Balances = bs
		}
		b.v.Accounts = append(b.v.Accounts, av)
		pays, err := b.search("PaymentReconciliation", "account", "Account/"+id)
		if err != nil {
			return err
		}
		for _, p := range pays {
			pm := &Payment{Account: id, Status: str(p, "status")}
			pm.Amount, pm.Currency = moneyOf(obj(p, "paymentAmount"))
			at := str(p, "paymentDate")
			if at == "" {
				at = str(p, "created")
			}
			b.add(Event{Time: at, Kind: KindPayment, Ref: "PaymentReconciliation/" + str(p, "id"), Payment: pm})
		}
	}
	return nil
}

// charges lists the charges on the patient (and those on the patient's
// accounts, whoever their subject).
func (b *viewBuilder) charges() error {
	found, err := b.search("ChargeItem", "patient", b.ref)
	if err != nil {
		return err
	}
	for _, a := range b.v.Accounts {
		more, err := b.search("ChargeItem", "account", "Account/"+a.ID)
		if err != nil {
			return err
		}
		found = append(found, more...)
	}
	for _, c := range found {
		ch := &Charge{Status: str(c, "status"), Code: conceptText(obj(c, "code"))}
		if accs := accountsOf("ChargeItem", c); len(accs) > 0 {
			k, _ := parseRef(accs[0])
			ch.Account = k.id
		}
		ch.Amount, ch.Currency = moneyOf(obj(c, "priceOverride"))
		at := str(c, "occurrenceDateTime")
		if at == "" {
			at = str(obj(c, "occurrencePeriod"), "start")
		}
		if at == "" {
			at = str(c, "enteredDate")
		}
		b.add(Event{Time: at, Kind: KindCharge, Ref: "ChargeItem/" + str(c, "id"), Charge: ch})
	}
	b.countItems()
	return nil
}

// countItems counts each account's charges and payments on the timeline.
func (b *viewBuilder) countItems() {
	idx := map[string]int{}
	for i, a := range b.v.Accounts {
		idx[a.ID] = i
	}
	for _, e := range b.v.Timeline {
		switch {
		case e.Charge != nil:
			if i, ok := idx[e.Charge.Account]; ok {
				b.v.Accounts[i].Charges++
			}
		case e.Payment != nil:
			if i, ok := idx[e.Payment.Account]; ok {
				b.v.Accounts[i].Payments++
			}
		}
	}
}

func (b *viewBuilder) followUps() error {
	tasks, err := b.search("Task", "patient", b.ref)
	if err != nil {
		return err
	}
	for _, t := range tasks {
		f := &FollowUp{Status: str(t, "status"), Code: conceptText(obj(t, "code")), Description: str(t, "description"),
			Due: periodOf(obj(t, "executionPeriod"))}
		at := str(t, "authoredOn")
		if at == "" {
			at = f.Due.Start
		}
		b.add(Event{Time: at, Kind: KindFollowUp, Ref: "Task/" + str(t, "id"), FollowUp: f})
	}
	reqs, err := b.search("CommunicationRequest", "patient", b.ref)
	if err != nil {
		return err
	}
	for _, r := range reqs {
		f := &FollowUp{Status: str(r, "status"), Description: payloadText(r)}
		for _, c := range objects(list(r, "category")) {
			if f.Code = conceptText(c); f.Code != "" {
				break
			}
		}
		if at := str(r, "occurrenceDateTime"); at != "" {
			f.Due = Period{Start: at}
		} else {
			f.Due = periodOf(obj(r, "occurrencePeriod"))
		}
		at := str(r, "authoredOn")
		if at == "" {
			at = f.Due.Start
		}
		b.add(Event{Time: at, Kind: KindFollowUp, Ref: "CommunicationRequest/" + str(r, "id"), FollowUp: f})
	}
	return nil
}

func (b *viewBuilder) messages() error {
	found, err := b.search("Communication", "patient", b.ref)
	if err != nil {
		return err
	}
	for _, c := range found {
		m := &SentMessage{Status: str(c, "status"), Sent: str(c, "sent"), Received: str(c, "received"), Text: payloadText(c)}
		for _, cat := range objects(list(c, "category")) {
			if m.Category = conceptText(cat); m.Category != "" {
				break
			}
		}
		at := m.Sent
		if at == "" {
			at = m.Received
		}
		b.add(Event{Time: at, Kind: KindMessage, Ref: "Communication/" + str(c, "id"), Message: m})
	}
	return nil
}

// placeFHIRTime reads a FHIR date or dateTime of any precision (a date
// without a zone counts as UTC) as the time an event sits at on the
// timeline; zero when it cannot. A date without a time of day (a payment's
// paymentDate) sits at the end of that day — of that month or year for a
// partial date —, after the events of the day that have a time: it is not
// known to have come before them, and printed first it read as a payment
// before the visit or the charge it paid.
func placeFHIRTime(s string) time.Time {
	for _, l := range []struct {
		layout string
		end    func(time.Time) time.Time
	}{
		{time.RFC3339Nano, nil},
		{"2006-01-02T15:04:05", nil},
		{"2006-01-02", func(t time.Time) time.Time { return t.AddDate(0, 0, 1) }},
		{"2006-01", func(t time.Time) time.Time { return t.AddDate(0, 1, 0) }},
		{"2006", func(t time.Time) time.Time { return t.AddDate(1, 0, 0) }},
	} {
		if t, err := time.Parse(l.layout, s); err == nil {
			if l.end != nil {
				t = l.end(t).Add(-time.Nanosecond)
			}
			return t.UTC()
		}
	}
	return time.Time{}
}

func objects(l []any) []map[string]any {
	out := make([]map[string]any, 0, len(l))
	for _, e := range l {
		if m, ok := e.(map[string]any); ok {
			out = append(out, m)
		}
	}
	return out
}

func stringList(l []any) []string {
	var out []string
	for _, e := range l {
		if s, ok := e.(string); ok && s != "" {
			out = append(out, s)
		}
	}
	return out
}

func identifiersOf(b map[string]any) []Identifier {
	var out []Identifier
	for _, id := range objects(list(b, "identifier")) {
		if val := str(id, "value"); val != "" {
			out = append(out, Identifier{System: str(id, "system"), Value: val, Type: conceptText(obj(id, "type"))})
		}
	}
	return out
}

// The R5 elements an R4 Encounter carries as extensions: when a visit is
// expected to start and end.
const (
	plannedStartURL = "http://hl7.org/fhir/5.0/StructureDefinition/extension-Encounter.plannedStartDate"
	plannedEndURL   = "http://hl7.org/fhir/5.0/StructureDefinition/extension-Encounter.plannedEndDate"
)

// extensionDateTime is the valueDateTime of res's extension with the given
// URL, "" when none.
func extensionDateTime(res map[string]any, url string) string {
	for _, x := range objects(list(res, "extension")) {
		if str(x, "url") == url {
			return str(x, "valueDateTime")
		}
	}
	return ""
}

func periodOf(p map[string]any) Period { return Period{Start: str(p, "start"), End: str(p, "end")} }

// conceptText is a CodeableConcept's text, else its first coding's display,
// else its first code.
func conceptText(cc map[string]any) string {
	if t := str(cc, "text"); t != "" {
		return t
	}
	for _, c := range objects(list(cc, "coding")) {
		if d := str(c, "display"); d != "" {
			return d
		}
	}
	for _, c := range objects(list(cc, "coding")) {
		if d := str(c, "code"); d != "" {
			return d
		}
	}
	return ""
}

// codingText is a Coding's code, else its display.
func codingText(c map[string]any) string {
	if code := str(c, "code"); code != "" {
		return code
	}
	return str(c, "display")
}

// moneyOf formats a Money value with two decimals.
func moneyOf(m map[string]any) (value, currency string) {
	v, ok := decimal(m["value"])
	if !ok {
		return "", str(m, "currency")
	}
	return v.FloatString(2), str(m, "currency")
}

// payloadText is the first text payload of a Communication or
// CommunicationRequest.
func payloadText(b map[string]any) string {
	for _, p := range objects(list(b, "payload")) {
		if s := str(p, "contentString"); s != "" {
			return s
		}
	}
	return ""
}

func addressText(a Address) string {
	parts := slices.Clone(a.Lines)
	cityLine := strings.TrimSpace(strings.Join(nonEmptyStrings(a.City, strings.TrimSpace(a.State+" "+a.PostalCode)), " "))
	parts = append(parts, nonEmptyStrings(cityLine, a.Country)...)
	return strings.Join(parts, ", ")
}

func nonEmptyStrings(ss ...string) []string {
	return slices.DeleteFunc(ss, func(s string) bool { return s == "" })
}

// IsMissing reports whether err says the patient does not exist (never
// did, or was deleted).
func IsMissing(err error) bool {
	return errors.Is(err, fhirstore.ErrNotFound) || errors.Is(err, fhirstore.ErrGone)
}

// nameText writes a name on one line: given names then the family name,
// or for a name in a CJK script the family name then the given names run
// together, as they are written there (张伟, not 伟 张).
func nameText(n Name) string {
	if fhirstore.ContainsCJK(n.Family + strings.Join(n.Given, "")) {
		return strings.TrimSpace(n.Family + strings.Join(n.Given, ""))
	}
	return strings.TrimSpace(strings.Join(append(slices.Clone(n.Given), n.Family), " "))
}
