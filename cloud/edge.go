package cloud

import (
	"context"
	"crypto"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/cloudlink/cld/cloud/cloudapi"
	"github.com/cloudlink/cld/cloud/pki"
	"github.com/cloudlink/cld/cloud/store"
	"github.com/cloudlink/cld/tunnel"
)

// The tunnel edge's public side.
//
// A public host name is <uuid>.<region>.<edge domain>, where uuid is
// cloudapi.TunnelUUID(system, tunnel) and region is the system's account
// region. The public listener serves TLS with a certificate the cloud's CA
// issues on demand for each such name (all with one key, kept in
// pki.EdgeKeyFile), routes each request by its Host header to the system
// and tunnel, checks the user's edge session, and proxies the request over
// one tunnel stream per connection.
//
// Access: only members of the account that owns the system (ACCOUNT_ADMIN
// or USER) may use its tunnels. A browser without an edge session is sent
// to the portal (GET /portal/edge?host=…&return=…), which signs the user in
// if needed, checks the membership and sends the browser back with a
// one-time ticket (60 s, bound to the host name) to edgeAuthPath; the edge
// exchanges the ticket for a host-only session cookie (edgeCookie, 8 h).

const (
	// edgeCookie names the edge session cookie, set host-only on each public
	// tunnel host name. It is never forwarded to the origin. The __Host-
	// prefix makes browsers refuse any such cookie with a Domain, so that
	// no tunnel's page can set one for the others (a session fixation).
	edgeCookie = "__Host-cld_edge"
	// legacyEdgeCookie is the cookie's name before it had the prefix; it
	// is stripped from requests too.
	legacyEdgeCookie = "cld_edge"
	// edgeAuthPath is where the portal sends the browser with its ticket.
	edgeAuthPath = "/.cld-edge/auth"
	// edgePrefix is reserved for the edge on every public host name.
	edgePrefix = "/.cld-edge/"
	// edgeTicketTTL bounds a ticket's life.
	edgeTicketTTL = 60 * time.Second
	// edgeSessionTTL is the life of an edge session.
	edgeSessionTTL = 8 * time.Hour
	// edgeCertValidity is the validity of a public host name's certificate;
	// it is issued again when less than a day is left.
	edgeCertValidity = 7 * 24 * time.Hour
	// edgeRecheck is how long a route or session read from the store is
	// trusted before it is read again (writes through this server take
	// effect at once).
	edgeRecheck = 5 * time.Second
	// edgeSessionRecheck is the same for edge sessions and memberships.
	edgeSessionRecheck = 30 * time.Second
	// edgeOpenTimeout bounds opening a tunnel stream.
	edgeOpenTimeout = 30 * time.Second
	// edgeFlushInterval is how long a proxied response's bytes may wait in
	// the edge's buffer. Streaming responses (no Content-Length, or
	// text/event-stream) are flushed on every write regardless; a fixed
	// interval keeps a fast small response to one write (a negative one
	// would flush the headers apart from the body).
	edgeFlushInterval = 50 * time.Millisecond
	// maxEdgeCache bounds each in-memory cache; a full cache is cleared.
	maxEdgeCache = 10000
	// maxReturnLen bounds the return path of the sign-in redirects.
	maxReturnLen = 2048
)

// edge is the tunnel edge of a Server: the daemon sessions (tunnel.Edge)
// and the public side.
type edge struct {
	s      *Server
	log    *slog.Logger
	domain string
	tun    *tunnel.Edge
	key    crypto.Signer
	spki   string
	// port is the public listener's port (0 until it listens).
	port atomic.Int32

	// certs are the public names' certificates (edgecert.go); issue makes
	// one (tests replace it).
	certs edgeCerts
	issue func(name string, now time.Time) (tls.Certificate, error)

	routeMu  sync.Mutex
	routes   map[string]routeEntry // by tunnel UUID
	routeGen uint64

	sessMu   sync.Mutex
	sessions map[string]sessionEntry // by session hash
	sessGen  uint64

	connMu sync.Mutex
	conns  map[net.Conn]string // live tunnel sessions' connections → system ID

	// holders are the public connections' tunnel streams (edgestream.go).
	holdersMu sync.Mutex
	holders   map[net.Conn]*streamHolder
	streams   *streamTransport
	proxy     *httputil.ReverseProxy
}

