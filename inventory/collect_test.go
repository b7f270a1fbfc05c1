package inventory

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/cloudlink/cld/platforms"
	"github.com/cloudlink/cld/platforms/generic"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var fixedNow = time.Date(2026, 11, 22, 8, 0, 0, 0, time.UTC)

// fixtureConfig is a Config reading the fixture tree testdata/<host> with
// fixed providers and a fixed clock.
func fixtureConfig(host string) Config {
	root := filepath.Join("testdata", host)
	synced := true
	measured := fixedNow.Add(-30 * time.Second)
	cfg := DefaultConfig()
	cfg.SystemID = "sys-0001"
	cfg.Trigger = TriggerChange
	cfg.Changes = []string{"tunnel msl-server-manager: stopped → started"}
	cfg.Daemon = Daemon{Version: "1.2.3", Build: "42", Commit: "abc1234", Branch: "main", Stage: "stable"}
	cfg.Root = root
	cfg.StateDir = filepath.Join(root, "var/lib/cld") // absent in host-empty
	if host == "host-full" {
		cfg.StateDir = root
		cfg.Interfaces = func(context.Context) ([]Interface, error) {
			return []Interface{
				{Name: "lo", Up: true, Loop: true, Addrs: []string{"127.0.0.1/8", "::1/128"}},
				{Name: "eth0", Up: true, Addrs: []string{"192.0.2.10/24", "2001:db8::10/64", "fe80::1/64"}},
				{Name: "eth1", Up: false, Addrs: []string{"198.51.100.7/24"}},
			}, nil
		}
	}
	cfg.Now = func() time.Time { return fixedNow }
	cfg.NewID = func() string { return "7d1f7a52-6a3e-4bd4-9a4e-2f0d8c1e5b01" }
	cfg.Providers = Providers{
		Platform: PlatformFile(filepath.Join(root, "etc/cld/cld.yaml"), root, generic.Adapter{}),
		Tunnels: func(context.Context) ([]Tunnel, error) {
			return []Tunnel{{ID: "msl-server-manager", Component: "MSL", Name: "Server Manager", Status: "started",
				PublicURL: "https://0b6c3f1e.eu.edge.localhost:8443"}}, nil
		},
		Clock: func(context.Context) (*Clock, error) {
			return &Clock{DriftSeconds: 0.25, Synchronized: &synced, MeasuredAt: &measured}, nil
		},
		Warnings: func(context.Context) ([]Warning, error) {
			return []Warning{{Code: "clock-drift", Severity: "info", Text: "The clock is 0.25 s ahead of the cloud."}}, nil
		},
		Gateway: func(context.Context) (*Gateway, error) {
			return &Gateway{Installed: true, Version: "3.2.1", Status: "running", Instances: 1}, nil
		},
		Update: func(context.Context) (*UpdateSchedule, error) {
			return &UpdateSchedule{Schedule: "weekly", Weekday: "tuesday", TimeOfDay: "03:30", LastCheck: &measured,
				LastVersion: "0.2.0+90", LastResult: "rolled_back", LastReason: "0.2.0+90 did not become healthy within 30s", Stage: "beta"}, nil
		},
		Access: func(context.Context) (*Access, error) {
			return &Access{Since: &measured, Connections: 12, BytesIn: 48213, BytesOut: 10485760, Users: 2}, nil
		},
	}
	if host == "host-empty" {
		cfg.Providers.Clock = func(context.Context) (*Clock, error) { return nil, nil }
		cfg.Providers.Warnings = nil
		cfg.Providers.Update = nil
		cfg.Providers.Gateway = nil
		cfg.Providers.Access = nil
	}
	return cfg
}

// normalize zeroes what varies between runs: durations and the disk of the
// machine running the test.
func normalize(r *Report) {
	for i := range r.Collection {
		r.Collection[i].DurationMS = 0
	}
	if r.Host != nil && r.Host.DiskBytes != 0 {
		r.Host.DiskBytes, r.Host.DiskFreeBytes = 1<<40, 1<<39
	}
}

func golden(t *testing.T, name string, r *Report) {
	t.Helper()
	got, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, '\n')
	path := filepath.Join("testdata", name+".golden.json")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to write it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs (go test ./inventory -run %s -update to accept):\n%s", path, t.Name(), got)
	}
}

