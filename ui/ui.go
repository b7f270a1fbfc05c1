// Package ui is the daemon's web dashboard (a-h/templ components and their
// handlers). It talks to the daemon only through agent/client.
package ui

import (
	"log/slog"
	"net/http"

	"github.com/cloudlink/cld/agent/client"
)

// Config configures the dashboard.
type Config struct {
	// Client reaches the daemon's local API (in-process in `cld run`).
	Client *client.Client
	// BasePath is the path prefix the dashboard is mounted under by the host's
	// management UI (e.g. "/cld"); "" when served at the root. A request's
	// X-Forwarded-Prefix from a trusted proxy takes precedence.
	BasePath string
	// TrustedProxies are the remote IPs whose X-Forwarded-* headers are honoured.
	TrustedProxies []string
	// Logger for the dashboard; nil means slog.Default().
	Logger *slog.Logger
}

// New returns the dashboard's handler.
func New(cfg Config) (http.Handler, error) {
	return http.NotFoundHandler(), nil // replaced by the dashboard implementation
}