// route is where a public host name leads.
type route struct {
	tunnel store.Tunnel
	system store.System
}

type routeEntry struct {
	r     route
	found bool
	at    time.Time
}

type sessionEntry struct {
	se store.Session
	at time.Time
}

func newEdge(s *Server) (*edge, error) {
	key, err := pki.LoadOrCreateKey(filepath.Join(s.cfg.DataDir, pki.EdgeKeyFile))
	if err != nil {
		return nil, fmt.Errorf("tunnel edge key: %w", err)
	}
	spki, err := pki.SPKIHash(key.Public())
	if err != nil {
		return nil, err
	}
	e := &edge{
		s:        s,
		log:      s.cfg.Logger.With("component", "edge"),
		domain:   s.cfg.EdgeDomain,
		key:      key,
		spki:     spki,
		routes:   map[string]routeEntry{},
		sessions: map[string]sessionEntry{},
		conns:    map[net.Conn]string{},
		holders:  map[net.Conn]*streamHolder{},
	}
	e.issue = func(name string, now time.Time) (tls.Certificate, error) {
		return s.ca.IssueServerCert(key, []string{name}, now, edgeCertValidity)
	}
	e.tun = tunnel.NewEdge(tunnel.EdgeConfig{Authenticate: authenticateTunnel, Logger: e.log})
	e.streams = &streamTransport{e: e}
	e.proxy = &httputil.ReverseProxy{
		Rewrite:        e.rewrite,
		Transport:      e.streams,
		FlushInterval:  edgeFlushInterval,
		BufferPool:     proxyBuffers{},
		ModifyResponse: e.modifyResponse,
		ErrorHandler:   e.proxyError,
		ErrorLog:       slog.NewLogLogger(e.log.Handler(), slog.LevelDebug),
	}
	return e, nil
}

// close ends every tunnel session and kept tunnel stream.
func (e *edge) close() {
	e.closeAllSessions()
	e.tun.Close()
	e.closeHeldStreams()
}

// proxyBuffers pools the proxy's copy buffers.
type proxyBuffers struct{}

var proxyBufPool = sync.Pool{New: func() any { b := make([]byte, 64<<10); return &b }}

func (proxyBuffers) Get() []byte  { return *proxyBufPool.Get().(*[]byte) }
func (proxyBuffers) Put(b []byte) { proxyBufPool.Put(&b) }

// publicPort is the port public URLs name: the public listener's, or the
// configured one before it listens; 0 when there is no public listener.
func (e *edge) publicPort() int {
	if p := e.port.Load(); p > 0 {
		return int(p)
	}
	if _, p, err := net.SplitHostPort(e.s.cfg.EdgeListen); err == nil {
		n, _ := strconv.Atoi(p)
		return n
	}
	return 0
}

// publicHost is a tunnel's public host name, with the port unless 443.
func (e *edge) publicHost(region, id string) string {
	h := id + "." + region + "." + e.domain
	if p := e.publicPort(); p != 443 && p != 0 {
		h += ":" + strconv.Itoa(p)
	}
	return h
}

// publicURL is a tunnel's public URL, or "" when the edge has no public
// listener.
func (e *edge) publicURL(region, id string) string {
	if e.publicPort() == 0 {
		return ""
	}
	return "https://" + e.publicHost(region, id) + "/"
}

// hostKind is what parseHost found.
type hostKind int

const (
	hostTunnel      hostKind = iota // <uuid>.<region>.<domain>
	hostMalformed                   // under the domain, but not a tunnel's name
	hostWrongDomain                 // not under the domain
)

// parseHost reads a Host header or TLS server name: its host name (lower
// case, without port) and, for a tunnel's name, the UUID and region.
func (e *edge) parseHost(hostport string) (hostname, id, region string, kind hostKind) {
	hostname = strings.ToLower(hostport)
	if h, _, err := net.SplitHostPort(hostname); err == nil {
		hostname = h
	}
	hostname = strings.TrimSuffix(hostname, ".")
	rest, ok := strings.CutSuffix(hostname, "."+e.domain)
	if !ok {
		return hostname, "", "", hostWrongDomain
	}
	id, region, ok = strings.Cut(rest, ".")
	if !ok || !regionPattern.MatchString(region) || len(id) != 36 {
		return hostname, "", "", hostMalformed
	}
	if u, err := uuid.Parse(id); err != nil || u.String() != id {
		return hostname, "", "", hostMalformed
	}
	return hostname, id, region, hostTunnel
}

