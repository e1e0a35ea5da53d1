package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/carebridge/carebridge/engine/archive"
	"github.com/carebridge/carebridge/engine/hl7"
	"github.com/carebridge/carebridge/internal/strictyaml"
	"github.com/carebridge/carebridge/mappings"
)

// mappingSet is a loaded mapping set and where it came from.
type mappingSet struct {
	set  *mappings.Set
	fsys fs.FS
	dir  string // "" for the set built into the binary
}

// loadMappingSet loads the mappings in dir, or the shipped set when dir is
// empty. Load errors are printed on errOut, one per line as
// file:line:col: message, and returned as a failure.
func loadMappingSet(dir string, errOut io.Writer) (*mappingSet, error) {
	ms := &mappingSet{fsys: mappings.Shipped(), dir: dir}
	if dir != "" {
		fi, err := os.Stat(dir)
		if err != nil {
			return nil, &exitError{code: exitFailure, err: fmt.Errorf("mappings: %w", err)}
		}
		if !fi.IsDir() {
			return nil, &exitError{code: exitFailure, err: fmt.Errorf("mappings: %s is not a directory", dir)}
		}
		ms.fsys = os.DirFS(dir)
	}
	set, err := mappings.Load(ms.fsys)
	if err != nil {
		var errs *strictyaml.Errors
		if !errors.As(err, &errs) {
			return nil, &exitError{code: exitFailure, err: fmt.Errorf("mappings %s: %w", ms.name(), err)}
		}
		list := slices.Clone(errs.List)
		slices.SortStableFunc(list, func(a, b strictyaml.Error) int {
			if c := strings.Compare(a.Pos.File, b.Pos.File); c != 0 {
				return c
			}
			if a.Pos.Line != b.Pos.Line {
				return a.Pos.Line - b.Pos.Line
			}
			return a.Pos.Column - b.Pos.Column
		})
		for _, e := range list {
			p := e.Pos
			p.File = ms.path(p.File)
			fmt.Fprintf(errOut, "%s: %s\n", p, e.Msg)
		}
		return nil, &exitError{code: exitFailure, err: fmt.Errorf("mappings %s: %d error(s)", ms.name(), len(list))}
	}
	ms.set = set
	return ms, nil
}

// name names the set in messages.
func (ms *mappingSet) name() string {
	if ms.dir == "" {
		return "(shipped)"
	}
	return ms.dir
}

// path turns a file of the set into the path people should open: joined
// to the directory given, relative to the working directory when it lies
// under it. Files of the shipped set keep their names in mappings/hl7v2.
func (ms *mappingSet) path(file string) string {
	if ms.dir == "" || file == "" {
		return file
	}
	p := filepath.Join(ms.dir, filepath.FromSlash(file))
	if filepath.IsAbs(p) {
		if wd, err := os.Getwd(); err == nil {
			if rel, err := filepath.Rel(wd, p); err == nil && !strings.HasPrefix(rel, "..") {
				return rel
			}
		}
	}
	return p
}

// at rewrites a "file:line:col" of the set with path.
func (ms *mappingSet) at(s string) string {
	i := strings.LastIndexByte(s, ':')
	if i < 0 {
		return s
	}
	j := strings.LastIndexByte(s[:i], ':')
	if j < 0 {
		return s
	}
	return ms.path(s[:j]) + s[j:]
}

// mappingsFlag is the --mappings flag shared by the mapping commands.
func mappingsFlag(c *cobra.Command, dir *string) {
	c.Flags().StringVar(dir, "mappings", "", "directory of mapping files (default: the shipped mappings built into the binary)")
}

// ---- carebridge map ----

// mapProblem is one line of `carebridge map`'s report on standard error.
type mapProblem struct {
	File     string `json:"file"`
	Index    int    `json:"index,omitempty"`
	Severity string `json:"severity"`        // warning or error
	Kind     string `json:"kind"`            // unused-field, unmapped-code, ...; no-map, mapping, unreadable, file for errors
	Where    string `json:"where,omitempty"` // the HL7 position
	At       string `json:"at,omitempty"`    // the map row, file:line:col
	Message  string `json:"message"`
}

func (p mapProblem) write(w io.Writer, asJSON bool) {
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetEscapeHTML(false)
		_ = enc.Encode(p)
		return
	}
	var b strings.Builder
	b.WriteString(p.File)
	if p.Index > 0 {
		fmt.Fprintf(&b, ":%d", p.Index)
	}
	b.WriteString(": ")
	if p.Where != "" {
		b.WriteString(p.Where + ": ")
	}
	if p.Severity == "error" {
		b.WriteString("error: ")
	} else {
		b.WriteString(p.Kind + ": ")
	}
	b.WriteString(p.Message)
	if p.At != "" {
		b.WriteString(" (map " + p.At + ")")
	}
	b.WriteByte('\n')
	io.WriteString(w, b.String())
}

