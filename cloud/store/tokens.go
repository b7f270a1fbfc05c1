package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Token kinds.
const (
	KindAccess  = "access"
	KindRefresh = "refresh"
)

// Token is an issued OAuth token, identified by the SHA-256 hash of its
// value. A user token has UserID; a system's device token has SystemID.
type Token struct {
	Hash       string
	Kind       string // KindAccess or KindRefresh
	ClientID   string
	UserID     string
	SystemID   string
	AccountID  int64
	Scope      string
	ParentHash string // an access token's refresh token, if any
	CodeHash   string // the authorization code it was issued for, if any
	CreatedAt  time.Time
	ExpiresAt  time.Time
	Revoked    bool
}

// Valid reports whether the token is neither revoked nor expired at now.
func (t Token) Valid(now time.Time) bool { return !t.Revoked && now.Before(t.ExpiresAt) }

func insertTokens(ctx context.Context, ex interface {
	ExecContext(context.Context, string, ...any) (sql.Result, error)
}, toks []Token) error {
	for _, t := range toks {
		_, err := ex.ExecContext(ctx, `INSERT INTO tokens (hash, kind, client_id, user_id, system_id, account_id, scope,
			parent_hash, code_hash, created_at, expires_at, revoked) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			t.Hash, t.Kind, t.ClientID, t.UserID, t.SystemID, t.AccountID, t.Scope, t.ParentHash, t.CodeHash,
			t2i(t.CreatedAt), t2i(t.ExpiresAt), b2i(t.Revoked))
		if err != nil {
			return fmt.Errorf("store %s token: %w", t.Kind, err)
		}
	}
	return nil
}

// InsertTokens stores tokens in one transaction.
func (s *Store) InsertTokens(ctx context.Context, toks ...Token) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store tokens: %w", err)
	}
	defer tx.Rollback()
	if err := insertTokens(ctx, tx, toks); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store tokens: %w", err)
	}
	return nil
}

// Token returns the token with the hash, or ErrNotFound.
func (s *Store) Token(ctx context.Context, hash string) (Token, error) {
	var t Token
	var created, expires int64
	var revoked int
	err := s.db.QueryRowContext(ctx, `SELECT hash, kind, client_id, user_id, system_id, account_id, scope, parent_hash,
		code_hash, created_at, expires_at, revoked FROM tokens WHERE hash = ?`, hash).Scan(
		&t.Hash, &t.Kind, &t.ClientID, &t.UserID, &t.SystemID, &t.AccountID, &t.Scope, &t.ParentHash,
		&t.CodeHash, &created, &expires, &revoked)
	if errors.Is(err, sql.ErrNoRows) {
		return Token{}, fmt.Errorf("token: %w", ErrNotFound)
	}
	if err != nil {
		return Token{}, fmt.Errorf("read token: %w", err)
	}
	t.CreatedAt, t.ExpiresAt, t.Revoked = i2t(created), i2t(expires), revoked != 0
	return t, nil
}

// RotateRefresh marks the refresh token oldHash used and stores the new
// tokens, atomically. It returns ErrUsed when oldHash was already used or
// revoked (a concurrent rotation lost the race).
func (s *Store) RotateRefresh(ctx context.Context, oldHash string, toks ...Token) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("rotate refresh token: %w", err)
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, `UPDATE tokens SET revoked = 1 WHERE hash = ? AND kind = ? AND revoked = 0`, oldHash, KindRefresh)
	if err != nil {
		return fmt.Errorf("rotate refresh token: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil || n != 1 {
		return fmt.Errorf("rotate refresh token: %w", ErrUsed)
	}
	if err := insertTokens(ctx, tx, toks); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("rotate refresh token: %w", err)
	}
	return nil
}

// RevokeToken revokes the token with the hash and, for a refresh token, the
// access tokens issued with it. It reports whether a token was found.
func (s *Store) RevokeToken(ctx context.Context, hash string) (bool, error) {
	res, err := s.db.ExecContext(ctx, `UPDATE tokens SET revoked = 1 WHERE hash = ?1 OR parent_hash = ?1`, hash)
	if err != nil {
		return false, fmt.Errorf("revoke token: %w", err)
	}
	n, err := res.RowsAffected()
	return n > 0, err
}

// RevokeCodeTokens revokes every token issued for an authorization code
// (used when the code is presented a second time).
func (s *Store) RevokeCodeTokens(ctx context.Context, codeHash string) error {
	if _, err := s.db.ExecContext(ctx, `UPDATE tokens SET revoked = 1 WHERE code_hash = ?`, codeHash); err != nil {
		return fmt.Errorf("revoke tokens of a reused code: %w", err)
	}
	return nil
}

// Code is an OAuth authorization code, identified by its SHA-256 hash.
type Code struct {
	Hash          string
	ClientID      string
	RedirectURI   string
	CodeChallenge string // PKCE S256 challenge
	UserID        string
	AccountID     int64
	Scope         string
	CreatedAt     time.Time
	ExpiresAt     time.Time
	Used          bool
}

// InsertCode stores an authorization code.
func (s *Store) InsertCode(ctx context.Context, c Code) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO codes (hash, client_id, redirect_uri, code_challenge, user_id, account_id,
		scope, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		c.Hash, c.ClientID, c.RedirectURI, c.CodeChallenge, c.UserID, c.AccountID, c.Scope, t2i(c.CreatedAt), t2i(c.ExpiresAt))
	if err != nil {
		return fmt.Errorf("store authorization code: %w", err)
	}
	return nil
}

// ConsumeCode marks the code used and returns it. A code that was used
// before is returned with ErrUsed; an unknown one gives ErrNotFound. The
// caller checks expiry and bindings.
func (s *Store) ConsumeCode(ctx context.Context, hash string) (Code, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return Code{}, fmt.Errorf("use authorization code: %w", err)
	}
	defer tx.Rollback()
	var c Code
	var created, expires int64
	var used int
	err = tx.QueryRowContext(ctx, `SELECT hash, client_id, redirect_uri, code_challenge, user_id, account_id, scope,
		created_at, expires_at, used FROM codes WHERE hash = ?`, hash).Scan(&c.Hash, &c.ClientID, &c.RedirectURI,
		&c.CodeChallenge, &c.UserID, &c.AccountID, &c.Scope, &created, &expires, &used)
	if errors.Is(err, sql.ErrNoRows) {
		return Code{}, fmt.Errorf("authorization code: %w", ErrNotFound)
	}
	if err != nil {
		return Code{}, fmt.Errorf("read authorization code: %w", err)
	}
	c.CreatedAt, c.ExpiresAt, c.Used = i2t(created), i2t(expires), used != 0
	if c.Used {
		return c, fmt.Errorf("authorization code: %w", ErrUsed)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE codes SET used = 1 WHERE hash = ?`, hash); err != nil {
		return Code{}, fmt.Errorf("use authorization code: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return Code{}, fmt.Errorf("use authorization code: %w", err)
	}
	return c, nil
}

// Session kinds.
const (
	// SessionPortal is a signed-in portal session.
	SessionPortal = "portal"
	// SessionPending is a verified sign-in that still needs an account
	// number.
	SessionPending = "pending"
	// SessionEdge is a browser's session at one public tunnel host name
	// (Binding is the host name).
	SessionEdge = "edge"
	// SessionEdgeTicket is a one-time ticket the portal hands to the edge
	// to start a SessionEdge (Binding is the host name).
	SessionEdgeTicket = "edge_ticket"
)

// Session is a browser session or a pending sign-in, identified by the
// SHA-256 hash of its random id.
type Session struct {
	Hash      string
	Kind      string
	UserID    string
	AccountID int64  // the chosen account (0 while pending)
	Binding   string // what a pending sign-in belongs to (e.g. a hash of the OAuth request)
	CreatedAt time.Time
	ExpiresAt time.Time
}

// InsertSession stores a session.
func (s *Store) InsertSession(ctx context.Context, se Session) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO sessions (hash, kind, user_id, account_id, binding, created_at, expires_at)
		VALUES (?, ?, ?, ?, ?, ?, ?)`, se.Hash, se.Kind, se.UserID, se.AccountID, se.Binding, t2i(se.CreatedAt), t2i(se.ExpiresAt))
	if err != nil {
		return fmt.Errorf("store session: %w", err)
	}
	return nil
}

// Session returns the session of the kind with the hash if it has not
// expired at now, else ErrNotFound.
func (s *Store) Session(ctx context.Context, hash, kind string, now time.Time) (Session, error) {
	var se Session
	var created, expires int64
	err := s.db.QueryRowContext(ctx, `SELECT hash, kind, user_id, account_id, binding, created_at, expires_at
		FROM sessions WHERE hash = ? AND kind = ?`, hash, kind).Scan(&se.Hash, &se.Kind, &se.UserID, &se.AccountID,
		&se.Binding, &created, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return Session{}, fmt.Errorf("session: %w", ErrNotFound)
	}
	if err != nil {
		return Session{}, fmt.Errorf("read session: %w", err)
	}
	se.CreatedAt, se.ExpiresAt = i2t(created), i2t(expires)
	if !now.Before(se.ExpiresAt) {
		return Session{}, fmt.Errorf("session expired: %w", ErrNotFound)
	}
	return se, nil
}

// ConsumeSession deletes the session of the kind with the hash and returns
// it, so that it can be used only once. It returns ErrNotFound when there
// is none or it expired at now.
func (s *Store) ConsumeSession(ctx context.Context, hash, kind string, now time.Time) (Session, error) {
	var se Session
	var created, expires int64
	err := s.db.QueryRowContext(ctx, `DELETE FROM sessions WHERE hash = ? AND kind = ?
		RETURNING hash, kind, user_id, account_id, binding, created_at, expires_at`, hash, kind).Scan(
		&se.Hash, &se.Kind, &se.UserID, &se.AccountID, &se.Binding, &created, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return Session{}, fmt.Errorf("session: %w", ErrNotFound)
	}
	if err != nil {
		return Session{}, fmt.Errorf("use session: %w", err)
	}
	se.CreatedAt, se.ExpiresAt = i2t(created), i2t(expires)
	if !now.Before(se.ExpiresAt) {
		return Session{}, fmt.Errorf("session expired: %w", ErrNotFound)
	}
	return se, nil
}

// DeleteUserSessions removes every session of the kind that belongs to the
// user (such as the tunnel edge sessions at a portal sign-out).
func (s *Store) DeleteUserSessions(ctx context.Context, userID, kind string) error {
	if _, err := s.db.ExecContext(ctx, `DELETE FROM sessions WHERE user_id = ? AND kind = ?`, userID, kind); err != nil {
		return fmt.Errorf("delete sessions: %w", err)
	}
	return nil
}

// SetSessionAccount changes a session's chosen account.
func (s *Store) SetSessionAccount(ctx context.Context, hash string, accountID int64) error {
	if _, err := s.db.ExecContext(ctx, `UPDATE sessions SET account_id = ? WHERE hash = ?`, accountID, hash); err != nil {
		return fmt.Errorf("switch account: %w", err)
	}
	return nil
}

// DeleteSession removes a session (sign-out, or a pending sign-in that was
// completed).
func (s *Store) DeleteSession(ctx context.Context, hash string) error {
	if _, err := s.db.ExecContext(ctx, `DELETE FROM sessions WHERE hash = ?`, hash); err != nil {
		return fmt.Errorf("delete session: %w", err)
	}
	return nil
}

// PurgeExpired deletes tokens, codes and sessions that expired before now.
func (s *Store) PurgeExpired(ctx context.Context, now time.Time) error {
	n := t2i(now)
	for _, q := range []string{
		`DELETE FROM tokens WHERE expires_at < ?`,
		`DELETE FROM codes WHERE expires_at < ?`,
		`DELETE FROM sessions WHERE expires_at < ?`,
	} {
		if _, err := s.db.ExecContext(ctx, q, n); err != nil {
			return fmt.Errorf("purge expired records: %w", err)
		}
	}
	return nil
}
