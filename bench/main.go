// Command bench is the load harness of `make bench`: it runs the reference
// cloud (with its tunnel edge), the simulated host and the daemon as real
// processes on loopback, links the daemon, starts a tunnel, and measures the
// tunnel against a direct connection to the same origin in the same run:
// bulk throughput, small-request rate and latency, the daemon's RSS idle and
// under load, the time to recover after the edge is killed with -9, and a
// Provisioning Manager sync of 5000 users and 5000 devices into the cloud
// (and the same sync again, which must send nothing).
// Direct and tunnel rounds are interleaved and the median of the per-round
// ratios is reported, because loopback speed varies a lot between runs on
// shared machines. Results are printed and written as flat JSON.
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
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
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/net/html"

	"github.com/cloudlink/cld/inventory"
	"github.com/cloudlink/cld/platforms/generic"
)

type options struct {
	bin         string
	out         string
	rounds      int
	bulkBytes   int64
	concurrency int
	reqSeconds  float64
	recoveries  int
	keep        bool
	idleSeconds float64
	pm, update  bool
}

func main() {
	var o options
	flag.StringVar(&o.bin, "bin", "bin", "directory with cld, cld-cloud and cld-simhost")
	flag.StringVar(&o.out, "out", "bench/results.json", "where to write the results (flat JSON)")
	flag.IntVar(&o.rounds, "rounds", 5, "interleaved direct/tunnel rounds per measurement")
	flag.Int64Var(&o.bulkBytes, "bulk-bytes", 256<<20, "bytes per bulk download")
	flag.IntVar(&o.concurrency, "concurrency", 32, "concurrent clients for the small-request rounds")
	flag.Float64Var(&o.reqSeconds, "request-seconds", 3, "duration of each small-request round")
	flag.IntVar(&o.recoveries, "recoveries", 3, "edge kill -9 / restart cycles (0: none, e.g. to take CPU profiles)")
	flag.BoolVar(&o.keep, "keep", false, "keep the temporary directory (logs) after the run")
	flag.Float64Var(&o.idleSeconds, "idle-seconds", 20, "how long the idle daemon's CPU time is measured")
	flag.BoolVar(&o.pm, "pm", true, "measure the Provisioning Manager sync (false: for a cld without it)")
	flag.BoolVar(&o.update, "update", true, "measure the self-update")
	flag.Parse()
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// stack is the processes of one run.
type stack struct {
	dir                 string
	bin                 string
	cloudAddr, edgeAddr string
	smAddr, dashAddr    string
	cloudArgs           []string
	cloud, simhost, cld *exec.Cmd
	caPool, simPool     *x509.CertPool
	socket              string
}

func run(o options) (err error) {
	// Before the stack starts, on a quiet machine: a full inventory
	// collection of this host.
	invMS, err := measureInventory(20)
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "cld-bench-")
	if err != nil {
		return err
	}
	if o.keep {
		fmt.Println("logs in", dir)
	} else {
		defer os.RemoveAll(dir)
	}
	s := &stack{dir: dir, bin: o.bin, socket: filepath.Join(dir, "cld.sock")}
	defer s.stop()
	if err := s.start(); err != nil {
		return err
	}
	publicURL, err := s.linkAndStartTunnel()
	if err != nil {
		return err
	}
	direct, err := s.directClient()
	if err != nil {
		return err
	}
	tun, err := s.tunnelClient(publicURL)
	if err != nil {
		return err
	}
	directURL := "https://" + s.smAddr

	res := map[string]float64{"inventory_collect_ms": invMS}
	if fi, err := os.Stat(filepath.Join(o.bin, "cld")); err == nil {
		res["daemon_binary_mb"] = float64(fi.Size()) / 1e6 // as make build makes it (the packages strip it)
	}
	time.Sleep(2 * time.Second) // let the daemon settle before reading its idle RSS
	res["daemon_idle_rss_mb"] = rssMB(s.cld.Process.Pid)
	// Idle CPU: linked, one tunnel started and unused, over o.idleSeconds.
	c0 := cpuTimes([]int{s.cld.Process.Pid})[0]
	time.Sleep(time.Duration(o.idleSeconds * float64(time.Second)))
	res["daemon_idle_cpu_pct"] = 100 * (cpuTimes([]int{s.cld.Process.Pid})[0] - c0) / o.idleSeconds

	peak := newPeakRSS(s.cld.Process.Pid)
	bulk, err := measureBulk(o, direct, directURL, tun, publicURL)
	if err != nil {
		return err
	}
	reqs, err := s.measureRequests(o, direct, directURL, tun, publicURL)
	if err != nil {
		return err
	}
	res["daemon_load_rss_mb"] = peak.stop()
	for k, v := range bulk {
		res[k] = v
	}
	for k, v := range reqs {
		res[k] = v
	}
	if o.recoveries > 0 {
		rec, err := s.measureRecovery(o, tun, publicURL)
		if err != nil {
			return err
		}
		for k, v := range rec {
			res[k] = v
		}
	}
	if o.pm {
		pm, err := s.measurePM()
		if err != nil {
			return err
		}
		for k, v := range pm {
			res[k] = v
		}
	}
	if o.update {
		upd, err := s.measureUpdate()
		if err != nil {
			return err
		}
		for k, v := range upd {
			res[k] = v
		}
	}
	return report(o.out, res)
}

