package e2e

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/cloudlink/cld/agent/api"
	"github.com/cloudlink/cld/internal/gobuild"
)

const (
	gatewayVersion  = "2.4.17"
	gatewayInstance = "default"
	gatewayTunnel   = "clgw-rest"
)

// TestGatewayEndToEnd runs the daemon with host_root: a tree holding one
// CloudLink Gateway instance whose core is the stand-in of
// platforms/gateway/testdata/fakegw, with no systemd unit, so that the
// daemon's own supervisor runs it. In Chromium the CloudLink Gateway
// Integration section (between the update section and Tunnels) shows it
// installed and running, links to its status page (the host's address,
// then the public URL of its started tunnel), and Stop, Start and Restart
// change it, each checked against `cld status --json` and the core's
// process; the tunnel list holds its REST interface; once the daemon has
// health-checked it, the section shows it healthy without a reload.
func TestGatewayEndToEnd(t *testing.T) {
	t.Parallel()
	requireChromium(t)
	root, home, restAddr := gatewayTree(t)

	edgeAddr := freeAddr(t)
	st := startStack(t, stackOptions{
		cloudArgs: []string{"--edge-listen", edgeAddr, "--edge-domain", edgeDomain},
		config:    "host_root: " + root + "\n",
	})
	st.cli(strings.NewReader(cloudPassword), "link", "--socket", st.sock,
		"--username", "admin@demo.test", "--account", "100001", "--password-stdin")

	// The supervisor starts the core when the daemon starts.
	status := st.waitGateway("running")
	if g := status.Gateway; !g.Installed || !slices.Equal(g.Instances, []string{gatewayInstance}) || g.Version != gatewayVersion ||
		g.Manager != "supervisor" || g.StatusURL != "http://"+restAddr+"/status" {
		t.Fatalf("cld status --json: gateway %+v, want installed, instances [%s], version %s, supervisor, status page on %s", g, gatewayInstance, gatewayVersion, restAddr)
	}
	tn, ok := findTunnel(status.Tunnels, gatewayTunnel)
	if !ok || tn.Component != "CloudLink Gateway" || tn.LocalAddress != "http://"+restAddr || tn.Status != api.TunnelStopped {
		t.Fatalf("cld status --json: tunnels %+v, want %s (stopped) to http://%s", status.Tunnels, gatewayTunnel, restAddr)
	}
	if out := string(st.cli(nil, "tunnel", "list", "--socket", st.sock)); !strings.Contains(out, gatewayTunnel) || !strings.Contains(out, "CLGW REST interface") {
		t.Fatalf("cld tunnel list lacks %s:\n%s", gatewayTunnel, out)
	}

	b := newChromium(t, st.spki)
	b.dashboardSignIn(st)
	b.waitVisible(chromedp.CSS("#gateway"))
	b.expectText("#gateway", "CloudLink Gateway Integration", "CloudLink Gateway is installed", gatewayVersion, "running", gatewayInstance, "Status", "Stop", "Restart")
	order, err := runStep(b, chromedp.Evaluate[bool](`(() => {
		const ids = [...document.querySelectorAll("main section")].map(s => s.id);
		const u = ids.indexOf("update"), g = ids.indexOf("gateway"), t = ids.indexOf("tunnels");
		return u >= 0 && u + 1 === g && g + 1 === t;
	})()`))
	if err != nil || !order {
		b.fail("the order of the sections (update, gateway, tunnels)", err)
	}
	b.expectText("#tunnel-"+gatewayTunnel, "CloudLink Gateway", "CLGW REST interface", "stopped")
	b.expectText("#gateway-state", "running")

	// Its status page, on the host while the tunnel is stopped: the core's own.
	b.expectAttr("#gateway-status-link", "href", "http://"+restAddr+"/status")
	b.clickAndLoad(chromedp.CSS("#gateway-status-link"))
	b.expectText("body", "CloudLink Gateway status")
	b.navigate(st.proxyURL + "/")

	// Stop: the core's process ends.
	b.clickAndLoad(chromedp.CSS("#gateway-stop"))
	b.expectLocation(st.proxyURL + "/#gateway")
	b.expectText("body", "The CloudLink Gateway is stopped.")
	b.expectText("#gateway-state", "stopped")
	b.waitVisible(chromedp.CSS("#gateway-start"))
	if g := st.cldStatus().Gateway; g == nil || g.Status != "stopped" || !g.Installed || g.Version != gatewayVersion || len(g.Instances) != 1 {
		t.Fatalf("cld status --json after Stop: gateway %+v", g)
	}
	if c, err := net.DialTimeout("tcp", restAddr, 2*time.Second); err == nil {
		c.Close()
		t.Fatalf("the core still listens on %s after Stop", restAddr)
	}

	// Start.
	b.clickAndLoad(chromedp.CSS("#gateway-start"))
	b.expectLocation(st.proxyURL + "/#gateway")
	b.expectText("body", "The CloudLink Gateway is started and running")
	b.expectText("#gateway-state", "running")
	b.waitVisible(chromedp.CSS("#gateway-stop"))
	if g := st.cldStatus().Gateway; g == nil || g.Status != "running" || !g.Installed || g.Version != gatewayVersion {
		t.Fatalf("cld status --json after Start: gateway %+v", g)
	}

	// Restart: a new process of the core.
	b.clickAndLoad(chromedp.CSS("#gateway-restart"))
	b.expectLocation(st.proxyURL + "/#gateway")
	b.expectText("body", "The CloudLink Gateway is restarted and running")
	b.expectText("#gateway-state", "running")
	if g := st.cldStatus().Gateway; g == nil || g.Status != "running" || !g.Installed || g.Version != gatewayVersion {
		t.Fatalf("cld status --json after Restart: gateway %+v", g)
	}
	starts, err := os.ReadFile(filepath.Join(home, "starts.log"))
	if n := len(strings.Fields(string(starts))); err != nil || n != 3 {
		t.Fatalf("the core was started %d times (%v), want 3 (the daemon's start, Start, Restart):\n%s", n, err, starts)
	}

	// The tunnel of its REST interface started: the status page through
	// its public URL.
	st.cli(nil, "tunnel", "start", gatewayTunnel, "--socket", st.sock, "--wait", "30s")
	var public string
	deadline := time.Now().Add(30 * time.Second)
	for {
		tn, _ := findTunnel(st.cldStatus().Tunnels, gatewayTunnel)
		if tn.Status == api.TunnelStarted && tn.PublicURL != "" {
			public = tn.PublicURL
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the tunnel %s did not start: %+v", gatewayTunnel, tn)
		}
		time.Sleep(250 * time.Millisecond)
	}
	b.navigate(st.proxyURL + "/")
	b.expectAttr("#gateway-status-link", "href", strings.TrimSuffix(public, "/")+"/status")
	b.expectText("#gateway", "through the tunnel")
	b.expectText("#tunnel-"+gatewayTunnel, "started")

	// Healthy: the daemon health-checks the core at its next reading (every
	// 30 s); the section, live while the core is not healthy yet, shows it
	// without a reload.
	if g := st.cldStatus().Gateway; g != nil && !g.Healthy {
		if _, err := runStep(b, chromedp.Evaluate[chromedp.Void](`window.gatewayMark = 1`)); err != nil {
			b.fail("marking the page", err)
		}
		waited := time.Now()
		b.waitText("#gateway-health", "(healthy)", 45*time.Second)
		t.Logf("the section showed the core healthy %s later, without a reload", time.Since(waited).Round(time.Second))
		if mark, err := runStep(b, chromedp.Evaluate[bool](`window.gatewayMark === 1`)); err != nil || !mark {
			b.fail("the live section", fmt.Errorf("the page was reloaded (%v, %v)", mark, err))
		}
	} else {
		b.expectText("#gateway-health", "(healthy)")
	}
	if g := st.cldStatus().Gateway; g == nil || !g.Healthy || g.Status != "running" {
		t.Fatalf("cld status --json at the end: gateway %+v, want running and healthy", g)
	}

	if bad := st.strays(); len(bad) > 0 {
		t.Errorf("paths outside %s: %v", prefix, bad)
	}
}

