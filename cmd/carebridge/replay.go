package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/carebridge/carebridge/config"
	"github.com/carebridge/carebridge/engine"
	"github.com/carebridge/carebridge/engine/archive"
	"github.com/carebridge/carebridge/engine/hl7"
	"github.com/carebridge/carebridge/engine/mllp"
	"github.com/carebridge/carebridge/engine/replay"
	"github.com/carebridge/carebridge/fhirstore/sqlite"
	"github.com/carebridge/carebridge/mappings"
)

func newReplayCmd() *cobra.Command {
	var cf configFlags
	var tf tlsFlags
	var opts replay.Options
	var to string
	var asJSON, noProgress bool
	var mappingsDir, listener string
	var giveUpAfter time.Duration
	c := &cobra.Command{
		Use:   "replay PATH... [--to HOST:PORT | --data DIR | --dry-run [--mappings DIR]]",
		Short: "Replay archived HL7 v2 messages into a running server or straight into a local journal",
		Long: `Replay the messages in PATH... (files or directories, recursively; back-to-back messages,
FHS/BHS batches, MLLP-framed captures, gzip) either over MLLP into a running server (--to) or
straight into the local journal (default; --data/--config choose it), where the next
'carebridge serve' processes them. Shows a progress bar on a terminal (plain progress lines
otherwise) and ends with a summary. --resume continues an interrupted replay without resending
what was already acknowledged (the checkpoint is --state). Over MLLP, a server that cannot be
reached or does not answer pauses the replay: the messages are kept and sent again, in order,
once it answers (for up to --give-up-after, then replay stops, exit status 1, and --resume
continues with the first message not sent). --dry-run only parses, validates and
maps (with the configuration's mappings, or --mappings DIR), listing every problem. Exit status 1 if any message was rejected or failed, could not be read,
or a file could not be read.`,
		Args: usageArgs(cobra.MinimumNArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if err := checkPaths(args); err != nil {
				return &exitError{code: exitUsage, err: fmt.Errorf("replay: %w\nrun '%s --help' for usage", err, cmd.CommandPath())}
			}
			opts.Paths = args
			opts.JSON = asJSON
			if listener != "" && to != "" {
				return &exitError{code: exitUsage, err: fmt.Errorf("--listener is for --dry-run and the local journal (over --to, the server's listener decides)\nrun '%s --help' for usage", cmd.CommandPath())}
			}
			// The configuration, for all but a replay over MLLP: its
			// listeners, mappings and journal.
			var cfg *config.Config
			if to == "" || opts.DryRun {
				var err error
				if cfg, err = cf.load(); err != nil {
					return err
				}
			}
			// As if received by a configured listener: its character set
			// reads messages without MSH-18, at once and when processed.
			charset := ""
			if listener != "" {
				charsets := cfg.Charsets()
				var ok bool
				if charset, ok = charsets[listener]; !ok {
					return &exitError{code: exitUsage, err: fmt.Errorf("--listener %s: no such listener in the configuration (listeners: %s)\nrun '%s --help' for usage",
						listener, strings.Join(slices.Sorted(maps.Keys(charsets)), ", "), cmd.CommandPath())}
				}
			}
			if opts.DryRun {
				// The check maps too, with the mappings serve would use
				// (the configuration's, or --mappings DIR).
				ms, err := loadMappingSet(cmp.Or(mappingsDir, cfg.Mappings.Dir), cmd.ErrOrStderr())
				if err != nil {
					return err
				}
				opts.Check = func(raw []byte) error { return checkMessage(ms, raw, charset) }
			} else if mappingsDir != "" {
				return &exitError{code: exitUsage, err: fmt.Errorf("--mappings is for --dry-run (serve maps with the configuration's mappings)\nrun '%s --help' for usage", cmd.CommandPath())}
			}
			if !noProgress {
				opts.Progress = cmd.ErrOrStderr()
				if f, ok := opts.Progress.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
					opts.Interactive = true
				}
			}
			opts.Problems = cmd.ErrOrStderr()
			var sink replay.Sink
			if !opts.DryRun {
				if to != "" {
					if cmd.Flags().Changed("data") {
						return &exitError{code: exitUsage, err: errors.New("--to and --data exclude each other")}
					}
					tcfg, err := tf.config()
					if err != nil {
						return &exitError{code: exitUsage, err: err}
					}
					s := replay.NewMLLPSink(to, mllp.ClientOptions{TLSConfig: tcfg}, max(opts.Concurrency, 1))
					defer s.Close()
					sink = s
					opts.Target = "mllp://" + to
				} else {
					store, err := sqlite.Open(ctx, cfg.DatabasePath(), sqlite.Options{
						Durability: sqlite.Durability(cfg.Journal.Durability), DuplicateWindow: duplicateWindow(cfg), MaxBatch: cfg.Journal.MaxBatch,
					})
					if err != nil {
						return err
					}
					defer store.Close()
					eng, err := engine.New(cfg, engine.Deps{Journal: store})
					if err != nil {
						return err
					}
					sink = journalSink{eng: eng, listener: cmp.Or(listener, "replay"), charset: charset}
					db, err := filepath.Abs(cfg.DatabasePath())
					if err != nil {
						return err
					}
					opts.Target = "journal:" + db
					if !cmd.Flags().Changed("concurrency") {
						opts.Concurrency = 64 // many appends share each group commit
					}
				}
			}
			if giveUpAfter < 0 {
				return &exitError{code: exitUsage, err: fmt.Errorf("--give-up-after %v is negative (0 waits for ever)", giveUpAfter)}
			}
			opts.GiveUpAfter = cmp.Or(giveUpAfter, -1) // 0: for ever
			sum, err := replay.Run(ctx, sink, opts)
			if errors.Is(err, replay.ErrOtherTarget) {
				return &exitError{code: exitUsage, err: fmt.Errorf("%w\nresume with that destination, or pass --state FILE to keep a separate state for this one", err)}
			}
			if errors.Is(err, replay.ErrNotStarted) {
				return err // nothing was replayed: no summary
			}
			out := cmd.OutOrStdout()
			if asJSON {
				_ = sum.WriteJSON(out)
			} else {
				_ = sum.WriteText(out)
			}
			if errors.Is(err, replay.ErrGaveUp) {
				return &exitError{code: exitFailure, err: fmt.Errorf("%w: run again with --resume (state %s) to send them and the rest", err, opts.StateFile)}
			}
			if err != nil {
				return err
			}
			if sum.Rejected+sum.Failed+sum.Problems+sum.FileErrors > 0 {
				return &exitError{code: exitFailure}
			}
			return nil
		},
	}
	cf.register(c)
	tf.register(c)
	c.Flags().StringVar(&to, "to", "", "replay over MLLP into the server at host:port (default: into the local journal)")
	c.Flags().IntVar(&opts.Concurrency, "concurrency", 8, "messages in flight at once (over MLLP: connections; into the journal the default is 64)")
	c.Flags().Float64Var(&opts.Rate, "rate", 0, "at most N messages per second (0: unlimited)")
	c.Flags().BoolVar(&opts.Resume, "resume", false, "continue an interrupted replay, skipping what was already acknowledged")
	c.Flags().StringVar(&opts.StateFile, "state", replay.DefaultStateFile, "checkpoint file for --resume")
	c.Flags().DurationVar(&giveUpAfter, "give-up-after", replay.DefaultGiveUpAfter, "with --to: how long to wait for a server that cannot be reached or does not answer before stopping (0: for ever)")
	c.Flags().BoolVar(&opts.DryRun, "dry-run", false, "parse, validate and map only; list the problems")
	c.Flags().StringVar(&listener, "listener", "", "with --dry-run or into the local journal: read the messages as this configured listener does (its charset for messages without MSH-18; the entries are journaled under its name, so processing reads them alike)")
	c.Flags().StringVar(&mappingsDir, "mappings", "", "with --dry-run: directory of mapping files (default: the configuration's mappings.dir, else the shipped mappings)")
	c.Flags().BoolVar(&asJSON, "json", false, "problems and the summary as JSON lines")
	c.Flags().BoolVar(&noProgress, "quiet", false, "no progress output")
	return c
}

