// Package chaos is the fault-injection harness of `make chaos` (and its
// short set inside `make test`): the real cld and cld-cloud binaries, Debian's
// tinyproxy, a tmpfs state directory, and a fault proxy of its own between
// them. Each fault is followed by the same checks: the daemon recovers by
// itself (the time is measured), no state file is corrupt, no report is
// lost, no goroutine or file descriptor leaks. CHAOS=full runs every fault.
package chaos

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cloudlink/cld/agent/api"
	"github.com/cloudlink/cld/internal/gobuild"
)

var cldBin, cloudBin string

func TestMain(m *testing.M) {
	// The daemons' password hashes at bcrypt's lowest cost (cldtest hook).
	os.Setenv("CLD_TEST_PASSWORD_COST", "4")
	os.Exit(m.Run())
}

// buildBinaries builds the daemon as it ships (no cgo, no HTTP/2) plus the
// cldtest hooks (CLD_TEST_KILL_WRITE), and the cloud as the demo runs it,
// into a directory of t's. It runs inside the test, not in TestMain, so
// that go test counts the commands' sources among the test's inputs
// (internal/gobuild) and reruns it when they change.
func buildBinaries(t *testing.T) {
	dir := t.TempDir()
	cldBin, cloudBin = filepath.Join(dir, "cld"), filepath.Join(dir, "cld-cloud")
	noCgo := []string{"CGO_ENABLED=0"}
	for _, err := range []error{
		gobuild.Build(cldBin, "../cmd/cld", gobuild.Options{Flags: []string{"-tags", "nethttpomithttp2,cldtest"}, Env: noCgo}),
		gobuild.Build(cloudBin, "../cmd/cld-cloud", gobuild.Options{Env: noCgo}),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
}

// result is one row of the table.
type result struct {
	fault             string
	recovery          time.Duration
	lost, corrupt     int
	leakG, leakFD     int
	storm             string
	notes             []string
	failed            bool
	goroutines, files [2]int
}

type rig struct {
	t         *testing.T
	dir       string
	cloud     *cloudProc
	proxy     *faultProxy
	tiny      *tinyproxy
	d         *daemon
	origin    net.Listener
	browser   *http.Client
	publicURL string
	systems   map[string]bool
	full      bool
}

// TestChaos runs the faults one after the other against one daemon and
// prints the table (CHAOS_RESULTS=FILE also writes it there as Markdown).
func TestChaos(t *testing.T) {
	if testing.Short() {
		t.Skip("the chaos harness runs real processes; skipped with -short")
	}
	if _, err := os.Stat("/usr/bin/tinyproxy"); err != nil {
		t.Skip("tinyproxy is not installed (make deps)")
	}
	full := os.Getenv("CHAOS") == "full"
	buildBinaries(t)
	r := setup(t, full)
	faults := []struct {
		name  string
		short bool
		run   func(*rig, *result) (time.Time, error)
	}{
		{"edge killed (kill -9) and restarted after 2 s", true, faultEdgeRestart},
		{"network path stalled 35 s (nothing forwarded, nothing closed)", false, faultStall},
		{"HTTP proxy (tinyproxy) killed and restarted after 2 s", true, faultProxyRestart},
		{"cloud answers 500 for 15 s", false, faultMode(mode500, 15*time.Second)},
		// The short set's one cloud fault, shorter than the full set's.
		{"cloud answers 500 for 5 s", true, faultMode(mode500, 5*time.Second)},
		{"cloud answers slowly (20 s per request) for 30 s", false, faultMode(modeSlow, 30*time.Second)},
		{"cloud answers garbage for 15 s", false, faultMode(modeGarbage, 15*time.Second)},
		{"disk full (tmpfs state dir) while writing tunnels.json and the outbox", true, faultDiskFull},
		{"kill -9 writing tunnels.json (half written, synced, renamed)", false, faultKillWrite("tunnels.json")},
		{"kill -9 writing inventory-outbox.json (3 steps)", true, faultKillWrite("inventory-outbox.json")},
		{"kill -9 writing inventory.json (3 steps)", false, faultKillWrite("inventory.json")},
		{"kill -9 writing dashboard-users.json (3 steps)", false, faultKillWrite("dashboard-users.json")},
		{"kill -9 writing pm/credential.json (3 steps)", false, faultKillWrite("credential.json")},
		{"cloud clock +2 h, then back", false, faultClock("2h")},
		{"cloud clock -2 h, then back", false, faultClock("-2h")},
		{"daemon clock +2 h, then back", false, faultDaemonClock("2h")},
		{"daemon clock -2 h, then back", true, faultDaemonClock("-2h")},
	}
	var only *regexp.Regexp
	if o := os.Getenv("CHAOS_ONLY"); o != "" {
		only = regexp.MustCompile(o)
	}
	var results []*result
	for _, f := range faults {
		if !full && !f.short || only != nil && !only.MatchString(f.name) {
			continue
		}
		res := &result{fault: f.name}
		results = append(results, res)
		r.runFault(res, f.run)
	}
	if only == nil || only.MatchString("reconnect storm") {
		results = append(results, r.storm(full))
	}
	table := formatTable(results, full)
	fmt.Println(table)
	if p := os.Getenv("CHAOS_RESULTS"); p != "" {
		os.WriteFile(p, []byte(resultsHeading+table), 0o644)
	}
	for _, res := range results {
		if res.failed {
			t.Errorf("%s: %s", res.fault, strings.Join(res.notes, "; "))
		}
	}
	if t.Failed() {
		t.Logf("the daemon's log:\n%s", tail(r.d.out.String(), 200))
	}
}

// resultsHeading starts CHAOS_RESULTS (chaos/results.md).
const resultsHeading = "# The chaos harness's last run\n\nWritten by `make chaos` (the last of its runs in a row; see the README's \"Fault injection\"). Recovery is measured from the end of the fault (for kill -9, from the last restart) until the daemon is linked, its tunnel started and answering through the edge, and no report pending; goroutines and fds before → after.\n\n"

func tail(s string, n int) string {
	l := strings.Split(s, "\n")
	if len(l) > n {
		l = l[len(l)-n:]
	}
	return strings.Join(l, "\n")
}

func setup(t *testing.T, full bool) *rig {
	dir := t.TempDir()
	r := &rig{t: t, dir: dir, systems: map[string]bool{}, full: full}
	r.cloud = &cloudProc{data: filepath.Join(dir, "cloud"), listen: freeAddr(), edge: freeAddr()}
	if err := r.cloud.start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.cloud.kill)
	var err error
	if r.proxy, err = startFaultProxy(dir, r.cloud.url, r.cloud.caFile); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.proxy.close)
	r.tiny = &tinyproxy{dir: dir, addr: freeAddr()}
	if err := r.tiny.start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.tiny.kill)
	if r.origin, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	go http.Serve(r.origin, http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) { fmt.Fprintf(w, "origin: %s", req.URL.Path) }))
	t.Cleanup(func() { r.origin.Close() })

	ddir := filepath.Join(dir, "daemon")
	os.MkdirAll(ddir, 0o700)
	if r.d, err = newDaemon(ddir, r.proxy.url, r.proxy.caPEM, r.tiny.addr, r.origin.Addr().String()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.d.kill9)
	// The state directory on a small tmpfs of its own, to fill it (root only).
	if os.Geteuid() == 0 {
		os.MkdirAll(r.d.state, 0o700)
		if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=4m,mode=0700", "cld-chaos", r.d.state).CombinedOutput(); err != nil {
			t.Fatalf("mount tmpfs: %v %s", err, out)
		}
		t.Cleanup(func() {
			r.d.kill9()
			if out, err := exec.Command("umount", r.d.state).CombinedOutput(); err != nil {
				t.Errorf("umount %s: %v %s", r.d.state, err, out)
			}
		})
	}
	if err := r.d.start(); err != nil {
		t.Fatalf("%v\n%s", err, r.d.out.String())
	}
	if err := r.d.link(); err != nil {
		t.Fatalf("link: %v\n%s", err, r.d.out.String())
	}
	if err := r.d.startTunnel("web"); err != nil {
		t.Fatalf("tunnel start: %v\n%s", err, r.d.out.String())
	}
	if r.browser, err = edgeBrowser(r.cloud.edge, r.cloud.caFile); err != nil {
		t.Fatal(err)
	}
	if ok, why := r.waitHealthy(60 * time.Second); !ok {
		t.Fatalf("not healthy after the setup: %s\n%s", why, r.d.out.String())
	}
	return r
}

