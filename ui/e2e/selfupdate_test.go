package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/cloudlink/cld/agent/api"
	"github.com/cloudlink/cld/internal/gobuild"
)

// The self-update's two versions, built with the same test release key.
const (
	v1Version = "0.1.0+1"
	v2Version = "0.2.0+2"
	// downloadFor is about how long the download of v2 takes through the
	// test's proxy (its bandwidth cap), so the dashboard can be seen
	// following it before the daemon restarts.
	downloadFor = 5 * time.Second
)

// TestUpdateEndToEnd: a v1 daemon (a test release key and version built
// in), linked to the stack's cloud through a proxy with a bandwidth cap;
// v2 (same key) published in the cloud. On the dashboard, Check now shows
// v2 available with Update now; Update now shows the update's state and
// progress, kept current by live.js without a reload, until the daemon
// restarts (re-exec) and the page goes to the sign-in by itself. Signed in
// again, the section shows v2 on trial; 15 s after it answered healthy the
// launcher confirms it and restarts it once more (the sign-in again); then
// About shows v2 and Last update "updated from v1", as `cld status --json`
// does. A background watch of `cld status --json` checks the whole course.
func TestUpdateEndToEnd(t *testing.T) {
	t.Parallel()
	requireChromium(t)
	began := time.Now()
	bin := buildBinaries(t)
	rel := buildRelease(t, bin)
	size := fileSize(t, rel.v2)
	px := startCapProxy(t, float64(size)/downloadFor.Seconds())
	st := startStack(t, stackOptions{cld: rel.v1, config: "proxy: http://" + px.addr() + "\n"})
	daemonLog := filepath.Join(st.dir, "cld.log")

	st.cli(strings.NewReader(cloudPassword), "link", "--socket", st.sock,
		"--username", "admin@demo.test", "--account", "100001", "--password-stdin")
	if s := st.cldStatus(); !s.Linked || s.Version != v1Version || s.Update == nil {
		t.Fatalf("after linking: linked %v, version %q, update %+v; want linked %s", s.Linked, s.Version, s.Update, v1Version)
	}
	rel.publish(t, filepath.Join(st.dir, "cloud"), rel.v2, v2Version)
	watch := watchStatus(t, st)

	b := newChromium(t, st.spki)
	b.recordLive()
	b.dashboardSignIn(st)
	b.expectCell("#about", "Version", v1Version)
	b.waitVisible(chromedp.CSS("#update"))
	if n := b.count("#update-now, #update-progress"); n != 0 {
		b.fail("before Check now", fmt.Errorf("the section shows Update now or progress (%d elements)", n))
	}

	// Check now: v2 is available, with Update now.
	b.clickAndLoad(chromedp.CSS("#update-check"))
	b.expectLocation(st.proxyURL + "/#update")
	b.expectText("body", "The release "+v2Version+" is available.")
	b.expectText("#update-available", v2Version, "MiB", "Update now")
	b.waitVisible(chromedp.CSS("#update-now"))
	if u := st.updateStatus(); u.Available == nil || u.Available.Version != v2Version || u.State != api.UpdateStateIdle {
		t.Fatalf("after Check now, cld update status --json: available %+v, state %q; want %s, idle", u.Available, u.State, v2Version)
	}

	// Update now: the section follows the update live until the restart
	// ends the session, and live.js sends the page to the sign-in.
	clicked := time.Now()
	b.clickAndLoad(chromedp.CSS("#update-now"))
	b.expectText("body", "The update to "+v2Version+" has begun.")
	b.waitVisible(chromedp.CSS("#update-progress"))
	b.waitSentToSignIn(2 * time.Minute)
	restarted := time.Now()
	checkLiveProgress(t, b.liveLog())

	// Signed in again: v2 runs on trial, the section says so.
	b.dashboardSignIn(st)
	b.expectCell("#about", "Version", v2Version)
	b.expectText("#update-progress-state", "Confirming the new version (on trial)")
	b.expectText("#update-progress", "you may have to sign in again")
	trialSeen := time.Now()

	// Confirmed, v2 starts once more: the sign-in again.
	b.waitSentToSignIn(time.Minute)
	confirmed := time.Now()
	final := waitUpdated(t, st, time.Minute)
	b.dashboardSignIn(st)
	b.expectCell("#about", "Version", v2Version)
	b.expectText("#update-last", "updated", "Updated from "+v1Version+" to "+v2Version+".")
	if n := b.count("#update-now, #update-progress, #update-available, #update-error"); n != 0 {
		b.fail("after the update", fmt.Errorf("the section still shows Update now, progress, a release available or an error (%d elements)", n))
	}
	if bad := st.strays(); len(bad) > 0 {
		t.Errorf("paths outside %s: %v", prefix, bad)
	}

	// `cld status --json` says the same.
	if !final.Linked || final.Version != v2Version {
		t.Errorf("cld status --json after the update: linked %v, version %q; want linked, %s", final.Linked, final.Version, v2Version)
	}
	if l := final.Update.LastUpdate; l.Version != v2Version || l.From != v1Version {
		t.Errorf("cld status --json: last update %+v, want updated from %s to %s", l, v1Version, v2Version)
	}
	if out := string(st.cli(nil, "update", "status", "--socket", st.sock)); !strings.Contains(out, "updated from "+v1Version) {
		t.Errorf("cld update status does not say updated from %s:\n%s", v1Version, out)
	}

	// The course as `cld status --json` saw it, and the trial in the log.
	checkCourse(t, watch.stop())
	checkTrial(t, daemonLog)
	if down := px.down.Load(); down < size {
		t.Errorf("the proxy carried %d bytes from the cloud, less than v2 (%d bytes): the download did not go through the configured proxy", down, size)
	}
	if logText, _ := os.ReadFile(daemonLog); strings.Contains(string(logText), "WARNING: DATA RACE") {
		t.Errorf("the race detector reported a data race in the daemon (see its log)")
	}
	t.Logf("v2 %d MiB; Update now → sign-in after the restart %s; → v2 on trial seen on the dashboard %s; → confirmed (sign-in again) %s; whole test %s",
		size>>20, restarted.Sub(clicked).Round(time.Millisecond), trialSeen.Sub(restarted).Round(time.Millisecond),
		confirmed.Sub(trialSeen).Round(time.Millisecond), time.Since(began).Round(time.Second))
}

