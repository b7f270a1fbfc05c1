// Command bench is the load harness of `make bench`. It runs this project
// (the reference cloud with its tunnel edge and the daemon, linked) and
// its peers frp (frps/frpc: a tcp proxy over TLS, an http vhost proxy) and
// chisel (reverse mode, plain and TLS), built from the Go module proxy at
// pinned versions (peers.go), as real processes on loopback, all to one
// minimal plain-HTTP origin (origin.go) with one load generator
// (loadgen.go). "direct" is the load generator straight to the origin: the
// physical limit of this machine.
//
// Rounds are interleaved (every route once per round, in a rotating order)
// so that the machine's noise hits all alike; a figure is the median of
// its rounds, with their spread. It measures rps and latency at several
// numbers of concurrent clients, bulk downloads, a WebSocket echo, CPU per
// request and per MB at each agent and server, the daemon's memory idle,
// with many idle streams and under load, its idle wake-ups, the cost of
// more started tunnels, recovery after a server restart, and the
// Provisioning Manager sync and self-update of earlier issues. The results
// go to bench/results.json and the side-by-side table to bench/README.md
// and bench/growth.png (report.go).
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

type options struct {
	bin, out, readme, plot, cache string
	profile                       string
	rounds                        int
	concurrency                   []int
	tunnels                       []int
	reqSeconds                    float64
	bulkBytes                     int64
	recoveries                    int
	idleSeconds                   float64
	streams                       int
	keep, peers, pm, update       bool
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == "origin" {
		if err := runOrigin(os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, "bench origin:", err)
			os.Exit(1)
		}
		return
	}
	var o options
	var conc, tunnels string
	cache, _ := os.UserCacheDir()
	flag.StringVar(&o.bin, "bin", "bin", "directory with cld and cld-cloud")
	flag.StringVar(&o.out, "out", "bench/results.json", "where to write the results (JSON)")
	flag.StringVar(&o.readme, "readme", "bench/README.md", "the README whose results section is rewritten (\"\": none)")
	flag.StringVar(&o.plot, "plot", "bench/growth.png", "the PNG plot of cost growth (\"\": none)")
	flag.StringVar(&o.cache, "cache", filepath.Join(cache, "cld-bench"), "where the peers are built, outside the checkout")
	flag.StringVar(&o.profile, "profile", "", "directory for CPU and heap profiles of the daemon and the cloud (no recovery rounds then)")
	flag.IntVar(&o.rounds, "rounds", 3, "interleaved rounds per measurement")
	flag.StringVar(&conc, "concurrency", "1,8,32,128,512", "numbers of concurrent clients")
	flag.StringVar(&tunnels, "tunnels", "1,10,50", "numbers of started tunnels for the cost growth")
	flag.Float64Var(&o.reqSeconds, "request-seconds", 3, "duration of each small-request round")
	flag.Int64Var(&o.bulkBytes, "bulk-bytes", 100<<20, "bytes per bulk download")
	flag.IntVar(&o.recoveries, "recoveries", 3, "server kill -9 / restart cycles per route")
	flag.Float64Var(&o.idleSeconds, "idle-seconds", 120, "how long the idle daemon is watched (the wake-ups come in bursts: a ping every 10 s, the runtime's forced collection every 2 minutes)")
	flag.IntVar(&o.streams, "streams", 1000, "idle open streams for the memory per stream")
	flag.BoolVar(&o.keep, "keep", false, "keep the temporary directory (logs) after the run")
	flag.BoolVar(&o.peers, "peers", true, "build and measure frp and chisel")
	flag.BoolVar(&o.pm, "pm", true, "measure the Provisioning Manager sync")
	flag.BoolVar(&o.update, "update", true, "measure the self-update")
	flag.Parse()
	var err error
	if o.concurrency, err = ints(conc); err == nil {
		o.tunnels, err = ints(tunnels)
	}
	if err == nil {
		err = run(o)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func ints(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("%q: want numbers above 0, comma-separated", s)
		}
		out = append(out, n)
	}
	return out, nil
}

func run(o options) error {
	// Before anything else runs: a full inventory collection of this host.
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
	res := newResults()
	res.set("inventory_collect_ms", invMS)

	originCmd, origin, err := startOrigin(dir)
	if err != nil {
		return err
	}
	defer originCmd.Process.Kill()
	direct := route{name: "direct", dial: tcpDial(origin, nil), host: origin, agent: none, server: none}

	maxTunnels := 2
	for _, n := range o.tunnels {
		maxTunnels = max(maxTunnels, n)
	}
	s := &stack{dir: dir, bin: o.bin, socket: filepath.Join(dir, "cld.sock")}
	if o.profile != "" {
		if err := os.MkdirAll(o.profile, 0o755); err != nil {
			return err
		}
		s.profile = o.profile
		o.recoveries = 0
	}
	defer s.stop()
	if err := s.start(origin, maxTunnels); err != nil {
		return err
	}
	// Two tunnels started, as for the idle figures.
	cldRoutes, err := s.startTunnels(1, 2)
	if err != nil {
		return err
	}
	cld := cldRoutes[0]
	routes := []route{direct, cld}

	var f *frp
	var ch, chTLS *chisel
	if o.peers {
		bins, err := buildPeers(o.cache)
		if err != nil {
			return err
		}
		for name, p := range map[string]string{"frpc": bins.frpc, "chisel": bins.chisel} {
			if fi, err := os.Stat(p); err == nil {
				res.set(name+"_binary_mb", float64(fi.Size())/1e6)
			}
		}
		if f, err = startFrp(bins, dir, origin); err != nil {
			return err
		}
		defer f.stop()
		if ch, err = startChisel(bins, dir, origin, false); err != nil {
			return err
		}
		defer ch.stop()
		if chTLS, err = startChisel(bins, dir, origin, true); err != nil {
			return err
		}
		defer chTLS.stop()
		routes = append(append(routes, f.routes()...), ch.route(), chTLS.route())
	}
	for _, r := range routes {
		if err := waitRoute(r, 60*time.Second); err != nil {
			return err
		}
	}
	if fi, err := os.Stat(filepath.Join(o.bin, "cld")); err == nil {
		res.set("daemon_binary_mb", float64(fi.Size())/1e6) // as make build makes it (the packages strip it)
	}

	// Idle: linked, two tunnels started, no traffic; the peers' agents
	// connected, no traffic.
	if err := measureIdle(o, res, s, f, ch); err != nil {
		return err
	}
	if err := measureStreams(o, res, cld, routes); err != nil {
		return err
	}
	peak := newPeakRSS(cld.agent)
	if err := measureRequests(o, res, routes); err != nil {
		return err
	}
	if err := measureBulk(o, res, routes); err != nil {
		return err
	}
	res.set("daemon_load_rss_mb", peak.stop()[0])
	if err := measureEcho(res, routes); err != nil {
		return err
	}
	if err := measureGrowth(o, res, s, cldRoutes); err != nil {
		return err
	}
	if o.recoveries > 0 {
		if err := measureRecovery(o, res, s, cld, f, ch); err != nil {
			return err
		}
	}
	if o.pm {
		pm, err := s.measurePM()
		if err != nil {
			return err
		}
		res.setAll(pm)
	}
	if o.update {
		upd, err := s.measureUpdate()
		if err != nil {
			return err
		}
		res.setAll(upd)
	}
	if o.profile != "" {
		s.stop() // SIGTERM: the profiles are complete
		if err := profileTops(o.profile); err != nil {
			return err
		}
	}
	return res.report(o, routes)
}

// none is the process of a route that has none (direct).
func none() int { return 0 }