func newMapCmd() *cobra.Command {
	var dir, sender string
	var pretty, jsonWarnings bool
	c := &cobra.Command{
		Use:   "map [--mappings DIR] [--sender NAME] [--pretty] [--json-warnings] FILE... | -",
		Short: "Map HL7 v2 messages to FHIR R4 Bundles and print them",
		Long: `Map every message in FILE... (or standard input with -) with the mappings in --mappings DIR
(default: the shipped set) and print one FHIR R4 transaction Bundle per message on standard
output, one JSON document per line (indented with --pretty). Files may hold many messages,
in any form replay reads. Warnings (unused fields, unmapped codes, no time zone...) go to
standard error as FILE:INDEX: POSITION: KIND: MESSAGE (map FILE:LINE:COL). A message that
cannot be mapped is reported the same way, with KIND error; the others are still mapped,
and the exit status is 1.`,
		Args: usageArgs(cobra.MinimumNArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			errOut := cmd.ErrOrStderr()
			ms, err := loadMappingSet(dir, errOut)
			if err != nil {
				return err
			}
			if sender != "" && !ms.set.HasSender(sender) {
				return &exitError{code: exitUsage, err: fmt.Errorf("--sender %s: no such sender profile in mappings %s (profiles: %s)\nrun '%s --help' for usage",
					sender, ms.name(), strings.Join(ms.set.Summary().Senders, ", "), cmd.CommandPath())}
			}
			m := &mapper{ms: ms, sender: sender, pretty: pretty, asJSON: jsonWarnings, out: cmd.OutOrStdout(), errOut: errOut}
			for _, path := range args {
				if err := cmd.Context().Err(); err != nil {
					return err
				}
				if err := m.file(cmd, path); err != nil {
					return err
				}
			}
			if m.failed > 0 || m.fileErrors > 0 {
				return &exitError{code: exitFailure, err: fmt.Errorf("%d of %d message(s) could not be mapped, %d file error(s)", m.failed, m.total, m.fileErrors)}
			}
			return nil
		},
	}
	mappingsFlag(c, &dir)
	c.Flags().StringVar(&sender, "sender", "", "sender profile to use (default: the profile matching MSH-3/MSH-4)")
	c.Flags().BoolVar(&pretty, "pretty", false, "indent each Bundle (keys sorted) instead of one line per Bundle")
	c.Flags().BoolVar(&jsonWarnings, "json-warnings", false, "report warnings and errors on standard error as JSON lines")
	return c
}

// mapper maps the messages of the files given to `carebridge map`.
type mapper struct {
	ms                        *mappingSet
	sender                    string
	pretty, asJSON            bool
	out, errOut               io.Writer
	total, failed, fileErrors int
}

func (m *mapper) problem(p mapProblem) { p.write(m.errOut, m.asJSON) }

// file maps every message of one file; problems are reported, only a
// cancelled context stops it.
func (m *mapper) file(cmd *cobra.Command, path string) error {
	warnArchive := archive.OnWarning(func(w archive.Warning) {
		m.problem(mapProblem{File: w.Source, Severity: "warning", Kind: "archive", Message: fmt.Sprintf("offset %d: %s", w.Offset, w.Text)})
	})
	var sc *archive.Scanner
	if path == "-" {
		sc = archive.NewScanner(cmd.InOrStdin(), "-", warnArchive)
	} else {
		s, closer, err := archive.Open(path, warnArchive)
		if err != nil {
			m.fileErrors++
			m.problem(mapProblem{File: path, Severity: "error", Kind: "file", Message: err.Error()})
			return nil
		}
		defer closer.Close()
		sc = s
	}
	n := 0
	for sc.Scan() {
		if err := cmd.Context().Err(); err != nil {
			return err
		}
		n++
		m.message(sc.Message())
	}
	switch err := sc.Err(); {
	case err != nil:
		m.fileErrors++
		m.problem(mapProblem{File: path, Severity: "error", Kind: "file", Message: err.Error()})
	case n == 0:
		// Nothing mapped is not a success: a script would take the empty
		// output for an empty Bundle list.
		m.fileErrors++
		m.problem(mapProblem{File: path, Severity: "error", Kind: "file", Message: "no HL7 messages found"})
	}
	return nil
}

