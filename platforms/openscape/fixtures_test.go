package openscape

import (
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cloudlink/cld/platforms"
)

// fixture is a testdata host tree and what its .expect says.
type fixture struct {
	name, dir   string
	typ         string
	unsupported bool
}

// fixtures reads the hosts under dir (each with a one-line .expect:
// "TYPE" or "unsupported TYPE").
func fixtures(t *testing.T, dir string) []fixture {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var fs []fixture
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		d := filepath.Join(dir, e.Name())
		data, err := os.ReadFile(filepath.Join(d, ".expect"))
		if err != nil {
			t.Fatalf("%s: %v", e.Name(), err)
		}
		f := fixture{name: e.Name(), dir: d}
		fields := strings.Fields(string(data))
		switch {
		case len(fields) == 1:
			f.typ = fields[0]
		case len(fields) == 2 && fields[0] == "unsupported":
			f.typ, f.unsupported = fields[1], true
		default:
			t.Fatalf("%s/.expect: %q is not \"TYPE\" or \"unsupported TYPE\"", e.Name(), data)
		}
		if strings.Count(string(data), "\n") != 1 || !strings.HasSuffix(string(data), "\n") {
			t.Errorf("%s/.expect must be one line", e.Name())
		}
		fs = append(fs, f)
	}
	return fs
}

// want is what a supported fixture's platform must say.
type want struct {
	name, version, build, os string
	apps                     []platforms.Application
	license                  *platforms.License
	tunnels                  []string
	language, proxy          string
	embedding                platforms.Embedding
	notices                  []string
	node                     *Node
	source                   []string
}

// apps is a list of applications from type, version pairs.
func apps(tv ...string) []platforms.Application {
	var as []platforms.Application
	for i := 0; i+1 < len(tv); i += 2 {
		as = append(as, platforms.Application{Type: tv[i], Version: tv[i+1]})
	}
	return as
}

func date(s string) time.Time {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		panic(err)
	}
	return t
}

