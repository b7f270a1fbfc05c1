package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cloudlink/cld/agent/api"
	"github.com/cloudlink/cld/cloud/store"
	"github.com/cloudlink/cld/platforms/mxone/maintenance/sshtest"
)

// The MX-ONE menu's tests simulate a three-server system on this machine.
// Each server (mx1, mx2, mx3) has its own directory: a copy of the MX-ONE
// host tree (host_root, its own /etc/hostname, the server list on
// 127.0.0.11-13), a cld config of its own (CLD_CONFIG: state dir, socket,
// dashboard port, machine-id), a bin dir first on its PATH, and an
// in-process SSH server on its own loopback address (one port for all),
// whose host key is in the known_hosts file given to cld. mx1 is where the
// menu runs (its commands run directly, not over SSH).
//
// This machine has neither MX-ONE's rpm database nor a systemd per server,
// so each bin dir holds two small stand-ins: rpm (-U installs the package
// file, which here is the built cld binary itself, into the bin dir; -q,
// -e) and systemctl for cld.service (enable --now starts the real `cld run`
// in the background with the server's config and records its pid; disable
// --now stops it; is-enabled, is-active). Everything else is real: the
// menu under whiptail in a tmux terminal, SSH, cld mxone on each server,
// the daemons and their links to the reference cloud. The real packages
// under a real systemd are tested in packaging/*_test.go.

const rpmStandIn = `#!/bin/sh
# Stand-in for rpm on a simulated MX-ONE server: the "package" is a cld
# binary, installed into this server's bin dir.
bin=$(cd "$(dirname "$0")" && pwd)
db="$bin/../rpm-installed"
case "$1" in
-U)
	shift
	[ "$1" = --replacepkgs ] && shift
	cp "$1" "$bin/.cld.new" && chmod 755 "$bin/.cld.new" && mv "$bin/.cld.new" "$bin/cld" || exit 1
	"$bin/cld" version | sed -n '1s/^cld //p' >"$db"
	;;
-q)
	shift
	fmt=
	if [ "$1" = --queryformat ]; then fmt=1; shift 2; fi
	[ -s "$db" ] || { echo "package cld is not installed"; exit 1; }
	if [ -n "$fmt" ]; then printf '%s' "$(cat "$db")"; else echo "cld-$(cat "$db")"; fi
	;;
-e)
	[ -s "$db" ] || { echo "error: package cld is not installed" >&2; exit 1; }
	rm -f "$bin/cld" "$db"
	;;
*) echo "rpm stand-in: $* is not supported" >&2; exit 2 ;;
esac
`

const systemctlStandIn = `#!/bin/sh
# Stand-in for systemctl, for cld.service on a simulated MX-ONE server.
bin=$(cd "$(dirname "$0")" && pwd)
dir=$(dirname "$bin")
pidf="$dir/cld.pid"
en="$dir/cld.enabled"
running() {
	[ -s "$pidf" ] || return 1
	pid=$(cat "$pidf")
	[ -r "/proc/$pid/stat" ] && [ "$(sed 's/.*) //' "/proc/$pid/stat" | cut -c1)" != Z ]
}
start() {
	running && return 0
	[ -x "$bin/cld" ] || { echo "Unit cld.service not found." >&2; return 5; }
	rm -f "$pidf"
	setsid sh -c 'echo $$ >"$1"; exec "$2" run' sh "$pidf" "$bin/cld" </dev/null >>"$dir/cld.log" 2>&1 &
	i=0
	until [ -s "$pidf" ]; do i=$((i + 1)); [ $i -lt 100 ] || return 1; sleep 0.05; done
}
stop() {
	running || { rm -f "$pidf"; return 0; }
	kill "$pid"
	i=0
	while running; do
		i=$((i + 1))
		[ $i -lt 600 ] || { kill -9 "$pid"; break; }
		sleep 0.05
	done
	rm -f "$pidf"
}
for unit; do :; done
[ "$unit" = cld.service ] || { echo "systemctl stand-in: only cld.service" >&2; exit 2; }
case "$1 $2" in
"enable --now") touch "$en"; start ;;
"disable --now") rm -f "$en"; stop ;;
"start cld.service") start ;;
"stop cld.service") stop ;;
"is-enabled cld.service") if [ -e "$en" ]; then echo enabled; else echo disabled; exit 1; fi ;;
"is-active cld.service") if running; then echo active; else echo inactive; exit 3; fi ;;
*) echo "systemctl stand-in: $* is not supported" >&2; exit 2 ;;
esac
`