// healthy: linked, the edge session up and the tunnel started, a request
// through the edge answered by the origin, no report waiting.
func (r *rig) healthy() (bool, string) {
	if !r.d.alive() {
		return false, "the daemon is not running"
	}
	st, err := r.d.status()
	if err != nil {
		return false, "status: " + err.Error()
	}
	if st.State != api.StateLinked {
		return false, "state " + st.State
	}
	r.systems[st.SystemID] = true
	ctx, cancel := r.d.ctx(5 * time.Second)
	ts, err := r.d.c.Tunnels(ctx)
	cancel()
	if err != nil {
		return false, "tunnels: " + err.Error()
	}
	var web *api.Tunnel
	for i := range ts.Tunnels {
		if ts.Tunnels[i].ID == "web" {
			web = &ts.Tunnels[i]
		}
	}
	if web == nil || !ts.Connected || web.Status != api.TunnelStarted || web.PublicURL == "" {
		return false, fmt.Sprintf("tunnel not started: connected=%v %+v", ts.Connected, web)
	}
	r.publicURL = strings.TrimSuffix(web.PublicURL, "/")
	code, body, err := browse(r.browser, r.publicURL+"/ping")
	if err != nil || code != 200 || body != "origin: /ping" {
		return false, fmt.Sprintf("through the edge: %d %q %v", code, body, err)
	}
	if st.Inventory.Pending {
		return false, "a report is pending: " + st.Inventory.LastError
	}
	return true, ""
}

