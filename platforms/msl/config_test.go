package msl

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

// section parses a config file's text into its platform section.
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

func TestConfigureFixture(t *testing.T) {
	root := abs(t, "testdata/hosts/msl-11.0.110")
	cfg := section(t, "platform:\n  type: msl\n  root: "+root+"\n")
	p, err := platforms.Open(cfg, "/nonexistent", Adapter{})
	if err != nil {
		t.Fatal(err)
	}
	check(t, p.(*Platform), wants["msl-11.0.110"], "msl", "")
}

func TestConfigureOverrides(t *testing.T) {
	// Every file somewhere else.
	src := "testdata/hosts/msl-11.0.110"
	files := map[string]string{}
	for from, to := range map[string]string{
		DefaultRelease: "/opt/msl/release", DefaultConfigDB: "/opt/msl/db/config",
		DefaultPackages: "/opt/msl/rpm-qa.txt", DefaultLicense: "/opt/msl/licence",
		"/opt/mitel/clgw/default/VERSION": "/opt/gw/default/VERSION", "/opt/mitel/clgw/default/etc/clgw.conf": "/opt/gw/default/etc/clgw.conf",
	} {
		data, err := os.ReadFile(filepath.Join(src, filepath.FromSlash(from)))
		if err != nil {
			t.Fatal(err)
		}
		files[to] = string(data)
	}
	// At the default places: a different host, which the overrides hide.
	files[DefaultRelease] = "Mitel Standard Linux release 12.0 (31)"
	files[DefaultSMBCMarker] = "SMBC_CONTAINER=msl"
	root := tree(t, files)
	cfg := section(t, `
platform:
  type: msl
  root: `+filepath.ToSlash(root)+`
  files:
    release: /opt/msl/release
    config_db: /opt/msl/db/config
    packages: /opt/msl/rpm-qa.txt
    license: /opt/msl/licence
    smbc_marker: /opt/msl/no-marker
    gateway_dir: /opt/gw
  addresses:
    msl-server-manager: https://127.0.0.1:9443
    mbg-admin: http://localhost:9444
    micollab-admin: https://127.0.0.1:9445   # not installed: ignored
  base_path: /cld
  user_header: X-Forwarded-User
`)
	p, err := Adapter{}.Configure(cfg)
	if err != nil {
		t.Fatal(err)
	}
	pl := p.(*Platform)
	w := wants["msl-11.0.110"]
	if pl.Name() != w.name || pl.MSLVersion() != "11.0.110" || !slices.Equal(pl.Applications(), w.apps) || *pl.License() != *w.license {
		t.Errorf("platform %q %q apps %v license %+v", pl.Name(), pl.MSLVersion(), pl.Applications(), pl.License())
	}
	addr := map[string]string{}
	for _, tn := range pl.Tunnels() {
		addr[tn.ID] = tn.LocalAddress
	}
	if addr["msl-server-manager"] != "https://127.0.0.1:9443" || addr["mbg-admin"] != "http://localhost:9444" || addr["mivb-admin"] != "https://127.0.0.1:8445" || addr["clgw-rest"] != "http://127.0.0.1:8090" {
		t.Errorf("addresses = %v", addr)
	}
	for _, tn := range pl.Tunnels() {
		if tn.ID == "mbg-admin" && tn.AcceptSelfSigned {
			t.Error("an http tunnel accepts self-signed certificates")
		}
	}
	f := pl.Facts()
	if f.Language != "de-DE" || f.Proxy != "http://proxy.example.com:3128" || f.Embedding.BasePath != "/cld" || f.Embedding.UserHeader != "X-Forwarded-User" {
		t.Errorf("facts = %+v", f)
	}
	if !slices.Contains(f.Source, filepath.Join(root, "opt/msl/db/config")) {
		t.Errorf("sources = %v", f.Source)
	}
}

func TestConfigureErrors(t *testing.T) {
	good := abs(t, "testdata/hosts/msl-11.0.110")
	for _, tc := range []struct {
		name, text string
		want       []string
		unsupp     bool
	}{
		{"unknown keys", "platform:\n  type: msl\n  colour: blue\n  files:\n    releases: /etc/x\n  addresses:\n    ssh: https://127.0.0.1:22\n",
			[]string{`cld.yaml line 3: unknown key "colour" in platform (type msl knows: type, root, base_path, user_header, files, addresses)`,
				`cld.yaml line 5: unknown key "releases" in platform.files (known keys: release, config_db`,
				`cld.yaml line 7: unknown key "ssh" in platform.addresses (known keys: msl-server-manager, msl-rest`}, false},
		{"bad values", "platform:\n  type: msl\n  root: relative/dir\n  files:\n    release: etc/e-smith-release\n    packages: [a, b]\n  addresses:\n    msl-rest: https://10.0.0.1:443\n    mbg-admin: https://127.0.0.1:443/admin\n",
			[]string{`line 3: platform.root must be an absolute directory such as /; got "relative/dir"`,
				`line 5: platform.files.release must be an absolute path on the host`,
				`line 6: platform.files.packages must be an absolute path on the host such as /etc/e-smith-release; got a list`,
				`line 8: platform.addresses.msl-rest: "https://10.0.0.1:443": the IP address 10.0.0.1 is not a loopback address`,
				`line 9: platform.addresses.mbg-admin: "https://127.0.0.1:443/admin" must be scheme://host:port only`}, false},
		{"repeated and wrong shapes", "platform:\n  type: msl\n  files: /etc\n  addresses: [x]\n  user_header: {a: b}\n  base_path: /a\n  base_path: /b\n",
			[]string{`line 3: platform.files must be a mapping of release, config_db`, `line 4: platform.addresses must be a mapping`,
				`line 5: platform.user_header must be a single value; got a mapping`, `line 7: key "base_path" appears twice in platform`}, false},
		{"embedding", "platform:\n  type: msl\n  root: " + good + "\n  base_path: server-manager/\n  user_header: X Remote User\n",
			[]string{`line 4: platform.base_path "server-manager/" must be a URL path`, `line 5: platform.user_header "X Remote User" must be an HTTP header name`}, false},
		{"not MSL", "platform:\n  type: msl\n  root: " + abs(t, "testdata") + "\n",
			[]string{"cld.yaml line 2: platform.type is msl, but", "has no Mitel Standard Linux release file /etc/e-smith-release"}, false},
		{"SMBC", "platform:\n  type: msl\n  root: " + abs(t, "../smbc/testdata/hosts/smbc-msl") + "\n",
			[]string{"holds /etc/mitel/smbc-container: this is the MSL container of an SMB Controller; use type: smbc-msl"}, false},
		{"unsupported", "platform:\n  type: msl\n  root: " + abs(t, "testdata/hosts/msl-12.0") + "\n",
			[]string{"Mitel Standard Linux 12.0.31 is not supported: cld needs 11.0.110"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := platforms.Open(section(t, tc.text), "/", Adapter{})
			if err == nil {
				t.Fatal("no error")
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
		})
	}
}

func TestConfigureWithoutSection(t *testing.T) {
	// A platform config built in code (no YAML node): the defaults.
	sec, err := ParseSection(platforms.Config{Type: Type}, Spec(Type))
	if err != nil || sec.Root != "/" || len(sec.Files) != 0 {
		t.Fatalf("%+v %v", sec, err)
	}
}
