package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"maps"
	"strconv"
	"strings"
	"time"

	"github.com/carebridge/carebridge/fhirstore"
	"github.com/carebridge/carebridge/internal/jsonmap"
)

// paramKey names a search parameter of a resource type.
type paramKey struct{ typ, name string }

// registerParams records every search parameter fhirstore defines in
// search_param (codes are assigned once and never change) and returns the
// codes.
func registerParams(ctx context.Context, db *sql.DB) (map[paramKey]int64, error) {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("register search parameters: %w", err)
	}
	defer tx.Rollback()
	for _, p := range fhirstore.SearchParams() {
		if p.Special() {
			continue
		}
		if _, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO search_param (type, name) VALUES (?, ?)`, p.Type, p.Name); err != nil {
			return nil, fmt.Errorf("register search parameters: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("register search parameters: %w", err)
	}
	return loadParams(ctx, db)
}

// loadParams reads the search parameter codes. A database from before the
// resource tables has none.
func loadParams(ctx context.Context, db *sql.DB) (map[paramKey]int64, error) {
	out := map[paramKey]int64{}
	rows, err := db.QueryContext(ctx, `SELECT code, type, name FROM search_param`)
	if err != nil {
		var n int
		if db.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master WHERE name = 'search_param'`).Scan(&n) == nil && n == 0 {
			return out, nil
		}
		return nil, fmt.Errorf("load search parameters: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var code int64
		var k paramKey
		if err := rows.Scan(&code, &k.typ, &k.name); err != nil {
			return nil, fmt.Errorf("load search parameters: %w", err)
		}
		out[k] = code
	}
	return out, rows.Err()
}

// resourceStmts are the writer's prepared statements for resources.
type resourceStmts struct {
	lookup, insert, update, insertVersion, insertChange *sql.Stmt
	// versionOf reads a resource's current version by rid (reindex.go).
	versionOf *sql.Stmt
	// mark sets a version's mark (fhirstore.Read.Mark, Write.Mark).
	mark *sql.Stmt
	// rows reads a resource's rows of every indexTables (rowsSQL); del[t]
	// deletes one of indexTables[t].
	rows *sql.Stmt
	del  [len(indexTables)]*sql.Stmt
	// add[t][k] inserts k rows into indexTables[t].
	add [len(indexTables)][maxRowsPerInsert + 1]*sql.Stmt
}

// maxRowsPerInsert is how many index rows one INSERT carries: fewer
// statements (and cgo calls) per resource.
const maxRowsPerInsert = 16

// indexTables are the search_* tables, in kindTable order, with the columns
// an insert fills.
var indexTables = [...]struct{ name, cols, a, b string }{
	{"search_token", "param, value, system, rid", "value", "system"},
	{"search_string", "param, value, raw, rid", "value", "raw"},
	{"search_date", "param, low, high, rid", "low", "high"},
	{"search_ref", "param, ref_id, ref_type, rid", "ref_id", "ref_type"},
}

// kindTable is the index of a parameter kind's table in indexTables.
func kindTable(k fhirstore.ParamKind) int {
	switch k {
	case fhirstore.KindToken:
		return 0
	case fhirstore.KindString:
		return 1
	case fhirstore.KindDate:
		return 2
	default:
		return 3
	}
}

