package gateway

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"

	"github.com/jonboulle/clockwork"
)

// Tuning is the supervisor's timing; zero fields take the defaults.
type Tuning struct {
	// MinBackoff is the delay before restarting a core that exited, doubled
	// at each exit in a row up to MaxBackoff (1s, 1m).
	MinBackoff time.Duration
	MaxBackoff time.Duration
	// ResetAfter: a core that stayed up this long is restarted after
	// MinBackoff again when it exits (1m).
	ResetAfter time.Duration
	// StopTimeout is how long a stop waits after SIGTERM before SIGKILL
	// (10s).
	StopTimeout time.Duration
}

func (t Tuning) withDefaults() Tuning {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&t.MinBackoff, time.Second)
	def(&t.MaxBackoff, time.Minute)
	def(&t.ResetAfter, time.Minute)
	def(&t.StopTimeout, 10*time.Second)
	if t.MaxBackoff < t.MinBackoff {
		t.MaxBackoff = t.MinBackoff
	}
	return t
}

// SupervisorConfig is what a Supervisor runs.
type SupervisorConfig struct {
	// Instance names the core in logs and messages.
	Instance string
	// Command and Args are run in Dir, with Env added to the daemon's
	// environment.
	Command string
	Args    []string
	Dir     string
	Env     []string
	Tuning  Tuning
	// Clock runs the backoff and the stop timeout (the real clock when nil).
	Clock clockwork.Clock
	// Logger gets the supervisor's events and the core's output lines.
	Logger *slog.Logger
}

// Supervisor is the Manager that runs the gateway core as the daemon's
// child: restarted with backoff when it exits, stopped with SIGTERM then
// SIGKILL. The core runs in its own process group, which a stop signals as
// a whole, and is sent SIGTERM should the daemon die.
type Supervisor struct {
	cfg SupervisorConfig

	ops sync.Mutex // serializes Start, Stop, Restart and Close

	mu   sync.Mutex // guards st and run
	st   ServiceStatus
	run  *runCtl // the supervision loop; nil when none
	done bool    // closed
}

var _ Manager = (*Supervisor)(nil)

// runCtl controls one supervision loop.
type runCtl struct {
	stop     chan struct{} // closed to stop the core
	stopOnce sync.Once
	done     chan struct{} // closed when the loop ended (the core is gone)
}

func (r *runCtl) requestStop() { r.stopOnce.Do(func() { close(r.stop) }) }

// child is one run of the core.
type child struct {
	pid     int
	started time.Time
	exited  chan error // gets cmd.Wait's result once
}

// NewSupervisor returns a supervisor of cfg's command; nothing runs until
// Start.
func NewSupervisor(cfg SupervisorConfig) *Supervisor {
	cfg.Tuning = cfg.Tuning.withDefaults()
	if cfg.Clock == nil {
		cfg.Clock = clockwork.NewRealClock()
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	cfg.Logger = cfg.Logger.With("gateway_instance", cfg.Instance)
	return &Supervisor{cfg: cfg, st: ServiceStatus{State: StateStopped, Detail: "not started"}}
}

// Name implements Manager.
func (s *Supervisor) Name() string { return ManagerSupervisor }

// Start runs the core unless it already runs; it returns once the process
// started (not once it is healthy), or with the error of a command that
// cannot be run.
func (s *Supervisor) Start(ctx context.Context) error {
	s.ops.Lock()
	defer s.ops.Unlock()
	return s.start(ctx)
}

// Stop stops the core (SIGTERM, SIGKILL after the stop timeout) and its
// supervision; without effect when it is not running. When ctx ends first
// the stop goes on and Stop returns ctx's error.
func (s *Supervisor) Stop(ctx context.Context) error {
	s.ops.Lock()
	defer s.ops.Unlock()
	return s.stop(ctx)
}

// Restart stops the core and starts it again.
func (s *Supervisor) Restart(ctx context.Context) error {
	s.ops.Lock()
	defer s.ops.Unlock()
	if err := s.stop(ctx); err != nil {
		return err
	}
	return s.start(ctx)
}

// Status implements Manager.
func (s *Supervisor) Status(context.Context) (ServiceStatus, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.st, nil
}

// Close stops the core; the supervisor cannot be started again.
func (s *Supervisor) Close() error {
	s.ops.Lock()
	defer s.ops.Unlock()
	err := s.stop(context.Background())
	s.mu.Lock()
	s.done = true
	s.mu.Unlock()
	return err
}

func (s *Supervisor) start(ctx context.Context) error {
	s.mu.Lock()
	r, closed := s.run, s.done
	s.mu.Unlock()
	if closed {
		return errors.New("the gateway supervisor is closed")
	}
	if r != nil {
		select {
		case <-r.stop: // an earlier stop that gave up waiting: let it end
			if err := s.wait(ctx, r); err != nil {
				return err
			}
		default:
			return nil // running (or waiting to restart)
		}
	}
	c, err := s.spawn()
	now := s.cfg.Clock.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		s.st = ServiceStatus{State: StateFailed, Detail: fmt.Sprintf("could not be started: %v", err), Since: now}
		return fmt.Errorf("cannot start CloudLink Gateway instance %s: %w", s.cfg.Instance, err)
	}
	r = &runCtl{stop: make(chan struct{}), done: make(chan struct{})}
	s.run = r
	s.st = ServiceStatus{State: StateRunning, Detail: "running", PID: c.pid, Since: now}
	go s.supervise(r, c)
	return nil
}

func (s *Supervisor) stop(ctx context.Context) error {
	s.mu.Lock()
	r := s.run
	s.mu.Unlock()
	if r == nil {
		return nil
	}
	r.requestStop()
	return s.wait(ctx, r)
}

