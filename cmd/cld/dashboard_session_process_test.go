package main

import (
	"crypto/tls"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/cloudlink/cld/platforms/simhost"
)

// On MX-ONE the dashboard is served by the SNM's web server under /cld and
// signed in by the SNM's own session (the adapter's CLD_AUTH=session): the
// daemon checks the browser's SNM cookie at the SNM's session endpoint
// (TLS verified against the SNM's certificate) and requires its admin
// role. Signed in to the SNM, /cld is the dashboard with the SNM's user
// and links under /cld, and its forms work; not signed in, or straight to
// the daemon's own address, it is refused.
func TestProcessDashboardSignedInByTheHost(t *testing.T) {
	t.Parallel()
	needBinaries(t)
	dir, root := t.TempDir(), t.TempDir()
	dashAddr := freeLoopbackAddr(t)
	p, _ := simhost.LookupPlatform(simhost.PlatformMXONE)
	host, err := simhost.Start(simhost.Config{UIs: p.UIs, Username: "mx-admin", Password: "mx-password", Dir: dir,
		CLD: "http://" + dashAddr, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer host.Close()
	if err := (simhost.Tree{Platform: p.Name, Addresses: host.Addresses()}).Write(root); err != nil {
		t.Fatal(err)
	}
	part, err := simhost.CLDConfig(p, root, host.Addresses(), filepath.Join(dir, "cert.pem"))
	if err != nil {
		t.Fatal(err)
	}
	d := newDaemon(t, theCloud(t))
	f, err := os.OpenFile(d.configFile, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("no_proxy: \"*\"\n")
	f.Write(part)
	f.Close()
	d.listen = dashAddr
	d.start()

	jar, _ := cookiejar.New(nil)
	hc := &http.Client{Jar: jar, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: host.CertPool()}},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	defer hc.CloseIdleConnections()
	snm := strings.TrimSuffix(host.URL("mxone-snm"), "/")
	get := func(u string) (int, string) {
		t.Helper()
		resp, err := hc.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get(snm + "/cld/"); code != http.StatusUnauthorized || !strings.Contains(body, "host") {
		t.Fatalf("/cld/ before signing in to the SNM: %d\n%s\n%s", code, body, d.out.String())
	}
	resp, err := hc.PostForm(snm+"/login", url.Values{"username": {"mx-admin"}, "password": {"mx-password"}, "next": {"/"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("SNM sign-in: %d", resp.StatusCode)
	}
	code, body := get(snm + "/cld/")
	if code != 200 || !strings.Contains(body, "mx-admin") {
		t.Fatalf("/cld/ signed in to the SNM: %d\n%s\n%s", code, body, d.out.String())
	}
	for _, m := range regexp.MustCompile(`(?:href|action|src)="([^"]+)"`).FindAllStringSubmatch(body, -1) {
		if u := m[1]; strings.HasPrefix(u, "/") && !strings.HasPrefix(u, "/cld/") {
			t.Errorf("a link outside /cld: %s", u)
		}
	}
	csrf := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindStringSubmatch(body)
	if csrf == nil {
		t.Fatalf("no form token on the page")
	}
	req, _ := http.NewRequest("POST", snm+"/cld/tunnels/stop-all", strings.NewReader(url.Values{"csrf": {csrf[1]}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", snm)
	resp, err = hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/cld/") {
		t.Fatalf("a form through the SNM: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	// Straight to the daemon's own address: without the SNM's session, or
	// with a forged SNM cookie, it is refused (the SNM decides).
	direct := &http.Client{Transport: &http.Transport{}}
	defer direct.CloseIdleConnections()
	status := func(cookie string) int {
		t.Helper()
		req, _ := http.NewRequest("GET", "http://"+dashAddr+"/", nil)
		if cookie != "" {
			req.Header.Set("Cookie", cookie)
		}
		resp, err := direct.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := status(""); code != http.StatusUnauthorized {
		t.Fatalf("the daemon's address without the SNM session: %d", code)
	}
	if code := status("simhost-mxone-snm=forged-session-value"); code != http.StatusUnauthorized {
		t.Fatalf("a forged SNM cookie: %d", code)
	}
}
