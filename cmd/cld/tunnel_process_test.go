package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cloudlink/cld/agent/api"
	"github.com/cloudlink/cld/cloud/portaltest"
)

func freeLoopbackAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// edgeBrowser reaches *.edge.localhost at the edge's public listener and
// keeps cookies, like a browser.
func edgeBrowser(t *testing.T, edgeAddr, caFile string) *http.Client {
	t.Helper()
	pool, err := loadPool(caFile)
	if err != nil {
		t.Fatal(err)
	}
	d := &net.Dialer{}
	tr := &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			if h, _, err := net.SplitHostPort(addr); err == nil && strings.HasSuffix(h, ".edge.localhost") {
				addr = edgeAddr
			}
			return d.DialContext(ctx, network, addr)
		},
		TLSClientConfig: &tls.Config{RootCAs: pool},
	}
	t.Cleanup(tr.CloseIdleConnections)
	jar, _ := cookiejar.New(nil)
	return &http.Client{Transport: tr, Jar: jar, Timeout: 10 * time.Second}
}

// browse GETs u like a browser, signed in on the portal as the demo admin.
func browse(c *http.Client, u string) (int, string, error) {
	return portaltest.Browse(c, u, portaltest.User{Email: admin, Password: password, Account: "100001"})
}

// TestProcessTunnel runs the real binaries: cld-cloud with its tunnel edge
// and `cld run` with a generic platform from its config file. A tunnel
// started with the CLI answers on its public URL; after the cloud is killed
// with -9 and started again 2 s later, the tunnel is back by itself (time
// measured); a stopped tunnel does not answer.
func TestProcessTunnel(t *testing.T) {
	t.Parallel()
	needBinaries(t)
	cloudAddr, edgeAddr := freeLoopbackAddr(t), freeLoopbackAddr(t)
	data := t.TempDir()
	args := []string{"--listen", cloudAddr, "--edge-listen", edgeAddr, "--edge-domain", "edge.localhost"}
	c, err := startCloud(data, args...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c.cmd.Process.Signal(syscall.SIGTERM)
		<-c.done
	})

	origin := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "server manager: %s", r.URL.Path)
	}))
	origin.Config.ErrorLog = log.New(io.Discard, "", 0)
	origin.StartTLS()
	defer origin.Close()

	d := newDaemon(t, c)
	f, err := os.OpenFile(d.configFile, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(f, `platform:
  type: generic
  name: Process test host
  tunnels:
    - id: msl-server-manager
      component: MSL
      name: Server Manager
      description: Remote access via Mitel Administration
      local_address: https://%s
      accept_self_signed: true
`, origin.Listener.Addr())
	f.Close()
	d.start()

	out, errOut, code := d.cli(password+"\n", "link", "--username", admin, "--password-stdin", "--account", "100001")
	if code != 0 {
		t.Fatalf("link: exit %d\n%s%s", code, out, errOut)
	}
	out, errOut, code = d.cli("", "tunnel", "start", "msl-server-manager")
	if code != 0 || !strings.Contains(out, "started") {
		t.Fatalf("tunnel start: exit %d\n%s%s\n%s", code, out, errOut, d.out.String())
	}
	out, _, _ = d.cli("", "tunnel", "list", "--json")
	var ts api.Tunnels
	if err := json.Unmarshal([]byte(out), &ts); err != nil || len(ts.Tunnels) != 1 || ts.Tunnels[0].PublicURL == "" || !ts.Connected {
		t.Fatalf("tunnel list --json: %v\n%s", err, out)
	}
	pub := strings.TrimSuffix(ts.Tunnels[0].PublicURL, "/")
	browser := edgeBrowser(t, edgeAddr, c.caFile)
	code, body, err := browse(browser, pub+"/hello")
	if err != nil || code != 200 || body != "server manager: /hello" {
		t.Fatalf("GET %s: %d %q %v", pub, code, body, err)
	}

	// The cloud and its edge die (kill -9) and come back 2 s later.
	c.cmd.Process.Signal(syscall.SIGKILL)
	<-c.done
	time.Sleep(2 * time.Second)
	if c, err = startCloud(data, args...); err != nil {
		t.Fatal(err)
	}
	listening := time.Now()
	var recovered time.Duration
	for {
		req, _ := http.NewRequest(http.MethodGet, pub+"/again", nil)
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		res, err := browser.Do(req.WithContext(ctx))
		if err == nil {
			b, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode == 200 && string(b) == "server manager: /again" {
				cancel()
				recovered = time.Since(listening)
				break
			}
		}
		cancel()
		if time.Since(listening) > 30*time.Second {
			t.Fatalf("the tunnel did not come back:\n%s", d.out.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	// (startCloud returns once the cloud printed its addresses, i.e. listens.)
	t.Logf("cloud killed with -9 and restarted 2 s later: a request through the tunnel succeeded %v after the cloud listened again", recovered.Round(time.Millisecond))
	if recovered > 5*time.Second {
		t.Errorf("recovery took %v, want well under 1 s", recovered)
	}

	out, errOut, code = d.cli("", "tunnel", "stop", "msl-server-manager")
	if code != 0 || !strings.Contains(out, "stopped") {
		t.Fatalf("tunnel stop: exit %d\n%s%s", code, out, errOut)
	}
	if code, body, _ := browse(browser, pub+"/hello"); code == 200 {
		t.Errorf("a stopped tunnel answered: %d %q", code, body)
	}
	st, raw := d.statusJSON()
	tunnels, _ := raw["tunnels"].([]any)
	if len(st.Tunnels) != 1 || len(tunnels) != 1 {
		t.Fatalf("status --json tunnels: %v", raw["tunnels"])
	}
	for _, k := range []string{"id", "component", "name", "status", "local_address", "public_url", "enabled"} {
		if _, ok := tunnels[0].(map[string]any)[k]; !ok {
			t.Errorf("status --json tunnel lacks %q", k)
		}
	}
	d.stop()
}
