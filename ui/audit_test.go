package ui

import (
	"strings"
	"testing"
	"time"

	"github.com/cloudlink/cld/agent/api"
)

// TestAuditInDebugView: the debug view's Tunnels section lists the access
// audit (user, tunnel, client, bytes) and the streams refused for a bad
// signature, in the page's language; the standard view shows neither.
func TestAuditInDebugView(t *testing.T) {
	f, h := newTestDashboard(t, Config{BasePath: "/cld"})
	f.set(linkedWithTunnels)
	f.connected, f.refused, f.unsigned = true, 3, 2
	t0 := time.Date(2026, 12, 7, 8, 0, 0, 0, time.UTC)
	f.audit = api.Audit{Path: "/var/lib/cld/access-audit.jsonl", MaxBytes: 1 << 20, Records: []api.AuditRecord{
		{Tunnel: "msl-server-manager", User: "alice@example.com", Client: "203.0.113.9:4444", Start: t0, End: t0.Add(time.Minute), BytesIn: 812, BytesOut: 1048576},
	}}
	b := newBrowser(t, h)
	b.signIn("/cld")
	dbg := section(t, b.get("/cld/?view=debug").body, "tunnels")
	for _, want := range []string{
		`<div id="tunnel-audit" data-live-part>`, "Access audit", "alice@example.com", "203.0.113.9:4444", ">812<", ">1048576<",
		"/var/lib/cld/access-audit.jsonl", "Streams refused for a missing or forged signature of the tunnel edge: 2",
	} {
		if !strings.Contains(dbg, want) {
			t.Errorf("debug view lacks %q", want)
		}
	}
	de := section(t, b.get("/cld/?view=debug&lang=de").body, "tunnels")
	for _, want := range []string{"Zugriffsprotokoll", "Portal-Benutzer", "gefälschter Signatur"} {
		if !strings.Contains(de, want) {
			t.Errorf("German debug view lacks %q", want)
		}
	}
	if std := section(t, b.get("/cld/?view=standard").body, "tunnels"); strings.Contains(std, "tunnel-audit") || strings.Contains(std, "alice@") {
		t.Error("the standard view shows the audit")
	}
	f.audit.Records = nil
	if dbg := section(t, b.get("/cld/?view=debug&lang=en").body, "tunnels"); !strings.Contains(dbg, "No connection through a tunnel has been recorded yet.") {
		t.Error("an empty audit is not said")
	}
}
