package cloud

import (
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
)

// edgeTicket returns a fresh ticket URL for the public URL, from a
// browser signed in to the portal as email.
func edgeTicketURL(t *testing.T, ts *TestServer, b *edgeBrowser, public, email string) string {
	t.Helper()
	b.c.Jar.SetCookies(mustURL(ts.URL+"/portal/"), []*http.Cookie{ts.PortalCookie(t, email)})
	host := strings.TrimSuffix(strings.TrimPrefix(public, "https://"), "/")
	r := b.get(ts.URL + "/portal/edge?" + url.Values{"host": {host}, "return": {"/"}}.Encode())
	loc := r.Header.Get("Location")
	if r.Status != http.StatusFound || !strings.Contains(loc, edgeAuthPath+"?") {
		t.Fatalf("no ticket redirect: %d %s", r.Status, loc)
	}
	return loc
}

// TestEdgeTicketHead: a HEAD (a link previewer, a prefetch) on the
// ticket's address neither signs in nor uses the ticket up; the GET
// after it signs in.
func TestEdgeTicketHead(t *testing.T) {
	ts := NewTestServer(t)
	sys := linkSystem(t, ts, DemoAccountID, installA, "pbx-alpha")
	public := putTunnelsOK(t, ts, sys.token, demoTunnels).Tunnels[1].PublicURL
	b := newEdgeBrowser(t, ts)
	ticket := edgeTicketURL(t, ts, b, public, DemoAdminEmail)
	for _, m := range []string{http.MethodHead, http.MethodPost, http.MethodPut} {
		req, _ := http.NewRequest(m, ticket, nil)
		r := do(t, b.c, req)
		if r.Status != http.StatusMethodNotAllowed || r.Header.Get("Allow") != http.MethodGet || r.Header.Get("Set-Cookie") != "" {
			t.Errorf("%s on the ticket: %d Allow %q Set-Cookie %q", m, r.Status, r.Header.Get("Allow"), r.Header.Get("Set-Cookie"))
		}
	}
	r := b.get(ticket)
	if r.Status != http.StatusFound || !strings.Contains(r.Header.Get("Set-Cookie"), edgeCookie+"=") {
		t.Fatalf("GET on the ticket after a HEAD: %d %s\n%s", r.Status, r.Header.Get("Set-Cookie"), r.Body)
	}
}

