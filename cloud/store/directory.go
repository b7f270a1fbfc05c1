package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// The directory: per account, the users and devices its systems' host
// provisioning keeps (MX-ONE's Provisioning Manager), as the systems send
// them in batches of changes. A user's key is its e-mail in lower case, a
// device's its ID; either is kept once per account whichever system sent
// it, with the system that wrote it last. A batch is applied at most once:
// its ID is remembered per system.

// Directory limits per account (the same as cloudapi's): a batch that would
// leave more is refused whole.
const (
	MaxDirectoryUsers   = 5000
	MaxDirectoryDevices = 5000
)

// ErrDirectoryFull: a batch would leave the account with more users or
// devices than the limits; nothing was changed. The error is a
// *DirectoryFullError.
var ErrDirectoryFull = errors.New("directory full")

// DirectoryFullError says how many users and devices a refused batch would
// have left.
type DirectoryFullError struct {
	Users, Devices       int // after the batch
	MaxUsers, MaxDevices int
}

func (e *DirectoryFullError) Error() string {
	return fmt.Sprintf("directory full: the batch would leave %d users (at most %d) and %d devices (at most %d)",
		e.Users, e.MaxUsers, e.Devices, e.MaxDevices)
}

// Is makes errors.Is(err, ErrDirectoryFull) true.
func (e *DirectoryFullError) Is(target error) bool { return target == ErrDirectoryFull }

// DirectoryUser is a user of an account's directory.
type DirectoryUser struct {
	Email     string // the key; stored in lower case
	Extension string
	FirstName string
	LastName  string
	Services  []string
	Role      string
	// Set by ApplyDirectoryBatch: the system whose batch wrote the user
	// last, and when.
	SystemID  string
	UpdatedAt time.Time
}

// DirectoryDevice is a device of an account's directory.
type DirectoryDevice struct {
	ID        string // the key
	Extension string
	Type      string
	Name      string
	Owner     string // a user's e-mail
	SystemID  string // set by ApplyDirectoryBatch, as for users
	UpdatedAt time.Time
}

// DirectoryBatch is one set of changes a system sends. The caller checks
// and normalizes the entries; the store only trims the keys (and lowers
// the e-mails' case).
type DirectoryBatch struct {
	ID            string // unique per system
	UpsertUsers   []DirectoryUser
	DeleteUsers   []string // e-mails
	UpsertDevices []DirectoryDevice
	DeleteDevices []string // device IDs
}

// DirectoryResult is what ApplyDirectoryBatch did.
type DirectoryResult struct {
	Duplicate bool // the batch was applied before: nothing changed
	Users     int  // the account's users after the batch
	Devices   int  // and its devices
}

// DirectorySummary counts an account's directory.
type DirectorySummary struct {
	Users       int
	Devices     int
	Batches     int       // batches applied, from every system of the account
	LastBatchAt time.Time // zero: none yet
}

// Directory is an account's whole directory.
type Directory struct {
	Summary DirectorySummary
	Users   []DirectoryUser   // by e-mail
	Devices []DirectoryDevice // by ID
}

func userKey(email string) string { return strings.ToLower(strings.TrimSpace(email)) }

