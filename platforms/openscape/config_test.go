package openscape

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/cloudlink/cld/platforms"
)

// platformConfig parses a config file's text and returns its platform section.
func platformConfig(t *testing.T, text string) platforms.Config {
	t.Helper()
	var f struct {
		Platform platforms.Config `yaml:"platform"`
	}
	if err := yaml.Unmarshal([]byte(text), &f); err != nil {
		t.Fatal(err)
	}
	f.Platform.Source = "cld.yaml"
	return f.Platform
}

func abs(t *testing.T, dir string) string {
	t.Helper()
	d, err := filepath.Abs(dir)
	if err != nil {
		t.Fatal(err)
	}
	return filepath.ToSlash(d)
}

// copyTree copies fixture name to a new directory.
func copyTree(t *testing.T, name string) string {
	t.Helper()
	dst := t.TempDir()
	if err := os.CopyFS(dst, os.DirFS(filepath.Join("testdata/hosts", name))); err != nil {
		t.Fatal(err)
	}
	return dst
}

// move moves a file of tree root from one host path to another.
func move(t *testing.T, root, from, to string) {
	t.Helper()
	dst := filepath.Join(root, filepath.FromSlash(to))
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(root, filepath.FromSlash(from)), dst); err != nil {
		t.Fatal(err)
	}
}

// TestConfigureFixtures: platform.type forces each adapter, which detects
// its supported fixtures under Open's root (and under platform.root).
func TestConfigureFixtures(t *testing.T) {
	for _, f := range fixtures(t, "testdata/hosts") {
		if f.unsupported {
			continue
		}
		p, err := platforms.Open(platformConfig(t, "platform:\n  type: "+f.typ+"\n"), abs(t, f.dir), Adapters()...)
		if err != nil {
			t.Errorf("%s: %v", f.name, err)
			continue
		}
		checkPlatform(t, f.name, p, f.typ, supported[f.name])
		p, err = platforms.Open(platformConfig(t, "platform:\n  type: "+f.typ+"\n  root: "+abs(t, f.dir)+"\n"), "/nonexistent", Adapters()...)
		if err != nil || p.Type() != f.typ {
			t.Errorf("%s: platform.root: %v, %v", f.name, p, err)
		}
	}
	// A forced type on an unsupported host is refused like detection.
	_, err := platforms.Open(platformConfig(t, "platform:\n  type: openscape-sbc\n"), abs(t, "testdata/hosts/sbc-v11r1"), Adapters()...)
	var ue *platforms.UnsupportedError
	if !errors.As(err, &ue) || ue.Found != "V11R1.4.0" {
		t.Errorf("unsupported SBC: %v", err)
	}
}

// TestConfigureOverrides moves every place of a host elsewhere and names
// the new places in platform.files; the default places then hold another
// (unsupported) host, which the overrides hide.
func TestConfigureOverrides(t *testing.T) {
	root := copyTree(t, "os4k-v11r0-22")
	moved := map[string]string{
		"version": "/srv/os4k/version.conf", "os_release": "/srv/os4k/os-release", "components": "/srv/os4k/components",
		"license": "/srv/os4k/license", "assistant": "/srv/os4k/assistant.conf", "proxy": "/srv/os4k/proxy",
	}
	var files strings.Builder
	for _, pl := range os4000.places {
		move(t, root, pl.path, moved[pl.key])
		files.WriteString("    " + pl.key + ": " + moved[pl.key] + "\n")
	}
	os.WriteFile(filepath.Join(root, "etc/opt/os4000/version.conf"), []byte("PRODUCT=\"OpenScape 4000\"\nVERSION=\"V10 R1.42.0\"\n"), 0o644)
	if _, err := (OS4000{}).Detect(root); !errors.As(err, new(*platforms.UnsupportedError)) {
		t.Fatalf("the default places: %v", err)
	}
	cfg := platformConfig(t, "platform:\n  type: openscape-4000\n  files:\n"+files.String()+"  addresses:\n    os4k-platform-portal: https://localhost:9443\n")
	p, err := platforms.Open(cfg, root, Adapters()...)
	if err != nil {
		t.Fatal(err)
	}
	w := supported["os4k-v11r0-22"]
	w.source = []string{moved["version"], moved["os_release"], moved["components"], moved["license"], moved["assistant"], moved["proxy"]}
	pp := p.(*Platform)
	if pp.Version() != w.version || !slices.Equal(pp.Facts().Source, w.source) || pp.Facts().Language != "de" || pp.License() == nil {
		t.Errorf("%s %v %+v", pp.Version(), pp.Facts().Source, pp.Facts())
	}
	if ts := pp.Tunnels(); len(ts) != 2 || ts[0].LocalAddress != "https://127.0.0.1:443" || ts[1].LocalAddress != "https://localhost:9443" {
		t.Errorf("tunnels %+v", ts)
	}
	// The same through Options.
	p2, err := OS4000{Options{Files: moved, Addresses: map[string]string{"os4k-platform-portal": "https://localhost:9443"}}}.Detect(root)
	if err != nil || !slices.Equal(p2.(*Platform).Facts().Source, w.source) || p2.Tunnels()[1].LocalAddress != "https://localhost:9443" {
		t.Errorf("options: %v, %v", p2, err)
	}
}

