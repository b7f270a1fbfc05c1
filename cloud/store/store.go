// Package store is the reference cloud's persistent store: accounts, users
// and their memberships, linked systems and the tunnels they report, OAuth
// tokens and codes, browser sessions (portal sessions, tunnel edge sessions
// and their one-time tickets), settings (the clock offset) and the systems'
// inventory reports (see reports.go) and each account's user and device
// directory (see directory.go), in one SQLite
// database (modernc.org/sqlite, WAL mode).
//
// Several processes may open the same database at once (the running server
// and the admin CLI): WAL, a busy timeout and immediate write transactions
// make that safe. The schema is migrated by version (PRAGMA user_version)
// when the store is opened.
//
// Secrets are never stored: tokens, codes, session ids and device secrets
// are kept as SHA-256 hashes computed by the caller, passwords as bcrypt
// hashes. All times are passed in by the caller, so that expiry follows the
// caller's clock.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	_ "modernc.org/sqlite" // database/sql driver "sqlite"
)

// FileName is the database's file name inside the data directory.
const FileName = "cloud.db"

// Sentinel errors callers branch on.
var (
	ErrNotFound = errors.New("not found")
	ErrExists   = errors.New("already exists")
	// ErrUsed: an authorization code or refresh token was already used.
	ErrUsed = errors.New("already used")
)

// Store is an open database. It is safe for concurrent use.
type Store struct {
	db   *sql.DB
	path string
}