var supported = map[string]want{
	"osb-x3-v3r3fr2": {
		name: "OpenScape Business X3", version: "V3R3 FR2", build: "V3R3.2.0_052", os: "OpenScape Business X3 Linux (V3R3)",
		apps:    apps("openscape-business", "V3R3 FR2", "osbiz-base", "V3R3.2.0_052", "uc-smart", "V3R3.2.0_052", "application-launcher", "V3R3.2.0", "myportal-to-go", "V3R3.2.0"),
		license: &platforms.License{Type: "PERPETUAL", SWAStatus: platforms.SWAActive, SWAExpiry: date("2026-09-30")},
		tunnels: []string{"osb-wbm"}, language: "de", proxy: "http://proxy.kanzlei.example:3128",
		embedding: business.embedding,
		source:    []string{"/opt/osbiz/etc/version.conf", "/etc/os-release", "/opt/osbiz/etc/components.list", "/opt/osbiz/etc/license.conf", "/opt/osbiz/etc/wbm.conf"},
	},
	"osb-s-v3r4": {
		name: "OpenScape Business S", version: "V3R4 FR1", build: "V3R4.1.0_014", os: "SUSE Linux Enterprise Server 15 SP5",
		apps:    apps("openscape-business", "V3R4 FR1", "osbiz-base", "V3R4.1.0_014", "uc-suite", "V3R4.1.0_014", "contact-center", "V3R4.1.0_014"),
		license: &platforms.License{Type: "SUBSCRIPTION", Expires: date("2027-03-31"), SWAStatus: platforms.SWAActive, SWAExpiry: date("2027-03-31")},
		tunnels: []string{"osb-wbm"}, language: "en-US", embedding: business.embedding,
	},
	"osv-node1-duplex": {
		name: "OpenScape Voice", version: "V10R3 FR33 HF3", build: "V10R3.33.3", os: "SUSE Linux Enterprise Server 15 SP4",
		apps:    apps("openscape-voice", "V10R3 FR33 HF3", "osv-server", "V10R3.33.3", "osv-assistant", "V10R3.33.3", "osv-soap-server", "V10R3.33.3", "osv-csta", "V10R3.33.3"),
		license: &platforms.License{Type: "SUBSCRIPTION", Expires: date("2027-06-30"), SWAStatus: platforms.SWAActive, SWAExpiry: date("2027-06-30")},
		tunnels: []string{"osv-assistant", "osv-soap"}, language: "de-DE", proxy: "http://proxy.muc.example:8080",
		embedding: platforms.Embedding{Auth: platforms.AuthLocal},
		node:      &Node{ID: 1, Name: "osv1", Cluster: "osvcluster-muc", Type: "duplex", PartnerID: 2, PartnerName: "osv2"},
		source: []string{"/opt/unisphere/srx3000/etc/osv-release", "/etc/os-release", "/opt/unisphere/srx3000/etc/components.list",
			"/opt/unisphere/srx3000/etc/license.conf", "/etc/sysconfig/language", "/etc/sysconfig/proxy", "/etc/hiq8000/node.cfg",
			"/opt/unisphere/srx3000/cloudlink/registration"},
	},
	"osv-second-daemon": {
		name: "OpenScape Voice", version: "V10R3 FR34 HF1", build: "V10R3.34.1", os: "SUSE Linux Enterprise Server 15 SP4",
		apps:    apps("openscape-voice", "V10R3 FR34 HF1", "osv-server", "V10R3.34.1", "osv-assistant", "V10R3.34.1", "osv-soap-server", "V10R3.34.1", "osv-csta", "V10R3.34.1"),
		license: &platforms.License{Type: "SUBSCRIPTION", Expires: date("2027-06-30"), SWAStatus: platforms.SWAActive, SWAExpiry: date("2027-06-30")},
		tunnels: nil, language: "de-DE", proxy: "http://proxy.muc.example:8080",
		embedding: platforms.Embedding{Auth: platforms.AuthLocal},
		notices:   []string{"osv-second-daemon"},
		node:      &Node{ID: 1, Name: "osv1", Cluster: "osvcluster-muc", Type: "duplex", PartnerID: 2, PartnerName: "osv2"},
	},
	"osuc-v10r6fr7": {
		name: "OpenScape UC", version: "V10R6 FR7 HF1", build: "V10R6.7.1", os: "SUSE Linux Enterprise Server 15 SP5",
		apps:    apps("openscape-uc", "V10R6 FR7 HF1", "uc-application", "V10R6.7.1", "management-apps", "V10R6.7.1", "media-server", "V10R6.7.1", "web-collaboration", "V10R6.7.1"),
		tunnels: []string{"osuc-cmp"}, language: "de-DE", embedding: uc.embedding,
		source: []string{"/enterprise/servicetools/install/conf/version.properties", "/etc/os-release",
			"/enterprise/servicetools/install/conf/components.list", "/enterprise/servicetools/install/conf/cmp.properties", "/etc/sysconfig/proxy"},
	},
	"sbc-v11r2": {
		name: "OpenScape Session Border Controller", version: "V11R2.1.0", build: "V11R2.01.00", os: "SUSE Linux Enterprise Server 15 SP3",
		apps:    apps("openscape-sbc", "V11R2.1.0", "sbc-core", "V11R2.01.00", "sbc-management-portal", "V11R2.01.00"),
		tunnels: []string{"sbc-portal"}, language: "en-GB", proxy: "http://192.0.2.10:3128", embedding: sbc.embedding,
	},
	"os4k-v11r0-22": {
		name: "OpenScape 4000", version: "V11 R0.22.0", build: "V11 R0.22.0 H22", os: "SUSE Linux Enterprise Server 15 SP5",
		apps:    apps("openscape-4000", "V11 R0.22.0", "rmx", "V11 R0.22.0 H22", "os4k-assistant", "V11 R0.22.0 H22", "os4k-csta", "V11 R0.22.0 H22", "platform-portal", "V11 R0.22.0 H22"),
		license: &platforms.License{Type: "PERPETUAL", SWAStatus: platforms.SWAExpired, SWAExpiry: date("2025-01-31")},
		tunnels: []string{"os4k-assistant", "os4k-platform-portal"}, language: "de", proxy: "http://proxy.werk.example:3128",
		embedding: os4000.embedding,
	},
}

// refused is the version each unsupported fixture must name.
var refused = map[string]string{
	"osb-x5-v3r2": "V3R2 FR4", "osv-v10r3fr32": "V10R3 FR32 HF9", "osuc-v10r6fr6": "V10R6 FR6 HF12",
	"sbc-v11r1": "V11R1.4.0", "os4k-v10r1": "V10 R1.42.0",
}

