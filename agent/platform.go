package agent

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/cloudlink/cld/agent/api"
	"github.com/cloudlink/cld/agent/config"
	"github.com/cloudlink/cld/agent/doctor"
	"github.com/cloudlink/cld/agent/health"
	"github.com/cloudlink/cld/agent/link"
	"github.com/cloudlink/cld/agent/proxy"
	"github.com/cloudlink/cld/platforms"
)

// Warning codes of the platform.
const (
	WarnPlatform       = "platform_problem"
	warnPlatformNotice = "platform_"
)

// defPlatform's text is the platform's own error.
var defPlatform = health.Declare(health.Def{Code: WarnPlatform, Severity: api.SeverityWarning, Title: "Host platform not recognized",
	Remedy: "The daemon links and reports, but offers none of the host's tunnels. Run `cld doctor`; set platform: in /etc/cld/cld.yaml (a type, or type: generic with the tunnels) and `systemctl restart cld`."})

// platformStatus is the platform for the status and About.
func (a *Agent) platformStatus() *api.Platform {
	a.mu.Lock()
	p, perr := a.o.platform, a.o.platformErr
	a.mu.Unlock()
	if p == nil {
		if perr == nil {
			return nil
		}
		return &api.Platform{Problem: perr.Error()}
	}
	st := &api.Platform{Type: p.Type(), Name: p.Name(), Version: p.Version()}
	if d, ok := p.(platforms.Describer); ok {
		for _, app := range d.Applications() {
			st.Applications = append(st.Applications, strings.TrimSpace(app.Type+" "+app.Version))
		}
		st.Parent = d.Parent()
	}
	if f, ok := p.(platforms.Facter); ok {
		facts := f.Facts()
		st.Language, st.Embedding = facts.Language, facts.Embedding.Auth
	}
	return st
}

// raisePlatformWarnings sets the platform's warnings: why there is none,
// and the platform's own notices.
func (a *Agent) raisePlatformWarnings() {
	if a.o.platformErr != nil {
		a.health.Set(defPlatform.With(a.o.platformErr.Error()))
	}
	if n, ok := a.o.platform.(platforms.Noticer); ok {
		for _, no := range n.Notices() {
			a.health.Set(api.Warning{Code: warnPlatformNotice + no.Code, Severity: api.SeverityWarning,
				Title: "Host platform: " + no.Code, Text: no.Text, Remedy: no.Remedy})
		}
	}
}

// withGateway is the platform with the gateway's tunnel after its own
// (the tunnel manager's table); a host with a gateway but no platform
// offers the gateway's alone.
func (a *Agent) withGateway(p platforms.Platform) platforms.Platform {
	extra := a.gateway.Tunnels()
	if len(extra) == 0 {
		return p
	}
	return gatewayPlatform{Platform: p, extra: extra}
}

// gatewayPlatform adds the gateway's tunnels to a platform (nil: none).
type gatewayPlatform struct {
	platforms.Platform
	extra []platforms.Tunnel
}

func (g gatewayPlatform) Type() string { return g.or(platforms.Platform.Type, "gateway-host") }
func (g gatewayPlatform) Name() string {
	return g.or(platforms.Platform.Name, "CloudLink Gateway host")
}
func (g gatewayPlatform) Version() string { return g.or(platforms.Platform.Version, "") }

func (g gatewayPlatform) or(f func(platforms.Platform) string, none string) string {
	if g.Platform == nil {
		return none
	}
	return f(g.Platform)
}

func (g gatewayPlatform) Tunnels() []platforms.Tunnel {
	var ts []platforms.Tunnel
	if g.Platform != nil {
		ts = g.Platform.Tunnels()
	}
	for _, t := range g.extra {
		if !slices.ContainsFunc(ts, func(o platforms.Tunnel) bool { return o.ID == t.ID }) {
			ts = append(ts, t)
		}
	}
	return ts
}

// hostProxy is cfg with the host platform's own proxy setting when
// neither the config (proxy:) nor cld's environment (HTTPS_PROXY) names
// one: a host set up for its proxy needs nothing more for cld. A setting
// that does not parse is ignored with a warning.
func (a *Agent) hostProxy(cfg config.Config) config.Config {
	f, ok := a.o.platform.(platforms.Facter)
	if !ok || cfg.Proxy != "" || os.Getenv("HTTPS_PROXY") != "" || os.Getenv("https_proxy") != "" {
		return cfg
	}
	facts := f.Facts()
	if facts.Proxy == "" {
		return cfg
	}
	if _, err := proxy.ParseURL(facts.Proxy); err != nil {
		a.log.Warn("the host platform's proxy setting is not usable; set proxy: in the config", "err", err, "from", facts.Source)
		return cfg
	}
	a.log.Info("using the host platform's proxy setting (proxy: in the config overrides it)", "from", facts.Source)
	cfg.Proxy = facts.Proxy
	return cfg
}

// platformCheck is `cld doctor`'s check of the host platform.
func (a *Agent) platformCheck() doctor.Check {
	return doctor.Check{ID: "platform", Title: "Host platform", Run: func(context.Context) doctor.Result {
		st := a.platformStatus()
		switch {
		case st == nil:
			return doctor.Skip("No platform is configured or detected.")
		case st.Problem != "":
			return doctor.Warn(st.Problem, defPlatform.Remedy)
		}
		detail := fmt.Sprintf("%s %s (platform type %s)", st.Name, st.Version, st.Type)
		if len(st.Applications) > 0 {
			detail += "; applications: " + strings.Join(st.Applications, ", ")
		}
		return doctor.Pass(detail + ".")
	}}
}

// WarnPlatformClaim is raised while the platform refuses this daemon's
// registration (another daemon serves the OpenScape Voice node).
const WarnPlatformClaim = "platform_registration"

// defPlatformClaim's text is the platform's refusal.
var defPlatformClaim = health.Declare(health.Def{Code: WarnPlatformClaim, Severity: api.SeverityError, Title: "Another daemon serves this host",
	Remedy: "An OpenScape Voice node supports a connection to only one CloudLink CMP. Unlink this daemon (`cld unlink`) and stop it, or unlink the other one first."})

// platformLink is the link subsystem that registers the platform for this
// daemon while linked (platforms.Registrar) and releases it when the link
// ends.
type platformLink struct{ a *Agent }

func (platformLink) Name() string { return "platform" }

func (p platformLink) registrar() platforms.Registrar {
	p.a.mu.Lock()
	defer p.a.mu.Unlock()
	r, _ := p.a.o.platform.(platforms.Registrar)
	return r
}

// RunLinked registers at the session's start and waits for its end.
func (p platformLink) RunLinked(ctx context.Context, s *link.Session) error {
	if r := p.registrar(); r != nil {
		if err := r.Register(s.CloudURL(), p.a.clock.Now()); err != nil {
			p.a.log.Error("the host platform refuses this daemon's registration", "err", err)
			p.a.health.Set(defPlatformClaim.With(err.Error()))
		} else {
			p.a.health.Clear(WarnPlatformClaim)
		}
	}
	<-ctx.Done()
	return nil
}

// LinkEnded releases the registration (link.Ender).
func (p platformLink) LinkEnded(bool) {
	if r := p.registrar(); r != nil {
		if err := r.Unregister(); err != nil {
			p.a.log.Warn("the host platform's registration could not be released", "err", err)
		}
		p.a.health.Clear(WarnPlatformClaim)
	}
}
