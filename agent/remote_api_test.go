package agent

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/cloudlink/cld/agent/accounts"
	"github.com/cloudlink/cld/agent/api"
	"github.com/cloudlink/cld/agent/localapi"
)

// remoteRig is a running agent's local API as the dashboard's TCP listener
// serves it, with the route table it was built from and the initial
// admin's password.
type remoteRig struct {
	h        http.Handler
	patterns []string
	admin    string
}

func newRemoteRig(t *testing.T, opts ...Option) *remoteRig {
	t.Helper()
	dir := t.TempDir()
	a, err := newAgent(t, testConfig(t, dir), opts...)
	if err != nil {
		t.Fatal(err)
	}
	r := start(t, a)
	pw, err := os.ReadFile(filepath.Join(dir, "state", accounts.InitialPasswordFile))
	if err != nil {
		t.Fatal(err)
	}
	rt := localapi.NewRouter(testLogger(t))
	r.routes(rt)
	return &remoteRig{h: localapi.NewRemoteHandler(r.DashboardLogin, rt.Handler()), patterns: rt.Patterns(), admin: strings.TrimSpace(string(pw))}
}

var pathParam = regexp.MustCompile(`\{[^}]*\}`)

// do sends method path (under /api) with the admin's credentials, the
// headers given in pairs and body.
func (rr *remoteRig) do(method, path, body string, headers ...string) *httptest.ResponseRecorder {
	return rr.as("admin", rr.admin, "192.0.2.1:1234", method, path, body, headers...)
}

// as is do with other credentials from the client at remote.
func (rr *remoteRig) as(user, pass, remote, method, path, body string, headers ...string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, localapi.RemotePrefix+pathParam.ReplaceAllString(path, "x"), strings.NewReader(body))
	if body == "" {
		req = httptest.NewRequest(method, localapi.RemotePrefix+pathParam.ReplaceAllString(path, "x"), nil)
	}
	req.SetBasicAuth(user, pass)
	req.RemoteAddr = remote
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	rec := httptest.NewRecorder()
	rr.h.ServeHTTP(rec, req)
	return rec
}

// Every state-changing route of the local API's route table (walked, not
// listed by hand) refuses a cross-site form or no-cors request over TCP
// even with the right credentials (a browser that cached them would send
// them), and a form or text body from anywhere.
func TestRemoteAPIRefusesCrossSiteForms(t *testing.T) {
	rr := newRemoteRig(t)
	var changing []string
	for _, p := range rr.patterns {
		method, _, _ := strings.Cut(p, " ")
		switch method {
		case http.MethodGet, http.MethodHead, http.MethodOptions:
		default:
			changing = append(changing, p)
		}
	}
	// The walk finds the body-less routes of the review (and more).
	for _, must := range []string{api.RouteUnlink, api.RouteInventorySubmit, api.RouteTunnelStart, api.RouteTunnelStop, api.RouteTunnelsStartAll, api.RouteTunnelsStopAll, api.RouteDashboardUser} {
		if !slices.Contains(changing, must) {
			t.Fatalf("the route table's state-changing routes %q lack %s", changing, must)
		}
	}
	attacks := []struct {
		name    string
		body    string
		headers []string
		want    int
	}{
		{"form from another origin", "a=b", []string{"Origin", "https://attacker.example", "Content-Type", "application/x-www-form-urlencoded"}, http.StatusForbidden},
		{"text/plain cross-site", `{}`, []string{"Sec-Fetch-Site", "cross-site", "Content-Type", "text/plain"}, http.StatusForbidden},
		{"empty form cross-site", "", []string{"Sec-Fetch-Site", "cross-site", "Content-Type", "application/x-www-form-urlencoded"}, http.StatusForbidden},
		{"multipart same-site", "--x--", []string{"Sec-Fetch-Site", "same-site", "Origin", "https://other.example.com", "Content-Type", "multipart/form-data; boundary=x"}, http.StatusForbidden},
		{"form without browser headers", "a=b", []string{"Content-Type", "application/x-www-form-urlencoded"}, http.StatusUnsupportedMediaType},
		{"text/plain without browser headers", `{}`, []string{"Content-Type", "text/plain"}, http.StatusUnsupportedMediaType},
	}
	for _, p := range changing {
		method, path, _ := strings.Cut(p, " ")
		for _, at := range attacks {
			rec := rr.do(method, path, at.body, at.headers...)
			if rec.Code != at.want {
				t.Errorf("%s, %s with the right credentials: %d, want %d: %s", p, at.name, rec.Code, at.want, rec.Body)
			}
		}
	}
}

