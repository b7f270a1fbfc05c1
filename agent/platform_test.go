package agent

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cloudlink/cld/agent/api"
	"github.com/cloudlink/cld/cloud"
	"github.com/cloudlink/cld/platforms"
)

// factsPlatform is a platform that knows its host's facts and notices.
type factsPlatform struct {
	facts   platforms.Facts
	notices []platforms.Notice
}

func (factsPlatform) Type() string                  { return "testhost" }
func (factsPlatform) Name() string                  { return "Test Host" }
func (factsPlatform) Version() string               { return "2.0" }
func (factsPlatform) Tunnels() []platforms.Tunnel   { return nil }
func (p factsPlatform) Facts() platforms.Facts      { return p.facts }
func (p factsPlatform) Notices() []platforms.Notice { return p.notices }

// The host's own proxy setting applies when the config and the
// environment name none; the config's wins; the platform, its notices and
// a missing platform are in the status, the warnings and cld doctor.
func TestPlatformFactsAndProblems(t *testing.T) {
	t.Setenv("HTTPS_PROXY", "")
	t.Setenv("https_proxy", "")
	p := factsPlatform{facts: platforms.Facts{Proxy: "http://proxy.host.example:3128", Language: "de", Source: []string{"/etc/host/proxy"}},
		notices: []platforms.Notice{{Code: "second-daemon", Text: "another daemon serves this node", Remedy: "remove it"}}}
	cfg := testConfig(t, t.TempDir())
	r := mustAgent(t, cfg, WithPlatform(p))
	if r.cfg.Proxy != "http://proxy.host.example:3128" {
		t.Errorf("proxy %q, want the host's", r.cfg.Proxy)
	}
	st := r.Status(context.Background())
	if st.Platform == nil || st.Platform.Type != "testhost" || st.Platform.Language != "de" {
		t.Errorf("platform %+v", st.Platform)
	}
	if w, ok := r.Health().Get("platform_second-daemon"); !ok || w.Text != "another daemon serves this node" {
		t.Errorf("notice warning %+v %v", w, ok)
	}
	r.stop()

	cfg2 := testConfig(t, t.TempDir())
	cfg2.Proxy = "http://configured.example:8080"
	r2 := mustAgent(t, cfg2, WithPlatform(p))
	if r2.cfg.Proxy != "http://configured.example:8080" {
		t.Errorf("the config's proxy lost to the host's: %q", r2.cfg.Proxy)
	}
	r2.stop()

	none := &platforms.NotDetectedError{Tried: []string{"msl", "mxone"}}
	r3 := mustAgent(t, testConfig(t, t.TempDir()), WithPlatformProblem(none))
	st = r3.Status(context.Background())
	if st.Platform == nil || !strings.Contains(st.Platform.Problem, "tried: msl, mxone") || !r3.Health().Has(WarnPlatform) {
		t.Errorf("no platform: %+v", st.Platform)
	}
	doc := r3.Doctor(context.Background())
	var found bool
	for _, c := range doc.Checks {
		if c.ID == "platform" {
			found = c.Status == api.CheckWarn && strings.Contains(c.Detail, "no host platform detected")
		}
	}
	if !found {
		t.Errorf("doctor: %+v", doc.Checks)
	}
}

// registrarPlatform records its registrations; claimed makes Register fail.
type registrarPlatform struct {
	factsPlatform
	mu         sync.Mutex
	registered []string
	released   int
	claimed    bool
}

func (p *registrarPlatform) Register(cloud string, _ time.Time) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.claimed {
		return errors.New("the node is registered by the cld instance other")
	}
	p.registered = append(p.registered, cloud)
	return nil
}

func (p *registrarPlatform) Unregister() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.released++
	return nil
}

// A platform that records its daemon (an OpenScape Voice node) is
// registered when the link session starts and released at the unlink; a
// refusal is an error-level warning.
func TestPlatformRegistration(t *testing.T) {
	ts := cloud.NewTestServer(t)
	p := &registrarPlatform{}
	r := mustAgent(t, cloudConfig(t, ts), withoutClockCheck, WithPlatform(p))
	ctx := context.Background()
	if _, err := r.link.Link(ctx, adminLogin); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the registration", func() bool { p.mu.Lock(); defer p.mu.Unlock(); return len(p.registered) == 1 })
	if _, err := r.link.Unlink(ctx); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the release", func() bool { p.mu.Lock(); defer p.mu.Unlock(); return p.released == 1 })
	r.stop()

	claimed := &registrarPlatform{claimed: true}
	r2 := mustAgent(t, cloudConfig(t, ts), withoutClockCheck, WithPlatform(claimed))
	if _, err := r2.link.Link(ctx, adminLogin); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the refusal's warning", func() bool {
		w, ok := r2.Health().Get(WarnPlatformClaim)
		return ok && w.Severity == api.SeverityError && strings.Contains(w.Text, "cld instance other")
	})
}
