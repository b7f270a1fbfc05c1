package gateway

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
)

// supervised is a gateway installed in a temporary tree whose core is the
// stand-in fakegw, driven by the supervisor on a fake clock.
type supervised struct {
	*Gateway
	root, dir string
	port      int
	clock     *clockwork.FakeClock
}

func newSupervised(t *testing.T, tune Tuning) *supervised {
	t.Helper()
	root := copyTree(t, "one")
	dir := filepath.Join(root, "opt/mitel/clgw/default")
	bin, err := os.ReadFile(fakegw(t))
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, root, "opt/mitel/clgw/default/bin/clgw-core", string(bin), 0o755)
	port := freePort(t)
	writeFile(t, root, "opt/mitel/clgw/default/etc/clgw.conf", fmt.Sprintf("REST_PORT=%d\n", port), 0o644)
	clock := clockwork.NewFakeClock()
	g, err := Open(Options{Root: root, SystemdRunDir: filepath.Join(root, "no-systemd"), Clock: clock,
		Supervisor: tune, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := g.Close(); err != nil {
			t.Error(err)
		}
	})
	if g.Manager().Name() != ManagerSupervisor {
		t.Fatalf("manager %s without systemd", g.Manager().Name())
	}
	return &supervised{Gateway: g, root: root, dir: dir, port: port, clock: clock}
}

func (s *supervised) touch(t *testing.T, name string) {
	t.Helper()
	writeFile(t, s.dir, name, "", 0o644)
}

func (s *supervised) remove(t *testing.T, name string) {
	t.Helper()
	if err := os.Remove(filepath.Join(s.dir, name)); err != nil {
		t.Fatal(err)
	}
}

