package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/mattn/go-sqlite3"

	"github.com/carebridge/carebridge/fhirstore"
)

// TestStatementsAreNotCompiledAgain runs each of the store's queries with
// new values and fails when SQLite compiles it again (see sqlPart): an
// authorizer is consulted each time a statement is compiled, from the
// statement cache's first use on.
func TestStatementsAreNotCompiledAgain(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "c.db")
	s, err := Open(ctx, path, Options{Validator: NoValidation, Durability: DurabilityOff})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var writes []fhirstore.Write
	for i := range 4 {
		writes = append(writes, fhirstore.Write{Type: "Patient", ID: fmt.Sprint("p", i), IfVersion: fhirstore.Unconditional,
			Body: fmt.Appendf(nil, `{"resourceType":"Patient","identifier":[{"system":"urn:mrn","value":"M%d"}],"name":[{"family":"Fam%d"}],"birthDate":"198%d-01-02"}`, i, i, i)},
			fhirstore.Write{Type: "Encounter", ID: fmt.Sprint("e", i), IfVersion: fhirstore.Unconditional,
				Body: fmt.Appendf(nil, `{"resourceType":"Encounter","status":"planned","class":{"code":"IMP"},"subject":{"reference":"Patient/p%d"}}`, i)})
	}
	if _, err := s.Apply(ctx, fhirstore.ChangeSet{Writes: writes}); err != nil {
		t.Fatal(err)
	}
	for i := range 4 {
		if _, err := s.Append(ctx, &fhirstore.Entry{Listener: "t", ControlID: fmt.Sprint("C", i), Status: fhirstore.StatusReceived, Raw: []byte("MSH|^~\\&|A|B\r")}); err != nil {
			t.Fatal(err)
		}
	}

	var compiled atomic.Int64
	drv := &sqlite3.SQLiteDriver{ConnectHook: func(c *sqlite3.SQLiteConn) error {
		c.RegisterAuthorizer(func(int, string, string, string) int {
			compiled.Add(1)
			return sqlite3.SQLITE_OK
		})
		return nil
	}}
	db := sql.OpenDB(&connector{dsn: "file:" + url.PathEscape(path) + "?_stmt_cache_size=128", drv: drv})
	defer db.Close()
	db.SetMaxOpenConns(1)

	search := func(q fhirstore.Query) func(i int) error {
		return func(int) error { _, err := s.search(ctx, db, q); return err }
	}
	for _, tc := range []struct {
		name string
		run  func(i int) error // i: 0, 1, 2, 3: other values each time
	}{
		{"read", func(i int) error {
			return db.QueryRowContext(ctx, readSQL, "Patient", fmt.Sprint("p", i)).Scan(new(int64), new(bool), new(int64), new(int64), new([]byte), new(string))
		}},
		{"vread", func(i int) error {
			return db.QueryRowContext(ctx, vreadSQL, "Patient", fmt.Sprint("p", i), 1).Scan(new(int64), new(bool), new(int64), new(int64), new([]byte), new(string))
		}},
		{"history", func(i int) error {
			rows, err := db.QueryContext(ctx, historySQL, "Patient", fmt.Sprint("p", i))
			if err == nil {
				err = rows.Close()
			}
			return err
		}},
		{"claim", func(i int) error {
			rows, err := db.QueryContext(ctx, claimSQL, "me", 1, i%2+1)
			if err == nil {
				err = rows.Close()
			}
			return err
		}},
		{"search rows of a resource", func(i int) error {
			rows, err := db.QueryContext(ctx, rowsSQL(), i+1, i+1, i+1, i+1)
			if err == nil {
				err = rows.Close()
			}
			return err
		}},
		{"token", nil}, {"string", nil}, {"date", nil}, {"reference", nil}, {"two parameters", nil}, {"sorted", nil}, {"ids only", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			run := tc.run
			if run == nil {
				run = func(i int) error {
					var q fhirstore.Query
					switch tc.name {
					case "token":
						q = fhirstore.Query{Type: "Patient", Params: []fhirstore.Param{{Name: "identifier", Values: []string{fmt.Sprint("urn:mrn|M", i)}}}}
					case "string":
						q = fhirstore.Query{Type: "Patient", Count: i + 1, Params: []fhirstore.Param{{Name: "family", Values: []string{fmt.Sprint("Fam", i)}}}}
					case "date":
						q = fhirstore.Query{Type: "Patient", Params: []fhirstore.Param{{Name: "birthdate", Values: []string{fmt.Sprint("198", i, "-01-02")}}}}
					case "reference":
						q = fhirstore.Query{Type: "Encounter", Params: []fhirstore.Param{{Name: "subject", Values: []string{fmt.Sprint("Patient/p", i)}}}}
					case "two parameters":
						q = fhirstore.Query{Type: "Patient", Params: []fhirstore.Param{
							{Name: "family", Values: []string{fmt.Sprint("Fam", i)}},
							{Name: "birthdate", Values: []string{fmt.Sprint("ge198", i)}}}}
					case "sorted":
						q = fhirstore.Query{Type: "Patient", Sort: "-birthdate", Count: i + 1, Params: []fhirstore.Param{{Name: "name", Values: []string{"fam"}}}}
					case "ids only":
						_, err := s.searchIDs(ctx, db, fhirstore.Query{Type: "Encounter", Unordered: true, Params: []fhirstore.Param{
							{Name: "subject", Values: []string{fmt.Sprint("Patient/p", i)}}, {Name: "status", Values: []string{"planned"}}}})
						return err
					}
					return search(q)(i)
				}
			}
			if err := run(0); err != nil {
				t.Fatal(err)
			}
			before := compiled.Load()
			if before == 0 {
				t.Fatal("the authorizer saw no compilation")
			}
			for i := 1; i < 4; i++ {
				if err := run(i); err != nil {
					t.Fatal(err)
				}
			}
			if n := compiled.Load() - before; n != 0 {
				t.Errorf("compiled again with new values (%d authorizer calls)", n)
			}
		})
	}
}