func (r *rig) waitHealthy(timeout time.Duration) (bool, string) {
	var why string
	ok := waitFor(timeout, 100*time.Millisecond, func() bool {
		var ok bool
		ok, why = r.healthy()
		return ok
	})
	return ok, why
}

// counts samples goroutines and fds (the lowest of a few samples: the
// daemon's own periodic work comes and goes).
func (r *rig) counts() (g, f int) {
	return r.countsOf(r.d)
}

// countsOf sums the counts of the daemons, after the harness closed its
// own idle connections: the browser's to the edge (each holds a stream and
// the daemon's connection to the origin), the fault proxy's keep-alive
// ones to the daemons and the local API client's to their sockets.
func (r *rig) countsOf(ds ...*daemon) (g, f int) {
	r.browser.CloseIdleConnections()
	r.proxy.closeIdle()
	for _, d := range ds {
		d.tr.CloseIdleConnections()
	}
	g, f = 1<<30, 1<<30
	for i := 0; i < 3; i++ {
		var sg, sf int
		for _, d := range ds {
			if n, err := d.goroutines(); err == nil {
				sg += n
			}
			if n, err := d.fds(); err == nil {
				sf += n
			}
		}
		g, f = min(g, sg), min(f, sf)
		time.Sleep(200 * time.Millisecond) // spacing of the samples
	}
	return g, f
}

