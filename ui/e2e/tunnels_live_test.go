package e2e

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/cloudlink/cld/agent/api"
)

// TestTunnelStatusLive: with the dashboard open, a tunnel started and
// stopped elsewhere (the CLI) changes its status on the page without a
// reload (a mark set in the page survives); started and stopped with the
// page's own buttons, the same (the form sent in the background, its
// message shown, the focus on the row's new button); and with JavaScript
// off, the buttons are plain forms that reload the page with the result.
func TestTunnelStatusLive(t *testing.T) {
	t.Parallel()
	requireChromium(t)
	origin, config := screenshotHost(t)
	defer origin.Close()
	edgeAddr := freeAddr(t)
	st := startStack(t, stackOptions{bin: buildFastBinaries(t), config: config, cloudArgs: []string{"--edge-listen", edgeAddr, "--edge-domain", edgeDomain}})
	st.cli(strings.NewReader(cloudPassword+"\n"), "link", "--socket", st.sock, "--username", "admin@demo.test", "--account", "100001", "--password-stdin")
	b := newChromium(t, st.spki)
	b.dashboardSignIn(st)
	b.waitVisible(chromedp.CSS("#tunnel-" + tunnelID))
	if _, err := runStep(b, chromedp.Evaluate[bool](`window.cldMark = 1; true`)); err != nil {
		b.fail("marking the page", err)
	}
	status := chromedp.CSS("#tunnel-" + tunnelID + " .status")
	watch := func(want string) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			got, err := runStep(b, chromedp.Text(status))
			if err == nil && strings.TrimSpace(got) == want {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the tunnel's status on the page is %q (%v), want %q", got, err, want)
			}
			time.Sleep(200 * time.Millisecond) // the page updates itself every 3 s
		}
		if mark, err := runStep(b, chromedp.Evaluate[bool](`window.cldMark === 1`)); err != nil || !mark {
			t.Fatalf("the page was reloaded to show %q (%v)", want, err)
		}
	}
	watch("stopped")
	st.cli(nil, "tunnel", "start", tunnelID, "--socket", st.sock, "--wait", "30s")
	watch("started")
	st.cli(nil, "tunnel", "stop", tunnelID, "--socket", st.sock)
	watch("stopped")

	// The page's own Start and Stop buttons, without a reload.
	row := "#tunnel-" + tunnelID
	b.do(chromedp.Click(chromedp.CSS(row + "-start")))
	watch("started")
	b.waitVisible(chromedp.CSS(row + "-stop"))
	// Its message: "is starting." or "is started." (the answer may come
	// before the edge has the session).
	b.expectText("#flashes", "Server Manager” (MSL) is start")
	if st.tunnelStatus(tunnelID) != api.TunnelStarted {
		t.Fatalf("the daemon's tunnel %s is not started after the page's Start", tunnelID)
	}
	focused, err := runStep(b, chromedp.Evaluate[string](`document.activeElement ? document.activeElement.id : ""`))
	if err != nil || focused != "tunnel-"+tunnelID+"-stop" {
		t.Errorf("after Start the keyboard focus is on %q (%v), want the row's Stop button", focused, err)
	}
	b.do(chromedp.Click(chromedp.CSS(row + "-stop")))
	watch("stopped")
	b.waitVisible(chromedp.CSS(row + "-start"))
	b.expectText("#flashes", "is stopped")
	if st.tunnelStatus(tunnelID) != api.TunnelStopped {
		t.Fatalf("the daemon's tunnel %s is not stopped after the page's Stop", tunnelID)
	}

	// With JavaScript off: plain forms, a new page each.
	b.disableScript()
	b.navigate(st.proxyURL + "/")
	b.clickAndLoad(chromedp.CSS(row + "-start"))
	b.expectLocation(st.proxyURL + "/#tunnels")
	deadline := time.Now().Add(30 * time.Second)
	for st.tunnelStatus(tunnelID) != api.TunnelStarted {
		if time.Now().After(deadline) {
			t.Fatalf("the tunnel %s did not start after the plain Start form", tunnelID)
		}
		time.Sleep(200 * time.Millisecond)
	}
	b.navigate(st.proxyURL + "/")
	b.expectText(row+" .status", "started")
	b.clickAndLoad(chromedp.CSS(row + "-stop"))
	b.expectText("#flashes", "is stopped")
	b.expectText(row+" .status", "stopped")
	if st.tunnelStatus(tunnelID) != api.TunnelStopped {
		t.Fatalf("the daemon's tunnel %s is not stopped after the plain Stop form", tunnelID)
	}
}

// TestWarningsLive: with the dashboard open, a clock-drift warning that
// the daemon finds (the cloud's clock 44 s ahead, a check run from the
// CLI) appears on the page without a reload, and clears the same way; a
// link made or ended elsewhere (the CLI) shows on the open page by itself
// (it reloads: the page is another one).
func TestWarningsLive(t *testing.T) {
	t.Parallel()
	requireChromium(t)
	st := startStack(t, stackOptions{bin: buildFastBinaries(t)})
	b := newChromium(t, st.spki)
	b.dashboardSignIn(st)
	if _, err := runStep(b, chromedp.Evaluate[bool](`window.cldMark = 1; true`)); err != nil {
		b.fail("marking the page", err)
	}
	offset := func(d string) {
		t.Helper()
		if out, err := exec.Command(filepath.Join(st.bin, "cld-cloud"), "clock", "offset", "--data", filepath.Join(st.dir, "cloud"), d).CombinedOutput(); err != nil {
			t.Fatalf("cld-cloud clock offset %s: %v\n%s", d, err, out)
		}
	}
	shown := func(want bool) {
		t.Helper()
		deadline := time.Now().Add(40 * time.Second)
		for {
			exec.Command(st.cld, "doctor", "--socket", st.sock).Run() // a fresh measurement (its exit code is the finding's)
			n, err := runStep(b, chromedp.Evaluate[int](`document.querySelectorAll("#warning-clock_drift").length`))
			if err == nil && (n == 1) == want {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the clock-drift warning shown: %v, want %v", n == 1, want)
			}
			time.Sleep(time.Second) // the page fetches its warnings every 5 s
		}
		if mark, err := runStep(b, chromedp.Evaluate[bool](`window.cldMark === 1`)); err != nil || !mark {
			t.Fatalf("the page was reloaded (%v)", err)
		}
	}
	offset("44s")
	shown(true)
	offset("0s")
	shown(false)

	// The link's state: linked and unlinked elsewhere (the CLI), the open
	// page becomes the linked and then the unlinked dashboard by itself.
	linkShown := func(linked bool) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			n, err := runStep(b, chromedp.Evaluate[int](`document.querySelectorAll("#registration table").length + 2 * document.querySelectorAll("#link-button").length`))
			if err == nil && ((linked && n == 1) || (!linked && n == 2)) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("the page does not show the link's state (linked %v) by itself: %d (%v)", linked, n, err)
			}
			time.Sleep(500 * time.Millisecond)
		}
	}
	linkShown(false)
	st.cli(strings.NewReader(cloudPassword+"\n"), "link", "--socket", st.sock, "--username", "admin@demo.test", "--account", "100001", "--password-stdin")
	linkShown(true)
	b.expectText("#registration", "Demo Account", "100001")
	st.cli(nil, "unlink", "--socket", st.sock)
	linkShown(false)
}
