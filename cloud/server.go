// Package cloud is the reference CloudLink platform: an OAuth 2.0
// authorization server (sign-in page, token and revocation endpoints), the
// system registry the daemons link to, a small administration portal, and
// the tunnel edge, served over HTTPS with the cloud's own CA.
//
// The tunnel edge has two sides. Daemons open their tunnel session (package
// tunnel: a WebSocket carrying a yamux session) at cloudapi.PathTunnelConnect
// on the cloud's own listener with their device token, and report their
// tunnels with PUT cloudapi.PathSystemTunnels. The public listener
// (Config.EdgeListen, ServeEdge) publishes each tunnel at
// https://<uuid>.<region>.<Config.EdgeDomain>: TLS with a certificate issued
// on demand for that name, routing by the Host header, sign-in through the
// portal (only members of the system's account get in), and a reverse proxy
// that opens one tunnel stream per connection. See edge.go.
//
// Linked daemons send inventory reports (POST cloudapi.PathSystemInventory,
// see inventory.go); the cloud keeps each system's last ones, and the
// portal's systems page shows the vendor administration portal's table
// from the latest, with a page per system for the full report and its
// history (portal_inventory.go).
//
// The wire contract is package cloudapi. Persistent data lives in package
// store, certificates in package pki. NewTestServer runs the whole cloud in
// process for other packages' tests.
package cloud

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/cloudlink/cld/cloud/cloudapi"
	"github.com/cloudlink/cld/cloud/pki"
	"github.com/cloudlink/cld/cloud/store"
)

// maxBodyBytes limits every request body.
const maxBodyBytes = 64 << 10

// Server is the reference cloud. Create it with New, serve it with Serve or
// ListenAndServe, and Close it when done.
type Server struct {
	cfg     Config
	log     *slog.Logger
	store   *store.Store
	ca      *pki.CA
	cert    tls.Certificate
	handler http.Handler
	pages   *pages

	// dummyHash is compared against when the e-mail is unknown, so that
	// the answer takes as long as for a wrong password.
	dummyHash []byte
	// throttle limits the password checks (throttle.go).
	throttle signInThrottle

	purgeMu   sync.Mutex
	lastPurge time.Time

	edge *edge
	// clk is the cloud's clock (cfg.Clock with the offset); see clock.go.
	clk *clockState
	// listenAddr is the address Serve listens on, for PublicURL's default.
	listenAddr atomic.Pointer[string]
}

// New opens (or creates) the data directory: the store, the CA and the
// server certificate.
func New(ctx context.Context, cfg Config) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("invalid configuration: %w", err)
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("create data directory: %w", err)
	}
	ca, err := pki.LoadOrCreateCA(cfg.DataDir, time.Now())
	if err != nil {
		return nil, err
	}
	cert, err := ca.EnsureServerCert(cfg.DataDir, cfg.Hostnames, time.Now())
	if err != nil {
		return nil, err
	}
	st, err := store.Open(ctx, cfg.DataDir)
	if err != nil {
		return nil, err
	}
	dummy, err := bcrypt.GenerateFromPassword([]byte("not a password"), cfg.BcryptCost)
	if err != nil {
		st.Close()
		return nil, fmt.Errorf("prepare password check: %w", err)
	}
	p, err := loadPages()
	if err != nil {
		st.Close()
		return nil, err
	}
	s := &Server{
		cfg:       cfg,
		log:       cfg.Logger.With("component", "cloud"),
		store:     st,
		ca:        ca,
		cert:      cert,
		pages:     p,
		dummyHash: dummy,
	}
	if err := s.startClock(ctx); err != nil {
		st.Close()
		return nil, err
	}
	if s.edge, err = newEdge(s); err != nil {
		s.stopClock()
		st.Close()
		return nil, err
	}
	s.handler = s.routes()
	return s, nil
}

// Close ends the tunnel sessions, stops reloading the clock offset and
// closes the store. Stop serving first.
func (s *Server) Close() error {
	s.edge.close()
	s.stopClock()
	return s.store.Close()
}

// Store is the server's store (for the admin CLI and tests).
func (s *Server) Store() *store.Store { return s.store }

// Config returns the configuration the server runs with.
func (s *Server) Config() Config { return s.cfg }

// CAFile is the path of the CA certificate (PEM) that clients must trust.
func (s *Server) CAFile() string { return filepath.Join(s.cfg.DataDir, pki.CAFile) }

// CA is the cloud's certificate authority.
func (s *Server) CA() *pki.CA { return s.ca }

// Handler is the HTTP handler of every endpoint (without TLS).
func (s *Server) Handler() http.Handler { return s.handler }

// TLSConfig is the server side TLS configuration.
func (s *Server) TLSConfig() *tls.Config {
	return &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{s.cert},
		NextProtos:   []string{"h2", "http/1.1"},
	}
}

// newHTTPServer returns an http.Server for the handler with sane timeouts.
func (s *Server) newHTTPServer() *http.Server {
	return &http.Server{
		Handler:           s.handler,
		TLSConfig:         s.TLSConfig(),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelInfo),
		// The tunnel endpoint tracks each session's connection, so that
		// removing a system closes its session.
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			return context.WithValue(ctx, connKey{}, c)
		},
	}
}

