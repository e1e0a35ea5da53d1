package sqlite_test

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/carebridge/carebridge/fhirstore"
	"github.com/carebridge/carebridge/fhirstore/sqlite"
	"github.com/carebridge/carebridge/fhirstore/storetest"
)

// rawDB opens the store's database file beside the store, as another
// process (an older Carebridge) would.
func rawDB(t *testing.T, s *sqlite.Store) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite3", "file:"+s.Path()+"?_busy_timeout=10000")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// forgetRows is the SQLite storetest.Forget: it deletes the rows and
// records other definitions, as a version without them would have.
func forgetRows(t *testing.T, st fhirstore.Store, typ, param, value string) {
	t.Helper()
	db := rawDB(t, st.(*sqlite.Store))
	p, ok := fhirstore.LookupSearchParam(typ, param)
	if !ok {
		t.Fatalf("no search parameter %s.%s", typ, param)
	}
	q := map[fhirstore.ParamKind]string{
		fhirstore.KindToken:     "DELETE FROM search_token WHERE value = ?1 OR ?1 = ''",
		fhirstore.KindString:    "DELETE FROM search_string WHERE value = ?1 OR ?1 = ''",
		fhirstore.KindReference: "DELETE FROM search_ref WHERE ref_type || '/' || ref_id = ?1 OR ?1 = ''",
	}[p.Kind]
	if q == "" {
		t.Fatalf("forgetRows: %s parameters not supported", p.Kind)
	}
	q = strings.Replace(q, "WHERE", "WHERE param = (SELECT code FROM search_param WHERE type = ?2 AND name = ?3) AND (", 1) + ")"
	if _, err := db.Exec(q, value, typ, param); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`UPDATE search_index SET fingerprint = 'older-definitions', target = '', next_rid = 0, last_rid = 0`); err != nil {
		t.Fatal(err)
	}
}