const rootPassword = "mxone-root-pw"

// mxServer is one simulated MX-ONE server.
type mxServer struct {
	name, addr                            string
	dir, bin, config, state, socket, host string
	ssh                                   *sshtest.Server
}

// mxSystem is the simulated system, its known_hosts file and package.
type mxSystem struct {
	t          *testing.T
	servers    []*mxServer
	port       int
	knownHosts string
	pkgDir     string
	pkgFile    string
}

// freeSharedPort is a port free on every address.
func freeSharedPort(t *testing.T, addrs []string) int {
	t.Helper()
	for try := 0; try < 50; try++ {
		ln, err := net.Listen("tcp", addrs[0]+":0")
		if err != nil {
			t.Fatal(err)
		}
		port := ln.Addr().(*net.TCPAddr).Port
		ok := true
		for _, a := range addrs[1:] {
			l2, err := net.Listen("tcp", net.JoinHostPort(a, strconv.Itoa(port)))
			if err != nil {
				ok = false
				break
			}
			l2.Close()
		}
		ln.Close()
		if ok {
			return port
		}
	}
	t.Fatal("no port free on every address")
	return 0
}

// newMXSystem makes the three servers; trusted names the servers whose
// host keys go into the known_hosts file.
func newMXSystem(t *testing.T, c *cloudProc, trusted ...string) *mxSystem {
	t.Helper()
	root := t.TempDir()
	s := &mxSystem{t: t, knownHosts: filepath.Join(root, "known_hosts"), pkgDir: filepath.Join(root, "packages")}
	addrs := []string{"127.0.0.11", "127.0.0.12", "127.0.0.13"}
	s.port = freeSharedPort(t, addrs)
	var list strings.Builder
	list.WriteString("# number  hostname  address  roles\n")
	roles := []string{"service-node,snm,pm", "service-node", "service-node,media-server"}
	for i, a := range addrs {
		fmt.Fprintf(&list, "%d mx%d %s %s\n", i+1, i+1, a, roles[i])
	}
	var known strings.Builder
	for i, a := range addrs {
		name := fmt.Sprintf("mx%d", i+1)
		dir := filepath.Join(root, name)
		srv := &mxServer{name: name, addr: a, dir: dir, bin: filepath.Join(dir, "bin"), config: filepath.Join(dir, "cld.yaml"),
			state: filepath.Join(dir, "state"), socket: filepath.Join(dir, "run", "cld.sock"), host: filepath.Join(dir, "host")}
		must(t, os.MkdirAll(srv.bin, 0o755))
		must(t, os.WriteFile(filepath.Join(srv.bin, "rpm"), []byte(rpmStandIn), 0o755))
		must(t, os.WriteFile(filepath.Join(srv.bin, "systemctl"), []byte(systemctlStandIn), 0o755))
		must(t, os.Rename(copyFixture(t, "../../platforms/mxone/testdata/hosts/mxone-8.1-three-servers"), srv.host))
		must(t, os.WriteFile(filepath.Join(srv.host, "etc/hostname"), []byte(name+"\n"), 0o644))
		must(t, os.WriteFile(filepath.Join(srv.host, "etc/opt/eri_sn/mxone_servers.conf"), []byte(list.String()), 0o644))
		// The fixture's proxy (proxy.example.com) is not the subject here.
		must(t, os.Remove(filepath.Join(srv.host, "etc/sysconfig/proxy")))
		must(t, os.WriteFile(filepath.Join(dir, "machine-id"), []byte(fmt.Sprintf("%032x\n", 0xabc0+i)), 0o644))
		must(t, os.WriteFile(srv.config, []byte(fmt.Sprintf("state_dir: %s\nsocket: %s\nlisten: 127.0.0.1:0\ncloud: %s\ncloud_ca: %s\nhost_root: %s\nmachine_id_file: %s\nheartbeat_interval: 1m\nlog_level: debug\n",
			srv.state, srv.socket, c.url, c.caFile, srv.host, filepath.Join(dir, "machine-id"))), 0o600))
		sshSrv, err := sshtest.Start(sshtest.Config{Addr: net.JoinHostPort(a, strconv.Itoa(s.port)), Dir: dir, Env: srv.env(), Password: rootPassword})
		if err != nil {
			t.Fatal(err)
		}
		srv.ssh = sshSrv
		t.Cleanup(sshSrv.Close)
		t.Cleanup(srv.stopDaemon)
		for _, n := range trusted {
			if n == name {
				known.WriteString(sshSrv.KnownHostsLine() + "\n")
			}
		}
		s.servers = append(s.servers, srv)
	}
	must(t, os.WriteFile(s.knownHosts, []byte(known.String()), 0o600))
	// The package file: the built cld itself (the stand-in rpm installs it).
	must(t, os.MkdirAll(s.pkgDir, 0o755))
	s.pkgFile = filepath.Join(s.pkgDir, "cld-0.1.0-1.x86_64.rpm")
	data, err := os.ReadFile(cldBin)
	must(t, err)
	must(t, os.WriteFile(s.pkgFile, data, 0o644))
	return s
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// env is the server's whole environment.
func (srv *mxServer) env() []string {
	return []string{"PATH=" + srv.bin + ":/usr/local/bin:/usr/bin:/bin", "HOME=" + srv.dir, "CLD_CONFIG=" + srv.config,
		"GORACE=atexit_sleep_ms=0 halt_on_error=1", "LANG=C.UTF-8"}
}

// pid is the running daemon's process, 0 when none.
func (srv *mxServer) pid() int {
	b, err := os.ReadFile(filepath.Join(srv.dir, "cld.pid"))
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if pid <= 0 || err != nil {
		return 0
	}
	if i := strings.LastIndex(string(stat), ") "); i < 0 || stat[i+2] == 'Z' {
		return 0
	}
	return pid
}

// stopDaemon ends a daemon the test left running.
func (srv *mxServer) stopDaemon() {
	pid := srv.pid()
	if pid == 0 {
		return
	}
	syscall.Kill(pid, syscall.SIGTERM)
	deadline := time.Now().Add(30 * time.Second)
	for srv.pid() != 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if srv.pid() != 0 {
		syscall.Kill(pid, syscall.SIGKILL)
	}
}

func (srv *mxServer) installed() bool {
	_, err := os.Stat(filepath.Join(srv.bin, "cld"))
	return err == nil
}

func (srv *mxServer) stateEmpty() bool {
	entries, err := os.ReadDir(srv.state)
	return err != nil || len(entries) == 0
}

// status is the daemon's `cld status --json`.
func (srv *mxServer) status(t *testing.T) api.Status {
	t.Helper()
	out, err := command(cldBin, "status", "--json", "--socket", srv.socket).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: cld status: %v\n%s", srv.name, err, out)
	}
	var st api.Status
	must(t, json.Unmarshal(out, &st))
	return st
}

