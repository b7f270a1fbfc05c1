package agent

import (
	"context"
	"log/slog"
	"net/http"
	"os"
	"runtime"
	"time"

	"aead.dev/minisign"

	"github.com/jonboulle/clockwork"
	"golang.org/x/crypto/bcrypt"

	"github.com/cloudlink/cld/agent/accounts"
	"github.com/cloudlink/cld/agent/build"
	"github.com/cloudlink/cld/agent/cloudclient"
	"github.com/cloudlink/cld/agent/doctor"
	"github.com/cloudlink/cld/agent/drift"
	"github.com/cloudlink/cld/agent/gateway"
	"github.com/cloudlink/cld/agent/link"
	"github.com/cloudlink/cld/agent/logbuf"
	"github.com/cloudlink/cld/agent/provisioning"
	"github.com/cloudlink/cld/agent/reporter"
	"github.com/cloudlink/cld/agent/tunnels"
	"github.com/cloudlink/cld/agent/updates"
	"github.com/cloudlink/cld/inventory"
	"github.com/cloudlink/cld/platforms"
	gw "github.com/cloudlink/cld/platforms/gateway"
)

// Option adjusts an Agent made by New.
type Option func(*options)

// options are New's settings besides the configuration.
type options struct {
	clock       clockwork.Clock
	log         *slog.Logger
	hc          *http.Client
	hostname    string
	platform    platforms.Platform
	platformErr error
	subsystems  []link.Subsystem
	tunnelGate  tunnels.Gate
	extraChecks []doctor.Check
	invPlatform inventory.PlatformSource
	logBuf      *logbuf.Buffer

	// Test hooks.
	tunnelServe  tunnels.ServeFunc
	bcryptCost   int
	driftClock   clockwork.Clock
	hostSync     drift.SyncReader
	noClockCheck bool
	invCollect   reporter.Collector
	invTune      func(*reporter.Tuning)

	update UpdateOptions
	// pmAfter is told each step of a directory send (tests kill there).
	pmAfter func(step string)
}

// UpdateOptions are how the self-update fits the process around it.
type UpdateOptions struct {
	// Restart stops the daemon to run the launcher again; nil leaves the
	// installed update for the next start.
	Restart func(reason string)
	// Trial is the version this process runs on trial as (the launcher's
	// updater.EnvTrial).
	Trial string
	// Key replaces the release key built in (tests); After is told each
	// step of an apply (tests stop the process there).
	Key   *minisign.PublicKey
	After func(step string)
	// Clock drives the schedule (nil: real time), in Loc (nil: the
	// host's time zone).
	Clock clockwork.Clock
	Loc   *time.Location
}

// WithProvisioningSteps tells f each step of sending Provisioning
// Manager's changes to the cloud (provisioning.StepSending, StepAccepted;
// tests stop the process there).
func WithProvisioningSteps(f func(step string)) Option { return func(o *options) { o.pmAfter = f } }

// WithPasswordCost sets the bcrypt cost of the password hashes the daemon
// makes (dashboard users, Provisioning Manager's credential). For tests
// only: a check at the default cost takes some 60 ms of a core, and ten
// times that under the race detector.
func WithPasswordCost(cost int) Option { return func(o *options) { o.bcryptCost = cost } }

// WithUpdates sets how the self-update restarts and whether this process
// is on trial.
func WithUpdates(u UpdateOptions) Option { return func(o *options) { o.update = u } }

func defaultOptions() options {
	return options{clock: clockwork.NewRealClock(), log: slog.Default(), bcryptCost: bcrypt.DefaultCost}
}

// WithClock injects the clock that drives token refresh, heartbeats and
// backoff (tests pass a clockwork.FakeClock).
func WithClock(c clockwork.Clock) Option { return func(o *options) { o.clock = c } }

// WithLogger sets the logger (default slog.Default()).
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.log = l } }

// WithHTTPClient sets the HTTP client for the cloud instead of one built
// from the configuration (cloud_ca, proxy from the environment).
func WithHTTPClient(hc *http.Client) Option { return func(o *options) { o.hc = hc } }

