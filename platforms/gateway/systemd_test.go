package gateway

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeSystemd is a D-Bus connection to a pretend systemd: jobs end with
// result (none when result is ""), the unit's properties are props.
type fakeSystemd struct {
	mu        sync.Mutex
	calls     []string
	result    string
	callErr   error
	props     map[string]any
	propsErr  error
	connected bool
	closed    bool
	wg        sync.WaitGroup
}

func newFakeSystemd() *fakeSystemd {
	return &fakeSystemd{result: "done", connected: true, props: map[string]any{
		"LoadState": "loaded", "ActiveState": "inactive", "SubState": "dead"}}
}

func (f *fakeSystemd) record(s string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, s)
}

func (f *fakeSystemd) Calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

func (f *fakeSystemd) job(verb, name, mode string, ch chan<- string, active, sub string) (int, error) {
	f.record(fmt.Sprintf("%s %s %s", verb, name, mode))
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.callErr != nil {
		return 0, f.callErr
	}
	if f.result == "done" {
		f.props["ActiveState"], f.props["SubState"] = active, sub
	}
	if f.result != "" {
		// The result comes later, as systemd's JobRemoved signal does.
		r := f.result
		f.wg.Add(1)
		go func() { defer f.wg.Done(); ch <- r }()
	}
	return 42, nil
}

func (f *fakeSystemd) StartUnitContext(_ context.Context, name, mode string, ch chan<- string) (int, error) {
	return f.job("start", name, mode, ch, "active", "running")
}

func (f *fakeSystemd) StopUnitContext(_ context.Context, name, mode string, ch chan<- string) (int, error) {
	return f.job("stop", name, mode, ch, "inactive", "dead")
}

func (f *fakeSystemd) RestartUnitContext(_ context.Context, name, mode string, ch chan<- string) (int, error) {
	return f.job("restart", name, mode, ch, "active", "running")
}

func (f *fakeSystemd) ResetFailedUnitContext(_ context.Context, name string) error {
	f.record("reset-failed " + name)
	return nil
}

func (f *fakeSystemd) GetUnitPropertiesContext(_ context.Context, unit string) (map[string]any, error) {
	f.record("properties " + unit)
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.propsErr != nil {
		return nil, f.propsErr
	}
	m := map[string]any{}
	for k, v := range f.props {
		m[k] = v
	}
	return m, nil
}

func (f *fakeSystemd) Connected() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.connected
}

func (f *fakeSystemd) Close() {
	f.wg.Wait()
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closed = true
}

// dialer hands out conns in turn and counts the dials.
type dialer struct {
	mu    sync.Mutex
	conns []*fakeSystemd
	err   error
	n     int
}

func (d *dialer) dial(ctx context.Context) (SystemdConn, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.n++
	if d.err != nil {
		return nil, d.err
	}
	c := d.conns[0]
	if len(d.conns) > 1 {
		d.conns = d.conns[1:]
	}
	return c, nil
}

func (d *dialer) dials() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.n
}

func TestSystemdJobs(t *testing.T) {
	ctx := testContext(t)
	f := newFakeSystemd()
	d := &dialer{conns: []*fakeSystemd{f}}
	s := NewSystemd("clgw@default.service", d.dial, time.Minute)
	if s.Name() != "systemd" {
		t.Errorf("name %q", s.Name())
	}
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	st, err := s.Status(ctx)
	if err != nil || st.State != StateRunning || st.Detail != "active (running)" {
		t.Errorf("status after start %+v, %v", st, err)
	}
	if err := s.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if st, _ := s.Status(ctx); st.State != StateStopped {
		t.Errorf("status after stop %+v", st)
	}
	want := []string{
		"reset-failed clgw@default.service", "start clgw@default.service replace", "properties clgw@default.service",
		"reset-failed clgw@default.service", "restart clgw@default.service replace",
		"stop clgw@default.service replace", "properties clgw@default.service",
	}
	if got := f.Calls(); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("calls\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if d.dials() != 1 {
		t.Errorf("%d dials, want the one connection kept", d.dials())
	}
	s.Close()
	if !f.closed {
		t.Error("Close left the connection open")
	}
	if err := s.Start(ctx); err == nil || !strings.Contains(err.Error(), "closed") {
		t.Errorf("start after close: %v", err)
	}
}

