// Package agent is the core of the cld daemon: its configuration, the
// persisted state in the state directory, the link state machine (unlinked,
// linking, linked, link_error), the device-token and heartbeat loop that
// keeps a link alive, the background revocation of credentials after an
// unlink that could not reach the cloud, the dashboard's local accounts,
// the reverse tunnels of the host's platform (tunnels.go: the chosen state
// in tunnels.json, one session to the cloud's tunnel edge, reports to the
// cloud, streams answered only from the host's own tunnel table), the HTTP
// proxy used for every cloud connection (proxy.go) and the health warnings
// that the CLI and the dashboard show.
//
// An Agent is made with New and run with Run; the local API
// (agent/localapi) calls its methods. The platform comes in with
// WithPlatform; subsystems that run only while the host is linked
// (inventory, updates) plug in with WithSubsystem, as the tunnels do.
package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"
	"github.com/google/uuid"
	"github.com/jonboulle/clockwork"
	"golang.org/x/crypto/bcrypt"
	"golang.org/x/sync/errgroup"
	"golang.org/x/sys/unix"

	"github.com/cloudlink/cld/agent/api"
	"github.com/cloudlink/cld/agent/atomicfile"
	"github.com/cloudlink/cld/agent/build"
	"github.com/cloudlink/cld/agent/doctor"
	"github.com/cloudlink/cld/agent/drift"
	"github.com/cloudlink/cld/agent/health"
	"github.com/cloudlink/cld/inventory"
	"github.com/cloudlink/cld/platforms"
	"github.com/cloudlink/cld/tunnel"
)

// Warning codes the agent raises.
const (
	WarnCloudUnreachable  = "cloud_unreachable"
	WarnCloudError        = "cloud_error"
	WarnRevocationPending = "revocation_pending"
	WarnStateCorrupt      = "state_corrupt"
	WarnMachineID         = "machine_id_unreadable"
)

// cloneReason is the link_error reason of a host whose machine-id changed.
const cloneReason = "This host's machine-id changed since it was linked (was it cloned?). Link it again with `cld link` or the dashboard to give it its own identity."

// Agent is the daemon's core. Its methods are safe for concurrent use.
type Agent struct {
	cfg          Config
	log          *slog.Logger // component=agent
	baseLog      *slog.Logger // as given, for other components
	clock        clockwork.Clock
	hc           *http.Client
	ownHC        bool
	proxy        *proxySetup // nil with WithHTTPClient
	build        api.Build
	hostname     string
	machineID    string // "" when unreadable
	subsystems   []Subsystem
	platform     platforms.Platform
	tunnelGate   TunnelGate
	tunnelServe  serveFunc // tunnel.Serve; tests replace it
	tunnels      *tunnelManager
	users        *dashUsers
	lockFile     *os.File
	bcryptCost   int
	drift        *drift.Monitor  // clock drift (health.go)
	driftClock   clockwork.Clock // schedules measurements; real unless a test sets it
	hostSync     drift.SyncReader
	noClockCheck bool           // tests: no drift measurement
	extraChecks  []doctor.Check // WithCheck
	inv          *inventoryManager
	invCollect   InventoryCollector // WithInventoryCollector
	invPlatform  inventory.PlatformSource
	invTune      func(*invTuning) // tests

	opMu sync.Mutex // held by one link or unlink at a time (TryLock → busy)
	// revokeMu keeps a revocation of old credentials from landing in the
	// middle of a registration that re-links the same installation.
	revokeMu sync.Mutex

	mu            sync.Mutex
	st            *persisted
	state         string           // api.State*
	errReason     string           // link_error cause
	cloneDetected bool             // link_error because the machine-id changed
	gen           uint64           // bumped at every link change; stale sessions check it
	health        *health.Registry // every warning, with its since
	browser       map[string]*browserPending
	runCtx        context.Context
	session       *Session
	running       bool

	sessionCh chan chan struct{}
	pendingCh chan struct{}
}

// Option adjusts an Agent made by New.
type Option func(*Agent)

// WithClock injects the clock that drives token refresh, heartbeats and
// backoff (tests pass a clockwork.FakeClock).
func WithClock(c clockwork.Clock) Option { return func(a *Agent) { a.clock = c } }

// WithLogger sets the logger (default slog.Default()).
func WithLogger(l *slog.Logger) Option { return func(a *Agent) { a.log = l } }

// WithHTTPClient sets the HTTP client for the cloud instead of one built
// from the configuration (cloud_ca, proxy from the environment).
func WithHTTPClient(hc *http.Client) Option { return func(a *Agent) { a.hc = hc } }

// WithHostname overrides the host name sent at registration.
func WithHostname(h string) Option { return func(a *Agent) { a.hostname = h } }

// WithSubsystem adds a part that runs only while the host is linked.
func WithSubsystem(s Subsystem) Option {
	return func(a *Agent) { a.subsystems = append(a.subsystems, s) }
}

