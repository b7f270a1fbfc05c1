package agent

import (
	"bytes"
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
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jonboulle/clockwork"
	"golang.org/x/sync/errgroup"

	"github.com/cloudlink/cld/agent/api"
	"github.com/cloudlink/cld/agent/atomicfile"
	"github.com/cloudlink/cld/agent/backoff"
	"github.com/cloudlink/cld/cloud/cloudapi"
	"github.com/cloudlink/cld/platforms"
	"github.com/cloudlink/cld/tunnel"
)

// Reverse tunnels.
//
// The platform defines the tunnels (platforms.Tunnel); the chosen state
// (enabled per tunnel ID, all off by default) is kept in TunnelsFile and
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

// TunnelsFile holds the tunnels' chosen state in the state directory.
const TunnelsFile = "tunnels.json"

const tunnelsFormat = 1

// Warning code of a corrupt TunnelsFile.
const WarnTunnelsCorrupt = "tunnels_state_corrupt"

// Reconnect tuning (see above).
const (
	reconnectFastWindow = 30 * time.Second
	reconnectFastMin    = 100 * time.Millisecond
	reconnectFastMax    = 400 * time.Millisecond
	reconnectSlowMin    = 1 * time.Second
	reconnectSlowMax    = 30 * time.Second
	sessionStableAfter  = 5 * time.Second
	localDialTimeout    = 3 * time.Second
	localRecheckMin     = 2 * time.Second
	localRecheckMax     = time.Minute
	reportRetryMin      = time.Second
	reportRetryMax      = time.Minute
	reportTimeout       = 30 * time.Second
)

// notLinkedReason is the reason of an enabled tunnel on an unlinked host.
const notLinkedReason = "Link this host to CloudLink first; the tunnel starts once the host is linked."

// TunnelGate decides whether tunnels may start: a non-empty reason keeps
// every tunnel from starting (and stops running ones) and is shown as their
// reason, e.g. a clock too far off. Call Agent.TunnelGateChanged when its
// answer may have changed. It must not call the Agent back.
type TunnelGate func() (reason string)

// WithPlatform gives the agent the host's platform (its tunnels).
func WithPlatform(p platforms.Platform) Option { return func(a *Agent) { a.platform = p } }

// WithTunnelGate installs the gate that may veto starting tunnels.
func WithTunnelGate(g TunnelGate) Option { return func(a *Agent) { a.tunnelGate = g } }

// TunnelGateChanged makes the tunnels consult the gate again.
func (a *Agent) TunnelGateChanged() {
	if a.tunnels != nil {
		a.tunnels.notify()
	}
}

type serveFunc func(ctx context.Context, cfg tunnel.AgentConfig, onConnected func()) error

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

// tunnelManager runs the tunnels; it is the agent's tunnel Subsystem.
type tunnelManager struct {
	a       *Agent
	log     *slog.Logger
	clock   clockwork.Clock
	defs    []tunnelDef
	byID    map[string]int
	serve   serveFunc
	gate    TunnelGate
	refused atomic.Int64
	dial    func(ctx context.Context, network, addr string) (net.Conn, error)

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
	wake    chan struct{}
	retry   chan struct{}
}

