package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/carebridge/carebridge/fhirstore"
	"github.com/carebridge/carebridge/fhirstore/sqlite"
	"github.com/carebridge/carebridge/record"
)

// Bounds of `patients search --count`.
const (
	defaultSearchCount = 50
	maxSearchCount     = 1000
)

func newPatientsCmd() *cobra.Command {
	c := group(&cobra.Command{
		Use:   "patients",
		Short: "Show, search, merge and unmerge patient records; settle possible duplicates (works while serve runs)",
	})
	c.AddCommand(newPatientsShowCmd(), newPatientsHistoryCmd(), newPatientsSearchCmd(), newPatientsMergeCmd(), newPatientsUnmergeCmd(), newPatientsReviewCmd())
	return c
}

// openRecordStore loads the configuration and opens the store of a
// patients command.
func openRecordStore(cmd *cobra.Command, cf *configFlags, readOnly bool) (*sqlite.Store, error) {
	cfg, err := cf.load()
	if err != nil {
		return nil, err
	}
	return openJournal(cmd, cfg, readOnly)
}

// openRecorder opens the store and a Recorder over it, with the
// configuration's identity settings. The Recorder logs nothing (its notes
// are printed instead).
func openRecorder(cmd *cobra.Command, cf *configFlags, readOnly bool) (*sqlite.Store, *record.Recorder, error) {
	cfg, err := cf.load()
	if err != nil {
		return nil, nil, err
	}
	j, err := openJournal(cmd, cfg, readOnly)
	if err != nil {
		return nil, nil, err
	}
	rec, err := record.New(j, record.Options{Match: &cfg.Identity})
	if err != nil {
		j.Close()
		return nil, nil, err
	}
	return j, rec, nil
}

// failure is an error with the failure exit status.
func failuref(format string, args ...any) error {
	return &exitError{code: exitFailure, err: fmt.Errorf(format, args...)}
}

// usageError is an error with the usage exit status and the usual hint.
func usageErrorf(c *cobra.Command, format string, args ...any) error {
	return &exitError{code: exitUsage, err: fmt.Errorf("%s: %s\nrun '%s --help' for usage", c.CommandPath(), fmt.Sprintf(format, args...), c.CommandPath())}
}

// resourceID is the id a command was given for a resource of type typ: an
// id, or the reference Type/ID that every output prints (`Links: replaces
// Patient/ID`, the merge notes), so that a reference copied from there
// names the record instead of failing as "Patient/Patient/ID: not found".
// An empty argument, a reference to another type or anything else with a
// slash is a usage error.
func resourceID(c *cobra.Command, typ, arg string) (string, error) {
	id := strings.TrimPrefix(arg, typ+"/")
	if id == "" || strings.Contains(id, "/") {
		return "", usageErrorf(c, "%q is not a %s id (give ID or %s/ID)", arg, typ, typ)
	}
	return id, nil
}

