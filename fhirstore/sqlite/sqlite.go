// Package sqlite is Carebridge's embedded storage backend: one SQLite file in
// WAL mode holding the message journal and the FHIR resources with their
// history, search index and change feed. All writes go through a single writer goroutine that batches
// concurrent requests into one transaction, so that concurrent senders share
// one fsync (group commit).
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	_ "github.com/mattn/go-sqlite3" // registers the "sqlite3" driver

	"github.com/carebridge/carebridge/fhirstore"
	"github.com/carebridge/carebridge/fhirvalid"
)

// Durability says how hard a commit tries to reach stable storage.
type Durability string

// The durability settings.
const (
	// DurabilityFull fsyncs the write-ahead log on every (group) commit: an
	// acknowledged message survives a power loss. The default.
	DurabilityFull Durability = "full"
	// DurabilityNormal relies on the operating system to write the log: an
	// acknowledged message survives a crash of the process but not of the
	// machine.
	DurabilityNormal Durability = "normal"
	// DurabilityOff does not wait for the disk at all. For benchmarks and tests.
	DurabilityOff Durability = "off"
)

// Options configures a Store. The zero value is valid.
type Options struct {
	// Durability defaults to DurabilityFull.
	Durability Durability
	// DuplicateWindow is how far back Append looks for an earlier message with
	// the same MSH-3, MSH-4 and MSH-10. Zero means the default, 7 days; a
	// negative value turns duplicate detection off.
	DuplicateWindow time.Duration
	// MaxBatch caps how many write requests share one transaction. Zero means 1024.
	MaxBatch int
	// ReadOnly opens the database for queries only (no writer goroutine).
	ReadOnly bool
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// OnCommit, if set, is called after each group commit with the number of
	// requests it carried and how long the commit took.
	OnCommit func(requests int, d time.Duration)
	// Validator checks every resource Apply writes. Nil means FHIR R4
	// validation with fhirvalid; NoValidation turns it off (for bulk loads
	// and benchmarks of data already known to be valid).
	Validator Validator
}

// Validator checks a resource's FHIR JSON; a non-nil error says why it is
// not valid. It must be safe for concurrent use. *fhirvalid.Validator is one.
type Validator interface {
	Resource(body []byte) error
}

// NoValidation, as Options.Validator, accepts every resource.
var NoValidation Validator = noValidation{}

type noValidation struct{}

func (noValidation) Resource([]byte) error { return nil }

// DefaultDuplicateWindow is the duplicate window when Options leaves it zero.
const DefaultDuplicateWindow = 7 * 24 * time.Hour

// Store is the SQLite fhirstore.Store: the journal and the resources. Open
// it with Open and Close it when done; it is safe for concurrent use, also
// by several processes.
type Store struct {
	path string
	opts Options
	rdb  *sql.DB // readers
	wdb  *sql.DB // the single writer connection

	stmtDup        *sql.Stmt
	stmtInsert     *sql.Stmt
	stmtInsertBody *sql.Stmt
	stmtComplete   *sql.Stmt
	stmtSetAck     *sql.Stmt
	stmtBody       *sql.Stmt
	stmtClaim      *sql.Stmt
	res            resourceStmts

	// params maps a search parameter (type, name) to its search_param code.
	params map[paramKey]int64

	// tx and txStmts are the writer's open transaction and the prepared
	// statements bound to it so far (see stmt). Only the writer goroutine
	// uses them.
	tx      *sql.Tx
	txStmts map[*sql.Stmt]*sql.Stmt

	reqs      chan *writeReq
	closing   chan struct{}
	writerEnd chan struct{}
	closeOnce sync.Once
	mu        sync.RWMutex // guards closed against concurrent submit
	closed    bool
}

var (
	_ fhirstore.Journal = (*Store)(nil)
	_ fhirstore.Store   = (*Store)(nil)
)

// writeReq is one unit of work for the writer goroutine. fn runs inside the
// transaction the batch shares, within a savepoint of its own: when it fails,
// what it wrote is rolled back and the other requests of the batch go on
// (see runBatch).
type writeReq struct {
	fn    func(tx *sql.Tx) error
	heavy bool  // a change set of resources (many rows), as opposed to a journal write
	err   error // the request's own failure, or the batch's
	done  chan struct{}
}

