package ui

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/a-h/templ"

	"github.com/cloudlink/cld/agent/api"
	"github.com/cloudlink/cld/ui/i18n"
)

// The gateway core's states (api.Gateway.Status) and managers
// (api.Gateway.Manager), as the daemon names them.
const (
	gatewayRunning  = "running"
	gatewayStarting = "starting"
	gatewayStopped  = "stopped"
	gatewayFailed   = "failed"
	gatewayUnknown  = "unknown"

	managerSystemd    = "systemd"
	managerSupervisor = "supervisor"
)

// gatewayTunnelID is the tunnel of the gateway's REST interface; while it
// is started, the status page is linked through its public URL.
const gatewayTunnelID = "clgw-rest"

// gatewayStatusPath is the gateway's status page on its REST interface.
const gatewayStatusPath = "/status"

// gatewayMultipleWarning is the code of the daemon's warning about several
// installed instances; its remedy is the one the section shows.
const gatewayMultipleWarning = "gateway_clgw-multiple-instances"

// gatewayMultipleRemedy is the solution guide's remedy for several CLGW
// instances, for a daemon whose warnings do not carry it.
const gatewayMultipleRemedy = "Remove any duplicate or conflicting CLGW instances from this platform, " +
	"ensure only one CLGW is installed and associated with the CloudLink account, then re-onboard the CLGW. " +
	"Do not restore backups of a clustered CLGW onto this platform."

// gatewayMultipleText says that several gateway instances are installed
// (a plural message of the catalog: {n} instances, {instances} their names).
const gatewayMultipleText = "{n} CloudLink Gateway instance is installed ({instances}): traditional CLGW mode supports only one per platform, " +
	"and several (often restored from a backup of a clustered CLGW) make MiVB provisioning and CLGW re-onboarding fail."

// gatewayLiveEvery is how often (ms) live.js fetches the section again
// while the gateway is starting or not healthy yet: the daemon reads the
// gateway's state every 30 s and after each control, so a faster pace
// would show nothing new.
const gatewayLiveEvery = "5000"

// gateway is the co-located CloudLink Gateway when one is installed (the
// section shows only then), else nil.
func (d dashboard) gateway() *api.Gateway {
	if g := d.Status.Gateway; g != nil && g.Installed {
		return g
	}
	return nil
}

// gatewayState is the gateway's state, "unknown" when the daemon says none.
func gatewayState(g *api.Gateway) string {
	if g.Status == "" {
		return gatewayUnknown
	}
	return g.Status
}

// gatewayLive tells whether the section keeps itself current (live.js):
// while the core is starting, or runs but has not answered its health
// check yet.
func gatewayLive(g *api.Gateway) bool {
	s := gatewayState(g)
	return s == gatewayStarting || (s == gatewayRunning && !g.Healthy)
}

// gatewayStatusClass styles a state (it is also written in words).
func gatewayStatusClass(g *api.Gateway) string {
	switch gatewayState(g) {
	case gatewayRunning:
		if g.Healthy {
			return "status status-started"
		}
		return "status status-starting"
	case gatewayFailed:
		return "status status-error"
	case gatewayStarting:
		return "status status-starting"
	}
	return "status status-stopped"
}

// gatewayStateText is the gateway's state in words.
func gatewayStateText(l *i18n.Locale, g *api.Gateway) string {
	switch s := gatewayState(g); s {
	case gatewayRunning:
		return l.T("running")
	case gatewayStarting:
		return l.T("starting")
	case gatewayStopped:
		return l.T("stopped")
	case gatewayFailed:
		return l.T("failed")
	case gatewayUnknown:
		return l.T("unknown")
	default:
		return s
	}
}

// gatewayHealthText is "healthy" or "not healthy", for a running core.
func gatewayHealthText(l *i18n.Locale, g *api.Gateway) string {
	if g.Healthy {
		return l.T("healthy")
	}
	return l.T("not healthy")
}