// A same-origin page's or a program's JSON (or body-less) request still
// works over TCP.
func TestRemoteAPIAcceptsSameOriginAndPrograms(t *testing.T) {
	rr := newRemoteRig(t)
	cases := []struct {
		name, method, path, body string
		headers                  []string
		want                     int
	}{
		{"status from a page of the host", "GET", api.RouteStatus, "", []string{"Sec-Fetch-Site", "same-origin"}, http.StatusOK},
		{"status cross-site (a read changes nothing)", "GET", api.RouteStatus, "", []string{"Sec-Fetch-Site", "cross-site"}, http.StatusOK},
		{"stop-all, JSON, same origin", "POST", api.RouteTunnelsStopAll, `{}`, []string{"Origin", "http://example.com", "Content-Type", "application/json"}, http.StatusOK},
		{"stop-all, JSON with charset, same-origin", "POST", api.RouteTunnelsStopAll, `{}`, []string{"Sec-Fetch-Site", "same-origin", "Content-Type", "application/json; charset=utf-8"}, http.StatusOK},
		{"stop-all, no body (curl -u -X POST)", "POST", api.RouteTunnelsStopAll, "", nil, http.StatusOK},
		{"dashboard user, JSON from a program", "PUT", api.RouteDashboardUser, `{"username":"pm","password":"pm-password"}`, []string{"Content-Type", "application/json"}, http.StatusNoContent},
	}
	for _, c := range cases {
		_, path, _ := strings.Cut(c.path, " ")
		if rec := rr.do(c.method, path, c.body, c.headers...); rec.Code != c.want {
			t.Errorf("%s: %d, want %d: %s", c.name, rec.Code, c.want, rec.Body)
		}
	}
}

// 500 wrong passwords over TCP, then the right one: a 429 with
// Retry-After (not a 401 that invites the next guess) until the backoff
// has passed on the daemon's clock, for the user guessed at and for the
// client that guessed whatever the names it tried.
func TestRemoteAPIBackoffAfter500Wrong(t *testing.T) {
	clock := clockwork.NewFakeClockAt(time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC))
	rr := newRemoteRig(t, WithClock(clock), withoutClockCheck)
	get := func(user, pass, remote string) *httptest.ResponseRecorder {
		return rr.as(user, pass, remote, "GET", "/v1/status", "")
	}
	for i := range 500 {
		if rec := get("admin", "guess-"+strconv.Itoa(i), "192.0.2.7:4000"); rec.Code != http.StatusUnauthorized && rec.Code != http.StatusTooManyRequests {
			t.Fatalf("guess %d: %d", i, rec.Code)
		}
	}
	rec := get("admin", rr.admin, "192.0.2.7:4000")
	secs, _ := strconv.Atoi(rec.Header().Get("Retry-After"))
	if rec.Code != http.StatusTooManyRequests || secs <= 0 {
		t.Fatalf("the right password after 500 wrong ones: %d, Retry-After %q: %s", rec.Code, rec.Header().Get("Retry-After"), rec.Body)
	}
	clock.Advance(time.Duration(secs)*time.Second - time.Second)
	if rec := get("admin", rr.admin, "192.0.2.7:4000"); rec.Code != http.StatusTooManyRequests {
		t.Fatalf("a second before the backoff ends: %d", rec.Code)
	}
	clock.Advance(time.Second)
	if rec := get("admin", rr.admin, "192.0.2.7:4000"); rec.Code != http.StatusOK {
		t.Fatalf("after the backoff: %d: %s", rec.Code, rec.Body)
	}

	// One client spreading its guesses over many names.
	for i := range 500 {
		get("user"+strconv.Itoa(i), "guess", "198.51.100.9:5000")
	}
	rec = get("admin", rr.admin, "198.51.100.9:5001")
	secs, _ = strconv.Atoi(rec.Header().Get("Retry-After"))
	if rec.Code != http.StatusTooManyRequests || secs <= 0 {
		t.Fatalf("admin's right password from the client that guessed 500 names: %d, Retry-After %q", rec.Code, rec.Header().Get("Retry-After"))
	}
	if rec := get("admin", rr.admin, "203.0.113.5:1"); rec.Code != http.StatusOK {
		t.Fatalf("admin from another client meanwhile: %d", rec.Code)
	}
	clock.Advance(time.Duration(secs) * time.Second)
	if rec := get("admin", rr.admin, "198.51.100.9:5001"); rec.Code != http.StatusOK {
		t.Fatalf("after the client's backoff: %d", rec.Code)
	}
}