func TestGoldenFullHost(t *testing.T) {
	r, err := Collect(context.Background(), fixtureConfig("host-full"))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range r.Collection {
		if c.Status != CollectorOK {
			t.Errorf("collector %s: %s %s", c.Name, c.Status, c.Detail)
		}
	}
	normalize(r)
	golden(t, "host-full", r)
	// The golden document is what Decode reads back.
	data, _ := json.Marshal(r)
	if _, err := DecodeBytes(data); err != nil {
		t.Errorf("Decode of the report: %v", err)
	}
}

func TestGoldenMissingSources(t *testing.T) {
	r, err := Collect(context.Background(), fixtureConfig("host-empty"))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"host": CollectorNoData, "cpu": CollectorNoData, "memory": CollectorNoData, "disk": CollectorNoData,
		"network": CollectorNoData, "timezone": CollectorNoData, "platform": CollectorNoData,
		"tunnels": CollectorOK, "clock": CollectorNoData, "warnings": CollectorNoData, "daemon": CollectorOK,
		"update": CollectorNoData, "gateway": CollectorNoData, "access": CollectorNoData,
	}
	for _, c := range r.Collection {
		if c.Status != want[c.Name] {
			t.Errorf("collector %s: %s (%s), want %s", c.Name, c.Status, c.Detail, want[c.Name])
		}
		if c.Status == CollectorNoData && c.Detail == "" {
			t.Errorf("collector %s: no_data without a reason", c.Name)
		}
	}
	if r.Host != nil || r.Platform != nil || r.License != nil {
		t.Errorf("sections without a source: host %+v platform %+v license %+v", r.Host, r.Platform, r.License)
	}
	if len(r.Applications) != 1 || r.Applications[0] != (Application{Type: DaemonApplication, Version: "1.2.3"}) {
		t.Errorf("applications = %+v", r.Applications)
	}
	normalize(r)
	golden(t, "host-empty", r)
}