// readOnlyStatus is the IndexStatus a read-only store on path reads, as
// another process (patients search) would.
func readOnlyStatus(t *testing.T, path string) (fhirstore.IndexStatus, error) {
	t.Helper()
	ro, err := sqlite.Open(context.Background(), path, sqlite.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	return ro.IndexStatus(context.Background())
}

func TestReindexConformance(t *testing.T) {
	storetest.RunReindex(t, func(t *testing.T, now func() time.Time) fhirstore.Store {
		return open(t, filepath.Join(t.TempDir(), "carebridge.db"), now)
	}, forgetRows)
}

// writeCJKPatients writes n patients named in Chinese into a new store at
// path, then forgets their whole names (forgetRows) and closes the store.
func writeCJKPatients(t *testing.T, path string, n int) {
	t.Helper()
	s, err := sqlite.Open(context.Background(), path, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var cs fhirstore.ChangeSet
	for i := range n {
		id := "cjk" + string(rune('a'+i))
		cs.Writes = append(cs.Writes, fhirstore.Write{Type: "Patient", ID: id,
			Body: []byte(`{"resourceType":"Patient","id":"` + id + `","name":[{"family":"张","given":["伟"]}]}`)})
	}
	if _, err := s.Apply(context.Background(), cs); err != nil {
		t.Fatal(err)
	}
	forgetRows(t, s, "Patient", "name", fhirstore.NormalizeString("张伟"))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestReindexContinuesAfterReopen: a rebuild stopped after its first batch
// (as by a killed process: every batch is committed on its own) leaves the
// store not current; reopened, the rebuild goes on from there, not from the
// start.
func TestReindexContinuesAfterReopen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "carebridge.db")
	writeCJKPatients(t, path, 7)

	s := open(t, path, time.Now)
	if st, err := s.IndexStatus(ctx); err != nil || st.Current || st.Remaining != 7 {
		t.Fatalf("IndexStatus = %+v, %v; want 7 to rebuild", st, err)
	}
	stop, cancel := context.WithCancel(ctx)
	res, err := s.Reindex(stop, fhirstore.ReindexOptions{BatchSize: 3, Progress: func(fhirstore.ReindexResult) { cancel() }})
	if !errors.Is(err, context.Canceled) || res.Resources != 3 || res.Added != 3 {
		t.Fatalf("interrupted Reindex = %+v, %v", res, err)
	}
	s.Close()

	// Another process reading meanwhile sees a rebuild under way.
	st, err := readOnlyStatus(t, path)
	if err != nil || st.Current || !st.Rebuilding || st.Remaining != 4 {
		t.Fatalf("read-only IndexStatus after the interruption = %+v, %v; want rebuilding, 4 left", st, err)
	}

	s = open(t, path, time.Now)
	res, err = s.Reindex(ctx, fhirstore.ReindexOptions{BatchSize: 3})
	if err != nil || res.Total != 4 || res.Resources != 4 || res.Added != 4 || res.Removed != 0 {
		t.Fatalf("continued Reindex = %+v, %v; want the 4 left, each its whole name added", res, err)
	}
	found, err := s.Search(ctx, fhirstore.Query{Type: "Patient", Params: []fhirstore.Param{{Name: "name", Values: []string{"张伟"}}}})
	if err != nil || len(found) != 7 {
		t.Fatalf("name=张伟 finds %d (%v), want 7", len(found), err)
	}
}

// TestOldStoreIsRebuiltOnce: a database from before the search index was
// stamped (schema 4) counts as built by unknown definitions when it holds
// resources, as current when it holds none.
func TestOldStoreIsRebuiltOnce(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name    string
		n       int
		current bool
	}{{"with resources", 2, false}, {"empty", 0, true}} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "carebridge.db")
			writeCJKPatients(t, path, tc.n)
			db, err := sql.Open("sqlite3", path)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := db.Exec(`DROP TABLE search_index; ALTER TABLE resource DROP COLUMN mark; PRAGMA user_version = 4`); err != nil {
				t.Fatal(err)
			}
			db.Close()
			// Read-only, the schema is not upgraded: the status still reads.
			st, err := readOnlyStatus(t, path)
			if err != nil || st.Current != tc.current || st.Remaining != int64(tc.n) {
				t.Fatalf("read-only IndexStatus of the old store = %+v, %v", st, err)
			}
			s := open(t, path, time.Now)
			if st, err := s.IndexStatus(ctx); err != nil || st.Current != tc.current || st.Rebuilding {
				t.Fatalf("IndexStatus after the upgrade = %+v, %v; want current %v", st, err, tc.current)
			}
			res, err := s.Reindex(ctx, fhirstore.ReindexOptions{})
			if err != nil || res.UpToDate != tc.current || res.Added != int64(tc.n) {
				t.Fatalf("Reindex = %+v, %v", res, err)
			}
			if st, err := s.IndexStatus(ctx); err != nil || !st.Current {
				t.Fatalf("IndexStatus after Reindex = %+v, %v", st, err)
			}
		})
	}
}

// TestReindexSharedWithAnotherProcess: two stores on one file (two
// processes) rebuilding at once share the work: every resource is rebuilt
// once, by one of them.
func TestReindexSharedWithAnotherProcess(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "carebridge.db")
	writeCJKPatients(t, path, 20)
	a, b := open(t, path, time.Now), open(t, path, time.Now)
	type out struct {
		res fhirstore.ReindexResult
		err error
	}
	results := make(chan out, 2)
	for _, s := range []*sqlite.Store{a, b} {
		go func() {
			res, err := s.Reindex(ctx, fhirstore.ReindexOptions{BatchSize: 2})
			results <- out{res, err}
		}()
	}
	var resources, added int64
	for range 2 {
		o := <-results
		if o.err != nil {
			t.Fatal(o.err)
		}
		resources += o.res.Resources
		added += o.res.Added
	}
	if resources != 20 || added != 20 {
		t.Fatalf("together: %d resources rebuilt, %d rows added; want 20 and 20", resources, added)
	}
	for _, s := range []*sqlite.Store{a, b} {
		if st, err := s.IndexStatus(ctx); err != nil || !st.Current {
			t.Fatalf("IndexStatus = %+v, %v", st, err)
		}
	}
	found, err := a.Search(ctx, fhirstore.Query{Type: "Patient", Count: 100, Params: []fhirstore.Param{{Name: "name", Values: []string{"张伟"}}}})
	if err != nil || len(found) != 20 {
		t.Fatalf("name=张伟 finds %d (%v), want 20", len(found), err)
	}
}
