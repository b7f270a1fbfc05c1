package cloud

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"

	"github.com/cloudlink/cld/cloud/store"
)

// sessionCookie names the portal's session cookie.
const sessionCookie = "cld_portal"

// portalCtx is a signed-in portal request.
type portalCtx struct {
	session store.Session
	user    store.User
	member  store.Membership   // the current account
	members []store.Membership // all the user's accounts
}

func (p portalCtx) nav() *portalNav {
	return &portalNav{Email: p.user.Email, Account: p.member.Account, IsAdmin: p.member.IsAdmin(), Memberships: p.members}
}

// portalSession returns the request's portal session, or ok=false when
// there is none (expired, signed out, or no account left).
func (s *Server) portalSession(r *http.Request) (p portalCtx, ok bool, err error) {
	c, cerr := r.Cookie(sessionCookie)
	if cerr != nil || c.Value == "" {
		return p, false, nil
	}
	ctx := r.Context()
	p.session, err = s.store.Session(ctx, hashSecret(c.Value), store.SessionPortal, s.now())
	if errors.Is(err, store.ErrNotFound) {
		return p, false, nil
	}
	if err != nil {
		return p, false, err
	}
	if p.user, err = s.store.UserByID(ctx, p.session.UserID); errors.Is(err, store.ErrNotFound) {
		return p, false, nil
	} else if err != nil {
		return p, false, err
	}
	if p.members, err = s.store.Memberships(ctx, p.user.ID); err != nil {
		return p, false, err
	}
	if len(p.members) == 0 {
		return p, false, nil
	}
	p.member = p.members[0]
	for _, m := range p.members {
		if m.Account.ID == p.session.AccountID {
			p.member = m
		}
	}
	return p, true, nil
}

// requirePortal returns the session, or answers the request (redirect to
// the sign-in page, or an error page) and returns ok=false.
func (s *Server) requirePortal(w http.ResponseWriter, r *http.Request) (portalCtx, bool) {
	p, ok, err := s.portalSession(r)
	if err != nil {
		s.log.Error("read portal session failed", "err", err)
		s.errorPage(w, r, http.StatusInternalServerError, "Portal unavailable", "The cloud could not read your session. Try again later.")
		return p, false
	}
	if !ok {
		http.Redirect(w, r, "/portal/", http.StatusSeeOther)
		return p, false
	}
	return p, true
}

func (s *Server) portalSignInFlow() flow {
	return flow{
		page: pageData{Title: "Sign in", Heading: "Sign in to the CloudLink portal", Narrow: true,
			Lead: "See and manage the systems linked to your CloudLink account.",
			Form: &signInForm{Action: "/portal/signin", StartOver: "/portal/"}},
		binding: "portal",
		done:    s.startPortalSession,
	}
}

func (s *Server) handlePortalHome(w http.ResponseWriter, r *http.Request) {
	if _, ok, _ := s.portalSession(r); ok {
		http.Redirect(w, r, "/portal/systems", http.StatusSeeOther)
		return
	}
	s.render(w, http.StatusOK, "signin.html", s.portalSignInFlow().page)
}

func (s *Server) handlePortalSignIn(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxBodyBytes)
	if err := r.ParseForm(); err != nil {
		s.errorPage(w, r, http.StatusBadRequest, "Sign-in failed", "The sign-in form could not be read. Open the portal again.")
		return
	}
	s.signIn(w, r, s.portalSignInFlow())
}

func (s *Server) startPortalSession(w http.ResponseWriter, r *http.Request, user store.User, m store.Membership) {
	if s.createPortalSession(w, r, user, m) {
		http.Redirect(w, r, "/portal/systems", http.StatusSeeOther)
	}
}

// createPortalSession stores a portal session and sets its cookie; on
// failure it answers the request and returns false.
func (s *Server) createPortalSession(w http.ResponseWriter, r *http.Request, user store.User, m store.Membership) bool {
	id := newSecret(32)
	now := s.now()
	if err := s.store.InsertSession(r.Context(), store.Session{Hash: hashSecret(id), Kind: store.SessionPortal, UserID: user.ID,
		AccountID: m.Account.ID, CreatedAt: now, ExpiresAt: now.Add(s.cfg.SessionTTL)}); err != nil {
		s.log.Error("store portal session failed", "err", err)
		s.errorPage(w, r, http.StatusInternalServerError, "Sign-in failed", "The cloud could not complete the sign-in. Try again later.")
		return false
	}
	s.log.Info("portal sign-in", "user_id", user.ID, "account_id", m.Account.ID)
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: id, Path: "/portal/", MaxAge: int(s.cfg.SessionTTL.Seconds()),
		HttpOnly: true, Secure: true, SameSite: http.SameSiteLaxMode})
	return true
}

func (s *Server) handlePortalSignOut(w http.ResponseWriter, r *http.Request) {
	if c, err := r.Cookie(sessionCookie); err == nil && c.Value != "" {
		ctx := r.Context()
		h := hashSecret(c.Value)
		// Signing out of the portal signs the user out of the tunnels too.
		if se, err := s.store.Session(ctx, h, store.SessionPortal, s.now()); err == nil {
			if err := s.store.DeleteUserSessions(ctx, se.UserID, store.SessionEdge); err != nil {
				s.log.Error("delete edge sessions failed", "err", err)
			}
			s.edge.sessionsChanged()
		}
		if err := s.store.DeleteSession(ctx, h); err != nil {
			s.log.Error("delete portal session failed", "err", err)
		}
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/portal/", MaxAge: -1,
		HttpOnly: true, Secure: true, SameSite: http.SameSiteLaxMode})
	http.Redirect(w, r, "/portal/", http.StatusSeeOther)
}

