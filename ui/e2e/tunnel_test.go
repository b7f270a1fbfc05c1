package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/cloudlink/cld/agent/api"
	"github.com/cloudlink/cld/platforms/simhost"
)

const (
	edgeDomain = "edge.localhost"
	tunnelID   = "msl-server-manager"
	// downloadEnv overrides the size of the download through the tunnel
	// (bytes); -short makes it 64 MiB.
	downloadEnv = "CLD_E2E_DOWNLOAD_BYTES"
)

// TestTunnelEndToEnd runs the cloud with its tunnel edge, the simulated
// host and the daemon with a generic platform whose tunnels lead to the
// simulated UIs. It links the daemon (CLI), starts a tunnel on the
// dashboard, opens its public URL from the debug view in Chromium (portal
// sign-in, then the simulated UI's own sign-in and redirect, and a
// WebSocket echo page), downloads 1 GiB through the public URL with a Go
// client carrying the browser's cookies (checksum checked), then stops the
// tunnel and sees the edge's "not started" page.
func TestTunnelEndToEnd(t *testing.T) {
	t.Parallel()
	requireChromium(t)
	size := int64(1 << 30)
	if testing.Short() {
		size = 64 << 20
	}
	if v := os.Getenv(downloadEnv); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			t.Fatalf("%s=%q is not a number of bytes", downloadEnv, v)
		}
		size = n
	}

	// Optimized binaries: the download measures the tunnel as shipped.
	bin := buildFastBinaries(t)

	// The simulated host, on its own ports.
	dir := t.TempDir()
	smAddr, mbgAddr := freeAddr(t), freeAddr(t)
	simDir := filepath.Join(dir, "simhost")
	sim := startProcess(t, "cld-simhost", filepath.Join(dir, "simhost.log"),
		filepath.Join(bin, "cld-simhost"), "--listen-server-manager", smAddr, "--listen-mbg", mbgAddr, "--dir", simDir)
	waitFor(t, sim, 60*time.Second, "the simulated host", func() error {
		pem, err := os.ReadFile(filepath.Join(simDir, "cert.pem"))
		if err != nil {
			return err
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return errors.New("no certificate in cert.pem yet")
		}
		tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}
		defer tr.CloseIdleConnections()
		for _, a := range []string{smAddr, mbgAddr} {
			resp, err := (&http.Client{Transport: tr, Timeout: 5 * time.Second}).Get("https://" + a + "/health")
			if err != nil {
				return err
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				return fmt.Errorf("%s/health: %s", a, resp.Status)
			}
		}
		return nil
	})

	edgeAddr := freeAddr(t)
	_, edgePort, _ := net.SplitHostPort(edgeAddr)
	config := fmt.Sprintf(`platform:
  type: generic
  name: Simulated PBX host
  version: "1.0"
  tunnels:
    - id: %s
      component: MSL
      name: Server Manager
      description: Remote access via Mitel Administration
      local_address: https://%s
      accept_self_signed: true
    - id: mbg-admin
      component: MiVoice Border Gateway
      name: administration web interface
      description: Remote access via Mitel Administration
      local_address: https://%s
      accept_self_signed: true
`, tunnelID, smAddr, mbgAddr)
	st := startStack(t, stackOptions{
		bin:       bin,
		cloudArgs: []string{"--edge-listen", edgeAddr, "--edge-domain", edgeDomain},
		config:    config,
	})

	// Link with the CLI; the tunnels stay stopped (off by default).
	st.cli(strings.NewReader(cloudPassword), "link", "--socket", st.sock,
		"--username", "admin@demo.test", "--account", "100001", "--password-stdin")
	status := st.cldStatus()
	if !status.Linked || len(status.Tunnels) != 2 {
		t.Fatalf("after linking: linked %v, tunnels %+v", status.Linked, status.Tunnels)
	}
	for _, tn := range status.Tunnels {
		if tn.Status != api.TunnelStopped || tn.Enabled {
			t.Errorf("tunnel %s is %s (enabled %v) before anyone started it", tn.ID, tn.Status, tn.Enabled)
		}
	}

	// Chromium trusts the cloud's key and the edge's key (one key for every
	// public host name's certificate), by their SPKI hashes.
	edgeSPKI := spkiOf(t, edgeAddr, "00000000-0000-4000-8000-000000000000.eu."+edgeDomain)
	b := newChromium(t, st.spki+","+edgeSPKI)
	b.dashboardSignIn(st)
	row := "#tunnel-" + tunnelID
	b.expectText("#tunnels", "Component", "Tunnel", "Status", "Control", "Description",
		"MSL", "Server Manager", "MiVoice Border Gateway", "administration web interface", "Remote access via Mitel Administration")
	b.expectText(row+" .status", "stopped")

	// Start it on the dashboard and wait until it is started.
	started := time.Now()
	b.clickInPlace(chromedp.CSS(row+"-start"), "The tunnel “Server Manager” (MSL) is")
	b.expectLocation(st.proxyURL + "/")
	b.waitTunnelStatus(st, api.TunnelStarted, 30*time.Second)
	t.Logf("tunnel started %s after clicking Start", time.Since(started).Round(time.Millisecond))
	b.waitVisible(chromedp.CSS(row + "-stop"))

	// The debug view shows the local address and the public URL.
	b.navigate(st.proxyURL + "/?view=debug")
	b.expectText(row, "https://"+smAddr)
	attr, err := runStep(b, chromedp.AttributeValue(chromedp.CSS(row+" a.public-url"), "href"))
	if err != nil || !attr.Exists {
		b.fail("reading the public URL", fmt.Errorf("no link (%v)", err))
	}
	publicURL := attr.Value
	pu, err := url.Parse(publicURL)
	if err != nil || pu.Scheme != "https" || !strings.HasSuffix(pu.Hostname(), ".eu."+edgeDomain) || pu.Port() != edgePort {
		t.Fatalf("public URL %q is not https://<uuid>.eu.%s:%s/", publicURL, edgeDomain, edgePort)
	}
	base := "https://" + pu.Host
	if now := st.cldStatus(); now.Tunnels[0].PublicURL != publicURL || now.Tunnels[0].Status != api.TunnelStarted {
		t.Errorf("cld status --json: %+v, want the dashboard's public URL %s, started", now.Tunnels[0], publicURL)
	}

	// Open it: the edge sends the browser to the portal's sign-in, then back
	// to the simulated UI, which asks for its own sign-in.
	b.clickAndLoad(chromedp.CSS(row + " a.public-url"))
	b.expectLocationPrefix(st.cloudURL)
	b.cloudSignIn("admin@demo.test")
	b.waitVisible(chromedp.CSS("#login-button"))
	b.expectLocationPrefix(base + "/login?next=")
	b.expectText("header", "MSL Server Manager")
	b.do(
		chromedp.SendKeys(chromedp.CSS("#username"), simhost.DefaultUsername),
		chromedp.SendKeys(chromedp.CSS("#password"), simhost.DefaultPassword),
	)
	// Its absolute redirect (built from the Host) lands on the public URL.
	b.clickAndLoad(chromedp.CSS("#login-button"))
	b.waitVisible(chromedp.CSS("#welcome"))
	b.expectLocation(base + "/")
	b.expectText("#welcome", "Welcome to MSL Server Manager")
	b.clickAndLoad(chromedp.CSS(`a[href="/status"]`))
	b.expectText("#requested-host", pu.Host)

	// The WebSocket console echoes through the tunnel.
	b.clickAndLoad(chromedp.CSS(`a[href="/console"]`))
	b.waitText("#ws-echo", "hello through the tunnel", 30*time.Second)
	b.expectText("#ws-state", "open")

	// A large download with a Go client holding the browser's cookies (the
	// edge session from the portal flow and the simulated UI's session).
	cookies := b.cookies(publicURL)
	downloadThroughTunnel(t, st.cloudCA, edgeAddr, base, cookies, size)

	// The host's access audit records the download with the portal user
	// the edge vouched for in its signed header, the tunnel and the bytes
	// (`cld tunnel audit`, and the table in the debug view).
	rec := waitAuditRecord(t, st, tunnelID, size)
	t.Logf("access audit record of the download: %s", rec)
	b.navigate(st.proxyURL + "/?view=debug")
	b.expectText("#tunnel-audit", "Access audit", "admin@demo.test")

	// Stop it on the dashboard: the public URL shows the edge's page.
	b.navigate(st.proxyURL + "/")
	b.clickInPlace(chromedp.CSS(row+"-stop"), "The tunnel “Server Manager” (MSL) is stopped.")
	b.expectText(row+" .status", "stopped")
	b.waitVisible(chromedp.CSS(row + "-start"))
	deadline := time.Now().Add(30 * time.Second)
	for {
		b.navigate(base + "/")
		text, err := runStep(b, chromedp.Text(chromedp.CSS("body")))
		if err == nil && strings.Contains(text, "Tunnel not started") && strings.Contains(text, "is stopped") {
			break
		}
		if time.Now().After(deadline) {
			b.fail("waiting for the edge's stopped page", fmt.Errorf("still showing %q", clip(text, 300)))
		}
		time.Sleep(500 * time.Millisecond)
	}
	if now := st.cldStatus(); now.Tunnels[0].Status != api.TunnelStopped {
		t.Errorf("cld status --json after stopping: %+v", now.Tunnels[0])
	}
}

