package maintenance

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// State is one server's cld: the package, the service and the link.
type State struct {
	Installed   bool   `json:"installed"`
	Version     string `json:"version,omitempty"`
	Enabled     bool   `json:"enabled"`
	Active      bool   `json:"active"`
	Linked      bool   `json:"linked"`
	Account     int64  `json:"account,omitempty"`
	AccountName string `json:"account_name,omitempty"`
	SystemID    string `json:"system_id,omitempty"`
	// Problem says what could not be found out (e.g. the daemon does not
	// answer on its socket).
	Problem string `json:"problem,omitempty"`
}

// Summary is the state in words: "not installed", "installed 0.1.0,
// enabled, running, linked to account 100001 (Demo Account)".
func (s State) Summary() string {
	if !s.Installed {
		return "not installed"
	}
	parts := []string{strings.TrimSpace("installed " + s.Version)}
	if s.Enabled {
		parts = append(parts, "enabled")
	} else {
		parts = append(parts, "disabled")
	}
	if s.Active {
		parts = append(parts, "running")
	} else {
		parts = append(parts, "stopped")
	}
	if s.Linked {
		parts = append(parts, linkedTo(s.Account, s.AccountName))
	} else if s.Active && s.Problem == "" {
		parts = append(parts, "not linked")
	}
	if s.Problem != "" {
		parts = append(parts, s.Problem)
	}
	return strings.Join(parts, ", ")
}

func linkedTo(account int64, name string) string {
	s := fmt.Sprintf("linked to account %d", account)
	if name != "" {
		s += " (" + name + ")"
	}
	return s
}

// LocalResult is what a per-server command (`cld mxone local enable`,
// `disable`) prints with --json: its sentence and the state after it.
type LocalResult struct {
	Message string `json:"message"`
	State   State  `json:"state"`
}

// DaemonStatus is what the local operations need to know of the daemon.
type DaemonStatus struct {
	Linked            bool
	Account           int64
	AccountName       string
	SystemID          string
	PendingRevocation bool
}

// Daemon is this server's cld daemon, reached through its local API (the
// caller wires agent/client in; this package never imports the agent).
// Errors carry the sentence to show.
type Daemon interface {
	Status(ctx context.Context) (DaemonStatus, error)
	Link(ctx context.Context, c Credentials) (DaemonStatus, error)
	Unlink(ctx context.Context) (DaemonStatus, error)
}

// Credentials are the CloudLink user's, asked for by the menu for each
// link; cld keeps none of them (the daemon keeps only the device
// credentials the cloud gives the linked system).
type Credentials struct {
	Username string
	Account  int64 // 0: the user's only account
	Password string
}

// Service is the systemd unit of the daemon.
const Service = "cld.service"

// Local does the per-server operations on the server it runs on: the
// package query, the service (systemctl) and the link (Daemon).
type Local struct {
	Daemon   Daemon
	StateDir string // the daemon's state directory (the config's state_dir)
	Version  string // this cld's version, when no package manager answers
	// Exec runs a program and returns its combined output (default:
	// os/exec with PATH).
	Exec func(ctx context.Context, name string, args ...string) (string, error)
	// WaitAPI bounds the wait for a started daemon's local API (60 s).
	WaitAPI time.Duration
}

