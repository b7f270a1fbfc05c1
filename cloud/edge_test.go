package cloud

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/cloudlink/cld/cloud/cloudapi"
	"github.com/cloudlink/cld/cloud/pki"
	"github.com/cloudlink/cld/cloud/store"
)

// linked is a system linked to a test server, with a device token.
type linked struct {
	cloudapi.RegisterResponse
	token string
}

func linkSystem(t testing.TB, ts *TestServer, account int64, installation, host string) linked {
	t.Helper()
	admin := passwordToken(t, ts, DemoAdminEmail, account, cloudapi.ScopeRegister).AccessToken
	rr := register(t, ts, admin, installation, host)
	return linked{rr, deviceToken(t, ts, rr)}
}

var demoTunnels = []cloudapi.TunnelInfo{
	{ID: "msl-server-manager", Component: "MSL", Name: "Server Manager", Description: "Remote access via Server Manager", Status: cloudapi.TunnelStarted},
	{ID: "mbg-admin", Component: "MBG", Name: "MiVoice Border Gateway administration", Status: cloudapi.TunnelStopped},
}

func putTunnels(t testing.TB, ts *TestServer, token string, body any) resp {
	t.Helper()
	return jsonRequest(t, ts, http.MethodPut, cloudapi.PathSystemTunnels, token, body)
}

func putTunnelsOK(t testing.TB, ts *TestServer, token string, tunnels []cloudapi.TunnelInfo) cloudapi.TunnelsResponse {
	t.Helper()
	r := putTunnels(t, ts, token, cloudapi.TunnelsRequest{Tunnels: tunnels})
	if r.Status != http.StatusOK {
		t.Fatalf("PUT tunnels: %d %s", r.Status, r.Body)
	}
	var tr cloudapi.TunnelsResponse
	if err := jsonUnmarshal(r.Body, &tr); err != nil {
		t.Fatal(err)
	}
	return tr
}

