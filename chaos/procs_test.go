package chaos

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/cloudlink/cld/agent/api"
	"github.com/cloudlink/cld/agent/client"
)

// syncBuffer collects a process's output safely.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func freeAddr() string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// waitFor polls cond every step until it holds or the deadline passes.
func waitFor(timeout, step time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(step)
	}
}

// --- the cloud ------------------------------------------------------------

// cloudProc is a `cld-cloud serve --demo` on fixed addresses, so that it can
// be killed and started again where the daemons expect it.
type cloudProc struct {
	data, listen, edge string
	url, caFile        string
	cmd                *exec.Cmd
	out                *syncBuffer
	done               chan struct{}
}

var (
	listenRE = regexp.MustCompile(`listening on (https://\S+)`)
	caRE     = regexp.MustCompile(`CA certificate[^:]*: (\S+)`)
)

func (c *cloudProc) start() error {
	cmd := exec.Command(cloudBin, "serve", "--data", c.data, "--demo", "--log-level", "warn", "--password-cost", "4",
		"--listen", c.listen, "--edge-listen", c.edge, "--edge-domain", "edge.localhost")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	c.out = &syncBuffer{}
	c.done = make(chan struct{})
	cmd.Stderr = c.out
	if err := cmd.Start(); err != nil {
		return err
	}
	c.cmd = cmd
	ready := make(chan struct{})
	var u, ca string
	done := c.done
	go func() {
		defer close(done)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			l := sc.Text()
			c.out.Write([]byte(l + "\n"))
			if u == "" || ca == "" {
				if m := listenRE.FindStringSubmatch(l); m != nil {
					u = m[1]
				}
				if m := caRE.FindStringSubmatch(l); m != nil {
					ca = m[1]
				}
				if u != "" && ca != "" {
					close(ready)
				}
			}
		}
		cmd.Wait()
	}()
	select {
	case <-ready:
		c.url, c.caFile = u, ca
		return nil
	case <-done:
		return fmt.Errorf("cld-cloud exited:\n%s", c.out.String())
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		return fmt.Errorf("cld-cloud did not start:\n%s", c.out.String())
	}
}

func (c *cloudProc) kill() {
	if c.cmd != nil {
		c.cmd.Process.Signal(syscall.SIGKILL)
		<-c.done
		c.cmd = nil
	}
}

