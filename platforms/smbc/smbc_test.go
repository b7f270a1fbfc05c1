package smbc

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/cloudlink/cld/platforms"
	"github.com/cloudlink/cld/platforms/msl"
)

// fixture is a host tree under testdata/hosts with its .expect line.
type fixture struct {
	name, dir string
	typ       string
	refused   bool
}

func fixtures(t *testing.T, dirs ...string) []fixture {
	t.Helper()
	var fs []fixture
	for _, d := range dirs {
		entries, err := os.ReadDir(d)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			if !e.IsDir() {
				continue
			}
			dir := filepath.Join(d, e.Name())
			data, err := os.ReadFile(filepath.Join(dir, ".expect"))
			if err != nil {
				t.Fatalf("fixture %s: %v", dir, err)
			}
			f := fixture{name: e.Name(), dir: dir}
			switch w := strings.Fields(string(data)); {
			case len(w) == 1:
				f.typ = w[0]
			case len(w) == 2 && w[0] == "unsupported":
				f.typ, f.refused = w[1], true
			default:
				t.Fatalf("fixture %s: .expect is %q; want TYPE or unsupported TYPE", dir, data)
			}
			fs = append(fs, f)
		}
	}
	return fs
}

// all are every adapter of platforms/msl and platforms/smbc.
func all() []platforms.Adapter { return append(msl.Adapters(), Adapters()...) }

// TestEveryAdapterOnEveryFixture: each fixture of msl and smbc is detected
// by exactly the adapter its .expect names (refused when it says
// unsupported), and every other adapter returns ErrNotDetected.
func TestEveryAdapterOnEveryFixture(t *testing.T) {
	fs := fixtures(t, "testdata/hosts", "../msl/testdata/hosts")
	if len(fs) < 10 {
		t.Fatalf("only %d fixtures", len(fs))
	}
	for _, f := range fs {
		for _, a := range all() {
			p, err := a.Detect(f.dir)
			var u *platforms.UnsupportedError
			switch {
			case a.Type() != f.typ:
				if !errors.Is(err, platforms.ErrNotDetected) || p != nil {
					t.Errorf("%s (%s): %s detects it: %v, %v", f.name, f.typ, a.Type(), p, err)
				}
			case f.refused:
				if !errors.As(err, &u) || p != nil {
					t.Errorf("%s: %s: %v, %v; want refused", f.name, a.Type(), p, err)
				}
			case err != nil:
				t.Errorf("%s: %s: %v", f.name, a.Type(), err)
			case p.Type() != f.typ:
				t.Errorf("%s: detected as type %s", f.name, p.Type())
			}
		}
	}
}

func ids(ts []platforms.Tunnel) []string {
	var s []string
	for _, t := range ts {
		s = append(s, t.ID)
	}
	return s
}

func TestSMBCMSL(t *testing.T) {
	p, err := MSLAdapter{}.Detect("testdata/hosts/smbc-msl")
	if err != nil {
		t.Fatal(err)
	}
	pl := p.(*msl.Platform)
	if pl.Type() != "smbc-msl" || pl.Parent() != "smbc" || pl.Name() != "MiVoice Business" || pl.Version() != "10.1.1.19" || pl.MSLVersion() != "11.0.110" {
		t.Errorf("platform = %s (parent %s) %q %q MSL %q", pl.Type(), pl.Parent(), pl.Name(), pl.Version(), pl.MSLVersion())
	}
	if want := []platforms.Application{{Type: "mivoice-business", Version: "10.1.1.19"}}; !slices.Equal(pl.Applications(), want) {
		t.Errorf("applications = %v", pl.Applications())
	}
	ts := pl.Tunnels()
	if got := ids(ts); !slices.Equal(got, []string{"msl-server-manager", "msl-rest", "mivb-admin", "mivb-rest"}) {
		t.Errorf("tunnels = %v", got)
	}
	if err := platforms.ValidateTunnels(ts); err != nil {
		t.Error(err)
	}
	f := pl.Facts()
	want := platforms.Embedding{BasePath: "/server-manager/cloudlink", Auth: platforms.AuthProxy, UserHeader: "X-Remote-User", Frame: true}
	if f.Language != "es-ES" || f.Proxy != "http://169.254.10.1:3128" || f.Embedding != want {
		t.Errorf("facts = %+v", f)
	}
	if pl.License() != nil || len(pl.Notices()) != 0 {
		t.Errorf("license %+v notices %+v", pl.License(), pl.Notices())
	}
}

