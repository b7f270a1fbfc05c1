package ui

import (
	"net/http"
	"net/url"
	"testing"

	"github.com/cloudlink/cld/agent/api"
)

// The dashboard's sign-in names the browser's address to the daemon, which
// limits wrong passwords per client as well as per user: the entry a
// trusted proxy added to X-Forwarded-For, else the peer (a forged header
// from elsewhere is ignored). A lockout is a 429 with Retry-After.
func TestSignInNamesTheClient(t *testing.T) {
	for _, tc := range []struct {
		name, remote, xff, want string
	}{
		{"direct", "192.0.2.1:5555", "", "192.0.2.1"},
		{"direct with a forged header", "192.0.2.1:5555", "203.0.113.9", "192.0.2.1"},
		{"through the trusted proxy", "127.0.0.1:4444", "203.0.113.9, 198.51.100.2", "198.51.100.2"},
		{"through the trusted proxy, IPv6", "127.0.0.1:4444", "2001:db8::7", "2001:db8::7"},
		{"trusted proxy without a header", "127.0.0.1:4444", "", "127.0.0.1"},
	} {
		f, h := newTestDashboard(t, Config{})
		b := newBrowser(t, h)
		b.remote = tc.remote
		if tc.xff != "" {
			b.header.Set("X-Forwarded-For", tc.xff)
		}
		b.signIn("")
		f.mu.Lock()
		got := f.lastLogin.Client
		f.mu.Unlock()
		if got != tc.want {
			t.Errorf("%s: the daemon was told client %q, want %q", tc.name, got, tc.want)
		}
	}

	f, h := newTestDashboard(t, Config{})
	f.loginErr = &api.Error{Code: api.CodeRateLimited, Message: "Too many wrong passwords from this address; try again in 42 s.", RetryAfter: 42}
	b := newBrowser(t, h)
	page := b.get("/login")
	res := b.do("POST", "/login", url.Values{"csrf": {csrfOf(t, page.body)}, "username": {"admin"}, "password": {"demo-password"}})
	if res.StatusCode != http.StatusTooManyRequests || res.Header.Get("Retry-After") != "42" {
		t.Fatalf("a locked-out sign-in: %d, Retry-After %q", res.StatusCode, res.Header.Get("Retry-After"))
	}
}