// tlsConfig is the public listener's TLS configuration (HTTP/1.1 only, so
// that WebSockets upgrade as everywhere else).
func (e *edge) tlsConfig() *tls.Config {
	return &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: e.getCertificate, NextProtos: []string{"http/1.1"}}
}

// lookupRoute returns the tunnel with the UUID and its system.
func (e *edge) lookupRoute(ctx context.Context, id string) (route, bool, error) {
	e.routeMu.Lock()
	ent, ok := e.routes[id]
	gen := e.routeGen
	e.routeMu.Unlock()
	if ok && time.Since(ent.at) < edgeRecheck {
		return ent.r, ent.found, nil
	}
	t, sys, err := e.s.store.TunnelByUUID(ctx, id)
	found := err == nil
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return route{}, false, err
	}
	ent = routeEntry{r: route{tunnel: t, system: sys}, found: found, at: time.Now()}
	e.routeMu.Lock()
	if e.routeGen == gen {
		if len(e.routes) >= maxEdgeCache {
			clear(e.routes)
		}
		e.routes[id] = ent
	}
	e.routeMu.Unlock()
	return ent.r, found, nil
}

// tunnelsChanged drops the cached routes (after a tunnel list or a system
// changed) and the kept tunnel streams, so that a stopped tunnel gets no
// more requests.
func (e *edge) tunnelsChanged() {
	e.routeMu.Lock()
	clear(e.routes)
	e.routeGen++
	e.routeMu.Unlock()
	e.streams.gen.Add(1)
	e.closeHeldStreams()
}

// sessionsChanged drops the cached edge sessions (after a sign-out).
func (e *edge) sessionsChanged() {
	e.sessMu.Lock()
	clear(e.sessions)
	e.sessGen++
	e.sessMu.Unlock()
}

// validSession returns the ID of the user whose edge session, carried by
// the request, is for the host name and lets its user reach the route;
// ok is false when the request carries none.
func (e *edge) validSession(r *http.Request, hostname string, rt route) (userID string, ok bool, err error) {
	for _, c := range r.CookiesNamed(edgeCookie) {
		if c.Value == "" || len(c.Value) > 100 {
			continue
		}
		se, found, err := e.session(r.Context(), hashSecret(c.Value))
		if err != nil {
			return "", false, err
		}
		if found && se.Binding == hostname && se.AccountID == rt.system.Account.ID && e.s.now().Before(se.ExpiresAt) {
			return se.UserID, true, nil
		}
	}
	return "", false, nil
}

// session returns the edge session with the hash whose user is still a
// member of its account.
func (e *edge) session(ctx context.Context, hash string) (store.Session, bool, error) {
	e.sessMu.Lock()
	ent, ok := e.sessions[hash]
	gen := e.sessGen
	e.sessMu.Unlock()
	if ok && time.Since(ent.at) < edgeSessionRecheck {
		return ent.se, true, nil
	}
	se, err := e.s.store.Session(ctx, hash, store.SessionEdge, e.s.now())
	if errors.Is(err, store.ErrNotFound) {
		return store.Session{}, false, nil
	}
	if err != nil {
		return store.Session{}, false, err
	}
	if _, err := e.s.store.Membership(ctx, se.UserID, se.AccountID); errors.Is(err, store.ErrNotFound) {
		return store.Session{}, false, nil
	} else if err != nil {
		return store.Session{}, false, err
	}
	e.sessMu.Lock()
	if e.sessGen == gen {
		if len(e.sessions) >= maxEdgeCache {
			clear(e.sessions)
		}
		e.sessions[hash] = sessionEntry{se: se, at: time.Now()}
	}
	e.sessMu.Unlock()
	return se, true, nil
}

// track records a tunnel session's connection; closeSessions closes it.
func (e *edge) track(c net.Conn, systemID string) {
	e.connMu.Lock()
	e.conns[c] = systemID
	e.connMu.Unlock()
}