// release is v1 and v2 of cld, and the test release key they carry.
type release struct {
	dir, v1, v2 string
	cloudBin    string
}

// buildRelease makes a release key with `cld-cloud release keygen` and
// builds cld twice with it (and the race detector, as the package's other
// binaries): v1 and v2, as the Makefile sets the version and key.
func buildRelease(t *testing.T, bin string) *release {
	t.Helper()
	dir, err := os.MkdirTemp("", "cld-e2e-release-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	r := &release{dir: dir, v1: filepath.Join(dir, "cld-v1"), v2: filepath.Join(dir, "cld-v2"), cloudBin: filepath.Join(bin, "cld-cloud")}
	if out, err := exec.Command(r.cloudBin, "release", "keygen", "--out", dir).CombinedOutput(); err != nil {
		t.Fatalf("cld-cloud release keygen: %v\n%s", err, out)
	}
	pub, err := os.ReadFile(filepath.Join(dir, "release.pub"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(pub)), "\n")
	key := strings.TrimSpace(lines[len(lines)-1])
	root := moduleRoot(t)
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, v := range []struct{ out, version string }{{r.v1, v1Version}, {r.v2, v2Version}} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ld := "-X github.com/cloudlink/cld/agent/build.Version=" + v.version + " -X github.com/cloudlink/cld/agent/build.ReleaseKey=" + key
			errs[i] = gobuild.Build(v.out, "./cmd/cld", gobuild.Options{Dir: root, Flags: []string{"-race", "-tags", "cldtest", "-ldflags", ld}})
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	return r
}

// publish signs a binary with the release key and publishes it on the
// production stage of the cloud whose data directory is data.
func (r *release) publish(t *testing.T, data, binary, version string) {
	t.Helper()
	out, err := exec.Command(r.cloudBin, "release", "publish", "--data", data, "--stage", "production", "--binary", binary,
		"--key", filepath.Join(r.dir, "release.key"), "--version", version, "--arch", runtime.GOARCH).CombinedOutput()
	if err != nil {
		t.Fatalf("cld-cloud release publish %s: %v\n%s", version, err, out)
	}
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

// capProxy is an HTTP proxy (CONNECT) whose tunnels carry at most rate
// bytes a second from the server to the client, like a slow uplink: the
// daemon's every connection to the cloud goes through it (`proxy:`).
type capProxy struct {
	ln   net.Listener
	rate float64
	down atomic.Int64 // bytes carried from the servers

	mu    sync.Mutex
	conns map[net.Conn]bool
	wg    sync.WaitGroup
}

func startCapProxy(t *testing.T, rate float64) *capProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &capProxy{ln: ln, rate: rate, conns: map[net.Conn]bool{}}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			if !p.track(c) {
				return
			}
			p.wg.Add(1)
			go p.handle(c)
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		p.mu.Lock()
		for c := range p.conns {
			c.Close()
		}
		p.conns = nil
		p.mu.Unlock()
		p.wg.Wait()
	})
	return p
}

