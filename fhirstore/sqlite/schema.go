package sqlite

import (
	"context"
	"database/sql"
	"fmt"
)

// migrations are applied in order; PRAGMA user_version records how many ran.
// Never edit one that has shipped: append a new one.
var migrations = []string{
	`CREATE TABLE journal (
		id               INTEGER PRIMARY KEY,
		received_at      INTEGER NOT NULL,          -- Unix nanoseconds
		listener         TEXT    NOT NULL,
		peer             TEXT    NOT NULL DEFAULT '',
		sending_app      TEXT    NOT NULL DEFAULT '',
		sending_facility TEXT    NOT NULL DEFAULT '',
		message_time     TEXT    NOT NULL DEFAULT '',
		message_type     TEXT    NOT NULL DEFAULT '',
		control_id       TEXT    NOT NULL DEFAULT '',
		status           TEXT    NOT NULL,
		error            TEXT    NOT NULL DEFAULT '',
		duplicate_of     INTEGER,
		attempts         INTEGER NOT NULL DEFAULT 0,
		claimed_by       TEXT    NOT NULL DEFAULT '',
		claimed_at       INTEGER NOT NULL DEFAULT 0,
		processed_at     INTEGER NOT NULL DEFAULT 0,
		result_hash      TEXT    NOT NULL DEFAULT ''
	);
	-- The message bytes live apart from the metadata, so that status
	-- changes rewrite small rows only.
	CREATE TABLE journal_body (
		id  INTEGER PRIMARY KEY REFERENCES journal (id),
		raw BLOB NOT NULL,
		ack BLOB
	);
	CREATE INDEX journal_dedup    ON journal (control_id, sending_app, sending_facility, received_at, status);
	CREATE INDEX journal_status   ON journal (status, id);
	CREATE INDEX journal_type     ON journal (message_type, id);
	CREATE INDEX journal_received ON journal (received_at);`,
	// 2: what processing produced (the FHIR Bundle), kept with the message.
	`ALTER TABLE journal_body ADD COLUMN result BLOB;`,
	// 3: processing's warnings (unused fields, unmapped codes), as JSON.
	`ALTER TABLE journal_body ADD COLUMN notes BLOB;`,
	// 4: FHIR resources with every version, their search index and the
	// change feed. Times are Unix nanoseconds, except search_date's bounds
	// (Unix milliseconds: dates reach from year 1 to 9999). The search_*
	// tables are clustered on what a search looks up (WITHOUT ROWID) and
	// indexed by rid to be replaced on update; param is a search_param code.
	`CREATE TABLE resource (
		rid          INTEGER PRIMARY KEY,
		type         TEXT    NOT NULL,
		id           TEXT    NOT NULL,
		version      INTEGER NOT NULL,
		last_updated INTEGER NOT NULL,
		deleted      INTEGER NOT NULL DEFAULT 0
	);
	CREATE UNIQUE INDEX resource_type_id ON resource (type, id);
	CREATE INDEX resource_updated ON resource (type, last_updated);
	CREATE TABLE resource_version (
		rid          INTEGER NOT NULL REFERENCES resource (rid),
		version      INTEGER NOT NULL,
		last_updated INTEGER NOT NULL,
		deleted      INTEGER NOT NULL DEFAULT 0,
		journal_id   INTEGER NOT NULL DEFAULT 0,
		body         BLOB,
		PRIMARY KEY (rid, version)
	);
	CREATE TABLE search_param (
		code INTEGER PRIMARY KEY,
		type TEXT NOT NULL,
		name TEXT NOT NULL,
		UNIQUE (type, name)
	);
	CREATE TABLE search_token (
		param  INTEGER NOT NULL,
		value  TEXT    NOT NULL,
		system TEXT    NOT NULL,
		rid    INTEGER NOT NULL,
		PRIMARY KEY (param, value, system, rid)
	) WITHOUT ROWID;
	CREATE INDEX search_token_rid ON search_token (rid);
	CREATE TABLE search_string (
		param INTEGER NOT NULL,
		value TEXT    NOT NULL, -- normalized
		raw   TEXT    NOT NULL, -- as written, for :exact
		rid   INTEGER NOT NULL,
		PRIMARY KEY (param, value, raw, rid)
	) WITHOUT ROWID;
	CREATE INDEX search_string_rid ON search_string (rid);
	CREATE TABLE search_date (
		param INTEGER NOT NULL,
		low   INTEGER NOT NULL,
		high  INTEGER NOT NULL, -- exclusive
		rid   INTEGER NOT NULL,
		PRIMARY KEY (param, low, high, rid)
	) WITHOUT ROWID;
	CREATE INDEX search_date_rid ON search_date (rid);
	CREATE INDEX search_date_high ON search_date (param, high);
	CREATE TABLE search_ref (
		param    INTEGER NOT NULL,
		ref_id   TEXT    NOT NULL,
		ref_type TEXT    NOT NULL,
		rid      INTEGER NOT NULL,
		PRIMARY KEY (param, ref_id, ref_type, rid)
	) WITHOUT ROWID;
	CREATE INDEX search_ref_rid ON search_ref (rid);
	CREATE TABLE change (
		seq         INTEGER PRIMARY KEY AUTOINCREMENT,
		type        TEXT    NOT NULL,
		id          TEXT    NOT NULL,
		version     INTEGER NOT NULL,
		interaction TEXT    NOT NULL,
		at          INTEGER NOT NULL,
		journal_id  INTEGER NOT NULL DEFAULT 0
	);`,
	// 5: which search definitions built the search_* rows
	// (fhirstore.IndexFingerprint; '' when unknown: built before this
	// table), and the rebuild under way, if any (reindex.go): the
	// definitions it builds (target), the first rid it has not rebuilt yet
	// and the last rid it covers. Open stamps a store without resources.
	`CREATE TABLE search_index (
		id          INTEGER PRIMARY KEY CHECK (id = 1),
		fingerprint TEXT    NOT NULL DEFAULT '',
		target      TEXT    NOT NULL DEFAULT '',
		next_rid    INTEGER NOT NULL DEFAULT 0,
		last_rid    INTEGER NOT NULL DEFAULT 0
	);
	INSERT INTO search_index (id) VALUES (1);`,
	// 6: the caller's mark on a resource's current version
	// (fhirstore.Resource.Mark), set without writing a new one and cleared
	// by the next. On the small resource row, not the version's: a version
	// row holds the body, which updating it would rewrite.
	`ALTER TABLE resource ADD COLUMN mark TEXT NOT NULL DEFAULT '';`,
}

func migrate(ctx context.Context, db *sql.DB) error {
	var version int
	if err := db.QueryRowContext(ctx, "PRAGMA user_version").Scan(&version); err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	if version > len(migrations) {
		return fmt.Errorf("database schema version %d is newer than this carebridge (%d): upgrade carebridge", version, len(migrations))
	}
	for i := version; i < len(migrations); i++ {
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return fmt.Errorf("migrate schema to %d: %w", i+1, err)
		}
		if _, err := tx.ExecContext(ctx, migrations[i]); err != nil {
			_ = tx.Rollback()
			return fmt.Errorf("migrate schema to %d: %w", i+1, err)
		}
		if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", i+1)); err != nil {
			_ = tx.Rollback()
			return fmt.Errorf("migrate schema to %d: %w", i+1, err)
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("migrate schema to %d: %w", i+1, err)
		}
	}
	return nil
}