// waitAuditRecord waits until `cld tunnel audit --json` lists a connection
// through the tunnel that carried at least size bytes to the client, and
// checks that it names the signed-in portal user; it returns the record as
// JSON, and checks the table `cld tunnel audit` prints.
func waitAuditRecord(t *testing.T, st *stack, tunnelID string, size int64) string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var a api.Audit
		if err := json.Unmarshal(st.cli(nil, "tunnel", "audit", "--json", "--socket", st.sock), &a); err != nil {
			t.Fatalf("cld tunnel audit --json: %v", err)
		}
		for _, r := range a.Records {
			if r.Tunnel != tunnelID || r.BytesOut < size {
				continue
			}
			if r.User != "admin@demo.test" || r.Client == "" || r.BytesIn == 0 || r.End.Before(r.Start) {
				t.Fatalf("the download's audit record %+v does not name the portal user admin@demo.test", r)
			}
			table := string(st.cli(nil, "tunnel", "audit", "--socket", st.sock))
			if !strings.Contains(table, "admin@demo.test") || !strings.Contains(table, strconv.FormatInt(r.BytesOut, 10)) {
				t.Errorf("cld tunnel audit does not list the download:\n%s", table)
			}
			out, _ := json.Marshal(r)
			return string(out)
		}
		if time.Now().After(deadline) {
			t.Fatalf("cld tunnel audit lists no download of %d bytes through %s: %+v", size, tunnelID, a.Records)
		}
		time.Sleep(300 * time.Millisecond)
	}
}

