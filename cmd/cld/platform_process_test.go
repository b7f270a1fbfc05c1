package main

import (
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/cloudlink/cld/agent/api"
)

// copyFixture copies a platform's host fixture tree into a new directory.
func copyFixture(t *testing.T, src string) string {
	t.Helper()
	dst := t.TempDir()
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), data, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

// One per platform family (MSL, OpenScape, MX-ONE): the real daemon on a
// host tree that its adapter detects, with the tunnel's local address
// moved to a test origin (addresses: in the platform section, or, for
// MX-ONE, whose adapter takes its ports from the host, the port in the
// host's own web server setting), shows the platform in `cld status` and
// reaches the origin through a real tunnel and the edge.
func TestProcessPlatformTunnels(t *testing.T) {
	t.Parallel()
	needBinaries(t)
	cloudAddr, edgeAddr := freeLoopbackAddr(t), freeLoopbackAddr(t)
	c, err := startCloud(t.TempDir(), "--listen", cloudAddr, "--edge-listen", edgeAddr, "--edge-domain", "edge.localhost")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.cmd.Process.Signal(syscall.SIGTERM); <-c.done })
	for _, tc := range []struct{ family, typ, fixture, tunnel, name, portFile string }{
		{"MSL", "msl", "../../platforms/msl/testdata/hosts/msl-11.0.110", "msl-server-manager", "MiVoice Business", ""},
		{"OpenScape", "openscape-business", "../../platforms/openscape/testdata/hosts/osb-x3-v3r3fr2", "osb-wbm", "OpenScape Business", ""},
		{"MX-ONE", "mxone", "../../platforms/mxone/testdata/hosts/mxone-8.2-pm-7.5", "mxone-snm-web", "MX-ONE", "etc/opt/eri_sn/webserver.conf"},
	} {
		t.Run(tc.family, func(t *testing.T) {
			if _, err := os.Stat(tc.fixture); err != nil {
				t.Fatalf("no fixture: %v", err)
			}
			origin := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				fmt.Fprintf(w, "%s UI: %s", tc.family, r.URL.Path)
			}))
			origin.Config.ErrorLog = log.New(io.Discard, "", 0)
			origin.StartTLS()
			defer origin.Close()
			root := copyFixture(t, tc.fixture)
			d := newDaemon(t, c)
			f, err := os.OpenFile(d.configFile, os.O_APPEND|os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			if tc.portFile == "" {
				fmt.Fprintf(f, "no_proxy: \"*\"\nhost_root: %s\nplatform:\n  type: %s\n  addresses:\n    %s: https://%s\n", root, tc.typ, tc.tunnel, origin.Listener.Addr())
			} else {
				fmt.Fprintf(f, "no_proxy: \"*\"\nhost_root: %s\nplatform:\n  type: %s\n", root, tc.typ)
				setHostPort(t, filepath.Join(root, tc.portFile), origin.Listener.Addr().(*net.TCPAddr).Port)
			}
			f.Close()
			d.start()
			st, _ := d.statusJSON()
			if st.Platform == nil || st.Platform.Type != tc.typ || !strings.Contains(st.Platform.Name, tc.name) {
				t.Fatalf("platform in the status: %+v\n%s", st.Platform, d.out.String())
			}
			if out, errOut, code := d.cli(password+"\n", "link", "--username", admin, "--password-stdin", "--account", "100001"); code != 0 {
				t.Fatalf("link: exit %d\n%s%s", code, out, errOut)
			}
			if out, errOut, code := d.cli("", "tunnel", "start", tc.tunnel); code != 0 || !strings.Contains(out, "started") {
				t.Fatalf("tunnel start: exit %d\n%s%s\n%s", code, out, errOut, d.out.String())
			}
			out, _, _ := d.cli("", "tunnel", "list", "--json")
			var ts api.Tunnels
			if err := json.Unmarshal([]byte(out), &ts); err != nil {
				t.Fatal(err)
			}
			var pub string
			for _, tu := range ts.Tunnels {
				if tu.ID == tc.tunnel {
					pub = strings.TrimSuffix(tu.PublicURL, "/")
				}
			}
			if pub == "" {
				t.Fatalf("no public URL for %s: %s", tc.tunnel, out)
			}
			code, body, err := browse(edgeBrowser(t, edgeAddr, c.caFile), pub+"/admin")
			if err != nil || code != 200 || body != tc.family+" UI: /admin" {
				t.Fatalf("GET %s/admin through the tunnel: %d %q %v", pub, code, body, err)
			}
			d.stop()
		})
	}
}

// setHostPort rewrites the HTTPS_PORT line of a host's web server setting.
func setHostPort(t *testing.T, file string, port int) {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(b), "\n")
	found := false
	for i, l := range lines {
		if strings.HasPrefix(l, "HTTPS_PORT=") {
			lines[i], found = fmt.Sprintf("HTTPS_PORT=%d", port), true
		}
	}
	if !found {
		t.Fatalf("%s has no HTTPS_PORT line", file)
	}
	if err := os.WriteFile(file, []byte(strings.Join(lines, "\n")), 0o644); err != nil {
		t.Fatal(err)
	}
}
