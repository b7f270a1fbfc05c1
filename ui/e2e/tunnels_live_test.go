package e2e

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestTunnelStatusLive: with the dashboard open, a tunnel started and
// stopped elsewhere (the CLI) changes its status on the page without a
// reload (a mark set in the page survives).
func TestTunnelStatusLive(t *testing.T) {
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
}

// TestWarningsLive: with the dashboard open, a clock-drift warning that
// the daemon finds (the cloud's clock 44 s ahead, a check run from the
// CLI) appears on the page without a reload, and clears the same way.
func TestWarningsLive(t *testing.T) {
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
}
