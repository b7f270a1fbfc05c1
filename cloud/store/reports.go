package store

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"
)

// MaxReportsPerSystem is how many inventory reports the store keeps per
// system: adding one more deletes the oldest (by order of receipt). A
// retry of a report deleted that way would be stored again; the daemon
// retries only its newest unsent report, so that does not happen in
// practice.
const MaxReportsPerSystem = 100

// maxStoredJSON bounds the decompression of a stored report (the cloud
// stores at most cloudapi.MaxInventoryBytes; this is only a guard).
const maxStoredJSON = 64 << 20

// Report is one inventory report a system sent: the JSON exactly as
// received (stored gzip-compressed) and the facts the portal's systems
// table shows, taken from it by the caller.
//
// Version on the systems page is PlatformVersion (the version of the
// platform named by PlatformName); the daemon's own version is
// DaemonVersion.
type Report struct {
	Seq           int64 // order of receipt, increasing
	SystemID      string
	ID            string // the report's own ID; unique per system
	ReceivedAt    time.Time
	GeneratedAt   time.Time
	SchemaVersion int
	Trigger       string   // link, start, daily, change, manual
	Changes       []string // what changed, for Trigger "change"

	Hostname         string
	PlatformType     string
	PlatformName     string
	PlatformParent   string // SMBC: the parent platform of the child that reports
	PlatformVersion  string
	ApplicationTypes string // comma-separated, in report order
	DaemonVersion    string
	LicenseType      string
	LicenseExpires   time.Time // zero: none given
	SWAStatus        string
	SWAExpiry        time.Time // zero: none given

	// JSON is the report as received. The listing methods leave it nil
	// (Size and SHA256 are always set).
	JSON   []byte
	Size   int
	SHA256 string // hex of the JSON's SHA-256
}

const reportCols = `r.seq, r.system_id, r.id, r.received_at, r.generated_at, r.schema_version, r.report_trigger, r.changes,
	r.hostname, r.platform_type, r.platform_name, r.platform_parent, r.platform_version, r.application_types,
	r.daemon_version, r.license_type, r.license_expires, r.swa_status, r.swa_expiry, r.json_size, r.json_sha256`

func scanReport(sc interface{ Scan(...any) error }, withJSON bool) (Report, error) {
	var r Report
	var received, generated, licExp, swaExp int64
	var changes string
	var gz []byte
	dest := []any{&r.Seq, &r.SystemID, &r.ID, &received, &generated, &r.SchemaVersion, &r.Trigger, &changes,
		&r.Hostname, &r.PlatformType, &r.PlatformName, &r.PlatformParent, &r.PlatformVersion, &r.ApplicationTypes,
		&r.DaemonVersion, &r.LicenseType, &licExp, &r.SWAStatus, &swaExp, &r.Size, &r.SHA256}
	if withJSON {
		dest = append(dest, &gz)
	}
	if err := sc.Scan(dest...); err != nil {
		return Report{}, err
	}
	r.ReceivedAt, r.GeneratedAt, r.LicenseExpires, r.SWAExpiry = i2t(received), i2t(generated), i2t(licExp), i2t(swaExp)
	if changes != "" {
		if err := json.Unmarshal([]byte(changes), &r.Changes); err != nil {
			return Report{}, fmt.Errorf("report %s: changes: %w", r.ID, err)
		}
	}
	if withJSON {
		zr, err := gzip.NewReader(bytes.NewReader(gz))
		if err != nil {
			return Report{}, fmt.Errorf("report %s: decompress: %w", r.ID, err)
		}
		if r.JSON, err = io.ReadAll(io.LimitReader(zr, maxStoredJSON)); err != nil {
			return Report{}, fmt.Errorf("report %s: decompress: %w", r.ID, err)
		}
	}
	return r, nil
}

