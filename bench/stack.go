package main

// This project's processes: the reference cloud with its tunnel edge and
// the daemon, linked, with tunnels to the bench's origin.

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/cloudlink/cld/cloud/portaltest"
)

// stack is the cloud and the daemon of one run.
type stack struct {
	dir                 string
	bin                 string
	cloudAddr, edgeAddr string
	dashAddr            string
	cloudArgs           []string
	cloud, cld          *proc
	caPool              *x509.CertPool
	socket              string
	profile             string // directory for the processes' profiles ("": none)
}

// tunnelID is the id of the bench's n-th tunnel (1-based).
func tunnelID(n int) string { return fmt.Sprintf("bench-%02d", n) }

// start starts the cloud and the daemon, whose configuration has tunnels
// tunnels, all to origin (plain HTTP).
func (s *stack) start(origin string, tunnels int) error {
	var err error
	for _, a := range []*string{&s.cloudAddr, &s.edgeAddr, &s.dashAddr} {
		if *a, err = freeAddr(); err != nil {
			return err
		}
	}
	cloudURL := "https://" + s.cloudAddr
	s.cloudArgs = []string{"serve", "--data", filepath.Join(s.dir, "cloud"), "--listen", s.cloudAddr, "--demo",
		"--edge-listen", s.edgeAddr, "--edge-domain", "edge.localhost", "--public-url", cloudURL, "--log-level", "warn"}
	if s.cloud, err = s.spawn("cloud", "cld-cloud", s.cloudArgs...); err != nil {
		return err
	}
	ca := filepath.Join(s.dir, "cloud", "ca.pem")
	if err := waitFor(30*time.Second, "the cloud's CA", func() error { _, err := os.Stat(ca); return err }); err != nil {
		return err
	}
	if s.caPool, err = loadPool(ca); err != nil {
		return err
	}
	if err := waitFor(30*time.Second, "the cloud", func() error { return dial(s.cloudAddr) }); err != nil {
		return err
	}
	var cfg strings.Builder
	cfg.WriteString("platform:\n  type: generic\n  name: Bench host\n  tunnels:\n")
	for i := 1; i <= tunnels; i++ {
		fmt.Fprintf(&cfg, "    - id: %s\n      component: Bench\n      name: Origin %d\n      local_address: http://%s\n", tunnelID(i), i, origin)
	}
	cfgFile := filepath.Join(s.dir, "cld.yaml")
	if err := os.WriteFile(cfgFile, []byte(cfg.String()), 0o600); err != nil {
		return err
	}
	if s.cld, err = s.spawn("cld", "cld", "run", "--config", cfgFile, "--state", filepath.Join(s.dir, "state"),
		"--socket", s.socket, "--cloud", cloudURL, "--cloud-ca", ca, "--listen", s.dashAddr, "--log-level", "warn"); err != nil {
		return err
	}
	if err := waitFor(30*time.Second, "the daemon", func() error {
		_, err := s.cli("", []string{"status"})
		return err
	}); err != nil {
		return err
	}
	_, err = s.cli("demo-password\n", []string{"link"}, "--username", "admin@demo.test", "--account", "100001", "--password-stdin")
	return err
}

// spawn starts one of the stack's programs from the bin directory, with
// the profiles' environment when the run takes profiles.
func (s *stack) spawn(name, prog string, args ...string) (*proc, error) {
	p := &proc{dir: s.dir, name: name, bin: filepath.Join(s.bin, prog), args: args}
	if s.profile != "" {
		p.env = []string{"CLD_CPUPROFILE=" + filepath.Join(s.profile, name+"-%p.cpu.pprof"),
			"CLD_HEAPPROFILE=" + filepath.Join(s.profile, name+"-%p.heap.pprof")}
	}
	if err := p.start(); err != nil {
		return nil, fmt.Errorf("%w (run `make build` first)", err)
	}
	return p, nil
}

