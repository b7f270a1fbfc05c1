package maintenance

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/cloudlink/cld/platforms/mxone"
	"github.com/cloudlink/cld/platforms/mxone/maintenance/sshtest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var three = []mxone.Server{
	{Number: 1, Name: "mx1", Address: "127.0.0.1", Local: true},
	{Number: 2, Name: "mx2", Address: "127.0.0.1"},
	{Number: 3, Name: "mx3", Address: "127.0.0.1"},
}

func names(ss []mxone.Server) string {
	var n []string
	for _, s := range ss {
		n = append(n, s.Name)
	}
	return strings.Join(n, ",")
}

func TestSelect(t *testing.T) {
	for _, tt := range []struct{ spec, want, err string }{
		{"all", "mx1,mx2,mx3", ""},
		{"mx3,mx1", "mx1,mx3", ""},
		{" MX2 ,mx2,", "mx2", ""},
		{"mx2,mx9,web", "", `no server "mx9", "web"; its servers are mx1, mx2, mx3`},
		{"", "", "no server selected"},
		{" , ", "", "no server selected"},
	} {
		got, err := Select(three, tt.spec)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("Select(%q): %v, want an error with %q", tt.spec, err, tt.err)
			}
			continue
		}
		if err != nil || names(got) != tt.want {
			t.Errorf("Select(%q) = %s, %v; want %s", tt.spec, names(got), err, tt.want)
		}
	}
}

// fakeTarget answers scripts by their first word after exec/if.
type fakeTarget struct {
	answer func(script, stdin string) (string, error)
	closed bool
}

func (f *fakeTarget) Run(_ context.Context, script string, stdin io.Reader) (string, error) {
	var in []byte
	if stdin != nil {
		in, _ = io.ReadAll(stdin)
	}
	return f.answer(script, string(in))
}

func (f *fakeTarget) Close() error { f.closed = true; return nil }

// TestPerServerResults: each server answers for itself, in the order of
// the selection; a failed command's sentence is its standard error's.
func TestPerServerResults(t *testing.T) {
	var stdins []string
	targets := map[string]*fakeTarget{
		"mx1": {answer: func(script, stdin string) (string, error) {
			stdins = append(stdins, stdin)
			return `{"message":"enabled, linked to account 100001","state":{"installed":true,"linked":true,"account":100001}}`, nil
		}},
		"mx2": {answer: func(string, string) (string, error) {
			return "", &CommandError{Code: 1, Stderr: "cld: enabled, but the link failed: the password is wrong\n", Err: errors.New("exit 1")}
		}},
		"mx3": {answer: func(string, string) (string, error) {
			return "", errors.New("cannot reach 127.0.0.13:22 over SSH: connection refused")
		}},
	}
	sys, err := New(Config{Servers: three, Target: func(s mxone.Server) Target { return targets[s.Name] }})
	if err != nil {
		t.Fatal(err)
	}
	rs := sys.Enable(context.Background(), three, Credentials{Username: "admin@demo.test", Account: 100001, Password: "pw'1"})
	want := []string{
		"mx1: enabled, linked to account 100001",
		"mx2: failed: enabled, but the link failed: the password is wrong",
		"mx3: failed: cannot reach 127.0.0.13:22 over SSH: connection refused",
	}
	for i, r := range rs {
		if r.Line() != want[i] {
			t.Errorf("result %d: %q, want %q", i, r.Line(), want[i])
		}
	}
	if !Failed(rs) || !rs[0].Local || rs[0].State == nil || !rs[0].State.Linked {
		t.Errorf("results: %+v", rs)
	}
	if len(stdins) != 1 || stdins[0] != "pw'1\n" {
		t.Errorf("the password was not given on stdin: %q", stdins)
	}
	if s := enableScript(Credentials{Username: "a'b@x", Account: 7}); strings.Contains(s, "pw") || !strings.Contains(s, `--username 'a'\''b@x' --account 7`) {
		t.Errorf("enable script: %s", s)
	}
	// Without credentials nothing runs.
	rs = sys.Enable(context.Background(), three[:1], Credentials{})
	if rs[0].OK || !strings.Contains(rs[0].Message, "no CloudLink user name and password") || len(stdins) != 1 {
		t.Errorf("enable without credentials: %+v", rs)
	}
	sys.Close()
	if !targets["mx2"].closed {
		t.Error("Close did not close the targets")
	}
}

func TestDefaultPackage(t *testing.T) {
	dir := t.TempDir()
	if _, err := DefaultPackage(dir); err == nil || !strings.Contains(err.Error(), "--package") {
		t.Errorf("empty dir: %v", err)
	}
	now := time.Now()
	for i, n := range []string{"cld-0.1.0-1.x86_64.rpm", "cld_0.2.0-1_amd64.deb", "other.rpm"} {
		p := filepath.Join(dir, n)
		os.WriteFile(p, []byte("x"), 0o644)
		os.Chtimes(p, now, now.Add(time.Duration(i)*time.Hour))
	}
	if got, err := DefaultPackage(dir); err != nil || filepath.Base(got) != "cld_0.2.0-1_amd64.deb" {
		t.Errorf("DefaultPackage = %s, %v", got, err)
	}
}