func (m *mapper) message(am archive.Message) {
	m.total++
	fail := func(kind, where, at, msg string) {
		m.failed++
		m.problem(mapProblem{File: am.Source, Index: am.Index, Severity: "error", Kind: kind, Where: where, At: at, Message: msg})
	}
	if am.Err != nil {
		fail("unreadable", "", "", am.Err.Error())
		return
	}
	msg, err := hl7.Parse(bytes.Clone(am.Raw))
	if err != nil {
		fail("unreadable", "", "", err.Error())
		return
	}
	res, err := m.ms.set.Map(msg, mappings.Options{Sender: m.sender})
	if err != nil {
		var me *mappings.MapError
		switch {
		case errors.As(err, &me):
			fail("mapping", me.Where, m.ms.at(me.At), me.Err.Error())
		case errors.Is(err, mappings.ErrNoMap):
			fail("no-map", "", "", err.Error())
		default:
			fail("mapping", "", "", err.Error())
		}
		return
	}
	for _, w := range res.Warnings {
		m.problem(mapProblem{File: am.Source, Index: am.Index, Severity: "warning", Kind: w.Kind, Where: w.Where, At: m.ms.at(w.At), Message: w.Message})
	}
	if err := mappings.ValidateBundle(res.Bundle); err != nil {
		// The record would refuse it: an error, not a Bundle to use.
		fail("invalid-fhir", "", "", err.Error())
		return
	}
	bundle := append(res.Bundle, '\n')
	if m.pretty {
		if bundle, err = mappings.PrettyBundle(res.Bundle); err != nil {
			fail("mapping", "", "", fmt.Sprintf("indent bundle: %v", err))
			return
		}
	}
	_, _ = m.out.Write(bundle)
}

// ---- carebridge mapping ----

func newMappingCmd() *cobra.Command {
	c := group(&cobra.Command{Use: "mapping", Short: "Check and test mapping files"})
	c.AddCommand(newMappingCheckCmd(), newMappingTestCmd())
	return c
}

func plural(n int, one string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, one)
	}
	return fmt.Sprintf("%d %ss", n, one)
}

func newMappingCheckCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "check [DIR]",
		Short: "Compile mapping files (default: the shipped set) and report every error",
		Long: `Load every *.yaml file under DIR (default: the shipped mappings built into the binary)
with the same loader serve uses, and report every problem at once, one per line, as
FILE:LINE:COL: message (hint: ...). Exit status 1 if there is any. On success, print one
line summing up the set.`,
		Args: usageArgs(cobra.MaximumNArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir := ""
			if len(args) == 1 {
				dir = args[0]
			}
			ms, err := loadMappingSet(dir, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			sum := ms.set.Summary()
			var msgs []string
			for _, mm := range sum.Messages {
				msgs = append(msgs, mm.Code+" ("+strings.Join(mm.Events, " ")+")")
			}
			fmt.Fprintf(cmd.OutOrStdout(), "mappings %s: ok: %s; %s %s; %s, %s, %s; %s %s; %s, %s; hash %s\n",
				ms.name(), plural(sum.Files, "file"),
				plural(len(sum.Messages), "message map"), strings.Join(msgs, ", "),
				plural(sum.SegmentMaps, "segment map"), plural(sum.DatatypeMaps, "datatype map"), plural(sum.CodeMaps, "code map"),
				plural(len(sum.Senders), "sender profile"), strings.Join(sum.Senders, ", "),
				plural(sum.Rows, "row"), plural(sum.Examples, "example"), sum.Hash)
			return nil
		},
	}
}

// parseGoStyleFlags parses cmd's flags itself (the command has
// DisableFlagParsing set) so that a long flag may also be written with one
// dash, as in `go test -update`. It returns the positional arguments.
func parseGoStyleFlags(cmd *cobra.Command, raw []string) ([]string, error) {
	args := make([]string, 0, len(raw))
	for i, a := range raw {
		if a == "--" {
			args = append(args, raw[i:]...)
			break
		}
		if strings.HasPrefix(a, "-") && !strings.HasPrefix(a, "--") && len(a) > 2 {
			name, _, _ := strings.Cut(a[1:], "=")
			if cmd.Flags().Lookup(name) != nil {
				a = "-" + a
			}
		}
		args = append(args, a)
	}
	if err := cmd.Flags().Parse(args); err != nil {
		return nil, cmd.FlagErrorFunc()(cmd, err)
	}
	// Cobra ran the root's persistent pre-run before these flags were
	// parsed; run it again when one of its flags (--cpuprofile) was given.
	inherited := false
	cmd.InheritedFlags().VisitAll(func(f *pflag.Flag) { inherited = inherited || f.Changed })
	if root := cmd.Root(); inherited && root.PersistentPreRunE != nil {
		if err := root.PersistentPreRunE(cmd, cmd.Flags().Args()); err != nil {
			return nil, err
		}
	}
	return cmd.Flags().Args(), nil
}

