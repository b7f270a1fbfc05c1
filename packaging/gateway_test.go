package packaging_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/cloudlink/cld/agent/api"
	gw "github.com/cloudlink/cld/platforms/gateway"
)

// The stand-in gateway core's instances in the test's root.
const (
	gatewayVersion = "2.4.17"
	gatewayPort    = 8090 // the instance default's REST interface
	gatewayPort2   = 8091 // the second instance's, which never runs
)

// gatewayUnit is the template unit of the stand-in core, as a host's
// package of the gateway could ship it: fakegw reads CLGW_HOME and
// CLGW_CONFIG, the same environment the daemon's own supervisor gives it;
// systemd restarts it when it fails.
const gatewayUnit = `[Unit]
Description=CloudLink Gateway core (%i)

[Service]
Type=simple
WorkingDirectory=/opt/mitel/clgw/%i
Environment=CLGW_INSTANCE=%i CLGW_HOME=/opt/mitel/clgw/%i CLGW_CONFIG=/opt/mitel/clgw/%i/etc/clgw.conf
ExecStart=/opt/mitel/clgw/%i/bin/clgw-core
Restart=on-failure
RestartSec=1s

[Install]
WantedBy=multi-user.target
`

// TestGatewayUnderSystemd is the daemon driving a co-located CloudLink
// Gateway core under a real systemd over its D-Bus
// (check-gateway-in-systemd.sh in a booted Debian root): the package's
// cld, with its hardened unit, finds the instance and its unit, starts,
// stops and restarts it through systemd; a crash is systemd's to restart
// (RestartSec between the starts, its start limit for a core that crashes
// at every start, which cld reports and warns about); a second instance
// directory is warned about with the solution guide's remedy.
func TestGatewayUnderSystemd(t *testing.T) {
	t.Parallel()
	need(t, "systemd-nspawn")
	start := time.Now()
	pkg, tool := startPackages("1")[0], checktool()
	tmp := t.TempDir()
	fakegw := filepath.Join(tmp, "fakegw")
	fakegwBuilt := background(t, func() error { return goBuildErr("..", fakegw, "./platforms/gateway/testdata/fakegw") })
	root := freshRoot(t)
	if err := fakegwBuilt(); err != nil {
		t.Fatal(err)
	}
	p, checktool := pkg.get(t), tool.get(t)
	t.Logf("built %s, fakegw and checktool in %s", filepath.Base(p.deb), time.Since(start).Round(time.Second))

	inst := filepath.Join(root, "opt/mitel/clgw/default")
	for _, d := range []string{"bin", "etc"} {
		if err := os.MkdirAll(filepath.Join(inst, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for path, content := range map[string]string{
		filepath.Join(inst, "VERSION"):                          gatewayVersion + "\n",
		filepath.Join(inst, "etc/clgw.conf"):                    fmt.Sprintf("REST_PORT=%d\nREST_SCHEME=http\n", gatewayPort),
		filepath.Join(root, "etc/systemd/system/clgw@.service"): gatewayUnit,
		filepath.Join(root, "cld-gateway.env"):                  fmt.Sprintf("PORT=%d\nPORT2=%d\nVERSION=%s\n", gatewayPort, gatewayPort2, gatewayVersion),
	} {
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	run(t, "install", "-m", "0755", fakegw, filepath.Join(inst, "bin/clgw-core"))
	run(t, "cp", p.deb, filepath.Join(root, "cld.deb")) // /tmp is a tmpfs in the container
	run(t, "cp", checktool, filepath.Join(root, "checktool"))

	boot := time.Now()
	bootChecks(t, root, "check-gateway-in-systemd.sh", 300)
	t.Logf("the checks in the container took %s (%s in all)", time.Since(boot).Round(time.Second), time.Since(start).Round(time.Second))

	// What the script saw, read again with the API's own types.
	if s, ok := gatewaySnapshot(t, root, "started"); ok {
		g := s.Gateway
		if g == nil || !g.Installed || !slices.Equal(g.Instances, []string{"default"}) || g.Manager != gw.ManagerSystemd ||
			g.Status != string(gw.StateRunning) || g.Version != gatewayVersion {
			t.Errorf("cld status --json after cld gateway start: gateway %+v, want installed, instances [default], manager systemd, running, version %s", g, gatewayVersion)
		}
	}
	if s, ok := gatewaySnapshot(t, root, "failed"); ok {
		if s.Gateway == nil || s.Gateway.Status != string(gw.StateFailed) || !slices.ContainsFunc(s.Warnings, func(w api.Warning) bool { return w.Code == "gateway_down" }) {
			t.Errorf("cld status --json after systemd gave up on the core: gateway %+v, warnings %+v; want failed and gateway_down", s.Gateway, s.Warnings)
		}
	}
	if s, ok := gatewaySnapshot(t, root, "multi"); ok {
		i := slices.IndexFunc(s.Warnings, func(w api.Warning) bool { return w.Code == "gateway_"+gw.NoticeMultipleInstances })
		switch {
		case i < 0:
			t.Errorf("cld status --json with two instances: no warning gateway_%s in %+v", gw.NoticeMultipleInstances, s.Warnings)
		case s.Warnings[i].Remedy != gw.RemedyMultipleInstances:
			t.Errorf("the warning's remedy is %q, want the guide's %q", s.Warnings[i].Remedy, gw.RemedyMultipleInstances)
		default:
			t.Logf("warning %s (%s): %s Remedy: %s", s.Warnings[i].Code, s.Warnings[i].Severity, s.Warnings[i].Text, s.Warnings[i].Remedy)
		}
		if g := s.Gateway; g == nil || !g.Installed || !slices.Equal(g.Instances, []string{"default", "second"}) {
			t.Errorf("cld status --json with two instances: gateway %+v, want instances [default second]", g)
		}
	}
}

// gatewaySnapshot reads the script's snapshot /cld-gw-NAME.json of `cld
// status --json`; false (the test failed) when it is missing or is not one.
func gatewaySnapshot(t *testing.T, root, name string) (api.Status, bool) {
	t.Helper()
	var s api.Status
	b, err := os.ReadFile(filepath.Join(root, "cld-gw-"+name+".json"))
	if err == nil {
		err = json.Unmarshal(b, &s)
	}
	if err != nil {
		t.Errorf("the snapshot %s of cld status --json: %v\n%s", name, err, tailOf(string(b), 1000))
		return s, false
	}
	return s, true
}