// setListenAddr records the address the cloud is reached on (for the
// default PublicURL).
func (s *Server) setListenAddr(a net.Addr) {
	u := listenURL(a)
	s.listenAddr.Store(&u)
}

// listenURL is the https URL of a bound address.
func listenURL(a net.Addr) string {
	host, port, err := net.SplitHostPort(a.String())
	if err != nil {
		return "https://" + a.String()
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		host = "localhost"
	}
	return "https://" + net.JoinHostPort(host, port)
}

// portalURL is the cloud's base URL as browsers reach it, without a
// trailing slash.
func (s *Server) portalURL() string {
	if s.cfg.PublicURL != "" {
		return strings.TrimSuffix(s.cfg.PublicURL, "/")
	}
	if u := s.listenAddr.Load(); u != nil {
		return *u
	}
	return "https://" + s.cfg.Listen
}

// ListenAndServe listens on cfg.Listen and serves until ctx ends.
func (s *Server) ListenAndServe(ctx context.Context) error {
	ln, err := net.Listen("tcp", s.cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", s.cfg.Listen, err)
	}
	return s.Serve(ctx, ln)
}

// Serve serves HTTPS on ln until ctx ends, then shuts down gracefully
// (waiting up to cfg.ShutdownTimeout for requests in flight). It closes ln.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	s.setListenAddr(ln.Addr())
	hs := s.newHTTPServer()
	return s.serve(ctx, hs, ln, s.edge.closeAllSessions)
}

// ServeEdge serves the tunnel edge's public HTTPS listener on ln until ctx
// ends, then shuts it down as Serve does. It closes ln. Public URLs name
// ln's port.
func (s *Server) ServeEdge(ctx context.Context, ln net.Listener) error {
	s.setEdgeAddr(ln.Addr())
	return s.serve(ctx, s.edge.newPublicServer(), ln, nil)
}

// setEdgeAddr records the public listener's port for public URLs.
func (s *Server) setEdgeAddr(a net.Addr) {
	if ta, ok := a.(*net.TCPAddr); ok {
		s.edge.port.Store(int32(ta.Port))
	}
}

// serve runs hs on ln until ctx ends; atShutdown (if set) runs once the
// listener is closed, to end hijacked connections.
func (s *Server) serve(ctx context.Context, hs *http.Server, ln net.Listener, atShutdown func()) error {
	errc := make(chan error, 1)
	go func() { errc <- hs.ServeTLS(ln, "", "") }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
	defer cancel()
	if atShutdown != nil {
		hs.RegisterOnShutdown(atShutdown)
	}
	err := hs.Shutdown(sctx)
	if err != nil {
		hs.Close()
	}
	if serr := <-errc; serr != nil && !errors.Is(serr, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", serr)
	}
	if err != nil {
		return fmt.Errorf("shut down: %w", err)
	}
	return nil
}

func (s *Server) now() time.Time { return s.cfg.Clock.Now().UTC() }

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	csrf := http.NewCrossOriginProtection()
	csrf.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.errorPage(w, r, http.StatusForbidden, "Request refused",
			"This form was sent from another site. Open the page again from this address and retry.")
	}))
	html := func(h http.HandlerFunc) http.Handler { return htmlHeaders(csrf.Handler(h)) }

	mux.Handle("GET /{$}", http.RedirectHandler("/portal/", http.StatusFound))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET "+cloudapi.PathCACert, s.handleCACert)
	mux.HandleFunc(cloudapi.PathTime, s.handleTime)

	mux.Handle("GET "+cloudapi.PathAuthorize, html(s.handleAuthorize))
	mux.Handle("POST "+cloudapi.PathAuthorize, html(s.handleAuthorize))
	mux.HandleFunc(cloudapi.PathToken, s.handleToken)
	mux.HandleFunc(cloudapi.PathRevoke, s.handleRevoke)
	mux.HandleFunc(cloudapi.PathSystems, s.handleSystems)
	mux.HandleFunc(cloudapi.PathSystemSelf, s.handleSystemSelf)
	mux.HandleFunc(cloudapi.PathSystemTunnels, s.handleSystemTunnels)
	mux.HandleFunc(cloudapi.PathSystemInventory, s.handleSystemInventory)
	mux.HandleFunc(cloudapi.PathSystemDirectory, s.handleSystemDirectory)
	mux.HandleFunc(cloudapi.PathSystemRelease, s.handleSystemRelease)
	mux.HandleFunc(cloudapi.PathReleaseBinary, s.handleReleaseBinary)
	mux.HandleFunc(cloudapi.PathTunnelConnect, s.handleTunnelConnect)
	mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, &apiError{http.StatusNotFound, "not_found", "There is no API endpoint " + r.URL.Path + "."})
	})

	mux.Handle("GET /portal/{$}", html(s.handlePortalHome))
	mux.Handle("POST /portal/signin", html(s.handlePortalSignIn))
	mux.Handle("GET /portal/signin", http.RedirectHandler("/portal/", http.StatusSeeOther))
	mux.Handle("POST /portal/signout", html(s.handlePortalSignOut))
	mux.Handle("POST /portal/account", html(s.handlePortalAccount))
	mux.Handle("GET /portal/systems", html(s.handlePortalSystems))
	mux.Handle("GET /portal/directory", html(s.handlePortalDirectory))
	mux.Handle("GET /portal/edge", html(s.handlePortalEdge))
	mux.Handle("POST /portal/edge", html(s.handlePortalEdge))
	mux.Handle("GET /portal/systems/{id}", html(s.handlePortalSystem))
	mux.Handle("GET /portal/systems/{id}/reports/{report}", html(s.handlePortalSystem))
	mux.Handle("GET /portal/systems/{id}/remove", html(s.handlePortalRemove))
	mux.Handle("POST /portal/systems/{id}/remove", html(s.handlePortalRemove))
	mux.Handle("/portal/", htmlHeaders(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.errorPage(w, r, http.StatusNotFound, "Page not found", "There is no page "+r.URL.Path+". Go to the portal's start page.")
	})))
	return s.logRequestsDated(mux, s.now)
}

