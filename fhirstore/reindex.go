package fhirstore

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"sync"
	"time"
)

// IndexVersion is the version of the logic that turns a resource into
// search index entries (IndexEntries and what it calls, in searchparams.go
// and searchvalues.go), beyond the definitions themselves.
//
// Bump it whenever that logic starts to index a stored resource
// differently while the definitions stay the same: a new normalization of
// strings, a new kind of entry such as a CJK name written whole, another
// reading of dates or references. Changes to the definitions (a parameter
// added, removed, or given another expression, kind or target) need no
// bump: they change IndexFingerprint by themselves. A store whose rows
// were built with another fingerprint rebuilds them (Reindexer).
//
// 2: phone numbers are also indexed by their last digits (PhoneKey).
const IndexVersion = 2

// IndexFingerprint identifies what builds the search index rows: every
// definition's type, name, kind, expression and target, and IndexVersion.
// A store records the fingerprint its rows were built with.
func IndexFingerprint() string {
	fingerprintOnce.Do(func() { fingerprint = fingerprintOf(definitions, IndexVersion) })
	return fingerprint
}

var (
	fingerprintOnce sync.Once
	fingerprint     string
)

// fingerprintOf is IndexFingerprint of the definitions defs at version v,
// whatever their order.
func fingerprintOf(defs []SearchParam, v int) string {
	sorted := slices.Clone(defs)
	slices.SortFunc(sorted, func(a, b SearchParam) int {
		return cmp.Or(cmp.Compare(a.Type, b.Type), cmp.Compare(a.Name, b.Name))
	})
	h := sha256.New()
	fmt.Fprintf(h, "carebridge search index %d\n", v)
	for _, p := range sorted {
		// %q: no field can run into the next one.
		fmt.Fprintf(h, "%q %q %q %q %q\n", p.Type, p.Name, p.Kind, p.Expr, p.Target)
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// IndexStatus says whether a store's search index rows were built with
// this version's definitions (IndexFingerprint).
type IndexStatus struct {
	// Current is true when every resource's rows were built with them:
	// searches find every resource they should.
	Current bool
	// Rebuilding is true, when not Current, if a rebuild with them has
	// begun and not finished: it is running (maybe in another process) or
	// was interrupted, and the next Reindex continues it.
	Rebuilding bool
	// Remaining is how many resources are still to rebuild, 0 when Current.
	Remaining int64
}

// DefaultReindexBatch is how many resources one transaction of a rebuild
// covers when ReindexOptions leaves BatchSize 0.
const DefaultReindexBatch = 500

// ReindexOptions tune Reindex.
type ReindexOptions struct {
	// All rebuilds the rows also when the index is current. Until it is
	// done, the index counts as not current.
	All bool
	// BatchSize is how many resources each transaction covers; 0 means
	// DefaultReindexBatch.
	BatchSize int
	// Progress, when set, is called after each batch is committed, in
	// Reindex's goroutine, with the totals so far.
	Progress func(ReindexResult)
}

// ReindexResult is what a rebuild did (or has done so far).
type ReindexResult struct {
	// UpToDate is true when there was nothing to do: the index was
	// current (and All not set), or another process finished the rebuild.
	UpToDate bool
	// Total is how many resources the rebuild had left when this call
	// began; Resources how many of them this call has rebuilt (another
	// process rebuilding at the same time takes some).
	Total, Resources int64
	// Added and Removed count the index rows written and deleted. Rows
	// that were already right are neither.
	Added, Removed int64
	// Unindexable counts resources whose stored version the current
	// definitions cannot index (a date they refuse): their rows are left as
	// they were.
	Unindexable int64
	// Elapsed is the time since Reindex was called.
	Elapsed time.Duration
}

// Rate is Resources per second of Elapsed (0 before any time passed).
func (r ReindexResult) Rate() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Resources) / r.Elapsed.Seconds()
}

// Reindexer is a store that records which definitions built its search
// index rows and can rebuild them. It is an optional ability of a Store,
// found by type assertion.
//
// A rebuild recomputes the rows of every resource's current version
// (deleted resources have none) in batches, each in its own transaction
// through the store's usual writer, so that other writes go on meanwhile.
// It changes no resource: it writes no version and no change-feed entry,
// and rows that are already right are not written again. Its progress is
// kept in the store: an interrupted rebuild (a cancelled context, a killed
// process) continues where it stopped on the next call, and the index
// counts as current only once the last batch is committed. Two processes
// rebuilding at once share the work.
type Reindexer interface {
	// IndexStatus reads what built the store's search index.
	IndexStatus(ctx context.Context) (IndexStatus, error)
	// Reindex rebuilds the rows unless they are current (or opts.All),
	// and then records them as current. It returns when done, when ctx is
	// done (with ctx's error and what it did so far), or on a failure.
	Reindex(ctx context.Context, opts ReindexOptions) (ReindexResult, error)
}