func (r *resourceStmts) prepare(ctx context.Context, db *sql.DB) error {
	for _, p := range []struct {
		stmt **sql.Stmt
		sql  string
	}{
		{&r.lookup, `SELECT rid, version, deleted FROM resource WHERE type = ? AND id = ?`},
		{&r.insert, `INSERT INTO resource (type, id, version, last_updated, deleted) VALUES (?, ?, ?, ?, ?)`},
		{&r.update, `UPDATE resource SET version = ?, last_updated = ?, deleted = ?, mark = '' WHERE rid = ?`},
		{&r.insertVersion, `INSERT INTO resource_version (rid, version, last_updated, deleted, journal_id, body) VALUES (?, ?, ?, ?, ?, ?)`},
		{&r.insertChange, `INSERT INTO change (type, id, version, interaction, at, journal_id) VALUES (?, ?, ?, ?, ?, ?)`},
		{&r.rows, rowsSQL()},
		{&r.versionOf, `SELECT version FROM resource WHERE rid = ?`},
		{&r.mark, `UPDATE resource SET mark = ? WHERE rid = ?`},
	} {
		var err error
		if *p.stmt, err = db.PrepareContext(ctx, p.sql); err != nil {
			return err
		}
	}
	for t, tab := range indexTables {
		var err error
		if r.del[t], err = db.PrepareContext(ctx, "DELETE FROM "+tab.name+" WHERE param = ? AND "+tab.a+" = ? AND "+tab.b+" = ? AND rid = ?"); err != nil {
			return err
		}
		for k := 1; k <= maxRowsPerInsert; k++ {
			q := "INSERT OR IGNORE INTO " + tab.name + " (" + tab.cols + ") VALUES (?, ?, ?, ?)" + strings.Repeat(", (?, ?, ?, ?)", k-1)
			var err error
			if r.add[t][k], err = db.PrepareContext(ctx, q); err != nil {
				return err
			}
		}
	}
	return nil
}

// rowsSQL reads a resource's rows of every search table in one statement
// (one step through the driver, not one per table): per row its table's
// index in indexTables, param, the two text columns and the two integer
// ones (the date table's), the columns a table lacks empty or 0. The
// resource's rid is bound once per table.
func rowsSQL() string {
	var parts []string
	for t, tab := range indexTables {
		cols := tab.a + ", " + tab.b + ", 0, 0"
		if t == kindTable(fhirstore.KindDate) {
			cols = "'', '', " + tab.a + ", " + tab.b
		}
		parts = append(parts, "SELECT "+strconv.Itoa(t)+", param, "+cols+" FROM "+tab.name+" WHERE rid = ?")
	}
	return strings.Join(parts, " UNION ALL ")
}

// versionMark stands for meta.versionId in a body prepared outside the
// writer; the writer puts the version number in its place. Validated FHIR
// cannot contain it (control characters are refused in strings).
const versionMark = "\u0000cb-version\u0000"

// versionMarkJSON is versionMark as it appears in an encoded body.
var versionMarkJSON = []byte(`"\u0000cb-version\u0000"`)

// preparedWrite is a Write with everything computed that does not depend on
// the stored state: done in the caller's goroutine, not in the writer.
type preparedWrite struct {
	w             fhirstore.Write
	before, after []byte // the body around the version number
	entries       []indexRow
	lastUpdated   time.Time
}

// indexRow is an IndexEntry with its parameter code, ready to insert.
type indexRow struct {
	e    fhirstore.IndexEntry
	code int64
}

