package ui

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/cloudlink/cld/agent/api"
)

// demoTunnels are the tunnels of a host as the daemon reports them.
func demoTunnels() []api.Tunnel {
	return []api.Tunnel{
		{ID: "msl-server-manager", Component: "MSL", Name: "Server Manager", Description: "Remote access via Mitel Administration",
			Enabled: true, Status: api.TunnelStarted, LocalAddress: "https://127.0.0.1:9443",
			PublicURL: "https://946705a2-fbae-5b17-ad70-3193f6442a8e.eu.edge.localhost:8444"},
		{ID: "mbg-admin", Component: "MiVoice Border Gateway", Name: "administration web interface", Description: "Remote access via Mitel Administration",
			Enabled: true, Status: api.TunnelError, Reason: "The local service at https://127.0.0.1:9444 does not answer.", LocalAddress: "https://127.0.0.1:9444"},
		{ID: "mivb-rest", Component: "MiVoice Business", Name: "REST interface", Description: "End user API access to MiVB Services",
			Status: api.TunnelStopped, LocalAddress: "https://127.0.0.1:8443"},
	}
}

func linkedWithTunnels(st *api.Status) {
	st.Linked, st.State, st.Account, st.SystemID = true, api.StateLinked, demoAccount, "sys-123"
	st.Tunnels = demoTunnels()
}

func TestTunnelsSection(t *testing.T) {
	f, h := newTestDashboard(t, Config{BasePath: "/cld"})
	f.set(linkedWithTunnels)
	f.connected, f.refused = true, 3
	b := newBrowser(t, h)
	b.signIn("/cld")
	std := b.get("/cld/")
	sec := section(t, std.body, "tunnels")
	for _, want := range []string{
		`<h2 id="tunnels-h">Tunnels</h2>`,
		`<th scope="col">Component</th><th scope="col">Tunnel</th><th scope="col">Status</th><th scope="col">Control</th><th scope="col">Description</th></tr>`,
		`<td data-label="Component">MSL</td><th scope="row" data-label="Tunnel">Server Manager</th>`,
		`<span class="status status-started">started</span>`,
		`<span class="status status-error">error</span> <div class="reason reason-error">The local service at https://127.0.0.1:9444 does not answer.</div>`,
		`<span class="status status-stopped">stopped</span>`,
		// Started and failing tunnels are switched on: Stop; the stopped one: Start.
		`action="/cld/tunnels/msl-server-manager/stop"`, `id="tunnel-msl-server-manager-stop" aria-label="Stop Server Manager (MSL)">Stop</button>`,
		`action="/cld/tunnels/mbg-admin/stop"`,
		`action="/cld/tunnels/mivb-rest/start"`, `id="tunnel-mivb-rest-start" aria-label="Start REST interface (MiVoice Business)">Start</button>`,
		`action="/cld/tunnels/start-all"`, ">Start all tunnels</button>",
		`action="/cld/tunnels/stop-all"`, ">Stop all tunnels</button>",
		"End user API access to MiVB Services",
	} {
		if !strings.Contains(sec, want) {
			t.Errorf("tunnels section lacks %q", want)
		}
	}
	if n := strings.Count(sec, `name="csrf"`); n != 5 {
		t.Errorf("%d forms with a token, want 5 (3 tunnels and the two all-buttons)", n)
	}
	for _, unwanted := range []string{"Local Address", "Public URL", "127.0.0.1:9443", "edge.localhost", "Tunnel edge", "Refresh the status", "tunnels start once"} {
		if strings.Contains(sec, unwanted) {
			t.Errorf("standard view's tunnels section shows %q", unwanted)
		}
	}
	// Tunnels come last, after the registration.
	if ir, it := strings.Index(std.body, ">CloudLink Registration<"), strings.Index(std.body, ">Tunnels<"); !(ir >= 0 && ir < it) {
		t.Errorf("tunnels section at %d, registration at %d", it, ir)
	}

	dbg := section(t, b.get("/cld/?view=debug").body, "tunnels")
	for _, want := range []string{
		`<th scope="col">Description</th><th scope="col">Local Address</th><th scope="col">Public URL</th>`,
		`<td class="mono local-address" data-label="Local Address">https://127.0.0.1:9443</td>`,
		`<a class="public-url" href="https://946705a2-fbae-5b17-ad70-3193f6442a8e.eu.edge.localhost:8444">https://946705a2-fbae-5b17-ad70-3193f6442a8e.eu.edge.localhost:8444</a>`,
		`<td class="mono public" data-label="Public URL">—</td>`, // no public URL yet
		"Tunnel edge: connected · refused streams: 3",
	} {
		if !strings.Contains(dbg, want) {
			t.Errorf("debug view's tunnels section lacks %q", want)
		}
	}

	// A tunnel still starting: words, neutral style and a way to refresh
	// without JavaScript.
	f.set(func(st *api.Status) { st.Tunnels[2].Status, st.Tunnels[2].Enabled = api.TunnelStarting, true })
	sec = section(t, b.get("/cld/?view=standard").body, "tunnels")
	for _, want := range []string{`<span class="status status-starting">starting</span>`, `href="/cld/#tunnels"`, "Refresh the status"} {
		if !strings.Contains(sec, want) {
			t.Errorf("starting tunnel: section lacks %q", want)
		}
	}

	// A linked host without tunnels says so.
	f.set(func(st *api.Status) { st.Tunnels = nil })
	sec = section(t, b.get("/cld/").body, "tunnels")
	if !strings.Contains(sec, "This system offers no tunnels.") || strings.Contains(sec, "Start all tunnels") {
		t.Errorf("no tunnels:\n%s", sec)
	}
}