// AddReport stores a report of r.SystemID received at r.ReceivedAt, unless
// the system already has a report with r.ID: then it stores nothing and
// returns the stored one (without JSON) with duplicate true. Beyond
// MaxReportsPerSystem, the oldest reports of the system are deleted. It
// returns ErrNotFound when the system does not exist.
func (s *Store) AddReport(ctx context.Context, r Report) (_ Report, duplicate bool, err error) {
	if r.SystemID == "" || r.ID == "" {
		return Report{}, false, errors.New("add report: no system or report ID")
	}
	var gz bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&gz, gzip.BestSpeed)
	zw.Write(r.JSON)
	if err := zw.Close(); err != nil {
		return Report{}, false, fmt.Errorf("add report: compress: %w", err)
	}
	sum := sha256.Sum256(r.JSON)
	r.Size, r.SHA256 = len(r.JSON), hex.EncodeToString(sum[:])
	var changes string
	if len(r.Changes) > 0 {
		b, _ := json.Marshal(r.Changes)
		changes = string(b)
	}

	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return Report{}, false, fmt.Errorf("add report: %w", err)
	}
	defer tx.Rollback()
	if _, err := getSystem(ctx, tx, `WHERE s.id = ?`, r.SystemID); err != nil {
		return Report{}, false, err
	}
	old, err := scanReport(tx.QueryRowContext(ctx, `SELECT `+reportCols+` FROM reports r WHERE r.system_id = ? AND r.id = ?`,
		r.SystemID, r.ID), false)
	if err == nil {
		return old, true, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return Report{}, false, fmt.Errorf("add report %s of system %s: %w", r.ID, r.SystemID, err)
	}
	res, err := tx.ExecContext(ctx, `INSERT INTO reports (system_id, id, received_at, generated_at, schema_version,
		report_trigger, changes, hostname, platform_type, platform_name, platform_parent, platform_version,
		application_types, daemon_version, license_type, license_expires, swa_status, swa_expiry, json_size,
		json_sha256, json_gz) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		r.SystemID, r.ID, t2i(r.ReceivedAt), t2i(r.GeneratedAt), r.SchemaVersion, r.Trigger, changes,
		r.Hostname, r.PlatformType, r.PlatformName, r.PlatformParent, r.PlatformVersion, r.ApplicationTypes,
		r.DaemonVersion, r.LicenseType, t2i(r.LicenseExpires), r.SWAStatus, t2i(r.SWAExpiry), r.Size, r.SHA256, gz.Bytes())
	if err != nil {
		return Report{}, false, fmt.Errorf("add report %s of system %s: %w", r.ID, r.SystemID, err)
	}
	if r.Seq, err = res.LastInsertId(); err != nil {
		return Report{}, false, fmt.Errorf("add report %s of system %s: %w", r.ID, r.SystemID, err)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM reports WHERE system_id = ? AND seq <= (SELECT seq FROM reports
		WHERE system_id = ? ORDER BY seq DESC LIMIT 1 OFFSET ?)`, r.SystemID, r.SystemID, MaxReportsPerSystem); err != nil {
		return Report{}, false, fmt.Errorf("delete old reports of system %s: %w", r.SystemID, err)
	}
	if err := tx.Commit(); err != nil {
		return Report{}, false, fmt.Errorf("add report %s of system %s: %w", r.ID, r.SystemID, err)
	}
	r.ReceivedAt, r.GeneratedAt = i2t(t2i(r.ReceivedAt)), i2t(t2i(r.GeneratedAt))
	r.LicenseExpires, r.SWAExpiry = i2t(t2i(r.LicenseExpires)), i2t(t2i(r.SWAExpiry))
	return r, false, nil
}

// Report returns one report of the system with its JSON, or ErrNotFound.
func (s *Store) Report(ctx context.Context, systemID, id string) (Report, error) {
	return s.oneReport(ctx, `WHERE r.system_id = ? AND r.id = ?`, systemID, id)
}

// LatestReport returns the report the system sent last (in order of
// receipt) with its JSON, or ErrNotFound when it sent none.
func (s *Store) LatestReport(ctx context.Context, systemID string) (Report, error) {
	return s.oneReport(ctx, `WHERE r.system_id = ? ORDER BY r.seq DESC LIMIT 1`, systemID)
}

func (s *Store) oneReport(ctx context.Context, where string, args ...any) (Report, error) {
	r, err := scanReport(s.db.QueryRowContext(ctx, `SELECT `+reportCols+`, r.json_gz FROM reports r `+where, args...), true)
	if errors.Is(err, sql.ErrNoRows) {
		return Report{}, fmt.Errorf("report: %w", ErrNotFound)
	}
	if err != nil {
		return Report{}, fmt.Errorf("read report: %w", err)
	}
	return r, nil
}

// Reports lists the system's stored reports without their JSON, newest
// (last received) first.
func (s *Store) Reports(ctx context.Context, systemID string) ([]Report, error) {
	return s.queryReports(ctx, `SELECT `+reportCols+` FROM reports r WHERE r.system_id = ? ORDER BY r.seq DESC`, systemID)
}

// LatestReports returns the last received report (without JSON) of every
// system of the account that sent one, by system ID.
func (s *Store) LatestReports(ctx context.Context, accountID int64) (map[string]Report, error) {
	rs, err := s.queryReports(ctx, `SELECT `+reportCols+` FROM reports r WHERE r.seq IN (SELECT MAX(r2.seq) FROM reports r2
		JOIN systems s ON s.id = r2.system_id WHERE s.account_id = ? GROUP BY r2.system_id)`, accountID)
	if err != nil {
		return nil, err
	}
	out := make(map[string]Report, len(rs))
	for _, r := range rs {
		out[r.SystemID] = r
	}
	return out, nil
}

// ReportCount is how many reports of the system are stored.
func (s *Store) ReportCount(ctx context.Context, systemID string) (int, error) {
	var n int
	if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM reports WHERE system_id = ?`, systemID).Scan(&n); err != nil {
		return 0, fmt.Errorf("count reports of system %s: %w", systemID, err)
	}
	return n, nil
}

func (s *Store) queryReports(ctx context.Context, q string, args ...any) ([]Report, error) {
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list reports: %w", err)
	}
	defer rows.Close()
	var out []Report
	for rows.Next() {
		r, err := scanReport(rows, false)
		if err != nil {
			return nil, fmt.Errorf("list reports: %w", err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list reports: %w", err)
	}
	return out, nil
}
