package ui

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	"github.com/a-h/templ"

	"github.com/cloudlink/cld/agent/api"
	"github.com/cloudlink/cld/agent/client"
)

// maxFormBytes bounds the body of a form POST.
const maxFormBytes = 64 << 10

// server is the dashboard's http.Handler.
type server struct {
	client   *client.Client
	basePath string
	trusted  []netip.Prefix
	log      *slog.Logger
	loc      *time.Location
	sessions *sessionStore
	cop      *http.CrossOriginProtection
	routes   map[string]route
	// auth is how users are authenticated; hostSessions caches the host's
	// answers (session mode); csp is the Content-Security-Policy.
	auth         Auth
	hostSessions hostSessionCache
	csp          string
}

// route is one dashboard path: its handlers by method, and whether it is
// reachable without signing in.
type route struct {
	public  bool
	methods map[string]handlerFunc
}

type handlerFunc func(w http.ResponseWriter, r *http.Request, rc *reqCtx)

// reqCtx is what a handler knows about the request beyond http.Request.
type reqCtx struct {
	origin
	sid   string // session ID ("" when not signed in)
	user  string
	csrf  string
	debug bool // debug view chosen (cookie)
	// tunnelID is the {id} of a /tunnels/{id}/… path ("" elsewhere).
	tunnelID string
}

// routeTable lists every page of the dashboard, relative to its prefix.
func (s *server) routeTable() map[string]route {
	return map[string]route{
		"/":              {methods: map[string]handlerFunc{"GET": s.handleDashboard}},
		"/login":         {public: true, methods: map[string]handlerFunc{"GET": s.handleLoginForm, "POST": s.handleLogin}},
		"/logout":        {methods: map[string]handlerFunc{"POST": s.handleLogout}},
		"/link":          {methods: map[string]handlerFunc{"POST": s.handleLink}},
		"/link/callback": {methods: map[string]handlerFunc{"GET": s.handleLinkCallback}},
		"/unlink":        {methods: map[string]handlerFunc{"GET": s.handleUnlinkConfirm, "POST": s.handleUnlink}},
		"/licenses":      {methods: map[string]handlerFunc{"GET": s.handleLicenses}},
		"/terms":         {methods: map[string]handlerFunc{"GET": s.handleTerms}},
		"/checks":        {methods: map[string]handlerFunc{"GET": s.handleChecks}},
		// Inventory (debug view).
		"/inventory/preview": {methods: map[string]handlerFunc{"GET": s.handleInventoryPreview}},
		"/inventory/submit":  {methods: map[string]handlerFunc{"POST": s.handleInventorySubmit}},
		// The daemon's self-update; /update/live is the section alone, for
		// static/live.js.
		"/update/live":     {methods: map[string]handlerFunc{"GET": s.handleUpdateLive}},
		"/update/schedule": {methods: map[string]handlerFunc{"POST": s.handleUpdateSchedule}},
		"/update/pause":    {methods: map[string]handlerFunc{"POST": s.handleUpdatePause}},
		"/update/resume":   {methods: map[string]handlerFunc{"POST": s.handleUpdateResume}},
		"/update/check":    {methods: map[string]handlerFunc{"POST": s.handleUpdateCheck}},
		"/update/now":      {methods: map[string]handlerFunc{"POST": s.handleUpdateNow}},
		// The co-located CloudLink Gateway; /gateway/live is the section
		// alone, for static/live.js.
		"/gateway/live":    {methods: map[string]handlerFunc{"GET": s.handleGatewayLive}},
		"/gateway/start":   {methods: map[string]handlerFunc{"POST": s.handleGatewayStart}},
		"/gateway/stop":    {methods: map[string]handlerFunc{"POST": s.handleGatewayStop}},
		"/gateway/restart": {methods: map[string]handlerFunc{"POST": s.handleGatewayRestart}},
		// Tunnel control; {id} is matched by matchTunnelPath.
		"/tunnels/{id}/start": {methods: map[string]handlerFunc{"POST": s.handleTunnelStart}},
		"/tunnels/{id}/stop":  {methods: map[string]handlerFunc{"POST": s.handleTunnelStop}},
		"/tunnels/live":       {methods: map[string]handlerFunc{"GET": s.handleTunnelsLive}},
		"/warnings/live":      {methods: map[string]handlerFunc{"GET": s.handleWarningsLive}},
		"/tunnels/start-all":  {methods: map[string]handlerFunc{"POST": s.handleTunnelsStartAll}},
		"/tunnels/stop-all":   {methods: map[string]handlerFunc{"POST": s.handleTunnelsStopAll}},
	}
}

