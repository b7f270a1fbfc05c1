package reporter

import (
	"context"
	"time"

	"github.com/cloudlink/cld/agent/api"
	"github.com/cloudlink/cld/agent/proxy"
	"github.com/cloudlink/cld/inventory"
)

// Sources are what the default collector reports, besides the host.
type Sources struct {
	// Credentials are the linked system's ID, its device secret and the
	// session's access token ("" when none): the report names the system
	// and must contain neither secret.
	Credentials func() (systemID, secret, token string)
	Proxy       func() string // the configured proxy URL: its password never goes out
	Build       api.Build     // the daemon
	// Platform is read afresh for every report, so that a new version or
	// application is seen.
	Platform inventory.PlatformSource
	Clock    func() api.Clock     // the last clock measurement
	Warnings func() []api.Warning // the current warnings
	// Update is the self-update's section, Gateway the co-located
	// gateway's (nil: none).
	Update  func() *inventory.UpdateSchedule
	Gateway func() *inventory.Gateway
	// Access totals the access audit over the connections that ended
	// after since (the zero time: the whole log); nil: no audit.
	Access func(since time.Time) (inventory.Access, error)
}

// collectInventory is the default collector: inventory.Collect with the
// sources (platform, tunnels, clock, warnings, build) and every secret the
// daemon holds, so that none can end up in a report.
func (m *Reporter) collectInventory(ctx context.Context, trigger string, changes []string) (*inventory.Report, error) {
	src := m.cfg.Sources
	cfg := inventory.DefaultConfig()
	systemID, secret, token := src.Credentials()
	if systemID == "" {
		return nil, api.Errorf(api.CodeNotLinked, "This system is not linked to CloudLink, and a report names the linked system; link it first (`cld link` or the dashboard).")
	}
	cfg.SystemID = systemID
	for _, s := range []string{secret, token} {
		if s != "" {
			cfg.Secrets = append(cfg.Secrets, s)
		}
	}
	cfg.Secrets = append(cfg.Secrets, proxy.Passwords(src.Proxy())...)
	cfg.Trigger, cfg.Changes = trigger, changes
	b := src.Build
	cfg.Daemon = inventory.Daemon{Version: b.Version, Build: b.Build, Commit: b.Commit, Branch: b.Branch, Stage: b.Stage}
	cfg.StateDir = m.cfg.StateDir
	cfg.Now = m.cfg.Clock.Now
	cfg.Providers = inventory.Providers{
		Platform: src.Platform,
		Tunnels: func(context.Context) ([]inventory.Tunnel, error) {
			return liveTunnels(m.cfg.Tunnels.List()), nil
		},
		Clock: func(context.Context) (*inventory.Clock, error) {
			c := src.Clock()
			if c.MeasuredAt == nil {
				return nil, nil
			}
			return &inventory.Clock{DriftSeconds: c.DriftSeconds, Synchronized: c.Synchronized, MeasuredAt: c.MeasuredAt}, nil
		},
		Gateway: func(context.Context) (*inventory.Gateway, error) {
			if src.Gateway == nil {
				return nil, nil
			}
			return src.Gateway(), nil
		},
		Update: func(context.Context) (*inventory.UpdateSchedule, error) {
			if src.Update == nil {
				return nil, nil
			}
			return src.Update(), nil
		},
		Access: func(context.Context) (*inventory.Access, error) {
			if src.Access == nil {
				return nil, nil
			}
			// The report period: since the cloud last accepted a report.
			var since time.Time
			last := m.Status().Last
			if last != nil {
				since = *last
			}
			a, err := src.Access(since)
			if err != nil {
				return nil, err
			}
			a.Since = last
			return &a, nil
		},
		Warnings: func(context.Context) ([]inventory.Warning, error) {
			ws := src.Warnings()
			out := make([]inventory.Warning, 0, len(ws))
			for _, w := range ws {
				out = append(out, inventory.Warning{Code: w.Code, Severity: w.Severity, Text: w.Text})
			}
			return out, nil
		},
	}
	return inventory.Collect(ctx, cfg)
}
