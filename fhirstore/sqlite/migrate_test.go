package sqlite

import (
	"context"
	"database/sql"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/carebridge/carebridge/fhirstore"
)

// TestUpgradeFromEveryVersion opens databases left at each earlier schema
// version, with an entry in them, and checks the upgrade keeps the entry.
func TestUpgradeFromEveryVersion(t *testing.T) {
	for v := 1; v < len(migrations); v++ {
		path := filepath.Join(t.TempDir(), "old.db")
		db, err := sql.Open("sqlite3", path)
		if err != nil {
			t.Fatal(err)
		}
		for i := range v {
			if _, err := db.Exec(migrations[i]); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := db.Exec(`PRAGMA user_version = ` + strconv.Itoa(v)); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Exec(`INSERT INTO journal (id, received_at, listener, status) VALUES (1, 1, 'old', 'processed');
			INSERT INTO journal_body (id, raw) VALUES (1, 'MSH|old')`); err != nil {
			t.Fatal(err)
		}
		db.Close()
		s, err := Open(context.Background(), path, Options{})
		if err != nil {
			t.Fatalf("upgrade from version %d: %v", v, err)
		}
		e, err := s.Get(context.Background(), 1)
		if err != nil || string(e.Raw) != "MSH|old" || e.Status != fhirstore.StatusProcessed {
			t.Fatalf("after upgrade from %d: %+v, %v", v, e, err)
		}
		s.Close()
	}
}
