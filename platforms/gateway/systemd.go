package gateway

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	sdbus "github.com/coreos/go-systemd/v22/dbus"
)

// SystemdConn is the part of a go-systemd D-Bus connection the driver
// uses; *dbus.Conn implements it, tests give a fake.
type SystemdConn interface {
	StartUnitContext(ctx context.Context, name, mode string, ch chan<- string) (int, error)
	StopUnitContext(ctx context.Context, name, mode string, ch chan<- string) (int, error)
	RestartUnitContext(ctx context.Context, name, mode string, ch chan<- string) (int, error)
	ResetFailedUnitContext(ctx context.Context, name string) error
	GetUnitPropertiesContext(ctx context.Context, unit string) (map[string]any, error)
	Connected() bool
	Close()
}

var _ SystemdConn = (*sdbus.Conn)(nil)

// DialSystemd connects to systemd: over the system bus, else (as root, on
// a host whose D-Bus daemon is down) over systemd's private socket. The
// connection lives until ctx is done or it is closed.
func DialSystemd(ctx context.Context) (SystemdConn, error) {
	c, err := sdbus.NewSystemConnectionContext(ctx)
	if err == nil {
		return c, nil
	}
	if os.Geteuid() != 0 {
		return nil, fmt.Errorf("connecting to systemd over the system bus: %w", err)
	}
	c, perr := sdbus.NewSystemdConnectionContext(ctx)
	if perr != nil {
		return nil, fmt.Errorf("connecting to systemd over the system bus: %v; over its private socket: %w", err, perr)
	}
	return c, nil
}

// SystemdRunning reports whether systemd runs the host: runDir
// (DefaultSystemdRunDir on the real root) exists, as sd_booted(3) checks.
func SystemdRunning(runDir string) bool {
	st, err := os.Lstat(runDir)
	return err == nil && st.IsDir()
}

// Systemd is the Manager of an instance's systemd unit over D-Bus. One
// connection is kept and made again after it broke.
type Systemd struct {
	unit       string
	dial       func(context.Context) (SystemdConn, error)
	jobTimeout time.Duration

	mu     sync.Mutex
	conn   SystemdConn
	cancel context.CancelFunc // ends conn's dial context
	closed bool
}

var _ Manager = (*Systemd)(nil)

// NewSystemd drives unit (e.g. clgw@default.service) through connections
// that dial makes; each job is awaited for at most jobTimeout.
func NewSystemd(unit string, dial func(context.Context) (SystemdConn, error), jobTimeout time.Duration) *Systemd {
	if dial == nil {
		dial = DialSystemd
	}
	if jobTimeout <= 0 {
		jobTimeout = DefaultJobTimeout
	}
	return &Systemd{unit: unit, dial: dial, jobTimeout: jobTimeout}
}

// Name implements Manager.
func (s *Systemd) Name() string { return ManagerSystemd }

// Unit is the unit driven.
func (s *Systemd) Unit() string { return s.unit }

// Start starts the unit (a failed unit's failure is reset first, so that a
// start limit hit earlier does not refuse it).
func (s *Systemd) Start(ctx context.Context) error {
	return s.job(ctx, "start", true, SystemdConn.StartUnitContext)
}

// Stop stops the unit.
func (s *Systemd) Stop(ctx context.Context) error {
	return s.job(ctx, "stop", false, SystemdConn.StopUnitContext)
}

// Restart restarts the unit (starting it when it is stopped).
func (s *Systemd) Restart(ctx context.Context) error {
	return s.job(ctx, "restart", true, SystemdConn.RestartUnitContext)
}

type jobCall func(c SystemdConn, ctx context.Context, name, mode string, ch chan<- string) (int, error)

// job queues one job with mode "replace" and waits for its result.
func (s *Systemd) job(ctx context.Context, verb string, resetFailed bool, call jobCall) error {
	ctx, cancel := context.WithTimeout(ctx, s.jobTimeout)
	defer cancel()
	conn, err := s.connection(ctx)
	if err != nil {
		return fmt.Errorf("cannot %s %s: %w", verb, s.unit, err)
	}
	if resetFailed {
		// Only a failed unit has anything to reset; the error of one that
		// is not failed (or not loaded) says nothing about the start.
		_ = conn.ResetFailedUnitContext(ctx, s.unit)
	}
	// Buffered: go-systemd sends the result while holding its job lock,
	// so a result that comes after we gave up must not block it.
	done := make(chan string, 1)
	if _, err := call(conn, ctx, s.unit, "replace", done); err != nil {
		s.checkConnection(conn)
		return fmt.Errorf("systemd refused to %s %s: %w", verb, s.unit, err)
	}
	select {
	case result := <-done:
		if result == "done" {
			return nil
		}
		return fmt.Errorf("systemd could not %s %s: its job ended %q; see systemctl status %s and journalctl -u %s", verb, s.unit, result, s.unit, s.unit)
	case <-ctx.Done():
		if !errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return fmt.Errorf("gave up waiting for systemd to %s %s (%w): the job may still be running; see systemctl status %s", verb, s.unit, ctx.Err(), s.unit)
		}
		return fmt.Errorf("systemd did not %s %s in time: the job may still be running; see systemctl status %s", verb, s.unit, s.unit)
	}
}

