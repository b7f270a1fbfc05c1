package main

// The report: bench/results.json, the side-by-side tables (printed and put
// into bench/README.md between its markers) and the cost-growth plot.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"
)

type results struct{ v map[string]float64 }

func newResults() *results { return &results{v: map[string]float64{}} }

func (r *results) set(k string, v float64) { r.v[k] = v }

func (r *results) setAll(m map[string]float64) {
	for k, v := range m {
		r.v[k] = v
	}
}

func (r *results) get(k string) float64 { return r.v[k] }

// val is the figure k, NaN when the run has none (shown as "–").
func (r *results) val(k string) float64 {
	if v, ok := r.v[k]; ok {
		return v
	}
	return math.NaN()
}

// peers are the routes of the peers, by their result keys.
var peerKeys = []string{"frp_tcp", "frp_http", "chisel", "chisel_tls"}

// best is the best peer's value of the figure suffix (the highest, or with
// lowest the lowest) and its key; it is 0 without peers.
func (r *results) best(suffix string, lowest bool) (float64, string) {
	var v float64
	var who string
	for _, p := range peerKeys {
		x, ok := r.v[p+suffix]
		if !ok || x <= 0 {
			continue
		}
		if who == "" || (lowest && x < v) || (!lowest && x > v) {
			v, who = x, p
		}
	}
	return v, who
}

// derive adds the ratios: to direct, and cld's to the best peer's.
func (r *results) derive() {
	for _, p := range append([]string{"tunnel"}, peerKeys...) {
		if _, ok := r.v[p+"_c32_rps"]; !ok {
			continue
		}
		r.set(p+"_rps_ratio", r.get(p+"_c32_rps")/r.get("direct_c32_rps"))
		r.set(p+"_p99_ratio", r.get(p+"_c32_p99_ms")/r.get("direct_c32_p99_ms"))
		r.set(p+"_bulk_ratio", r.get(p+"_bulk1_mbps")/r.get("direct_bulk1_mbps"))
		r.set(p+"_bulk8_ratio", r.get(p+"_bulk8_mbps")/r.get("direct_bulk8_mbps"))
	}
	// The earlier issues' names for the same figures.
	r.set("tunnel_rps", r.get("tunnel_c32_rps"))
	r.set("tunnel_p99_ms", r.get("tunnel_c32_p99_ms"))
	r.set("direct_rps", r.get("direct_c32_rps"))
	r.set("tunnel_bulk_mbps", r.get("tunnel_bulk1_mbps"))
	r.set("direct_bulk_mbps", r.get("direct_bulk1_mbps"))
	r.set("tunnel_daemon_cpu_us", r.get("tunnel_c32_agent_cpu_us_per_req"))
	r.set("tunnel_edge_cpu_us", r.get("tunnel_c32_server_cpu_us_per_req"))
	for _, f := range []struct {
		name, suffix string
		lowest       bool
	}{
		{"rps", "_c32_rps", false}, {"bulk", "_bulk1_mbps", false}, {"bulk8", "_bulk8_mbps", false},
		{"p99", "_c32_p99_ms", true}, {"agent_cpu_per_req", "_c32_agent_cpu_us_per_req", true},
		{"agent_cpu_per_mb", "_bulk1_agent_cpu_ms_per_mb", true}, {"ws_echo", "_ws_echo_ms", true},
	} {
		if b, _ := r.best(f.suffix, f.lowest); b > 0 {
			r.set("tunnel_"+f.name+"_vs_best_peer", r.get("tunnel"+f.suffix)/b)
		}
	}
}

// goal is one of the goals and whether the run met it.
type goal struct {
	what, want string
	got        float64
	format     string
	met        bool
}

func (r *results) goals() []goal {
	g := func(what, want, format string, got float64, met bool) goal {
		return goal{what: what, want: want, got: got, format: format, met: met}
	}
	rec := r.val("edge_recovery_s")
	return []goal{
		g("daemon CPU per request, × the best peer agent's", "≤ 0.75", "%.2f", r.val("tunnel_agent_cpu_per_req_vs_best_peer"), r.val("tunnel_agent_cpu_per_req_vs_best_peer") <= 0.75),
		g("daemon CPU per MB, × the best peer agent's", "≤ 0.75", "%.2f", r.val("tunnel_agent_cpu_per_mb_vs_best_peer"), r.val("tunnel_agent_cpu_per_mb_vs_best_peer") <= 0.75),
		g("whole-path rps at 32 clients, × the best peer's", "≥ 1.15", "%.2f", r.val("tunnel_rps_vs_best_peer"), r.val("tunnel_rps_vs_best_peer") >= 1.15),
		g("bulk (one download), × the best peer's", "≥ 1.5", "%.2f", r.val("tunnel_bulk_vs_best_peer"), r.val("tunnel_bulk_vs_best_peer") >= 1.5),
		g("p99 at 32 clients, × the best peer's", "≤ 1", "%.2f", r.val("tunnel_p99_vs_best_peer"), r.val("tunnel_p99_vs_best_peer") <= 1),
		g("recovery after the edge restarts", "< 0.5 s", "%.3f s", rec, rec > 0 && rec < 0.5),
		g("daemon idle RSS", "≤ 12 MB", "%.1f MB", r.val("daemon_idle_rss_mb"), r.val("daemon_idle_rss_mb") <= 12),
		g("daemon idle RssAnon", "≤ 5 MB", "%.1f MB", r.val("daemon_idle_rss_anon_mb"), r.val("daemon_idle_rss_anon_mb") <= 5),
		g("daemon memory per idle open stream", "≤ 8 KB", "%.1f KB", r.val("daemon_kb_per_idle_stream"), r.val("daemon_kb_per_idle_stream") <= 8),
		g("daemon idle wake-ups", "< 1 /s", "%.2f /s", r.val("daemon_idle_wakeups_per_s"), r.val("daemon_idle_wakeups_per_s") < 1),
	}
}