// freeAddr returns a loopback address with a free port.
func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

func (s *stack) start() error {
	var err error
	for _, a := range []*string{&s.cloudAddr, &s.edgeAddr, &s.smAddr, &s.dashAddr} {
		if *a, err = freeAddr(); err != nil {
			return err
		}
	}
	mbgAddr, err := freeAddr()
	if err != nil {
		return err
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
	simDir := filepath.Join(s.dir, "simhost")
	if s.simhost, err = s.spawn("simhost", "cld-simhost", "--listen-server-manager", s.smAddr, "--listen-mbg", mbgAddr, "--dir", simDir); err != nil {
		return err
	}
	simCert := filepath.Join(simDir, "cert.pem")
	if err := waitFor(30*time.Second, "the simulated host", func() error {
		if err := dial(s.smAddr); err != nil {
			return err
		}
		_, err := os.Stat(simCert)
		return err
	}); err != nil {
		return err
	}
	if s.simPool, err = loadPool(simCert); err != nil {
		return err
	}
	cfg := fmt.Sprintf(`platform:
  type: generic
  name: Bench host
  tunnels:
    - id: msl-server-manager
      component: MSL
      name: Server Manager
      description: Remote access via Mitel Administration
      local_address: https://%s
      accept_self_signed: true
`, s.smAddr)
	cfgFile := filepath.Join(s.dir, "cld.yaml")
	if err := os.WriteFile(cfgFile, []byte(cfg), 0o600); err != nil {
		return err
	}
	if s.cld, err = s.spawn("cld", "cld", "run", "--config", cfgFile, "--state", filepath.Join(s.dir, "state"),
		"--socket", s.socket, "--cloud", cloudURL, "--cloud-ca", ca, "--listen", s.dashAddr, "--log-level", "warn"); err != nil {
		return err
	}
	return waitFor(30*time.Second, "the daemon", func() error {
		_, err := s.cli("", []string{"status"})
		return err
	})
}

func (s *stack) spawn(name, prog string, args ...string) (*exec.Cmd, error) {
	logf, err := os.OpenFile(filepath.Join(s.dir, name+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(filepath.Join(s.bin, prog), args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("starting %s: %w (run `make build` first)", prog, err)
	}
	go func() { cmd.Wait(); logf.Close() }()
	return cmd, nil
}

func (s *stack) stop() {
	for _, c := range []*exec.Cmd{s.cld, s.simhost, s.cloud} {
		if c != nil && c.Process != nil {
			c.Process.Signal(syscall.SIGTERM)
		}
	}
	time.Sleep(300 * time.Millisecond)
	for _, c := range []*exec.Cmd{s.cld, s.simhost, s.cloud} {
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

// linkAndStartTunnel links the daemon, starts its tunnel and returns the
// tunnel's public URL once it is started.
func (s *stack) linkAndStartTunnel() (string, error) {
	if _, err := s.cli("demo-password\n", []string{"link"}, "--username", "admin@demo.test", "--account", "100001", "--password-stdin"); err != nil {
		return "", err
	}
	if _, err := s.cli("", []string{"tunnel", "start"}, "msl-server-manager"); err != nil {
		return "", err
	}
	var public string
	err := waitFor(30*time.Second, "the tunnel to start", func() error {
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
			if x.ID == "msl-server-manager" && x.Status == "started" && x.PublicURL != "" {
				public = strings.TrimSuffix(x.PublicURL, "/")
				return nil
			}
		}
		return fmt.Errorf("not started yet: %s", out)
	})
	return public, err
}

func (s *stack) directClient() (*http.Client, error) {
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: s.simPool, ServerName: "127.0.0.1"},
		MaxIdleConnsPerHost: 256, DisableCompression: true, ForceAttemptHTTP2: false}
	c := newBrowser(tr)
	return c, signInOrigin(c, "https://"+s.smAddr)
}

// tunnelClient reaches *.edge.localhost at the edge's address, signs in to
// the portal through the public URL's redirect, then to the origin.
func (s *stack) tunnelClient(publicURL string) (*http.Client, error) {
	d := &net.Dialer{}
	edge := s.edgeAddr
	tr := &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			if h, _, err := net.SplitHostPort(addr); err == nil && strings.HasSuffix(h, ".edge.localhost") {
				addr = edge
			}
			return d.DialContext(ctx, network, addr)
		},
		TLSClientConfig:     &tls.Config{RootCAs: s.caPool},
		MaxIdleConnsPerHost: 256, DisableCompression: true,
	}
	c := newBrowser(tr)
	return c, signInOrigin(c, publicURL)
}

