package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/carebridge/carebridge/fhirstore"
	"github.com/carebridge/carebridge/mappings"
	"github.com/carebridge/carebridge/record"
)

// historyVersion is one version of a resource as `patients history` shows it.
type historyVersion struct {
	Version     int64     `json:"version"`
	LastUpdated time.Time `json:"last_updated"`
	Interaction string    `json:"interaction"` // create, update, delete
	// The message whose processing wrote the version (none for a person's
	// merge, unmerge or review decision).
	JournalID   int64  `json:"journal_id,omitempty"`
	MessageType string `json:"message_type,omitempty"`
	ControlID   string `json:"control_id,omitempty"`
	// Event and EventTime are the trigger event and its time (EVN-2, else
	// MSH-7) the record stamped on the version.
	Event string `json:"event,omitempty"`
	// Command and Reason, for a version no message wrote, are the record's
	// own change committed with it (merge, unmerge, link, unlink) and why
	// ("manual merge", an identity decision), from its Provenance.
	Command   string          `json:"command,omitempty"`
	Reason    string          `json:"reason,omitempty"`
	EventTime string          `json:"event_time,omitempty"`
	Changes   []historyChange `json:"changes,omitempty"` // from the version before
	Cleared   []string        `json:"cleared,omitempty"` // elements a message cleared (HL7 ""), newly kept as cleared
	Notes     []record.Note   `json:"notes,omitempty"`   // the record's notes on this resource from that message
}

// historyChange is one changed value between two versions.
type historyChange struct {
	Path string `json:"path"`
	Was  string `json:"was,omitempty"` // compact JSON, with --diff; absent when the value is new
	Now  string `json:"now,omitempty"` // absent when the value went
}

// historyJSON is what `patients history --json` prints.
type historyJSON struct {
	Resource string           `json:"resource"`
	Versions []historyVersion `json:"versions"` // oldest first
	// ConfirmedBy is the later message that found the current version as
	// it is (it changed nothing, so wrote no version): older messages
	// arriving after it do not change what it confirmed.
	ConfirmedBy *historyConfirmation `json:"confirmed_by,omitempty"`
}

type historyConfirmation struct {
	JournalID int64  `json:"journal_id"`
	EventTime string `json:"event_time"`
}

func newPatientsHistoryCmd() *cobra.Command {
	var cf configFlags
	var identifier string
	var withDiff, asJSON bool
	c := &cobra.Command{
		Use:   "history ID | TYPE/ID | --identifier [SYSTEM|]VALUE [--diff] [--json]",
		Short: "Show every version of a patient (or of any resource of the record) and what changed it",
		Long: `Show every stored version of a patient record, oldest first: when it was written, by which
message (journal ID, type, control ID, trigger event and event time) or by a person's
command, which elements changed from the version before, and the record's notes on it from
that message (an out-of-order event, an identity decision). TYPE/ID shows any other resource
of the record the same way (Encounter/ID, Appointment/ID, Account/ID ...).

Only the paths of what changed are shown; --diff shows the values too (patient data).
A message that changed nothing wrote no version and is not listed (its notes are in
'carebridge messages show ID'); the latest such message that found the current version as it
is, and so confirmed it, is named at the end.`,
		Args: usageArgs(cobra.MaximumNArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			if (len(args) == 1) == (identifier != "") {
				return usageErrorf(cmd, "give a patient ID, a TYPE/ID or --identifier, one of them")
			}
			typ, id := "Patient", ""
			if len(args) == 1 {
				if t, rest, ok := strings.Cut(args[0], "/"); ok && t != "Patient" {
					if t == "" || rest == "" || strings.Contains(rest, "/") {
						return usageErrorf(cmd, "%q is not a patient id or a TYPE/ID reference", args[0])
					}
					typ, id = t, rest
				} else {
					var err error
					if id, err = resourceID(cmd, "Patient", args[0]); err != nil {
						return err
					}
				}
			}
			ctx := cmd.Context()
			j, err := openRecordStore(cmd, &cf, true)
			if err != nil {
				return err
			}
			defer j.Close()
			out := cmd.OutOrStdout()
			if identifier != "" {
				if id, err = patientByIdentifier(cmd, j, identifier, asJSON); err != nil {
					return err
				}
			}
			h, err := resourceHistory(ctx, j, typ, id, withDiff)
			if errors.Is(err, fhirstore.ErrNotFound) {
				return failuref("no %s %s", strings.ToLower(typ), id)
			}
			if err != nil {
				return err
			}
			if asJSON {
				enc := json.NewEncoder(out)
				enc.SetEscapeHTML(false)
				return enc.Encode(h)
			}
			writeHistory(out, h, withDiff)
			return nil
		},
	}
	cf.register(c)
	c.Flags().StringVar(&identifier, "identifier", "", "find the patient by identifier: SYSTEM|VALUE, or VALUE for any system")
	c.Flags().BoolVar(&withDiff, "diff", false, "show the values that changed, not only where (patient data)")
	c.Flags().BoolVar(&asJSON, "json", false, "print the history as one JSON object")
	return c
}

