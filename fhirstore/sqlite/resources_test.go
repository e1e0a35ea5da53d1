package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/carebridge/carebridge/fhirstore"
	"github.com/carebridge/carebridge/internal/jsonmap"
)

// TestVersionMarkJSON checks that the encoded marker prepareWrite looks
// for is what the encoder makes of versionMark.
func TestVersionMarkJSON(t *testing.T) {
	if b, err := json.Marshal(versionMark); err != nil || !bytes.Equal(b, versionMarkJSON) {
		t.Fatalf("versionMark encodes as %s (%v), versionMarkJSON is %s", b, err, versionMarkJSON)
	}
}

// TestChooseDriverAsCountingEveryClause checks that probing with a
// running limit, string clauses last, picks the driver that counting
// every clause up to probeLimit picks: the fewest rows, the earlier
// clause on a tie (also at the cap).
func TestChooseDriverAsCountingEveryClause(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(t.TempDir(), "d.db"), Options{Validator: NoValidation, Durability: DurabilityOff})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var writes []fhirstore.Write
	for i := range probeLimit + 200 {
		family, year, gender := "FamB", "1980", "male"
		switch {
		case i >= probeLimit+100:
			family, year = "FamZ", "1990" // 100 each: a tie below the cap
		case i%3 == 0:
			family = "FamA"
		}
		if i%2 == 0 {
			gender = "female"
		}
		writes = append(writes, fhirstore.Write{Type: "Patient", ID: fmt.Sprint("p", i), IfVersion: fhirstore.Unconditional,
			Body: fmt.Appendf(nil, `{"resourceType":"Patient","name":[{"family":%q}],"birthDate":"%s-01-02","gender":%q}`, family, year, gender)})
	}
	if _, err := s.Apply(ctx, fhirstore.ChangeSet{Writes: writes}); err != nil {
		t.Fatal(err)
	}
	p := func(name, value string) fhirstore.Param { return fhirstore.Param{Name: name, Values: []string{value}} }
	for _, params := range [][]fhirstore.Param{
		{p("family", "fam"), p("birthdate", "eq1980")},  // both at the cap: the first
		{p("birthdate", "eq1980"), p("family", "fam")},  // the same, the other way round
		{p("family", "famz"), p("birthdate", "eq1990")}, // a tie of 100: the first
		{p("birthdate", "eq1990"), p("family", "famz")}, // the same, the other way round
		{p("family", "fama"), p("gender", "male"), p("birthdate", "eq1990")},
		{p("gender", "female"), p("family", "famb"), p("birthdate", "eq1980")},
		{p("family", "famz"), p("gender", "female"), p("birthdate", "eq1990"), p("name", "famz")},
		{p("name", "fam"), p("family", "fama")},
	} {
		pq, err := fhirstore.PrepareQuery(fhirstore.Query{Type: "Patient", Params: params})
		if err != nil {
			t.Fatal(err)
		}
		got, err := s.chooseDriver(ctx, s.rdb, pq)
		if err != nil {
			t.Fatal(err)
		}
		want, best := -1, math.MaxInt
		for i := range pq.Clauses {
			sub := s.driverSQL(pq.Type, &pq.Clauses[i])
			var n int
			if err := s.rdb.QueryRowContext(ctx, `SELECT count(*) FROM (`+sub.sql+` LIMIT `+fmt.Sprint(probeLimit)+`)`, sub.args...).Scan(&n); err != nil {
				t.Fatal(err)
			}
			if n < best {
				best, want = n, i
			}
		}
		if got != want {
			t.Errorf("%v: driver %d, counting every clause %d", params, got, want)
		}
	}
}

// TestWriterStatementsBoundPerTransaction checks that the writer binds a
// statement to its transaction once, and again in the next transaction
// (the one before is closed with its commit).
func TestWriterStatementsBoundPerTransaction(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(t.TempDir(), "s.db"), Options{Validator: NoValidation, Durability: DurabilityOff})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var bound []*sql.Stmt
	for range 2 {
		if err := s.submit(ctx, func(tx *sql.Tx) error {
			st := s.stmt(tx, s.res.lookup)
			if again := s.stmt(tx, s.res.lookup); again != st {
				t.Error("the statement was bound to the transaction twice")
			}
			bound = append(bound, st)
			var rid, version int64
			var deleted bool
			if err := st.QueryRow("Patient", "none").Scan(&rid, &version, &deleted); !errors.Is(err, sql.ErrNoRows) {
				return fmt.Errorf("look up: %w", err)
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	if bound[0] == bound[1] {
		t.Error("the next transaction used the statement bound to the one before")
	}
}

// TestWriteObjectAsDecodedBody checks that a write carrying its decoded
// body (Write.Object) stores the same version and search rows as one the
// store decodes itself, and leaves the Object as it was.
func TestWriteObjectAsDecodedBody(t *testing.T) {
	ctx := context.Background()
	at := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	body := []byte(`{"resourceType":"Patient","id":"p1","meta":{"tag":[{"system":"urn:t","code":"x"}]},` +
		`"identifier":[{"system":"urn:mrn","value":"M1"}],"name":[{"family":"Ôkafor <&>","given":["Ada"]}],` +
		`"birthDate":"1980-02-14","multipleBirthInteger":2,"extension":[{"url":"urn:x","valueDecimal":1.50}]}`)
	var stored [2][]byte
	var rows [2][]indexKey
	for i, withObject := range []bool{false, true} {
		s, err := Open(ctx, filepath.Join(t.TempDir(), "o.db"), Options{Durability: DurabilityOff, Now: func() time.Time { return at }})
		if err != nil {
			t.Fatal(err)
		}
		w := fhirstore.Write{Type: "Patient", ID: "p1", Body: body}
		var before []byte
		if withObject {
			if w.Object, err = jsonmap.Decode(body); err != nil {
				t.Fatal(err)
			}
			before, _ = jsonmap.Append(nil, w.Object, true)
		}
		if _, err := s.Apply(ctx, fhirstore.ChangeSet{Writes: []fhirstore.Write{w}}); err != nil {
			t.Fatal(err)
		}
		if withObject {
			if after, _ := jsonmap.Append(nil, w.Object, true); !bytes.Equal(after, before) {
				t.Errorf("the store changed the Object: %s, was %s", after, before)
			}
		}
		r, err := s.Read(ctx, "Patient", "p1")
		if err != nil {
			t.Fatal(err)
		}
		stored[i] = r.Body
		if err := s.submit(ctx, func(tx *sql.Tx) error {
			rows[i], err = s.indexRowsOf(tx, 1)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		s.Close()
	}
	if !bytes.Equal(stored[0], stored[1]) {
		t.Errorf("stored with Object:\n%s\nwithout:\n%s", stored[1], stored[0])
	}
	if len(rows[0]) == 0 || !reflect.DeepEqual(rows[0], rows[1]) {
		t.Errorf("search rows with Object %v, without %v", rows[1], rows[0])
	}
}