// htmlHeaders sets the headers of every HTML page: no caching, no framing,
// no scripts, no referrer (the authorize URL carries the OAuth request).
func htmlHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Cache-Control", "no-store")
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Referrer-Policy", "no-referrer")
		hd.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'none'; base-uri 'none'")
		h.ServeHTTP(w, r)
	})
}

// statusRecorder records the status. With now set, it sets the Date
// header from that clock when the header is written (net/http would set it
// from the host's clock).
type statusRecorder struct {
	http.ResponseWriter
	status int
	now    func() time.Time
}

func (r *statusRecorder) setDate() {
	if r.now != nil {
		r.ResponseWriter.Header().Set("Date", r.now().Format(http.TimeFormat))
	}
}

func (r *statusRecorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
		r.setDate()
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
		r.setDate()
	}
	return r.ResponseWriter.Write(b)
}

func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// logRequests logs each request's method, path (never the query: it may
// carry a code), status and duration.
func (s *Server) logRequests(h http.Handler) http.Handler { return s.logRequestsDated(h, nil) }

// logRequestsDated is logRequests that also dates every response by now
// (the cloud's clock), for the cloud's own endpoints. Not for the tunnel
// edge: a proxied answer keeps the Date its origin gave it.
func (s *Server) logRequestsDated(h http.Handler, now func() time.Time) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w, now: now}
		// Also now, for answers written past the recorder (a flush, or
		// the handshake of a hijacked connection).
		rec.setDate()
		h.ServeHTTP(rec, r)
		if rec.status == 0 {
			rec.status = http.StatusOK
		}
		s.log.LogAttrs(r.Context(), slog.LevelDebug, "request",
			slog.String("method", r.Method), slog.String("path", r.URL.Path),
			slog.Int("status", rec.status), slog.Duration("duration", time.Since(start)),
			slog.String("remote", r.RemoteAddr))
	})
}

func (s *Server) handleCACert(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/x-pem-file")
	w.Header().Set("Content-Disposition", `attachment; filename="cloudlink-ca.pem"`)
	w.Write(s.ca.CertPEM)
}

// maybePurge deletes expired records at most once a minute.
func (s *Server) maybePurge(ctx context.Context) {
	now := s.now()
	s.purgeMu.Lock()
	if now.Sub(s.lastPurge) < time.Minute && !s.lastPurge.After(now) {
		s.purgeMu.Unlock()
		return
	}
	s.lastPurge = now
	s.purgeMu.Unlock()
	if err := s.store.PurgeExpired(ctx, now); err != nil {
		s.log.Warn("purge expired records failed", "err", err)
	}
}

// EdgeSPKIHash is the base64 SHA-256 of the tunnel edge certificates'
// public key (the same for every public host name and across restarts),
// as Chromium's --ignore-certificate-errors-spki-list takes it.
func (s *Server) EdgeSPKIHash() string { return s.edge.spki }

// EdgeTLSConfig is the public listener's TLS configuration.
func (s *Server) EdgeTLSConfig() *tls.Config { return s.edge.tlsConfig() }

// EdgeHandler is the public listener's handler (without TLS).
func (s *Server) EdgeHandler() http.Handler { return s.edge.newPublicServer().Handler }

// TunnelConnected reports whether the system has a live tunnel session.
func (s *Server) TunnelConnected(systemID string) bool { return s.edge.tun.Connected(systemID) }

// PublicURL is the public URL of a system's tunnel, such as
// https://<uuid>.eu.edge.localhost:8444/ ("" without a public listener).
func (s *Server) PublicURL(ctx context.Context, systemID, tunnelID string) (string, error) {
	sys, err := s.store.SystemByID(ctx, systemID)
	if err != nil {
		return "", err
	}
	return s.edge.publicURL(sys.Account.Region, cloudapi.TunnelUUID(systemID, tunnelID)), nil
}