// New validates cfg, prepares the state directory (0700; stale temporary
// files removed), loads the persisted state and the dashboard accounts, and
// checks the host's identity. A corrupt state file is moved aside (the host
// starts unlinked, with a warning); New fails only when the daemon cannot
// work at all, with an error that says what to do.
func New(cfg Config, opts ...Option) (*Agent, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	a := &Agent{
		cfg:         cfg,
		log:         slog.Default(),
		clock:       clockwork.NewRealClock(),
		build:       build.Info(),
		bcryptCost:  bcrypt.DefaultCost,
		browser:     map[string]*browserPending{},
		sessionCh:   make(chan chan struct{}),
		pendingCh:   make(chan struct{}, 1),
		tunnelServe: tunnel.Serve,
	}
	for _, o := range opts {
		o(a)
	}
	a.baseLog = a.log
	a.log = a.baseLog.With("component", "agent")
	a.health = health.New(a.clock.Now)
	if a.hostname == "" {
		a.hostname, _ = os.Hostname()
		if a.hostname == "" {
			a.hostname = "unknown-host"
		}
	}
	if a.hc == nil {
		hc, ps, err := newHTTPClient(cfg)
		if err != nil {
			return nil, err
		}
		a.hc, a.ownHC, a.proxy = hc, true, ps
		if p := ps.describe(cfg.Cloud); p != "" {
			a.log.Info("using an HTTP proxy for the cloud", "proxy", p, "from_config", ps.fromConfig)
		}
	}
	if err := a.prepareStateDir(); err != nil {
		return nil, err
	}
	if err := a.lockStateDir(); err != nil {
		return nil, err
	}
	a.readMachineID()
	a.setupHealth()
	err := a.loadLinkState()
	if err == nil {
		a.users, err = openDashUsers(a.cfg.StateDir, a.baseLog, a.clock, a.bcryptCost)
	}
	if err == nil {
		a.tunnels, err = newTunnelManager(a, a.platform, a.tunnelServe, a.tunnelGate)
		if err == nil {
			a.subsystems = append(a.subsystems, a.tunnels)
		}
	}
	if err == nil {
		a.inv, err = newInventoryManager(a)
		if err == nil {
			a.subsystems = append(a.subsystems, a.inv)
		}
	}
	if err != nil {
		a.Close()
		return nil, err
	}
	return a, nil
}

// lockFileName is locked (flock) by the daemon that uses the state directory.
const lockFileName = "lock"

// ErrStateDirInUse means another daemon uses the same state directory.
var ErrStateDirInUse = errors.New("another cld daemon uses the state directory")

func (a *Agent) lockStateDir() error {
	path := filepath.Join(a.cfg.StateDir, lockFileName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("opening %s: %w", path, err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return fmt.Errorf("%w %s; stop it first (systemctl stop cld) or give this one another --state", ErrStateDirInUse, a.cfg.StateDir)
		}
		return fmt.Errorf("locking %s: %w", path, err)
	}
	a.lockFile = f
	return nil
}