func (e *edge) untrack(c net.Conn) {
	e.connMu.Lock()
	delete(e.conns, c)
	e.connMu.Unlock()
}

// closeSessions ends the system's tunnel session, telling the agent why,
// and closes any connection of the system still on its way to a session
// (authenticated before the removal, not yet registered). It reports
// whether there was anything to end.
func (e *edge) closeSessions(systemID, reason string) bool {
	ended := e.tun.Disconnect(systemID, reason)
	var pending []net.Conn
	e.connMu.Lock()
	for c, id := range e.conns {
		if id == systemID {
			pending = append(pending, c)
		}
	}
	e.connMu.Unlock()
	if len(pending) == 0 {
		return ended
	}
	closeIfTracked := func() {
		e.connMu.Lock()
		defer e.connMu.Unlock()
		for _, c := range pending {
			if _, ok := e.conns[c]; ok {
				closeNow(c)
				delete(e.conns, c)
			}
		}
	}
	if !ended {
		closeIfTracked()
		return true
	}
	// The ended session's connection goes away by itself once the agent
	// has read why; whatever is left after a moment is closed.
	time.AfterFunc(time.Second, closeIfTracked)
	return true
}

func (e *edge) closeAllSessions() {
	e.connMu.Lock()
	defer e.connMu.Unlock()
	for c := range e.conns {
		closeNow(c)
	}
	clear(e.conns)
}

// closeNow closes a connection without waiting to send a TLS close_notify.
func closeNow(c net.Conn) {
	if tc, ok := c.(*tls.Conn); ok {
		tc.NetConn().Close()
		return
	}
	c.Close()
}

// proxyTarget is the context value that tells the proxy's Rewrite and
// dialer where a request goes.
type proxyTarget struct {
	rt     route
	client string
	user   string // the ID of the signed-in user (validSession)
}

type proxyTargetKey struct{}