// runFault measures before, runs the fault, then checks the daemon.
func (r *rig) runFault(res *result, run func(*rig, *result) (time.Time, error)) {
	if ok, why := r.waitHealthy(60 * time.Second); !ok {
		res.failed = true
		res.notes = append(res.notes, "not healthy before the fault: "+why)
		return
	}
	g0, f0 := r.counts()
	end, err := run(r, res)
	if err != nil {
		res.failed = true
		res.notes = append(res.notes, err.Error())
		if !r.d.alive() {
			r.d.env = nil
			r.d.start()
		}
	}
	ok, why := r.waitHealthy(180 * time.Second)
	res.recovery = time.Since(end)
	if !ok {
		res.failed = true
		res.notes = append(res.notes, "did not recover: "+why)
	}
	r.check(res, g0, f0)
}

// check counts lost reports, corrupt files and leaks after a recovery.
func (r *rig) check(res *result, g0, f0 int) {
	made := r.d.reportsMade()
	at := map[string]bool{}
	for s := range r.systems {
		ids, err := r.cloud.reports(s)
		if err != nil {
			res.notes = append(res.notes, err.Error())
			res.failed = true
		}
		for id := range ids {
			at[id] = true
		}
	}
	for id := range made {
		if !at[id] {
			res.lost++
			res.notes = append(res.notes, "report "+id+" never reached the cloud")
		}
	}
	bad := r.d.stateProblems()
	res.corrupt = len(bad)
	res.notes = append(res.notes, bad...)
	// Leaks: after the system settles, the counts come back to where they
	// were (polled; the lowest seen counts).
	g1, f1 := 1<<30, 1<<30
	waitFor(60*time.Second, 500*time.Millisecond, func() bool {
		g, f := r.counts()
		g1, f1 = min(g1, g), min(f1, f)
		return g1 <= g0 && f1 <= f0
	})
	res.goroutines, res.files = [2]int{g0, g1}, [2]int{f0, f1}
	if os.Getenv("CHAOS_DEBUG") != "" && (g1 > g0 || f1 > f0) && r.d.cmd != nil {
		// CHAOS_DEBUG=1: what the daemon holds open after a leak.
		es, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", r.d.cmd.Process.Pid))
		for _, e := range es {
			l, _ := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", r.d.cmd.Process.Pid, e.Name()))
			res.notes = append(res.notes, fmt.Sprintf("fd %s → %s", e.Name(), l))
		}
		if os.Getenv("CHAOS_DEBUG") == "dump" {
			out, _ := exec.Command("ss", "-tnpx").CombinedOutput()
			r.t.Logf("ss:\n%s", out)
			r.d.cmd.Process.Signal(syscall.SIGQUIT)
			<-r.d.done
			r.t.Logf("goroutines:\n%s", r.d.out.String()[max(0, len(r.d.out.String())-80000):])
		}
	}
	res.leakG, res.leakFD = max(0, g1-g0), max(0, f1-f0)
	if res.lost > 0 || res.corrupt > 0 || res.leakG > 0 || res.leakFD > 0 {
		res.failed = true
	}
}

// submitAsync asks for a report while the fault lasts (it may fail: the
// report then waits in the outbox and must arrive after the recovery).
func (r *rig) submitAsync() {
	go r.d.submit(40 * time.Second)
}

func faultEdgeRestart(r *rig, res *result) (time.Time, error) {
	r.cloud.kill()
	r.submitAsync()
	time.Sleep(2 * time.Second) // the outage
	if err := r.cloud.start(); err != nil {
		return time.Now(), err
	}
	return time.Now(), nil
}

func faultStall(r *rig, res *result) (time.Time, error) {
	r.proxy.setMode(modeStall)
	r.submitAsync()
	time.Sleep(35 * time.Second) // longer than the keep-alive's detection (25 s)
	r.proxy.setMode("")
	return time.Now(), nil
}

func faultProxyRestart(r *rig, res *result) (time.Time, error) {
	r.tiny.kill()
	r.submitAsync()
	time.Sleep(2 * time.Second) // the outage
	return time.Now(), r.tiny.start()
}

