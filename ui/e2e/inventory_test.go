package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestInventoryPreviewAndSubmit, in the debug view: the preview shows the
// report the daemon would send (this system's ID in it); Submit sends one
// at once, which the page confirms and `cld status` records; and the same
// with JavaScript off (plain links and forms).
func TestInventoryPreviewAndSubmit(t *testing.T) {
	t.Parallel()
	requireChromium(t)
	st := startStack(t, stackOptions{bin: buildFastBinaries(t)})
	st.cli(strings.NewReader(cloudPassword+"\n"), "link", "--socket", st.sock, "--username", "admin@demo.test", "--account", "100001", "--password-stdin")
	systemID := st.cldStatus().SystemID
	b := newChromium(t, st.spki)
	for _, js := range []bool{true, false} {
		if !js {
			b.disableScript()
		}
		if js {
			b.dashboardSignIn(st)
		}
		b.navigate(st.proxyURL + "/?view=debug")
		b.clickAndLoad(chromedp.CSS(`a[href="/cld/inventory/preview"]`))
		b.expectLocation(st.proxyURL + "/inventory/preview")
		b.expectText("#inventory-json", `"system_id": "`+systemID+`"`, `"trigger"`)

		before := st.cldStatus().Inventory.Last
		time.Sleep(1100 * time.Millisecond) // the report's time is to the second
		b.navigate(st.proxyURL + "/?view=debug")
		b.clickAndLoad(chromedp.CSS(`form[action="/cld/inventory/submit"] button`))
		b.expectText("body", "The inventory report was accepted by CloudLink at")
		after := st.cldStatus().Inventory.Last
		if after == nil || (before != nil && !after.After(*before)) {
			t.Fatalf("JavaScript %v: the submitted report is not recorded: last %v, before %v", js, after, before)
		}
	}
}
