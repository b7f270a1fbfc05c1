package tunnels

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/cloudlink/cld/agent/backoff"
	"github.com/cloudlink/cld/agent/cloudclient"
	"github.com/cloudlink/cld/agent/link"
	"github.com/cloudlink/cld/cloud/cloudapi"
	"github.com/cloudlink/cld/platforms"
)

// --- reports to the cloud ----------------------------------------------------------

// cloudSnapshot is the tunnel list as the cloud should see it now.
func (m *Manager) cloudSnapshot() ([]cloudapi.TunnelInfo, bool, <-chan struct{}) {
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
func (m *Manager) reportLoop(ctx context.Context, s *link.Session) {
	bo := backoff.New(reportRetryMin, ReportRetryMax)
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

func (m *Manager) applyReport(sent []cloudapi.TunnelInfo, resp *cloudapi.TunnelsResponse) {
	urls := map[string]string{}
	for _, t := range resp.Tunnels {
		urls[t.ID] = t.PublicURL
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, t := range sent {
		r := m.run[t.ID]
		if r == nil {
			continue // removed by a reload meanwhile
		}
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
func (m *Manager) report(ctx context.Context, s *link.Session, snap []cloudapi.TunnelInfo) (*cloudapi.TunnelsResponse, error) {
	ctx, cancel := context.WithTimeout(ctx, reportTimeout)
	defer cancel()
	for attempt := 0; ; attempt++ {
		tok, err := s.Token(ctx)
		if err != nil {
			return nil, err
		}
		resp, err := s.Cloud().PutTunnels(ctx, tok, cloudapi.TunnelsRequest{Tunnels: snap})
		var ce *cloudclient.Error
		if attempt == 0 && errors.As(err, &ce) && ce.Status == http.StatusUnauthorized && ce.Code != cloudapi.ErrSystemRevoked {
			s.Invalidate()
			continue
		}
		return resp, err
	}
}

func (m *Manager) describeReportErr(err error, s linkSession) string {
	if errors.Is(err, cloudclient.ErrUnreachable) {
		return cloudclient.DescribeUnreachable(s.CloudURL(), err) + " cld keeps retrying."
	}
	var ce *cloudclient.Error
	if errors.As(err, &ce) && ce.Status == http.StatusNotFound {
		return fmt.Sprintf("CloudLink at %s does not offer tunnels (it answered 404 to the tunnel report); ask the platform's operator.", s.CloudURL())
	}
	return fmt.Sprintf("CloudLink at %s did not accept the tunnel report: %v. cld keeps retrying.", s.CloudURL(), err)
}

// --- local checks ----------------------------------------------------------------

// checkLoop dials the local address of each enabled tunnel when it starts,
// after a stream to it failed, and again and again while it is down.
func (m *Manager) checkLoop(ctx context.Context) {
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
func (m *Manager) dueChecks() (due []string, next time.Time, wake <-chan struct{}) {
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
func (m *Manager) check(ctx context.Context, id string) {
	m.mu.Lock()
	d := m.defs[m.byID[id]]
	r := m.run[id]
	m.mu.Unlock()
	c, err := m.dial(ctx, "tcp", d.target.Address)
	if c != nil {
		c.Close()
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.run[id] != r {
		return // the tunnel was redefined (reload) meanwhile: its new run checks afresh
	}
	if ctx.Err() != nil {
		r.checking = false
		return
	}
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
