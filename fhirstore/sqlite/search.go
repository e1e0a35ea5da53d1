package sqlite

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/carebridge/carebridge/fhirstore"
)

// probeLimit caps how many index rows Search counts per parameter to find
// the most selective one, which then drives the query.
const probeLimit = 1000

// sqlPart is a piece of SQL with its arguments.
//
// Values are bound as "+?", not "?". Where the planner may look at a bound
// value (an equality in a join, a LIMIT), SQLite marks the statement to be
// compiled again whenever that value is bound anew, and the driver clears
// the bindings before every use: such a statement would be parsed and
// planned on every execution, the statement cache notwithstanding. A unary
// plus keeps the comparison and the index use as they are and the plan
// independent of the value (TestStatementsAreNotCompiledAgain).
type sqlPart struct {
	sql  string
	args []any
}

// Search returns the current resources matching q (see fhirstore.Searcher).
//
// The query is planned here rather than left to SQLite's planner, which has
// no statistics about how many resources a value matches: among the
// parameters that can drive the query (positive ones, answered from an
// index range), Search counts up to probeLimit matching index rows of each
// and lets the one with the fewest produce the candidates; the other
// parameters are then checked per candidate through the rid indexes.
func (s *Store) Search(ctx context.Context, q fhirstore.Query) ([]*fhirstore.Resource, error) {
	return s.search(ctx, s.rdb, q)
}

// querier is what a search runs on: the readers, or the writer's
// transaction (to re-check a change set's searches where it commits).
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func (s *Store) search(ctx context.Context, db querier, q fhirstore.Query) ([]*fhirstore.Resource, error) {
	var out []*fhirstore.Resource
	err := s.query(ctx, db, q, false, func(rows *sql.Rows) error {
		var id string
		r := &fhirstore.Resource{Type: q.Type}
		var at int64
		if err := rows.Scan(&id, &r.Version, &r.Deleted, &at, &r.JournalID, &r.Body, &r.Mark); err != nil {
			return err
		}
		r.ID, r.LastUpdated = id, time.Unix(0, at).UTC()
		out = append(out, r)
		return nil
	})
	return out, err
}

// searchIDs is search returning only the ids found: what a change set's
// Check compares, without reading a body.
func (s *Store) searchIDs(ctx context.Context, db querier, q fhirstore.Query) ([]string, error) {
	var out []string
	err := s.query(ctx, db, q, true, func(rows *sql.Rows) error {
		var id string
		if err := rows.Scan(&id); err != nil {
			return err
		}
		out = append(out, id)
		return nil
	})
	return out, err
}

