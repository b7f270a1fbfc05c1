// Package tunnels is the daemon's tunnel manager, a linked-only subsystem.
//
// The platform defines the tunnels (platforms.Tunnel); the chosen state
// (enabled per tunnel ID, all off by default) is kept in File and
// survives restarts. While the host is linked and at least one tunnel is
// enabled, one session to the cloud's tunnel edge (tunnel.Serve) carries
// every started tunnel; the manager keeps it up with the reconnect policy
// below, reports the tunnels to the cloud (PUT PathSystemTunnels) on every
// change and after every reconnect, and answers the edge's streams from its
// own table only: a stream names a tunnel ID, never an address, and is
// refused unless that tunnel is enabled; the daemon dials only the address
// configured for it.
//
// Reconnect policy: after a session is lost, or when it cannot be made, the
// manager retries quickly — 100 ms, 200 ms, then every 400 ms at most
// (±20% jitter) — for the first 30 s of the outage, so that a restarted edge
// has the host back within about half a second of listening again; then it
// backs off exponentially with ±20% jitter from 1 s up to 30 s. A refusal
// that a quick retry cannot mend (the proxy or the edge answering with an
// HTTP error, a refused device token) goes straight to the slow steps.
// Starting a tunnel retries at once. A session counts as a fresh start (the
// fast steps again at its next loss) only after it has stayed up for 5 s, so
// an edge that accepts and drops at once is not hammered.
package tunnels

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
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

	"github.com/jonboulle/clockwork"

	"github.com/cloudlink/cld/agent/api"
	"github.com/cloudlink/cld/agent/audit"
	"github.com/cloudlink/cld/agent/backoff"
	"github.com/cloudlink/cld/agent/health"
	"github.com/cloudlink/cld/agent/localapi"
	"github.com/cloudlink/cld/agent/proxy"
	"github.com/cloudlink/cld/atomicfile"
	"github.com/cloudlink/cld/platforms"
	"github.com/cloudlink/cld/tunnel"
)

// File holds the tunnels' chosen state in the state directory.
const File = "tunnels.json"

const tunnelsFormat = 1

// WarnCorrupt is the warning code of a corrupt File.
const WarnCorrupt = "tunnels_state_corrupt"

var defCorrupt = health.Declare(health.Def{Code: WarnCorrupt, Severity: api.SeverityWarning, Title: "Tunnel state file was corrupt",
	Text:   "The tunnel state file {path} was corrupt ({error}) and was moved to {to}; every tunnel is stopped. Start the tunnels you need again.",
	Remedy: "Start the tunnels you need again (dashboard or `cld tunnel start`)."})

// Reconnect tuning (see above); the longest steps of each retry are
// exported for tests that step a fake clock past them.
const (
	reconnectFastWindow = 30 * time.Second
	reconnectFastMin    = 100 * time.Millisecond
	ReconnectFastMax    = 400 * time.Millisecond
	reconnectSlowMin    = 1 * time.Second
	reconnectSlowMax    = 30 * time.Second
	sessionStableAfter  = 5 * time.Second
	localDialTimeout    = 3 * time.Second
	localRecheckMin     = 2 * time.Second
	LocalRecheckMax     = time.Minute
	reportRetryMin      = time.Second
	ReportRetryMax      = time.Minute
	reportTimeout       = 30 * time.Second
)

// NotLinkedReason is the reason of an enabled tunnel on an unlinked host.
const NotLinkedReason = "Link this host to CloudLink first; the tunnel starts once the host is linked."

// Gate decides whether tunnels may start: a non-empty reason keeps every
// tunnel from starting (and stops running ones) and is shown as their
// reason, e.g. a clock too far off. Call Manager.GateChanged when its
// answer may have changed. It must not call the Manager back.
type Gate func() (reason string)

// ServeFunc runs one session to the edge (tunnel.Serve).
type ServeFunc func(ctx context.Context, cfg tunnel.AgentConfig, onConnected func()) error

