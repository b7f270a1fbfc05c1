package e2e

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// axeSource is axe-core (testdata/axe, MPL-2.0), run in the dashboard's
// pages.
//
//go:embed testdata/axe/axe.min.js
var axeSource string

// violation is one of axe's findings.
type violation struct {
	ID     string   `json:"id"`
	Impact string   `json:"impact"`
	Help   string   `json:"help"`
	Nodes  []string `json:"nodes"`
}

// axeViolations runs axe-core (WCAG 2.1 A and AA rules) on the page the
// browser shows and returns its serious and critical findings.
func (b *chromium) axeViolations() []violation {
	b.t.Helper()
	if _, err := runStep(b, chromedp.Evaluate[chromedp.Void](axeSource)); err != nil {
		b.fail("loading axe-core", err)
	}
	const run = `window.__axe = ""; axe.run(document, {runOnly: {type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]}})
		.then(r => { window.__axe = JSON.stringify(r.violations.map(v => ({id: v.id, impact: v.impact || "", help: v.help,
			nodes: v.nodes.slice(0, 5).map(n => n.target.join(" ") + ": " + (n.failureSummary || "").split("\n").slice(0, 2).join(" "))}))) })
		.catch(e => { window.__axe = "error: " + e }); true`
	if _, err := runStep(b, chromedp.Evaluate[bool](run)); err != nil {
		b.fail("running axe-core", err)
	}
	deadline := time.Now().Add(step)
	for {
		out, err := runStep(b, chromedp.Evaluate[string](`window.__axe`))
		if err != nil {
			b.fail("reading axe-core's result", err)
		}
		if strings.HasPrefix(out, "error: ") {
			b.t.Fatalf("axe-core: %s", out)
		}
		if out != "" {
			var all []violation
			if err := json.Unmarshal([]byte(out), &all); err != nil {
				b.t.Fatalf("axe-core's result: %v", err)
			}
			var bad []violation
			for _, v := range all {
				if v.Impact == "serious" || v.Impact == "critical" {
					bad = append(bad, v)
				}
			}
			return bad
		}
		if time.Now().After(deadline) {
			b.t.Fatal("axe-core did not finish")
		}
		time.Sleep(50 * time.Millisecond) // polling the page for axe's promise
	}
}

// TestAccessibility runs axe-core on the four views the screenshots show:
// unlinked, linked (standard and debug view) and with a clock-drift
// warning; none may have a serious or critical violation.
func TestAccessibility(t *testing.T) {
	t.Parallel()
	requireChromium(t)
	st := startStack(t, stackOptions{bin: buildFastBinaries(t)})
	b := newChromium(t, st.spki)
	b.dashboardSignIn(st)
	b.waitVisible(chromedp.CSS("#link-button"))
	// The check itself: an input without a label is a critical finding.
	if _, err := runStep(b, chromedp.Evaluate[bool](`(() => { const i = document.createElement("input"); i.id = "axe-probe"; document.querySelector("main").append(i); return true })()`)); err != nil {
		b.fail("adding the probe", err)
	}
	probe := false
	for _, v := range b.axeViolations() {
		probe = probe || (v.ID == "label" && strings.Contains(strings.Join(v.Nodes, " "), "#axe-probe"))
	}
	if !probe {
		t.Fatal("axe-core did not find an input without a label: the check does not work")
	}
	b.navigate(st.proxyURL + "/")
	report := map[string][]violation{}
	report["unlinked"] = b.axeViolations()

	st.cli(strings.NewReader(cloudPassword+"\n"), "link", "--socket", st.sock, "--username", "admin@demo.test", "--account", "100001", "--password-stdin")
	b.navigate(st.proxyURL + "/")
	b.waitVisible(chromedp.CSS("#registration table"))
	report["standard view"] = b.axeViolations()
	b.clickAndLoad(chromedp.CSS(`a[href="/cld/?view=debug"]`))
	b.expectText("#registration", "Account UUID")
	report["debug view"] = b.axeViolations()

	showClockDrift(t, b, st, "/")
	report["clock-drift warning"] = b.axeViolations()

	var msgs []string
	for view, vs := range report {
		for _, v := range vs {
			msgs = append(msgs, fmt.Sprintf("%s: %s (%s): %s\n    %s", view, v.ID, v.Impact, v.Help, strings.Join(v.Nodes, "\n    ")))
		}
	}
	if len(msgs) > 0 {
		t.Errorf("axe-core found serious or critical violations:\n%s", strings.Join(msgs, "\n"))
	}
}