// spkiOf returns the base64 SHA-256 of the public key that the TLS server
// at addr presents for serverName.
func spkiOf(t *testing.T, addr, serverName string) string {
	t.Helper()
	var spki string
	deadline := time.Now().Add(30 * time.Second)
	for {
		conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr,
			&tls.Config{ServerName: serverName, InsecureSkipVerify: true}) // only the key is read
		if err == nil {
			sum := sha256.Sum256(conn.ConnectionState().PeerCertificates[0].RawSubjectPublicKeyInfo)
			conn.Close()
			spki = base64.StdEncoding.EncodeToString(sum[:])
			return spki
		}
		if time.Now().After(deadline) {
			t.Fatalf("TLS handshake with the edge at %s for %s: %v", addr, serverName, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// downloadThroughTunnel downloads size bytes from the simulated UI through
// the tunnel's public URL and checks them against simhost.DownloadSHA256.
// The client trusts only the cloud's CA (which issues the edge's
// certificates) and connects to the edge's address whatever the name.
func downloadThroughTunnel(t *testing.T, caFile, edgeAddr, base string, cookies []*network.Cookie, size int64) {
	t.Helper()
	pem, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatal("no certificate in the cloud's ca.pem")
	}
	tr := &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool},
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, edgeAddr)
		},
	}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

	want := make(chan [sha256.Size]byte, 1)
	go func() { want <- simhost.DownloadSHA256(size) }()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/download?size="+strconv.FormatInt(size, 10), nil)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, c := range cookies {
		req.AddCookie(&http.Cookie{Name: c.Name, Value: c.Value})
		names = append(names, c.Name)
	}
	start := time.Now()
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatalf("download through the tunnel: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		t.Fatalf("download through the tunnel with cookies %v: %s (Location %q)\n%s", names, resp.Status, resp.Header.Get("Location"), body)
	}
	h := sha256.New()
	n, err := io.CopyBuffer(h, resp.Body, make([]byte, 256<<10))
	elapsed := time.Since(start)
	if err != nil || n != size {
		t.Fatalf("download through the tunnel: %d of %d bytes after %s: %v", n, size, elapsed, err)
	}
	exp := <-want
	if got := h.Sum(nil); !bytes.Equal(got, exp[:]) {
		t.Fatalf("the download through the tunnel arrived corrupted: SHA-256 %x, want %x", got, exp)
	}
	t.Logf("downloaded %d MiB through the tunnel intact in %s (%.0f MiB/s)", size>>20, elapsed.Round(time.Millisecond), float64(size)/(1<<20)/elapsed.Seconds())
}

