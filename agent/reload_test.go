package agent

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/cloudlink/cld/agent/api"
	"github.com/cloudlink/cld/platforms"
	"github.com/cloudlink/cld/platforms/generic"
	"github.com/cloudlink/cld/tunnel"
)

// slowOrigin streams a body of n lines, one every tick, so that a download
// through a tunnel is in flight while the test reloads.
func slowOrigin(t *testing.T, n int, tick time.Duration) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f := w.(http.Flusher)
		for i := range n {
			fmt.Fprintf(w, "line %d\n", i)
			f.Flush()
			select {
			case <-r.Context().Done():
				return
			case <-time.After(tick):
			}
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

func genericPlatform(t *testing.T, ts ...platforms.Tunnel) platforms.Platform {
	t.Helper()
	p, err := generic.New("Test host", "", ts)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestReloadKeepsUnchangedTunnels: a reload with changed tunnel definitions
// keeps a download through an unchanged started tunnel going, closes the
// connection of a tunnel whose address changed (the new address serves the
// next one), forgets a removed tunnel and adds a new one stopped.
func TestReloadKeepsUnchangedTunnels(t *testing.T) {
	slow := slowOrigin(t, 40, 50*time.Millisecond)
	oldB, newB := slowOrigin(t, 40, 50*time.Millisecond), newOrigin(t, "new-b")
	gone := newOrigin(t, "gone")
	a := platforms.Tunnel{ID: "a", Component: "PBX", Name: "A", LocalAddress: slow.URL}
	b := platforms.Tunnel{ID: "b", Component: "PBX", Name: "B", LocalAddress: oldB.URL}
	c := platforms.Tunnel{ID: "c", Component: "PBX", Name: "C", LocalAddress: gone.URL, AcceptSelfSigned: true}
	rig := newTunnelRig(t, withServe(tunnel.Serve), WithPlatform(genericPlatform(t, a, b, c)))
	ctx := context.Background()
	rig.link(t)
	if _, err := rig.api.StartAllTunnels(ctx); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"a", "b", "c"} {
		rig.waitStatus(t, id, api.TunnelStarted)
	}
	download := func(id string) (*bufio.Reader, net.Conn) {
		t.Helper()
		conn, err := rig.cloud.edge.Open(ctx, "sys-1", id, "203.0.113.9:5555")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		fmt.Fprintf(conn, "GET / HTTP/1.1\r\nHost: public.example\r\nConnection: close\r\n\r\n")
		br := bufio.NewReader(conn)
		if l, err := br.ReadString('\n'); err != nil || !strings.Contains(l, "200 OK") {
			t.Fatalf("%s: %q %v", id, l, err)
		}
		return br, conn
	}
	brA, _ := download("a")
	brB, connB := download("b")

	b2 := b
	b2.LocalAddress, b2.AcceptSelfSigned = newB.URL, true
	d := platforms.Tunnel{ID: "d", Component: "PBX", Name: "D", LocalAddress: newB.URL, AcceptSelfSigned: true}
	changed, needRestart, err := rig.Reload(rig.cfg, genericPlatform(t, a, b2, d))
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(changed, ", "); got != "b (changed), c (removed), d (new)" || len(needRestart) != 0 {
		t.Errorf("reload: changed %q, restart %q", got, needRestart)
	}

	// a's download goes on to its end.
	rest, err := io.ReadAll(brA)
	if err != nil || !strings.Contains(string(rest), "line 39") {
		t.Errorf("the download through the unchanged tunnel broke off: %v, got %q", err, tail(string(rest)))
	}
	// b's connection to its old address is closed; the next goes to the new one.
	connB.SetReadDeadline(time.Now().Add(10 * time.Second))
	if rest, _ := io.ReadAll(brB); strings.Contains(string(rest), "line 39") {
		t.Error("the changed tunnel's connection to the old address stayed open")
	}
	rig.waitStatus(t, "b", api.TunnelStarted)
	conn, err := rig.cloud.edge.Open(ctx, "sys-1", "b", "203.0.113.9:5555")
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(conn, "GET /x HTTP/1.1\r\nHost: public.example\r\nConnection: close\r\n\r\n")
	body, _ := io.ReadAll(conn)
	conn.Close()
	if !strings.Contains(string(body), "new-b") {
		t.Errorf("b after the reload: %q", body)
	}
	ts, _ := rig.api.Tunnels(ctx)
	var ids []string
	for _, x := range ts.Tunnels {
		ids = append(ids, fmt.Sprintf("%s:%v", x.ID, x.Enabled))
	}
	if got := strings.Join(ids, " "); got != "a:true b:true d:false" {
		t.Errorf("tunnels after the reload: %s", got)
	}
	if got := readTunnelsFile(t, rig.cfg); strings.Join(got, ",") != "a,b" {
		t.Errorf("tunnels.json after the reload: %v", got)
	}

	// A platform whose tunnels cannot be served is refused; nothing changes.
	bad := platforms.Tunnel{ID: "a", Component: "PBX", Name: "twice", LocalAddress: slow.URL}
	if _, _, err := rig.Reload(rig.cfg, rawPlatform{a, b2, d, bad}); err == nil || !strings.Contains(err.Error(), "platform") {
		t.Errorf("a bad platform: %v", err)
	}
	if ts, _ := rig.api.Tunnels(ctx); len(ts.Tunnels) != 3 {
		t.Errorf("a refused reload changed the tunnels: %+v", ts.Tunnels)
	}

	// The clock settings apply at once; a new heartbeat interval waits for
	// a restart.
	cfg := rig.cfg
	cfg.Clock.WarnThreshold = 3 * time.Second
	cfg.HeartbeatInterval = 2 * cfg.HeartbeatInterval
	changed, needRestart, err = rig.Reload(cfg, genericPlatform(t, a, b2, d))
	if err != nil || strings.Join(changed, ",") != "clock" || strings.Join(needRestart, ",") != "heartbeat_interval" {
		t.Errorf("reload of the clock: %q %q %v", changed, needRestart, err)
	}
	if got := rig.drift.Config().WarnThreshold; got != 3*time.Second {
		t.Errorf("the monitor's warn threshold after the reload: %s", got)
	}
}

// rawPlatform offers its tunnels unchecked (a platform adapter's mistake).
type rawPlatform []platforms.Tunnel

func (rawPlatform) Type() string                  { return "raw" }
func (rawPlatform) Name() string                  { return "Raw" }
func (rawPlatform) Version() string               { return "" }
func (p rawPlatform) Tunnels() []platforms.Tunnel { return p }

func tail(s string) string {
	if len(s) > 80 {
		return "…" + s[len(s)-80:]
	}
	return s
}
