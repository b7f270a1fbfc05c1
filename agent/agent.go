// Package agent is the composition root of the cld daemon: New builds its
// parts and wires them through the narrow interfaces each declares, Run
// runs them, and Routes puts their routes on the local API's one table.
//
// The parts, each a package of its own:
//
//   - agent/config: the configuration (defaults → file → flags)
//   - agent/state: the state directory, its lock and the link file
//   - agent/proxy and agent/cloudclient: the way to the cloud
//   - agent/health: the one registry of warnings; agent/drift the clock
//   - agent/link: the link state machine and its sessions, which run the
//     linked-only subsystems (link.Subsystem)
//   - agent/tunnels and agent/reporter: the tunnels and the inventory
//     reports, the subsystems of today
//   - agent/accounts: the dashboard's accounts
//   - agent/doctor: the prerequisite checks
//
// A new part (updates, the gateway, PM sync) is a link.Subsystem added
// with WithSubsystem; its routes (Routes(*localapi.Router)) and doctor
// checks (Checks() []doctor.Check) are found on it, and it raises its
// warnings in the registry that Health returns.
package agent

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"
	"github.com/jonboulle/clockwork"
	"golang.org/x/sync/errgroup"

	"github.com/cloudlink/cld/agent/accounts"
	"github.com/cloudlink/cld/agent/api"
	"github.com/cloudlink/cld/agent/build"
	"github.com/cloudlink/cld/agent/cloudclient"
	"github.com/cloudlink/cld/agent/config"
	"github.com/cloudlink/cld/agent/drift"
	"github.com/cloudlink/cld/agent/gateway"
	"github.com/cloudlink/cld/agent/health"
	"github.com/cloudlink/cld/agent/link"
	"github.com/cloudlink/cld/agent/localapi"
	"github.com/cloudlink/cld/agent/provisioning"
	"github.com/cloudlink/cld/agent/proxy"
	"github.com/cloudlink/cld/agent/reporter"
	"github.com/cloudlink/cld/agent/state"
	"github.com/cloudlink/cld/agent/tunnels"
	"github.com/cloudlink/cld/agent/updates"
)

// Agent is the daemon: its parts, wired. Its methods are safe for
// concurrent use.
type Agent struct {
	cfg     config.Config
	o       options
	log     *slog.Logger // component=agent
	baseLog *slog.Logger // as given, for the parts
	clock   clockwork.Clock
	hc      *http.Client
	ownHC   bool
	proxy   *proxy.Setup // nil with WithHTTPClient
	build   api.Build

	health   *health.Registry
	drift    *drift.Monitor
	link     *link.Machine
	tunnels  *tunnels.Manager
	reporter *reporter.Reporter
	updates  *updates.Updater
	gateway  *gateway.Driver
	// provisioning is MX-ONE Provisioning Manager's API and its sync.
	provisioning *provisioning.Service
	accounts     *accounts.Store

	mu       sync.Mutex
	lockFile *os.File
	running  bool
}

// New validates cfg, prepares the state directory (0700; stale temporary
// files removed; locked against a second daemon) and builds the parts,
// which load their state. A corrupt state file is moved aside (with a
// warning); New fails only when the daemon cannot work at all, with an
// error that says what to do.
func New(cfg config.Config, opts ...Option) (*Agent, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	a := &Agent{cfg: cfg, build: build.Info()}
	a.o = defaultOptions()
	for _, o := range opts {
		o(&a.o)
	}
	a.clock, a.hc, a.baseLog = a.o.clock, a.o.hc, a.o.log
	a.log = a.baseLog.With("component", "agent")
	a.health = health.New(a.clock.Now)
	if a.hc == nil {
		cfg = a.hostProxy(cfg)
		a.cfg = cfg
		hc, ps, err := cloudclient.NewHTTPClient(cfg)
		if err != nil {
			return nil, err
		}
		a.hc, a.ownHC, a.proxy = hc, true, ps
		if p := ps.Describe(cfg.Cloud); p != "" {
			a.log.Info("using an HTTP proxy for the cloud", "proxy", p, "from_config", ps.FromConfig())
		}
	}
	if err := state.Prepare(cfg.StateDir, a.log); err != nil {
		return nil, err
	}
	f, err := state.Lock(cfg.StateDir)
	if err != nil {
		return nil, err
	}
	a.lockFile = f
	if err := a.buildParts(); err != nil {
		a.Close()
		return nil, err
	}
	return a, nil
}

// Close releases the state directory (for another Agent in the same
// process, e.g. in tests). Call it after Run has returned.
func (a *Agent) Close() error {
	if a.ownHC {
		cloudclient.CloseConnections(a.hc)
	}
	a.mu.Lock()
	f := a.lockFile
	a.lockFile = nil
	a.mu.Unlock()
	if f == nil {
		return nil
	}
	return f.Close() // closing the descriptor drops the flock
}