func newBrowser(tr *http.Transport) *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Transport: tr, Jar: jar, Timeout: 5 * time.Minute}
}

// signInOrigin gets base+"/" like a browser: it follows redirects and fills
// each sign-in form on the way (the portal's e-mail/password and account
// steps, then the simulated UI's own), until a page without a form.
func signInOrigin(c *http.Client, base string) error {
	fields := map[string]string{"email": "admin@demo.test", "username": "admin", "account_id": "100001", "account": "100001"}
	res, err := c.Get(base + "/")
	if err != nil {
		return err
	}
	for step := 0; step < 8; step++ {
		body, _ := io.ReadAll(io.LimitReader(res.Body, 1<<20))
		res.Body.Close()
		action, values, ok := signInForm(string(body))
		if !ok {
			if res.StatusCode != http.StatusOK {
				return fmt.Errorf("signing in at %s: ended on %s (%s)", base, res.Request.URL, res.Status)
			}
			return nil
		}
		for name := range values {
			if v, ok := fields[name]; ok && values.Get(name) == "" {
				values.Set(name, v)
			}
		}
		if values.Has("password") {
			values.Set("password", "demo-password") // the cloud's demo users
			if values.Has("username") {
				values.Set("password", "admin") // the simulated UI's demo user
			}
		}
		u, err := res.Request.URL.Parse(action)
		if err != nil {
			return err
		}
		if res, err = c.PostForm(u.String(), values); err != nil {
			return err
		}
	}
	return fmt.Errorf("signing in at %s: too many forms", base)
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

// measureBulk downloads bulkBytes directly and through the tunnel, rounds
// interleaved, and reports the median per-round ratio.
func measureBulk(o options, direct *http.Client, directURL string, tun *http.Client, tunURL string) (map[string]float64, error) {
	var ratios, dRates, tRates []float64
	path := "/download?size=" + strconv.FormatInt(o.bulkBytes, 10)
	for i := 0; i < o.rounds; i++ {
		d, err := download(direct, directURL+path, o.bulkBytes)
		if err != nil {
			return nil, fmt.Errorf("direct download: %w", err)
		}
		t, err := download(tun, tunURL+path, o.bulkBytes)
		if err != nil {
			return nil, fmt.Errorf("download through the tunnel: %w", err)
		}
		dRates, tRates, ratios = append(dRates, d), append(tRates, t), append(ratios, t/d)
		fmt.Printf("bulk round %d: direct %.0f MB/s, tunnel %.0f MB/s, ratio %.3f\n", i+1, d/1e6, t/1e6, t/d)
	}
	return map[string]float64{
		"tunnel_bulk_ratio":    median(ratios),
		"direct_bulk_mbps":     median(dRates) / 1e6,
		"tunnel_bulk_mbps":     median(tRates) / 1e6,
		"bulk_bytes_per_round": float64(o.bulkBytes),
	}, nil
}

func download(c *http.Client, u string, want int64) (float64, error) {
	start := time.Now()
	res, err := c.Get(u)
	if err != nil {
		return 0, err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("GET %s: %s", u, res.Status)
	}
	n, err := io.Copy(io.Discard, res.Body)
	if err != nil {
		return 0, err
	}
	if n != want {
		return 0, fmt.Errorf("GET %s: %d bytes, want %d", u, n, want)
	}
	return float64(n) / time.Since(start).Seconds(), nil
}

// measureRequests runs concurrency clients making small requests for
// reqSeconds, directly and through the tunnel, rounds interleaved.
func (s *stack) measureRequests(o options, direct *http.Client, directURL string, tun *http.Client, tunURL string) (map[string]float64, error) {
	var rpsRatios, p99Ratios, p50Ratios []float64
	var dRPS, tRPS, dP50, tP50, dP99, tP99 []float64
	var edgeCPU, daemonCPU, clientCPU, originCPU, dClientCPU, dOriginCPU []float64
	d := time.Duration(o.reqSeconds * float64(time.Second))
	procs := []int{os.Getpid(), s.simhost.Process.Pid, s.cloud.Process.Pid, s.cld.Process.Pid}
	for i := 0; i < o.rounds; i++ {
		before, ioBefore := cpuTimes(procs), ioCounts(procs)
		dr, err := load(direct, directURL+"/health", o.concurrency, d)
		if err != nil {
			return nil, fmt.Errorf("direct requests: %w", err)
		}
		mid, ioMid := cpuTimes(procs), ioCounts(procs)
		tr, err := load(tun, tunURL+"/health", o.concurrency, d)
		if err != nil {
			return nil, fmt.Errorf("requests through the tunnel: %w", err)
		}
		after, ioAfter := cpuTimes(procs), ioCounts(procs)
		perReq := func(a, b []float64, j int, r loadResult) float64 { return (b[j] - a[j]) * 1e6 / (r.rps * d.Seconds()) }
		dClientCPU, dOriginCPU = append(dClientCPU, perReq(before, mid, 0, dr)), append(dOriginCPU, perReq(before, mid, 1, dr))
		clientCPU, originCPU = append(clientCPU, perReq(mid, after, 0, tr)), append(originCPU, perReq(mid, after, 1, tr))
		edgeCPU, daemonCPU = append(edgeCPU, perReq(mid, after, 2, tr)), append(daemonCPU, perReq(mid, after, 3, tr))
		fmt.Printf("  CPU µs/request: direct client %.0f origin %.0f; tunnel client %.0f edge %.0f daemon %.0f origin %.0f\n",
			dClientCPU[i], dOriginCPU[i], clientCPU[i], edgeCPU[i], daemonCPU[i], originCPU[i])
		rw := func(a, b [][2]float64, j int, r loadResult) string {
			n := r.rps * d.Seconds()
			return fmt.Sprintf("%.1f/%.1f", (b[j][0]-a[j][0])/n, (b[j][1]-a[j][1])/n)
		}
		fmt.Printf("  read/write syscalls per request: direct client %s origin %s; tunnel client %s edge %s daemon %s origin %s\n",
			rw(ioBefore, ioMid, 0, dr), rw(ioBefore, ioMid, 1, dr), rw(ioMid, ioAfter, 0, tr), rw(ioMid, ioAfter, 2, tr), rw(ioMid, ioAfter, 3, tr), rw(ioMid, ioAfter, 1, tr))
		rpsRatios = append(rpsRatios, tr.rps/dr.rps)
		p50Ratios = append(p50Ratios, tr.p50/dr.p50)
		p99Ratios = append(p99Ratios, tr.p99/dr.p99)
		dRPS, tRPS = append(dRPS, dr.rps), append(tRPS, tr.rps)
		dP50, tP50, dP99, tP99 = append(dP50, dr.p50), append(tP50, tr.p50), append(dP99, dr.p99), append(tP99, tr.p99)
		fmt.Printf("requests round %d: direct %.0f/s p50 %.2fms p99 %.2fms; tunnel %.0f/s p50 %.2fms p99 %.2fms\n",
			i+1, dr.rps, dr.p50, dr.p99, tr.rps, tr.p50, tr.p99)
	}
	return map[string]float64{
		"tunnel_rps_ratio": median(rpsRatios),
		"tunnel_p50_ratio": median(p50Ratios),
		"tunnel_p99_ratio": median(p99Ratios),
		"direct_rps":       median(dRPS),
		"tunnel_rps":       median(tRPS),
		"direct_p50_ms":    median(dP50),
		"tunnel_p50_ms":    median(tP50),
		"direct_p99_ms":    median(dP99),
		"tunnel_p99_ms":    median(tP99),
		"concurrency":      float64(o.concurrency),
		// CPU time per request, user and system, of each process (the
		// client is this harness).
		"direct_client_cpu_us": median(dClientCPU),
		"direct_origin_cpu_us": median(dOriginCPU),
		"tunnel_client_cpu_us": median(clientCPU),
		"tunnel_edge_cpu_us":   median(edgeCPU),
		"tunnel_daemon_cpu_us": median(daemonCPU),
		"tunnel_origin_cpu_us": median(originCPU),
	}, nil
}

// cpuTimes reads the processes' CPU time (user + system) in seconds.
func cpuTimes(pids []int) []float64 {
	out := make([]float64, len(pids))
	for i, pid := range pids {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			out[i] = -1
			continue
		}
		// The fields after the command name (which may hold spaces) start
		// after its closing parenthesis; utime and stime are fields 14 and 15.
		s := string(b)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(f) < 13 {
			out[i] = -1
			continue
		}
		u, _ := strconv.ParseFloat(f[11], 64)
		st, _ := strconv.ParseFloat(f[12], 64)
		out[i] = (u + st) / clockTicks
	}
	return out
}

