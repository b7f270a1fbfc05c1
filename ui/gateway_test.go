package ui

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/cloudlink/cld/agent/api"
)

// gatewayRoutes are the fake daemon's gateway routes: the status's Gateway
// (or, without one, what the daemon answers on a host without a gateway)
// and the controls, each recorded.
func (f *fakeDaemon) gatewayRoutes(mux *http.ServeMux) {
	none := func() api.Gateway { return api.Gateway{Instances: []string{}, Status: gatewayUnknown} }
	mux.HandleFunc(api.RouteGateway, func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		if g := f.status.Gateway; g != nil {
			writeJSON(w, 200, g)
			return
		}
		writeJSON(w, 200, none())
	})
	for action, route := range map[string]string{"start": api.RouteGatewayStart, "stop": api.RouteGatewayStop, "restart": api.RouteGatewayRestart} {
		mux.HandleFunc(route, func(w http.ResponseWriter, r *http.Request) {
			f.mu.Lock()
			defer f.mu.Unlock()
			f.gatewayCalls = append(f.gatewayCalls, action)
			if f.gatewayErr != nil {
				writeJSON(w, 500, f.gatewayErr)
				return
			}
			g := f.status.Gateway
			if g == nil {
				writeJSON(w, 400, api.Error{Code: api.CodeBadRequest, Message: "No CloudLink Gateway is installed on this host."})
				return
			}
			switch {
			case f.onGateway != nil:
				f.onGateway(action, g)
			case action == "stop":
				g.Status, g.Healthy = gatewayStopped, false
			default:
				g.Status, g.Healthy = gatewayRunning, true
			}
			writeJSON(w, 200, g)
		})
	}
}

// gatewayControls returns the gateway calls made so far and forgets them.
func (f *fakeDaemon) gatewayControls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.gatewayCalls
	f.gatewayCalls = nil
	return c
}

// withGateway adds a running, healthy gateway driven by the daemon's
// supervisor, and its REST interface's tunnel (stopped).
func withGateway(st *api.Status) {
	st.Gateway = &api.Gateway{Installed: true, Instances: []string{"default"}, Status: gatewayRunning, Healthy: true,
		Version: "2.4.17", Manager: managerSupervisor, StatusURL: "http://127.0.0.1:8090/status"}
	st.Tunnels = append(st.Tunnels, api.Tunnel{ID: gatewayTunnelID, Component: "CloudLink Gateway", Name: "CLGW REST interface",
		Description: "Remote access via Mitel Administration", Status: api.TunnelStopped, LocalAddress: "http://127.0.0.1:8090"})
}

// linkedWithGateway is a linked host with the update section, tunnels and
// a gateway.
func linkedWithGateway(st *api.Status) {
	linkedWithUpdate(st)
	withGateway(st)
}

