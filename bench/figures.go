package main

// The measurements: each takes the routes, runs its rounds interleaved and
// records its figures in the results.

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/coder/websocket"
)

// key is a route's prefix in the results: cld's figures keep the earlier
// issues' names (tunnel_...).
func key(r route) string {
	if r.name == "cld" {
		return "tunnel"
	}
	return strings.ReplaceAll(r.name, " ", "_")
}

// rotated is the routes in round i's order.
func rotated(routes []route, i int) []route {
	n := i % len(routes)
	return append(slices.Clone(routes[n:]), routes[:n]...)
}

// idleSettle is how long the processes are left alone before the idle
// figures are taken.
const idleSettle = 20 * time.Second

// measureIdle watches the daemon (linked, two tunnels started) and the
// peers' agents (connected) with no traffic: memory, CPU and wake-ups.
func measureIdle(o options, res *results, s *stack, f *frp, ch *chisel) error {
	type watched struct {
		key string
		pid func() int
	}
	ws := []watched{{"daemon", s.cld.pid}}
	if f != nil {
		ws = append(ws, watched{"frpc", f.client.pid}, watched{"chisel_client", ch.client.pid})
	}
	// Settle first: the link's first inventory report, the tunnels'
	// reports and the collector's first cycles come right after the start.
	time.Sleep(idleSettle)
	cpu0, sw0 := make([]float64, len(ws)), make([]float64, len(ws))
	for i, w := range ws {
		cpu0[i], sw0[i] = cpuSeconds(w.pid()), switches(w.pid())
	}
	time.Sleep(time.Duration(o.idleSeconds * float64(time.Second)))
	for i, w := range ws {
		cpu := cpuSeconds(w.pid()) - cpu0[i]
		wakeups := (switches(w.pid()) - sw0[i]) / o.idleSeconds
		m := readMemory(w.pid())
		res.set(w.key+"_idle_rss_mb", m.rss)
		res.set(w.key+"_idle_rss_anon_mb", m.anon)
		res.set(w.key+"_idle_rss_file_mb", m.file)
		res.set(w.key+"_idle_wakeups_per_s", wakeups)
		res.set(w.key+"_idle_cpu_s_per_hour", cpu/o.idleSeconds*3600)
		if w.key == "daemon" {
			res.set("daemon_idle_cpu_pct", 100*cpu/o.idleSeconds)
		}
		fmt.Printf("idle %s: RSS %.1f MB (anon %.1f, file %.1f), %.2f wake-ups/s, %.1f CPU s/hour\n", w.key, m.rss, m.anon, m.file,
			wakeups, cpu/o.idleSeconds*3600)
	}
	return nil
}

// measureStreams opens o.streams WebSockets through each tunnel route and
// holds them idle: the agent's RSS before and with them.
func measureStreams(o options, res *results, cld route, routes []route) error {
	for _, r := range routes {
		if r.name == "direct" || r.name == "frp http" || r.name == "chisel tls" {
			continue
		}
		before := readMemory(r.agent()).rss
		var conns []*websocket.Conn
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		var err error
		for range o.streams {
			var c *websocket.Conn
			if c, err = r.websocket(ctx); err != nil {
				break
			}
			conns = append(conns, c)
		}
		cancel()
		time.Sleep(2 * time.Second)
		with := readMemory(r.agent()).rss
		for _, c := range conns {
			c.CloseNow()
		}
		if err != nil {
			return fmt.Errorf("opening %d streams: %w", o.streams, err)
		}
		k := key(r)
		if r.name == "cld" {
			k = "daemon"
		}
		res.set(k+"_rss_idle_streams_mb", with)
		res.set(k+"_kb_per_idle_stream", (with-before)*1024/float64(o.streams))
		fmt.Printf("%s: %d idle streams: agent RSS %.1f -> %.1f MB (%.1f KB a stream)\n", r.name, o.streams, before, with, (with-before)*1024/float64(o.streams))
		time.Sleep(2 * time.Second) // let them close
	}
	res.set("idle_streams", float64(o.streams))
	return nil
}

// measureRequests: small requests (/small, 1 KiB) at each concurrency,
// every route once per round.
func measureRequests(o options, res *results, routes []route) error {
	d := time.Duration(o.reqSeconds * float64(time.Second))
	type acc struct{ rps, p50, p99, agentUS, serverUS []float64 }
	all := map[string]*acc{}
	for round := range o.rounds {
		for _, c := range o.concurrency {
			for _, r := range rotated(routes, round) {
				a0, s0 := cpuSeconds(r.agent()), cpuSeconds(r.server())
				lr, err := r.load(c, d, "/small")
				if err != nil {
					return err
				}
				a1, s1 := cpuSeconds(r.agent()), cpuSeconds(r.server())
				k := fmt.Sprintf("%s_c%d", key(r), c)
				if all[k] == nil {
					all[k] = &acc{}
				}
				x := all[k]
				x.rps, x.p50, x.p99 = append(x.rps, lr.rps), append(x.p50, lr.p50), append(x.p99, lr.p99)
				x.agentUS = append(x.agentUS, (a1-a0)*1e6/float64(lr.requests))
				x.serverUS = append(x.serverUS, (s1-s0)*1e6/float64(lr.requests))
				fmt.Printf("round %d, %3d clients, %-10s %7.0f req/s  p50 %6.2f ms  p99 %6.2f ms  agent %4.0f µs/req  server %4.0f µs/req\n",
					round+1, c, r.name, lr.rps, lr.p50, lr.p99, x.agentUS[len(x.agentUS)-1], x.serverUS[len(x.serverUS)-1])
			}
		}
	}
	for k, x := range all {
		res.set(k+"_rps", median(x.rps))
		res.set(k+"_rps_min", slices.Min(x.rps))
		res.set(k+"_rps_max", slices.Max(x.rps))
		res.set(k+"_p50_ms", median(x.p50))
		res.set(k+"_p99_ms", median(x.p99))
		if !strings.HasPrefix(k, "direct") {
			res.set(k+"_agent_cpu_us_per_req", median(x.agentUS))
			res.set(k+"_server_cpu_us_per_req", median(x.serverUS))
		}
	}
	return nil
}

