package tunnels

import (
	"fmt"

	"github.com/cloudlink/cld/agent/api"
	"github.com/cloudlink/cld/tunnel"
)

// --- status ----------------------------------------------------------------

// cloudStatusLocked is a tunnel's status as reported to the cloud: started
// means the edge may route to it.
func (m *Manager) cloudStatusLocked(id, gate string) (status, reason string) {
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
func (m *Manager) statusLocked(id, gate, linkState string) (status, reason string) {
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
		return api.TunnelError, NotLinkedReason
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

// list returns the tunnels as the API shows them; linkState is the link's
// state (api.State*).
func (m *Manager) list(linkState string) api.Tunnels {
	gate := m.gateReason()
	m.mu.Lock()
	defer m.mu.Unlock()
	out := api.Tunnels{Tunnels: make([]api.Tunnel, 0, len(m.defs)), Connected: m.connected, Refused: m.refused.Load(), RefusedUnsigned: m.unsigned.Load()}
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
func (m *Manager) resolve(id string) (tunnel.Target, error) {
	gate := m.gateReason()
	m.mu.Lock()
	i, ok := m.byID[id]
	on := ok && m.enabled[id] && m.linked && gate == ""
	var t tunnel.Target
	if ok {
		t = m.defs[i].target
	}
	m.mu.Unlock()
	if !ok {
		if len(id) > 80 {
			id = id[:80] + "…"
		}
		return tunnel.Target{}, &tunnel.RefusalError{Code: tunnel.ReplyUnknownTunnel, Message: fmt.Sprintf("this host has no tunnel %q", id)}
	}
	if !on {
		return tunnel.Target{}, &tunnel.RefusalError{Code: tunnel.ReplyStopped, Message: fmt.Sprintf("the tunnel %s is stopped on this host", id)}
	}
	if t.TLS != nil {
		t.TLS = t.TLS.Clone()
	}
	t.Track = func(closeStream func()) func() {
		return m.track(id, closeStream)
	}
	t.Count = func(fromEdge, toEdge int64) {
		c := m.countsOf(id)
		c.fromEdge.Add(fromEdge)
		c.toEdge.Add(toEdge)
	}
	return t, nil
}

// track registers an open stream of tunnel id; a stream of a tunnel that
// stopped since it was resolved is closed at once.
func (m *Manager) track(id string, closeStream func()) (ended func()) {
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
	m.countsOf(id).streams.Add(1)
	return func() {
		m.mu.Lock()
		delete(m.streams[id], key)
		m.mu.Unlock()
	}
}

// closeStoppedStreams closes the open streams of every tunnel that is no
// longer on, so that a stop takes effect on connections already open (the
// edge keeps HTTP connections alive) and not only on new ones.
func (m *Manager) closeStoppedStreams() {
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
func (m *Manager) onRefused(id string, code tunnel.ReplyCode) {
	m.refused.Add(1)
	if code == tunnel.ReplyBadSignature {
		m.unsigned.Add(1)
	}
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
