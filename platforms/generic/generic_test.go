package generic

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/cloudlink/cld/platforms"
)

// load reads the platform section of the config fixture testdata/name.
func load(t *testing.T, name string) (platforms.Platform, error) {
	t.Helper()
	path := filepath.Join("testdata", name)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Platform platforms.Config `yaml:"platform"`
		Rest     map[string]any   `yaml:",inline"`
	}
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	doc.Platform.Source = path
	return platforms.Open(doc.Platform, "/", Adapter{})
}

func TestValidFixture(t *testing.T) {
	p, err := load(t, "valid.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if p.Type() != "generic" || p.Name() != "Demo MSL host" || p.Version() != "11.0.85" {
		t.Errorf("platform = %s %q %q", p.Type(), p.Name(), p.Version())
	}
	ts := p.Tunnels()
	if len(ts) != 2 {
		t.Fatalf("tunnels = %+v", ts)
	}
	want := platforms.Tunnel{ID: "msl-server-manager", Component: "MSL", Name: "Server Manager",
		Description: "Remote access via Mitel Administration", LocalAddress: "https://127.0.0.1:9443", AcceptSelfSigned: true}
	if ts[0] != want {
		t.Errorf("tunnels[0] = %+v, want %+v", ts[0], want)
	}
	if ts[1].ID != "mbg-admin" || ts[1].AcceptSelfSigned || ts[1].LocalAddress != "http://localhost:8080" {
		t.Errorf("tunnels[1] = %+v", ts[1])
	}
	// The caller's copy is its own.
	ts[0].ID = "changed"
	if p.Tunnels()[0].ID != "msl-server-manager" {
		t.Error("Tunnels returned the platform's own slice")
	}
}

func TestInvalidFixtures(t *testing.T) {
	for _, tc := range []struct {
		file string
		want []string
	}{
		{"duplicate-id.yaml", []string{"duplicate-id.yaml line 5", `id "web" is already used by tunnels[0]`}},
		{"bad-id.yaml", []string{`bad-id.yaml line 4: platform.tunnels[0]: id "127.0.0.1:22" is not valid`, `id "Server Manager" is not valid`, "lower-case letters"}},
		{"bad-address.yaml", []string{
			"tunnels[0]: local_address \"https://10.1.2.3:443\": the IP address 10.1.2.3 is not a loopback address",
			"tunnels[1]: local_address \"https://127.0.0.1:443/admin\" must be scheme://host:port only, without a path",
			"tunnels[2]: local_address \"ftp://127.0.0.1:21\" must start with http:// or https://",
			"tunnels[3]: local_address \"https://127.0.0.1\" needs an explicit port",
			"tunnels[4]: accept_self_signed and ca_file apply only to an https local_address",
			"tunnels[5]: local_address is empty",
		}},
		{"unknown-key.yaml", []string{`unknown-key.yaml line 3: unknown key "colour" in platform`, `line 9: unknown key "insecure" in platform.tunnels[0] (known keys: id, component`}},
		{"missing-fields.yaml", []string{"component is empty", "name is empty"}},
		{"not-a-list.yaml", []string{"platform.tunnels must be a list"}},
		{"bad-inventory.yaml", []string{
			`bad-inventory.yaml line 3: platform.parent "SMB Controller" is not a platform type`,
			`bad-inventory.yaml line 5: platform.applications[0]: type "MiVoice Business" is not valid`,
			`line 6: platform.applications[1]: type is empty`,
			`line 8: platform.applications[3]: type "mivb" is already listed as applications[2]`,
			`line 11: platform.license.expires "next year" is not a date`,
			`line 12: platform.license.swa_status "MAYBE" is not one of ACTIVE, EXPIRED, NONE`,
		}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			_, err := load(t, tc.file)
			if err == nil {
				t.Fatal("no error")
			}
			if !errors.Is(err, platforms.ErrConfig) {
				t.Errorf("error does not wrap ErrConfig: %v", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
		})
	}
}

func TestInventoryFacts(t *testing.T) {
	p, err := load(t, "inventory.yaml")
	if err != nil {
		t.Fatal(err)
	}
	d, ok := p.(platforms.Describer)
	if !ok {
		t.Fatal("the generic platform is not a platforms.Describer")
	}
	if d.Parent() != "smbc" {
		t.Errorf("parent = %q", d.Parent())
	}
	apps := d.Applications()
	want := []platforms.Application{{Type: "mivoice-business", Version: "10.1.0.12"}, {Type: "cloudlink-gateway", Version: "2.4.1"}}
	if len(apps) != 2 || apps[0] != want[0] || apps[1] != want[1] {
		t.Errorf("applications = %+v", apps)
	}
	l := d.License()
	if l == nil || l.Type != "PERPETUAL" || l.SWAStatus != platforms.SWAActive ||
		!l.Expires.Equal(time.Date(2027, 12, 31, 0, 0, 0, 0, time.UTC)) || !l.SWAExpiry.Equal(time.Date(2026, 12, 31, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("license = %+v", l)
	}
	l.Type = "changed"
	apps[0].Type = "changed"
	if d.License().Type != "PERPETUAL" || d.Applications()[0].Type != "mivoice-business" {
		t.Error("Describer returned the platform's own values")
	}
	// Without the optional keys: no applications, no license, no parent.
	p, err = load(t, "valid.yaml")
	if err != nil {
		t.Fatal(err)
	}
	d = p.(platforms.Describer)
	if d.Parent() != "" || d.License() != nil || len(d.Applications()) != 0 {
		t.Errorf("valid.yaml: %q %+v %+v", d.Parent(), d.License(), d.Applications())
	}
	// The second pass (values) reports bad dates and statuses with lines.
	_, err = New("", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Platform platforms.Config `yaml:"platform"`
	}
	src := "platform:\n  type: generic\n  applications: [{type: a}, {type: a}]\n  license:\n    expires: next year\n    swa_status: MAYBE\n"
	if err := yaml.Unmarshal([]byte(src+"    seats: 3\n"), &doc); err != nil {
		t.Fatal(err)
	}
	if _, err := platforms.Open(doc.Platform, "/", Adapter{}); err == nil || !strings.Contains(err.Error(), `line 7: unknown key "seats" in platform.license (known keys: type, expires, swa_status, swa_expiry)`) {
		t.Errorf("unknown license key: %v", err)
	}
	if err := yaml.Unmarshal([]byte(src), &doc); err != nil {
		t.Fatal(err)
	}
	doc.Platform.Source = "x.yaml"
	_, err = platforms.Open(doc.Platform, "/", Adapter{})
	for _, w := range []string{
		`x.yaml line 3: platform.applications[1]: type "a" is already listed as applications[0]`,
		`x.yaml line 5: platform.license.expires "next year" is not a date such as 2027-12-31`,
		`x.yaml line 6: platform.license.swa_status "MAYBE" is not one of ACTIVE, EXPIRED, NONE`,
	} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("error lacks %q:\n%v", w, err)
		}
	}
	if _, err := NewWithDetails("", "", nil, Details{Parent: "SMBC", Applications: []platforms.Application{{Type: "A B"}}, License: &platforms.License{SWAStatus: "x"}}); err == nil ||
		!strings.Contains(err.Error(), "parent") || !strings.Contains(err.Error(), "applications[0]") || !strings.Contains(err.Error(), "swa_status") {
		t.Errorf("NewWithDetails: %v", err)
	}
}

