package main

// This project's processes: the reference cloud with its tunnel edge and
// the daemon, linked, with tunnels to the bench's origin.

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"golang.org/x/net/html"
)

// stack is the cloud and the daemon of one run.
type stack struct {
	dir                 string
	bin                 string
	cloudAddr, edgeAddr string
	dashAddr            string
	cloudArgs           []string
	cloud, cld          *exec.Cmd
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

func (s *stack) spawn(name, prog string, args ...string) (*exec.Cmd, error) {
	logf, err := os.OpenFile(filepath.Join(s.dir, name+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(filepath.Join(s.bin, prog), args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Env = os.Environ()
	if s.profile != "" {
		cmd.Env = append(cmd.Env, "CLD_CPUPROFILE="+filepath.Join(s.profile, name+"-%p.cpu.pprof"),
			"CLD_HEAPPROFILE="+filepath.Join(s.profile, name+"-%p.heap.pprof"))
	}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("starting %s: %w (run `make build` first)", prog, err)
	}
	go func() { cmd.Wait(); logf.Close() }()
	return cmd, nil
}

// stop ends the daemon and the cloud with SIGTERM (their CPU profiles, if
// any, are then complete), then kills what is left.
func (s *stack) stop() {
	for _, c := range []*exec.Cmd{s.cld, s.cloud} {
		if c != nil && c.Process != nil {
			c.Process.Signal(syscall.SIGTERM)
		}
	}
	time.Sleep(time.Second)
	for _, c := range []*exec.Cmd{s.cld, s.cloud} {
		if c != nil && c.Process != nil {
			c.Process.Kill()
		}
	}
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
	if err := signIn(c, publicURL+"/small"); err != nil {
		return route{}, err
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
		agent: func() int { return s.cld.Process.Pid }, server: func() int { return s.cloud.Process.Pid }}, nil
}

// restartEdge kills the cloud (and so its edge) with -9 and starts it
// again; it returns once the edge listens.
func (s *stack) restartEdge() error {
	s.cloud.Process.Kill()
	s.cloud.Process.Wait()
	var err error
	if s.cloud, err = s.spawn("cloud", "cld-cloud", s.cloudArgs...); err != nil {
		return err
	}
	return waitForFast(30*time.Second, func() error { return dial(s.edgeAddr) })
}

// signIn gets u like a browser: it follows redirects and fills each
// sign-in form on the way (the portal's e-mail/password and account
// steps), until a page without a form, which must be 200 OK.
func signIn(c *http.Client, u string) error {
	fields := map[string]string{"email": "admin@demo.test", "account_id": "100001", "account": "100001", "password": "demo-password"}
	res, err := c.Get(u)
	if err != nil {
		return err
	}
	for range 8 {
		body, _ := io.ReadAll(io.LimitReader(res.Body, 1<<20))
		res.Body.Close()
		action, values, ok := signInForm(string(body))
		if !ok {
			if res.StatusCode != http.StatusOK {
				return fmt.Errorf("signing in at %s: ended on %s (%s)", u, res.Request.URL, res.Status)
			}
			return nil
		}
		for name := range values {
			if v, ok := fields[name]; ok && values.Get(name) == "" {
				values.Set(name, v)
			}
		}
		next, err := res.Request.URL.Parse(action)
		if err != nil {
			return err
		}
		if res, err = c.PostForm(next.String(), values); err != nil {
			return err
		}
	}
	return fmt.Errorf("signing in at %s: too many forms", u)
}

// signInForm finds the first POST form with a password or account field and
// returns its action and its inputs with their values.
func signInForm(page string) (string, url.Values, bool) {
	doc, err := html.Parse(strings.NewReader(page))
	if err != nil {
		return "", nil, false
	}
	var found bool
	var action string
	var values url.Values
	var walk func(n *html.Node, cur *url.Values)
	walk = func(n *html.Node, cur *url.Values) {
		if found {
			return
		}
		if n.Type == html.ElementNode && n.Data == "form" && strings.EqualFold(attr(n, "method"), "post") {
			v := url.Values{}
			for c := n.FirstChild; c != nil; c = c.NextSibling {
				walk(c, &v)
			}
			if v.Has("password") || v.Has("account_id") || v.Has("account") {
				found, action, values = true, attr(n, "action"), v
			}
			return
		}
		if cur != nil && n.Type == html.ElementNode && n.Data == "input" && attr(n, "name") != "" {
			if t := attr(n, "type"); t != "submit" && t != "button" {
				cur.Set(attr(n, "name"), attr(n, "value"))
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c, cur)
		}
	}
	walk(doc, nil)
	return action, values, found
}

func attr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}
