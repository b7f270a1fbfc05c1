package gateway

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/cloudlink/cld/platforms"
)

func find(t *testing.T, opts Options) Installation {
	t.Helper()
	in, err := Find(opts)
	if err != nil {
		t.Fatal(err)
	}
	return in
}

func noticeCodes(ns []platforms.Notice) []string {
	var codes []string
	for _, n := range ns {
		codes = append(codes, n.Code)
	}
	return codes
}

func TestFindNone(t *testing.T) {
	for _, root := range []string{"testdata/none", t.TempDir()} {
		in := find(t, Options{Root: root})
		if in.Installed() || len(in.Instances) != 0 || in.Selected != nil || len(in.Notices) != 0 {
			t.Errorf("%s: %+v, want nothing installed", root, in)
		}
		if names := in.Names(); names == nil || len(names) != 0 {
			t.Errorf("%s: names %#v, want an empty list", root, names)
		}
	}
}

func TestFindOne(t *testing.T) {
	root := "testdata/one"
	in := find(t, Options{Root: root})
	if len(in.Instances) != 1 || len(in.Notices) != 0 {
		t.Fatalf("instances %+v, notices %+v", in.Instances, in.Notices)
	}
	want := Instance{
		Name:         "default",
		Dir:          "/opt/mitel/clgw/default",
		Path:         filepath.Join(root, "opt/mitel/clgw/default"),
		Version:      "2.4.17",
		RESTScheme:   "http",
		RESTPort:     8090,
		Unit:         "clgw@default.service",
		UnitFile:     "/usr/lib/systemd/system/clgw@.service",
		StartCommand: filepath.Join(root, "opt/mitel/clgw/default/bin/clgw-core"),
		ConfigFile:   filepath.Join(root, "opt/mitel/clgw/default/etc/clgw.conf"),
	}
	if !reflect.DeepEqual(in.Instances[0], want) {
		t.Errorf("instance\n %+v, want\n %+v", in.Instances[0], want)
	}
	if in.Selected == nil || in.Selected.Name != "default" {
		t.Errorf("selected %+v, want default", in.Selected)
	}
	tun, err := in.Selected.Tunnel()
	if err != nil {
		t.Fatal(err)
	}
	wantTunnel := platforms.Tunnel{ID: "clgw-rest", Component: "CloudLink Gateway", Name: "CLGW REST interface",
		Description: "Remote access via Mitel Administration", LocalAddress: "http://127.0.0.1:8090"}
	if tun != wantTunnel {
		t.Errorf("tunnel %+v, want %+v", tun, wantTunnel)
	}
	if err := platforms.ValidateTunnels([]platforms.Tunnel{tun}); err != nil {
		t.Error(err)
	}
}

func TestFindTwo(t *testing.T) {
	in := find(t, Options{Root: "testdata/two"})
	if got := in.Names(); !reflect.DeepEqual(got, []string{"default", "restored"}) {
		t.Fatalf("instances %v, want default and restored (backups/ is no instance)", got)
	}
	if in.Selected != nil {
		t.Errorf("selected %s with two instances and none named", in.Selected.Name)
	}
	if len(in.Notices) != 1 || in.Notices[0].Code != NoticeMultipleInstances {
		t.Fatalf("notices %+v, want only %s", in.Notices, NoticeMultipleInstances)
	}
	n := in.Notices[0]
	for _, s := range []string{"2 CloudLink Gateway instances", "default, restored", "/opt/mitel/clgw", "clustered"} {
		if !strings.Contains(n.Text, s) {
			t.Errorf("notice text %q lacks %q", n.Text, s)
		}
	}
	if n.Remedy != RemedyMultipleInstances || !strings.Contains(n.Remedy, "Remove any duplicate or conflicting CLGW instances") ||
		!strings.Contains(n.Remedy, "re-onboard the CLGW") {
		t.Errorf("remedy %q", n.Remedy)
	}
	r := in.Instances[1]
	if r.Version != "2.3.9" || r.RESTScheme != "https" || r.RESTPort != 8091 || r.Unit != "clgw@restored.service" {
		t.Errorf("restored instance %+v", r)
	}

	// Naming the instance drives it; the warning stays.
	in = find(t, Options{Root: "testdata/two", Instance: "restored"})
	if in.Selected == nil || in.Selected.Name != "restored" {
		t.Fatalf("selected %+v, want restored", in.Selected)
	}
	if got := noticeCodes(in.Notices); !reflect.DeepEqual(got, []string{NoticeMultipleInstances}) {
		t.Errorf("notices %v", got)
	}
	tun, err := in.Selected.Tunnel()
	if err != nil || tun.LocalAddress != "https://127.0.0.1:8091" || !tun.AcceptSelfSigned {
		t.Errorf("tunnel %+v, %v", tun, err)
	}

	in = find(t, Options{Root: "testdata/two", Instance: "gone"})
	if in.Selected != nil {
		t.Errorf("selected %+v for an instance that is not installed", in.Selected)
	}
	if got := noticeCodes(in.Notices); !reflect.DeepEqual(got, []string{NoticeMultipleInstances, NoticeInstanceNotPresent}) {
		t.Errorf("notices %v", got)
	} else if !strings.Contains(in.Notices[1].Text, `"gone"`) || !strings.Contains(in.Notices[1].Text, "default, restored") {
		t.Errorf("notice %q", in.Notices[1].Text)
	}
}

