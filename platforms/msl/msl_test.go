package msl

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cloudlink/cld/platforms"
)

// fixture is a host tree under testdata/hosts with its .expect line.
type fixture struct {
	name, dir string
	typ       string // the adapter type that must detect it
	refused   bool   // "unsupported TYPE": detected and refused
}

// fixtures reads the host trees of the given testdata/hosts directories.
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
			words := strings.Fields(string(data))
			switch {
			case len(words) == 1:
				f.typ = words[0]
			case len(words) == 2 && words[0] == "unsupported":
				f.typ, f.refused = words[1], true
			default:
				t.Fatalf("fixture %s: .expect is %q; want one line: TYPE or unsupported TYPE", dir, data)
			}
			fs = append(fs, f)
		}
	}
	return fs
}

func ids(ts []platforms.Tunnel) []string {
	var s []string
	for _, t := range ts {
		s = append(s, t.ID)
	}
	return s
}

type want struct {
	name, version, msl string
	apps               []platforms.Application
	tunnels            []string
	language, proxy    string
	license            *platforms.License
	notices            []string // codes
	found, needed      string   // refused
}

var wants = map[string]want{
	"msl-11.0.110": {name: "MiVoice Business", version: "10.1.1.19", msl: "11.0.110",
		apps:     []platforms.Application{{Type: "mivoice-business", Version: "10.1.1.19"}, {Type: "mivoice-border-gateway", Version: "11.5.0.227"}, {Type: "cloudlink-gateway", Version: "2.4.1"}},
		tunnels:  []string{"msl-server-manager", "msl-rest", "mivb-admin", "mivb-rest", "mbg-admin", "clgw-rest"},
		language: "de-DE", proxy: "http://proxy.example.com:3128",
		license: &platforms.License{Type: "PERPETUAL", SWAStatus: platforms.SWAActive, SWAExpiry: time.Date(2030, 5, 2, 0, 0, 0, 0, time.UTC)}},
	"msl-12.1": {name: "MiCollab", version: "9.8.2.12", msl: "12.1.45",
		apps:     []platforms.Application{{Type: "micollab", Version: "9.8.2.12"}, {Type: "mivoice-border-gateway", Version: "11.6.0.50"}},
		tunnels:  []string{"msl-server-manager", "msl-rest", "micollab-admin", "mbg-admin"},
		language: "fr-CA"},
	"msl-11.0.110-mbg-11.4": {name: "MiVoice Business", version: "10.1.1.19", msl: "11.0.110",
		apps:     []platforms.Application{{Type: "mivoice-business", Version: "10.1.1.19"}},
		tunnels:  []string{"msl-server-manager", "msl-rest", "mivb-admin", "mivb-rest"},
		language: "en-GB", notices: []string{"mivoice-border-gateway-unsupported-version"}},
	"msl-12.1.52-svi": {name: "MiVB SVI", version: "1.0.0.31", msl: "12.1.52.0",
		apps:    []platforms.Application{{Type: "mivb-svi", Version: "1.0.0.31"}},
		tunnels: []string{"msl-server-manager", "msl-rest", "mivb-svi-admin"}},
	"msl-12.0":     {found: "12.0.31", needed: NeededVersion},
	"msl-11.0.100": {found: "11.0.100", needed: NeededVersion},
}

