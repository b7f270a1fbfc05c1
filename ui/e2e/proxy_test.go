package e2e

import (
	"crypto/sha1"
	"encoding/base64"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/cloudlink/cld/agent/api"
)

// The host's user (the web server's htpasswd) and the shared secret the
// web server sends the daemon.
const (
	hostUser     = "alice"
	hostPassword = "e2e-host-password"
	proxySecret  = "0123456789abcdef0123456789abcdef"
)

// webServer is a host web server the dashboard sits behind, configured
// from the committed example in packaging/.
type webServer struct {
	name    string
	binary  string
	example string // the example, relative to the module root
	// secretFile is where the example includes the shared secret from,
	// and secretLine that file's content for a secret.
	secretFile string
	secretLine func(secret string) string
	// config writes the server's own configuration around the example
	// (templated into dir/cld.conf) and returns the command line.
	config func(t *testing.T, dir, listen string) []string
}

var apache = webServer{
	name:       "Apache",
	binary:     "/usr/sbin/apache2",
	example:    "packaging/apache/cld.conf",
	secretFile: "/etc/apache2/cld-proxy-secret.conf",
	secretLine: func(s string) string { return fmt.Sprintf("Define CLD_PROXY_SECRET %q\n", s) },
	config: func(t *testing.T, dir, listen string) []string {
		var b strings.Builder
		fmt.Fprintf(&b, "ServerRoot %q\nServerName 127.0.0.1\nListen %s\n", dir, listen)
		for _, m := range []string{"mpm_event", "authz_core", "authn_core", "authn_file", "authz_user", "auth_basic", "headers", "alias", "proxy", "proxy_http"} {
			fmt.Fprintf(&b, "LoadModule %s_module /usr/lib/apache2/modules/mod_%s.so\n", m, m)
		}
		// The children run as www-data, as on Debian (root refuses to
		// serve); the directory is readable to them for the htpasswd file.
		fmt.Fprintf(&b, `User www-data
Group www-data
PidFile %[1]s/apache2.pid
DefaultRuntimeDir %[1]s
ErrorLog %[1]s/error.log
LogLevel info
LogFormat "%%>s %%r" cldtest
CustomLog %[1]s/access.log cldtest
Include %[1]s/cld.conf
`, dir)
		conf := filepath.Join(dir, "apache2.conf")
		writeFile(t, conf, b.String(), 0o644)
		return []string{"/usr/sbin/apache2", "-f", conf, "-DFOREGROUND"}
	},
}

var nginx = webServer{
	name:       "nginx",
	binary:     "/usr/sbin/nginx",
	example:    "packaging/nginx/cld.conf",
	secretFile: "/etc/nginx/cld-proxy-secret.conf",
	secretLine: func(s string) string { return fmt.Sprintf("proxy_set_header X-CLD-Proxy-Secret %q;\n", s) },
	config: func(t *testing.T, dir, listen string) []string {
		conf := filepath.Join(dir, "nginx.conf")
		writeFile(t, conf, fmt.Sprintf(`worker_processes 1;
user www-data;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log info;
events { worker_connections 256; }
http {
	log_format cldtest '$status $request';
	access_log %[1]s/access.log cldtest;
	client_body_temp_path %[1]s/body;
	proxy_temp_path %[1]s/proxy;
	fastcgi_temp_path %[1]s/fastcgi;
	uwsgi_temp_path %[1]s/uwsgi;
	scgi_temp_path %[1]s/scgi;
	server {
		listen %[2]s;
		server_name 127.0.0.1;
		include %[1]s/cld.conf;
		location / { return 404; }
	}
}
`, dir, listen), 0o644)
		return []string{"/usr/sbin/nginx", "-p", dir, "-c", conf, "-e", filepath.Join(dir, "error.log"), "-g", "daemon off;"}
	},
}

// TestDashboardBehindApache serves the dashboard under /cld behind Debian's
// Apache configured from packaging/apache/cld.conf (testBehind).
func TestDashboardBehindApache(t *testing.T) {
	t.Parallel()
	testBehind(t, apache)
}

// TestDashboardBehindNginx does the same behind nginx with
// packaging/nginx/cld.conf.
func TestDashboardBehindNginx(t *testing.T) {
	t.Parallel()
	testBehind(t, nginx)
}