func TestSMBCMSLRefused(t *testing.T) {
	_, err := MSLAdapter{}.Detect("testdata/hosts/smbc-msl-cm-2.1")
	var u *platforms.UnsupportedError
	if !errors.As(err, &u) || u.Platform != CMName || u.Found != "2.1.3.8" || u.Needed != NeededCM {
		t.Fatalf("%v", err)
	}
	// MSL's own rule applies in the container too.
	root := t.TempDir()
	write(t, root, msl.DefaultRelease, "Mitel Standard Linux release 12.0 (31)")
	write(t, root, msl.DefaultSMBCMarker, "SMBC_CONTAINER=msl\nSMBC_CM_VERSION=2.2.1.12\n")
	if _, err := (MSLAdapter{}).Detect(root); !errors.As(err, &u) || u.Platform != msl.ProductName || u.Found != "12.0.31" {
		t.Errorf("MSL 12.0 container: %v", err)
	}
	// A marker without an MSL tree is not a container.
	root = t.TempDir()
	write(t, root, msl.DefaultSMBCMarker, "SMBC_CONTAINER=msl\n")
	if _, err := (MSLAdapter{}).Detect(root); !errors.Is(err, platforms.ErrNotDetected) {
		t.Errorf("marker only: %v", err)
	}
}

func TestCM(t *testing.T) {
	p, err := CMAdapter{}.Detect("testdata/hosts/smbc-cm-2.2")
	if err != nil {
		t.Fatal(err)
	}
	pl := p.(*CMPlatform)
	if pl.Type() != "smbc-cm" || pl.Name() != "SMB Controller" || pl.Version() != "2.2.1.12" || pl.Parent() != "" || pl.License() != nil {
		t.Errorf("platform = %s %q %q parent %q", pl.Type(), pl.Name(), pl.Version(), pl.Parent())
	}
	if want := []platforms.Application{{Type: "cloudlink-gateway", Version: "2.4.1"}}; !slices.Equal(pl.Applications(), want) {
		t.Errorf("applications = %v", pl.Applications())
	}
	ts := pl.Tunnels()
	if got := ids(ts); !slices.Equal(got, []string{"smbc-cm-admin", "clgw-rest"}) {
		t.Errorf("tunnels = %v", got)
	}
	if err := platforms.ValidateTunnels(ts); err != nil {
		t.Error(err)
	}
	want := platforms.Tunnel{ID: "smbc-cm-admin", Component: "SMB Controller", Name: "Controller Manager web interface",
		Description: "Remote access via Mitel Administration", LocalAddress: "https://127.0.0.1:443", AcceptSelfSigned: true}
	if ts[0] != want || ts[1].Component != "CloudLink Gateway" || ts[1].Name != "CLGW REST interface" || ts[1].LocalAddress != "https://127.0.0.1:8449" || !ts[1].AcceptSelfSigned {
		t.Errorf("tunnels = %+v", ts)
	}
	f := pl.Facts()
	emb := platforms.Embedding{BasePath: "/cloudlink", Auth: platforms.AuthSession, SessionURL: "https://127.0.0.1:443/api/v1/session", AdminRole: "admin", Frame: true}
	if f.Language != "it-IT" || f.Proxy != "http://proxy.example.it:8443" || f.Embedding != emb || len(f.Source) != 3 {
		t.Errorf("facts = %+v", f)
	}
	if len(pl.Notices()) != 0 {
		t.Errorf("notices = %v", pl.Notices())
	}
}

