package ui

import (
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"net/url"
	"path"
	"runtime"
	"slices"
	"strconv"

	"github.com/cloudlink/cld/agent/api"
	"github.com/cloudlink/cld/agent/build"
	"github.com/cloudlink/cld/ui/i18n"
	"github.com/cloudlink/cld/ui/licenses"
)

//go:embed static
var staticFS embed.FS

// serveStatic serves the embedded style sheet (and any other file under
// static/); it is public so that the sign-in page is styled.
func (s *server) serveStatic(w http.ResponseWriter, r *http.Request, name string) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, staticLocale(r).T("Method not allowed."), http.StatusMethodNotAllowed)
		return
	}
	name = path.Clean("static/" + name)
	if st, err := fs.Stat(staticFS, name); err != nil || st.IsDir() {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Cache-Control", "public, max-age=3600")
	http.ServeFileFS(w, r, staticFS, name)
}

// staticLocale is the language of an answer about a static file, whose
// request withLanguage leaves without one (it asks the daemon nothing for
// it): the language chosen in the page (the cld_lang cookie), else the
// browser's Accept-Language, else English.
func staticLocale(r *http.Request) *i18n.Locale {
	cat := i18n.Default()
	if c, err := r.Cookie(langCookie); err == nil {
		if l, ok := cat.Match(c.Value); ok {
			return l
		}
	}
	return cat.Choose(r.Header.Get("Accept-Language"))
}

// handleDashboard shows the main page. ?view=debug or ?view=standard
// switches the view and remembers the choice in a cookie.
func (s *server) handleDashboard(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	switch r.URL.Query().Get("view") {
	case "debug", "standard":
		v := r.URL.Query().Get("view")
		rc.debug = v == "debug"
		http.SetCookie(w, &http.Cookie{
			Name: viewCookie, Value: v, Path: rc.cookiePath(), MaxAge: 365 * 24 * 3600,
			HttpOnly: true, Secure: rc.secure(), SameSite: http.SameSiteLaxMode,
		})
	}
	st, err := s.client.Status(r.Context())
	if err != nil {
		s.log.Warn("reading the daemon's status", "err", err)
		s.errorPage(w, r, rc, http.StatusServiceUnavailable, "Daemon not reachable", daemonMessage(err))
		return
	}
	var edge *api.Tunnels
	if rc.debug && st.Linked {
		if ts, err := s.client.Tunnels(r.Context()); err == nil {
			edge = &ts
		} else {
			s.log.Warn("reading the tunnels", "err", err)
		}
	}
	audit := s.readAudit(r.Context(), rc.debug && st.Linked)
	p := s.page(rc, "CloudLink Daemon")
	// A failed link's sentence is already the status's reason, shown in
	// the registration section: do not repeat it as a message.
	p.Flashes = slices.DeleteFunc(p.Flashes, func(f flash) bool { return st.Reason != "" && f.Text == st.Reason })
	s.render(w, r, http.StatusOK, dashboardView(p, dashboard{Status: st, Loc: s.loc, Edge: edge, Audit: audit}))
}

// renderLogin shows the sign-in form with its double-submit token: the
// browser's current one when it has one (so that a second request, e.g. for
// a favicon, does not invalidate a form already shown), else a fresh one.
func (s *server) renderLogin(w http.ResponseWriter, r *http.Request, rc *reqCtx, status int, msg string) {
	tok := ""
	if c, err := r.Cookie(loginCookie); err == nil && validToken(c.Value) {
		tok = c.Value
	} else {
		tok = randomToken()
	}
	http.SetCookie(w, &http.Cookie{
		Name: loginCookie, Value: tok, Path: rc.cookiePath(), MaxAge: 3600,
		HttpOnly: true, Secure: rc.secure(), SameSite: http.SameSiteStrictMode,
	})
	p := page{Title: "Sign in", Prefix: rc.prefix, CSRF: tok}
	if msg != "" {
		p.Flashes = []flash{{Kind: "error", Text: msg}}
	}
	s.render(w, r, status, loginView(p, r.PostFormValue("username")))
}

// signedIn reports whether the request carries a live session.
func (s *server) signedIn(r *http.Request) bool {
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return false
	}
	_, _, ok := s.sessions.touch(c.Value)
	return ok
}

func (s *server) handleLoginForm(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	if s.signedIn(r) {
		redirectHome(w, r, rc)
		return
	}
	msg := ""
	if r.URL.Query().Get("expired") != "" {
		msg = "Your session has ended. Please sign in again."
	}
	s.renderLogin(w, r, rc, http.StatusOK, msg)
}

func (s *server) handleLogin(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	user, pass := r.PostFormValue("username"), r.PostFormValue("password")
	if user == "" || pass == "" {
		s.renderLogin(w, r, rc, http.StatusBadRequest, "Enter your user name and password.")
		return
	}
	err := s.client.DashboardLogin(r.Context(), api.DashboardLogin{Username: user, Password: pass, Client: s.clientAddr(r)})
	if err != nil {
		if e, ok := errors.AsType[*api.Error](err); ok && e.Code == api.CodeUnauthorized {
			s.log.Info("dashboard sign-in refused", "user", user, "remote", r.RemoteAddr)
			s.renderLogin(w, r, rc, http.StatusUnauthorized, "The user name or password is incorrect.")
			return
		}
		if e, ok := errors.AsType[*api.Error](err); ok && e.Code == api.CodeRateLimited {
			s.log.Warn("dashboard sign-in locked out", "user", user, "remote", r.RemoteAddr)
			w.Header().Set("Retry-After", strconv.Itoa(max(1, e.RetryAfter)))
			s.renderLogin(w, r, rc, http.StatusTooManyRequests, e.Message)
			return
		}
		s.log.Warn("dashboard sign-in failed", "err", err)
		s.renderLogin(w, r, rc, http.StatusServiceUnavailable, daemonMessage(err))
		return
	}
	if c, err := r.Cookie(sessionCookie); err == nil {
		s.sessions.delete(c.Value) // a new sign-in gets a new session ID
	}
	id := s.sessions.create(user)
	s.log.Info("dashboard sign-in", "user", user, "remote", r.RemoteAddr)
	http.SetCookie(w, &http.Cookie{
		Name: sessionCookie, Value: id, Path: rc.cookiePath(),
		HttpOnly: true, Secure: rc.secure(), SameSite: http.SameSiteLaxMode,
	})
	http.SetCookie(w, &http.Cookie{Name: loginCookie, Path: rc.cookiePath(), MaxAge: -1})
	redirectHome(w, r, rc)
}

