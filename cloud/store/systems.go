package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
)

// How a system was revoked.
const (
	// RevokedInPortal: an administrator removed it in the portal.
	RevokedInPortal = "portal"
	// RevokedFromHost: the daemon unlinked it from the host.
	RevokedFromHost = "host"
)

// System is a linked (or formerly linked) host.
type System struct {
	ID             string // random UUID, kept when the same installation links again
	Account        Account
	InstallationID string
	MachineIDHash  string
	Hostname       string
	Version        string
	ClientID       string // device credentials: client id ("sys-…")
	SecretHash     string // SHA-256 hex of the client secret
	UserID         string // who linked it
	UserEmail      string
	Role           string // the linking user's role
	LinkedAt       time.Time
	RevokedAt      time.Time // zero while linked
	RevokedBy      string    // e-mail of the portal user, empty for an unlink from the host
	RevokeKind     string    // RevokedInPortal or RevokedFromHost
}

// Revoked reports whether the system was removed from its account.
func (s System) Revoked() bool { return !s.RevokedAt.IsZero() }

const systemQuery = `SELECT s.id, s.installation_id, s.machine_id_hash, s.hostname, s.version, s.client_id,
	s.secret_hash, s.user_id, s.user_email, s.role, s.linked_at, s.revoked_at, s.revoked_by, s.revoke_kind,
	a.id, a.name, a.uuid, a.region, a.partner_id, a.created_at
	FROM systems s JOIN accounts a ON a.id = s.account_id`

func scanSystem(sc interface{ Scan(...any) error }) (System, error) {
	var s System
	var linked, revoked, created int64
	err := sc.Scan(&s.ID, &s.InstallationID, &s.MachineIDHash, &s.Hostname, &s.Version, &s.ClientID,
		&s.SecretHash, &s.UserID, &s.UserEmail, &s.Role, &linked, &revoked, &s.RevokedBy, &s.RevokeKind,
		&s.Account.ID, &s.Account.Name, &s.Account.UUID, &s.Account.Region, &s.Account.PartnerID, &created)
	s.LinkedAt, s.RevokedAt, s.Account.CreatedAt = i2t(linked), i2t(revoked), i2t(created)
	return s, err
}

type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func getSystem(ctx context.Context, q querier, where string, args ...any) (System, error) {
	s, err := scanSystem(q.QueryRowContext(ctx, systemQuery+" "+where, args...))
	if errors.Is(err, sql.ErrNoRows) {
		return System{}, fmt.Errorf("system: %w", ErrNotFound)
	}
	if err != nil {
		return System{}, fmt.Errorf("read system: %w", err)
	}
	return s, nil
}

// RegisterSystem links sys to sys.Account.ID. When the account already has
// a system with the same InstallationID, that system keeps its ID and gets
// the new device credentials, host data and linking user; its revocation is
// cleared and every token of its old credentials is revoked. replaced tells
// which happened.
func (s *Store) RegisterSystem(ctx context.Context, sys System, now time.Time) (_ System, replaced bool, err error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return System{}, false, fmt.Errorf("register system: %w", err)
	}
	defer tx.Rollback()
	old, err := getSystem(ctx, tx, `WHERE s.account_id = ? AND s.installation_id = ?`, sys.Account.ID, sys.InstallationID)
	switch {
	case errors.Is(err, ErrNotFound):
		sys.ID = uuid.NewString()
		_, err = tx.ExecContext(ctx, `INSERT INTO systems (id, account_id, installation_id, machine_id_hash, hostname,
			version, client_id, secret_hash, user_id, user_email, role, linked_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			sys.ID, sys.Account.ID, sys.InstallationID, sys.MachineIDHash, sys.Hostname, sys.Version, sys.ClientID,
			sys.SecretHash, sys.UserID, sys.UserEmail, sys.Role, t2i(now))
		if err != nil {
			return System{}, false, fmt.Errorf("register system: %w", err)
		}
	case err != nil:
		return System{}, false, fmt.Errorf("register system: %w", err)
	default:
		replaced = true
		sys.ID = old.ID
		_, err = tx.ExecContext(ctx, `UPDATE systems SET machine_id_hash = ?, hostname = ?, version = ?, client_id = ?,
			secret_hash = ?, user_id = ?, user_email = ?, role = ?, linked_at = ?, revoked_at = 0, revoked_by = '',
			revoke_kind = '' WHERE id = ?`,
			sys.MachineIDHash, sys.Hostname, sys.Version, sys.ClientID, sys.SecretHash, sys.UserID, sys.UserEmail,
			sys.Role, t2i(now), sys.ID)
		if err != nil {
			return System{}, false, fmt.Errorf("register system %s again: %w", sys.ID, err)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE tokens SET revoked = 1 WHERE system_id = ?`, sys.ID); err != nil {
			return System{}, false, fmt.Errorf("revoke old tokens of system %s: %w", sys.ID, err)
		}
	}
	got, err := getSystem(ctx, tx, `WHERE s.id = ?`, sys.ID)
	if err != nil {
		return System{}, false, err
	}
	if err := tx.Commit(); err != nil {
		return System{}, false, fmt.Errorf("register system: %w", err)
	}
	return got, replaced, nil
}

// SystemByID returns the system, or ErrNotFound.
func (s *Store) SystemByID(ctx context.Context, id string) (System, error) {
	return getSystem(ctx, s.db, `WHERE s.id = ?`, id)
}

// SystemByClientID returns the system whose device credentials have the
// client id, or ErrNotFound.
func (s *Store) SystemByClientID(ctx context.Context, clientID string) (System, error) {
	return getSystem(ctx, s.db, `WHERE s.client_id = ?`, clientID)
}

// Systems lists an account's systems, linked and revoked, newest link first.
func (s *Store) Systems(ctx context.Context, accountID int64) ([]System, error) {
	rows, err := s.db.QueryContext(ctx, systemQuery+` WHERE s.account_id = ? ORDER BY s.linked_at DESC, s.id`, accountID)
	if err != nil {
		return nil, fmt.Errorf("list systems of account %d: %w", accountID, err)
	}
	defer rows.Close()
	var out []System
	for rows.Next() {
		sys, err := scanSystem(rows)
		if err != nil {
			return nil, fmt.Errorf("list systems of account %d: %w", accountID, err)
		}
		out = append(out, sys)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list systems of account %d: %w", accountID, err)
	}
	return out, nil
}

// RevokeSystem removes the system from its account: its device
// credentials stop working. kind is RevokedInPortal (by is the portal
// user's e-mail) or RevokedFromHost. Revoking a revoked system changes
// nothing and reports already.
func (s *Store) RevokeSystem(ctx context.Context, id, kind, by string, now time.Time) (_ System, already bool, err error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return System{}, false, fmt.Errorf("revoke system %s: %w", id, err)
	}
	defer tx.Rollback()
	sys, err := getSystem(ctx, tx, `WHERE s.id = ?`, id)
	if err != nil {
		return System{}, false, fmt.Errorf("revoke system %s: %w", id, err)
	}
	if sys.Revoked() {
		return sys, true, nil
	}
	if _, err := tx.ExecContext(ctx, `UPDATE systems SET revoked_at = ?, revoked_by = ?, revoke_kind = ? WHERE id = ?`,
		t2i(now), by, kind, id); err != nil {
		return System{}, false, fmt.Errorf("revoke system %s: %w", id, err)
	}
	if err := tx.Commit(); err != nil {
		return System{}, false, fmt.Errorf("revoke system %s: %w", id, err)
	}
	sys.RevokedAt, sys.RevokedBy, sys.RevokeKind = i2t(t2i(now)), by, kind
	return sys, false, nil
}