// Run runs the parts (the link and its sessions, the clock check, systemd's
// watchdog) until ctx ends; it never returns because the cloud is down. It
// tells systemd when it is ready. It returns nil after a graceful stop.
func (a *Agent) Run(ctx context.Context) error {
	a.mu.Lock()
	if a.running {
		a.mu.Unlock()
		return errors.New("agent: Run called twice")
	}
	a.running = true
	a.mu.Unlock()
	defer func() {
		a.mu.Lock()
		a.running = false
		a.mu.Unlock()
	}()

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return a.link.Run(gctx) })
	g.Go(func() error { return watchdog(gctx, a.log) })
	g.Go(func() error { return a.drift.Run(gctx) })
	g.Go(func() error { return a.gateway.Run(gctx) })

	st := a.Status(ctx)
	a.log.Info("cld started", "version", a.build.Version, "state", st.State, "state_dir", a.cfg.StateDir, "system_id", st.SystemID)
	if _, err := daemon.SdNotify(false, daemon.SdNotifyReady); err != nil {
		a.log.Warn("could not notify systemd of readiness", "err", err)
	}
	err := g.Wait()
	_, _ = daemon.SdNotify(false, daemon.SdNotifyStopping)
	if a.ownHC {
		a.hc.CloseIdleConnections()
	}
	a.log.Info("cld stopped")
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// watchdog pings systemd's watchdog at half its interval (real time: it
// watches the process, not the schedule); a no-op outside systemd.
func watchdog(ctx context.Context, log *slog.Logger) error {
	interval, err := daemon.SdWatchdogEnabled(false)
	if err != nil {
		log.Warn("systemd watchdog settings are invalid; not pinging it", "err", err)
		return nil
	}
	if interval <= 0 {
		return nil
	}
	t := time.NewTicker(interval / 2)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			_, _ = daemon.SdNotify(false, daemon.SdNotifyWatchdog)
		}
	}
}

// Status returns the daemon's state as the CLI and dashboard show it.
func (a *Agent) Status(context.Context) api.Status {
	s := a.link.Status()
	s.Tunnels = a.tunnels.List().Tunnels
	// The parts' states first, the warnings made of them last: a state
	// that changes in between then shows with its warning (a clock
	// measurement read as done always comes with its drift warning).
	s.Clock = a.drift.Status()
	s.Inventory = a.reporter.Status()
	u := a.updates.Status()
	s.Update = &u
	s.Platform = a.platformStatus()
	s.Gateway = a.gateway.Status()
	if a.provisioning.Active() {
		p := a.provisioning.Status()
		s.Provisioning = &p
	}
	s.Warnings = a.Warnings()
	return s
}

// ProvisioningHandler serves the Provisioning Manager API
// (provisioning.Prefix) for the dashboard's listener.
func (a *Agent) ProvisioningHandler() http.Handler { return a.provisioning.Handler() }

// Warnings returns every current warning, most severe first: the one list
// the dashboard, `cld status`, `cld doctor` and the inventory show.
func (a *Agent) Warnings() []api.Warning {
	a.health.Refresh()
	return a.health.List()
}

// Health is the registry of warnings (for subsystems that raise their own).
func (a *Agent) Health() *health.Registry { return a.health }

// TunnelGateChanged makes the tunnels consult the gate again.
func (a *Agent) TunnelGateChanged() { a.tunnels.GateChanged() }

// DashboardLogin checks a dashboard account's sign-in (the local API over
// TCP authenticates with it).
func (a *Agent) DashboardLogin(ctx context.Context, l api.DashboardLogin) error {
	return a.accounts.Login(ctx, l)
}

// APIHandler serves the local API: one route table (localapi.Router) with
// the daemon's own routes (status, version, doctor) and those of every part.
func (a *Agent) APIHandler() http.Handler {
	rt := localapi.NewRouter(a.baseLog)
	a.routes(rt)
	return rt.Handler()
}

func (a *Agent) routes(rt *localapi.Router) {
	rt.Get(api.RouteStatus, func(ctx context.Context) any { return a.Status(ctx) })
	rt.Get(api.RouteVersion, func(context.Context) any { return a.build })
	rt.Get(api.RouteDoctor, func(ctx context.Context) any { return a.Doctor(ctx) })
	a.observeRoutes(rt)
	a.link.Routes(rt)
	a.accounts.Routes(rt)
	a.tunnels.Routes(rt)
	a.reporter.Routes(rt, a.link.Current)
	a.updates.Routes(rt)
	a.gateway.Routes(rt)
	a.provisioning.Routes(rt)
	for _, s := range a.o.subsystems {
		if r, ok := s.(interface{ Routes(*localapi.Router) }); ok {
			r.Routes(rt)
		}
	}
}