func (s *supervised) service(t *testing.T) ServiceStatus {
	t.Helper()
	st, err := s.Manager().Status(testContext(t))
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// healthy waits until the core answers its health check.
func (s *supervised) healthy(t *testing.T) Health {
	t.Helper()
	var h Health
	eventually(t, "the gateway core is healthy", func() bool {
		var err error
		h, err = s.Health(testContext(t))
		if err != nil {
			t.Fatal(err)
		}
		return h.OK
	})
	return h
}

// backoff waits until the supervisor waits to restart the core and
// returns the delay it chose.
func (s *supervised) backoff(t *testing.T) ServiceStatus {
	t.Helper()
	if err := s.clock.BlockUntilContext(testContext(t), 1); err != nil {
		t.Fatal("the supervisor did not wait to restart the core:", err)
	}
	st := s.service(t)
	if st.State != StateFailed {
		t.Fatalf("status %+v while waiting to restart", st)
	}
	return st
}

func gone(pid int) bool {
	return errors.Is(syscall.Kill(pid, 0), syscall.ESRCH)
}

func TestSupervisorStartStopRestart(t *testing.T) {
	ctx := testContext(t)
	s := newSupervised(t, Tuning{})
	if st := s.Status(ctx); st.Status != StateStopped || st.Health != nil || !st.Installed {
		t.Errorf("status before start %+v", st)
	}
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.Start(ctx); err != nil { // already running: nothing happens
		t.Fatal(err)
	}
	h := s.healthy(t)
	if h.Code != 200 || h.Status != "ok" || h.Version != "2.4.17" || h.URL != fmt.Sprintf("http://127.0.0.1:%d/api/v1/health", s.port) {
		t.Errorf("health %+v", h)
	}
	first := s.service(t)
	if first.State != StateRunning || first.PID == 0 || gone(first.PID) {
		t.Errorf("service %+v", first)
	}
	if got := starts(t, s.dir); len(got) != 1 || got[0] != strconv.Itoa(first.PID) {
		t.Errorf("starts %v, want only pid %d", got, first.PID)
	}

	st := s.Status(ctx)
	if st.Status != StateRunning || st.Health == nil || !st.Health.OK || st.Manager != "supervisor" {
		t.Errorf("status %+v", st)
	}
	data, _ := json.Marshal(st)
	var doc map[string]any
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	if doc["installed"] != true || doc["status"] != "running" || doc["version"] != "2.4.17" || fmt.Sprint(doc["instances"]) != "[default]" {
		t.Errorf("status JSON %s", data)
	}

	// Health failing while the process runs.
	s.touch(t, "unhealthy")
	h, _ = s.Health(ctx)
	if h.OK || h.Code != http.StatusServiceUnavailable || h.Status != "degraded" || !strings.Contains(h.Error, "503") {
		t.Errorf("unhealthy core's health %+v", h)
	}
	if st := s.Status(ctx); st.Status != StateRunning || st.Health == nil || st.Health.OK {
		t.Errorf("status of an unhealthy core %+v", st)
	}
	s.remove(t, "unhealthy")

	if err := s.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	s.healthy(t)
	second := s.service(t)
	if second.State != StateRunning || second.PID == first.PID || !gone(first.PID) {
		t.Errorf("after restart %+v (first pid %d)", second, first.PID)
	}
	if got := starts(t, s.dir); len(got) != 2 {
		t.Errorf("starts %v, want two", got)
	}

	if err := s.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if st := s.service(t); st.State != StateStopped || st.Detail != "stopped" || st.PID != 0 {
		t.Errorf("after stop %+v", st)
	}
	if !gone(second.PID) {
		t.Errorf("pid %d still runs after stop", second.PID)
	}
	h, _ = s.Health(ctx)
	if h.OK || h.Code != 0 || !strings.Contains(h.Error, "cannot be reached") {
		t.Errorf("health of a stopped core %+v", h)
	}
	if err := s.Stop(ctx); err != nil { // stopped already
		t.Fatal(err)
	}
	if got := starts(t, s.dir); len(got) != 2 {
		t.Errorf("starts %v: the stopped core was restarted", got)
	}
}

// TestSupervisorBackoff: a core that crashes at once is restarted after
// 1s, 2s, 4s, 8s, then 8s (the cap); one that stayed up ResetAfter is
// restarted after 1s again.
func TestSupervisorBackoff(t *testing.T) {
	ctx := testContext(t)
	s := newSupervised(t, Tuning{MinBackoff: time.Second, MaxBackoff: 8 * time.Second, ResetAfter: time.Minute})
	s.touch(t, "crash")
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	for i, want := range []time.Duration{1, 2, 4, 8, 8} {
		want *= time.Second
		st := s.backoff(t)
		if st.Backoff != want || st.Restarts != i || !strings.Contains(st.Detail, "exited with exit status 3") ||
			!strings.Contains(st.Detail, "restarting in "+want.String()) {
			t.Fatalf("exit %d: %+v, want a delay of %s after %d restarts", i+1, st, want, i)
		}
		if got := len(starts(t, s.dir)); got != i+1 {
			t.Fatalf("exit %d: %d starts", i+1, got)
		}
		// Not restarted a moment before the delay.
		s.clock.Advance(want - time.Millisecond)
		if st := s.service(t); st.State != StateFailed {
			t.Fatalf("restarted before its delay: %+v", st)
		}
		if i == 4 {
			s.remove(t, "crash")
		}
		s.clock.Advance(time.Millisecond)
	}
	s.healthy(t)
	st := s.service(t)
	if st.State != StateRunning || st.Restarts != 5 || st.Backoff != 0 {
		t.Errorf("after the crashes %+v", st)
	}

	// Up for a while, then it crashes: the backoff starts again.
	s.clock.Advance(time.Minute)
	resp, err := http.Post(fmt.Sprintf("http://127.0.0.1:%d/crash", s.port), "text/plain", nil)
	if err == nil {
		resp.Body.Close()
	}
	if st := s.backoff(t); st.Backoff != time.Second || st.Restarts != 5 {
		t.Errorf("after a crash of a core that stayed up: %+v", st)
	}
	s.clock.Advance(time.Second)
	s.healthy(t)
	if st := s.service(t); st.State != StateRunning || st.Restarts != 6 {
		t.Errorf("after the restart %+v", st)
	}

	// A stop while it waits to restart ends the wait.
	s.touch(t, "crash")
	resp, err = http.Post(fmt.Sprintf("http://127.0.0.1:%d/crash", s.port), "text/plain", nil)
	if err == nil {
		resp.Body.Close()
	}
	if st := s.backoff(t); st.Backoff != 2*time.Second {
		t.Errorf("second crash in a row %+v", st)
	}
	n := len(starts(t, s.dir))
	if err := s.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if st := s.service(t); st.State != StateStopped {
		t.Errorf("after stop %+v", st)
	}
	s.clock.Advance(time.Hour)
	if got := len(starts(t, s.dir)); got != n {
		t.Errorf("%d starts after a stop, want %d", got, n)
	}
}

// TestSupervisorKill: a core that ignores SIGTERM is killed after the
// stop timeout.
func TestSupervisorKill(t *testing.T) {
	ctx := testContext(t)
	s := newSupervised(t, Tuning{StopTimeout: 10 * time.Second})
	s.touch(t, "ignore-term")
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	s.healthy(t)
	pid := s.service(t).PID
	stopped := make(chan error, 1)
	go func() { stopped <- s.Stop(ctx) }()
	if err := s.clock.BlockUntilContext(ctx, 1); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-stopped:
		t.Fatalf("Stop returned before the timeout: %v", err)
	default:
	}
	if gone(pid) {
		t.Fatal("the core ended on SIGTERM, which it ignores")
	}
	s.clock.Advance(10 * time.Second)
	if err := <-stopped; err != nil {
		t.Fatal(err)
	}
	if st := s.service(t); st.State != StateStopped || !strings.Contains(st.Detail, "killed: it did not stop within 10s") {
		t.Errorf("after the kill %+v", st)
	}
	if !gone(pid) {
		t.Errorf("pid %d survived SIGKILL", pid)
	}
}

func TestSupervisorStartFails(t *testing.T) {
	ctx := testContext(t)
	s := newSupervised(t, Tuning{})
	if err := os.Remove(filepath.Join(s.dir, "bin/clgw-core")); err != nil {
		t.Fatal(err)
	}
	err := s.Start(ctx)
	if err == nil || !strings.Contains(err.Error(), "cannot start CloudLink Gateway instance default") {
		t.Errorf("start without a command: %v", err)
	}
	if st := s.service(t); st.State != StateFailed || !strings.Contains(st.Detail, "could not be started") {
		t.Errorf("status %+v", st)
	}
	if st := s.Status(ctx); st.Status != StateFailed || st.Health != nil {
		t.Errorf("gateway status %+v", st)
	}
}

func TestSupervisorClose(t *testing.T) {
	ctx := testContext(t)
	s := newSupervised(t, Tuning{})
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	s.healthy(t)
	pid := s.service(t).PID
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if !gone(pid) {
		t.Errorf("pid %d runs after Close", pid)
	}
	if err := s.Start(ctx); err == nil || !strings.Contains(err.Error(), "closed") {
		t.Errorf("start after close: %v", err)
	}
}