// heavyPerCommit bounds how many change sets share one commit when no
// other request waits; while one does, change sets commit one at a time, so
// that journal writes (appends, on which ACKs wait) queued behind them wait
// for a short transaction, not a long one.
const heavyPerCommit = 8

// Open opens (creating if needed) the SQLite database at path, applies the
// schema and starts the writer. The directory is created when missing.
func Open(ctx context.Context, path string, opts Options) (*Store, error) {
	if opts.Durability == "" {
		opts.Durability = DurabilityFull
	}
	if opts.DuplicateWindow == 0 {
		opts.DuplicateWindow = DefaultDuplicateWindow
	}
	if opts.MaxBatch <= 0 {
		opts.MaxBatch = 1024
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Validator == nil && !opts.ReadOnly {
		v, err := fhirvalid.New()
		if err != nil {
			return nil, fmt.Errorf("open store: %w", err)
		}
		opts.Validator = v
	}
	var sync string
	switch opts.Durability {
	case DurabilityFull:
		sync = "FULL"
	case DurabilityNormal:
		sync = "NORMAL"
	case DurabilityOff:
		sync = "OFF"
	default:
		return nil, fmt.Errorf("open journal: unknown durability %q (want full, normal or off)", opts.Durability)
	}
	if !opts.ReadOnly {
		if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
			return nil, fmt.Errorf("open journal: %w", err)
		}
	} else if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("open journal: %w", err)
	}
	dsn := func(cacheKiB int, extra string) string {
		q := url.Values{}
		q.Set("_busy_timeout", "10000")
		q.Set("_journal_mode", "WAL")
		q.Set("_synchronous", sync)
		q.Set("_foreign_keys", "1")
		q.Set("_cache_size", strconv.Itoa(-cacheKiB))
		// Each connection keeps its recently used statements prepared: a
		// read or search of the same shape is not compiled again.
		q.Set("_stmt_cache_size", "128")
		s := "file:" + url.PathEscape(path) + "?" + q.Encode()
		if extra != "" {
			s += "&" + extra
		}
		return s
	}
	// Temporary tables and indexes (a search's DISTINCT, a sort) and the
	// statement journal of the writer's savepoints stay in memory rather
	// than in files created and written for each transaction.
	const tempStore = "PRAGMA temp_store = MEMORY"
	s := &Store{path: path, opts: opts, closing: make(chan struct{}), writerEnd: make(chan struct{})}
	var err error
	s.rdb = sql.OpenDB(newConnector(dsn(readerCacheKiB, ""), tempStore))
	s.rdb.SetMaxOpenConns(8)
	s.rdb.SetMaxIdleConns(8)
	if opts.ReadOnly {
		if err := s.rdb.PingContext(ctx); err != nil {
			s.rdb.Close()
			return nil, fmt.Errorf("open journal %s: %w", path, err)
		}
		if s.params, err = loadParams(ctx, s.rdb); err != nil {
			s.rdb.Close()
			return nil, fmt.Errorf("open journal %s: %w", path, err)
		}
		close(s.writerEnd)
		return s, nil
	}
	s.wdb = sql.OpenDB(newConnector(dsn(writerCacheKiB, "_txlock=immediate"), tempStore))
	s.wdb.SetMaxOpenConns(1)
	s.wdb.SetMaxIdleConns(1)
	s.wdb.SetConnMaxLifetime(0)
	s.wdb.SetConnMaxIdleTime(0)
	if err := migrate(ctx, s.wdb); err != nil {
		s.rdb.Close()
		s.wdb.Close()
		return nil, fmt.Errorf("open journal %s: %w", path, err)
	}
	if s.params, err = registerParams(ctx, s.wdb); err != nil {
		s.rdb.Close()
		s.wdb.Close()
		return nil, fmt.Errorf("open journal %s: %w", path, err)
	}
	if err := stampEmptyIndex(ctx, s.wdb); err != nil {
		s.rdb.Close()
		s.wdb.Close()
		return nil, fmt.Errorf("open journal %s: %w", path, err)
	}
	if err := s.prepare(ctx); err != nil {
		s.rdb.Close()
		s.wdb.Close()
		return nil, fmt.Errorf("open journal %s: %w", path, err)
	}
	s.reqs = make(chan *writeReq, opts.MaxBatch)
	go s.writer()
	return s, nil
}