// exampleLine is one example's outcome in `mapping test --json`.
type exampleLine struct {
	Name   string     `json:"name"`
	At     string     `json:"at"`
	Input  string     `json:"input"`
	Expect string     `json:"expect"`
	Status string     `json:"status"` // pass, fail, error, updated
	Diff   []diffJSON `json:"diff,omitempty"`
	Error  string     `json:"error,omitempty"`
}

type diffJSON struct {
	Path string          `json:"path"`
	Want json.RawMessage `json:"want,omitempty"`
	Got  json.RawMessage `json:"got,omitempty"`
}

// coverageJSON is the last line of `mapping test --json`.
type coverageJSON struct {
	Examples    int       `json:"examples"`
	Passed      int       `json:"passed"`
	Failed      int       `json:"failed"`
	Errors      int       `json:"errors"`
	Updated     int       `json:"updated"`
	Rows        int       `json:"rows"`
	Exercised   int       `json:"exercised"`
	Unexercised []rowJSON `json:"unexercised"`
}

type rowJSON struct {
	At   string `json:"at"`
	To   string `json:"to"`
	From string `json:"from,omitempty"`
}

// maxDiffLines is how many differences a failing example shows.
const maxDiffLines = 20

func newMappingTestCmd() *cobra.Command {
	var update, asJSON bool
	c := &cobra.Command{
		Use:   "test [DIR] [-update] [--json]",
		Short: "Run the examples of the message maps and report row coverage",
		Long: `Map the input of every example declared in the message maps of DIR (default: the shipped
set) and compare the Bundle with the expected file: PASS, or FAIL with the differences by
path (entry[0].resource.gender: want "female", got "male"). -update (or --update) rewrites
the expected files instead; it needs DIR. Then print the coverage: how many rows at least
one example exercised, and every row none did (FILE:LINE:COL  to ← from).
Exit status 1 if an example fails or cannot run.`,
		DisableFlagParsing: true, // see parseGoStyleFlags: -update as with go test
		Args:               cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, raw []string) error {
			args, err := parseGoStyleFlags(cmd, raw)
			if err != nil {
				return err
			}
			if help, _ := cmd.Flags().GetBool("help"); help {
				return cmd.Help()
			}
			if err := usageArgs(cobra.MaximumNArgs(1))(cmd, args); err != nil {
				return err
			}
			dir := ""
			if len(args) == 1 {
				dir = args[0]
			}
			if update && dir == "" {
				return &exitError{code: exitUsage, err: fmt.Errorf("-update rewrites expected files on disk, and the shipped mappings are built into the binary: give their directory (carebridge mapping test -update mappings/hl7v2)")}
			}
			ms, err := loadMappingSet(dir, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			return runMappingTests(cmd, ms, update, asJSON)
		},
	}
	c.Flags().BoolVar(&update, "update", false, "rewrite the expected files with the output produced (needs DIR)")
	c.Flags().BoolVar(&asJSON, "json", false, "one JSON object per example, then one with the totals and coverage")
	return c
}

