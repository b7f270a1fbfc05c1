package openscape

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cloudlink/cld/platforms"
)

func notices(p platforms.Platform) []platforms.Notice { return p.(platforms.Noticer).Notices() }

// TestSecondDaemon: the fixture's node is registered by cld-cmp1; this
// daemon (cld, /var/lib/cld) is refused with a notice and no tunnels,
// while cld-cmp1 itself is accepted.
func TestSecondDaemon(t *testing.T) {
	dir := abs(t, "testdata/hosts/osv-second-daemon")
	p, err := Voice{}.Detect(dir)
	if err != nil {
		t.Fatal(err)
	}
	ns := notices(p)
	if len(ns) != 1 || len(p.Tunnels()) != 0 {
		t.Fatalf("notices %+v, tunnels %+v", ns, p.Tunnels())
	}
	n := ns[0]
	for _, s := range []string{`"cld-cmp1" (state directory /var/lib/cld-cmp1)`, "cmp1.muc.example", "osv1 (node 1 of the duplex cluster osvcluster-muc, partner osv2)",
		`"cld" (state directory /var/lib/cld)`, "/opt/unisphere/srx3000/cloudlink/registration"} {
		if !strings.Contains(n.Text, s) {
			t.Errorf("text %q lacks %q", n.Text, s)
		}
	}
	if n.Code != "osv-second-daemon" || !strings.Contains(n.Remedy, "supports a connection to only one CloudLink CMP") || !strings.Contains(n.Remedy, "unlink cld-cmp1") {
		t.Errorf("%+v", n)
	}

	// The owner, by its state directory (in the config or in code).
	if p, err := (Voice{Self: Instance{StateDir: "/var/lib/cld-cmp1"}}).Detect(dir); err != nil || len(notices(p)) != 0 || len(p.Tunnels()) != 2 {
		t.Errorf("owner: %v, %v", p, err)
	}
	if _, err := platforms.Open(platformConfig(t, "platform:\n  type: openscape-voice\n  state_dir: /var/lib/cld-cmp1/\n"), dir, Adapters()...); err == nil || !strings.Contains(err.Error(), "not a clean path") {
		t.Errorf("state_dir with a trailing slash: %v", err)
	}
	p, err = platforms.Open(platformConfig(t, "platform:\n  type: openscape-voice\n  instance: cld-cmp1\n  state_dir: /var/lib/cld-cmp1\n"), dir, Adapters()...)
	if err != nil || len(notices(p)) != 0 || len(p.Tunnels()) != 2 {
		t.Errorf("owner by config: %v, %v", p, err)
	}
	// The supported fixture's node is this daemon's; another instance on
	// it is the second.
	own := abs(t, "testdata/hosts/osv-node1-duplex")
	p, err = platforms.Open(platformConfig(t, "platform:\n  type: openscape-voice\n  instance: cld-test\n  state_dir: /var/lib/cld-test\n"), own, Adapters()...)
	if err != nil || len(notices(p)) != 1 || !strings.Contains(notices(p)[0].Text, `this daemon, "cld-test" (state directory /var/lib/cld-test)`) || len(p.Tunnels()) != 0 {
		t.Errorf("second on the owned node: %v, %v", p, err)
	}
	if p, err := AdaptersFor(Instance{Name: "cld-test", StateDir: "/var/lib/cld-test"})[1].Detect(own); err != nil || len(notices(p)) != 1 {
		t.Errorf("AdaptersFor: %v, %v", p, err)
	}
}

// TestRegistrationByName: a marker without STATE_DIR names its owner by
// instance name; one that names neither is ignored.
func TestRegistrationByName(t *testing.T) {
	root := copyTree(t, "osv-node1-duplex")
	reg := filepath.Join(root, "opt/unisphere/srx3000/cloudlink/registration")
	os.WriteFile(reg, []byte("INSTANCE=cld\n"), 0o644)
	if p, err := (Voice{}).Detect(root); err != nil || len(notices(p)) != 0 {
		t.Errorf("by name, ours: %v, %v", p, err)
	}
	os.WriteFile(reg, []byte("INSTANCE=cld-other\n"), 0o644)
	if p, err := (Voice{}).Detect(root); err != nil || len(notices(p)) != 1 || !strings.Contains(notices(p)[0].Text, `instance "cld-other", as`) {
		t.Errorf("by name, another's: %v, %v", p, err)
	}
	os.WriteFile(reg, []byte("# nobody\nCMP=x\n"), 0o644)
	if p, err := (Voice{}).Detect(root); err != nil || len(notices(p)) != 0 || len(p.Tunnels()) != 2 {
		t.Errorf("no owner: %v, %v", p, err)
	}
}