func newPatientsShowCmd() *cobra.Command {
	var cf configFlags
	var identifier string
	var asJSON bool
	c := &cobra.Command{
		Use:   "show ID | --identifier [SYSTEM|]VALUE",
		Short: "Show one patient's record: demographics, identifiers, links and timeline",
		Long: `Show one patient's record: demographics, identifiers, merge links, and a timeline of
visits (with status and location history), appointments, charges and payments, follow-ups
and messages, oldest first, then the patient's accounts with their balances.

Name the patient by id, or by identifier with --identifier: SYSTEM|VALUE, or VALUE alone for
any system. A merged record found by identifier is followed to the record that replaced it.
When several patients have the identifier they are listed and nothing is shown: run again
with one of their ids.`,
		Args: usageArgs(cobra.MaximumNArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			if (len(args) == 1) == (identifier != "") {
				return usageErrorf(cmd, "give a patient ID or --identifier, one of them")
			}
			if len(args) == 1 {
				id, err := resourceID(cmd, "Patient", args[0])
				if err != nil {
					return err
				}
				args[0] = id
			}
			ctx := cmd.Context()
			j, err := openRecordStore(cmd, &cf, true)
			if err != nil {
				return err
			}
			defer j.Close()
			out := cmd.OutOrStdout()
			var id string
			if len(args) == 1 {
				id = args[0]
			} else if id, err = patientByIdentifier(cmd, j, identifier, asJSON); err != nil {
				return err
			}
			v, err := record.Show(ctx, j, id)
			if record.IsMissing(err) {
				// The patient, or a record its merges lead to?
				switch _, rerr := j.Read(ctx, "Patient", id); {
				case errors.Is(rerr, fhirstore.ErrGone):
					return failuref("patient %s was deleted", id)
				case errors.Is(rerr, fhirstore.ErrNotFound):
					return failuref("no patient %s", id)
				}
			}
			if err != nil {
				return err
			}
			if asJSON {
				return json.NewEncoder(out).Encode(v)
			}
			writeView(out, v)
			return nil
		},
	}
	cf.register(c)
	c.Flags().StringVar(&identifier, "identifier", "", "find the patient by identifier: SYSTEM|VALUE, or VALUE for any system")
	c.Flags().BoolVar(&asJSON, "json", false, "print the record as one JSON object")
	return c
}

// patientByIdentifier finds the one patient with identifier ([SYSTEM|]VALUE)
// for a command that shows one: none is a failure; several are listed (id,
// name, birth date) and are a failure too, saying to run the command again
// with one of their ids.
func patientByIdentifier(cmd *cobra.Command, j *sqlite.Store, identifier string, asJSON bool) (string, error) {
	ctx := cmd.Context()
	ids, err := record.FindByIdentifier(ctx, j, identifier)
	if errors.Is(err, fhirstore.ErrBadQuery) {
		return "", usageErrorf(cmd, "--identifier %q: want [SYSTEM|]VALUE", identifier)
	}
	if err != nil {
		return "", err
	}
	switch len(ids) {
	case 0:
		return "", failuref("no patient has identifier %q", identifier)
	case 1:
		return ids[0], nil
	}
	if err := listMatches(ctx, cmd.OutOrStdout(), j, ids, asJSON); err != nil {
		return "", err
	}
	return "", failuref("%d patients have identifier %q: choose one and run `%s ID`", len(ids), identifier, cmd.CommandPath())
}

// matchJSON is one patient of an ambiguous identifier, as listed.
type matchJSON struct {
	ID        string `json:"id"`
	Name      string `json:"name,omitempty"`
	BirthDate string `json:"birth_date,omitempty"`
}

// listMatches prints the patients an identifier matched: id, name and
// birth date only, enough to choose.
func listMatches(ctx context.Context, w io.Writer, s record.ViewStore, ids []string, asJSON bool) error {
	var rows []matchJSON
	for _, id := range ids {
		r, err := s.Read(ctx, "Patient", id)
		if err != nil {
			return fmt.Errorf("read Patient/%s: %w", id, err)
		}
		v, err := record.Describe(r)
		if err != nil {
			return err
		}
		rows = append(rows, matchJSON{ID: id, Name: primaryName(v), BirthDate: v.BirthDate})
	}
	if asJSON {
		enc := json.NewEncoder(w)
		for _, m := range rows {
			if err := enc.Encode(m); err != nil {
				return err
			}
		}
		return nil
	}
	tw := newTable(w)
	fmt.Fprintln(tw, "ID\tNAME\tBIRTH DATE")
	for _, m := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", m.ID, orDash(m.Name), orDash(m.BirthDate))
	}
	return tw.Flush()
}

// primaryName is the name a list shows: the official (else usual, else
// first) one.
func primaryName(v *record.PatientView) string {
	for _, use := range []string{"official", "usual"} {
		for _, n := range v.Names {
			if n.Use == use && n.Text != "" {
				return n.Text
			}
		}
	}
	for _, n := range v.Names {
		if n.Text != "" {
			return n.Text
		}
	}
	return ""
}

