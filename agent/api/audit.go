package api

import "time"

// RouteTunnelAudit lists the access audit's most recent records
// (api.Audit; ?limit=N, at most 100).
const RouteTunnelAudit = "GET /v1/tunnels/audit"

// AuditRecord is one public connection through a tunnel, recorded on the
// host: the portal user the tunnel edge vouched for in its signed stream
// header, the tunnel, the public client's address, when it started and
// ended, and the bytes each way.
type AuditRecord struct {
	Tunnel string    `json:"tunnel"`
	User   string    `json:"user"`             // "" when the edge named none
	Client string    `json:"client,omitempty"` // the public client's address, as the edge saw it
	Start  time.Time `json:"start"`
	End    time.Time `json:"end"`
	// BytesIn went from the public client to the local service, BytesOut
	// the other way.
	BytesIn  int64 `json:"bytes_in"`
	BytesOut int64 `json:"bytes_out"`
}

// Audit is the access audit: its most recent records, newest first, and
// where it is kept.
type Audit struct {
	Records []AuditRecord `json:"records"`
	// Path is the audit log's file in the state directory.
	Path string `json:"path"`
	// MaxBytes bounds the log: the file is rotated (one older file kept)
	// when it would grow past it.
	MaxBytes int64 `json:"max_bytes"`
}