// testBehind runs the cloud (with its tunnel edge), the daemon with
// dashboard.auth mode proxy and base_path /cld, and the web server in front
// of it with Basic authentication. Directly: a forged user header from the
// proxy's address without the secret (or with a wrong one) is refused, the
// web server answers 401 without credentials and drops a client's own
// user, secret and X-Forwarded-* headers. In Chromium, signed in by the web
// server: the dashboard shows the web server's user; every URL on every
// page visited (links, forms, style sheets, scripts, live sections) is
// under /cld; the Gateway section (its core unhealthy) is fetched again by
// live.js through the web server without a reload; the debug view and
// back; linking through the cloud's sign-in
// page (the callback comes back under /cld); a tunnel started and stopped;
// disconnecting. The web server's access log then holds only requests
// under /cld, none of them failed but the expected 401s.
func testBehind(t *testing.T, ws webServer) {
	requireChromium(t)
	if _, err := os.Stat(ws.binary); err != nil {
		t.Skipf("skipping the dashboard behind %s: %s is not installed (`make deps` installs it)", ws.name, ws.binary)
	}
	root := moduleRoot(t)
	example, err := os.ReadFile(filepath.Join(root, ws.example))
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()

	// The daemon: proxy authentication with the secret in a 0600 file, a
	// generic platform with one tunnel to a local HTTPS service, and a
	// CloudLink Gateway in host_root whose core answers its health check
	// with 503, so that its section stays live.
	gwRoot, gwHome, gwREST := gatewayTree(t)
	writeFile(t, filepath.Join(gwHome, "unhealthy"), "", 0o644)
	local := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "the host's management UI")
	}))
	local.Config.ErrorLog = log.New(io.Discard, "", 0) // the daemon's probes connect and hang up
	local.StartTLS()
	t.Cleanup(local.Close)
	dir := t.TempDir()
	secretFile := filepath.Join(dir, "proxy-secret")
	writeFile(t, secretFile, proxySecret+"\n", 0o600)
	edgeAddr := freeAddr(t)
	st := startStack(t, stackOptions{
		cloudArgs: []string{"--edge-listen", edgeAddr, "--edge-domain", edgeDomain},
		hostAuth:  true,
		config: fmt.Sprintf(`host_root: %s
dashboard:
  base_path: /cld
  trusted_proxies: [127.0.0.1]
  auth:
    mode: proxy
    proxy_secret_file: %s
platform:
  type: generic
  name: Proxied PBX host
  version: "1.0"
  tunnels:
    - id: %s
      component: MSL
      name: Server Manager
      description: Remote access via Mitel Administration
      local_address: %s
      accept_self_signed: true
`, gwRoot, secretFile, tunnelID, local.URL),
	})

	// The web server, from the example: its own port, the daemon's
	// dashboard address, the htpasswd and secret files in a directory its
	// unprivileged workers can read.
	wdir, err := os.MkdirTemp("", "cld-e2e-"+strings.ToLower(ws.name)+"-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(wdir) })
	if err := os.Chmod(wdir, 0o755); err != nil {
		t.Fatal(err)
	}
	sum := sha1.Sum([]byte(hostPassword))
	writeFile(t, filepath.Join(wdir, "htpasswd"), hostUser+":{SHA}"+base64.StdEncoding.EncodeToString(sum[:])+"\n", 0o644)
	writeFile(t, filepath.Join(wdir, "cld-proxy-secret.conf"), ws.secretLine(proxySecret), 0o600)
	conf := string(example)
	for _, r := range [][2]string{
		{"127.0.0.1:8087", st.dashAddr},
		{"/etc/cld/htpasswd", filepath.Join(wdir, "htpasswd")},
		{ws.secretFile, filepath.Join(wdir, "cld-proxy-secret.conf")},
	} {
		if !strings.Contains(conf, r[0]) {
			t.Fatalf("%s no longer names %s, which the test replaces", ws.example, r[0])
		}
		conf = strings.ReplaceAll(conf, r[0], r[1])
	}
	writeFile(t, filepath.Join(wdir, "cld.conf"), conf, 0o644)
	listen := freeAddr(t)
	argv := ws.config(t, wdir, listen)
	srv := startProcess(t, ws.name, filepath.Join(wdir, "stdout.log"), argv...)
	base := "http://" + listen
	st.proxyURL = base + prefix
	// Links that may lead away from the dashboard: the portal, a tunnel's
	// public URL, the gateway's status page on the host.
	external := []string{st.cloudURL, "." + edgeDomain, "http://" + gwREST + "/"}
	waitFor(t, srv, 30*time.Second, ws.name+" to answer", func() error {
		resp, err := http.Get(st.proxyURL + "/")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			return fmt.Errorf("GET %s/: %s, want 401", st.proxyURL, resp.Status)
		}
		return nil
	})
	t.Cleanup(func() {
		if t.Failed() {
			for _, f := range []string{"error.log", "access.log", "stdout.log"} {
				out, _ := os.ReadFile(filepath.Join(wdir, f))
				t.Logf("%s's %s:\n%s", ws.name, f, out)
			}
		}
	})

	checkProxyAuthDirect(t, st, ws)
	checkPMThrough(t, st, ws)

	// The browser, signed in by the web server: the credentials in a URL
	// once, then from its authentication cache for every URL under /cld/,
	// as after a sign-in prompt. (A page whose own URL holds credentials
	// cannot fetch(): live.js's requests would fail.)
	b := newChromium(t, st.spki)
	b.navigate("http://" + hostUser + ":" + hostPassword + "@" + listen + prefix + "/")
	b.waitVisible(chromedp.CSS("#link-button"))
	b.navigate(st.proxyURL + "/")
	b.waitVisible(chromedp.CSS("#link-button"))
	b.expectPath(listen, prefix+"/")
	b.expectText("nav", "Signed in as "+hostUser)
	b.expectText("body", "Standard view", "Link to CloudLink")
	b.expectURLsUnder(base, "the unlinked dashboard", external...)

	// The live Gateway section: static/live.js fetches it again through
	// the web server, under /cld, without reloading the page.
	accessLog := filepath.Join(wdir, "access.log")
	b.expectAttr("#gateway", "data-live", prefix+"/gateway/live")
	if _, err := runStep(b, chromedp.Evaluate[chromedp.Void](`window.proxyMark = 1`)); err != nil {
		b.fail("marking the page", err)
	}
	waitLogLine(t, accessLog, "200 GET "+prefix+"/gateway/live ", 20*time.Second)
	if mark, err := runStep(b, chromedp.Evaluate[bool](`window.proxyMark === 1`)); err != nil || !mark {
		b.fail("the live section", fmt.Errorf("the page was reloaded (%v, %v)", mark, err))
	}
	b.expectText("#gateway", "CloudLink Gateway Integration")

	// The debug view and back.
	b.clickAndLoad(chromedp.CSS(`a[href="/cld/?view=debug"]`))
	b.expectPath(listen, prefix+"/")
	b.expectText("body", "Debug view", "Build number")
	b.expectURLsUnder(base, "the unlinked debug view", external...)
	b.clickAndLoad(chromedp.CSS(`a[href="/cld/?view=standard"]`))
	b.expectText("body", "Standard view")
	for _, c := range b.cookies(base + prefix + "/") {
		if c.Path != prefix {
			t.Errorf("the dashboard's cookie %s has the path %q, want %s", c.Name, c.Path, prefix)
		}
	}

	// Linking through the cloud's sign-in page; the callback comes back
	// through the web server under /cld.
	b.clickAndLoad(chromedp.CSS("#link-button"))
	b.expectLocationPrefix(st.cloudURL + "oauth/authorize")
	if u, err := url.Parse(b.location()); err != nil || u.Query().Get("redirect_uri") != base+prefix+"/link/callback" {
		t.Fatalf("the cloud's sign-in page was given the redirect URI %q, want %s/link/callback", u.Query().Get("redirect_uri"), st.proxyURL)
	}
	b.cloudSignIn("admin@demo.test")
	b.waitVisible(accountField)
	b.do(chromedp.SendKeys(accountField, "100001"))
	b.clickAndLoad(chromedp.CSS(`button[type=submit], input[type=submit]`))
	b.waitVisible(chromedp.CSS("#registration table"))
	b.expectPath(listen, prefix+"/")
	b.expectText("#registration", "Demo Account", "100001")
	b.expectText("nav", "Signed in as "+hostUser)
	if s := st.cldStatus(); !s.Linked || s.Account == nil || s.Account.ID != 100001 {
		t.Fatalf("cld status --json after linking: %+v", s)
	}
	b.expectURLsUnder(base, "the linked dashboard", external...)
	b.clickAndLoad(chromedp.CSS(`a[href="/cld/?view=debug"]`))
	b.expectText("#registration", "System ID")
	b.expectURLsUnder(base, "the linked debug view", external...)
	b.clickAndLoad(chromedp.CSS(`a[href="/cld/?view=standard"]`))
	b.navigate(st.proxyURL + "/checks")
	b.expectURLsUnder(base, "the checks page", external...)
	b.navigate(st.proxyURL + "/")

	// A tunnel started and stopped with its buttons, which the page sends
	// in the background (through the web server, under /cld); its status
	// changes by itself (the Tunnels section is live).
	row := "#tunnel-" + tunnelID
	b.expectText(row+" .status", "stopped")
	b.clickInPlace(chromedp.CSS(row+"-start"), "The tunnel “Server Manager” (MSL) is")
	b.expectPath(listen, prefix+"/")
	b.waitText(row+" .status", api.TunnelStarted, 30*time.Second)
	b.expectURLsUnder(base, "the dashboard with a started tunnel", external...)
	waitLogLine(t, accessLog, "303 POST "+prefix+"/tunnels/"+tunnelID+"/start ", 5*time.Second)
	waitLogLine(t, accessLog, "200 GET "+prefix+"/tunnels/live ", 20*time.Second)
	b.clickInPlace(chromedp.CSS(row+"-stop"), "The tunnel “Server Manager” (MSL) is stopped.")
	b.expectText(row+" .status", "stopped")

	// Disconnect, with confirmation.
	b.clickAndLoad(chromedp.CSS(`a[href="/cld/unlink"]`))
	b.expectPath(listen, prefix+"/unlink")
	b.expectURLsUnder(base, "the disconnect page", external...)
	b.clickAndLoad(chromedp.CSS("#unlink-confirm"))
	b.waitVisible(chromedp.CSS("#link-button"))
	b.expectPath(listen, prefix+"/")
	b.expectText("body", "Disconnected from CloudLink.")
	if s := st.cldStatus(); s.Linked {
		t.Fatalf("cld status --json after disconnecting: %+v", s)
	}

	// Every request the web server had: under /cld, and none failed but
	// the 401s asking for credentials.
	checkAccessLog(t, ws, accessLog)
	t.Logf("the dashboard behind %s: %s", ws.name, time.Since(start).Round(100*time.Millisecond))
}