// cli runs a cld-cloud command against the data directory.
func (c *cloudProc) cli(args ...string) (string, error) {
	cmd := exec.Command(cloudBin, args...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// reports returns the IDs of the system's reports the cloud stored.
func (c *cloudProc) reports(system string) (map[string]bool, error) {
	out, err := c.cli("report", "list", "--data", c.data, "--system", system)
	if err != nil {
		return nil, fmt.Errorf("report list: %v: %s", err, out)
	}
	ids := map[string]bool{}
	for _, l := range strings.Split(out, "\n")[1:] {
		if f := strings.Fields(l); len(f) >= 3 {
			ids[f[2]] = true
		}
	}
	return ids, nil
}

// --- tinyproxy ------------------------------------------------------------

// tinyproxy is Debian's tinyproxy on a fixed port, so that it can restart.
type tinyproxy struct {
	dir, addr string
	cmd       *exec.Cmd
	done      chan struct{}
	out       *syncBuffer
}

func (p *tinyproxy) start() error {
	port := p.addr[strings.LastIndex(p.addr, ":")+1:]
	conf := fmt.Sprintf("Port %s\nListen 127.0.0.1\nTimeout 600\nLogFile %q\nLogLevel Warning\nPidFile %q\nMaxClients 200\nAllow 127.0.0.1\nDisableViaHeader Yes\n",
		port, filepath.Join(p.dir, "tinyproxy.log"), filepath.Join(p.dir, "tinyproxy.pid"))
	confFile := filepath.Join(p.dir, "tinyproxy.conf")
	if err := os.WriteFile(confFile, []byte(conf), 0o644); err != nil {
		return err
	}
	cmd := exec.Command("/usr/bin/tinyproxy", "-d", "-c", confFile)
	p.out = &syncBuffer{}
	cmd.Stdout, cmd.Stderr = p.out, p.out
	if err := cmd.Start(); err != nil {
		return err
	}
	p.cmd, p.done = cmd, make(chan struct{})
	done := p.done
	go func() { cmd.Wait(); close(done) }()
	if !waitFor(10*time.Second, 10*time.Millisecond, func() bool {
		c, err := net.DialTimeout("tcp", p.addr, time.Second)
		if err == nil {
			c.Close()
		}
		return err == nil
	}) {
		return fmt.Errorf("tinyproxy does not listen on %s:\n%s", p.addr, p.out.String())
	}
	return nil
}

func (p *tinyproxy) kill() {
	if p.cmd != nil {
		p.cmd.Process.Kill()
		<-p.done
		p.cmd = nil
	}
}

// --- the daemon -----------------------------------------------------------

// daemon is a `cld run` with its own state directory and socket.
type daemon struct {
	dir, state, socket, config string
	cloudURL, cloudCA          string
	env                        []string // for one run (a kill hook)
	clockFile                  string   // CLD_TEST_CLOCK_FILE: the daemon's clock's offset
	cmd                        *exec.Cmd
	out                        *syncBuffer // all runs' output, appended
	done                       chan struct{}
	c                          *client.Client
	tr                         *http.Transport // c's connections to the socket
}

const (
	admin    = "admin@demo.test"
	password = "demo-password"
)

func newDaemon(dir, cloudURL, cloudCA, proxy, origin string) (*daemon, error) {
	d := &daemon{dir: dir, state: filepath.Join(dir, "state"), socket: filepath.Join(dir, "run", "cld.sock"),
		config: filepath.Join(dir, "cld.yaml"), cloudURL: cloudURL, cloudCA: cloudCA, out: &syncBuffer{}}
	if err := os.WriteFile(filepath.Join(dir, "machine-id"), []byte(fmt.Sprintf("%032x\n", time.Now().UnixNano())), 0o644); err != nil {
		return nil, err
	}
	cfg := fmt.Sprintf(`machine_id_file: %s
heartbeat_interval: 10s
clock: {interval: 10s, recheck_interval: 1s}
platform:
  type: generic
  name: Chaos host
  tunnels:
    - id: web
      component: MSL
      name: Server Manager
      local_address: http://%s
    - id: spare
      component: MSL
      name: A second UI
      local_address: http://%s
`, filepath.Join(dir, "machine-id"), origin, origin)
	if proxy != "" {
		cfg += "proxy: http://" + proxy + "\n"
	}
	if err := os.WriteFile(d.config, []byte(cfg), 0o600); err != nil {
		return nil, err
	}
	d.clockFile = filepath.Join(dir, "clock-offset")
	if err := os.WriteFile(d.clockFile, []byte("0\n"), 0o644); err != nil {
		return nil, err
	}
	// The local API client over a transport of the harness's own, whose
	// idle connections it closes before it counts the daemon's goroutines
	// and fds (each is one of both in the daemon).
	d.tr = &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", d.socket)
	}}
	d.c = client.NewHandler(&httputil.ReverseProxy{
		Rewrite:   func(pr *httputil.ProxyRequest) { pr.Out.URL.Scheme, pr.Out.URL.Host = "http", "cld" },
		Transport: d.tr,
		ErrorLog:  log.New(io.Discard, "", 0),
	})
	return d, nil
}

// start runs the daemon and waits until its local API answers (or it dies:
// a kill hook may end it while it starts).
func (d *daemon) start() error {
	d.done = make(chan struct{})
	d.cmd = exec.Command(cldBin, "run", "--config", d.config, "--state", d.state, "--socket", d.socket,
		"--cloud", d.cloudURL, "--cloud-ca", d.cloudCA, "--listen", "", "--log-level", "debug")
	d.cmd.Stdout, d.cmd.Stderr = d.out, d.out
	d.cmd.Env = append(append(os.Environ(), "CLD_TEST_CLOCK_FILE="+d.clockFile), d.env...)
	if err := d.cmd.Start(); err != nil {
		return err
	}
	cmd, done := d.cmd, d.done
	go func() { cmd.Wait(); close(done) }()
	var err error
	if waitFor(60*time.Second, 10*time.Millisecond, func() bool {
		select {
		case <-done:
			return true
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_, err = d.c.Status(ctx)
		return err == nil
	}) {
		return nil
	}
	return fmt.Errorf("cld run did not answer: %v", err)
}

func (d *daemon) alive() bool {
	if d.cmd == nil {
		return false
	}
	select {
	case <-d.done:
		return false
	default:
		return true
	}
}

func (d *daemon) kill9() {
	if d.cmd != nil {
		d.cmd.Process.Signal(syscall.SIGKILL)
		<-d.done
		d.cmd = nil
	}
}

// stop ends the daemon with SIGTERM; it must exit 0.
func (d *daemon) stop() error {
	if d.cmd == nil {
		return nil
	}
	d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.done:
	case <-time.After(30 * time.Second):
		d.kill9()
		return fmt.Errorf("cld run did not stop on SIGTERM")
	}
	code := d.cmd.ProcessState.ExitCode()
	d.cmd = nil
	if code != 0 {
		return fmt.Errorf("cld run exited %d after SIGTERM", code)
	}
	return nil
}

