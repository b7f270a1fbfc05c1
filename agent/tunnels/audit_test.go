package tunnels

import (
	"io"
	"log/slog"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/cloudlink/cld/agent/api"
	"github.com/cloudlink/cld/tunnel"
)

// TestAuditAndUnsignedCounts: the session's refusals of headers without a
// valid signature are counted apart (and in the refused total), and every
// accepted stream the session reports is in the audit, newest first.
func TestAuditAndUnsignedCounts(t *testing.T) {
	dir := t.TempDir()
	m, err := New(Config{StateDir: dir, Clock: clockwork.NewFakeClock(), LinkState: func() string { return api.StateLinked },
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	m.onRefused("", tunnel.ReplyBadSignature)
	m.onRefused("", tunnel.ReplyBadSignature)
	m.onRefused("", tunnel.ReplyBadHeader)
	m.onRefused("web", tunnel.ReplyStopped)
	if ts := m.List(); ts.Refused != 4 || ts.RefusedUnsigned != 2 {
		t.Fatalf("refused %d, unsigned %d; want 4 and 2", ts.Refused, ts.RefusedUnsigned)
	}
	t0 := time.Date(2026, 12, 7, 8, 0, 0, 0, time.UTC)
	m.onStream(tunnel.StreamRecord{Tunnel: "web", User: "alice@example.com", Client: "203.0.113.9:1", Start: t0, End: t0.Add(time.Second), FromEdge: 10, ToEdge: 2000})
	m.onStream(tunnel.StreamRecord{Tunnel: "sm", User: "bob@example.com", Start: t0, End: t0.Add(2 * time.Second), FromEdge: 5, ToEdge: 7})
	got, err := m.auditRoute(httptest.NewRequest("GET", "/v1/tunnels/audit?limit=1", nil))
	if err != nil {
		t.Fatal(err)
	}
	a := got.(api.Audit)
	if len(a.Records) != 1 || a.Records[0].User != "bob@example.com" || a.Records[0].BytesOut != 7 {
		t.Fatalf("audit = %+v", a)
	}
	if _, err := m.auditRoute(httptest.NewRequest("GET", "/v1/tunnels/audit?limit=x", nil)); err == nil {
		t.Fatal("a bad limit was accepted")
	}
	all, _ := m.AuditList(0)
	if len(all.Records) != 2 || all.Records[1].User != "alice@example.com" || all.Records[1].BytesIn != 10 {
		t.Fatalf("audit = %+v", all)
	}
}