func TestOpen(t *testing.T) {
	// No section: detection; the generic adapter never detects.
	p, err := platforms.Open(platforms.Config{}, "/", Adapter{})
	var nd *platforms.NotDetectedError
	if p != nil || !errors.As(err, &nd) || !errors.Is(err, platforms.ErrNotDetected) || !strings.Contains(err.Error(), "tried: generic") {
		t.Errorf("no section: %v, %v", p, err)
	}
	var doc struct {
		Platform platforms.Config `yaml:"platform"`
	}
	if err := yaml.Unmarshal([]byte("platform: {type: msl}\n"), &doc); err != nil {
		t.Fatal(err)
	}
	if _, err := platforms.Open(doc.Platform, "/", Adapter{}); err == nil || !strings.Contains(err.Error(), `platform.type "msl" is unknown; known types: generic`) {
		t.Errorf("unknown type: %v", err)
	}
	if err := yaml.Unmarshal([]byte("platform: {name: x}\n"), &doc); err != nil {
		t.Fatal(err)
	}
	if _, err := platforms.Open(doc.Platform, "/", Adapter{}); err == nil || !strings.Contains(err.Error(), "needs a type") {
		t.Errorf("no type: %v", err)
	}
	if err := yaml.Unmarshal([]byte("platform: [generic]\n"), &doc); err == nil || !strings.Contains(err.Error(), "must be a mapping") {
		t.Errorf("a list: %v", err)
	}
}

func TestNewDefaultsAndCAFile(t *testing.T) {
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, []byte("not a cert"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := New("", "", []platforms.Tunnel{{ID: "a", Component: "C", Name: "N", LocalAddress: "https://127.0.0.1:1", CAFile: ca}})
	if err == nil || !strings.Contains(err.Error(), "holds no PEM certificate") {
		t.Errorf("bad CA file: %v", err)
	}
	_, err = New("", "", []platforms.Tunnel{{ID: "a", Component: "C", Name: "N", LocalAddress: "https://127.0.0.1:1", CAFile: ca + ".missing", AcceptSelfSigned: true}})
	if err == nil || !strings.Contains(err.Error(), "no such file") || !strings.Contains(err.Error(), "not both") {
		t.Errorf("missing CA file: %v", err)
	}
	p, err := New("", "", nil)
	if err != nil || p.Name() != "Generic host" || len(p.Tunnels()) != 0 {
		t.Errorf("empty platform: %v %v", p, err)
	}
}

func FuzzParse(f *testing.F) {
	for _, name := range []string{"valid.yaml", "bad-address.yaml", "unknown-key.yaml", "not-a-list.yaml", "inventory.yaml", "bad-inventory.yaml"} {
		data, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var doc struct {
			Platform platforms.Config `yaml:"platform"`
		}
		if yaml.Unmarshal(data, &doc) != nil || doc.Platform.Node == nil {
			return
		}
		p, err := Parse(doc.Platform.Node, "fuzz.yaml")
		if err != nil {
			return
		}
		if err := platforms.ValidateTunnels(p.Tunnels()); err != nil {
			t.Fatalf("Parse accepted invalid tunnels: %v", err)
		}
	})
}