func (d *daemon) ctx(timeout time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), timeout)
}

func (d *daemon) status() (api.Status, error) {
	ctx, cancel := d.ctx(5 * time.Second)
	defer cancel()
	return d.c.Status(ctx)
}

func (d *daemon) link() error {
	ctx, cancel := d.ctx(60 * time.Second)
	defer cancel()
	_, err := d.c.Link(ctx, api.LinkRequest{Username: admin, Password: password, Account: 100001})
	return err
}

func (d *daemon) startTunnel(id string) error {
	ctx, cancel := d.ctx(30 * time.Second)
	defer cancel()
	_, err := d.c.StartTunnel(ctx, id)
	return err
}

func (d *daemon) stopTunnel(id string) error {
	ctx, cancel := d.ctx(30 * time.Second)
	defer cancel()
	_, err := d.c.StopTunnel(ctx, id)
	return err
}

// submit asks for a report now (it may fail while a fault lasts; the report
// then stays in the outbox).
func (d *daemon) submit(timeout time.Duration) error {
	ctx, cancel := d.ctx(timeout)
	defer cancel()
	_, err := d.c.SubmitInventory(ctx)
	return err
}

// goroutines reads go_goroutines from the daemon's /metrics.
func (d *daemon) goroutines() (int, error) {
	hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", d.socket)
	}}}
	defer hc.CloseIdleConnections()
	res, err := hc.Get("http://cld/metrics")
	if err != nil {
		return 0, err
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "go_goroutines "); ok {
			return strconv.Atoi(strings.TrimSpace(v))
		}
	}
	return 0, fmt.Errorf("no go_goroutines in /metrics")
}

// fds counts the daemon's open file descriptors.
func (d *daemon) fds() (int, error) {
	if d.cmd == nil {
		return 0, fmt.Errorf("not running")
	}
	es, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", d.cmd.Process.Pid))
	return len(es), err
}

var (
	queuedRE     = regexp.MustCompile(`msg="inventory (?:report queued|changed; report queued)" .*?\bid=(\S+)`)
	supersededRE = regexp.MustCompile(`msg="an unsent inventory report was superseded by a newer one" .*?\bdropped=(\S+)`)
	droppedRE    = regexp.MustCompile(`msg="dropping an inventory report made for another link" .*?\bid=(\S+)`)
)

// reportsMade lists the reports the daemon queued (its log over all its
// runs) that it must deliver: those not superseded by a newer unsent one
// (the outbox keeps one) nor made for an earlier link.
func (d *daemon) reportsMade() map[string]bool {
	log := d.out.String()
	made := map[string]bool{}
	for _, m := range queuedRE.FindAllStringSubmatch(log, -1) {
		made[m[1]] = true
	}
	for _, re := range []*regexp.Regexp{supersededRE, droppedRE} {
		for _, m := range re.FindAllStringSubmatch(log, -1) {
			delete(made, m[1])
		}
	}
	return made
}

// stateProblems lists quarantined, temporary-left-over or unreadable files
// in the state directory (recursively).
func (d *daemon) stateProblems() []string {
	var bad []string
	filepath.WalkDir(d.state, func(path string, e os.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return nil
		}
		name := e.Name()
		switch {
		case strings.Contains(name, ".corrupt-"):
			bad = append(bad, "quarantined "+path)
		case strings.HasSuffix(name, ".json"):
			b, err := os.ReadFile(path)
			if err != nil || !json.Valid(b) {
				bad = append(bad, "unreadable "+path)
			}
		}
		return nil
	})
	for _, l := range strings.Split(d.out.String(), "\n") {
		if strings.Contains(strings.ToLower(l), "corrupt") {
			bad = append(bad, "log: "+l)
		}
	}
	return bad
}

// --- the origin and the public side of a tunnel ---------------------------

func loadPool(file string) (*x509.CertPool, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("no certificate in %s", file)
	}
	return pool, nil
}

// edgeBrowser reaches *.edge.localhost at the edge's public listener and
// keeps cookies, like a browser.
func edgeBrowser(edgeAddr, caFile string) (*http.Client, error) {
	pool, err := loadPool(caFile)
	if err != nil {
		return nil, err
	}
	d := &net.Dialer{Timeout: 3 * time.Second}
	tr := &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			if h, _, err := net.SplitHostPort(addr); err == nil && strings.HasSuffix(h, ".edge.localhost") {
				addr = edgeAddr
			}
			return d.DialContext(ctx, network, addr)
		},
		TLSClientConfig: &tls.Config{RootCAs: pool},
	}
	return &http.Client{Transport: tr, Jar: newJar(), Timeout: 5 * time.Second}, nil
}
