package updater

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"aead.dev/minisign"
	"github.com/coreos/go-systemd/v22/daemon"
)

// The launcher's environment: the binary it runs gets EnvLaunched (the
// launcher's own path, which a restart runs again), and on trial
// EnvTrial (the version on trial).
const (
	EnvLaunched = "CLD_LAUNCHED"
	EnvTrial    = "CLD_UPDATE_TRIAL"
)

// ErrStopped is returned by Launch when the service was stopped during a
// trial: the daemon must not start; the trial goes on at the next start.
var ErrStopped = errors.New("stopped during an update's trial")

// Timing are the launcher's limits.
type Timing struct {
	HealthyWithin time.Duration // a version on trial must answer healthy within this
	StableFor     time.Duration // and then stay up and healthy this long
	StopWait      time.Duration // a stopped child gets this long before SIGKILL
	Poll          time.Duration // how often the trial asks the child's health
	// CrashWindow and MaxStarts: a confirmed update started more than
	// MaxStarts times within CrashWindow of its installation keeps
	// crashing, and is rolled back.
	CrashWindow time.Duration
	MaxStarts   int
}

// DefaultTiming: a failed version is rolled back within 45 s of its start.
func DefaultTiming() Timing {
	return Timing{HealthyWithin: 30 * time.Second, StableFor: 15 * time.Second, StopWait: 20 * time.Second,
		Poll: 500 * time.Millisecond, CrashWindow: 10 * time.Minute, MaxStarts: 5}
}

// Launcher is the first thing `cld run` does: it decides which binary runs
// the daemon. The package's binary (the one the service manager starts)
// is the launcher and always the judge: a self-updated binary newer than
// it runs, checked against the release key before every start; a
// self-update not yet confirmed runs on trial under the launcher's eye
// (healthy within HealthyWithin, then up for StableFor, else rolled back);
// an older or equal one gives way to the package (a package upgrade
// wins).
type Launcher struct {
	Dir     Dir
	Key     minisign.PublicKey
	Version string   // this binary's version
	Self    string   // this binary's path
	Args    []string // the command line, Args[0] included
	Env     []string
	// Health asks the daemon's local API for its version and whether the
	// host is linked.
	Health func(ctx context.Context) (version string, linked bool, err error)
	Log    *slog.Logger
	Now    func() time.Time // nil: time.Now
	Timing Timing
	// Exec replaces the process (nil: syscall.Exec); tests record it.
	Exec func(path string, args, env []string) error
	// After is told the trial's steps (tests).
	After func(step string)
}

// The trial's steps, for Launcher.After.
const (
	StepTrial     = "trial"     // the version on trial is started
	StepHealthy   = "healthy"   // it answered healthy
	StepConfirmed = "confirmed" // it was confirmed and stopped, to run unwatched
)