// Status reads the unit's LoadState, ActiveState and SubState.
func (s *Systemd) Status(ctx context.Context) (ServiceStatus, error) {
	ctx, cancel := context.WithTimeout(ctx, s.jobTimeout)
	defer cancel()
	conn, err := s.connection(ctx)
	if err != nil {
		return ServiceStatus{State: StateUnknown}, fmt.Errorf("cannot read the state of %s: %w", s.unit, err)
	}
	props, err := conn.GetUnitPropertiesContext(ctx, s.unit)
	if err != nil {
		s.checkConnection(conn)
		return ServiceStatus{State: StateUnknown}, fmt.Errorf("cannot read the state of %s from systemd: %w", s.unit, err)
	}
	return unitStatus(s.unit, props), nil
}

// unitStatus maps a unit's properties to a ServiceStatus.
func unitStatus(unit string, props map[string]any) ServiceStatus {
	str := func(k string) string { v, _ := props[k].(string); return v }
	load, active, sub := str("LoadState"), str("ActiveState"), str("SubState")
	st := ServiceStatus{State: StateUnknown, Detail: active}
	if sub != "" {
		st.Detail = fmt.Sprintf("%s (%s)", active, sub)
	}
	if load != "" && load != "loaded" {
		st.Detail = fmt.Sprintf("unit %s is %s", unit, load)
		if load == "not-found" {
			st.Detail = fmt.Sprintf("unit %s is not installed", unit)
		}
		return st
	}
	stamp := "StateChangeTimestamp"
	switch active {
	case "active", "reloading":
		st.State, stamp = StateRunning, "ActiveEnterTimestamp"
	case "activating":
		st.State = StateStarting
		if sub == "auto-restart" {
			st.State = StateFailed // exited; systemd restarts it after RestartSec
		}
	case "inactive", "deactivating":
		st.State, stamp = StateStopped, "InactiveEnterTimestamp"
	case "failed":
		st.State = StateFailed
	}
	if us, ok := props[stamp].(uint64); ok && us > 0 {
		st.Since = time.UnixMicro(int64(us))
	}
	return st
}

// connection is the kept connection, dialed when there is none. The
// dial's context outlives ctx (a godbus connection closes when its context
// ends) and ends when the connection is dropped. Calls on the connection
// run without s.mu (a go-systemd connection serves concurrent calls), so a
// long job does not hold up Status.
func (s *Systemd) connection(ctx context.Context) (SystemdConn, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, errors.New("the systemd manager is closed")
	}
	if s.conn != nil {
		return s.conn, nil
	}
	dctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	type dialed struct {
		c   SystemdConn
		err error
	}
	ch := make(chan dialed, 1)
	go func() {
		c, err := s.dial(dctx)
		ch <- dialed{c, err}
	}()
	select {
	case d := <-ch:
		if d.err != nil {
			cancel()
			return nil, d.err
		}
		s.conn, s.cancel = d.c, cancel
		return d.c, nil
	case <-ctx.Done():
		cancel()
		go func() {
			if d := <-ch; d.c != nil {
				d.c.Close()
			}
		}()
		return nil, fmt.Errorf("connecting to systemd: %w", ctx.Err())
	}
}

// checkConnection drops conn when it broke, so that the next call dials
// again.
func (s *Systemd) checkConnection(conn SystemdConn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conn == conn && !conn.Connected() {
		s.dropConnection()
	}
}

// dropConnection closes the kept connection (s.mu held).
func (s *Systemd) dropConnection() {
	if s.conn != nil {
		s.conn.Close()
		s.cancel()
		s.conn, s.cancel = nil, nil
	}
}

// Close closes the connection; the unit keeps running.
func (s *Systemd) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.dropConnection()
	s.closed = true
	return nil
}
