package gateway

import (
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cloudlink/cld/platforms"
)

func TestGatewayNotInstalled(t *testing.T) {
	ctx := testContext(t)
	g, err := Open(Options{Root: "testdata/none"})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	if g.Installed() || g.Manager() != nil || g.Tunnels() != nil || len(g.Notices()) != 0 {
		t.Errorf("gateway on a host without one: %+v", g)
	}
	st := g.Status(ctx)
	data, _ := json.Marshal(st)
	if string(data) != `{"installed":false,"instances":[],"status":"unknown","version":""}` {
		t.Errorf("status JSON %s", data)
	}
	for name, op := range map[string]func() error{
		"start": func() error { return g.Start(ctx) }, "stop": func() error { return g.Stop(ctx) },
		"restart": func() error { return g.Restart(ctx) }, "health": func() error { _, err := g.Health(ctx); return err },
	} {
		if err := op(); !errors.Is(err, ErrNotInstalled) {
			t.Errorf("%s: %v, want ErrNotInstalled", name, err)
		}
	}
}

func TestGatewayTwoInstances(t *testing.T) {
	ctx := testContext(t)
	g, err := Open(Options{Root: "testdata/two"})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	if !g.Installed() || g.Manager() != nil || g.Tunnels() != nil {
		t.Errorf("two instances: manager %v, tunnels %v", g.Manager(), g.Tunnels())
	}
	if n := g.Notices(); len(n) != 1 || n[0].Code != NoticeMultipleInstances {
		t.Errorf("notices %+v", n)
	}
	st := g.Status(ctx)
	if st.Status != StateUnknown || strings.Join(st.Instances, ",") != "default,restored" || st.Version != "" ||
		!strings.Contains(st.Error, "default, restored") || !strings.Contains(st.Error, "Remove any duplicate") {
		t.Errorf("status %+v", st)
	}
	err = g.Start(ctx)
	if !errors.Is(err, ErrAmbiguous) || !strings.Contains(err.Error(), "(default, restored)") {
		t.Errorf("start with two instances: %v", err)
	}

	// The same version on both: it is reported.
	root := copyTree(t, "two")
	writeFile(t, root, "opt/mitel/clgw/restored/VERSION", "2.4.17\n", 0o644)
	g2, err := Open(Options{Root: root})
	if err != nil {
		t.Fatal(err)
	}
	if st := g2.Status(ctx); st.Version != "2.4.17" {
		t.Errorf("version %q of two instances at 2.4.17", st.Version)
	}

	// Naming one drives it.
	g3, err := Open(Options{Root: "testdata/two", Instance: "restored", ServiceManager: ManagerSupervisor})
	if err != nil {
		t.Fatal(err)
	}
	defer g3.Close()
	ts := g3.Tunnels()
	if len(ts) != 1 || ts[0].LocalAddress != "https://127.0.0.1:8091" || platforms.ValidateTunnels(ts) != nil {
		t.Errorf("tunnels %+v", ts)
	}
	if st := g3.Status(ctx); st.Instance != "restored" || st.Version != "2.3.9" || st.Status != StateStopped {
		t.Errorf("status %+v", st)
	}
	g4, err := Open(Options{Root: "testdata/two", Instance: "gone"})
	if err != nil {
		t.Fatal(err)
	}
	if err := g4.Start(ctx); err == nil || !strings.Contains(err.Error(), `"gone" is not installed`) {
		t.Errorf("start of an instance not installed: %v", err)
	}
}

func TestOpenChoosesManager(t *testing.T) {
	running := t.TempDir() // stands for /run/systemd/system
	absent := filepath.Join(running, "absent")
	dial := (&dialer{conns: []*fakeSystemd{newFakeSystemd()}}).dial
	noUnit := t.TempDir()
	writeFile(t, noUnit, "opt/mitel/clgw/gw/VERSION", "2.4.17\n", 0o644)
	writeFile(t, noUnit, "opt/mitel/clgw/gw/etc/clgw.conf", "REST_PORT=8090\n", 0o644)
	for _, tc := range []struct {
		root, runDir, manager string
		want                  string // manager name, or an error's text
	}{
		{"testdata/one", running, "", "systemd"},
		{"testdata/one", absent, "", "supervisor"},
		{noUnit, running, "", "supervisor"},
		{"testdata/one", absent, ManagerSystemd, "systemd"},
		{"testdata/one", running, ManagerSupervisor, "supervisor"},
		{noUnit, running, ManagerSystemd, "no unit file clgw@.service or clgw.service of CloudLink Gateway instance gw"},
		{"testdata/one", running, "upstart", `service manager "upstart" is unknown`},
	} {
		g, err := Open(Options{Root: tc.root, SystemdRunDir: tc.runDir, ServiceManager: tc.manager, DialSystemd: dial})
		got := ""
		if err != nil {
			got = err.Error()
		} else {
			got = g.Manager().Name()
			g.Close()
		}
		if !strings.Contains(got, tc.want) {
			t.Errorf("%s, systemd dir %s, manager %q: %q, want %q", tc.root, tc.runDir, tc.manager, got, tc.want)
		}
	}
	if _, err := Open(Options{}); err == nil {
		t.Error("Open without a root")
	}
}

func TestSystemdRunning(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "file", "", 0o644)
	if !SystemdRunning(dir) || SystemdRunning(filepath.Join(dir, "file")) || SystemdRunning(filepath.Join(dir, "none")) {
		t.Error("SystemdRunning")
	}
}
