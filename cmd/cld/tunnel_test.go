package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cloudlink/cld/agent"
	"github.com/cloudlink/cld/agent/api"
	"github.com/cloudlink/cld/agent/config"
	"github.com/cloudlink/cld/agent/localapi"
	"github.com/cloudlink/cld/platforms"
	"github.com/cloudlink/cld/platforms/generic"
)

// inProcessDaemon runs an unlinked agent with a generic platform (read
// from a config file, as `cld run` does) and its local API on a unix
// socket; it returns the socket path.
func inProcessDaemon(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "cld.yaml")
	sock := filepath.Join(dir, "cld.sock")
	os.WriteFile(filepath.Join(dir, "machine-id"), []byte("0123456789abcdef0123456789abcdef\n"), 0o600)
	os.WriteFile(cfgFile, []byte(`
state_dir: `+filepath.Join(dir, "state")+`
socket: `+sock+`
listen: ""
machine_id_file: `+filepath.Join(dir, "machine-id")+`
platform:
  type: generic
  name: Test host
  tunnels:
    - id: msl-server-manager
      component: MSL
      name: Server Manager
      description: Remote access via Mitel Administration
      local_address: https://127.0.0.1:9443
      accept_self_signed: true
    - id: mbg-admin
      component: MiVoice Border Gateway
      name: administration web interface
      local_address: http://127.0.0.1:8080
`), 0o600)
	cfg, err := config.LoadConfigFile(cfgFile, true)
	if err != nil {
		t.Fatal(err)
	}
	plat, err := platforms.Open(cfg.Platform, "/", generic.Adapter{})
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	a, err := agent.New(cfg, agent.WithLogger(log), agent.WithPlatform(plat))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := localapi.ListenUnix(sock)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{}, 2)
	go func() { a.Run(ctx); done <- struct{}{} }()
	go func() { localapi.ServeUnix(ctx, ln, a.APIHandler(), log); done <- struct{}{} }()
	t.Cleanup(func() {
		cancel()
		<-done
		<-done
		a.Close()
	})
	return sock
}

