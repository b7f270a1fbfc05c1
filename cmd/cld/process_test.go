package main

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/cloudlink/cld/agent/api"
	"github.com/cloudlink/cld/agent/client"
	"github.com/cloudlink/cld/internal/gobuild"
)

// Binaries built once by TestMain for the process tests.
var (
	binDir   string
	cldBin   string
	cloudBin string
	buildErr error
)

func TestMain(m *testing.M) {
	// The daemons' password hashes at bcrypt's lowest cost (the cldtest
	// hook): a check at the default cost takes most of a second of a core
	// under the race detector, and the tests sign in many times.
	os.Setenv("CLD_TEST_PASSWORD_COST", "4")
	code := m.Run()
	stopSharedCloud()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintf(os.Stderr, "goleak: %v\n", err)
			code = 1
		}
	}
	os.Exit(code)
}

var buildOnce sync.Once

// procEnv is the environment of the processes under test: without the race
// detector's one-second sleep at exit.
func procEnv() []string { return append(os.Environ(), "GORACE=atexit_sleep_ms=0 halt_on_error=1") }

// command is exec.Command with procEnv.
func command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(name, args...)
	cmd.Env = procEnv()
	return cmd
}

// buildBinaries builds cld (with the race detector) and cld-cloud once.
func buildBinaries() {
	dir, err := os.MkdirTemp("", "cld-bin-")
	if err != nil {
		buildErr = err
		return
	}
	binDir = dir
	cldBin = filepath.Join(dir, "cld")
	cloudBin = filepath.Join(dir, "cld-cloud")
	buildErr = buildBinary(cldBin, "-race -tags=cldtest", "./")
	if buildErr == nil {
		buildErr = buildBinary(cloudBin, "", "../cld-cloud")
	}
}

func buildBinary(out, flag, pkg string) error {
	return gobuild.Build(out, pkg, gobuild.Options{Flags: strings.Fields(flag)})
}

func needBinaries(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("process tests are skipped with -short")
	}
	buildOnce.Do(buildBinaries)
	if buildErr != nil {
		t.Fatal(buildErr)
	}
}

// syncBuffer collects a process's output safely.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// cloudProc is a `cld-cloud serve --demo` process.
type cloudProc struct {
	cmd    *exec.Cmd
	url    string
	caFile string
	out    *syncBuffer
	done   chan struct{}
}

var (
	sharedMu    sync.Mutex
	sharedCloud *cloudProc
)

// theCloud starts (once) the cloud shared by the process tests.
func theCloud(t *testing.T) *cloudProc {
	t.Helper()
	sharedMu.Lock()
	defer sharedMu.Unlock()
	if sharedCloud == nil {
		c, err := startCloud(filepath.Join(binDir, "cloud-data"))
		if err != nil {
			t.Fatal(err)
		}
		sharedCloud = c
	}
	return sharedCloud
}

func stopSharedCloud() {
	sharedMu.Lock()
	defer sharedMu.Unlock()
	if sharedCloud != nil {
		sharedCloud.cmd.Process.Signal(syscall.SIGTERM)
		<-sharedCloud.done
		sharedCloud = nil
	}
}

var (
	listenRE = regexp.MustCompile(`listening on (https://\S+)`)
	caRE     = regexp.MustCompile(`CA certificate[^:]*: (\S+)`)
)

// startCloud runs `cld-cloud serve --demo`; extra flags follow (the shared
// cloud has no public tunnel listener, so that it never competes for the
// default port).
func startCloud(data string, extra ...string) (*cloudProc, error) {
	if len(extra) == 0 {
		extra = []string{"--listen", "127.0.0.1:0", "--edge-listen", "off"}
	}
	cmd := exec.Command(cloudBin, append([]string{"serve", "--data", data, "--demo", "--log-level", "warn", "--password-cost", "4"}, extra...)...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	c := &cloudProc{cmd: cmd, out: &syncBuffer{}, done: make(chan struct{})}
	cmd.Stderr = c.out
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	ready := make(chan struct{})
	var url, ca string
	go func() {
		defer close(c.done)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			l := sc.Text()
			c.out.Write([]byte(l + "\n"))
			if url == "" || ca == "" {
				if m := listenRE.FindStringSubmatch(l); m != nil {
					url = m[1]
				}
				if m := caRE.FindStringSubmatch(l); m != nil {
					ca = m[1]
				}
				if url != "" && ca != "" {
					close(ready)
				}
			}
		}
		cmd.Wait()
	}()
	select {
	case <-ready:
		c.url, c.caFile = url, ca
	case <-c.done:
		return nil, fmt.Errorf("cld-cloud exited:\n%s", c.out.String())
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		return nil, fmt.Errorf("cld-cloud did not start:\n%s", c.out.String())
	}
	return c, nil
}

