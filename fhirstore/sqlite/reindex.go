package sqlite

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/carebridge/carebridge/fhirstore"
	"github.com/carebridge/carebridge/internal/jsonmap"
)

var _ fhirstore.Reindexer = (*Store)(nil)

// indexState is the search_index row: the fingerprint of the definitions
// that built every resource's search rows ("" when unknown), and the
// rebuild under way, if any: the fingerprint it builds (target, "" for
// none) and the rids it still has to rebuild, next to last. The resources
// after last were written, with target's definitions, after it began.
type indexState struct {
	fingerprint, target string
	next, last          int64
}

// queryRower is a *sql.DB or a *sql.Tx.
type queryRower interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func readIndexState(ctx context.Context, q queryRower) (indexState, error) {
	var st indexState
	err := q.QueryRowContext(ctx, `SELECT fingerprint, target, next_rid, last_rid FROM search_index WHERE id = 1`).
		Scan(&st.fingerprint, &st.target, &st.next, &st.last)
	if err != nil {
		return st, fmt.Errorf("read search index state: %w", err)
	}
	return st, nil
}

// stampEmptyIndex records a store without resources as indexed with the
// current definitions: it has no rows to rebuild. Run by Open before the
// writer starts.
func stampEmptyIndex(ctx context.Context, db *sql.DB) error {
	fp := fhirstore.IndexFingerprint()
	_, err := db.ExecContext(ctx, `UPDATE search_index SET fingerprint = ?, target = '', next_rid = 0, last_rid = 0
		WHERE id = 1 AND fingerprint <> ? AND NOT EXISTS (SELECT 1 FROM resource)`, fp, fp)
	if err != nil {
		return fmt.Errorf("stamp search index: %w", err)
	}
	return nil
}

// IndexStatus reads what built the search index (see fhirstore.Reindexer).
// A database a read-only store opened before this version's schema has no
// record of it; like any store that holds no resources, it is current
// when it has none.
func (s *Store) IndexStatus(ctx context.Context) (fhirstore.IndexStatus, error) {
	var out fhirstore.IndexStatus
	has, err := s.tables(ctx, "search_index", "resource")
	if err != nil {
		return out, fmt.Errorf("read search index state: %w", err)
	}
	if !has["resource"] {
		out.Current = true
		return out, nil
	}
	var st indexState
	if has["search_index"] {
		if st, err = readIndexState(ctx, s.rdb); err != nil {
			return out, err
		}
	}
	fp := fhirstore.IndexFingerprint()
	if st.fingerprint == fp {
		out.Current = true
		return out, nil
	}
	out.Rebuilding = st.target == fp
	q, args := `SELECT count(*) FROM resource`, []any(nil)
	if out.Rebuilding {
		q, args = `SELECT count(*) FROM resource WHERE rid BETWEEN ? AND ?`, []any{st.next, st.last}
	}
	if err := s.rdb.QueryRowContext(ctx, q, args...).Scan(&out.Remaining); err != nil {
		return out, fmt.Errorf("read search index state: %w", err)
	}
	out.Current = out.Remaining == 0 && !out.Rebuilding
	return out, nil
}

