package engine

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/carebridge/carebridge/fhirstore"
)

// reindexLogEvery is how often a rebuild of the search index logs its
// progress (at most: after the batch that passes it).
const reindexLogEvery = 30 * time.Second

// searchIndexRebuild checks whether the store's search index was built with
// this version's definitions. If it was not, it says so in the log and
// returns the rebuild to run in the background; otherwise nil.
func (e *Engine) searchIndexRebuild(ctx context.Context, r fhirstore.Reindexer) func(context.Context) {
	st, err := r.IndexStatus(ctx)
	if err != nil {
		e.log.Error("cannot read the search index's state; not rebuilding it", "err", err)
		return nil
	}
	if st.Current {
		return nil
	}
	e.metrics.reindexRemaining.Set(float64(st.Remaining))
	if st.Rebuilding {
		// After an upgrade, or a `store reindex --all`, that stopped.
		e.log.Warn("a rebuild of the search index is unfinished: continuing it in the background; until it is done, searches (identity matching included) may miss resources not yet rebuilt",
			"resources", st.Remaining, "continued", true)
	} else {
		e.log.Warn("search index built by another carebridge version: rebuilding it in the background; until it is done, searches (identity matching included) may miss resources not yet rebuilt",
			"resources", st.Remaining, "continued", false)
	}
	return func(ctx context.Context) { e.rebuildSearchIndex(ctx, r) }
}

// rebuildSearchIndex runs the rebuild, logging progress now and then and a
// summary at the end. Stopped by ctx, it leaves the rest to the next start.
func (e *Engine) rebuildSearchIndex(ctx context.Context, r fhirstore.Reindexer) {
	logged := time.Now()
	res, err := r.Reindex(ctx, fhirstore.ReindexOptions{Progress: func(p fhirstore.ReindexResult) {
		e.metrics.reindexRemaining.Set(float64(max(p.Total-p.Resources, 0)))
		if time.Since(logged) >= reindexLogEvery {
			logged = time.Now()
			e.log.Info("rebuilding search index", "done", p.Resources, "total", p.Total, "rate", perSecond(p.Rate()))
		}
	}})
	switch {
	case errors.Is(err, context.Canceled) && ctx.Err() != nil:
		e.log.Info("search index rebuild stopped; the next start continues it", "done", res.Resources, "total", res.Total)
	case err != nil:
		e.log.Error("search index rebuild failed; the next start tries again", "done", res.Resources, "total", res.Total, "err", err)
	default:
		e.metrics.reindexRemaining.Set(0)
		e.log.Info("search index rebuilt", "resources", res.Resources, "rows_added", res.Added, "rows_removed", res.Removed,
			"elapsed", res.Elapsed.Round(time.Millisecond), "rate", perSecond(res.Rate()))
		if res.Unindexable > 0 {
			e.log.Warn("search index: some resources cannot be indexed by this version and kept their rows", "count", res.Unindexable)
		}
	}
}

// perSecond formats a rate of resources per second.
func perSecond(rate float64) string { return fmt.Sprintf("%.0f/s", rate) }
