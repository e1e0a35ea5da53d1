package sqlite

import (
	"bytes"
	"compress/gzip"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/carebridge/carebridge/fhirstore"
)

// Append stores e durably (see fhirstore.Journal). It returns only after the
// transaction carrying e has committed.
func (s *Store) Append(ctx context.Context, e *fhirstore.Entry) (fhirstore.AppendResult, error) {
	switch e.Status {
	case fhirstore.StatusReceived, fhirstore.StatusProcessing, fhirstore.StatusRejected:
	default:
		return fhirstore.AppendResult{}, fmt.Errorf("append to journal: status %q cannot be appended", e.Status)
	}
	if e.ReceivedAt.IsZero() {
		e.ReceivedAt = s.opts.Now()
	}
	var res fhirstore.AppendResult
	var errText string // e.Error, or why a duplicate differs (the writer may run fn again: e is left alone)
	err := s.submit(ctx, func(tx *sql.Tx) error {
		res, errText = fhirstore.AppendResult{}, e.Error
		status := e.Status
		rejected := status == fhirstore.StatusRejected
		var dupOf sql.NullInt64
		if (!rejected || e.CheckResend) && s.opts.DuplicateWindow > 0 && e.ControlID != "" {
			since := e.ReceivedAt.Add(-s.opts.DuplicateWindow).UnixNano()
			found, err := s.original(tx, e, since)
			if err != nil {
				return fmt.Errorf("look up duplicate: %w", err)
			}
			// A rejected entry becomes a duplicate only as a resend of the
			// same message: a different one under the key keeps its NAK.
			if found.Duplicate && (!rejected || !found.Differs) {
				res = found
				status = fhirstore.StatusDuplicate
				dupOf = sql.NullInt64{Int64: res.Original, Valid: true}
				if rejected {
					errText = "" // the rejection's reason does not apply to a resend
				}
			}
		}
		claimedBy, claimedAt := "", int64(0)
		if status == fhirstore.StatusProcessing {
			claimedBy, claimedAt = e.ClaimedBy, e.ReceivedAt.UnixNano()
		}
		ack := e.Ack
		if res.Duplicate {
			ack = res.OriginalAck
		}
		if res.Differs {
			errText = fhirstore.DifferentDuplicateError(res.Original)
		}
		r, err := s.stmt(tx, s.stmtInsert).Exec(
			e.ReceivedAt.UnixNano(), e.Listener, e.Peer, e.SendingApp, e.SendingFacility,
			e.MessageTime, e.MessageType, e.ControlID, string(status), errText, dupOf,
			claimedBy, claimedAt, boolInt(status == fhirstore.StatusProcessing))
		if err != nil {
			return fmt.Errorf("insert journal entry: %w", err)
		}
		if res.ID, err = r.LastInsertId(); err != nil {
			return err
		}
		if _, err := s.stmt(tx, s.stmtInsertBody).Exec(res.ID, e.Raw, nullBytes(ack)); err != nil {
			return fmt.Errorf("insert journal message: %w", err)
		}
		return nil
	})
	if err != nil {
		return fhirstore.AppendResult{}, fmt.Errorf("append to journal: %w", err)
	}
	e.ID = res.ID
	if res.Duplicate {
		e.Status, e.DuplicateOf, e.Ack = fhirstore.StatusDuplicate, res.Original, res.OriginalAck
	}
	e.Error = errText
	return res, nil
}

// maxOriginals bounds the earlier entries under one key a duplicate is
// compared with.
const maxOriginals = 16

// original finds the entry e repeats (same key since since): the earliest
// one whose message is e's, else the earliest one, with Differs set. An
// entry answered AE/AR (processing failed under on-process) is left out.
func (s *Store) original(tx *sql.Tx, e *fhirstore.Entry, since int64) (fhirstore.AppendResult, error) {
	rows, err := s.stmt(tx, s.stmtDup).Query(e.ControlID, e.SendingApp, e.SendingFacility, since)
	if err != nil {
		return fhirstore.AppendResult{}, err
	}
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return fhirstore.AppendResult{}, err
		}
		ids = append(ids, id)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return fhirstore.AppendResult{}, err
	}
	var res fhirstore.AppendResult
	for _, id := range ids {
		var raw, ack []byte
		if err := s.stmt(tx, s.stmtBody).QueryRow(id).Scan(&raw, &ack); err != nil {
			return fhirstore.AppendResult{}, err
		}
		if fhirstore.Refused(ack) {
			continue // answered AE/AR after processing: no original
		}
		same := fhirstore.SameMessage(raw, e.Raw)
		if !res.Duplicate || same {
			res = fhirstore.AppendResult{Duplicate: true, Original: id, OriginalAck: ack, Differs: !same}
		}
		if same {
			break
		}
	}
	return res, nil
}