// historyStore is what resourceHistory reads.
type historyStore interface {
	fhirstore.Resources
	fhirstore.Searcher
	Get(ctx context.Context, id int64) (*fhirstore.Entry, error)
}

// recordChange is a merge, unmerge or link the record made, as its
// Provenance says.
type recordChange struct{ activity, reason string }

// recordChanges finds the record's own changes that targeted ref, by the
// time they were committed: a Provenance is stored in the change set that
// writes the versions it targets, so it has their lastUpdated.
func recordChanges(ctx context.Context, s historyStore, ref string) (map[int64]recordChange, error) {
	found, err := s.Search(ctx, fhirstore.Query{Type: "Provenance", Params: []fhirstore.Param{{Name: "target", Values: []string{ref}}}, Count: 1000})
	if err != nil {
		return nil, err
	}
	out := make(map[int64]recordChange, len(found))
	for _, r := range found {
		var p struct {
			Activity struct {
				Coding []struct{ System, Code string }
			}
			Reason []struct{ Text string }
		}
		if err := json.Unmarshal(r.Body, &p); err != nil {
			return nil, fmt.Errorf("Provenance/%s: %w", r.ID, err)
		}
		var c recordChange
		for _, cd := range p.Activity.Coding {
			if cd.System == record.LifecycleSystem {
				c.activity = cd.Code
			}
		}
		if c.activity == "" {
			continue // not the record's
		}
		if len(p.Reason) > 0 {
			c.reason = p.Reason[0].Text
		}
		out[r.LastUpdated.UnixNano()] = c
	}
	return out, nil
}

// resourceHistory reads every version of typ/id and what changed each.
func resourceHistory(ctx context.Context, s historyStore, typ, id string, withDiff bool) (*historyJSON, error) {
	versions, err := s.History(ctx, typ, id)
	if err != nil {
		return nil, err
	}
	slices.Reverse(versions) // oldest first
	ref := typ + "/" + id
	h := &historyJSON{Resource: ref, Versions: make([]historyVersion, 0, len(versions))}
	var changes map[int64]recordChange // read when a version no message wrote needs it
	var prev map[string]any
	prevTime := ""
	for i, v := range versions {
		hv := historyVersion{Version: v.Version, LastUpdated: v.LastUpdated.UTC(), JournalID: v.JournalID}
		var body map[string]any
		switch {
		case v.Deleted:
			hv.Interaction = string(fhirstore.InteractionDelete)
		case i == 0 || prev == nil:
			hv.Interaction = string(fhirstore.InteractionCreate)
		default:
			hv.Interaction = string(fhirstore.InteractionUpdate)
		}
		if !v.Deleted {
			if err := json.Unmarshal(v.Body, &body); err != nil {
				return nil, fmt.Errorf("%s version %d: %w", ref, v.Version, err)
			}
			event, at := record.StampedEvent(body)
			if v.JournalID != 0 {
				// A command's version keeps the stamp of the last message;
				// it is not the command's. Nor is an event time the
				// version kept from the one before: a merge or link (by
				// A40, A34, A30, A37 or identity matching) tags its event
				// but does not move the record's event time, and an older
				// message that fills a gap leaves the newer time.
				hv.Event = event
				if at != prevTime {
					hv.EventTime = at
				}
			}
			prevTime = at
			hv.Cleared = newlyCleared(prev, body)
		}
		if prev != nil && body != nil {
			diffs, err := mappings.DiffJSON(mustJSON(withoutMeta(prev)), mustJSON(withoutMeta(body)))
			if err != nil {
				return nil, err
			}
			for _, d := range diffs {
				c := historyChange{Path: d.Path}
				if withDiff {
					c.Was, c.Now = d.Want, d.Got
				}
				hv.Changes = append(hv.Changes, c)
			}
		}
		if v.JournalID == 0 {
			if changes == nil {
				if changes, err = recordChanges(ctx, s, ref); err != nil {
					return nil, err
				}
			}
			c := changes[v.LastUpdated.UnixNano()]
			hv.Command, hv.Reason = c.activity, c.reason
		} else {
			e, err := s.Get(ctx, v.JournalID)
			switch {
			case errors.Is(err, fhirstore.ErrNotFound):
				// Not in the journal (any more): the version still says which.
			case err != nil:
				return nil, err
			default:
				hv.MessageType, hv.ControlID = e.MessageType, e.ControlID
				hv.Notes = notesOn(e.Notes, ref)
			}
		}
		h.Versions = append(h.Versions, hv)
		prev = body
	}
	if cur, err := s.Read(ctx, typ, id); err == nil {
		if at, journal, ok := record.Confirmation(cur.Mark); ok {
			h.ConfirmedBy = &historyConfirmation{JournalID: journal, EventTime: at.UTC().Format(time.RFC3339Nano)}
		}
	}
	return h, nil
}

// withoutMeta is a resource without the meta the store and the record keep
// on every version (version id, time, event stamp, cleared markers): what
// changed in the resource itself.
func withoutMeta(body map[string]any) map[string]any {
	out := make(map[string]any, len(body))
	for k, v := range body {
		if k != "meta" {
			out[k] = v
		}
	}
	return out
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // decoded from JSON: it encodes
	}
	return b
}

// newlyCleared lists the elements body keeps as cleared (a message's HL7
// "") that prev did not.
func newlyCleared(prev, body map[string]any) []string {
	was := record.ClearedElements(prev)
	var out []string
	for _, c := range record.ClearedElements(body) {
		if !slices.Contains(was, c) {
			out = append(out, c)
		}
	}
	return out
}

// notesOn picks the record's notes about ref from an entry's notes (which
// also hold mapping warnings).
func notesOn(notes []byte, ref string) []record.Note {
	var all []record.Note
	if len(notes) == 0 || json.Unmarshal(notes, &all) != nil {
		return nil
	}
	var out []record.Note
	for _, n := range all {
		if record.IsNoteKind(n.Kind) && n.Where == ref {
			out = append(out, n)
		}
	}
	return out
}

// writeHistory prints a history for people.
func writeHistory(w io.Writer, h *historyJSON, withDiff bool) {
	fmt.Fprintf(w, "%s: %s, oldest first\n", h.Resource, plural(len(h.Versions), "version"))
	for _, v := range h.Versions {
		by := "no message"
		switch {
		case v.Command != "" && v.Reason != "":
			by += ": " + v.Command + " (" + v.Reason + ")"
		case v.Command != "":
			by += ": " + v.Command
		}
		if v.JournalID != 0 {
			by = fmt.Sprintf("message %d", v.JournalID)
			if v.MessageType != "" {
				by += " " + v.MessageType + " " + v.ControlID
			}
		}
		fmt.Fprintf(w, "%d\t%s\t%s\t%s", v.Version, v.LastUpdated.Format(time.RFC3339), v.Interaction, by)
		if v.EventTime != "" {
			fmt.Fprintf(w, ", event %s", v.EventTime)
		}
		fmt.Fprintln(w)
		if len(v.Changes) > 0 {
			if !withDiff {
				paths := make([]string, len(v.Changes))
				for i, c := range v.Changes {
					paths[i] = c.Path
				}
				fmt.Fprintf(w, "\tchanged: %s\n", strings.Join(paths, ", "))
			} else {
				for _, c := range v.Changes {
					fmt.Fprintf(w, "\t%s: was %s, now %s\n", c.Path, orNothing(c.Was), orNothing(c.Now))
				}
			}
		}
		if len(v.Cleared) > 0 {
			fmt.Fprintf(w, "\tcleared (kept cleared against older messages): %s\n", strings.Join(v.Cleared, ", "))
		}
		for _, n := range v.Notes {
			fmt.Fprintf(w, "\tnote %s: %s\n", n.Kind, n.Message)
		}
	}
	if c := h.ConfirmedBy; c != nil {
		fmt.Fprintf(w, "confirmed as it is by message %d, event %s (a later message that changed nothing)\n", c.JournalID, c.EventTime)
	}
}