func newTunnelManager(a *Agent, p platforms.Platform, serve serveFunc, gate TunnelGate) (*tunnelManager, error) {
	m := &tunnelManager{
		a:       a,
		log:     a.baseLog.With("component", "tunnels"),
		clock:   a.clock,
		byID:    map[string]int{},
		serve:   serve,
		gate:    gate,
		enabled: map[string]bool{},
		run:     map[string]*tunnelRun{},
		wake:    make(chan struct{}),
		retry:   make(chan struct{}, 1),
	}
	d := &net.Dialer{Timeout: localDialTimeout}
	m.dial = d.DialContext
	if p != nil {
		ts := p.Tunnels()
		if err := platforms.ValidateTunnels(ts); err != nil {
			return nil, fmt.Errorf("%w: platform %s: %w", ErrConfig, p.Type(), err)
		}
		for _, t := range ts {
			target, err := tunnelTarget(t)
			if err != nil {
				return nil, fmt.Errorf("%w: platform tunnel %s: %w", ErrConfig, t.ID, err)
			}
			m.byID[t.ID] = len(m.defs)
			m.defs = append(m.defs, tunnelDef{Tunnel: t, target: target})
			m.run[t.ID] = &tunnelRun{recheck: backoff.New(localRecheckMin, localRecheckMax)}
		}
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
func (m *tunnelManager) Name() string { return "tunnels" }

// --- persisted choice -----------------------------------------------------

type tunnelsPersisted struct {
	Format  int      `json:"format"`
	Enabled []string `json:"enabled"`
}

func (m *tunnelManager) path() string { return filepath.Join(m.a.cfg.StateDir, TunnelsFile) }

// load reads TunnelsFile; a missing file means all off, a corrupt one is
// moved aside (all off, with a warning).
func (m *tunnelManager) load() error {
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
		m.a.health.Set(defTunnelsCorrupt.With(fmt.Sprintf("The tunnel state file %s was corrupt (%v) and was moved to %s; every tunnel is stopped. Start the tunnels you need again.", path, err, to)))
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
func (m *tunnelManager) saveLocked(enabled map[string]bool) error {
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
func (m *tunnelManager) setEnabled(ids []string, on bool) error {
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
		return apiErr(api.CodeInternal, "Could not save the tunnel state (%v); nothing was changed. Check that %s is writable and not full, then try again.", err, m.a.cfg.StateDir)
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

// disableAll stops every tunnel and forgets the public URLs (unlink,
// revocation: the next link is another system).
func (m *tunnelManager) disableAll(why string) {
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

func (m *tunnelManager) unknown(id string) error {
	if len(m.defs) == 0 {
		return apiErr(api.CodeUnknownTunnel, "This host defines no tunnels: no platform with tunnels was detected or configured (see the platform: section of %s).", m.a.configFile())
	}
	ids := make([]string, len(m.defs))
	for i, d := range m.defs {
		ids[i] = d.ID
	}
	if len(id) > 80 {
		id = id[:80] + "…"
	}
	return apiErr(api.CodeUnknownTunnel, "This host has no tunnel %q; its tunnels are: %s (see `cld tunnel list`).", id, strings.Join(ids, ", "))
}

// --- wake-ups ----------------------------------------------------------------

// notifyLocked wakes every loop waiting for a change.
func (m *tunnelManager) notifyLocked() {
	close(m.wake)
	m.wake = make(chan struct{})
}

func (m *tunnelManager) notify() {
	m.mu.Lock()
	m.notifyLocked()
	m.mu.Unlock()
	m.closeStoppedStreams() // the gate may have vetoed
}

// kickRetry makes a session loop waiting to reconnect try at once.
func (m *tunnelManager) kickRetry() {
	select {
	case m.retry <- struct{}{}:
	default:
	}
}

func (m *tunnelManager) gateReason() string {
	if m.gate == nil {
		return ""
	}
	return m.gate()
}

// --- status ----------------------------------------------------------------

// cloudStatusLocked is a tunnel's status as reported to the cloud: started
// means the edge may route to it.
func (m *tunnelManager) cloudStatusLocked(id, gate string) (status, reason string) {
	if !m.enabled[id] {
		return api.TunnelStopped, ""
	}
	if gate != "" {
		return api.TunnelError, gate
	}
	r := m.run[id]
	if r.local == localDown {
		return api.TunnelError, r.localErr
	}
	if !m.connected {
		if m.sessErr != "" {
			return api.TunnelError, m.sessErr
		}
		return api.TunnelStarting, "Connecting to the tunnel edge."
	}
	if r.local == localUnknown {
		return api.TunnelStarting, "Checking the local service."
	}
	return api.TunnelStarted, ""
}

// statusLocked is a tunnel's status as shown on this host.
func (m *tunnelManager) statusLocked(id, gate, linkState string) (status, reason string) {
	if !m.enabled[id] {
		return api.TunnelStopped, ""
	}
	if !m.linked {
		switch linkState {
		case api.StateLinked, api.StateLinking:
			if gate != "" {
				return api.TunnelError, gate
			}
			return api.TunnelStarting, "Waiting for the link to CloudLink."
		case api.StateLinkError:
			return api.TunnelError, "The link to CloudLink is in error; link this host again (see `cld status`). The tunnel starts once the host is linked."
		}
		return api.TunnelError, notLinkedReason
	}
	st, reason := m.cloudStatusLocked(id, gate)
	if st == api.TunnelStarted && m.run[id].reported != api.TunnelStarted {
		if m.reportErr != "" {
			return api.TunnelError, m.reportErr
		}
		return api.TunnelStarting, "Reporting the tunnel to CloudLink."
	}
	return st, reason
}

// list returns the tunnels as the API shows them; linkState is the agent's
// link state.
func (m *tunnelManager) list(linkState string) api.Tunnels {
	gate := m.gateReason()
	m.mu.Lock()
	defer m.mu.Unlock()
	out := api.Tunnels{Tunnels: make([]api.Tunnel, 0, len(m.defs)), Connected: m.connected, Refused: m.refused.Load()}
	for _, d := range m.defs {
		st, reason := m.statusLocked(d.ID, gate, linkState)
		out.Tunnels = append(out.Tunnels, api.Tunnel{
			ID: d.ID, Component: d.Component, Name: d.Name, Description: d.Description,
			Enabled: m.enabled[d.ID], Status: st, Reason: reason,
			LocalAddress: d.LocalAddress, PublicURL: m.run[d.ID].publicURL,
		})
	}
	return out
}

// --- the edge's streams ---------------------------------------------------------

// resolve answers a stream header: only an enabled tunnel of this host's
// own table leads anywhere, and only to its configured local address.
func (m *tunnelManager) resolve(id string) (tunnel.Target, error) {
	i, ok := m.byID[id]
	if !ok {
		if len(id) > 80 {
			id = id[:80] + "…"
		}
		return tunnel.Target{}, &tunnel.RefusalError{Code: tunnel.ReplyUnknownTunnel, Message: fmt.Sprintf("this host has no tunnel %q", id)}
	}
	gate := m.gateReason()
	m.mu.Lock()
	on := m.enabled[id] && m.linked && gate == ""
	m.mu.Unlock()
	if !on {
		return tunnel.Target{}, &tunnel.RefusalError{Code: tunnel.ReplyStopped, Message: fmt.Sprintf("the tunnel %s is stopped on this host", id)}
	}
	t := m.defs[i].target
	if t.TLS != nil {
		t.TLS = t.TLS.Clone()
	}
	t.Track = func(closeStream func()) func() {
		return m.track(id, closeStream)
	}
	return t, nil
}

// track registers an open stream of tunnel id; a stream of a tunnel that
// stopped since it was resolved is closed at once.
func (m *tunnelManager) track(id string, closeStream func()) (ended func()) {
	gate := m.gateReason()
	m.mu.Lock()
	if !(m.enabled[id] && m.linked && gate == "") {
		m.mu.Unlock()
		closeStream()
		return func() {}
	}
	if m.streams == nil {
		m.streams = map[string]map[*func()]struct{}{}
	}
	if m.streams[id] == nil {
		m.streams[id] = map[*func()]struct{}{}
	}
	key := &closeStream
	m.streams[id][key] = struct{}{}
	m.mu.Unlock()
	return func() {
		m.mu.Lock()
		delete(m.streams[id], key)
		m.mu.Unlock()
	}
}

// closeStoppedStreams closes the open streams of every tunnel that is no
// longer on, so that a stop takes effect on connections already open (the
// edge keeps HTTP connections alive) and not only on new ones.
func (m *tunnelManager) closeStoppedStreams() {
	gate := m.gateReason()
	var closers []*func()
	m.mu.Lock()
	for id, set := range m.streams {
		if !(m.enabled[id] && m.linked && gate == "") {
			for c := range set {
				closers = append(closers, c)
			}
			delete(m.streams, id)
		}
	}
	m.mu.Unlock()
	for _, c := range closers {
		(*c)()
	}
}

// onRefused counts refused streams; a local service that failed a stream
// is checked again.
func (m *tunnelManager) onRefused(id string, code tunnel.ReplyCode) {
	m.refused.Add(1)
	if len(id) > 80 {
		id = id[:80] + "…"
	}
	m.log.Info("refused a stream from the tunnel edge", "tunnel", id, "code", code)
	if code != tunnel.ReplyLocalDown {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if r := m.run[id]; r != nil && m.enabled[id] {
		r.needCheck = true
		m.notifyLocked()
	}
}

// --- running while linked ------------------------------------------------------

// RunLinked implements Subsystem: while linked it keeps the session, the
// reports and the local checks going.
func (m *tunnelManager) RunLinked(ctx context.Context, s *Session) error {
	if len(m.defs) == 0 {
		return nil
	}
	m.attach(s)
	defer m.detach()
	hc := tunnelHTTPClient(s.HTTPClient())
	defer hc.CloseIdleConnections()
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { m.sessionLoop(gctx, s, hc); return nil })
	g.Go(func() error { m.reportLoop(gctx, s); return nil })
	g.Go(func() error { m.checkLoop(gctx); return nil })
	return g.Wait()
}

func (m *tunnelManager) attach(s *Session) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.systemID != s.SystemID() {
		for _, r := range m.run {
			r.publicURL = ""
		}
	}
	m.linked, m.systemID = true, s.SystemID()
	m.connected, m.sessErr, m.reportErr = false, "", ""
	for _, r := range m.run {
		r.local, r.localErr, r.needCheck, r.reported = localUnknown, "", false, ""
		r.recheck.Reset()
	}
	m.notifyLocked()
}

func (m *tunnelManager) detach() {
	defer m.closeStoppedStreams() // after the unlock below
	m.mu.Lock()
	defer m.mu.Unlock()
	m.linked, m.connected, m.sessErr, m.reportErr = false, false, "", ""
	for _, r := range m.run {
		r.reported = ""
	}
	m.notifyLocked()
}

// tunnelHTTPClient is the cloud client made fit for a long-lived WebSocket:
// no overall timeout, HTTP/1.1 only (the upgrade needs it), its own
// connections. Trust and proxy stay the same.
func tunnelHTTPClient(hc *http.Client) *http.Client {
	c := &http.Client{Transport: hc.Transport, CheckRedirect: hc.CheckRedirect}
	if tr, ok := hc.Transport.(*http.Transport); ok {
		tr = tr.Clone()
		var p http.Protocols
		p.SetHTTP1(true)
		tr.Protocols = &p
		tr.ForceAttemptHTTP2 = false
		c.Transport = tr
	}
	return c
}

// edgeURL is the WebSocket URL of the cloud's tunnel edge.
func edgeURL(cloudURL string) string {
	u := strings.TrimRight(cloudURL, "/") + cloudapi.PathTunnelConnect
	if rest, ok := strings.CutPrefix(u, "https://"); ok {
		return "wss://" + rest
	}
	if rest, ok := strings.CutPrefix(u, "http://"); ok {
		return "ws://" + rest
	}
	return u
}

// wantSession says whether a session should run: an enabled tunnel and no
// veto.
func (m *tunnelManager) wantSession() (bool, <-chan struct{}) {
	gate := m.gateReason()
	m.mu.Lock()
	defer m.mu.Unlock()
	if gate != "" {
		return false, m.wake
	}
	for _, d := range m.defs {
		if m.enabled[d.ID] {
			return true, m.wake
		}
	}
	return false, m.wake
}

// reconnectPolicy is the delay schedule after a session is lost (see the
// comment at the top of this file).
type reconnectPolicy struct {
	fast, slow  *backoff.Backoff
	outageStart time.Time
}

func newReconnectPolicy() *reconnectPolicy {
	return &reconnectPolicy{fast: backoff.New(reconnectFastMin, reconnectFastMax), slow: backoff.New(reconnectSlowMin, reconnectSlowMax)}
}

// reset starts a new outage (after a session that was up for a while).
func (p *reconnectPolicy) reset() {
	p.fast.Reset()
	p.slow.Reset()
	p.outageStart = time.Time{}
}

// next is the delay before the next attempt; hard means a quick retry
// cannot help.
func (p *reconnectPolicy) next(now time.Time, hard bool) time.Duration {
	if p.outageStart.IsZero() {
		p.outageStart = now
	}
	if !hard && now.Sub(p.outageStart) < reconnectFastWindow {
		return p.fast.Next()
	}
	return p.slow.Next()
}

// sessionLoop keeps one session to the edge while a tunnel is enabled.
func (m *tunnelManager) sessionLoop(ctx context.Context, s *Session, hc *http.Client) {
	pol := newReconnectPolicy()
	cfg := tunnel.AgentConfig{
		URL:        edgeURL(s.CloudURL()),
		HTTPClient: hc,
		Token:      s.Token,
		Resolve:    m.resolve,
		OnRefused:  m.onRefused,
		Logger:     m.log,
	}
	var lostAt time.Time
	for {
		want, wake := m.wantSession()
		if !want {
			pol.reset()
			select {
			case <-ctx.Done():
				return
			case <-wake:
				continue
			}
		}
		sctx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		var connectedAt atomic.Pointer[time.Time]
		prevLost := lostAt
		go func() {
			done <- m.serve(sctx, cfg, func() {
				now := m.clock.Now()
				connectedAt.Store(&now)
				m.onConnected(now, prevLost)
			})
		}()
		var err error
		stopped := false
	wait:
		for {
			select {
			case err = <-done:
				break wait
			case <-wake:
				if want, wake = m.wantSession(); !want {
					stopped = true
					cancel()
					err = <-done
					break wait
				}
			case <-ctx.Done():
				cancel()
				<-done
				m.onDisconnected(nil, s)
				return
			}
		}
		cancel()
		now := m.clock.Now()
		if ca := connectedAt.Load(); ca != nil {
			lostAt = now
			if now.Sub(*ca) >= sessionStableAfter {
				pol.reset()
			}
		}
		if stopped {
			m.onDisconnected(nil, s)
			m.log.Info("tunnel session closed: no tunnel is started")
			lostAt = time.Time{}
			continue
		}
		hard := m.onDisconnected(err, s)
		delay := pol.next(now, hard)
		m.log.Debug("reconnecting to the tunnel edge", "in", delay, "err", err)
		t := m.clock.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.Chan():
		case <-m.retry:
			t.Stop()
		}
	}
}

func (m *tunnelManager) onConnected(now, lostAt time.Time) {
	m.mu.Lock()
	m.connected, m.connectedAt, m.sessErr = true, now, ""
	m.forceReport = true
	m.notifyLocked()
	m.mu.Unlock()
	if lostAt.IsZero() {
		m.log.Info("tunnel session connected")
	} else {
		m.log.Info("tunnel session connected again", "down_for", now.Sub(lostAt).Round(time.Millisecond))
	}
}

// onDisconnected records why the session ended (nil: on purpose) and
// whether a quick retry cannot help.
func (m *tunnelManager) onDisconnected(err error, s *Session) (hard bool) {
	reason := ""
	if err != nil {
		reason, hard = m.describeSessionErr(err, s)
		m.log.Warn("tunnel session failed; retrying", "err", err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.connected, m.sessErr = false, reason
	for _, r := range m.run {
		r.reported = ""
	}
	m.notifyLocked()
	return hard
}

// describeSessionErr turns a failed session into the tunnels' reason, and
// says whether a quick retry cannot help (hard).
func (m *tunnelManager) describeSessionErr(err error, s *Session) (reason string, hard bool) {
	const retrying = " cld keeps retrying."
	edge := s.CloudURL()
	if pe := m.proxyError(err, edge); pe != nil {
		return capitalize(pe.Error()) + "." + retrying, pe.Status != ""
	}
	var ce *CloudError
	if errors.As(err, &ce) {
		if ce.Status == http.StatusUnauthorized {
			s.invalidate()
		}
		return fmt.Sprintf("CloudLink at %s refused the device token for the tunnel session: %s.%s", edge, strings.TrimSuffix(ce.Error(), "."), retrying), true
	}
	if errors.Is(err, ErrCloudUnreachable) {
		return describeUnreachable(edge, err) + retrying, false
	}
	switch {
	case errors.Is(err, tunnel.ErrTokenRefused):
		s.invalidate()
		return fmt.Sprintf("The tunnel edge at %s refused this host's credentials: %v. If this lasts, link the host again.%s", edge, err, retrying), true
	case errors.Is(err, tunnel.ErrTLS):
		return fmt.Sprintf("Could not reach the tunnel edge at %s: %v. Check cloud_ca (or --cloud-ca) and whether a proxy intercepts TLS.%s", edge, err, retrying), true
	case errors.Is(err, tunnel.ErrProtocol):
		return fmt.Sprintf("The tunnel edge at %s does not accept this cld's tunnel protocol: %v. Update cld.%s", edge, err, retrying), true
	case errors.Is(err, tunnel.ErrDeadPath):
		return fmt.Sprintf("The path to the tunnel edge at %s went dead: %v.%s", edge, err, retrying), false
	case errors.Is(err, tunnel.ErrReplaced):
		// Our own reconnects never replace a live session of ours: another
		// copy of this host is connected, so do not fight it quickly.
		return fmt.Sprintf("Another session of this system replaced this one at the tunnel edge (%v); if this repeats, a copy of this host may be running with the same identity.%s", err, retrying), true
	case errors.Is(err, tunnel.ErrEdgeClosed), errors.Is(err, tunnel.ErrConnectionLost):
		return fmt.Sprintf("The tunnel session to %s ended: %v.%s", edge, err, retrying), false
	}
	if status := httpStatusIn(err.Error()); status != 0 {
		if status == http.StatusUnauthorized {
			s.invalidate()
		}
		return fmt.Sprintf("The tunnel edge at %s refused the session: %v.%s", edge, err, retrying), status != http.StatusServiceUnavailable && status != http.StatusBadGateway && status != http.StatusGatewayTimeout
	}
	var ne net.Error
	var oe *net.OpError
	var dnse *net.DNSError
	if errors.As(err, &ne) || errors.As(err, &oe) || errors.As(err, &dnse) || errors.Is(err, os.ErrDeadlineExceeded) ||
		strings.Contains(err.Error(), "cannot connect to the edge") {
		return fmt.Sprintf("Could not reach the tunnel edge at %s: %v. Check the network and proxy.%s", edge, err, retrying), false
	}
	return fmt.Sprintf("The tunnel session to %s ended: %v.%s", edge, err, retrying), false
}

// proxyError finds a refusal of the HTTP proxy in a session error: a
// *ProxyError of our transport, or the tunnel library's ErrProxy (whose
// status it carries in words); nil when the proxy is not to blame.
func (m *tunnelManager) proxyError(err error, cloudURL string) *ProxyError {
	var pe *ProxyError
	if errors.As(err, &pe) {
		return pe
	}
	msg := err.Error()
	if !errors.Is(err, tunnel.ErrProxy) && !strings.Contains(msg, "Proxy Authentication Required") {
		return nil
	}
	pe = &ProxyError{Proxy: "(unknown)"}
	if ps := m.a.proxy; ps != nil {
		pe.Hint = ps.hint
		if p := ps.proxyURLFor(cloudURL); p != nil {
			pe.Proxy = canonicalProxyAddr(p)
		}
	}
	switch status := httpStatusIn(msg); {
	case status == http.StatusProxyAuthRequired || strings.Contains(msg, "Proxy Authentication Required"):
		pe.Status = "407 Proxy Authentication Required"
		if ps := m.a.proxy; ps != nil {
			pe.Hint = ps.hint407
		}
	case status == http.StatusUnauthorized:
		pe.Status = "401 Unauthorized"
		if ps := m.a.proxy; ps != nil {
			pe.Hint = ps.hint407
		}
	case status == http.StatusForbidden:
		pe.Status = "403 Forbidden"
		if ps := m.a.proxy; ps != nil {
			pe.Hint = "check that the proxy allows CONNECT to the cloud's host and port, and " + ps.hint
		}
	case status != 0:
		pe.Status = fmt.Sprintf("%d %s", status, http.StatusText(status))
	default:
		pe.Err = errors.Unwrap(err)
		if pe.Err == nil {
			pe.Err = err
		}
		pe.Status = strings.TrimPrefix(msg, tunnel.ErrProxy.Error()+": ")
	}
	return pe
}

// httpStatusIn finds an HTTP error status quoted in an error message such
// as "… status 403 …" or "… 401 Unauthorized"; 0 when none.
func httpStatusIn(msg string) int {
	for _, code := range []int{400, 401, 403, 404, 405, 407, 426, 429, 500, 502, 503, 504} {
		text := http.StatusText(code)
		if strings.Contains(msg, fmt.Sprintf("%d %s", code, text)) || strings.Contains(msg, fmt.Sprintf("status %d", code)) ||
			strings.Contains(msg, fmt.Sprintf("status code %d", code)) || strings.Contains(msg, fmt.Sprintf("HTTP %d", code)) ||
			strings.Contains(msg, fmt.Sprintf("got %d", code)) {
			return code
		}
	}
	return 0
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// --- reports to the cloud ----------------------------------------------------------

// cloudSnapshot is the tunnel list as the cloud should see it now.
func (m *tunnelManager) cloudSnapshot() ([]cloudapi.TunnelInfo, bool, <-chan struct{}) {
	gate := m.gateReason()
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]cloudapi.TunnelInfo, 0, len(m.defs))
	for _, d := range m.defs {
		st, reason := m.cloudStatusLocked(d.ID, gate)
		out = append(out, cloudapi.TunnelInfo{ID: d.ID, Component: d.Component, Name: d.Name, Description: d.Description, Status: st, Reason: reason,
			Origin: tunnelOrigin(d.Tunnel)})
	}
	force := m.forceReport
	m.forceReport = false
	return out, force, m.wake
}

// tunnelOrigin is what the cloud is told of a tunnel's local address
// (cloudapi.TunnelInfo.Origin): scheme://host:port, lower case.
func tunnelOrigin(t platforms.Tunnel) string {
	ep, err := t.Endpoint()
	if err != nil {
		return ""
	}
	scheme := "http"
	if ep.TLS {
		scheme = "https"
	}
	return scheme + "://" + strings.ToLower(ep.Address())
}

// reportLoop sends the tunnel list to the cloud whenever it changes and
// after every reconnect, retrying failures with backoff.
func (m *tunnelManager) reportLoop(ctx context.Context, s *Session) {
	bo := backoff.New(reportRetryMin, reportRetryMax)
	var last []cloudapi.TunnelInfo
	var retryAt time.Time
	pendingForce := false
	for {
		snap, force, wake := m.cloudSnapshot()
		if force {
			// A new session: report at once, whatever the backoff said.
			pendingForce, retryAt = true, time.Time{}
			bo.Reset()
		}
		due := pendingForce || last == nil || !slices.Equal(snap, last)
		var wait time.Duration
		if due && !retryAt.IsZero() {
			wait = retryAt.Sub(m.clock.Now())
		}
		if !due || wait > 0 {
			var timer clockwork.Timer
			var fire <-chan time.Time
			if wait > 0 {
				timer = m.clock.NewTimer(wait)
				fire = timer.Chan()
			}
			select {
			case <-ctx.Done():
			case <-wake:
			case <-fire:
				retryAt = time.Time{}
			}
			if timer != nil {
				timer.Stop()
			}
			if ctx.Err() != nil {
				return
			}
			continue
		}
		pendingForce = false
		resp, err := m.report(ctx, s, snap)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			last = nil
			retryAt = m.clock.Now().Add(bo.Next())
			reason := m.describeReportErr(err, s)
			m.log.Warn("could not report the tunnels to CloudLink; retrying", "err", err)
			m.mu.Lock()
			if m.reportErr != reason {
				m.reportErr = reason
				m.notifyLocked()
			}
			m.mu.Unlock()
			continue
		}
		bo.Reset()
		retryAt = time.Time{}
		last = snap
		m.applyReport(snap, resp)
	}
}

func (m *tunnelManager) applyReport(sent []cloudapi.TunnelInfo, resp *cloudapi.TunnelsResponse) {
	urls := map[string]string{}
	for _, t := range resp.Tunnels {
		urls[t.ID] = t.PublicURL
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, t := range sent {
		r := m.run[t.ID]
		r.reported = t.Status
		if u := urls[t.ID]; u != "" {
			r.publicURL = u
		}
	}
	m.reportErr = ""
	m.notifyLocked()
	m.log.Debug("reported the tunnels to CloudLink", "tunnels", len(sent))
}

// report PUTs the list, once more with a fresh token after a 401.
func (m *tunnelManager) report(ctx context.Context, s *Session, snap []cloudapi.TunnelInfo) (*cloudapi.TunnelsResponse, error) {
	ctx, cancel := context.WithTimeout(ctx, reportTimeout)
	defer cancel()
	for attempt := 0; ; attempt++ {
		tok, err := s.Token(ctx)
		if err != nil {
			return nil, err
		}
		resp, err := s.cloud.putTunnels(ctx, tok, cloudapi.TunnelsRequest{Tunnels: snap})
		var ce *CloudError
		if attempt == 0 && errors.As(err, &ce) && ce.Status == http.StatusUnauthorized && ce.Code != cloudapi.ErrSystemRevoked {
			s.invalidate()
			continue
		}
		return resp, err
	}
}

func (m *tunnelManager) describeReportErr(err error, s *Session) string {
	if errors.Is(err, ErrCloudUnreachable) {
		return describeUnreachable(s.CloudURL(), err) + " cld keeps retrying."
	}
	var ce *CloudError
	if errors.As(err, &ce) && ce.Status == http.StatusNotFound {
		return fmt.Sprintf("CloudLink at %s does not offer tunnels (it answered 404 to the tunnel report); ask the platform's operator.", s.CloudURL())
	}
	return fmt.Sprintf("CloudLink at %s did not accept the tunnel report: %v. cld keeps retrying.", s.CloudURL(), err)
}

// --- local checks ----------------------------------------------------------------

// checkLoop dials the local address of each enabled tunnel when it starts,
// after a stream to it failed, and again and again while it is down.
func (m *tunnelManager) checkLoop(ctx context.Context) {
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		due, next, wake := m.dueChecks()
		for _, id := range due {
			wg.Add(1)
			go func() {
				defer wg.Done()
				m.check(ctx, id)
			}()
		}
		var timer clockwork.Timer
		var fire <-chan time.Time
		if !next.IsZero() {
			timer = m.clock.NewTimer(next.Sub(m.clock.Now()))
			fire = timer.Chan()
		}
		select {
		case <-ctx.Done():
		case <-wake:
		case <-fire:
		}
		if timer != nil {
			timer.Stop()
		}
		if ctx.Err() != nil {
			return
		}
	}
}

// dueChecks marks the checks to run now and says when the next is due.
func (m *tunnelManager) dueChecks() (due []string, next time.Time, wake <-chan struct{}) {
	now := m.clock.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, d := range m.defs {
		r := m.run[d.ID]
		if !m.enabled[d.ID] || !m.linked || r.checking {
			continue
		}
		switch {
		case r.local == localUnknown || r.needCheck:
		case r.local == localDown && !now.Before(r.recheckAt):
		case r.local == localDown:
			if next.IsZero() || r.recheckAt.Before(next) {
				next = r.recheckAt
			}
			continue
		default:
			continue
		}
		r.checking, r.needCheck = true, false
		due = append(due, d.ID)
	}
	return due, next, m.wake
}

// check dials one tunnel's local address (TCP; TLS is the stream's matter).
func (m *tunnelManager) check(ctx context.Context, id string) {
	d := m.defs[m.byID[id]]
	c, err := m.dial(ctx, "tcp", d.target.Address)
	if c != nil {
		c.Close()
	}
	if ctx.Err() != nil {
		m.mu.Lock()
		m.run[id].checking = false
		m.mu.Unlock()
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	r := m.run[id]
	r.checking = false
	was := r.local
	if err == nil {
		r.local, r.localErr = localOK, ""
		r.recheck.Reset()
		if was == localDown {
			m.log.Info("the local service of a tunnel answers again", "tunnel", id, "address", d.LocalAddress)
		}
	} else {
		r.local = localDown
		r.localErr = fmt.Sprintf("The local service at %s does not answer (%s); check that it runs. cld checks again by itself.", d.LocalAddress, dialCause(err))
		r.recheckAt = m.clock.Now().Add(r.recheck.Next())
		if was != localDown {
			m.log.Warn("the local service of a tunnel does not answer", "tunnel", id, "address", d.LocalAddress, "err", err)
		}
	}
	m.notifyLocked()
}

// dialCause is the short cause of a failed dial, e.g. "connection refused".
func dialCause(err error) string {
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Err != nil {
		var se *os.SyscallError
		if errors.As(oe.Err, &se) {
			return se.Err.Error()
		}
		return oe.Err.Error()
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return "no answer in time"
	}
	return err.Error()
}

// --- the Agent's API -----------------------------------------------------------

// Tunnels lists the host's tunnels.
func (a *Agent) Tunnels(ctx context.Context) api.Tunnels {
	return a.tunnels.list(a.linkState())
}

// StartTunnel starts the tunnel id and keeps it started across restarts.
func (a *Agent) StartTunnel(ctx context.Context, id string) (api.Tunnels, error) {
	return a.setTunnels(ctx, id, true)
}

// StopTunnel stops the tunnel id.
func (a *Agent) StopTunnel(ctx context.Context, id string) (api.Tunnels, error) {
	return a.setTunnels(ctx, id, false)
}

// StartAllTunnels starts every tunnel.
func (a *Agent) StartAllTunnels(ctx context.Context) (api.Tunnels, error) {
	return a.setTunnels(ctx, "", true)
}

// StopAllTunnels stops every tunnel.
func (a *Agent) StopAllTunnels(ctx context.Context) (api.Tunnels, error) {
	return a.setTunnels(ctx, "", false)
}

func (a *Agent) setTunnels(ctx context.Context, id string, on bool) (api.Tunnels, error) {
	m := a.tunnels
	var ids []string
	if id != "" {
		if _, ok := m.byID[id]; !ok {
			return api.Tunnels{}, m.unknown(id)
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
	return a.Tunnels(ctx), nil
}

func (a *Agent) linkState() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.state
}

// putTunnels reports the tunnel list (PUT PathSystemTunnels).
func (c *cloudClient) putTunnels(ctx context.Context, deviceToken string, r cloudapi.TunnelsRequest) (*cloudapi.TunnelsResponse, error) {
	body, err := json.Marshal(r)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, c.base+cloudapi.PathSystemTunnels, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+deviceToken)
	var resp cloudapi.TunnelsResponse
	if err := c.do(req, &resp); err != nil {
		return nil, err
	}
	return &resp, nil
}
