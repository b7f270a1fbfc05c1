package tunnels

import (
	"sync/atomic"

	"github.com/cloudlink/cld/agent/api"
	"github.com/cloudlink/cld/agent/metrics"
)

// streamCounts are one tunnel's counters.
type streamCounts struct {
	streams, fromEdge, toEdge atomic.Int64
}

func (m *Manager) countsOf(id string) *streamCounts {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.counts == nil {
		m.counts = map[string]*streamCounts{}
	}
	c := m.counts[id]
	if c == nil {
		c = &streamCounts{}
		m.counts[id] = c
	}
	return c
}

// Metrics writes the tunnels' metrics: the edge session, and per tunnel
// its state, streams and bytes.
func (m *Manager) Metrics(w *metrics.Writer) {
	ts := m.List()
	w.Gauge("cld_tunnel_session_up", "Whether the session to the tunnel edge is up.", metrics.Bool(ts.Connected))
	w.Counter("cld_tunnel_sessions_total", "Sessions to the tunnel edge that connected.", float64(m.sessions.Load()))
	w.Counter("cld_tunnel_reconnects_total", "Sessions to the tunnel edge that connected again after one was lost.", float64(m.reconnects.Load()))
	w.Counter("cld_tunnel_streams_refused_total", "Streams from the edge the daemon refused (unknown or stopped tunnel, local service down, bad header or signature).", float64(ts.Refused))
	w.Counter("cld_tunnel_streams_unsigned_total", "Streams from the edge the daemon refused because their header had no valid signature of the edge.", float64(ts.RefusedUnsigned))
	for _, t := range ts.Tunnels {
		w.Gauge("cld_tunnel_started", "Whether the tunnel is started (1) or not (0), by its status.", metrics.Bool(t.Status == api.TunnelStarted), "tunnel", t.ID, "status", t.Status)
	}
	m.mu.Lock()
	open := map[string]int{}
	for id, set := range m.streams {
		open[id] = len(set)
	}
	m.mu.Unlock()
	for _, t := range ts.Tunnels {
		w.Gauge("cld_tunnel_streams_open", "Streams open through the tunnel now.", float64(open[t.ID]), "tunnel", t.ID)
	}
	for _, t := range ts.Tunnels {
		w.Counter("cld_tunnel_streams_total", "Streams carried by the tunnel.", float64(m.countsOf(t.ID).streams.Load()), "tunnel", t.ID)
	}
	for _, t := range ts.Tunnels {
		c := m.countsOf(t.ID)
		w.Counter("cld_tunnel_bytes_total", "Bytes carried by the tunnel's ended streams, by direction.", float64(c.fromEdge.Load()), "tunnel", t.ID, "direction", "from_edge")
		w.Counter("cld_tunnel_bytes_total", "Bytes carried by the tunnel's ended streams, by direction.", float64(c.toEdge.Load()), "tunnel", t.ID, "direction", "to_edge")
	}
}