func (s *Server) handlePortalAccount(w http.ResponseWriter, r *http.Request) {
	p, ok := s.requirePortal(w, r)
	if !ok {
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxBodyBytes)
	if err := r.ParseForm(); err != nil {
		s.errorPage(w, r, http.StatusBadRequest, "Switch failed", "The form could not be read. Open the portal again.")
		return
	}
	id, err := parseAccountID(r.PostForm.Get("account_id"))
	if err == nil {
		err = fmt.Errorf("you are not a member of account %d", id)
		for _, m := range p.members {
			if m.Account.ID == id {
				err = nil
			}
		}
	} else {
		err = fmt.Errorf("the account number %s", err)
	}
	if err != nil {
		s.render(w, http.StatusBadRequest, "error.html", pageData{Title: "Switch failed", Heading: "Switch failed",
			Error: "Cannot switch: " + err.Error() + " Choose one of your accounts.", Narrow: true, Nav: p.nav()})
		return
	}
	if err := s.store.SetSessionAccount(r.Context(), p.session.Hash, id); err != nil {
		s.log.Error("switch account failed", "err", err)
		s.errorPage(w, r, http.StatusInternalServerError, "Switch failed", "The cloud could not switch the account. Try again later.")
		return
	}
	http.Redirect(w, r, "/portal/systems", http.StatusSeeOther)
}

func (s *Server) handlePortalSystems(w http.ResponseWriter, r *http.Request) {
	p, ok := s.requirePortal(w, r)
	if !ok {
		return
	}
	systems, err := s.store.Systems(r.Context(), p.member.Account.ID)
	if err != nil {
		s.log.Error("list systems failed", "err", err)
		s.errorPage(w, r, http.StatusInternalServerError, "Portal unavailable", "The cloud could not list the systems. Try again later.")
		return
	}
	tunnels, err := s.store.AccountTunnels(r.Context(), p.member.Account.ID)
	if err != nil {
		s.log.Error("list tunnels failed", "err", err)
		s.errorPage(w, r, http.StatusInternalServerError, "Portal unavailable", "The cloud could not list the tunnels. Try again later.")
		return
	}
	reports, err := s.store.LatestReports(r.Context(), p.member.Account.ID)
	if err != nil {
		s.log.Error("list inventory reports failed", "err", err)
		s.errorPage(w, r, http.StatusInternalServerError, "Portal unavailable", "The cloud could not read the inventory reports. Try again later.")
		return
	}
	d := pageData{Title: "Systems", Nav: p.nav(), Systems: systems, Wide: true}
	for _, sys := range systems {
		row := s.systemRow(sys, tunnels[sys.ID])
		if rep, ok := reports[sys.ID]; ok {
			row.Report = &rep
		}
		d.Rows = append(d.Rows, row)
	}
	if id := r.URL.Query().Get("removed"); id != "" {
		for _, sys := range systems {
			if sys.ID == id {
				d.Notice = fmt.Sprintf("%s was removed from the account. Its device credentials no longer work.", sys.Hostname)
			}
		}
	}
	s.render(w, http.StatusOK, "systems.html", d)
}

func (s *Server) handlePortalRemove(w http.ResponseWriter, r *http.Request) {
	p, ok := s.requirePortal(w, r)
	if !ok {
		return
	}
	ctx := r.Context()
	sys, err := s.store.SystemByID(ctx, r.PathValue("id"))
	if errors.Is(err, store.ErrNotFound) || (err == nil && sys.Account.ID != p.member.Account.ID) {
		s.render(w, http.StatusNotFound, "error.html", pageData{Title: "No such system", Heading: "No such system", Narrow: true, Nav: p.nav(),
			Error: fmt.Sprintf("Account %d has no system %s.", p.member.Account.ID, r.PathValue("id"))})
		return
	}
	if err != nil {
		s.log.Error("read system failed", "err", err)
		s.errorPage(w, r, http.StatusInternalServerError, "Portal unavailable", "The cloud could not read the system. Try again later.")
		return
	}
	if !p.member.IsAdmin() {
		s.render(w, http.StatusForbidden, "error.html", pageData{Title: "Not allowed", Heading: "Not allowed", Narrow: true, Nav: p.nav(),
			Error: fmt.Sprintf("Only an administrator of account %d (%s) can remove systems.", p.member.Account.ID, p.member.Account.Name)})
		return
	}
	if r.Method == http.MethodGet {
		if sys.Revoked() {
			http.Redirect(w, r, "/portal/systems", http.StatusSeeOther)
			return
		}
		s.render(w, http.StatusOK, "remove.html", pageData{Title: "Remove system", Nav: p.nav(), System: &sys})
		return
	}
	if _, err := s.RevokeSystem(ctx, sys.ID, p.user.Email); err != nil {
		s.log.Error("remove system failed", "err", err)
		s.errorPage(w, r, http.StatusInternalServerError, "Remove failed", "The cloud could not remove the system. Try again later.")
		return
	}
	http.Redirect(w, r, "/portal/systems?"+url.Values{"removed": {sys.ID}}.Encode(), http.StatusSeeOther)
}
