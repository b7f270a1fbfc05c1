package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// Roles a user may have in an account (the same strings as cloudapi).
const (
	RoleAccountAdmin = "ACCOUNT_ADMIN"
	RoleUser         = "USER"
)

// Account is a CloudLink account.
type Account struct {
	ID        int64
	Name      string
	UUID      string // random v4, stable once created
	Region    string
	PartnerID string
	CreatedAt time.Time
}

// User is a person who signs in.
type User struct {
	ID           string // random UUID
	Email        string // lower case
	PasswordHash []byte // bcrypt
	CreatedAt    time.Time
}

// Membership is a user's role in one account.
type Membership struct {
	UserID  string
	Email   string
	Role    string
	Account Account
}

// IsAdmin reports whether the role is ACCOUNT_ADMIN.
func (m Membership) IsAdmin() bool { return m.Role == RoleAccountAdmin }

// NormalizeEmail lower-cases and trims an e-mail address.
func NormalizeEmail(e string) string { return strings.ToLower(strings.TrimSpace(e)) }

func isUniqueViolation(err error) bool {
	var se *sqlite.Error
	if errors.As(err, &se) {
		return se.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || se.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
	}
	return false
}

// CreateAccount adds an account; a.UUID is generated when empty. It returns
// ErrExists when the ID is taken.
func (s *Store) CreateAccount(ctx context.Context, a Account, now time.Time) (Account, error) {
	if a.UUID == "" {
		a.UUID = uuid.NewString()
	}
	a.CreatedAt = now.UTC()
	_, err := s.db.ExecContext(ctx,
		`INSERT INTO accounts (id, name, uuid, region, partner_id, created_at) VALUES (?, ?, ?, ?, ?, ?)`,
		a.ID, a.Name, a.UUID, a.Region, a.PartnerID, t2i(now))
	if isUniqueViolation(err) {
		return Account{}, fmt.Errorf("account %d: %w", a.ID, ErrExists)
	}
	if err != nil {
		return Account{}, fmt.Errorf("create account %d: %w", a.ID, err)
	}
	return a, nil
}

// EnsureAccount creates the account unless one with its ID exists, and
// returns the stored one (whose UUID stays as first created).
func (s *Store) EnsureAccount(ctx context.Context, a Account, now time.Time) (Account, error) {
	got, err := s.CreateAccount(ctx, a, now)
	if errors.Is(err, ErrExists) {
		return s.Account(ctx, a.ID)
	}
	return got, err
}

const accountCols = `id, name, uuid, region, partner_id, created_at`

func scanAccount(sc interface{ Scan(...any) error }) (Account, error) {
	var a Account
	var created int64
	err := sc.Scan(&a.ID, &a.Name, &a.UUID, &a.Region, &a.PartnerID, &created)
	a.CreatedAt = i2t(created)
	return a, err
}

// Account returns the account with the given ID, or ErrNotFound.
func (s *Store) Account(ctx context.Context, id int64) (Account, error) {
	a, err := scanAccount(s.db.QueryRowContext(ctx, `SELECT `+accountCols+` FROM accounts WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return Account{}, fmt.Errorf("account %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return Account{}, fmt.Errorf("read account %d: %w", id, err)
	}
	return a, nil
}

// Accounts lists all accounts by ID.
func (s *Store) Accounts(ctx context.Context) ([]Account, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+accountCols+` FROM accounts ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("list accounts: %w", err)
	}
	defer rows.Close()
	var out []Account
	for rows.Next() {
		a, err := scanAccount(rows)
		if err != nil {
			return nil, fmt.Errorf("list accounts: %w", err)
		}
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list accounts: %w", err)
	}
	return out, nil
}

// UpsertUser creates the user with the e-mail address, or, when it exists,
// replaces its password hash if passwordHash is not nil. created tells
// which happened. Creating a user needs a password hash.
func (s *Store) UpsertUser(ctx context.Context, email string, passwordHash []byte, now time.Time) (u User, created bool, err error) {
	email = NormalizeEmail(email)
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return User{}, false, fmt.Errorf("save user %s: %w", email, err)
	}
	defer tx.Rollback()
	u, err = scanUser(tx.QueryRowContext(ctx, `SELECT `+userCols+` FROM users WHERE email = ?`, email))
	switch {
	case errors.Is(err, sql.ErrNoRows):
		if len(passwordHash) == 0 {
			return User{}, false, fmt.Errorf("create user %s: a password is needed", email)
		}
		u = User{ID: uuid.NewString(), Email: email, PasswordHash: passwordHash, CreatedAt: now.UTC()}
		if _, err := tx.ExecContext(ctx, `INSERT INTO users (id, email, password_hash, created_at) VALUES (?, ?, ?, ?)`,
			u.ID, u.Email, u.PasswordHash, t2i(now)); err != nil {
			return User{}, false, fmt.Errorf("create user %s: %w", email, err)
		}
		created = true
	case err != nil:
		return User{}, false, fmt.Errorf("read user %s: %w", email, err)
	case passwordHash != nil:
		if _, err := tx.ExecContext(ctx, `UPDATE users SET password_hash = ? WHERE id = ?`, passwordHash, u.ID); err != nil {
			return User{}, false, fmt.Errorf("set password of %s: %w", email, err)
		}
		u.PasswordHash = passwordHash
	}
	if err := tx.Commit(); err != nil {
		return User{}, false, fmt.Errorf("save user %s: %w", email, err)
	}
	return u, created, nil
}

