package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Release stages.
const (
	StageProduction  = "production"
	StageBeta        = "beta"
	StageDevelopment = "development"
)

// ValidStage tells whether s is a release stage.
func ValidStage(s string) bool {
	return s == StageProduction || s == StageBeta || s == StageDevelopment
}

// Release is one published binary: a version of a stage for one
// architecture, signed.
type Release struct {
	ID          int64
	Stage       string
	Version     string
	Arch        string
	Commit      string
	Notes       string
	MinVersion  string
	Size        int64
	SHA256      string // hex
	Signature   string // minisign, text
	PublishedAt time.Time
	WithdrawnAt time.Time // zero while offered
}

const releaseCols = `id, stage, version, arch, commit_id, notes, min_version, size, sha256, signature, published_at, withdrawn_at`

// scanRelease reads releaseCols, then extra columns into extra.
func scanRelease(sc interface{ Scan(...any) error }, extra ...any) (Release, error) {
	var r Release
	var pub, wd int64
	err := sc.Scan(append([]any{&r.ID, &r.Stage, &r.Version, &r.Arch, &r.Commit, &r.Notes, &r.MinVersion, &r.Size, &r.SHA256, &r.Signature, &pub, &wd}, extra...)...)
	r.PublishedAt, r.WithdrawnAt = i2t(pub), i2t(wd)
	return r, err
}

// PublishRelease stores a signed binary; publishing the same stage,
// version and architecture twice is ErrExists.
func (s *Store) PublishRelease(ctx context.Context, r Release, binary []byte, now time.Time) (Release, error) {
	if !ValidStage(r.Stage) {
		return r, fmt.Errorf("publish release: stage %q is not production, beta or development", r.Stage)
	}
	res, err := s.db.ExecContext(ctx, `INSERT INTO releases (stage, version, arch, commit_id, notes, min_version, size, sha256, signature, published_at, binary)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, r.Stage, r.Version, r.Arch, r.Commit, r.Notes, r.MinVersion, int64(len(binary)), r.SHA256, r.Signature, t2i(now), binary)
	if isUniqueViolation(err) {
		return r, fmt.Errorf("publish release %s %s %s: %w", r.Stage, r.Version, r.Arch, ErrExists)
	}
	if err != nil {
		return r, fmt.Errorf("publish release %s %s %s: %w", r.Stage, r.Version, r.Arch, err)
	}
	r.ID, _ = res.LastInsertId()
	r.Size, r.PublishedAt = int64(len(binary)), now
	return r, nil
}

// Releases lists a stage's releases (every stage for ""), newest first.
func (s *Store) Releases(ctx context.Context, stage string) ([]Release, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+releaseCols+` FROM releases WHERE ? = '' OR stage = ? ORDER BY published_at DESC, id DESC`, stage, stage)
	if err != nil {
		return nil, fmt.Errorf("list releases: %w", err)
	}
	defer rows.Close()
	var out []Release
	for rows.Next() {
		r, err := scanRelease(rows)
		if err != nil {
			return nil, fmt.Errorf("list releases: %w", err)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// LatestRelease is the newest offered (not withdrawn) version of a stage,
// one Release per architecture; ErrNotFound when the stage offers none.
func (s *Store) LatestRelease(ctx context.Context, stage string) ([]Release, error) {
	all, err := s.Releases(ctx, stage)
	if err != nil {
		return nil, err
	}
	var out []Release
	for _, r := range all {
		if !r.WithdrawnAt.IsZero() {
			continue
		}
		if len(out) > 0 && r.Version != out[0].Version {
			break
		}
		out = append(out, r)
	}
	if len(out) == 0 {
		return nil, ErrNotFound
	}
	return out, nil
}

// WithdrawRelease stops offering a stage's version (every architecture);
// ErrNotFound when nothing offered matches.
func (s *Store) WithdrawRelease(ctx context.Context, stage, version string, now time.Time) error {
	res, err := s.db.ExecContext(ctx, `UPDATE releases SET withdrawn_at = ? WHERE stage = ? AND version = ? AND withdrawn_at = 0`, t2i(now), stage, version)
	if err != nil {
		return fmt.Errorf("withdraw release %s %s: %w", stage, version, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("withdraw release %s %s: %w", stage, version, ErrNotFound)
	}
	return nil
}

// ReleaseBinary is a release's binary, and the release.
func (s *Store) ReleaseBinary(ctx context.Context, id int64) (Release, []byte, error) {
	var bin []byte
	r, err := scanRelease(s.db.QueryRowContext(ctx, `SELECT `+releaseCols+`, binary FROM releases WHERE id = ?`, id), &bin)
	if errors.Is(err, sql.ErrNoRows) {
		return r, nil, fmt.Errorf("release %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return r, nil, fmt.Errorf("release %d: %w", id, err)
	}
	return r, bin, nil
}

// SetSystemStage puts a system on a release stage.
func (s *Store) SetSystemStage(ctx context.Context, systemID, stage string) error {
	if !ValidStage(stage) {
		return fmt.Errorf("stage %q is not production, beta or development", stage)
	}
	if _, err := s.SystemByID(ctx, systemID); err != nil {
		return err
	}
	_, err := s.db.ExecContext(ctx, `INSERT INTO system_stages (system_id, stage) VALUES (?, ?)
		ON CONFLICT (system_id) DO UPDATE SET stage = excluded.stage`, systemID, stage)
	if err != nil {
		return fmt.Errorf("set the stage of system %s: %w", systemID, err)
	}
	return nil
}

// SystemStage is a system's release stage (production unless set).
func (s *Store) SystemStage(ctx context.Context, systemID string) (string, error) {
	var stage string
	err := s.db.QueryRowContext(ctx, `SELECT stage FROM system_stages WHERE system_id = ?`, systemID).Scan(&stage)
	if errors.Is(err, sql.ErrNoRows) {
		return StageProduction, nil
	}
	if err != nil {
		return "", fmt.Errorf("the stage of system %s: %w", systemID, err)
	}
	return stage, nil
}