// Config is what a Manager needs.
type Config struct {
	StateDir   string             // holds File
	ConfigFile string             // the config file, named in messages
	Platform   platforms.Platform // defines the tunnels; nil for none
	Serve      ServeFunc          // tunnel.Serve when nil
	Gate       Gate               // may veto starting tunnels; nil for none
	// LinkState is the link's state (api.State*), for the tunnels' reasons.
	LinkState func() string
	// Proxy names the proxy in refusals; nil when the embedder gave the
	// HTTP client.
	Proxy  *proxy.Setup
	Clock  clockwork.Clock
	Logger *slog.Logger
	Health *health.Registry
	// AuditMaxBytes bounds each file of the access audit (0: the default).
	AuditMaxBytes int64
}

// GateChanged makes the tunnels consult the gate again.
func (m *Manager) GateChanged() { m.notify() }

// localState is what the last check of a tunnel's local address found.
type localState int

const (
	localUnknown localState = iota
	localOK
	localDown
)

// tunnelDef is a platform tunnel with where it leads.
type tunnelDef struct {
	platforms.Tunnel
	target tunnel.Target
}

// tunnelRun is the live state of one tunnel.
type tunnelRun struct {
	local     localState
	localErr  string
	needCheck bool // a stream failed: check again
	checking  bool
	recheckAt time.Time
	recheck   *backoff.Backoff
	reported  string // status the cloud last accepted
	publicURL string
}

// Manager runs the tunnels; it is a link.Subsystem.
type Manager struct {
	cfg     Config
	log     *slog.Logger
	clock   clockwork.Clock
	defs    []tunnelDef
	byID    map[string]int
	serve   ServeFunc
	gate    Gate
	refused atomic.Int64
	// unsigned counts the refused streams whose header had no valid
	// signature of the edge (also in refused).
	unsigned atomic.Int64
	audit    *audit.Log
	// Counters for the metrics.
	sessions, reconnects atomic.Int64
	dial                 func(ctx context.Context, network, addr string) (net.Conn, error)

	mu          sync.Mutex
	enabled     map[string]bool
	run         map[string]*tunnelRun
	linked      bool
	systemID    string
	connected   bool
	connectedAt time.Time
	sessErr     string // why the session is not up, after a failure
	reportErr   string // why the last report failed
	forceReport bool
	// streams holds a closer for every open stream of each tunnel; they are
	// called when the tunnel stops (disabled, unlinked, vetoed by the gate),
	// which closes every connection open through it before the stop returns.
	streams map[string]map[*func()]struct{}
	counts  map[string]*streamCounts // per tunnel ID, kept across reloads
	wake    chan struct{}
	retry   chan struct{}
}

// New reads the platform's tunnels and their chosen state; a platform
// tunnel that cannot be served is a configuration error.
func New(cfg Config) (*Manager, error) {
	if cfg.Serve == nil {
		cfg.Serve = tunnel.Serve
	}
	p := cfg.Platform
	m := &Manager{
		cfg:     cfg,
		log:     cfg.Logger.With("component", "tunnels"),
		clock:   cfg.Clock,
		byID:    map[string]int{},
		serve:   cfg.Serve,
		gate:    cfg.Gate,
		enabled: map[string]bool{},
		run:     map[string]*tunnelRun{},
		wake:    make(chan struct{}),
		retry:   make(chan struct{}, 1),
		audit:   audit.Open(cfg.StateDir, cfg.AuditMaxBytes, cfg.Logger),
	}
	d := &net.Dialer{Timeout: localDialTimeout}
	m.dial = d.DialContext
	defs, byID, err := tableOf(p)
	if err != nil {
		return nil, err
	}
	m.defs, m.byID = defs, byID
	for _, d := range defs {
		m.run[d.ID] = newRun()
	}
	if err := m.load(); err != nil {
		return nil, err
	}
	return m, nil
}

// tunnelTarget is where a tunnel's streams are piped: its local address,
// with TLS as the tunnel says (self-signed accepted only when it says so).
func tunnelTarget(t platforms.Tunnel) (tunnel.Target, error) {
	ep, err := t.Endpoint()
	if err != nil {
		return tunnel.Target{}, fmt.Errorf("local_address %w", err)
	}
	target := tunnel.Target{Address: ep.Address()}
	if !ep.TLS {
		return target, nil
	}
	tc := &tls.Config{ServerName: ep.Host, MinVersion: tls.VersionTLS12}
	switch {
	case t.AcceptSelfSigned:
		// The tunnel's definition accepts the appliance's self-signed
		// certificate: the address is on this host and fixed by the
		// platform, never chosen by the cloud.
		tc.InsecureSkipVerify = true
	case t.CAFile != "":
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return tunnel.Target{}, fmt.Errorf("ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return tunnel.Target{}, fmt.Errorf("ca_file %s holds no PEM certificate", t.CAFile)
		}
		tc.RootCAs = pool
	}
	target.TLS = tc
	return target, nil
}