const userCols = `id, email, password_hash, created_at`

func scanUser(sc interface{ Scan(...any) error }) (User, error) {
	var u User
	var created int64
	err := sc.Scan(&u.ID, &u.Email, &u.PasswordHash, &created)
	u.CreatedAt = i2t(created)
	return u, err
}

// UserByEmail returns the user with the address, or ErrNotFound.
func (s *Store) UserByEmail(ctx context.Context, email string) (User, error) {
	email = NormalizeEmail(email)
	u, err := scanUser(s.db.QueryRowContext(ctx, `SELECT `+userCols+` FROM users WHERE email = ?`, email))
	if errors.Is(err, sql.ErrNoRows) {
		return User{}, fmt.Errorf("user %s: %w", email, ErrNotFound)
	}
	if err != nil {
		return User{}, fmt.Errorf("read user %s: %w", email, err)
	}
	return u, nil
}

// UserByID returns the user with the ID, or ErrNotFound.
func (s *Store) UserByID(ctx context.Context, id string) (User, error) {
	u, err := scanUser(s.db.QueryRowContext(ctx, `SELECT `+userCols+` FROM users WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return User{}, fmt.Errorf("user %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return User{}, fmt.Errorf("read user %s: %w", id, err)
	}
	return u, nil
}

// SetMembership gives the user the role in the account (adding or changing
// the membership). It returns ErrNotFound when the account does not exist.
func (s *Store) SetMembership(ctx context.Context, userID string, accountID int64, role string) error {
	if _, err := s.Account(ctx, accountID); err != nil {
		return err
	}
	_, err := s.db.ExecContext(ctx, `INSERT INTO memberships (user_id, account_id, role) VALUES (?, ?, ?)
		ON CONFLICT (user_id, account_id) DO UPDATE SET role = excluded.role`, userID, accountID, role)
	if err != nil {
		return fmt.Errorf("set membership of %s in account %d: %w", userID, accountID, err)
	}
	return nil
}

const membershipQuery = `SELECT m.user_id, u.email, m.role, a.id, a.name, a.uuid, a.region, a.partner_id, a.created_at
	FROM memberships m JOIN accounts a ON a.id = m.account_id JOIN users u ON u.id = m.user_id`

func scanMembership(sc interface{ Scan(...any) error }) (Membership, error) {
	var m Membership
	var created int64
	err := sc.Scan(&m.UserID, &m.Email, &m.Role, &m.Account.ID, &m.Account.Name, &m.Account.UUID,
		&m.Account.Region, &m.Account.PartnerID, &created)
	m.Account.CreatedAt = i2t(created)
	return m, err
}

func (s *Store) queryMemberships(ctx context.Context, where string, args ...any) ([]Membership, error) {
	rows, err := s.db.QueryContext(ctx, membershipQuery+" "+where, args...)
	if err != nil {
		return nil, fmt.Errorf("list memberships: %w", err)
	}
	defer rows.Close()
	var out []Membership
	for rows.Next() {
		m, err := scanMembership(rows)
		if err != nil {
			return nil, fmt.Errorf("list memberships: %w", err)
		}
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list memberships: %w", err)
	}
	return out, nil
}

// Memberships lists the user's accounts, by account ID.
func (s *Store) Memberships(ctx context.Context, userID string) ([]Membership, error) {
	return s.queryMemberships(ctx, `WHERE m.user_id = ? ORDER BY a.id`, userID)
}

// AllMemberships lists every user's memberships, by e-mail then account.
func (s *Store) AllMemberships(ctx context.Context) ([]Membership, error) {
	return s.queryMemberships(ctx, `ORDER BY u.email, a.id`)
}

// Membership returns the user's membership in the account, or ErrNotFound.
func (s *Store) Membership(ctx context.Context, userID string, accountID int64) (Membership, error) {
	m, err := scanMembership(s.db.QueryRowContext(ctx, membershipQuery+` WHERE m.user_id = ? AND m.account_id = ?`, userID, accountID))
	if errors.Is(err, sql.ErrNoRows) {
		return Membership{}, fmt.Errorf("membership of %s in account %d: %w", userID, accountID, ErrNotFound)
	}
	if err != nil {
		return Membership{}, fmt.Errorf("read membership: %w", err)
	}
	return m, nil
}
