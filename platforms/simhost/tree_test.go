package simhost

import (
	"encoding/json"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cloudlink/cld/agent/config"
	"github.com/cloudlink/cld/platforms"
	"github.com/cloudlink/cld/platforms/all"
	gw "github.com/cloudlink/cld/platforms/gateway"
	"github.com/cloudlink/cld/platforms/openscape"
)

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startPlatform serves p's UIs and writes its tree (generic: none).
func startPlatform(t *testing.T, p Platform) (h *Host, root string, gwPort int) {
	t.Helper()
	root = filepath.Join(t.TempDir(), "host")
	if err := ClearTree(root); err != nil {
		t.Fatal(err)
	}
	h, err := Start(Config{UIs: p.UIs, Dir: root, Username: DefaultUsername, Password: DefaultPassword, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := h.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	if p.Name == PlatformGeneric {
		return h, root, 0
	}
	gwPort = freePort(t)
	tree := Tree{Platform: p.Name, Addresses: h.Addresses(), GatewayPort: gwPort, CoreCommand: "/usr/bin/cld-simhost",
		Now: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)}
	if err := tree.Write(root); err != nil {
		t.Fatal(err)
	}
	return h, root, gwPort
}

// TestTrees writes every platform's tree and opens it as the daemon
// does: detected by the adapters of platforms/all as its own type, and
// with the config CLDConfig writes, every tunnel valid and leading to a
// served UI (or the gateway core's REST port).
func TestTrees(t *testing.T) {
	for _, name := range Platforms() {
		t.Run(name, func(t *testing.T) {
			p, _ := LookupPlatform(name)
			h, root, gwPort := startPlatform(t, p)
			served := h.Addresses()

			if name != PlatformGeneric {
				// Detection, as with platform: auto.
				got, err := platforms.Open(platforms.Config{}, root, all.Adapters()...)
				if err != nil {
					t.Fatalf("detecting the tree: %v", err)
				}
				if got.Type() != p.Type {
					t.Fatalf("detected as %s, want %s", got.Type(), p.Type)
				}
				if err := platforms.ValidateTunnels(got.Tunnels()); err != nil {
					t.Errorf("detected tunnels: %v", err)
				}
				if n, ok := got.(platforms.Noticer); ok && len(n.Notices()) > 0 {
					t.Errorf("notices: %+v", n.Notices())
				}
				if f, ok := got.(platforms.Facter); !ok || f.Facts().Proxy != "" {
					t.Errorf("the host's proxy setting must be off (the demo's cloud is local)")
				}
			}

			// The daemon's config with the part CLDConfig writes.
			part, err := CLDConfig(p, root, served, "")
			if err != nil {
				t.Fatal(err)
			}
			cfg := config.DefaultConfig()
			if err := config.ParseConfig(part, "cld.yaml", &cfg); err != nil {
				t.Fatalf("%v\n%s", err, part)
			}
			if name == PlatformGeneric {
				if cfg.HostRoot != "/" {
					t.Errorf("generic sets host_root %q", cfg.HostRoot)
				}
			} else if cfg.HostRoot != root {
				t.Errorf("host_root %q, want %q", cfg.HostRoot, root)
			}
			cfg.Platform.Source = "cld.yaml"
			got, err := platforms.Open(cfg.Platform, cfg.HostRoot, all.For(openscape.Instance{StateDir: t.TempDir()})...)
			if err != nil {
				t.Fatalf("opening the configured platform: %v\n%s", err, part)
			}
			if got.Type() != p.Type {
				t.Errorf("configured type %s, want %s", got.Type(), p.Type)
			}
			ts := got.Tunnels()
			if err := platforms.ValidateTunnels(ts); err != nil {
				t.Errorf("tunnels: %v", err)
			}
			want := maps.Clone(served)
			if p.Gateway {
				want[GatewayTunnel] = GatewayAddress(gwPort)
			}
			have := map[string]string{}
			for _, tn := range ts {
				have[tn.ID] = tn.LocalAddress
			}
			if !maps.Equal(have, want) {
				t.Errorf("tunnels %v, want one per served UI (and the gateway core) %v", have, want)
			}

			// Each tunnel's address answers as its UI.
			c := client(t, root)
			for _, u := range h.UIs() {
				resp, body := get(t, c, have[u.Tunnel]+"/health")
				var st map[string]string
				if resp.StatusCode != 200 || json.Unmarshal([]byte(body), &st) != nil || st["title"] != u.Title {
					t.Errorf("%s /health: %d %s", u.Tunnel, resp.StatusCode, body)
				}
			}

			if p.Gateway {
				g, err := gw.Open(gw.Options{Root: root})
				if err != nil {
					t.Fatal(err)
				}
				defer g.Close()
				in := g.Installation()
				if names := in.Names(); !slices.Equal(names, []string{GatewayInstance}) || len(g.Notices()) > 0 {
					t.Errorf("gateway instances %v, notices %+v", names, g.Notices())
				}
				if m := g.Manager(); m == nil || m.Name() != gw.ManagerSupervisor {
					t.Errorf("the gateway core is not driven by the supervisor (no unit file in the tree)")
				}
				script, err := os.ReadFile(filepath.Join(root, "opt/mitel/clgw/default/bin/clgw-core"))
				if err != nil || !strings.Contains(string(script), "exec '/usr/bin/cld-simhost' gateway-core") {
					t.Errorf("clgw-core: %q %v", script, err)
				}
				if fi, err := os.Stat(filepath.Join(root, "opt/mitel/clgw/default/bin/clgw-core")); err != nil || fi.Mode()&0o111 == 0 {
					t.Errorf("clgw-core is not executable")
				}
			}

			addrs := string(AddressesYAML(p, served, gwPort))
			for id, a := range want {
				if !strings.Contains(addrs, id+": "+a) {
					t.Errorf("addresses.yaml lacks %s: %s:\n%s", id, a, addrs)
				}
			}
		})
	}
}

func TestTreeErrors(t *testing.T) {
	root := t.TempDir()
	mx, _ := LookupPlatform(PlatformMXONE)
	for name, tree := range map[string]Tree{
		"unknown":       {Platform: "nope"},
		"generic":       {Platform: PlatformGeneric},
		"no gw port":    {Platform: PlatformMSL, CoreCommand: "/bin/x"},
		"relative core": {Platform: PlatformSMBC, GatewayPort: 8090, CoreCommand: "bin/x"},
		"no mx ports":   {Platform: PlatformMXONE},
		"mx not lo":     {Platform: PlatformMXONE, Addresses: map[string]string{"mxone-snm-web": "https://localhost:1", "mxone-pm-web": "https://127.0.0.1:2"}},
		"mx http":       {Platform: PlatformMXONE, Addresses: map[string]string{"mxone-snm-web": "http://127.0.0.1:1", "mxone-pm-web": "https://127.0.0.1:2"}},
	} {
		if err := tree.Write(root); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if _, err := CLDConfig(mx, root, map[string]string{"mxone-snm-web": "https://127.0.0.1:1"}, ""); err == nil {
		t.Error("CLDConfig without every UI's address: no error")
	}
	if _, err := CLDConfig(mx, "relative", map[string]string{"mxone-snm-web": "https://127.0.0.1:1", "mxone-pm-web": "https://127.0.0.1:2"}, ""); err == nil {
		t.Error("CLDConfig with a relative root: no error")
	}
}

func TestClearTree(t *testing.T) {
	dir := t.TempDir()
	foreign := filepath.Join(dir, "foreign")
	if err := os.MkdirAll(foreign, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(foreign, "keep"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := ClearTree(foreign); err == nil || !strings.Contains(err.Error(), "not empty") {
		t.Errorf("a foreign directory: %v", err)
	}
	if _, err := os.Stat(filepath.Join(foreign, "keep")); err != nil {
		t.Error("ClearTree removed a foreign file")
	}

	// A tree written before is emptied: an smbc tree over an msl one
	// leaves no MSL release file behind.
	root := filepath.Join(dir, "new", "host")
	if err := ClearTree(root); err != nil {
		t.Fatal(err)
	}
	if err := (Tree{Platform: PlatformMSL, GatewayPort: 8090, CoreCommand: "/bin/x"}).Write(root); err != nil {
		t.Fatal(err)
	}
	if err := ClearTree(root); err != nil {
		t.Fatal(err)
	}
	if entries, _ := os.ReadDir(root); len(entries) != 0 {
		t.Errorf("left %d entries", len(entries))
	}
	if err := (Tree{Platform: PlatformSMBC, GatewayPort: 8090, CoreCommand: "/bin/x"}).Write(root); err != nil {
		t.Fatal(err)
	}
	p, err := platforms.Open(platforms.Config{}, root, all.Adapters()...)
	if err != nil || p.Type() != "smbc-cm" {
		t.Errorf("the rewritten tree: %v, %v", p, err)
	}
}

func TestGatewayCore(t *testing.T) {
	for _, scheme := range []string{"http", "https"} {
		home := filepath.Join(t.TempDir(), "default")
		port := freePort(t)
		if err := os.MkdirAll(filepath.Join(home, "etc"), 0o755); err != nil {
			t.Fatal(err)
		}
		conf := filepath.Join(home, "etc", "clgw.conf")
		if err := os.WriteFile(conf, []byte("REST_PORT="+strconv.Itoa(port)+"\nREST_SCHEME="+scheme+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(home, "VERSION"), []byte("2.4.9\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		g, err := StartGatewayCore(GatewayCoreConfig{Home: home, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		if g.URL() != scheme+"://127.0.0.1:"+strconv.Itoa(port) {
			t.Errorf("URL %s", g.URL())
		}
		h := gw.CheckHealth(t.Context(), g.URL()+gw.DefaultHealthPath, 5*time.Second)
		if !h.OK || h.Status != "ok" || h.Version != "2.4.9" {
			t.Errorf("%s health: %+v", scheme, h)
		}
		if scheme == "http" {
			resp, err := http.Get(g.URL() + "/status")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
				t.Errorf("/status: %s %s", resp.Status, resp.Header.Get("Content-Type"))
			}
			http.DefaultClient.CloseIdleConnections()
		}
		if err := g.Shutdown(t.Context()); err != nil {
			t.Error(err)
		}
	}
	for name, c := range map[string]GatewayCoreConfig{
		"nothing":   {},
		"no file":   {Config: filepath.Join(t.TempDir(), "clgw.conf")},
		"bad port":  {Config: writeTemp(t, "REST_PORT=http\n")},
		"bad proto": {Config: writeTemp(t, "REST_PORT=1\nREST_SCHEME=ftp\n")},
	} {
		if g, err := StartGatewayCore(c); err == nil {
			_ = g.Shutdown(t.Context())
			t.Errorf("%s: no error", name)
		}
	}
}

func writeTemp(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "clgw.conf")
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}
