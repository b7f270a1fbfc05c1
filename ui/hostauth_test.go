package ui

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
)

const proxySecret = "0123456789abcdef-proxy-secret"

// routePaths are every route of the table, as paths (a tunnel ID in
// {id}), with their methods: walked, not listed by hand. With the host's
// authentication the sign-out is the host's (the route answers 404).
func routePaths(t *testing.T, h http.Handler) map[string][]string {
	t.Helper()
	s, ok := h.(*server)
	if !ok {
		t.Fatalf("the handler is a %T", h)
	}
	out := map[string][]string{}
	for p, rt := range s.routes {
		if rt.public || (s.auth.Mode != AuthLocal && p == "/logout") {
			continue
		}
		p = strings.ReplaceAll(p, "{id}", "web")
		for m := range rt.methods {
			out[p] = append(out[p], m)
		}
		slices.Sort(out[p])
	}
	if len(out) < 10 {
		t.Fatalf("only %d routes walked", len(out))
	}
	return out
}

// Every route refuses a request without authentication, in each mode; in
// proxy mode also a forged user header from another address and one
// without the secret; and every state change without a valid CSRF token.
func TestEveryRouteAuthenticated(t *testing.T) {
	hostUI := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := r.Cookie("SNMSESSION")
		switch {
		case err != nil || c.Value == "":
			w.WriteHeader(http.StatusUnauthorized)
		case c.Value == "admin-session":
			json.NewEncoder(w).Encode(map[string]any{"user": "mx-admin", "roles": []string{"operator", "system-administrator"}})
		default:
			json.NewEncoder(w).Encode(map[string]any{"user": "mx-operator", "roles": []string{"operator"}})
		}
	}))
	defer hostUI.Close()
	modes := map[string]Config{
		AuthLocal: {},
		AuthProxy: {Auth: Auth{Mode: AuthProxy, Secret: proxySecret}, TrustedProxies: []string{"127.0.0.1"}},
		AuthSession: {Auth: Auth{Mode: AuthSession, SessionURL: hostUI.URL + "/mxone_snm/api/session", AdminRole: "system-administrator",
			HTTPClient: hostUI.Client()}},
	}
	for mode, cfg := range modes {
		t.Run(mode, func(t *testing.T) {
			_, h := newTestDashboard(t, cfg)
			paths := routePaths(t, h)
			// Unauthenticated: a fresh browser from the proxy's address.
			for p, methods := range paths {
				for _, m := range methods {
					b := newBrowser(t, h)
					b.remote = "127.0.0.1:5000"
					res := b.do(m, p, url.Values{"csrf": {"x"}})
					if res.StatusCode != http.StatusSeeOther && res.StatusCode != http.StatusUnauthorized {
						t.Errorf("%s %s without authentication: %d", m, p, res.StatusCode)
					}
					if mode == AuthLocal && res.StatusCode == http.StatusSeeOther && !strings.HasPrefix(res.Header.Get("Location"), "/login") {
						t.Errorf("%s %s: redirected to %s", m, p, res.Header.Get("Location"))
					}
				}
			}
			// Authenticated the mode's way.
			b := newBrowser(t, h)
			switch mode {
			case AuthLocal:
				b.signIn("")
			case AuthProxy:
				b.remote = "127.0.0.1:5000"
				b.header.Set(DefaultUserHeader, "mx-admin")
				b.header.Set(DefaultSecretHeader, proxySecret)
			case AuthSession:
				b.cookies["SNMSESSION"] = &http.Cookie{Name: "SNMSESSION", Value: "admin-session"}
			}
			home := b.get("/")
			if home.StatusCode != 200 {
				t.Fatalf("authenticated GET /: %d\n%s", home.StatusCode, home.body)
			}
			if mode != AuthLocal && !strings.Contains(home.body, "mx-admin") {
				t.Errorf("the host's user is not shown:\n%.2000s", home.body)
			}
			// The host signs out; the page offers its own sign-out only
			// with local accounts.
			if hasLogout := strings.Contains(home.body, `action="/logout"`); hasLogout != (mode == AuthLocal) {
				t.Errorf("sign-out form on the page: %v in mode %s", hasLogout, mode)
			}
			// A state change without a valid token.
			for p, methods := range paths {
				if slices.Contains(methods, "POST") {
					for _, tok := range []string{"", "forged-token-that-is-long-enough"} {
						res := b.do("POST", p, url.Values{"csrf": {tok}})
						if res.StatusCode != http.StatusForbidden {
							t.Errorf("POST %s with csrf %q: %d", p, tok, res.StatusCode)
						}
					}
				}
			}
			// The page's own token works (the sign-out in local mode).
			if mode == AuthLocal {
				res := b.do("POST", "/logout", url.Values{"csrf": {csrfOf(t, home.body)}})
				if res.StatusCode != http.StatusSeeOther {
					t.Errorf("POST /logout with the page's token: %d", res.StatusCode)
				}
			} else {
				res := b.do("POST", "/tunnels/stop-all", url.Values{"csrf": {csrfOf(t, home.body)}})
				if res.StatusCode != http.StatusSeeOther {
					t.Errorf("POST /tunnels/stop-all with the page's token: %d %s", res.StatusCode, res.body)
				}
			}
		})
	}
}

