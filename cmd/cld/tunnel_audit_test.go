package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/cloudlink/cld/agent/api"
)

// TestPrintAudit: `cld tunnel audit` prints one row per connection with the
// user, the tunnel, the client and the bytes, and says where the log is.
func TestPrintAudit(t *testing.T) {
	var b bytes.Buffer
	printAudit(&b, api.Audit{Path: "/var/lib/cld/access-audit.jsonl"})
	if !strings.Contains(b.String(), "No connection") || !strings.Contains(b.String(), "/var/lib/cld/access-audit.jsonl") {
		t.Fatalf("empty audit:\n%s", b.String())
	}
	b.Reset()
	t0 := time.Date(2026, 12, 7, 8, 0, 0, 0, time.UTC)
	printAudit(&b, api.Audit{Path: "/s/access-audit.jsonl", Records: []api.AuditRecord{
		{Tunnel: "web", User: "alice@example.com", Client: "203.0.113.9:4444", Start: t0, End: t0.Add(time.Minute), BytesIn: 356, BytesOut: 67109140},
		{Tunnel: "sm", Start: t0, End: t0},
	}})
	out := b.String()
	for _, want := range []string{"START", "USER", "BYTES OUT", "alice@example.com", "203.0.113.9:4444", "356", "67109140", "2 most recent connections"} {
		if !strings.Contains(out, want) {
			t.Errorf("audit table lacks %q:\n%s", want, out)
		}
	}
	if lines := strings.Split(out, "\n"); !strings.Contains(lines[2], " - ") {
		t.Errorf("a record without a user shows no dash:\n%s", out)
	}
}