// measureBulk: downloads of o.bulkBytes, one at a time and eight at once,
// every route once per round; CPU per MB at the agent and the server.
func measureBulk(o options, res *results, routes []route) error {
	type acc struct{ mbps, agentMS, serverMS []float64 }
	all := map[string]*acc{}
	for round := range o.rounds {
		for _, par := range []int{1, 8} {
			for _, r := range rotated(routes, round) {
				a0, s0 := cpuSeconds(r.agent()), cpuSeconds(r.server())
				rate, err := r.download(o.bulkBytes, par)
				if err != nil {
					return err
				}
				a1, s1 := cpuSeconds(r.agent()), cpuSeconds(r.server())
				mb := float64(o.bulkBytes) * float64(par) / 1e6
				k := fmt.Sprintf("%s_bulk%d", key(r), par)
				if all[k] == nil {
					all[k] = &acc{}
				}
				x := all[k]
				x.mbps = append(x.mbps, rate/1e6)
				x.agentMS, x.serverMS = append(x.agentMS, (a1-a0)*1e3/mb), append(x.serverMS, (s1-s0)*1e3/mb)
				fmt.Printf("round %d, %d download(s), %-10s %6.0f MB/s  agent %.2f ms/MB  server %.2f ms/MB\n",
					round+1, par, r.name, rate/1e6, x.agentMS[len(x.agentMS)-1], x.serverMS[len(x.serverMS)-1])
			}
		}
	}
	for k, x := range all {
		res.set(k+"_mbps", median(x.mbps))
		res.set(k+"_mbps_min", slices.Min(x.mbps))
		res.set(k+"_mbps_max", slices.Max(x.mbps))
		if !strings.HasPrefix(k, "direct") {
			res.set(k+"_agent_cpu_ms_per_mb", median(x.agentMS))
			res.set(k+"_server_cpu_ms_per_mb", median(x.serverMS))
		}
	}
	res.set("bulk_bytes", float64(o.bulkBytes))
	return nil
}

// measureEcho: a WebSocket echo's round trip on each route.
func measureEcho(res *results, routes []route) error {
	for _, r := range routes {
		ms, err := r.wsEcho(500)
		if err != nil {
			return err
		}
		res.set(key(r)+"_ws_echo_ms", ms)
		fmt.Printf("WebSocket echo %-10s %.3f ms\n", r.name, ms)
	}
	return nil
}

// measureGrowth: rps, latency and the daemon's RSS with 1, 10 and 50
// started tunnels, the clients spread over them.
func measureGrowth(o options, res *results, s *stack, started []route) error {
	d := time.Duration(o.reqSeconds * float64(time.Second))
	for _, n := range o.tunnels {
		if n > len(started) {
			more, err := s.startTunnels(len(started)+1, n)
			if err != nil {
				return err
			}
			started = append(started, more...)
		}
		time.Sleep(2 * time.Second)
		idle := readMemory(s.cld.pid()).rss
		var rps, p99 []float64
		for range o.rounds {
			lr, err := loadAll(started[:n], 32, d, "/small")
			if err != nil {
				return err
			}
			rps, p99 = append(rps, lr.rps), append(p99, lr.p99)
		}
		k := fmt.Sprintf("tunnels_%d", n)
		res.set(k+"_rps", median(rps))
		res.set(k+"_p99_ms", median(p99))
		res.set(k+"_daemon_idle_rss_mb", idle)
		fmt.Printf("%d tunnels started: %.0f req/s at 32 clients over them, p99 %.2f ms, daemon RSS %.1f MB before the load\n", n, median(rps), median(p99), idle)
	}
	return nil
}

// measureRecovery kills each route's server with -9 and restarts it: the
// time from its listening again to a request through the route.
func measureRecovery(o options, res *results, s *stack, cld route, f *frp, ch *chisel) error {
	type rec struct {
		key     string
		r       route
		restart func() error
	}
	recs := []rec{{"edge", cld, s.restartEdge}}
	if f != nil {
		recs = append(recs, rec{"frp", f.routes()[0], f.restartServer}, rec{"chisel", ch.route(), ch.restartServer})
	}
	for _, x := range recs {
		var times []float64
		for i := range o.recoveries {
			if err := x.restart(); err != nil {
				return fmt.Errorf("restarting the %s server: %w", x.key, err)
			}
			listening := time.Now()
			err := waitForFast(60*time.Second, func() error {
				k, err := newClient(x.r, "/small")
				if err != nil {
					return err
				}
				defer k.close()
				_, err = k.do()
				return err
			})
			if err != nil {
				return fmt.Errorf("no request through %s after its server restarted: %w", x.r.name, err)
			}
			times = append(times, time.Since(listening).Seconds())
			fmt.Printf("%s recovery %d: %.3f s from listening again to a request through it\n", x.r.name, i+1, times[i])
			time.Sleep(time.Second)
		}
		res.set(x.key+"_recovery_s", median(times))
		res.set(x.key+"_recovery_max_s", slices.Max(times))
	}
	return nil
}