func (s *Store) prepare(ctx context.Context) error {
	var err error
	for _, p := range []struct {
		stmt **sql.Stmt
		sql  string
	}{
		// Answered from the dedup index alone; in index order the earliest
		// match (the original) comes first. More than one when a different
		// message under the same key was processed by hand (requeued).
		{&s.stmtDup, `SELECT id FROM journal
			WHERE control_id = ? AND sending_app = ? AND sending_facility = ? AND received_at >= ?
			  AND status NOT IN ('duplicate', 'rejected')
			LIMIT ` + strconv.Itoa(maxOriginals)},
		{&s.stmtBody, `SELECT raw, ack FROM journal_body WHERE id = ?`},
		{&s.stmtClaim, claimSQL},
		{&s.stmtInsert, `INSERT INTO journal (received_at, listener, peer, sending_app, sending_facility,
			message_time, message_type, control_id, status, error, duplicate_of, claimed_by, claimed_at, attempts)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`},
		{&s.stmtInsertBody, `INSERT INTO journal_body (id, raw, ack) VALUES (?, ?, ?)`},
		{&s.stmtComplete, `UPDATE journal SET status = ?, error = ?, processed_at = ?, result_hash = ?, claimed_by = ''
			WHERE id = ? AND status = 'processing' AND claimed_by = ?`},
		{&s.stmtSetAck, `UPDATE journal_body SET ack = COALESCE(?, ack), result = ?, notes = ? WHERE id = ?`},
	} {
		if *p.stmt, err = s.wdb.PrepareContext(ctx, p.sql); err != nil {
			return err
		}
	}
	return s.res.prepare(ctx, s.wdb)
}

// claimSQL claims the oldest received entries; "+?" as in sqlPart.
const claimSQL = `UPDATE journal SET status = 'processing', claimed_by = ?, claimed_at = ?, attempts = attempts + 1
	WHERE id IN (SELECT id FROM journal WHERE status = 'received' ORDER BY id LIMIT +?)
	RETURNING ` + listColumns

// Path returns the database file's path.
func (s *Store) Path() string { return s.path }

// Close stops the writer after the requests already submitted and closes the
// database. It is safe to call more than once.
func (s *Store) Close() error {
	var err error
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		s.mu.Unlock()
		close(s.closing)
		<-s.writerEnd
		if s.wdb != nil {
			// Fold the write-ahead log back into the database so that the
			// file is self-contained when the engine is not running.
			_, _ = s.wdb.Exec("PRAGMA wal_checkpoint(TRUNCATE)")
			err = errors.Join(err, s.wdb.Close())
		}
		err = errors.Join(err, s.rdb.Close())
	})
	return err
}

// stmt is st bound to the writer's transaction tx, once per transaction:
// tx.Stmt makes a new statement on each call (and each is closed at the
// commit), for every one of the writer's many statements per change set.
func (s *Store) stmt(tx *sql.Tx, st *sql.Stmt) *sql.Stmt {
	if tx != s.tx {
		s.tx = tx
		if s.txStmts == nil {
			s.txStmts = map[*sql.Stmt]*sql.Stmt{}
		}
		clear(s.txStmts)
	}
	if t, ok := s.txStmts[st]; ok {
		return t
	}
	t := tx.Stmt(st)
	s.txStmts[st] = t
	return t
}

// submit hands fn to the writer and waits until its transaction committed.
func (s *Store) submit(ctx context.Context, fn func(tx *sql.Tx) error) error {
	return s.submitReq(ctx, &writeReq{fn: fn, done: make(chan struct{})})
}

// submitHeavy is submit for a change set of resources.
func (s *Store) submitHeavy(ctx context.Context, fn func(tx *sql.Tx) error) error {
	return s.submitReq(ctx, &writeReq{fn: fn, heavy: true, done: make(chan struct{})})
}

