package sqlite

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"
)

// TestConnectionsKeepTemporaryDataInMemory: every connection, the writer's
// and the readers' (also of a read-only handle), has temp_store MEMORY (2),
// which the driver's DSN cannot set.
func TestConnectionsKeepTemporaryDataInMemory(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "t.db")
	s, err := Open(ctx, path, Options{Validator: NoValidation})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ro, err := Open(ctx, path, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	for _, c := range []struct {
		name string
		db   *sql.DB
	}{{"writer", s.wdb}, {"readers", s.rdb}, {"read-only readers", ro.rdb}} {
		var mode int
		if err := c.db.QueryRowContext(ctx, "PRAGMA temp_store").Scan(&mode); err != nil {
			t.Fatal(err)
		}
		if mode != 2 {
			t.Errorf("%s: temp_store %d, want 2 (memory)", c.name, mode)
		}
	}
}
