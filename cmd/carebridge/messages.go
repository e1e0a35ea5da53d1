package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"github.com/carebridge/carebridge/config"
	"github.com/carebridge/carebridge/engine"
	"github.com/carebridge/carebridge/engine/hl7"
	"github.com/carebridge/carebridge/fhirstore"
	"github.com/carebridge/carebridge/fhirstore/sqlite"
	"github.com/carebridge/carebridge/mappings"
	"github.com/carebridge/carebridge/record"
)

func newMessagesCmd() *cobra.Command {
	c := group(&cobra.Command{
		Use:   "messages",
		Short: "List, show and reprocess journaled messages (works while serve runs)",
	})
	c.AddCommand(newMessagesListCmd(), newMessagesShowCmd(), newMessagesReprocessCmd())
	return c
}

// filterFlags are the journal filters shared by list and reprocess.
type filterFlags struct {
	statuses  []string
	msgType   string
	sender    string
	since     string
	until     string
	controlID string
	limit     int
}

func (f *filterFlags) register(c *cobra.Command) {
	c.Flags().StringSliceVar(&f.statuses, "status", nil, "only these statuses (received, processing, processed, failed, filtered, duplicate, rejected); repeat or comma-separate")
	c.Flags().StringVar(&f.msgType, "type", "", "message type: ADT, ADT^A01 or ADT^*")
	c.Flags().StringVar(&f.sender, "sender", "", "sending application (MSH-3), or APP^FACILITY (MSH-3^MSH-4)")
	c.Flags().StringVar(&f.since, "since", "", "received at or after: a duration back from now (24h, 90m) or a date/time (2026-11-01, 2026-11-01T08:00:00Z)")
	c.Flags().StringVar(&f.until, "until", "", "received before: same forms as --since")
	c.Flags().StringVar(&f.controlID, "control-id", "", "message control ID (MSH-10)")
	c.Flags().IntVar(&f.limit, "limit", 0, "at most N messages (default: everything that matches)")
}

func (f *filterFlags) filter(now time.Time) (fhirstore.Filter, error) {
	out := fhirstore.Filter{MessageType: f.msgType, Sender: f.sender, ControlID: f.controlID, Limit: f.limit}
	if f.limit < 0 {
		return out, fmt.Errorf("--limit must not be negative")
	}
	for _, s := range f.statuses {
		st := fhirstore.Status(strings.ToLower(strings.TrimSpace(s)))
		if !st.Valid() {
			return out, fmt.Errorf("--status %q: not a status (want one of %v)", s, fhirstore.Statuses)
		}
		out.Statuses = append(out.Statuses, st)
	}
	var err error
	if out.Since, err = parseWhen(f.since, now); err != nil {
		return out, fmt.Errorf("--since: %w", err)
	}
	if out.Until, err = parseWhen(f.until, now); err != nil {
		return out, fmt.Errorf("--until: %w", err)
	}
	return out, nil
}

// loadFiltered loads the configuration and the journal filter of a command.
func loadFiltered(cf *configFlags, ff *filterFlags) (*config.Config, fhirstore.Filter, error) {
	cfg, err := cf.load()
	if err != nil {
		return nil, fhirstore.Filter{}, err
	}
	f, err := ff.filter(time.Now())
	if err != nil {
		return nil, fhirstore.Filter{}, &exitError{code: exitUsage, err: err}
	}
	return cfg, f, nil
}

// parseWhen reads a point in time written as a duration back from now or as
// a date or date-time (local time when no zone is given).
func parseWhen(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if d, err := time.ParseDuration(s); err == nil {
		return now.Add(-d), nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02T15:04", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, s, time.Local); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is neither a duration (24h) nor a date/time (2026-11-01T08:00:00Z)", s)
}