// gatewayStatusText says in a sentence what the state means.
func gatewayStatusText(l *i18n.Locale, g *api.Gateway) string {
	switch gatewayState(g) {
	case gatewayRunning:
		if g.Healthy {
			return l.T("The gateway runs and its REST interface answers its health check.")
		}
		return l.T("The gateway runs, but its REST interface does not answer its health check (yet).")
	case gatewayStarting:
		return l.T("The gateway is starting.")
	case gatewayStopped:
		return l.T("The gateway is stopped.")
	case gatewayFailed:
		if g.Manager == managerSupervisor {
			return l.T("The gateway stopped on its own or did not start; the daemon starts it again after a pause.")
		}
		return l.T("The gateway stopped on its own or did not start.")
	}
	return l.T("The state of the gateway cannot be told.")
}

// gatewayManagerText names what drives the gateway (debug view).
func gatewayManagerText(l *i18n.Locale, g *api.Gateway) string {
	switch g.Manager {
	case managerSystemd:
		return l.T("systemd (the host's service manager, over D-Bus)")
	case managerSupervisor:
		return l.T("the daemon's own supervisor (cld runs the gateway core as its child)")
	case "":
		return l.T("none (no instance is controlled)")
	}
	return g.Manager
}

// gatewayControlled tells whether an instance is driven: with several
// installed and none chosen, the daemon controls none, so the section
// offers no controls (the warning says what to do).
func gatewayControlled(g *api.Gateway) bool {
	return g.Manager != "" || len(g.Instances) <= 1
}

// gatewayCanStart and gatewayCanStop tell which controls make sense now;
// Restart is always offered.
func gatewayCanStart(g *api.Gateway) bool {
	s := gatewayState(g)
	return s != gatewayRunning && s != gatewayStarting
}

func gatewayCanStop(g *api.Gateway) bool { return gatewayState(g) != gatewayStopped }

// gatewayInstancesText lists the installed instances.
func gatewayInstancesText(g *api.Gateway) string {
	if len(g.Instances) == 0 {
		return "—"
	}
	return strings.Join(g.Instances, ", ")
}

// gatewayMultiple is the sentence about several installed instances, "" for
// one.
func gatewayMultiple(l *i18n.Locale, g *api.Gateway) string {
	if len(g.Instances) < 2 {
		return ""
	}
	return l.N(gatewayMultipleText, len(g.Instances), "instances", strings.Join(g.Instances, ", "))
}

// gatewayRemedy is the remedy for several instances: the daemon's
// warning's (as it comes), else the guide's.
func (d dashboard) gatewayRemedy(l *i18n.Locale) string {
	for _, w := range d.Status.Warnings {
		if w.Code == gatewayMultipleWarning && w.Remedy != "" {
			return w.Remedy
		}
	}
	return l.T(gatewayMultipleRemedy)
}

// hasWarning tells whether the Warnings section lists the code.
func (d dashboard) hasWarning(code string) bool {
	for _, w := range d.Status.Warnings {
		if w.Code == code {
			return true
		}
	}
	return false
}

// gatewayStatusURL is the link to the gateway's status page: through the
// started tunnel of its REST interface (its public URL), else the address
// the daemon gives (on the host). public tells which; ok is false without
// a usable address.
func (d dashboard) gatewayStatusURL() (u templ.SafeURL, public, ok bool) {
	for _, t := range d.Status.Tunnels {
		if t.ID != gatewayTunnelID || t.Status != api.TunnelStarted {
			continue
		}
		if pu, err := url.Parse(t.PublicURL); err == nil && (pu.Scheme == "https" || pu.Scheme == "http") && pu.Host != "" {
			pu.Path = strings.TrimSuffix(pu.Path, "/") + gatewayStatusPath
			pu.RawPath, pu.RawQuery, pu.Fragment = "", "", ""
			return templ.SafeURL(pu.String()), true, true
		}
	}
	if g := d.gateway(); g != nil {
		if su, ok := httpURL(g.StatusURL); ok {
			return su, false, true
		}
	}
	return "", false, false
}