func TestConfigureErrors(t *testing.T) {
	good := abs(t, "testdata/hosts/osv-node1-duplex")
	for _, tc := range []struct {
		name, text string
		want       []string
	}{
		{"unknown keys", "platform:\n  type: openscape-business\n  colour: blue\n  files:\n    versoin: /etc/x\n  addresses:\n    osb-ssh: https://127.0.0.1:22\n  instance: cld\n",
			[]string{`cld.yaml line 3: unknown key "colour" in platform (known keys: type, root, files, addresses)`,
				`cld.yaml line 5: unknown key "versoin" in platform.files (known keys: version, os_release, components, license, wbm)`,
				`cld.yaml line 7: unknown key "osb-ssh" in platform.addresses (known keys: osb-wbm)`,
				`cld.yaml line 8: unknown key "instance" in platform`}},
		{"bad values", "platform:\n  type: openscape-uc\n  root: relative/dir\n  files:\n    version: etc/version\n    cmp: /etc/../cmp\n    proxy: [a, b]\n  addresses:\n    osuc-cmp: https://10.0.0.1:443\n",
			[]string{`cld.yaml line 3: platform.root "relative/dir" must be an absolute directory`,
				`cld.yaml line 5: platform.files.version: "etc/version" is not an absolute path on the host`,
				`cld.yaml line 6: platform.files.cmp: "/etc/../cmp" is not a clean path`,
				`cld.yaml line 7: platform.files.proxy must be a single value`,
				`cld.yaml line 9: platform.addresses.osuc-cmp: local address "https://10.0.0.1:443": the IP address 10.0.0.1 is not a loopback address`}},
		{"wrong shapes and repeats", "platform:\n  type: openscape-sbc\n  files: /etc\n  addresses: [x]\n  root: /\n  root: /a\n",
			[]string{`cld.yaml line 3: platform.files must be a mapping`, `cld.yaml line 4: platform.addresses must be a mapping`,
				`cld.yaml line 6: key "root" appears twice in platform`}},
		{"path in an address", "platform:\n  type: openscape-4000\n  addresses:\n    os4k-assistant: https://127.0.0.1:443/Assistant\n    os4k-platform-portal: \"\"\n",
			[]string{`line 4: platform.addresses.os4k-assistant: local address "https://127.0.0.1:443/Assistant" must be scheme://host:port only`,
				`line 5: platform.addresses.os4k-platform-portal must be a single value`}},
		{"voice identity", "platform:\n  type: openscape-voice\n  root: " + good + "\n  instance: CLD 2\n  state_dir: var/lib/cld2\n",
			[]string{`line 4: platform.instance: "CLD 2" is not an instance name such as cld or cld-cmp2`,
				`line 5: platform.state_dir: "var/lib/cld2" is not an absolute path on the host`}},
		{"not this host", "platform:\n  type: openscape-voice\n  root: " + abs(t, "testdata/hosts/osb-s-v3r4") + "\n",
			[]string{`cld.yaml: platform.type is openscape-voice, but there is no OpenScape Voice version file at /opt/unisphere/srx3000/etc/osv-release under ` + abs(t, "testdata/hosts/osb-s-v3r4"),
				`set platform.files.version (or platform.root)`}},
		{"not a mapping", "platform:\n  type: openscape-sbc\n  files:\n    version: /x\n    - y\n", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var f struct {
				Platform platforms.Config `yaml:"platform"`
			}
			if err := yaml.Unmarshal([]byte(tc.text), &f); err != nil {
				if tc.want != nil {
					t.Fatal(err)
				}
				return // YAML itself refuses it
			}
			f.Platform.Source = "cld.yaml"
			p, err := platforms.Open(f.Platform, "/nonexistent", Adapters()...)
			if err == nil || p != nil || !errors.Is(err, platforms.ErrConfig) {
				t.Fatalf("%v, %v", p, err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error\n%v\nlacks\n%s", err, w)
				}
			}
		})
	}
}

func TestOptionErrors(t *testing.T) {
	for _, a := range []platforms.Adapter{
		Business{Options{Files: map[string]string{"bogus": "/x"}}},
		Voice{Options: Options{Files: map[string]string{"node": "relative"}}},
		UC{Options{Addresses: map[string]string{"osuc-cmp": "http://192.0.2.1:80"}}},
		SBC{Options{Addresses: map[string]string{"sbc-ssh": "https://127.0.0.1:22"}}},
	} {
		if _, err := a.Detect(abs(t, "testdata/hosts/osb-s-v3r4")); !errors.Is(err, platforms.ErrConfig) {
			t.Errorf("%s: %v", a.Type(), err)
		}
	}
}

// TestVersionFileWithoutVersion: a host that is the product but does not
// say its version is refused with a sentence, not detected.
func TestVersionFileWithoutVersion(t *testing.T) {
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "etc/opt/openscape-sbc"), 0o755)
	os.WriteFile(filepath.Join(root, "etc/opt/openscape-sbc/version"), []byte("PRODUCT=\"OpenScape Session Border Controller\"\n"), 0o644)
	_, err := SBC{}.Detect(root)
	if err == nil || errors.Is(err, platforms.ErrNotDetected) || !strings.Contains(err.Error(), "gives no version") || !strings.Contains(err.Error(), "V11R2.1.0") {
		t.Errorf("%v", err)
	}
	// Another product's file at the place: not this product.
	os.WriteFile(filepath.Join(root, "etc/opt/openscape-sbc/version"), []byte("PRODUCT=\"OpenScape Branch\"\nVERSION=\"V11R2.1.0\"\n"), 0o644)
	if _, err := (SBC{}).Detect(root); !errors.Is(err, platforms.ErrNotDetected) {
		t.Errorf("OpenScape Branch: %v", err)
	}
}