// Open opens (creating if needed) the database in dataDir and migrates its
// schema. The directory is created with mode 0700 and the database file
// with 0600: it holds password and token hashes.
func Open(ctx context.Context, dataDir string) (*Store, error) {
	if dataDir == "" {
		return nil, errors.New("open store: no data directory given")
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("open store: create data directory: %w", err)
	}
	path := filepath.Join(dataDir, FileName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	f.Close()

	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", "synchronous(NORMAL)")
	q.Set("_txlock", "immediate")
	dsn := "file:" + (&url.URL{Path: path}).EscapedPath() + "?" + q.Encode()
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	db.SetMaxOpenConns(8)
	db.SetMaxIdleConns(8)
	db.SetConnMaxIdleTime(5 * time.Minute)
	s := &Store{db: db, path: path}
	if err := s.migrate(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	return s, nil
}

// Path is the database file's path.
func (s *Store) Path() string { return s.path }

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

// migrations[i] brings the schema from version i to i+1. Never edit a
// released migration: append a new one.
var migrations = []string{
	// 1: initial schema.
	`
CREATE TABLE accounts (
	id         INTEGER PRIMARY KEY,
	name       TEXT NOT NULL,
	uuid       TEXT NOT NULL UNIQUE,
	region     TEXT NOT NULL,
	partner_id TEXT NOT NULL DEFAULT '',
	created_at INTEGER NOT NULL
);
CREATE TABLE users (
	id            TEXT PRIMARY KEY,
	email         TEXT NOT NULL UNIQUE,
	password_hash BLOB NOT NULL,
	created_at    INTEGER NOT NULL
);
CREATE TABLE memberships (
	user_id    TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
	account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
	role       TEXT NOT NULL,
	PRIMARY KEY (user_id, account_id)
);
CREATE TABLE systems (
	id              TEXT PRIMARY KEY,
	account_id      INTEGER NOT NULL REFERENCES accounts(id),
	installation_id TEXT NOT NULL,
	machine_id_hash TEXT NOT NULL DEFAULT '',
	hostname        TEXT NOT NULL DEFAULT '',
	version         TEXT NOT NULL DEFAULT '',
	client_id       TEXT NOT NULL UNIQUE,
	secret_hash     TEXT NOT NULL,
	user_id         TEXT NOT NULL,
	user_email      TEXT NOT NULL,
	role            TEXT NOT NULL,
	linked_at       INTEGER NOT NULL,
	revoked_at      INTEGER NOT NULL DEFAULT 0,
	revoked_by      TEXT NOT NULL DEFAULT '',
	revoke_kind     TEXT NOT NULL DEFAULT '',
	UNIQUE (account_id, installation_id)
);
CREATE TABLE tokens (
	hash        TEXT PRIMARY KEY,
	kind        TEXT NOT NULL,
	client_id   TEXT NOT NULL,
	user_id     TEXT NOT NULL DEFAULT '',
	system_id   TEXT NOT NULL DEFAULT '',
	account_id  INTEGER NOT NULL,
	scope       TEXT NOT NULL DEFAULT '',
	parent_hash TEXT NOT NULL DEFAULT '',
	code_hash   TEXT NOT NULL DEFAULT '',
	created_at  INTEGER NOT NULL,
	expires_at  INTEGER NOT NULL,
	revoked     INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX tokens_parent ON tokens(parent_hash) WHERE parent_hash != '';
CREATE INDEX tokens_code ON tokens(code_hash) WHERE code_hash != '';
CREATE INDEX tokens_system ON tokens(system_id) WHERE system_id != '';
CREATE INDEX tokens_expires ON tokens(expires_at);
CREATE TABLE codes (
	hash           TEXT PRIMARY KEY,
	client_id      TEXT NOT NULL,
	redirect_uri   TEXT NOT NULL,
	code_challenge TEXT NOT NULL,
	user_id        TEXT NOT NULL,
	account_id     INTEGER NOT NULL,
	scope          TEXT NOT NULL DEFAULT '',
	created_at     INTEGER NOT NULL,
	expires_at     INTEGER NOT NULL,
	used           INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX codes_expires ON codes(expires_at);
CREATE TABLE sessions (
	hash       TEXT PRIMARY KEY,
	kind       TEXT NOT NULL,
	user_id    TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
	account_id INTEGER NOT NULL DEFAULT 0,
	binding    TEXT NOT NULL DEFAULT '',
	created_at INTEGER NOT NULL,
	expires_at INTEGER NOT NULL
);
CREATE INDEX sessions_expires ON sessions(expires_at);
`,
	// 2: the tunnels each system reports, for the tunnel edge.
	`
CREATE TABLE tunnels (
	system_id   TEXT NOT NULL REFERENCES systems(id) ON DELETE CASCADE,
	id          TEXT NOT NULL,
	uuid        TEXT NOT NULL UNIQUE,
	position    INTEGER NOT NULL,
	component   TEXT NOT NULL DEFAULT '',
	name        TEXT NOT NULL DEFAULT '',
	description TEXT NOT NULL DEFAULT '',
	status      TEXT NOT NULL,
	reason      TEXT NOT NULL DEFAULT '',
	updated_at  INTEGER NOT NULL,
	PRIMARY KEY (system_id, id)
);
CREATE INDEX sessions_user ON sessions(user_id, kind);
`,
	// 3: settings the running server reloads, such as the clock offset.
	`
CREATE TABLE settings (
	name       TEXT PRIMARY KEY,
	value      TEXT NOT NULL,
	updated_at INTEGER NOT NULL
);
`,
	// 4: inventory reports, every one a system sent (the last
	// MaxReportsPerSystem of each), with the facts the systems page shows.
	`
CREATE TABLE reports (
	seq               INTEGER PRIMARY KEY AUTOINCREMENT,
	system_id         TEXT NOT NULL REFERENCES systems(id) ON DELETE CASCADE,
	id                TEXT NOT NULL,
	received_at       INTEGER NOT NULL,
	generated_at      INTEGER NOT NULL,
	schema_version    INTEGER NOT NULL,
	report_trigger    TEXT NOT NULL DEFAULT '',
	changes           TEXT NOT NULL DEFAULT '',
	hostname          TEXT NOT NULL DEFAULT '',
	platform_type     TEXT NOT NULL DEFAULT '',
	platform_name     TEXT NOT NULL DEFAULT '',
	platform_parent   TEXT NOT NULL DEFAULT '',
	platform_version  TEXT NOT NULL DEFAULT '',
	application_types TEXT NOT NULL DEFAULT '',
	daemon_version    TEXT NOT NULL DEFAULT '',
	license_type      TEXT NOT NULL DEFAULT '',
	license_expires   INTEGER NOT NULL DEFAULT 0,
	swa_status        TEXT NOT NULL DEFAULT '',
	swa_expiry        INTEGER NOT NULL DEFAULT 0,
	json_size         INTEGER NOT NULL,
	json_sha256       TEXT NOT NULL,
	json_gz           BLOB NOT NULL,
	UNIQUE (system_id, id)
);
CREATE INDEX reports_system_seq ON reports(system_id, seq);
`,
	// 5: the host and port each tunnel reaches on its host.
	`ALTER TABLE tunnels ADD COLUMN origin TEXT NOT NULL DEFAULT '';`,
	// 6: the release channel: signed daemon binaries per stage and
	// architecture, and each system's stage.
	`
CREATE TABLE releases (
	id           INTEGER PRIMARY KEY,
	stage        TEXT NOT NULL,
	version      TEXT NOT NULL,
	arch         TEXT NOT NULL,
	commit_id    TEXT NOT NULL DEFAULT '',
	notes        TEXT NOT NULL DEFAULT '',
	min_version  TEXT NOT NULL DEFAULT '',
	size         INTEGER NOT NULL,
	sha256       TEXT NOT NULL,
	signature    TEXT NOT NULL,
	published_at INTEGER NOT NULL,
	withdrawn_at INTEGER NOT NULL DEFAULT 0,
	binary       BLOB NOT NULL,
	UNIQUE (stage, version, arch)
);
CREATE TABLE system_stages (
	system_id TEXT PRIMARY KEY REFERENCES systems(id),
	stage     TEXT NOT NULL
);
`,
	// 7: each account's user and device directory (from its systems'
	// provisioning) and the directory batches applied (see directory.go).
	`
CREATE TABLE directory_users (
	account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
	email      TEXT NOT NULL,
	extension  TEXT NOT NULL,
	first_name TEXT NOT NULL DEFAULT '',
	last_name  TEXT NOT NULL DEFAULT '',
	services   TEXT NOT NULL DEFAULT '',
	role       TEXT NOT NULL DEFAULT '',
	system_id  TEXT NOT NULL,
	updated_at INTEGER NOT NULL,
	PRIMARY KEY (account_id, email)
) WITHOUT ROWID;
CREATE TABLE directory_devices (
	account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
	id         TEXT NOT NULL,
	extension  TEXT NOT NULL,
	type       TEXT NOT NULL DEFAULT '',
	name       TEXT NOT NULL DEFAULT '',
	owner      TEXT NOT NULL DEFAULT '',
	system_id  TEXT NOT NULL,
	updated_at INTEGER NOT NULL,
	PRIMARY KEY (account_id, id)
) WITHOUT ROWID;
CREATE TABLE directory_batches (
	account_id      INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
	system_id       TEXT NOT NULL,
	id              TEXT NOT NULL,
	applied_at      INTEGER NOT NULL,
	upsert_users    INTEGER NOT NULL,
	delete_users    INTEGER NOT NULL,
	upsert_devices  INTEGER NOT NULL,
	delete_devices  INTEGER NOT NULL,
	PRIMARY KEY (account_id, system_id, id)
);
CREATE INDEX directory_batches_applied ON directory_batches(account_id, applied_at);
`,
}

// SchemaVersion is the schema version this code writes.
var SchemaVersion = len(migrations)

func (s *Store) migrate(ctx context.Context) error {
	busy := 0
	for {
		done, err := s.migrateOne(ctx)
		if err != nil && isBusy(err) && busy < 100 {
			// A new connection's journal_mode(WAL) pragma can meet another
			// process's migration without waiting in the busy handler:
			// try again shortly.
			busy++
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(20 * time.Millisecond):
			}
			continue
		}
		if err != nil || done {
			return err
		}
	}
}

// isBusy tells whether err is SQLite's "database is locked".
func isBusy(err error) bool {
	return strings.Contains(err.Error(), "SQLITE_BUSY") || strings.Contains(err.Error(), "database is locked")
}

// migrateOne applies the next migration, if any, in one immediate
// transaction, reading the version inside it so that two processes opening
// the store at once do not both apply it.
func (s *Store) migrateOne(ctx context.Context) (done bool, err error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return false, fmt.Errorf("migrate: %w", err)
	}
	defer tx.Rollback()
	var v int
	if err := tx.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v); err != nil {
		return false, fmt.Errorf("migrate: read schema version: %w", err)
	}
	if v > len(migrations) {
		return false, fmt.Errorf("the database has schema version %d, newer than this program knows (%d): use a newer cld-cloud", v, len(migrations))
	}
	if v == len(migrations) {
		return true, nil
	}
	if _, err := tx.ExecContext(ctx, migrations[v]); err != nil {
		return false, fmt.Errorf("migrate to schema version %d: %w", v+1, err)
	}
	if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", v+1)); err != nil {
		return false, fmt.Errorf("migrate: set schema version %d: %w", v+1, err)
	}
	if err := tx.Commit(); err != nil {
		return false, fmt.Errorf("migrate to schema version %d: %w", v+1, err)
	}
	return false, nil
}

// t2i stores a time as Unix nanoseconds; the zero time is 0.
func t2i(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

// i2t reads a time stored by t2i, in UTC.
func i2t(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}