func faultMode(mode string, d time.Duration) func(*rig, *result) (time.Time, error) {
	return func(r *rig, res *result) (time.Time, error) {
		r.proxy.setMode(mode)
		r.proxy.dropAll() // the daemon's connections break, so that it meets the fault
		r.submitAsync()
		time.Sleep(d) // the fault's duration
		r.proxy.setMode("")
		return time.Now(), nil
	}
}

// faultDiskFull fills the state directory's tmpfs, then changes a tunnel
// and asks for a report (both writes fail), then frees the space.
func faultDiskFull(r *rig, res *result) (time.Time, error) {
	if os.Geteuid() != 0 {
		res.notes = append(res.notes, "skipped: needs root for the tmpfs")
		return time.Now(), nil
	}
	filler := filepath.Join(r.d.state, "filler")
	f, err := os.Create(filler)
	if err != nil {
		return time.Now(), err
	}
	buf := make([]byte, 64<<10)
	for {
		if _, err := f.Write(buf); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				f.Close()
				return time.Now(), err
			}
			break
		}
	}
	// The last bytes too, so that not even a small file fits.
	for _, n := range []int{4096, 512, 1} {
		for {
			if _, err := f.Write(buf[:n]); err != nil {
				break
			}
		}
	}
	f.Close()
	errStart := r.d.startTunnel("spare")
	errSubmit := r.d.submit(10 * time.Second)
	res.notes = append(res.notes, fmt.Sprintf("while full: tunnel start: %v; report: %v", short(errStart), short(errSubmit)))
	os.Remove(filler)
	end := time.Now()
	// The spare tunnel's choice is what the daemon says it is, on disk too.
	ctx, cancel := r.d.ctx(5 * time.Second)
	ts, err := r.d.c.Tunnels(ctx)
	cancel()
	if err == nil {
		for _, tu := range ts.Tunnels {
			if tu.ID == "spare" && tu.Enabled {
				r.d.stopTunnel("spare")
			}
		}
	}
	return end, nil
}

func short(err error) string {
	if err == nil {
		return "ok"
	}
	s := err.Error()
	if len(s) > 80 {
		s = s[:80] + "…"
	}
	return s
}

// faultKillWrite restarts the daemon with CLD_TEST_KILL_WRITE at each step
// of a write of name, makes it write the file, waits for the kill and
// starts it again; the recovery is measured from the last restart.
func faultKillWrite(name string) func(*rig, *result) (time.Time, error) {
	return func(r *rig, res *result) (time.Time, error) {
		var end time.Time
		for _, step := range []string{"partial", "synced", "renamed"} {
			if ok, why := r.waitHealthy(60 * time.Second); !ok {
				return time.Now(), fmt.Errorf("before %s: not healthy: %s", step, why)
			}
			if err := r.d.stop(); err != nil {
				return time.Now(), err
			}
			r.d.env = []string{"CLD_TEST_KILL_WRITE=" + name + ":" + step}
			if err := r.d.start(); err != nil {
				return time.Now(), err
			}
			killed := func() bool { return !r.d.alive() }
			// Make the daemon write the file (the start may have done it).
			if !killed() {
				switch name {
				case "tunnels.json":
					r.d.startTunnel("spare")
				case "inventory-outbox.json", "inventory.json":
					r.d.submit(20 * time.Second)
				case "dashboard-users.json":
					ctx, cancel := r.d.ctx(20 * time.Second)
					r.d.c.SetDashboardUser(ctx, api.DashboardUser{Username: "admin", Password: fmt.Sprintf("chaos-password-%d", time.Now().UnixNano())})
					cancel()
				case "credential.json":
					ctx, cancel := r.d.ctx(20 * time.Second)
					r.d.c.SetPMCredential(ctx, api.PMCredential{Username: "pmadmin", Password: fmt.Sprintf("chaos-pm-%d", time.Now().UnixNano())})
					cancel()
				}
			}
			if !waitFor(30*time.Second, 20*time.Millisecond, killed) {
				return time.Now(), fmt.Errorf("not killed writing %s at %s", name, step)
			}
			r.d.cmd = nil
			r.d.env = nil
			if err := r.d.start(); err != nil {
				return time.Now(), fmt.Errorf("restart after the kill at %s: %v", step, err)
			}
			end = time.Now()
			if name == "tunnels.json" {
				// The choice is the old or the new one; put it back.
				if ok := waitFor(10*time.Second, 50*time.Millisecond, func() bool { return r.d.stopTunnel("spare") == nil }); !ok {
					return end, fmt.Errorf("after the kill at %s: the spare tunnel cannot be stopped", step)
				}
			}
		}
		return end, nil
	}
}