func TestSystemdJobFailures(t *testing.T) {
	ctx := testContext(t)
	f := newFakeSystemd()
	f.result = "failed"
	s := NewSystemd("clgw.service", (&dialer{conns: []*fakeSystemd{f}}).dial, time.Minute)
	defer s.Close()
	err := s.Start(ctx)
	if err == nil || !strings.Contains(err.Error(), `its job ended "failed"`) || !strings.Contains(err.Error(), "journalctl -u clgw.service") {
		t.Errorf("failed job: %v", err)
	}

	// No result within the job timeout.
	f.mu.Lock()
	f.result = ""
	f.mu.Unlock()
	s.jobTimeout = 50 * time.Millisecond
	if err := s.Stop(ctx); err == nil || !strings.Contains(err.Error(), "systemd did not stop clgw.service in time") {
		t.Errorf("job without result: %v", err)
	}

	// A refused call on a broken connection: the next call dials again.
	f.mu.Lock()
	f.callErr = errors.New("connection reset")
	f.connected = false
	f.mu.Unlock()
	if err := s.Restart(ctx); err == nil || !strings.Contains(err.Error(), "systemd refused to restart clgw.service: connection reset") {
		t.Errorf("refused job: %v", err)
	}
	s.mu.Lock()
	kept := s.conn
	s.mu.Unlock()
	if kept != nil || !f.closed {
		t.Error("the broken connection was kept")
	}
}

func TestSystemdDialFailure(t *testing.T) {
	ctx := testContext(t)
	d := &dialer{err: errors.New("no such file or directory")}
	s := NewSystemd("clgw.service", d.dial, time.Minute)
	defer s.Close()
	if err := s.Start(ctx); err == nil || !strings.Contains(err.Error(), "cannot start clgw.service: no such file") {
		t.Errorf("start: %v", err)
	}
	st, err := s.Status(ctx)
	if err == nil || st.State != StateUnknown {
		t.Errorf("status %+v, %v", st, err)
	}
	if d.dials() != 2 {
		t.Errorf("%d dials, want one per call", d.dials())
	}
	// A dial that hangs ends with the call's context.
	hang := func(ctx context.Context) (SystemdConn, error) { <-ctx.Done(); return nil, ctx.Err() }
	s2 := NewSystemd("clgw.service", hang, 20*time.Millisecond)
	defer s2.Close()
	if _, err := s2.Status(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("hanging dial: %v", err)
	}
}

func TestUnitStatus(t *testing.T) {
	since := time.Date(2025, 6, 5, 14, 15, 1, 0, time.UTC)
	us := uint64(since.UnixMicro())
	for _, tc := range []struct {
		props  map[string]any
		state  State
		detail string
		since  bool
	}{
		{map[string]any{"LoadState": "loaded", "ActiveState": "active", "SubState": "running", "ActiveEnterTimestamp": us}, StateRunning, "active (running)", true},
		{map[string]any{"LoadState": "loaded", "ActiveState": "reloading", "SubState": "reload"}, StateRunning, "reloading (reload)", false},
		{map[string]any{"LoadState": "loaded", "ActiveState": "activating", "SubState": "start"}, StateStarting, "activating (start)", false},
		{map[string]any{"LoadState": "loaded", "ActiveState": "activating", "SubState": "auto-restart", "StateChangeTimestamp": us}, StateFailed, "activating (auto-restart)", true},
		{map[string]any{"LoadState": "loaded", "ActiveState": "inactive", "SubState": "dead", "InactiveEnterTimestamp": us}, StateStopped, "inactive (dead)", true},
		{map[string]any{"LoadState": "loaded", "ActiveState": "deactivating", "SubState": "stop-sigterm"}, StateStopped, "deactivating (stop-sigterm)", false},
		{map[string]any{"LoadState": "loaded", "ActiveState": "failed", "SubState": "failed"}, StateFailed, "failed (failed)", false},
		{map[string]any{"LoadState": "not-found", "ActiveState": "inactive", "SubState": "dead"}, StateUnknown, "unit clgw.service is not installed", false},
		{map[string]any{"LoadState": "masked", "ActiveState": "inactive"}, StateUnknown, "unit clgw.service is masked", false},
		{map[string]any{"LoadState": "loaded", "ActiveState": "maintenance"}, StateUnknown, "maintenance", false},
	} {
		st := unitStatus("clgw.service", tc.props)
		if st.State != tc.state || st.Detail != tc.detail || st.Since.Equal(since) != tc.since {
			t.Errorf("%v: %+v, want %s %q (since %v)", tc.props, st, tc.state, tc.detail, tc.since)
		}
	}
}

