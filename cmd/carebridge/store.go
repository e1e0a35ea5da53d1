package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/carebridge/carebridge/fhirstore"
	"github.com/carebridge/carebridge/fhirstore/sqlite"
)

func newStoreCmd() *cobra.Command {
	c := group(&cobra.Command{
		Use:   "store",
		Short: "Maintain the data store: rebuild the search index (works while serve runs)",
	})
	c.AddCommand(newStoreReindexCmd())
	return c
}

// reindexProgressEvery is how often `store reindex` prints a progress line.
const reindexProgressEvery = 2 * time.Second

// reindexJSON is the --json summary of `store reindex`.
type reindexJSON struct {
	UpToDate       bool    `json:"up_to_date"`
	Resources      int64   `json:"resources"`
	Total          int64   `json:"total"`
	RowsAdded      int64   `json:"rows_added"`
	RowsRemoved    int64   `json:"rows_removed"`
	Unindexable    int64   `json:"unindexable"`
	ElapsedSeconds float64 `json:"elapsed_seconds"`
	Rate           float64 `json:"resources_per_second"`
	Interrupted    bool    `json:"interrupted,omitempty"`
}

func newStoreReindexCmd() *cobra.Command {
	var cf configFlags
	var all, asJSON, quiet bool
	c := &cobra.Command{
		Use:   "reindex [--config FILE] [--data DIR] [--all] [--json] [--quiet]",
		Short: "Rebuild the search index when this version indexes differently from the one that built it",
		Long: `Rebuild the search index: recompute the search rows of every resource's current version with
this version's search definitions, in batches of one transaction each, and record the index as
current. Nothing is done when the index is current already, unless --all is given. Only rows
that differ are written; no resource, version or change-feed entry changes.

It works while serve runs (a serve started on an out-of-date index rebuilds it by itself in
the background; the two share the work). Interrupted (Ctrl-C, a crash), it continues where it
stopped the next time, or serve continues it. Progress goes to standard error, the summary to
standard output.`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := cf.load()
			if err != nil {
				return err
			}
			if err := databaseExists(cfg); err != nil {
				return err
			}
			ctx := cmd.Context()
			// It writes index rows only: no validator needed.
			s, err := sqlite.Open(ctx, cfg.DatabasePath(), sqlite.Options{
				Durability: sqlite.Durability(cfg.Journal.Durability), DuplicateWindow: duplicateWindow(cfg), Validator: sqlite.NoValidation,
			})
			if err != nil {
				return err
			}
			defer s.Close()
			opts := fhirstore.ReindexOptions{All: all}
			var last time.Time
			progress := cmd.ErrOrStderr()
			if !quiet {
				last = time.Now()
				opts.Progress = func(p fhirstore.ReindexResult) {
					if time.Since(last) >= reindexProgressEvery {
						last = time.Now()
						fmt.Fprint(progress, reindexProgressLine(p))
					}
				}
			}
			res, err := s.Reindex(ctx, opts)
			interrupted := errors.Is(err, context.Canceled)
			if err != nil && !interrupted {
				return err
			}
			if !quiet && !res.UpToDate {
				fmt.Fprint(progress, reindexProgressLine(res))
			}
			out := cmd.OutOrStdout()
			if asJSON {
				enc := json.NewEncoder(out)
				_ = enc.Encode(reindexJSON{UpToDate: res.UpToDate, Resources: res.Resources, Total: res.Total,
					RowsAdded: res.Added, RowsRemoved: res.Removed, Unindexable: res.Unindexable,
					ElapsedSeconds: res.Elapsed.Seconds(), Rate: res.Rate(), Interrupted: interrupted})
			} else {
				writeReindexSummary(out, res, interrupted)
			}
			if interrupted {
				return fmt.Errorf("search index rebuild interrupted; run `carebridge store reindex` again (or start serve) to continue: %w", err)
			}
			return nil
		},
	}
	cf.register(c)
	c.Flags().BoolVar(&all, "all", false, "rebuild also when the index is current (rows already right are not written again)")
	c.Flags().BoolVar(&asJSON, "json", false, "print the summary as one JSON object")
	c.Flags().BoolVar(&quiet, "quiet", false, "no progress output")
	return c
}

// reindexProgressLine formats a progress line of `store reindex`, as
// replay's: count/total, percentage, rate, time left.
func reindexProgressLine(p fhirstore.ReindexResult) string {
	total := max(p.Total, p.Resources)
	pct := 100.0
	if total > 0 {
		pct = 100 * float64(p.Resources) / float64(total)
	}
	eta := "?"
	switch rate := p.Rate(); {
	case p.Resources == total:
		eta = "0s"
	case rate > 0:
		eta = time.Duration(float64(total-p.Resources) / rate * float64(time.Second)).Round(time.Second).String()
	}
	return fmt.Sprintf("reindex: %d/%d resources %.1f%% %.0f resources/s eta %s\n", p.Resources, total, pct, p.Rate(), eta)
}

func writeReindexSummary(w io.Writer, res fhirstore.ReindexResult, interrupted bool) {
	if res.UpToDate {
		fmt.Fprintln(w, "search index is current: nothing to rebuild (--all rebuilds it anyway)")
		return
	}
	what := "search index rebuilt"
	if interrupted {
		what = "search index rebuild interrupted"
	}
	fmt.Fprintf(w, "%s: %d resources in %s (%.0f resources/s)\n", what, res.Resources, res.Elapsed.Round(time.Millisecond), res.Rate())
	fmt.Fprintf(w, "  rows added    %d\n", res.Added)
	fmt.Fprintf(w, "  rows removed  %d\n", res.Removed)
	if res.Resources < res.Total && !interrupted {
		fmt.Fprintf(w, "  by another process  %d (a running serve)\n", res.Total-res.Resources)
	}
	if res.Unindexable > 0 {
		fmt.Fprintf(w, "  unindexable   %d (kept their rows: this version cannot index their stored version)\n", res.Unindexable)
	}
}

// noteSearchIndex prints a one-line note on w when the store's search
// index needs rebuilding: searches may miss records until it is done.
func noteSearchIndex(ctx context.Context, w io.Writer, s fhirstore.Reindexer) {
	st, err := s.IndexStatus(ctx)
	if err != nil || st.Current {
		return
	}
	if st.Rebuilding {
		fmt.Fprintf(w, "note: a rebuild of the search index is running or was interrupted (%d resources to go): searches may miss records until it is done (`carebridge serve` continues it when it starts; so does `carebridge store reindex`)\n", st.Remaining)
		return
	}
	fmt.Fprintf(w, "note: the search index was built by another carebridge version and needs rebuilding (%d resources): searches may miss records until then (`carebridge serve` rebuilds it on start; or run `carebridge store reindex`)\n", st.Remaining)
}