// WithHostname overrides the host name sent at registration.
func WithHostname(h string) Option { return func(o *options) { o.hostname = h } }

// WithPlatform gives the agent the host's platform (its tunnels).
func WithPlatform(p platforms.Platform) Option { return func(o *options) { o.platform = p } }

// WithPlatformProblem says why the host has no platform (platforms.Open's
// error: none detected, several, a version not supported): a warning, a
// doctor check and the status say it.
func WithPlatformProblem(err error) Option { return func(o *options) { o.platformErr = err } }

// WithSubsystem adds a part that runs only while the host is linked. Its
// routes and doctor checks are registered when it has them (Routes(*
// localapi.Router), Checks() []doctor.Check); it is told when a link ends
// when it is a link.Ender.
func WithSubsystem(s link.Subsystem) Option {
	return func(o *options) { o.subsystems = append(o.subsystems, s) }
}

// WithTunnelGate installs a gate that may veto starting tunnels (besides
// the clock's); call TunnelGateChanged when its answer may have changed.
func WithTunnelGate(g tunnels.Gate) Option { return func(o *options) { o.tunnelGate = g } }

// WithCheck adds a check to `cld doctor` and the dashboard's Checks page.
func WithCheck(c doctor.Check) Option {
	return func(o *options) { o.extraChecks = append(o.extraChecks, c) }
}

// WithInventoryPlatform sets where the inventory reads the platform, afresh
// for every report so that a new version or application is seen (cmd/cld
// passes inventory.PlatformFile over the config file). Without it the
// platform given with WithPlatform is reported.
func WithInventoryPlatform(src inventory.PlatformSource) Option {
	return func(o *options) { o.invPlatform = src }
}

// WithLogBuffer serves the daemon's recent log lines, which the caller
// also writes into b, on the local API (for `cld support-bundle`).
func WithLogBuffer(b *logbuf.Buffer) Option { return func(o *options) { o.logBuf = b } }

// WithInventoryCollector replaces how reports are collected (tests); the
// default is inventory.Collect with the daemon's sources.
func WithInventoryCollector(c reporter.Collector) Option {
	return func(o *options) { o.invCollect = c }
}