// ApplyDirectoryBatch applies a batch that the system systemID of account
// sent, in one immediate write transaction. When the system's batch b.ID
// was applied before, it changes nothing and returns Duplicate true with
// the current counts. Else it deletes (an absent key is no error), then
// upserts (so a key both deleted and upserted is kept), and records the
// batch; when the account would then hold more than MaxDirectoryUsers
// users or MaxDirectoryDevices devices it changes nothing and returns a
// *DirectoryFullError (ErrDirectoryFull). It returns ErrNotFound when the
// system does not exist, and an error when it is not of the account.
func (s *Store) ApplyDirectoryBatch(ctx context.Context, account int64, systemID string, b DirectoryBatch, now time.Time) (DirectoryResult, error) {
	if systemID == "" || b.ID == "" {
		return DirectoryResult{}, errors.New("apply directory batch: no system or batch ID")
	}
	fail := func(err error) (DirectoryResult, error) {
		return DirectoryResult{}, fmt.Errorf("apply directory batch %s of system %s: %w", b.ID, systemID, err)
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fail(err)
	}
	defer tx.Rollback()
	var sysAccount int64
	err = tx.QueryRowContext(ctx, `SELECT account_id FROM systems WHERE id = ?`, systemID).Scan(&sysAccount)
	if errors.Is(err, sql.ErrNoRows) {
		return fail(fmt.Errorf("system: %w", ErrNotFound))
	}
	if err != nil {
		return fail(err)
	}
	if sysAccount != account {
		return fail(fmt.Errorf("the system is of account %d, not %d", sysAccount, account))
	}
	var one int
	err = tx.QueryRowContext(ctx, `SELECT 1 FROM directory_batches WHERE account_id = ? AND system_id = ? AND id = ?`,
		account, systemID, b.ID).Scan(&one)
	if err == nil {
		res := DirectoryResult{Duplicate: true}
		if res.Users, res.Devices, err = directoryCounts(ctx, tx, account); err != nil {
			return fail(err)
		}
		return res, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return fail(err)
	}

	at := t2i(now)
	type step struct {
		q    string
		n    int
		args func(i int) []any
	}
	steps := []step{
		{`DELETE FROM directory_users WHERE account_id = ? AND email = ?`, len(b.DeleteUsers),
			func(i int) []any { return []any{account, userKey(b.DeleteUsers[i])} }},
		{`DELETE FROM directory_devices WHERE account_id = ? AND id = ?`, len(b.DeleteDevices),
			func(i int) []any { return []any{account, strings.TrimSpace(b.DeleteDevices[i])} }},
		{`INSERT INTO directory_users (account_id, email, extension, first_name, last_name, services, role, system_id, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (account_id, email) DO UPDATE SET extension = excluded.extension,
			first_name = excluded.first_name, last_name = excluded.last_name, services = excluded.services, role = excluded.role,
			system_id = excluded.system_id, updated_at = excluded.updated_at`, len(b.UpsertUsers),
			func(i int) []any {
				u := b.UpsertUsers[i]
				var services string
				if len(u.Services) > 0 {
					j, _ := json.Marshal(u.Services)
					services = string(j)
				}
				return []any{account, userKey(u.Email), u.Extension, u.FirstName, u.LastName, services, u.Role, systemID, at}
			}},
		{`INSERT INTO directory_devices (account_id, id, extension, type, name, owner, system_id, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (account_id, id) DO UPDATE SET extension = excluded.extension,
			type = excluded.type, name = excluded.name, owner = excluded.owner, system_id = excluded.system_id,
			updated_at = excluded.updated_at`, len(b.UpsertDevices),
			func(i int) []any {
				d := b.UpsertDevices[i]
				return []any{account, strings.TrimSpace(d.ID), d.Extension, d.Type, d.Name, d.Owner, systemID, at}
			}},
	}
	for _, st := range steps {
		if st.n == 0 {
			continue
		}
		stmt, err := tx.PrepareContext(ctx, st.q)
		if err != nil {
			return fail(err)
		}
		for i := range st.n {
			if _, err := stmt.ExecContext(ctx, st.args(i)...); err != nil {
				stmt.Close()
				return fail(err)
			}
		}
		stmt.Close()
	}
	var res DirectoryResult
	if res.Users, res.Devices, err = directoryCounts(ctx, tx, account); err != nil {
		return fail(err)
	}
	if res.Users > MaxDirectoryUsers || res.Devices > MaxDirectoryDevices {
		return DirectoryResult{}, &DirectoryFullError{Users: res.Users, Devices: res.Devices,
			MaxUsers: MaxDirectoryUsers, MaxDevices: MaxDirectoryDevices}
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO directory_batches (account_id, system_id, id, applied_at, upsert_users,
		delete_users, upsert_devices, delete_devices) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, account, systemID, b.ID, at,
		len(b.UpsertUsers), len(b.DeleteUsers), len(b.UpsertDevices), len(b.DeleteDevices)); err != nil {
		return fail(err)
	}
	if err := tx.Commit(); err != nil {
		return fail(err)
	}
	return res, nil
}