// ServeHTTP serves the public listener.
func (e *edge) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hostname, id, region, kind := e.parseHost(r.Host)
	if kind == hostWrongDomain {
		e.page(w, http.StatusMisdirectedRequest, "Not a tunnel address",
			fmt.Sprintf("This tunnel edge serves only addresses of the form https://<id>.<region>.%s; %s is not one.", e.domain, clip(r.Host, 100)),
			"Check the address, or open the tunnel from the systems page of the CloudLink portal.")
		return
	}
	if r.TLS != nil && r.TLS.ServerName != "" && !strings.EqualFold(strings.TrimSuffix(r.TLS.ServerName, "."), hostname) {
		e.page(w, http.StatusMisdirectedRequest, "Wrong address for this connection",
			"The request names another host than the connection was opened for.", "Open the tunnel's address again.")
		return
	}
	rt, found := route{}, false
	if kind == hostTunnel {
		var err error
		if rt, found, err = e.lookupRoute(r.Context(), id); err != nil {
			e.log.Error("read tunnel failed", "err", err)
			e.page(w, http.StatusInternalServerError, "Tunnel edge unavailable", "The tunnel edge could not read the tunnel.", "Try again later.")
			return
		}
	}
	if !found || rt.system.Revoked() || rt.system.Account.Region != region {
		e.page(w, http.StatusNotFound, "No tunnel at this address",
			fmt.Sprintf("There is no tunnel at %s.", hostname),
			"Check the address, or open the tunnel from the systems page of the CloudLink portal.")
		return
	}
	if e.fromOtherTunnel(r, hostname) {
		e.page(w, http.StatusForbidden, "Request from another tunnel refused",
			fmt.Sprintf("This request to %s came from the page of another tunnel (or another site under %s); the edge lets only links to a tunnel's pages through from there.", hostname, e.domain),
			"Open the tunnel's address in the browser.")
		return
	}
	if r.URL.Path == edgeAuthPath {
		e.handleAuth(w, r, hostname, rt)
		return
	}
	user, ok, err := e.validSession(r, hostname, rt)
	if err != nil {
		e.log.Error("read edge session failed", "err", err)
		e.page(w, http.StatusInternalServerError, "Tunnel edge unavailable", "The tunnel edge could not check your sign-in.", "Try again later.")
		return
	}
	if !ok {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			e.page(w, http.StatusUnauthorized, "Sign-in required",
				"This request needs a CloudLink sign-in, and this browser has none for this tunnel.",
				fmt.Sprintf("Open https://%s/ in the browser to sign in with your CloudLink account, then try again.", r.Host))
			return
		}
		ret := r.URL.RequestURI()
		if len(ret) > maxReturnLen || !safeReturn(ret) {
			ret = "/"
		}
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("Referrer-Policy", "no-referrer")
		http.Redirect(w, r, e.s.portalURL()+"/portal/edge?"+url.Values{"host": {r.Host}, "return": {ret}}.Encode(), http.StatusFound)
		return
	}
	if strings.HasPrefix(r.URL.Path, edgePrefix) {
		e.page(w, http.StatusNotFound, "Page not found", fmt.Sprintf("The tunnel edge has no page %s.", clip(r.URL.Path, 100)), "")
		return
	}
	t := rt.tunnel
	if t.Status != cloudapi.TunnelStarted {
		status := t.Status
		if t.Reason != "" {
			status += " (" + t.Reason + ")"
		}
		e.page(w, http.StatusServiceUnavailable, "Tunnel not started",
			fmt.Sprintf("The tunnel %s of %s is %s.", tunnelLabel(t), rt.system.Hostname, status),
			fmt.Sprintf("Start it on the host's CloudLink dashboard (Tunnels), or on the host with: cld tunnel start %s. Then reload this page.", t.ID))
		return
	}
	if !e.tun.Connected(rt.system.ID) {
		e.page(w, http.StatusBadGateway, "Host offline",
			fmt.Sprintf("%s is not connected to the tunnel edge, so its tunnel %s cannot be reached.", rt.system.Hostname, tunnelLabel(t)),
			"Check that the host is running and can reach CloudLink; its tunnels come back by themselves when it reconnects. Then reload this page.")
		return
	}
	r = r.WithContext(context.WithValue(r.Context(), proxyTargetKey{}, &proxyTarget{rt: rt, client: r.RemoteAddr, user: user}))
	if viaReverseProxy(r) {
		e.proxy.ServeHTTP(w, r)
		return
	}
	e.forward(w, r, e.streams)
}

// fromOtherTunnel reports whether a request comes from the page of
// another host under the edge domain (all tunnels share one site, so a
// browser sends their SameSite=Lax cookies along): by Fetch metadata
// (Sec-Fetch-Site: same-site), else by an Origin of another such host. A
// top-level navigation by GET or HEAD (a link, a redirect) goes through.
func (e *edge) fromOtherTunnel(r *http.Request, hostname string) bool {
	if o := r.Header.Get("Origin"); o != "" && o != "null" {
		if u, err := url.Parse(o); err == nil && u.Host != "" {
			if h, _, _, kind := e.parseHost(u.Host); kind != hostWrongDomain && h != hostname {
				return true
			}
		}
	}
	if r.Header.Get("Sec-Fetch-Site") != "same-site" {
		return false
	}
	safe := r.Method == http.MethodGet || r.Method == http.MethodHead
	dest := r.Header.Get("Sec-Fetch-Dest")
	return !(safe && r.Header.Get("Sec-Fetch-Mode") == "navigate" && (dest == "document" || dest == ""))
}

// tunnelLabel names a tunnel in pages: “Component – Name”.
func tunnelLabel(t store.Tunnel) string {
	if t.Component == "" {
		return "“" + t.Name + "”"
	}
	return "“" + t.Component + " – " + t.Name + "”"
}

// page writes one of the edge's own pages.
func (e *edge) page(w http.ResponseWriter, status int, heading, msg, lead string) {
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'none'; base-uri 'none'")
	e.s.render(w, status, "edge.html", pageData{Title: heading, Heading: heading, Error: msg, Lead: lead, Narrow: true})
}

// safeReturn reports whether p is a path on the same host (never a URL
// that leads elsewhere).
func safeReturn(p string) bool {
	if !strings.HasPrefix(p, "/") || strings.HasPrefix(p, "//") || strings.ContainsAny(p, "\\") || len(p) > maxReturnLen {
		return false
	}
	if strings.ContainsFunc(p, func(r rune) bool { return r < 0x21 || r == 0x7f }) {
		return false
	}
	u, err := url.Parse(p)
	return err == nil && u.Scheme == "" && u.Host == "" && u.User == nil
}

