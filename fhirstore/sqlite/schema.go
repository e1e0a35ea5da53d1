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