// openJournal opens the configured journal for a command. When the search
// index needs rebuilding, a note says so on the command's standard error.
func openJournal(cmd *cobra.Command, cfg *config.Config, readOnly bool) (*sqlite.Store, error) {
	if err := databaseExists(cfg); err != nil {
		return nil, err
	}
	s, err := sqlite.Open(cmd.Context(), cfg.DatabasePath(), sqlite.Options{
		Durability: sqlite.Durability(cfg.Journal.Durability), DuplicateWindow: duplicateWindow(cfg), ReadOnly: readOnly,
	})
	if err != nil {
		return nil, err
	}
	noteSearchIndex(cmd.Context(), cmd.ErrOrStderr(), s)
	return s, nil
}

type entryJSON struct {
	ID              int64           `json:"id"`
	Status          string          `json:"status"`
	MessageType     string          `json:"message_type"`
	Sender          string          `json:"sender"`
	SendingApp      string          `json:"sending_app"`
	SendingFacility string          `json:"sending_facility"`
	ControlID       string          `json:"control_id"`
	ReceivedAt      time.Time       `json:"received_at"`
	Listener        string          `json:"listener"`
	Peer            string          `json:"peer,omitempty"`
	MessageTime     string          `json:"message_time,omitempty"`
	Error           string          `json:"error,omitempty"`
	DuplicateOf     int64           `json:"duplicate_of,omitempty"`
	Attempts        int             `json:"attempts"`
	ProcessedAt     time.Time       `json:"processed_at,omitzero"`
	Raw             string          `json:"raw,omitempty"`        // the message as received; decoded from its character set when not UTF-8
	RawBase64       []byte          `json:"raw_base64,omitempty"` // the bytes as received, when they are not UTF-8
	Ack             string          `json:"ack,omitempty"`
	MappingHash     string          `json:"mapping_hash,omitempty"`
	Bundle          json.RawMessage `json:"bundle,omitempty"`
	Warnings        json.RawMessage `json:"warnings,omitempty"`
}

func toJSON(e *fhirstore.Entry, charsets map[string]string) entryJSON {
	j := entryJSON{ID: e.ID, Status: string(e.Status), MessageType: e.MessageType, Sender: sender(e),
		SendingApp: e.SendingApp, SendingFacility: e.SendingFacility, ControlID: e.ControlID,
		ReceivedAt: e.ReceivedAt.UTC(), Listener: e.Listener, Peer: e.Peer, MessageTime: e.MessageTime, Error: e.Error,
		DuplicateOf: e.DuplicateOf, Attempts: e.Attempts, ProcessedAt: e.ProcessedAt.UTC(), Ack: string(e.Ack),
		MappingHash: e.ResultHash, Bundle: bundleJSON(e.Result), Warnings: bundleJSON(e.Notes)}
	switch {
	case utf8.Valid(e.Raw):
		j.Raw = string(e.Raw) // exactly as received
	case len(e.Raw) > 0:
		// Decoded for reading; the bytes themselves beside it.
		j.Raw = strings.Join(messageText(e.Raw, charsets[e.Listener]), "\r") + "\r"
		j.RawBase64 = e.Raw
	}
	return j
}

// messageText is a journaled message's segments as text: decoded from its
// character set (MSH-18, else its listener's) when it parses, else its
// bytes as they are (invalid UTF-8 shown as U+FFFD).
func messageText(raw []byte, charset string) []string {
	if m, err := hl7.ParseWithOptions(raw, hl7.ParseOptions{FallbackCharset: charset}); err == nil {
		out := make([]string, 0, len(m.Segments()))
		for _, seg := range m.Segments() {
			out = append(out, seg.String())
		}
		return out
	}
	s := strings.ReplaceAll(string(raw), "\r\n", "\r")
	return strings.FieldsFunc(s, func(r rune) bool { return r == '\r' || r == '\n' })
}

// bundleJSON passes a stored Bundle through as JSON (nil when there is none).
func bundleJSON(b []byte) json.RawMessage {
	if len(b) == 0 || !json.Valid(b) {
		return nil
	}
	return b
}

func sender(e *fhirstore.Entry) string {
	if e.SendingFacility == "" {
		return e.SendingApp
	}
	return e.SendingApp + "^" + e.SendingFacility
}

