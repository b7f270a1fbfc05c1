package agent

import (
	"context"
	"fmt"
	"strings"

	"github.com/cloudlink/cld/agent/api"
	"github.com/cloudlink/cld/agent/doctor"
	"github.com/cloudlink/cld/agent/health"
	"github.com/cloudlink/cld/platforms"
)

// Warning codes of the platform.
const (
	WarnPlatform       = "platform_problem"
	warnPlatformNotice = "platform_"
)

var defPlatform = health.Def{Code: WarnPlatform, Severity: api.SeverityWarning, Title: "Host platform not recognized",
	Remedy: "The daemon links and reports, but offers none of the host's tunnels. Run `cld doctor`; set platform: in /etc/cld/cld.yaml (a type, or type: generic with the tunnels) and `systemctl restart cld`."}

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
