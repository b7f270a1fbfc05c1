package ui

import (
	"crypto/tls"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cloudlink/cld/agent/api"
	"github.com/cloudlink/cld/agent/client"
)

// fakeDaemon is a test double of the daemon's local API for unit tests of
// the dashboard alone (rendering, prefixes, sessions, CSRF); the end-to-end
// test in ui/e2e runs the real daemon and cloud.
type fakeDaemon struct {
	mu            sync.Mutex
	status        api.Status
	users         map[string]string
	redirectURI   string // last BrowserLink request
	callback      api.BrowserCallback
	callbackErr   *api.Error // answer to the callback when set
	linkErr       *api.Error // answer to BrowserLink when set
	statusPanics  bool
	unlinkPending bool
	// Tunnels: what a start leads to (default "starting"), the answer to
	// every tunnel call when set, and the calls made ("start ID", "stop-all").
	startStatus string
	startReason string
	tunnelErr   *api.Error
	tunnelCalls []string
	connected   bool
	refused     int64
	unsigned    int64      // refused for a bad signature
	audit       api.Audit  // the answer of RouteTunnelAudit
	doctor      api.Doctor // the answer of RouteDoctor

	// Sign-ins: the last request, and the answer to every one when set.
	lastLogin api.DashboardLogin
	loginErr  *api.Error

	// Inventory: the preview document, what a submit leads to (the
	// status's Inventory afterwards, or an error) and how many were made.
	preview    string
	previewErr *api.Error
	submitInv  api.Inventory
	submitErr  *api.Error
	submits    int
	// Update: the answer to every update action when set, the calls made
	// ("check", "now", "pause 30", "schedule weekly tue 03:30") and what a
	// check or Update now leads to (applied to the status's Update).
	updateErr   *api.Error
	updateCalls []string
	onCheck     func(u *api.Update)
	onUpdateNow func(u *api.Update)
	// Gateway: the answer to every gateway control when set, the calls
	// made ("start", "stop", "restart") and what a control leads to
	// (applied to the status's Gateway; nil: running and healthy after a
	// start or restart, stopped after a stop).
	gatewayErr   *api.Error
	gatewayCalls []string
	onGateway    func(action string, g *api.Gateway)
}

var demoAccount = &api.Account{
	ID: 100001, Name: "Demo Account", UUID: "6f1c1d2e-0000-4000-8000-000000000001", Region: "eu",
	PartnerID: "P-42", UserID: "u-admin-1", Role: "ACCOUNT_ADMIN", ClientType: "client",
}