func (p *capProxy) addr() string { return p.ln.Addr().String() }

// track notes a connection to close at the end; false (and closed) once
// the proxy has ended.
func (p *capProxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.conns == nil {
		c.Close()
		return false
	}
	p.conns[c] = true
	return true
}

func (p *capProxy) untrack(c net.Conn) {
	c.Close()
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.conns, c)
}

func (p *capProxy) handle(c net.Conn) {
	defer p.wg.Done()
	defer p.untrack(c)
	br := bufio.NewReader(c)
	req, err := http.ReadRequest(br)
	if err != nil {
		return
	}
	if req.Method != http.MethodConnect {
		io.WriteString(c, "HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
		return
	}
	up, err := net.DialTimeout("tcp", req.Host, 10*time.Second)
	if err != nil {
		io.WriteString(c, "HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
		return
	}
	if !p.track(up) {
		return
	}
	defer p.untrack(up)
	if _, err := io.WriteString(c, "HTTP/1.1 200 Connection established\r\n\r\n"); err != nil {
		return
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = io.Copy(up, br)
		up.Close()
		c.Close()
	}()
	p.pace(c, up)
	up.Close()
	c.Close()
	<-done
}

// pace copies src to dst at no more than p.rate bytes a second, without
// bursts after idle time.
func (p *capProxy) pace(dst io.Writer, src io.Reader) {
	buf := make([]byte, 16<<10)
	next := time.Now()
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
			p.down.Add(int64(n))
			if now := time.Now(); next.Before(now) {
				next = now
			}
			next = next.Add(time.Duration(float64(n) / p.rate * float64(time.Second)))
			time.Sleep(time.Until(next))
		}
		if err != nil {
			return
		}
	}
}

// statusPoint is what `cld status --json` said from a time on.
type statusPoint struct {
	at                     time.Time
	answered               bool
	version, state, result string
	linked                 bool
}

func (p statusPoint) String() string {
	if !p.answered {
		return "no answer"
	}
	s := p.version + " " + p.state
	if p.result != "" {
		s += " (last update " + p.result + ")"
	}
	if !p.linked {
		s += " unlinked"
	}
	return s
}

// statusWatch polls `cld status --json` in the background and keeps each
// change.
type statusWatch struct {
	once   sync.Once
	done   chan struct{}
	ended  chan struct{}
	points []statusPoint // written by the watch until ended
}

