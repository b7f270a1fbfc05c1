package tunnel

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// Benchmarks and measurements compare the same origin reached directly on
// loopback and through the tunnel (agent, WSS, edge), in the same run.
//
//	go test -run '^$' -bench . ./tunnel
//	TUNNEL_MEASURE=1 go test -run TestMeasure -v ./tunnel   (interleaved rounds, median ratios)

// benchEnv is an edge, an agent and an origin with a bulk source tunnel
// ("bulk": endless bytes) and an HTTP tunnel ("web").
type benchEnv struct {
	h         *harness
	bulkAddr  string
	origin    string // http://host:port
	direct    *http.Client
	tunneled  *http.Client
	publicURL string
	proxyURL  string // the same reverse proxy dialing the origin directly
}

func newBenchEnv(tb testing.TB, tuning string) *benchEnv {
	sc := applyTuning(tb, tuning)
	defer resetTuning()
	h := newHarness(tb, func(c *EdgeConfig) { c.Session = sc })
	h.url = "wss://" + h.srv.Listener.Addr().String() + pathConnect // no relay
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // endless source
		defer wg.Done()
		block := make([]byte, 64<<10)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				for {
					if _, err := c.Write(block); err != nil {
						return
					}
				}
			}()
		}
	}()
	tb.Cleanup(func() { ln.Close(); wg.Wait() })
	o := origin(tb)
	tbl := &table{started: map[string]Target{
		"bulk": {Address: ln.Addr().String()},
		"web":  {Address: o.Listener.Addr().String()},
	}}
	cfg := h.agentConfig("sys1", tbl.Resolve)
	cfg.Session = sc
	startAgent(tb, cfg)
	pub, _ := publicProxy(tb, h.edge, "sys1", "web")
	mk := func() *http.Client {
		return &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256, DisableCompression: true}}
	}
	plain := httptest.NewServer(&httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.Out.URL.Scheme, pr.Out.URL.Host = "http", o.Listener.Addr().String()
		},
		Transport: &http.Transport{MaxIdleConnsPerHost: 100},
	})
	tb.Cleanup(plain.Close)
	e := &benchEnv{h: h, bulkAddr: ln.Addr().String(), origin: o.URL, direct: mk(), tunneled: mk(), publicURL: pub.URL, proxyURL: plain.URL}
	tb.Cleanup(func() {
		e.direct.CloseIdleConnections()
		e.tunneled.CloseIdleConnections()
	})
	return e
}

func (e *benchEnv) dialBulk(tunneled bool) (net.Conn, error) {
	if tunneled {
		return e.h.edge.Open(context.Background(), "sys1", "bulk", "")
	}
	return net.Dial("tcp", e.bulkAddr)
}

// cpuTime is the process's user and system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// bulk reads n bytes from a fresh connection and returns the rate in B/s.
func (e *benchEnv) bulk(tunneled bool, n int64) (float64, error) {
	start := time.Now()
	c, err := e.dialBulk(tunneled)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	if _, err := io.CopyN(io.Discard, c, n); err != nil {
		return 0, err
	}
	return float64(n) / time.Since(start).Seconds(), nil
}