func (s *Store) submitReq(ctx context.Context, r *writeReq) error {
	if s.opts.ReadOnly {
		return errors.New("journal opened read-only")
	}
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return fhirstore.ErrClosed
	}
	select {
	case s.reqs <- r:
		s.mu.RUnlock()
	case <-ctx.Done():
		s.mu.RUnlock()
		return ctx.Err()
	}
	// Once submitted, the request will be committed or failed by the writer;
	// waiting for it (rather than for ctx) keeps "returned nil" equal to
	// "durable".
	<-r.done
	return r.err
}

// writer runs every write in the process: it takes the first waiting request,
// gathers those that arrived meanwhile, and commits them together.
func (s *Store) writer() {
	defer close(s.writerEnd)
	batch := make([]*writeReq, 0, s.opts.MaxBatch)
	var light, heavy []*writeReq
	for {
		var first *writeReq
		select {
		case first = <-s.reqs:
		case <-s.closing:
			// Drain what was submitted before Close.
			for {
				select {
				case r := <-s.reqs:
					batch = append(batch[:0], r)
					s.commit(batch)
				default:
					return
				}
			}
		}
		// Journal writes go first, in a commit of their own; change sets
		// follow in commits of at most heavyPerCommit, and journal writes
		// that arrive meanwhile go ahead of the remaining change sets.
		light, heavy = light[:0], heavy[:0]
		take := func(r *writeReq) {
			if r.heavy {
				heavy = append(heavy, r)
			} else {
				light = append(light, r)
			}
		}
		take(first)
		for {
		gather:
			for len(light)+len(heavy) < s.opts.MaxBatch {
				select {
				case r := <-s.reqs:
					take(r)
				default:
					break gather
				}
			}
			if len(light) > 0 {
				s.commit(light)
				light = light[:0]
			}
			if len(heavy) == 0 {
				break
			}
			n := min(len(heavy), heavyPerCommit)
			if len(s.reqs) > 0 {
				// Others are waiting (journal appends, on which ACKs
				// wait, among them): keep this transaction short.
				n = 1
			}
			s.commit(heavy[:n])
			heavy = append(heavy[:0], heavy[n:]...)
		}
	}
}

func (s *Store) commit(batch []*writeReq) {
	start := time.Now()
	err := s.runBatch(batch)
	for _, r := range batch {
		if err != nil && r.err == nil {
			r.err = err
		}
		close(r.done)
	}
	if s.opts.OnCommit != nil {
		s.opts.OnCommit(len(batch), time.Since(start))
	}
}

// runBatch runs the whole batch in one transaction, each request within a
// savepoint: a request that fails is rolled back to its savepoint and fails
// alone, the others commit. Only a failure of the transaction itself (begin,
// commit, or a rollback to a savepoint that SQLite no longer has, after an
// error that aborted the whole transaction) fails every request.
func (s *Store) runBatch(batch []*writeReq) error {
	tx, err := s.wdb.BeginTx(context.Background(), nil)
	if err != nil {
		return fmt.Errorf("begin transaction: %w", err)
	}
	defer func() { s.tx = nil }()
	for _, r := range batch {
		if _, err := tx.Exec("SAVEPOINT request"); err != nil {
			_ = tx.Rollback()
			return fmt.Errorf("savepoint: %w", err)
		}
		if r.err = r.fn(tx); r.err != nil {
			if _, err := tx.Exec("ROLLBACK TO request"); err != nil {
				_ = tx.Rollback()
				return fmt.Errorf("roll back failed request (%v): %w", r.err, err)
			}
		}
		if _, err := tx.Exec("RELEASE request"); err != nil {
			_ = tx.Rollback()
			return fmt.Errorf("release savepoint: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// Page cache sizes. The writer is the only connection that changes the
// database, so its cache stays valid from one transaction to the next: it
// keeps the journal's and the record's indexes in memory. A reader's cache is
// thrown away whenever another connection has committed since its last read
// (SQLite resets it at the start of each read transaction), which while
// messages are processed is almost every time, so a large one saves little
// and costs memory: eight readers of 64 MiB each could hold 512 MiB. (Emptying
// it also costs more the larger it grew: pcache1TruncateUnsafe took 2.9 % of
// the process's CPU in perf on bench pipeline with 64 MiB readers, 2.4 % with
// 4 MiB; throughput the same within the machine's noise.)
const (
	writerCacheKiB = 65536
	readerCacheKiB = 4096
)
