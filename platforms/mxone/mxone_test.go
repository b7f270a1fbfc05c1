package mxone

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
// platform package: it detects those whose .expect names it (refusing the
// "unsupported mxone" ones) and no other.
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

func detect(t *testing.T, a Adapter, dir string) *Platform {
	t.Helper()
	p, err := a.Detect(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := platforms.ValidateTunnels(p.Tunnels()); err != nil {
		t.Fatal(err)
	}
	return p.(*Platform)
}

func TestThreeServers(t *testing.T) {
	dir := filepath.Join(hosts, "mxone-8.1-three-servers")
	p := detect(t, Adapter{}, dir)
	if p.Type() != "mxone" || p.Name() != "MiVoice MX-ONE" || p.Version() != "8.1.0.0.14" || p.Parent() != "" {
		t.Errorf("platform = %s %q %q", p.Type(), p.Name(), p.Version())
	}
	want := []Server{
		{1, "mx1", "10.20.0.11", []string{"service-node", "snm", "pm"}, true},
		{2, "mx2", "10.20.0.12", []string{"service-node"}, false},
		{3, "mx3", "10.20.0.13", []string{"service-node", "media-server"}, false},
	}
	got := p.Servers()
	if len(got) != 3 {
		t.Fatalf("servers = %+v", got)
	}
	for i := range want {
		if got[i].Number != want[i].Number || got[i].Name != want[i].Name || got[i].Address != want[i].Address ||
			!slices.Equal(got[i].Roles, want[i].Roles) || got[i].Local != want[i].Local {
			t.Errorf("servers[%d] = %+v, want %+v", i, got[i], want[i])
		}
	}
	got[0].Roles[0] = "changed"
	if p.Servers()[0].Roles[0] != "service-node" {
		t.Error("Servers returned the platform's own roles")
	}
	if s, ok := p.LocalServer(); !ok || s.Number != 1 {
		t.Errorf("local server = %+v %v", s, ok)
	}
	if v, ok := p.ProvisioningManager(); v != "8.1.0.9" || !ok {
		t.Errorf("PM = %q %v", v, ok)
	}
	apps := p.Applications()
	wantApps := []platforms.Application{{Type: "mivoice-mx-one", Version: "8.1.0.0.14"}, {Type: "mx-one-service-node-manager", Version: "8.1.0.14"}, {Type: "mx-one-provisioning-manager", Version: "8.1.0.9"}}
	if !slices.Equal(apps, wantApps) {
		t.Errorf("applications = %+v", apps)
	}
	ts := p.Tunnels()
	if len(ts) != 2 || ts[0].ID != "mxone-snm-web" || ts[0].Component != "Service Node Manager" || ts[0].LocalAddress != "https://127.0.0.1:443" || !ts[0].AcceptSelfSigned ||
		ts[1].ID != "mxone-pm-web" || ts[1].Component != "Provisioning Manager" || ts[1].LocalAddress != "https://127.0.0.1:443" {
		t.Errorf("tunnels = %+v", ts)
	}
	f := p.Facts()
	if f.Language != "de-DE" || f.Proxy != "http://proxy.example.com:3128" {
		t.Errorf("facts = %+v", f)
	}
	wantEmb := platforms.Embedding{BasePath: "/cld", Auth: platforms.AuthSession, SessionURL: "https://127.0.0.1:443/mxone_snm/api/session", AdminRole: "system-administrator"}
	if f.Embedding != wantEmb {
		t.Errorf("embedding = %+v", f.Embedding)
	}
	if len(f.Source) != 3 || f.Source[0] != filepath.Join(dir, "opt/mxone_snm/conf/snm.properties") || f.Source[2] != filepath.Join(dir, "etc/sysconfig/proxy") {
		t.Errorf("sources = %q", f.Source)
	}
	l := p.License()
	if l == nil || l.Type != "PERPETUAL" || l.SWAStatus != platforms.SWAActive || !l.Expires.IsZero() || !l.SWAExpiry.Equal(time.Date(2027, 3, 31, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("license = %+v", l)
	}
	if n := p.Notices(); len(n) != 0 {
		t.Errorf("notices = %+v", n)
	}
}

func TestOldProvisioningManager(t *testing.T) {
	now := func() time.Time { return time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC) }
	p := detect(t, Adapter{Now: now}, filepath.Join(hosts, "mxone-8.2-pm-7.5"))
	if v, ok := p.ProvisioningManager(); v != "7.5.0.22" || ok {
		t.Errorf("PM = %q %v", v, ok)
	}
	if s, ok := p.LocalServer(); !ok || s.Name != "lim1" {
		t.Errorf("local server (host name with a domain) = %+v %v", s, ok)
	}
	ts := p.Tunnels()
	if len(ts) != 2 || ts[0].LocalAddress != "https://127.0.0.1:4443" || ts[1].LocalAddress != "https://127.0.0.1:8443" {
		t.Errorf("tunnels = %+v", ts)
	}
	f := p.Facts()
	if f.Language != "sv" || f.Proxy != "" {
		t.Errorf("facts = %+v (the proxy is disabled)", f)
	}
	if f.Embedding != (platforms.Embedding{BasePath: "/cld", Auth: platforms.AuthProxy, UserHeader: "X-SNM-User"}) {
		t.Errorf("embedding = %+v", f.Embedding)
	}
	l := p.License()
	if l.Type != "SUBSCRIPTION" || l.SWAStatus != platforms.SWAExpired || !l.Expires.Equal(time.Date(2030, 12, 31, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("license = %+v", l)
	}
	codes := noticeCodes(p)
	if !slices.Equal(codes, []string{"mxone-pm-version", "mxone-swa-inactive"}) {
		t.Fatalf("notices = %+v", p.Notices())
	}
	n := p.Notices()[0]
	if !strings.Contains(n.Text, "Provisioning Manager 7.5.0.22") || !strings.Contains(n.Text, "7.6 or higher") || !strings.Contains(n.Remedy, "Upgrade") {
		t.Errorf("notice = %+v", n)
	}
	if !strings.Contains(p.Notices()[1].Text, "expired (expiry 2020-06-30)") {
		t.Errorf("notice = %+v", p.Notices()[1])
	}
}

func noticeCodes(p platforms.Noticer) []string {
	var out []string
	for _, n := range p.Notices() {
		out = append(out, n.Code)
	}
	return out
}

func TestUnsupported(t *testing.T) {
	_, err := Adapter{}.Detect(filepath.Join(hosts, "mxone-7.6-unsupported"))
	var u *platforms.UnsupportedError
	if !errors.As(err, &u) || u.Platform != "MiVoice MX-ONE" || u.Found != "7.6.1.0.12" || u.Needed != "8.1 or higher" {
		t.Fatalf("err = %v", err)
	}
	if !strings.Contains(err.Error(), "MiVoice MX-ONE 7.6.1.0.12 is not supported: cld needs 8.1 or higher") {
		t.Errorf("message = %v", err)
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

func TestVersionRules(t *testing.T) {
	const rel = "etc/opt/eri_sn/mxone-release"
	const pm = "opt/mxone_pm/conf/pm.properties"
	for _, tc := range []struct {
		sn, pm   string
		refused  bool
		pmNotice bool
	}{
		{"8.1", "7.6", false, false},
		{"8.1.0.0.1", "7.6.0.0", false, false},
		{"9.0.0.0.3", "8.2", false, false},
		{"8.0.9.0.99", "8.1", true, false},
		{"7.6.1", "8.1", true, false},
		{"8.1", "7.5.9.9", false, true},
		{"8.1", "", false, true},
	} {
		root := tree(t, "mxone-8.1-three-servers", map[string]string{rel: "VERSION=" + tc.sn + "\n", pm: "pm.version=" + tc.pm + "\n"})
		p, err := Adapter{}.Detect(root)
		var u *platforms.UnsupportedError
		if tc.refused {
			if !errors.As(err, &u) || u.Found != tc.sn || u.Needed != "8.1 or higher" {
				t.Errorf("%s: err = %v", tc.sn, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s/%s: %v", tc.sn, tc.pm, err)
			continue
		}
		has := slices.Contains(noticeCodes(p.(platforms.Noticer)), "mxone-pm-version")
		if _, ok := p.(*Platform).ProvisioningManager(); has != tc.pmNotice || ok == tc.pmNotice {
			t.Errorf("SN %s PM %q: notice %v, supported %v", tc.sn, tc.pm, has, ok)
		}
	}
}

func TestHostVariants(t *testing.T) {
	// No PM here: a notice that names the server the list gives it.
	root := tree(t, "mxone-8.1-three-servers", map[string]string{
		"opt/mxone_pm/conf/pm.properties":   "",
		"etc/opt/eri_sn/mxone_servers.conf": "1 mx1 10.0.0.1 service-node,snm\n2 mx2 10.0.0.2 pm\n",
		"etc/opt/eri_sn/license_status":     "",
		"etc/sysconfig/proxy":               "PROXY_ENABLED=yes\nHTTP_PROXY=\"http://cld:secret@proxy.example.com\"\n",
	})
	p := detect(t, Adapter{}, root)
	if codes := noticeCodes(p); !slices.Equal(codes, []string{"mxone-pm-unknown", "mxone-swa-inactive", "host-proxy-credentials"}) {
		t.Errorf("notices = %+v", p.Notices())
	} else if !strings.Contains(p.Notices()[0].Text, "server 2 (mx2)") {
		t.Errorf("notice = %+v", p.Notices()[0])
	}
	if len(p.Tunnels()) != 1 || p.License() != nil || p.Facts().Proxy != "http://proxy.example.com:80" {
		t.Errorf("tunnels %+v license %+v proxy %q", p.Tunnels(), p.License(), p.Facts().Proxy)
	}
	// No SNM and no server list: no /cld embedding, the daemon's own accounts.
	root = tree(t, "mxone-8.1-three-servers", map[string]string{"opt/mxone_snm/conf/snm.properties": "", "etc/opt/eri_sn/mxone_servers.conf": ""})
	p = detect(t, Adapter{}, root)
	if f := p.Facts(); f.Embedding != (platforms.Embedding{Auth: platforms.AuthLocal}) || f.Language != "" {
		t.Errorf("facts = %+v", f)
	}
	if len(p.Servers()) != 0 || !slices.Contains(noticeCodes(p), "mxone-no-server-list") {
		t.Errorf("servers %+v notices %+v", p.Servers(), p.Notices())
	}
}

func TestBadHostFiles(t *testing.T) {
	for name, tc := range map[string]struct {
		file, content string
		want          []string
	}{
		"no version":   {"etc/opt/eri_sn/mxone-release", "PRODUCT=x\n", []string{"has no VERSION="}},
		"server list":  {"etc/opt/eri_sn/mxone_servers.conf", "1 mx1 10.0.0.1 snm\nx mx2 10.0.0.2 pm\n1 mx3 10.0.0.3\n3 mx1 10.0.0.300 snm\n4 -bad 10.0.0.4 Big\n", []string{"line 2: server number \"x\"", "line 3: want NUMBER HOSTNAME ADDRESS ROLES", "line 4: address \"10.0.0.300\"", "line 4: host name mx1 is already on line 1", "line 5: host name \"-bad\"", "line 5: role \"Big\""}},
		"https port":   {"etc/opt/eri_sn/webserver.conf", "HTTPS_PORT=70000\n", []string{"HTTPS_PORT \"70000\" is not a port"}},
		"pm port":      {"opt/mxone_pm/conf/pm.properties", "pm.version=8.1\npm.https.port=x\n", []string{"pm.https.port \"x\""}},
		"auth":         {"etc/opt/eri_sn/webserver.conf", "CLD_AUTH=basic\n", []string{"CLD_AUTH \"basic\" is not session or proxy"}},
		"cld path":     {"etc/opt/eri_sn/webserver.conf", "CLD_PATH=cld\n", []string{"CLD_PATH \"cld\""}},
		"session url":  {"etc/opt/eri_sn/webserver.conf", "SESSION_URL=https://10.1.1.1:443/s\n", []string{"SESSION_URL", "not a loopback address"}},
		"swa status":   {"etc/opt/eri_sn/license_status", "SWA status: MAYBE\n", []string{"SWA status \"MAYBE\""}},
		"swa date":     {"etc/opt/eri_sn/license_status", "SWA expiry date: soon\n", []string{"\"soon\" is not a date"}},
		"proxy syntax": {"etc/sysconfig/proxy", "PROXY_ENABLED=yes\nHTTPS_PROXY=\"ftp://x:1\"\n", nil},
	} {
		root := tree(t, "mxone-8.1-three-servers", map[string]string{tc.file: tc.content})
		p, err := Adapter{}.Detect(root)
		if tc.want == nil {
			if err != nil || !slices.Contains(noticeCodes(p.(platforms.Noticer)), "host-proxy-invalid") || p.(platforms.Facter).Facts().Proxy != "" {
				t.Errorf("%s: %v", name, err)
			}
			continue
		}
		if err == nil || errors.Is(err, platforms.ErrNotDetected) {
			t.Errorf("%s: err = %v", name, err)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error lacks %q:\n%v", name, w, err)
			}
		}
	}
}

// config is the platform section of a config file.
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
	// Every file somewhere else, and the root from the section.
	root := t.TempDir()
	src := filepath.Join(hosts, "mxone-8.1-three-servers")
	moves := map[string]string{
		"etc/opt/eri_sn/mxone-release": "srv/release", "etc/opt/eri_sn/mxone_servers.conf": "srv/servers",
		"etc/hostname": "srv/hostname", "opt/mxone_snm/conf/snm.properties": "srv/snm",
		"opt/mxone_pm/conf/pm.properties": "srv/pm", "etc/opt/eri_sn/webserver.conf": "srv/web",
		"etc/opt/eri_sn/license_status": "srv/license", "etc/sysconfig/proxy": "srv/proxy",
	}
	os.MkdirAll(filepath.Join(root, "srv"), 0o755)
	for from, to := range moves {
		data, err := os.ReadFile(filepath.Join(src, from))
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(root, to), data, 0o644)
	}
	cfg := config(t, `platform:
  type: mxone
  root: `+root+`
  files:
    release: /srv/release
    servers: /srv/servers
    hostname: /srv/hostname
    snm: /srv/snm
    pm: /srv/pm
    webserver: /srv/web
    license: /srv/license
    proxy: /srv/proxy
`)
	p, err := platforms.Open(cfg, "/nonexistent", Adapters()...)
	if err != nil {
		t.Fatal(err)
	}
	mp := p.(*Platform)
	if mp.Version() != "8.1.0.0.14" || len(mp.Servers()) != 3 || len(mp.Tunnels()) != 2 || mp.Facts().Language != "de-DE" ||
		mp.Facts().Proxy == "" || mp.License() == nil || len(mp.Notices()) != 0 {
		t.Errorf("configured platform = %+v", mp)
	}
	if _, ok := mp.LocalServer(); !ok {
		t.Error("hostname override not read")
	}
	// The adapter's root, with only the type in the section.
	p, err = Adapter{Root: src}.Configure(config(t, "platform:\n  type: mxone\n"))
	if err != nil || p.Version() != "8.1.0.0.14" {
		t.Errorf("%v %v", p, err)
	}
	// A forced type on a host without MX-ONE.
	_, err = Adapter{Root: t.TempDir()}.Configure(config(t, "platform:\n  type: mxone\n  files:\n    release: /opt/r\n"))
	if !errors.Is(err, platforms.ErrConfig) || !strings.Contains(err.Error(), "no MX-ONE release file /opt/r") {
		t.Errorf("err = %v", err)
	}
	// A forced type on an old MX-ONE is still refused.
	_, err = Adapter{Root: filepath.Join(hosts, "mxone-7.6-unsupported")}.Configure(config(t, "platform:\n  type: mxone\n"))
	var u *platforms.UnsupportedError
	if !errors.As(err, &u) {
		t.Errorf("err = %v", err)
	}
}

func TestBadConfig(t *testing.T) {
	for _, tc := range []struct {
		text string
		want []string
	}{
		{"platform:\n  type: mxone\n  colour: red\n", []string{`cld.yaml line 3: unknown key "colour" in platform (known keys: type, root, files)`}},
		{"platform:\n  type: mxone\n  files:\n    relase: /x\n    servers: etc/servers\n    pm: /opt/../etc/x\n    snm: [a]\n", []string{
			`cld.yaml line 4: unknown key "relase" in platform.files (known keys: release, servers, hostname, snm, pm, webserver, license, proxy)`,
			`line 5: platform.files.servers "etc/servers" must be an absolute path`,
			`line 6: platform.files.pm "/opt/../etc/x" must not hold ".."`,
			`line 7: platform.files.snm must be a path`,
		}},
		{"platform:\n  type: mxone\n  files: /etc\n", []string{"line 3: platform.files must be a mapping"}},
		{"platform:\n  type: mxone\n  root: relative\n", []string{"line 3: platform.root must be an absolute directory"}},
		{"platform:\n  type: mxone\n  root: /a\n  root: /b\n", []string{`line 4: key "root" appears twice`}},
		{"platform:\n  type: mxone\n  files:\n    pm: /a\n    pm: /b\n", []string{`line 5: key "pm" appears twice in platform.files`}},
	} {
		_, err := Adapter{Root: filepath.Join(hosts, "mxone-8.1-three-servers")}.Configure(config(t, tc.text))
		if !errors.Is(err, platforms.ErrConfig) {
			t.Errorf("%q: err = %v", tc.text, err)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("error lacks %q:\n%v", w, err)
			}
		}
	}
}
