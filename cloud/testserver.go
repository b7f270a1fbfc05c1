package cloud

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"golang.org/x/crypto/bcrypt"

	"github.com/cloudlink/cld/cloud/store"
	"github.com/cloudlink/cld/inventory"
)

// TestServer is a reference cloud running in process for tests: a
// temporary data directory with the demo data (see the Demo constants),
// HTTPS on 127.0.0.1 with its own CA, and the tunnel edge: daemons connect
// to TunnelURL, and the public listener on EdgeAddr serves
// https://<uuid>.<region>.edge.localhost:<port>/ (PublicURL). EdgeClient
// and EdgeTransport reach it without DNS; Stop and Start cover both
// listeners.
type TestServer struct {
	// URL is the base URL, such as https://127.0.0.1:41234.
	URL string
	// Addr is the listen address (host:port); Start listens on it again.
	Addr string
	// DataDir is the cloud's data directory.
	DataDir string
	// CAFile is the path of the CA certificate (ca.pem).
	CAFile string
	// CAPool holds the CA certificate.
	CAPool *x509.CertPool
	// Clock decides every expiry (a fake one with WithClock). The cloud's
	// time is Clock's plus the clock offset (SetClockOffset).
	Clock clockwork.Clock
	// Server is the cloud itself.
	Server *Server

	// EdgeAddr is the tunnel edge's public listener (127.0.0.1:port); Start
	// listens on it again.
	EdgeAddr string
	// EdgeDomain is the domain of public tunnel host names (edge.localhost).
	EdgeDomain string
	// EdgeCAPool verifies the public listener's certificates (the same CA
	// as CAPool).
	EdgeCAPool *x509.CertPool
	// EdgeSPKI is the base64 SHA-256 of the edge certificates' key, for
	// Chromium's --ignore-certificate-errors-spki-list.
	EdgeSPKI string

	t      testing.TB
	mu     sync.Mutex
	hs     *http.Server
	ehs    *http.Server
	served chan struct{}
	// closeConns closes every connection of the running servers.
	closeConns func()
	closed     bool
	clients    []*http.Client
	transports []*http.Transport
}

// TestOption changes a TestServer.
type TestOption func(*Config)

// WithClock makes the cloud use the clock for every expiry check.
func WithClock(c clockwork.Clock) TestOption { return func(cfg *Config) { cfg.Clock = c } }

// WithClockOffset starts the cloud with its clock offset by d (positive:
// ahead of Clock); SetClockOffset changes it.
func WithClockOffset(d time.Duration) TestOption { return func(cfg *Config) { cfg.ClockOffset = d } }

// WithTokenTTL sets the access token lifetime.
func WithTokenTTL(d time.Duration) TestOption {
	return func(cfg *Config) {
		cfg.AccessTokenTTL = d
		if cfg.RefreshTokenTTL < d {
			cfg.RefreshTokenTTL = d
		}
	}
}

// WithLogger sends the cloud's logs to l (they are discarded by default).
func WithLogger(l *slog.Logger) TestOption { return func(cfg *Config) { cfg.Logger = l } }

// WithEdgeDomain sets the domain of public tunnel host names.
func WithEdgeDomain(d string) TestOption { return func(cfg *Config) { cfg.EdgeDomain = d } }

// WithHostnames adds names to the server certificate.
func WithHostnames(names ...string) TestOption {
	return func(cfg *Config) { cfg.Hostnames = append(cfg.Hostnames, names...) }
}

