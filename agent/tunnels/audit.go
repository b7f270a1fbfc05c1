package tunnels

import (
	"net/http"
	"strconv"
	"time"

	"github.com/cloudlink/cld/agent/api"
	"github.com/cloudlink/cld/agent/audit"
	"github.com/cloudlink/cld/inventory"
	"github.com/cloudlink/cld/tunnel"
)

// onStream records a public connection that went through a tunnel, in the
// access audit (its log and the journal).
func (m *Manager) onStream(r tunnel.StreamRecord) {
	_ = m.audit.Add(api.AuditRecord{Tunnel: r.Tunnel, User: r.User, Client: r.Client,
		Start: r.Start.UTC(), End: r.End.UTC(), BytesIn: r.FromEdge, BytesOut: r.ToEdge})
}

// Audit is the access audit.
func (m *Manager) Audit() *audit.Log { return m.audit }

// AuditList is the audit's most recent records (at most audit.MaxList),
// newest first.
func (m *Manager) AuditList(n int) (api.Audit, error) {
	recs, err := m.audit.Last(n)
	if err != nil {
		return api.Audit{}, api.Errorf(api.CodeInternal, "Cannot read the access audit: %v", err)
	}
	if recs == nil {
		recs = []api.AuditRecord{}
	}
	return api.Audit{Records: recs, Path: m.audit.Path(), MaxBytes: m.audit.MaxBytes()}, nil
}

// auditRoute answers api.RouteTunnelAudit.
func (m *Manager) auditRoute(r *http.Request) (any, error) {
	n := audit.MaxList
	if s := r.URL.Query().Get("limit"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v < 1 {
			return nil, api.Errorf(api.CodeBadRequest, "limit must be a positive number, not %q", s)
		}
		n = min(v, audit.MaxList)
	}
	return m.AuditList(n)
}

// AccessTotals are the audit's totals over the connections that ended after
// since, for the inventory report.
func (m *Manager) AccessTotals(since time.Time) (inventory.Access, error) {
	t, err := m.audit.Totals(since)
	if err != nil {
		return inventory.Access{}, err
	}
	return inventory.Access{Connections: t.Connections, BytesIn: uint64(max(t.BytesIn, 0)), BytesOut: uint64(max(t.BytesOut, 0)), Users: t.Users}, nil
}