// writeView prints a patient's record in aligned sections.
func writeView(w io.Writer, v *record.PatientView) {
	fmt.Fprintf(w, "Patient %s (version %d, updated %s)\n", v.ID, v.Version, v.LastUpdated.Format("2006-01-02T15:04:05Z"))
	if v.ReplacedBy != "" {
		fmt.Fprintf(w, "MERGED: replaced by Patient/%s", v.ReplacedBy)
		if v.FinalSurvivor != "" && v.FinalSurvivor != v.ReplacedBy {
			fmt.Fprintf(w, ", which was merged into Patient/%s", v.FinalSurvivor)
		}
		fmt.Fprintf(w, "; its events are there: carebridge patients show %s\n", cmp.Or(v.FinalSurvivor, v.ReplacedBy))
	}
	if v.LinkedTo != "" {
		fmt.Fprintf(w, "LINKED: found to be Patient/%s", v.LinkedTo)
		if v.FinalSurvivor != "" && v.FinalSurvivor != v.LinkedTo {
			fmt.Fprintf(w, ", which was merged into Patient/%s", v.FinalSurvivor)
		}
		fmt.Fprintf(w, " (an identity link); its events are there: carebridge patients show %s; to undo the link: carebridge patients unmerge %s\n", cmp.Or(v.FinalSurvivor, v.LinkedTo), v.ID)
	}
	tw := newTable(w)
	field := func(label string, values []string) {
		for i, val := range values {
			if i == 0 {
				fmt.Fprintf(tw, "  %s:\t%s\n", label, val)
			} else {
				fmt.Fprintf(tw, "  \t%s\n", val)
			}
		}
	}
	var names []string
	for _, n := range v.Names {
		names = append(names, withUse(n.Text, n.Use))
	}
	field("Name", names)
	field("Gender", nonEmptyParts(v.Gender))
	field("Birth date", nonEmptyParts(v.BirthDate))
	if v.Deceased {
		field("Deceased", []string{cmp.Or(v.DeceasedAt, "yes")})
	}
	if v.Active != nil {
		field("Active", []string{yesNo(*v.Active)})
	}
	var telecom []string
	for _, t := range v.Telecom {
		telecom = append(telecom, withUse(strings.TrimSpace(t.System+" "+t.Value), t.Use))
	}
	field("Telecom", telecom)
	var addrs []string
	for _, a := range v.Addresses {
		addrs = append(addrs, withUse(a.Text, a.Use))
	}
	field("Address", addrs)
	var ids []string
	for _, id := range v.Identifiers {
		ids = append(ids, identifierText(id))
	}
	field("Identifiers", ids)
	var links []string
	for _, l := range v.Links {
		text := l.Type + " Patient/" + l.Patient
		var ids []string
		for _, id := range l.Identifiers {
			ids = append(ids, identifierText(id))
		}
		if len(ids) > 0 {
			text += " (" + strings.Join(ids, ", ") + ")"
		}
		links = append(links, text)
	}
	field("Links", links)
	tw.Flush()

	fmt.Fprintln(w, "\nTimeline:")
	if len(v.Timeline) == 0 {
		fmt.Fprintln(w, "  (nothing recorded)")
	}
	tw = newTable(w)
	for _, e := range v.Timeline {
		line, more := eventText(e)
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", orDash(e.Time), e.Kind, e.Ref, line)
		for _, m := range more {
			fmt.Fprintf(tw, "  \t\t\t  %s\n", m)
		}
	}
	tw.Flush()

	fmt.Fprintln(w, "\nAccounts:")
	if len(v.Accounts) == 0 {
		fmt.Fprintln(w, "  (none)")
	}
	tw = newTable(w)
	for _, a := range v.Accounts {
		var ids []string
		for _, id := range a.Identifiers {
			ids = append(ids, id.Value)
		}
		balance := "no balance recorded"
		switch {
		case len(a.Balances) > 1:
			var parts []string
			for _, b := range a.Balances {
				parts = append(parts, strings.TrimSpace(b.Value+" "+b.Currency))
			}
			balance = "balances " + strings.Join(parts, ", ")
		case a.Balance != "":
			balance = "balance " + strings.TrimSpace(a.Balance+" "+a.Currency)
		}
		fmt.Fprintf(tw, "  Account/%s\t%s\t%s\t%s\t%d charge(s), %d payment(s)\n", a.ID, orDash(strings.Join(ids, ",")), orDash(a.Status), balance, a.Charges, a.Payments)
	}
	tw.Flush()
	if len(v.Truncated) > 0 {
		fmt.Fprintf(w, "\nOnly the first %d of each shown: %s\n", record.MaxViewItems, strings.Join(v.Truncated, ", "))
	}
}