func TestGatewaySection(t *testing.T) {
	f, h := newTestDashboard(t, Config{BasePath: "/cld"})
	f.set(linkedWithGateway)
	b := newBrowser(t, h)
	b.signIn("/cld")
	std := b.get("/cld/").body
	sec := section(t, std, "gateway")
	for _, want := range []string{
		`<section id="gateway" aria-labelledby="gateway-h">`,
		`<h2 id="gateway-h">CloudLink Gateway Integration</h2>`,
		`<p id="gateway-installed">CloudLink Gateway is installed</p>`,
		`<th scope="row">Version</th><td id="gateway-version">2.4.17</td>`,
		`<span class="status status-started" id="gateway-state">running</span> <span id="gateway-health" class="muted">(healthy)</span>`,
		`<div class="reason" id="gateway-status-text">The gateway runs and its REST interface answers its health check.</div>`,
		`<th scope="row">Instances</th><td id="gateway-instances">default</td>`,
		// The status page on the host while its tunnel is stopped.
		`<a href="http://127.0.0.1:8090/status" id="gateway-status-link">Status</a>`,
		"its address on this host; start the tunnel “CLGW REST interface” to open it from elsewhere",
		// Running: Stop and Restart, plain forms with the token.
		`<form method="post" action="/cld/gateway/stop" class="inline"><input type="hidden" name="csrf" value="`,
		`id="gateway-stop">Stop</button>`,
		`<form method="post" action="/cld/gateway/restart" class="inline">`, `id="gateway-restart">Restart</button>`,
		`<form method="get" action="/cld/#gateway" class="inline"><button type="submit" class="link" id="gateway-refresh">Refresh the status</button>`,
	} {
		if !strings.Contains(sec, want) {
			t.Errorf("gateway section lacks %q", want)
		}
	}
	for _, unwanted := range []string{"gateway-start", "data-live=", "live.js", "gateway-manager", "Managed by", "gateway-multiple", "gateway-error", "msg-warning"} {
		if strings.Contains(sec, unwanted) {
			t.Errorf("gateway section shows %q", unwanted)
		}
	}
	if n := strings.Count(sec, `name="csrf"`); n != 2 {
		t.Errorf("%d forms with a token, want 2 (Stop, Restart)", n)
	}
	// The spec's order: the update, the gateway, Tunnels.
	iu, ig, it := strings.Index(std, `<section id="update"`), strings.Index(std, `<section id="gateway"`), strings.Index(std, `<section id="tunnels"`)
	if !(iu >= 0 && iu < ig && ig < it) {
		t.Errorf("sections at update %d, gateway %d, tunnels %d", iu, ig, it)
	}
	if !strings.Contains(section(t, std, "tunnels"), `<tr id="tunnel-clgw-rest"`) {
		t.Error("the tunnels lack the gateway's REST interface")
	}

	// The debug view adds what drives it and its status page's address.
	dbg := section(t, b.get("/cld/?view=debug").body, "gateway")
	for _, want := range []string{
		`<th scope="row">Managed by</th><td id="gateway-manager">the daemon&#39;s own supervisor (cld runs the gateway core as its child)</td>`,
		`<td class="mono" id="gateway-status-url">http://127.0.0.1:8090/status</td>`,
	} {
		if !strings.Contains(dbg, want) {
			t.Errorf("debug gateway section lacks %q", want)
		}
	}
	f.set(func(st *api.Status) { st.Gateway.Manager = managerSystemd })
	if dbg := section(t, b.get("/cld/").body, "gateway"); !strings.Contains(dbg, `<td id="gateway-manager">systemd (the host&#39;s service manager, over D-Bus)</td>`) {
		t.Error("debug gateway section does not name systemd")
	}
	b.get("/cld/?view=standard")

	// Its tunnel started: the status page through the tunnel's public URL.
	f.set(func(st *api.Status) {
		for i := range st.Tunnels {
			if st.Tunnels[i].ID == gatewayTunnelID {
				st.Tunnels[i].Enabled, st.Tunnels[i].Status = true, api.TunnelStarted
				st.Tunnels[i].PublicURL = "https://0f1e2d3c-0000-4000-8000-000000000001.eu.little-mole.mitel.io/"
			}
		}
	})
	sec = section(t, b.get("/cld/").body, "gateway")
	if !strings.Contains(sec, `<a href="https://0f1e2d3c-0000-4000-8000-000000000001.eu.little-mole.mitel.io/status" id="gateway-status-link">Status</a> <span class="muted">(through the tunnel “CLGW REST interface”)</span>`) {
		t.Errorf("the started tunnel's public URL is not the status link:\n%s", sec)
	}
	// Starting, or started without a usable public URL: the host's address.
	for _, tn := range []api.Tunnel{{Status: api.TunnelStarting, PublicURL: "https://x.example/"}, {Status: api.TunnelStarted, PublicURL: "javascript:alert(1)"}} {
		f.set(func(st *api.Status) {
			for i := range st.Tunnels {
				if st.Tunnels[i].ID == gatewayTunnelID {
					st.Tunnels[i].Status, st.Tunnels[i].PublicURL = tn.Status, tn.PublicURL
				}
			}
		})
		if sec := section(t, b.get("/cld/").body, "gateway"); !strings.Contains(sec, `<a href="http://127.0.0.1:8090/status" id="gateway-status-link">`) {
			t.Errorf("tunnel %s %q: the status link is not the host's address", tn.Status, tn.PublicURL)
		}
	}
	// No usable address at all: no link.
	f.set(func(st *api.Status) { st.Gateway.StatusURL = "" })
	if sec := section(t, b.get("/cld/").body, "gateway"); strings.Contains(sec, "gateway-status-link") {
		t.Error("a gateway without a status address has a status link")
	}
	f.set(func(st *api.Status) { st.Gateway.StatusURL = "http://127.0.0.1:8090/status" })

	// Each state in words, with the controls that make sense.
	for _, tc := range []struct {
		status, manager string
		healthy         bool
		class, words    string
		start, stop     bool
	}{
		{gatewayStopped, managerSupervisor, false, "status status-stopped", "The gateway is stopped.", true, false},
		{gatewayStarting, managerSystemd, false, "status status-starting", "The gateway is starting.", false, true},
		{gatewayFailed, managerSupervisor, false, "status status-error", "The gateway stopped on its own or did not start; the daemon starts it again after a pause.", true, true},
		{gatewayFailed, managerSystemd, false, "status status-error", "The gateway stopped on its own or did not start.", true, true},
		{gatewayRunning, managerSystemd, false, "status status-starting", "The gateway runs, but its REST interface does not answer its health check (yet).", false, true},
		{gatewayUnknown, managerSystemd, false, "status status-stopped", "The state of the gateway cannot be told.", true, true},
		{"", managerSystemd, false, "status status-stopped", "The state of the gateway cannot be told.", true, true},
	} {
		f.set(func(st *api.Status) {
			st.Gateway.Status, st.Gateway.Manager, st.Gateway.Healthy = tc.status, tc.manager, tc.healthy
		})
		sec := section(t, b.get("/cld/").body, "gateway")
		state := tc.status
		if state == "" {
			state = gatewayUnknown
		}
		if !strings.Contains(sec, `<span class="`+tc.class+`" id="gateway-state">`+state+`</span>`) || !strings.Contains(sec, `id="gateway-status-text">`+tc.words+`</div>`) {
			t.Errorf("%q (%s): the section lacks its state %q and %q:\n%s", tc.status, tc.manager, tc.class, tc.words, sec)
		}
		if health := strings.Contains(sec, "gateway-health"); health != (tc.status == gatewayRunning) {
			t.Errorf("%q: health shown = %v", tc.status, health)
		}
		if tc.status == gatewayRunning && !strings.Contains(sec, `<span id="gateway-health" class="muted">(not healthy)</span>`) {
			t.Errorf("running, not healthy: %s", sec)
		}
		if got := strings.Contains(sec, `id="gateway-start"`); got != tc.start {
			t.Errorf("%q: Start offered = %v", tc.status, got)
		}
		if got := strings.Contains(sec, `id="gateway-stop"`); got != tc.stop {
			t.Errorf("%q: Stop offered = %v", tc.status, got)
		}
		if !strings.Contains(sec, `id="gateway-restart"`) {
			t.Errorf("%q: no Restart", tc.status)
		}
		if live := strings.Contains(sec, "data-live="); live != (tc.status == gatewayStarting || tc.status == gatewayRunning) {
			t.Errorf("%q: live = %v", tc.status, live)
		}
	}

	// The last control's failure, as the daemon says it.
	f.set(func(st *api.Status) {
		st.Gateway.Status, st.Gateway.Error = gatewayFailed, "the core exited with status 3 right after it started"
	})
	if sec := section(t, b.get("/cld/").body, "gateway"); !strings.Contains(sec, `<p class="msg msg-error" role="alert" id="gateway-error">The core exited with status 3 right after it started.</p>`) {
		t.Errorf("the gateway's error is not shown:\n%s", sec)
	}

	// No gateway, or one the daemon reports as not installed: no section.
	f.set(func(st *api.Status) { st.Gateway = nil })
	if body := b.get("/cld/").body; strings.Contains(body, `id="gateway"`) || strings.Contains(body, "CloudLink Gateway Integration") {
		t.Error("a status without a gateway shows the gateway section")
	}
	f.set(func(st *api.Status) {
		st.Gateway = &api.Gateway{Installed: false, Instances: []string{}, Status: gatewayUnknown}
	})
	if body := b.get("/cld/").body; strings.Contains(body, `id="gateway"`) {
		t.Error("a gateway not installed shows the gateway section")
	}

	// Unlinked: the daemon drives the gateway all the same; the section
	// comes after the way to link, before the tunnels.
	f.set(func(st *api.Status) {
		linkedWithGateway(st)
		st.Linked, st.State, st.Account = false, api.StateUnlinked, nil
	})
	body := b.get("/cld/").body
	il, ig, it := strings.Index(body, "Link to CloudLink"), strings.Index(body, `<section id="gateway"`), strings.Index(body, `<section id="tunnels"`)
	if !(il >= 0 && il < ig && ig < it) || !strings.Contains(section(t, body, "gateway"), `id="gateway-restart"`) {
		t.Errorf("unlinked: link %d, gateway %d, tunnels %d", il, ig, it)
	}
}