// requests runs small GETs from conc clients for d and returns the rate
// and the 50th and 99th percentile latencies.
func (e *benchEnv) requests(mode string, conc int, d time.Duration) (rps float64, p50, p99 time.Duration, err error) {
	client, url := e.direct, e.origin+"/small"
	switch mode {
	case "tunnel":
		client, url = e.tunneled, e.publicURL+"/small"
	case "proxy":
		url = e.proxyURL + "/small"
	}
	var mu sync.Mutex
	var lat []time.Duration
	var firstErr atomic.Value
	stop := time.Now().Add(d)
	var wg sync.WaitGroup
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []time.Duration
			for time.Now().Before(stop) {
				t0 := time.Now()
				if err := get(client, url); err != nil {
					firstErr.CompareAndSwap(nil, err)
					return
				}
				mine = append(mine, time.Since(t0))
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	if v := firstErr.Load(); v != nil {
		return 0, 0, 0, v.(error)
	}
	if len(lat) == 0 {
		return 0, 0, 0, fmt.Errorf("no request finished")
	}
	slices.Sort(lat)
	return float64(len(lat)) / d.Seconds(), lat[len(lat)/2], lat[len(lat)*99/100], nil
}

func get(c *http.Client, url string) error {
	resp, err := c.Get(url)
	if err != nil {
		return err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	return err
}

// applyTuning applies a comma-separated list of nocoalesce, nocork,
// nobatch, nogroup, serverbuf=N, window=N, copybuf=N (for measuring what each
// optimization does) to the sessions started until resetTuning; it returns
// the session configuration to use.
func applyTuning(tb testing.TB, spec string) SessionConfig {
	var sc SessionConfig
	for _, f := range strings.Split(spec, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(f), "=")
		n, _ := strconv.Atoi(v)
		switch k {
		case "", "default":
		case "nocoalesce":
			tune.noCoalesce = true
		case "nocork":
			tune.noCork = true
		case "nobatch":
			tune.noBatch = true
		case "nogroup":
			tune.noGroup = true
		case "serverbuf":
			tune.serverBuf = n
		case "window":
			sc.StreamWindow = uint32(n)
		case "copybuf":
			copyBufSize = n
			bufPool = sync.Pool{New: func() any { b := make([]byte, n); return &b }}
		default:
			tb.Fatalf("unknown tuning %q", k)
		}
	}
	return sc
}

func resetTuning() { tune = tuning{} }

func BenchmarkBulk(b *testing.B) {
	e := newBenchEnv(b, os.Getenv("TUNNEL_TUNE"))
	for _, mode := range []string{"direct", "tunnel"} {
		b.Run(mode, func(b *testing.B) {
			c, err := e.dialBulk(mode == "tunnel")
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			const chunk = 1 << 20
			b.SetBytes(chunk)
			buf := make([]byte, 64<<10)
			b.ResetTimer()
			for b.Loop() {
				if _, err := io.CopyBuffer(io.Discard, io.LimitReader(c, chunk), buf); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkSmallRequests(b *testing.B) {
	e := newBenchEnv(b, os.Getenv("TUNNEL_TUNE"))
	for _, mode := range []string{"direct", "tunnel"} {
		b.Run(mode, func(b *testing.B) {
			client, url := e.direct, e.origin+"/small"
			if mode == "tunnel" {
				client, url = e.tunneled, e.publicURL+"/small"
			}
			b.SetParallelism(8)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := get(client, url); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
		})
	}
}

// TestMeasure interleaves direct and tunnel rounds and prints the median of
// the per-round ratios (loopback varies a lot between runs on a shared
// machine). Only with TUNNEL_MEASURE=1. TUNNEL_ROUNDS sets the rounds;
// TUNNEL_CONFIGS, a ;-separated list of tunings (see applyTuning), measures
// several configurations side by side, each in its own edge and session.
func TestMeasure(t *testing.T) {
	if os.Getenv("TUNNEL_MEASURE") == "" {
		t.Skip("set TUNNEL_MEASURE=1 to measure")
	}
	rounds := 5
	if n, err := strconv.Atoi(os.Getenv("TUNNEL_ROUNDS")); err == nil {
		rounds = n
	}
	configs := strings.Split(os.Getenv("TUNNEL_CONFIGS"), ";")
	envs := make([]*benchEnv, len(configs))
	for i, c := range configs {
		envs[i] = newBenchEnv(t, c)
	}
	const n = 128 << 20
	bulk := make([][]float64, len(configs))
	rps := make([][]float64, len(configs))
	p99 := make([][]float64, len(configs))
	cpuB := make([][]float64, len(configs)) // CPU time per MiB, tunnel/direct
	cpuR := make([][]float64, len(configs)) // CPU time per request, tunnel/direct
	var proxied []float64                   // request rate through the reverse proxy alone, to direct
	for r := range rounds {
		c0 := cpuTime()
		d, err := envs[0].bulk(false, n)
		if err != nil {
			t.Fatal(err)
		}
		c1 := cpuTime()
		dr, _, dp99, err := envs[0].requests("direct", 16, time.Second)
		if err != nil {
			t.Fatal(err)
		}
		c2 := cpuTime()
		pr, _, _, err := envs[0].requests("proxy", 16, time.Second)
		if err != nil {
			t.Fatal(err)
		}
		proxied = append(proxied, pr/dr)
		dcpuB := float64(c1-c0) / float64(n>>20)
		dcpuR := float64(c2-c1) / (dr * 1)
		line := fmt.Sprintf("round %d: direct %.0f MB/s %.0f req/s p99 %s", r, d/1e6, dr, dp99.Round(time.Microsecond))
		for i, e := range envs {
			c0 := cpuTime()
			tu, err := e.bulk(true, n)
			if err != nil {
				t.Fatal(err)
			}
			c1 := cpuTime()
			tr, _, tp99, err := e.requests("tunnel", 16, time.Second)
			if err != nil {
				t.Fatal(err)
			}
			c2 := cpuTime()
			bulk[i] = append(bulk[i], tu/d)
			rps[i] = append(rps[i], tr/dr)
			p99[i] = append(p99[i], float64(tp99)/float64(dp99))
			cpuB[i] = append(cpuB[i], float64(c1-c0)/float64(n>>20)/dcpuB)
			cpuR[i] = append(cpuR[i], float64(c2-c1)/tr/dcpuR)
			line += fmt.Sprintf(" | [%s] %.0f MB/s %.0f req/s p99 %s", configs[i], tu/1e6, tr, tp99.Round(time.Microsecond))
		}
		t.Log(line)
	}
	t.Logf("median request rate through the reverse proxy alone (no tunnel), to direct: %.2f", median(proxied))
	for i, c := range configs {
		t.Logf("median ratios to direct over %d rounds [%s]: bulk %.2f, request rate %.2f, p99 latency %.2f; CPU per MiB %.1f×, per request %.1f×",
			rounds, c, median(bulk[i]), median(rps[i]), median(p99[i]), median(cpuB[i]), median(cpuR[i]))
	}
}

func median(v []float64) float64 {
	v = slices.Clone(v)
	sort.Float64s(v)
	return v[len(v)/2]
}