func newFakeDaemon() *fakeDaemon {
	return &fakeDaemon{
		status: api.Status{
			State: api.StateUnlinked, Version: "1.2.3",
			Build: api.Build{Version: "1.2.3", Build: "77", Commit: "0123456789abcdef", Branch: "main", Stage: "beta"},
			Cloud: "https://localhost:8443/",
		},
		users: map[string]string{"admin": "demo-password"},
	}
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func (f *fakeDaemon) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc(api.RouteDoctor, func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		writeJSON(w, 200, f.doctor)
	})
	mux.HandleFunc(api.RouteStatus, func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		if f.statusPanics {
			panic("status exploded")
		}
		writeJSON(w, 200, f.status)
	})
	mux.HandleFunc(api.RouteDashboardLogin, func(w http.ResponseWriter, r *http.Request) {
		var l api.DashboardLogin
		_ = json.NewDecoder(r.Body).Decode(&l)
		f.mu.Lock()
		defer f.mu.Unlock()
		f.lastLogin = l
		if f.loginErr != nil {
			writeJSON(w, http.StatusTooManyRequests, f.loginErr)
			return
		}
		if pw, ok := f.users[l.Username]; !ok || pw != l.Password {
			writeJSON(w, 401, api.Error{Code: api.CodeUnauthorized, Message: "wrong user name or password"})
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc(api.RouteBrowserLink, func(w http.ResponseWriter, r *http.Request) {
		var req api.BrowserLinkRequest
		_ = json.NewDecoder(r.Body).Decode(&req)
		f.mu.Lock()
		defer f.mu.Unlock()
		f.redirectURI = req.RedirectURI
		if f.linkErr != nil {
			writeJSON(w, 502, f.linkErr)
			return
		}
		f.status.State = api.StateLinking
		writeJSON(w, 200, api.BrowserLinkStart{
			AuthorizeURL: "https://localhost:8443/oauth/authorize?client_id=cld&redirect_uri=" + url.QueryEscape(req.RedirectURI) + "&state=s1",
			State:        "s1",
		})
	})
	mux.HandleFunc(api.RouteBrowserCallback, func(w http.ResponseWriter, r *http.Request) {
		var cb api.BrowserCallback
		_ = json.NewDecoder(r.Body).Decode(&cb)
		f.mu.Lock()
		defer f.mu.Unlock()
		f.callback = cb
		if f.callbackErr != nil {
			f.status.State, f.status.Reason = api.StateLinkError, f.callbackErr.Message
			writeJSON(w, 400, f.callbackErr)
			return
		}
		now := time.Date(2024, 9, 18, 1, 19, 0, 0, time.UTC)
		f.status.Linked, f.status.State, f.status.Reason = true, api.StateLinked, ""
		f.status.Account, f.status.SystemID, f.status.LinkedAt = demoAccount, "sys-123", &now
		writeJSON(w, 200, f.status)
	})
	mux.HandleFunc(api.RouteUnlink, func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		if !f.status.Linked {
			writeJSON(w, 409, api.Error{Code: api.CodeNotLinked, Message: "This system is not linked."})
			return
		}
		f.status.Linked, f.status.State, f.status.Account = false, api.StateUnlinked, nil
		f.status.PendingRevocation = f.unlinkPending
		writeJSON(w, 200, f.status)
	})
	mux.HandleFunc(api.RouteInventory, func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		writeJSON(w, 200, f.status.Inventory)
	})
	mux.HandleFunc(api.RouteInventoryReport, func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		if f.previewErr != nil {
			writeJSON(w, 409, f.previewErr)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, f.preview)
	})
	mux.HandleFunc(api.RouteInventorySubmit, func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.submits++
		if f.submitErr != nil {
			writeJSON(w, 409, f.submitErr)
			return
		}
		f.status.Inventory = f.submitInv
		writeJSON(w, 200, f.submitInv)
	})
	mux.HandleFunc(api.RouteTunnels, func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		writeJSON(w, 200, f.tunnelsLocked())
	})
	mux.HandleFunc(api.RouteTunnelAudit, func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		a := f.audit
		if a.Records == nil {
			a.Records = []api.AuditRecord{}
		}
		writeJSON(w, 200, a)
	})
	control := func(name string, all bool, start bool) {
		route := map[string]string{"start": api.RouteTunnelStart, "stop": api.RouteTunnelStop, "start-all": api.RouteTunnelsStartAll, "stop-all": api.RouteTunnelsStopAll}[name]
		mux.HandleFunc(route, func(w http.ResponseWriter, r *http.Request) {
			f.mu.Lock()
			defer f.mu.Unlock()
			id := r.PathValue("id")
			f.tunnelCalls = append(f.tunnelCalls, strings.TrimSpace(name+" "+id))
			if f.tunnelErr != nil {
				writeJSON(w, 409, f.tunnelErr)
				return
			}
			found := false
			for i := range f.status.Tunnels {
				t := &f.status.Tunnels[i]
				if !all && t.ID != id {
					continue
				}
				found = true
				t.Enabled = start
				t.Status, t.Reason = api.TunnelStopped, ""
				if start {
					t.Status, t.Reason = f.startStatus, f.startReason
					if t.Status == "" {
						t.Status = api.TunnelStarting
					}
				}
			}
			if !all && !found {
				writeJSON(w, 404, api.Error{Code: api.CodeUnknownTunnel, Message: "There is no tunnel " + id + " on this host; `cld tunnel list` shows them."})
				return
			}
			writeJSON(w, 200, f.tunnelsLocked())
		})
	}
	f.updateRoutes(mux)
	f.gatewayRoutes(mux)
	control("start", false, true)
	control("stop", false, false)
	control("start-all", true, true)
	control("stop-all", true, false)
	return mux
}