// gatewayHome is the main page at the gateway section.
func gatewayHome(rc *reqCtx) string { return rc.home() + "#gateway" }

// handleGatewayLive answers the gateway section alone, as it is now: the
// live script fetches it while the gateway starts.
func (s *server) handleGatewayLive(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	st, err := s.client.Status(r.Context())
	if err != nil {
		http.Error(w, lc(r.Context()).Text(daemonMessage(err)), http.StatusServiceUnavailable)
		return
	}
	d := dashboard{Status: st, Loc: s.loc}
	if d.gateway() == nil {
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusNoContent) // no section: the script reloads the page
		return
	}
	p := page{Title: lc(r.Context()).T("CloudLink Gateway Integration"), Prefix: rc.prefix, User: rc.user, CSRF: rc.csrf, Debug: rc.debug}
	s.render(w, r, http.StatusOK, gatewaySection(p, d))
}

func (s *server) handleGatewayStart(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	s.controlGateway(w, r, rc, api.RouteGatewayStart, "start")
}

func (s *server) handleGatewayStop(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	s.controlGateway(w, r, rc, api.RouteGatewayStop, "stop")
}

func (s *server) handleGatewayRestart(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	s.controlGateway(w, r, rc, api.RouteGatewayRestart, "restart")
}

// controlGateway starts, stops or restarts the gateway and goes back to
// its section with a message.
func (s *server) controlGateway(w http.ResponseWriter, r *http.Request, rc *reqCtx, route, action string) {
	g, err := s.client.GatewayAction(r.Context(), route)
	f := gatewayFlash(lc(r.Context()), action, g)
	if err != nil {
		s.log.Warn("controlling the CloudLink Gateway", "action", action, "user", rc.user, "err", err)
		f = flash{Kind: "error", Text: daemonMessage(err)}
	} else {
		s.log.Info("controlled the CloudLink Gateway", "action", action, "user", rc.user, "status", g.Status)
	}
	s.sessions.addFlash(rc.sid, f)
	http.Redirect(w, r, gatewayHome(rc), http.StatusSeeOther)
}

// gatewayFlash is the message after a control the daemon carried out:
// what it asked for and the state the gateway is in now.
func gatewayFlash(l *i18n.Locale, action string, g api.Gateway) flash {
	state := gatewayState(&g)
	unhealthy := state == gatewayRunning && !g.Healthy
	switch {
	case action == "stop" && state == gatewayStopped:
		return flash{Kind: "success", Text: l.T("The CloudLink Gateway is stopped.")}
	case action == "start" && state == gatewayRunning && unhealthy:
		return flash{Kind: "success", Text: l.T("The CloudLink Gateway is started and running; its REST interface does not answer its health check yet.")}
	case action == "start" && state == gatewayRunning:
		return flash{Kind: "success", Text: l.T("The CloudLink Gateway is started and running.")}
	case action == "restart" && state == gatewayRunning && unhealthy:
		return flash{Kind: "success", Text: l.T("The CloudLink Gateway is restarted and running; its REST interface does not answer its health check yet.")}
	case action == "restart" && state == gatewayRunning:
		return flash{Kind: "success", Text: l.T("The CloudLink Gateway is restarted and running.")}
	case action != "stop" && state == gatewayStarting:
		return flash{Kind: "info", Text: l.T("The CloudLink Gateway is starting.")}
	}
	stateText := gatewayStateText(l, &g)
	var text string
	switch action {
	case "start":
		text = l.T("The CloudLink Gateway was started, but it is {state} now", "state", stateText)
	case "stop":
		text = l.T("The CloudLink Gateway was stopped, but it is {state} now", "state", stateText)
	default:
		text = l.T("The CloudLink Gateway was restarted, but it is {state} now", "state", stateText)
	}
	if g.Error != "" {
		return flash{Kind: "error", Text: withReason(l, text, g.Error)}
	}
	return flash{Kind: "error", Text: withReason(l, text, "")}
}
