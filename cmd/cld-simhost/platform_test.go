package main

import (
	"context"
	"crypto/tls"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cloudlink/cld/agent/config"
	"github.com/cloudlink/cld/platforms"
	"github.com/cloudlink/cld/platforms/all"
	gw "github.com/cloudlink/cld/platforms/gateway"
	"github.com/cloudlink/cld/platforms/openscape"
)

// TestMain lets the test binary act as cld-simhost's gateway core: the
// tree's bin/clgw-core runs this program (os.Executable) with
// gateway-core.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == "gateway-core" {
		os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// TestPlatformMSL runs --platform msl: the tree and cld-platform.yaml make
// the daemon's platform with a tunnel to every served UI, and the gateway
// core in the tree starts under the gateway driver's supervisor and
// answers healthy.
func TestPlatformMSL(t *testing.T) {
	root := filepath.Join(t.TempDir(), "host")
	dir := filepath.Join(t.TempDir(), "simhost")
	ctx, cancel := context.WithCancel(t.Context())
	var out, errb syncBuffer
	done := make(chan int, 1)
	go func() { done <- serve(ctx, []string{"--platform", "msl", "--root", root, "--dir", dir}, &out, &errb) }()
	defer func() {
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("exit %d; stderr:\n%s", code, errb.String())
		}
	}()
	part := filepath.Join(dir, "cld-platform.yaml")
	deadline := time.Now().Add(20 * time.Second)
	for {
		if _, err := os.Stat(part); err == nil && strings.Contains(out.String(), "cld config: "+part) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s; stdout %q stderr %q", part, out.String(), errb.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, want := range []string{"MSL Server Manager: https://127.0.0.1:", "[msl-server-manager]", "MiVoice Business administration: https://127.0.0.1:",
		"[mivb-admin]", "MiVoice Border Gateway administration", "CloudLink Gateway core (the tree's stand-in, cld starts it): http://127.0.0.1:", "Host tree (msl): " + root} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("stdout lacks %q:\n%s", want, out.String())
		}
	}
	data, err := os.ReadFile(part)
	if err != nil {
		t.Fatal(err)
	}
	cfg := config.DefaultConfig()
	if err := config.ParseConfig(data, part, &cfg); err != nil {
		t.Fatal(err)
	}
	p, err := platforms.Open(cfg.Platform, cfg.HostRoot, all.For(openscape.Instance{StateDir: t.TempDir()})...)
	if err != nil {
		t.Fatalf("%v\n%s", err, data)
	}
	if p.Type() != "msl" || p.Name() != "MiVoice Business" {
		t.Errorf("platform %s %q", p.Type(), p.Name())
	}
	tr := &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	var ids []string
	for _, tn := range p.Tunnels() {
		ids = append(ids, tn.ID)
		if tn.ID == "clgw-rest" {
			continue
		}
		resp, err := c.Get(tn.LocalAddress + "/health")
		if err != nil {
			t.Errorf("%s: %v", tn.ID, err)
			continue
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("%s /health: %s", tn.ID, resp.Status)
		}
	}
	if got := strings.Join(ids, " "); got != "msl-server-manager msl-rest mivb-admin mivb-rest mbg-admin clgw-rest" {
		t.Errorf("tunnels %s", got)
	}

	// The gateway core, as the daemon's supervisor runs it.
	g, err := gw.Open(gw.Options{Root: cfg.HostRoot, ServiceManager: gw.ManagerSupervisor})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	if err := g.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	var st gw.Status
	for deadline := time.Now().Add(20 * time.Second); ; {
		st = g.Status(t.Context())
		if st.Health != nil && st.Health.OK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the gateway core does not answer healthy: %+v %+v", st, st.Health)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if st.Version != "2.4.1" || st.Health.Version != "2.4.1" || st.Status != gw.StateRunning {
		t.Errorf("gateway status %+v, health %+v", st, st.Health)
	}
	if err := g.Stop(t.Context()); err != nil {
		t.Error(err)
	}
}