func newMessagesListCmd() *cobra.Command {
	var cf configFlags
	var ff filterFlags
	var asJSON bool
	c := &cobra.Command{
		Use:   "list",
		Short: "List journaled messages, oldest first",
		Args:  usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, f, err := loadFiltered(&cf, &ff)
			if err != nil {
				return err
			}
			j, err := openJournal(cmd, cfg, true)
			if err != nil {
				return err
			}
			defer j.Close()
			out := cmd.OutOrStdout()
			if asJSON {
				enc := json.NewEncoder(out)
				charsets := cfg.Charsets()
				return j.List(cmd.Context(), f, func(e *fhirstore.Entry) error { return enc.Encode(toJSON(e, charsets)) })
			}
			tw := newTable(out)
			fmt.Fprintln(tw, "ID\tRECEIVED\tSTATUS\tTYPE\tSENDER\tCONTROL ID\tERROR")
			n := 0
			err = j.List(cmd.Context(), f, func(e *fhirstore.Entry) error {
				n++
				fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\n", e.ID, e.ReceivedAt.Local().Format("2006-01-02 15:04:05"),
					e.Status, orDash(e.MessageType), orDash(sender(e)), orDash(e.ControlID), truncate(e.Error, 60))
				if n%1000 == 0 {
					return tw.Flush()
				}
				return nil
			})
			if ferr := tw.Flush(); err == nil {
				err = ferr
			}
			if err == nil && n == 0 {
				// Said on standard error: standard output stays the table.
				fmt.Fprintln(cmd.ErrOrStderr(), "no message matches")
			}
			return err
		},
	}
	cf.register(c)
	ff.register(c)
	c.Flags().BoolVar(&asJSON, "json", false, "one JSON object per line")
	return c
}

func truncate(s string, n int) string {
	s = strings.ReplaceAll(s, "\n", " ")
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

func newMessagesShowCmd() *cobra.Command {
	var cf configFlags
	var asJSON, withBundle bool
	c := &cobra.Command{
		Use:   "show ID",
		Short: "Show one message: metadata, the raw message one segment per line, the ACK sent (and the FHIR Bundle with --bundle)",
		Args:  usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := strconv.ParseInt(args[0], 10, 64)
			if err != nil {
				return &exitError{code: exitUsage, err: fmt.Errorf("%q is not a message ID", args[0])}
			}
			cfg, err := cf.load()
			if err != nil {
				return err
			}
			j, err := openJournal(cmd, cfg, true)
			if err != nil {
				return err
			}
			defer j.Close()
			e, err := j.Get(cmd.Context(), id)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if asJSON {
				return json.NewEncoder(out).Encode(toJSON(e, cfg.Charsets()))
			}
			writeEntry(out, e, cfg.Charsets()[e.Listener])
			if withBundle {
				fmt.Fprintln(out, "\nFHIR Bundle:")
				if len(e.Result) == 0 {
					fmt.Fprintln(out, "  (none: the message has not been mapped)")
				} else if pretty, err := mappings.PrettyBundle(e.Result); err == nil {
					out.Write(pretty)
				}
			}
			return nil
		},
	}
	cf.register(c)
	c.Flags().BoolVar(&asJSON, "json", false, "print as one JSON object (raw, ack and bundle included)")
	c.Flags().BoolVar(&withBundle, "bundle", false, "also print the FHIR Bundle the message was mapped to")
	return c
}