// ioCounts reads the processes' read and write system call counts.
func ioCounts(pids []int) [][2]float64 {
	out := make([][2]float64, len(pids))
	for i, pid := range pids {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/io", pid))
		if err != nil {
			continue
		}
		for _, l := range strings.Split(string(b), "\n") {
			k, v, _ := strings.Cut(l, ":")
			n, _ := strconv.ParseFloat(strings.TrimSpace(v), 64)
			switch k {
			case "syscr":
				out[i][0] = n
			case "syscw":
				out[i][1] = n
			}
		}
	}
	return out
}

// clockTicks is USER_HZ, the unit of /proc/PID/stat's times (100 on Linux).
const clockTicks = 100

type loadResult struct{ rps, p50, p99 float64 }

func load(c *http.Client, u string, workers int, d time.Duration) (loadResult, error) {
	var (
		mu       sync.Mutex
		lat      []float64
		failures atomic.Int64
		firstErr atomic.Value
	)
	deadline := time.Now().Add(d)
	var wg sync.WaitGroup
	start := time.Now()
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []float64
			for time.Now().Before(deadline) {
				t0 := time.Now()
				res, err := c.Get(u)
				if err == nil {
					_, err = io.Copy(io.Discard, res.Body)
					res.Body.Close()
					if err == nil && res.StatusCode != http.StatusOK {
						err = errors.New(res.Status)
					}
				}
				if err != nil {
					failures.Add(1)
					firstErr.CompareAndSwap(nil, err)
					continue
				}
				mine = append(mine, float64(time.Since(t0).Microseconds())/1000)
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	elapsed := time.Since(start).Seconds()
	if n := failures.Load(); n > 0 {
		return loadResult{}, fmt.Errorf("%d requests to %s failed, first: %v", n, u, firstErr.Load())
	}
	if len(lat) == 0 {
		return loadResult{}, fmt.Errorf("no request to %s completed", u)
	}
	slices.Sort(lat)
	return loadResult{rps: float64(len(lat)) / elapsed, p50: pct(lat, 0.50), p99: pct(lat, 0.99)}, nil
}

// measureRecovery kills the cloud (and so its edge) with -9, restarts it 2 s
// later, and measures from the edge listening again until a request through
// the tunnel succeeds.
func (s *stack) measureRecovery(o options, tun *http.Client, tunURL string) (map[string]float64, error) {
	var times []float64
	for i := 0; i < o.recoveries; i++ {
		s.cloud.Process.Kill()
		s.cloud.Process.Wait()
		time.Sleep(2 * time.Second)
		var err error
		if s.cloud, err = s.spawn("cloud", "cld-cloud", s.cloudArgs...); err != nil {
			return nil, err
		}
		if err := waitForFast(30*time.Second, func() error { return dial(s.edgeAddr) }); err != nil {
			return nil, fmt.Errorf("the edge did not listen again: %w", err)
		}
		listening := time.Now()
		tun.Transport.(*http.Transport).CloseIdleConnections()
		err = waitForFast(60*time.Second, func() error {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, tunURL+"/health", nil)
			res, err := tun.Do(req)
			if err != nil {
				return err
			}
			io.Copy(io.Discard, res.Body)
			res.Body.Close()
			if res.StatusCode != http.StatusOK || res.Request.URL.Host != strings.TrimPrefix(tunURL, "https://") {
				return fmt.Errorf("%s at %s", res.Status, res.Request.URL)
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("no request through the tunnel succeeded after the edge restart: %w", err)
		}
		rec := time.Since(listening).Seconds()
		times = append(times, rec)
		fmt.Printf("edge recovery %d: %.3f s from listening again to a request through the tunnel\n", i+1, rec)
	}
	return map[string]float64{"edge_recovery_s": median(times), "edge_recovery_max_s": slices.Max(times)}, nil
}

func report(out string, res map[string]float64) error {
	keys := make([]string, 0, len(res))
	for k := range res {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	fmt.Println()
	for _, k := range keys {
		fmt.Printf("%-24s %10.3f\n", k, res[k])
	}
	b, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return err
	}
	return os.WriteFile(out, append(b, '\n'), 0o644)
}

// measureInventory times a full inventory collection of this host (the
// real /proc, /sys and /etc, every collector) and returns the median of
// runs, in milliseconds.
func measureInventory(runs int) (float64, error) {
	stateDir, err := os.MkdirTemp("", "cld-bench-inventory-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(stateDir)
	platformFile := filepath.Join(stateDir, "cld.yaml")
	if err := os.WriteFile(platformFile, []byte("platform:\n  type: generic\n  name: Bench host\n  version: \"1.0\"\n"+
		"  applications: [{type: mivoice-business, version: \"10.1\"}]\n  license: {type: PERPETUAL, swa_status: ACTIVE, swa_expiry: 2030-01-01}\n"), 0o600); err != nil {
		return 0, err
	}
	cfg := inventory.DefaultConfig()
	cfg.SystemID, cfg.Trigger, cfg.StateDir = "bench", inventory.TriggerManual, stateDir
	cfg.Daemon = inventory.Daemon{Version: "bench"}
	cfg.Providers = inventory.Providers{
		Platform: inventory.PlatformFile(platformFile, "/", generic.Adapter{}),
		Tunnels:  func(context.Context) ([]inventory.Tunnel, error) { return nil, nil },
		Clock:    func(context.Context) (*inventory.Clock, error) { return &inventory.Clock{}, nil },
		Warnings: func(context.Context) ([]inventory.Warning, error) { return nil, nil },
	}
	var ms []float64
	for range runs {
		start := time.Now()
		r, err := inventory.Collect(context.Background(), cfg)
		if err != nil {
			return 0, fmt.Errorf("inventory: %w", err)
		}
		ms = append(ms, float64(time.Since(start).Microseconds())/1000)
		for _, c := range r.Collection {
			if c.Status == inventory.CollectorFailed {
				return 0, fmt.Errorf("inventory: collector %s failed: %s", c.Name, c.Detail)
			}
		}
	}
	return median(ms), nil
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func pct(sorted []float64, p float64) float64 {
	i := int(p * float64(len(sorted)-1))
	return sorted[i]
}

func dial(addr string) error {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err == nil {
		c.Close()
	}
	return err
}

func waitFor(d time.Duration, what string, f func() error) error {
	deadline := time.Now().Add(d)
	for {
		err := f()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("timed out waiting for %s: %w", what, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitForFast polls every 5 ms, for timing measurements.
func waitForFast(d time.Duration, f func() error) error {
	deadline := time.Now().Add(d)
	for {
		err := f()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return err
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func loadPool(file string) (*x509.CertPool, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	p := x509.NewCertPool()
	if !p.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("%s holds no PEM certificate", file)
	}
	return p, nil
}

// rssMB reads a process's resident set size.
func rssMB(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return -1
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseFloat(f[1], 64)
			return kb / 1024
		}
	}
	return -1
}

// peakRSS samples a process's RSS until stopped.
type peakRSS struct {
	stopc chan struct{}
	done  chan float64
}

func newPeakRSS(pid int) *peakRSS {
	p := &peakRSS{stopc: make(chan struct{}), done: make(chan float64)}
	go func() {
		var peak float64
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			peak = max(peak, rssMB(pid))
			select {
			case <-p.stopc:
				p.done <- peak
				return
			case <-t.C:
			}
		}
	}()
	return p
}

func (p *peakRSS) stop() float64 {
	close(p.stopc)
	return <-p.done
}