func TestProxyAuthRefusesForgeries(t *testing.T) {
	_, h := newTestDashboard(t, Config{Auth: Auth{Mode: AuthProxy, Secret: proxySecret}, TrustedProxies: []string{"127.0.0.1"}})
	for _, tc := range []struct {
		name, remote, user, secret string
		want                       int
	}{
		{"from the proxy", "127.0.0.1:1", "mx-admin", proxySecret, 200},
		{"forged header from another address", "192.0.2.7:1", "mx-admin", proxySecret, 401},
		{"without the secret", "127.0.0.1:1", "mx-admin", "", 401},
		{"a wrong secret", "127.0.0.1:1", "mx-admin", proxySecret + "x", 401},
		{"no user", "127.0.0.1:1", "", proxySecret, 401},
		{"a control character in the user", "127.0.0.1:1", "mx\x01admin", proxySecret, 401},
	} {
		b := newBrowser(t, h)
		b.remote = tc.remote
		if tc.user != "" {
			b.header.Set(DefaultUserHeader, tc.user)
		}
		if tc.secret != "" {
			b.header.Set(DefaultSecretHeader, tc.secret)
		}
		if res := b.get("/"); res.StatusCode != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, res.StatusCode, tc.want)
		}
	}
	b := newBrowser(t, h)
	if res := b.get("/login"); res.StatusCode != http.StatusNotFound || !strings.Contains(res.body, "host") {
		t.Errorf("/login in proxy mode: %d", res.StatusCode)
	}
}

func TestSessionAuthNeedsTheAdminRole(t *testing.T) {
	calls := 0
	hostUI := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls++
		c, _ := r.Cookie("SNMSESSION")
		if c == nil {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		roles := []string{"operator"}
		if c.Value == "admin" {
			roles = append(roles, "system-administrator")
		}
		json.NewEncoder(w).Encode(map[string]any{"user": "u-" + c.Value, "roles": roles})
	}))
	defer hostUI.Close()
	_, h := newTestDashboard(t, Config{Auth: Auth{Mode: AuthSession, SessionURL: hostUI.URL, AdminRole: "system-administrator", HTTPClient: hostUI.Client()}})
	for _, tc := range []struct {
		cookie string
		want   int
	}{{"admin", 200}, {"operator", 401}, {"", 401}} {
		b := newBrowser(t, h)
		if tc.cookie != "" {
			b.cookies["SNMSESSION"] = &http.Cookie{Name: "SNMSESSION", Value: tc.cookie}
		}
		for range 3 {
			if res := b.get("/"); res.StatusCode != tc.want {
				t.Errorf("cookie %q: %d, want %d", tc.cookie, res.StatusCode, tc.want)
			}
		}
	}
	if calls > 2 {
		t.Errorf("the host was asked %d times for two sessions: the answers are not cached", calls)
	}
	// The host's TLS is verified: a client without its CA is refused.
	_, h2 := newTestDashboard(t, Config{Auth: Auth{Mode: AuthSession, SessionURL: hostUI.URL, AdminRole: "system-administrator"}})
	b := newBrowser(t, h2)
	b.cookies["SNMSESSION"] = &http.Cookie{Name: "SNMSESSION", Value: "admin"}
	if res := b.get("/"); res.StatusCode != http.StatusUnauthorized {
		t.Errorf("an unverified host certificate: %d", res.StatusCode)
	}
}

func TestAuthConfigChecked(t *testing.T) {
	for _, a := range []Auth{
		{Mode: "kerberos"},
		{Mode: AuthProxy, Secret: "short"},
		{Mode: AuthProxy, Secret: proxySecret, UserHeader: "X-A", SecretHeader: "x-a"},
		{Mode: AuthSession, SessionURL: "ftp://x", AdminRole: "a"},
		{Mode: AuthSession, SessionURL: "https://h/s"},
	} {
		f := newFakeDaemon()
		_ = f
		if _, err := New(Config{Client: nil, Auth: a}); err == nil {
			t.Errorf("%+v accepted", a)
		}
	}
	if _, err := contentSecurityPolicy([]string{"https://snm.example.com; script-src *"}); err == nil {
		t.Error("a frame ancestor with a directive accepted")
	}
	csp, err := contentSecurityPolicy([]string{"https://snm.example.com:8443/"})
	if err != nil || !strings.HasSuffix(csp, "frame-ancestors 'self' https://snm.example.com:8443") {
		t.Errorf("csp %q %v", csp, err)
	}
}