func (f *fakeDaemon) tunnelsLocked() api.Tunnels {
	return api.Tunnels{Tunnels: append([]api.Tunnel(nil), f.status.Tunnels...), Connected: f.connected, Refused: f.refused, RefusedUnsigned: f.unsigned}
}

// calls returns the tunnel calls made so far and forgets them.
func (f *fakeDaemon) calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.tunnelCalls
	f.tunnelCalls = nil
	return c
}

func (f *fakeDaemon) set(fn func(st *api.Status)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(&f.status)
}

// browser drives the dashboard handler in-process like a browser: it keeps
// cookies (ignoring Path, which the tests check separately) and does not
// follow redirects.
type browser struct {
	t       *testing.T
	h       http.Handler
	remote  string      // RemoteAddr of requests
	header  http.Header // added to every request
	cookies map[string]*http.Cookie
	tls     bool
}

func newBrowser(t *testing.T, h http.Handler) *browser {
	return &browser{t: t, h: h, remote: "192.0.2.10:40000", header: http.Header{}, cookies: map[string]*http.Cookie{}}
}

type result struct {
	*http.Response
	body string
}

func (b *browser) do(method, target string, form url.Values) result {
	b.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req := httptest.NewRequest(method, target, body)
	req.RemoteAddr = b.remote
	if b.tls {
		req.TLS = &tls.ConnectionState{}
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if method == http.MethodPost {
		req.Header.Set("Sec-Fetch-Site", "same-origin")
	}
	for k, v := range b.header {
		req.Header[k] = v
	}
	for _, c := range b.cookies {
		req.AddCookie(&http.Cookie{Name: c.Name, Value: c.Value})
	}
	rec := httptest.NewRecorder()
	b.h.ServeHTTP(rec, req)
	resp := rec.Result()
	for _, c := range resp.Cookies() {
		if c.MaxAge < 0 {
			delete(b.cookies, c.Name)
		} else {
			b.cookies[c.Name] = c
		}
	}
	return result{Response: resp, body: rec.Body.String()}
}

func (b *browser) get(target string) result { return b.do(http.MethodGet, target, nil) }

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// csrfOf returns the form token in a page.
func csrfOf(t *testing.T, body string) string {
	t.Helper()
	m := csrfRE.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no csrf field in page:\n%s", body)
	}
	return m[1]
}

// signIn signs in as admin through the sign-in form under prefix.
func (b *browser) signIn(prefix string) {
	b.t.Helper()
	page := b.get(prefix + "/login")
	if page.StatusCode != 200 {
		b.t.Fatalf("GET login: %d", page.StatusCode)
	}
	res := b.do("POST", prefix+"/login", url.Values{
		"csrf": {csrfOf(b.t, page.body)}, "username": {"admin"}, "password": {"demo-password"},
	})
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != prefix+"/" {
		b.t.Fatalf("sign-in: %d to %q\n%s", res.StatusCode, res.Header.Get("Location"), res.body)
	}
}

// newTestDashboard returns a dashboard over a fake daemon.
func newTestDashboard(t testing.TB, cfg Config) (*fakeDaemon, http.Handler) {
	t.Helper()
	f := newFakeDaemon()
	cfg.Client = client.NewHandler(f.handler())
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Location == nil {
		cfg.Location = time.FixedZone("BST", 3600)
	}
	h, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return f, h
}