func TestTunnelCLI(t *testing.T) {
	sock := inProcessDaemon(t)

	out, errOut, code := runCLI(t, "", "tunnel", "list", "--socket", sock)
	if code != 0 {
		t.Fatalf("list: %d %s", code, errOut)
	}
	for _, want := range []string{"ID", "COMPONENT", "TUNNEL", "STATUS", "ENABLED", "REASON", "msl-server-manager", "Server Manager", "stopped", "mbg-admin", "MiVoice Border Gateway", "Connected to the tunnel edge: no; streams refused: 0"} {
		if !strings.Contains(out, want) {
			t.Errorf("list lacks %q:\n%s", want, out)
		}
	}

	// Flags after the ID work too; unlinked, the tunnel says why it waits.
	out, errOut, code = runCLI(t, "", "tunnel", "start", "msl-server-manager", "--socket", sock, "--wait", "0")
	if code != 0 || !strings.Contains(out, "msl-server-manager") || !strings.Contains(out, "error") || !strings.Contains(out, "Link this host to CloudLink first") || strings.Contains(out, "mbg-admin") {
		t.Errorf("start: %d %s %s", code, out, errOut)
	}

	out, _, code = runCLI(t, "", "tunnel", "list", "--json", "--socket", sock)
	var ts api.Tunnels
	if code != 0 || json.Unmarshal([]byte(out), &ts) != nil || len(ts.Tunnels) != 2 || !ts.Tunnels[0].Enabled || ts.Tunnels[1].Enabled {
		t.Errorf("list --json: %d %s", code, out)
	}

	out, _, code = runCLI(t, "", "status", "--socket", sock)
	if code != 0 || !strings.Contains(out, "Tunnels:") || !strings.Contains(out, "msl-server-manager") || !strings.Contains(out, "Link this host to CloudLink first") {
		t.Errorf("status: %d %s", code, out)
	}
	out, _, code = runCLI(t, "", "status", "--json", "--socket", sock)
	var raw struct {
		Tunnels []map[string]any `json:"tunnels"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &raw) != nil || len(raw.Tunnels) != 2 {
		t.Fatalf("status --json: %d %s", code, out)
	}
	for _, k := range []string{"id", "component", "name", "status", "reason", "local_address", "enabled"} {
		if _, ok := raw.Tunnels[0][k]; !ok {
			t.Errorf("status --json tunnels lack %q: %v", k, raw.Tunnels[0])
		}
	}

	out, _, code = runCLI(t, "", "tunnel", "start-all", "--wait=0", "--socket", sock)
	if code != 0 || strings.Count(out, " yes ") != 2 {
		t.Errorf("start-all: %d %s", code, out)
	}
	out, _, code = runCLI(t, "", "tunnel", "stop", "--socket", sock, "mbg-admin")
	if code != 0 || !strings.Contains(out, "mbg-admin") || !strings.Contains(out, "stopped") {
		t.Errorf("stop: %d %s", code, out)
	}
	out, _, code = runCLI(t, "", "tunnel", "stop-all", "--socket", sock)
	if code != 0 || strings.Contains(out, " yes ") {
		t.Errorf("stop-all: %d %s", code, out)
	}

	// Errors: unknown ID (exit 1, the daemon's sentence), usage (exit 2).
	_, errOut, code = runCLI(t, "", "tunnel", "start", "127.0.0.1:22", "--socket", sock)
	if code != exitFail || !strings.Contains(errOut, `no tunnel "127.0.0.1:22"`) || !strings.Contains(errOut, "msl-server-manager, mbg-admin") {
		t.Errorf("unknown: %d %s", code, errOut)
	}
	for _, args := range [][]string{
		{"tunnel"}, {"tunnel", "frob"}, {"tunnel", "start", "--socket", sock}, {"tunnel", "stop", "a", "b", "--socket", sock},
		{"tunnel", "list", "extra", "--socket", sock}, {"tunnel", "start-all", "x", "--socket", sock}, {"tunnel", "start", "a", "--wait", "soon"},
	} {
		if _, errOut, code := runCLI(t, "", args...); code != exitUsage {
			t.Errorf("%q: exit %d, want 2; %s", args, code, errOut)
		}
	}
	if _, errOut, code := runCLI(t, "", "tunnel", "list", "--socket", filepath.Join(t.TempDir(), "none.sock")); code != exitFail || !strings.Contains(errOut, "daemon not reachable") {
		t.Errorf("daemon down: %d %s", code, errOut)
	}
}

func TestPrintTunnelsEmpty(t *testing.T) {
	var b strings.Builder
	printTunnels(&b, api.Tunnels{Tunnels: []api.Tunnel{}})
	if !strings.Contains(b.String(), "defines no tunnels") {
		t.Errorf("%q", b.String())
	}
}

func TestRunRejectsBadPlatform(t *testing.T) {
	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "cld.yaml")
	os.WriteFile(cfgFile, []byte(`
listen: ""
platform:
  type: generic
  tunnels:
    - {id: "Server Manager", component: MSL, name: SM, local_address: "https://10.0.0.5:443"}
    - {id: b, component: MSL, name: B, local_address: "https://127.0.0.1:444", colour: red}
`), 0o600)
	_, errOut, code := runCLI(t, "", "run", "--config", cfgFile, "--state", filepath.Join(dir, "state"), "--socket", filepath.Join(dir, "cld.sock"))
	if code != exitFail {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{cfgFile + " line 7: unknown key \"colour\" in platform.tunnels[1]"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut)
		}
	}
	os.WriteFile(cfgFile, []byte(`
listen: ""
platform:
  type: generic
  tunnels:
    - {id: "Server Manager", component: MSL, name: SM, local_address: "https://10.0.0.5:443"}
`), 0o600)
	_, errOut, code = runCLI(t, "", "run", "--config", cfgFile, "--state", filepath.Join(dir, "state"), "--socket", filepath.Join(dir, "cld.sock"))
	if code != exitFail || !strings.Contains(errOut, `id "Server Manager" is not valid`) || !strings.Contains(errOut, "not a loopback address") {
		t.Errorf("exit %d:\n%s", code, errOut)
	}
	os.WriteFile(cfgFile, []byte("platform: {type: msl9}\n"), 0o600)
	_, errOut, code = runCLI(t, "", "run", "--config", cfgFile, "--state", filepath.Join(dir, "state"), "--socket", filepath.Join(dir, "cld.sock"))
	if code != exitFail || !strings.Contains(errOut, `platform.type "msl9" is unknown; known types: generic`) {
		t.Errorf("exit %d:\n%s", code, errOut)
	}
}
