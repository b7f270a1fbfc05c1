package ui

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/cloudlink/cld/agent/api"
)

func TestInventorySection(t *testing.T) {
	f, h := newTestDashboard(t, Config{BasePath: "/cld"})
	last := time.Date(2024, 9, 18, 1, 19, 0, 0, time.UTC)
	next := time.Date(2024, 9, 19, 1, 19, 0, 0, time.UTC)
	f.set(func(st *api.Status) {
		linkedWithTunnels(st)
		st.Inventory = api.Inventory{Last: &last, Next: &next}
	})
	b := newBrowser(t, h)
	b.signIn("/cld")
	std := b.get("/cld/").body
	sec := section(t, std, "inventory")
	for _, want := range []string{
		`<h2 id="inventory-h">Inventory Report Submission</h2>`,
		`<td id="inventory-last">Wed, 18 Sep 2024 02:19:00 BST +0100</td>`,
		`<td id="inventory-next">Thu, 19 Sep 2024 02:19:00 BST +0100</td>`,
	} {
		if !strings.Contains(sec, want) {
			t.Errorf("inventory section lacks %q:\n%s", want, sec)
		}
	}
	if strings.Contains(sec, "Preview inventory report") || strings.Contains(sec, "Submit inventory report") {
		t.Error("the standard view shows the debug controls")
	}
	// The product's order: Registration, Inventory, …, Tunnels.
	ir, ii, it := strings.Index(std, ">CloudLink Registration<"), strings.Index(std, ">Inventory Report Submission<"), strings.Index(std, ">Tunnels<")
	if !(ir < ii && ii < it) {
		t.Errorf("sections out of order: registration %d, inventory %d, tunnels %d", ir, ii, it)
	}

	dbg := section(t, b.get("/cld/?view=debug").body, "inventory")
	for _, want := range []string{
		`href="/cld/inventory/preview">Preview inventory report</a>`,
		`action="/cld/inventory/submit"`, `name="csrf"`, `>Submit inventory report</button>`,
	} {
		if !strings.Contains(dbg, want) {
			t.Errorf("debug inventory section lacks %q:\n%s", want, dbg)
		}
	}

	// Pending with the reason of the last attempt.
	f.set(func(st *api.Status) {
		st.Inventory = api.Inventory{Pending: true, LastError: "Could not reach CloudLink at https://x/."}
	})
	sec = section(t, b.get("/cld/").body, "inventory")
	if !strings.Contains(sec, `<td id="inventory-last">Never</td>`) || !strings.Contains(sec, "A report waits on this host until CloudLink accepts it") || !strings.Contains(sec, "Could not reach CloudLink at https://x/.") {
		t.Errorf("pending section:\n%s", sec)
	}

	// Unlinked: no inventory section.
	f.set(func(st *api.Status) { st.Linked, st.State = false, api.StateUnlinked })
	if strings.Contains(b.get("/cld/").body, `id="inventory"`) {
		t.Error("an unlinked dashboard shows the inventory section")
	}
}

func TestInventoryPreviewPage(t *testing.T) {
	f, h := newTestDashboard(t, Config{})
	f.set(linkedWithTunnels)
	f.preview = `{"schema_version":1,"id":"r1","host":{"hostname":"<script>alert(1)</script>"}}`
	b := newBrowser(t, h)
	b.signIn("")
	res := b.get("/inventory/preview")
	if res.StatusCode != 200 {
		t.Fatalf("preview: %d", res.StatusCode)
	}
	for _, want := range []string{
		"<h1>Inventory report preview</h1>",
		`<pre class="json" id="inventory-json">{`,
		`&#34;schema_version&#34;: 1,`,
		`&lt;script&gt;alert(1)&lt;/script&gt;`,
	} {
		if !strings.Contains(res.body, want) {
			t.Errorf("preview page lacks %q:\n%s", want, res.body)
		}
	}
	if strings.Contains(res.body, "<script>alert") {
		t.Error("the report is not escaped")
	}
	// An error goes back to the dashboard with the message.
	f.previewErr = &api.Error{Code: api.CodeNotLinked, Message: "This system is not linked to CloudLink."}
	res = b.get("/inventory/preview")
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/#inventory" {
		t.Fatalf("preview error: %d %q", res.StatusCode, res.Header.Get("Location"))
	}
	f.set(func(st *api.Status) { st.Linked, st.State = false, api.StateUnlinked })
	if body := b.get("/").body; !strings.Contains(body, "This system is not linked to CloudLink.") {
		t.Errorf("the error is not shown:\n%s", body)
	}
}

func TestInventorySubmit(t *testing.T) {
	f, h := newTestDashboard(t, Config{BasePath: "/cld"})
	f.set(linkedWithTunnels)
	last := time.Date(2024, 9, 18, 1, 19, 0, 0, time.UTC)
	f.submitInv = api.Inventory{Last: &last}
	b := newBrowser(t, h)
	b.signIn("/cld")
	page := b.get("/cld/?view=debug")
	tok := csrfOf(t, page.body)

	// Without the token nothing is sent.
	if res := b.do("POST", "/cld/inventory/submit", url.Values{}); res.StatusCode == http.StatusSeeOther || f.submits != 0 {
		t.Fatalf("submit without a token: %d, %d submits", res.StatusCode, f.submits)
	}
	res := b.do("POST", "/cld/inventory/submit", url.Values{"csrf": {tok}})
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/cld/#inventory" || f.submits != 1 {
		t.Fatalf("submit: %d %q, %d submits", res.StatusCode, res.Header.Get("Location"), f.submits)
	}
	if body := b.get("/cld/").body; !strings.Contains(body, "The inventory report was accepted by CloudLink at Wed, 18 Sep 2024 02:19:00 BST +0100.") {
		t.Errorf("no success message:\n%s", body)
	}

	f.submitInv = api.Inventory{Pending: true, LastError: "Could not reach CloudLink at https://x/."}
	b.do("POST", "/cld/inventory/submit", url.Values{"csrf": {tok}})
	if body := b.get("/cld/").body; !strings.Contains(body, "The inventory report was not delivered: Could not reach CloudLink at https://x/. It waits on this host and is retried.") {
		t.Errorf("no failure message:\n%s", body)
	}
	// GET is not a way to submit.
	if res := b.get("/cld/inventory/submit"); res.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET submit: %d", res.StatusCode)
	}
}