// TestGatewayUnderSystemd drives the fixture's instance through its unit
// and health-checks a REST interface standing in for the core.
func TestGatewayUnderSystemd(t *testing.T) {
	ctx := testContext(t)
	root := copyTree(t, "one")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != DefaultHealthPath {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"status":"ok","version":"2.4.17"}`)
	})}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	port := ln.Addr().(*net.TCPAddr).Port
	writeFile(t, root, "opt/mitel/clgw/default/etc/clgw.conf", fmt.Sprintf("REST_PORT=%d\n", port), 0o644)

	f := newFakeSystemd()
	g, err := Open(Options{Root: root, SystemdRunDir: t.TempDir(), DialSystemd: (&dialer{conns: []*fakeSystemd{f}}).dial})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	if g.Manager().Name() != ManagerSystemd {
		t.Fatalf("manager %s, want systemd where systemd runs and the unit exists", g.Manager().Name())
	}
	st := g.Status(ctx)
	if st.Status != StateStopped || st.Health != nil || st.Manager != "systemd" || st.Instance != "default" || st.Version != "2.4.17" {
		t.Errorf("status before start %+v", st)
	}
	if err := g.Start(ctx); err != nil {
		t.Fatal(err)
	}
	st = g.Status(ctx)
	if st.Status != StateRunning || st.Health == nil || !st.Health.OK || st.Health.Version != "2.4.17" {
		t.Errorf("status after start %+v (health %+v)", st, st.Health)
	}
	if want := fmt.Sprintf("http://127.0.0.1:%d/status", port); st.StatusURL != want {
		t.Errorf("status URL %q, want %q", st.StatusURL, want)
	}
	if calls := f.Calls(); !strings.Contains(strings.Join(calls, ","), "start clgw@default.service replace") {
		t.Errorf("calls %v", calls)
	}
	if err := g.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	// The connection failing: the state is unknown, with the reason.
	f.mu.Lock()
	f.propsErr = errors.New("access denied")
	f.mu.Unlock()
	st = g.Status(ctx)
	if st.Status != StateUnknown || !strings.Contains(st.Error, "access denied") {
		t.Errorf("status on a failing bus %+v", st)
	}
}

// TestSystemdStatusDuringJob: a job in progress holds up neither Status
// nor the caller that gives up on it.
func TestSystemdStatusDuringJob(t *testing.T) {
	f := newFakeSystemd()
	f.result = ""
	s := NewSystemd("clgw.service", (&dialer{conns: []*fakeSystemd{f}}).dial, time.Minute)
	defer s.Close()
	ctx, cancel := context.WithCancel(testContext(t))
	done := make(chan error, 1)
	go func() { done <- s.Start(ctx) }()
	eventually(t, "the start job is queued", func() bool {
		return strings.Contains(strings.Join(f.Calls(), ","), "start clgw.service replace")
	})
	if st, err := s.Status(testContext(t)); err != nil || st.State != StateStopped {
		t.Errorf("status during the job %+v, %v", st, err)
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "gave up waiting for systemd to start clgw.service") {
		t.Errorf("start given up: %v", err)
	}
}