// stop ends the daemon and the cloud with SIGTERM (their profiles, if any,
// are then complete), killing what is left after 2 s.
func (s *stack) stop() {
	s.cld.stop()
	s.cloud.stop()
}

// cli runs `cld VERBS… --socket S REST…`.
func (s *stack) cli(stdin string, verbs []string, rest ...string) (string, error) {
	args := append(append(slices.Clone(verbs), "--socket", s.socket), rest...)
	cmd := exec.Command(filepath.Join(s.bin, "cld"), args...)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("cld %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

// startTunnels starts the tunnels numbered from to to (1-based) and
// returns a route through each, signed in to the portal.
func (s *stack) startTunnels(from, to int) ([]route, error) {
	for i := from; i <= to; i++ {
		if _, err := s.cli("", []string{"tunnel", "start"}, tunnelID(i)); err != nil {
			return nil, err
		}
	}
	public := map[string]string{}
	err := waitFor(60*time.Second, "the tunnels to start", func() error {
		out, err := s.cli("", []string{"tunnel", "list"}, "--json")
		if err != nil {
			return err
		}
		var t struct {
			Tunnels []struct {
				ID        string `json:"id"`
				Status    string `json:"status"`
				PublicURL string `json:"public_url"`
			} `json:"tunnels"`
		}
		if err := json.Unmarshal([]byte(out), &t); err != nil {
			return err
		}
		for _, x := range t.Tunnels {
			if x.Status == "started" && x.PublicURL != "" {
				public[x.ID] = strings.TrimSuffix(x.PublicURL, "/")
			}
		}
		for i := from; i <= to; i++ {
			if public[tunnelID(i)] == "" {
				return fmt.Errorf("%s not started yet", tunnelID(i))
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	var routes []route
	for i := from; i <= to; i++ {
		r, err := s.tunnelRoute(public[tunnelID(i)])
		if err != nil {
			return nil, err
		}
		routes = append(routes, r)
	}
	return routes, nil
}

// tunnelRoute signs in to the portal through the tunnel's public URL (as a
// browser does) and returns the route through the edge with the session
// cookie that got.
func (s *stack) tunnelRoute(publicURL string) (route, error) {
	u, err := url.Parse(publicURL)
	if err != nil {
		return route{}, err
	}
	d := &net.Dialer{}
	edge := s.edgeAddr
	tr := &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			if h, _, err := net.SplitHostPort(addr); err == nil && strings.HasSuffix(h, ".edge.localhost") {
				addr = edge
			}
			return d.DialContext(ctx, network, addr)
		},
		TLSClientConfig: &tls.Config{RootCAs: s.caPool},
	}
	defer tr.CloseIdleConnections()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Transport: tr, Jar: jar, Timeout: time.Minute}
	status, _, err := portaltest.Browse(c, publicURL+"/small", portaltest.User{Email: "admin@demo.test", Password: "demo-password", Account: "100001"})
	if err == nil && status != http.StatusOK {
		err = fmt.Errorf("HTTP %d", status)
	}
	if err != nil {
		return route{}, fmt.Errorf("signing in at %s through the portal: %w", publicURL, err)
	}
	var cookies []string
	for _, ck := range jar.Cookies(u) {
		cookies = append(cookies, ck.Name+"="+ck.Value)
	}
	if len(cookies) == 0 {
		return route{}, fmt.Errorf("signing in at %s gave no cookie for it", publicURL)
	}
	conf := &tls.Config{RootCAs: s.caPool, ServerName: u.Hostname(), NextProtos: []string{"http/1.1"}}
	return route{name: "cld", dial: tcpDial(edge, conf), host: u.Host, header: "Cookie: " + strings.Join(cookies, "; ") + "\r\n", tls: true,
		agent: s.cld.pid, server: s.cloud.pid}, nil
}

// restartEdge kills the cloud (and so its edge) with -9 and starts it
// again; it returns once the edge listens.
func (s *stack) restartEdge() error { return s.cloud.restart(s.edgeAddr) }