// eventText describes a timeline event: one line, and the lines under it
// (a visit's status, class and location history).
func eventText(e record.Event) (string, []string) {
	switch {
	case e.Visit != nil:
		x := e.Visit
		line := strings.TrimSpace(x.Class + " " + x.Status)
		if x.Period.End != "" {
			line += ", until " + x.Period.End
		}
		if x.Planned != nil && x.Period.Start == "" {
			line += ", expected " + periodText(*x.Planned)
		}
		var more []string
		for _, h := range x.StatusHistory {
			more = append(more, "was "+h.Status+" "+periodText(h.Period))
		}
		for _, h := range x.ClassHistory {
			more = append(more, "was class "+h.Class+" "+periodText(h.Period))
		}
		for _, l := range x.Locations {
			more = append(more, "at "+l.Location+" ("+orDash(l.Status)+") "+periodText(l.Period))
		}
		for _, a := range x.Appointments {
			more = append(more, "for Appointment/"+a)
		}
		return line, more
	case e.Appointment != nil:
		x := e.Appointment
		line := x.Status
		if x.Type != "" {
			line += " " + x.Type
		}
		if x.End != "" {
			line += ", until " + x.End
		}
		return line, nil
	case e.Charge != nil:
		x := e.Charge
		return strings.Join(nonEmptyParts(moneyText(x.Amount, x.Currency), x.Code, accountText(x.Account), x.Status), "  "), nil
	case e.Payment != nil:
		x := e.Payment
		return strings.Join(nonEmptyParts(moneyText(x.Amount, x.Currency), accountText(x.Account), x.Status), "  "), nil
	case e.FollowUp != nil:
		x := e.FollowUp
		line := strings.Join(nonEmptyParts(x.Status, x.Code, truncate(x.Description, 60)), "  ")
		if x.Due.Start != "" || x.Due.End != "" {
			line += "  due " + periodText(x.Due)
		}
		return line, nil
	case e.Message != nil:
		x := e.Message
		return strings.Join(nonEmptyParts(x.Status, x.Category, truncate(x.Text, 60)), "  "), nil
	}
	return "", nil
}

func periodText(p record.Period) string {
	switch {
	case p.Start == "" && p.End == "":
		return ""
	case p.End == "":
		return p.Start + " →"
	}
	return orDash(p.Start) + " → " + p.End
}

func moneyText(amount, currency string) string {
	return strings.TrimSpace(amount + " " + currency)
}

func accountText(id string) string {
	if id == "" {
		return ""
	}
	return "Account/" + id
}

func identifierText(id record.Identifier) string {
	s := id.Value
	if id.System != "" {
		s = id.System + "|" + id.Value
	}
	if id.Type != "" {
		s += " (" + id.Type + ")"
	}
	return s
}