// checkProxyAuthDirect checks the proxy authentication without the
// browser: the daemon's own address refuses a forged user header from the
// proxy's address without the right secret; the web server asks for
// credentials and replaces a client's user, secret and X-Forwarded-*.
// checkPMThrough: Provisioning Manager's API under /cld/pm/v1 through the
// web server, with PM's own Basic credential (which the example's location
// passes to the daemon untouched): its status with the credential, the
// daemon's own 401 with the host's user's credential or none, and a sync
// body above the web server's default limit (1 MiB for nginx) accepted.
func checkPMThrough(t *testing.T, st *stack, ws webServer) {
	t.Helper()
	const pmUser, pmPassword = "pm-admin", "pm-password-0123456789"
	st.cli(strings.NewReader(pmPassword+"\n"), "pm", "credential", "--socket", st.sock, "--username", pmUser, "--password-stdin")
	hc := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{}}
	defer hc.CloseIdleConnections()
	call := func(method, path, user, password string, body io.Reader) (*http.Response, string) {
		t.Helper()
		req, err := http.NewRequest(method, st.proxyURL+path, body)
		if err != nil {
			t.Fatal(err)
		}
		if user != "" {
			req.SetBasicAuth(user, password)
		}
		if body != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatalf("%s %s through %s: %v", method, path, ws.name, err)
		}
		data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
		return resp, string(data)
	}
	if resp, body := call(http.MethodGet, "/pm/v1/status", pmUser, pmPassword, nil); resp.StatusCode != http.StatusOK || !strings.Contains(body, "{") {
		t.Errorf("%s: PM's status with PM's credential: %s, want 200 with the daemon's JSON\n%s", ws.name, resp.Status, clip(body, 600))
	}
	for _, tc := range []struct{ what, user, password string }{
		{"the host user's credential", hostUser, hostPassword},
		{"no credential", "", ""},
	} {
		resp, body := call(http.MethodGet, "/pm/v1/status", tc.user, tc.password, nil)
		if resp.StatusCode != http.StatusUnauthorized || strings.Contains(resp.Header.Get("WWW-Authenticate"), "CloudLink dashboard") {
			t.Errorf("%s: PM's status with %s: %s (WWW-Authenticate %q), want the daemon's own 401\n%s", ws.name, tc.what, resp.Status, resp.Header.Get("WWW-Authenticate"), clip(body, 600))
		}
	}
	var sync strings.Builder
	sync.WriteString(`{"users":[`)
	long := strings.Repeat("x", 100) // names of 100 bytes, to make the body big
	for i := range 5000 {
		if i > 0 {
			sync.WriteString(",")
		}
		fmt.Fprintf(&sync, `{"email":"user%04d@pbx.example","extension":"%d","first_name":"User %04d %s","last_name":"%s","services":["zoom-client"],"role":"user"}`, i, 20000+i, i, long[:60], long)
	}
	sync.WriteString(`],"devices":[]}`)
	if sync.Len() < 1<<20 {
		t.Fatalf("the sync body is %d bytes, want over 1 MiB", sync.Len())
	}
	if resp, body := call(http.MethodPost, "/pm/v1/sync", pmUser, pmPassword, strings.NewReader(sync.String())); resp.StatusCode != http.StatusOK {
		t.Errorf("%s: PM's sync of %d bytes: %s, want 200\n%s", ws.name, sync.Len(), resp.Status, clip(body, 600))
	}
}

