package micc

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/cloudlink/cld/platforms"
)

const hosts = "testdata/hosts"

// TestEveryFixture runs the adapter against every fixture tree of every
// platform package: it detects those whose .expect names it and no other.
func TestEveryFixture(t *testing.T) {
	dirs, _ := filepath.Glob("../*/testdata/hosts/*/.expect")
	own := 0
	for _, e := range dirs {
		dir := filepath.Dir(e)
		data, err := os.ReadFile(e)
		if err != nil {
			t.Fatal(err)
		}
		want := strings.TrimSpace(string(data))
		for _, a := range Adapters() {
			p, err := a.Detect(dir)
			var unsup *platforms.UnsupportedError
			switch want {
			case a.Type():
				own++
				if err != nil || p.Type() != a.Type() {
					t.Errorf("%s: %s: %v", dir, a.Type(), err)
				}
			case "unsupported " + a.Type():
				own++
				if !errors.As(err, &unsup) || p != nil {
					t.Errorf("%s: %s: want an UnsupportedError, got %v, %v", dir, a.Type(), p, err)
				}
			default:
				if !errors.Is(err, platforms.ErrNotDetected) {
					t.Errorf("%s (%s): %s detected it: %v, %v", dir, want, a.Type(), p, err)
				}
			}
		}
	}
	if own < 3 {
		t.Errorf("only %d of this package's fixtures found", own)
	}
}

