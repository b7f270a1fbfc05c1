// Package maintenance does the work behind MX-ONE's mxone_maintenance menu
// plugin (packaging/mxone/cloudLinkDaemon, vendor guide 5.2.1): it installs,
// enables, disables and uninstalls cld on the servers of an MX-ONE system,
// as `cld mxone …` offers it.
//
// The servers are the MX-ONE adapter's server list (mxone.Platform.Servers).
// The server the menu runs on (mxone.Platform.LocalServer) runs its
// commands directly (LocalTarget); every other one is reached over SSH as
// root (SSHTarget): public keys from the caller's ~/.ssh when present, then
// the root password the menu asked for. Host keys are checked against a
// known_hosts file (DefaultKnownHosts): an unknown or changed key fails
// that server with a sentence that says how to add the key, never a
// connection. Secrets are given to the remote commands on their standard
// input, never on a command line, and never logged.
//
// Each action runs on the selected servers concurrently (Parallel at a
// time) and answers one Result per server, ok or failed with a sentence:
//
//   - Servers: each server's State (`cld mxone local state --json` there;
//     "not installed" where there is no cld).
//   - Install: the package file is sent over the session's standard input
//     to /var/tmp and installed with the server's package manager (rpm -U
//     --replacepkgs where rpm exists, else dpkg -i), the copy removed; then
//     every server where it installed is enabled as below.
//   - Enable: `cld mxone local enable` there (Local.Enable): systemctl
//     enable --now cld.service, wait for the daemon's local API, link with
//     the CloudLink credentials (password grant; the password on standard
//     input). A daemon already linked is left as it is.
//   - Disable: `cld mxone local disable` there (Local.Disable): unlink (the
//     cloud revokes the system), systemctl disable --now cld.service, the
//     daemon instance's state (the state directory's contents) removed —
//     the guide's "containers deleted".
//   - Uninstall: Disable, then the package removed (rpm -e cld, dpkg
//     --purge cld).
//
// Decisions: cld never stores the CloudLink password; every enable links
// with the credentials the menu has just asked for, so the enable actions
// ask for the CloudLink user name and password as Install does. The
// package file defaults to the newest (by modification time) cld*.rpm or
// cld*.deb in DefaultPackageDir.
package maintenance

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/cloudlink/cld/platforms/mxone"
)

// DefaultPackageDir is where Install finds the package by default.
const DefaultPackageDir = "/opt/mxone_install/cloudlink"

// Config is a system to maintain.
type Config struct {
	Servers  []mxone.Server // the system's servers; the Local one runs commands directly
	SSH      SSHConfig      // how the other servers are reached
	Parallel int            // servers worked on at once (default 4)
	// Target makes a server's target (nil: LocalTarget for the local
	// server, an SSHTarget for the others); for tests.
	Target func(mxone.Server) Target
}

// Result is the outcome of an action on one server.
type Result struct {
	Server  string `json:"server"`
	Address string `json:"address"`
	Local   bool   `json:"local"`
	OK      bool   `json:"ok"`
	Message string `json:"message"`
	State   *State `json:"state,omitempty"`
}

// Line is the result for a person: "mx2: enabled, linked to account
// 100001", "mx3: failed: …".
func (r Result) Line() string {
	if r.OK {
		return r.Server + ": " + r.Message
	}
	return r.Server + ": failed: " + r.Message
}

// Failed reports whether any result failed.
func Failed(rs []Result) bool {
	return slices.ContainsFunc(rs, func(r Result) bool { return !r.OK })
}

// System is an MX-ONE system's servers, each with its target.
type System struct {
	servers  []mxone.Server
	targets  []Target
	parallel int
}

// New makes the system; Close ends its SSH connections.
func New(cfg Config) (*System, error) {
	if len(cfg.Servers) == 0 {
		return nil, errors.New("the MX-ONE server list names no servers; check /etc/opt/eri_sn/mxone_servers.conf")
	}
	s := &System{servers: slices.Clone(cfg.Servers), parallel: cfg.Parallel}
	if s.parallel <= 0 {
		s.parallel = 4
	}
	for _, srv := range s.servers {
		var t Target
		switch {
		case cfg.Target != nil:
			t = cfg.Target(srv)
		case srv.Local:
			t = LocalTarget{}
		default:
			t = NewSSHTarget(srv.Name, srv.Address, cfg.SSH)
		}
		s.targets = append(s.targets, t)
	}
	return s, nil
}