// TestClaimRelease: the first daemon to link claims the node; a second is
// refused by Claim and by detection; after the first releases it, the
// second claims it.
func TestClaimRelease(t *testing.T) {
	root := copyTree(t, "osv-v10r3fr32")
	// A supported node without a registration.
	os.WriteFile(filepath.Join(root, "opt/unisphere/srx3000/etc/osv-release"), []byte("PRODUCT=\"OpenScape Voice\"\nVERSION=\"V11R0 FR2 HF1\"\n"), 0o644)
	first := Voice{}
	second := Voice{Self: Instance{Name: "cld-cmp2", StateDir: "/var/lib/cld-cmp2"}}
	for _, a := range []Voice{first, second} {
		if p, err := a.Detect(root); err != nil || len(notices(p)) != 0 || len(p.Tunnels()) != 2 {
			t.Fatalf("unclaimed: %v, %v", p, err)
		}
	}
	now := time.Date(2026, 3, 1, 9, 30, 0, 0, time.UTC)
	if err := first.Claim(root, "cmp.example", now); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(root, "opt/unisphere/srx3000/cloudlink/registration"))
	if err != nil || !strings.Contains(string(data), "INSTANCE=\"cld\"\nSTATE_DIR=\"/var/lib/cld\"\nNODE_NAME=\"osv1\"\nCMP=\"cmp.example\"\nSINCE=\"2026-03-01T09:30:00Z\"\n") {
		t.Fatalf("%s %v", data, err)
	}
	if err := first.Claim(root, "cmp.example", now); err != nil {
		t.Errorf("claiming again: %v", err)
	}
	if err := second.Claim(root, "cmp2.example", now); err == nil || !strings.Contains(err.Error(), `"cld" (state directory /var/lib/cld)`) {
		t.Errorf("second claim: %v", err)
	}
	if p, err := second.Detect(root); err != nil || len(notices(p)) != 1 || len(p.Tunnels()) != 0 || !strings.Contains(notices(p)[0].Text, "cmp.example") {
		t.Errorf("second: %v, %v", p, err)
	}
	if err := second.Release(root); err != nil {
		t.Fatal(err)
	}
	if p, _ := second.Detect(root); len(notices(p)) != 1 {
		t.Errorf("a release by the second daemon removed the first's registration")
	}
	if err := first.Release(root); err != nil {
		t.Fatal(err)
	}
	if err := first.Release(root); err != nil {
		t.Errorf("releasing again: %v", err)
	}
	if err := second.Claim(root, "cmp2.example", now); err != nil {
		t.Fatal(err)
	}
	if p, _ := first.Detect(root); len(notices(p)) != 1 || !strings.Contains(notices(p)[0].Text, `"cld-cmp2"`) {
		t.Errorf("first after the move: %+v", notices(p))
	}
	if err := (Voice{Options: Options{Files: map[string]string{"registration": "x"}}}).Claim(root, "", now); err == nil {
		t.Error("a bad option is not refused")
	}
}

func TestNodeString(t *testing.T) {
	for _, tc := range []struct {
		n    *Node
		want string
	}{
		{nil, "this node"}, {&Node{}, "this node"}, {&Node{ID: 2}, "node 2"},
		{&Node{ID: 1, Name: "osv1", Type: "simplex", Cluster: "lab"}, "osv1 (node 1 of the simplex cluster lab)"},
		{&Node{Name: "osv1", PartnerName: "osv2"}, "osv1 (partner osv2)"},
	} {
		if got := tc.n.String(); got != tc.want {
			t.Errorf("%+v: %q, want %q", tc.n, got, tc.want)
		}
	}
}