// Launch returns nil when this process is to run the daemon itself: no
// newer self-update is installed, or this binary was started by the
// launcher. Otherwise it runs the self-update (Exec, not returning on
// success) or its trial, after which it starts over (Exec of itself);
// ErrStopped if the service is stopped meanwhile.
func (l *Launcher) Launch(ctx context.Context) error {
	if l.getenv(EnvLaunched) != "" {
		return nil
	}
	if l.Now == nil {
		l.Now = time.Now
	}
	if l.Exec == nil {
		l.Exec = syscall.Exec
	}
	if _, err := os.Stat(filepath.Dir(l.Dir.Bin())); errors.Is(err, os.ErrNotExist) {
		return nil // never self-updated
	}
	for range 3 { // a rollback decides again, once per binary kept
		unlock, err := l.Dir.Lock()
		if err != nil {
			l.Log.Warn("the update directory cannot be locked; the package's binary runs", "err", err)
			return nil
		}
		in, err := l.Dir.ReadInstalled()
		if err != nil {
			l.Log.Warn("the update record is unreadable; the self-updated binaries are checked anew", "err", err)
			in = Installed{}
		}
		in, note, err := l.Dir.reconcile(in, l.Key)
		if err != nil {
			unlock()
			l.Log.Warn("the update directory cannot be reconciled; the package's binary runs", "err", err)
			return nil
		}
		if note != "" {
			l.Log.Warn(note)
			_ = l.Dir.WriteOutcome(Outcome{Result: ResultFailed, Reason: note, Time: l.Now()})
		}
		cur := in.Current
		if cur == nil {
			unlock()
			return nil
		}
		if v, err := ParseVersion(cur.Version); err != nil || !newer(v, l.Version) {
			l.Log.Info("the package's binary is as new as the self-update; it runs and the self-update is removed", "package", l.Version, "self_update", cur.Version)
			os.Remove(l.Dir.Bin())
			os.Remove(l.Dir.Prev())
			err := l.Dir.writeInstalled(Installed{})
			_ = l.Dir.WriteOutcome(Outcome{Version: l.Version, From: cur.Version, Result: ResultReplaced, Time: l.Now(),
				Reason: "a package upgrade to " + l.Version + " took over from the self-update to " + cur.Version})
			unlock()
			if err != nil {
				l.Log.Warn("the update record cannot be written", "err", err)
			}
			return nil
		}
		now := l.Now()
		if now.Sub(cur.InstalledAt) < l.Timing.CrashWindow {
			cur.Starts = append(cur.Starts, now)
		}
		if len(cur.Starts) > l.Timing.MaxStarts {
			reason := fmt.Sprintf("%s was started %d times within %s of its installation: it keeps stopping", cur.Version, len(cur.Starts), l.Timing.CrashWindow)
			l.Log.Error("rolling back the update", "version", cur.Version, "reason", reason)
			_, err := l.Dir.rollback(in, reason, now)
			unlock()
			if err != nil {
				l.Log.Error("the rollback failed", "err", err)
				return nil
			}
			continue
		}
		if err := l.Dir.writeInstalled(in); err != nil {
			l.Log.Warn("the update record cannot be written", "err", err)
		}
		unlock()
		if !cur.Confirmed {
			return l.trial(ctx, cur)
		}
		l.Log.Info("running the self-updated binary", "version", cur.Version, "path", l.Dir.Bin())
		err = l.Exec(l.Dir.Bin(), l.Args, l.childEnv(false, ""))
		return fmt.Errorf("running the self-updated binary %s: %w", l.Dir.Bin(), err)
	}
	return nil
}

func newer(v Version, than string) bool {
	w, err := ParseVersion(than)
	return err != nil || v.Compare(w) > 0
}

// trial runs the binary on trial as a child and watches it.
func (l *Launcher) trial(ctx context.Context, cur *Binary) error {
	t := l.Timing
	log := l.Log.With("version", cur.Version, "from", cur.From)
	log.Info("trying the new version", "healthy_within", t.HealthyWithin, "stable_for", t.StableFor)
	cmd := exec.Command(l.Dir.Bin())
	cmd.Args = l.Args
	cmd.Env = l.childEnv(true, cur.Version)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} // the trial dies with the launcher
	if err := cmd.Start(); err != nil {
		return l.fail(cur, fmt.Sprintf("%s could not be started: %v", cur.Version, err))
	}
	l.step(StepTrial)
	_, _ = daemon.SdNotify(false, daemon.SdNotifyReady+"\nSTATUS=trying cld "+cur.Version)
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	defer signal.Stop(sigs)
	var watchdog <-chan time.Time
	if iv, _ := daemon.SdWatchdogEnabled(false); iv > 0 {
		wt := time.NewTicker(iv / 2)
		defer wt.Stop()
		watchdog = wt.C
	}
	poll := time.NewTicker(t.Poll)
	defer poll.Stop()
	start := time.Now()
	var healthyAt time.Time
	var lastErr error
	for {
		select {
		case err := <-exited:
			return l.fail(cur, fmt.Sprintf("%s stopped %s after its start (%v)", cur.Version, time.Since(start).Round(time.Second), exitText(err)))
		case s := <-sigs:
			_ = cmd.Process.Signal(s)
			if s == syscall.SIGHUP {
				continue
			}
			log.Info("stopped during the trial; it goes on at the next start")
			l.stopChild(cmd, exited, false)
			return ErrStopped
		case <-ctx.Done():
			l.stopChild(cmd, exited, true)
			return ErrStopped
		case <-watchdog:
			_, _ = daemon.SdNotify(false, daemon.SdNotifyWatchdog)
		case <-poll.C:
		}
		hctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		version, linked, err := l.Health(hctx)
		cancel()
		switch {
		case err == nil && version != cur.Version:
			err = fmt.Errorf("it answers as version %s", version)
		case err == nil && cur.Linked && !linked:
			err = errors.New("it does not find the host linked")
		}
		now := time.Now()
		if err != nil {
			lastErr, healthyAt = err, time.Time{}
		} else if healthyAt.IsZero() {
			healthyAt = now
			log.Info("the new version answers healthy; watching it", "after", now.Sub(start).Round(time.Millisecond))
			l.step(StepHealthy)
		}
		if !healthyAt.IsZero() && now.Sub(healthyAt) >= t.StableFor {
			return l.confirm(cur, cmd, exited)
		}
		if now.Sub(start) >= t.HealthyWithin+t.StableFor || (healthyAt.IsZero() && now.Sub(start) >= t.HealthyWithin) {
			l.stopChild(cmd, exited, true)
			return l.fail(cur, fmt.Sprintf("%s did not become healthy within %s (%v)", cur.Version, t.HealthyWithin, lastErr))
		}
	}
}

