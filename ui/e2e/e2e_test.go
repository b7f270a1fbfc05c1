package e2e

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
	"go.uber.org/goleak"

	"github.com/cloudlink/cld/agent/api"
	"github.com/cloudlink/cld/internal/gobuild"
)

// chromiumPath is the browser the tests drive: Debian's
// chromium-headless-shell, the same Chromium build as the chromium package
// (Blink, V8, the network stack) without the desktop browser around it; a
// page costs it about 60 % less CPU. CLD_CHROMIUM names another (for
// example /usr/bin/chromium).
var chromiumPath = cmp.Or(os.Getenv("CLD_CHROMIUM"), "/usr/bin/chromium-headless-shell")

const (
	prefix        = "/cld"
	dashUser      = "admin"
	dashPassword  = "e2e-dashboard-password"
	cloudPassword = "demo-password"
)

func TestMain(m *testing.M) {
	// The daemons' password hashes at bcrypt's lowest cost (a hook of the
	// cldtest builds; the cloud's --password-cost does the same): under the
	// race detector a check at the default cost takes most of a second.
	os.Setenv("CLD_TEST_PASSWORD_COST", "4")
	code := m.Run()
	for _, b := range []*binSet{&raceBins, &fastBins} {
		if b.dir != "" {
			_ = os.RemoveAll(b.dir)
		}
	}
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintf(os.Stderr, "goleak: errors on successful test run: %v\n", err)
			code = 1
		}
	}
	os.Exit(code)
}

// TestDashboardEndToEnd signs in to the dashboard behind a reverse proxy
// under /cld, is refused linking as a non-admin, links as an admin of two
// accounts (choosing 100001 on the cloud's account step), checks the
// dashboard and `cld status --json` agree, uses the CloudLink Daemon
// Update section (checkUpdateSection), switches to the debug view,
// disconnects and signs out; then all of it again with JavaScript off
// (every action a plain link or form).
func TestDashboardEndToEnd(t *testing.T) {
	t.Parallel()
	requireChromium(t)
	st := startStack(t, stackOptions{})
	b := newChromium(t, st.spki)
	for _, js := range []bool{true, false} {
		if !js {
			b.disableScript()
		}
		t.Logf("pass with JavaScript %v", js)
		dashboardPass(t, st, b, !js)
	}
}