// startSSH starts a test SSH server whose commands run in a temp dir.
func startSSH(t *testing.T, password string) *sshtest.Server {
	t.Helper()
	srv, err := sshtest.Start(sshtest.Config{Addr: "127.0.0.1:0", Dir: t.TempDir(), Env: []string{"PATH=/usr/bin:/bin"}, Password: password})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	return srv
}

func target(t *testing.T, srv *sshtest.Server, name, knownHosts, password string) *SSHTarget {
	t.Helper()
	host, port, _ := strings.Cut(srv.Addr, ":")
	p, _ := strconv.Atoi(port)
	tg := NewSSHTarget(name, host, SSHConfig{Port: p, Password: password, KnownHosts: knownHosts, ConnectTimeout: 5 * time.Second})
	t.Cleanup(func() { tg.Close() })
	return tg
}

// TestSSHRun: a script runs with its stdin, output, error and status.
func TestSSHRun(t *testing.T) {
	srv := startSSH(t, "root-pw")
	kh := filepath.Join(t.TempDir(), "known_hosts")
	os.WriteFile(kh, []byte(srv.KnownHostsLine()+"\n"), 0o600)
	tg := target(t, srv, "mx2", kh, "root-pw")
	out, err := tg.Run(context.Background(), `read pw; echo "got ${#pw}"; pwd`, strings.NewReader("secret\n"))
	if err != nil || !strings.HasPrefix(out, "got 6\n") {
		t.Fatalf("run: %q %v", out, err)
	}
	_, err = tg.Run(context.Background(), `echo "cld: the link failed: no" >&2; exit 3`, nil)
	var ce *CommandError
	if !errors.As(err, &ce) || ce.Code != 3 || err.Error() != "the link failed: no" {
		t.Errorf("failed command: %#v %v", err, err)
	}
	if execs := srv.Execs(); len(execs) != 2 || strings.Contains(strings.Join(execs, " "), "secret") {
		t.Errorf("the commands run: %q", execs)
	}
	if _, err := target(t, srv, "mx2", kh, "wrong").Run(context.Background(), "true", nil); err == nil || !strings.Contains(err.Error(), "check the root password") {
		t.Errorf("wrong password: %v", err)
	}
}

// TestHostKeyRefused: an unknown or changed host key fails that server with
// a sentence that says how to add the key; the others go on.
func TestHostKeyRefused(t *testing.T) {
	good, unknown, changed := startSSH(t, "pw"), startSSH(t, "pw"), startSSH(t, "pw")
	kh := filepath.Join(t.TempDir(), "known_hosts")
	// changed's address is listed with good's key.
	other := strings.Replace(good.KnownHostsLine(), knownhostsAddr(good.Addr), knownhostsAddr(changed.Addr), 1)
	os.WriteFile(kh, []byte("# the system's servers\n"+good.KnownHostsLine()+"\n"+other+"\n"), 0o600)
	servers := []mxone.Server{{Name: "mx1"}, {Name: "mx2"}, {Name: "mx3"}}
	byName := map[string]*sshtest.Server{"mx1": good, "mx2": unknown, "mx3": changed}
	sys, err := New(Config{Servers: servers, Target: func(s mxone.Server) Target { return target(t, byName[s.Name], s.Name, kh, "pw") }})
	if err != nil {
		t.Fatal(err)
	}
	defer sys.Close()
	rs := sys.ServerStates(context.Background())
	if !rs[0].OK || rs[0].Message != "not installed" {
		t.Errorf("the known server: %+v", rs[0])
	}
	for i, want := range []string{"", "is unknown: it is not in " + kh + "; add it with ssh-keyscan -p", "is not the one in " + kh + " line 3: it changed"} {
		if i == 0 {
			continue
		}
		if rs[i].OK || !strings.Contains(rs[i].Message, want) || !strings.Contains(rs[i].Message, "ssh-keyscan") || !strings.Contains(rs[i].Message, "SHA256:") {
			t.Errorf("%s: %q, want %q", rs[i].Server, rs[i].Message, want)
		}
	}
	t.Logf("unknown: %s\nchanged: %s", rs[1].Message, rs[2].Message)
	if len(unknown.Execs()) != 0 || len(changed.Execs()) != 0 {
		t.Error("a command ran on a server whose host key is not trusted")
	}
	// No known_hosts file at all.
	_, err = target(t, good, "mx1", filepath.Join(t.TempDir(), "none"), "pw").Run(context.Background(), "true", nil)
	if !errors.Is(err, ErrHostKey) || !strings.Contains(err.Error(), "ssh-keyscan") {
		t.Errorf("no known_hosts file: %v", err)
	}
}

func knownhostsAddr(addr string) string {
	host, port, _ := strings.Cut(addr, ":")
	return "[" + host + "]:" + port
}

// fakeDaemon is a daemon's local API.
type fakeDaemon struct {
	up, linked bool
	pending    bool
	calls      []string
}

