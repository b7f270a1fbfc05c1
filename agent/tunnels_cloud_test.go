package agent

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cloudlink/cld/agent/api"
	"github.com/cloudlink/cld/cloud"
	"github.com/cloudlink/cld/platforms"
	"github.com/cloudlink/cld/platforms/generic"
)

// origin is a local management UI (HTTPS with a self-signed certificate).
func newOrigin(t *testing.T, name string) *httptest.Server {
	t.Helper()
	o := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s: %s %s", name, r.Host, r.URL.Path)
	}))
	o.Config.ErrorLog = log.New(io.Discard, "", 0)
	o.StartTLS()
	t.Cleanup(o.Close)
	return o
}

// originPlatform has the tunnels "web" and "admin" leading to the origins.
func originPlatform(t *testing.T, web, admin *httptest.Server) platforms.Platform {
	t.Helper()
	p, err := generic.New("Test host", "1.0", []platforms.Tunnel{
		{ID: "web", Component: "MSL", Name: "Server Manager", Description: "Remote access via Mitel Administration", LocalAddress: "https://" + web.Listener.Addr().String(), AcceptSelfSigned: true},
		{ID: "admin", Component: "MBG", Name: "MBG admin", LocalAddress: "https://" + admin.Listener.Addr().String(), AcceptSelfSigned: true},
	})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// logBuffer collects an agent's log (to check what it never says).
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if os.Getenv("CLD_TEST_LOG") != "" {
		os.Stderr.Write(p)
	}
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func (l *logBuffer) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func tunnelOf(t *testing.T, a *Agent, id string) api.Tunnel {
	t.Helper()
	for _, x := range a.tunnels.List().Tunnels {
		if x.ID == id {
			return x
		}
	}
	t.Fatalf("no tunnel %s", id)
	return api.Tunnel{}
}

func waitTunnel(t *testing.T, a *Agent, id, status string, reason ...string) api.Tunnel {
	t.Helper()
	var last api.Tunnel
	deadline := time.Now().Add(20 * time.Second)
	for {
		last = tunnelOf(t, a, id)
		ok := last.Status == status
		for _, r := range reason {
			ok = ok && strings.Contains(last.Reason, r)
		}
		if ok {
			return last
		}
		if time.Now().After(deadline) {
			t.Fatalf("tunnel %s: %s %q, want %s %q", id, last.Status, last.Reason, status, reason)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// publicGet requests a public tunnel URL as a signed-in portal user.
func publicGet(c *http.Client, u string) (int, string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	resp, err := c.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// TestTunnelsThroughCloudEdge runs the daemon's tunnels against the
// reference cloud and its edge: a started tunnel answers on its public
// URL, a stopped one does not, and after the edge restarts the tunnel is
// back by itself (the time is measured and logged).
func TestTunnelsThroughCloudEdge(t *testing.T) {
	ts := cloud.NewTestServer(t)
	web, admin := newOrigin(t, "web"), newOrigin(t, "admin")
	var logs logBuffer
	cfg := cloudConfig(t, ts)
	a, err := New(cfg, WithLogger(logs.logger()), fastHash, WithPlatform(originPlatform(t, web, admin)))
	if err != nil {
		t.Fatal(err)
	}
	r := start(t, a)
	ctx := context.Background()
	st, err := r.link.Link(ctx, adminLogin)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.tunnels.Start("web"); err != nil {
		t.Fatal(err)
	}
	x := waitTunnel(t, r.Agent, "web", api.TunnelStarted)
	if want := ts.PublicURL(st.SystemID, "web"); strings.TrimSuffix(x.PublicURL, "/") != strings.TrimSuffix(want, "/") {
		t.Errorf("public URL %q, want %q", x.PublicURL, want)
	}
	if y := tunnelOf(t, r.Agent, "admin"); y.Status != api.TunnelStopped || y.PublicURL == "" {
		t.Errorf("admin: %+v", y)
	}
	browser := ts.EdgeClient(t, cloud.DemoAdminEmail)
	pub := strings.TrimSuffix(x.PublicURL, "/")
	code, body, err := publicGet(browser, pub+"/hello")
	if err != nil || code != 200 || !strings.HasPrefix(body, "web: ") || !strings.HasSuffix(body, "/hello") {
		t.Fatalf("GET through the edge: %d %q %v", code, body, err)
	}

	// A stopped tunnel is unreachable.
	if _, err := r.tunnels.Stop("web"); err != nil {
		t.Fatal(err)
	}
	code, body, _ = publicGet(browser, pub+"/hello")
	if code == 200 {
		t.Errorf("a stopped tunnel answered: %d %q", code, body)
	}
	// The other tunnel's URL does not lead to it either while stopped.
	code, _, _ = publicGet(browser, strings.TrimSuffix(tunnelOf(t, r.Agent, "admin").PublicURL, "/")+"/")
	if code == 200 {
		t.Errorf("the stopped admin tunnel answered")
	}

	// Edge restart: the tunnel comes back by itself.
	if _, err := r.tunnels.Start("web"); err != nil {
		t.Fatal(err)
	}
	waitTunnel(t, r.Agent, "web", api.TunnelStarted)
	if code, _, err := publicGet(browser, pub+"/"); code != 200 {
		t.Fatalf("before the restart: %d %v", code, err)
	}
	ts.Stop()
	waitTunnel(t, r.Agent, "web", api.TunnelError, "keeps retrying")
	time.Sleep(time.Second) // the edge stays down a while, as in a restart
	ts.Start()
	listening := time.Now()
	var recovered time.Duration
	for {
		c := &http.Client{Transport: browser.Transport, Jar: browser.Jar, Timeout: 2 * time.Second}
		if code, body, _ := publicGet(c, pub+"/again"); code == 200 && strings.HasPrefix(body, "web: ") {
			recovered = time.Since(listening)
			break
		}
		if time.Since(listening) > 20*time.Second {
			t.Fatalf("the tunnel did not come back within 20 s; status %+v", tunnelOf(t, r.Agent, "web"))
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("edge restart: a request through the tunnel succeeded %v after the edge listened again", recovered.Round(time.Millisecond))
	if recovered > 3*time.Second {
		t.Errorf("recovery took %v; the fast reconnect steps should make it well under 1 s", recovered)
	}
	waitTunnel(t, r.Agent, "web", api.TunnelStarted)
	if !strings.Contains(logs.String(), "tunnel session connected again") {
		t.Error("the reconnect was not logged")
	}
}