// wait waits until r's loop ended and forgets it.
func (s *Supervisor) wait(ctx context.Context, r *runCtl) error {
	select {
	case <-r.done:
		s.mu.Lock()
		if s.run == r {
			s.run = nil
		}
		s.mu.Unlock()
		return nil
	case <-ctx.Done():
		return fmt.Errorf("CloudLink Gateway instance %s is still stopping: %w", s.cfg.Instance, ctx.Err())
	}
}

// supervise waits for the core to exit and restarts it with backoff, until
// a stop is requested.
func (s *Supervisor) supervise(r *runCtl, c *child) {
	defer close(r.done)
	t := s.cfg.Tuning
	clock := s.cfg.Clock
	delay := time.Duration(0) // the last delay; 0 before the first exit
	for {
		select {
		case err := <-c.exited:
			up := clock.Since(c.started)
			if up >= t.ResetAfter || delay == 0 {
				delay = t.MinBackoff
			} else {
				delay = min(2*delay, t.MaxBackoff)
			}
			how := exitText(err)
			s.cfg.Logger.Warn("gateway core exited; restarting it after a delay", "exit", how, "up", up, "delay", delay)
			s.mu.Lock()
			s.st = ServiceStatus{State: StateFailed, Detail: fmt.Sprintf("%s after %s; restarting in %s", how, up.Round(time.Millisecond), delay),
				Since: clock.Now(), Restarts: s.st.Restarts, Backoff: delay}
			s.mu.Unlock()
			timer := clock.NewTimer(delay)
			select {
			case <-timer.Chan():
			case <-r.stop:
				timer.Stop()
				s.stopped("stopped")
				return
			}
			nc, err := s.spawn()
			now := clock.Now()
			s.mu.Lock()
			s.st.Restarts++
			if err != nil {
				nc = &child{started: now, exited: make(chan error, 1)}
				nc.exited <- fmt.Errorf("could not be started: %w", err)
			} else {
				s.st = ServiceStatus{State: StateRunning, Detail: "running", PID: nc.pid, Since: now, Restarts: s.st.Restarts}
			}
			s.mu.Unlock()
			c = nc
		case <-r.stop:
			s.stopped(s.terminate(c))
			return
		}
	}
}

// terminate ends the core's process group: SIGTERM, then SIGKILL when it
// has not exited within the stop timeout. It says how it went.
func (s *Supervisor) terminate(c *child) string {
	if c.pid == 0 { // a start that failed
		<-c.exited
		return "stopped"
	}
	_ = syscall.Kill(-c.pid, syscall.SIGTERM)
	timer := s.cfg.Clock.NewTimer(s.cfg.Tuning.StopTimeout)
	defer timer.Stop()
	select {
	case <-c.exited:
		return "stopped"
	case <-timer.Chan():
	}
	s.cfg.Logger.Warn("gateway core did not stop after SIGTERM; killing it", "timeout", s.cfg.Tuning.StopTimeout)
	_ = syscall.Kill(-c.pid, syscall.SIGKILL)
	<-c.exited
	return fmt.Sprintf("stopped (killed: it did not stop within %s of SIGTERM)", s.cfg.Tuning.StopTimeout)
}

func (s *Supervisor) stopped(detail string) {
	now := s.cfg.Clock.Now()
	s.cfg.Logger.Info("gateway core stopped")
	s.mu.Lock()
	s.st = ServiceStatus{State: StateStopped, Detail: detail, Since: now, Restarts: s.st.Restarts}
	s.mu.Unlock()
}

// spawn starts one run of the core in its own process group.
func (s *Supervisor) spawn() (*child, error) {
	cmd := exec.Command(s.cfg.Command, s.cfg.Args...)
	cmd.Dir = s.cfg.Dir
	cmd.Env = append(os.Environ(), s.cfg.Env...)
	stdout := &lineLogger{log: s.cfg.Logger, stream: "stdout"}
	stderr := &lineLogger{log: s.cfg.Logger, stream: "stderr"}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	cmd.WaitDelay = 2 * time.Second // a descendant that keeps the output open does not hold Wait
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	c := &child{pid: cmd.Process.Pid, started: s.cfg.Clock.Now(), exited: make(chan error, 1)}
	s.cfg.Logger.Info("gateway core started", "pid", c.pid, "command", s.cfg.Command)
	go func() {
		err := cmd.Wait()
		stdout.flush()
		stderr.flush()
		c.exited <- err
	}()
	return c, nil
}

// exitText says how a run ended.
func exitText(err error) string {
	var ee *exec.ExitError
	switch {
	case err == nil:
		return "exited with status 0"
	case errors.As(err, &ee):
		return "exited with " + ee.Error() // "exit status 3", "signal: killed"
	}
	return err.Error()
}

// lineLogger logs a stream of the core's output line by line.
type lineLogger struct {
	log    *slog.Logger
	stream string
	buf    []byte
}

func (l *lineLogger) Write(p []byte) (int, error) {
	l.buf = append(l.buf, p...)
	for {
		i := bytes.IndexByte(l.buf, '\n')
		if i < 0 {
			break
		}
		l.emit(l.buf[:i])
		l.buf = l.buf[i+1:]
	}
	if len(l.buf) > 4096 {
		l.flush()
	}
	return len(p), nil
}

func (l *lineLogger) flush() {
	if len(l.buf) > 0 {
		l.emit(l.buf)
		l.buf = nil
	}
}

func (l *lineLogger) emit(line []byte) {
	l.log.Info("gateway core: "+string(bytes.TrimRight(line, "\r")), "stream", l.stream)
}