// faultClock moves the cloud's clock, waits until the daemon sees the
// drift, and moves it back.
func faultClock(offset string) func(*rig, *result) (time.Time, error) {
	return func(r *rig, res *result) (time.Time, error) {
		if out, err := r.cloud.cli("clock", "offset", "--data", r.cloud.data, offset); err != nil {
			return time.Now(), fmt.Errorf("clock offset: %v %s", err, out)
		}
		r.submitAsync()
		seen := waitFor(60*time.Second, 200*time.Millisecond, func() bool {
			st, err := r.d.status()
			return err == nil && st.Clock.MeasuredAt != nil && (st.Clock.DriftSeconds > 3600 || st.Clock.DriftSeconds < -3600)
		})
		if !seen {
			res.notes = append(res.notes, "the daemon did not measure the drift within 60 s")
		}
		if out, err := r.cloud.cli("clock", "offset", "--data", r.cloud.data, "0"); err != nil {
			return time.Now(), fmt.Errorf("clock offset 0: %v %s", err, out)
		}
		return time.Now(), nil
	}
}

// faultDaemonClock moves the daemon's clock (its cldtest hook,
// CLD_TEST_CLOCK_FILE), waits until it measures the drift, and moves it back.
func faultDaemonClock(offset string) func(*rig, *result) (time.Time, error) {
	return func(r *rig, res *result) (time.Time, error) {
		if err := os.WriteFile(r.d.clockFile, []byte(offset+"\n"), 0o644); err != nil {
			return time.Now(), err
		}
		r.submitAsync()
		seen := waitFor(60*time.Second, 200*time.Millisecond, func() bool {
			st, err := r.d.status()
			return err == nil && st.Clock.MeasuredAt != nil && (st.Clock.DriftSeconds > 3600 || st.Clock.DriftSeconds < -3600)
		})
		if !seen {
			res.notes = append(res.notes, "the daemon did not measure the drift within 60 s")
		}
		return time.Now(), os.WriteFile(r.d.clockFile, []byte("0\n"), 0o644)
	}
}

func formatTable(results []*result, full bool) string {
	var b bytes.Buffer
	set := "short"
	if full {
		set = "full"
	}
	fmt.Fprintf(&b, "| fault (%s set) | recovery | reports lost | state corruptions | leaked goroutines | leaked fds | reconnect storm peak | |\n", set)
	fmt.Fprintf(&b, "|---|---|---|---|---|---|---|---|\n")
	for _, r := range results {
		verdict := "ok"
		if r.failed {
			verdict = "FAILED"
		}
		storm := r.storm
		if storm == "" {
			storm = "–"
		}
		fmt.Fprintf(&b, "| %s | %.1f s | %d | %d | %d (%d → %d) | %d (%d → %d) | %s | %s |\n", r.fault, r.recovery.Seconds(), r.lost, r.corrupt,
			r.leakG, r.goroutines[0], r.goroutines[1], r.leakFD, r.files[0], r.files[1], storm, verdict)
	}
	b.WriteString("\n")
	for _, r := range results {
		for _, n := range r.notes {
			fmt.Fprintf(&b, "- %s: %s\n", r.fault, n)
		}
	}
	return b.String()
}