func (d *fakeDaemon) Status(context.Context) (DaemonStatus, error) {
	if !d.up {
		return DaemonStatus{}, errors.New("daemon not reachable")
	}
	st := DaemonStatus{Linked: d.linked, SystemID: "sys-1"}
	if d.linked {
		st.Account, st.AccountName = 100001, "Demo Account"
	}
	return st, nil
}

func (d *fakeDaemon) Link(_ context.Context, c Credentials) (DaemonStatus, error) {
	d.calls = append(d.calls, "link "+c.Username)
	if c.Password != "demo-password" {
		return DaemonStatus{}, errors.New("the password is wrong")
	}
	d.linked = true
	return d.Status(context.Background())
}

func (d *fakeDaemon) Unlink(context.Context) (DaemonStatus, error) {
	d.calls = append(d.calls, "unlink")
	d.linked = false
	return DaemonStatus{PendingRevocation: d.pending}, nil
}

// fakeLocal is a Local whose systemctl and rpm are recorded.
func fakeLocal(t *testing.T, d *fakeDaemon) (*Local, *[]string) {
	var ran []string
	l := &Local{Daemon: d, StateDir: t.TempDir(), WaitAPI: time.Second, Exec: func(_ context.Context, name string, args ...string) (string, error) {
		cmd := name + " " + strings.Join(args, " ")
		ran = append(ran, cmd)
		switch cmd {
		case "systemctl enable --now cld.service", "systemctl start cld.service":
			d.up = true
		case "systemctl disable --now cld.service":
			d.up = false
		case "systemctl is-active cld.service":
			if d.up {
				return "active", nil
			}
			return "inactive", errors.New("exit 3")
		}
		return "", nil
	}}
	return l, &ran
}

func TestLocalEnableDisable(t *testing.T) {
	ctx := context.Background()
	d := &fakeDaemon{}
	l, ran := fakeLocal(t, d)
	if _, err := l.Enable(ctx, Credentials{Username: "admin@demo.test", Password: "nope"}); err == nil || !strings.Contains(err.Error(), "enabled, but the link failed: the password is wrong") {
		t.Errorf("wrong password: %v", err)
	}
	r, err := l.Enable(ctx, Credentials{Username: "admin@demo.test", Account: 100001, Password: "demo-password"})
	if err != nil || r.Message != "enabled, linked to account 100001 (Demo Account)" || !r.State.Active || !r.State.Linked {
		t.Fatalf("enable: %+v %v", r, err)
	}
	r, err = l.Enable(ctx, Credentials{})
	if err != nil || !strings.Contains(r.Message, "already linked to account 100001") || len(d.calls) != 2 {
		t.Errorf("enable while linked: %+v %v %q", r, err, d.calls)
	}

	os.WriteFile(filepath.Join(l.StateDir, "link.json"), []byte("{}"), 0o600)
	os.MkdirAll(filepath.Join(l.StateDir, "update", "bin"), 0o700)
	// Stopped but linked: started to revoke the link.
	d.up, d.pending = false, true
	r, err = l.Disable(ctx)
	if err != nil || !strings.HasPrefix(r.Message, "disabled, unlinked from account 100001, CloudLink could not be reached") || !strings.HasSuffix(r.Message, "instance state removed ("+l.StateDir+")") {
		t.Fatalf("disable: %+v %v", r, err)
	}
	if entries, err := os.ReadDir(l.StateDir); err != nil || len(entries) != 0 {
		t.Errorf("the state dir after disable: %v %v", entries, err)
	}
	if !slices.Contains(*ran, "systemctl start cld.service") || !slices.Contains(*ran, "systemctl disable --now cld.service") || d.up || d.linked {
		t.Errorf("disable ran %q; daemon %+v", *ran, d)
	}
	// Disabled again: nothing to revoke, nothing started.
	*ran = nil
	if r, err = l.Disable(ctx); err != nil || r.Message != "disabled, instance state removed ("+l.StateDir+")" || slices.Contains(*ran, "systemctl start cld.service") {
		t.Errorf("disable again: %+v %v %q", r, err, *ran)
	}
	for _, bad := range []string{"", "/", "var/lib/cld", "/var/lib/../lib/cld"} {
		l.StateDir = bad
		if _, err := l.Disable(ctx); err == nil || !strings.Contains(err.Error(), "state_dir") {
			t.Errorf("state dir %q: %v", bad, err)
		}
	}
}

func TestStateSummary(t *testing.T) {
	for _, tt := range []struct {
		s    State
		want string
	}{
		{State{}, "not installed"},
		{State{Installed: true, Version: "0.1.0"}, "installed 0.1.0, disabled, stopped"},
		{State{Installed: true, Version: "0.1.0", Enabled: true, Active: true}, "installed 0.1.0, enabled, running, not linked"},
		{State{Installed: true, Enabled: true, Active: true, Linked: true, Account: 100001, AccountName: "Demo Account"}, "installed, enabled, running, linked to account 100001 (Demo Account)"},
		{State{Installed: true, Enabled: true, Active: true, Problem: "the daemon does not answer"}, "installed, enabled, running, the daemon does not answer"},
	} {
		if got := tt.s.Summary(); got != tt.want {
			t.Errorf("%+v: %q, want %q", tt.s, got, tt.want)
		}
	}
}