// revoked asks the reference cloud's store whether the system is revoked.
func revoked(t *testing.T, systemID string) bool {
	t.Helper()
	st, err := store.Open(context.Background(), filepath.Join(binDir, "cloud-data"))
	must(t, err)
	defer st.Close()
	sys, err := st.SystemByID(context.Background(), systemID)
	must(t, err)
	return sys.Revoked()
}

// tmuxMenu is the menu plugin running in a tmux terminal.
type tmuxMenu struct {
	t    *testing.T
	sock string
}

func needTools(t *testing.T, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") != "" {
				t.Fatalf("%s is not installed; `make deps` installs it", tool)
			}
			t.Skipf("%s is not installed; `make deps` installs it (the MX-ONE menu test needs tmux and whiptail)", tool)
		}
	}
}

// startMenu runs packaging/mxone/cloudLinkDaemon on mx1 in a 120x40 tmux
// terminal of its own.
func (s *mxSystem) startMenu() *tmuxMenu {
	t := s.t
	dir := t.TempDir()
	mx1 := s.servers[0]
	plugin, err := filepath.Abs("../../packaging/mxone/cloudLinkDaemon")
	must(t, err)
	var script strings.Builder
	script.WriteString("#!/bin/sh\n")
	for _, e := range mx1.env() {
		k, v, _ := strings.Cut(e, "=")
		fmt.Fprintf(&script, "export %s=%q\n", k, v)
	}
	fmt.Fprintf(&script, "export CLD_PACKAGE_DIR=%q CLD_MXONE_OPTS=%q\ncd %q && exec sh %q\n", s.pkgDir,
		fmt.Sprintf("--ssh-port %d --known-hosts %s", s.port, s.knownHosts), mx1.dir, plugin)
	wrapper := filepath.Join(dir, "menu.sh")
	must(t, os.WriteFile(wrapper, []byte(script.String()), 0o755))
	m := &tmuxMenu{t: t, sock: filepath.Join(dir, "tmux.sock")}
	m.tmux("-f", "/dev/null", "new-session", "-d", "-x", "120", "-y", "40", "-s", "menu", wrapper)
	t.Cleanup(func() { exec.Command("tmux", "-S", m.sock, "kill-server").Run() })
	return m
}

