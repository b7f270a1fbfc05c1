package tunnels

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/cloudlink/cld/agent/backoff"
	"github.com/cloudlink/cld/agent/cloudclient"
	"github.com/cloudlink/cld/agent/link"
	"github.com/cloudlink/cld/agent/proxy"
	"github.com/cloudlink/cld/cloud/cloudapi"
	"github.com/cloudlink/cld/tunnel"
)

// --- running while linked ------------------------------------------------------

// RunLinked implements Subsystem: while linked it keeps the session, the
// reports and the local checks going.
func (m *Manager) RunLinked(ctx context.Context, s *link.Session) error {
	// Nothing to do without tunnels, until a reload defines some.
	for {
		m.mu.Lock()
		n, wake := len(m.defs), m.wake
		m.mu.Unlock()
		if n > 0 {
			break
		}
		select {
		case <-ctx.Done():
			return nil
		case <-wake:
		}
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

func (m *Manager) attach(s *link.Session) {
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

func (m *Manager) detach() {
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
func (m *Manager) wantSession() (bool, <-chan struct{}) {
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
	return &reconnectPolicy{fast: backoff.New(reconnectFastMin, ReconnectFastMax), slow: backoff.New(reconnectSlowMin, reconnectSlowMax)}
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
func (m *Manager) sessionLoop(ctx context.Context, s *link.Session, hc *http.Client) {
	pol := newReconnectPolicy()
	cfg := tunnel.AgentConfig{
		URL:        edgeURL(s.CloudURL()),
		HTTPClient: hc,
		Token:      s.Token,
		Resolve:    m.resolve,
		OnRefused:  m.onRefused,
		OnStream:   m.onStream,
		SystemID:   s.SystemID(),
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

func (m *Manager) onConnected(now, lostAt time.Time) {
	m.mu.Lock()
	m.connected, m.connectedAt, m.sessErr = true, now, ""
	m.forceReport = true
	m.notifyLocked()
	m.mu.Unlock()
	m.sessions.Add(1)
	if !lostAt.IsZero() {
		m.reconnects.Add(1)
	}
	if lostAt.IsZero() {
		m.log.Info("tunnel session connected")
	} else {
		m.log.Info("tunnel session connected again", "down_for", now.Sub(lostAt).Round(time.Millisecond))
	}
}

// onDisconnected records why the session ended (nil: on purpose) and
// whether a quick retry cannot help.
func (m *Manager) onDisconnected(err error, s *link.Session) (hard bool) {
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
// linkSession is what describing a failure needs of the link's session.
type linkSession interface {
	CloudURL() string
	Invalidate() // the cloud refused the token: fetch a new one
}

func (m *Manager) describeSessionErr(err error, s linkSession) (reason string, hard bool) {
	const retrying = " cld keeps retrying."
	edge := s.CloudURL()
	if pe := m.proxyError(err, edge); pe != nil {
		return capitalize(pe.Error()) + "." + retrying, pe.Status != ""
	}
	var ce *cloudclient.Error
	if errors.As(err, &ce) {
		if ce.Status == http.StatusUnauthorized {
			s.Invalidate()
		}
		return fmt.Sprintf("CloudLink at %s refused the device token for the tunnel session: %s.%s", edge, strings.TrimSuffix(ce.Error(), "."), retrying), true
	}
	if errors.Is(err, cloudclient.ErrUnreachable) {
		return cloudclient.DescribeUnreachable(edge, err) + retrying, false
	}
	switch {
	case errors.Is(err, tunnel.ErrTokenRefused):
		s.Invalidate()
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
			s.Invalidate()
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
// *proxy.Error of our transport, or the tunnel library's ErrProxy (whose
// status it carries in words); nil when the proxy is not to blame.
func (m *Manager) proxyError(err error, cloudURL string) *proxy.Error {
	var pe *proxy.Error
	if errors.As(err, &pe) {
		return pe
	}
	msg := err.Error()
	if !errors.Is(err, tunnel.ErrProxy) && !strings.Contains(msg, "Proxy Authentication Required") {
		return nil
	}
	pe = &proxy.Error{Proxy: "(unknown)"}
	if ps := m.cfg.Proxy; ps != nil {
		pe.Hint = ps.Hint()
		if p := ps.URLFor(cloudURL); p != nil {
			pe.Proxy = proxy.CanonicalAddr(p)
		}
	}
	switch status := httpStatusIn(msg); {
	case status == http.StatusProxyAuthRequired || strings.Contains(msg, "Proxy Authentication Required"):
		pe.Status = "407 Proxy Authentication Required"
		if ps := m.cfg.Proxy; ps != nil {
			pe.Hint = ps.Hint407()
		}
	case status == http.StatusUnauthorized:
		pe.Status = "401 Unauthorized"
		if ps := m.cfg.Proxy; ps != nil {
			pe.Hint = ps.Hint407()
		}
	case status == http.StatusForbidden:
		pe.Status = "403 Forbidden"
		if ps := m.cfg.Proxy; ps != nil {
			pe.Hint = "check that the proxy allows CONNECT to the cloud's host and port, and " + ps.Hint()
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
