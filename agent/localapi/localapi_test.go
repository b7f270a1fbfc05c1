package localapi

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"go.uber.org/goleak"

	"github.com/cloudlink/cld/agent/api"
	"github.com/cloudlink/cld/agent/client"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fake is a Backend that records calls and returns err when set.
type fake struct {
	mu      sync.Mutex
	err     error
	link    api.LinkRequest
	tunnels map[string]bool // enabled per ID ("a", "b")
	calls   []string
}

func (f *fake) Tunnels(context.Context) api.Tunnels {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := api.Tunnels{Tunnels: []api.Tunnel{}}
	for _, id := range []string{"a", "b"} {
		st := api.TunnelStopped
		if f.tunnels[id] {
			st = api.TunnelStarting
		}
		out.Tunnels = append(out.Tunnels, api.Tunnel{ID: id, Enabled: f.tunnels[id], Status: st})
	}
	return out
}

func (f *fake) setTunnel(op, id string, on bool) (api.Tunnels, error) {
	f.mu.Lock()
	f.calls = append(f.calls, op+" "+id)
	if f.err != nil {
		f.mu.Unlock()
		return api.Tunnels{}, f.err
	}
	if f.tunnels == nil {
		f.tunnels = map[string]bool{}
	}
	switch id {
	case "a", "b":
		f.tunnels[id] = on
	case "*":
		f.tunnels["a"], f.tunnels["b"] = on, on
	default:
		f.mu.Unlock()
		return api.Tunnels{}, &api.Error{Code: api.CodeUnknownTunnel, Message: "This host has no tunnel " + id + "; its tunnels are: a, b"}
	}
	f.mu.Unlock()
	return f.Tunnels(context.Background()), nil
}
func (f *fake) StartTunnel(_ context.Context, id string) (api.Tunnels, error) {
	return f.setTunnel("start", id, true)
}
func (f *fake) StopTunnel(_ context.Context, id string) (api.Tunnels, error) {
	return f.setTunnel("stop", id, false)
}
func (f *fake) StartAllTunnels(context.Context) (api.Tunnels, error) {
	return f.setTunnel("start-all", "*", true)
}
func (f *fake) StopAllTunnels(context.Context) (api.Tunnels, error) {
	return f.setTunnel("stop-all", "*", false)
}