// checkPaths reports every path given on the command line that cannot be
// used (does not exist, or cannot be examined), one per line.
func checkPaths(paths []string) error {
	var bad []string
	for _, p := range paths {
		if _, err := os.Stat(p); err != nil {
			var pe *fs.PathError
			if errors.As(err, &pe) {
				err = pe.Err
			}
			bad = append(bad, fmt.Sprintf("  %s: %v", p, err))
		}
	}
	if len(bad) == 0 {
		return nil
	}
	return fmt.Errorf("%d path(s) cannot be read:\n%s", len(bad), strings.Join(bad, "\n"))
}

// checkMessage is the dry-run check: what the engine would refuse (the
// listener's AR) or fail to process (a message no map handles, or one its
// map cannot map).
func checkMessage(ms *mappingSet, raw []byte, charset string) error {
	m, err := hl7.ParseWithOptions(raw, hl7.ParseOptions{FallbackCharset: charset})
	if err != nil {
		return err
	}
	if problems := hl7.Validate(m); len(problems) > 0 {
		var errs []error
		for _, p := range problems {
			errs = append(errs, errors.New(p.Text))
		}
		return errors.Join(errs...)
	}
	if _, err := ms.set.Map(m, mappings.Options{}); err != nil {
		if me, ok := errors.AsType[*mappings.MapError](err); ok {
			return fmt.Errorf("mapping: %s: %v (map %s)", me.Where, me.Err, ms.at(me.At))
		}
		return fmt.Errorf("mapping: %w", err)
	}
	return nil
}

// journalSink replays into the local journal through the engine's own
// receive path (the same parsing, validation, de-duplication and NAKs as a
// listener).
type journalSink struct {
	eng               *engine.Engine
	listener, charset string // the entries' listener ("replay", or --listener) and its character set
}

func (s journalSink) Deliver(ctx context.Context, m archive.Message) (replay.Result, error) {
	r := s.eng.Receive(ctx, engine.Inbound{Listener: s.listener, Peer: m.Source, Raw: m.Raw, Charset: s.charset})
	res := replay.Result{AckCode: r.Code}
	switch {
	case !r.Stored && !r.Rejected:
		return res, errors.New("the journal could not store the message")
	case r.Rejected:
		res.Outcome, res.Detail = replay.Rejected, replay.AckText(r.Ack)
	case r.Duplicate:
		res.Outcome = replay.Duplicate
	default:
		res.Outcome = replay.Accepted
	}
	return res, nil
}