// handleAuth exchanges a portal ticket for an edge session cookie.
func (e *edge) handleAuth(w http.ResponseWriter, r *http.Request, hostname string, rt route) {
	// Only a GET signs in: a HEAD (a link previewer, a prefetch) must
	// not use the one-time ticket up.
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", http.MethodGet)
		e.page(w, http.StatusMethodNotAllowed, "Sign-in failed", "This sign-in address takes GET requests only.", "Open the tunnel's address again.")
		return
	}
	q := r.URL.Query()
	ret := q.Get("return")
	if ret == "" {
		ret = "/"
	}
	if !safeReturn(ret) {
		e.page(w, http.StatusBadRequest, "Bad sign-in link", "The return address of this sign-in link is not a path on this site.", "Open the tunnel's address again.")
		return
	}
	ticket := q.Get("ticket")
	expired := func() {
		e.page(w, http.StatusForbidden, "Sign-in link expired",
			"This sign-in link was already used, has expired or is for another address (a link works once, for a minute).",
			"Open the tunnel's address again to sign in.")
	}
	if ticket == "" || len(ticket) > 100 {
		expired()
		return
	}
	ctx := r.Context()
	se, err := e.s.store.ConsumeSession(ctx, hashSecret(ticket), store.SessionEdgeTicket, e.s.now())
	if errors.Is(err, store.ErrNotFound) || (err == nil && (se.Binding != hostname || se.AccountID != rt.system.Account.ID)) {
		expired()
		return
	}
	if err != nil {
		e.log.Error("read edge ticket failed", "err", err)
		e.page(w, http.StatusInternalServerError, "Tunnel edge unavailable", "The tunnel edge could not check your sign-in.", "Try again later.")
		return
	}
	id := newSecret(32)
	now := e.s.now()
	if err := e.s.store.InsertSession(ctx, store.Session{Hash: hashSecret(id), Kind: store.SessionEdge, UserID: se.UserID,
		AccountID: se.AccountID, Binding: hostname, CreatedAt: now, ExpiresAt: now.Add(edgeSessionTTL)}); err != nil {
		e.log.Error("store edge session failed", "err", err)
		e.page(w, http.StatusInternalServerError, "Tunnel edge unavailable", "The tunnel edge could not complete your sign-in.", "Try again later.")
		return
	}
	e.log.Info("tunnel sign-in", "user_id", se.UserID, "system_id", rt.system.ID, "tunnel", rt.tunnel.ID)
	http.SetCookie(w, &http.Cookie{Name: edgeCookie, Value: id, Path: "/", MaxAge: int(edgeSessionTTL.Seconds()),
		HttpOnly: true, Secure: true, SameSite: http.SameSiteLaxMode})
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Referrer-Policy", "no-referrer")
	http.Redirect(w, r, ret, http.StatusFound)
}

// rewrite prepares the request for the origin: the public Host stays (the
// origin builds its links from it), X-Forwarded-* tell the rest, the
// edge's and the portal's cookies are removed. The URL's host names the
// tunnel (streamTransport checks it).
func (e *edge) rewrite(pr *httputil.ProxyRequest) { e.rewriteOut(pr.Out, pr.In) }

// stripCookies removes the edge's and the portal's cookies from a
// request's Cookie headers and keeps the others as they were.
func stripCookies(h http.Header) {
	vals := h.Values("Cookie")
	found := false
	for _, v := range vals {
		// legacyEdgeCookie is part of edgeCookie's name too.
		if strings.Contains(v, legacyEdgeCookie) || strings.Contains(v, sessionCookie) {
			found = true
		}
	}
	if !found {
		return
	}
	var kept []string
	for _, v := range vals {
		for part := range strings.SplitSeq(v, ";") {
			part = strings.TrimSpace(part)
			name, _, _ := strings.Cut(part, "=")
			if name = strings.TrimSpace(name); part == "" || name == edgeCookie || name == legacyEdgeCookie || name == sessionCookie {
				continue
			}
			kept = append(kept, part)
		}
	}
	if len(kept) == 0 {
		h.Del("Cookie")
		return
	}
	h["Cookie"] = []string{strings.Join(kept, "; ")}
}