// daemon is a `cld run` process with its own state dir and socket.
type daemon struct {
	t          *testing.T
	dir        string
	state      string
	socket     string
	configFile string
	cloud      string
	cloudCA    string
	cmd        *exec.Cmd
	out        *syncBuffer
	done       chan struct{}
	bin        string   // the cld that runs (default cldBin)
	env        []string // added to its environment
	listen     string   // its dashboard's address (default 127.0.0.1:0)
}

func newDaemon(t *testing.T, c *cloudProc) *daemon {
	dir := t.TempDir()
	d := &daemon{t: t, dir: dir, state: filepath.Join(dir, "state"), socket: filepath.Join(dir, "run", "cld.sock"),
		configFile: filepath.Join(dir, "cld.yaml"), cloud: c.url, cloudCA: c.caFile}
	os.WriteFile(filepath.Join(dir, "machine-id"), []byte("0123456789abcdef0123456789abcdef\n"), 0o644)
	// The file names the machine-id; the flags name the rest (flags beat the file).
	os.WriteFile(d.configFile, []byte(fmt.Sprintf("machine_id_file: %s\nstate_dir: /nonexistent/overridden\nheartbeat_interval: 1m\n", filepath.Join(dir, "machine-id"))), 0o600)
	t.Cleanup(d.stop)
	return d
}

