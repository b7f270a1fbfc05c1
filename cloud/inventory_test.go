package cloud

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cloudlink/cld/cloud/cloudapi"
	"github.com/cloudlink/cld/inventory"
	"github.com/cloudlink/cld/platforms/generic"
)

// testReport is a full report of the system.
func testReport(systemID, id string) *inventory.Report {
	gen := time.Date(2026, 11, 22, 8, 0, 0, 0, time.UTC)
	lic, swa := time.Date(2030, 5, 2, 0, 0, 0, 0, time.UTC), time.Date(2027, 3, 13, 0, 0, 0, 0, time.UTC)
	synced := true
	return &inventory.Report{
		SchemaVersion: inventory.SchemaVersion, ID: id, SystemID: systemID, GeneratedAt: gen, Trigger: "link",
		Host: &inventory.Host{Hostname: "mcd56", Addresses: []string{"192.0.2.10", "2001:db8::10"}, OS: "debian 12.8",
			Kernel: "6.1.0-28-amd64", Arch: "amd64", CPUModel: "Xeon", CPUCores: 4, MemoryBytes: 8 << 30,
			DiskBytes: 100 << 30, DiskFreeBytes: 40 << 30, UptimeSeconds: 90061, TimeZone: "Europe/Berlin"},
		Platform: &inventory.Platform{Type: "msl", Name: "MiVoice Business", Version: "10.2.1.3"},
		Applications: []inventory.Application{{Type: "cloudlink-daemon", Version: "1.8.34"},
			{Type: "cloudlink-gateway", Version: "3.1"}, {Type: "mivoice-business", Version: "10.2.1.3"}},
		License: &inventory.License{Type: "PERPETUAL", Expires: &lic, SWAStatus: "ACTIVE", SWAExpiry: &swa},
		Tunnels: []inventory.Tunnel{{ID: "msl-server-manager", Component: "MSL", Name: "Server Manager", Status: "started",
			PublicURL: "https://946705a2.eu.edge.localhost/"}},
		Clock:    &inventory.Clock{DriftSeconds: 0.25, Synchronized: &synced, MeasuredAt: &gen},
		Daemon:   &inventory.Daemon{Version: "1.8.34", Build: "97", Commit: "abc1234", Branch: "main", Stage: "development"},
		Warnings: []inventory.Warning{{Code: "clock.drift", Severity: "warning", Text: "Drift <script>alert(1)</script> 44s"}},
		Collection: []inventory.CollectorResult{{Name: "host", Status: inventory.CollectorOK, DurationMS: 12.5},
			{Name: "gateway", Status: inventory.CollectorNoData, Detail: "not installed", DurationMS: 0.1}},
	}
}

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func gzipped(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(b)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// hideLength makes a body of unknown length (chunked).
type hideLength struct{ io.Reader }

// postReport sends a report body (with Content-Encoding enc unless empty).
func postReport(t testing.TB, ts *TestServer, token, enc string, body io.Reader) resp {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, ts.URL+cloudapi.PathSystemInventory, body)
	req.Header.Set("Content-Type", "application/json")
	if enc != "" {
		req.Header.Set("Content-Encoding", enc)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	return do(t, ts.Client(), req)
}

func acceptedOK(t testing.TB, r resp) cloudapi.InventoryAccepted {
	t.Helper()
	if r.Status != http.StatusOK {
		t.Fatalf("POST inventory: %d %s", r.Status, r.Body)
	}
	var a cloudapi.InventoryAccepted
	if err := json.Unmarshal([]byte(r.Body), &a); err != nil {
		t.Fatal(err)
	}
	return a
}

// linkedDevice links a system to the demo account and returns its
// registration and device token.
func linkedDevice(t testing.TB, ts *TestServer, installation, host string) (cloudapi.RegisterResponse, string) {
	t.Helper()
	rr := register(t, ts, adminToken(t, ts), installation, host)
	return rr, deviceToken(t, ts, rr)
}

func TestInventoryReports(t *testing.T) {
	ts := NewTestServer(t)
	rr, tok := linkedDevice(t, ts, installA, "pbx-alpha")

	// gzip, then identity.
	a1 := acceptedOK(t, postReport(t, ts, tok, "gzip", bytes.NewReader(gzipped(t, mustJSON(t, testReport(rr.SystemID, "r1"))))))
	if a1.ID != "r1" || a1.Duplicate || a1.ReceivedAt.IsZero() {
		t.Fatalf("r1: %+v", a1)
	}
	r2 := testReport(rr.SystemID, "r2")
	r2.Trigger, r2.Changes = "change", []string{"tunnel msl-server-manager: stopped → started"}
	r2JSON := mustJSON(t, r2)
	a2 := acceptedOK(t, postReport(t, ts, tok, "", bytes.NewReader(r2JSON)))
	if a2.ID != "r2" || a2.Duplicate {
		t.Fatalf("r2: %+v", a2)
	}
	// A retry (gzip this time, later): stored once, answered as a duplicate.
	again := acceptedOK(t, postReport(t, ts, tok, "gzip", hideLength{bytes.NewReader(gzipped(t, r2JSON))}))
	if !again.Duplicate || again.ID != "r2" || !again.ReceivedAt.Equal(a2.ReceivedAt) {
		t.Fatalf("retry: %+v, first %+v", again, a2)
	}
	if n := ts.ReportCount(rr.SystemID); n != 2 {
		t.Fatalf("ReportCount = %d, want 2", n)
	}
	reps, err := ts.Reports(rr.SystemID)
	if err != nil || len(reps) != 2 || reps[0].ID != "r2" || reps[1].ID != "r1" || reps[0].Trigger != "change" ||
		reps[0].Report.Platform.Name != "MiVoice Business" || !bytes.Equal(reps[0].JSON, r2JSON) || reps[1].ReceivedAt.IsZero() {
		t.Fatalf("Reports: %+v %v", reps, err)
	}

	bad := func(mut func(*inventory.Report)) []byte {
		r := testReport(rr.SystemID, "bad")
		mut(r)
		return mustJSON(t, r)
	}
	noField := func(field string) []byte {
		var m map[string]any
		json.Unmarshal(mustJSON(t, testReport(rr.SystemID, "bad")), &m)
		delete(m, field)
		return mustJSON(t, m)
	}
	// A gzip bomb: 40 KiB on the wire, 6 MiB of JSON.
	bomb := gzipped(t, append([]byte(`{"id":"bomb","x":"`), bytes.Repeat([]byte("a"), 6<<20)...))
	noise := make([]byte, cloudapi.MaxInventoryWireBytes+1024)
	rand.Read(noise)
	for _, c := range []struct {
		name   string
		enc    string
		body   []byte
		chunk  bool
		status int
		code   string
		desc   string
	}{
		{"truncated JSON", "gzip", gzipped(t, []byte(`{"id":"x",`)), false, 400, cloudapi.ErrInvalidReport, "the JSON ends early"},
		{"not JSON", "", []byte(`{"id": nope}`), false, 400, cloudapi.ErrInvalidReport, "malformed JSON at byte 9"},
		{"array", "", []byte(`[1]`), false, 400, cloudapi.ErrInvalidReport, "not a JSON object"},
		{"wrong type", "", []byte(`{"schema_version":"1"}`), false, 400, cloudapi.ErrInvalidReport, "schema_version \"1\" is not a whole number"},
		{"bad time", "", []byte(`{"schema_version":1,"generated_at":"yesterday"}`), false, 400, cloudapi.ErrInvalidReport, "yesterday"},
		{"wrong field type", "", []byte(`{"schema_version":1,"host":"x"}`), false, 400, cloudapi.ErrInvalidReport, "field host"},
		{"invalid UTF-8", "", []byte("{\"schema_version\":1,\"id\":\"\xff\"}"), false, 400, cloudapi.ErrInvalidReport, "not valid UTF-8"},
		{"trailing data", "", append(mustJSON(t, testReport(rr.SystemID, "x")), []byte(" {}")...), false, 400, cloudapi.ErrInvalidReport, "data after the report"},
		{"empty", "gzip", gzipped(t, nil), false, 400, cloudapi.ErrInvalidReport, "empty"},
		{"empty body", "gzip", nil, false, 400, cloudapi.ErrInvalidReport, "empty"},
		{"wrong system_id", "gzip", gzipped(t, bad(func(r *inventory.Report) { r.SystemID = "0000-other" })), false, 400, cloudapi.ErrInvalidReport, `system_id "0000-other" is not this system`},
		{"newer schema", "gzip", gzipped(t, bad(func(r *inventory.Report) { r.SchemaVersion = inventory.SchemaVersion + 1 })), false, 400, cloudapi.ErrInvalidReport, "newer than this cloud reads"},
		{"no schema_version", "", noField("schema_version"), false, 400, cloudapi.ErrInvalidReport, "schema_version is missing"},
		{"no id", "", noField("id"), false, 400, cloudapi.ErrInvalidReport, "required fields missing: id."},
		{"no system_id", "", noField("system_id"), false, 400, cloudapi.ErrInvalidReport, "required fields missing: system_id."},
		{"no generated_at", "", noField("generated_at"), false, 400, cloudapi.ErrInvalidReport, "required fields missing: generated_at."},
		{"control characters", "", bad(func(r *inventory.Report) { r.ID = "a\nb" }), false, 400, cloudapi.ErrInvalidReport, "control characters"},
		{"not gzip", "gzip", r2JSON, false, 400, cloudapi.ErrInvalidReport, "not gzip data"},
		{"damaged gzip", "gzip", gzipped(t, r2JSON)[:40], false, 400, cloudapi.ErrInvalidReport, "damaged"},
		{"gzip bomb", "gzip", bomb, false, 413, cloudapi.ErrReportTooLarge, "decompresses to more than 4096 KiB"},
		{"compressed too large", "gzip", gzipped(t, noise), false, 413, cloudapi.ErrReportTooLarge, "compressed report is larger than 1024 KiB"},
		{"compressed too large, chunked", "gzip", gzipped(t, noise), true, 413, cloudapi.ErrReportTooLarge, "compressed report is larger than 1024 KiB"},
		{"JSON too large", "", bytes.Repeat([]byte(" "), cloudapi.MaxInventoryBytes+1), true, 413, cloudapi.ErrReportTooLarge, "larger than 4096 KiB"},
		{"unknown encoding", "br", r2JSON, false, 415, cloudapi.ErrBadRequest, `"br" is not supported`},
	} {
		t.Run(c.name, func(t *testing.T) {
			var body io.Reader = bytes.NewReader(c.body)
			if c.chunk {
				body = hideLength{body}
			}
			r := postReport(t, ts, tok, c.enc, body)
			e := r.apiError(t)
			if r.Status != c.status || e.Code != c.code || !strings.Contains(e.Description, c.desc) {
				t.Errorf("%d %+v, want %d %s %q", r.Status, e, c.status, c.code, c.desc)
			}
			if n := ts.ReportCount(rr.SystemID); n != 2 {
				t.Errorf("ReportCount = %d after a refused report", n)
			}
			if l, err := ts.Server.store.LatestReport(t.Context(), rr.SystemID); err != nil || l.ID != "r2" {
				t.Errorf("latest %s %v, want r2 kept", l.ID, err)
			}
		})
	}

	t.Run("not a device token", func(t *testing.T) {
		r := postReport(t, ts, adminToken(t, ts), "", bytes.NewReader(r2JSON))
		if r.Status != http.StatusForbidden {
			t.Errorf("user token: %d %s", r.Status, r.Body)
		}
		if r := postReport(t, ts, "nope", "", bytes.NewReader(r2JSON)); r.Status != http.StatusUnauthorized {
			t.Errorf("unknown token: %d", r.Status)
		}
		if r := jsonRequest(t, ts, http.MethodGet, cloudapi.PathSystemInventory, tok, nil); r.Status != http.StatusMethodNotAllowed {
			t.Errorf("GET: %d", r.Status)
		}
	})

	t.Run("revoked", func(t *testing.T) {
		if err := ts.RevokeSystem(rr.SystemID, DemoAdminEmail); err != nil {
			t.Fatal(err)
		}
		r := postReport(t, ts, tok, "gzip", bytes.NewReader(gzipped(t, mustJSON(t, testReport(rr.SystemID, "r3")))))
		if e := r.apiError(t); r.Status != http.StatusUnauthorized || e.Code != cloudapi.ErrSystemRevoked {
			t.Errorf("revoked: %d %+v", r.Status, e)
		}
		if n := ts.ReportCount(rr.SystemID); n != 2 {
			t.Errorf("ReportCount = %d", n)
		}
	})
}

func TestInventoryPortal(t *testing.T) {
	ts := NewTestServer(t)
	a, atok := linkedDevice(t, ts, installA, "pbx-alpha")
	child, ctok := linkedDevice(t, ts, installB, "smbc-child")
	none, _ := linkedDevice(t, ts, "3f2504e0-4f89-41d3-9a0c-0305e82c3301", "pbx-silent")
	other := passwordToken(t, ts, DemoAdminEmail, DemoSecondAccountID, cloudapi.ScopeRegister).AccessToken
	foreign := register(t, ts, other, installA, "pbx-foreign")

	first := testReport(a.SystemID, "rep-1")
	first.Platform.Version = "10.1.0.0"
	acceptedOK(t, postReport(t, ts, atok, "gzip", bytes.NewReader(gzipped(t, mustJSON(t, first)))))
	latest := testReport(a.SystemID, "rep-2")
	latest.Trigger, latest.Changes = "change", []string{"component mivoice-business upgraded: 10.1.0.0 → 10.2.1.3"}
	acceptedOK(t, postReport(t, ts, atok, "gzip", bytes.NewReader(gzipped(t, mustJSON(t, latest)))))
	// SMBC: the child daemon reports its own platform with the parent's
	// type; only the child platform is listed.
	cr := testReport(child.SystemID, "child-1")
	cr.Host.Hostname = "smbc-ctl"
	cr.Platform = &inventory.Platform{Type: "mivb", Name: "MiVoice Business (SMBC)", Version: "10.2.0.1", Parent: "smbc"}
	cr.Applications = []inventory.Application{{Type: "cloudlink-daemon"}, {Type: "mivoice-business", Version: "10.2.0.1"}}
	cr.License = &inventory.License{Type: "SUBSCRIPTION", SWAStatus: "EXPIRED"}
	acceptedOK(t, postReport(t, ts, ctok, "", bytes.NewReader(mustJSON(t, cr))))

	b := newBrowser(t, ts)
	b.c.Jar.SetCookies(mustURL(ts.URL+"/portal/"), []*http.Cookie{ts.PortalCookie(t, DemoUserEmail)})
	r := b.get("/portal/systems")
	wantPage(t, r, 200, "<th scope=\"col\">Host</th>", "Platform type", "Platform name", "Application types", "Version", "License",
		"SWA status", "Portal",
		`<span class="host">mcd56</span>`, `<td class="platform-type">msl</td>`, `<td class="platform-name">MiVoice Business</td>`,
		`<td class="app-types">cloudlink-daemon, cloudlink-gateway, mivoice-business</td>`, `<td class="version">10.2.1.3</td>`,
		`PERPETUAL<span class="reason">expires 2030-05-02</span>`, `>ACTIVE</span><span class="reason">until 2027-03-13</span>`,
		`href="/portal/systems/`+a.SystemID+`"`, "Daemon 1.8.34",
		// The SMBC child.
		`<span class="host">smbc-ctl</span>`, `<td class="platform-type">mivb<span class="reason">child of smbc</span></td>`,
		`MiVoice Business (SMBC)`, `<td class="app-types">cloudlink-daemon, mivoice-business</td>`, `>EXPIRED</span>`,
		// A system without a report.
		"pbx-silent", "No inventory report yet", `href="/portal/systems/`+none.SystemID+`"`)
	if strings.Contains(r.Body, `<td class="platform-type">smbc`) {
		t.Error("the SMBC parent is listed as a platform")
	}

	r = b.get("/portal/systems/" + a.SystemID)
	wantPage(t, r, 200, "Latest inventory report", "rep-2", "component mivoice-business upgraded: 10.1.0.0 → 10.2.1.3",
		"<h3>Host</h3>", "192.0.2.10, 2001:db8::10", "debian 12.8", "Xeon, 4 cores", "8.0 GiB", "100.0 GiB, 40.0 GiB free", "1 day 1 h", "<h1>mcd56</h1>",
		"<h3>Platform</h3>", "10.2.1.3", "<h3>License</h3>", "2030-05-02", "<h3>Clock</h3>", "0.250 s",
		"<h3>Daemon</h3>", "abc1234", "development", "<h3>Applications</h3>", "cloudlink-gateway",
		"<h3>Tunnels</h3>", "https://946705a2.eu.edge.localhost/", "<h3>Warnings</h3>", "clock.drift",
		"Drift &lt;script&gt;alert(1)&lt;/script&gt; 44s", "<h3>Collection</h3>", "not installed", "12.5 ms", ">no_data<",
		"Raw JSON", `<pre class="json">{`, "&#34;schema_version&#34;: 1",
		"<h2>History</h2>", `href="/portal/systems/`+a.SystemID+`/reports/rep-1"`, "shown above")
	if strings.Contains(r.Body, "<script>") {
		t.Error("the report's text is not escaped")
	}
	r = b.get("/portal/systems/" + a.SystemID + "/reports/rep-1")
	wantPage(t, r, 200, "Inventory report rep-1", "This is an older report", "10.1.0.0",
		`href="/portal/systems/`+a.SystemID+`/reports/rep-2"`)
	wantPage(t, b.get("/portal/systems/"+a.SystemID+"/reports/nope"), 404, "no stored inventory report nope")
	wantPage(t, b.get("/portal/systems/"+none.SystemID), 200, "has not sent an inventory report yet", "No reports stored.")
	wantPage(t, b.get("/portal/systems/"+foreign.SystemID), 404, "has no system")
	wantPage(t, b.get("/portal/systems/"+child.SystemID), 200, "child platform", "smbc")

	// Signed out: to the sign-in page.
	nb := newBrowser(t, ts)
	wantRedirect(t, nb.get("/portal/systems/"+a.SystemID), "/portal/")
}

// TestInventorySMBCCollected sends the reports the inventory collectors
// make from the SMBC fixtures (../inventory/testdata/smbc): the child's
// system shows the child platform, and nothing of the parent's.
func TestInventorySMBCCollected(t *testing.T) {
	ts := NewTestServer(t)
	child, tok := linkedDevice(t, ts, installA, "smbc-child")
	cfg := inventory.DefaultConfig()
	cfg.SystemID, cfg.Trigger = child.SystemID, inventory.TriggerLink
	cfg.Daemon = inventory.Daemon{Version: "1.8.34"}
	cfg.Root = "../inventory/testdata/host-full"
	cfg.Interfaces = func(context.Context) ([]inventory.Interface, error) {
		return []inventory.Interface{{Name: "eth0", Up: true, Addrs: []string{"192.0.2.10/24"}}}, nil
	}
	cfg.Providers.Platform = inventory.PlatformFile("../inventory/testdata/smbc/child.yaml", "/", generic.Adapter{})
	rep, err := inventory.Collect(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	a := acceptedOK(t, postReport(t, ts, tok, "gzip", bytes.NewReader(gzipped(t, mustJSON(t, rep)))))
	if a.ID != rep.ID || a.Duplicate {
		t.Fatalf("%+v", a)
	}
	b := newBrowser(t, ts)
	b.c.Jar.SetCookies(mustURL(ts.URL+"/portal/"), []*http.Cookie{ts.PortalCookie(t, DemoUserEmail)})
	r := b.get("/portal/systems")
	wantPage(t, r, 200, `<span class="reason">child of smbc</span>`, `<td class="platform-name">MiVoice Business</td>`,
		`<td class="version">10.1.0.12</td>`, "cloudlink-daemon, mivoice-business", ">EXPIRED</span>", "PERPETUAL")
	for _, s := range []string{"MiVoice SMB Controller", "smb-controller", "SUBSCRIPTION"} {
		if strings.Contains(r.Body, s) {
			t.Errorf("the systems page shows the SMBC parent's %q", s)
		}
	}
	wantPage(t, b.get("/portal/systems/"+child.SystemID), 200, "Parent platform", "smbc (this is its child platform")
}