// Name implements Subsystem.
func (m *Manager) Name() string { return "tunnels" }

// --- persisted choice -----------------------------------------------------

type tunnelsPersisted struct {
	Format  int      `json:"format"`
	Enabled []string `json:"enabled"`
}

func (m *Manager) path() string { return filepath.Join(m.cfg.StateDir, File) }

// load reads File; a missing file means all off, a corrupt one is
// moved aside (all off, with a warning).
func (m *Manager) load() error {
	path := m.path()
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading %s: %w; check that cld runs as root and the state directory is readable", path, err)
	}
	var p tunnelsPersisted
	err = json.Unmarshal(data, &p)
	if err == nil && p.Format != tunnelsFormat {
		if p.Format > tunnelsFormat {
			return fmt.Errorf("%s was written by a newer cld (format %d, this cld reads %d); install that version again, or move the file aside to start with every tunnel stopped", path, p.Format, tunnelsFormat)
		}
		err = fmt.Errorf("format %d is unknown", p.Format)
	}
	if err != nil {
		to, qerr := atomicfile.Quarantine(path, m.clock.Now())
		if qerr != nil {
			return fmt.Errorf("%s is corrupt (%v) and could not be moved aside (%w); move it away by hand and start again", path, err, qerr)
		}
		m.log.Error("the tunnel state file is corrupt: moved it aside; every tunnel is stopped", "file", path, "moved_to", to, "err", err)
		m.cfg.Health.Set(defCorrupt.Say("path", path, "error", err, "to", to))
		return nil
	}
	for _, id := range p.Enabled {
		if _, ok := m.byID[id]; ok {
			m.enabled[id] = true
		} else {
			m.log.Info("the tunnel state names a tunnel the platform no longer defines; ignoring it", "tunnel", id)
		}
	}
	return nil
}

// saveLocked writes the chosen state atomically.
func (m *Manager) saveLocked(enabled map[string]bool) error {
	p := tunnelsPersisted{Format: tunnelsFormat, Enabled: []string{}}
	for _, d := range m.defs {
		if enabled[d.ID] {
			p.Enabled = append(p.Enabled, d.ID)
		}
	}
	data, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.Write(m.path(), append(data, '\n'), 0o600)
}

// --- control ---------------------------------------------------------------

// setEnabled changes the chosen state of ids (all when nil) and persists it.
func (m *Manager) setEnabled(ids []string, on bool) error {
	defer m.closeStoppedStreams() // after the unlock below
	m.mu.Lock()
	defer m.mu.Unlock()
	if ids == nil {
		for _, d := range m.defs {
			ids = append(ids, d.ID)
		}
	}
	next := make(map[string]bool, len(m.enabled))
	for id, v := range m.enabled {
		next[id] = v
	}
	changed := false
	for _, id := range ids {
		if next[id] != on {
			changed = true
			if on {
				next[id] = true
			} else {
				delete(next, id)
			}
		}
	}
	if !changed {
		return nil
	}
	if err := m.saveLocked(next); err != nil {
		m.log.Error("could not save the tunnel state", "err", err)
		return api.Errorf(api.CodeInternal, "Could not save the tunnel state (%v); nothing was changed. Check that %s is writable and not full, then try again.", err, m.cfg.StateDir)
	}
	for _, id := range ids {
		if m.enabled[id] != on && on {
			// A start checks the local service afresh.
			r := m.run[id]
			r.local, r.localErr, r.needCheck = localUnknown, "", false
			r.recheck.Reset()
		}
	}
	m.enabled = next
	m.notifyLocked()
	if on {
		m.kickRetry()
	}
	return nil
}

