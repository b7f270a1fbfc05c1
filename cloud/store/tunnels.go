package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Tunnel is one tunnel a system reported (PUT of its tunnel list). UUID is
// the first label of its public host name; the caller derives it from the
// system and tunnel IDs.
type Tunnel struct {
	SystemID    string
	ID          string // slug, unique per system
	UUID        string
	Component   string
	Name        string
	Description string
	Status      string
	Reason      string
	Origin      string // host:port of the tunnel's local address, "" when not told
	UpdatedAt   time.Time
}

const tunnelCols = `t.system_id, t.id, t.uuid, t.component, t.name, t.description, t.status, t.reason, t.origin, t.updated_at`

func scanTunnel(sc interface{ Scan(...any) error }) (Tunnel, error) {
	var t Tunnel
	var updated int64
	err := sc.Scan(&t.SystemID, &t.ID, &t.UUID, &t.Component, &t.Name, &t.Description, &t.Status, &t.Reason, &t.Origin, &updated)
	t.UpdatedAt = i2t(updated)
	return t, err
}

// SetTunnels replaces the system's tunnel list with ts (in that order).
// Tunnels not in ts are removed. It returns ErrNotFound when the system
// does not exist.
func (s *Store) SetTunnels(ctx context.Context, systemID string, ts []Tunnel, now time.Time) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("save tunnels of system %s: %w", systemID, err)
	}
	defer tx.Rollback()
	if _, err := getSystem(ctx, tx, `WHERE s.id = ?`, systemID); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM tunnels WHERE system_id = ?`, systemID); err != nil {
		return fmt.Errorf("save tunnels of system %s: %w", systemID, err)
	}
	for i, t := range ts {
		_, err := tx.ExecContext(ctx, `INSERT INTO tunnels (system_id, id, uuid, position, component, name, description,
			status, reason, origin, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			systemID, t.ID, t.UUID, i, t.Component, t.Name, t.Description, t.Status, t.Reason, t.Origin, t2i(now))
		if isUniqueViolation(err) {
			return fmt.Errorf("save tunnel %s of system %s: %w", t.ID, systemID, ErrExists)
		}
		if err != nil {
			return fmt.Errorf("save tunnel %s of system %s: %w", t.ID, systemID, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("save tunnels of system %s: %w", systemID, err)
	}
	return nil
}

// SetTunnelsStatus sets the status (and reason) of every tunnel of the
// system, such as "stopped" when the system is removed.
func (s *Store) SetTunnelsStatus(ctx context.Context, systemID, status, reason string, now time.Time) error {
	_, err := s.db.ExecContext(ctx, `UPDATE tunnels SET status = ?, reason = ?, updated_at = ? WHERE system_id = ?`,
		status, reason, t2i(now), systemID)
	if err != nil {
		return fmt.Errorf("set status of the tunnels of system %s: %w", systemID, err)
	}
	return nil
}

// Tunnels lists the system's tunnels in the order last reported.
func (s *Store) Tunnels(ctx context.Context, systemID string) ([]Tunnel, error) {
	return s.queryTunnels(ctx, `SELECT `+tunnelCols+` FROM tunnels t WHERE t.system_id = ? ORDER BY t.position`, systemID)
}

// AccountTunnels lists the tunnels of every system of the account, by
// system ID.
func (s *Store) AccountTunnels(ctx context.Context, accountID int64) (map[string][]Tunnel, error) {
	ts, err := s.queryTunnels(ctx, `SELECT `+tunnelCols+` FROM tunnels t JOIN systems s ON s.id = t.system_id
		WHERE s.account_id = ? ORDER BY t.system_id, t.position`, accountID)
	if err != nil {
		return nil, err
	}
	out := map[string][]Tunnel{}
	for _, t := range ts {
		out[t.SystemID] = append(out[t.SystemID], t)
	}
	return out, nil
}

func (s *Store) queryTunnels(ctx context.Context, q string, args ...any) ([]Tunnel, error) {
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list tunnels: %w", err)
	}
	defer rows.Close()
	var out []Tunnel
	for rows.Next() {
		t, err := scanTunnel(rows)
		if err != nil {
			return nil, fmt.Errorf("list tunnels: %w", err)
		}
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list tunnels: %w", err)
	}
	return out, nil
}

// TunnelByUUID returns the tunnel with the public UUID and its system, or
// ErrNotFound.
func (s *Store) TunnelByUUID(ctx context.Context, uuid string) (Tunnel, System, error) {
	t, err := scanTunnel(s.db.QueryRowContext(ctx, `SELECT `+tunnelCols+` FROM tunnels t WHERE t.uuid = ?`, uuid))
	if errors.Is(err, sql.ErrNoRows) {
		return Tunnel{}, System{}, fmt.Errorf("tunnel %s: %w", uuid, ErrNotFound)
	}
	if err != nil {
		return Tunnel{}, System{}, fmt.Errorf("read tunnel %s: %w", uuid, err)
	}
	sys, err := s.SystemByID(ctx, t.SystemID)
	if err != nil {
		return Tunnel{}, System{}, err
	}
	return t, sys, nil
}