// tables reports which of names exist in the database.
func (s *Store) tables(ctx context.Context, names ...string) (map[string]bool, error) {
	out := map[string]bool{}
	for _, n := range names {
		var k int
		if err := s.rdb.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?`, n).Scan(&k); err != nil {
			return nil, err
		}
		out[n] = k > 0
	}
	return out, nil
}

// Reindex rebuilds the search index rows (see fhirstore.Reindexer). The
// rebuild's progress is the search_index row: each batch reads its
// resources and computes their rows outside the writer, then, in one
// transaction of the writer, checks that the rebuild still stands where it
// read it (another process rebuilding at once may have taken the batch:
// then it reads again), brings the rows of each resource still at the
// version read up to date (updateIndexRows: only rows that differ are
// written) and moves the rebuild on; the last batch records the rows as
// current.
func (s *Store) Reindex(ctx context.Context, opts fhirstore.ReindexOptions) (fhirstore.ReindexResult, error) {
	start := time.Now()
	var res fhirstore.ReindexResult
	result := func(err error) (fhirstore.ReindexResult, error) {
		res.Elapsed = time.Since(start)
		if err != nil {
			err = fmt.Errorf("rebuild search index: %w", err)
		}
		return res, err
	}
	size := cmp.Or(opts.BatchSize, fhirstore.DefaultReindexBatch)
	if size < 1 {
		return result(fmt.Errorf("batch size %d: want at least 1", size))
	}
	fp := fhirstore.IndexFingerprint()
	var st indexState
	err := s.submit(ctx, func(tx *sql.Tx) error {
		var err error
		if st, err = readIndexState(ctx, tx); err != nil {
			return err
		}
		if st.target == fp && st.fingerprint != fp || st.fingerprint == fp && !opts.All {
			return nil // a rebuild to continue, or nothing to do
		}
		// A new rebuild: of every resource there is now. Until it is done
		// the index does not count as current, also with All.
		st.target, st.next = fp, 0
		if st.fingerprint == fp {
			st.fingerprint = ""
		}
		if err := tx.QueryRowContext(ctx, `SELECT coalesce(max(rid), 0) FROM resource`).Scan(&st.last); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `UPDATE search_index SET fingerprint = ?, target = ?, next_rid = ?, last_rid = ? WHERE id = 1`,
			st.fingerprint, st.target, st.next, st.last)
		return err
	})
	if err != nil {
		return result(err)
	}
	if st.fingerprint == fp {
		res.UpToDate = true
		return result(nil)
	}
	if err := s.rdb.QueryRowContext(ctx, `SELECT count(*) FROM resource WHERE rid BETWEEN ? AND ?`, st.next, st.last).Scan(&res.Total); err != nil {
		return result(err)
	}
	for {
		if err := ctx.Err(); err != nil {
			return result(err)
		}
		done, err := s.reindexBatch(ctx, fp, size, &res)
		if err != nil {
			return result(err)
		}
		if opts.Progress != nil {
			res.Elapsed = time.Since(start)
			opts.Progress(res)
		}
		if done {
			return result(nil)
		}
	}
}

// reindexItem is one resource of a rebuild's batch.
type reindexItem struct {
	rid, version int64
	rows         []indexRow
	skip         bool // its rows cannot be computed: left as they are
}

// errUnindexable marks a resource whose rows cannot be computed.
var errUnindexable = errors.New("cannot be indexed")

// reindexBatch rebuilds the next batch of up to size resources and adds
// what it did to res; done says the rebuild is finished (by this call or
// by another process).
func (s *Store) reindexBatch(ctx context.Context, fp string, size int, res *fhirstore.ReindexResult) (done bool, err error) {
	st, err := readIndexState(ctx, s.rdb)
	if err != nil {
		return false, err
	}
	switch {
	case st.fingerprint == fp:
		res.UpToDate = res.Resources == 0
		return true, nil // another process finished it
	case st.target != fp:
		return false, fmt.Errorf("another carebridge version took the rebuild over (its definitions %q, these %q): run one version on a data directory", st.target, fp)
	}
	items, err := s.readReindexBatch(ctx, st.next, st.last, size)
	if err != nil {
		return false, err
	}
	var unindexable int64
	for i := range items {
		if items[i].skip {
			unindexable++
		}
	}
	var added, removed int64
	moved := false
	err = s.submitHeavy(ctx, func(tx *sql.Tx) error {
		added, removed, moved = 0, 0, false
		cur, err := readIndexState(ctx, tx)
		if err != nil {
			return err
		}
		if cur.target != fp || cur.next != st.next {
			moved = true // another process took this batch
			return nil
		}
		for _, it := range items {
			if it.skip {
				continue
			}
			var version int64
			if err := s.stmt(tx, s.res.versionOf).QueryRow(it.rid).Scan(&version); err != nil {
				return fmt.Errorf("resource %d: %w", it.rid, err)
			}
			if version != it.version {
				continue // written again since it was read: with these definitions
			}
			a, r, err := s.updateIndexRows(tx, it.rid, true, it.rows)
			if err != nil {
				return fmt.Errorf("resource %d: %w", it.rid, err)
			}
			added += int64(a)
			removed += int64(r)
		}
		next := st.last + 1
		if len(items) == size {
			next = items[len(items)-1].rid + 1
		}
		if next > st.last {
			done = true
			_, err = tx.ExecContext(ctx, `UPDATE search_index SET fingerprint = target, target = '', next_rid = 0, last_rid = 0 WHERE id = 1`)
			return err
		}
		_, err = tx.ExecContext(ctx, `UPDATE search_index SET next_rid = ? WHERE id = 1`, next)
		return err
	})
	if err != nil || moved {
		return false, err
	}
	res.Resources += int64(len(items))
	res.Added += added
	res.Removed += removed
	res.Unindexable += unindexable
	return done, nil
}

// readReindexBatch reads the current versions of up to size resources
// from rid next to last, in rid order, and computes their rows: none for a
// deleted resource.
func (s *Store) readReindexBatch(ctx context.Context, next, last int64, size int) ([]reindexItem, error) {
	q, err := s.rdb.QueryContext(ctx, `SELECT r.rid, r.type, r.version, r.deleted, v.body
		FROM resource r JOIN resource_version v ON v.rid = r.rid AND v.version = r.version
		WHERE r.rid BETWEEN ? AND ? ORDER BY r.rid LIMIT ?`, next, last, size)
	if err != nil {
		return nil, err
	}
	defer q.Close()
	var out []reindexItem
	for q.Next() {
		var it reindexItem
		var typ string
		var deleted bool
		var body []byte
		if err := q.Scan(&it.rid, &typ, &it.version, &deleted, &body); err != nil {
			return nil, err
		}
		if !deleted {
			if it.rows, err = s.storedRows(typ, body); err != nil {
				it.skip = true
			}
		}
		out = append(out, it)
	}
	return out, q.Err()
}

// storedRows computes the rows of a stored body of type typ.
func (s *Store) storedRows(typ string, body []byte) ([]indexRow, error) {
	m, err := jsonmap.Decode(body)
	if err != nil || m == nil {
		return nil, errUnindexable
	}
	rows, err := s.indexRows(typ, m)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errUnindexable, err)
	}
	return rows, nil
}