// NewTestServer starts a reference cloud for the test; t.Cleanup stops it
// and closes everything.
func NewTestServer(t testing.TB, opts ...TestOption) *TestServer {
	t.Helper()
	cfg := DefaultConfig()
	cfg.DataDir = t.TempDir()
	cfg.Listen = "127.0.0.1:0"
	cfg.EdgeListen = "127.0.0.1:0"
	cfg.BcryptCost = bcrypt.MinCost
	cfg.Logger = slog.New(slog.DiscardHandler)
	cfg.ShutdownTimeout = time.Second
	for _, o := range opts {
		o(&cfg)
	}
	ctx := context.Background()
	srv, err := New(ctx, cfg)
	if err != nil {
		t.Fatalf("cloud.NewTestServer: %v", err)
	}
	if err := srv.SeedDemo(ctx); err != nil {
		srv.Close()
		t.Fatalf("cloud.NewTestServer: %v", err)
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		srv.Close()
		t.Fatalf("cloud.NewTestServer: listen: %v", err)
	}
	eln, err := net.Listen("tcp", cfg.EdgeListen)
	if err != nil {
		ln.Close()
		srv.Close()
		t.Fatalf("cloud.NewTestServer: listen for the tunnel edge: %v", err)
	}
	ts := &TestServer{
		Addr:       ln.Addr().String(),
		DataDir:    cfg.DataDir,
		CAFile:     srv.CAFile(),
		CAPool:     srv.CA().Pool(),
		Clock:      cfg.Clock,
		Server:     srv,
		EdgeAddr:   eln.Addr().String(),
		EdgeDomain: cfg.EdgeDomain,
		EdgeSPKI:   srv.EdgeSPKIHash(),
		t:          t,
	}
	ts.EdgeCAPool = ts.CAPool
	ts.URL = "https://" + ts.Addr
	srv.setListenAddr(ln.Addr())
	srv.setEdgeAddr(eln.Addr())
	ts.serve(ln, eln)
	t.Cleanup(ts.Close)
	return ts
}

func (ts *TestServer) serve(ln, eln net.Listener) {
	hs := ts.Server.newHTTPServer()
	hs.ErrorLog = log.New(io.Discard, "", 0)
	ehs := ts.Server.edge.newPublicServer()
	ehs.ErrorLog = log.New(io.Discard, "", 0)
	// Track connections so that Stop also closes hijacked ones (such as
	// WebSockets), which http.Server.Close leaves alone.
	conns := map[net.Conn]bool{}
	var connMu sync.Mutex
	hs.ConnState = func(c net.Conn, st http.ConnState) {
		connMu.Lock()
		defer connMu.Unlock()
		switch st {
		case http.StateNew:
			conns[c] = true
		case http.StateClosed:
			delete(conns, c)
		}
	}
	edgeState := ehs.ConnState
	ehs.ConnState = func(c net.Conn, st http.ConnState) {
		hs.ConnState(c, st)
		edgeState(c, st)
	}
	ts.closeConns = func() {
		connMu.Lock()
		defer connMu.Unlock()
		for c := range conns {
			c.Close()
		}
		clear(conns)
	}
	served := make(chan struct{})
	ts.hs, ts.ehs, ts.served = hs, ehs, served
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		hs.ServeTLS(ln, "", "")
	}()
	go func() {
		defer wg.Done()
		ehs.ServeTLS(eln, "", "")
	}()
	go func() {
		wg.Wait()
		close(served)
	}()
}

// Stop closes both listeners and every connection (tunnel sessions too),
// as if the cloud and its edge were down. Start brings them back on the
// same addresses.
func (ts *TestServer) Stop() {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	ts.stopLocked()
}

func (ts *TestServer) stopLocked() {
	if ts.hs == nil {
		return
	}
	ts.hs.Close()
	ts.ehs.Close()
	ts.closeConns()
	<-ts.served
	ts.Server.edge.closeAllSessions()
	ts.Server.edge.closeHeldStreams()
	ts.hs, ts.ehs, ts.served, ts.closeConns = nil, nil, nil, nil
}

// Start listens again on the same addresses after Stop. It fails the
// test when an address cannot be had back.
func (ts *TestServer) Start() {
	ts.t.Helper()
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if ts.closed {
		ts.t.Fatalf("cloud.TestServer.Start after Close")
	}
	if ts.hs != nil {
		return
	}
	listen := func(addr string) net.Listener {
		var ln net.Listener
		var err error
		for i := 0; i < 50; i++ { // the port may linger a moment after Stop
			if ln, err = net.Listen("tcp", addr); err == nil {
				return ln
			}
			time.Sleep(20 * time.Millisecond)
		}
		ts.t.Fatalf("cloud.TestServer.Start: listen on %s again: %v", addr, err)
		return nil
	}
	ln := listen(ts.Addr)
	eln := listen(ts.EdgeAddr)
	if eln == nil {
		ln.Close()
		return
	}
	ts.serve(ln, eln)
}

