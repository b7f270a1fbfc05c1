// Package simhost is a simulated telephony host for the demo and the tests:
// the management web UIs of a PBX host ("MSL Server Manager", "MiVoice
// Border Gateway administration", …) served on local HTTPS ports with a
// self-signed certificate generated at start.
//
// It simulates several host platforms (Platform, LookupPlatform: msl,
// mxone, smbc, osv and generic): Tree writes the host's file tree under a
// root directory in the layout its adapter (platforms/all) reads — release
// and version files, package lists, the UI language, the proxy setting,
// the ports of the UIs where the host keeps them, and for MSL and the SMB
// Controller a CloudLink Gateway core instance whose bin/clgw-core runs
// GatewayCore, a stand-in core — and CLDConfig the part of cld's config
// (host_root, platform) that makes the daemon find that host and reach the
// served UIs through its tunnels.
//
// Each UI behaves like a real appliance's management UI as far as a reverse
// tunnel is concerned: a sign-in form (fixed demo credentials) that sets a
// session cookie and redirects with an absolute Location built from the
// request's Host, relative redirects to the sign-in page, pages behind the
// sign-in, a WebSocket echo used by a page's inline script, and a fast
// download of deterministic pseudo-random bytes (/download?size=N) whose
// SHA-256 DownloadSHA256 computes without buffering. /health answers
// without signing in.
//
// The UIs speak HTTP/1.1 only, like many appliance web servers.
package simhost

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sync"
	"time"
)

// Demo credentials of every simulated UI.
const (
	DefaultUsername = "admin"
	DefaultPassword = "admin"
)

// UI is one simulated management web interface.
type UI struct {
	ID      string // slug, e.g. "server-manager"; names the session cookie
	Product string // product shown in the page header, e.g. "MSL"
	Title   string // e.g. "MSL Server Manager"
	Addr    string // listen address host:port (port 0: any free port)
	// Tunnel is the ID of the platform's tunnel that leads to this UI,
	// e.g. "msl-server-manager" ("" when none).
	Tunnel string
	// Version is the software version its overview shows ("" a default).
	Version string
	// CLDPath is where this UI's web server serves cld (MX-ONE's SNM:
	// /cld), proxied to Config.CLD; "" when it does not.
	CLDPath string
	// SessionAPI is the path of its session check for cld's dashboard
	// (MX-ONE's SNM: /mxone_snm/api/session); "" when it has none.
	SessionAPI string
}

// SessionAdminRole is the role the simulated session checks report (the
// MX-ONE adapter's default SESSION_ADMIN_ROLE).
const SessionAdminRole = "system-administrator"

// ServerManager is the simulated MSL Server Manager on addr.
func ServerManager(addr string) UI {
	return UI{ID: "server-manager", Tunnel: "msl-server-manager", Product: "MSL", Title: "MSL Server Manager", Addr: addr}
}

// BorderGateway is the simulated MiVoice Border Gateway administration web
// interface on addr.
func BorderGateway(addr string) UI {
	return UI{ID: "mbg", Tunnel: "mbg-admin", Product: "MiVoice Border Gateway", Title: "MiVoice Border Gateway administration", Addr: addr}
}

// Config configures a simulated host.
type Config struct {
	UIs []UI
	// Dir, when set, receives cert.pem: the self-signed certificate every
	// UI serves, so that clients can trust it.
	Dir string
	// Username and Password are the demo credentials of every UI.
	Username, Password string
	// Logger; nil means slog.Default() with component=simhost.
	Logger *slog.Logger
	// CLD is the daemon's dashboard URL (http://127.0.0.1:PORT) the UIs
	// with a CLDPath proxy to; "" leaves CLDPath out.
	CLD string
}

// Default listen addresses of the two UIs.
const (
	DefaultServerManagerAddr = "127.0.0.1:9443"
	DefaultBorderGatewayAddr = "127.0.0.1:9444"
)

// DefaultConfig is both UIs on their default addresses with the demo
// credentials.
func DefaultConfig() Config {
	return Config{
		UIs:      []UI{ServerManager(DefaultServerManagerAddr), BorderGateway(DefaultBorderGatewayAddr)},
		Username: DefaultUsername,
		Password: DefaultPassword,
	}
}

var idRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)

// Validate checks the configuration.
func (c Config) Validate() error {
	if len(c.UIs) == 0 {
		return errors.New("simhost: no UI to serve; give at least one listen address")
	}
	if c.Username == "" || c.Password == "" {
		return errors.New("simhost: the demo user name and password must not be empty")
	}
	seen := map[string]bool{}
	for _, u := range c.UIs {
		if !idRE.MatchString(u.ID) {
			return fmt.Errorf("simhost: UI ID %q is not a slug (lower-case letters, digits, dashes)", u.ID)
		}
		if seen[u.ID] {
			return fmt.Errorf("simhost: UI ID %q given twice", u.ID)
		}
		seen[u.ID] = true
		if u.Tunnel != "" {
			if !idRE.MatchString(u.Tunnel) {
				return fmt.Errorf("simhost: tunnel ID %q of %s is not a slug", u.Tunnel, u.ID)
			}
			if seen["tunnel "+u.Tunnel] {
				return fmt.Errorf("simhost: tunnel ID %q given twice", u.Tunnel)
			}
			seen["tunnel "+u.Tunnel] = true
		}
		if u.Title == "" {
			return fmt.Errorf("simhost: UI %q has no title", u.ID)
		}
		if _, _, err := net.SplitHostPort(u.Addr); err != nil {
			return fmt.Errorf("simhost: listen address %q of %s: %v (want HOST:PORT)", u.Addr, u.Title, err)
		}
	}
	return nil
}

