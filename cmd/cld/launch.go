package main

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/jonboulle/clockwork"

	"github.com/cloudlink/cld/agent"
	"github.com/cloudlink/cld/agent/api"
	"github.com/cloudlink/cld/agent/build"
	"github.com/cloudlink/cld/agent/client"
	"github.com/cloudlink/cld/agent/config"
	"github.com/cloudlink/cld/agent/updates"
	"github.com/cloudlink/cld/updater"
)

// exitRestart is the exit status that asks systemd to start the service
// again (the unit's RestartForceExitStatus), after a self-update.
const exitRestart = 75

// Test hooks, set only in builds with the cldtest tag (fault_cldtest.go):
// updateStep is told each step of an update and of a Provisioning Manager
// directory send (a test kills the process
// there), updateClock drives the update schedule, launchTiming are the
// trial's limits, wrapAPI may spoil the
// local API, startFault may make the start fail, daemonClock (when set) is
// the daemon's clock, passwordCost (when set) the bcrypt cost of new
// password hashes.
var (
	daemonClock  clockwork.Clock
	passwordCost int
	updateStep   func(step string)
	updateClock  clockwork.Clock
	launchTiming = updater.DefaultTiming
	wrapAPI      = func(h http.Handler) http.Handler { return h }
	startFault   = func() {}
)

// selfPath is this binary's path (a replaced file's too).
func selfPath() string {
	p, err := os.Executable()
	if err != nil {
		return os.Args[0]
	}
	return strings.TrimSuffix(p, " (deleted)")
}

// launch runs the launcher (updater.Launcher); done when this process is
// not to run the daemon (the service was stopped during a trial).
func launch(cfg config.Config, log *slog.Logger) (code int, done bool) {
	key, err := build.Key()
	if err != nil {
		return 0, false // nothing self-updated can be verified: the package's binary runs
	}
	cl := client.NewUnix(cfg.Socket)
	l := &updater.Launcher{
		Dir: updater.Dir(filepath.Join(cfg.StateDir, updates.DirName)), Key: *key,
		Version: build.Info().Version, Self: selfPath(), Args: os.Args, Env: os.Environ(),
		Health: func(ctx context.Context) (string, bool, error) {
			st, err := cl.Status(ctx)
			return st.Version, st.State == api.StateLinked, err
		},
		Log: log.With("component", "launcher"), Timing: launchTiming(), After: updateStep,
	}
	err = l.Launch(context.Background())
	switch {
	case errors.Is(err, updater.ErrStopped):
		return exitOK, true
	case err != nil:
		log.Error("the self-updated binary could not be started; this binary runs", "component", "launcher", "err", err)
	}
	return 0, false
}

// restarter is the self-update's restart: it ends the daemon's context;
// then (after) the process exits for systemd to start it again, or
// outside systemd runs the launcher again in its place.
type restarter struct {
	cancel context.CancelFunc
	reason chan string
}

func newRestarter(cancel context.CancelFunc) *restarter {
	return &restarter{cancel: cancel, reason: make(chan string, 1)}
}

func (r *restarter) option() agent.Option {
	return agent.WithUpdates(agent.UpdateOptions{
		Restart: func(reason string) {
			select {
			case r.reason <- reason:
			default:
			}
			r.cancel()
		},
		Trial: os.Getenv(updater.EnvTrial),
		After: updateStep,
		Clock: updateClock,
	})
}

// after is called once the daemon stopped: the exit code, or a re-exec.
func (r *restarter) after(log *slog.Logger, code int) int {
	var reason string
	select {
	case reason = <-r.reason:
	default:
		return code
	}
	log = log.With("component", "main")
	if os.Getenv("INVOCATION_ID") != "" {
		log.Info("exiting for systemd to start the service again", "reason", reason, "exit_status", exitRestart)
		return exitRestart
	}
	target := os.Getenv(updater.EnvLaunched)
	if target == "" {
		target = selfPath()
	}
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, updater.EnvLaunched+"=") && !strings.HasPrefix(kv, updater.EnvTrial+"=") {
			env = append(env, kv)
		}
	}
	log.Info("starting the launcher again", "reason", reason, "path", target)
	err := syscall.Exec(target, os.Args, env)
	log.Error("could not start the launcher again; start cld again by hand", "err", err)
	return exitFail
}
