package cloud

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"

	"github.com/cloudlink/cld/cloud/cloudapi"
	"github.com/cloudlink/cld/cloud/store"
)

// TunnelURL is the WebSocket URL daemons open their tunnel session at
// (wss://127.0.0.1:port/tunnel/v1/connect).
func (ts *TestServer) TunnelURL() string { return "wss://" + ts.Addr + cloudapi.PathTunnelConnect }

// PublicURL is the public URL of a system's tunnel, such as
// https://<uuid>.eu.edge.localhost:41235/ (the same as the cloud answers
// to PUT PathSystemTunnels). It fails the test when the system is unknown.
func (ts *TestServer) PublicURL(systemID, tunnelID string) string {
	ts.t.Helper()
	u, err := ts.Server.PublicURL(context.Background(), systemID, tunnelID)
	if err != nil {
		ts.t.Fatalf("cloud.TestServer.PublicURL: %v", err)
	}
	return u
}

// EdgeTransport returns an HTTP/1.1 transport that reaches the public
// listener for every host name under EdgeDomain (any other host is dialed
// as usual) and trusts the cloud's CA. It carries no sign-in: set the
// cookie of EdgeCookie on requests, or use EdgeClient.
func (ts *TestServer) EdgeTransport() *http.Transport {
	d := &net.Dialer{}
	suffix := "." + ts.EdgeDomain
	tr := &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			if host, _, err := net.SplitHostPort(addr); err == nil && strings.HasSuffix(strings.ToLower(host), suffix) {
				addr = ts.EdgeAddr
			}
			return d.DialContext(ctx, network, addr)
		},
		TLSClientConfig:     &tls.Config{RootCAs: ts.CAPool},
		MaxIdleConns:        1024,
		MaxIdleConnsPerHost: 512,
		DisableCompression:  true,
	}
	ts.mu.Lock()
	ts.transports = append(ts.transports, tr)
	ts.mu.Unlock()
	return tr
}

// EdgeClient returns a client that behaves like the user's browser: it
// reaches public tunnel URLs through EdgeTransport, holds a portal session
// of the user (the e-mail of a demo or added user) in its cookie jar, and
// follows redirects, so that the first request to a tunnel goes through
// the portal's sign-in ticket and back with an edge session cookie. Only
// GET and HEAD requests start that flow: make one before other methods.
// To look at the origin's redirects, set CheckRedirect after the first
// request to a tunnel (its cookie is then in the jar). No timeout is set.
func (ts *TestServer) EdgeClient(t testing.TB, email string) *http.Client {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	base, _ := url.Parse(ts.URL + "/portal/")
	jar.SetCookies(base, []*http.Cookie{ts.PortalCookie(t, email)})
	c := &http.Client{Transport: ts.EdgeTransport(), Jar: jar}
	ts.mu.Lock()
	ts.clients = append(ts.clients, c)
	ts.mu.Unlock()
	return c
}

// PortalCookie signs the user in to the portal (without a password) and
// returns the session cookie, for https://127.0.0.1:port/portal/.
func (ts *TestServer) PortalCookie(t testing.TB, email string) *http.Cookie {
	t.Helper()
	ctx := context.Background()
	st := ts.Server.store
	u, err := st.UserByEmail(ctx, email)
	if err != nil {
		t.Fatalf("cloud.TestServer: portal session for %s: %v", email, err)
	}
	ms, err := st.Memberships(ctx, u.ID)
	if err != nil || len(ms) == 0 {
		t.Fatalf("cloud.TestServer: portal session for %s: no account (%v)", email, err)
	}
	id := newSecret(32)
	now := ts.Server.now()
	if err := st.InsertSession(ctx, store.Session{Hash: hashSecret(id), Kind: store.SessionPortal, UserID: u.ID,
		AccountID: ms[0].Account.ID, CreatedAt: now, ExpiresAt: now.Add(ts.Server.cfg.SessionTTL)}); err != nil {
		t.Fatalf("cloud.TestServer: portal session for %s: %v", email, err)
	}
	return &http.Cookie{Name: sessionCookie, Value: id, Path: "/portal/", HttpOnly: true, Secure: true}
}

// EdgeCookie runs the sign-in flow of a public tunnel URL for the user
// (edge → portal → ticket → edge) and returns the edge session cookie for
// that tunnel's host name. The tunnel must have been reported; it need not
// be started. The user must be a member of the system's account.
func (ts *TestServer) EdgeCookie(t testing.TB, email, publicURL string) *http.Cookie {
	t.Helper()
	c := &http.Client{Transport: ts.EdgeTransport(), CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	defer c.CloseIdleConnections()
	portal := ts.PortalCookie(t, email)
	step := func(u string, cookie *http.Cookie) *http.Response {
		t.Helper()
		req, err := http.NewRequest(http.MethodGet, u, nil)
		if err != nil {
			t.Fatalf("cloud.TestServer.EdgeCookie: %v", err)
		}
		if cookie != nil {
			req.AddCookie(cookie)
		}
		res, err := c.Do(req)
		if err != nil {
			t.Fatalf("cloud.TestServer.EdgeCookie: GET %s: %v", u, err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusFound {
			t.Fatalf("cloud.TestServer.EdgeCookie: GET %s: status %d, want a redirect", u, res.StatusCode)
		}
		return res
	}
	res := step(publicURL, nil)
	res = step(res.Header.Get("Location"), portal)
	res = step(res.Header.Get("Location"), nil)
	for _, ck := range res.Cookies() {
		if ck.Name == edgeCookie && ck.Value != "" {
			return ck
		}
	}
	t.Fatalf("cloud.TestServer.EdgeCookie: no edge session cookie from %s", publicURL)
	return nil
}