func TestTunnelsUnlinked(t *testing.T) {
	f, h := newTestDashboard(t, Config{})
	b := newBrowser(t, h)
	b.signIn("")
	if body := b.get("/").body; strings.Contains(body, `id="tunnels"`) {
		t.Error("an unlinked host without tunnels shows a Tunnels section")
	}
	f.set(func(st *api.Status) { st.Tunnels = demoTunnels() })
	sec := section(t, b.get("/").body, "tunnels")
	for _, want := range []string{"Tunnels can be started once this system is linked to CloudLink.", "Server Manager", "REST interface"} {
		if !strings.Contains(sec, want) {
			t.Errorf("unlinked tunnels section lacks %q", want)
		}
	}
	for _, unwanted := range []string{"Control", "<form", "Start all tunnels"} {
		if strings.Contains(sec, unwanted) {
			t.Errorf("unlinked tunnels section shows %q", unwanted)
		}
	}
}

func TestTunnelControl(t *testing.T) {
	f, h := newTestDashboard(t, Config{BasePath: "/cld"})
	f.set(linkedWithTunnels)
	b := newBrowser(t, h)
	b.signIn("/cld")
	tok := csrfOf(t, b.get("/cld/").body)
	post := func(path string) result {
		t.Helper()
		res := b.do("POST", path, url.Values{"csrf": {tok}})
		if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/cld/#tunnels" {
			t.Fatalf("POST %s: %d to %q, want 303 to /cld/#tunnels\n%s", path, res.StatusCode, res.Header.Get("Location"), res.body)
		}
		return res
	}
	expectFlash := func(want string) {
		t.Helper()
		if body := b.get("/cld/").body; !strings.Contains(body, want) {
			t.Errorf("after the action the page lacks %q", want)
		}
	}

	post("/cld/tunnels/mivb-rest/start")
	expectFlash(`role="status">The tunnel “REST interface” (MiVoice Business) is starting.`)
	f.startStatus = api.TunnelStarted
	post("/cld/tunnels/mivb-rest/start")
	expectFlash("The tunnel “REST interface” (MiVoice Business) is started.")
	f.startStatus, f.startReason = api.TunnelError, "The tunnel edge is not reachable."
	post("/cld/tunnels/mivb-rest/start")
	expectFlash(`role="alert">The tunnel “REST interface” (MiVoice Business) could not start: The tunnel edge is not reachable.`)
	post("/cld/tunnels/msl-server-manager/stop")
	expectFlash("The tunnel “Server Manager” (MSL) is stopped.")
	post("/cld/tunnels/start-all")
	expectFlash("Starting all tunnels.")
	post("/cld/tunnels/stop-all")
	expectFlash("All tunnels are stopped.")
	// The daemon's sentence for an unknown tunnel.
	post("/cld/tunnels/nope/start")
	expectFlash("There is no tunnel nope on this host")
	if got, want := f.calls(), []string{"start mivb-rest", "start mivb-rest", "start mivb-rest", "stop msl-server-manager", "start-all", "stop-all", "start nope"}; !slices.Equal(got, want) {
		t.Errorf("daemon calls %q, want %q", got, want)
	}
	// The daemon refusing (e.g. not linked).
	f.tunnelErr = &api.Error{Code: api.CodeNotLinked, Message: "This system is not linked to CloudLink; link it first."}
	post("/cld/tunnels/stop-all")
	expectFlash("This system is not linked to CloudLink; link it first.")
	f.tunnelErr = nil
	f.calls()

	// Bad requests never reach the daemon.
	for _, tc := range []struct {
		method, path string
		form         url.Values
		code         int
		want         string
	}{
		{"POST", "/cld/tunnels/a%20b/start", url.Values{"csrf": {tok}}, 404, "No such tunnel"},
		{"POST", "/cld/tunnels/%7Bid%7D/stop", url.Values{"csrf": {tok}}, 404, "No such tunnel"},
		{"POST", "/cld/tunnels/x/restart", url.Values{"csrf": {tok}}, 404, "Page not found"},
		{"POST", "/cld/tunnels/x/y/start", url.Values{"csrf": {tok}}, 404, "Page not found"},
		{"GET", "/cld/tunnels/mivb-rest/start", nil, 405, "does not accept GET"},
		{"GET", "/cld/tunnels/start-all", nil, 405, "does not accept GET"},
		{"POST", "/cld/tunnels/mivb-rest/start", url.Values{"csrf": {"forged"}}, 403, "Request refused"},
		{"POST", "/cld/tunnels/stop-all", url.Values{}, 403, "Request refused"},
	} {
		res := b.do(tc.method, tc.path, tc.form)
		if res.StatusCode != tc.code || !strings.Contains(res.body, tc.want) {
			t.Errorf("%s %s: %d, want %d with %q", tc.method, tc.path, res.StatusCode, tc.code, tc.want)
		}
	}
	b.header.Set("Sec-Fetch-Site", "cross-site")
	if res := b.do("POST", "/cld/tunnels/stop-all", url.Values{"csrf": {tok}}); res.StatusCode != http.StatusForbidden {
		t.Errorf("cross-site stop-all: %d", res.StatusCode)
	}
	b.header = http.Header{}
	if calls := f.calls(); len(calls) != 0 {
		t.Errorf("refused requests reached the daemon: %q", calls)
	}

	// Signed out: to the sign-in page, nothing done.
	b2 := newBrowser(t, h)
	if res := b2.do("POST", "/cld/tunnels/mivb-rest/start", url.Values{"csrf": {tok}}); res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/cld/login?expired=1" {
		t.Errorf("signed-out start: %d to %q", res.StatusCode, res.Header.Get("Location"))
	}
	if calls := f.calls(); len(calls) != 0 {
		t.Errorf("a signed-out request reached the daemon: %q", calls)
	}
}