// prepareWrite validates w, sets meta and extracts its index rows.
func (s *Store) prepareWrite(w fhirstore.Write, now time.Time) (preparedWrite, error) {
	pw := preparedWrite{w: w, lastUpdated: now}
	ref := w.Type + "/" + w.ID
	if !fhirstore.ValidID(w.ID) || w.Type == "" {
		return pw, fmt.Errorf("%s: %w: not a resource type and id", ref, fhirstore.ErrInvalid)
	}
	if w.IfVersion < fhirstore.Unconditional {
		return pw, fmt.Errorf("%s: IfVersion %d is not a version", ref, w.IfVersion)
	}
	if w.Delete {
		if w.Body != nil {
			return pw, fmt.Errorf("%s: a delete has no body", ref)
		}
		return pw, nil
	}
	if err := s.opts.Validator.Resource(w.Body); err != nil {
		return pw, fmt.Errorf("%s: %w: %w", ref, fhirstore.ErrInvalid, err)
	}
	// Decoded with numbers as json.Number: decimals kept as written. The
	// caller's decoded body is copied where meta and id are set below.
	body := maps.Clone(w.Object)
	if body == nil {
		var err error
		if body, err = jsonmap.Decode(w.Body); err != nil {
			return pw, fmt.Errorf("%s: %w: %w", ref, fhirstore.ErrInvalid, err)
		}
	}
	if body == nil {
		return pw, fmt.Errorf("%s: %w: not a JSON object", ref, fhirstore.ErrInvalid)
	}
	if rt, _ := body["resourceType"].(string); rt != w.Type {
		return pw, fmt.Errorf("%s: %w: resourceType is %q", ref, fhirstore.ErrInvalid, rt)
	}
	switch id, ok := body["id"]; {
	case !ok:
		body["id"] = w.ID
	case id != w.ID:
		return pw, fmt.Errorf("%s: %w: body has id %v", ref, fhirstore.ErrInvalid, id)
	}
	meta, _ := body["meta"].(map[string]any)
	meta = maps.Clone(meta)
	if meta == nil {
		meta = map[string]any{}
	}
	body["meta"] = meta
	meta["versionId"] = versionMark
	meta["lastUpdated"] = now.UTC().Format(time.RFC3339Nano)
	out, err := jsonmap.Append(nil, body, false)
	if err != nil {
		return pw, fmt.Errorf("%s: encode: %w", ref, err)
	}
	mark := versionMarkJSON
	i := bytes.Index(out, mark)
	if i < 0 || bytes.Count(out, mark) != 1 {
		return pw, fmt.Errorf("%s: %w: the body must not contain the store's version marker", ref, fhirstore.ErrInvalid)
	}
	pw.before = append([]byte(nil), out[:i+1]...) // up to the opening quote
	pw.after = append([]byte(nil), out[i+len(mark)-1:]...)
	if pw.entries, err = s.indexRows(w.Type, body); err != nil {
		return pw, fmt.Errorf("%s: %w: %w", ref, fhirstore.ErrInvalid, err)
	}
	return pw, nil
}

// indexRows extracts the search index rows of body, a decoded resource of
// type typ, for the parameters registered in search_param.
func (s *Store) indexRows(typ string, body map[string]any) ([]indexRow, error) {
	entries, err := fhirstore.IndexEntries(body)
	if err != nil {
		return nil, err
	}
	rows := make([]indexRow, 0, len(entries))
	for _, e := range entries {
		if code, ok := s.params[paramKey{typ, e.Param}]; ok {
			rows = append(rows, indexRow{e: e, code: code})
		}
	}
	return rows, nil
}