// TestSharedFile checks that host.go is the same as mxone's.
func detect(t *testing.T, a Adapter, dir string) platforms.Platform {
	t.Helper()
	p, err := a.Detect(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := platforms.ValidateTunnels(p.Tunnels()); err != nil {
		t.Fatal(err)
	}
	return p
}

// tree copies a fixture to a temporary root and applies edits (path →
// content; "" removes the file).
func tree(t *testing.T, fixture string, edits map[string]string) string {
	t.Helper()
	root := t.TempDir()
	src := filepath.Join(hosts, fixture)
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		os.MkdirAll(filepath.Dir(filepath.Join(root, rel)), 0o755)
		return os.WriteFile(filepath.Join(root, rel), data, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	for p, content := range edits {
		full := filepath.Join(root, p)
		if content == "" {
			os.Remove(full)
			continue
		}
		os.MkdirAll(filepath.Dir(full), 0o755)
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func config(t *testing.T, text string) platforms.Config {
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

const mdir = "Program Files (x86)/Mitel/MiContact Center"

func TestFixtures(t *testing.T) {
	for _, tc := range []struct {
		dir, version, addr, lang, proxy string
		apps                            []platforms.Application
	}{
		{"micc-b-10.1", "10.1.0.0", "https://127.0.0.1:443", "fr-CA", "http://proxy.corp.example:8080", []platforms.Application{
			{Type: "micontact-center-business", Version: "10.1.0.0"}, {Type: "micc-b-enterprise-server", Version: "10.1.0.0"}, {Type: "micc-b-ccmweb", Version: "10.1.0.0"},
			{Type: "micc-b-ignite", Version: "10.1.0.0"}, {Type: "micc-b-multimedia", Version: "10.1.0.0"}, {Type: "micc-b-ivr", Version: "10.1.0.0"}}},
		{"micc-b-10.2", "10.2.1.0", "http://127.0.0.1:8080", "en-US", "", []platforms.Application{
			{Type: "micontact-center-business", Version: "10.2.1.0"}, {Type: "micc-b-enterprise-server", Version: "10.2.1.0"}, {Type: "micc-b-ccmweb", Version: "10.2.1.0"}}},
	} {
		dir := filepath.Join(hosts, tc.dir)
		p := detect(t, Adapter{}, dir)
		if p.Type() != "micc-b" || p.Name() != "MiContact Center Business" || p.Version() != tc.version {
			t.Errorf("%s: platform = %s %q %q", tc.dir, p.Type(), p.Name(), p.Version())
		}
		d := p.(platforms.Describer)
		if apps := d.Applications(); !slices.Equal(apps, tc.apps) || d.License() != nil || d.Parent() != "" {
			t.Errorf("%s: applications %+v license %+v", tc.dir, apps, d.License())
		}
		want := platforms.Tunnel{ID: "micc-b-ccmweb", Component: "MiContact Center Business", Name: "CCMWeb",
			Description: "Remote access via Mitel Administration", LocalAddress: tc.addr, AcceptSelfSigned: strings.HasPrefix(tc.addr, "https")}
		if ts := p.Tunnels(); len(ts) != 1 || ts[0] != want {
			t.Errorf("%s: tunnels = %+v", tc.dir, ts)
		}
		f := p.(platforms.Facter).Facts()
		if f.Language != tc.lang || f.Proxy != tc.proxy || f.Embedding != (platforms.Embedding{Auth: platforms.AuthLocal}) {
			t.Errorf("%s: facts = %+v", tc.dir, f)
		}
		src := []string{filepath.Join(dir, mdir, "CCMWeb/web.config"), filepath.Join(dir, "Windows/Microsoft.NET/Framework/v4.0.30319/Config/machine.config")}
		if !slices.Equal(f.Source, src) {
			t.Errorf("%s: sources = %q", tc.dir, f.Source)
		}
		if n := p.(platforms.Noticer).Notices(); len(n) != 0 {
			t.Errorf("%s: notices = %+v", tc.dir, n)
		}
	}
}

func TestVersionRule(t *testing.T) {
	for v, ok := range map[string]bool{"10.1": true, "10.1.0.0": true, "10.1 SP1": true, "11.0.0.1": true, "10.0.9.9": false, "9.4.2.0": false, "9": false} {
		root := tree(t, "micc-b-10.2", map[string]string{mdir + "/version.ini": "[Product]\nVersion=" + v + "\n"})
		p, err := Adapter{}.Detect(root)
		var u *platforms.UnsupportedError
		if ok && (err != nil || p.Version() != v) || !ok && (!errors.As(err, &u) || u.Found != v || u.Needed != "10.1 or higher") {
			t.Errorf("%s: %v %v", v, p, err)
		}
	}
	_, err := Adapter{}.Detect(filepath.Join(hosts, "micc-b-9.4-unsupported"))
	if err == nil || err.Error() != "MiContact Center Business 9.4.2.0 is not supported: cld needs 10.1 or higher; upgrade the host, or set platform: generic in the config to run without this host's integration" {
		t.Errorf("err = %v", err)
	}
}

func TestHostVariants(t *testing.T) {
	const iis = "Windows/System32/inetsrv/config/applicationHost.config"
	// No IIS config: CCMWeb on https 443.
	p := detect(t, Adapter{}, tree(t, "micc-b-10.2", map[string]string{iis: ""}))
	if ts := p.Tunnels(); len(ts) != 1 || ts[0].LocalAddress != "https://127.0.0.1:443" || !ts[0].AcceptSelfSigned {
		t.Errorf("tunnels = %+v", ts)
	}
	// IIS without /CCMWeb (and with a byte order mark): no tunnel.
	p = detect(t, Adapter{}, tree(t, "micc-b-10.2", map[string]string{iis: "\ufeff<configuration><system.applicationHost><sites><site name=\"x\"><application path=\"/\"/><bindings><binding protocol=\"https\" bindingInformation=\"*:443:\"/></bindings></site></sites></system.applicationHost></configuration>"}))
	if ts := p.Tunnels(); len(ts) != 0 {
		t.Errorf("tunnels = %+v", ts)
	}
	// A proxy with credentials, and one disabled.
	const mc = "Windows/Microsoft.NET/Framework/v4.0.30319/Config/machine.config"
	p = detect(t, Adapter{}, tree(t, "micc-b-10.2", map[string]string{mc: `<configuration><system.net><defaultProxy><proxy proxyaddress="http://u:p@px:3128"/></defaultProxy></system.net></configuration>`}))
	if p.(platforms.Facter).Facts().Proxy != "http://px:3128" || p.(platforms.Noticer).Notices()[0].Code != "host-proxy-credentials" {
		t.Errorf("proxy = %+v", p.(platforms.Facter).Facts())
	}
	p = detect(t, Adapter{}, tree(t, "micc-b-10.2", map[string]string{mc: `<configuration><system.net><defaultProxy enabled="false"><proxy proxyaddress="http://px:3128"/></defaultProxy></system.net></configuration>`}))
	if p.(platforms.Facter).Facts().Proxy != "" {
		t.Error("a disabled proxy was taken")
	}
}

func TestBadHostFiles(t *testing.T) {
	for name, tc := range map[string]struct{ file, content, want string }{
		"no version": {mdir + "/version.ini", "[Product]\nName=x\n", "has no Version= in [Product]"},
		"ini":        {mdir + "/version.ini", "[Product\nVersion=10.1\n", `line 1: "[Product" is not a [section] header`},
		"ini line":   {mdir + "/version.ini", "[Product]\nVersion=10.1\njunk\n", `line 3: "junk" is not KEY=VALUE`},
		"component":  {mdir + "/version.ini", "[Product]\nVersion=10.1\n[Components]\n---=1\n", `component "---"`},
		"binding":    {"Windows/System32/inetsrv/config/applicationHost.config", `<configuration><system.applicationHost><sites><site name="s"><application path="/CCMWeb"/><bindings><binding protocol="https" bindingInformation="*:x:"/></bindings></site></sites></system.applicationHost></configuration>`, `binding "*:x:" has no port`},
		"xml":        {mdir + "/CCMWeb/web.config", "<configuration>", "web.config is not XML that reads"},
	} {
		_, err := Adapter{}.Detect(tree(t, "micc-b-10.1", map[string]string{tc.file: tc.content}))
		if err == nil || errors.Is(err, platforms.ErrNotDetected) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v", name, err)
		}
	}
}

func TestConfigure(t *testing.T) {
	root := t.TempDir()
	src := filepath.Join(hosts, "micc-b-10.1")
	os.MkdirAll(filepath.Join(root, "MiCC"), 0o755)
	for from, to := range map[string]string{mdir + "/version.ini": "MiCC/version.ini", mdir + "/CCMWeb/web.config": "MiCC/web.config",
		"Windows/System32/inetsrv/config/applicationHost.config": "MiCC/iis.config", "Windows/Microsoft.NET/Framework/v4.0.30319/Config/machine.config": "MiCC/machine.config"} {
		data, _ := os.ReadFile(filepath.Join(src, from))
		os.WriteFile(filepath.Join(root, to), data, 0o644)
	}
	cfg := config(t, "platform:\n  type: micc-b\n  root: "+root+"\n  files:\n    version: 'D:\\MiCC\\version.ini'\n    web: /MiCC/web.config\n    iis: 'C:\\MiCC\\iis.config'\n    proxy: /MiCC/machine.config\n")
	p, err := platforms.Open(cfg, "/nonexistent", Adapters()...)
	if err != nil {
		t.Fatal(err)
	}
	f := p.(platforms.Facter).Facts()
	if p.Version() != "10.1.0.0" || len(p.Tunnels()) != 1 || f.Language != "fr-CA" || f.Proxy == "" {
		t.Errorf("configured = %+v %+v", p, f)
	}
	p, err = Adapter{Root: src}.Configure(config(t, "platform:\n  type: micc-b\n"))
	if err != nil || p.Version() != "10.1.0.0" {
		t.Errorf("%v %v", p, err)
	}
	_, err = Adapter{Root: t.TempDir()}.Configure(config(t, "platform:\n  type: micc-b\n"))
	if !errors.Is(err, platforms.ErrConfig) || !strings.Contains(err.Error(), "no MiCC-B version file /Program Files (x86)/Mitel/MiContact Center/version.ini") {
		t.Errorf("err = %v", err)
	}
}

func TestBadConfig(t *testing.T) {
	for _, tc := range []struct{ text, want string }{
		{"platform:\n  type: micc-b\n  drive: C\n", `cld.yaml line 3: unknown key "drive" in platform (known keys: type, root, files)`},
		{"platform:\n  type: micc-b\n  files:\n    registry: /x\n", `line 4: unknown key "registry" in platform.files (known keys: version, iis, web, proxy)`},
		{"platform:\n  type: micc-b\n  files:\n    web: 'MiCC\\web.config'\n", `platform.files.web "MiCC\\web.config" must be an absolute path`},
		{"platform:\n  type: micc-b\n  files:\n    web: 'C:\\a\\..\\b'\n", `must not hold ".."`},
	} {
		_, err := Adapter{Root: filepath.Join(hosts, "micc-b-10.1")}.Configure(config(t, tc.text))
		if !errors.Is(err, platforms.ErrConfig) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: err = %v", tc.text, err)
		}
	}
}
