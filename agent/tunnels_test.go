package agent

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/cloudlink/cld/agent/api"
	"github.com/cloudlink/cld/agent/client"
	"github.com/cloudlink/cld/agent/cloudclient"
	"github.com/cloudlink/cld/agent/config"
	"github.com/cloudlink/cld/agent/proxy"
	"github.com/cloudlink/cld/agent/tunnels"
	"github.com/cloudlink/cld/cloud/cloudapi"
	"github.com/cloudlink/cld/platforms"
	"github.com/cloudlink/cld/platforms/generic"
	"github.com/cloudlink/cld/tunnel"
)

// fakeCloud is a minimal CloudLink for the tunnel manager's unit tests:
// password and device tokens, registration, the system's record, its
// revocation and the tunnel reports (recorded; the answer gives public URLs).
type fakeCloud struct {
	srv  *httptest.Server
	edge *tunnel.Edge // serves PathTunnelConnect for device-token sessions of "sys-1"
	// signer signs the edge's stream headers; a test can make it forge.
	signer *testSigner

	mu        sync.Mutex
	reports   [][]cloudapi.TunnelInfo
	putStatus int // answer PUT tunnels with this error status when set
	revoked   bool
}

func newFakeCloud(t *testing.T) *fakeCloud {
	fc := &fakeCloud{signer: newTestSigner()}
	mux := http.NewServeMux()
	tok := func(w http.ResponseWriter, access string) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"access_token":%q,"token_type":"Bearer","expires_in":3600}`, access)
	}
	mux.HandleFunc("POST "+cloudapi.PathToken, func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		if r.Form.Get("grant_type") == "password" {
			tok(w, "user-token")
			return
		}
		fc.mu.Lock()
		revoked := fc.revoked
		fc.mu.Unlock()
		if revoked {
			w.WriteHeader(401)
			fmt.Fprint(w, `{"error":"invalid_client"}`)
			return
		}
		tok(w, "device-token")
	})
	mux.HandleFunc("POST "+cloudapi.PathRevoke, func(w http.ResponseWriter, r *http.Request) {})
	mux.HandleFunc("POST "+cloudapi.PathSystems, func(w http.ResponseWriter, r *http.Request) {
		fc.mu.Lock()
		fc.revoked = false
		fc.mu.Unlock()
		json.NewEncoder(w).Encode(cloudapi.RegisterResponse{SystemID: "sys-1", ClientID: "c1", ClientSecret: "s1",
			Account: cloudapi.Account{ID: 7, Name: "Acme", Region: "eu"}, Role: cloudapi.RoleAccountAdmin})
	})
	mux.HandleFunc("GET "+cloudapi.PathSystemSelf, func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(cloudapi.SystemInfo{SystemID: "sys-1", Account: cloudapi.Account{ID: 7, Name: "Acme", Region: "eu"}})
	})
	mux.HandleFunc("DELETE "+cloudapi.PathSystemSelf, func(w http.ResponseWriter, r *http.Request) {
		fc.mu.Lock()
		fc.revoked = true
		fc.mu.Unlock()
		w.WriteHeader(204)
	})
	mux.HandleFunc("PUT "+cloudapi.PathSystemTunnels, func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer device-token" {
			w.WriteHeader(401)
			fmt.Fprint(w, `{"error":"invalid_token"}`)
			return
		}
		var req cloudapi.TunnelsRequest
		json.NewDecoder(r.Body).Decode(&req)
		fc.mu.Lock()
		status := fc.putStatus
		if status == 0 {
			fc.reports = append(fc.reports, req.Tunnels)
		}
		fc.mu.Unlock()
		if status != 0 {
			w.WriteHeader(status)
			fmt.Fprint(w, `{"error":"server_error","error_description":"the store is down"}`)
			return
		}
		var resp cloudapi.TunnelsResponse
		for _, t := range req.Tunnels {
			resp.Tunnels = append(resp.Tunnels, cloudapi.TunnelPublic{ID: t.ID, PublicURL: "https://" + cloudapi.TunnelUUID("sys-1", t.ID) + ".eu.edge.localhost"})
		}
		json.NewEncoder(w).Encode(resp)
	})
	fc.edge = tunnel.NewEdge(tunnel.EdgeConfig{
		Authenticate: func(r *http.Request) (string, error) {
			if r.Header.Get("Authorization") != "Bearer device-token" {
				return "", errors.New("invalid token")
			}
			return "sys-1", nil
		},
		Signer: fc.signer,
		Logger: testLogger(t),
	})
	mux.Handle("GET "+cloudapi.PathTunnelConnect, fc.edge)
	fc.srv = httptest.NewUnstartedServer(mux)
	fc.srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	fc.srv.StartTLS()
	t.Cleanup(fc.srv.Close)
	t.Cleanup(func() { fc.edge.Close() })
	return fc
}

// lastReport is the newest accepted report, by tunnel ID.
func (fc *fakeCloud) lastReport() map[string]cloudapi.TunnelInfo {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	if len(fc.reports) == 0 {
		return nil
	}
	out := map[string]cloudapi.TunnelInfo{}
	for _, t := range fc.reports[len(fc.reports)-1] {
		out[t.ID] = t
	}
	return out
}

func (fc *fakeCloud) reportCount() int {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	return len(fc.reports)
}

// fakeEdge replaces tunnel.Serve: a session connects at once (unless fail
// is set) and lasts until its context ends or the test drops it.
type fakeEdge struct {
	mu     sync.Mutex
	calls  int
	cfg    tunnel.AgentConfig
	fail   error
	active bool
	drop   chan error
}

func newFakeEdge() *fakeEdge { return &fakeEdge{drop: make(chan error)} }

func (f *fakeEdge) serve(ctx context.Context, cfg tunnel.AgentConfig, onConnected func()) error {
	f.mu.Lock()
	f.calls++
	f.cfg = cfg
	fail := f.fail
	f.mu.Unlock()
	if _, err := cfg.Token(ctx); err != nil {
		return err
	}
	if fail != nil {
		return fail
	}
	f.mu.Lock()
	f.active = true
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		f.active = false
		f.mu.Unlock()
	}()
	onConnected()
	select {
	case <-ctx.Done():
		return nil
	case err := <-f.drop:
		return err
	}
}

func (f *fakeEdge) state() (calls int, active bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls, f.active
}

func (f *fakeEdge) setFail(err error) {
	f.mu.Lock()
	f.fail = err
	f.mu.Unlock()
}

func (f *fakeEdge) config() tunnel.AgentConfig {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.cfg
}

// listenLocal is a TCP listener standing in for a local management UI.
func listenLocal(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	return ln
}

// testPlatform has tunnels "sm" (https, self-signed accepted) at smAddr and
// "mbg" (http) at mbgAddr.
func testPlatform(t *testing.T, smAddr, mbgAddr string) platforms.Platform {
	t.Helper()
	p, err := generic.New("Test host", "1.0", []platforms.Tunnel{
		{ID: "sm", Component: "MSL", Name: "Server Manager", Description: "Remote access via Mitel Administration", LocalAddress: "https://" + smAddr, AcceptSelfSigned: true},
		{ID: "mbg", Component: "MBG", Name: "MBG admin", Description: "End user API access", LocalAddress: "http://" + mbgAddr},
	})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// tunnelRig is an agent with the test platform, a fake cloud and edge.
type tunnelRig struct {
	*running
	cfg   config.Config
	cloud *fakeCloud
	edge  *fakeEdge
	clock *clockwork.FakeClock
	sm    net.Listener
	mbg   net.Listener
	api   *client.Client
}

func newTunnelRig(t *testing.T, opts ...Option) *tunnelRig {
	t.Helper()
	rig := &tunnelRig{cloud: newFakeCloud(t), edge: newFakeEdge(), clock: clockwork.NewFakeClockAt(time.Now())}
	rig.sm, rig.mbg = listenLocal(t), listenLocal(t)
	rig.cfg = testConfig(t, t.TempDir())
	rig.cfg.Cloud = rig.cloud.srv.URL
	rig.start(t, opts...)
	return rig
}

func (rig *tunnelRig) start(t *testing.T, opts ...Option) {
	t.Helper()
	base := []Option{WithClock(rig.clock), withoutClockCheck, WithHTTPClient(rig.cloud.srv.Client()), withServe(rig.edge.serve),
		WithPlatform(testPlatform(t, rig.sm.Addr().String(), rig.mbg.Addr().String()))}
	rig.running = mustAgent(t, rig.cfg, append(base, opts...)...)
	rig.api = client.NewHandler(rig.running.APIHandler())
}

func (rig *tunnelRig) link(t *testing.T) {
	t.Helper()
	if _, err := rig.running.link.Link(context.Background(), api.LinkRequest{Username: "admin@acme.test", Password: "pw"}); err != nil {
		t.Fatal(err)
	}
}

// tunnel returns one tunnel's API view.
func (rig *tunnelRig) tunnel(t *testing.T, id string) api.Tunnel {
	t.Helper()
	ts, err := rig.api.Tunnels(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range ts.Tunnels {
		if x.ID == id {
			return x
		}
	}
	t.Fatalf("no tunnel %s in %+v", id, ts)
	return api.Tunnel{}
}

func (rig *tunnelRig) waitStatus(t *testing.T, id, status string, reason ...string) api.Tunnel {
	t.Helper()
	var last api.Tunnel
	eventually(t, fmt.Sprintf("tunnel %s is %s %q", id, status, reason), func() bool {
		last = rig.tunnel(t, id)
		if last.Status != status {
			return false
		}
		for _, r := range reason {
			if !strings.Contains(last.Reason, r) {
				return false
			}
		}
		return true
	})
	return last
}

func readTunnelsFile(t *testing.T, cfg config.Config) []string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(cfg.StateDir, tunnels.File))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var p struct {
		Format  int      `json:"format"`
		Enabled []string `json:"enabled"`
	}
	if err := json.Unmarshal(data, &p); err != nil || p.Format != 1 {
		t.Fatalf("%s: %v %s", tunnels.File, err, data)
	}
	return p.Enabled
}

func TestTunnelsControlAndPersistence(t *testing.T) {
	rig := newTunnelRig(t)
	ctx := context.Background()

	// All off by default, and nothing written yet.
	ts, err := rig.api.Tunnels(ctx)
	if err != nil || len(ts.Tunnels) != 2 || ts.Connected || ts.Refused != 0 {
		t.Fatalf("tunnels: %+v %v", ts, err)
	}
	want0 := api.Tunnel{ID: "sm", Component: "MSL", Name: "Server Manager", Description: "Remote access via Mitel Administration",
		Status: api.TunnelStopped, LocalAddress: "https://" + rig.sm.Addr().String()}
	if ts.Tunnels[0] != want0 || ts.Tunnels[1].ID != "mbg" || ts.Tunnels[1].Enabled {
		t.Errorf("tunnels[0] = %+v, want %+v; [1] = %+v", ts.Tunnels[0], want0, ts.Tunnels[1])
	}
	if _, err := os.Stat(filepath.Join(rig.cfg.StateDir, tunnels.File)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s exists before any choice: %v", tunnels.File, err)
	}
	if st := rig.Status(ctx); len(st.Tunnels) != 2 || st.Tunnels[0].Status != api.TunnelStopped {
		t.Errorf("status tunnels: %+v", st.Tunnels)
	}

	// Unlinked: a started tunnel says why it does not run.
	ts, err = rig.api.StartTunnel(ctx, "sm")
	if err != nil || !ts.Tunnels[0].Enabled || ts.Tunnels[0].Status != api.TunnelError || ts.Tunnels[0].Reason != tunnels.NotLinkedReason {
		t.Fatalf("start while unlinked: %+v %v", ts, err)
	}
	if got := readTunnelsFile(t, rig.cfg); !slices.Equal(got, []string{"sm"}) {
		t.Errorf("persisted %v", got)
	}
	if calls, _ := rig.edge.state(); calls != 0 {
		t.Errorf("a session was made while unlinked")
	}

	// Unknown IDs, including address-like ones, list the tunnels.
	for _, id := range []string{"nope", "127.0.0.1:22", "https://evil.example", "../sm", "SM"} {
		_, err = rig.api.StartTunnel(ctx, id)
		wantAPIError(t, err, api.CodeUnknownTunnel, "no tunnel", "sm, mbg", "cld tunnel list")
		_, err = rig.api.StopTunnel(ctx, id)
		wantAPIError(t, err, api.CodeUnknownTunnel, "sm, mbg")
	}

	// Start all / stop one, then a restart keeps the choice.
	if _, err := rig.api.StartAllTunnels(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := rig.api.StopTunnel(ctx, "sm"); err != nil {
		t.Fatal(err)
	}
	if got := readTunnelsFile(t, rig.cfg); !slices.Equal(got, []string{"mbg"}) {
		t.Errorf("persisted %v", got)
	}
	rig.stop()
	rig.start(t)
	if x := rig.tunnel(t, "mbg"); !x.Enabled || x.Status != api.TunnelError {
		t.Errorf("after restart: %+v", x)
	}
	if x := rig.tunnel(t, "sm"); x.Enabled || x.Status != api.TunnelStopped {
		t.Errorf("after restart: %+v", x)
	}
	ts, err = rig.api.StopAllTunnels(ctx)
	if err != nil || ts.Tunnels[0].Enabled || ts.Tunnels[1].Enabled {
		t.Fatalf("stop all: %+v %v", ts, err)
	}
	if got := readTunnelsFile(t, rig.cfg); len(got) != 0 {
		t.Errorf("persisted %v", got)
	}
}

func TestTunnelsStateFileCorruptOrNewer(t *testing.T) {
	rig := newTunnelRig(t)
	rig.stop()
	path := filepath.Join(rig.cfg.StateDir, tunnels.File)
	writeFile(t, path, "{not json")
	rig.start(t)
	st := rig.Status(context.Background())
	if len(st.Warnings) != 1 || st.Warnings[0].Code != tunnels.WarnCorrupt || !strings.Contains(st.Warnings[0].Text, "every tunnel is stopped") {
		t.Errorf("warnings: %+v", st.Warnings)
	}
	if st.Tunnels[0].Enabled || st.Tunnels[1].Enabled {
		t.Errorf("tunnels: %+v", st.Tunnels)
	}
	matches, _ := filepath.Glob(path + ".corrupt-*")
	if len(matches) != 1 {
		t.Errorf("quarantined: %v", matches)
	}
	rig.stop()
	writeFile(t, path, `{"format":9,"enabled":["sm"]}`)
	_, err := newAgent(t, rig.cfg, WithPlatform(testPlatform(t, "127.0.0.1:1", "127.0.0.1:2")))
	if err == nil || !strings.Contains(err.Error(), "newer cld") {
		t.Errorf("newer file: %v", err)
	}
	// IDs the platform no longer has are dropped.
	writeFile(t, path, `{"format":1,"enabled":["gone","mbg"]}`)
	rig.start(t)
	if x := rig.tunnel(t, "mbg"); !x.Enabled {
		t.Errorf("mbg: %+v", x)
	}
}

func TestTunnelsStartWhenLinkedAndReport(t *testing.T) {
	rig := newTunnelRig(t)
	ctx := context.Background()
	if _, err := rig.api.StartTunnel(ctx, "sm"); err != nil {
		t.Fatal(err)
	}
	rig.waitStatus(t, "sm", api.TunnelError, "Link this host to CloudLink first")

	rig.link(t)
	x := rig.waitStatus(t, "sm", api.TunnelStarted)
	if x.Reason != "" || x.PublicURL != "https://"+cloudapi.TunnelUUID("sys-1", "sm")+".eu.edge.localhost" {
		t.Errorf("started tunnel: %+v", x)
	}
	if y := rig.tunnel(t, "mbg"); y.Status != api.TunnelStopped || y.PublicURL == "" {
		t.Errorf("stopped tunnel: %+v", y)
	}
	rep := rig.cloud.lastReport()
	if rep["sm"].Status != cloudapi.TunnelStarted || rep["mbg"].Status != cloudapi.TunnelStopped || rep["sm"].Name != "Server Manager" || rep["sm"].Component != "MSL" {
		t.Errorf("report: %+v", rep)
	}
	// The cloud learns each tunnel's local address, for redirects.
	if rep["sm"].Origin != "https://"+rig.sm.Addr().String() || !strings.HasPrefix(rep["mbg"].Origin, "http://127.0.0.1:") {
		t.Errorf("report origins: %q %q", rep["sm"].Origin, rep["mbg"].Origin)
	}
	cfg := rig.edge.config()
	if cfg.URL != "wss://"+strings.TrimPrefix(rig.cloud.srv.URL, "https://")+cloudapi.PathTunnelConnect || cfg.HTTPClient == nil || cfg.HTTPClient.Timeout != 0 {
		t.Errorf("session config: %+v", cfg)
	}
	if ts, _ := rig.api.Tunnels(ctx); !ts.Connected {
		t.Error("not connected")
	}

	// Starting the second tunnel reports again; the session stays the same.
	n := rig.cloud.reportCount()
	if _, err := rig.api.StartTunnel(ctx, "mbg"); err != nil {
		t.Fatal(err)
	}
	rig.waitStatus(t, "mbg", api.TunnelStarted)
	if rig.cloud.reportCount() <= n {
		t.Error("no report after a start")
	}
	if calls, _ := rig.edge.state(); calls != 1 {
		t.Errorf("sessions made: %d", calls)
	}

	// Stop all: the session ends; the cloud hears that all are stopped.
	if _, err := rig.api.StopAllTunnels(ctx); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the session ends", func() bool { _, active := rig.edge.state(); return !active })
	eventually(t, "the cloud hears all are stopped", func() bool {
		rep := rig.cloud.lastReport()
		return rep["sm"].Status == cloudapi.TunnelStopped && rep["mbg"].Status == cloudapi.TunnelStopped
	})
	if ts, _ := rig.api.Tunnels(ctx); ts.Connected {
		t.Error("still connected")
	}

	// Unlink stops every tunnel for good.
	if _, err := rig.api.StartAllTunnels(ctx); err != nil {
		t.Fatal(err)
	}
	rig.waitStatus(t, "sm", api.TunnelStarted)
	if _, err := rig.running.link.Unlink(ctx); err != nil {
		t.Fatal(err)
	}
	_, active := rig.edge.state()
	if active {
		t.Error("the session outlived the unlink")
	}
	for _, id := range []string{"sm", "mbg"} {
		if x := rig.tunnel(t, id); x.Enabled || x.Status != api.TunnelStopped || x.PublicURL != "" {
			t.Errorf("after unlink: %+v", x)
		}
	}
	if got := readTunnelsFile(t, rig.cfg); len(got) != 0 {
		t.Errorf("persisted after unlink: %v", got)
	}
}

func TestTunnelsNoSessionWithoutEnabledTunnel(t *testing.T) {
	rig := newTunnelRig(t)
	rig.link(t)
	// The cloud learns the tunnels (all stopped) even with none enabled.
	eventually(t, "the first report", func() bool { return rig.cloud.reportCount() > 0 })
	if rep := rig.cloud.lastReport(); rep["sm"].Status != cloudapi.TunnelStopped {
		t.Errorf("report: %+v", rep)
	}
	eventually(t, "the public URL", func() bool { return rig.tunnel(t, "sm").PublicURL != "" })
	if calls, _ := rig.edge.state(); calls != 0 {
		t.Errorf("%d sessions without an enabled tunnel", calls)
	}
}

func TestTunnelsResolve(t *testing.T) {
	rig := newTunnelRig(t)
	rig.link(t)
	ctx := context.Background()
	if _, err := rig.api.StartTunnel(ctx, "sm"); err != nil {
		t.Fatal(err)
	}
	rig.waitStatus(t, "sm", api.TunnelStarted)
	resolve := rig.edge.config().Resolve

	target, err := resolve("sm")
	if err != nil || target.Address != rig.sm.Addr().String() || target.TLS == nil || !target.TLS.InsecureSkipVerify || target.TLS.ServerName != "127.0.0.1" {
		t.Fatalf("resolve sm = %+v, %v", target, err)
	}
	// The caller's TLS config is its own copy.
	target.TLS.InsecureSkipVerify = false
	if again, _ := resolve("sm"); !again.TLS.InsecureSkipVerify {
		t.Error("resolve handed out the table's own TLS config")
	}

	refused := func(id string, code tunnel.ReplyCode) {
		t.Helper()
		_, err := resolve(id)
		var re *tunnel.RefusalError
		if !errors.As(err, &re) || re.Code != code || re.Message == "" {
			t.Errorf("resolve(%q) = %v, want refusal %d", id, err, code)
		}
	}
	// A stopped tunnel, and anything that is not one of this host's tunnel
	// IDs — addresses, URLs, other spellings — lead nowhere.
	refused("mbg", tunnel.ReplyStopped)
	for _, id := range []string{"", "127.0.0.1:22", rig.sm.Addr().String(), rig.mbg.Addr().String(), "https://" + rig.sm.Addr().String(),
		"localhost:443", "[::1]:443", "SM", "sm ", " sm", "sm\x00", "sm/../mbg", "unix:/run/cld/cld.sock", strings.Repeat("a", 5000)} {
		refused(id, tunnel.ReplyUnknownTunnel)
	}
	// After a stop, the started tunnel is refused as well.
	if _, err := rig.api.StopTunnel(ctx, "sm"); err != nil {
		t.Fatal(err)
	}
	refused("sm", tunnel.ReplyStopped)

	// Refusals are counted (the edge calls OnRefused).
	cfg := rig.edge.config()
	cfg.OnRefused("nope", tunnel.ReplyUnknownTunnel)
	cfg.OnRefused("sm", tunnel.ReplyStopped)
	if ts, _ := rig.api.Tunnels(ctx); ts.Refused != 2 {
		t.Errorf("refused = %d", ts.Refused)
	}
}

func TestTunnelsLocalServiceDown(t *testing.T) {
	rig := newTunnelRig(t)
	ctx := context.Background()
	// mbg's UI goes away.
	mbgAddr := rig.mbg.Addr().String()
	rig.mbg.Close()
	rig.link(t)
	if _, err := rig.api.StartAllTunnels(ctx); err != nil {
		t.Fatal(err)
	}
	rig.waitStatus(t, "sm", api.TunnelStarted)
	x := rig.waitStatus(t, "mbg", api.TunnelError, "The local service at http://"+mbgAddr+" does not answer (connection refused)", "check that it runs")
	eventually(t, "the cloud hears mbg is down", func() bool {
		r := rig.cloud.lastReport()["mbg"]
		return r.Status == cloudapi.TunnelError && r.Reason == x.Reason
	})
	// It comes back; the next check (on the clock) notices.
	ln, err := net.Listen("tcp", mbgAddr)
	if err != nil {
		t.Skipf("cannot listen on %s again: %v", mbgAddr, err)
	}
	defer ln.Close()
	eventually(t, "mbg checked again", func() bool {
		rig.clock.Advance(tunnels.LocalRecheckMax)
		return rig.tunnel(t, "mbg").Status == api.TunnelStarted
	})

	// A stream that fails to reach sm's UI makes the manager look again.
	smAddr := rig.sm.Addr().String()
	rig.sm.Close()
	rig.edge.config().OnRefused("sm", tunnel.ReplyLocalDown)
	rig.waitStatus(t, "sm", api.TunnelError, "The local service at https://"+smAddr+" does not answer")
}

func TestTunnelsReconnect(t *testing.T) {
	rig := newTunnelRig(t)
	ctx := context.Background()
	rig.link(t)
	if _, err := rig.api.StartTunnel(ctx, "sm"); err != nil {
		t.Fatal(err)
	}
	rig.waitStatus(t, "sm", api.TunnelStarted)
	reports := rig.cloud.reportCount()

	// The edge goes away: the session fails, and so do the next attempts.
	rig.edge.setFail(&net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connect: connection refused")})
	rig.edge.drop <- errors.New("websocket: connection reset")
	x := rig.waitStatus(t, "sm", api.TunnelError, "Could not reach the tunnel edge", "connection refused", "keeps retrying")
	if ts, _ := rig.api.Tunnels(ctx); ts.Connected {
		t.Errorf("connected after a drop: %+v", x)
	}
	// Quick retries at first: each attempt comes within 400 ms.
	for i := 0; i < 5; i++ {
		calls, _ := rig.edge.state()
		eventually(t, "another attempt", func() bool {
			rig.clock.Advance(tunnels.ReconnectFastMax)
			c, _ := rig.edge.state()
			return c > calls
		})
	}
	// The edge is back: the next attempt connects and the tunnel is
	// reported again.
	rig.edge.setFail(nil)
	eventually(t, "reconnected", func() bool {
		rig.clock.Advance(tunnels.ReconnectFastMax)
		_, active := rig.edge.state()
		return active
	})
	rig.waitStatus(t, "sm", api.TunnelStarted)
	if rig.cloud.reportCount() <= reports {
		t.Error("no report after the reconnect")
	}
}

func TestTunnelsProxyRefusalAndStartRetriesAtOnce(t *testing.T) {
	rig := newTunnelRig(t)
	ctx := context.Background()
	rig.link(t)
	rig.edge.setFail(fmt.Errorf("tunnel: dial: %w", &proxy.Error{Proxy: "127.0.0.1:3128", Status: "407 Proxy Authentication Required", Hint: "check proxy: user and password in /etc/cld/cld.yaml"}))
	if _, err := rig.api.StartTunnel(ctx, "sm"); err != nil {
		t.Fatal(err)
	}
	rig.waitStatus(t, "sm", api.TunnelError, "The HTTP proxy at 127.0.0.1:3128 refused the connection: 407 Proxy Authentication Required — check proxy: user and password in /etc/cld/cld.yaml")
	// A hard refusal waits the slow steps; a start retries at once.
	calls, _ := rig.edge.state()
	rig.edge.setFail(nil)
	if _, err := rig.api.StartTunnel(ctx, "mbg"); err != nil {
		t.Fatal(err)
	}
	rig.waitStatus(t, "sm", api.TunnelStarted)
	if c, _ := rig.edge.state(); c != calls+1 {
		t.Errorf("attempts: %d, want %d", c, calls+1)
	}
}

func TestTunnelsReportFailure(t *testing.T) {
	rig := newTunnelRig(t)
	ctx := context.Background()
	rig.cloud.mu.Lock()
	rig.cloud.putStatus = http.StatusInternalServerError
	rig.cloud.mu.Unlock()
	rig.link(t)
	if _, err := rig.api.StartTunnel(ctx, "sm"); err != nil {
		t.Fatal(err)
	}
	rig.waitStatus(t, "sm", api.TunnelError, "did not accept the tunnel report", "the store is down")
	rig.cloud.mu.Lock()
	rig.cloud.putStatus = 0
	rig.cloud.mu.Unlock()
	eventually(t, "the report is retried", func() bool {
		rig.clock.Advance(tunnels.ReportRetryMax)
		return rig.tunnel(t, "sm").Status == api.TunnelStarted
	})
}

func TestTunnelsGate(t *testing.T) {
	var mu sync.Mutex
	veto := "The system time is off by 50 s; tunnels start once the clock is right."
	gate := func() string {
		mu.Lock()
		defer mu.Unlock()
		return veto
	}
	rig := newTunnelRig(t, WithTunnelGate(gate))
	ctx := context.Background()
	rig.link(t)
	if _, err := rig.api.StartTunnel(ctx, "sm"); err != nil {
		t.Fatal(err)
	}
	rig.waitStatus(t, "sm", api.TunnelError, "off by 50 s")
	eventually(t, "the cloud hears the veto", func() bool {
		return strings.Contains(rig.cloud.lastReport()["sm"].Reason, "off by 50 s")
	})
	if calls, _ := rig.edge.state(); calls != 0 {
		t.Errorf("a session despite the veto")
	}
	mu.Lock()
	veto = ""
	mu.Unlock()
	rig.TunnelGateChanged()
	rig.waitStatus(t, "sm", api.TunnelStarted)
	// A veto again ends the session.
	mu.Lock()
	veto = "clock drift"
	mu.Unlock()
	rig.TunnelGateChanged()
	eventually(t, "the session ends", func() bool { _, active := rig.edge.state(); return !active })
	rig.waitStatus(t, "sm", api.TunnelError, "clock drift")
}

func TestTunnelsRevokedStopsAll(t *testing.T) {
	rig := newTunnelRig(t)
	ctx := context.Background()
	rig.link(t)
	if _, err := rig.api.StartAllTunnels(ctx); err != nil {
		t.Fatal(err)
	}
	rig.waitStatus(t, "sm", api.TunnelStarted)
	s := rig.running.link.Current()
	if !s.HandleError(ctx, &cloudclient.Error{Status: http.StatusUnauthorized, Code: cloudapi.ErrSystemRevoked, Description: "removed in the portal"}) {
		t.Fatal("a revocation does not end the session")
	}
	eventually(t, "the session ends", func() bool { _, active := rig.edge.state(); return !active })
	if x := rig.tunnel(t, "sm"); x.Enabled || x.Status != api.TunnelStopped {
		t.Errorf("after revocation: %+v", x)
	}
}

func TestNoPlatformNoTunnels(t *testing.T) {
	cfg := testConfig(t, t.TempDir())
	r := mustAgent(t, cfg)
	ctx := context.Background()
	if ts := r.tunnels.List(); len(ts.Tunnels) != 0 || ts.Tunnels == nil {
		t.Errorf("tunnels: %+v", ts)
	}
	if st := r.Status(ctx); st.Tunnels == nil {
		t.Error("status tunnels is null")
	}
	_, err := r.tunnels.Start("x")
	wantAPIError(t, err, api.CodeUnknownTunnel, "defines no tunnels", "platform:")
	if _, err := r.tunnels.Start(""); err != nil {
		t.Errorf("start all without tunnels: %v", err)
	}
}

// countingListener accepts and counts connections (a service that must
// never be dialed through a tunnel).
type countingListener struct {
	net.Listener
	mu sync.Mutex
	n  int
}

func (c *countingListener) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

func newCountingListener(t *testing.T) *countingListener {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cl := &countingListener{Listener: ln}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			cl.mu.Lock()
			cl.n++
			cl.mu.Unlock()
			c.Close()
		}
	}()
	return cl
}

// TestTunnelsThroughRealSession runs the real tunnel.Serve against a
// tunnel.Edge inside the fake cloud: a started tunnel reaches its TLS
// origin (self-signed, accepted because the tunnel says so), while a
// stopped tunnel, unknown IDs and a stopped-again tunnel are refused and the
// other local service is never dialed.
func TestTunnelsThroughRealSession(t *testing.T) {
	origin := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "origin %s %s", r.Host, r.URL.Path)
	}))
	origin.Config.ErrorLog = log.New(io.Discard, "", 0)
	origin.StartTLS()
	defer origin.Close()
	bystander := newCountingListener(t)
	p, err := generic.New("Test host", "", []platforms.Tunnel{
		{ID: "sm", Component: "MSL", Name: "Server Manager", LocalAddress: "https://" + origin.Listener.Addr().String(), AcceptSelfSigned: true},
		{ID: "mbg", Component: "MBG", Name: "MBG", LocalAddress: "http://" + bystander.Addr().String()},
	})
	if err != nil {
		t.Fatal(err)
	}
	rig := newTunnelRig(t, withServe(tunnel.Serve), WithPlatform(p))
	ctx := context.Background()
	rig.link(t)
	if _, err := rig.api.StartTunnel(ctx, "sm"); err != nil {
		t.Fatal(err)
	}
	rig.waitStatus(t, "sm", api.TunnelStarted)
	if !rig.cloud.edge.Connected("sys-1") {
		t.Fatal("the edge has no session")
	}

	get := func(id string) (string, error) {
		c, err := rig.cloud.edge.Open(ctx, "sys-1", id, "203.0.113.9:5555")
		if err != nil {
			return "", err
		}
		defer c.Close()
		fmt.Fprintf(c, "GET /admin HTTP/1.1\r\nHost: public.example\r\nConnection: close\r\n\r\n")
		b, err := io.ReadAll(c)
		return string(b), err
	}
	body, err := get("sm")
	if err != nil || !strings.Contains(body, "200 OK") || !strings.Contains(body, "origin public.example /admin") {
		t.Fatalf("through the tunnel: %q %v", body, err)
	}
	wantRefused := func(id string, code tunnel.ReplyCode) {
		t.Helper()
		_, err := get(id)
		var re *tunnel.RefusalError
		if !errors.Is(err, tunnel.ErrRefused) || !errors.As(err, &re) || re.Code != code {
			t.Errorf("open %q: %v, want refusal %v", id, err, code)
		}
	}
	wantRefused("mbg", tunnel.ReplyStopped)
	wantRefused("nope", tunnel.ReplyUnknownTunnel)
	wantRefused("127-0-0-1", tunnel.ReplyUnknownTunnel)
	// An address never even leaves the edge.
	if _, err := get(bystander.Addr().String()); err == nil {
		t.Error("an address was accepted as a tunnel ID")
	}
	if _, err := rig.api.StopTunnel(ctx, "sm"); err != nil {
		t.Fatal(err)
	}
	// Stopping the last tunnel ends the session; start mbg so that one
	// is up, then sm is refused as stopped.
	if _, err := rig.api.StartTunnel(ctx, "mbg"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the session is back", func() bool {
		return rig.cloud.edge.Connected("sys-1") && rig.tunnel(t, "mbg").Status == api.TunnelStarted
	})
	wantRefused("sm", tunnel.ReplyStopped)
	// mbg's own service is the only one mbg may reach; before that, nothing
	// dialed it.
	if n := bystander.count(); n != 1 { // the start's local check
		t.Errorf("the stopped tunnel's service was dialed %d times, want only the start's check", n)
	}
	if ts, _ := rig.api.Tunnels(ctx); ts.Refused < 4 {
		t.Errorf("refused = %d, want >= 4", ts.Refused)
	}
}

// TestTunnelStopClosesOpenConnections: the edge keeps HTTP connections to a
// tunnel alive; stopping the tunnel on the host must close the ones already
// open, not only refuse new streams, while the session (and the other
// tunnel) stays up.
func TestTunnelStopClosesOpenConnections(t *testing.T) {
	origin := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "ok")
	}))
	origin.Config.ErrorLog = log.New(io.Discard, "", 0)
	origin.Start()
	defer origin.Close()
	addr := "http://" + origin.Listener.Addr().String()
	p, err := generic.New("Test host", "", []platforms.Tunnel{
		{ID: "sm", Component: "MSL", Name: "Server Manager", LocalAddress: addr},
		{ID: "other", Component: "MSL", Name: "Other", LocalAddress: addr},
	})
	if err != nil {
		t.Fatal(err)
	}
	rig := newTunnelRig(t, withServe(tunnel.Serve), WithPlatform(p))
	ctx := context.Background()
	rig.link(t)
	if _, err := rig.api.StartAllTunnels(ctx); err != nil {
		t.Fatal(err)
	}
	rig.waitStatus(t, "sm", api.TunnelStarted)
	rig.waitStatus(t, "other", api.TunnelStarted)

	c, err := rig.cloud.edge.Open(ctx, "sys-1", "sm", "203.0.113.9:5555")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	request := func() error {
		if _, err := fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: public.example\r\n\r\n"); err != nil {
			return err
		}
		res, err := http.ReadResponse(br, nil)
		if err != nil {
			return err
		}
		defer res.Body.Close()
		_, err = io.Copy(io.Discard, res.Body)
		return err
	}
	if err := request(); err != nil {
		t.Fatalf("a request on a kept-alive connection through a started tunnel: %v", err)
	}
	if _, err := rig.api.StopTunnel(ctx, "sm"); err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(10 * time.Second)) // a bound for a failure, not a wait for logic
	if err := request(); err == nil {
		t.Fatal("the kept-alive connection still reached the origin after the tunnel was stopped")
	} else if errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatal("the connection stayed open after the tunnel was stopped (no answer, no close)")
	}
	if !rig.cloud.edge.Connected("sys-1") || rig.tunnel(t, "other").Status != api.TunnelStarted {
		t.Fatal("stopping one tunnel disturbed the session or the other tunnel")
	}
}