func (m *tmuxMenu) tmux(args ...string) string {
	m.t.Helper()
	out, err := exec.Command("tmux", append([]string{"-S", m.sock}, args...)...).CombinedOutput()
	if err != nil {
		m.t.Fatalf("tmux %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// screen is the terminal's text.
func (m *tmuxMenu) screen() string { return m.tmux("capture-pane", "-p", "-t", "menu") }

// flat is the screen's text in one line: box borders gone, blanks
// collapsed, so that a line the pop-up wrapped reads whole.
func flat(screen string) string {
	return strings.Join(strings.Fields(strings.NewReplacer("│", " ", "┤", " ", "├", " ").Replace(screen)), " ")
}

// wait polls the screen until it shows every want, and returns it.
func (m *tmuxMenu) wait(want ...string) string {
	m.t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for {
		scr := m.screen()
		missing := ""
		for _, w := range want {
			if !strings.Contains(flat(scr), flat(w)) {
				missing = w
				break
			}
		}
		if missing == "" {
			return scr
		}
		if time.Now().After(deadline) {
			m.t.Fatalf("the screen never showed %q:\n%s", missing, scr)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// keys sends tmux key names (Enter, Down, Space); typed text uses typeText.
func (m *tmuxMenu) keys(keys ...string) {
	m.t.Helper()
	m.tmux(append([]string{"send-keys", "-t", "menu"}, keys...)...)
}

func (m *tmuxMenu) typeText(s string) {
	m.t.Helper()
	m.tmux("send-keys", "-t", "menu", "-l", s)
	m.keys("Enter")
}

// popup waits for the result pop-up, checks its title and lines, and
// closes it.
func (m *tmuxMenu) popup(title string, lines ...string) string {
	m.t.Helper()
	scr := m.wait(append([]string{title}, lines...)...)
	m.keys("Enter")
	return scr
}

// credentials answers the CloudLink user, account and password boxes.
func (m *tmuxMenu) credentials() {
	m.wait("CloudLink user name (e-mail):")
	m.typeText(admin)
	m.wait("CloudLink account number")
	m.typeText("100001")
	m.wait("CloudLink password of " + admin)
	m.typeText(password)
}

// TestProcessMXONEMenu drives the cloudLinkDaemon menu plugin through
// install, enable selected, disable all, enable selected and uninstall on
// a simulated three-server MX-ONE system, checking each pop-up and each
// server's real state.
func TestProcessMXONEMenu(t *testing.T) {
	t.Parallel()
	needBinaries(t)
	needTools(t, "tmux", "whiptail")
	start := time.Now()
	s := newMXSystem(t, theCloud(t), "mx1", "mx2", "mx3")
	mx1, mx2, mx3 := s.servers[0], s.servers[1], s.servers[2]
	m := s.startMenu()

	m.wait("Root password (for the MX-ONE servers):")
	m.typeText(rootPassword)
	m.wait("Install Cloud Link Daemon (CLD) in system", "Advanced maintenance for skilled users")
	if strings.Contains(m.screen(), rootPassword) {
		t.Fatal("the root password is on the screen")
	}

	// Install: the package on every server, each enabled and linked.
	m.keys("Enter")
	m.credentials()
	linked := "linked to account 100001 (Demo Account)"
	m.popup("Install Cloud Link Daemon (CLD) in system: succeeded",
		"mx1: installed cld-0.1.0-1.x86_64.rpm, enabled, "+linked,
		"mx2: installed cld-0.1.0-1.x86_64.rpm, enabled, "+linked,
		"mx3: installed cld-0.1.0-1.x86_64.rpm, enabled, "+linked)
	ids := map[string]string{}
	for _, srv := range s.servers {
		st := srv.status(t)
		if !srv.installed() || srv.pid() == 0 || !st.Linked || st.Account == nil || st.Account.ID != 100001 {
			t.Fatalf("%s after install: installed %v, pid %d, status %+v", srv.name, srv.installed(), srv.pid(), st)
		}
		if revoked(t, st.SystemID) {
			t.Errorf("%s: the cloud has system %s revoked", srv.name, st.SystemID)
		}
		ids[srv.name] = st.SystemID
	}
	if ids["mx1"] == ids["mx2"] || ids["mx2"] == ids["mx3"] {
		t.Fatalf("the servers share a system: %v", ids)
	}
	for _, srv := range []*mxServer{mx2, mx3} {
		for _, cmd := range srv.ssh.Execs() {
			if strings.Contains(cmd, password) || strings.Contains(cmd, rootPassword) {
				t.Errorf("a secret on %s's command line: %s", srv.name, cmd)
			}
		}
	}
	if n := len(mx1.ssh.Execs()); n != 0 {
		t.Errorf("the local server was reached over SSH (%d commands)", n)
	}

	// Advanced: enable selected (mx2), already linked: nothing changes.
	m.wait("Advanced maintenance for skilled users")
	m.keys("Down", "Enter")
	m.wait("Enable all servers via Cloud Link to external Cloud servers",
		"Enable selected servers via Cloud Link to external Cloud servers",
		"Disable Cloud Link Daemon (CLD) in all servers",
		"Disable Cloud Link Daemon (CLD) in selected servers",
		"Uninstall Cloud Link Daemon (CLD) in system")
	m.keys("Down", "Enter")
	m.wait("Select the servers", "mx1", "127.0.0.12: installed", "mx3")
	m.keys("Down", "Space", "Enter")
	m.credentials()
	m.popup("Enable selected servers: succeeded", "mx2: enabled, already "+linked+" (nothing to link)")
	if st := mx2.status(t); st.SystemID != ids["mx2"] {
		t.Errorf("mx2 linked again: %s, was %s", st.SystemID, ids["mx2"])
	}

	// Disable all: unlinked (revoked at the cloud), stopped, state removed.
	m.wait("Disable Cloud Link Daemon (CLD) in all servers")
	m.keys("Down", "Down", "Enter")
	m.wait("Disable the Cloud Link Daemon on all servers?")
	m.keys("Enter")
	for _, srv := range s.servers {
		m.wait(srv.name + ": disabled, unlinked from account 100001, instance state removed (" + srv.state + ")")
	}
	m.popup("Disable in all servers: succeeded")
	for _, srv := range s.servers {
		if !srv.installed() || srv.pid() != 0 || !srv.stateEmpty() || !revoked(t, ids[srv.name]) {
			t.Errorf("%s after disable: installed %v, pid %d, state empty %v, revoked %v", srv.name, srv.installed(), srv.pid(), srv.stateEmpty(), revoked(t, ids[srv.name]))
		}
	}

	// Enable selected (mx1, mx3): a new link each; mx2 stays disabled.
	m.wait("Enable selected servers via Cloud Link to external Cloud servers")
	m.keys("Down", "Enter") // each menu starts at its first item
	m.wait("Select the servers", "127.0.0.12: installed 0.", "disabled, stopped")
	m.keys("Space", "Down", "Down", "Space", "Enter")
	m.credentials()
	m.popup("Enable selected servers: succeeded", "mx1: enabled, "+linked, "mx3: enabled, "+linked)
	for _, srv := range []*mxServer{mx1, mx3} {
		if st := srv.status(t); !st.Linked || st.SystemID == ids[srv.name] || revoked(t, st.SystemID) {
			t.Errorf("%s after enable: %+v (was %s)", srv.name, st, ids[srv.name])
		} else {
			ids[srv.name] = st.SystemID
		}
	}
	if mx2.pid() != 0 || !mx2.stateEmpty() {
		t.Error("mx2 was enabled, not being selected")
	}

	// Uninstall: every server disabled, the package removed.
	m.wait("Uninstall Cloud Link Daemon (CLD) in system")
	m.keys("Down", "Down", "Down", "Down", "Enter")
	m.wait("Uninstall the Cloud Link Daemon from every server?")
	m.keys("Enter")
	m.popup("Uninstall Cloud Link Daemon (CLD) in system: succeeded",
		"mx1: disabled, unlinked from account 100001, instance state removed ("+mx1.state+"), package removed",
		"mx2: disabled, instance state removed ("+mx2.state+"), package removed",
		"mx3: disabled, unlinked from account 100001, instance state removed ("+mx3.state+"), package removed")
	for _, srv := range s.servers {
		if srv.installed() || srv.pid() != 0 || !srv.stateEmpty() || !revoked(t, ids[srv.name]) {
			t.Errorf("%s after uninstall: installed %v, pid %d, state empty %v, revoked %v", srv.name, srv.installed(), srv.pid(), srv.stateEmpty(), revoked(t, ids[srv.name]))
		}
	}
	// Back out of the menus: the plugin ends.
	m.wait("Uninstall Cloud Link Daemon (CLD) in system")
	m.keys("Escape")
	m.wait("Advanced maintenance for skilled users")
	t.Logf("the menu test took %s", time.Since(start).Round(time.Millisecond))
}

var hostKeyRE = regexp.MustCompile(`mx3: failed: the host key of mx3 \(127\.0\.0\.13:\d+, ssh-ed25519 SHA256:\S+\) is unknown: it is not in \S+; add it with ssh-keyscan -p \d+ 127\.0\.0\.13 >> `)

// TestProcessMXONEUnknownHostKey: a server whose host key is not in
// known_hosts fails with the sentence that says how to add it, and no
// command runs there; the other servers are installed and linked.
func TestProcessMXONEUnknownHostKey(t *testing.T) {
	t.Parallel()
	needBinaries(t)
	s := newMXSystem(t, theCloud(t), "mx1", "mx2")
	mx1, mx3 := s.servers[0], s.servers[2]
	cmd := command(cldBin, "mxone", "install", "--username", admin, "--account", "100001", "--package", s.pkgFile,
		"--secrets-stdin", "--ssh-port", strconv.Itoa(s.port), "--known-hosts", s.knownHosts)
	cmd.Env, cmd.Dir = mx1.env(), mx1.dir
	cmd.Stdin = strings.NewReader(rootPassword + "\n" + password + "\n")
	out, _ := cmd.CombinedOutput()
	if code := cmd.ProcessState.ExitCode(); code != 1 {
		t.Errorf("exit %d, want 1:\n%s", code, out)
	}
	for _, want := range []string{"mx1: installed cld-0.1.0-1.x86_64.rpm, enabled, linked to account 100001", "mx2: installed cld-0.1.0-1.x86_64.rpm, enabled, linked to account 100001"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if !hostKeyRE.Match(out) {
		t.Errorf("output lacks the unknown host key's sentence:\n%s", out)
	}
	if mx3.installed() || len(mx3.ssh.Execs()) != 0 {
		t.Errorf("mx3 was reached: installed %v, commands %q", mx3.installed(), mx3.ssh.Execs())
	}
	for _, srv := range s.servers[:2] {
		if st := srv.status(t); !st.Linked {
			t.Errorf("%s not linked: %+v", srv.name, st)
		}
	}
	// The listing says the same, with --json one server a line.
	cmd = command(cldBin, "mxone", "servers", "--json", "--secrets-stdin", "--ssh-port", strconv.Itoa(s.port), "--known-hosts", s.knownHosts)
	cmd.Env = mx1.env()
	cmd.Stdin = strings.NewReader(rootPassword + "\n")
	out, _ = cmd.Output()
	var rs []struct {
		Server string `json:"server"`
		OK     bool   `json:"ok"`
	}
	if err := json.Unmarshal(out, &rs); err != nil || len(rs) != 3 || !rs[0].OK || !rs[1].OK || rs[2].OK || len(strings.Split(strings.TrimSpace(string(out)), "\n")) != 5 {
		t.Errorf("servers --json: %v\n%s", err, out)
	}
}