func runMappingTests(cmd *cobra.Command, ms *mappingSet, update, asJSON bool) error {
	out := cmd.OutOrStdout()
	enc := json.NewEncoder(out)
	enc.SetEscapeHTML(false)
	set := ms.set
	hit := make([]bool, len(set.Rows()))
	var tot coverageJSON
	for _, ex := range set.Examples() {
		if err := cmd.Context().Err(); err != nil {
			return err
		}
		tot.Examples++
		line := exampleLine{Name: ex.Name, At: ms.at(ex.At), Input: ms.path(ex.Input), Expect: ms.path(ex.Expect)}
		var diffs []mappings.Difference
		note := ""
		run, err := set.RunExample(ms.fsys, ex)
		switch {
		case errors.Is(err, mappings.ErrInvalidFHIR):
			// The output is wrong, not the example: a failure, and with
			// -update it is not recorded.
			line.Status = "fail"
			note = strings.TrimPrefix(err.Error(), ex.At+": example "+ex.Name+": ")
			if update {
				note = "not recorded: " + note
			}
		case err != nil:
			line.Status, line.Error = "error", strings.TrimPrefix(err.Error(), ex.At+": example "+ex.Name+": ")
			if me := (*mappings.MapError)(nil); errors.As(err, &me) {
				line.Error = me.Err.Error() + " (map " + ms.at(me.At) + ")"
				if me.Where != "" {
					line.Error = me.Where + ": " + line.Error
				}
			}
			tot.Errors++
		default:
			for i, h := range run.Result.Hits() {
				if h && i < len(hit) {
					hit[i] = true
				}
			}
			switch {
			case update:
				line.Status = "pass"
				if !run.Passed() {
					if err := writeExpected(ms, ex.Expect, run.Got); err != nil {
						line.Status, line.Error = "error", err.Error()
						tot.Errors++
						break
					}
					line.Status = "updated"
					tot.Updated++
				}
			case run.Passed():
				line.Status = "pass"
			case run.Want == nil:
				line.Status = "fail"
				note = fmt.Sprintf("%s is missing (run with -update to write it)", line.Expect)
			default:
				line.Status = "fail"
				diffs, err = run.Diff()
				switch {
				case err != nil:
					note = fmt.Sprintf("%s: %v", line.Expect, err)
				case len(diffs) == 0:
					note = fmt.Sprintf("%s differs only in layout (run with -update to rewrite it)", line.Expect)
				default:
					note = fmt.Sprintf("%s differs:", line.Expect)
				}
			}
		}
		switch line.Status {
		case "pass":
			tot.Passed++
		case "fail":
			tot.Failed++
			if note != "" && len(diffs) == 0 {
				line.Error = note
			}
		}
		if asJSON {
			for _, d := range diffs {
				line.Diff = append(line.Diff, diffJSON{Path: d.Path, Want: rawOrNil(d.Want), Got: rawOrNil(d.Got)})
			}
			_ = enc.Encode(line)
			continue
		}
		switch line.Status {
		case "pass":
			fmt.Fprintf(out, "PASS %s (%s)\n", line.Name, line.At)
		case "updated":
			fmt.Fprintf(out, "UPDATED %s (%s): wrote %s\n", line.Name, line.At, line.Expect)
		case "error":
			fmt.Fprintf(out, "ERROR %s (%s): %s\n", line.Name, line.At, line.Error)
		case "fail":
			fmt.Fprintf(out, "FAIL %s (%s): %s\n", line.Name, line.At, note)
			for i, d := range diffs {
				if i == maxDiffLines {
					fmt.Fprintf(out, "    ... and %d more difference(s)\n", len(diffs)-i)
					break
				}
				fmt.Fprintf(out, "    %s\n", d)
			}
		}
	}
	rows := set.Rows()
	tot.Rows = len(rows)
	tot.Unexercised = []rowJSON{}
	for _, r := range rows {
		if r.ID < len(hit) && hit[r.ID] {
			tot.Exercised++
			continue
		}
		tot.Unexercised = append(tot.Unexercised, rowJSON{At: ms.at(r.At), To: r.To, From: set.RowSource(r.ID)})
	}
	if asJSON {
		_ = enc.Encode(tot)
	} else {
		fmt.Fprintf(out, "examples: %d passed, %d failed, %d errors", tot.Passed, tot.Failed, tot.Errors)
		if update {
			fmt.Fprintf(out, ", %d updated", tot.Updated)
		}
		fmt.Fprintln(out)
		pct := 0.0
		if tot.Rows > 0 {
			pct = 100 * float64(tot.Exercised) / float64(tot.Rows)
		}
		fmt.Fprintf(out, "coverage: %d/%d rows exercised by the examples (%.0f%%)\n", tot.Exercised, tot.Rows, pct)
		if len(tot.Unexercised) > 0 {
			fmt.Fprintln(out, "rows never exercised:")
			width := 0
			for _, r := range tot.Unexercised {
				width = max(width, len(r.At))
			}
			for _, r := range tot.Unexercised {
				fmt.Fprintf(out, "  %-*s  %s ← %s\n", width, r.At, r.To, r.From)
			}
		}
	}
	if bad := tot.Failed + tot.Errors; bad > 0 {
		return &exitError{code: exitFailure, err: fmt.Errorf("%d of %d example(s) failed", bad, tot.Examples)}
	}
	return nil
}

func rawOrNil(s string) json.RawMessage {
	if s == "" {
		return nil
	}
	return json.RawMessage(s)
}

// writeExpected rewrites an example's expected file (a path in the set's
// directory) with got.
func writeExpected(ms *mappingSet, expect string, got []byte) error {
	p := filepath.Join(ms.dir, filepath.FromSlash(expect))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return fmt.Errorf("write expected output: %w", err)
	}
	if err := os.WriteFile(p, got, 0o644); err != nil {
		return fmt.Errorf("write expected output: %w", err)
	}
	return nil
}