func (l *Local) exec(ctx context.Context, name string, args ...string) (string, error) {
	if l.Exec != nil {
		return l.Exec(ctx, name, args...)
	}
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

func has(name string) bool { _, err := exec.LookPath(name); return err == nil }

// State finds out this server's state; what cannot be found out is its
// Problem, never an error.
func (l *Local) State(ctx context.Context) State {
	var s State
	s.Installed, s.Version = l.pkg(ctx)
	out, _ := l.exec(ctx, "systemctl", "is-enabled", Service)
	s.Enabled = strings.TrimSpace(out) == "enabled"
	out, _ = l.exec(ctx, "systemctl", "is-active", Service)
	s.Active = strings.TrimSpace(out) == "active"
	sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	st, err := l.Daemon.Status(sctx)
	switch {
	case err == nil:
		s.Linked, s.Account, s.AccountName, s.SystemID = st.Linked, st.Account, st.AccountName, st.SystemID
	case s.Active:
		s.Problem = "the daemon does not answer on its socket (" + err.Error() + ")"
	}
	return s
}

// pkg asks the package manager (rpm, else dpkg) for the cld package.
func (l *Local) pkg(ctx context.Context) (bool, string) {
	switch {
	case has("rpm"):
		out, err := l.exec(ctx, "rpm", "-q", "--queryformat", "%{VERSION}", "cld")
		return err == nil, strings.TrimSpace(out)
	case has("dpkg-query"):
		out, err := l.exec(ctx, "dpkg-query", "-W", "-f", "${db:Status-Status} ${Version}", "cld")
		status, version, _ := strings.Cut(strings.TrimSpace(out), " ")
		return err == nil && status == "installed", version
	}
	return true, l.Version
}

// waitDaemon waits until the daemon's local API answers.
func (l *Local) waitDaemon(ctx context.Context) (DaemonStatus, error) {
	wait := l.WaitAPI
	if wait == 0 {
		wait = 60 * time.Second
	}
	deadline := time.Now().Add(wait)
	for {
		sctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		st, err := l.Daemon.Status(sctx)
		cancel()
		if err == nil {
			return st, nil
		}
		if time.Now().After(deadline) {
			return st, fmt.Errorf("the daemon started but its local API did not answer within %s (%v); see systemctl status cld and journalctl -u cld", wait, err)
		}
		select {
		case <-ctx.Done():
			return st, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Enable enables and starts the service, waits for the daemon and links it
// with c; a daemon already linked stays as it is.
func (l *Local) Enable(ctx context.Context, c Credentials) (LocalResult, error) {
	if out, err := l.exec(ctx, "systemctl", "enable", "--now", Service); err != nil {
		return LocalResult{}, fmt.Errorf("systemctl enable --now %s failed: %s", Service, orErr(out, err))
	}
	st, err := l.waitDaemon(ctx)
	if err != nil {
		return LocalResult{}, err
	}
	msg := "enabled, already " + linkedTo(st.Account, st.AccountName) + " (nothing to link)"
	if !st.Linked {
		if c.Username == "" || c.Password == "" {
			return LocalResult{}, errors.New("enabled, but not linked: no CloudLink user name and password were given")
		}
		if st, err = l.Daemon.Link(ctx, c); err != nil {
			return LocalResult{}, fmt.Errorf("enabled, but the link failed: %w", err)
		}
		msg = "enabled, " + linkedTo(st.Account, st.AccountName)
	}
	return LocalResult{Message: msg, State: l.State(ctx)}, nil
}

// Disable unlinks the daemon (the cloud revokes the system), stops and
// disables the service and removes the daemon's instance state (the state
// directory's contents).
func (l *Local) Disable(ctx context.Context) (LocalResult, error) {
	if err := l.checkStateDir(); err != nil {
		return LocalResult{}, err
	}
	var parts []string
	sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	st, err := l.Daemon.Status(sctx)
	cancel()
	if err != nil && !l.stateEmpty() {
		// A stopped daemon may still hold a link: start it to revoke it.
		if out, err := l.exec(ctx, "systemctl", "start", Service); err != nil {
			return LocalResult{}, fmt.Errorf("the daemon does not answer and does not start (%s), so its link cannot be revoked at CloudLink; see systemctl status cld and journalctl -u cld", orErr(out, err))
		}
		if st, err = l.waitDaemon(ctx); err != nil {
			return LocalResult{}, fmt.Errorf("its link cannot be revoked at CloudLink: %w", err)
		}
	}
	if err == nil && st.Linked {
		after, err := l.Daemon.Unlink(ctx)
		if err != nil {
			return LocalResult{}, fmt.Errorf("the unlink failed, nothing was disabled: %w", err)
		}
		parts = append(parts, fmt.Sprintf("unlinked from account %d", st.Account))
		if after.PendingRevocation {
			parts = append(parts, "CloudLink could not be reached to confirm the revocation: remove system "+st.SystemID+" in the CloudLink portal")
		}
	}
	if out, err := l.exec(ctx, "systemctl", "disable", "--now", Service); err != nil {
		return LocalResult{}, fmt.Errorf("systemctl disable --now %s failed: %s", Service, orErr(out, err))
	}
	if err := l.removeState(); err != nil {
		return LocalResult{}, err
	}
	parts = append([]string{"disabled"}, append(parts, "instance state removed ("+l.StateDir+")")...)
	return LocalResult{Message: strings.Join(parts, ", "), State: l.State(ctx)}, nil
}

func orErr(out string, err error) string {
	if out = strings.TrimSpace(out); out != "" {
		return out
	}
	return err.Error()
}

func (l *Local) checkStateDir() error {
	d := l.StateDir
	if d == "" || !filepath.IsAbs(d) || filepath.Clean(d) != d || d == "/" {
		return fmt.Errorf("the state directory %q is not an absolute directory path such as /var/lib/cld; check state_dir in cld's config", d)
	}
	return nil
}

func (l *Local) stateEmpty() bool {
	entries, err := os.ReadDir(l.StateDir)
	return err != nil || len(entries) == 0
}

// removeState removes what is in the state directory, keeping the
// directory (the package owns it).
func (l *Local) removeState() error {
	entries, err := os.ReadDir(l.StateDir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("removing the instance state: %w", err)
	}
	for _, e := range entries {
		if err := os.RemoveAll(filepath.Join(l.StateDir, e.Name())); err != nil {
			return fmt.Errorf("removing the instance state: %w", err)
		}
	}
	return nil
}
