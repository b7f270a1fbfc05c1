package ui

import (
	"context"
	"net/http"
	"net/url"

	"github.com/a-h/templ"

	"github.com/cloudlink/cld/agent/api"
	"github.com/cloudlink/cld/ui/i18n"
)

// validTunnelID accepts what may name a tunnel in a dashboard path: the
// daemon decides whether it exists.
func validTunnelID(id string) bool {
	if id == "" || len(id) > 128 {
		return false
	}
	for _, c := range id {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

// tunnelsHome is the main page at the Tunnels section.
func tunnelsHome(rc *reqCtx) string { return rc.home() + "#tunnels" }

// tunnelLabel names a tunnel in a message: "Server Manager" (MSL).
func tunnelLabel(l *i18n.Locale, t api.Tunnel) string {
	if t.Component == "" {
		return l.T("“{name}”", "name", t.Name)
	}
	return l.T("“{name}” ({component})", "name", t.Name, "component", t.Component)
}

// findTunnel returns the tunnel with that ID in a list.
func findTunnel(ts api.Tunnels, id string) (api.Tunnel, bool) {
	for _, t := range ts.Tunnels {
		if t.ID == id {
			return t, true
		}
	}
	return api.Tunnel{}, false
}

func (s *server) handleTunnelStart(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	s.controlTunnel(w, r, rc, true)
}

func (s *server) handleTunnelStop(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	s.controlTunnel(w, r, rc, false)
}

// controlTunnel starts or stops the tunnel named in the path and goes back
// to the Tunnels section with a message.
func (s *server) controlTunnel(w http.ResponseWriter, r *http.Request, rc *reqCtx, start bool) {
	id := rc.tunnelID
	if !validTunnelID(id) {
		l := lc(r.Context())
		s.errorPage(w, r, rc, http.StatusNotFound, l.T("No such tunnel"),
			l.T("There is no tunnel with this name. Go back to the dashboard and use the Start and Stop buttons of the Tunnels section."))
		return
	}
	call, verb := s.client.StopTunnel, "stopping"
	if start {
		call, verb = s.client.StartTunnel, "starting"
	}
	ts, err := call(r.Context(), id)
	if err != nil {
		s.log.Warn(verb+" a tunnel", "tunnel", id, "err", err)
		s.sessions.addFlash(rc.sid, flash{Kind: "error", Text: daemonMessage(err)})
		http.Redirect(w, r, tunnelsHome(rc), http.StatusSeeOther)
		return
	}
	t, ok := findTunnel(ts, id)
	if !ok {
		t = api.Tunnel{ID: id, Name: id}
	}
	s.log.Info(verb+" a tunnel", "tunnel", id, "user", rc.user, "status", t.Status)
	s.sessions.addFlash(rc.sid, tunnelFlash(lc(r.Context()), t, start))
	http.Redirect(w, r, tunnelsHome(rc), http.StatusSeeOther)
}

// tunnelFlash is the message after starting or stopping one tunnel.
func tunnelFlash(l *i18n.Locale, t api.Tunnel, start bool) flash {
	name := tunnelLabel(l, t)
	switch {
	case !start:
		return flash{Kind: "success", Text: l.T("The tunnel {name} is stopped.", "name", name)}
	case t.Status == api.TunnelStarted:
		return flash{Kind: "success", Text: l.T("The tunnel {name} is started.", "name", name)}
	case t.Status == api.TunnelError:
		if t.Reason != "" {
			return flash{Kind: "error", Text: l.T("The tunnel {name} could not start: {reason}. The daemon keeps trying while it is switched on.", "name", name, "reason", t.Reason)}
		}
		return flash{Kind: "error", Text: l.T("The tunnel {name} could not start. The daemon keeps trying while it is switched on.", "name", name)}
	default:
		return flash{Kind: "info", Text: l.T("The tunnel {name} is starting.", "name", name)}
	}
}

func (s *server) handleTunnelsStartAll(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	s.controlAll(w, r, rc, s.client.StartAllTunnels, "starting all tunnels", lc(r.Context()).T("Starting all tunnels."))
}

func (s *server) handleTunnelsStopAll(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	s.controlAll(w, r, rc, s.client.StopAllTunnels, "stopping all tunnels", lc(r.Context()).T("All tunnels are stopped."))
}

func (s *server) controlAll(w http.ResponseWriter, r *http.Request, rc *reqCtx,
	call func(context.Context) (api.Tunnels, error), what, done string) {
	if _, err := call(r.Context()); err != nil {
		s.log.Warn(what, "err", err)
		s.sessions.addFlash(rc.sid, flash{Kind: "error", Text: daemonMessage(err)})
	} else {
		s.log.Info(what, "user", rc.user)
		s.sessions.addFlash(rc.sid, flash{Kind: "success", Text: done})
	}
	http.Redirect(w, r, tunnelsHome(rc), http.StatusSeeOther)
}

// tunnelAction is the prefix-aware URL of a tunnel's start or stop form.
func (p page) tunnelAction(id, action string) templ.SafeURL {
	return templ.SafeURL(p.Prefix + "/tunnels/" + url.PathEscape(id) + "/" + action)
}

// tunnelStatusClass styles a tunnel's status (it is also written in words).
func tunnelStatusClass(status string) string {
	switch status {
	case api.TunnelStarted:
		return "status status-started"
	case api.TunnelError:
		return "status status-error"
	case api.TunnelStarting:
		return "status status-starting"
	default:
		return "status status-stopped"
	}
}

// tunnelStatusText is a status as shown; an unknown one as the daemon says.
func tunnelStatusText(l *i18n.Locale, status string) string {
	switch status {
	case "", api.TunnelStopped:
		return l.T("stopped")
	case api.TunnelStarted:
		return l.T("started")
	case api.TunnelStarting:
		return l.T("starting")
	case api.TunnelError:
		return l.T("error")
	}
	return status
}

// anyStarting reports whether a tunnel is still starting (the page offers a
// refresh).
func (d dashboard) anyStarting() bool {
	for _, t := range d.Status.Tunnels {
		if t.Status == api.TunnelStarting {
			return true
		}
	}
	return false
}

// showTunnels tells whether the page has a Tunnels section: always when
// linked; unlinked only when the host has tunnels (without controls).
func (d dashboard) showTunnels() bool {
	return d.Status.Linked || len(d.Status.Tunnels) > 0
}

// httpURL returns s as a link target when it is an absolute http(s) URL.
func httpURL(s string) (templ.SafeURL, bool) {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return "", false
	}
	return templ.SafeURL(u.String()), true
}

// readAudit reads the access audit for the debug view (nil when not
// wanted or when it cannot be read).
func (s *server) readAudit(ctx context.Context, want bool) *api.Audit {
	if !want {
		return nil
	}
	a, err := s.client.TunnelAudit(ctx)
	if err != nil {
		s.log.Warn("reading the access audit", "err", err)
		return nil
	}
	return &a
}

// edgeState describes the session to the tunnel edge in the debug view.
func edgeState(l *i18n.Locale, ts *api.Tunnels) string {
	if ts.Connected {
		return l.T("connected")
	}
	return l.T("not connected")
}

// tunnelsLiveEvery is how often (ms) live.js fetches the Tunnels section
// again while linked.
const tunnelsLiveEvery = "3000"

// handleTunnelsLive is the Tunnels section alone, for static/live.js; 204
// when the system is no longer linked (the script reloads the page, which
// then shows the link's end).
func (s *server) handleTunnelsLive(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	st, err := s.client.Status(r.Context())
	if err != nil {
		http.Error(w, lc(r.Context()).Text(daemonMessage(err)), http.StatusServiceUnavailable)
		return
	}
	if !st.Linked || len(st.Tunnels) == 0 {
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusNoContent)
		return
	}
	var edge *api.Tunnels
	if rc.debug {
		if ts, err := s.client.Tunnels(r.Context()); err == nil {
			edge = &ts
		}
	}
	p := page{Title: lc(r.Context()).T("Tunnels"), Prefix: rc.prefix, User: rc.user, CSRF: rc.csrf, Debug: rc.debug}
	s.render(w, r, http.StatusOK, tunnelsSection(p, dashboard{Status: st, Loc: s.loc, Edge: edge, Audit: s.readAudit(r.Context(), rc.debug)}))
}

// warningsLiveEvery is how often (ms) live.js fetches the Warnings section
// again.
const warningsLiveEvery = "5000"

// boolParam is "true" or "false".
func boolParam(b bool) string {
	if b {
		return "true"
	}
	return "false"
}

// handleWarningsLive is the Warnings section alone, for static/live.js;
// 204 when the link's state is no longer the page's (?linked=): the
// script reloads the page.
func (s *server) handleWarningsLive(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	st, err := s.client.Status(r.Context())
	if err != nil {
		http.Error(w, lc(r.Context()).Text(daemonMessage(err)), http.StatusServiceUnavailable)
		return
	}
	if r.URL.Query().Get("linked") != boolParam(st.Linked) {
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusNoContent)
		return
	}
	p := page{Title: lc(r.Context()).T("Warnings"), Prefix: rc.prefix, User: rc.user, CSRF: rc.csrf, Debug: rc.debug}
	s.render(w, r, http.StatusOK, warningsSection(p, dashboard{Status: st, Loc: s.loc}))
}