// TestFixtures runs every adapter on every fixture: each detects its own
// (as .expect says) and none another's.
func TestFixtures(t *testing.T) {
	fs := fixtures(t, "testdata/hosts")
	perType := map[string][2]int{}
	for _, f := range fs {
		for _, a := range Adapters() {
			p, err := a.Detect(f.dir)
			switch {
			case a.Type() != f.typ:
				if !errors.Is(err, platforms.ErrNotDetected) || p != nil {
					t.Errorf("%s: %s detected another's host: %v, %v", f.name, a.Type(), p, err)
				}
			case f.unsupported:
				var ue *platforms.UnsupportedError
				if !errors.As(err, &ue) || p != nil {
					t.Errorf("%s: %s: want an UnsupportedError, got %v, %v", f.name, a.Type(), p, err)
					continue
				}
				if ue.Found != refused[f.name] || ue.Needed == "" || !strings.Contains(err.Error(), ue.Found) || !strings.Contains(err.Error(), ue.Needed) {
					t.Errorf("%s: %q (found %q, want %q)", f.name, err, ue.Found, refused[f.name])
				}
			default:
				if err != nil {
					t.Errorf("%s: %s: %v", f.name, a.Type(), err)
					continue
				}
				w, ok := supported[f.name]
				if !ok {
					t.Errorf("%s: no expectations for this fixture", f.name)
					continue
				}
				checkPlatform(t, f.name, p, a.Type(), w)
			}
		}
		n := perType[f.typ]
		if f.unsupported {
			n[1]++
		} else {
			n[0]++
		}
		perType[f.typ] = n
	}
	for _, a := range Adapters() {
		if n := perType[a.Type()]; n[0] == 0 || n[1] == 0 {
			t.Errorf("%s: %d supported and %d unsupported fixtures; want at least one of each", a.Type(), n[0], n[1])
		}
	}
	for name := range supported {
		if _, err := os.Stat(filepath.Join("testdata/hosts", name)); err != nil {
			t.Errorf("expectations for a missing fixture: %v", err)
		}
	}
}

func checkPlatform(t *testing.T, fixture string, pl platforms.Platform, typ string, w want) {
	t.Helper()
	p := pl.(*Platform)
	if p.Type() != typ || p.Name() != w.name || p.Version() != w.version || p.Build() != w.build || p.OS() != w.os {
		t.Errorf("%s: %s %q %q %q %q, want %s %q %q %q %q", fixture, p.Type(), p.Name(), p.Version(), p.Build(), p.OS(), typ, w.name, w.version, w.build, w.os)
	}
	if !reflect.DeepEqual(p.Applications(), w.apps) {
		t.Errorf("%s: applications %v, want %v", fixture, p.Applications(), w.apps)
	}
	if !reflect.DeepEqual(p.License(), w.license) {
		t.Errorf("%s: license %+v, want %+v", fixture, p.License(), w.license)
	}
	if p.Parent() != "" {
		t.Errorf("%s: parent %q", fixture, p.Parent())
	}
	ts := p.Tunnels()
	if err := platforms.ValidateTunnels(ts); err != nil {
		t.Errorf("%s: %v", fixture, err)
	}
	var ids []string
	for _, tu := range ts {
		ids = append(ids, tu.ID)
		if ep, err := tu.Endpoint(); err != nil || ep.Host != "127.0.0.1" || !ep.TLS || !tu.AcceptSelfSigned {
			t.Errorf("%s: tunnel %s: %+v %v", fixture, tu.ID, ep, err)
		}
		if tu.Component == "" || tu.Name == "" || tu.Description == "" {
			t.Errorf("%s: tunnel %+v lacks a component, name or description", fixture, tu)
		}
	}
	if !slices.Equal(ids, w.tunnels) {
		t.Errorf("%s: tunnels %v, want %v", fixture, ids, w.tunnels)
	}
	f := p.Facts()
	if f.Language != w.language || f.Proxy != w.proxy || f.Embedding != w.embedding {
		t.Errorf("%s: facts %+v, want language %q proxy %q embedding %+v", fixture, f, w.language, w.proxy, w.embedding)
	}
	if w.source != nil && !slices.Equal(f.Source, w.source) {
		t.Errorf("%s: source %v, want %v", fixture, f.Source, w.source)
	}
	for _, s := range f.Source {
		if _, err := os.Stat(filepath.Join("testdata/hosts", fixture, s)); err != nil {
			t.Errorf("%s: source %s: %v", fixture, s, err)
		}
	}
	checkEmbedding(t, fixture, f.Embedding)
	var codes []string
	for _, n := range p.Notices() {
		codes = append(codes, n.Code)
		if n.Text == "" || n.Remedy == "" {
			t.Errorf("%s: notice %+v lacks a text or remedy", fixture, n)
		}
	}
	if !slices.Equal(codes, w.notices) {
		t.Errorf("%s: notices %v, want %v", fixture, codes, w.notices)
	}
	if !reflect.DeepEqual(p.Node(), w.node) {
		t.Errorf("%s: node %+v, want %+v", fixture, p.Node(), w.node)
	}
}

