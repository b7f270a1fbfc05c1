package cloud

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
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