// runStep runs one browser action that returns a value, bounded by step.
func runStep[T any](b *chromium, a chromedp.Action[T]) (T, error) {
	ctx, cancel := context.WithTimeout(b.ctx, step)
	defer cancel()
	return chromedp.Run(ctx, a)
}

// waitTunnelStatus reloads the dashboard until the test's tunnel has the
// status (the page does not refresh by itself).
func (b *chromium) waitTunnelStatus(st *stack, want string, limit time.Duration) {
	b.t.Helper()
	sel := chromedp.CSS("#tunnel-" + tunnelID + " .status")
	deadline := time.Now().Add(limit)
	for {
		got, err := runStep(b, chromedp.Text(sel))
		if err == nil && strings.TrimSpace(got) == want {
			return
		}
		if time.Now().After(deadline) {
			reason, _ := runStep(b, chromedp.Text(chromedp.CSS("#tunnel-"+tunnelID+" .tunnel-status")))
			b.fail("waiting for the tunnel's status", fmt.Errorf("still %q (%s) after %s, want %q", got, reason, limit, want))
		}
		time.Sleep(250 * time.Millisecond)
		b.navigate(st.proxyURL + "/")
	}
}

// waitText waits until the element's text is want (a script fills it in).
func (b *chromium) waitText(css, want string, limit time.Duration) {
	b.t.Helper()
	deadline := time.Now().Add(limit)
	for {
		got, err := runStep(b, chromedp.Text(chromedp.CSS(css)))
		if err == nil && strings.TrimSpace(got) == want {
			return
		}
		if time.Now().After(deadline) {
			b.fail("waiting for "+css, fmt.Errorf("shows %q after %s, want %q (err %v)", got, limit, want, err))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// cookies returns the browser's cookies for a URL (HttpOnly ones too).
func (b *chromium) cookies(u string) []*network.Cookie {
	b.t.Helper()
	cs, err := runStep(b, chromedp.Action[[]*network.Cookie](func(ctx context.Context, t *chromedp.Target) ([]*network.Cookie, error) {
		res, err := cdp.Call(ctx, t, network.GetCookies, network.GetCookiesParams{URLs: []string{u}})
		return res.Cookies, err
	}))
	if err != nil {
		b.fail("reading the browser's cookies", err)
	}
	return cs
}

func clip(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}