// LinkEnded implements link.Ender: an unlink or revocation stops every
// tunnel (a new link starts with every tunnel off).
func (m *Manager) LinkEnded(revoked bool) {
	if revoked {
		m.disableAll("the system was revoked")
	} else {
		m.disableAll("unlink")
	}
}

// Changed returns a channel closed at the tunnels' next change.
func (m *Manager) Changed() <-chan struct{} {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.wake
}

// disableAll stops every tunnel and forgets the public URLs (unlink,
// revocation: the next link is another system).
func (m *Manager) disableAll(why string) {
	if err := m.setEnabled(nil, false); err != nil {
		m.log.Error("could not save the stopped tunnels", "why", why, "err", err)
	}
	m.mu.Lock()
	for _, r := range m.run {
		r.publicURL = ""
	}
	m.notifyLocked()
	m.mu.Unlock()
	m.log.Info("stopped every tunnel", "why", why)
}

// unknown is the error for a tunnel ID the platform does not define.
// Called with m.mu held.
func (m *Manager) unknown(id string) error {
	if len(m.defs) == 0 {
		return api.Errorf(api.CodeUnknownTunnel, "This host defines no tunnels: no platform with tunnels was detected or configured (see the platform: section of %s).", m.cfg.ConfigFile)
	}
	ids := make([]string, len(m.defs))
	for i, d := range m.defs {
		ids[i] = d.ID
	}
	if len(id) > 80 {
		id = id[:80] + "…"
	}
	return api.Errorf(api.CodeUnknownTunnel, "This host has no tunnel %q; its tunnels are: %s (see `cld tunnel list`).", id, strings.Join(ids, ", "))
}

// --- wake-ups ----------------------------------------------------------------

// notifyLocked wakes every loop waiting for a change.
func (m *Manager) notifyLocked() {
	close(m.wake)
	m.wake = make(chan struct{})
}

func (m *Manager) notify() {
	m.mu.Lock()
	m.notifyLocked()
	m.mu.Unlock()
	m.closeStoppedStreams() // the gate may have vetoed
}

// kickRetry makes a session loop waiting to reconnect try at once.
func (m *Manager) kickRetry() {
	select {
	case m.retry <- struct{}{}:
	default:
	}
}

func (m *Manager) gateReason() string {
	if m.gate == nil {
		return ""
	}
	return m.gate()
}

// --- the local API ---------------------------------------------------------------

// Routes registers the tunnel routes on the local API.
func (m *Manager) Routes(rt *localapi.Router) {
	rt.Get(api.RouteTunnels, func(context.Context) any { return m.List() })
	rt.Action(api.RouteTunnelStart, func(r *http.Request) (any, error) { return m.set(r.PathValue("id"), true) })
	rt.Action(api.RouteTunnelStop, func(r *http.Request) (any, error) { return m.set(r.PathValue("id"), false) })
	rt.Action(api.RouteTunnelsStartAll, func(*http.Request) (any, error) { return m.set("", true) })
	rt.Action(api.RouteTunnelsStopAll, func(*http.Request) (any, error) { return m.set("", false) })
	rt.Action(api.RouteTunnelAudit, m.auditRoute) // a GET: no body
}

// List lists the host's tunnels.
func (m *Manager) List() api.Tunnels { return m.list(m.cfg.LinkState()) }

// Start starts the tunnel id (every tunnel for "") and keeps it started
// across restarts.
func (m *Manager) Start(id string) (api.Tunnels, error) { return m.set(id, true) }

// Stop stops the tunnel id (every tunnel for "").
func (m *Manager) Stop(id string) (api.Tunnels, error) { return m.set(id, false) }

func (m *Manager) set(id string, on bool) (api.Tunnels, error) {
	var ids []string
	if id != "" {
		m.mu.Lock()
		_, ok := m.byID[id]
		var err error
		if !ok {
			err = m.unknown(id)
		}
		m.mu.Unlock()
		if err != nil {
			return api.Tunnels{}, err
		}
		ids = []string{id}
	}
	if err := m.setEnabled(ids, on); err != nil {
		return api.Tunnels{}, err
	}
	what := id
	if what == "" {
		what = "all"
	}
	if on {
		m.log.Info("tunnel started", "tunnel", what)
	} else {
		m.log.Info("tunnel stopped", "tunnel", what)
	}
	return m.List(), nil
}
