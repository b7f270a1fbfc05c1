package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// TestProcessInventory: a linked `cld run` reports to cld-cloud at once;
// `cld inventory preview [--json]` prints the exact document (without the
// daemon's secrets) and `cld inventory submit` sends one.
func TestProcessInventory(t *testing.T) {
	t.Parallel()
	needBinaries(t)
	d := newDaemon(t, theCloud(t))
	d.start()
	out, errOut, code := d.cli(password+"\n", "link", "--username", admin, "--password-stdin", "--account", "100001")
	if code != 0 {
		t.Fatalf("link: exit %d\n%s%s", code, out, errOut)
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		st, raw := d.statusJSON()
		if st.Inventory.Last != nil && !st.Inventory.Pending {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the link report was not accepted: %v", raw["inventory"])
		}
		time.Sleep(50 * time.Millisecond)
	}

	raw, errOut, code := d.cli("", "inventory", "preview", "--json")
	var rep struct {
		SchemaVersion int    `json:"schema_version"`
		ID            string `json:"id"`
		SystemID      string `json:"system_id"`
		Trigger       string `json:"trigger"`
	}
	if code != 0 || strings.Count(strings.TrimSpace(raw), "\n") != 0 || json.Unmarshal([]byte(raw), &rep) != nil || rep.Trigger != "manual" || rep.SystemID == "" || rep.SchemaVersion != 1 {
		t.Fatalf("preview --json: exit %d %q %s", code, raw, errOut)
	}
	if strings.Contains(raw, mustReadSecret(t, d.state)) || strings.Contains(raw, password) {
		t.Fatal("the preview carries a secret")
	}
	pretty, _, code := d.cli("", "inventory", "preview")
	if code != 0 || !strings.Contains(pretty, "\n  \"schema_version\": 1,\n") {
		t.Errorf("preview: exit %d\n%s", code, pretty)
	}

	out, errOut, code = d.cli("", "inventory", "submit")
	if code != 0 || !strings.Contains(out, "Inventory report accepted by CloudLink at ") {
		t.Fatalf("submit: exit %d %q %q", code, out, errOut)
	}
	out, _, code = d.cli("", "status")
	if code != 0 || !strings.Contains(out, "Inventory last:") || !strings.Contains(out, "Inventory next:") {
		t.Errorf("status:\n%s", out)
	}
}