// machine describes where the run ran.
func machine() map[string]any {
	model := "unknown"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				model = strings.TrimSpace(v)
				break
			}
		}
	}
	return map[string]any{"cpu_model": model, "cores": runtime.NumCPU(), "go_version": runtime.Version(),
		"frp_version": frpVersion, "chisel_version": chiselVersion, "date": time.Now().UTC().Format(time.DateOnly)}
}

func (r *results) report(o options, routes []route) error {
	r.derive()
	out := map[string]any{}
	for k, v := range r.v {
		if !math.IsNaN(v) && !math.IsInf(v, 0) {
			out[k] = v
		}
	}
	for k, v := range machine() {
		out[k] = v
	}
	b, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(o.out), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(o.out, append(b, '\n'), 0o644); err != nil {
		return err
	}
	tables := r.tables(o, routes)
	fmt.Println()
	fmt.Println(tables)
	if o.plot != "" {
		if err := r.plot(o, routes, o.plot); err != nil {
			return err
		}
	}
	if o.readme != "" {
		return replaceSection(o.readme, tables)
	}
	return nil
}

const (
	beginMark = "<!-- results: written by make bench -->"
	endMark   = "<!-- end of results -->"
)

// replaceSection puts text between the README's markers (appended with
// them if it has none).
func replaceSection(file, text string) error {
	old, err := os.ReadFile(file)
	if err != nil && !os.IsNotExist(err) {
		return err
	}
	s := string(old)
	i, j := strings.Index(s, beginMark), strings.Index(s, endMark)
	section := beginMark + "\n\n" + text + "\n" + endMark
	if i >= 0 && j > i {
		s = s[:i] + section + s[j+len(endMark):]
	} else {
		s += "\n" + section + "\n"
	}
	return os.WriteFile(file, []byte(s), 0o644)
}