func (f *fake) Status(context.Context) api.Status {
	return api.Status{State: api.StateUnlinked, Version: "1.2.3", Warnings: []api.Warning{}}
}
func (f *fake) Version(context.Context) api.Build { return api.Build{Version: "1.2.3"} }
func (f *fake) Link(_ context.Context, r api.LinkRequest) (api.Status, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.link = r
	if f.err != nil {
		return api.Status{}, f.err
	}
	return api.Status{Linked: true, State: api.StateLinked, SystemID: "s1"}, nil
}
func (f *fake) BrowserLink(context.Context, api.BrowserLinkRequest) (api.BrowserLinkStart, error) {
	return api.BrowserLinkStart{AuthorizeURL: "https://c/oauth/authorize", State: "st"}, f.err
}
func (f *fake) BrowserCallback(context.Context, api.BrowserCallback) (api.Status, error) {
	return api.Status{}, f.err
}
func (f *fake) Unlink(context.Context) (api.Status, error) {
	return api.Status{State: api.StateUnlinked}, f.err
}
func (f *fake) SetDashboardUser(context.Context, api.DashboardUser) error { return f.err }
func (f *fake) DashboardLogin(_ context.Context, l api.DashboardLogin) error {
	if l.Password != "right" {
		return &api.Error{Code: api.CodeUnauthorized, Message: "wrong"}
	}
	return nil
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func TestClientInProcess(t *testing.T) {
	f := &fake{}
	c := client.NewHandler(NewHandler(f, quiet()))
	ctx := context.Background()
	st, err := c.Status(ctx)
	if err != nil || st.Version != "1.2.3" {
		t.Fatalf("Status = %+v, %v", st, err)
	}
	st, err = c.Link(ctx, api.LinkRequest{Username: "u", Password: "p", Account: 7})
	if err != nil || st.SystemID != "s1" || f.link.Account != 7 {
		t.Fatalf("Link = %+v, %v (got %+v)", st, err, f.link)
	}
	if err := c.DashboardLogin(ctx, api.DashboardLogin{Username: "a", Password: "right"}); err != nil {
		t.Errorf("login: %v", err)
	}
	var ae *api.Error
	if err := c.DashboardLogin(ctx, api.DashboardLogin{Username: "a", Password: "no"}); !errors.As(err, &ae) || ae.Code != api.CodeUnauthorized {
		t.Errorf("bad login: %v", err)
	}
	if _, err := c.Unlink(ctx); err != nil {
		t.Errorf("unlink: %v", err)
	}
	if err := c.SetDashboardUser(ctx, api.DashboardUser{Username: "a", Password: "b"}); err != nil {
		t.Errorf("set user: %v", err)
	}
}

func TestTunnelRoutes(t *testing.T) {
	f := &fake{}
	c := client.NewHandler(NewHandler(f, quiet()))
	ctx := context.Background()
	ts, err := c.Tunnels(ctx)
	if err != nil || len(ts.Tunnels) != 2 || ts.Tunnels[0].Enabled {
		t.Fatalf("Tunnels = %+v, %v", ts, err)
	}
	ts, err = c.StartTunnel(ctx, "a")
	if err != nil || !ts.Tunnels[0].Enabled || ts.Tunnels[1].Enabled {
		t.Fatalf("StartTunnel = %+v, %v", ts, err)
	}
	ts, err = c.StartAllTunnels(ctx)
	if err != nil || !ts.Tunnels[1].Enabled {
		t.Fatalf("StartAllTunnels = %+v, %v", ts, err)
	}
	ts, err = c.StopTunnel(ctx, "a")
	if err != nil || ts.Tunnels[0].Enabled || !ts.Tunnels[1].Enabled {
		t.Fatalf("StopTunnel = %+v, %v", ts, err)
	}
	ts, err = c.StopAllTunnels(ctx)
	if err != nil || ts.Tunnels[1].Enabled {
		t.Fatalf("StopAllTunnels = %+v, %v", ts, err)
	}
	// An ID with characters that need escaping reaches the backend intact.
	_, err = c.StartTunnel(ctx, "x/../y z")
	var ae *api.Error
	if !errors.As(err, &ae) || ae.Code != api.CodeUnknownTunnel || !strings.Contains(ae.Message, "a, b") {
		t.Fatalf("unknown tunnel: %v", err)
	}
	want := []string{"start a", "start-all *", "stop a", "stop-all *", "start x/../y z"}
	if strings.Join(f.calls, "|") != strings.Join(want, "|") {
		t.Errorf("calls = %q, want %q", f.calls, want)
	}
	// Status code and method checks.
	h := NewHandler(f, quiet())
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("POST", "/v1/tunnels/nope/start", nil))
	if rec.Code != 404 || !strings.Contains(rec.Body.String(), `"error":"unknown_tunnel"`) {
		t.Errorf("unknown tunnel: %d %s", rec.Code, rec.Body)
	}
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/v1/tunnels/a/start", nil))
	if rec.Code != 405 {
		t.Errorf("GET start: %d %s", rec.Code, rec.Body)
	}
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("POST", "/v1/tunnels/start-all", strings.NewReader(`{"x":1}`)))
	if rec.Code != 400 || !strings.Contains(rec.Body.String(), "takes no body") {
		t.Errorf("start-all with a body: %d %s", rec.Code, rec.Body)
	}
}

func TestErrorStatuses(t *testing.T) {
	for code, status := range map[string]int{
		api.CodeBadRequest: 400, api.CodeWrongPassword: 401, api.CodeNotAdmin: 403, api.CodeUnknownAccount: 404,
		api.CodeAccountNeeded: 400, api.CodeAlreadyLinked: 409, api.CodeNotLinked: 409, api.CodeBusy: 409,
		api.CodeCloudDown: 503, api.CodeCloudError: 502, api.CodeBadState: 400, api.CodeUnauthorized: 401, api.CodeInternal: 500,
		api.CodeUnknownTunnel: 404,
	} {
		f := &fake{err: &api.Error{Code: code, Message: "msg " + code}}
		h := NewHandler(f, quiet())
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("POST", "/v1/link", strings.NewReader(`{"username":"u","password":"p"}`)))
		if rec.Code != status || !strings.Contains(rec.Body.String(), `"error":"`+code+`"`) || !strings.Contains(rec.Body.String(), "msg "+code) {
			t.Errorf("%s: %d %s", code, rec.Code, rec.Body)
		}
	}
	// A plain error is an internal error with a JSON body.
	h := NewHandler(&fake{err: errors.New("disk on fire")}, quiet())
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("POST", "/v1/unlink", nil))
	if rec.Code != 500 || !strings.Contains(rec.Body.String(), `"error":"internal"`) || !strings.Contains(rec.Body.String(), "disk on fire") {
		t.Errorf("plain error: %d %s", rec.Code, rec.Body)
	}
}