// TestGatewayMultipleInstances: two instances (a restored clustered
// backup) are a warning in the section with the guide's remedy, as in the
// Warnings section; the daemon controls neither, so no controls.
func TestGatewayMultipleInstances(t *testing.T) {
	f, h := newTestDashboard(t, Config{BasePath: "/cld"})
	remedy := "Remove any duplicate or conflicting CLGW instances from this platform, ensure only one CLGW is installed and associated with the CloudLink account, then re-onboard the CLGW. Do not restore backups of a clustered CLGW onto this platform."
	f.set(func(st *api.Status) {
		linkedWithGateway(st)
		st.Gateway.Instances, st.Gateway.Status, st.Gateway.Healthy, st.Gateway.Manager, st.Gateway.StatusURL = []string{"default", "restored"}, gatewayUnknown, false, "", ""
		st.Gateway.Error = "more than one CloudLink Gateway instance is installed (default, restored); none is controlled until only one is left"
		st.Warnings = []api.Warning{{Code: gatewayMultipleWarning, Severity: api.SeverityWarning, Title: "CloudLink Gateway: clgw-multiple-instances",
			Text: "2 CloudLink Gateway instances are installed on this host", Remedy: remedy}}
	})
	b := newBrowser(t, h)
	b.signIn("/cld")
	body := b.get("/cld/").body
	sec := section(t, body, "gateway")
	for _, want := range []string{
		`<td id="gateway-instances">default, restored</td>`,
		`<div class="msg msg-warning" id="gateway-multiple"><p><strong>Warning:</strong> 2 CloudLink Gateway instances are installed (default, restored): traditional CLGW mode supports only one per platform, and several (often restored from a backup of a clustered CLGW) make MiVB provisioning and CLGW re-onboarding fail.</p>`,
		`<p><strong>What to do:</strong> ` + remedy + `</p>`,
		`<a href="/cld/#warning-gateway_clgw-multiple-instances">Warnings</a>`,
		`id="gateway-error">More than one CloudLink Gateway instance is installed (default, restored); none is controlled until only one is left.</p>`,
		`<span class="status status-stopped" id="gateway-state">unknown</span>`,
		`<td id="gateway-version">2.4.17</td>`, // the same in both
		`id="gateway-refresh"`,
	} {
		if !strings.Contains(sec, want) {
			t.Errorf("gateway section with two instances lacks %q", want)
		}
	}
	for _, unwanted := range []string{"gateway-start", "gateway-stop", "gateway-restart", "gateway-status-link", `name="csrf"`} {
		if strings.Contains(sec, unwanted) {
			t.Errorf("gateway section with two instances shows %q", unwanted)
		}
	}
	if !strings.Contains(section(t, body, "warnings"), `id="warning-gateway_clgw-multiple-instances"`) {
		t.Error("the Warnings section lacks the warning")
	}
	// A daemon that says nothing of it in its warnings: the guide's remedy.
	f.set(func(st *api.Status) { st.Warnings = nil })
	sec = section(t, b.get("/cld/").body, "gateway")
	if !strings.Contains(sec, `<strong>What to do:</strong> `+gatewayMultipleRemedy) || strings.Contains(sec, "#warning-") {
		t.Errorf("without the daemon's warning the section lacks the guide's remedy or links to a missing warning:\n%s", sec)
	}
	if gatewayMultipleRemedy != remedy {
		t.Error("the built-in remedy differs from the daemon's")
	}
	// One of them named in the daemon's config: it is driven, so controls.
	f.set(func(st *api.Status) {
		st.Gateway.Manager, st.Gateway.Status, st.Gateway.Error = managerSystemd, gatewayStopped, ""
	})
	sec = section(t, b.get("/cld/").body, "gateway")
	if !strings.Contains(sec, `id="gateway-start"`) || !strings.Contains(sec, `id="gateway-multiple"`) {
		t.Errorf("a driven instance among two: no Start or no warning:\n%s", sec)
	}
}