func write(t *testing.T, root, path, content string) {
	t.Helper()
	full := filepath.Join(root, filepath.FromSlash(path))
	if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestCMVersionRule(t *testing.T) {
	for v, ok := range map[string]bool{"2.2": true, "2.2.0.1": true, "2.2.1.12": true, "2.3.0.4": true, "3.0": true,
		"2.1.3.8": false, "2.1.99": false, "2.0": false, "1.9.5": false, "unknown": false} {
		root := t.TempDir()
		write(t, root, DefaultCMRelease, "ID=smbc-cm\nVERSION_ID="+v+"\n")
		p, err := CMAdapter{}.Detect(root)
		var u *platforms.UnsupportedError
		switch {
		case ok && err != nil:
			t.Errorf("%s: %v", v, err)
		case ok && (p.Version() != v || len(p.(*CMPlatform).Notices()) != 0 || len(p.Tunnels()) != 1):
			t.Errorf("%s: %v %v", v, p.Version(), p.(*CMPlatform).Notices())
		case !ok && (!errors.As(err, &u) || u.Found != v || u.Needed != NeededCM || !strings.Contains(err.Error(), "SMB Controller Manager "+v+" is not supported: cld needs 2.2.x or later")):
			t.Errorf("%s: %v", v, err)
		}
	}
	for name, release := range map[string]string{"other ID": "ID=sles\nVERSION_ID=15.5\n", "no ID": "VERSION_ID=2.2\n"} {
		root := t.TempDir()
		write(t, root, DefaultCMRelease, release)
		if _, err := (CMAdapter{}).Detect(root); !errors.Is(err, platforms.ErrNotDetected) {
			t.Errorf("%s: %v", name, err)
		}
	}
	root := t.TempDir()
	write(t, root, DefaultCMRelease, "ID=smbc-cm\n")
	if _, err := (CMAdapter{}).Detect(root); err == nil || errors.Is(err, platforms.ErrNotDetected) || !strings.Contains(err.Error(), "VERSION_ID is missing") {
		t.Errorf("no version: %v", err)
	}
}

func TestCMProxy(t *testing.T) {
	for proxy, want := range map[string]string{
		`PROXY_ENABLED="yes"` + "\n" + `HTTP_PROXY="http://p:3128"`:     "http://p:3128",
		`PROXY_ENABLED="no"` + "\n" + `HTTP_PROXY="http://p:3128"`:      "",
		`PROXY_ENABLED=yes` + "\n" + `HTTPS_PROXY="http://u:pw@q:8080"`: "http://q:8080",
		`PROXY_ENABLED=yes`: "",
	} {
		root := t.TempDir()
		write(t, root, DefaultCMRelease, "ID=smbc-cm\nVERSION_ID=2.2.1\n")
		write(t, root, DefaultCMProxy, proxy)
		p, err := CMAdapter{}.Detect(root)
		if err != nil {
			t.Fatal(err)
		}
		if got := p.(*CMPlatform).Facts().Proxy; got != want {
			t.Errorf("%q: proxy %q, want %q", proxy, got, want)
		}
	}
}

func section(t *testing.T, text string) platforms.Config {
	t.Helper()
	var doc struct {
		Platform platforms.Config `yaml:"platform"`
	}
	if err := yaml.Unmarshal([]byte(text), &doc); err != nil {
		t.Fatal(err)
	}
	doc.Platform.Source = "cld.yaml"
	return doc.Platform
}

func abs(t *testing.T, p string) string {
	t.Helper()
	a, err := filepath.Abs(p)
	if err != nil {
		t.Fatal(err)
	}
	return filepath.ToSlash(a)
}

func TestConfigure(t *testing.T) {
	// smbc-msl forced on its fixture, with an address moved.
	p, err := platforms.Open(section(t, "platform:\n  type: smbc-msl\n  root: "+abs(t, "testdata/hosts/smbc-msl")+"\n  addresses:\n    mivb-admin: https://127.0.0.1:9445\n"), "/", all()...)
	if err != nil {
		t.Fatal(err)
	}
	if p.Type() != MSLType || p.(*msl.Platform).Parent() != Parent || p.Tunnels()[2].LocalAddress != "https://127.0.0.1:9445" {
		t.Errorf("smbc-msl: %s %v", p.Type(), p.Tunnels())
	}
	// smbc-cm with every file moved and the embedding changed.
	root := t.TempDir()
	for from, to := range map[string]string{DefaultCMRelease: "/cm/release", DefaultCMSettings: "/cm/settings", DefaultCMProxy: "/cm/proxy",
		"/opt/mitel/clgw/default/VERSION": "/cm/gw/one/VERSION", "/opt/mitel/clgw/default/etc/clgw.conf": "/cm/gw/one/etc/clgw.conf"} {
		data, err := os.ReadFile(filepath.Join("testdata/hosts/smbc-cm-2.2", filepath.FromSlash(from)))
		if err != nil {
			t.Fatal(err)
		}
		write(t, root, to, string(data))
	}
	p, err = platforms.Open(section(t, `
platform:
  type: smbc-cm
  root: `+filepath.ToSlash(root)+`
  files: {release: /cm/release, gateway_dir: /cm/gw, settings: /cm/settings, proxy: /cm/proxy}
  addresses:
    smbc-cm-admin: https://localhost:8443
    clgw-rest: http://127.0.0.1:8080
  base_path: /apps/cloudlink
  session_url: https://localhost:8443/cm/api/session
  admin_role: superuser
`), "/", all()...)
	if err != nil {
		t.Fatal(err)
	}
	cm := p.(*CMPlatform)
	ts := cm.Tunnels()
	if cm.Version() != "2.2.1.12" || len(ts) != 2 || ts[0].LocalAddress != "https://localhost:8443" || ts[1].LocalAddress != "http://127.0.0.1:8080" || ts[1].AcceptSelfSigned {
		t.Errorf("smbc-cm: %s %+v", cm.Version(), ts)
	}
	f := cm.Facts()
	if f.Language != "it-IT" || f.Proxy == "" || f.Embedding.BasePath != "/apps/cloudlink" || f.Embedding.SessionURL != "https://localhost:8443/cm/api/session" || f.Embedding.AdminRole != "superuser" {
		t.Errorf("facts = %+v", f)
	}
}

func TestConfigureErrors(t *testing.T) {
	for _, tc := range []struct {
		text   string
		want   []string
		unsupp bool
	}{
		{"platform:\n  type: smbc-cm\n  files:\n    config_db: /x\n  addresses:\n    msl-server-manager: https://127.0.0.1:443\n  user_header: X\n", []string{
			`cld.yaml line 4: unknown key "config_db" in platform.files (known keys: release, settings, proxy, gateway_dir)`,
			`cld.yaml line 6: unknown key "msl-server-manager" in platform.addresses (known keys: smbc-cm-admin, clgw-rest)`,
			`cld.yaml line 7: unknown key "user_header" in platform (type smbc-cm knows: type, root, base_path, session_url, admin_role, files, addresses)`}, false},
		{"platform:\n  type: smbc-cm\n  base_path: cloudlink\n  session_url: https://10.1.1.1/api\n", []string{
			`line 3: platform.base_path "cloudlink" must be a URL path`,
			`line 4: platform.session_url "https://10.1.1.1/api"`, "not a loopback address"}, false},
		{"platform:\n  type: smbc-cm\n  session_url: /api/session\n", []string{`platform.session_url "/api/session" must be an http:// or https:// URL`}, false},
		{"platform:\n  type: smbc-cm\n  root: " + abs(t, "testdata/hosts/smbc-msl") + "\n", []string{
			"cld.yaml line 2: platform.type is smbc-cm, but", "has no Controller Manager release file /etc/smbc-cm-release"}, false},
		{"platform:\n  type: smbc-cm\n  root: " + abs(t, "testdata/hosts/smbc-cm-2.1") + "\n", []string{"SMB Controller Manager 2.1.3.8 is not supported: cld needs 2.2.x or later"}, true},
		{"platform:\n  type: smbc-msl\n  root: " + abs(t, "../msl/testdata/hosts/msl-11.0.110") + "\n", []string{
			"platform.type is smbc-msl, but", "has no SMB Controller marker /etc/mitel/smbc-container", "a plain MSL host is type: msl"}, false},
		{"platform:\n  type: smbc-msl\n  root: " + abs(t, "testdata/hosts/smbc-cm-2.2") + "\n  files: {smbc_marker: /var/lib/machines/msl/etc/mitel/smbc-container}\n", []string{
			"platform.type is smbc-msl, but", "has no Mitel Standard Linux release file /etc/e-smith-release"}, false},
		{"platform:\n  type: smbc-msl\n  colour: red\n", []string{`line 3: unknown key "colour" in platform (type smbc-msl knows`}, false},
	} {
		_, err := platforms.Open(section(t, tc.text), "/", all()...)
		if err == nil {
			t.Errorf("%q: no error", tc.text)
			continue
		}
		var u *platforms.UnsupportedError
		if tc.unsupp != errors.As(err, &u) || !tc.unsupp && !errors.Is(err, platforms.ErrConfig) {
			t.Errorf("error kind: %v", err)
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("error lacks %q:\n%v", w, err)
			}
		}
	}
}