// Close closes every target.
func (s *System) Close() error {
	var errs []error
	for _, t := range s.targets {
		errs = append(errs, t.Close())
	}
	return errors.Join(errs...)
}

// Servers are the system's servers.
func (s *System) Servers() []mxone.Server { return slices.Clone(s.servers) }

// Select picks servers by host name: "all", or names separated by commas
// (case does not matter). An unknown name is an error that lists the
// known ones.
func Select(servers []mxone.Server, spec string) ([]mxone.Server, error) {
	spec = strings.TrimSpace(spec)
	if spec == "all" {
		return slices.Clone(servers), nil
	}
	var names []string
	for _, s := range servers {
		names = append(names, s.Name)
	}
	want := map[int]bool{}
	var unknown []string
	for _, n := range strings.Split(spec, ",") {
		if n = strings.TrimSpace(n); n == "" {
			continue
		}
		i := slices.IndexFunc(servers, func(s mxone.Server) bool { return strings.EqualFold(s.Name, n) })
		if i < 0 {
			unknown = append(unknown, strconv.Quote(n))
			continue
		}
		want[i] = true
	}
	if len(unknown) > 0 {
		return nil, fmt.Errorf("this MX-ONE system has no server %s; its servers are %s", strings.Join(unknown, ", "), strings.Join(names, ", "))
	}
	if len(want) == 0 {
		return nil, fmt.Errorf("no server selected; name them (e.g. %s) or select all", strings.Join(names, ","))
	}
	var out []mxone.Server
	for i, s := range servers {
		if want[i] {
			out = append(out, s)
		}
	}
	return out, nil
}

// each runs fn for each selected server, parallel at a time, and returns
// the results in the order of the selection.
func (s *System) each(ctx context.Context, sel []mxone.Server, fn func(ctx context.Context, t Target) Result) []Result {
	out := make([]Result, len(sel))
	sem := make(chan struct{}, s.parallel)
	var wg sync.WaitGroup
	for i, srv := range sel {
		j := slices.IndexFunc(s.servers, func(x mxone.Server) bool { return x.Name == srv.Name })
		if j < 0 {
			out[i] = Result{Server: srv.Name, Address: srv.Address, Message: "not a server of this system"}
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			r := fn(ctx, s.targets[j])
			r.Server, r.Address, r.Local = srv.Name, srv.Address, srv.Local
			out[i] = r
		}()
	}
	wg.Wait()
	return out
}

func failed(err error) Result { return Result{Message: err.Error()} }

// Scripts run on each server (POSIX sh).
const (
	stateScript = `if command -v cld >/dev/null 2>&1; then exec cld mxone local state --json; fi
echo '{"installed":false}'`
	installScript = `set -e
f=$(mktemp /var/tmp/cld-package.XXXXXX)
trap 'rm -f "$f"' EXIT
cat > "$f"
if command -v rpm >/dev/null 2>&1; then rpm -U --replacepkgs "$f"; else dpkg -i "$f"; fi`
	disableScript = `if command -v cld >/dev/null 2>&1; then exec cld mxone local disable --json; fi
echo '{"message":"cld is not installed, nothing to disable","state":{"installed":false}}'`
	removeScript = `set -e
if command -v rpm >/dev/null 2>&1; then
	if rpm -q cld >/dev/null 2>&1; then rpm -e cld; echo removed; else echo absent; fi
elif command -v dpkg-query >/dev/null 2>&1 && dpkg-query -W cld >/dev/null 2>&1; then
	dpkg --purge cld; echo removed
else
	echo absent
fi`
)

// shellQuote quotes s for sh.
func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

func enableScript(c Credentials) string {
	s := "exec cld mxone local enable --json --password-stdin --username " + shellQuote(c.Username)
	if c.Account > 0 {
		s += " --account " + strconv.FormatInt(c.Account, 10)
	}
	return s
}

// localResult runs a per-server command and reads its LocalResult.
func localResult(ctx context.Context, t Target, script string, stdin []byte) Result {
	var in io.Reader
	if stdin != nil {
		in = bytes.NewReader(stdin)
	}
	out, err := t.Run(ctx, script, in)
	if err != nil {
		return failed(err)
	}
	var lr LocalResult
	if err := json.Unmarshal([]byte(out), &lr); err != nil {
		return failed(fmt.Errorf("the server's cld answered what is not its result (%v): %.200s", err, out))
	}
	return Result{OK: true, Message: lr.Message, State: &lr.State}
}