func TestGatewayActions(t *testing.T) {
	f, h := newTestDashboard(t, Config{BasePath: "/cld"})
	f.set(linkedWithGateway)
	b := newBrowser(t, h)
	b.signIn("/cld")
	tok := csrfOf(t, b.get("/cld/").body)
	post := func(path string) {
		t.Helper()
		res := b.do("POST", path, url.Values{"csrf": {tok}})
		if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/cld/#gateway" {
			t.Fatalf("POST %s: %d to %q, want 303 to /cld/#gateway\n%s", path, res.StatusCode, res.Header.Get("Location"), res.body)
		}
	}
	expect := func(want string, state string) {
		t.Helper()
		body := b.get("/cld/").body
		if !strings.Contains(body, want) {
			t.Errorf("after the action the page lacks %q", want)
		}
		if state != "" && !strings.Contains(section(t, body, "gateway"), `id="gateway-state">`+state+`</span>`) {
			t.Errorf("after the action the section does not show %s", state)
		}
	}

	post("/cld/gateway/stop")
	expect(`<div class="msg msg-success" role="status">The CloudLink Gateway is stopped.</div>`, "stopped")
	post("/cld/gateway/start")
	expect(`<div class="msg msg-success" role="status">The CloudLink Gateway is started and running.</div>`, "running")
	post("/cld/gateway/restart")
	expect(`<div class="msg msg-success" role="status">The CloudLink Gateway is restarted and running.</div>`, "running")

	// What a control can lead to besides.
	for _, tc := range []struct {
		action, path string
		then         func(g *api.Gateway)
		want         string
	}{
		{"start", "/cld/gateway/start", func(g *api.Gateway) { g.Status, g.Healthy = gatewayRunning, false },
			`role="status">The CloudLink Gateway is started and running; its REST interface does not answer its health check yet.</div>`},
		{"restart", "/cld/gateway/restart", func(g *api.Gateway) { g.Status, g.Healthy = gatewayStarting, false },
			`<div class="msg msg-info" role="status">The CloudLink Gateway is starting.</div>`},
		{"start", "/cld/gateway/start", func(g *api.Gateway) { g.Status, g.Error = gatewayFailed, "the core exited with status 3" },
			`role="alert">The CloudLink Gateway was started, but it is failed now: the core exited with status 3.</div>`},
		{"stop", "/cld/gateway/stop", func(g *api.Gateway) { g.Status, g.Error = gatewayRunning, "" },
			`role="alert">The CloudLink Gateway was stopped, but it is running now.</div>`},
	} {
		f.onGateway = func(action string, g *api.Gateway) {
			if action != tc.action {
				t.Errorf("the daemon was asked to %s, want %s", action, tc.action)
			}
			tc.then(g)
		}
		post(tc.path)
		expect(tc.want, "")
	}
	f.onGateway = nil
	if got, want := f.gatewayControls(), []string{"stop", "start", "restart", "start", "restart", "start", "stop"}; !slices.Equal(got, want) {
		t.Errorf("daemon calls %q, want %q", got, want)
	}

	// The daemon's sentence when it fails or refuses.
	f.gatewayErr = &api.Error{Code: api.CodeInternal, Message: "The CloudLink Gateway could not be controlled: the job for clgw@default.service failed."}
	for _, path := range []string{"/cld/gateway/start", "/cld/gateway/stop", "/cld/gateway/restart"} {
		post(path)
		expect(`<div class="msg msg-error" role="alert">The CloudLink Gateway could not be controlled: the job for clgw@default.service failed.</div>`, "")
	}
	f.gatewayErr = nil
	if got, want := f.gatewayControls(), []string{"start", "stop", "restart"}; !slices.Equal(got, want) {
		t.Errorf("daemon calls %q, want %q", got, want)
	}
	f.set(func(st *api.Status) { st.Gateway = nil })
	post("/cld/gateway/start")
	expect(`role="alert">No CloudLink Gateway is installed on this host.</div>`, "")
	f.set(withGateway)
	f.gatewayControls()

	// Bad requests never reach the daemon.
	for _, tc := range []struct {
		method, path string
		form         url.Values
		code         int
		want         string
	}{
		{"GET", "/cld/gateway/start", nil, 405, "does not accept GET"},
		{"GET", "/cld/gateway/stop", nil, 405, "does not accept GET"},
		{"GET", "/cld/gateway/restart", nil, 405, "does not accept GET"},
		{"POST", "/cld/gateway/live", url.Values{"csrf": {tok}}, 405, "does not accept POST"},
		{"POST", "/cld/gateway/start", url.Values{"csrf": {"forged"}}, 403, "Request refused"},
		{"POST", "/cld/gateway/stop", url.Values{}, 403, "Request refused"},
		{"POST", "/cld/gateway/restart", url.Values{"csrf": {""}}, 403, "Request refused"},
		{"POST", "/cld/gateway/reboot", url.Values{"csrf": {tok}}, 404, "Page not found"},
	} {
		res := b.do(tc.method, tc.path, tc.form)
		if res.StatusCode != tc.code || !strings.Contains(res.body, tc.want) {
			t.Errorf("%s %s %v: %d, want %d with %q", tc.method, tc.path, tc.form, res.StatusCode, tc.code, tc.want)
		}
	}
	b.header.Set("Sec-Fetch-Site", "cross-site")
	if res := b.do("POST", "/cld/gateway/stop", url.Values{"csrf": {tok}}); res.StatusCode != http.StatusForbidden {
		t.Errorf("cross-site Stop: %d", res.StatusCode)
	}
	b.header = http.Header{"Sec-Fetch-Site": {""}, "Origin": {"https://evil.example"}}
	if res := b.do("POST", "/cld/gateway/restart", url.Values{"csrf": {tok}}); res.StatusCode != http.StatusForbidden {
		t.Errorf("foreign-origin Restart: %d", res.StatusCode)
	}
	b.header = http.Header{}
	// Another session's token does not work.
	b2 := newBrowser(t, h)
	b2.signIn("/cld")
	if res := b2.do("POST", "/cld/gateway/stop", url.Values{"csrf": {tok}}); res.StatusCode != http.StatusForbidden {
		t.Errorf("another session's token: %d", res.StatusCode)
	}
	// Signed out: to the sign-in page, nothing done.
	if res := newBrowser(t, h).do("POST", "/cld/gateway/stop", url.Values{"csrf": {tok}}); res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/cld/login?expired=1" {
		t.Errorf("signed-out Stop: %d to %q", res.StatusCode, res.Header.Get("Location"))
	}
	if calls := f.gatewayControls(); len(calls) != 0 {
		t.Errorf("refused requests reached the daemon: %q", calls)
	}
	f.set(func(st *api.Status) {
		if st.Gateway.Status != gatewayRunning {
			t.Errorf("a refused request changed the gateway: %+v", st.Gateway)
		}
	})
}