func (r *results) tables(o options, routes []route) string {
	var b strings.Builder
	m := machine()
	fmt.Fprintf(&b, "Run of %s on %s (%d cores), %s; frp %s, chisel %s; %d rounds, medians (the spread of the rounds in brackets).\n\n",
		m["date"], m["cpu_model"], m["cores"], m["go_version"], frpVersion, chiselVersion, o.rounds)
	f := func(format string, v float64) string {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return "–"
		}
		return fmt.Sprintf(format, v)
	}
	b.WriteString("**Side by side, 32 clients** (rps and latency of 1 KiB answers; bulk: one 100 MiB download, then eight at once; CPU of the agent on the host and of the server, from /proc):\n\n")
	b.WriteString("| route | rps | × direct | p50 ms | p99 ms | bulk MB/s | × direct | bulk ×8 MB/s | WebSocket echo ms | agent µs/req | server µs/req | agent ms/MB | server ms/MB |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, rt := range routes {
		k := key(rt)
		fmt.Fprintf(&b, "| %s | %s (%s–%s) | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", rt.name,
			f("%.0f", r.val(k+"_c32_rps")), f("%.0f", r.val(k+"_c32_rps_min")), f("%.0f", r.val(k+"_c32_rps_max")),
			f("%.2f", r.val(k+"_c32_rps")/r.val("direct_c32_rps")), f("%.2f", r.val(k+"_c32_p50_ms")), f("%.2f", r.val(k+"_c32_p99_ms")),
			f("%.0f", r.val(k+"_bulk1_mbps")), f("%.2f", r.val(k+"_bulk1_mbps")/r.val("direct_bulk1_mbps")), f("%.0f", r.val(k+"_bulk8_mbps")),
			f("%.3f", r.val(k+"_ws_echo_ms")), f("%.0f", r.val(k+"_c32_agent_cpu_us_per_req")), f("%.0f", r.val(k+"_c32_server_cpu_us_per_req")),
			f("%.2f", r.val(k+"_bulk1_agent_cpu_ms_per_mb")), f("%.2f", r.val(k+"_bulk1_server_cpu_ms_per_mb")))
	}
	b.WriteString("\n**Requests per second (p99 ms) by concurrent clients:**\n\n| route |")
	for _, c := range o.concurrency {
		fmt.Fprintf(&b, " %d |", c)
	}
	b.WriteString("\n|---|" + strings.Repeat("---|", len(o.concurrency)) + "\n")
	for _, rt := range routes {
		fmt.Fprintf(&b, "| %s |", rt.name)
		for _, c := range o.concurrency {
			k := fmt.Sprintf("%s_c%d", key(rt), c)
			fmt.Fprintf(&b, " %s (%s) |", f("%.0f", r.val(k+"_rps")), f("%.1f", r.val(k+"_p99_ms")))
		}
		b.WriteString("\n")
	}
	fmt.Fprintf(&b, "\n**Agents' memory and idle cost** (idle: connected, cld linked with two tunnels started, no traffic for %.0f s):\n\n", o.idleSeconds)
	b.WriteString("| agent | binary MB | idle RSS MB | RssAnon | RssFile | with idle streams MB | KB a stream | wake-ups/s | CPU s/hour |\n|---|---|---|---|---|---|---|---|---|\n")
	for _, a := range []struct{ name, k, stream, bin string }{
		{"cld", "daemon", "daemon", "daemon"}, {"frpc", "frpc", "frp_tcp", "frpc"}, {"chisel client", "chisel_client", "chisel", "chisel"},
	} {
		if _, ok := r.v[a.k+"_idle_rss_mb"]; !ok {
			continue
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", a.name, f("%.1f", r.val(a.bin+"_binary_mb")),
			f("%.1f", r.val(a.k+"_idle_rss_mb")), f("%.1f", r.val(a.k+"_idle_rss_anon_mb")), f("%.1f", r.val(a.k+"_idle_rss_file_mb")),
			f("%.1f", r.val(a.stream+"_rss_idle_streams_mb")), f("%.1f", r.val(a.stream+"_kb_per_idle_stream")),
			f("%.2f", r.val(a.k+"_idle_wakeups_per_s")), f("%.1f", r.val(a.k+"_idle_cpu_s_per_hour")))
	}
	fmt.Fprintf(&b, "\n(%0.f idle streams: WebSockets held open through the route. The daemon under load peaked at %s MB.)\n",
		r.val("idle_streams"), f("%.1f", r.val("daemon_load_rss_mb")))
	b.WriteString("\n**Recovery** (the server killed with -9 and started again: from its listening again to the first request through the route):\n\n| cld (edge) | frp (frps) | chisel (server) |\n|---|---|---|\n")
	fmt.Fprintf(&b, "| %s s | %s s | %s s |\n", f("%.3f", r.val("edge_recovery_s")), f("%.3f", r.val("frp_recovery_s")), f("%.3f", r.val("chisel_recovery_s")))
	b.WriteString("\n**Cost growth with started tunnels** (32 clients spread over them):\n\n| tunnels | rps | p99 ms | daemon RSS MB |\n|---|---|---|---|\n")
	for _, n := range o.tunnels {
		k := fmt.Sprintf("tunnels_%d", n)
		fmt.Fprintf(&b, "| %d | %s | %s | %s |\n", n, f("%.0f", r.val(k+"_rps")), f("%.2f", r.val(k+"_p99_ms")), f("%.1f", r.val(k+"_daemon_idle_rss_mb")))
	}
	if o.plot != "" {
		fmt.Fprintf(&b, "\n![rps and daemon RSS against clients and started tunnels](%s)\n", filepath.Base(o.plot))
	}
	b.WriteString("\n**Goals** (reported, never a test):\n\n| goal | wanted | measured | met |\n|---|---|---|---|\n")
	for _, g := range r.goals() {
		met := "no"
		if g.met {
			met = "yes"
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", g.what, g.want, f(g.format, g.got), met)
	}
	if bp, who := r.best("_c32_rps", false); bp > 0 {
		fmt.Fprintf(&b, "\nThe best peer on rps is %s (%.0f/s); on bulk ", strings.ReplaceAll(who, "_", " "), bp)
		bb, bwho := r.best("_bulk1_mbps", false)
		fmt.Fprintf(&b, "%s (%.0f MB/s).\n", strings.ReplaceAll(bwho, "_", " "), bb)
	}
	return b.String()
}

// profileTops prints `go tool pprof -top` of each profile in dir.
func profileTops(dir string) error {
	files, _ := filepath.Glob(filepath.Join(dir, "*.pprof"))
	slices.Sort(files)
	for _, f := range files {
		args := []string{"tool", "pprof", "-top", "-nodecount", "25"}
		if strings.Contains(f, ".heap.") {
			args = append(args, "-sample_index", "inuse_space")
		}
		out, err := exec.Command("go", append(args, f)...).CombinedOutput()
		if err != nil {
			return fmt.Errorf("go tool pprof %s: %v\n%s", f, err, out)
		}
		top := filepath.Join(dir, strings.TrimSuffix(filepath.Base(f), ".pprof")+".top.txt")
		if err := os.WriteFile(top, out, 0o644); err != nil {
			return err
		}
		fmt.Printf("\n%s:\n%s", f, bytes.TrimSpace(out))
	}
	return nil
}