// query plans and runs q, calling scan for each row found.
func (s *Store) query(ctx context.Context, db querier, q fhirstore.Query, idsOnly bool, scan func(*sql.Rows) error) error {
	pq, err := fhirstore.PrepareQuery(q)
	if err != nil {
		return fmt.Errorf("search %s: %w", q.Type, err)
	}
	driver, err := s.chooseDriver(ctx, db, pq)
	if err != nil {
		return err
	}
	query := s.searchSQL(pq, driver, idsOnly)
	rows, err := db.QueryContext(ctx, query.sql, query.args...)
	if err != nil {
		return fmt.Errorf("search %s: %w", q.Type, err)
	}
	defer rows.Close()
	for rows.Next() {
		if err := scan(rows); err != nil {
			return fmt.Errorf("search %s: %w", q.Type, err)
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("search %s: %w", q.Type, err)
	}
	return nil
}

// chooseDriver picks the clause that produces the candidates (-1: none
// can): the only one that can, or the one whose index range probes
// smallest.
func (s *Store) chooseDriver(ctx context.Context, db querier, pq *fhirstore.PreparedQuery) (int, error) {
	var drivers []int // clauses that can produce candidates
	for i, c := range pq.Clauses {
		if s.canDrive(&c) {
			drivers = append(drivers, i)
		}
	}
	driver := -1
	switch len(drivers) {
	case 0:
	case 1:
		driver = drivers[0]
	default:
		// The clause with the fewest rows drives (counted up to
		// probeLimit; a tie goes to the earlier clause). A probe stops
		// counting where it can no longer win: at the best count so far,
		// or one further for a clause before the best one (a tie would go
		// to it). String clauses (name prefixes, which many share) are
		// probed last, so that they count least.
		slices.SortStableFunc(drivers, func(a, b int) int {
			return cmp.Compare(probeRank(&pq.Clauses[a]), probeRank(&pq.Clauses[b]))
		})
		best := probeLimit
		for _, i := range drivers {
			limit := best
			if driver >= 0 && i < driver {
				limit = min(best+1, probeLimit)
			}
			sub := s.driverSQL(pq.Type, &pq.Clauses[i])
			var n int
			if err := db.QueryRowContext(ctx, `SELECT count(*) FROM (`+sub.sql+` LIMIT +?)`, append(sub.args, limit)...).Scan(&n); err != nil {
				return 0, fmt.Errorf("search %s: estimate %s: %w", pq.Type, pq.Clauses[i].Param.Name, err)
			}
			if driver < 0 || n < best || n == best && i < driver {
				best, driver = n, i
			}
		}
	}
	return driver, nil
}

// probeRank orders the probes of chooseDriver: string clauses last.
func probeRank(c *fhirstore.Clause) int {
	if c.Param.Kind == fhirstore.KindString {
		return 1
	}
	return 0
}

// canDrive reports whether c can produce the candidate set from an index
// range: a positive clause over an index table.
func (s *Store) canDrive(c *fhirstore.Clause) bool {
	if c.Param.Special() {
		return false
	}
	switch c.Modifier {
	case "missing", "not", "contains":
		return false
	}
	for _, d := range c.Dates {
		if d.Prefix == fhirstore.PrefixNe {
			return false
		}
	}
	return true
}

// searchSQL renders the whole query, with clause driver (or none, -1)
// producing the candidates.
func (s *Store) searchSQL(pq *fhirstore.PreparedQuery, driver int, idsOnly bool) sqlPart {
	// The inner query sorts and limits the matching rows by their keys
	// alone; only the rows kept are joined with their bodies, so that a
	// value many resources share (a common birth date) does not copy every
	// body through the sorter.
	var b strings.Builder
	var args []any
	b.WriteString(`SELECT r.rid FROM `)
	if driver >= 0 {
		sub := s.driverSQL(pq.Type, &pq.Clauses[driver])
		// CROSS JOIN keeps this order: candidates first, then their rows.
		b.WriteString(`(SELECT DISTINCT rid FROM (` + sub.sql + `)) m CROSS JOIN resource r ON r.rid = m.rid `)
		args = append(args, sub.args...)
	} else {
		b.WriteString(`resource r `)
	}
	b.WriteString(`JOIN resource_version v ON v.rid = r.rid AND v.version = r.version WHERE r.type = +? AND r.deleted = 0`)
	args = append(args, pq.Type)
	for i := range pq.Clauses {
		if i == driver {
			continue
		}
		p := s.filterSQL(pq.Type, &pq.Clauses[i])
		b.WriteString(" AND ")
		b.WriteString(p.sql)
		args = append(args, p.args...)
	}
	if pq.After != "" {
		b.WriteString(" AND r.id > +?")
		args = append(args, pq.After)
	}
	order := s.orderSQL(pq)
	if pq.Unordered {
		order = sqlPart{sql: "t.rid"}
	} else {
		b.WriteString(" ORDER BY ")
		b.WriteString(order.sql)
		args = append(args, order.args...)
	}
	b.WriteString(" LIMIT +?")
	args = append(args, pq.Count)
	outer := `SELECT r.id, ` + versionColumns + ` FROM (` + b.String() +
		`) t CROSS JOIN resource r ON r.rid = t.rid JOIN resource_version v ON v.rid = r.rid AND v.version = r.version ORDER BY ` + order.sql
	if idsOnly {
		outer = `SELECT r.id FROM (` + b.String() + `) t CROSS JOIN resource r ON r.rid = t.rid`
		return sqlPart{outer, args}
	}
	return sqlPart{outer, append(args, order.args...)}
}

// indexTable is the search_* table of a parameter kind.
func indexTable(k fhirstore.ParamKind) string {
	switch k {
	case fhirstore.KindToken:
		return "search_token"
	case fhirstore.KindString:
		return "search_string"
	case fhirstore.KindDate:
		return "search_date"
	default:
		return "search_ref"
	}
}

// code returns the parameter's search_param code; -1 (matching nothing)
// for a parameter this database does not know (a read-only handle on a
// database written by an older Carebridge).
func (s *Store) code(typ, name string) int64 {
	if c, ok := s.params[paramKey{typ, name}]; ok {
		return c
	}
	return -1
}

// indexed is the name of the parameter whose index entries answer p: p's
// own, or for a typed reference parameter the untyped one it shares its
// entries with (its values then carry p's Target type: see
// fhirstore.SearchParam.IndexedAs).
func indexed(p *fhirstore.SearchParam) string {
	if p.IndexedAs != "" {
		return p.IndexedAs
	}
	return p.Name
}

// driverSQL selects the rids matching c, one indexed SELECT per value.
func (s *Store) driverSQL(typ string, c *fhirstore.Clause) sqlPart {
	table, code := indexTable(c.Param.Kind), s.code(typ, indexed(c.Param))
	var parts []string
	var args []any
	for _, v := range valueConds(c) {
		parts = append(parts, `SELECT rid FROM `+table+` WHERE param = +? AND `+v.sql)
		args = append(append(args, code), v.args...)
	}
	return sqlPart{strings.Join(parts, " UNION ALL "), args}
}

// filterSQL renders c as a condition on the resource row r.
func (s *Store) filterSQL(typ string, c *fhirstore.Clause) sqlPart {
	switch c.Param.Name {
	case fhirstore.ParamID:
		p := sqlPart{sql: "r.id IN (" + placeholders(len(c.Tokens)) + ")"}
		if c.Modifier == "not" {
			p.sql = "r.id NOT IN (" + placeholders(len(c.Tokens)) + ")"
		}
		for _, t := range c.Tokens {
			p.args = append(p.args, t.Code)
		}
		return p
	case fhirstore.ParamLastUpdated:
		var ors []string
		var args []any
		for _, d := range c.Dates {
			p := dateCond("r.last_updated", "(r.last_updated + 1)", d.Prefix, nanos(d.Low), nanos(d.High))
			ors = append(ors, p.sql)
			args = append(args, p.args...)
		}
		return sqlPart{"(" + strings.Join(ors, " OR ") + ")", args}
	}
	table, code := indexTable(c.Param.Kind), s.code(typ, indexed(c.Param))
	exists := `EXISTS (SELECT 1 FROM ` + table + ` x WHERE x.rid = r.rid AND x.param = +?`
	if c.Modifier == "missing" {
		p := sqlPart{sql: exists + ")", args: []any{code}}
		if c.Param.IndexedAs != "" {
			p = sqlPart{sql: exists + " AND x.ref_type = +?)", args: []any{code, c.Param.Target}}
		}
		if c.Missing {
			p.sql = "NOT " + p.sql
		}
		return p
	}
	var ors []string
	args := []any{code}
	for _, v := range valueConds(c) {
		ors = append(ors, "("+v.sql+")")
		args = append(args, v.args...)
	}
	p := sqlPart{exists + " AND (" + strings.Join(ors, " OR ") + "))", args}
	if c.Modifier == "not" {
		p.sql = "NOT " + p.sql
	}
	return p
}

// valueConds renders each of c's values as a condition on its index table's
// columns (unqualified).
func valueConds(c *fhirstore.Clause) []sqlPart {
	var out []sqlPart
	switch c.Param.Kind {
	case fhirstore.KindToken:
		for _, t := range c.Tokens {
			switch {
			case t.AnySystem:
				out = append(out, sqlPart{"value = +?", []any{t.Code}})
			case t.Code == "":
				out = append(out, sqlPart{"system = +?", []any{t.System}})
			default:
				out = append(out, sqlPart{"value = +? AND system = +?", []any{t.Code, t.System}})
			}
		}
	case fhirstore.KindString:
		for _, v := range c.Strings {
			switch c.Modifier {
			case "exact":
				out = append(out, sqlPart{"value = +? AND raw = +?", []any{fhirstore.NormalizeString(v), v}})
			case "contains":
				out = append(out, sqlPart{"instr(value, ?) > 0", []any{v}})
			default:
				// A prefix as a range: no byte of UTF-8 text is 0xFF, so
				// v+"\xff" is above every string starting with v.
				out = append(out, sqlPart{"value >= +? AND value < +?", []any{v, v + "\xff"}})
			}
		}
	case fhirstore.KindDate:
		for _, d := range c.Dates {
			out = append(out, dateCond("low", "high", d.Prefix, lowMillis(d.Low), highMillis(d.High)))
		}
	case fhirstore.KindReference:
		for _, r := range c.Refs {
			if r.Type == "" {
				out = append(out, sqlPart{"ref_id = +?", []any{r.ID}})
			} else {
				out = append(out, sqlPart{"ref_id = +? AND ref_type = +?", []any{r.ID, r.Type}})
			}
		}
	}
	return out
}

// dateCond renders FHIR's date prefix semantics for a stored range
// [lo, hi) against the searched range [qlo, qhi) (FHIR R4 search 3.1.1.4.1):
// eq: the stored range lies within the searched one; ne: it does not;
// lt/gt: it starts before / ends after the searched range; le/ge: lt or eq
// / gt or eq, i.e. it starts before its end / ends after its start; sa/eb:
// it starts after / ends before the searched range, without overlap.
func dateCond(lo, hi, prefix string, qlo, qhi int64) sqlPart {
	switch prefix {
	case fhirstore.PrefixNe:
		return sqlPart{"(" + lo + " < +? OR " + hi + " > +?)", []any{qlo, qhi}}
	case fhirstore.PrefixLt:
		return sqlPart{lo + " < +?", []any{qlo}}
	case fhirstore.PrefixGt:
		return sqlPart{hi + " > +?", []any{qhi}}
	case fhirstore.PrefixLe:
		return sqlPart{lo + " < +?", []any{qhi}}
	case fhirstore.PrefixGe:
		return sqlPart{hi + " > +?", []any{qlo}}
	case fhirstore.PrefixSa:
		return sqlPart{lo + " >= +?", []any{qhi}}
	case fhirstore.PrefixEb:
		return sqlPart{hi + " <= +? AND " + lo + " < +?", []any{qlo, qlo}}
	default: // eq; "lo < qhi" is implied but lets an index on lo bound the range
		return sqlPart{lo + " >= +? AND " + lo + " < +? AND " + hi + " <= +?", []any{qlo, qhi, qhi}}
	}
}

// nanos is t in Unix nanoseconds, clamped to what int64 holds.
func nanos(t time.Time) int64 {
	switch {
	case t.Year() < 1678:
		return math.MinInt64
	case t.Year() > 2261:
		return math.MaxInt64
	}
	return t.UnixNano()
}

// orderSQL renders the sort, ending with the id to make it total.
func (s *Store) orderSQL(pq *fhirstore.PreparedQuery) sqlPart {
	dir := ""
	if pq.Desc {
		dir = " DESC"
	}
	switch pq.Sort.Name {
	case fhirstore.ParamLastUpdated:
		return sqlPart{sql: "r.last_updated" + dir + ", r.id"}
	case fhirstore.ParamID:
		return sqlPart{sql: "r.id" + dir}
	}
	code := s.code(pq.Type, pq.Sort.Name)
	var key string
	switch {
	case pq.Sort.Kind == fhirstore.KindDate && pq.Desc:
		key = "(SELECT max(high) FROM search_date x WHERE x.rid = r.rid AND x.param = +?)"
	case pq.Sort.Kind == fhirstore.KindDate:
		key = "(SELECT min(low) FROM search_date x WHERE x.rid = r.rid AND x.param = +?)"
	default:
		key = "(SELECT min(value) FROM search_string x WHERE x.rid = r.rid AND x.param = +?)"
	}
	// Resources without a value come last either way.
	return sqlPart{key + " IS NULL, " + key + dir + ", r.id", []any{code, code}}
}