// TestGatewayLive: while the gateway starts, or runs without answering its
// health check, the section keeps itself current (live.js, every 5 s);
// /gateway/live is the section alone.
func TestGatewayLive(t *testing.T) {
	f, h := newTestDashboard(t, Config{BasePath: "/cld"})
	f.set(func(st *api.Status) {
		linkedWithGateway(st)
		st.Gateway.Status, st.Gateway.Healthy = gatewayStarting, false
	})
	b := newBrowser(t, h)
	b.signIn("/cld")
	sec := section(t, b.get("/cld/").body, "gateway")
	for _, want := range []string{
		`<section id="gateway" aria-labelledby="gateway-h" data-live="/cld/gateway/live" data-live-every="5000">`,
		`<tbody id="gateway-facts" data-live-part>`, `<div id="gateway-messages" data-live-part>`,
		`<script src="/cld/static/live.js" defer></script>`,
	} {
		if !strings.Contains(sec, want) {
			t.Errorf("starting gateway's section lacks %q", want)
		}
	}
	tok := csrfOf(t, b.get("/cld/").body)
	b.do("POST", "/cld/gateway/restart", url.Values{"csrf": {tok}}) // queues a message; running and healthy now
	f.set(func(st *api.Status) { st.Gateway.Healthy = false })
	live := b.get("/cld/gateway/live")
	if live.StatusCode != 200 || live.Header.Get("Cache-Control") != "no-store" ||
		!strings.HasPrefix(live.body, `<section id="gateway" aria-labelledby="gateway-h" data-live="/cld/gateway/live" data-live-every="5000">`) ||
		!strings.HasSuffix(live.body, "</section>") || !strings.Contains(live.body, "(not healthy)") || !strings.Contains(live.body, `value="`+tok+`"`) {
		t.Fatalf("live section: %d %q\n%s", live.StatusCode, live.Header.Get("Cache-Control"), live.body)
	}
	if strings.Contains(live.body, "<html") || strings.Contains(live.body, "restarted") {
		t.Error("the live section is more than the section")
	}
	if body := b.get("/cld/").body; !strings.Contains(body, "The CloudLink Gateway is restarted and running.") {
		t.Error("the live section took the page's message")
	}
	// Healthy: the section without data-live (the script then stops).
	f.set(func(st *api.Status) { st.Gateway.Healthy = true })
	if live := b.get("/cld/gateway/live"); live.StatusCode != 200 || strings.Contains(live.body, "data-live=") || !strings.Contains(live.body, "(healthy)") {
		t.Errorf("live section when healthy: %d\n%s", live.StatusCode, live.body)
	}
	// The debug view's facts, too.
	b.get("/cld/?view=debug")
	if live := b.get("/cld/gateway/live"); !strings.Contains(live.body, `id="gateway-manager"`) {
		t.Error("the live section in the debug view lacks the manager")
	}
	// No gateway any more: 204 (the script reloads the page).
	f.set(func(st *api.Status) { st.Gateway = nil })
	if live := b.get("/cld/gateway/live"); live.StatusCode != http.StatusNoContent || live.body != "" {
		t.Errorf("live section without a gateway: %d %q", live.StatusCode, live.body)
	}
	// Signed out: to the sign-in page (the script reloads the page).
	if res := newBrowser(t, h).get("/cld/gateway/live"); res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/cld/login" {
		t.Errorf("signed-out live section: %d to %q", res.StatusCode, res.Header.Get("Location"))
	}
}

