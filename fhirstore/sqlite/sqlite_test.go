package sqlite_test

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/carebridge/carebridge/fhirstore"
	"github.com/carebridge/carebridge/fhirstore/sqlite"
	"github.com/carebridge/carebridge/fhirstore/storetest"
)

const window = 48 * time.Hour

func open(t testing.TB, path string, now func() time.Time) *sqlite.Store {
	t.Helper()
	s, err := sqlite.Open(context.Background(), path, sqlite.Options{DuplicateWindow: window, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T, now func() time.Time) fhirstore.Journal {
		return open(t, filepath.Join(t.TempDir(), "carebridge.db"), now)
	}, storetest.Options{DuplicateWindow: window})
}

func TestReopenKeepsEntriesAndSecondProcessSees(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "j.db")
	s, err := sqlite.Open(ctx, path, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		if _, err := s.Append(ctx, storetest.Msg("A", "F", fmt.Sprint(i), "ADT^A01")); err != nil {
			t.Fatal(err)
		}
	}
	// A second handle (as "carebridge messages list" opens while serve runs)
	// sees every committed entry.
	ro, err := sqlite.Open(ctx, path, sqlite.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	counts, err := ro.Counts(ctx)
	if err != nil || counts[fhirstore.StatusReceived] != 10 {
		t.Fatalf("second handle counts = %v, %v", counts, err)
	}
	ro.Close()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Append(ctx, storetest.Msg("A", "F", "late", "ADT^A01")); err == nil {
		t.Fatal("Append after Close succeeded")
	}
	s2 := open(t, path, nil)
	counts, _ = s2.Counts(ctx)
	if counts[fhirstore.StatusReceived] != 10 {
		t.Fatalf("after reopen counts = %v", counts)
	}
}

func TestUnknownDurability(t *testing.T) {
	_, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "x.db"), sqlite.Options{Durability: "maybe"})
	if err == nil {
		t.Fatal("Open with an unknown durability succeeded")
	}
}

func BenchmarkAppendParallel(b *testing.B) {
	for _, d := range []sqlite.Durability{sqlite.DurabilityFull, sqlite.DurabilityNormal} {
		b.Run(string(d), func(b *testing.B) {
			s, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), "b.db"), sqlite.Options{Durability: d})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			b.SetParallelism(16)
			var n atomicCounter
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					e := storetest.Msg("ADT", "HOSP", fmt.Sprint(n.next()), "ADT^A01")
					if _, err := s.Append(context.Background(), e); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

func TestStoreConformance(t *testing.T) {
	storetest.RunStore(t, func(t *testing.T, now func() time.Time) fhirstore.Store {
		return open(t, filepath.Join(t.TempDir(), "carebridge.db"), now)
	})
}

// TestLargeResultsAreCompressed: a Bundle is kept compressed and read back
// byte for byte, through Complete and through Apply; a result stored plain
// (by an earlier version) still reads.
func TestLargeResultsAreCompressed(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "j.db")
	s := open(t, path, time.Now)
	bundle := []byte(`{"resourceType":"Bundle","type":"transaction","entry":[` + strings.Repeat(`{"request":{"method":"PUT","url":"Patient/x"}},`, 400) + `{}]}`)
	var ids []int64
	for i, viaApply := range []bool{false, true} {
		e := &fhirstore.Entry{Listener: "t", ControlID: fmt.Sprint("C", i), Status: fhirstore.StatusProcessing, ClaimedBy: "me", Raw: []byte("MSH|^~\\&|A|B\r")}
		if _, err := s.Append(ctx, e); err != nil {
			t.Fatal(err)
		}
		c := fhirstore.Completion{ID: e.ID, Owner: "me", Status: fhirstore.StatusProcessed, Result: bundle}
		var err error
		if viaApply {
			_, err = s.Apply(ctx, fhirstore.ChangeSet{Completion: &c})
		} else {
			err = s.Complete(ctx, []fhirstore.Completion{c})
		}
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, e.ID)
	}
	db, err := sql.Open("sqlite3", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, id := range ids {
		got, err := s.Get(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got.Result, bundle) {
			t.Fatalf("entry %d: result not read back as written", id)
		}
		var stored int
		if err := db.QueryRow(`SELECT length(result) FROM journal_body WHERE id = ?`, id).Scan(&stored); err != nil {
			t.Fatal(err)
		}
		if stored >= len(bundle)/4 {
			t.Errorf("entry %d: %d bytes stored for a %d-byte result", id, stored, len(bundle))
		}
	}
	if _, err := db.Exec(`UPDATE journal_body SET result = ? WHERE id = ?`, bundle, ids[0]); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Get(ctx, ids[0]); err != nil || !bytes.Equal(got.Result, bundle) {
		t.Fatalf("a plain result: %v", err)
	}
}