func TestFindBrokenVersion(t *testing.T) {
	in := find(t, Options{Root: "testdata/broken-version"})
	if len(in.Instances) != 1 || in.Selected == nil {
		t.Fatalf("instances %+v", in.Instances)
	}
	inst := in.Instances[0]
	if inst.Version != "" {
		t.Errorf("version %q from a broken version file", inst.Version)
	}
	// The plain unit in /etc/systemd/system serves a single instance.
	if inst.Unit != "clgw.service" || inst.UnitFile != "/etc/systemd/system/clgw.service" {
		t.Errorf("unit %q from %q", inst.Unit, inst.UnitFile)
	}
	if len(in.Notices) != 1 || in.Notices[0].Code != NoticeVersionUnreadable {
		t.Fatalf("notices %+v", in.Notices)
	}
	if n := in.Notices[0]; !strings.Contains(n.Text, "/opt/mitel/clgw/main/VERSION") || !strings.Contains(n.Text, "not text") ||
		!strings.Contains(n.Remedy, "instance main") {
		t.Errorf("notice %+v", n)
	}
	if _, err := inst.Tunnel(); err != nil {
		t.Errorf("the REST tunnel of an instance with a broken version: %v", err)
	}
}

func TestCheckVersion(t *testing.T) {
	for v, ok := range map[string]bool{"2.4.17": true, "2.4 SP1": true, "10": true, "": false, "unknown": false,
		"v2.4": false, "2.4\n2.5": false, strings.Repeat("1", 65): false, "2.4\x00": false} {
		if err := checkVersion(v); (err == nil) != ok {
			t.Errorf("checkVersion(%q) = %v", v, err)
		}
	}
}

func TestFindConfigProblems(t *testing.T) {
	for _, tc := range []struct {
		conf string // "" leaves the config out
		want string
	}{
		{"", "etc/clgw.conf of CloudLink Gateway instance gw is missing"},
		{"LOG_LEVEL=debug\n", "sets no REST_PORT"},
		{"REST_PORT=http\n", "REST_PORT=http, which is not a port"},
		{"REST_PORT=70000\n", "REST_PORT=70000, which is not a port"},
		{"REST_PORT=8090\nREST_SCHEME=ftp\n", "REST_SCHEME=ftp"},
	} {
		root := t.TempDir()
		writeFile(t, root, "opt/mitel/clgw/gw/VERSION", "2.4.17\n", 0o644)
		if tc.conf != "" {
			writeFile(t, root, "opt/mitel/clgw/gw/etc/clgw.conf", tc.conf, 0o644)
		}
		in := find(t, Options{Root: root})
		if len(in.Instances) != 1 || len(in.Notices) != 1 || in.Notices[0].Code != NoticeConfigInvalid {
			t.Errorf("%q: instances %+v, notices %+v", tc.conf, in.Instances, in.Notices)
			continue
		}
		if !strings.Contains(in.Notices[0].Text, tc.want) {
			t.Errorf("%q: notice %q lacks %q", tc.conf, in.Notices[0].Text, tc.want)
		}
		if _, err := in.Instances[0].Tunnel(); err == nil && in.Instances[0].RESTPort == 0 {
			t.Errorf("%q: a tunnel without a port", tc.conf)
		}
		if in.Instances[0].Unit != "" {
			t.Errorf("%q: unit %q without a unit file", tc.conf, in.Instances[0].Unit)
		}
	}
}

func TestFindOverrides(t *testing.T) {
	root := t.TempDir()
	writeFile(t, root, "srv/gw/one/release.txt", "3.0.1\n", 0o644)
	writeFile(t, root, "srv/gw/one/gw.env", "REST_PORT=9000\n", 0o644)
	writeFile(t, root, "srv/gw/other/VERSION", "3.0.1\n", 0o644) // not an instance under these names
	writeFile(t, root, "run/units/gateway-core@.service", "[Service]\n", 0o644)
	in := find(t, Options{Root: root, InstallDir: "/srv/gw", VersionFile: "release.txt", ConfigFile: "gw.env",
		StartCommand: "run.sh", UnitDirs: []string{"/run/units"}, UnitTemplate: "gateway-core@.service"})
	if len(in.Instances) != 1 || len(in.Notices) != 0 {
		t.Fatalf("instances %+v, notices %+v", in.Instances, in.Notices)
	}
	i := in.Instances[0]
	if i.Name != "one" || i.Version != "3.0.1" || i.RESTPort != 9000 || i.Unit != "gateway-core@one.service" ||
		i.StartCommand != filepath.Join(root, "srv/gw/one/run.sh") || i.Dir != "/srv/gw/one" {
		t.Errorf("instance %+v", i)
	}
}

func TestFindUnitNameEscaped(t *testing.T) {
	root := copyTree(t, "one")
	if err := os.Rename(filepath.Join(root, "opt/mitel/clgw/default"), filepath.Join(root, "opt/mitel/clgw/site a")); err != nil {
		t.Fatal(err)
	}
	in := find(t, Options{Root: root})
	if len(in.Instances) != 1 || in.Instances[0].Unit != `clgw@site\x20a.service` {
		t.Errorf("instances %+v", in.Instances)
	}
}

func TestFindErrors(t *testing.T) {
	if _, err := Find(Options{}); err == nil || !strings.Contains(err.Error(), "Root") {
		t.Errorf("Find without a root: %v", err)
	}
	root := t.TempDir()
	writeFile(t, root, "opt/mitel/clgw", "a file where the install directory should be", 0o644)
	if _, err := Find(Options{Root: root}); err == nil || !strings.Contains(err.Error(), "/opt/mitel/clgw") {
		t.Errorf("Find with an unreadable install directory: %v", err)
	}
}
