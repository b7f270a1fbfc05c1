package inventory

import (
	"slices"
	"strings"
	"testing"
)

func TestChanges(t *testing.T) {
	prev := &Report{
		Platform:     &Platform{Type: "generic", Name: "MiVB", Version: "10.1"},
		Applications: []Application{{Type: "cloudlink-daemon", Version: "1.0"}, {Type: "mivoice-business", Version: "10.1"}, {Type: "old-app"}},
		License:      &License{SWAStatus: "ACTIVE"},
		Tunnels:      []Tunnel{{ID: "a", Status: "stopped"}, {ID: "b", Status: "started"}, {ID: "z", Status: "started"}},
		Host:         &Host{Hostname: "h", UptimeSeconds: 1},
	}
	next := &Report{
		Platform:     &Platform{Type: "generic", Name: "MiVB", Version: "10.2"},
		Applications: []Application{{Type: "cloudlink-daemon", Version: "1.1"}, {Type: "mivoice-business", Version: "10.1"}, {Type: "cloudlink-gateway", Version: "2.0"}},
		License:      &License{SWAStatus: "EXPIRED"},
		Tunnels:      []Tunnel{{ID: "a", Status: "started"}, {ID: "b", Status: "started"}, {ID: "c", Status: "stopped"}},
		Host:         &Host{Hostname: "h", UptimeSeconds: 99},
	}
	want := []string{
		"platform version: 10.1 → 10.2",
		"application cloudlink-daemon: 1.0 → 1.1",
		"application cloudlink-gateway 2.0 installed",
		"application old-app removed",
		"license SWA status: ACTIVE → EXPIRED",
		"tunnel a: stopped → started",
		"tunnel c added (stopped)",
		"tunnel z removed",
	}
	if got := Changes(prev, next); !slices.Equal(got, want) {
		t.Errorf("Changes =\n%q\nwant\n%q", got, want)
	}
	if got := Changes(next, next); len(got) != 0 {
		t.Errorf("no change: %q", got)
	}
	if got := Changes(nil, &Report{Platform: &Platform{Type: "msl", Name: "MSL", Version: "11"}}); !slices.Equal(got, []string{`platform msl "MSL" 11 added`}) {
		t.Errorf("from nothing: %q", got)
	}
	if got := Changes(prev, nil); len(got) == 0 || got[0] != `platform generic "MiVB" removed` {
		t.Errorf("to nothing: %q", got)
	}
}

// TestChangesIgnoresFailedCollectors: a collector that failed (e.g. timed
// out under load) in either report is no change of what it collects.
func TestChangesIgnoresFailedCollectors(t *testing.T) {
	ok := []CollectorResult{{Name: "platform", Status: CollectorOK}, {Name: "tunnels", Status: CollectorOK}}
	failed := []CollectorResult{{Name: "platform", Status: CollectorFailed, Detail: "timed out"}, {Name: "tunnels", Status: CollectorFailed}}
	full := &Report{
		Platform:     &Platform{Type: "msl", Name: "MiVoice Business", Version: "10.1"},
		Applications: []Application{{Type: DaemonApplication, Version: "1.0"}, {Type: "mivoice-business", Version: "10.1"}},
		License:      &License{SWAStatus: "ACTIVE"},
		Tunnels:      []Tunnel{{ID: "sm", Status: "started"}},
		Collection:   ok,
	}
	empty := &Report{Applications: []Application{{Type: DaemonApplication, Version: "1.0"}}, Collection: failed}
	if got := Changes(full, empty); len(got) != 0 {
		t.Fatalf("to a report whose collectors failed: %q, want no changes", got)
	}
	if got := Changes(empty, full); len(got) != 0 {
		t.Fatalf("from a report whose collectors failed: %q, want no changes", got)
	}
	upgraded := *full
	upgraded.Applications = []Application{{Type: DaemonApplication, Version: "1.1"}}
	upgraded.Collection = failed
	if got := Changes(full, &upgraded); len(got) != 1 || !strings.Contains(got[0], DaemonApplication) {
		t.Fatalf("the daemon's own upgrade beside failed collectors: %q, want it alone", got)
	}
	gone := *full
	gone.Platform = nil
	if got := Changes(full, &gone); len(got) == 0 {
		t.Fatal("a platform really gone (its collector ok) is a change")
	}
}