// dashboardPass is one pass of TestDashboardEndToEnd, from signed out to
// signed out, unlinked at both ends; again for the second pass (the
// update pause of the first is used up).
func dashboardPass(t *testing.T, st *stack, b *chromium, again bool) {
	t.Helper()

	// Sign in to the dashboard through the proxy.
	b.dashboardSignIn(st)
	b.waitVisible(chromedp.CSS("#link-button"))
	b.expectText("body", "Standard view", "Linking your system to CloudLink allows you", "Link to CloudLink")

	// A user without administrator rights is refused on the cloud's page.
	b.clickAndLoad(chromedp.CSS("#link-button"))
	b.expectLocationPrefix(st.cloudURL + "oauth/authorize")
	b.cloudSignIn("user@demo.test")
	b.expectLocationPrefix(st.cloudURL)
	b.expectText("body", "not an administrator")

	// An administrator of two accounts chooses 100001.
	b.navigate(st.proxyURL + "/")
	b.clickAndLoad(chromedp.CSS("#link-button"))
	b.expectLocationPrefix(st.cloudURL + "oauth/authorize")
	b.cloudSignIn("admin@demo.test")
	b.waitVisible(accountField)
	b.do(chromedp.SendKeys(accountField, "100001"))
	b.clickAndLoad(chromedp.CSS(`button[type=submit], input[type=submit]`))
	b.waitVisible(chromedp.CSS("#registration table"))
	b.expectLocation(st.proxyURL + "/")
	b.expectText("#registration", "Demo Account", "100001", "eu", "Disconnect from CloudLink")
	b.expectText("body", "Linked to the CloudLink account Demo Account (100001).")

	status := st.cldStatus()
	if !status.Linked || status.Account == nil || status.Account.ID != 100001 || status.Account.Name != "Demo Account" || status.Account.Region != "eu" {
		t.Fatalf("cld status --json after linking: %+v (account %+v)", status, status.Account)
	}

	// The CloudLink Daemon Update section, its Reschedule form round-trip.
	b.checkUpdateSection(st, again)

	// The debug view adds the IDs; the choice sticks.
	b.clickAndLoad(chromedp.CSS(`a[href="/cld/?view=debug"]`))
	b.expectText("#about", "Build number", "Git commit hash", "Stage")
	b.expectText("#registration", "Account UUID", status.Account.UUID, "Role", status.Account.Role, "System ID", status.SystemID)
	b.navigate(st.proxyURL + "/licenses")
	b.expectText("body", "github.com/a-h/templ")
	b.navigate(st.proxyURL + "/")
	b.expectText("#registration", "Account UUID")
	b.clickAndLoad(chromedp.CSS(`a[href="/cld/?view=standard"]`))
	b.expectText(".view-switch", "Standard view", "Switch to debug view")
	if n := b.count("#registration tr"); n != 3 {
		t.Fatalf("the standard view's Registration has %d rows, want 3 (account, ID, region)", n)
	}

	// Disconnect, with confirmation.
	b.clickAndLoad(chromedp.CSS(`a[href="/cld/unlink"]`))
	b.expectLocation(st.proxyURL + "/unlink")
	b.expectText("main", "Disconnect from CloudLink?", "Demo Account")
	b.clickAndLoad(chromedp.CSS("#unlink-confirm"))
	b.waitVisible(chromedp.CSS("#link-button"))
	b.expectLocation(st.proxyURL + "/")
	b.expectText("body", "Disconnected from CloudLink.")
	if status := st.cldStatus(); status.Linked || status.Account != nil {
		t.Fatalf("cld status --json after disconnecting: %+v", status)
	}

	// Sign out.
	b.clickAndLoad(chromedp.CSS(`form[action="/cld/logout"] button`))
	b.waitVisible(chromedp.CSS("#username"))
	b.expectLocation(st.proxyURL + "/login")

	if bad := st.strays(); len(bad) > 0 {
		t.Errorf("the browser asked the proxy for paths outside %s (a link without the prefix): %v", prefix, bad)
	}
}

// requireChromium skips the test without Chromium, except in CI.
func requireChromium(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		if os.Getenv("CI") == "" {
			t.Skipf("skipping the end-to-end browser test: %s is not installed (run `make deps`; in CI this test must run)", chromiumPath)
		}
		t.Fatalf("CI is set but %s is missing: %v (`make test` installs it with `make deps`)", chromiumPath, err)
	}
}

// dashboardSignIn signs in to the dashboard through the proxy, from a
// signed-out browser.
func (b *chromium) dashboardSignIn(st *stack) {
	b.t.Helper()
	b.navigate(st.proxyURL + "/")
	b.waitVisible(chromedp.CSS("#username"))
	if loc := b.location(); loc != st.proxyURL+"/login" {
		b.t.Fatalf("signed out, the dashboard sent the browser to %s, want %s/login", loc, st.proxyURL)
	}
	b.do(
		chromedp.SendKeys(chromedp.CSS("#username"), dashUser),
		chromedp.SendKeys(chromedp.CSS("#password"), dashPassword),
	)
	b.clickAndLoad(chromedp.CSS(`form[action="/cld/login"] button[type=submit]`))
	b.expectLocation(st.proxyURL + "/")
}

// Fields of the cloud's sign-in page.
var (
	emailField    = chromedp.CSS(`input[type=email], input[name=email], input[name=username]`)
	passwordField = chromedp.CSS(`input[type=password]`)
	accountField  = chromedp.CSS(`input[name=account_id], input[name=account]`)
)