func watchStatus(t *testing.T, st *stack) *statusWatch {
	w := &statusWatch{done: make(chan struct{}), ended: make(chan struct{})}
	go func() {
		defer close(w.ended)
		for {
			p := statusPoint{at: time.Now()}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			out, err := exec.CommandContext(ctx, st.cld, "status", "--socket", st.sock, "--json").Output()
			cancel()
			var s api.Status
			if err == nil && json.Unmarshal(out, &s) == nil && s.Update != nil {
				p.answered, p.version, p.state, p.linked = true, s.Version, s.Update.State, s.Linked
				if l := s.Update.LastUpdate; l != nil {
					p.result = l.Result
				}
			}
			if n := len(w.points); n == 0 || p.String() != w.points[n-1].String() {
				w.points = append(w.points, p)
			}
			select {
			case <-w.done:
				return
			case <-time.After(100 * time.Millisecond):
			}
		}
	}()
	t.Cleanup(func() { w.stop() })
	return w
}

// stop ends the watch and returns what it saw.
func (w *statusWatch) stop() []statusPoint {
	w.once.Do(func() { close(w.done) })
	<-w.ended
	return w.points
}

// checkCourse checks the update's course as `cld status --json` saw it:
// v1 downloading, then v2 on trial (confirming), then v2 idle with the
// last update "updated", v1 never back; the trial lasted the launcher's
// 15 s (less the watch's polling).
func checkCourse(t *testing.T, points []statusPoint) {
	t.Helper()
	var course []string
	for _, p := range points {
		course = append(course, fmt.Sprintf("%s +%s", p, p.at.Sub(points[0].at).Round(100*time.Millisecond)))
	}
	t.Logf("cld status --json during the test:\n  %s", strings.Join(course, "\n  "))
	find := func(from int, ok func(statusPoint) bool) int {
		for i := from; i < len(points); i++ {
			if ok(points[i]) {
				return i
			}
		}
		return -1
	}
	down := find(0, func(p statusPoint) bool { return p.version == v1Version && p.state == api.UpdateStateDownloading })
	if down < 0 {
		t.Errorf("cld status --json never showed %s downloading", v1Version)
		return
	}
	trial := find(down, func(p statusPoint) bool { return p.version == v2Version && p.state == api.UpdateStateConfirming })
	if trial < 0 {
		t.Errorf("cld status --json never showed %s on trial (confirming) after the download", v2Version)
		return
	}
	done := find(trial, func(p statusPoint) bool {
		return p.version == v2Version && p.state == api.UpdateStateIdle && p.result == "updated" && p.linked
	})
	if done < 0 {
		t.Errorf("cld status --json never showed %s idle, linked, with the last update \"updated\" after its trial", v2Version)
		return
	}
	if back := find(trial, func(p statusPoint) bool { return p.answered && p.version != v2Version }); back >= 0 {
		t.Errorf("after the trial began, cld status --json showed %s", points[back])
	}
	if d := points[done].at.Sub(points[trial].at); d < 14*time.Second {
		t.Errorf("v2 was confirmed %s after cld status --json first showed it on trial; the trial lasts 15 s", d)
	}
}

// checkTrial checks in the daemon's log that the launcher tried v2 with
// the shipped timing and confirmed it 15 s after it answered healthy.
func checkTrial(t *testing.T, logPath string) {
	t.Helper()
	data, err := os.ReadFile(logPath)
	if err != nil {
		t.Fatal(err)
	}
	at := func(msg string) (time.Time, string) {
		for _, line := range strings.Split(string(data), "\n") {
			if !strings.Contains(line, `msg="`+msg+`"`) {
				continue
			}
			f := strings.Fields(line)
			if len(f) > 0 {
				if ts, err := time.Parse(time.RFC3339Nano, strings.TrimPrefix(f[0], "time=")); err == nil {
					return ts, line
				}
			}
		}
		return time.Time{}, ""
	}
	_, trying := at("trying the new version")
	healthy, _ := at("the new version answers healthy; watching it")
	confirmed, _ := at("the new version is confirmed healthy")
	switch {
	case !strings.Contains(trying, "version="+v2Version) || !strings.Contains(trying, "stable_for=15s"):
		t.Errorf("the daemon's log does not show the launcher trying %s for 15 s: %q", v2Version, trying)
	case healthy.IsZero() || confirmed.IsZero():
		t.Errorf("the daemon's log lacks the trial's healthy (%v) or confirmed (%v) line", healthy, confirmed)
	case confirmed.Sub(healthy) < 15*time.Second || confirmed.Sub(healthy) > 25*time.Second:
		t.Errorf("v2 was confirmed %s after it answered healthy, want the trial's 15 s", confirmed.Sub(healthy))
	default:
		t.Logf("the launcher confirmed %s %s after it answered healthy", v2Version, confirmed.Sub(healthy).Round(time.Millisecond))
	}
}