// Claim hands up to limit received entries, oldest first, to owner.
func (s *Store) Claim(ctx context.Context, owner string, limit int) ([]*fhirstore.Entry, error) {
	if limit <= 0 {
		limit = 1
	}
	var out []*fhirstore.Entry
	err := s.submit(ctx, func(tx *sql.Tx) error {
		out = out[:0]
		rows, err := s.stmt(tx, s.stmtClaim).Query(owner, s.opts.Now().UnixNano(), limit)
		if err != nil {
			return err
		}
		for rows.Next() {
			e, err := scanEntry(rows, false)
			if err != nil {
				rows.Close()
				return err
			}
			out = append(out, e)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		body := s.stmt(tx, s.stmtBody)
		for _, e := range out {
			if err := body.QueryRow(e.ID).Scan(&e.Raw, &e.Ack); err != nil {
				return fmt.Errorf("read message %d: %w", e.ID, err)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("claim journal entries: %w", err)
	}
	slices.SortFunc(out, func(a, b *fhirstore.Entry) int { return int(a.ID - b.ID) })
	return out, nil
}

// Complete records the outcome of processing.
func (s *Store) Complete(ctx context.Context, cs []fhirstore.Completion) error {
	for _, c := range cs {
		switch c.Status {
		case fhirstore.StatusProcessed, fhirstore.StatusFailed, fhirstore.StatusFiltered:
		default:
			return fmt.Errorf("complete journal entry %d: status %q is not a final status", c.ID, c.Status)
		}
	}
	cs = packResults(cs)
	now := s.opts.Now().UnixNano()
	var lost []int64
	err := s.submit(ctx, func(tx *sql.Tx) error {
		lost = lost[:0]
		complete, setAck := s.stmt(tx, s.stmtComplete), s.stmt(tx, s.stmtSetAck)
		for _, c := range cs {
			r, err := complete.Exec(string(c.Status), c.Error, now, c.ResultHash, c.ID, c.Owner)
			if err != nil {
				return err
			}
			if n, err := r.RowsAffected(); err != nil {
				return err
			} else if n == 0 {
				lost = append(lost, c.ID)
				continue
			}
			if _, err := setAck.Exec(nullBytes(c.Ack), nullBytes(c.Result), nullBytes(c.Notes), c.ID); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("complete journal entries: %w", err)
	}
	if len(lost) > 0 {
		return fmt.Errorf("complete journal entries %v: %w", lost, fhirstore.ErrNotClaimed)
	}
	return nil
}

// Release returns owner's claims to the received state.
func (s *Store) Release(ctx context.Context, owner string) (int, error) {
	n, err := s.release(ctx, `UPDATE journal SET status = 'received', claimed_by = ''
		WHERE status = 'processing' AND claimed_by = ?`, owner)
	if err != nil {
		return 0, fmt.Errorf("release claimed journal entries: %w", err)
	}
	return n, nil
}

// ReleaseStale returns claims older than before, except those of except, to
// the received state.
func (s *Store) ReleaseStale(ctx context.Context, except string, before time.Time) (int, error) {
	n, err := s.release(ctx, `UPDATE journal SET status = 'received', claimed_by = ''
		WHERE status = 'processing' AND claimed_by <> ? AND claimed_at < ?`, except, before.UnixNano())
	if err != nil {
		return 0, fmt.Errorf("release stale journal claims: %w", err)
	}
	return n, nil
}

// release runs an UPDATE that releases claims and says how many rows it
// changed.
func (s *Store) release(ctx context.Context, query string, args ...any) (int, error) {
	var n int64
	err := s.submit(ctx, func(tx *sql.Tx) error {
		r, err := tx.Exec(query, args...)
		if err != nil {
			return err
		}
		n, err = r.RowsAffected()
		return err
	})
	return int(n), err
}

// Requeue puts finished entries matching f back in the received state.
func (s *Store) Requeue(ctx context.Context, f fhirstore.Filter) (int, error) {
	statuses, err := fhirstore.Requeueable(f)
	if err != nil {
		return 0, fmt.Errorf("requeue: %w", err)
	}
	f.Statuses = statuses
	where, args := whereClause(f)
	q := `UPDATE journal SET status = 'received', error = '' WHERE id IN (SELECT id FROM journal` + where + ` ORDER BY id`
	if f.Limit > 0 {
		q += fmt.Sprintf(" LIMIT %d", f.Limit)
	}
	q += `)`
	var n int64
	err = s.submit(ctx, func(tx *sql.Tx) error {
		r, err := tx.Exec(q, args...)
		if err != nil {
			return err
		}
		n, err = r.RowsAffected()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("requeue journal entries: %w", err)
	}
	return int(n), nil
}

const listColumns = `journal.id, received_at, listener, peer, sending_app, sending_facility, message_time, message_type,
	control_id, status, error, COALESCE(duplicate_of, 0), attempts, claimed_by, processed_at, result_hash`

type scanner interface{ Scan(dest ...any) error }

func scanEntry(r scanner, full bool) (*fhirstore.Entry, error) {
	var e fhirstore.Entry
	var received, processed int64
	var status string
	dest := []any{&e.ID, &received, &e.Listener, &e.Peer, &e.SendingApp, &e.SendingFacility, &e.MessageTime,
		&e.MessageType, &e.ControlID, &status, &e.Error, &e.DuplicateOf, &e.Attempts, &e.ClaimedBy, &processed, &e.ResultHash}
	if full {
		dest = append(dest, &e.Raw, &e.Ack, &e.Result, &e.Notes)
	}
	if err := r.Scan(dest...); err != nil {
		return nil, err
	}
	e.Status = fhirstore.Status(status)
	e.ReceivedAt = time.Unix(0, received)
	if full {
		var err error
		if e.Result, err = unpackResult(e.Result); err != nil {
			return nil, fmt.Errorf("result of entry %d: %w", e.ID, err)
		}
	}
	if processed != 0 {
		e.ProcessedAt = time.Unix(0, processed)
	}
	return &e, nil
}

// Get returns one entry with its raw bytes and ACK.
func (s *Store) Get(ctx context.Context, id int64) (*fhirstore.Entry, error) {
	e, err := scanEntry(s.rdb.QueryRowContext(ctx, `SELECT `+listColumns+`, b.raw, b.ack, b.result, b.notes
		FROM journal JOIN journal_body b ON b.id = journal.id WHERE journal.id = ?`, id), true)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("journal entry %d: %w", id, fhirstore.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("read journal entry %d: %w", id, err)
	}
	return e, nil
}

// List streams the entries matching f to fn.
func (s *Store) List(ctx context.Context, f fhirstore.Filter, fn func(*fhirstore.Entry) error) error {
	where, args := whereClause(f)
	q := `SELECT ` + listColumns + ` FROM journal` + where + ` ORDER BY id`
	if f.Descending {
		q += ` DESC`
	}
	if f.Limit > 0 {
		q += fmt.Sprintf(" LIMIT %d", f.Limit)
	}
	rows, err := s.rdb.QueryContext(ctx, q, args...)
	if err != nil {
		return fmt.Errorf("list journal entries: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		e, err := scanEntry(rows, false)
		if err != nil {
			return fmt.Errorf("list journal entries: %w", err)
		}
		if err := fn(e); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("list journal entries: %w", err)
	}
	return nil
}

// Counts returns the number of entries per status.
func (s *Store) Counts(ctx context.Context, statuses ...fhirstore.Status) (map[fhirstore.Status]int64, error) {
	q, args := `SELECT status, COUNT(*) FROM journal GROUP BY status`, []any(nil)
	if len(statuses) > 0 {
		// Read from the status index alone: as cheap as the backlog is
		// small, whatever the journal's size.
		q = `SELECT status, COUNT(*) FROM journal WHERE status IN (` + placeholders(len(statuses)) + `) GROUP BY status`
		for _, st := range statuses {
			args = append(args, string(st))
		}
	}
	rows, err := s.rdb.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("count journal entries: %w", err)
	}
	defer rows.Close()
	out := map[fhirstore.Status]int64{}
	for rows.Next() {
		var st string
		var n int64
		if err := rows.Scan(&st, &n); err != nil {
			return nil, fmt.Errorf("count journal entries: %w", err)
		}
		out[fhirstore.Status(st)] = n
	}
	return out, rows.Err()
}

// whereClause renders f as a WHERE clause with its arguments.
func whereClause(f fhirstore.Filter) (string, []any) {
	var conds []string
	var args []any
	if len(f.IDs) > 0 {
		conds = append(conds, "id IN ("+placeholders(len(f.IDs))+")")
		for _, id := range f.IDs {
			args = append(args, id)
		}
	}
	if len(f.Statuses) > 0 {
		conds = append(conds, "status IN ("+placeholders(len(f.Statuses))+")")
		for _, st := range f.Statuses {
			args = append(args, string(st))
		}
	}
	if t := f.MessageType; t != "" {
		t = strings.TrimSuffix(strings.TrimSuffix(t, "*"), "^")
		if strings.Contains(t, "^") {
			conds = append(conds, "message_type = ?")
			args = append(args, t)
		} else {
			conds = append(conds, "(message_type = ? OR message_type LIKE ? ESCAPE '\\')")
			args = append(args, t, likeEscape(t)+"^%")
		}
	}
	if snd := f.Sender; snd != "" {
		app, fac, hasFac := strings.Cut(snd, "^")
		conds = append(conds, "sending_app = ?")
		args = append(args, app)
		if hasFac {
			conds = append(conds, "sending_facility = ?")
			args = append(args, fac)
		}
	}
	if f.ControlID != "" {
		conds = append(conds, "control_id = ?")
		args = append(args, f.ControlID)
	}
	if !f.Since.IsZero() {
		conds = append(conds, "received_at >= ?")
		args = append(args, f.Since.UnixNano())
	}
	if !f.Until.IsZero() {
		conds = append(conds, "received_at < ?")
		args = append(args, f.Until.UnixNano())
	}
	if len(conds) == 0 {
		return "", nil
	}
	return " WHERE " + strings.Join(conds, " AND "), args
}

func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?,", n), ",")
}

func likeEscape(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return r.Replace(s)
}

func nullBytes(b []byte) any {
	if b == nil {
		return nil
	}
	return b
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// Results (FHIR Bundles, ~10 KB of JSON that compresses about eightfold)
// are kept gzip-compressed when larger than packMin; entries written before
// are plain JSON, which never starts with gzip's magic bytes.
const packMin = 1024

// packResults returns cs with large results compressed (a copy when any is).
func packResults(cs []fhirstore.Completion) []fhirstore.Completion {
	var out []fhirstore.Completion
	for i := range cs {
		if len(cs[i].Result) < packMin {
			continue
		}
		if out == nil {
			out = slices.Clone(cs)
		}
		out[i].Result = packResult(cs[i].Result)
	}
	if out == nil {
		return cs
	}
	return out
}

func packResult(b []byte) []byte {
	if len(b) < packMin {
		return b
	}
	var buf bytes.Buffer
	zw := gzipWriters.Get().(*gzip.Writer)
	defer gzipWriters.Put(zw)
	zw.Reset(&buf)
	_, _ = zw.Write(b)
	if zw.Close() != nil {
		return b
	}
	return buf.Bytes()
}

// gzipWriters reuses compressors: each holds about a megabyte of tables,
// which allocating per result would make the garbage collector's work.
var gzipWriters = sync.Pool{New: func() any {
	zw, _ := gzip.NewWriterLevel(io.Discard, gzip.BestSpeed)
	return zw
}}

func unpackResult(b []byte) ([]byte, error) {
	if len(b) < 2 || b[0] != 0x1f || b[1] != 0x8b {
		return b, nil
	}
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	out, err := io.ReadAll(io.LimitReader(zr, maxResult+1))
	if err == nil && len(out) > maxResult {
		err = fmt.Errorf("result larger than %d bytes", maxResult)
	}
	return out, err
}

// maxResult bounds a decompressed result.
const maxResult = 256 << 20