// matchTunnelPath matches /tunnels/{id}/start and /tunnels/{id}/stop: it
// returns the route table's key and the tunnel ID.
func matchTunnelPath(p string) (key, id string, ok bool) {
	rest, ok := strings.CutPrefix(p, "/tunnels/")
	if !ok {
		return "", "", false
	}
	id, action, ok := strings.Cut(rest, "/")
	if !ok || id == "" || (action != "start" && action != "stop") {
		return "", "", false
	}
	return "/tunnels/{id}/" + action, id, true
}

// ServeHTTP routes a request: static files, then the sign-in check, then the
// page's handler; POSTs pass the cross-site checks first.
func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rc := &reqCtx{origin: s.originOf(r)}
	r = s.withLanguage(w, r, rc) // the page's language (lang.go)
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v)
			}
			s.log.Error("dashboard handler panicked", "path", r.URL.Path, "panic", v, "stack", string(debug.Stack()))
			s.errorPage(w, r, rc, http.StatusInternalServerError, "Something went wrong",
				"The dashboard hit an internal error. Try again; if it keeps happening, check the daemon's log.")
		}
	}()
	h := w.Header()
	h.Set("Content-Security-Policy", s.csp)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")

	p := stripPrefix(r.URL.Path, rc.prefix)
	if name, ok := strings.CutPrefix(p, "/static/"); ok {
		s.serveStatic(w, r, name)
		return
	}
	if c, err := r.Cookie(viewCookie); err == nil && c.Value == "debug" {
		rc.debug = true
	}
	rt, found := s.routes[p]
	if !found {
		if key, id, ok := matchTunnelPath(p); ok {
			rt, found = s.routes[key]
			rc.tunnelID = id
		}
	}
	if s.auth.Mode != AuthLocal && (p == "/login" || p == "/logout") {
		// The host signs users in and out.
		s.errorPage(w, r, rc, http.StatusNotFound, "Signed in by the host",
			"This dashboard signs you in through the host's management UI; sign in or out there.")
		return
	}
	if !rt.public && s.auth.Mode != AuthLocal {
		user, err := s.hostUser(r)
		if err != nil {
			s.log.Warn("refused a dashboard request: not authenticated by the host", "path", p, "reason", err.Error())
			s.errorPage(w, r, rc, http.StatusUnauthorized, "Sign in through the host",
				"Open the CloudLink dashboard from the host's management UI, which signs you in.")
			return
		}
		rc.user = user
		rc.sid, rc.csrf = s.sessions.forHost(user)
	}
	if !rt.public && rc.sid == "" {
		if c, err := r.Cookie(sessionCookie); err == nil {
			if user, csrf, ok := s.sessions.touch(c.Value); ok {
				rc.sid, rc.user, rc.csrf = c.Value, user, csrf
			}
		}
		if rc.sid == "" {
			target := rc.url("/login")
			if r.Method != http.MethodGet && r.Method != http.MethodHead {
				target += "?expired=1"
			}
			http.Redirect(w, r, target, http.StatusSeeOther)
			return
		}
	}
	if !found {
		s.errorPage(w, r, rc, http.StatusNotFound, "Page not found",
			"There is no dashboard page at this address.")
		return
	}
	method := r.Method
	if method == http.MethodHead {
		method = http.MethodGet
	}
	handle, ok := rt.methods[method]
	if !ok {
		allowed := make([]string, 0, len(rt.methods))
		for m := range rt.methods {
			allowed = append(allowed, m)
		}
		slices.Sort(allowed)
		w.Header().Set("Allow", strings.Join(allowed, ", "))
		s.errorPage(w, r, rc, http.StatusMethodNotAllowed, "Not allowed",
			fmt.Sprintf("This page does not accept %s requests.", r.Method))
		return
	}
	if method == http.MethodPost && !s.checkPost(w, r, rc, rt.public) {
		return
	}
	handle(w, r, rc)
}

