// Package ui is the daemon's web dashboard (a-h/templ components and their
// handlers). It talks to the daemon only through agent/client.
//
// The dashboard works without JavaScript and loads nothing from the
// internet: its style sheet is embedded, and so is its one script,
// static/live.js, which only keeps a section current while something runs
// (a section with data-live; the page is complete on a reload without it). Every page except the sign-in
// page and the style sheet needs a signed-in dashboard user (a session
// cookie backed by an in-memory session). State-changing forms are POSTs
// checked twice against cross-site requests: by net/http's
// CrossOriginProtection and by a per-session token in a hidden field.
//
// The dashboard can be mounted under a path prefix (e.g. /cld inside a host's
// management UI): the prefix is Config.BasePath, or the X-Forwarded-Prefix
// header of a trusted proxy. Requests may arrive with the prefix still on the
// path or already stripped by the proxy; every link, form and redirect the
// dashboard emits carries the prefix.
//
// Each section of the main page (Warnings, About, CloudLink Registration, …,
// Tunnels) is a component of its own in a section_*.templ file; the page
// puts them in the product's order. The Tunnels section's Start and Stop
// buttons (one per tunnel, and "Start all tunnels" / "Stop all tunnels")
// are forms posting to /tunnels/{id}/start, /tunnels/{id}/stop,
// /tunnels/start-all and /tunnels/stop-all, which answer with a message
// and a redirect back to the section. The CloudLink Daemon Update section's
// forms (Reschedule, Pause, Resume, Check now, Update now) post to
// /update/…, alike; while an update runs, live.js fetches the section again
// from /update/live. The CloudLink Gateway Integration section (only when
// a gateway is installed) has Start, Stop and Restart posting to
// /gateway/start, /gateway/stop and /gateway/restart; while the gateway is
// starting or not healthy yet, live.js fetches it again from /gateway/live
// every 5 s (the daemon reads the gateway's state every 30 s and after each
// control), and its "Refresh the status" button reloads the page.
//
// Every text the dashboard shows goes through the catalogs of ui/i18n
// (lang.go): a request's language is ?lang= (the footer's language form,
// remembered in the cld_lang cookie), else the host management UI's
// language from the platform, else Accept-Language, else English; it
// travels in the request's context, where templates read it (tr, trHTML,
// trText) and handlers too (lc). Texts that other code hands over in
// English (page titles, messages, error pages) are translated when shown;
// the daemon's own texts are shown as they come.
package ui

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
	"time"

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
	// TrustedProxies are the remote IPs (or CIDR ranges) whose X-Forwarded-*
	// headers (Prefix, Host, Proto) are honoured. Nil means the loopback
	// addresses (the host's management UI proxies from the same machine);
	// an empty, non-nil slice trusts no one.
	TrustedProxies []string
	// Logger for the dashboard, tagged by the caller; nil means
	// slog.Default() with component=dashboard.
	Logger *slog.Logger
	// Location is the time zone times are shown in; nil means the host's
	// local time zone.
	Location *time.Location
	// SessionIdle is how long a sign-in lasts without a request; 0 means 8h.
	SessionIdle time.Duration
	// Auth is how users are authenticated (zero: the daemon's own
	// accounts).
	Auth Auth
	// FrameAncestors are the origins (e.g. https://snm.example.com) that
	// may show the dashboard in a frame, besides its own.
	FrameAncestors []string
}

// DefaultSessionIdle is the idle lifetime of a dashboard session.
const DefaultSessionIdle = 8 * time.Hour

// New returns the dashboard's handler.
func New(cfg Config) (http.Handler, error) {
	if cfg.Client == nil {
		return nil, errors.New("ui: Config.Client is required")
	}
	base, ok := cleanPrefix(cfg.BasePath)
	if !ok {
		return nil, fmt.Errorf("ui: BasePath %q is not a clean absolute path such as /cld", cfg.BasePath)
	}
	proxies := cfg.TrustedProxies
	if proxies == nil {
		proxies = []string{"127.0.0.0/8", "::1"}
	}
	var trusted []netip.Prefix
	for _, p := range proxies {
		pfx, err := parseTrusted(p)
		if err != nil {
			return nil, fmt.Errorf("ui: trusted proxy %q: %w", p, err)
		}
		trusted = append(trusted, pfx)
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.Default().With("component", "dashboard")
	}
	loc := cfg.Location
	if loc == nil {
		loc = time.Local
	}
	idle := cfg.SessionIdle
	if idle <= 0 {
		idle = DefaultSessionIdle
	}
	auth := cfg.Auth
	if err := auth.check(); err != nil {
		return nil, err
	}
	csp, err := contentSecurityPolicy(cfg.FrameAncestors)
	if err != nil {
		return nil, err
	}
	s := &server{
		auth:     auth,
		csp:      csp,
		client:   cfg.Client,
		basePath: base,
		trusted:  trusted,
		log:      logger,
		loc:      loc,
		sessions: newSessionStore(idle, time.Now),
		cop:      http.NewCrossOriginProtection(),
	}
	s.routes = s.routeTable()
	return s, nil
}

// parseTrusted parses an IP address or a CIDR range.
func parseTrusted(s string) (netip.Prefix, error) {
	s = strings.TrimSpace(s)
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, err
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}
