package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/cloudlink/cld/agent/api"
)

// layoutProblems is what the page shows cut off at the browser's width:
// the page scrolling sideways, a box that scrolls its content sideways,
// a table cell whose content is wider than the cell; and the width main
// takes.
const layoutProblems = `(() => {
	const out = [];
	const de = document.documentElement;
	if (de.scrollWidth > window.innerWidth + 1) out.push("the page is " + de.scrollWidth + " px wide in a " + window.innerWidth + " px window");
	const name = el => el.tagName.toLowerCase() + (el.id ? "#" + el.id : "") + (el.className && typeof el.className === "string" ? "." + el.className.trim().split(/\s+/).join(".") : "");
	for (const el of document.querySelectorAll("main *")) {
		const cs = getComputedStyle(el);
		if (cs.display === "none" || cs.visibility === "hidden" || el.closest(".visually-hidden, thead.stack-head")) continue; // hidden on purpose (the stacked table's cells name their columns)
		const scrolls = cs.overflowX === "auto" || cs.overflowX === "scroll" || cs.overflowX === "hidden";
		if ((scrolls || el.tagName === "TD" || el.tagName === "TH") && el.scrollWidth > el.clientWidth + 1 && el.clientWidth > 0) {
			out.push(name(el) + " cuts its content (" + el.scrollWidth + " px in " + el.clientWidth + " px): " + el.textContent.trim().slice(0, 60));
		}
		const r = el.getBoundingClientRect();
		if (r.width > 0 && r.right > window.innerWidth + 1) out.push(name(el) + " ends at " + Math.round(r.right) + " px, past the window");
	}
	return JSON.stringify({problems: out.slice(0, 12), main: Math.round(document.querySelector("main").getBoundingClientRect().width)});
})()`

// TestLayoutUsesTheWidth: the linked dashboard with a started tunnel (its
// long public URL) in the standard and the debug view, at 360, 768, 1280
// and 1920 px: nothing is cut off or scrolls sideways, and at 1280 px and
// more the page uses the width (main at least 1100 px wide).
func TestLayoutUsesTheWidth(t *testing.T) {
	t.Parallel()
	requireChromium(t)
	edgeAddr := freeAddr(t)
	origin, config := screenshotHost(t)
	defer origin.Close()
	st := startStack(t, stackOptions{bin: buildFastBinaries(t), config: config, cloudArgs: []string{"--edge-listen", edgeAddr, "--edge-domain", edgeDomain}})
	st.cli(strings.NewReader(cloudPassword+"\n"), "link", "--socket", st.sock, "--username", "admin@demo.test", "--account", "100001", "--password-stdin")
	st.cli(nil, "tunnel", "start", tunnelID, "--socket", st.sock, "--wait", "30s")
	deadline := time.Now().Add(30 * time.Second)
	for {
		if tn, _ := findTunnel(st.cldStatus().Tunnels, tunnelID); tn.Status == api.TunnelStarted && tn.PublicURL != "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the tunnel did not start")
		}
		time.Sleep(100 * time.Millisecond) // the tunnel starts in the background
	}
	b := newChromium(t, st.spki)
	b.dashboardSignIn(st)
	var report []string
	for _, view := range []string{"standard", "debug"} {
		b.navigate(st.proxyURL + "/?view=" + view)
		b.waitVisible(chromedp.CSS("#tunnels"))
		for _, w := range []int64{360, 768, 1280, 1920} {
			b.do(chromedp.EmulateViewport(w, 900))
			out, err := runStep(b, chromedp.Evaluate[string](layoutProblems))
			if err != nil {
				b.fail("measuring the layout", err)
			}
			var res struct {
				Problems []string `json:"problems"`
				Main     int      `json:"main"`
			}
			if err := jsonUnmarshal(out, &res); err != nil {
				t.Fatal(err)
			}
			if dir := os.Getenv("CLD_LAYOUT_SHOTS"); dir != "" {
				// For a person to look at: CLD_LAYOUT_SHOTS=DIR go test -run TestLayoutUsesTheWidth ./ui/e2e
				png, err := runStep(b, chromedp.FullScreenshot(100))
				if err == nil {
					err = os.WriteFile(filepath.Join(dir, fmt.Sprintf("%s-%d.png", view, w)), png, 0o644)
				}
				if err != nil {
					t.Logf("screenshot: %v", err)
				}
			}
			for _, p := range res.Problems {
				report = append(report, fmt.Sprintf("%s view at %d px: %s", view, w, p))
			}
			if w >= 1280 && res.Main < 1100 {
				report = append(report, fmt.Sprintf("%s view at %d px: main is %d px wide, a fixed column", view, w, res.Main))
			}
		}
	}
	if len(report) > 0 {
		t.Errorf("the layout cuts content or wastes the width:\n%s", strings.Join(report, "\n"))
	}
}

func jsonUnmarshal(s string, v any) error { return json.Unmarshal([]byte(s), v) }
