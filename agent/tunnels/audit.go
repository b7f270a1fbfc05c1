package tunnels

import (
	"github.com/cloudlink/cld/tunnel"
)

// onStream records a public connection that went through a tunnel.
func (m *Manager) onStream(r tunnel.StreamRecord) {
	m.log.Info("tunnel connection", "tunnel", r.Tunnel, "user", r.User, "client", r.Client,
		"start", r.Start, "end", r.End, "bytes_in", r.FromEdge, "bytes_out", r.ToEdge)
}