// modifyResponse makes the origin's answer fit its public address:
// Location headers that name the local origin (a loopback address,
// localhost, or the public host over http) lead to the public host over
// https, and cookies lose their Domain attribute, so that every cookie is
// host-only on the tunnel's own public name (no origin can set cookies
// for other tunnels). A cookie named like the edge's is dropped.
func (e *edge) modifyResponse(res *http.Response) error {
	public := res.Request.Host
	if loc := res.Header.Get("Location"); loc != "" {
		var own []origin
		if pt, _ := res.Request.Context().Value(proxyTargetKey{}).(*proxyTarget); pt != nil {
			own = ownOrigins(pt.rt)
		}
		if nl, ok := rewriteLocation(loc, public, own...); ok {
			res.Header.Set("Location", nl)
		}
	}
	if cs := res.Header["Set-Cookie"]; len(cs) > 0 {
		out := cs[:0]
		for _, c := range cs {
			name, _, _ := strings.Cut(c, "=")
			if n := strings.TrimSpace(name); n == edgeCookie || n == legacyEdgeCookie {
				continue
			}
			out = append(out, stripCookieDomain(c))
		}
		if len(out) == 0 {
			res.Header.Del("Set-Cookie")
		} else {
			res.Header["Set-Cookie"] = out
		}
	}
	e.expireSharedCookies(res)
	return nil
}

// maxExpiredCookies bounds the cookies expireSharedCookies names.
const maxExpiredCookies = 50

// expireSharedCookies: no origin can set a cookie for the region or edge
// domain through the edge (modifyResponse drops Domain), but a tunnel's
// page can from script, and the browser then sends it to every tunnel of
// the region. A page load's answer (a navigation, or HTML to a browser
// without Fetch metadata) therefore expires, at each domain above the
// tunnel's host name up to the edge domain, every cookie the request
// carried; the tunnel's host-only cookies of the same names stay.
func (e *edge) expireSharedCookies(res *http.Response) {
	req := res.Request
	mode := req.Header.Get("Sec-Fetch-Mode")
	ct := res.Header.Get("Content-Type")
	if mode != "navigate" && (mode != "" || !strings.HasPrefix(strings.ToLower(ct), "text/html")) {
		return
	}
	hostname, _, _, kind := e.parseHost(req.Host)
	if kind != hostTunnel {
		return
	}
	var domains []string
	for d := hostname; ; {
		_, rest, ok := strings.Cut(d, ".")
		if !ok || len(rest) < len(e.domain) {
			break
		}
		domains = append(domains, rest)
		d = rest
	}
	seen := map[string]bool{}
	for _, c := range req.Cookies() {
		if seen[c.Name] || strings.HasPrefix(c.Name, "__Host-") || len(seen) >= maxExpiredCookies {
			continue
		}
		seen[c.Name] = true
		for _, d := range domains {
			if v := (&http.Cookie{Name: c.Name, Path: "/", Domain: d, MaxAge: -1}).String(); v != "" {
				res.Header.Add("Set-Cookie", v)
			}
		}
	}
}

// ownOrigins are the addresses under which a tunnel's origin knows
// itself: its local address as the daemon reported it, and the system's
// host name on the same scheme and port.
func ownOrigins(rt route) []origin {
	o, ok := parseOrigin(rt.tunnel.Origin)
	if !ok {
		return nil
	}
	own := []origin{o}
	if h := strings.ToLower(strings.TrimSuffix(rt.system.Hostname, ".")); h != "" && h != o.host {
		own = append(own, origin{scheme: o.scheme, host: h, port: o.port})
	}
	return own
}