// section returns the HTML of the page's <section id=…>.
func section(t *testing.T, body, id string) string {
	t.Helper()
	i := strings.Index(body, `<section id="`+id+`"`)
	if i < 0 {
		t.Fatalf("the page has no section %q:\n%s", id, body)
	}
	j := strings.Index(body[i:], "</section>")
	if j < 0 {
		t.Fatalf("section %q does not end", id)
	}
	return body[i : i+j]
}

// The Tunnels section is live while linked: the page's section names
// /tunnels/live, which answers the section alone with each row marked to
// be replaced; once the link ended it answers 204 (the page reloads).
func TestTunnelsLive(t *testing.T) {
	f, h := newTestDashboard(t, Config{BasePath: "/cld"})
	f.set(linkedWithTunnels)
	b := newBrowser(t, h)
	b.signIn("/cld")
	if sec := section(t, b.get("/cld/").body, "tunnels"); !strings.Contains(sec, `data-live="/cld/tunnels/live"`) || !strings.Contains(sec, `data-live-every="3000"`) {
		t.Fatalf("the section is not live:\n%s", sec)
	}
	f.set(func(st *api.Status) { st.Tunnels[2].Status, st.Tunnels[2].Enabled = api.TunnelStarted, true })
	live := b.get("/cld/tunnels/live")
	if live.StatusCode != 200 || strings.Contains(live.body, "<html") {
		t.Fatalf("live: %d\n%s", live.StatusCode, live.body)
	}
	row := live.body[strings.Index(live.body, `<tr id="tunnel-mivb-rest"`):]
	row = row[:strings.Index(row, "</tr>")]
	if !strings.Contains(row, "data-live-part") || !strings.Contains(row, "started") || !strings.Contains(row, `/cld/tunnels/mivb-rest/stop`) {
		t.Errorf("the live row:\n%s", row)
	}
	f.set(func(st *api.Status) { st.Linked, st.State = false, api.StateUnlinked })
	if res := b.get("/cld/tunnels/live"); res.StatusCode != http.StatusNoContent {
		t.Errorf("live after the link ended: %d", res.StatusCode)
	}
	if sec := section(t, b.get("/cld/").body, "tunnels"); strings.Contains(sec, `data-live="`) {
		t.Errorf("the unlinked section is live:\n%s", sec)
	}
}

// The Warnings section is live on every dashboard page: empty without
// warnings, /warnings/live answers it with the warnings of now, and 204
// once the link's state is not the page's.
func TestWarningsLive(t *testing.T) {
	f, h := newTestDashboard(t, Config{BasePath: "/cld"})
	f.set(linkedWithTunnels)
	b := newBrowser(t, h)
	b.signIn("/cld")
	sec := section(t, b.get("/cld/").body, "warnings")
	if !strings.Contains(sec, `data-live="/cld/warnings/live?linked=true"`) || strings.Contains(sec, "<h2") {
		t.Fatalf("without warnings the section is not empty and live:\n%s", sec)
	}
	f.set(func(st *api.Status) {
		st.Warnings = []api.Warning{{Code: "clock_drift", Severity: api.SeverityWarning, Title: "System time incorrect", Text: "Clock drift detected: 44s"}}
	})
	live := b.get("/cld/warnings/live?linked=true")
	if live.StatusCode != 200 || !strings.Contains(live.body, `id="warning-clock_drift"`) || !strings.Contains(live.body, "Clock drift detected: 44s") || !strings.Contains(live.body, `<h2 id="warnings-h">Warnings</h2>`) {
		t.Fatalf("live with a warning: %d\n%s", live.StatusCode, live.body)
	}
	if res := b.get("/cld/warnings/live?linked=false"); res.StatusCode != http.StatusNoContent {
		t.Errorf("live when the page was made unlinked: %d", res.StatusCode)
	}
}