// Close releases the state directory (for another Agent in the same
// process, e.g. in tests). Call it after Run has returned.
func (a *Agent) Close() error {
	if a.ownHC {
		a.hc.CloseIdleConnections()
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

func (a *Agent) prepareStateDir() error {
	dir := a.cfg.StateDir
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("creating the state directory: %w; check state_dir (--state) and that cld runs as root", err)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("state directory: %w", err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("state_dir %s is not a directory; point state_dir (--state) at a directory", dir)
	}
	if fi.Mode().Perm() != 0o700 {
		if err := os.Chmod(dir, 0o700); err != nil {
			return fmt.Errorf("making the state directory private: %w", err)
		}
	}
	removed, err := atomicfile.RemoveStale(dir)
	if err != nil {
		return fmt.Errorf("cleaning the state directory %s: %w", dir, err)
	}
	if len(removed) > 0 {
		a.log.Info("removed temporary files left by an interrupted write", "dir", dir, "files", removed)
	}
	return nil
}

func (a *Agent) readMachineID() {
	id, err := readMachineID(a.cfg.MachineIDFile)
	if err != nil {
		a.log.Warn("cannot read the machine-id; cloned hosts cannot be detected", "file", a.cfg.MachineIDFile, "err", err)
		a.health.Set(defMachineID.With(fmt.Sprintf("Could not read the machine-id (%v), so a cloned host cannot be told apart from the original.", err)))
		return
	}
	a.machineID = id
}

// loadLinkState reads LinkFile, quarantining a corrupt one, makes a fresh
// identity on first start (or for a copied, unlinked state dir) and decides
// the initial state.
func (a *Agent) loadLinkState() error {
	path := filepath.Join(a.cfg.StateDir, LinkFile)
	st, err := loadState(a.cfg.StateDir)
	switch {
	case errors.Is(err, ErrNewerState):
		return fmt.Errorf("%s was written by a newer cld (%w). Install that version again, or move the file aside to start unlinked", path, err)
	case errors.Is(err, ErrCorruptState):
		to, qerr := atomicfile.Quarantine(path, a.clock.Now())
		if qerr != nil {
			return fmt.Errorf("%s is corrupt (%w) and could not be moved aside (%w); move it away by hand and start again", path, err, qerr)
		}
		a.log.Error("THE STATE FILE IS CORRUPT: moved it aside and starting unlinked; link this host again", "file", path, "moved_to", to, "err", err)
		a.health.Set(defStateCorrupt.With(fmt.Sprintf("The state file %s was corrupt (%v) and was moved to %s; the host started unlinked. Link it again with `cld link` or the dashboard.", path, err, to)))
		st = nil
	case err != nil:
		return fmt.Errorf("reading %s: %w; check that cld runs as root and the state directory is readable", path, err)
	}
	dirty := false
	if st == nil {
		st = &persisted{InstallationID: uuid.NewString()}
		st.MachineIDHash = machineIDHash(a.machineID, st.InstallationID)
		dirty = true
	}
	if st.Link == nil && a.machineID != "" {
		h := machineIDHash(a.machineID, st.InstallationID)
		if st.MachineIDHash != "" && st.MachineIDHash != h {
			// A copied state dir of an unlinked host: give it its own identity.
			st.InstallationID = uuid.NewString()
			h = machineIDHash(a.machineID, st.InstallationID)
			a.log.Info("the machine-id changed since the installation ID was made; made a new installation ID")
			dirty = true
		}
		if st.MachineIDHash != h {
			st.MachineIDHash = h
			dirty = true
		}
	}
	if dirty {
		if err := saveState(a.cfg.StateDir, st); err != nil {
			return fmt.Errorf("saving the state: %w; check that the state directory is writable and not full", err)
		}
	}
	a.st = st
	a.state = api.StateUnlinked
	if l := st.Link; l != nil {
		a.state = api.StateLinked
		if a.machineID != "" && l.MachineIDHash != "" && machineIDHash(a.machineID, l.InstallationID) != l.MachineIDHash {
			a.state = api.StateLinkError
			a.errReason = cloneReason
			a.cloneDetected = true
			a.log.Error("the machine-id changed since this host was linked; its device credentials are not used until it is linked again", "file", a.cfg.MachineIDFile, "system_id", l.SystemID)
		}
	}
	return nil
}

// Run runs the background loops (link session, pending revocations, systemd
// watchdog) until ctx ends; it never returns because the cloud is down. It
// tells systemd when it is ready. It returns nil after a graceful stop.
func (a *Agent) Run(ctx context.Context) error {
	g, gctx := errgroup.WithContext(ctx)
	a.mu.Lock()
	if a.running {
		a.mu.Unlock()
		return errors.New("agent: Run called twice")
	}
	a.running, a.runCtx = true, gctx
	a.mu.Unlock()
	defer func() {
		a.mu.Lock()
		a.running = false
		a.mu.Unlock()
	}()

	g.Go(func() error { return a.sessionSupervisor(gctx) })
	g.Go(func() error { a.revocationLoop(gctx); return nil })
	g.Go(func() error { return watchdog(gctx, a.log) })
	g.Go(func() error { return a.drift.Run(gctx) })

	a.kickRevocations()
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
	s := a.linkStatus()
	s.Tunnels = a.tunnels.list(s.State).Tunnels
	s.Warnings = a.Warnings()
	s.Clock = a.drift.Status()
	s.Inventory = a.inv.status()
	return s
}

func (a *Agent) linkStatus() api.Status {
	a.mu.Lock()
	defer a.mu.Unlock()
	s := api.Status{
		State:             a.state,
		Linked:            a.state == api.StateLinked,
		Version:           a.build.Version,
		Build:             a.build,
		Cloud:             a.cfg.Cloud,
		PendingRevocation: len(a.st.PendingRevocations) > 0,
		Warnings:          []api.Warning{},
	}
	switch a.state {
	case api.StateLinkError:
		s.Reason = a.errReason
	case api.StateUnlinked:
		s.Reason = a.st.Reason
	}
	if l := a.st.Link; l != nil {
		s.Account = &api.Account{
			ID: l.Account.ID, Name: l.Account.Name, UUID: l.Account.UUID, Region: l.Account.Region,
			PartnerID: l.Account.PartnerID, UserID: l.UserID, Role: l.Role, ClientType: l.ClientType,
		}
		s.SystemID = l.SystemID
		s.Cloud = l.Cloud
		t := l.LinkedAt
		s.LinkedAt = &t
	}
	return s
}

// Version returns the build facts.
func (a *Agent) Version(context.Context) api.Build { return a.build }