func (s *server) handleLogout(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	s.sessions.delete(rc.sid)
	http.SetCookie(w, &http.Cookie{
		Name: sessionCookie, Path: rc.cookiePath(), MaxAge: -1,
		HttpOnly: true, Secure: rc.secure(), SameSite: http.SameSiteLaxMode,
	})
	http.Redirect(w, r, rc.url("/login"), http.StatusSeeOther)
}

// callbackURL is the absolute URL the cloud sends the browser back to.
func (rc *reqCtx) callbackURL() string {
	return rc.scheme + "://" + rc.host + rc.url("/link/callback")
}

// handleLink starts the browser sign-in: the daemon prepares it and the
// browser goes to the cloud's sign-in page.
func (s *server) handleLink(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	start, err := s.client.BrowserLink(r.Context(), api.BrowserLinkRequest{RedirectURI: rc.callbackURL()})
	if err != nil {
		s.log.Warn("starting the browser link", "err", err)
		s.sessions.addFlash(rc.sid, flash{Kind: "error", Text: daemonMessage(err)})
		redirectHome(w, r, rc)
		return
	}
	u, err := url.Parse(start.AuthorizeURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		s.log.Error("the daemon returned an unusable sign-in URL", "url", start.AuthorizeURL)
		s.sessions.addFlash(rc.sid, flash{Kind: "error", Text: "The daemon returned an unusable sign-in address; check the configured cloud URL."})
		redirectHome(w, r, rc)
		return
	}
	http.Redirect(w, r, u.String(), http.StatusSeeOther)
}

// handleLinkCallback finishes the browser sign-in with what the cloud sent
// back, then shows the dashboard.
func (s *server) handleLinkCallback(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	q := r.URL.Query()
	cb := api.BrowserCallback{
		Code: q.Get("code"), State: q.Get("state"),
		Error: q.Get("error"), ErrorDescription: q.Get("error_description"),
	}
	if cb.Code == "" && cb.Error == "" {
		s.sessions.addFlash(rc.sid, flash{Kind: "error", Text: "The return from the CloudLink sign-in carried neither a result nor an error. Select Link to CloudLink to start again."})
		redirectHome(w, r, rc)
		return
	}
	st, err := s.client.BrowserCallback(r.Context(), cb)
	switch {
	case err != nil:
		s.log.Warn("finishing the browser link", "err", err)
		s.sessions.addFlash(rc.sid, flash{Kind: "error", Text: daemonMessage(err)})
	case st.Linked && st.Account != nil:
		s.sessions.addFlash(rc.sid, flash{Kind: "success", Text: fmt.Sprintf("Linked to the CloudLink account %s (%d).", st.Account.Name, st.Account.ID)})
	case st.Reason != "":
		s.sessions.addFlash(rc.sid, flash{Kind: "error", Text: st.Reason})
	}
	redirectHome(w, r, rc)
}

// handleUnlinkConfirm asks before disconnecting.
func (s *server) handleUnlinkConfirm(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	st, err := s.client.Status(r.Context())
	if err != nil {
		s.errorPage(w, r, rc, http.StatusServiceUnavailable, "Daemon not reachable", daemonMessage(err))
		return
	}
	if !st.Linked {
		s.sessions.addFlash(rc.sid, flash{Kind: "info", Text: "This system is not linked to CloudLink."})
		redirectHome(w, r, rc)
		return
	}
	s.render(w, r, http.StatusOK, unlinkConfirmView(s.page(rc, "Disconnect from CloudLink"), st))
}

func (s *server) handleUnlink(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	st, err := s.client.Unlink(r.Context())
	if err != nil {
		s.log.Warn("unlinking", "err", err)
		s.sessions.addFlash(rc.sid, flash{Kind: "error", Text: daemonMessage(err)})
		redirectHome(w, r, rc)
		return
	}
	msg := "Disconnected from CloudLink. The tunnels are stopped and the local credentials removed."
	if st.PendingRevocation {
		msg += " The cloud could not be told yet; the daemon keeps retrying the revocation."
	}
	s.sessions.addFlash(rc.sid, flash{Kind: "success", Text: msg})
	redirectHome(w, r, rc)
}

func (s *server) handleLicenses(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	s.render(w, r, http.StatusOK, licensesView(s.page(rc, "Licenses"), build.Info().Version, runtime.Version(), licenses.All()))
}

func (s *server) handleTerms(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	s.render(w, r, http.StatusOK, termsView(s.page(rc, "Terms and Conditions")))
}

// handleChecks runs the daemon's prerequisite checks (as `cld doctor` does)
// and shows the findings.
func (s *server) handleChecks(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	d, err := s.client.Doctor(r.Context())
	if err != nil {
		s.log.Warn("running the checks", "err", err)
		s.errorPage(w, r, rc, http.StatusServiceUnavailable, "Daemon not reachable", daemonMessage(err))
		return
	}
	s.render(w, r, http.StatusOK, checksView(s.page(rc, "Prerequisite checks"), d))
}