// confirm marks the version on trial good, stops it and starts over: the
// next start runs it unwatched, as the service manager's main process.
func (l *Launcher) confirm(cur *Binary, cmd *exec.Cmd, exited chan error) error {
	l.stopChild(cmd, exited, true)
	unlock, err := l.Dir.Lock()
	if err != nil {
		return err
	}
	in, err := l.Dir.ReadInstalled()
	if err == nil && in.Current != nil && in.Current.SHA256 == cur.SHA256 {
		in.Current.Confirmed = true
		if err = l.Dir.writeInstalled(in); err == nil {
			err = l.Dir.WriteOutcome(Outcome{Version: cur.Version, From: cur.From, Result: ResultUpdated, Time: l.Now()})
		}
	}
	unlock()
	if err != nil {
		l.Log.Error("the update's confirmation cannot be written; it is tried again", "err", err)
	}
	l.Log.Info("the new version is confirmed healthy", "version", cur.Version)
	l.step(StepConfirmed)
	return l.again()
}

// fail rolls the version on trial back and starts over.
func (l *Launcher) fail(cur *Binary, reason string) error {
	l.Log.Error("the new version failed its trial; rolling back", "version", cur.Version, "reason", reason)
	unlock, err := l.Dir.Lock()
	if err != nil {
		return err
	}
	in, err := l.Dir.ReadInstalled()
	if err == nil && in.Current != nil && in.Current.SHA256 == cur.SHA256 {
		_, err = l.Dir.rollback(in, reason, l.Now())
	}
	unlock()
	if err != nil {
		l.Log.Error("the rollback failed", "err", err)
	}
	return l.again()
}

// again starts the launcher over in this process.
func (l *Launcher) again() error {
	env := l.childEnv(false, "")
	err := l.Exec(l.Self, l.Args, env[:len(env)-1]) // without EnvLaunched: decide anew
	return fmt.Errorf("starting %s again: %w", l.Self, err)
}

// stopChild stops the child (SIGTERM when term, SIGKILL after StopWait)
// and waits for it.
func (l *Launcher) stopChild(cmd *exec.Cmd, exited chan error, term bool) {
	if term {
		_ = cmd.Process.Signal(syscall.SIGTERM)
	}
	select {
	case <-exited:
	case <-time.After(l.Timing.StopWait):
		_ = cmd.Process.Kill()
		<-exited
	}
}

func (l *Launcher) step(s string) {
	if l.After != nil {
		l.After(s)
	}
}

func (l *Launcher) getenv(k string) string {
	for _, kv := range l.Env {
		if v, ok := strings.CutPrefix(kv, k+"="); ok {
			return v
		}
	}
	return ""
}

// childEnv is the environment without the launcher's variables, then
// EnvLaunched (last) and, on trial, EnvTrial; a trial does not talk to
// systemd (the launcher is the service's main process).
func (l *Launcher) childEnv(trial bool, version string) []string {
	var env []string
	for _, kv := range l.Env {
		k, _, _ := strings.Cut(kv, "=")
		switch k {
		case EnvLaunched, EnvTrial:
			continue
		case "NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID":
			if trial {
				continue
			}
		}
		env = append(env, kv)
	}
	if trial {
		env = append(env, EnvTrial+"="+version)
	}
	return append(env, EnvLaunched+"="+l.Self)
}

func exitText(err error) string {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return "killed by " + ws.Signal().String()
		}
		return fmt.Sprintf("exit status %d", ee.ExitCode())
	}
	if err == nil {
		return "exit status 0"
	}
	return err.Error()
}