// stack is the cloud, the daemon and the proxy in front of the dashboard.
type stack struct {
	t        *testing.T
	bin      string
	cld      string // the cld binary: the daemon and the CLI
	dir      string
	cloudURL string // https://localhost:PORT/
	cloudCA  string // the cloud's CA certificate file (PEM)
	spki     string // base64 SHA-256 of the cloud server certificate's public key
	sock     string
	dashAddr string // the daemon's dashboard (listen:), 127.0.0.1:PORT
	proxyURL string // http://127.0.0.1:PORT/cld

	mu    sync.Mutex
	stray []string
}

func (s *stack) strays() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stray
}

// stackOptions adds to the stack's processes.
type stackOptions struct {
	bin       string   // directory of the binaries ("": buildBinaries)
	cld       string   // the cld binary, daemon and CLI ("": the one in bin)
	cloudArgs []string // more arguments of `cld-cloud serve`
	config    string   // the daemon's config file (YAML), when not empty
	// hostAuth: the config authenticates through the host (dashboard.auth):
	// no dashboard user and no proxy of the stack's own; the test puts the
	// host's web server in front of dashAddr and sets proxyURL.
	hostAuth bool
}

// startStack builds the binaries and starts the cloud, the daemon (with a
// dashboard user) and a reverse proxy that mounts the dashboard under /cld.
func startStack(t *testing.T, opts stackOptions) *stack {
	s := &stack{t: t, bin: opts.bin, cld: opts.cld}
	if s.bin == "" {
		s.bin = buildBinaries(t)
	}
	if s.cld == "" {
		s.cld = filepath.Join(s.bin, "cld")
	}
	dir := t.TempDir()
	s.dir = dir

	// The reference cloud, on HTTPS with its own CA.
	cloudAddr := freeAddr(t)
	cloudData := filepath.Join(dir, "cloud")
	_, port, _ := net.SplitHostPort(cloudAddr)
	s.cloudURL = "https://localhost:" + port + "/"
	// The portal's address for the tunnel edge's sign-in redirects is the
	// one the daemon and the browser use. Without an edge address of the
	// test's own, no edge listener (its default port may be taken).
	cloudArgv := []string{filepath.Join(s.bin, "cld-cloud"), "serve", "--data", cloudData, "--listen", cloudAddr, "--demo",
		"--public-url", s.cloudURL, "--password-cost", "4"}
	if !slices.Contains(opts.cloudArgs, "--edge-listen") {
		cloudArgv = append(cloudArgv, "--edge-listen", "off")
	}
	cloud := startProcess(t, "cld-cloud", filepath.Join(dir, "cloud.log"), append(cloudArgv, opts.cloudArgs...)...)
	caFile := filepath.Join(cloudData, "ca.pem")
	s.cloudCA = caFile
	var leaf *x509.Certificate
	waitFor(t, cloud, 60*time.Second, "the cloud to serve TLS with its CA", func() error {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return err
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return errors.New("no certificate in ca.pem yet")
		}
		conn, err := tls.Dial("tcp", "localhost:"+port, &tls.Config{RootCAs: pool, ServerName: "localhost"})
		if err != nil {
			return err
		}
		defer conn.Close()
		leaf = conn.ConnectionState().PeerCertificates[0]
		return nil
	})
	sum := sha256.Sum256(leaf.RawSubjectPublicKeyInfo)
	s.spki = base64.StdEncoding.EncodeToString(sum[:])

	// The daemon with its dashboard.
	dashAddr := freeAddr(t)
	s.dashAddr = dashAddr
	state := filepath.Join(dir, "state")
	if err := os.Mkdir(state, 0o700); err != nil {
		t.Fatal(err)
	}
	s.sock = filepath.Join(dir, "cld.sock")
	argv := []string{s.cld, "run", "--state", state, "--socket", s.sock,
		"--cloud", s.cloudURL, "--cloud-ca", caFile, "--listen", dashAddr}
	if opts.config != "" {
		cfgFile := filepath.Join(dir, "cld.yaml")
		if err := os.WriteFile(cfgFile, []byte(opts.config), 0o600); err != nil {
			t.Fatal(err)
		}
		argv = append(argv, "--config", cfgFile)
	}
	daemon := startProcess(t, "cld", filepath.Join(dir, "cld.log"), argv...)
	waitFor(t, daemon, 60*time.Second, "the daemon's socket and dashboard", func() error {
		if _, err := os.Stat(s.sock); err != nil {
			return err
		}
		page := "/login" // public, except when the host signs users in
		if opts.hostAuth {
			page = "/static/style.css"
		}
		resp, err := http.Get("http://" + dashAddr + page)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("GET %s: %s", page, resp.Status)
		}
		return nil
	})
	http.DefaultTransport.(*http.Transport).CloseIdleConnections()
	if opts.hostAuth {
		return s
	}
	s.cli(strings.NewReader(dashPassword), "dashboard-user", "--socket", s.sock, "--username", dashUser, "--password-stdin")

	// A reverse proxy mounting the dashboard under /cld, as a host's
	// management UI does: it strips the prefix and says so in
	// X-Forwarded-Prefix (with X-Forwarded-Host and -Proto).
	target := &url.URL{Scheme: "http", Host: dashAddr}
	tr := &http.Transport{}
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.Out.URL.Path = strings.TrimPrefix(pr.In.URL.Path, prefix)
			pr.Out.URL.RawPath = ""
			pr.SetURL(target)
			pr.SetXForwarded()
			pr.Out.Header.Set("X-Forwarded-Prefix", prefix)
		},
		Transport: tr,
	}
	mux := http.NewServeMux()
	mux.Handle(prefix+"/", rp)
	mux.Handle(prefix, rp)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/favicon.ico" {
			s.mu.Lock()
			s.stray = append(s.stray, r.Method+" "+r.URL.Path)
			s.mu.Unlock()
		}
		http.NotFound(w, r)
	})
	proxy := httptest.NewServer(mux)
	t.Cleanup(func() {
		proxy.Close()
		tr.CloseIdleConnections()
	})
	s.proxyURL = proxy.URL + prefix
	return s
}