type rowsQuerier interface {
	querier
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

func directoryCounts(ctx context.Context, q querier, account int64) (users, devices int, err error) {
	err = q.QueryRowContext(ctx, `SELECT (SELECT COUNT(*) FROM directory_users WHERE account_id = ?),
		(SELECT COUNT(*) FROM directory_devices WHERE account_id = ?)`, account, account).Scan(&users, &devices)
	if err != nil {
		return 0, 0, fmt.Errorf("count the directory of account %d: %w", account, err)
	}
	return users, devices, nil
}

// DirectorySummary counts the account's directory users, devices and
// applied batches.
func (s *Store) DirectorySummary(ctx context.Context, account int64) (DirectorySummary, error) {
	return directorySummary(ctx, s.db, account)
}

func directorySummary(ctx context.Context, q querier, account int64) (DirectorySummary, error) {
	var sum DirectorySummary
	var err error
	if sum.Users, sum.Devices, err = directoryCounts(ctx, q, account); err != nil {
		return DirectorySummary{}, err
	}
	var last int64
	if err := q.QueryRowContext(ctx, `SELECT COUNT(*), COALESCE(MAX(applied_at), 0) FROM directory_batches WHERE account_id = ?`,
		account).Scan(&sum.Batches, &last); err != nil {
		return DirectorySummary{}, fmt.Errorf("count the directory batches of account %d: %w", account, err)
	}
	sum.LastBatchAt = i2t(last)
	return sum, nil
}

// DirectoryUsers lists the account's directory users by e-mail.
func (s *Store) DirectoryUsers(ctx context.Context, account int64) ([]DirectoryUser, error) {
	return directoryUsers(ctx, s.db, account)
}

func directoryUsers(ctx context.Context, q rowsQuerier, account int64) ([]DirectoryUser, error) {
	rows, err := q.QueryContext(ctx, `SELECT email, extension, first_name, last_name, services, role, system_id, updated_at
		FROM directory_users WHERE account_id = ? ORDER BY email`, account)
	if err != nil {
		return nil, fmt.Errorf("list the directory users of account %d: %w", account, err)
	}
	defer rows.Close()
	var out []DirectoryUser
	for rows.Next() {
		var u DirectoryUser
		var services string
		var at int64
		if err := rows.Scan(&u.Email, &u.Extension, &u.FirstName, &u.LastName, &services, &u.Role, &u.SystemID, &at); err != nil {
			return nil, fmt.Errorf("list the directory users of account %d: %w", account, err)
		}
		if services != "" {
			if err := json.Unmarshal([]byte(services), &u.Services); err != nil {
				return nil, fmt.Errorf("directory user %s: services: %w", u.Email, err)
			}
		}
		u.UpdatedAt = i2t(at)
		out = append(out, u)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list the directory users of account %d: %w", account, err)
	}
	return out, nil
}

// DirectoryDevices lists the account's directory devices by ID.
func (s *Store) DirectoryDevices(ctx context.Context, account int64) ([]DirectoryDevice, error) {
	return directoryDevices(ctx, s.db, account)
}

func directoryDevices(ctx context.Context, q rowsQuerier, account int64) ([]DirectoryDevice, error) {
	rows, err := q.QueryContext(ctx, `SELECT id, extension, type, name, owner, system_id, updated_at
		FROM directory_devices WHERE account_id = ? ORDER BY id`, account)
	if err != nil {
		return nil, fmt.Errorf("list the directory devices of account %d: %w", account, err)
	}
	defer rows.Close()
	var out []DirectoryDevice
	for rows.Next() {
		var d DirectoryDevice
		var at int64
		if err := rows.Scan(&d.ID, &d.Extension, &d.Type, &d.Name, &d.Owner, &d.SystemID, &at); err != nil {
			return nil, fmt.Errorf("list the directory devices of account %d: %w", account, err)
		}
		d.UpdatedAt = i2t(at)
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list the directory devices of account %d: %w", account, err)
	}
	return out, nil
}

// Directory returns the account's whole directory, read in one (read-only)
// transaction so that the lists and counts agree.
func (s *Store) Directory(ctx context.Context, account int64) (Directory, error) {
	tx, err := s.db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return Directory{}, fmt.Errorf("read the directory of account %d: %w", account, err)
	}
	defer tx.Rollback()
	var d Directory
	if d.Summary, err = directorySummary(ctx, tx, account); err != nil {
		return Directory{}, err
	}
	if d.Users, err = directoryUsers(ctx, tx, account); err != nil {
		return Directory{}, err
	}
	if d.Devices, err = directoryDevices(ctx, tx, account); err != nil {
		return Directory{}, err
	}
	return d, nil
}