// waitUpdated waits until `cld status --json` shows v2 linked and idle
// with the last update "updated".
func waitUpdated(t *testing.T, st *stack, limit time.Duration) api.Status {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		s := st.cldStatus()
		if u := s.Update; s.Version == v2Version && s.Linked && u != nil && u.State == api.UpdateStateIdle && u.LastUpdate != nil && u.LastUpdate.Result == "updated" {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("cld status --json after %s: version %q, linked %v, update %+v", limit, s.Version, s.Linked, s.Update)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// liveEntry is what the page showed of a running update: recorded in the
// tab's session storage by recordLive's script whenever it changes, with
// the document it was shown in (load, a random ID per page load).
type liveEntry struct {
	Load     string  `json:"load"`
	Path     string  `json:"path"`
	Live     bool    `json:"live"` // the section has data-live
	State    *string `json:"state"`
	Progress *string `json:"progress"`
	T        float64 `json:"t"`
}

func (e liveEntry) String() string {
	if e.State == nil {
		return e.Path + ": no update running"
	}
	s := e.Path + ": " + *e.State
	if e.Progress != nil {
		s += ", " + *e.Progress
	}
	return s
}

// liveScript runs in every page the tab loads, before its own scripts.
const liveScript = `(() => {
	const key = "cld-e2e-live";
	const load = Math.random().toString(36).slice(2);
	let last = null;
	const text = (id) => { const e = document.getElementById(id); return e ? e.textContent.trim() : null; };
	const snap = () => {
		const sec = document.getElementById("update");
		const entry = { load, path: location.pathname, live: !!(sec && sec.hasAttribute("data-live")),
			state: text("update-progress-state"), progress: text("update-progress-text") };
		const sig = JSON.stringify(entry);
		if (sig === last) { return; }
		last = sig;
		entry.t = Date.now();
		const log = JSON.parse(sessionStorage.getItem(key) || "[]");
		log.push(entry);
		sessionStorage.setItem(key, JSON.stringify(log));
	};
	document.addEventListener("DOMContentLoaded", () => {
		snap();
		new MutationObserver(snap).observe(document.documentElement, { subtree: true, childList: true, characterData: true, attributes: true });
	});
})();`

// recordLive makes every page the tab loads from now on record what the
// update section shows (liveLog reads it).
func (b *chromium) recordLive() {
	b.t.Helper()
	b.do(func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
		_, err := cdp.Call(ctx, t, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: liveScript})
		return chromedp.Void{}, err
	})
}

func (b *chromium) liveLog() []liveEntry {
	b.t.Helper()
	raw, err := runStep(b, chromedp.Evaluate[string](`sessionStorage.getItem("cld-e2e-live") || "[]"`))
	if err != nil {
		b.fail("reading the recorded update section", err)
	}
	var log []liveEntry
	if err := json.Unmarshal([]byte(raw), &log); err != nil {
		b.t.Fatalf("the recorded update section is not JSON: %v\n%s", err, raw)
	}
	return log
}