// cli runs the cld CLI and returns its standard output.
func (s *stack) cli(stdin *strings.Reader, args ...string) []byte {
	s.t.Helper()
	cmd := exec.Command(s.cld, args...)
	if stdin != nil {
		cmd.Stdin = stdin
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		s.t.Fatalf("cld %s: %v\n%s%s", strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.Bytes()
}

// tunnelStatus is the daemon's status of one tunnel (`cld status --json`).
func (s *stack) tunnelStatus(id string) string {
	s.t.Helper()
	for _, tn := range s.cldStatus().Tunnels {
		if tn.ID == id {
			return tn.Status
		}
	}
	s.t.Fatalf("cld status --json lists no tunnel %s", id)
	return ""
}

// cldStatus is `cld status --json`.
func (s *stack) cldStatus() api.Status {
	s.t.Helper()
	out := s.cli(nil, "status", "--socket", s.sock, "--json")
	var st api.Status
	if err := json.Unmarshal(out, &st); err != nil {
		s.t.Fatalf("cld status --json printed something else than a status: %v\n%s", err, out)
	}
	return st
}

// moduleRoot finds the directory of go.mod above the test's directory.
func moduleRoot(t *testing.T) string {
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("go.mod not found above the test's directory")
		}
		dir = parent
	}
}

// A set of binaries built once for all the package's tests (removed by
// TestMain): with the race detector and the cldtest hooks, or optimized
// as shipped.
type binSet struct {
	once sync.Once
	dir  string
	err  error
}

var raceBins, fastBins binSet

// buildBinaries builds cld, cld-cloud and cld-simhost with the race
// detector and the cldtest hooks, once per test binary.
func buildBinaries(t *testing.T) string { return raceBins.build(t, true) }

// buildFastBinaries builds them without the race detector, for tests that
// measure throughput (the race detector slows the tunnel's byte pumps about
// tenfold); the same code runs with the race detector in the unit tests.
func buildFastBinaries(t *testing.T) string { return fastBins.build(t, false) }