func writeEntry(w io.Writer, e *fhirstore.Entry, charset string) {
	tw := newTable(w)
	row := func(k, v string) {
		if v != "" {
			// A value of several lines (an error listing several problems)
			// keeps its lines in the value column.
			fmt.Fprintf(tw, "%s:\t%s\n", k, strings.ReplaceAll(v, "\n", "\n\t"))
		}
	}
	row("ID", strconv.FormatInt(e.ID, 10))
	row("Status", string(e.Status))
	row("Error", e.Error)
	row("Type", e.MessageType)
	row("Sender", sender(e))
	row("Control ID", e.ControlID)
	row("Message time", e.MessageTime)
	row("Received", e.ReceivedAt.Local().Format(time.RFC3339Nano))
	row("Listener", e.Listener)
	row("Peer", e.Peer)
	if e.DuplicateOf != 0 {
		row("Duplicate of", strconv.FormatInt(e.DuplicateOf, 10))
	}
	row("Attempts", strconv.Itoa(e.Attempts))
	row("Mapping set", e.ResultHash)
	if !e.ProcessedAt.IsZero() {
		row("Processed", e.ProcessedAt.Local().Format(time.RFC3339Nano))
	}
	tw.Flush()
	fmt.Fprintln(w, "\nMessage:")
	writeSegments(w, messageText(e.Raw, charset))
	if len(e.Notes) > 0 {
		var notes []struct{ Kind, At, Where, Message string }
		if json.Unmarshal(e.Notes, &notes) == nil {
			// The mapping's warnings (with the map row that raised them),
			// then what the record decided.
			var mapping, rec []string
			for _, n := range notes {
				line := "  " + n.Where + ": " + n.Kind + ": " + n.Message
				if n.At != "" {
					line += " (map " + n.At + ")"
				}
				if record.IsNoteKind(n.Kind) {
					rec = append(rec, line)
				} else {
					mapping = append(mapping, line)
				}
			}
			for _, sec := range []struct {
				title string
				lines []string
			}{{"Mapping warnings:", mapping}, {"Record:", rec}} {
				if len(sec.lines) > 0 {
					fmt.Fprintln(w, "\n"+sec.title)
					fmt.Fprintln(w, strings.Join(sec.lines, "\n"))
				}
			}
		}
	}
	fmt.Fprintln(w, "\nACK sent:")
	if len(e.Ack) == 0 {
		fmt.Fprintln(w, "  (none)")
	} else {
		writeSegments(w, messageText(e.Ack, charset))
	}
}

// writeSegments prints a message one segment per line, indented; bytes that
// are not printable are shown escaped so a terminal is never garbled.
func writeSegments(w io.Writer, segs []string) {
	for _, seg := range segs {
		fmt.Fprintf(w, "  %s\n", strings.Map(func(r rune) rune {
			if r < 0x20 && r != '\t' {
				return '\uFFFD'
			}
			return r
		}, seg))
	}
}

// idNote is what reprocess says of one message named by ID: not queued and
// why, or queued with a note.
type idNote struct {
	ID     int64  `json:"id"`
	Queued bool   `json:"queued"`
	Why    string `json:"why"`
	// never: it is not queued and will not be processed (no such message,
	// a rejected one), which makes the command fail; a message already
	// waiting or being processed will be.
	never bool
}

func (n idNote) String() string {
	if n.Queued {
		return fmt.Sprintf("note: %d %s", n.ID, n.Why)
	}
	return fmt.Sprintf("not queued: %d: %s", n.ID, n.Why)
}

// unqueueable says, for each of ids that reprocess cannot queue, why (its
// status, or that there is no such message), and warns of a plain resend
// (a duplicate of the same message) that it will process again.
func unqueueable(ctx context.Context, j fhirstore.Journal, ids []int64) ([]idNote, error) {
	var out []idNote
	for _, id := range ids {
		e, err := j.Get(ctx, id)
		switch {
		case errors.Is(err, fhirstore.ErrNotFound):
			out = append(out, idNote{ID: id, Why: "no such message", never: true})
		case err != nil:
			return nil, err
		case e.Status == fhirstore.StatusReceived:
			out = append(out, idNote{ID: id, Why: "received, already waiting to be processed"})
		case e.Status == fhirstore.StatusProcessing:
			out = append(out, idNote{ID: id, Why: "being processed now"})
		case e.Status == fhirstore.StatusDuplicate && e.Error == "":
			// Queued all the same (a person named it), but say what it is.
			out = append(out, idNote{ID: id, Queued: true, Why: fmt.Sprintf("is a resend of entry %d (the same message): it is processed again", e.DuplicateOf)})
		case e.Status == fhirstore.StatusRejected:
			out = append(out, idNote{ID: id, Why: "rejected (not a message that could be processed; the sender must send it corrected)", never: true})
		}
	}
	return out, nil
}