func TestSMBCChildListsOnlyTheChild(t *testing.T) {
	report := func(file string) *Report {
		cfg := fixtureConfig("host-full")
		cfg.Providers.Platform = PlatformFile(filepath.Join("testdata/smbc", file), "/", generic.Adapter{})
		r, err := Collect(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	parent, child := report("parent.yaml"), report("child.yaml")
	if parent.Platform == nil || parent.Platform.Parent != "" || parent.Platform.Name != "MiVoice SMB Controller" {
		t.Errorf("parent's platform = %+v", parent.Platform)
	}
	want := Platform{Type: "generic", Name: "MiVoice Business", Version: "10.1.0.12", Parent: "smbc"}
	if child.Platform == nil || *child.Platform != want {
		t.Errorf("child's platform = %+v, want %+v", child.Platform, want)
	}
	data, _ := json.Marshal(child)
	for _, s := range []string{"MiVoice SMB Controller", "smb-controller", "SUBSCRIPTION", "1.4.0"} {
		if bytes.Contains(data, []byte(s)) {
			t.Errorf("the child's report mentions the parent's %q:\n%s", s, data)
		}
	}
	if len(child.Applications) != 2 || child.Applications[1].Type != "mivoice-business" {
		t.Errorf("child's applications = %+v", child.Applications)
	}
	if child.License == nil || child.License.SWAStatus != "EXPIRED" || child.License.SWAExpiry == nil {
		t.Errorf("child's license = %+v", child.License)
	}
}

// describedPlatform is a platform from another adapter that says it is a
// child.
type describedPlatform struct{ name string }

func (p describedPlatform) Type() string                          { return "mivb" }
func (p describedPlatform) Name() string                          { return p.name }
func (p describedPlatform) Version() string                       { return "10.1" }
func (p describedPlatform) Tunnels() []platforms.Tunnel           { return nil }
func (p describedPlatform) Applications() []platforms.Application { return nil }
func (p describedPlatform) License() *platforms.License           { return nil }
func (p describedPlatform) Parent() string                        { return "smbc" }
func (p describedPlatform) platform() (platforms.Platform, error) { return p, nil }

func TestSecretsNeverInTheReport(t *testing.T) {
	const (
		clientSecret  = "cs-4f9a1d7e2b8c6a3f"
		token         = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJzeXMifQ.c2lnbmF0dXJl"
		proxyPassword = "Pr0xy-P@ss-w0rd"
	)
	cfg := fixtureConfig("host-full")
	cfg.Secrets = []string{clientSecret, token, proxyPassword}
	cfg.Changes = []string{"proxy changed to http://corp:" + proxyPassword + "@proxy.example:3128", "re-linked with secret " + clientSecret}
	cfg.Daemon.Build = "built with " + token
	cfg.Interfaces = func(context.Context) ([]Interface, error) {
		return nil, errors.New("netlink: dial http://user:" + proxyPassword + "@10.0.0.1 failed, Authorization: Bearer " + token)
	}
	cfg.Providers.Platform = func(context.Context) (platforms.Platform, error) {
		return describedPlatform{name: "PBX " + clientSecret}.platform()
	}
	cfg.Providers.Warnings = func(context.Context) ([]Warning, error) {
		return []Warning{
			{Code: "proxy", Severity: "warning", Text: "The proxy http://cld:" + proxyPassword + "@proxy.example:3128 refused the connection"},
			{Code: "auth", Severity: "error", Text: "token " + token + " was rejected; client_secret=" + clientSecret},
			{Code: "other", Severity: "info", Text: "Bearer abcdefghijklmnop and password: hunter22 and https://u:p4ss@example.com/x"},
		}, nil
	}
	cfg.Providers.Clock = func(context.Context) (*Clock, error) {
		return nil, errors.New("time call failed: POST https://cloud.example/v1/time?access_token=" + token)
	}
	r, err := Collect(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	data, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range append(cfg.Secrets, "hunter22", "abcdefghijklmnop", "p4ss", "corp:", "user:") {
		if bytes.Contains(data, []byte(s)) {
			t.Errorf("the report contains the secret %q:\n%s", s, data)
		}
	}
	if !bytes.Contains(data, []byte(Redacted)) || !strings.Contains(r.Warnings[0].Text, "proxy.example:3128 refused") {
		t.Errorf("scrubbing removed too much or nothing:\n%s", data)
	}
}

func TestScrubText(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"plain text stays", "plain text stays"},
		{"Refresh token rejected by the cloud", "Refresh token rejected by the cloud"},
		{"https://a:b@h:1/p", "https://[redacted]@h:1/p"},
		{"see socks5://only-user@proxy", "see socks5://[redacted]@proxy"},
		{"password=x y", "password=[redacted] y"},
		{`token: "a b c"`, "token: [redacted]"},
		{"?api_key=123&x=1", "?api_key=[redacted]&x=1"},
		{"Authorization: Basic dXNlcjpwYXNz", "Authorization: [redacted] [redacted]"},
		{"hdr Basic dXNlcjpwYXNz", "hdr Basic [redacted]"},
		{"my s3cret here", "my [redacted] here"},
	} {
		if got := ScrubText(tc.in, []string{"s3cret", "ab"}); got != tc.want {
			t.Errorf("ScrubText(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestFailingCollectorsNeverTakeTheReportDown(t *testing.T) {
	cfg := fixtureConfig("host-full")
	cfg.Timeout = 50 * time.Millisecond
	cfg.Providers.Tunnels = func(ctx context.Context) ([]Tunnel, error) {
		<-ctx.Done() // hangs until the collector's timeout
		return nil, ctx.Err()
	}
	cfg.Providers.Warnings = func(context.Context) ([]Warning, error) { panic("boom") }
	cfg.Providers.Clock = func(context.Context) (*Clock, error) { return nil, errors.New("the cloud's time call failed") }
	cfg.Providers.Platform = PlatformFile("testdata/smbc/missing.yaml", "/", generic.Adapter{})
	start := time.Now()
	r, err := Collect(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("Collect took %s with a 50 ms timeout", d)
	}
	got := map[string]CollectorResult{}
	for _, c := range r.Collection {
		got[c.Name] = c
	}
	check := func(name, status, detail string) {
		t.Helper()
		c := got[name]
		if c.Status != status || !strings.Contains(c.Detail, detail) {
			t.Errorf("%s = %+v, want %s with %q", name, c, status, detail)
		}
	}
	check("tunnels", CollectorFailed, "timed out after 50ms")
	check("warnings", CollectorFailed, "panic: boom")
	check("clock", CollectorFailed, "the cloud's time call failed")
	check("platform", CollectorNoData, "the platform file testdata/smbc/missing.yaml is absent")
	check("host", CollectorOK, "")
	if r.Host == nil || r.Host.Hostname != "pbx-demo-01" || r.Daemon == nil {
		t.Errorf("the rest of the report is missing: %+v", r)
	}

	// A collector that ignores its context is abandoned after the timeout.
	release := make(chan struct{})
	cfg.Providers.Tunnels = func(context.Context) ([]Tunnel, error) { <-release; return nil, nil }
	r, err = Collect(context.Background(), cfg)
	close(release)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range r.Collection {
		if c.Name == "tunnels" && (c.Status != CollectorFailed || !strings.Contains(c.Detail, "timed out")) {
			t.Errorf("hung tunnels collector: %+v", c)
		}
	}
}

func TestPlatformSourceErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "cld.yaml")
	if err := os.WriteFile(bad, []byte("platform:\n  type: generic\n  colour: blue\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := fixtureConfig("host-full")
	cfg.Providers.Platform = PlatformFile(bad, "/", generic.Adapter{})
	r, err := Collect(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if c := r.Collection[6]; c.Name != "platform" || c.Status != CollectorFailed || !strings.Contains(c.Detail, `cld.yaml line 3: unknown key "colour"`) {
		t.Errorf("bad platform file: %+v", c)
	}
	// No platform configured or detected: no data.
	none := filepath.Join(dir, "none.yaml")
	if err := os.WriteFile(none, []byte("state_dir: /x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg.Providers.Platform = PlatformFile(none, "/", generic.Adapter{})
	if r, _ = Collect(context.Background(), cfg); r.Collection[6].Status != CollectorNoData {
		t.Errorf("no platform: %+v", r.Collection[6])
	}
}

func TestConfigValidate(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Timeout = -1
	_, err := Collect(context.Background(), cfg)
	for _, w := range []string{"system ID is empty", "version is empty", "negative"} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("error lacks %q: %v", w, err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Collect(ctx, fixtureConfig("host-full")); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
}

func TestAddresses(t *testing.T) {
	got := Addresses([]Interface{
		{Name: "lo", Up: true, Loop: true, Addrs: []string{"127.0.0.1/8"}},
		{Name: "a", Up: true, Addrs: []string{"10.0.0.1/8", "10.0.0.1/8", "fe80::2/64", "not an ip", "::ffff:192.0.2.1", "0.0.0.0"}},
		{Name: "down", Addrs: []string{"10.9.9.9/8"}},
	})
	if strings.Join(got, ",") != "10.0.0.1,192.0.2.1" {
		t.Errorf("Addresses = %v", got)
	}
}

func TestContainerDetection(t *testing.T) {
	root := t.TempDir()
	e := &env{cfg: &Config{}, root: root}
	if c := container(context.Background(), e); c != "" {
		t.Errorf("empty root: %q", c)
	}
	os.MkdirAll(filepath.Join(root, "proc/self"), 0o755)
	os.WriteFile(filepath.Join(root, "proc/self/cgroup"), []byte("0::/system.slice/docker-abc.scope\n"), 0o644)
	if c := container(context.Background(), e); c != "docker" {
		t.Errorf("docker cgroup: %q", c)
	}
	os.WriteFile(filepath.Join(root, ".dockerenv"), nil, 0o644)
	os.MkdirAll(filepath.Join(root, "run"), 0o755)
	os.WriteFile(filepath.Join(root, "run/.containerenv"), nil, 0o644)
	if c := container(context.Background(), e); c != "docker" {
		t.Errorf(".dockerenv: %q", c)
	}
}

// TestRealHost collects from this machine: every host collector is ok or
// no_data (never failed), well under the 200 ms budget.
func TestRealHost(t *testing.T) {
	cfg := DefaultConfig()
	cfg.SystemID, cfg.Daemon.Version, cfg.StateDir = "s", "1.0", t.TempDir()
	Collect(context.Background(), cfg) // warm up
	start := time.Now()
	r, err := Collect(context.Background(), cfg)
	d := time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range r.Collection {
		if c.Status == CollectorFailed {
			t.Errorf("collector %s failed: %s", c.Name, c.Detail)
		}
	}
	if r.Host == nil || r.Host.Hostname == "" || r.Host.MemoryBytes == 0 {
		t.Errorf("host = %+v", r.Host)
	}
	t.Logf("collected in %s", d)
	if d > 200*time.Millisecond {
		t.Errorf("collection took %s, over the 200 ms budget", d)
	}
}

func BenchmarkCollect(b *testing.B) {
	cfg := DefaultConfig()
	cfg.SystemID, cfg.Daemon.Version, cfg.StateDir = "s", "1.0", b.TempDir()
	for b.Loop() {
		if _, err := Collect(context.Background(), cfg); err != nil {
			b.Fatal(err)
		}
	}
}