func (b *binSet) build(t *testing.T, race bool) string {
	t.Helper()
	root := moduleRoot(t)
	b.once.Do(func() {
		dir, err := os.MkdirTemp("", "cld-e2e-bin-")
		if err != nil {
			b.err = err
			return
		}
		b.dir = dir
		var flags []string
		if race {
			flags = []string{"-race", "-tags", "cldtest"}
		}
		cmds := []string{"cld", "cld-cloud", "cld-simhost"}
		errs := make([]error, len(cmds))
		var wg sync.WaitGroup
		for i, c := range cmds {
			wg.Go(func() {
				errs[i] = gobuild.Build(filepath.Join(dir, c), "./cmd/"+c, gobuild.Options{Dir: root, Flags: flags})
			})
		}
		wg.Wait()
		b.err = errors.Join(errs...)
	})
	if b.err != nil {
		t.Fatal(b.err)
	}
	return b.dir
}

// freeAddr returns a loopback address with a port free at the time.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// process is a program the test started.
type process struct {
	name string
	log  string
	done chan struct{}
	err  error // valid after done
}

// exited reports whether the process has ended, with its log.
func (p *process) exited() (string, bool) {
	select {
	case <-p.done:
		out, _ := os.ReadFile(p.log)
		return fmt.Sprintf("%s exited (%v); its log:\n%s", p.name, p.err, out), true
	default:
		return "", false
	}
}

// startProcess starts a program with its output in logPath, and stops it
// (SIGTERM, then SIGKILL) when the test ends; a failed test shows the log.
func startProcess(t *testing.T, name, logPath string, argv ...string) *process {
	t.Helper()
	f, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		f.Close()
		t.Fatalf("starting %s: %v", name, err)
	}
	p := &process{name: name, log: logPath, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(20 * time.Second):
			t.Errorf("%s did not stop within 20s of SIGTERM; killing it", name)
			_ = cmd.Process.Kill()
			<-p.done
		}
		f.Close()
		if t.Failed() {
			out, _ := os.ReadFile(logPath)
			t.Logf("log of %s:\n%s", name, out)
		}
	})
	return p
}

// waitFor retries check until it succeeds, the process exits or time is up.
func waitFor(t *testing.T, p *process, limit time.Duration, what string, check func() error) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		err := check()
		if err == nil {
			return
		}
		if msg, ok := p.exited(); ok {
			t.Fatalf("waiting for %s: %s", what, msg)
		}
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s: still failing after %s: %v", what, limit, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// chromium drives one headless Chromium tab.
type chromium struct {
	t   *testing.T
	ctx context.Context
}

// newChromium starts headless Chromium that trusts exactly the cloud's
// server key (by its SPKI hash), nothing else beyond the system's roots.
func newChromium(t *testing.T, spki string) *chromium {
	t.Helper()
	// Chromium's helpers may still write to the profile right after it
	// exits, so the test removes it itself, ignoring errors.
	profile, err := os.MkdirTemp("", "cld-e2e-chromium-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(profile) })
	logf, err := os.Create(filepath.Join(t.TempDir(), "chromium.log"))
	if err != nil {
		t.Fatal(err)
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(chromiumPath),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(profile),
		chromedp.Flag("ignore-certificate-errors-spki-list", spki),
		chromedp.CombinedOutput(logf),
	)
	ctx, cancelTab := chromedp.NewContext(allocCtx)
	ctx, cancelTimeout := context.WithTimeout(ctx, 5*time.Minute)
	t.Cleanup(func() {
		cancelTimeout()
		cancelTab()
		cancelAlloc() // waits for the browser to exit
		logf.Close()
	})
	if err := chromedp.Do(ctx); err != nil { // start the browser
		t.Fatalf("starting %s: %v", chromiumPath, err)
	}
	return &chromium{t: t, ctx: ctx}
}

// step bounds one browser step.
const step = 30 * time.Second

// fail reports a failed browser step with where the browser is and what it
// shows.
func (b *chromium) fail(what string, err error) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	defer cancel()
	loc, _ := chromedp.Run(ctx, chromedp.Location())
	text, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("body")))
	b.t.Fatalf("%s: %v\nbrowser at %s, showing:\n%s", what, err, loc, text)
}