// gatewayTree builds a host tree with one gateway instance: its version,
// its config (REST interface on a free loopback port, http) and the
// stand-in core as its start command; no systemd unit, so the daemon's
// supervisor runs it. It returns the tree, the instance's directory and
// the REST interface's address.
func gatewayTree(t *testing.T) (root, home, restAddr string) {
	t.Helper()
	root = t.TempDir()
	home = filepath.Join(root, "opt", "mitel", "clgw", gatewayInstance)
	for _, d := range []string{"etc", "bin"} {
		if err := os.MkdirAll(filepath.Join(home, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	restAddr = freeAddr(t)
	_, port, _ := net.SplitHostPort(restAddr)
	for name, content := range map[string]string{
		"VERSION":       gatewayVersion + "\n",
		"etc/clgw.conf": "REST_PORT=" + port + "\nREST_SCHEME=http\n",
	} {
		if err := os.WriteFile(filepath.Join(home, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := gobuild.Build(filepath.Join(home, "bin", "clgw-core"), "./platforms/gateway/testdata/fakegw", gobuild.Options{Dir: moduleRoot(t)}); err != nil {
		t.Fatalf("building the stand-in gateway core: %v", err)
	}
	for _, dir := range []string{"etc/systemd/system", "usr/lib/systemd/system", "lib/systemd/system"} {
		if _, err := os.Stat(filepath.Join(root, dir)); err == nil {
			t.Fatalf("the tree has %s: the daemon would drive the gateway through systemd", dir)
		}
	}
	return root, home, restAddr
}

// waitGateway waits until `cld status --json` shows the gateway in the state.
func (s *stack) waitGateway(state string) api.Status {
	s.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		st := s.cldStatus()
		if st.Gateway != nil && st.Gateway.Status == state {
			return st
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("the gateway is not %s after 30s: %+v", state, st.Gateway)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

func findTunnel(ts []api.Tunnel, id string) (api.Tunnel, bool) {
	for _, t := range ts {
		if t.ID == id {
			return t, true
		}
	}
	return api.Tunnel{}, false
}

// expectAttr checks an element's attribute.
func (b *chromium) expectAttr(css, name, want string) {
	b.t.Helper()
	attr, err := runStep(b, chromedp.AttributeValue(chromedp.CSS(css), name))
	if err != nil || !attr.Exists {
		b.fail("reading "+name+" of "+css, fmt.Errorf("no attribute (%v)", err))
	}
	if attr.Value != want {
		b.fail("attribute", fmt.Errorf("%s %s is %q, want %q", css, name, attr.Value, want))
	}
}