// rewriteLocation points an absolute Location at the local origin to the
// public host (https): one that names a loopback address or localhost (any
// port), the public host name, or one of the tunnel's own origins (same
// scheme, host and port; a scheme-relative one matches on host and port).
func rewriteLocation(loc, public string, own ...origin) (string, bool) {
	u, err := url.Parse(loc)
	if err != nil || u.Host == "" {
		return "", false
	}
	if u.Scheme != "" && u.Scheme != "http" && u.Scheme != "https" {
		return "", false
	}
	publicName, _, err := net.SplitHostPort(public)
	if err != nil {
		publicName = public
	}
	h := strings.ToLower(strings.TrimSuffix(u.Hostname(), "."))
	if h != strings.ToLower(publicName) && !isLocalName(h) && !isOwnOrigin(u, h, own) {
		return "", false
	}
	// No user information rides along (a browser would send it to the
	// public name, or show a credential prompt for it).
	u.Scheme, u.Host, u.User = "https", public, nil
	return u.String(), true
}

// isOwnOrigin reports whether u (with host name h) names one of own.
func isOwnOrigin(u *url.URL, h string, own []origin) bool {
	for _, o := range own {
		if h != o.host {
			continue
		}
		scheme := u.Scheme
		if scheme == "" {
			scheme = o.scheme
		}
		port := u.Port()
		if port == "" {
			port = defaultPort(scheme)
		}
		if scheme == o.scheme && port == o.port {
			return true
		}
	}
	return false
}

// isLocalName reports whether a host names the local machine.
func isLocalName(h string) bool {
	if h == "localhost" || h == "localhost.localdomain" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && (ip.IsLoopback() || ip.IsUnspecified())
}

// stripCookieDomain removes a Set-Cookie value's Domain attributes.
func stripCookieDomain(c string) string {
	if !strings.Contains(strings.ToLower(c), "domain") {
		return c
	}
	parts := strings.Split(c, ";")
	out := parts[:1]
	for _, p := range parts[1:] {
		k, _, _ := strings.Cut(p, "=")
		if strings.EqualFold(strings.TrimSpace(k), "domain") {
			continue
		}
		out = append(out, p)
	}
	return strings.Join(out, ";")
}

// proxyError answers a request the proxy could not pass on.
func (e *edge) proxyError(w http.ResponseWriter, r *http.Request, err error) {
	if r.Context().Err() != nil {
		return // the client went away
	}
	pt, _ := r.Context().Value(proxyTargetKey{}).(*proxyTarget)
	if pt == nil {
		e.page(w, http.StatusBadGateway, "Tunnel unavailable", "The tunnel edge could not reach the tunnel.", "Reload this page.")
		return
	}
	t, sys := pt.rt.tunnel, pt.rt.system
	e.log.Warn("tunnel request failed", "system_id", sys.ID, "tunnel", t.ID, "err", err)
	switch {
	case errors.Is(err, tunnel.ErrNotConnected):
		e.page(w, http.StatusBadGateway, "Host offline",
			fmt.Sprintf("%s is not connected to the tunnel edge, so its tunnel %s cannot be reached.", sys.Hostname, tunnelLabel(t)),
			"Check that the host is running and can reach CloudLink; its tunnels come back by themselves when it reconnects. Then reload this page.")
	case errors.Is(err, tunnel.ErrRefused):
		e.page(w, http.StatusBadGateway, "Tunnel refused by the host",
			fmt.Sprintf("%s refused the connection to its tunnel %s: %v.", sys.Hostname, tunnelLabel(t), strings.TrimSuffix(err.Error(), ".")),
			"Check on the host's CloudLink dashboard that the tunnel is started and its management interface is running, then reload this page.")
	default:
		e.page(w, http.StatusBadGateway, "No answer through the tunnel",
			fmt.Sprintf("The management interface behind the tunnel %s of %s did not answer.", tunnelLabel(t), sys.Hostname),
			"Check that the management interface is running on the host, then reload this page.")
	}
}

// newPublicServer returns the public listener's http.Server: no write or
// read timeout (downloads and WebSockets last), a header timeout, HTTP/1.1.
func (e *edge) newPublicServer() *http.Server {
	return &http.Server{
		Handler:           e.s.logRequests(e),
		TLSConfig:         e.tlsConfig(),
		TLSNextProto:      map[string]func(*http.Server, *tls.Conn, http.Handler){},
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    256 << 10,
		ErrorLog:          slog.NewLogLogger(e.log.Handler(), slog.LevelDebug),
		ConnContext:       e.connContext,
		ConnState:         e.connState,
	}
}