func checkProxyAuthDirect(t *testing.T, st *stack, ws webServer) {
	t.Helper()
	hc := &http.Client{
		Timeout:       10 * time.Second,
		Transport:     &http.Transport{},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	defer hc.CloseIdleConnections()
	get := func(u string, header map[string]string, basic bool) (*http.Response, string) {
		t.Helper()
		req, err := http.NewRequest(http.MethodGet, u, nil)
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range header {
			req.Header.Set(k, v)
		}
		if basic {
			req.SetBasicAuth(hostUser, hostPassword)
		}
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatalf("GET %s: %v", u, err)
		}
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
		return resp, string(body)
	}

	// Straight to the daemon from 127.0.0.1 (a trusted proxy address).
	direct := "http://" + st.dashAddr + "/"
	for _, tc := range []struct {
		what   string
		header map[string]string
	}{
		{"a forged user header without the secret", map[string]string{"X-Remote-User": hostUser, "X-Forwarded-Prefix": prefix}},
		{"a forged user header with a wrong secret", map[string]string{"X-Remote-User": hostUser, "X-CLD-Proxy-Secret": "not-the-secret-0123456789"}},
		{"the secret without a user", map[string]string{"X-CLD-Proxy-Secret": proxySecret}},
	} {
		resp, body := get(direct, tc.header, false)
		if resp.StatusCode != http.StatusUnauthorized || strings.Contains(body, "Signed in as") || !strings.Contains(body, "Sign in through the host") {
			t.Errorf("the daemon's own address, %s: %s, want 401 and its page to sign in through the host\n%s", tc.what, resp.Status, clip(body, 600))
		}
	}
	// With the secret and a user it lets in: the refusals above are not
	// for another reason.
	if resp, body := get(direct, map[string]string{"X-Remote-User": hostUser, "X-CLD-Proxy-Secret": proxySecret, "X-Forwarded-Prefix": prefix}, false); resp.StatusCode != http.StatusOK || !strings.Contains(body, hostUser) {
		t.Errorf("the daemon's own address with the secret and a user: %s, want 200 showing %s", resp.Status, hostUser)
	}

	// Through the web server without credentials, or with a wrong
	// password: its own 401.
	for _, tc := range []struct {
		what   string
		header map[string]string
	}{
		{"without credentials", map[string]string{"X-Remote-User": hostUser, "X-CLD-Proxy-Secret": proxySecret}},
		{"with a wrong password", map[string]string{"Authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte(hostUser+":wrong"))}},
	} {
		resp, body := get(st.proxyURL+"/", tc.header, false)
		if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(resp.Header.Get("WWW-Authenticate"), `Basic realm="CloudLink dashboard"`) || strings.Contains(body, "Sign in through the host") {
			t.Errorf("%s %s: %s (WWW-Authenticate %q), want the web server's own 401 asking for credentials\n%s", ws.name, tc.what, resp.Status, resp.Header.Get("WWW-Authenticate"), clip(body, 600))
		}
	}

	// The prefix without its slash leads to the dashboard.
	if resp, _ := get(st.proxyURL, nil, true); resp.StatusCode != http.StatusMovedPermanently || strings.TrimPrefix(resp.Header.Get("Location"), "http://"+listenOf(st)) != prefix+"/" {
		t.Errorf("%s %s: %s to %q, want a redirect to %s/", ws.name, st.proxyURL, resp.Status, resp.Header.Get("Location"), st.proxyURL)
	}

	// A client's own user, secret and X-Forwarded-* do not get through:
	// the page shows the authenticated user and links under /cld on the
	// web server's address.
	resp, body := get(st.proxyURL+"/", map[string]string{
		"X-Remote-User":      "mallory",
		"X-CLD-Proxy-Secret": "not-the-secret-0123456789",
		"X-Forwarded-Prefix": "/evil",
		"X-Forwarded-Host":   "evil.example",
		"X-Forwarded-Proto":  "https",
	}, true)
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, hostUser) || strings.Contains(body, "mallory") || strings.Contains(body, "/evil") || !strings.Contains(body, `href="/cld/`) {
		t.Errorf("%s with a client's forged headers: %s, want 200 for %s with links under /cld\n%s", ws.name, resp.Status, hostUser, clip(body, 2000))
	}
	// The link flow's redirect URI is built from the forwarded host and
	// scheme: the web server's, not the client's.
	m := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no CSRF token on the dashboard through %s:\n%s", ws.name, clip(body, 2000))
	}
	req, err := http.NewRequest(http.MethodPost, st.proxyURL+"/link", strings.NewReader(url.Values{"csrf": {m[1]}}.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Forwarded-Host", "evil.example")
	req.Header.Set("X-Forwarded-Proto", "https")
	req.SetBasicAuth(hostUser, hostPassword)
	resp, err = hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, err := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusSeeOther || err != nil || !strings.HasPrefix(loc.String(), st.cloudURL+"oauth/authorize") {
		t.Fatalf("POST %s/link through %s: %s to %q, want a redirect to the cloud's sign-in page", st.proxyURL, ws.name, resp.Status, resp.Header.Get("Location"))
	}
	if got := loc.Query().Get("redirect_uri"); got != st.proxyURL+"/link/callback" {
		t.Errorf("through %s with a client's X-Forwarded-Host, the link's redirect URI is %q, want %s/link/callback", ws.name, got, st.proxyURL)
	}
}

// listenOf is the web server's host:port.
func listenOf(st *stack) string {
	u, err := url.Parse(st.proxyURL)
	if err != nil {
		st.t.Fatal(err)
	}
	return u.Host
}

// checkAccessLog reads the web server's access log ("STATUS METHOD PATH
// PROTO" per line): every request under /cld, none failed except 401s.
func checkAccessLog(t *testing.T, ws webServer, file string) {
	t.Helper()
	var lines []string
	deadline := time.Now().Add(5 * time.Second)
	for { // the log may trail the last answer by a moment
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		lines = strings.Split(strings.TrimSpace(string(data)), "\n")
		if strings.Contains(string(data), " "+prefix+"/unlink ") || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	var stray, failed []string
	callback, static := false, false
	for _, l := range lines {
		f := strings.Fields(l)
		if len(f) < 3 {
			t.Errorf("%s's access log: unreadable line %q", ws.name, l)
			continue
		}
		status, path := f[0], f[2]
		if path != prefix && !strings.HasPrefix(path, prefix+"/") {
			stray = append(stray, l)
		}
		if status >= "400" && status != "401" {
			failed = append(failed, l)
		}
		callback = callback || strings.HasPrefix(path, prefix+"/link/callback?")
		static = static || strings.HasPrefix(path, prefix+"/static/")
	}
	if len(stray) > 0 {
		t.Errorf("%s had requests outside %s (a URL without the prefix):\n%s", ws.name, prefix, strings.Join(stray, "\n"))
	}
	if len(failed) > 0 {
		t.Errorf("%s answered these requests with an error:\n%s", ws.name, strings.Join(failed, "\n"))
	}
	if !callback || !static {
		t.Errorf("%s's access log lacks the link's callback (%v) or a static file (%v) under %s:\n%s", ws.name, callback, static, prefix, strings.Join(lines, "\n"))
	}
	t.Logf("%s served %d requests, all under %s", ws.name, len(lines), prefix)
}

// waitLogLine waits until the file has a line starting with line.
func waitLogLine(t *testing.T, file, line string, limit time.Duration) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		for l := range strings.SplitSeq(string(data), "\n") {
			if strings.HasPrefix(l, line) {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %q in %s after %s:\n%s", line, file, limit, data)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// expectPath checks the browser is at http://HOST/PATH (with or without
// credentials in the URL, whatever the query and fragment).
func (b *chromium) expectPath(host, path string) {
	b.t.Helper()
	loc := b.location()
	u, err := url.Parse(loc)
	if err != nil || u.Scheme != "http" || u.Host != host || u.Path != path {
		b.fail("location", fmt.Errorf("at %s, want http://%s%s", loc, host, path))
	}
}

// expectURLsUnder checks every URL of the page's links, forms, style
// sheets, icons, scripts, images, frames and live sections is on base under
// /cld; only links (a[href]) may lead elsewhere: to a URL starting with one
// of external (the CloudLink portal), or on a host name ending in one of
// them that starts with a dot (a tunnel's public URL).
func (b *chromium) expectURLsUnder(base, page string, external ...string) {
	b.t.Helper()
	const collect = `(() => {
		const out = [];
		const add = (kind, v) => out.push(kind + " " + (v ? new URL(v, document.baseURI).href : "(none)"));
		document.querySelectorAll("a[href]").forEach(e => add("a[href]", e.getAttribute("href")));
		document.querySelectorAll("form").forEach(e => add("form[action]", e.getAttribute("action")));
		document.querySelectorAll("link[href]").forEach(e => add("link[href]", e.getAttribute("href")));
		document.querySelectorAll("script[src]").forEach(e => add("script[src]", e.getAttribute("src")));
		document.querySelectorAll("img[src], iframe[src]").forEach(e => add(e.tagName.toLowerCase() + "[src]", e.getAttribute("src")));
		document.querySelectorAll("[data-live]").forEach(e => add("[data-live]", e.getAttribute("data-live")));
		document.querySelectorAll("button[formaction]").forEach(e => add("button[formaction]", e.getAttribute("formaction")));
		return out;
	})()`
	urls, err := runStep(b, chromedp.Evaluate[[]string](collect))
	if err != nil {
		b.fail("collecting the page's URLs", err)
	}
	var bad []string
	forms := 0
	for _, s := range urls {
		kind, raw, _ := strings.Cut(s, " ")
		u, err := url.Parse(raw)
		if kind == "form[action]" {
			forms++
		}
		if kind == "a[href]" && err == nil && slices.ContainsFunc(external, func(e string) bool {
			return strings.HasPrefix(raw, e) || strings.HasPrefix(e, ".") && u.Scheme == "https" && strings.HasSuffix(u.Hostname(), e)
		}) {
			continue
		}
		if err != nil || u.Scheme+"://"+u.Host != base || (u.Path != prefix && !strings.HasPrefix(u.Path, prefix+"/")) {
			bad = append(bad, s)
		}
	}
	if len(bad) > 0 {
		b.fail("URLs on "+page, fmt.Errorf("not under %s%s:\n%s", base, prefix, strings.Join(bad, "\n")))
	}
	if len(urls) == 0 || forms == 0 {
		b.fail("URLs on "+page, fmt.Errorf("found %d URLs and %d forms, expected some", len(urls), forms))
	}
}

// writeFile writes a file or fails the test.
func writeFile(t *testing.T, name, content string, perm os.FileMode) {
	t.Helper()
	if err := os.WriteFile(name, []byte(content), perm); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(name, perm); err != nil {
		t.Fatal(err)
	}
}