func withUse(s, use string) string {
	if use == "" {
		return s
	}
	return s + " (" + use + ")"
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func nonEmptyParts(ss ...string) []string {
	var out []string
	for _, s := range ss {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}

// summaryJSON is one patient of a search result: what the table shows.
type summaryJSON struct {
	ID          string              `json:"id"`
	Name        string              `json:"name,omitempty"`
	BirthDate   string              `json:"birth_date,omitempty"`
	Gender      string              `json:"gender,omitempty"`
	Identifiers []record.Identifier `json:"identifiers,omitempty"`
	ReplacedBy  string              `json:"replaced_by,omitempty"`
	LinkedTo    string              `json:"linked_to,omitempty"`
	// FinalSurvivor: where ReplacedBy (or LinkedTo) was merged in turn,
	// the record at the end of the chain, which holds the events.
	FinalSurvivor string `json:"final_survivor,omitempty"`
}

// nowIn is a search row's MERGED INTO or LINKED TO column: the record, and
// the one it was merged into in turn ("-" for none).
func nowIn(to, final string) string {
	if to == "" || final == "" || final == to {
		return orDash(to)
	}
	return to + " (now " + final + ")"
}

func newPatientsSearchCmd() *cobra.Command {
	var cf configFlags
	var name, birthdate, identifier, phone string
	var count int
	var asJSON bool
	c := &cobra.Command{
		Use:   "search [--name S] [--birthdate D] [--identifier T] [--phone P] [--count N] [--json]",
		Short: "Find patients by name, birth date, identifier or phone",
		Long: `Find patients: every criterion given must match (at least one is required).
--name matches the start of any given or family name, ignoring case and accents; --birthdate
takes a date (1980-02-14, 1980-02, 1980) with an optional prefix (ge1980, lt1990-06);
--identifier is SYSTEM|VALUE or VALUE for any system; --phone matches a phone number as
recorded or by its last 8 digits, however either is written (spaces, dashes, +44 or 0).
Merged records are listed too, with the record that replaced them, and records an identity
link found to be another patient, with that patient.`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			q := fhirstore.Query{Type: "Patient", Count: count}
			for _, p := range []struct{ name, value string }{{"name", name}, {"birthdate", birthdate}, {"identifier", identifier}} {
				if p.value != "" {
					q.Params = append(q.Params, fhirstore.Param{Name: p.name, Values: []string{p.value}})
				}
			}
			if phone != "" {
				// As recorded, or by its last digits however written
				// (01632 960001, +44-1632-960001).
				values := []string{fhirstore.TokenValue{Code: phone, AnySystem: true}.String()}
				if k := fhirstore.PhoneKey(phone); k != "" {
					values = append(values, fhirstore.TokenValue{System: fhirstore.PhoneKeySystem, Code: k}.String())
				}
				q.Params = append(q.Params, fhirstore.Param{Name: "phone", Values: values})
			}
			if len(q.Params) == 0 {
				return usageErrorf(cmd, "say whom to look for: --name, --birthdate, --identifier or --phone")
			}
			if _, v, ok := strings.Cut(identifier, "|"); identifier != "" && strings.TrimSpace(v) == "" && ok {
				return usageErrorf(cmd, "--identifier %q: want [SYSTEM|]VALUE", identifier) // as patients show
			}
			if count < 1 || count > maxSearchCount {
				return usageErrorf(cmd, "--count must be between 1 and %d", maxSearchCount)
			}
			ctx := cmd.Context()
			j, err := openRecordStore(cmd, &cf, true)
			if err != nil {
				return err
			}
			defer j.Close()
			found, err := j.Search(ctx, q)
			if errors.Is(err, fhirstore.ErrBadQuery) {
				return usageErrorf(cmd, "%v", err)
			}
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			enc := json.NewEncoder(out)
			tw := newTable(out)
			if !asJSON {
				fmt.Fprintln(tw, "ID\tNAME\tBIRTH DATE\tGENDER\tIDENTIFIERS\tMERGED INTO\tLINKED TO")
			}
			for _, r := range found {
				v, err := record.Describe(r)
				if err != nil {
					return err
				}
				s := summaryJSON{ID: v.ID, Name: primaryName(v), BirthDate: v.BirthDate, Gender: v.Gender, Identifiers: v.Identifiers, ReplacedBy: v.ReplacedBy, LinkedTo: v.LinkedTo}
				if next := cmp.Or(v.ReplacedBy, v.LinkedTo); next != "" {
					final, err := record.FinalSurvivor(ctx, j, next)
					if err != nil {
						return err
					}
					if final != next {
						s.FinalSurvivor = final
					}
				}
				if asJSON {
					if err := enc.Encode(s); err != nil {
						return err
					}
					continue
				}
				var ids []string
				for _, id := range s.Identifiers {
					ids = append(ids, identifierText(record.Identifier{System: id.System, Value: id.Value}))
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", s.ID, orDash(s.Name), orDash(s.BirthDate), orDash(s.Gender), orDash(strings.Join(ids, " ")), nowIn(s.ReplacedBy, s.FinalSurvivor), nowIn(s.LinkedTo, s.FinalSurvivor))
			}
			if !asJSON {
				if err := tw.Flush(); err != nil {
					return err
				}
			}
			// On standard error, also with --json: the lines on standard
			// output stay JSON, and a script can tell a cut list.
			if len(found) == 0 {
				fmt.Fprintln(cmd.ErrOrStderr(), "no patient matches")
			} else if len(found) == count {
				fmt.Fprintf(cmd.ErrOrStderr(), "showing the first %d: there may be more (narrow the search or raise --count)\n", count)
			}
			return nil
		},
	}
	cf.register(c)
	c.Flags().StringVar(&name, "name", "", "a given or family name (its start; case and accents ignored)")
	c.Flags().StringVar(&birthdate, "birthdate", "", "birth date: 1980-02-14, 1980-02 or 1980, optionally prefixed eq, ne, lt, gt, le, ge (ge1980)")
	c.Flags().StringVar(&identifier, "identifier", "", "identifier: SYSTEM|VALUE, or VALUE for any system")
	c.Flags().StringVar(&phone, "phone", "", "phone number (as recorded, or its last 8 digits match)")
	c.Flags().IntVar(&count, "count", defaultSearchCount, fmt.Sprintf("at most N patients (1 to %d)", maxSearchCount))
	c.Flags().BoolVar(&asJSON, "json", false, "one JSON object per patient and line")
	return c
}

// writeOutcome prints what a merge, unmerge or review decision did.
// changeRecord runs one change of the record (a merge, an unmerge, a review
// decision) and prints what it did.
func changeRecord(cmd *cobra.Command, cf *changeFlags, what string, change func(context.Context, *record.Recorder) (*record.Outcome, error)) error {
	ctx := cmd.Context()
	j, rec, err := openRecorder(cmd, &cf.configFlags, false)
	if err != nil {
		return err
	}
	defer j.Close()
	o, err := change(ctx, rec)
	if err != nil {
		return recordError(what, err)
	}
	if cf.json {
		return writeOutcomeJSON(cmd.OutOrStdout(), o)
	}
	writeOutcome(cmd.OutOrStdout(), o)
	return nil
}

// changeFlags are the flags of the commands that change the record (merge,
// unmerge, review accept and reject).
type changeFlags struct {
	configFlags
	json bool
}

func (f *changeFlags) register(c *cobra.Command) {
	f.configFlags.register(c)
	c.Flags().BoolVar(&f.json, "json", false, "print what was done as one JSON object")
}

// outcomeJSON is what a change to the record did, as --json prints it.
type outcomeJSON struct {
	Notes   []record.Note `json:"notes"`
	Written []writtenJSON `json:"written"`
}

type writtenJSON struct {
	Type    string `json:"type"`
	ID      string `json:"id"`
	Version int64  `json:"version"`
}

func writeOutcomeJSON(w io.Writer, o *record.Outcome) error {
	out := outcomeJSON{Notes: o.Notes, Written: make([]writtenJSON, 0, len(o.Written))}
	if out.Notes == nil {
		out.Notes = []record.Note{}
	}
	for _, r := range o.Written {
		out.Written = append(out.Written, writtenJSON{Type: r.Type, ID: r.ID, Version: r.Version})
	}
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc.Encode(out)
}

func writeOutcome(w io.Writer, o *record.Outcome) {
	tw := newTable(w)
	for _, n := range o.Notes {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", n.Kind, orDash(n.Where), n.Message)
	}
	tw.Flush()
	fmt.Fprintf(w, "wrote %d resource version(s)\n", len(o.Written))
}

// recordError turns the record's refusals into failures with their reason.
func recordError(what string, err error) error {
	switch {
	case errors.Is(err, record.ErrCircularMerge), errors.Is(err, record.ErrNotMerged),
		errors.Is(err, record.ErrReviewClosed), errors.Is(err, fhirstore.ErrNotFound):
		return failuref("cannot %s: %w", what, err)
	case errors.Is(err, fhirstore.ErrConflict):
		return failuref("cannot %s: the record kept changing under us (is serve busy with this patient?), try again: %w", what, err)
	}
	return fmt.Errorf("%s: %w", what, err)
}

func newPatientsMergeCmd() *cobra.Command {
	var cf changeFlags
	c := &cobra.Command{
		Use:   "merge SURVIVOR MERGED [--json]",
		Short: "Merge patient MERGED into patient SURVIVOR",
		Long: `Merge patient MERGED into patient SURVIVOR, as a person who decided they are the same:
everything that refers to MERGED (visits, appointments, charges, accounts, follow-ups,
messages) moves to SURVIVOR, and MERGED is kept, inactive, with a replaced-by link to
SURVIVOR. Prints what moved. A merge that would make a loop (SURVIVOR was itself merged
into MERGED) is refused. Undo with 'carebridge patients unmerge MERGED'.`,
		Args: usageArgs(cobra.ExactArgs(2)),
		RunE: func(cmd *cobra.Command, args []string) error {
			survivor, err := resourceID(cmd, "Patient", args[0])
			if err != nil {
				return err
			}
			merged, err := resourceID(cmd, "Patient", args[1])
			if err != nil {
				return err
			}
			return changeRecord(cmd, &cf, "merge", func(ctx context.Context, rec *record.Recorder) (*record.Outcome, error) {
				return rec.Merge(ctx, survivor, merged)
			})
		},
	}
	cf.register(c)
	return c
}

func newPatientsUnmergeCmd() *cobra.Command {
	var cf changeFlags
	c := &cobra.Command{
		Use:   "unmerge ID [--json]",
		Short: "Undo the latest merge or identity link of patient ID",
		Long: `Undo the latest merge of patient ID, or the identity link that found it to be another
patient: what that merge or link moved to the survivor, and what messages addressed to ID put
there since, moves back (if it still refers to the survivor); both records' links are removed
and a merged ID is active again as before. Prints what moved back. A patient that is neither
merged nor linked is refused.`,
		Args: usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := resourceID(cmd, "Patient", args[0])
			if err != nil {
				return err
			}
			return changeRecord(cmd, &cf, "unmerge", func(ctx context.Context, rec *record.Recorder) (*record.Outcome, error) {
				return rec.Unmerge(ctx, id)
			})
		},
	}
	cf.register(c)
	return c
}

// reviewJSON is one identity review as `patients review --json` prints it.
type reviewJSON struct {
	Task        string   `json:"task"`
	Patient     string   `json:"patient"`
	Candidate   string   `json:"candidate"`
	Score       *float64 `json:"score,omitempty"`
	FieldScores string   `json:"field_scores,omitempty"`
	Status      string   `json:"status"`
	Description string   `json:"description,omitempty"`
	// The final survivors of the two records when they were merged since.
	PatientMergedInto   string `json:"patient_merged_into,omitempty"`
	CandidateMergedInto string `json:"candidate_merged_into,omitempty"`
}

// mergedText is a review's record for the list: its id, and the record it
// was merged into since the review was opened (where an accept goes).
func mergedText(id, into string) string {
	if into == "" {
		return orDash(id)
	}
	return id + " (merged into " + into + ")"
}

func newPatientsReviewCmd() *cobra.Command {
	var cf configFlags
	var all, asJSON bool
	c := &cobra.Command{
		Use:   "review [--all] [--json] | review accept TASK | review reject TASK",
		Short: "List identity reviews (possible duplicate patients); accept or reject one",
		Long: `Without a subcommand, list the open identity reviews: a patient whose match score fell
between the review and auto-link thresholds was kept as a new record, and a review asks
whether it is the same person as the candidate. 'review accept TASK' merges the patient
into the candidate; 'review reject TASK' keeps both records. Either closes the review.`,
		Args: func(c *cobra.Command, args []string) error {
			if len(args) > 0 {
				return &exitError{code: exitUsage, err: fmt.Errorf("unknown command %q for %q\nrun '%s --help' for usage", args[0], c.CommandPath(), c.CommandPath())}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			j, rec, err := openRecorder(cmd, &cf, true)
			if err != nil {
				return err
			}
			defer j.Close()
			status := "requested"
			if all {
				status = ""
			}
			reviews, err := rec.Reviews(ctx, status)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if asJSON {
				enc := json.NewEncoder(out)
				for _, r := range reviews {
					rj := reviewJSON{Task: r.TaskID, Patient: r.Patient, Candidate: r.Candidate, FieldScores: r.FieldScores, Status: r.Status, Description: r.Description,
						PatientMergedInto: r.PatientMergedInto, CandidateMergedInto: r.CandidateMergedInto}
					if r.Scored {
						rj.Score = &r.Score
					}
					if err := enc.Encode(rj); err != nil {
						return err
					}
				}
				return nil
			}
			if len(reviews) == 0 {
				if all {
					fmt.Fprintln(out, "no identity reviews")
				} else {
					fmt.Fprintln(out, "no open identity reviews")
				}
				return nil
			}
			tw := newTable(out)
			fmt.Fprintln(tw, "TASK\tPATIENT\tCANDIDATE\tSCORE\tSTATUS")
			for _, r := range reviews {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.TaskID, mergedText(r.Patient, r.PatientMergedInto), mergedText(r.Candidate, r.CandidateMergedInto), orDash(r.ScoreText()), r.Status)
			}
			return tw.Flush()
		},
	}
	cf.register(c)
	c.Flags().BoolVar(&all, "all", false, "list closed reviews too")
	c.Flags().BoolVar(&asJSON, "json", false, "one JSON object per review and line")
	c.AddCommand(
		newReviewDecisionCmd("accept", "Accept a review: the patient is the candidate; merge it into the candidate", (*record.Recorder).Accept),
		newReviewDecisionCmd("reject", "Reject a review: different people; keep both records", (*record.Recorder).Reject))
	return c
}

func newReviewDecisionCmd(verb, short string, decide func(*record.Recorder, context.Context, string) (*record.Outcome, error)) *cobra.Command {
	var cf changeFlags
	c := &cobra.Command{
		Use:   verb + " TASK [--json]",
		Short: short,
		Args:  usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			task, err := resourceID(cmd, "Task", args[0])
			if err != nil {
				return err
			}
			return changeRecord(cmd, &cf, verb+" review "+task, func(ctx context.Context, rec *record.Recorder) (*record.Outcome, error) {
				return decide(rec, ctx, task)
			})
		},
	}
	cf.register(c)
	return c
}