// Close stops the server and closes its store and the clients it made.
// t.Cleanup calls it.
func (ts *TestServer) Close() {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if ts.closed {
		return
	}
	ts.closed = true
	ts.stopLocked()
	for _, c := range ts.clients {
		c.CloseIdleConnections()
	}
	for _, tr := range ts.transports {
		tr.CloseIdleConnections()
	}
	if err := ts.Server.Close(); err != nil {
		ts.t.Errorf("cloud.TestServer: close store: %v", err)
	}
}

// SetClockOffset sets the cloud's clock d ahead of Clock (negative:
// behind), effective immediately: every expiry, the time endpoint
// (cloudapi.PathTime) and every response's Date follow it. It fails the
// test when the offset is beyond MaxClockOffset.
func (ts *TestServer) SetClockOffset(d time.Duration) {
	ts.t.Helper()
	if err := ts.Server.SetClockOffset(context.Background(), d); err != nil {
		ts.t.Fatalf("cloud.TestServer.SetClockOffset: %v", err)
	}
}

// ClockOffset is the cloud clock's current offset from Clock.
func (ts *TestServer) ClockOffset() time.Duration { return ts.Server.ClockOffset() }

// Client returns an HTTP client that trusts the cloud's CA (and does not
// follow redirects, so tests can look at them).
func (ts *TestServer) Client() *http.Client {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	c := &http.Client{
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ts.CAPool}, ForceAttemptHTTP2: true},
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
		Timeout: 30 * time.Second,
	}
	ts.clients = append(ts.clients, c)
	return c
}

// TLSConfig returns a client TLS configuration trusting the cloud's CA.
func (ts *TestServer) TLSConfig() *tls.Config { return &tls.Config{RootCAs: ts.CAPool} }

// RevokeSystem removes a system as the portal's Remove button does (by is
// the administrator's e-mail).
func (ts *TestServer) RevokeSystem(systemID, by string) error {
	if systemID == "" {
		return errors.New("no system id")
	}
	_, err := ts.Server.RevokeSystem(context.Background(), systemID, by)
	return err
}

// SystemRecord is a system as the cloud stores it.
type SystemRecord = store.System

// Systems lists an account's systems, linked and removed, newest first.
func (ts *TestServer) Systems(accountID int64) ([]SystemRecord, error) {
	return ts.Server.store.Systems(context.Background(), accountID)
}

// System returns one system.
func (ts *TestServer) System(systemID string) (SystemRecord, error) {
	return ts.Server.store.SystemByID(context.Background(), systemID)
}

// StoredReport is an inventory report as the cloud stored it (a retried
// report is stored once).
type StoredReport struct {
	ID         string
	ReceivedAt time.Time // by the cloud's clock
	Trigger    string
	Report     *inventory.Report // decoded from the stored JSON
	JSON       []byte            // the report's JSON as received (decompressed)
}

// Reports lists the inventory reports the cloud stored for the system,
// newest (last received) first; at most store.MaxReportsPerSystem are
// kept.
func (ts *TestServer) Reports(systemID string) ([]StoredReport, error) {
	ctx := context.Background()
	list, err := ts.Server.store.Reports(ctx, systemID)
	if err != nil {
		return nil, err
	}
	out := make([]StoredReport, 0, len(list))
	for _, r := range list {
		full, err := ts.Server.store.Report(ctx, systemID, r.ID)
		if err != nil {
			return nil, err
		}
		rep, err := decodeReport(full.JSON)
		if err != nil {
			return nil, fmt.Errorf("stored report %s: %w", r.ID, err)
		}
		out = append(out, StoredReport{ID: r.ID, ReceivedAt: r.ReceivedAt, Trigger: r.Trigger, Report: rep, JSON: full.JSON})
	}
	return out, nil
}

// ReportCount is how many inventory reports the cloud stored for the
// system (0 when it cannot tell).
func (ts *TestServer) ReportCount(systemID string) int {
	n, err := ts.Server.store.ReportCount(context.Background(), systemID)
	if err != nil {
		return 0
	}
	return n
}