// storm: many daemons with a started tunnel each, the cloud down for a
// while and back; the tunnel connection attempts per second at the cloud
// (the fault proxy counts them) against the number of agents.
func (r *rig) storm(full bool) *result {
	n, outage := 8, 5*time.Second
	if full {
		n, outage = 16, 40*time.Second
	}
	res := &result{fault: fmt.Sprintf("reconnect storm: %d daemons, cloud down %v", n+1, outage)}
	fail := func(format string, args ...any) *result {
		res.failed = true
		res.notes = append(res.notes, fmt.Sprintf(format, args...))
		return res
	}
	if ok, why := r.waitHealthy(60 * time.Second); !ok {
		return fail("not healthy before: %s", why)
	}
	var ds []*daemon
	defer func() {
		for _, d := range ds {
			d.kill9()
		}
	}()
	for i := 0; i < n; i++ {
		dir := filepath.Join(r.dir, fmt.Sprintf("storm-%02d", i))
		os.MkdirAll(dir, 0o700)
		d, err := newDaemon(dir, r.proxy.url, r.proxy.caPEM, "", r.origin.Addr().String())
		if err != nil {
			return fail("%v", err)
		}
		ds = append(ds, d)
		if err := d.start(); err != nil {
			return fail("storm daemon %d: %v", i, err)
		}
		if err := d.link(); err != nil {
			return fail("storm daemon %d: link: %v", i, err)
		}
		if err := d.startTunnel("web"); err != nil {
			return fail("storm daemon %d: tunnel: %v", i, err)
		}
	}
	connected := func(d *daemon) bool {
		ctx, cancel := d.ctx(3 * time.Second)
		defer cancel()
		ts, err := d.c.Tunnels(ctx)
		return err == nil && ts.Connected
	}
	all := func() bool {
		for _, d := range ds {
			if !connected(d) {
				return false
			}
		}
		ok, _ := r.healthy()
		return ok
	}
	if !waitFor(120*time.Second, 200*time.Millisecond, all) {
		return fail("the storm daemons did not all connect")
	}
	g0, f0 := r.counts()
	sg0, sf0 := r.countsOf(ds...)

	t0 := time.Now()
	r.cloud.kill()
	time.Sleep(outage) // the outage
	if err := r.cloud.start(); err != nil {
		return fail("%v", err)
	}
	t1 := time.Now()
	if !waitFor(180*time.Second, 100*time.Millisecond, all) {
		res.recovery = time.Since(t1)
		return fail("not all daemons reconnected")
	}
	t2 := time.Now()
	res.recovery = t2.Sub(t1)
	peak, total := r.proxy.peak("tunnel", t0, t2)
	res.storm = fmt.Sprintf("%d/s (%d agents, %d attempts)", peak, n+1, total)
	if full {
		late, _ := r.proxy.peak("tunnel", t0.Add(31*time.Second), t1)
		res.storm += fmt.Sprintf("; after 30 s down: %d/s", late)
		// Past the fast phase each agent waits 1 s or more: the peak stays
		// under one attempt per agent and second.
		if late > n+1 {
			res.failed = true
			res.notes = append(res.notes, fmt.Sprintf("after 30 s the attempts reached %d/s for %d agents", late, n+1))
		}
	}
	// In the fast phase (100–400 ms) an agent tries at most 10 times a second.
	if peak > 10*(n+1) {
		res.failed = true
		res.notes = append(res.notes, fmt.Sprintf("peak %d/s for %d agents", peak, n+1))
	}
	r.check(res, g0, f0)
	// The storm daemons' counts come back too.
	var sg1, sf1 int
	waitFor(30*time.Second, 500*time.Millisecond, func() bool {
		sg1, sf1 = r.countsOf(ds...)
		return sg1 <= sg0 && sf1 <= sf0
	})
	res.leakG += max(0, sg1-sg0)
	res.leakFD += max(0, sf1-sf0)
	res.goroutines[0] += sg0
	res.goroutines[1] += sg1
	res.files[0] += sf0
	res.files[1] += sf1
	if res.leakG > 0 || res.leakFD > 0 {
		res.failed = true
	}
	return res
}