func TestTunnelsPut(t *testing.T) {
	ts := NewTestServer(t)
	sys := linkSystem(t, ts, DemoAccountID, installA, "pbx-alpha")
	_, port, _ := net.SplitHostPort(ts.EdgeAddr)

	tr := putTunnelsOK(t, ts, sys.token, demoTunnels)
	if len(tr.Tunnels) != 2 {
		t.Fatalf("%+v", tr)
	}
	for i, p := range tr.Tunnels {
		id := cloudapi.TunnelUUID(sys.SystemID, demoTunnels[i].ID)
		want := "https://" + id + ".eu.edge.localhost:" + port + "/"
		if p.ID != demoTunnels[i].ID || p.PublicURL != want {
			t.Errorf("tunnel %d: %+v, want %s", i, p, want)
		}
		if got := ts.PublicURL(sys.SystemID, p.ID); got != want {
			t.Errorf("TestServer.PublicURL = %s, want %s", got, want)
		}
	}
	// The same list again: the same URLs.
	if again := putTunnelsOK(t, ts, sys.token, demoTunnels); fmt.Sprint(again) != fmt.Sprint(tr) {
		t.Errorf("second PUT: %+v, first %+v", again, tr)
	}
	// An empty list is fine.
	if empty := putTunnelsOK(t, ts, sys.token, []cloudapi.TunnelInfo{}); len(empty.Tunnels) != 0 {
		t.Errorf("empty: %+v", empty)
	}

	many := make([]cloudapi.TunnelInfo, MaxTunnels+1)
	for i := range many {
		many[i] = cloudapi.TunnelInfo{ID: fmt.Sprintf("t%d", i), Name: "n", Status: "stopped"}
	}
	one := func(f func(*cloudapi.TunnelInfo)) cloudapi.TunnelsRequest {
		ti := cloudapi.TunnelInfo{ID: "ok-id", Component: "C", Name: "N", Status: "started"}
		f(&ti)
		return cloudapi.TunnelsRequest{Tunnels: []cloudapi.TunnelInfo{ti}}
	}
	userToken := passwordToken(t, ts, DemoAdminEmail, DemoAccountID, "").AccessToken
	tests := []struct {
		name   string
		method string
		token  string
		body   any
		status int
		want   string
	}{
		{"no token", "PUT", "", `{"tunnels":[]}`, 401, "access token"},
		{"user token", "PUT", userToken, `{"tunnels":[]}`, 403, "device token"},
		{"get", "GET", sys.token, nil, 405, "PUT"},
		{"empty body", "PUT", sys.token, "", 400, "empty"},
		{"not json", "PUT", sys.token, "{", 400, "ends too early"},
		{"array", "PUT", sys.token, `[]`, 400, "JSON object"},
		{"no tunnels", "PUT", sys.token, `{}`, 400, "tunnels is missing"},
		{"tunnels not array", "PUT", sys.token, `{"tunnels":"x"}`, 400, "tunnels must be a array"},
		{"trailing", "PUT", sys.token, `{"tunnels":[]} {}`, 400, "nothing after"},
		{"too many", "PUT", sys.token, cloudapi.TunnelsRequest{Tunnels: many}, 400, "at most 64"},
		{"address as id", "PUT", sys.token, one(func(ti *cloudapi.TunnelInfo) { ti.ID = "127.0.0.1:443" }), 400, "not a tunnel ID"},
		{"url as id", "PUT", sys.token, one(func(ti *cloudapi.TunnelInfo) { ti.ID = "https://10.0.0.1/" }), 400, "not a tunnel ID"},
		{"upper id", "PUT", sys.token, one(func(ti *cloudapi.TunnelInfo) { ti.ID = "Admin" }), 400, "not a tunnel ID"},
		{"no id", "PUT", sys.token, one(func(ti *cloudapi.TunnelInfo) { ti.ID = "" }), 400, "id is missing"},
		{"no name", "PUT", sys.token, one(func(ti *cloudapi.TunnelInfo) { ti.Name = " " }), 400, "name of tunnel ok-id is missing"},
		{"long name", "PUT", sys.token, one(func(ti *cloudapi.TunnelInfo) { ti.Name = strings.Repeat("é", 201) }), 400, "at most 200"},
		{"long description", "PUT", sys.token, one(func(ti *cloudapi.TunnelInfo) { ti.Description = strings.Repeat("d", 1001) }), 400, "at most 1000"},
		{"control chars", "PUT", sys.token, one(func(ti *cloudapi.TunnelInfo) { ti.Component = "a\x00b" }), 400, "control characters"},
		{"bad status", "PUT", sys.token, one(func(ti *cloudapi.TunnelInfo) { ti.Status = "running" }), 400, `"running"`},
		{"no status", "PUT", sys.token, one(func(ti *cloudapi.TunnelInfo) { ti.Status = "" }), 400, "status of tunnel ok-id is missing"},
		{"origin with a path", "PUT", sys.token, one(func(ti *cloudapi.TunnelInfo) { ti.Origin = "https://127.0.0.1:443/admin" }), 400, "origin of tunnel ok-id"},
		{"origin not a URL", "PUT", sys.token, one(func(ti *cloudapi.TunnelInfo) { ti.Origin = "127.0.0.1:443" }), 400, "scheme://host:port"},
		{"duplicate", "PUT", sys.token, cloudapi.TunnelsRequest{Tunnels: []cloudapi.TunnelInfo{demoTunnels[0], demoTunnels[0]}}, 400, "appears twice"},
		{"too large", "PUT", sys.token, `{"tunnels":[],"x":"` + strings.Repeat("x", 300<<10) + `"}`, 400, "larger than 256 KiB"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := jsonRequest(t, ts, tt.method, cloudapi.PathSystemTunnels, tt.token, tt.body)
			if r.Status != tt.status {
				t.Fatalf("status %d, want %d: %s", r.Status, tt.status, r.Body)
			}
			if e := r.apiError(t); !strings.Contains(e.Description, tt.want) {
				t.Errorf("error %+v, want one containing %q", e, tt.want)
			}
		})
	}
	t.Run("content type", func(t *testing.T) {
		req, _ := http.NewRequest("PUT", ts.URL+cloudapi.PathSystemTunnels, strings.NewReader(`{"tunnels":[]}`))
		req.Header.Set("Authorization", "Bearer "+sys.token)
		req.Header.Set("Content-Type", "text/plain")
		if r := do(t, ts.Client(), req); r.Status != 400 || !strings.Contains(r.Body, "application/json") {
			t.Errorf("%d %s", r.Status, r.Body)
		}
	})
	t.Run("revoked", func(t *testing.T) {
		if err := ts.RevokeSystem(sys.SystemID, DemoAdminEmail); err != nil {
			t.Fatal(err)
		}
		r := putTunnels(t, ts, sys.token, cloudapi.TunnelsRequest{Tunnels: demoTunnels})
		if e := r.apiError(t); r.Status != 401 || e.Code != cloudapi.ErrSystemRevoked {
			t.Errorf("%d %+v", r.Status, e)
		}
	})
}