// countNever counts the notes of IDs that will never be processed.
func countNever(notes []idNote) int {
	n := 0
	for _, x := range notes {
		if x.never {
			n++
		}
	}
	return n
}

// reprocessJSON is what `messages reprocess --json` prints.
type reprocessJSON struct {
	Queued    int            `json:"queued"`
	IDs       []idNote       `json:"ids,omitempty"`            // the IDs named that were not queued, or queued with a note
	Processed *processedJSON `json:"processed_here,omitempty"` // absent with --queue-only
}

// processedJSON counts the outcomes of the messages this command processed.
type processedJSON struct {
	Total     int `json:"total"`
	Processed int `json:"processed"`
	Failed    int `json:"failed"`
	Filtered  int `json:"filtered"`
}

func newMessagesReprocessCmd() *cobra.Command {
	var cf configFlags
	var ff filterFlags
	var queueOnly, asJSON, dry, withDiff, all bool
	c := &cobra.Command{
		Use:   "reprocess [ID...] [--json]",
		Short: "Process messages again (after a fix), by ID or by filter",
		Long: `Put processed, failed or filtered messages back in the queue and process them again.
Select them by ID, by filter, or both; at least one is required (use --status failed to retry
every failure). A running server picks them up within its poll interval; this command also
processes them itself unless --queue-only is given (the journal hands each message to one
process only).

With --dry-run nothing is queued or changed: each message is mapped with the configured
mappings and compared with the Bundle it keeps, to see what a mapping fix would do first.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, f, err := loadFiltered(&cf, &ff)
			if err != nil {
				return err
			}
			for _, a := range args {
				id, err := strconv.ParseInt(a, 10, 64)
				if err != nil {
					return &exitError{code: exitUsage, err: fmt.Errorf("%q is not a message ID", a)}
				}
				f.IDs = append(f.IDs, id)
			}
			if len(f.IDs) == 0 && len(f.Statuses) == 0 && f.MessageType == "" && f.Sender == "" && f.ControlID == "" && f.Since.IsZero() && f.Until.IsZero() {
				return &exitError{code: exitUsage, err: fmt.Errorf("say which messages: IDs or filters (e.g. --status failed)")}
			}
			for _, st := range f.Statuses {
				switch {
				case st == fhirstore.StatusProcessed, st == fhirstore.StatusFailed, st == fhirstore.StatusFiltered:
				case st == fhirstore.StatusDuplicate && len(f.IDs) > 0:
				default:
					return &exitError{code: exitUsage, err: fmt.Errorf("--status %s: only processed, failed or filtered messages can be reprocessed (a duplicate only when named by ID)", st)}
				}
			}
			if !dry && (withDiff || all) {
				return &exitError{code: exitUsage, err: fmt.Errorf("--diff and --all go with --dry-run")}
			}
			if dry && queueOnly {
				return &exitError{code: exitUsage, err: fmt.Errorf("--dry-run queues nothing: it does not go with --queue-only")}
			}
			ctx := cmd.Context()
			set, err := configuredMappings(cfg) // a set that does not compile queues nothing
			if err != nil {
				return err
			}
			if dry {
				return runDryRun(cmd, cfg, set, f, withDiff, all, asJSON)
			}
			j, err := openJournal(cmd, cfg, false)
			if err != nil {
				return err
			}
			defer j.Close()
			notQueued, err := unqueueable(ctx, j, f.IDs)
			if err != nil {
				return err
			}
			n, err := j.Requeue(ctx, f)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			report := reprocessJSON{Queued: n, IDs: notQueued}
			writeJSON := func() error {
				enc := json.NewEncoder(out)
				enc.SetEscapeHTML(false)
				return enc.Encode(report)
			}
			if !asJSON {
				fmt.Fprintf(out, "queued %d message(s) for reprocessing\n", n)
				for _, line := range notQueued {
					fmt.Fprintln(out, line)
				}
				if n == 0 && len(f.IDs) == 0 {
					fmt.Fprintln(out, "note: no processed, failed or filtered message matches these filters; `carebridge messages list` with them shows what there is")
				}
			}
			// What makes the command fail, after the rest is done: named IDs
			// that will never be processed, messages that failed again.
			var failures []string
			if never := countNever(notQueued); never > 0 {
				failures = append(failures, fmt.Sprintf("%d message ID(s) not queued: no such message, or rejected", never))
			}
			failed := func() error {
				if len(failures) == 0 {
					return nil
				}
				return &exitError{code: exitFailure, err: errors.New(strings.Join(failures, "; "))}
			}
			if queueOnly {
				if asJSON {
					if err := writeJSON(); err != nil {
						return err
					}
				}
				return failed()
			}
			log := newLogger(cfg, cmd.ErrOrStderr())
			rec, err := record.New(j, record.Options{Match: &cfg.Identity, Log: log})
			if err != nil {
				return err
			}
			eng, err := engine.New(cfg, engine.Deps{Journal: j, Logger: log, Mappings: set, Record: rec})
			if err != nil {
				return err
			}
			res, err := eng.ProcessPending(ctx)
			if err != nil {
				return err
			}
			if asJSON {
				report.Processed = &processedJSON{res.Total(), res[fhirstore.StatusProcessed], res[fhirstore.StatusFailed], res[fhirstore.StatusFiltered]}
				if err := writeJSON(); err != nil {
					return err
				}
			} else {
				fmt.Fprintf(out, "processed here: %d (processed %d, failed %d, filtered %d); any others were taken by a running server\n",
					res.Total(), res[fhirstore.StatusProcessed], res[fhirstore.StatusFailed], res[fhirstore.StatusFiltered])
			}
			if n := res[fhirstore.StatusFailed]; n > 0 {
				failures = append([]string{fmt.Sprintf("%d message(s) failed again; see `carebridge messages list --status failed`", n)}, failures...)
			}
			return failed()
		},
	}
	cf.register(c)
	ff.register(c)
	c.Flags().BoolVar(&queueOnly, "queue-only", false, "only queue the messages; leave processing to the running server")
	c.Flags().BoolVar(&asJSON, "json", false, "print what was queued and processed as one JSON object")
	c.Flags().BoolVar(&dry, "dry-run", false, "queue and change nothing: map the messages with the configured mappings and say how each result differs from the Bundle it keeps")
	c.Flags().BoolVar(&withDiff, "diff", false, "with --dry-run: print the values that change, not only where")
	c.Flags().BoolVar(&all, "all", false, "with --dry-run: list the unchanged messages too")
	return c
}

// runDryRun is `messages reprocess --dry-run`: the journal is opened
// read-only, so it works beside a running server and cannot change it.
func runDryRun(cmd *cobra.Command, cfg *config.Config, set *mappings.Set, f fhirstore.Filter, withDiff, all, asJSON bool) error {
	ctx := cmd.Context()
	unknown, err := func() ([]idNote, error) {
		j, err := openJournal(cmd, cfg, true)
		if err != nil {
			return nil, err
		}
		defer j.Close()
		notes, err := unqueueable(ctx, j, f.IDs)
		if err != nil {
			return nil, err
		}
		out := cmd.OutOrStdout()
		emit := func(m dryRunMessage) {
			if !asJSON {
				writeDryRunMessage(out, m)
			}
		}
		report, err := dryRun(ctx, cfg, j, set, f, withDiff, all, emit, dryRunProgress(cmd.ErrOrStderr(), time.Now, 2*time.Second))
		if err != nil {
			return nil, err
		}
		line, failed := dryRunSummary(report)
		report.IDs = notes
		if asJSON {
			enc := json.NewEncoder(out)
			enc.SetEscapeHTML(false)
			if err := enc.Encode(report); err != nil {
				return nil, err
			}
		} else {
			for _, n := range notes {
				fmt.Fprintln(out, n)
			}
			fmt.Fprintln(out, line)
		}
		return notes, failed
	}()
	if err != nil {
		return err
	}
	if never := countNever(unknown); never > 0 {
		return &exitError{code: exitFailure, err: fmt.Errorf("%d message ID(s) that would not be reprocessed: no such message, or rejected", never)}
	}
	return nil
}