// TestGatewayLiveInBrowser runs static/live.js in headless Chromium on the
// gateway section: a gateway that runs but has not answered its health
// check becomes healthy on the page without a reload (data-live-every),
// and Stop, a plain form, shows the outcome.
func TestGatewayLiveInBrowser(t *testing.T) {
	if _, err := os.Stat(chromiumPath); err != nil {
		if os.Getenv("CI") == "" {
			t.Skipf("skipping the browser test: %s is not installed", chromiumPath)
		}
		t.Fatalf("CI is set but %s is missing: %v", chromiumPath, err)
	}
	f, h := newTestDashboard(t, Config{BasePath: "/cld"})
	f.set(func(st *api.Status) {
		linkedWithGateway(st)
		st.Gateway.Healthy = false
	})
	srv := httptest.NewServer(h)
	defer srv.Close()

	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(chromiumPath), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck, chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-dev-shm-usage", true))
	defer cancelAlloc()
	ctx, cancelTab := chromedp.NewContext(allocCtx)
	defer cancelTab()
	ctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	do := func(what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, actions...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	do("signing in",
		chromedp.Navigate(srv.URL+"/cld/login"),
		chromedp.SendKeys(chromedp.CSS("#username"), "admin"),
		chromedp.SendKeys(chromedp.CSS("#password"), "demo-password"),
		chromedp.Click(chromedp.CSS(`form[action="/cld/login"] button`)),
		chromedp.WaitVisible(chromedp.CSS("#gateway-health")),
		chromedp.Evaluate[chromedp.Void](`window.liveMark = 1`),
	)
	if got, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#gateway-health"))); err != nil || got != "(not healthy)" {
		t.Fatalf("health shows %q (%v)", got, err)
	}
	f.set(func(st *api.Status) { st.Gateway.Healthy = true })
	start := time.Now()
	deadline := start.Add(20 * time.Second)
	for {
		got, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#gateway-health"), chromedp.AtLeast(0)))
		if err == nil && got == "(healthy)" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the section still shows %q (%v)", got, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Logf("healthy on the page %s after the daemon said so", time.Since(start).Round(100*time.Millisecond))
	if mark, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.liveMark === 1 && !document.querySelector("#gateway").hasAttribute("data-live")`)); err != nil || !mark {
		t.Fatalf("the page was reloaded, or the section is still live (%v, %v)", mark, err)
	}
	do("stopping",
		chromedp.Click(chromedp.CSS("#gateway-stop")),
		chromedp.WaitVisible(chromedp.CSS("#gateway-start")),
	)
	if got, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("main"))); err != nil || !strings.Contains(got, "The CloudLink Gateway is stopped.") {
		t.Errorf("after Stop the page shows %q (%v)", got, err)
	}
	if got := f.gatewayControls(); !slices.Equal(got, []string{"stop"}) {
		t.Errorf("daemon calls %q", got)
	}
}