// checkPost applies the cross-site request checks to a form POST: the
// browser's fetch metadata / Origin (CrossOriginProtection), then the form's
// token against the session's (or, for the sign-in form, its cookie's).
func (s *server) checkPost(w http.ResponseWriter, r *http.Request, rc *reqCtx, public bool) bool {
	check := r
	if rc.trusted && rc.host != r.Host {
		// Behind a proxy the browser's Origin names the proxy's host.
		check = r.Clone(r.Context())
		check.Host = rc.host
	}
	if err := s.cop.Check(check); err != nil {
		s.log.Warn("refused a cross-site request", "path", r.URL.Path, "origin", r.Header.Get("Origin"))
		s.errorPage(w, r, rc, http.StatusForbidden, "Request refused",
			"This request came from another web site and was refused. Open the dashboard directly and try again.")
		return false
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		s.errorPage(w, r, rc, http.StatusBadRequest, "Bad request",
			"The form could not be read. Go back to the dashboard and try again.")
		return false
	}
	want := rc.csrf
	if public {
		want = ""
		if c, err := r.Cookie(loginCookie); err == nil {
			want = c.Value
		}
	}
	if !tokensEqual(r.PostFormValue("csrf"), want) {
		s.log.Warn("refused a form without a valid token", "path", r.URL.Path)
		if public {
			// The sign-in form's cookie expired or was blocked: show a fresh form.
			s.renderLogin(w, r, rc, http.StatusForbidden, "The sign-in form had expired. Please sign in again.")
			return false
		}
		s.errorPage(w, r, rc, http.StatusForbidden, "Request refused",
			"The form had expired or did not come from this dashboard. Go back to the dashboard, reload it and try again.")
		return false
	}
	return true
}

// page returns the frame data of a page, taking the session's queued messages.
func (s *server) page(rc *reqCtx, title string) page {
	p := page{Title: title, Prefix: rc.prefix, User: rc.user, CSRF: rc.csrf, Debug: rc.debug, HostAuth: s.auth.Mode != AuthLocal}
	if rc.sid != "" {
		p.Flashes = s.sessions.takeFlashes(rc.sid)
	}
	return p
}

// render writes a component as a complete HTML response.
func (s *server) render(w http.ResponseWriter, r *http.Request, status int, c templ.Component) {
	var buf bytes.Buffer
	if err := c.Render(r.Context(), &buf); err != nil {
		s.log.Error("rendering a dashboard page", "path", r.URL.Path, "err", err)
		http.Error(w, lc(r.Context()).T("The dashboard could not render this page."), http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		_, _ = w.Write(buf.Bytes())
	}
}

// errorPage answers with a page that says what went wrong in a sentence.
func (s *server) errorPage(w http.ResponseWriter, r *http.Request, rc *reqCtx, status int, title, msg string) {
	p := page{Title: title, Prefix: rc.prefix, User: rc.user, CSRF: rc.csrf, HostAuth: s.auth.Mode != AuthLocal}
	s.render(w, r, status, errorView(p, status, msg))
}

// redirectHome sends the browser to the main page (303, so a POST becomes GET).
func redirectHome(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	http.Redirect(w, r, rc.home(), http.StatusSeeOther)
}

// daemonMessage is the sentence to show for an error from the daemon.
func daemonMessage(err error) string {
	if e, ok := errors.AsType[*api.Error](err); ok {
		return e.Message
	}
	if errors.Is(err, client.ErrDaemonDown) {
		return "The CloudLink daemon is not reachable. Check that the cld service is running."
	}
	return "The CloudLink daemon could not do this: " + err.Error()
}
