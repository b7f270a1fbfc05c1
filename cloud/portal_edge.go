package cloud

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/cloudlink/cld/cloud/store"
)

// handlePortalEdge is where the tunnel edge sends a browser without an edge
// session (GET /portal/edge?host=<public host>&return=<path>). A signed-in
// member of the account that owns the tunnel's system is sent back to the
// edge with a one-time ticket; anyone else signs in first (POST, the same
// sign-in form as the portal's) or is refused.
func (s *Server) handlePortalEdge(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodPost {
		r.Body = http.MaxBytesReader(w, r.Body, maxBodyBytes)
		if err := r.ParseForm(); err != nil {
			s.errorPage(w, r, http.StatusBadRequest, "Sign-in failed", "The sign-in form could not be read. Open the tunnel's address again.")
			return
		}
	}
	host, ret := r.FormValue("host"), r.FormValue("return")
	if ret == "" {
		ret = "/"
	}
	hostname, id, region, kind := s.edge.parseHost(host)
	if kind != hostTunnel || !s.validEdgePort(host) {
		s.errorPage(w, r, http.StatusBadRequest, "Not a tunnel address",
			fmt.Sprintf("%q is not the address of a tunnel of this CloudLink edge. Open the tunnel from the systems page.", clip(host, 100)))
		return
	}
	if !safeReturn(ret) {
		s.errorPage(w, r, http.StatusBadRequest, "Bad tunnel link",
			"The return address of this link is not a path on the tunnel's site. Open the tunnel's address again.")
		return
	}
	rt, found, err := s.edge.lookupRoute(r.Context(), id)
	if err != nil {
		s.log.Error("read tunnel failed", "err", err)
		s.errorPage(w, r, http.StatusInternalServerError, "Portal unavailable", "The cloud could not read the tunnel. Try again later.")
		return
	}
	if !found || rt.system.Revoked() || rt.system.Account.Region != region {
		s.errorPage(w, r, http.StatusNotFound, "No tunnel at this address",
			fmt.Sprintf("There is no tunnel at %s. Open the tunnel from the systems page.", hostname))
		return
	}
	// The canonical public host (with the edge's own port) is where the
	// ticket goes; a host with another port was refused above.
	public := s.edge.publicHost(rt.system.Account.Region, rt.tunnel.UUID)
	if r.Method == http.MethodGet {
		p, ok, err := s.portalSession(r)
		if err != nil {
			s.log.Error("read portal session failed", "err", err)
			s.errorPage(w, r, http.StatusInternalServerError, "Portal unavailable", "The cloud could not read your session. Try again later.")
			return
		}
		if ok {
			s.edgeTicket(w, r, p.user, p.nav(), rt, hostname, public, ret)
			return
		}
		s.render(w, http.StatusOK, "signin.html", s.edgeSignInFlow(rt, host, ret, hostname, public).page)
		return
	}
	s.signIn(w, r, s.edgeSignInFlow(rt, host, ret, hostname, public))
}

// validEdgePort reports whether the host's port (if any) is the public
// listener's, so that a ticket never goes to another port.
func (s *Server) validEdgePort(host string) bool {
	_, port, err := net.SplitHostPort(host)
	if err != nil {
		return !strings.Contains(host, ":") && (s.edge.publicPort() == 443)
	}
	n, err := strconv.Atoi(port)
	return err == nil && n == s.edge.publicPort()
}

// edgeSignInFlow is the sign-in on the way to a tunnel: it starts a portal
// session and continues to the tunnel.
func (s *Server) edgeSignInFlow(rt route, host, ret, hostname, public string) flow {
	return flow{
		page: pageData{Title: "Sign in", Heading: "Sign in to open a tunnel", Narrow: true,
			Lead: "Sign in with your CloudLink account to reach this system's management interface.",
			Form: &signInForm{Action: "/portal/edge", StartOver: "/portal/edge?" + url.Values{"host": {host}, "return": {ret}}.Encode(),
				Hidden: []hiddenField{{"host", host}, {"return", ret}}}},
		binding:       "edge " + hostname,
		preferAccount: rt.system.Account.ID,
		done: func(w http.ResponseWriter, r *http.Request, user store.User, m store.Membership) {
			if !s.createPortalSession(w, r, user, m) {
				return
			}
			ms, err := s.store.Memberships(r.Context(), user.ID)
			if err != nil {
				s.log.Error("read memberships failed", "err", err)
			}
			nav := &portalNav{Email: user.Email, Account: m.Account, IsAdmin: m.IsAdmin(), Memberships: ms}
			s.edgeTicket(w, r, user, nav, rt, hostname, public, ret)
		},
	}
}

// edgeTicket checks that the user is a member of the account that owns the
// tunnel's system and sends the browser to the edge with a one-time ticket.
func (s *Server) edgeTicket(w http.ResponseWriter, r *http.Request, user store.User, nav *portalNav, rt route, hostname, public, ret string) {
	ctx := r.Context()
	acct := rt.system.Account
	m, err := s.store.Membership(ctx, user.ID, acct.ID)
	if errors.Is(err, store.ErrNotFound) {
		s.log.Info("tunnel access refused", "user_id", user.ID, "system_id", rt.system.ID)
		s.render(w, http.StatusForbidden, "error.html", pageData{Title: "Not allowed", Heading: "Not allowed", Narrow: true, Nav: nav,
			Error: fmt.Sprintf("%s is not a member of CloudLink account %d, which this tunnel belongs to. Ask an administrator of that account to add you, or sign in as someone else.", user.Email, acct.ID)})
		return
	}
	if err != nil {
		s.log.Error("read membership failed", "err", err)
		s.errorPage(w, r, http.StatusInternalServerError, "Portal unavailable", "The cloud could not check your access. Try again later.")
		return
	}
	ticket := newSecret(32)
	now := s.now()
	if err := s.store.InsertSession(ctx, store.Session{Hash: hashSecret(ticket), Kind: store.SessionEdgeTicket, UserID: m.UserID,
		AccountID: acct.ID, Binding: hostname, CreatedAt: now, ExpiresAt: now.Add(edgeTicketTTL)}); err != nil {
		s.log.Error("store edge ticket failed", "err", err)
		s.errorPage(w, r, http.StatusInternalServerError, "Portal unavailable", "The cloud could not complete the sign-in. Try again later.")
		return
	}
	s.maybePurge(ctx)
	http.Redirect(w, r, "https://"+public+edgeAuthPath+"?"+url.Values{"ticket": {ticket}, "return": {ret}}.Encode(), http.StatusFound)
}