func TestBadRequests(t *testing.T) {
	h := NewHandler(&fake{}, quiet())
	tests := []struct {
		name, method, path, ctype, body string
		status                          int
		contains                        string
	}{
		{"not json", "POST", "/v1/link", "application/json", `{"username":`, 400, "ends in the middle"},
		{"syntax", "POST", "/v1/link", "", `{"username" "u"}`, 400, "not valid JSON"},
		{"unknown field", "POST", "/v1/link", "", `{"user":"u"}`, 400, `unknown field "user"`},
		{"wrong type", "POST", "/v1/link", "", `{"account":"seven"}`, 400, `"account" must be a whole number, not string`},
		{"empty", "POST", "/v1/link", "", ``, 400, "empty"},
		{"two values", "POST", "/v1/link", "", `{} {}`, 400, "more than one"},
		{"trailing junk", "POST", "/v1/link", "", `{}]`, 400, "after the JSON"},
		{"too large", "POST", "/v1/link", "", `{"username":"` + strings.Repeat("x", MaxBodyBytes) + `"}`, 400, "larger than"},
		{"wrong content type", "POST", "/v1/link", "text/plain", `{}`, 415, "must be JSON"},
		{"unlink with body", "POST", "/v1/unlink", "", `{"force":true}`, 400, "takes no body"},
		{"wrong method", "GET", "/v1/link", "", ``, 405, "use POST"},
		{"unknown route", "GET", "/v2/nothing", "", ``, 404, "not a route"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest(tt.method, tt.path, strings.NewReader(tt.body))
			if tt.ctype != "" {
				req.Header.Set("Content-Type", tt.ctype)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			var e api.Error
			if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || e.Code != api.CodeBadRequest {
				t.Errorf("body %s is not an api.Error: %v", rec.Body, err)
			}
			if rec.Code != tt.status || !strings.Contains(e.Message, tt.contains) || rec.Header().Get("Content-Type") != "application/json" {
				t.Errorf("%d %s (Content-Type %q), want %d containing %q", rec.Code, rec.Body, rec.Header().Get("Content-Type"), tt.status, tt.contains)
			}
		})
	}
}

func TestPeerAllowed(t *testing.T) {
	for _, tt := range []struct {
		uid, self uint32
		ok        bool
	}{{0, 0, true}, {0, 998, true}, {998, 998, true}, {1000, 998, false}, {1000, 0, false}} {
		if got := PeerAllowed(tt.uid, tt.self); got != tt.ok {
			t.Errorf("PeerAllowed(%d, %d) = %v", tt.uid, tt.self, got)
		}
	}
}

func TestUnixSocket(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "run", "cld.sock")
	ln, err := ListenUnix(sock)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(sock)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("socket mode: %v %v", fi.Mode(), err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ServeUnix(ctx, ln, NewHandler(&fake{}, quiet()), quiet()) }()

	c := client.NewUnix(sock)
	st, err := c.Status(context.Background())
	if err != nil || st.Version != "1.2.3" {
		t.Fatalf("Status over the socket: %+v %v", st, err)
	}
	// A second daemon is refused while this one listens.
	if _, err := ListenUnix(sock); !errors.Is(err, ErrSocketInUse) || !strings.Contains(err.Error(), "--socket") {
		t.Errorf("second listener: %v", err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if _, err := c.Status(context.Background()); !errors.Is(err, client.ErrDaemonDown) {
		t.Errorf("status with no daemon: %v", err)
	}
}

func TestStaleSocketIsReplaced(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "cld.sock")
	// A socket file nobody listens on (a daemon killed with -9).
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	l.SetUnlinkOnClose(false)
	l.Close()
	if _, err := os.Stat(sock); err != nil {
		t.Fatalf("stale socket missing: %v", err)
	}
	ln, err := ListenUnix(sock)
	if err != nil {
		t.Fatalf("stale socket not replaced: %v", err)
	}
	ln.Close()
}

func TestSocketPathIsAFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "cld.sock")
	os.WriteFile(p, []byte("x"), 0o600)
	if _, err := ListenUnix(p); err == nil || !strings.Contains(err.Error(), "not a socket") {
		t.Errorf("err = %v", err)
	}
	if b, _ := os.ReadFile(p); string(b) != "x" {
		t.Error("the file was touched")
	}
}

func TestPeerGuard(t *testing.T) {
	h := peerGuard(NewHandler(&fake{}, quiet()), 998, quiet())
	for _, tt := range []struct {
		name   string
		ctx    context.Context
		status int
	}{
		{"root", context.WithValue(context.Background(), peerKey{}, peer{uid: 0}), 200},
		{"daemon user", context.WithValue(context.Background(), peerKey{}, peer{uid: 998}), 200},
		{"other user", context.WithValue(context.Background(), peerKey{}, peer{uid: 1000}), 403},
		{"unknown peer", context.Background(), 403},
		{"peer error", context.WithValue(context.Background(), peerKey{}, peer{err: errors.New("x")}), 403},
	} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/v1/status", nil).WithContext(tt.ctx))
		if rec.Code != tt.status {
			t.Errorf("%s: %d %s", tt.name, rec.Code, rec.Body)
		}
		if tt.status == 403 && !strings.Contains(rec.Body.String(), "sudo") {
			t.Errorf("%s: %s", tt.name, rec.Body)
		}
	}
}