// start runs the daemon and waits until its local API answers.
func (d *daemon) start() {
	d.t.Helper()
	d.out = &syncBuffer{}
	d.done = make(chan struct{})
	bin := d.bin
	if bin == "" {
		bin = cldBin
	}
	d.cmd = command(bin, "run", "--config", d.configFile, "--state", d.state, "--socket", d.socket,
		"--cloud", d.cloud, "--cloud-ca", d.cloudCA, "--listen", cmp.Or(d.listen, "127.0.0.1:0"), "--log-level", "debug")
	d.cmd.Stdout, d.cmd.Stderr = d.out, d.out
	d.cmd.Env = append(d.cmd.Env, d.env...)
	if err := d.cmd.Start(); err != nil {
		d.t.Fatal(err)
	}
	done := d.done
	cmd := d.cmd
	go func() { cmd.Wait(); close(done) }()
	c := client.NewUnix(d.socket)
	deadline := time.Now().Add(60 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, err := c.Status(ctx)
		cancel()
		if err == nil {
			return
		}
		select {
		case <-done:
			d.t.Fatalf("cld run exited: %v\n%s", cmd.ProcessState, d.out.String())
		default:
		}
		if time.Now().After(deadline) {
			d.t.Fatalf("cld run did not answer: %v\n%s", err, d.out.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitLog waits until the daemon's output matches re and returns the match.
func (d *daemon) waitLog(re *regexp.Regexp) []string {
	d.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if m := re.FindStringSubmatch(d.out.String()); m != nil {
			return m
		}
		if time.Now().After(deadline) {
			d.t.Fatalf("the daemon's log never matched %s:\n%s", re, d.out.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// kill9 kills the daemon without warning.
func (d *daemon) kill9() {
	if d.cmd == nil {
		return
	}
	d.cmd.Process.Signal(syscall.SIGKILL)
	<-d.done
	d.cmd = nil
}

// stop ends the daemon with SIGTERM and expects a clean exit.
func (d *daemon) stop() {
	if d.cmd == nil {
		return
	}
	d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.done:
	case <-time.After(30 * time.Second):
		d.cmd.Process.Kill()
		<-d.done
		d.t.Errorf("cld run did not stop on SIGTERM:\n%s", d.out.String())
	}
	if code := d.cmd.ProcessState.ExitCode(); code != 0 {
		d.t.Errorf("cld run exited %d after SIGTERM:\n%s", code, d.out.String())
	}
	d.cmd = nil
}

// cli runs the cld binary against the daemon.
func (d *daemon) cli(stdin string, args ...string) (stdout, stderr string, code int) {
	d.t.Helper()
	if len(args) > 0 && args[0] != "version" {
		args = append(args, "--socket", d.socket)
	}
	cmd := command(cldBin, args...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if _, ok := err.(*exec.ExitError); err != nil && !ok {
		d.t.Fatal(err)
	}
	return out.String(), errb.String(), cmd.ProcessState.ExitCode()
}

func (d *daemon) statusJSON() (api.Status, map[string]any) {
	d.t.Helper()
	out, errOut, code := d.cli("", "status", "--json")
	if code != 0 {
		d.t.Fatalf("cld status --json: exit %d: %s", code, errOut)
	}
	var st api.Status
	var raw map[string]any
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		d.t.Fatalf("status JSON: %v\n%s", err, out)
	}
	json.Unmarshal([]byte(out), &raw)
	return st, raw
}

const (
	admin    = "admin@demo.test"
	user     = "user@demo.test"
	password = "demo-password"
)

func TestProcessLinkStatusUnlink(t *testing.T) {
	t.Parallel()
	needBinaries(t)
	d := newDaemon(t, theCloud(t))
	d.start()

	st, raw := d.statusJSON()
	if st.Linked || st.State != "unlinked" || raw["warnings"] == nil || raw["version"] == "" {
		t.Fatalf("initial status: %v", raw)
	}
	for _, name := range []string{"dashboard-users.json", "dashboard-initial-password", "link.json"} {
		fi, err := os.Stat(filepath.Join(d.state, name))
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v %v", name, fi, err)
		}
	}
	if fi, err := os.Stat(d.socket); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("socket: %v %v", fi, err)
	}
	if strings.Contains(d.out.String(), mustRead(t, filepath.Join(d.state, "dashboard-initial-password"))) {
		t.Error("the initial dashboard password is in the log")
	}

	out, errOut, code := d.cli(password+"\n", "link", "--username", admin, "--password-stdin", "--account", "100001")
	if code != 0 || !strings.Contains(out, "Linked to Demo Account (account 100001, region eu)") {
		t.Fatalf("link: exit %d\n%s%s", code, out, errOut)
	}
	st, raw = d.statusJSON()
	acc, _ := raw["account"].(map[string]any)
	for _, k := range []string{"linked", "state", "system_id", "version", "warnings"} {
		if _, ok := raw[k]; !ok {
			t.Errorf("status JSON lacks %q", k)
		}
	}
	for _, k := range []string{"id", "name", "uuid", "region", "partner_id", "user_id", "role"} {
		if _, ok := acc[k]; !ok {
			t.Errorf("status JSON account lacks %q", k)
		}
	}
	if !st.Linked || st.State != "linked" || st.Account.ID != 100001 || st.Account.Name != "Demo Account" || st.Account.Role != "ACCOUNT_ADMIN" || st.SystemID == "" {
		t.Fatalf("linked status: %v", raw)
	}
	out, _, code = d.cli("", "status")
	if code != 0 || !strings.Contains(out, "linked") || !strings.Contains(out, "Demo Account (ID 100001, region eu)") || !strings.Contains(out, st.SystemID) {
		t.Errorf("human status:\n%s", out)
	}
	if strings.Contains(d.out.String(), password) || strings.Contains(d.out.String(), mustReadSecret(t, d.state)) {
		t.Error("a secret is in the daemon's log")
	}

	// Restart keeps the link.
	d.stop()
	d.start()
	if st2, _ := d.statusJSON(); !st2.Linked || st2.SystemID != st.SystemID {
		t.Errorf("after restart: %+v", st2)
	}

	out, errOut, code = d.cli("", "unlink")
	if code != 0 || !strings.Contains(out, "Unlinked") {
		t.Fatalf("unlink: exit %d\n%s%s", code, out, errOut)
	}
	if st, _ := d.statusJSON(); st.Linked || st.State != "unlinked" || st.PendingRevocation {
		t.Errorf("after unlink: %+v", st)
	}

	// The dashboard account command.
	out, errOut, code = d.cli("a strong password\n", "dashboard-user", "--username", "admin", "--password-stdin")
	if code != 0 || !strings.Contains(out, `"admin" saved`) {
		t.Errorf("dashboard-user: %d %s%s", code, out, errOut)
	}
	if _, err := os.Stat(filepath.Join(d.state, "dashboard-initial-password")); !os.IsNotExist(err) {
		t.Error("initial password file kept after the admin's password changed")
	}
	_, errOut, code = d.cli("short\n", "dashboard-user", "--username", "admin", "--password-stdin")
	if code != 1 || !strings.Contains(errOut, "at least 8 characters") {
		t.Errorf("short dashboard password: %d %s", code, errOut)
	}
}

func mustRead(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// mustReadSecret returns the device client secret of the state dir.
func mustReadSecret(t *testing.T, state string) string {
	t.Helper()
	var f struct {
		Link struct {
			ClientSecret string `json:"client_secret"`
		} `json:"link"`
	}
	if err := json.Unmarshal([]byte(mustRead(t, filepath.Join(state, "link.json"))), &f); err != nil || f.Link.ClientSecret == "" {
		t.Fatalf("no client secret in link.json: %v", err)
	}
	return f.Link.ClientSecret
}

func TestProcessExitCodes(t *testing.T) {
	t.Parallel()
	needBinaries(t)
	d := newDaemon(t, theCloud(t))
	d.start()
	tests := []struct {
		name     string
		stdin    string
		args     []string
		code     int
		contains string
	}{
		{"wrong password", "nope\n", []string{"link", "--username", admin, "--password-stdin", "--account", "100001"}, 1, "password is wrong"},
		{"not admin", password + "\n", []string{"link", "--username", user, "--password-stdin"}, 1, "not an administrator"},
		{"unknown account", password + "\n", []string{"link", "--username", admin, "--password-stdin", "--account", "424242"}, 1, "424242"},
		{"account required", password + "\n", []string{"link", "--username", admin, "--password-stdin"}, 1, "--account N"},
		{"cloud down", password + "\n", []string{"link", "--username", admin, "--password-stdin", "--cloud", "https://127.0.0.1:1"}, 1, "Could not reach CloudLink at https://127.0.0.1:1"},
		{"no username", password + "\n", []string{"link", "--password-stdin"}, 2, "Usage: cld link"},
		{"no password source", "", []string{"link", "--username", admin}, 2, "--password-stdin"},
		{"unlink while unlinked", "", []string{"unlink"}, 1, "not linked"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, errOut, code := d.cli(tt.stdin, tt.args...)
			if code != tt.code || !strings.Contains(errOut, tt.contains) {
				t.Errorf("exit %d, want %d; stderr lacks %q?\n%s%s", code, tt.code, tt.contains, out, errOut)
			}
			if st, _ := d.statusJSON(); st.State != "unlinked" {
				t.Errorf("state after %s: %s", tt.name, st.State)
			}
		})
	}
	if got := dirNames(t, d.state); strings.Join(got, " ") != "dashboard-initial-password dashboard-users.json link.json lock" {
		t.Errorf("state dir after failures: %v", got)
	}
	_, errOut, code := d.cli(password+"\n", "link", "--username", admin, "--password-stdin", "--account", "100001")
	if code != 0 {
		t.Fatalf("link: %s", errOut)
	}
	_, errOut, code = d.cli(password+"\n", "link", "--username", admin, "--password-stdin", "--account", "100001")
	if code != 1 || !strings.Contains(errOut, "run `cld unlink` first") {
		t.Errorf("link while linked: %d %s", code, errOut)
	}
	// A second daemon on the same socket is refused with a clear message.
	cmd := command(cldBin, "run", "--config", d.configFile, "--state", d.state, "--socket", d.socket, "--listen", "")
	out, err := cmd.CombinedOutput()
	if code := cmd.ProcessState.ExitCode(); code != 1 || !strings.Contains(string(out), "another cld daemon is listening") {
		t.Errorf("second daemon: %d %v\n%s", code, err, out)
	}
	// Without a daemon: a clear failure, and version still works.
	cmd = command(cldBin, "status", "--socket", filepath.Join(d.dir, "nothing.sock"))
	out, _ = cmd.CombinedOutput()
	if code := cmd.ProcessState.ExitCode(); code != 1 || !strings.Contains(string(out), "is `cld run` running") {
		t.Errorf("status without daemon: %d %s", code, out)
	}
	out2, _, code := d.cli("", "version")
	if code != 0 || !strings.HasPrefix(out2, "cld ") {
		t.Errorf("version: %d %s", code, out2)
	}
}

func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

// checkStateDir asserts the state dir is whole: link.json parses, nothing
// was quarantined, no temporary files are left after a start.
func checkStateDir(t *testing.T, state string) (linked bool) {
	t.Helper()
	for _, name := range dirNames(t, state) {
		if strings.Contains(name, ".corrupt-") {
			t.Fatalf("state dir holds %s", name)
		}
	}
	var f struct {
		Format         int             `json:"format"`
		InstallationID string          `json:"installation_id"`
		Link           json.RawMessage `json:"link"`
	}
	data, err := os.ReadFile(filepath.Join(state, "link.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &f); err != nil || f.Format != 1 || f.InstallationID == "" {
		t.Fatalf("link.json does not parse: %v\n%s", err, data)
	}
	var users map[string]any
	if err := json.Unmarshal([]byte(mustRead(t, filepath.Join(state, "dashboard-users.json"))), &users); err != nil {
		t.Fatalf("dashboard-users.json does not parse: %v", err)
	}
	return len(f.Link) > 0 && string(f.Link) != "null"
}

// TestProcessKill9 kills the daemon at random moments of links and unlinks:
// after a restart the state is the old or the new one, never corrupt.
func TestProcessKill9(t *testing.T) {
	t.Parallel()
	needBinaries(t)
	d := newDaemon(t, theCloud(t))
	d.start()
	rounds := 25
	seen := map[string]int{}
	for i := 0; i < rounds; i++ {
		before, _ := d.statusJSON()
		var cmd *exec.Cmd
		if before.Linked {
			cmd = command(cldBin, "unlink", "--socket", d.socket)
		} else {
			cmd = command(cldBin, "link", "--username", admin, "--password-stdin", "--account", "100001", "--socket", d.socket)
			cmd.Stdin = strings.NewReader(password + "\n")
		}
		var cliOut syncBuffer
		cmd.Stdout, cmd.Stderr = &cliOut, &cliOut
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(rand.IntN(150)) * time.Millisecond) // a random moment, not a wait for logic
		d.kill9()
		cmd.Wait()
		cliCode := cmd.ProcessState.ExitCode()
		// Temporary files the killed daemon left behind must be gone after
		// the restart (a write the new daemon has in flight may be there).
		var stale []string
		for _, name := range dirNames(t, d.state) {
			if strings.Contains(name, ".tmp-") {
				stale = append(stale, name)
			}
		}

		d.start()
		for _, name := range dirNames(t, d.state) {
			if slices.Contains(stale, name) {
				t.Fatalf("round %d: the restarted daemon left the killed one's temporary file %s", i, name)
			}
		}
		after, _ := d.statusJSON()
		if after.State != "linked" && after.State != "unlinked" {
			t.Fatalf("round %d: state %q after kill -9 (%+v)\nCLI: %s\ndaemon:\n%s", i, after.State, after, cliOut.String(), d.out.String())
		}
		onDisk := checkStateDir(t, d.state)
		if onDisk != after.Linked {
			t.Fatalf("round %d: status linked=%v but link.json linked=%v", i, after.Linked, onDisk)
		}
		if cliCode == 0 && after.Linked == before.Linked {
			t.Fatalf("round %d: the CLI reported success but the state is still %q\nCLI: %s", i, after.State, cliOut.String())
		}
		changed := "kept"
		if after.Linked != before.Linked {
			changed = "changed"
		}
		seen[changed]++
	}
	t.Logf("kill -9 rounds: %v", seen)

	// It still works: a clean link and unlink.
	if st, _ := d.statusJSON(); st.Linked {
		if _, errOut, code := d.cli("", "unlink"); code != 0 {
			t.Fatalf("final unlink: %s", errOut)
		}
	}
	if _, errOut, code := d.cli(password+"\n", "link", "--username", admin, "--password-stdin", "--account", "100001"); code != 0 {
		t.Fatalf("final link: %s", errOut)
	}
	if st, _ := d.statusJSON(); !st.Linked {
		t.Fatalf("not linked after the final link: %+v", st)
	}
	if _, errOut, code := d.cli("", "unlink"); code != 0 {
		t.Fatalf("final unlink: %s", errOut)
	}
	st, _ := d.statusJSON()
	if st.Linked {
		t.Fatalf("linked after the final unlink")
	}
	deadline := time.Now().Add(30 * time.Second)
	for st.PendingRevocation && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond) // revocations from killed rounds finish in the background
		st, _ = d.statusJSON()
	}
	if st.PendingRevocation {
		t.Errorf("revocations still pending: %+v", st)
	}
}

var (
	dashURLRE = regexp.MustCompile(`msg="dashboard listening".* url=(http://\S+)`)
	csrfRE    = regexp.MustCompile(`name="csrf" value="([^"]+)"`)
	hiddenRE  = regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)">`)
)

// TestProcessDashboardBrowserLink links through the dashboard (mounted under
// /cld) and the cloud's sign-in page, as a browser would.
func TestProcessDashboardBrowserLink(t *testing.T) {
	t.Parallel()
	needBinaries(t)
	c := theCloud(t)
	d := newDaemon(t, c)
	cfg, _ := os.ReadFile(d.configFile)
	os.WriteFile(d.configFile, append(cfg, []byte("dashboard:\n  base_path: /cld\n")...), 0o600)
	d.start()
	m := d.waitLog(dashURLRE)
	home := m[1] // http://127.0.0.1:PORT/cld/
	pool, err := loadPool(c.caFile)
	if err != nil {
		t.Fatal(err)
	}
	jar, _ := cookiejar.New(nil)
	hc := &http.Client{Jar: jar, Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	defer hc.CloseIdleConnections()
	get := func(resp *http.Response, err error) (string, *http.Response) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: %s\n%s", resp.Request.URL, resp.Status, b)
		}
		return string(b), resp
	}
	field := func(re *regexp.Regexp, body string) string {
		t.Helper()
		m := re.FindStringSubmatch(body)
		if m == nil {
			t.Fatalf("no %s in:\n%s", re, body)
		}
		return m[1]
	}

	body, _ := get(hc.Get(home + "login"))
	pw := mustRead(t, filepath.Join(d.state, "dashboard-initial-password"))
	body, _ = get(hc.PostForm(home+"login", url.Values{"csrf": {field(csrfRE, body)}, "username": {"admin"}, "password": {pw}}))
	if !strings.Contains(body, "Link to CloudLink") {
		t.Fatalf("dashboard home after sign-in:\n%s", body)
	}
	// Link to CloudLink: the browser goes to the cloud's sign-in page.
	body, resp := get(hc.PostForm(home+"link", url.Values{"csrf": {field(csrfRE, body)}}))
	if !strings.HasPrefix(resp.Request.URL.String(), c.url+"/oauth/authorize") {
		t.Fatalf("not at the cloud's sign-in page: %s", resp.Request.URL)
	}
	if cb := resp.Request.URL.Query().Get("redirect_uri"); cb != home+"link/callback" {
		t.Errorf("redirect_uri = %s, want %slink/callback", cb, home)
	}
	form := func(body string) url.Values {
		v := url.Values{}
		for _, m := range hiddenRE.FindAllStringSubmatch(body, -1) {
			v.Set(m[1], html.UnescapeString(m[2]))
		}
		return v
	}
	v := form(body)
	v.Set("email", admin)
	v.Set("password", password)
	v.Set("action", "signin")
	body, _ = get(hc.PostForm(c.url+"/oauth/authorize", v))
	v = form(body) // the account step: admin@demo.test is in two accounts
	v.Set("account", "100001")
	v.Set("action", "continue")
	body, resp = get(hc.PostForm(c.url+"/oauth/authorize", v))
	if !strings.HasPrefix(resp.Request.URL.String(), home) || !strings.Contains(body, "Demo Account") {
		t.Fatalf("back at %s:\n%s", resp.Request.URL, body)
	}
	st, _ := d.statusJSON()
	if !st.Linked || st.Account.ID != 100001 {
		t.Fatalf("status after the dashboard link: %+v", st)
	}
}

