package e2e

import (
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// screenshotLanguages are the languages of docs/screenshots.
var screenshotLanguages = []string{"en", "de"}

// TestScreenshots writes the README's screenshots (make screenshots):
// the unlinked view, the standard and the debug view, and a view with a
// clock-drift warning, in English and German, as PNGs at 1280 px into
// $CLD_SCREENSHOTS (docs/screenshots). Without it the test is skipped.
func TestScreenshots(t *testing.T) {
	t.Parallel()
	dir := os.Getenv("CLD_SCREENSHOTS")
	if dir == "" {
		t.Skip("set CLD_SCREENSHOTS=DIR to write the screenshots (make screenshots)")
	}
	requireChromium(t)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	origin, config := screenshotHost(t)
	defer origin.Close()
	edgeAddr := freeAddr(t)
	st := startStack(t, stackOptions{bin: buildFastBinaries(t), config: config, cloudArgs: []string{"--edge-listen", edgeAddr, "--edge-domain", edgeDomain}})
	b := newChromium(t, st.spki)
	b.dashboardSignIn(st)
	b.do(chromedp.EmulateViewport(1280, 900))
	shot := func(name, path string) {
		t.Helper()
		for _, lang := range screenshotLanguages {
			sep := "?"
			if strings.Contains(path, "?") {
				sep = "&"
			}
			b.navigate(st.proxyURL + path + sep + "lang=" + lang)
			b.waitVisible(chromedp.CSS("main"))
			png, err := runStep(b, chromedp.FullScreenshot(100))
			if err != nil {
				b.fail("screenshot", err)
			}
			file := filepath.Join(dir, fmt.Sprintf("%s-%s.png", name, lang))
			if err := os.WriteFile(file, png, 0o644); err != nil {
				t.Fatal(err)
			}
			t.Logf("wrote %s (%d KiB)", file, len(png)>>10)
		}
	}
	shot("unlinked", "/")

	st.cli(strings.NewReader(cloudPassword+"\n"), "link", "--socket", st.sock, "--username", "admin@demo.test", "--account", "100001", "--password-stdin")
	st.cli(nil, "tunnel", "start", tunnelID, "--socket", st.sock, "--wait", "30s")
	time.Sleep(time.Second) // the tunnel's status settles (started)
	shot("standard", "/?view=standard")
	shot("debug", "/?view=debug")

	showClockDrift(t, b, st, "/?view=standard")
	shot("clock-drift", "/?view=standard")
}

// screenshotHost is a generic host with two tunnels (one with long names)
// to an origin that answers: the dashboard the screenshots and the layout
// test show. The caller closes the origin.
func screenshotHost(t *testing.T) (*httptest.Server, string) {
	t.Helper()
	origin := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "origin") }))
	origin.Config.ErrorLog = log.New(io.Discard, "", 0) // the daemon's health probes close without TLS
	origin.StartTLS()
	config := fmt.Sprintf(`platform:
  type: generic
  name: Simulated PBX host
  version: "1.0"
  tunnels:
    - id: %s
      component: MSL
      name: Server Manager
      description: Remote access via Mitel Administration
      local_address: https://%s
      accept_self_signed: true
    - id: mivb-administration-rest-interface
      component: MiVoice Business
      name: administration web interface and REST interface
      description: Remote access via Mitel Administration
      local_address: https://%s
      accept_self_signed: true
`, tunnelID, origin.Listener.Addr(), origin.Listener.Addr())
	return origin, config
}

// showClockDrift runs the cloud's clock 44 s ahead and shows path once
// the dashboard warns about the drift.
func showClockDrift(t *testing.T, b *chromium, st *stack, path string) {
	t.Helper()
	out, err := exec.Command(filepath.Join(st.bin, "cld-cloud"), "clock", "offset", "--data", filepath.Join(st.dir, "cloud"), "44s").CombinedOutput()
	if err != nil {
		t.Fatalf("cld-cloud clock offset: %v\n%s", err, out)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		b.navigate(st.proxyURL + "/checks") // a fresh measurement
		b.navigate(st.proxyURL + path)
		if n, err := runStep(b, chromedp.Evaluate[int](`document.querySelectorAll("#warning-clock_drift").length`)); err == nil && n == 1 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("no clock-drift warning on the dashboard")
		}
		time.Sleep(500 * time.Millisecond) // the running cloud applies the offset within a second
	}
}