// Apply writes cs in one transaction (see fhirstore.Applier). Validation,
// JSON handling and index extraction happen here, in the caller's
// goroutine; the writer only checks versions and inserts rows, sharing its
// transaction (and fsync) with concurrent change sets.
func (s *Store) Apply(ctx context.Context, cs fhirstore.ChangeSet) ([]*fhirstore.Resource, error) {
	if c := cs.Completion; c != nil {
		switch c.Status {
		case fhirstore.StatusProcessed, fhirstore.StatusFailed, fhirstore.StatusFiltered:
		default:
			return nil, fmt.Errorf("apply change set: completion status %q is not a final status", c.Status)
		}
	}
	if cs.Completion != nil && len(cs.Completion.Result) >= packMin {
		c := *cs.Completion
		c.Result = packResult(c.Result)
		cs.Completion = &c
	}
	now := s.opts.Now().UTC().Truncate(time.Microsecond)
	pws := make([]preparedWrite, len(cs.Writes))
	for i, w := range cs.Writes {
		var err error
		if pws[i], err = s.prepareWrite(w, now); err != nil {
			return nil, fmt.Errorf("apply change set: %w", err)
		}
	}
	out := make([]*fhirstore.Resource, len(pws))
	for _, c := range cs.Checks {
		if _, err := fhirstore.PrepareQuery(c.Query); err != nil {
			return nil, fmt.Errorf("apply change set: check: %w", err)
		}
	}
	err := s.submitHeavy(ctx, func(tx *sql.Tx) error {
		for _, c := range cs.Checks {
			found, err := s.searchIDs(ctx, tx, c.Query)
			if err != nil {
				return fmt.Errorf("check %s search: %w", c.Query.Type, err)
			}
			if !sameIDs(found, c.IDs) {
				return fmt.Errorf("a %s search the change set was computed from finds other resources now: %w", c.Query.Type, fhirstore.ErrConflict)
			}
		}
		for _, r := range cs.Reads {
			var rid, version int64
			var deleted bool
			err := s.stmt(tx, s.res.lookup).QueryRow(r.Type, r.ID).Scan(&rid, &version, &deleted)
			if err != nil && !errors.Is(err, sql.ErrNoRows) {
				return fmt.Errorf("check %s/%s: %w", r.Type, r.ID, err)
			}
			if version != r.Version {
				return fmt.Errorf("%s/%s, which the change set was computed from, is at version %d now, not %d: %w", r.Type, r.ID, version, r.Version, fhirstore.ErrConflict)
			}
			if r.Mark != "" && version != 0 {
				if _, err := s.stmt(tx, s.res.mark).Exec(r.Mark, rid); err != nil {
					return fmt.Errorf("mark %s/%s: %w", r.Type, r.ID, err)
				}
			}
		}
		for i := range pws {
			r, err := s.writeResource(tx, &pws[i], cs.JournalID)
			if err != nil {
				return err
			}
			out[i] = r
		}
		if c := cs.Completion; c != nil {
			return s.completeIn(tx, *c, now.UnixNano())
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("apply change set: %w", err)
	}
	return out, nil
}

// sameIDs reports whether found holds exactly the ids of want (in any
// order).
func sameIDs(found, want []string) bool {
	if len(found) != len(want) {
		return false
	}
	set := make(map[string]bool, len(want))
	for _, id := range want {
		set[id] = true
	}
	for _, id := range found {
		if !set[id] {
			return false
		}
	}
	return true
}

// completeIn records c within tx, or fails with ErrNotClaimed.
func (s *Store) completeIn(tx *sql.Tx, c fhirstore.Completion, now int64) error {
	r, err := s.stmt(tx, s.stmtComplete).Exec(string(c.Status), c.Error, now, c.ResultHash, c.ID, c.Owner)
	if err != nil {
		return fmt.Errorf("complete journal entry %d: %w", c.ID, err)
	}
	if n, err := r.RowsAffected(); err != nil {
		return err
	} else if n == 0 {
		return fmt.Errorf("complete journal entry %d: %w", c.ID, fhirstore.ErrNotClaimed)
	}
	if _, err := s.stmt(tx, s.stmtSetAck).Exec(nullBytes(c.Ack), nullBytes(c.Result), nullBytes(c.Notes), c.ID); err != nil {
		return fmt.Errorf("complete journal entry %d: %w", c.ID, err)
	}
	return nil
}

// writeResource checks pw's version against the stored one and writes the
// new version, its index rows and its change-feed row. It runs in the writer.
func (s *Store) writeResource(tx *sql.Tx, pw *preparedWrite, journalID int64) (*fhirstore.Resource, error) {
	w := pw.w
	st := &s.res
	var rid, version int64
	var deleted bool
	err := s.stmt(tx, st.lookup).QueryRow(w.Type, w.ID).Scan(&rid, &version, &deleted)
	exists := err == nil
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%s/%s: look up: %w", w.Type, w.ID, err)
	}
	switch {
	case w.IfVersion == fhirstore.Unconditional:
	case w.IfVersion == 0 && exists:
		return nil, fmt.Errorf("%s/%s exists (version %d): %w", w.Type, w.ID, version, fhirstore.ErrConflict)
	case w.IfVersion > 0 && !exists:
		return nil, fmt.Errorf("%s/%s does not exist, expected version %d: %w", w.Type, w.ID, w.IfVersion, fhirstore.ErrConflict)
	case w.IfVersion > 0 && version != w.IfVersion:
		return nil, fmt.Errorf("%s/%s is at version %d, expected %d: %w", w.Type, w.ID, version, w.IfVersion, fhirstore.ErrConflict)
	}
	if w.Delete {
		if !exists {
			return nil, fmt.Errorf("delete %s/%s: %w", w.Type, w.ID, fhirstore.ErrNotFound)
		}
		if deleted {
			return s.readVersionTx(tx, rid, w.Type, w.ID, version)
		}
	}
	res := &fhirstore.Resource{Type: w.Type, ID: w.ID, Version: version + 1, LastUpdated: pw.lastUpdated,
		Deleted: w.Delete, JournalID: journalID}
	interaction := fhirstore.InteractionUpdate
	switch {
	case w.Delete:
		interaction = fhirstore.InteractionDelete
	case !exists:
		interaction = fhirstore.InteractionCreate
	}
	if !w.Delete {
		v := strconv.AppendInt(nil, res.Version, 10)
		res.Body = make([]byte, 0, len(pw.before)+len(v)+len(pw.after))
		res.Body = append(append(append(res.Body, pw.before...), v...), pw.after...)
	}
	at := pw.lastUpdated.UnixNano()
	if exists {
		if _, err := s.stmt(tx, st.update).Exec(res.Version, at, w.Delete, rid); err != nil {
			return nil, fmt.Errorf("%s/%s: update: %w", w.Type, w.ID, err)
		}
	} else {
		r, err := s.stmt(tx, st.insert).Exec(w.Type, w.ID, res.Version, at, w.Delete)
		if err != nil {
			return nil, fmt.Errorf("%s/%s: insert: %w", w.Type, w.ID, err)
		}
		if rid, err = r.LastInsertId(); err != nil {
			return nil, err
		}
	}
	if _, err := s.stmt(tx, st.insertVersion).Exec(rid, res.Version, at, w.Delete, journalID, nullBytes(res.Body)); err != nil {
		return nil, fmt.Errorf("%s/%s: insert version: %w", w.Type, w.ID, err)
	}
	if w.Mark != "" && !w.Delete {
		if _, err := s.stmt(tx, st.mark).Exec(w.Mark, rid); err != nil {
			return nil, fmt.Errorf("%s/%s: mark: %w", w.Type, w.ID, err)
		}
		res.Mark = w.Mark
	}
	if _, _, err := s.updateIndexRows(tx, rid, exists && !deleted, pw.entries); err != nil {
		return nil, fmt.Errorf("%s/%s: index: %w", w.Type, w.ID, err)
	}
	if _, err := s.stmt(tx, st.insertChange).Exec(w.Type, w.ID, res.Version, string(interaction), at, journalID); err != nil {
		return nil, fmt.Errorf("%s/%s: change feed: %w", w.Type, w.ID, err)
	}
	return res, nil
}

// indexKey is one row of a search_* table, without its rid: the table
// (kindTable), the parameter code and the two value columns.
type indexKey struct {
	table  int
	param  int64
	a, b   string // token, string and reference rows
	lo, hi int64  // date rows
}

func (k indexKey) args(rid int64) []any {
	if k.table == kindTable(fhirstore.KindDate) {
		return []any{k.param, k.lo, k.hi, rid}
	}
	return []any{k.param, k.a, k.b, rid}
}

func keyOf(r indexRow) indexKey {
	e := r.e
	k := indexKey{table: kindTable(e.Kind), param: r.code}
	switch e.Kind {
	case fhirstore.KindToken:
		k.a, k.b = e.Value, e.System
	case fhirstore.KindString:
		k.a, k.b = e.Value, e.Raw
	case fhirstore.KindDate:
		k.lo, k.hi = lowMillis(e.Low), highMillis(e.High)
	case fhirstore.KindReference:
		typ, id, _ := cutRef(e.Value)
		k.a, k.b = id, typ
	}
	return k
}

// updateIndexRows makes the search rows of resource rid those of rows. A
// new version of a stored resource (had) mostly indexes what the last one
// did (an encounter's status changes, its references stay): only the rows
// that differ are deleted and inserted. It returns how many rows it
// inserted and deleted.
func (s *Store) updateIndexRows(tx *sql.Tx, rid int64, had bool, rows []indexRow) (added, removed int, err error) {
	want := make(map[indexKey]bool, len(rows))
	for _, r := range rows {
		want[keyOf(r)] = true
	}
	if had {
		old, err := s.indexRowsOf(tx, rid)
		if err != nil {
			return 0, 0, err
		}
		for _, k := range old {
			if want[k] {
				delete(want, k) // stays as it is
				continue
			}
			if _, err := s.stmt(tx, s.res.del[k.table]).Exec(k.args(rid)...); err != nil {
				return 0, 0, err
			}
			removed++
		}
	}
	var args [len(indexTables)][]any
	for _, r := range rows { // in entry order, not map order
		if k := keyOf(r); want[k] {
			delete(want, k)
			args[k.table] = append(args[k.table], k.args(rid)...)
		}
	}
	for t, a := range args {
		added += len(a) / 4
		for len(a) > 0 {
			k := min(len(a)/4, maxRowsPerInsert)
			if _, err := s.stmt(tx, s.res.add[t][k]).Exec(a[:4*k]...); err != nil {
				return 0, 0, err
			}
			a = a[4*k:]
		}
	}
	return added, removed, nil
}

// indexRowsOf reads the rows resource rid has in the search tables.
func (s *Store) indexRowsOf(tx *sql.Tx, rid int64) ([]indexKey, error) {
	q, err := s.stmt(tx, s.res.rows).Query(rid, rid, rid, rid)
	if err != nil {
		return nil, err
	}
	defer q.Close()
	var out []indexKey
	for q.Next() {
		var k indexKey
		if err := q.Scan(&k.table, &k.param, &k.a, &k.b, &k.lo, &k.hi); err != nil {
			return nil, err
		}
		if k.table < 0 || k.table >= len(indexTables) {
			return nil, fmt.Errorf("search row of table %d", k.table)
		}
		out = append(out, k)
	}
	return out, q.Err()
}

// cutRef splits "Type/id".
func cutRef(s string) (typ, id string, ok bool) {
	for i := 0; i < len(s); i++ {
		if s[i] == '/' {
			return s[:i], s[i+1:], true
		}
	}
	return "", s, false
}

// lowMillis and highMillis turn a range's bounds into Unix milliseconds,
// widening it to whole milliseconds.
func lowMillis(t time.Time) int64 {
	return t.Unix()*1000 + int64(t.Nanosecond()/1e6)
}

func highMillis(t time.Time) int64 {
	ms := t.Unix()*1000 + int64(t.Nanosecond()/1e6)
	if t.Nanosecond()%1e6 != 0 {
		ms++
	}
	return ms
}

// versionColumns are a version's columns, from resource_version v joined
// with its resource r (whose mark is its current version's).
const versionColumns = `v.version, v.deleted, v.last_updated, v.journal_id, v.body, CASE WHEN v.version = r.version THEN r.mark ELSE '' END`

// The readers' statements for Read, VRead and History; "+?" as in sqlPart.
const (
	readSQL = `SELECT ` + versionColumns + `
		FROM resource r JOIN resource_version v ON v.rid = r.rid AND v.version = r.version
		WHERE r.type = +? AND r.id = +?`
	vreadSQL = `SELECT ` + versionColumns + `
		FROM resource r JOIN resource_version v ON v.rid = r.rid
		WHERE r.type = +? AND r.id = +? AND v.version = +?`
	historySQL = `SELECT ` + versionColumns + `
		FROM resource r JOIN resource_version v ON v.rid = r.rid
		WHERE r.type = +? AND r.id = +? ORDER BY v.version DESC`
)

func scanVersion(sc scanner, typ, id string) (*fhirstore.Resource, error) {
	r := &fhirstore.Resource{Type: typ, ID: id}
	var at int64
	if err := sc.Scan(&r.Version, &r.Deleted, &at, &r.JournalID, &r.Body, &r.Mark); err != nil {
		return nil, err
	}
	r.LastUpdated = time.Unix(0, at).UTC()
	return r, nil
}

func (s *Store) readVersionTx(tx *sql.Tx, rid int64, typ, id string, version int64) (*fhirstore.Resource, error) {
	return scanVersion(tx.QueryRow(`SELECT `+versionColumns+` FROM resource r JOIN resource_version v ON v.rid = r.rid WHERE r.rid = ? AND v.version = ?`, rid, version), typ, id)
}

// Read returns the current version of typ/id.
func (s *Store) Read(ctx context.Context, typ, id string) (*fhirstore.Resource, error) {
	r, err := scanVersion(s.rdb.QueryRowContext(ctx, readSQL, typ, id), typ, id)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil, fmt.Errorf("read %s/%s: %w", typ, id, fhirstore.ErrNotFound)
	case err != nil:
		return nil, fmt.Errorf("read %s/%s: %w", typ, id, err)
	case r.Deleted:
		return nil, fmt.Errorf("read %s/%s: %w", typ, id, fhirstore.ErrGone)
	}
	return r, nil
}

