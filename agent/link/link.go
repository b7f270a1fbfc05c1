// Package link is the daemon's link to CloudLink: the state machine
// (unlinked, linking, linked, link_error), linking with a password or in
// the browser, the session of a link (device tokens renewed at 80 % of
// their life, the heartbeat that keeps the account facts fresh and notices
// a revoked system), the linked-only subsystems that run under a session,
// and unlinking with the revocation of the credentials retried in the
// background until the cloud confirms it. Its state is the state
// directory's link file (agent/state).
package link

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"path/filepath"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jonboulle/clockwork"

	"github.com/cloudlink/cld/agent/api"
	"github.com/cloudlink/cld/agent/cloudclient"
	"github.com/cloudlink/cld/agent/health"
	"github.com/cloudlink/cld/agent/localapi"
	"github.com/cloudlink/cld/agent/state"
	"github.com/cloudlink/cld/atomicfile"
)

// CloneReason is the link_error reason of a host whose machine-id changed.
const CloneReason = "This host's machine-id changed since it was linked (was it cloned?). Link it again with `cld link` or the dashboard to give it its own identity."

// Config is what a Machine needs.
type Config struct {
	StateDir          string        // holds state.LinkFile
	Cloud             string        // the configured cloud; "" until a link request names one
	ConfigFile        string        // the config file, named in messages
	HeartbeatInterval time.Duration // how often a session checks in
	MachineIDFile     string        // a changed machine-id means a cloned host
	Hostname          string        // sent at registration
	Build             api.Build     // its version is sent at registration

	Clock  clockwork.Clock // tokens, heartbeats, backoff
	Logger *slog.Logger    // the daemon's; the machine adds its components
	// HTTPClient carries every connection to the cloud (trust, proxy);
	// Session.HTTPClient hands it to long-lived connections.
	HTTPClient *http.Client
	// APIClient makes the cloud API's requests (HTTPClient when nil); the
	// daemon's observes every answer's Date for the clock check.
	APIClient *http.Client
	Health    *health.Registry
	// OnSessionStart is called when a session begins (the clock check
	// measures against the link's cloud).
	OnSessionStart func()
	// Answer is the daemon's whole status, which a link or unlink answers.
	Answer func(context.Context) api.Status
}

// Machine is the link state machine. Its methods are safe for concurrent use.
type Machine struct {
	cfg        Config
	log        *slog.Logger // component=agent
	baseLog    *slog.Logger
	clock      clockwork.Clock
	health     *health.Registry
	machineID  string // "" when unreadable
	subsystems []Subsystem

	opMu sync.Mutex // held by one link or unlink at a time (TryLock → busy)
	// revokeMu keeps a revocation of old credentials from landing in the
	// middle of a registration that re-links the same installation.
	revokeMu sync.Mutex

	mu            sync.Mutex
	st            *state.State
	state         string // api.State*
	errReason     string // link_error cause
	cloneDetected bool   // link_error because the machine-id changed
	gen           uint64 // bumped at every link change; stale sessions check it
	browser       map[string]*browserPending
	runCtx        context.Context
	session       *Session
	running       bool

	sessionCh chan chan struct{}
	pendingCh chan struct{}
}

// New reads the host's identity and the link file. A corrupt link file is
// moved aside (the host starts unlinked, with a warning); New fails only
// when the state cannot be read or saved, with an error that says what to
// do.
func New(cfg Config) (*Machine, error) {
	if cfg.APIClient == nil {
		cfg.APIClient = cfg.HTTPClient
	}
	m := &Machine{
		cfg:       cfg,
		baseLog:   cfg.Logger,
		log:       cfg.Logger.With("component", "agent"),
		clock:     cfg.Clock,
		health:    cfg.Health,
		browser:   map[string]*browserPending{},
		sessionCh: make(chan chan struct{}),
		pendingCh: make(chan struct{}, 1),
	}
	m.readMachineID()
	if err := m.load(); err != nil {
		return nil, err
	}
	m.health.AddProbe(m.probeRevocation)
	return m, nil
}

// Add adds a subsystem that runs while the host is linked; call it before
// Run.
func (m *Machine) Add(s Subsystem) { m.subsystems = append(m.subsystems, s) }

func (m *Machine) readMachineID() {
	id, err := state.ReadMachineID(m.cfg.MachineIDFile)
	if err != nil {
		m.log.Warn("cannot read the machine-id; cloned hosts cannot be detected", "file", m.cfg.MachineIDFile, "err", err)
		m.health.Set(defMachineID.Say("error", err))
		return
	}
	m.machineID = id
}

