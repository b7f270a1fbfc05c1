package e2e

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestHealthEndToEnd: the reference cloud's clock runs 44 s ahead; the
// dashboard's Warnings section shows the drift with "44s" and its remedy;
// the Checks page shows the doctor's findings; at 50 s (set on the running
// cloud) the check fails; back at 0 the warning is gone.
func TestHealthEndToEnd(t *testing.T) {
	t.Parallel()
	requireChromium(t)
	st := startStack(t, stackOptions{cloudArgs: []string{"--clock-offset", "44s"}})
	deadline := time.Now().Add(30 * time.Second)
	for {
		s := st.cldStatus()
		if s.Clock.MeasuredAt != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the daemon did not measure the drift: %+v", s.Clock)
		}
		time.Sleep(100 * time.Millisecond) // the first measurement runs at start
	}
	b := newChromium(t, st.spki)
	b.dashboardSignIn(st)
	b.expectText("#warning-clock_drift", "Warning:", "System time incorrect",
		"The system time is incorrect. This can cause connection problems. Clock drift detected: 44s",
		"What to do:", "timedatectl status", "Since ")

	b.clickAndLoad(chromedp.CSS(`#warnings a[href="/cld/checks"]`))
	b.expectLocation(st.proxyURL + "/checks")
	b.expectText("#check-clock_drift", "Warning", "Clock drift detected: 44s", "timedatectl status")
	b.expectText("#check-cloud_reachable", "Pass", "directly")
	b.expectText("#check-tls", "Pass", "verified")
	b.expectText("#check-state_dir", "Pass")
	b.expectText("main", "No check failed.")

	setOffset := func(d string) {
		t.Helper()
		out, err := exec.Command(filepath.Join(st.bin, "cld-cloud"), "clock", "offset", "--data", filepath.Join(st.dir, "cloud"), d).CombinedOutput()
		if err != nil {
			t.Fatalf("cld-cloud clock offset %s: %v\n%s", d, err, out)
		}
		time.Sleep(1500 * time.Millisecond) // the running cloud applies it within a second
	}
	setOffset("50s")
	b.navigate(st.proxyURL + "/checks") // a fresh measurement
	b.expectText("#check-clock_drift", "Fail", "Clock drift detected: 50s")
	b.expectText("main", "Some checks failed")
	b.navigate(st.proxyURL + "/")
	b.expectText("#warning-clock_drift", "Error:", "Clock drift detected: 50s", "Tunnels do not start")

	setOffset("0s")
	b.navigate(st.proxyURL + "/checks")
	b.expectText("#check-clock_drift", "Pass")
	b.navigate(st.proxyURL + "/")
	text, err := runStep(b, chromedp.Text(chromedp.CSS("main")))
	if err != nil || strings.Contains(text, "Clock drift detected") {
		t.Errorf("the warning stays after the fix (%v):\n%s", err, clip(text, 2000))
	}
	if bad := st.strays(); len(bad) > 0 {
		t.Errorf("paths outside %s: %v", prefix, bad)
	}
}