// VRead returns one version of typ/id.
func (s *Store) VRead(ctx context.Context, typ, id string, version int64) (*fhirstore.Resource, error) {
	r, err := scanVersion(s.rdb.QueryRowContext(ctx, vreadSQL, typ, id, version), typ, id)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil, fmt.Errorf("read %s/%s version %d: %w", typ, id, version, fhirstore.ErrNotFound)
	case err != nil:
		return nil, fmt.Errorf("read %s/%s version %d: %w", typ, id, version, err)
	}
	return r, nil
}

// History returns every version of typ/id, newest first.
func (s *Store) History(ctx context.Context, typ, id string) ([]*fhirstore.Resource, error) {
	rows, err := s.rdb.QueryContext(ctx, historySQL, typ, id)
	if err != nil {
		return nil, fmt.Errorf("history of %s/%s: %w", typ, id, err)
	}
	defer rows.Close()
	var out []*fhirstore.Resource
	for rows.Next() {
		r, err := scanVersion(rows, typ, id)
		if err != nil {
			return nil, fmt.Errorf("history of %s/%s: %w", typ, id, err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("history of %s/%s: %w", typ, id, err)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("history of %s/%s: %w", typ, id, fhirstore.ErrNotFound)
	}
	return out, nil
}

// Changes returns up to limit change-feed rows after seq after, in order.
// A limit of 0 or less means 100.
func (s *Store) Changes(ctx context.Context, after int64, limit int) ([]fhirstore.Change, error) {
	if limit <= 0 {
		limit = 100
	}
	rows, err := s.rdb.QueryContext(ctx, `SELECT seq, type, id, version, interaction, at, journal_id
		FROM change WHERE seq > ? ORDER BY seq LIMIT ?`, after, limit)
	if err != nil {
		return nil, fmt.Errorf("read change feed: %w", err)
	}
	defer rows.Close()
	var out []fhirstore.Change
	for rows.Next() {
		var c fhirstore.Change
		var at int64
		var interaction string
		if err := rows.Scan(&c.Seq, &c.Type, &c.ID, &c.Version, &interaction, &at, &c.JournalID); err != nil {
			return nil, fmt.Errorf("read change feed: %w", err)
		}
		c.Interaction, c.At = fhirstore.Interaction(interaction), time.Unix(0, at).UTC()
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read change feed: %w", err)
	}
	return out, nil
}