func TestFixtures(t *testing.T) {
	fs := fixtures(t, "testdata/hosts")
	if len(fs) != len(wants) {
		t.Errorf("%d fixtures, %d expectations", len(fs), len(wants))
	}
	for _, f := range fs {
		t.Run(f.name, func(t *testing.T) {
			w, ok := wants[f.name]
			if !ok {
				t.Fatal("no expectation for this fixture")
			}
			if f.typ != Type {
				t.Fatalf(".expect names %s", f.typ)
			}
			p, err := Adapter{}.Detect(f.dir)
			if f.refused {
				var u *platforms.UnsupportedError
				if !errors.As(err, &u) {
					t.Fatalf("Detect = %v, %v; want an UnsupportedError", p, err)
				}
				if u.Platform != ProductName || u.Found != w.found || u.Needed != w.needed {
					t.Errorf("refused with %+v", u)
				}
				if msg := err.Error(); !strings.Contains(msg, w.found) || !strings.Contains(msg, "11.0.110") || !strings.Contains(msg, "12.1") {
					t.Errorf("message does not name the versions: %s", msg)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			check(t, p.(*Platform), w, "msl", "")
		})
	}
}

// check compares a detected platform with its expectation.
func check(t *testing.T, p *Platform, w want, typ, parent string) {
	t.Helper()
	if p.Type() != typ || p.Name() != w.name || p.Version() != w.version || p.MSLVersion() != w.msl {
		t.Errorf("platform = %s %q %q (MSL %q), want %s %q %q (MSL %q)", p.Type(), p.Name(), p.Version(), p.MSLVersion(), typ, w.name, w.version, w.msl)
	}
	if !slices.Equal(p.Applications(), w.apps) {
		t.Errorf("applications = %+v, want %+v", p.Applications(), w.apps)
	}
	if p.Parent() != parent {
		t.Errorf("parent = %q, want %q", p.Parent(), parent)
	}
	ts := p.Tunnels()
	if got := ids(ts); !slices.Equal(got, w.tunnels) {
		t.Errorf("tunnels = %v, want %v", got, w.tunnels)
	}
	if err := platforms.ValidateTunnels(ts); err != nil {
		t.Error(err)
	}
	for _, tn := range ts {
		switch {
		case tn.ID == "clgw-rest":
			// From the gateway core's clgw.conf.
			want := platforms.Tunnel{ID: "clgw-rest", Component: "CloudLink Gateway", Name: "CLGW REST interface", Description: RemoteAccess, LocalAddress: "http://127.0.0.1:8090"}
			if tn != want {
				t.Errorf("tunnel %+v, want %+v", tn, want)
			}
		case !tn.AcceptSelfSigned || !strings.HasPrefix(tn.LocalAddress, "https://127.0.0.1:") || tn.Description == "":
			t.Errorf("tunnel %+v", tn)
		}
	}
	f := p.Facts()
	if f.Language != w.language || f.Proxy != w.proxy {
		t.Errorf("facts language %q proxy %q, want %q %q", f.Language, f.Proxy, w.language, w.proxy)
	}
	wantEmb := platforms.Embedding{BasePath: "/server-manager/cloudlink", Auth: platforms.AuthProxy, UserHeader: "X-Remote-User", Frame: true}
	if f.Embedding != wantEmb {
		t.Errorf("embedding = %+v", f.Embedding)
	}
	if len(f.Source) == 0 || !strings.HasSuffix(f.Source[0], filepath.FromSlash("etc/e-smith-release")) {
		t.Errorf("sources = %v", f.Source)
	}
	switch l := p.License(); {
	case w.license == nil && l != nil:
		t.Errorf("license = %+v, want none", l)
	case w.license != nil && (l == nil || *l != *w.license):
		t.Errorf("license = %+v, want %+v", l, w.license)
	}
	var codes []string
	for _, n := range p.Notices() {
		codes = append(codes, n.Code)
		if n.Text == "" || n.Remedy == "" {
			t.Errorf("notice %+v", n)
		}
	}
	if !slices.Equal(codes, w.notices) {
		t.Errorf("notices = %v, want %v", codes, w.notices)
	}
}

func TestLeftOutProduct(t *testing.T) {
	p, err := Adapter{}.Detect("testdata/hosts/msl-11.0.110-mbg-11.4")
	if err != nil {
		t.Fatal(err)
	}
	lo := p.(*Platform).LeftOut()
	if len(lo) != 1 || lo[0].Platform != "MiVoice Border Gateway" || lo[0].Found != "11.4.0.227" || !strings.Contains(lo[0].Needed, "11.5") {
		t.Fatalf("left out = %+v", lo)
	}
	n := p.(*Platform).Notices()[0]
	if !strings.Contains(n.Text, "11.4.0.227") || !strings.Contains(n.Text, "11.5") {
		t.Errorf("notice does not name the versions: %s", n.Text)
	}
}

// TestOtherFixtures: msl detects nothing of the SMB Controller's trees
// (nor anything whose .expect is not msl).
func TestOtherFixtures(t *testing.T) {
	fs := fixtures(t, "testdata/hosts", "../smbc/testdata/hosts")
	others := 0
	for _, f := range fs {
		if f.typ == Type {
			continue
		}
		others++
		if p, err := (Adapter{}).Detect(f.dir); !errors.Is(err, platforms.ErrNotDetected) {
			t.Errorf("%s (%s): Detect = %v, %v; want ErrNotDetected", f.name, f.typ, p, err)
		}
	}
	if others == 0 {
		t.Error("no other adapter's fixtures found")
	}
	if _, err := (Adapter{}).Detect(t.TempDir()); !errors.Is(err, platforms.ErrNotDetected) {
		t.Errorf("empty tree: %v", err)
	}
}

// tree writes a host tree: files by host path.
func tree(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for p, content := range files {
		full := filepath.Join(root, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func TestMSLVersionRule(t *testing.T) {
	for _, tc := range []struct {
		release string
		ok      bool
	}{
		{"Mitel Standard Linux release 11.0 (110)", true},
		{"Mitel Standard Linux release 11.0 (114)", true},
		{"Mitel Standard Linux release 11.0.110.0", true},
		{"Mitel Standard Linux release 12.1 (45)", true},
		{"Mitel Standard Linux release 12.2 (3)", true},
		{"Mitel Standard Linux release 13.0 (1)", true},
		{"Mitel Standard Linux release 11.0 (109)", false},
		{"Mitel Standard Linux release 11.0 (100)", false},
		{"Mitel Standard Linux release 10.6 (6)", false},
		{"Mitel Standard Linux release 12.0 (31)", false},
		{"Mitel Standard Linux release 12.0.99.0", false},
	} {
		root := tree(t, map[string]string{DefaultRelease: tc.release + "\n"})
		p, err := Adapter{}.Detect(root)
		var u *platforms.UnsupportedError
		switch {
		case tc.ok && err != nil:
			t.Errorf("%q: %v", tc.release, err)
		case tc.ok && len(p.(*Platform).Notices()) != 1:
			// Without a package list: only MSL's tunnels, with a notice.
			t.Errorf("%q: notices %v", tc.release, p.(*Platform).Notices())
		case !tc.ok && !errors.As(err, &u):
			t.Errorf("%q: Detect = %v, %v; want refused", tc.release, p, err)
		case !tc.ok && (u.Found == "" || u.Needed != NeededVersion):
			t.Errorf("%q: %+v", tc.release, u)
		}
	}
	// Not MSL, or no version.
	for _, release := range []string{"SME Server release 9.2", ""} {
		root := tree(t, map[string]string{DefaultRelease: release})
		if _, err := (Adapter{}).Detect(root); !errors.Is(err, platforms.ErrNotDetected) {
			t.Errorf("%q: %v", release, err)
		}
	}
	root := tree(t, map[string]string{DefaultRelease: "Mitel Standard Linux release (unknown)"})
	if _, err := (Adapter{}).Detect(root); err == nil || errors.Is(err, platforms.ErrNotDetected) || !strings.Contains(err.Error(), "names no version") {
		t.Errorf("no version: %v", err)
	}
}

func TestProductVersionRules(t *testing.T) {
	for _, tc := range []struct {
		msl, pkg string
		ok       bool
	}{
		{"11.0 (110)", "mitel-mivb-10.1.1.19-1.el7.x86_64", true},
		{"11.0 (110)", "mitel-mivb-11.0.0.88-1.el7.x86_64", true},
		{"11.0 (110)", "mitel-mivb-10.1.0.12-1.el7.x86_64", false},
		{"11.0 (110)", "mitel-mivb-9.4.2.5-1.el7.x86_64", false},
		{"12.1 (45)", "mitel-micollab-9.8.2.12-1.el8.x86_64", true},
		{"12.1 (45)", "mitel-micollab-10.0.0.101-1.el8.x86_64", true},
		{"12.1 (45)", "mitel-micollab-9.8.1.201-1.el8.x86_64", false},
		{"12.1 (45)", "mitel-mivb-svi-1.0.0.31-1.el8.noarch", true},
		{"12.1 (45)", "mitel-mivb-svi-1.0.0.30-1.el8.noarch", false},
		{"11.0 (110)", "mitel-mbg-11.5.0.227-1.el7.x86_64", true},
		{"11.0 (110)", "mitel-mbg-11.4.0.99-1.el7.x86_64", false},
		{"12.1 (45)", "mitel-mbg-11.6.0.50-1.el8.x86_64", true},
		{"11.0 (110)", "mitel-mbg-11.6.0.50-1.el7.x86_64", false}, // 11.6 needs MSL 12.1
		{"12.1 (45)", "mitel-mbg-12.0.0.17-1.el8.x86_64", true},
	} {
		root := tree(t, map[string]string{
			DefaultRelease:  "Mitel Standard Linux release " + tc.msl,
			DefaultPackages: "bash-4.2.46-35.el7_9.x86_64\n" + tc.pkg + "\n",
		})
		p, err := Adapter{}.Detect(root)
		if err != nil {
			t.Errorf("%s on %s: %v", tc.pkg, tc.msl, err)
			continue
		}
		pl := p.(*Platform)
		apps, lo, ns := pl.Applications(), pl.LeftOut(), pl.Notices()
		if tc.ok {
			if len(apps) != 1 || len(lo) != 0 || len(ns) != 0 || len(pl.Tunnels()) < 3 {
				t.Errorf("%s on %s: apps %v, left out %v, notices %v", tc.pkg, tc.msl, apps, lo, ns)
			}
			continue
		}
		if len(apps) != 0 || len(lo) != 1 || len(ns) != 1 || len(pl.Tunnels()) != 2 {
			t.Errorf("%s on %s: apps %v, left out %v, notices %v, tunnels %v", tc.pkg, tc.msl, apps, lo, ns, ids(pl.Tunnels()))
			continue
		}
		if !strings.Contains(ns[0].Text, lo[0].Found) || !strings.Contains(ns[0].Text, lo[0].Needed) || !strings.HasSuffix(ns[0].Code, "-unsupported-version") {
			t.Errorf("%s on %s: notice %+v", tc.pkg, tc.msl, ns[0])
		}
		if pl.Name() != ProductName || pl.Version() != pl.MSLVersion() {
			t.Errorf("%s on %s: named %q %q", tc.pkg, tc.msl, pl.Name(), pl.Version())
		}
	}
}

func TestSMBCMarker(t *testing.T) {
	root := tree(t, map[string]string{DefaultRelease: "Mitel Standard Linux release 11.0 (110)", DefaultSMBCMarker: "SMBC_CONTAINER=msl\n"})
	if _, err := (Adapter{}).Detect(root); !errors.Is(err, platforms.ErrNotDetected) {
		t.Errorf("SMBC container: %v", err)
	}
}

func TestLicense(t *testing.T) {
	root := tree(t, map[string]string{
		DefaultRelease: "Mitel Standard Linux release 11.0 (110)", DefaultPackages: "",
		DefaultLicense: "LICENSE_TYPE=subscription\nLICENSE_EXPIRES=2027-01-31\nSWA_STATUS=maybe\nSWA_EXPIRY=soon\n",
	})
	p, err := Adapter{}.Detect(root)
	if err != nil {
		t.Fatal(err)
	}
	pl := p.(*Platform)
	l := pl.License()
	if l == nil || l.Type != "SUBSCRIPTION" || !l.Expires.Equal(time.Date(2027, 1, 31, 0, 0, 0, 0, time.UTC)) || l.SWAStatus != "" || !l.SWAExpiry.IsZero() {
		t.Errorf("license = %+v", l)
	}
	ns := pl.Notices()
	if len(ns) != 1 || ns[0].Code != "msl-license-unreadable" || !strings.Contains(ns[0].Text, `SWA_STATUS "maybe"`) || !strings.Contains(ns[0].Text, `SWA_EXPIRY "soon"`) {
		t.Errorf("notices = %+v", ns)
	}
	l.Type = "changed"
	if pl.License().Type != "SUBSCRIPTION" {
		t.Error("License returned the platform's own value")
	}
}

func TestGateway(t *testing.T) {
	const rel = "Mitel Standard Linux release 12.1 (45)"
	for _, tc := range []struct {
		name    string
		files   map[string]string
		version string
		addr    string // "": no tunnel
	}{
		{"one", map[string]string{"/opt/mitel/clgw/default/VERSION": "2.4.17\n", "/opt/mitel/clgw/default/etc/clgw.conf": "REST_PORT=8090\n"}, "2.4.17", "http://127.0.0.1:8090"},
		{"https", map[string]string{"/opt/mitel/clgw/a/etc/clgw.conf": "REST_PORT=9000\nREST_SCHEME=HTTPS\n"}, "", "https://127.0.0.1:9000"},
		{"no port", map[string]string{"/opt/mitel/clgw/a/VERSION": "2.4", "/opt/mitel/clgw/a/etc/clgw.conf": "REST_PORT=http\n"}, "2.4", ""},
		{"bad scheme", map[string]string{"/opt/mitel/clgw/a/VERSION": "2.4", "/opt/mitel/clgw/a/etc/clgw.conf": "REST_PORT=1\nREST_SCHEME=ftp\n"}, "2.4", ""},
		{"two, same version", map[string]string{"/opt/mitel/clgw/a/VERSION": "2.4", "/opt/mitel/clgw/b/VERSION": "2.4", "/opt/mitel/clgw/b/etc/clgw.conf": "REST_PORT=8090"}, "2.4", ""},
		{"two, other versions", map[string]string{"/opt/mitel/clgw/a/VERSION": "2.4", "/opt/mitel/clgw/b/VERSION": "2.5"}, "", ""},
		{"no instance", map[string]string{"/opt/mitel/clgw/README": "x", "/opt/mitel/clgw/empty/x": ""}, "-", ""},
	} {
		tc.files[DefaultRelease] = rel
		tc.files[DefaultPackages] = ""
		p, err := Adapter{}.Detect(tree(t, tc.files))
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		apps, ts := p.(*Platform).Applications(), p.Tunnels()
		switch {
		case tc.version == "-":
			if len(apps) != 0 || len(ts) != 2 {
				t.Errorf("%s: apps %v tunnels %v", tc.name, apps, ids(ts))
			}
		case len(apps) != 1 || apps[0] != platforms.Application{Type: "cloudlink-gateway", Version: tc.version}:
			t.Errorf("%s: apps %v", tc.name, apps)
		case tc.addr == "" && len(ts) != 2:
			t.Errorf("%s: tunnels %v", tc.name, ids(ts))
		case tc.addr != "" && (len(ts) != 3 || ts[2].LocalAddress != tc.addr || ts[2].AcceptSelfSigned != strings.HasPrefix(tc.addr, "https")):
			t.Errorf("%s: tunnels %+v", tc.name, ts)
		}
	}
}
