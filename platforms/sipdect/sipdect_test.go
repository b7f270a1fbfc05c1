package sipdect

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
	if own < 2 {
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

func TestFixtures(t *testing.T) {
	for _, tc := range []struct {
		dir, version, addr, lang, proxy string
		sources                         []string
	}{
		{"sip-dect-8.3", "8.3SP1-FA23", "https://127.0.0.1:443", "", "", []string{"etc/sysconfig/SIP-DECT"}},
		{"sip-dect-9.0", "9.0SP1-BA04", "https://127.0.0.1:8443", "de", "http://proxy.example.net:8080", []string{"etc/sysconfig/SIP-DECT", "etc/environment"}},
	} {
		dir := filepath.Join(hosts, tc.dir)
		p := detect(t, Adapter{}, dir)
		if p.Type() != "sip-dect" || p.Name() != "SIP-DECT" || p.Version() != tc.version {
			t.Errorf("%s: platform = %s %q %q", tc.dir, p.Type(), p.Name(), p.Version())
		}
		d := p.(platforms.Describer)
		if apps := d.Applications(); !slices.Equal(apps, []platforms.Application{{Type: "sip-dect-omm", Version: tc.version}}) || d.License() != nil || d.Parent() != "" {
			t.Errorf("%s: applications %+v license %+v", tc.dir, apps, d.License())
		}
		want := platforms.Tunnel{ID: "sip-dect-omm-web", Component: "OpenMobility Manager", Name: "OMM web service",
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

// TestNoVersionFloor: the guide gives SIP-DECT no minimum, so old versions
// and versions without numbers are accepted; an empty file is not.
func TestNoVersionFloor(t *testing.T) {
	for _, v := range []string{"3.0", "7.1SP2-CA12", "1.0", "beta"} {
		p, err := Adapter{}.Detect(tree(t, "sip-dect-8.3", map[string]string{"opt/SIP-DECT/VERSION": v + "\n"}))
		if err != nil || p.Version() != v {
			t.Errorf("%s: %v %v", v, p, err)
		}
	}
	_, err := Adapter{}.Detect(tree(t, "sip-dect-8.3", map[string]string{"opt/SIP-DECT/VERSION": "SIP-DECT\n\n"}))
	if err == nil || errors.Is(err, platforms.ErrNotDetected) || !strings.Contains(err.Error(), "holds no version") {
		t.Errorf("empty version: %v", err)
	}
}

func TestBadHostFiles(t *testing.T) {
	_, err := Adapter{}.Detect(tree(t, "sip-dect-8.3", map[string]string{"etc/sysconfig/SIP-DECT": "OMM_HTTPS_PORT=0\n"}))
	if err == nil || !strings.Contains(err.Error(), `OMM_HTTPS_PORT "0" is not a port`) {
		t.Errorf("err = %v", err)
	}
	p, err := Adapter{}.Detect(tree(t, "sip-dect-9.0", map[string]string{"etc/environment": "HTTP_PROXY=http://u:p@proxy:3128\n"}))
	if err != nil || p.(platforms.Facter).Facts().Proxy != "http://proxy:3128" || p.(platforms.Noticer).Notices()[0].Code != "host-proxy-credentials" {
		t.Errorf("%v %v", p, err)
	}
	// Without the settings file: the defaults.
	p = detect(t, Adapter{}, tree(t, "sip-dect-9.0", map[string]string{"etc/sysconfig/SIP-DECT": ""}))
	if p.Tunnels()[0].LocalAddress != "https://127.0.0.1:443" || p.(platforms.Facter).Facts().Language != "" {
		t.Errorf("defaults: %+v", p)
	}
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

func TestConfigure(t *testing.T) {
	root := t.TempDir()
	src := filepath.Join(hosts, "sip-dect-9.0")
	os.MkdirAll(filepath.Join(root, "data"), 0o755)
	for from, to := range map[string]string{"opt/SIP-DECT/VERSION": "data/omm-version", "etc/sysconfig/SIP-DECT": "data/omm.conf", "etc/environment": "data/env"} {
		data, _ := os.ReadFile(filepath.Join(src, from))
		os.WriteFile(filepath.Join(root, to), data, 0o644)
	}
	cfg := config(t, "platform:\n  type: sip-dect\n  root: "+root+"\n  files:\n    version: /data/omm-version\n    settings: /data/omm.conf\n    proxy: /data/env\n")
	p, err := platforms.Open(cfg, "/nonexistent", Adapters()...)
	if err != nil {
		t.Fatal(err)
	}
	if p.Version() != "9.0SP1-BA04" || p.Tunnels()[0].LocalAddress != "https://127.0.0.1:8443" || p.(platforms.Facter).Facts().Proxy == "" {
		t.Errorf("configured = %+v", p)
	}
	p, err = Adapter{Root: src}.Configure(config(t, "platform:\n  type: sip-dect\n"))
	if err != nil || p.Version() != "9.0SP1-BA04" {
		t.Errorf("%v %v", p, err)
	}
	_, err = Adapter{Root: t.TempDir()}.Configure(config(t, "platform:\n  type: sip-dect\n"))
	if !errors.Is(err, platforms.ErrConfig) || !strings.Contains(err.Error(), "no OMM version file /opt/SIP-DECT/VERSION") {
		t.Errorf("err = %v", err)
	}
}

func TestBadConfig(t *testing.T) {
	for _, tc := range []struct{ text, want string }{
		{"platform:\n  type: sip-dect\n  version: \"9.0\"\n", `cld.yaml line 3: unknown key "version" in platform (known keys: type, root, files)`},
		{"platform:\n  type: sip-dect\n  files:\n    omm: /x\n", `line 4: unknown key "omm" in platform.files (known keys: version, settings, proxy)`},
		{"platform:\n  type: sip-dect\n  files:\n    version: VERSION\n", `platform.files.version "VERSION" must be an absolute path`},
		{"platform:\n  type: sip-dect\n  files: [a]\n", `platform.files must be a mapping`},
	} {
		_, err := Adapter{Root: filepath.Join(hosts, "sip-dect-8.3")}.Configure(config(t, tc.text))
		if !errors.Is(err, platforms.ErrConfig) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: err = %v", tc.text, err)
		}
	}
}
