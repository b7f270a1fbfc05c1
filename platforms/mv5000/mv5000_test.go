package mv5000

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

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

const etc = "opt/mitel/mv5000/etc"

func day(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }

func TestFixtures(t *testing.T) {
	now := func() time.Time { return day(2025, 6, 1) }
	for _, tc := range []struct {
		dir, version, addr, lang, proxy string
		apps                            []platforms.Application
		license                         platforms.License
		sources                         []string
	}{
		{"mivoice-5000-8.2-sp2", "8.2 SP2", "https://127.0.0.1:443", "fr-FR", "http://proxy.exemple.fr:3128", []platforms.Application{
			{Type: "mivoice-5000", Version: "8.2.2.14"}, {Type: "mivoice-5000-call-server", Version: "8.2.2.14"},
			{Type: "mivoice-5000-web-admin", Version: "8.2.2.14"}, {Type: "mivoice-5000-csta-server", Version: "8.2.2.14"}},
			platforms.License{Type: "PERPETUAL", SWAStatus: platforms.SWAActive, SWAExpiry: day(2027, 6, 30)},
			[]string{etc + "/webadmin.conf", "etc/environment"}},
		{"mivoice-5000-9.0", "R9.0", "https://127.0.0.1:4443", "en", "", []platforms.Application{
			{Type: "mivoice-5000", Version: "9.0.0.31"}, {Type: "mivoice-5000-call-server", Version: "9.0.0.31"}, {Type: "mivoice-5000-web-admin", Version: "9.0.0.31"}},
			platforms.License{Type: "SUBSCRIPTION", Expires: day(2028, 1, 31), SWAStatus: platforms.SWAExpired, SWAExpiry: day(2024, 12, 31)},
			[]string{etc + "/webadmin.conf"}},
	} {
		dir := filepath.Join(hosts, tc.dir)
		p := detect(t, Adapter{Now: now}, dir)
		if p.Type() != "mivoice-5000" || p.Name() != "MiVoice 5000" || p.Version() != tc.version {
			t.Errorf("%s: platform = %s %q %q", tc.dir, p.Type(), p.Name(), p.Version())
		}
		d := p.(platforms.Describer)
		if apps := d.Applications(); !slices.Equal(apps, tc.apps) || d.Parent() != "" {
			t.Errorf("%s: applications %+v", tc.dir, apps)
		}
		if l := d.License(); l == nil || *l != tc.license {
			t.Errorf("%s: license = %+v", tc.dir, l)
		}
		want := platforms.Tunnel{ID: "mivoice-5000-web-admin", Component: "MiVoice 5000 Server", Name: "Web Admin",
			Description: "Remote access via Mitel Administration", LocalAddress: tc.addr, AcceptSelfSigned: true}
		if ts := p.Tunnels(); len(ts) != 1 || ts[0] != want {
			t.Errorf("%s: tunnels = %+v", tc.dir, ts)
		}
		f := p.(platforms.Facter).Facts()
		if f.Language != tc.lang || f.Proxy != tc.proxy || f.Embedding != (platforms.Embedding{Auth: platforms.AuthLocal}) {
			t.Errorf("%s: facts = %+v", tc.dir, f)
		}
		var src []string
		for _, s := range tc.sources {
			src = append(src, filepath.Join(dir, s))
		}
		if !slices.Equal(f.Source, src) {
			t.Errorf("%s: sources = %q", tc.dir, f.Source)
		}
		if n := p.(platforms.Noticer).Notices(); len(n) != 0 {
			t.Errorf("%s: notices = %+v", tc.dir, n)
		}
	}
	// The SWA follows its expiry date at the clock's time.
	p := detect(t, Adapter{Now: func() time.Time { return day(2024, 12, 31).Add(23 * time.Hour) }}, filepath.Join(hosts, "mivoice-5000-9.0"))
	if s := p.(platforms.Describer).License().SWAStatus; s != platforms.SWAActive {
		t.Errorf("SWA on its last day = %s", s)
	}
}

func TestVersionRule(t *testing.T) {
	for v, ok := range map[string]bool{"8.2 SP2": true, "R8.2 SP2": true, "8.2.2": true, "8.2 SP3": true, "8.3": true, "9.0": true,
		"8.2 SP1": false, "8.2": false, "R8.1 SP4": false, "7.2": false} {
		p, err := Adapter{}.Detect(tree(t, "mivoice-5000-8.2-sp2", map[string]string{etc + "/release": "VERSION=\"" + v + "\"\n"}))
		var u *platforms.UnsupportedError
		if ok && (err != nil || p.Version() != v || p.(platforms.Describer).Applications()[0].Version != v) ||
			!ok && (!errors.As(err, &u) || u.Found != v || u.Needed != "8.2 SP2 or higher") {
			t.Errorf("%s: %v %v", v, p, err)
		}
	}
	_, err := Adapter{}.Detect(filepath.Join(hosts, "mivoice-5000-8.2-sp1-unsupported"))
	if err == nil || !strings.HasPrefix(err.Error(), "MiVoice 5000 8.2 SP1 is not supported: cld needs 8.2 SP2 or higher") {
		t.Errorf("err = %v", err)
	}
}

func TestHostVariants(t *testing.T) {
	// Only the release file: defaults, no licence.
	root := tree(t, "mivoice-5000-8.2-sp2", map[string]string{etc + "/components": "", etc + "/webadmin.conf": "", etc + "/license.conf": "", "etc/environment": ""})
	p := detect(t, Adapter{}, root)
	d := p.(platforms.Describer)
	if len(d.Applications()) != 1 || d.License() != nil || p.Tunnels()[0].LocalAddress != "https://127.0.0.1:443" || len(p.(platforms.Facter).Facts().Source) != 0 {
		t.Errorf("%+v", p)
	}
}