// checkEmbedding checks that an embedding is complete for its mode.
func checkEmbedding(t *testing.T, fixture string, e platforms.Embedding) {
	t.Helper()
	switch e.Auth {
	case platforms.AuthSession:
		u, err := url.Parse(e.SessionURL)
		if err == nil {
			_, err = platforms.ParseLocalAddress(u.Scheme + "://" + u.Host)
		}
		if err != nil || u.Path == "" || e.AdminRole == "" {
			t.Errorf("%s: session embedding %+v: %v", fixture, e, err)
		}
	case platforms.AuthProxy:
		if e.UserHeader == "" {
			t.Errorf("%s: proxy embedding without a user header", fixture)
		}
	case platforms.AuthLocal:
		if e.SessionURL != "" || e.UserHeader != "" || e.Frame {
			t.Errorf("%s: local embedding %+v", fixture, e)
		}
	default:
		t.Errorf("%s: embedding auth %q", fixture, e.Auth)
	}
	if e.BasePath != "" && (!strings.HasPrefix(e.BasePath, "/") || strings.HasSuffix(e.BasePath, "/")) {
		t.Errorf("%s: base path %q", fixture, e.BasePath)
	}
}

// TestOpenAuto picks each supported fixture's platform by detection.
func TestOpenAuto(t *testing.T) {
	for _, f := range fixtures(t, "testdata/hosts") {
		p, err := platforms.Open(platforms.Config{}, f.dir, Adapters()...)
		var ue *platforms.UnsupportedError
		switch {
		case f.unsupported && !errors.As(err, &ue):
			t.Errorf("%s: %v, %v", f.name, p, err)
		case !f.unsupported && (err != nil || p == nil || p.Type() != f.typ):
			t.Errorf("%s: %v, %v", f.name, p, err)
		}
	}
	if p, err := platforms.Open(platforms.Config{}, t.TempDir(), Adapters()...); p != nil || !errors.Is(err, platforms.ErrNotDetected) {
		t.Errorf("empty host: %v, %v", p, err)
	}
}

// TestOtherPackagesFixtures runs these adapters on the host trees of the
// other platform packages: none of them is an OpenScape host unless its
// .expect says so.
func TestOtherPackagesFixtures(t *testing.T) {
	dirs, _ := filepath.Glob("../*/testdata/hosts")
	for _, dir := range dirs {
		if filepath.Base(filepath.Dir(filepath.Dir(dir))) == "openscape" {
			continue
		}
		for _, f := range fixtures(t, dir) {
			for _, a := range Adapters() {
				if a.Type() == f.typ {
					continue
				}
				if _, err := a.Detect(f.dir); !errors.Is(err, platforms.ErrNotDetected) {
					t.Errorf("%s: %s: %v", f.dir, a.Type(), err)
				}
			}
		}
	}
}

func TestAdapterTypes(t *testing.T) {
	var types []string
	for _, a := range Adapters() {
		types = append(types, a.Type())
		if !platforms.ValidSlug(a.Type()) {
			t.Errorf("%q is not a slug", a.Type())
		}
	}
	if want := []string{TypeBusiness, TypeVoice, TypeUC, TypeSBC, Type4000}; !slices.Equal(types, want) {
		t.Errorf("%v, want %v", types, want)
	}
	for _, pr := range []*product{business, voice, uc, sbc, os4000} {
		if err := platforms.ValidateTunnels(pr.tunnels); err != nil {
			t.Errorf("%s: %v", pr.typ, err)
		}
		if pr.places[0].key != "version" {
			t.Errorf("%s: the first place is %s", pr.typ, pr.places[0].key)
		}
		if !platforms.AtLeast(pr.min, pr.min) || !strings.Contains(pr.needed, pr.min) {
			t.Errorf("%s: min %q, needed %q", pr.typ, pr.min, pr.needed)
		}
	}
}