func (b *chromium) do(actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, step)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.fail("browser step", err)
	}
}

// disableScript turns JavaScript off in the browser's page, from the next
// page loaded on: the dashboard must work as plain links and forms.
func (b *chromium) disableScript() {
	b.t.Helper()
	b.do(func(ctx context.Context, tg *chromedp.Target) (chromedp.Void, error) {
		_, err := cdp.Call(ctx, tg, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true})
		return chromedp.Void{}, err
	})
}

func (b *chromium) navigate(u string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, step)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.Navigate(u)); err != nil {
		b.fail("navigating to "+u, err)
	}
}

func (b *chromium) waitVisible(sel chromedp.CSS) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, step)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.WaitVisible(sel)); err != nil {
		b.fail(fmt.Sprintf("waiting for %v", sel), err)
	}
}

// clickAndLoad clicks and waits for the page the click leads to.
func (b *chromium) clickAndLoad(sel chromedp.CSS) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, step)
	defer cancel()
	if _, err := chromedp.RunResponse(ctx, chromedp.Click(sel)); err != nil {
		b.fail(fmt.Sprintf("clicking %v", sel), err)
	}
}

// clickInPlace clicks a control that the page's script sends in the
// background (a data-live-form) and waits until the page's messages show
// flash, without a new page being loaded.
func (b *chromium) clickInPlace(sel chromedp.CSS, flash string) {
	b.t.Helper()
	if _, err := runStep(b, chromedp.Evaluate[bool](`window.cldInPlace = 1; true`)); err != nil {
		b.fail("marking the page", err)
	}
	b.do(chromedp.Click(sel))
	deadline := time.Now().Add(step)
	for {
		got, err := runStep(b, chromedp.Text(chromedp.CSS("#flashes")))
		if err == nil && strings.Contains(got, flash) {
			break
		}
		if time.Now().After(deadline) {
			b.fail(fmt.Sprintf("after clicking %v", sel), fmt.Errorf("the page's messages are %q (%v), want %q", got, err, flash))
		}
		time.Sleep(100 * time.Millisecond)
	}
	if mark, err := runStep(b, chromedp.Evaluate[bool](`window.cldInPlace === 1`)); err != nil || !mark {
		b.fail(fmt.Sprintf("after clicking %v", sel), fmt.Errorf("a new page was loaded (%v)", err))
	}
}

func (b *chromium) location() string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, step)
	defer cancel()
	loc, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		b.fail("reading the location", err)
	}
	return loc
}

func (b *chromium) expectLocation(want string) {
	b.t.Helper()
	if got := b.location(); got != want {
		b.fail("location", fmt.Errorf("at %s, want %s", got, want))
	}
}

func (b *chromium) expectLocationPrefix(want string) {
	b.t.Helper()
	if got := b.location(); !strings.HasPrefix(got, want) {
		b.fail("location", fmt.Errorf("at %s, want a URL starting with %s", got, want))
	}
}

// expectText checks that the element's visible text contains every string.
func (b *chromium) expectText(css string, wants ...string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, step)
	defer cancel()
	text, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(css)))
	if err != nil {
		b.fail("reading the text of "+css, err)
	}
	for _, w := range wants {
		if !strings.Contains(text, w) {
			b.fail("page text", fmt.Errorf("%s does not show %q", css, w))
		}
	}
}

// cloudSignIn fills the cloud's sign-in page.
func (b *chromium) cloudSignIn(email string) {
	b.t.Helper()
	b.waitVisible(emailField)
	b.do(
		chromedp.SendKeys(emailField, email),
		chromedp.SendKeys(passwordField, cloudPassword),
	)
	b.clickAndLoad(chromedp.CSS(`button[type=submit], input[type=submit]`))
}