// buildParts makes the parts in the order they depend on each other and
// wires them: the clock check (its veto in front of the tunnels' gate), the
// link, the dashboard accounts, the tunnels and the inventory reports (the
// link's subsystems, with those given by WithSubsystem).
func (a *Agent) buildParts() error {
	a.setupDrift()
	hostname := a.o.hostname
	if hostname == "" {
		hostname, _ = os.Hostname()
		if hostname == "" {
			hostname = "unknown-host"
		}
	}
	var err error
	a.link, err = link.New(link.Config{
		StateDir: a.cfg.StateDir, Cloud: a.cfg.Cloud, ConfigFile: a.cfg.File(),
		HeartbeatInterval: a.cfg.HeartbeatInterval, MachineIDFile: a.cfg.MachineIDFile,
		Hostname: hostname, Build: a.build,
		Clock: a.clock, Logger: a.baseLog, Health: a.health,
		HTTPClient: a.hc, APIClient: cloudclient.ObserveDates(a.hc, a.clock.Now, a.drift.ObserveDate),
		OnSessionStart: a.drift.Kick, // measure against the cloud of this link
		Answer:         a.Status,
	})
	if err != nil {
		return err
	}
	if a.accounts, err = accounts.Open(a.cfg.StateDir, a.baseLog, a.clock.Now, a.o.bcryptCost); err != nil {
		return err
	}
	a.accounts.WatchBursts(a.health)
	if a.gateway, err = gateway.New(gateway.Config{Options: gw.Options{Root: a.cfg.HostRoot}, Logger: a.baseLog, Health: a.health}); err != nil {
		return err
	}
	a.tunnels, err = tunnels.New(tunnels.Config{
		StateDir: a.cfg.StateDir, ConfigFile: a.cfg.File(), Platform: a.withGateway(a.o.platform),
		Serve: a.o.tunnelServe, Gate: a.tunnelGate(), LinkState: a.link.State, Proxy: a.proxy,
		Clock: a.clock, Logger: a.baseLog, Health: a.health,
	})
	if err != nil {
		return err
	}
	plat := a.o.invPlatform
	if plat == nil {
		plat = func(context.Context) (platforms.Platform, error) {
			a.mu.Lock()
			defer a.mu.Unlock()
			return a.o.platform, nil
		}
	}
	a.reporter, err = reporter.New(reporter.Config{
		StateDir: a.cfg.StateDir, Collect: a.o.invCollect, Tunnels: a.tunnels, LinkState: a.link.State,
		Sources: reporter.Sources{
			Credentials: a.link.Credentials, Proxy: a.configuredProxy, Build: a.build, Platform: plat,
			Clock: a.drift.Status, Warnings: a.health.List, Update: func() *inventory.UpdateSchedule { return a.updates.Report() },
			Gateway: func() *inventory.Gateway { return a.gateway.Report() },
			Access:  a.tunnels.AccessTotals,
		},
		Clock: a.clock, Logger: a.baseLog, Health: a.health, Tune: a.o.invTune,
	})
	if err != nil {
		return err
	}
	if a.updates, err = a.newUpdates(); err != nil {
		return err
	}
	if a.provisioning, err = provisioning.New(provisioning.Config{StateDir: a.cfg.StateDir, Clock: a.clock, Logger: a.baseLog, Health: a.health, BcryptCost: a.o.bcryptCost, After: a.o.pmAfter}); err != nil {
		return err
	}
	for _, s := range append([]link.Subsystem{a.tunnels, a.reporter, a.updates, a.provisioning, platformLink{a}}, a.o.subsystems...) {
		a.link.Add(s)
	}
	a.drift.OnGateChange(a.tunnels.GateChanged)
	a.raisePlatformWarnings()
	return nil
}

// newUpdates makes the self-update with the release key built in.
func (a *Agent) newUpdates() (*updates.Updater, error) {
	key := a.o.update.Key
	if key == nil {
		var err error
		if key, err = build.Key(); err != nil {
			a.log.Error("the release key built into this binary is not valid; updates are refused", "err", err)
		}
	}
	clock := a.o.update.Clock
	if clock == nil {
		// Real time even when a test fakes the agent's clock (as the
		// inventory's and the drift monitor's schedules).
		clock = clockwork.NewRealClock()
	}
	return updates.New(updates.Config{
		StateDir: a.cfg.StateDir, Key: key, Version: a.build.Version, Arch: runtime.GOARCH,
		Clock: clock, Loc: a.o.update.Loc, Logger: a.baseLog, Health: a.health, LinkState: a.link.State,
		Restart: a.o.update.Restart, After: a.o.update.After, Trial: a.o.update.Trial,
	})
}

// setupDrift makes the clock-drift monitor: it measures against the linked
// cloud, else the configured one.
func (a *Agent) setupDrift() {
	dc := a.o.driftClock
	if dc == nil {
		// Real time even when a test fakes the agent's clock: the
		// schedule of measurements is not what those tests are about.
		dc = clockwork.NewRealClock()
	}
	a.drift = drift.NewMonitor(a.cfg.Clock, drift.Options{
		Clock:  dc,
		Now:    a.clock.Now, // the host's clock (a test's fake one is the host's)
		Client: a.hc,
		Target: func() string {
			if a.o.noClockCheck || a.link == nil {
				return ""
			}
			return a.link.Cloud()
		},
		Registry: a.health,
		Sync:     a.o.hostSync,
		Logger:   a.baseLog.With("component", "clock"),
	})
}

// tunnelGate is the clock's veto in front of WithTunnelGate's.
func (a *Agent) tunnelGate() tunnels.Gate {
	prev := a.o.tunnelGate
	return func() string {
		if r := a.drift.Gate(); r != "" {
			return r
		}
		if prev != nil {
			return prev()
		}
		return ""
	}
}