func loadPool(caFile string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("no certificate in %s", caFile)
	}
	return pool, nil
}

// TestProcessRemoteAPI: the dashboard's TCP listener serves the local API
// under /api to holders of a dashboard account, and to no one else.
func TestProcessRemoteAPI(t *testing.T) {
	t.Parallel()
	needBinaries(t)
	c := theCloud(t)
	d := newDaemon(t, c)
	d.start()
	m := d.waitLog(dashURLRE)
	if _, errOut, code := d.cli("remote-password\n", "dashboard-user", "--username", "pm", "--password-stdin"); code != 0 {
		t.Fatalf("dashboard-user: exit %d: %s", code, errOut)
	}
	statusURL := strings.TrimSuffix(m[1], "/") + "/api/v1/status"
	for _, tc := range []struct {
		user, pass string
		want       int
	}{{"", "", http.StatusUnauthorized}, {"pm", "wrong-password", http.StatusUnauthorized}, {"pm", "remote-password", http.StatusOK}} {
		req, _ := http.NewRequest(http.MethodGet, statusURL, nil)
		if tc.user != "" {
			req.SetBasicAuth(tc.user, tc.pass)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var st api.Status
		decErr := json.NewDecoder(resp.Body).Decode(&st)
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Fatalf("%s as %q: %s, want %d", statusURL, tc.user, resp.Status, tc.want)
		}
		if tc.want == http.StatusOK && (decErr != nil || st.State != "unlinked" || st.Version == "") {
			t.Fatalf("status over TCP: %+v (%v)", st, decErr)
		}
		if ch := resp.Header.Get("WWW-Authenticate"); tc.want == http.StatusUnauthorized && strings.HasPrefix(strings.ToLower(ch), "basic") {
			t.Fatalf("%s as %q: WWW-Authenticate %q, a Basic challenge that makes browsers prompt and cache", statusURL, tc.user, ch)
		}
	}
	// A cross-site form with the right credentials (a browser that cached
	// them) is refused; the same request from a program works.
	startAll := strings.TrimSuffix(m[1], "/") + "/api/v1/tunnels/start-all"
	for _, tc := range []struct {
		name    string
		headers []string
		want    int
	}{
		{"cross-site form", []string{"Origin", "https://attacker.example", "Sec-Fetch-Site", "cross-site", "Content-Type", "application/x-www-form-urlencoded"}, http.StatusForbidden},
		{"form", []string{"Content-Type", "application/x-www-form-urlencoded"}, http.StatusUnsupportedMediaType},
		{"program", nil, http.StatusOK},
	} {
		req, _ := http.NewRequest(http.MethodPost, startAll, nil)
		req.SetBasicAuth("pm", "remote-password")
		for i := 0; i+1 < len(tc.headers); i += 2 {
			req.Header.Set(tc.headers[i], tc.headers[i+1])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Fatalf("start-all over TCP, %s: %s, want %d", tc.name, resp.Status, tc.want)
		}
	}
}