// Host is a running simulated host.
type Host struct {
	cert    tls.Certificate
	leaf    *x509.Certificate
	certPEM []byte
	log     *slog.Logger

	uis     []UI // with the bound addresses
	servers []*http.Server
	cancel  context.CancelFunc // ends hijacked connections (WebSockets)
	ws      *tracker           // WebSocket handlers, which Shutdown does not wait for
	wg      sync.WaitGroup     // Serve loops
	errMu   sync.Mutex
	err     error // first serve error
}

// Start generates the certificate, listens on every UI's address and serves
// until Close or Shutdown.
func Start(cfg Config) (*Host, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.Default().With("component", "simhost")
	}
	cert, leaf, certPEM, err := selfSigned(time.Now())
	if err != nil {
		return nil, fmt.Errorf("simhost: generating the certificate: %w", err)
	}
	if cfg.Dir != "" {
		if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
			return nil, fmt.Errorf("simhost: %w", err)
		}
		if err := writeFileAtomic(filepath.Join(cfg.Dir, "cert.pem"), certPEM, 0o644); err != nil {
			return nil, fmt.Errorf("simhost: writing the certificate: %w", err)
		}
	}
	baseCtx, cancel := context.WithCancel(context.Background())
	h := &Host{cert: cert, leaf: leaf, certPEM: certPEM, log: logger, cancel: cancel, ws: &tracker{}}
	var lns []net.Listener
	for _, u := range cfg.UIs {
		ln, err := net.Listen("tcp", u.Addr)
		if err != nil {
			for _, l := range lns {
				l.Close()
			}
			cancel()
			return nil, fmt.Errorf("simhost: %s: %w", u.Title, err)
		}
		lns = append(lns, ln)
		u.Addr = ln.Addr().String()
		h.uis = append(h.uis, u)
	}
	tlsConf := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12, NextProtos: []string{"http/1.1"}}
	for i, u := range h.uis {
		var protos http.Protocols
		protos.SetHTTP1(true)
		var handler http.Handler = newHandler(u, cfg.Username, cfg.Password, logger.With("ui", u.ID), h.ws)
		if u.CLDPath != "" && cfg.CLD != "" {
			if handler, err = cldProxy(u.CLDPath, cfg.CLD, handler); err != nil {
				for _, l := range lns {
					l.Close()
				}
				cancel()
				return nil, err
			}
		}
		srv := &http.Server{
			Handler:           handler,
			TLSConfig:         tlsConf,
			Protocols:         &protos,
			ReadHeaderTimeout: 10 * time.Second,
			IdleTimeout:       2 * time.Minute,
			BaseContext:       func(net.Listener) context.Context { return baseCtx },
			ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelDebug),
		}
		h.servers = append(h.servers, srv)
		ln := tls.NewListener(lns[i], tlsConf)
		h.wg.Go(func() {
			if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				h.errMu.Lock()
				if h.err == nil {
					h.err = fmt.Errorf("simhost: %s: %w", u.Title, err)
				}
				h.errMu.Unlock()
				logger.Error("serving stopped", "ui", u.ID, "err", err)
			}
		})
		logger.Info("serving", "ui", u.ID, "title", u.Title, "url", "https://"+u.Addr+"/")
	}
	return h, nil
}

// UIs returns the served UIs with their bound addresses.
func (h *Host) UIs() []UI { return append([]UI(nil), h.uis...) }

// URL returns the base URL (https://host:port) of the UI with that ID, or
// "" when there is none.
func (h *Host) URL(id string) string {
	for _, u := range h.uis {
		if u.ID == id {
			return "https://" + u.Addr
		}
	}
	return ""
}

// CertPEM is the self-signed certificate every UI serves (PEM).
func (h *Host) CertPEM() []byte { return append([]byte(nil), h.certPEM...) }

// CertPool is a pool that trusts the host's certificate.
func (h *Host) CertPool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(h.leaf)
	return p
}

// Shutdown stops serving: new connections are refused, idle ones closed,
// WebSockets ended; it waits for requests in flight until ctx ends.
func (h *Host) Shutdown(ctx context.Context) error {
	h.cancel()
	var errs []error
	for _, s := range h.servers {
		if err := s.Shutdown(ctx); err != nil {
			errs = append(errs, err)
			_ = s.Close()
		}
	}
	h.wg.Wait()
	h.ws.closeAndWait()
	h.errMu.Lock()
	errs = append(errs, h.err)
	h.errMu.Unlock()
	return errors.Join(errs...)
}

// Close stops serving at once.
func (h *Host) Close() error {
	h.cancel()
	for _, s := range h.servers {
		_ = s.Close()
	}
	h.wg.Wait()
	h.ws.closeAndWait()
	h.errMu.Lock()
	defer h.errMu.Unlock()
	return h.err
}

// writeFileAtomic writes data to a temporary file and renames it over path.
func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Chmod(perm); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
