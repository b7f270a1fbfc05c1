package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cloudlink/cld/agent/api"
	"github.com/cloudlink/cld/agent/link"
	"github.com/cloudlink/cld/cloud"
)

// --- against a real HTTP proxy (tinyproxy) ---------------------------------------

// tinyproxy is a running tinyproxy started by a test.
type tinyproxy struct {
	addr string
	log  string
}

// connects counts the CONNECT requests in its log.
func (p *tinyproxy) connects(t *testing.T) int {
	return p.connectsTo(t, "127.0.0.1")
}

// connectsTo counts the CONNECT requests to host in its log.
func (p *tinyproxy) connectsTo(t *testing.T, host string) int {
	b, _ := os.ReadFile(p.log)
	return strings.Count(string(b), "CONNECT "+host+":")
}

// startTinyproxy runs Debian's tinyproxy in the foreground with basic
// credentials user:pass, allowing CONNECT to the given ports only. Without
// tinyproxy the test is skipped, unless CI is set (then it fails: `make
// deps` installs it).
func startTinyproxy(t *testing.T, user, pass string, connectPorts ...string) *tinyproxy {
	t.Helper()
	bin, err := exec.LookPath("tinyproxy")
	if err != nil {
		for _, p := range []string{"/usr/bin/tinyproxy", "/usr/sbin/tinyproxy"} {
			if _, serr := os.Stat(p); serr == nil {
				bin, err = p, nil
			}
		}
	}
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("tinyproxy is not installed (CI is set, so the proxy tests must run): install it with `make deps` or apt-get install tinyproxy")
		}
		t.Skip("tinyproxy is not installed; skipping the real-proxy tests (apt-get install tinyproxy, or `make deps`)")
	}
	dir := t.TempDir()
	port := strconv.Itoa(freeTCPPort(t))
	p := &tinyproxy{addr: "127.0.0.1:" + port, log: filepath.Join(dir, "tinyproxy.log")}
	conf := fmt.Sprintf("Port %s\nListen 127.0.0.1\nTimeout 60\nLogFile %q\nLogLevel Info\nPidFile %q\nMaxClients 100\nAllow 127.0.0.1\nDisableViaHeader Yes\n",
		port, p.log, filepath.Join(dir, "tinyproxy.pid"))
	if user != "" {
		conf += fmt.Sprintf("BasicAuth %s %s\n", user, pass)
	}
	for _, cp := range connectPorts {
		conf += "ConnectPort " + cp + "\n"
	}
	confFile := filepath.Join(dir, "tinyproxy.conf")
	writeFile(t, confFile, conf)
	cmd := exec.Command(bin, "-d", "-c", confFile)
	out := &logBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting tinyproxy: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", p.addr, time.Second)
		if err == nil {
			c.Close()
			return p
		}
		select {
		case err := <-exited:
			t.Fatalf("tinyproxy exited: %v\n%s", err, out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("tinyproxy does not listen on %s: %v\n%s", p.addr, err, out.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func freeTCPPort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func cloudPort(t *testing.T, ts *cloud.TestServer) string {
	_, port, err := net.SplitHostPort(ts.Addr)
	if err != nil {
		t.Fatal(err)
	}
	return port
}

// TestProxyWithCredentials links, keeps the link and runs a tunnel with
// every cloud connection going through tinyproxy with basic credentials;
// the password appears in no log and no status.
func TestProxyWithCredentials(t *testing.T) {
	ts := cloud.NewTestServer(t)
	proxy := startTinyproxy(t, "cld", "pr0xy-s3cret", cloudPort(t, ts))
	web, admin := newOrigin(t, "web"), newOrigin(t, "admin")
	cfg := cloudConfig(t, ts)
	cfg.Proxy = "http://cld:pr0xy-s3cret@" + proxy.addr
	var logs logBuffer
	a, err := New(cfg, WithLogger(logs.logger()), fastHash, WithPlatform(originPlatform(t, web, admin)))
	if err != nil {
		t.Fatal(err)
	}
	r := start(t, a)
	ctx := context.Background()
	if _, err := r.link.Link(ctx, adminLogin); err != nil {
		t.Fatalf("link through the proxy: %v", err)
	}
	linkConnects := proxy.connects(t)
	if linkConnects == 0 {
		t.Fatal("the link did not go through the proxy")
	}
	if _, err := r.tunnels.Start("web"); err != nil {
		t.Fatal(err)
	}
	x := waitTunnel(t, r.Agent, "web", api.TunnelStarted)
	code, body, err := publicGet(ts.EdgeClient(t, cloud.DemoAdminEmail), strings.TrimSuffix(x.PublicURL, "/")+"/via-proxy")
	if err != nil || code != 200 || !strings.HasSuffix(body, "/via-proxy") {
		t.Fatalf("through the tunnel: %d %q %v", code, body, err)
	}
	if n := proxy.connects(t); n <= linkConnects {
		t.Errorf("the tunnel session did not go through the proxy (%d CONNECTs, %d before)", n, linkConnects)
	}
	st := r.Status(ctx)
	js, _ := json.Marshal(st)
	for what, s := range map[string]string{"log": logs.String(), "status": string(js)} {
		if strings.Contains(s, "pr0xy-s3cret") {
			t.Errorf("the proxy password is in the %s", what)
		}
	}
	if !strings.Contains(logs.String(), "using an HTTP proxy") || !strings.Contains(logs.String(), "cld:xxxxx@"+proxy.addr) {
		t.Errorf("the proxy in use is not logged (redacted)")
	}
}

// TestProxyRefuses: wrong or missing credentials, and a proxy that is not
// there, each give a clear reason — at linking and on the tunnels.
func TestProxyRefuses(t *testing.T) {
	ts := cloud.NewTestServer(t)
	proxy := startTinyproxy(t, "cld", "right-pass", cloudPort(t, ts))
	web, admin := newOrigin(t, "web"), newOrigin(t, "admin")
	ctx := context.Background()
	cfg := cloudConfig(t, ts)
	cfg.Source = "/etc/cld/cld.yaml"

	// Linked directly first, so that the tunnels have credentials.
	r := mustAgent(t, cfg, WithPlatform(originPlatform(t, web, admin)))
	if _, err := r.link.Link(ctx, adminLogin); err != nil {
		t.Fatal(err)
	}
	r.stop()

	for _, tc := range []struct {
		name, proxy string
		want        []string
	}{
		{"wrong password", "http://cld:wrong-pass@" + proxy.addr,
			[]string{"The HTTP proxy at " + proxy.addr + " refused the connection: 401 Unauthorized — check proxy: user and password in /etc/cld/cld.yaml"}},
		{"no credentials", "http://" + proxy.addr,
			[]string{"The HTTP proxy at " + proxy.addr + " refused the connection: 407 Proxy Authentication Required — check proxy: user and password in /etc/cld/cld.yaml"}},
		{"proxy down", "http://cld:right-pass@127.0.0.1:" + strconv.Itoa(freeTCPPort(t)),
			[]string{"The HTTP proxy at 127.0.0.1:", "refused the connection: connection refused — check proxy: in /etc/cld/cld.yaml, and that the proxy is running"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := cfg
			cfg.Proxy = tc.proxy
			var logs logBuffer
			a, err := New(cfg, WithLogger(logs.logger()), fastHash, WithPlatform(originPlatform(t, web, admin)))
			if err != nil {
				t.Fatal(err)
			}
			r := start(t, a)
			if _, err := r.tunnels.Start("web"); err != nil {
				t.Fatal(err)
			}
			x := waitTunnel(t, r.Agent, "web", api.TunnelError, tc.want...)
			t.Logf("reason: %s", x.Reason)
			if strings.Contains(logs.String(), "-pass") || strings.Contains(x.Reason, "-pass") {
				t.Error("the proxy password was shown")
			}
			// The link's keep-alive says the same in its warning.
			eventually(t, "the link warning", func() bool {
				for _, w := range r.Status(ctx).Warnings {
					if w.Code == link.WarnCloudUnreachable && strings.Contains(w.Text, "refused the connection") {
						return true
					}
				}
				return false
			})
			if _, err := r.tunnels.Stop(""); err != nil {
				t.Fatal(err)
			}
			r.stop()
		})
	}

	// Linking through a refusing proxy says why.
	cfg2 := cloudConfig(t, ts)
	cfg2.Source = "/etc/cld/cld.yaml"
	cfg2.Proxy = "http://cld:wrong-pass@" + proxy.addr
	r2 := mustAgent(t, cfg2)
	_, err := r2.link.Link(ctx, adminLogin)
	wantAPIError(t, err, api.CodeCloudDown, "Could not reach CloudLink at "+ts.URL, "the HTTP proxy at "+proxy.addr+" refused the connection: 401 Unauthorized — check proxy: user and password in /etc/cld/cld.yaml")
}

// TestProxyFromEnvironment: with no proxy: in the config, the daemon takes
// HTTPS_PROXY (with credentials) from its environment for linking and for
// the tunnel session, and NO_PROXY exempts the cloud. The daemon runs in a
// child process of this test binary, because Go reads the proxy
// environment once per process. The cloud is reached by this machine's
// host name (added to the test certificate): the environment's rules never
// send localhost or a loopback address to a proxy, and tinyproxy resolves
// the name itself, so it must lead to 127.0.0.1 in /etc/hosts.
func TestProxyFromEnvironment(t *testing.T) {
	if os.Getenv("CLD_TEST_ENV_PROXY_CHILD") != "" {
		envProxyChild(t)
		return
	}
	name, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	name = strings.ToLower(name)
	if addrs, _ := net.LookupHost(name); name == "localhost" || !slices.Contains(addrs, "127.0.0.1") {
		t.Skipf("this machine's host name %q does not resolve to 127.0.0.1 (%v), so the cloud cannot be reached by a name through the proxy here", name, addrs)
	}
	ts := cloud.NewTestServer(t, cloud.WithHostnames(name))
	proxy := startTinyproxy(t, "cld", "env-s3cret", cloudPort(t, ts))
	run := func(noProxy string) string {
		t.Helper()
		cmd := exec.Command(os.Args[0], "-test.run=^TestProxyFromEnvironment$", "-test.v", "-test.count=1")
		cmd.Env = append(os.Environ(), "CLD_TEST_ENV_PROXY_CHILD=1",
			"CLD_TEST_CLOUD=https://"+net.JoinHostPort(name, cloudPort(t, ts)), "CLD_TEST_CLOUD_CA="+ts.CAFile,
			"HTTPS_PROXY=http://cld:env-s3cret@"+proxy.addr, "https_proxy=", "NO_PROXY="+noProxy, "no_proxy=")
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "--- PASS: TestProxyFromEnvironment") {
			t.Fatalf("the daemon in the child process: %v\n%s", err, out)
		}
		return string(out)
	}
	out := run("")
	if n := proxy.connectsTo(t, name); n < 2 {
		t.Errorf("%d CONNECTs through the environment's proxy, want the API's and the tunnel session's (at least 2)\n%s", n, out)
	}
	if strings.Contains(out, "env-s3cret") {
		t.Error("the proxy password is in the daemon's output")
	}
	before := proxy.connectsTo(t, name)
	run(name)
	if n := proxy.connectsTo(t, name) - before; n != 0 {
		t.Errorf("NO_PROXY names the cloud, yet %d CONNECTs went through the proxy", n)
	}
}

// envProxyChild is the child's part of TestProxyFromEnvironment: link and
// start a tunnel, with the proxy environment the parent set.
func envProxyChild(t *testing.T) {
	cfg := testConfig(t, t.TempDir())
	cfg.Cloud, cfg.CloudCA = os.Getenv("CLD_TEST_CLOUD"), os.Getenv("CLD_TEST_CLOUD_CA")
	web, admin := newOrigin(t, "web"), newOrigin(t, "admin")
	var logs logBuffer
	r := mustAgent(t, cfg, WithLogger(logs.logger()), WithPlatform(originPlatform(t, web, admin)))
	ctx := context.Background()
	if _, err := r.link.Link(ctx, adminLogin); err != nil {
		t.Fatalf("link: %v", err)
	}
	if _, err := r.tunnels.Start("web"); err != nil {
		t.Fatal(err)
	}
	waitTunnel(t, r.Agent, "web", api.TunnelStarted)
	t.Log(logs.String())
}