// ServerStates answers each server's state.
func (s *System) ServerStates(ctx context.Context) []Result {
	return s.each(ctx, s.servers, func(ctx context.Context, t Target) Result {
		out, err := t.Run(ctx, stateScript, nil)
		if err != nil {
			return failed(err)
		}
		var st State
		if err := json.Unmarshal([]byte(out), &st); err != nil {
			return failed(fmt.Errorf("the server's cld answered what is not its state (%v): %.200s", err, out))
		}
		return Result{OK: true, Message: st.Summary(), State: &st}
	})
}

// Enable enables cld on the selected servers and links each with c.
func (s *System) Enable(ctx context.Context, sel []mxone.Server, c Credentials) []Result {
	return s.each(ctx, sel, func(ctx context.Context, t Target) Result {
		return enable(ctx, t, c)
	})
}

func enable(ctx context.Context, t Target, c Credentials) Result {
	if c.Username == "" || c.Password == "" {
		return failed(errors.New("no CloudLink user name and password given: cld keeps none, each enable links with the ones given"))
	}
	return localResult(ctx, t, enableScript(c), []byte(c.Password+"\n"))
}

// Disable disables cld on the selected servers: unlinked, stopped, its
// instance state removed.
func (s *System) Disable(ctx context.Context, sel []mxone.Server) []Result {
	return s.each(ctx, sel, func(ctx context.Context, t Target) Result {
		return localResult(ctx, t, disableScript, nil)
	})
}

// Uninstall disables cld on every server and removes its package.
func (s *System) Uninstall(ctx context.Context) []Result {
	return s.each(ctx, s.servers, func(ctx context.Context, t Target) Result {
		r := localResult(ctx, t, disableScript, nil)
		if !r.OK {
			r.Message = "not uninstalled: " + r.Message
			return r
		}
		out, err := t.Run(ctx, removeScript, nil)
		if err != nil {
			return failed(fmt.Errorf("%s; but the package did not uninstall: %w", r.Message, err))
		}
		r.State = &State{}
		if strings.TrimSpace(out) == "absent" {
			r.Message = "cld is not installed"
		} else {
			r.Message += ", package removed"
		}
		return r
	})
}

// Install installs the package file on every server, then enables cld on
// each where it installed and links it with c.
func (s *System) Install(ctx context.Context, pkgFile string, c Credentials) []Result {
	data, err := readPackage(pkgFile)
	if err != nil {
		return s.each(ctx, s.servers, func(context.Context, Target) Result { return failed(err) })
	}
	name := filepath.Base(pkgFile)
	installed := s.each(ctx, s.servers, func(ctx context.Context, t Target) Result {
		if _, err := t.Run(ctx, installScript, bytes.NewReader(data)); err != nil {
			var ce *CommandError
			if errors.As(err, &ce) {
				err = fmt.Errorf("%s did not install: %w", name, err)
			}
			return failed(err)
		}
		return Result{OK: true, Message: "installed " + name}
	})
	var ok []mxone.Server
	for i, r := range installed {
		if r.OK {
			ok = append(ok, s.servers[i])
		}
	}
	enabled := s.Enable(ctx, ok, c)
	for _, e := range enabled {
		i := slices.IndexFunc(installed, func(r Result) bool { return r.Server == e.Server })
		if e.OK {
			installed[i].Message += ", " + e.Message
		} else {
			installed[i].OK, installed[i].Message = false, installed[i].Message+", but "+e.Message
		}
		installed[i].State = e.State
	}
	return installed
}

func readPackage(file string) ([]byte, error) {
	fi, err := os.Stat(file)
	if err != nil {
		return nil, fmt.Errorf("the package file does not read: %w", err)
	}
	if !fi.Mode().IsRegular() || fi.Size() == 0 {
		return nil, fmt.Errorf("the package file %s is not a cld .rpm or .deb", file)
	}
	return os.ReadFile(file)
}

// DefaultPackage is the newest (by modification time) cld*.rpm or
// cld*.deb in dir.
func DefaultPackage(dir string) (string, error) {
	var best string
	var bestTime int64
	for _, pat := range []string{"cld*.rpm", "cld*.deb"} {
		matches, _ := filepath.Glob(filepath.Join(dir, pat))
		for _, m := range matches {
			fi, err := os.Stat(m)
			if err != nil || !fi.Mode().IsRegular() {
				continue
			}
			if t := fi.ModTime().UnixNano(); best == "" || t > bestTime {
				best, bestTime = m, t
			}
		}
	}
	if best == "" {
		return "", fmt.Errorf("no cld package (cld*.rpm or cld*.deb) in %s; copy the package there or name it with --package", dir)
	}
	return best, nil
}