// TestEdgeTunnelsApart: each tunnel is its own site as far as the edge
// can make it: its session cookie is __Host- (no page can set one for
// the region domain), requests from another tunnel's page are refused
// (Fetch metadata, Origin) but for top-level GET navigations, and cookies
// a page scoped to the region or edge domain are expired.
func TestEdgeTunnelsApart(t *testing.T) {
	ts := NewTestServer(t)
	origin := newOrigin(t)
	sys := linkSystem(t, ts, DemoAccountID, installA, "pbx-alpha")
	tr := putTunnelsOK(t, ts, sys.token, demoTunnels)
	public, other := tr.Tunnels[0].PublicURL, tr.Tunnels[1].PublicURL
	otherOrigin := strings.TrimSuffix(other, "/")
	runAgent(t, ts, sys, map[string]string{"msl-server-manager": origin.Listener.Addr().String()})

	ck := ts.EdgeCookie(t, DemoAdminEmail, public)
	if !strings.HasPrefix(ck.Name, "__Host-") || ck.Path != "/" || !ck.Secure || ck.Domain != "" {
		t.Errorf("the edge session cookie %s (path %q, secure %v, domain %q) is not a __Host- cookie", ck.Name, ck.Path, ck.Secure, ck.Domain)
	}
	c := &http.Client{Transport: ts.EdgeTransport(), CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	t.Cleanup(c.CloseIdleConnections)
	send := func(method string, h map[string]string, cookies ...*http.Cookie) resp {
		t.Helper()
		req, _ := http.NewRequest(method, public+"?x=1", nil)
		req.AddCookie(ck)
		for _, x := range cookies {
			req.AddCookie(x)
		}
		for k, v := range h {
			req.Header.Set(k, v)
		}
		return do(t, c, req)
	}
	fetch := func(site, mode, dest string) map[string]string {
		return map[string]string{"Sec-Fetch-Site": site, "Sec-Fetch-Mode": mode, "Sec-Fetch-Dest": dest}
	}
	refused := []struct {
		name   string
		method string
		h      map[string]string
	}{
		{"fetch from another tunnel", "GET", fetch("same-site", "cors", "empty")},
		{"image from another tunnel", "GET", fetch("same-site", "no-cors", "image")},
		{"frame in another tunnel", "GET", fetch("same-site", "navigate", "iframe")},
		{"form POST from another tunnel", "POST", fetch("same-site", "navigate", "document")},
		{"Origin of another tunnel", "POST", map[string]string{"Origin": otherOrigin}},
		{"Origin of another tunnel on a GET", "GET", map[string]string{"Origin": otherOrigin}},
	}
	for _, tt := range refused {
		r := send(tt.method, tt.h)
		if r.Status != http.StatusForbidden || !strings.Contains(r.Body, "another tunnel") || strings.Contains(r.Body, "host=") {
			t.Errorf("%s: %d\n%s", tt.name, r.Status, r.Body)
		}
	}
	allowed := []struct {
		name string
		h    map[string]string
	}{
		{"link from another tunnel (top-level navigation)", fetch("same-site", "navigate", "document")},
		{"the tunnel's own page", fetch("same-origin", "cors", "empty")},
		{"own Origin", map[string]string{"Origin": strings.TrimSuffix(public, "/"), "Sec-Fetch-Site": "same-origin"}},
		{"from another site", fetch("cross-site", "navigate", "document")},
		{"no fetch metadata", nil},
	}
	for _, tt := range allowed {
		if r := send("GET", tt.h); r.Status != 200 || !strings.Contains(r.Body, "host=") {
			t.Errorf("%s: %d\n%s", tt.name, r.Status, r.Body)
		}
	}

	// Cookies a page set for the region (or edge) domain are expired
	// there on the next page load; host-only ones stay.
	pu := mustURL(public)
	region := strings.SplitN(pu.Hostname(), ".", 2)[1]
	r := send("GET", fetch("same-origin", "navigate", "document"), &http.Cookie{Name: "tossed", Value: "1"})
	var expired []string
	for _, sc := range r.Header.Values("Set-Cookie") {
		if strings.HasPrefix(sc, "tossed=;") {
			expired = append(expired, sc)
		}
		if strings.HasPrefix(sc, "__Host-") || strings.HasPrefix(sc, sessionCookie) {
			t.Errorf("the edge expires its own or the portal's cookie: %s", sc)
		}
	}
	for _, d := range []string{region, ts.EdgeDomain} {
		want := "tossed=; Path=/; Domain=" + d + "; Max-Age=0"
		if !slicesContains(expired, want) {
			t.Errorf("no %q among %q", want, expired)
		}
	}
	jar, _ := cookiejar.New(nil)
	bc := &http.Client{Transport: ts.EdgeTransport(), Jar: jar, CheckRedirect: c.CheckRedirect}
	t.Cleanup(bc.CloseIdleConnections)
	jar.SetCookies(pu, []*http.Cookie{ck, {Name: "mine", Value: "1", Path: "/"}, {Name: "tossed", Value: "1", Path: "/", Domain: region}})
	req, _ := http.NewRequest("GET", public, nil)
	req.Header.Set("Sec-Fetch-Mode", "navigate")
	if r := do(t, bc, req); r.Status != 200 {
		t.Fatalf("%d %s", r.Status, r.Body)
	}
	var names []string
	for _, x := range jar.Cookies(pu) {
		names = append(names, x.Name)
	}
	if slicesContains(names, "tossed") || !slicesContains(names, "mine") || !slicesContains(names, ck.Name) {
		t.Errorf("cookies of the tunnel after a page load: %v, want the region's gone and the host's kept", names)
	}
	if got := jar.Cookies(mustURL(other)); len(got) != 0 {
		t.Errorf("another tunnel gets %v", got)
	}
}

func slicesContains(s []string, v string) bool { return slices.Contains(s, v) }

// addrConn is a connection that only says where it comes from.
type addrConn struct {
	net.Conn
	addr net.Addr
}

func (c addrConn) RemoteAddr() net.Addr { return c.addr }

func helloFrom(name, ip string) *tls.ClientHelloInfo {
	return &tls.ClientHelloInfo{ServerName: name, Conn: addrConn{addr: &net.TCPAddr{IP: net.ParseIP(ip), Port: 4000}}}
}

// TestEdgeCertificateWork: certificates for new names are issued at most
// maxClientCerts a minute per client (cached ones always served); names
// outside the tunnel pattern get none; a name is issued once however many
// ask at once; and an issuance in progress does not hold up other names.
func TestEdgeCertificateWork(t *testing.T) {
	clock := clockwork.NewFakeClockAt(time.Now())
	ts := NewTestServer(t, WithClock(clock))
	e := ts.Server.edge
	sys := linkSystem(t, ts, DemoAccountID, installA, "pbx-alpha")
	known := mustURL(putTunnelsOK(t, ts, sys.token, demoTunnels).Tunnels[0].PublicURL).Hostname()
	name := func(i int) string { return fmt.Sprintf("%08x-d9cb-469f-a165-70867728950e.eu.%s", i, ts.EdgeDomain) }

	for _, bad := range []string{"www.eu." + ts.EdgeDomain, "x.example", strings.Repeat("a", 300) + "." + ts.EdgeDomain} {
		if _, err := e.getCertificate(helloFrom(bad, "192.0.2.1")); err == nil {
			t.Errorf("a certificate for %q", bad)
		}
	}
	// One client: a minute's allowance of new names, then refusals; the
	// names it already has and other clients are served.
	for i := range maxClientCerts {
		if _, err := e.getCertificate(helloFrom(name(i), "192.0.2.1")); err != nil {
			t.Fatalf("name %d: %v", i, err)
		}
	}
	_, err := e.getCertificate(helloFrom(name(1000), "192.0.2.1"))
	if err == nil || !strings.Contains(err.Error(), "too many") {
		t.Fatalf("new name beyond the allowance: %v", err)
	}
	if _, err := e.getCertificate(helloFrom(name(0), "192.0.2.1")); err != nil {
		t.Errorf("a cached name refused: %v", err)
	}
	if _, err := e.getCertificate(helloFrom(known, "192.0.2.1")); err != nil {
		t.Errorf("a known tunnel's name refused: %v", err)
	}
	if _, err := e.getCertificate(helloFrom(name(1001), "198.51.100.7")); err != nil {
		t.Errorf("another client refused: %v", err)
	}
	clock.Advance(61 * time.Second)
	if _, err := e.getCertificate(helloFrom(name(1002), "192.0.2.1")); err != nil {
		t.Errorf("after a minute: %v", err)
	}

	// Many at once for one new name: one issuance. Meanwhile other names
	// are served.
	orig := e.issue
	var calls atomic.Int32
	release := make(chan struct{})
	slow := name(2000)
	e.issue = func(n string, now time.Time) (tls.Certificate, error) {
		if n == slow {
			calls.Add(1)
			<-release
		}
		return orig(n, now)
	}
	var wg sync.WaitGroup
	for i := range 10 {
		wg.Go(func() {
			if _, err := e.getCertificate(helloFrom(slow, fmt.Sprintf("203.0.113.%d", i+1))); err != nil {
				t.Errorf("slow name: %v", err)
			}
		})
	}
	waitUntil(t, "the slow issuance", func() bool { return calls.Load() > 0 })
	done := make(chan error, 1)
	go func() {
		_, err := e.getCertificate(helloFrom(name(2001), "198.51.100.8"))
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("other name: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Error("another name waited for a slow issuance")
	}
	close(release)
	wg.Wait()
	if n := calls.Load(); n != 1 {
		t.Errorf("%d issuances for one name asked for at once", n)
	}
}
