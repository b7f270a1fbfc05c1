package ui

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
)

// FuzzDashboardRequest sends a signed-in browser's request to every route
// of the dashboard (walked from the route table) with a fuzzed method,
// query, form body and forwarded headers from a trusted proxy: the
// dashboard answers each with a page or a redirect, never a crash or a
// 500, and a state change without the session's CSRF token is refused.
func FuzzDashboardRequest(f *testing.F) {
	f.Add(uint8(0), uint8(0), "view=debug", "csrf=x", "/cld", "host.example", "https", "de-DE")
	f.Add(uint8(3), uint8(1), "lang=fr", "every=weekly&weekday=wed&time=04:45", "", "", "", "")
	f.Add(uint8(7), uint8(1), "", "csrf=%zz&x=\x00", "/a/../b", "h:99999", "gopher", "*;q=x")
	f.Add(uint8(9), uint8(2), "%", strings.Repeat("a=b&", 200), "//evil.example", "[::1]:8087", "http", "zz-ZZ")

	_, h := newTestDashboard(f, Config{TrustedProxies: []string{"127.0.0.1"}})
	s := h.(*server)
	var paths []string
	for p := range s.routes {
		paths = append(paths, p)
	}
	slices.Sort(paths)
	methods := []string{http.MethodGet, http.MethodPost, http.MethodHead, http.MethodPut, "BREW"}
	var signedIn *browser // signed in once per fuzzing process

	f.Fuzz(func(t *testing.T, route, method uint8, query, form, prefix, host, proto, lang string) {
		p := paths[int(route)%len(paths)]
		rt := s.routes[p]
		p = strings.ReplaceAll(p, "{id}", "web")
		m := methods[int(method)%len(methods)]
		target := p
		if query != "" {
			target += "?" + query
		}
		if _, err := http.NewRequest(m, "http://x"+target, nil); err != nil || strings.ContainsAny(target, " \t\r\n#\x00") {
			return // not a request line a client can send
		}
		if signedIn == nil {
			signedIn = newBrowser(t, h)
			signedIn.remote = "127.0.0.1:5000"
			signedIn.signIn("")
		}
		b := newBrowser(t, h)
		b.remote = signedIn.remote
		for k, c := range signedIn.cookies {
			b.cookies[k] = c
		}
		for k, v := range map[string]string{"X-Forwarded-Prefix": prefix, "X-Forwarded-Host": host, "X-Forwarded-Proto": proto, "Accept-Language": lang} {
			if v != "" && !strings.ContainsAny(v, "\r\n\x00") {
				b.header.Set(k, v)
			}
		}
		req := httptest.NewRequest(m, target, strings.NewReader(form))
		req.RemoteAddr = b.remote
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Sec-Fetch-Site", "same-origin")
		for k, v := range b.header {
			req.Header[k] = v
		}
		for _, c := range b.cookies {
			req.AddCookie(&http.Cookie{Name: c.Name, Value: c.Value})
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code >= 500 && rec.Code != http.StatusServiceUnavailable {
			t.Fatalf("%s %s (form %q): %d\n%s", m, target, form, rec.Code, rec.Body.String())
		}
		// The session's CSRF token is random: no fuzzed form holds it.
		if m == http.MethodPost && !rt.public && rec.Code < 400 {
			t.Fatalf("POST %s without the session's CSRF token (form %q): %d, want a refusal", p, form, rec.Code)
		}
	})
}

// fuzzedHostUI answers every request with a fuzzed status and body, as a
// hostile or broken host management UI would.
type fuzzedHostUI struct {
	status int
	body   []byte
}

func (a fuzzedHostUI) RoundTrip(req *http.Request) (*http.Response, error) {
	return &http.Response{StatusCode: a.status, Header: http.Header{"Content-Type": {"application/json"}},
		Body: io.NopCloser(bytes.NewReader(a.body)), Request: req, ProtoMajor: 1, ProtoMinor: 1}, nil
}

// FuzzHostSessionAnswer gives the host UI's session check (auth mode
// session) a fuzzed answer: a user is signed in only from a 200 naming a
// valid user with the admin role among its roles; anything else is a
// refusal, never a crash.
func FuzzHostSessionAnswer(f *testing.F) {
	f.Add(200, []byte(`{"user":"mx-admin","roles":["operator","system-administrator"]}`))
	f.Add(200, []byte(`{"user":"mx-operator","roles":["operator"]}`))
	f.Add(200, []byte(`{"user":"","roles":["system-administrator"]}`))
	f.Add(200, []byte(`{"user":"a\u0000b","roles":["system-administrator"]}`))
	f.Add(200, []byte(`{"user":["x"],"roles":"system-administrator"}`))
	f.Add(302, []byte(``))
	f.Add(401, []byte(`{"user":"mx-admin","roles":["system-administrator"]}`))
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		if status < 100 || status > 599 {
			return
		}
		a := Auth{Mode: AuthSession, SessionURL: "https://snm.test/mxone_snm/api/session", AdminRole: "system-administrator",
			HTTPClient: &http.Client{Transport: fuzzedHostUI{status: status, body: body}}}
		user, err := askHost(context.Background(), a, "SNMSESSION=s")
		if err != nil {
			if user != "" {
				t.Fatalf("an error (%v) with the user %q", err, user)
			}
			return
		}
		if status != http.StatusOK || !validHostUser(user) || !bytes.Contains(body, []byte("system-administrator")) && !bytes.Contains(body, []byte(`\u`)) {
			t.Fatalf("signed in %q from %d %q", user, status, body)
		}
	})
}