func TestBadHostFiles(t *testing.T) {
	for name, tc := range map[string]struct{ file, content, want string }{
		"no version": {etc + "/release", "PRODUCT=x\n", "has no VERSION="},
		"component":  {etc + "/components", "call-server 1\nWebAdmin 2\n", "components line 2: want NAME VERSION"},
		"fields":     {etc + "/components", "call-server\n", "components line 1: want NAME VERSION"},
		"duplicate":  {etc + "/components", "a 1\n\na 2\n", "line 3: component a is already on line 1"},
		"port":       {etc + "/webadmin.conf", "HTTPS_PORT=https\n", `HTTPS_PORT "https" is not a port`},
		"swa":        {etc + "/license.conf", "SWA_STATUS=GOOD\n", `SWA_STATUS "GOOD" is not ACTIVE`},
		"date":       {etc + "/license.conf", "LICENSE_EXPIRY=31/01/2028\n", `LICENSE_EXPIRY "31/01/2028" is not a date`},
	} {
		_, err := Adapter{}.Detect(tree(t, "mivoice-5000-8.2-sp2", map[string]string{tc.file: tc.content}))
		if err == nil || errors.Is(err, platforms.ErrNotDetected) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v", name, err)
		}
	}
	p := detect(t, Adapter{}, tree(t, "mivoice-5000-8.2-sp2", map[string]string{"etc/environment": "http_proxy=not a url\n"}))
	if p.(platforms.Facter).Facts().Proxy != "" || p.(platforms.Noticer).Notices()[0].Code != "host-proxy-invalid" {
		t.Errorf("%+v", p)
	}
}

func TestConfigure(t *testing.T) {
	root := t.TempDir()
	src := filepath.Join(hosts, "mivoice-5000-8.2-sp2")
	os.MkdirAll(filepath.Join(root, "cfg"), 0o755)
	for _, f := range []string{"release", "components", "webadmin.conf", "license.conf"} {
		data, _ := os.ReadFile(filepath.Join(src, etc, f))
		os.WriteFile(filepath.Join(root, "cfg", f), data, 0o644)
	}
	data, _ := os.ReadFile(filepath.Join(src, "etc/environment"))
	os.WriteFile(filepath.Join(root, "cfg/env"), data, 0o644)
	cfg := config(t, "platform:\n  type: mivoice-5000\n  root: "+root+"\n  files:\n    release: /cfg/release\n    components: /cfg/components\n    webadmin: /cfg/webadmin.conf\n    license: /cfg/license.conf\n    proxy: /cfg/env\n")
	p, err := platforms.Open(cfg, "/nonexistent", Adapters()...)
	if err != nil {
		t.Fatal(err)
	}
	f := p.(platforms.Facter).Facts()
	if p.Version() != "8.2 SP2" || len(p.(platforms.Describer).Applications()) != 4 || p.(platforms.Describer).License() == nil || f.Language != "fr-FR" || f.Proxy == "" {
		t.Errorf("configured = %+v %+v", p, f)
	}
	p, err = Adapter{Root: src}.Configure(config(t, "platform:\n  type: mivoice-5000\n"))
	if err != nil || p.Version() != "8.2 SP2" {
		t.Errorf("%v %v", p, err)
	}
	_, err = Adapter{Root: t.TempDir()}.Configure(config(t, "platform:\n  type: mivoice-5000\n"))
	if !errors.Is(err, platforms.ErrConfig) || !strings.Contains(err.Error(), "no MiVoice 5000 release file /opt/mitel/mv5000/etc/release") {
		t.Errorf("err = %v", err)
	}
	_, err = Adapter{Root: filepath.Join(hosts, "mivoice-5000-8.2-sp1-unsupported")}.Configure(config(t, "platform:\n  type: mivoice-5000\n"))
	var u *platforms.UnsupportedError
	if !errors.As(err, &u) {
		t.Errorf("err = %v", err)
	}
}

func TestBadConfig(t *testing.T) {
	for _, tc := range []struct{ text, want string }{
		{"platform:\n  type: mivoice-5000\n  tunnels: []\n", `cld.yaml line 3: unknown key "tunnels" in platform (known keys: type, root, files)`},
		{"platform:\n  type: mivoice-5000\n  files:\n    web: /x\n", `line 4: unknown key "web" in platform.files (known keys: release, components, webadmin, license, proxy)`},
		{"platform:\n  type: mivoice-5000\n  files:\n    license: ../license.conf\n", `platform.files.license "../license.conf" must be an absolute path`},
		{"platform:\n  type: mivoice-5000\n  root: [a]\n", `platform.root must be an absolute directory`},
	} {
		_, err := Adapter{Root: filepath.Join(hosts, "mivoice-5000-8.2-sp2")}.Configure(config(t, tc.text))
		if !errors.Is(err, platforms.ErrConfig) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: err = %v", tc.text, err)
		}
	}
	// A section that is not a mapping (platforms.Config refuses it in a
	// file; a caller may still build one).
	_, err := Adapter{}.Configure(platforms.Config{Type: Type, Node: &yaml.Node{Kind: yaml.SequenceNode, Line: 2}})
	if !errors.Is(err, platforms.ErrConfig) || !strings.Contains(err.Error(), "line 2: the platform section must be a mapping") {
		t.Errorf("err = %v", err)
	}
}