// waitSentToSignIn waits, without touching the page, until it is the
// sign-in page (live.js reloads it when the daemon's answer has no
// session).
func (b *chromium) waitSentToSignIn(limit time.Duration) {
	b.t.Helper()
	deadline := time.Now().Add(limit)
	for {
		ok, err := runStep(b, chromedp.Evaluate[bool](`location.pathname === "`+prefix+`/login" && document.readyState === "complete" && !!document.getElementById("username")`))
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			var shown []string
			for _, e := range b.liveLog() {
				shown = append(shown, e.String())
			}
			b.fail("waiting for the page to go to the sign-in by itself", fmt.Errorf("not there after %s (%v); the update section showed:\n%s", limit, err, strings.Join(shown, "\n")))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// checkLiveProgress checks what the page after Update now showed, in one
// document (no reload): the update running (data-live), first downloading
// v2 with its progress, the progress changing and never going back, the
// states in their order; then the next page is the sign-in.
func checkLiveProgress(t *testing.T, log []liveEntry) {
	t.Helper()
	var lines []string
	for _, e := range log {
		lines = append(lines, fmt.Sprintf("%s [%s]", e, e.Load))
	}
	t.Logf("the update section as the tab showed it:\n  %s", strings.Join(lines, "\n  "))
	first := -1
	for i, e := range log {
		if e.State != nil {
			first = i
			break
		}
	}
	if first < 0 {
		t.Fatal("no page showed the update running")
	}
	load := log[first].Load
	var shown []liveEntry
	next := -1
	for i := first; i < len(log); i++ {
		if log[i].Load != load {
			next = i
			break
		}
		shown = append(shown, log[i])
	}
	if e := shown[0]; e.Path != prefix+"/" || !e.Live || !strings.HasPrefix(*e.State, "Downloading "+v2Version) || e.Progress == nil {
		t.Errorf("after Update now the section first showed %s (live %v), want downloading %s with its progress, live", e, e.Live, v2Version)
	}
	order := []string{"Downloading", "Verifying", "Installing", "Restarting"}
	rank, pct, changes := 0, -1, 0
	for i, e := range shown {
		if e.State == nil {
			t.Errorf("the section stopped showing the update before the restart: %s", e)
			continue
		}
		r := -1
		for j, w := range order {
			if strings.HasPrefix(*e.State, w) {
				r = j
			}
		}
		if r < rank {
			t.Errorf("the section showed %q after %q", *e.State, order[rank])
		} else {
			rank = r
		}
		if e.Progress != nil && r == 0 {
			n, err := strconv.Atoi(strings.Fields(*e.Progress + " x")[0])
			if err != nil || n < pct {
				t.Errorf("the download's progress went from %d %% to %q", pct, *e.Progress)
			}
			pct = n
		}
		if i > 0 {
			changes++
		}
	}
	if changes < 2 {
		t.Errorf("the section changed %d times without a reload while v2 downloaded for about %s; live.js polls every second", changes, downloadFor)
	}
	if next < 0 || log[next].Path != prefix+"/login" {
		t.Errorf("after the update section the tab did not go to the sign-in page")
	}
}

// expectCell checks the text of a table's row (by its heading).
func (b *chromium) expectCell(table, heading, want string) {
	b.t.Helper()
	got, err := runStep(b, chromedp.Evaluate[string](fmt.Sprintf(`(() => {
		for (const tr of document.querySelectorAll(%q + " tr")) {
			const th = tr.querySelector("th"), td = tr.querySelector("td");
			if (th && td && th.textContent.trim() === %q) { return td.textContent.trim(); }
		}
		return "(no row)";
	})()`, table, heading)))
	if err != nil {
		b.fail("reading "+table, err)
	}
	if got != want {
		b.fail(table, fmt.Errorf("%s shows %q, want %q", heading, got, want))
	}
}

// count is the number of elements a selector matches.
func (b *chromium) count(css string) int {
	b.t.Helper()
	n, err := runStep(b, chromedp.Evaluate[int](fmt.Sprintf(`document.querySelectorAll(%q).length`, css)))
	if err != nil {
		b.fail("counting "+css, err)
	}
	return n
}
