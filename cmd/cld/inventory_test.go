package main

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestInventoryCLIUnlinked(t *testing.T) {
	sock := inProcessDaemon(t)

	out, errOut, code := runCLI(t, "", "inventory", "status", "--socket", sock)
	if code != 0 || !strings.Contains(out, "Inventory last:") || !strings.Contains(out, "never") || !strings.Contains(out, "Inventory pending: no") {
		t.Errorf("status: %d %q %q", code, out, errOut)
	}
	for _, sub := range []string{"preview", "submit"} {
		_, errOut, code = runCLI(t, "", "inventory", sub, "--socket", sock)
		if code != 1 || !strings.Contains(errOut, "not linked") {
			t.Errorf("%s while unlinked: %d %q", sub, code, errOut)
		}
	}
	out, _, code = runCLI(t, "", "status", "--json", "--socket", sock)
	var raw struct {
		Inventory map[string]any `json:"inventory"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &raw) != nil {
		t.Fatalf("status --json: %d %s", code, out)
	}
	for _, k := range []string{"last", "next", "pending"} {
		if _, ok := raw.Inventory[k]; !ok {
			t.Errorf("status --json inventory lacks %q: %v", k, raw.Inventory)
		}
	}
	_, _, code = runCLI(t, "", "inventory", "bogus")
	if code != 2 {
		t.Errorf("unknown subcommand: exit %d", code)
	}
}