// TestPublicURLStable checks that a tunnel keeps its public URL when the
// cloud restarts on the same data directory.
func TestPublicURLStable(t *testing.T) {
	dir := t.TempDir()
	open := func() *Server {
		cfg := DefaultConfig()
		cfg.DataDir = dir
		cfg.EdgeListen = "127.0.0.1:18444" // only named in URLs: not listened on
		cfg.BcryptCost = 4
		cfg.Logger = discardLogger()
		srv, err := New(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		return srv
	}
	srv := open()
	if err := srv.SeedDemo(context.Background()); err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv.Handler())
	ts := &TestServer{URL: hs.URL, Server: srv, t: t}
	c := hs.Client()
	ts.clients = []*http.Client{c}
	tok := passwordToken(t, ts, DemoAdminEmail, DemoAccountID, cloudapi.ScopeRegister).AccessToken
	rr := register(t, ts, tok, installA, "pbx")
	dev := deviceToken(t, ts, rr)
	first := putTunnelsOK(t, ts, dev, demoTunnels).Tunnels[0].PublicURL
	spki := srv.EdgeSPKIHash()
	hs.Close()
	srv.Close()

	srv = open()
	defer srv.Close()
	again, err := srv.PublicURL(context.Background(), rr.SystemID, demoTunnels[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	want := "https://" + cloudapi.TunnelUUID(rr.SystemID, demoTunnels[0].ID) + ".eu.edge.localhost:18444/"
	if first != want || again != want {
		t.Errorf("public URL %s, after restart %s, want %s", first, again, want)
	}
	if srv.EdgeSPKIHash() != spki {
		t.Error("the edge key changed across restarts")
	}
}

// edgeBrowser is a cookie-keeping client for absolute URLs (public tunnel
// URLs and the portal) that does not follow redirects.
type edgeBrowser struct {
	t    *testing.T
	c    *http.Client
	last *url.URL // the last request's URL, for relative redirects
}

func newEdgeBrowser(t *testing.T, ts *TestServer) *edgeBrowser {
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Transport: ts.EdgeTransport(), Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	t.Cleanup(c.CloseIdleConnections)
	return &edgeBrowser{t: t, c: c}
}

func (b *edgeBrowser) get(u string) resp {
	b.t.Helper()
	req, err := http.NewRequest("GET", u, nil)
	if err != nil {
		b.t.Fatal(err)
	}
	b.last = req.URL
	return do(b.t, b.c, req)
}

func (b *edgeBrowser) postForm(u string, kv ...string) resp {
	b.t.Helper()
	req, _ := http.NewRequest("POST", u, strings.NewReader(merge(url.Values{}, kv...).Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	b.last = req.URL
	return do(b.t, b.c, req)
}

// follow GETs the Location of a redirect.
func (b *edgeBrowser) follow(r resp) resp {
	b.t.Helper()
	if r.Status != http.StatusFound && r.Status != http.StatusSeeOther {
		b.t.Fatalf("status %d, want a redirect; body:\n%s", r.Status, r.Body)
	}
	loc, err := b.last.Parse(r.Header.Get("Location"))
	if err != nil {
		b.t.Fatal(err)
	}
	return b.get(loc.String())
}

func wantPage(t *testing.T, r resp, status int, texts ...string) {
	t.Helper()
	if r.Status != status {
		t.Fatalf("status %d, want %d; body:\n%s", r.Status, status, r.Body)
	}
	for _, s := range texts {
		if !strings.Contains(r.Body, s) {
			t.Errorf("page lacks %q:\n%s", s, r.Body)
		}
	}
}

func TestEdgeRouting(t *testing.T) {
	ts := NewTestServer(t)
	sys := linkSystem(t, ts, DemoAccountID, installA, "pbx-alpha")
	tr := putTunnelsOK(t, ts, sys.token, demoTunnels)
	started, stopped := tr.Tunnels[0].PublicURL, tr.Tunnels[1].PublicURL
	_, port, _ := net.SplitHostPort(ts.EdgeAddr)
	b := newEdgeBrowser(t, ts)

	t.Run("unknown tunnel", func(t *testing.T) {
		r := b.get("https://0f8fad5b-d9cb-469f-a165-70867728950e.eu.edge.localhost:" + port + "/x")
		wantPage(t, r, 404, "No tunnel at this address", "0f8fad5b-d9cb-469f-a165-70867728950e.eu.edge.localhost")
		if r.Header.Get("Cache-Control") != "no-store" || r.Header.Get("X-Frame-Options") != "DENY" {
			t.Errorf("headers %v", r.Header)
		}
	})
	t.Run("not a tunnel name", func(t *testing.T) {
		// Names under the domain that are not <uuid>.<region> get no
		// certificate.
		conn, err := tls.Dial("tcp", ts.EdgeAddr, &tls.Config{ServerName: "www.eu.edge.localhost", RootCAs: ts.EdgeCAPool})
		if err == nil {
			conn.Close()
			t.Fatal("TLS handshake for www.eu.edge.localhost succeeded")
		}
		// The right UUID in another region.
		wantPage(t, b.get("https://"+cloudapi.TunnelUUID(sys.SystemID, "mbg-admin")+".us.edge.localhost:"+port+"/"), 404, "No tunnel at this address")
		// A malformed name in the Host header only.
		req, _ := http.NewRequest("GET", started, nil)
		req.Host = "www.eu.edge.localhost:" + port
		if r := do(t, b.c, req); r.Status != http.StatusMisdirectedRequest {
			t.Errorf("malformed Host: %d", r.Status)
		}
	})
	t.Run("wrong domain", func(t *testing.T) {
		// Another name in the Host header than the connection's.
		req, _ := http.NewRequest("GET", started, nil)
		req.Host = "pbx.example.com:" + port
		wantPage(t, do(t, b.c, req), http.StatusMisdirectedRequest, "Not a tunnel address", "edge.localhost")
		// Another tunnel's name in the Host header.
		req, _ = http.NewRequest("GET", started, nil)
		req.Host = strings.TrimSuffix(strings.TrimPrefix(stopped, "https://"), "/")
		wantPage(t, do(t, b.c, req), http.StatusMisdirectedRequest, "Wrong address")
		// TLS for a name outside the domain is refused.
		conn, err := tls.Dial("tcp", ts.EdgeAddr, &tls.Config{ServerName: "pbx.example.com", RootCAs: ts.EdgeCAPool})
		if err == nil {
			conn.Close()
			t.Fatal("TLS handshake for a foreign name succeeded")
		}
		// Without SNI (by IP address): the not-a-tunnel page.
		c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
		defer c.CloseIdleConnections()
		res, err := c.Get("https://" + ts.EdgeAddr + "/")
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusMisdirectedRequest {
			t.Errorf("by IP: %d", res.StatusCode)
		}
	})
	t.Run("certificate", func(t *testing.T) {
		host := strings.TrimSuffix(strings.TrimPrefix(started, "https://"), "/")
		name, _, _ := net.SplitHostPort(host)
		conn, err := tls.Dial("tcp", ts.EdgeAddr, &tls.Config{ServerName: name, RootCAs: ts.EdgeCAPool})
		if err != nil {
			t.Fatalf("TLS with the CA: %v", err)
		}
		defer conn.Close()
		st := conn.ConnectionState()
		if st.NegotiatedProtocol == "h2" {
			t.Error("the public listener speaks HTTP/2")
		}
		h, _ := pki.SPKIHash(st.PeerCertificates[0].PublicKey)
		if h != ts.EdgeSPKI {
			t.Errorf("SPKI %s, want %s", h, ts.EdgeSPKI)
		}
	})
	t.Run("sign-in required", func(t *testing.T) {
		r := b.get(started + "page?a=1")
		if r.Status != http.StatusFound {
			t.Fatalf("%d %s", r.Status, r.Body)
		}
		loc, _ := url.Parse(r.Header.Get("Location"))
		host := strings.TrimSuffix(strings.TrimPrefix(started, "https://"), "/")
		if loc.Scheme+"://"+loc.Host != ts.URL || loc.Path != "/portal/edge" || loc.Query().Get("host") != host || loc.Query().Get("return") != "/page?a=1" {
			t.Errorf("redirect to %s", loc)
		}
		req, _ := http.NewRequest("POST", started+"api", strings.NewReader("x=1"))
		wantPage(t, do(t, b.c, req), http.StatusUnauthorized, "Sign-in required")
	})

	cookie := func(u string) *http.Cookie { return ts.EdgeCookie(t, DemoUserEmail, u) }
	get := func(u string, c *http.Cookie) resp {
		req, _ := http.NewRequest("GET", u, nil)
		req.AddCookie(c)
		return do(t, b.c, req)
	}
	t.Run("stopped tunnel", func(t *testing.T) {
		wantPage(t, get(stopped, cookie(stopped)), http.StatusServiceUnavailable, "Tunnel not started",
			"MBG – MiVoice Border Gateway administration", "pbx-alpha", "is stopped", "cld tunnel start mbg-admin")
	})
	t.Run("offline host", func(t *testing.T) {
		wantPage(t, get(started, cookie(started)), http.StatusBadGateway, "Host offline", "pbx-alpha is not connected",
			"MSL – Server Manager")
	})
	t.Run("error status with reason", func(t *testing.T) {
		errTunnels := []cloudapi.TunnelInfo{demoTunnels[0], demoTunnels[1]}
		errTunnels[1].Status, errTunnels[1].Reason = cloudapi.TunnelError, "local service down"
		putTunnelsOK(t, ts, sys.token, errTunnels)
		wantPage(t, get(stopped, cookie(stopped)), http.StatusServiceUnavailable, "is error (local service down)")
	})
	t.Run("cookie of another tunnel", func(t *testing.T) {
		r := get(started, cookie(stopped))
		if r.Status != http.StatusFound {
			t.Errorf("%d", r.Status)
		}
	})
	t.Run("removed system", func(t *testing.T) {
		c := cookie(started)
		if err := ts.RevokeSystem(sys.SystemID, DemoAdminEmail); err != nil {
			t.Fatal(err)
		}
		wantPage(t, get(started, c), 404, "No tunnel at this address")
	})
}

func TestEdgeSignIn(t *testing.T) {
	clock := clockwork.NewFakeClockAt(time.Now())
	ts := NewTestServer(t, WithClock(clock))
	sys := linkSystem(t, ts, DemoAccountID, installA, "pbx-alpha")
	tr := putTunnelsOK(t, ts, sys.token, demoTunnels)
	public := tr.Tunnels[1].PublicURL // stopped: a signed-in user sees its page
	host := strings.TrimSuffix(strings.TrimPrefix(public, "https://"), "/")
	other := linkSystem(t, ts, DemoSecondAccountID, installB, "pbx-beta")
	otherURL := putTunnelsOK(t, ts, other.token, demoTunnels).Tunnels[1].PublicURL

	// signIn walks a fresh browser from the public URL through the sign-in
	// form to the ticket redirect, and returns the browser and it.
	signIn := func(t *testing.T, u, email string) (*edgeBrowser, resp) {
		b := newEdgeBrowser(t, ts)
		r := b.follow(b.get(u + "status?x=1"))
		wantPage(t, r, 200, "Sign in to open a tunnel", `name="host"`)
		ph, _ := url.Parse(u)
		r = b.postForm(ts.URL+"/portal/edge", "host", ph.Host, "return", "/status?x=1", "email", email, "password", DemoPassword)
		return b, r
	}
	var ticketURL string
	t.Run("not signed in", func(t *testing.T) {
		b, r := signIn(t, public, DemoAdminEmail) // a member of both accounts: no account step
		if r.Status != http.StatusFound {
			t.Fatalf("%d %s", r.Status, r.Body)
		}
		ticketURL = r.Header.Get("Location")
		if !strings.HasPrefix(ticketURL, "https://"+host+"/.cld-edge/auth?") {
			t.Fatalf("ticket redirect to %s", ticketURL)
		}
		if sc := r.Header.Get("Set-Cookie"); !strings.Contains(sc, sessionCookie+"=") {
			t.Errorf("no portal session started: %q", sc)
		}
		r = b.get(ticketURL)
		if r.Status != http.StatusFound || r.Header.Get("Location") != "/status?x=1" {
			t.Fatalf("ticket: %d %s %s", r.Status, r.Header.Get("Location"), r.Body)
		}
		sc := r.Header.Get("Set-Cookie")
		for _, want := range []string{edgeCookie + "=", "Path=/", "Max-Age=28800", "HttpOnly", "Secure", "SameSite=Lax"} {
			if !strings.Contains(sc, want) {
				t.Errorf("edge cookie %q lacks %s", sc, want)
			}
		}
		if strings.Contains(strings.ToLower(sc), "domain") {
			t.Errorf("edge cookie is not host-only: %q", sc)
		}
		wantPage(t, b.follow(r), http.StatusServiceUnavailable, "Tunnel not started")

		// Signed in at the portal now: another tunnel of the account goes
		// straight to its ticket.
		r = b.follow(b.get(tr.Tunnels[0].PublicURL))
		if r.Status != http.StatusFound || !strings.Contains(r.Header.Get("Location"), "/.cld-edge/auth?") || !strings.Contains(r.Header.Get("Location"), "ticket=") {
			t.Fatalf("signed in: %d %s", r.Status, r.Header.Get("Location"))
		}
		wantPage(t, b.follow(b.follow(r)), http.StatusBadGateway, "Host offline")

		// Signing out of the portal ends the edge sessions.
		wantRedirect(t, b.postForm(ts.URL+"/portal/signout"), "/portal/")
		if r := b.get(public); r.Status != http.StatusFound || !strings.HasPrefix(r.Header.Get("Location"), ts.URL+"/portal/edge?") {
			t.Errorf("after sign-out: %d %s", r.Status, r.Header.Get("Location"))
		}
	})
	t.Run("ticket reuse", func(t *testing.T) {
		b := newEdgeBrowser(t, ts)
		wantPage(t, b.get(ticketURL), http.StatusForbidden, "Sign-in link expired")
	})
	t.Run("ticket for another host", func(t *testing.T) {
		b := newEdgeBrowser(t, ts)
		b.c.Jar.SetCookies(mustURL(ts.URL+"/portal/"), []*http.Cookie{ts.PortalCookie(t, DemoAdminEmail)})
		r := b.get(ts.URL + "/portal/edge?" + url.Values{"host": {host}, "return": {"/"}}.Encode())
		loc := mustURL(r.Header.Get("Location"))
		loc.Host = strings.TrimSuffix(strings.TrimPrefix(tr.Tunnels[0].PublicURL, "https://"), "/")
		wantPage(t, b.get(loc.String()), http.StatusForbidden, "Sign-in link expired")
	})
	t.Run("ticket expires", func(t *testing.T) {
		b := newEdgeBrowser(t, ts)
		b.c.Jar.SetCookies(mustURL(ts.URL+"/portal/"), []*http.Cookie{ts.PortalCookie(t, DemoAdminEmail)})
		r := b.get(ts.URL + "/portal/edge?" + url.Values{"host": {host}, "return": {"/"}}.Encode())
		clock.Advance(61 * time.Second)
		wantPage(t, b.follow(r), http.StatusForbidden, "Sign-in link expired")
	})
	t.Run("edge session expires", func(t *testing.T) {
		c := ts.EdgeCookie(t, DemoAdminEmail, public)
		b := newEdgeBrowser(t, ts)
		req, _ := http.NewRequest("GET", public, nil)
		req.AddCookie(c)
		wantPage(t, do(t, b.c, req), http.StatusServiceUnavailable)
		clock.Advance(8*time.Hour + time.Second)
		req, _ = http.NewRequest("GET", public, nil)
		req.AddCookie(c)
		if r := do(t, b.c, req); r.Status != http.StatusFound {
			t.Errorf("expired session: %d", r.Status)
		}
	})
	t.Run("user of another account", func(t *testing.T) {
		// With the sign-in form.
		_, r := signIn(t, otherURL, DemoUserEmail)
		wantPage(t, r, http.StatusForbidden, "Not allowed", "user@demo.test is not a member of CloudLink account 100002")
		// Already signed in to the portal.
		b := newEdgeBrowser(t, ts)
		b.c.Jar.SetCookies(mustURL(ts.URL+"/portal/"), []*http.Cookie{ts.PortalCookie(t, DemoUserEmail)})
		wantPage(t, b.follow(b.get(otherURL)), http.StatusForbidden, "is not a member of CloudLink account 100002")
		// A member of the account who is not its administrator gets in.
		wantPage(t, b.follow(b.follow(b.follow(b.get(public)))), http.StatusServiceUnavailable, "Tunnel not started")
	})
	t.Run("open redirect", func(t *testing.T) {
		b := newEdgeBrowser(t, ts)
		b.c.Jar.SetCookies(mustURL(ts.URL+"/portal/"), []*http.Cookie{ts.PortalCookie(t, DemoAdminEmail)})
		for _, ret := range []string{"https://evil.example/", "//evil.example/", "/\\evil.example", "evil", "/\x00"} {
			r := b.get(ts.URL + "/portal/edge?" + url.Values{"host": {host}, "return": {ret}}.Encode())
			wantPage(t, r, http.StatusBadRequest, "Bad tunnel link")
		}
		r := b.get(ts.URL + "/portal/edge?" + url.Values{"host": {host}, "return": {"/ok"}}.Encode())
		loc := mustURL(r.Header.Get("Location"))
		q := loc.Query()
		q.Set("return", "//evil.example/")
		loc.RawQuery = q.Encode()
		wantPage(t, b.get(loc.String()), http.StatusBadRequest, "Bad sign-in link")
	})
	t.Run("bad host", func(t *testing.T) {
		b := newEdgeBrowser(t, ts)
		b.c.Jar.SetCookies(mustURL(ts.URL+"/portal/"), []*http.Cookie{ts.PortalCookie(t, DemoAdminEmail)})
		name, _, _ := net.SplitHostPort(host)
		for _, h := range []string{"evil.example", name + ":1", name, "www.eu.edge.localhost"} {
			r := b.get(ts.URL + "/portal/edge?" + url.Values{"host": {h}, "return": {"/"}}.Encode())
			wantPage(t, r, http.StatusBadRequest, "Not a tunnel address")
		}
		_, port, _ := net.SplitHostPort(host)
		r := b.get(ts.URL + "/portal/edge?" + url.Values{"host": {"0f8fad5b-d9cb-469f-a165-70867728950e.eu.edge.localhost:" + port}}.Encode())
		wantPage(t, r, http.StatusNotFound, "No tunnel at this address")
	})
}

func mustURL(s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		panic(err)
	}
	return u
}

func TestTunnelConnectAuth(t *testing.T) {
	ts := NewTestServer(t)
	sys := linkSystem(t, ts, DemoAccountID, installA, "pbx-alpha")
	userToken := passwordToken(t, ts, DemoAdminEmail, DemoAccountID, "").AccessToken
	get := func(method, token string) resp {
		req, _ := http.NewRequest(method, ts.URL+cloudapi.PathTunnelConnect, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		return do(t, ts.Client(), req)
	}
	if r := get("GET", ""); r.Status != 401 || r.apiError(t).Code != cloudapi.ErrInvalidToken {
		t.Errorf("no token: %d %s", r.Status, r.Body)
	}
	if r := get("GET", userToken); r.Status != 403 {
		t.Errorf("user token: %d %s", r.Status, r.Body)
	}
	if r := get("POST", sys.token); r.Status != 405 {
		t.Errorf("POST: %d %s", r.Status, r.Body)
	}
	// A valid device token reaches the tunnel edge, which wants a WebSocket.
	if r := get("GET", sys.token); r.Status == 401 || r.Status == 403 || r.Status == 200 {
		t.Errorf("device token without upgrade: %d %s", r.Status, r.Body)
	}
	if err := ts.RevokeSystem(sys.SystemID, DemoAdminEmail); err != nil {
		t.Fatal(err)
	}
	r := get("GET", sys.token)
	if e := r.apiError(t); r.Status != 401 || e.Code != cloudapi.ErrSystemRevoked || !strings.Contains(e.Description, "admin@demo.test") {
		t.Errorf("revoked: %d %+v", r.Status, e)
	}
}

func TestSystemsPageTunnels(t *testing.T) {
	ts := NewTestServer(t)
	sys := linkSystem(t, ts, DemoAccountID, installA, "pbx-alpha")
	linkSystem(t, ts, DemoAccountID, installB, "pbx-none")
	tr := putTunnelsOK(t, ts, sys.token, demoTunnels)
	b := newEdgeBrowser(t, ts)
	b.c.Jar.SetCookies(mustURL(ts.URL+"/portal/"), []*http.Cookie{ts.PortalCookie(t, DemoUserEmail)})
	r := b.get(ts.URL + "/portal/systems")
	wantPage(t, r, 200, "Tunnels", "Tunnel session offline", "MSL – Server Manager", "MBG – MiVoice Border Gateway administration",
		">started<", ">stopped<", `href="`+tr.Tunnels[0].PublicURL+`"`, tr.Tunnels[1].PublicURL, "None reported")
	if err := ts.RevokeSystem(sys.SystemID, DemoAdminEmail); err != nil {
		t.Fatal(err)
	}
	r = b.get(ts.URL + "/portal/systems")
	wantPage(t, r, 200, "Removed", "the system was removed from its account")
	if strings.Contains(r.Body, tr.Tunnels[0].PublicURL) {
		t.Error("a removed system's tunnel is still linked")
	}
}

func TestEdgeHelpers(t *testing.T) {
	for _, p := range []string{"/", "/a/b?c=d&e=/f", "/%2F%2Fx"} {
		if !safeReturn(p) {
			t.Errorf("safeReturn(%q) = false", p)
		}
	}
	for _, p := range []string{"", "a", "//x", "/\\x", "https://x/", "/a b", "/\t", "/" + strings.Repeat("a", maxReturnLen)} {
		if safeReturn(p) {
			t.Errorf("safeReturn(%q) = true", p)
		}
	}
	const pub = "u.eu.edge.localhost:8444"
	for in, want := range map[string]string{
		"http://127.0.0.1:8080/login?x=1":     "https://u.eu.edge.localhost:8444/login?x=1",
		"https://localhost/a":                 "https://u.eu.edge.localhost:8444/a",
		"http://[::1]:80/":                    "https://u.eu.edge.localhost:8444/",
		"http://u.eu.edge.localhost:8444/b":   "https://u.eu.edge.localhost:8444/b",
		"//127.0.0.1/c":                       "https://u.eu.edge.localhost:8444/c",
		"http://admin:pw@127.0.0.1/d":         "https://u.eu.edge.localhost:8444/d",
		"//@:::":                              "https://u.eu.edge.localhost:8444",
		"/relative":                           "",
		"https://example.com/":                "",
		"https://v.eu.edge.localhost:8444/":   "",
		"ftp://127.0.0.1/":                    "",
		"http://10.0.0.5/":                    "",
		"http://%zz/":                         "",
		"https://u.eu.edge.localhost:8444/ok": "https://u.eu.edge.localhost:8444/ok",
	} {
		got, ok := rewriteLocation(in, pub)
		if !ok {
			got = ""
		}
		if got != want {
			t.Errorf("rewriteLocation(%q) = %q, want %q", in, got, want)
		}
	}
	// The tunnel's own origins: its local address and the system's host
	// name on the same scheme and port.
	own := ownOrigins(route{tunnel: store.Tunnel{Origin: "https://pbx.example.net:8443"}, system: store.System{Hostname: "PBX-Alpha"}})
	if len(own) != 2 {
		t.Fatalf("ownOrigins: %v", own)
	}
	for in, want := range map[string]string{
		"https://pbx.example.net:8443/login?x=1": "https://u.eu.edge.localhost:8444/login?x=1",
		"https://PBX.example.net.:8443/a":        "https://u.eu.edge.localhost:8444/a",
		"//pbx.example.net:8443/b":               "https://u.eu.edge.localhost:8444/b",
		"https://pbx-alpha:8443/c":               "https://u.eu.edge.localhost:8444/c",
		"https://pbx.example.net/":               "", // another port (443)
		"http://pbx.example.net:8443/":           "", // another scheme
		"https://pbx.example.net:9443/":          "",
		"https://pbx-alpha/":                     "",
		"https://other.example.net:8443/":        "",
		"http://127.0.0.1:1/x":                   "https://u.eu.edge.localhost:8444/x",
	} {
		got, ok := rewriteLocation(in, pub, own...)
		if !ok {
			got = ""
		}
		if got != want {
			t.Errorf("rewriteLocation(%q, own) = %q, want %q", in, got, want)
		}
	}
	if got := ownOrigins(route{tunnel: store.Tunnel{Origin: ""}}); got != nil {
		t.Errorf("no origin: %v", got)
	}
	for in, want := range map[string]string{
		"https://127.0.0.1:443":   "https://127.0.0.1:443",
		"HTTPS://PBX.Example.NET": "https://pbx.example.net:443",
		"http://[::1]:8080/":      "http://[::1]:8080",
		"http://h":                "http://h:80",
		"ftp://h:21":              "",
		"https://h:0":             "",
		"https://h:99999":         "",
		"https://u:p@h:1":         "",
		"https://h:1/path":        "",
		"https://h:1?q":           "",
		"h:1":                     "",
		"https://":                "",
	} {
		o, ok := parseOrigin(in)
		got := ""
		if ok {
			got = o.String()
		}
		if got != want {
			t.Errorf("parseOrigin(%q) = %q, want %q", in, got, want)
		}
	}
	for in, want := range map[string]string{
		"a=1; Path=/; Domain=127.0.0.1; HttpOnly": "a=1; Path=/; HttpOnly",
		"a=1; domain=.example.com":                "a=1",
		"b=domain; Path=/":                        "b=domain; Path=/",
		"c=2":                                     "c=2",
	} {
		if got := stripCookieDomain(in); got != want {
			t.Errorf("stripCookieDomain(%q) = %q, want %q", in, got, want)
		}
	}
	h := http.Header{"Cookie": {"a=1; cld_edge=secret; b=2", "cld_portal=x"}}
	stripCookies(h)
	if got := h.Values("Cookie"); len(got) != 1 || got[0] != "a=1; b=2" {
		t.Errorf("stripCookies: %q", got)
	}
	h = http.Header{"Cookie": {"cld_edge=secret"}}
	stripCookies(h)
	if _, ok := h["Cookie"]; ok {
		t.Errorf("stripCookies left %q", h["Cookie"])
	}
}

func jsonUnmarshal(s string, v any) error { return json.Unmarshal([]byte(s), v) }

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }
