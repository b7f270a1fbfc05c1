package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// Setting names.
const settingClockOffset = "clock_offset"

// ClockOffset is how far the cloud's clock runs ahead of the host's
// (negative: behind), as last set, and when it was set. It is 0 with a zero
// time when it was never set.
func (s *Store) ClockOffset(ctx context.Context) (time.Duration, time.Time, error) {
	v, at, err := s.setting(ctx, settingClockOffset)
	if errors.Is(err, ErrNotFound) {
		return 0, time.Time{}, nil
	}
	if err != nil {
		return 0, time.Time{}, fmt.Errorf("read the clock offset: %w", err)
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0, time.Time{}, fmt.Errorf("read the clock offset: stored value %q is not a number of nanoseconds", v)
	}
	return time.Duration(n), at, nil
}

// SetClockOffset stores the cloud's clock offset; a running server picks it
// up within a second.
func (s *Store) SetClockOffset(ctx context.Context, d time.Duration, now time.Time) error {
	if err := s.setSetting(ctx, settingClockOffset, strconv.FormatInt(int64(d), 10), now); err != nil {
		return fmt.Errorf("save the clock offset: %w", err)
	}
	return nil
}

func (s *Store) setting(ctx context.Context, name string) (string, time.Time, error) {
	var v string
	var at int64
	err := s.db.QueryRowContext(ctx, `SELECT value, updated_at FROM settings WHERE name = ?`, name).Scan(&v, &at)
	if errors.Is(err, sql.ErrNoRows) {
		return "", time.Time{}, ErrNotFound
	}
	return v, i2t(at), err
}

func (s *Store) setSetting(ctx context.Context, name, value string, now time.Time) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO settings (name, value, updated_at) VALUES (?, ?, ?)
		ON CONFLICT (name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`,
		name, value, t2i(now))
	return err
}