// load reads the link file, quarantining a corrupt one, makes a fresh
// identity on first start (or for a copied, unlinked state dir) and decides
// the initial state.
func (m *Machine) load() error {
	path := filepath.Join(m.cfg.StateDir, state.LinkFile)
	st, err := state.Load(m.cfg.StateDir)
	switch {
	case errors.Is(err, state.ErrNewer):
		return fmt.Errorf("%s was written by a newer cld (%w). Install that version again, or move the file aside to start unlinked", path, err)
	case errors.Is(err, state.ErrCorrupt):
		to, qerr := atomicfile.Quarantine(path, m.clock.Now())
		if qerr != nil {
			return fmt.Errorf("%s is corrupt (%w) and could not be moved aside (%w); move it away by hand and start again", path, err, qerr)
		}
		m.log.Error("THE STATE FILE IS CORRUPT: moved it aside and starting unlinked; link this host again", "file", path, "moved_to", to, "err", err)
		m.health.Set(defStateCorrupt.Say("path", path, "error", err, "to", to))
		st = nil
	case err != nil:
		return fmt.Errorf("reading %s: %w; check that cld runs as root and the state directory is readable", path, err)
	}
	dirty := false
	if st == nil {
		st = &state.State{InstallationID: uuid.NewString()}
		st.MachineIDHash = state.MachineIDHash(m.machineID, st.InstallationID)
		dirty = true
	}
	if st.Link == nil && m.machineID != "" {
		h := state.MachineIDHash(m.machineID, st.InstallationID)
		if st.MachineIDHash != "" && st.MachineIDHash != h {
			// A copied state dir of an unlinked host: give it its own identity.
			st.InstallationID = uuid.NewString()
			h = state.MachineIDHash(m.machineID, st.InstallationID)
			m.log.Info("the machine-id changed since the installation ID was made; made a new installation ID")
			dirty = true
		}
		if st.MachineIDHash != h {
			st.MachineIDHash = h
			dirty = true
		}
	}
	if dirty {
		if err := state.Save(m.cfg.StateDir, st); err != nil {
			return fmt.Errorf("saving the state: %w; check that the state directory is writable and not full", err)
		}
	}
	m.st = st
	m.state = api.StateUnlinked
	if l := st.Link; l != nil {
		m.state = api.StateLinked
		if m.machineID != "" && l.MachineIDHash != "" && state.MachineIDHash(m.machineID, l.InstallationID) != l.MachineIDHash {
			m.state = api.StateLinkError
			m.errReason = CloneReason
			m.cloneDetected = true
			m.log.Error("the machine-id changed since this host was linked; its device credentials are not used until it is linked again", "file", m.cfg.MachineIDFile, "system_id", l.SystemID)
		}
	}
	return nil
}

// Run runs the session of the current link (replaced at every link and
// unlink) and the retries of pending revocations until ctx ends; it never
// returns because the cloud is down.
func (m *Machine) Run(ctx context.Context) error {
	m.mu.Lock()
	if m.running {
		m.mu.Unlock()
		return errors.New("link: Run called twice")
	}
	m.running, m.runCtx = true, ctx
	m.mu.Unlock()
	defer func() {
		m.mu.Lock()
		m.running = false
		m.mu.Unlock()
	}()
	done := make(chan struct{})
	go func() {
		defer close(done)
		m.revocationLoop(ctx)
	}()
	m.kickRevocations()
	err := m.sessionSupervisor(ctx)
	<-done
	return err
}

// Running tells whether Run has begun (and accepts link changes).
func (m *Machine) Running() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.running
}

// State is the link state (api.State*).
func (m *Machine) State() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.state
}

// Cloud is the cloud that the host is linked to, else the configured one
// ("" when neither): what the clock and the doctor compare with.
func (m *Machine) Cloud() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.st != nil && m.st.Link != nil && m.st.Link.Cloud != "" {
		return m.st.Link.Cloud
	}
	return m.cfg.Cloud
}

// Credentials are the link's system ID and device secret, and the session's
// current access token ("" for each that does not exist): what a report
// names and must never contain.
func (m *Machine) Credentials() (systemID, secret, token string) {
	m.mu.Lock()
	if l := m.st.Link; l != nil {
		systemID, secret = l.SystemID, l.ClientSecret
	}
	s := m.session
	m.mu.Unlock()
	if s != nil {
		token, _ = s.TokenInfo()
	}
	return systemID, secret, token
}

// Status is the link's part of the daemon's status (no tunnels, warnings,
// clock or inventory).
func (m *Machine) Status() api.Status {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := api.Status{
		State:             m.state,
		Linked:            m.state == api.StateLinked,
		Version:           m.cfg.Build.Version,
		Build:             m.cfg.Build,
		Cloud:             m.cfg.Cloud,
		PendingRevocation: len(m.st.PendingRevocations) > 0,
		Warnings:          []api.Warning{},
	}
	switch m.state {
	case api.StateLinkError:
		s.Reason = m.errReason
	case api.StateUnlinked:
		s.Reason = m.st.Reason
	}
	if l := m.st.Link; l != nil {
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

// Routes registers the link's routes on the local API.
func (m *Machine) Routes(rt *localapi.Router) {
	localapi.Post(rt, api.RouteLink, func(ctx context.Context, req api.LinkRequest) (any, error) { return m.Link(ctx, req) })
	localapi.Post(rt, api.RouteBrowserLink, func(ctx context.Context, req api.BrowserLinkRequest) (any, error) {
		return m.BrowserLink(ctx, req)
	})
	localapi.Post(rt, api.RouteBrowserCallback, func(ctx context.Context, req api.BrowserCallback) (any, error) {
		return m.BrowserCallback(ctx, req)
	})
	rt.Action(api.RouteUnlink, func(r *http.Request) (any, error) { return m.Unlink(r.Context()) })
}

func (m *Machine) cloudClient(base string) *cloudclient.Client {
	return cloudclient.New(base, m.cfg.APIClient)
}
