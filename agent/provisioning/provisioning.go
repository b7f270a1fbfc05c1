// Package provisioning is the Provisioning Manager (PM) API of MiVoice
// MX-ONE: PM adds the daemon as its "CloudLink Daemon" subsystem at
// https://<SNM>/cld and keeps the system's users and devices in it; the
// daemon syncs them to the cloud (docs/pm-api.md has the routes, fields,
// errors and limits).
//
// The daemon keeps two directories in its state directory, each written
// atomically (0600) before it is relied on: the one PM gave (Desired, in
// DesiredFile, written before PM is answered) and the one the cloud has
// acknowledged (Synced, in SyncedFile, written after each batch the cloud
// accepted). What the cloud lacks is their difference, so only what
// changed is sent, changes that pile up during an outage go as one batch
// when the cloud is back, and a sync PM repeats sends nothing. The batch
// on its way is kept in InFlightFile with its ID: a daemon killed while
// sending it sends the same batch again after its restart, and the cloud
// applies a batch ID once. Nothing is lost (PM's answer waits for the
// file) and nothing is doubled (the cloud's entries are keyed, and a batch
// is applied once).
//
// The API answers only once a PM admin credential is set (`cld pm
// credential`); wrong credentials are rate limited.
package provisioning

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/cloudlink/cld/agent/api"
	"github.com/cloudlink/cld/agent/health"
	"github.com/cloudlink/cld/atomicfile"
	"github.com/cloudlink/cld/cloud/cloudapi"
	"github.com/cloudlink/cld/lockout"
)

// Files in the state directory's DirName.
const (
	DirName        = "provisioning"
	DesiredFile    = "directory.json"
	SyncedFile     = "synced.json"
	InFlightFile   = "inflight.json"
	CredentialFile = "credential.json"
)

// WarnSyncFailed is raised while the cloud refuses or cannot be reached
// for a batch of PM's changes (they wait on disk).
const WarnSyncFailed = "provisioning_sync_failed"

// The declared warnings of WarnSyncFailed: the sync's own error (the text
// is its message), CloudLink not reachable, a batch refused, another error
// of the send.
var (
	defSyncFailed = health.Declare(health.Def{Code: WarnSyncFailed, Severity: api.SeverityWarning, Title: "Provisioning Manager changes not yet in CloudLink",
		Remedy: "Nothing is lost: the changes wait on this host and are sent again with backoff. Check the cloud connection (`cld doctor`); `cld pm status` shows the last error."})
	// {reason} is cloudclient.DescribeUnreachable's sentence.
	defSyncUnreachable = health.Declare(health.Def{Code: WarnSyncFailed, Severity: api.SeverityWarning, Title: defSyncFailed.Title,
		Text: "{reason} The changes wait on this host and are sent when CloudLink answers.", Remedy: defSyncFailed.Remedy})
	defSyncRefused = health.Declare(health.Def{Code: WarnSyncFailed, Severity: api.SeverityWarning, Title: defSyncFailed.Title,
		Text: "CloudLink refused a batch of {count} directory changes ({status} {code}: {reason}); they wait on this host and are sent again.", Remedy: defSyncFailed.Remedy})
	defSyncError = health.Declare(health.Def{Code: WarnSyncFailed, Severity: api.SeverityWarning, Title: defSyncFailed.Title,
		Text: "{error}; the changes wait on this host and are sent again.", Remedy: defSyncFailed.Remedy})
)

// Config is what the service needs.
type Config struct {
	StateDir string
	Clock    clockwork.Clock // nil: real time
	Logger   *slog.Logger
	Health   *health.Registry
	// BcryptCost for the credential (0: bcrypt.DefaultCost; tests lower it).
	BcryptCost int
	// After is told each step of a send (StepSending, StepAccepted): tests
	// kill the process there.
	After func(step string)
}

// Steps of a send, for Config.After.
const (
	StepSending  = "pm-sending"  // the batch is in InFlightFile, not yet sent
	StepAccepted = "pm-accepted" // the cloud accepted it; not yet recorded
)

// Service is the PM API and its sync to the cloud.
type Service struct {
	cfg   Config
	dir   string
	clock clockwork.Clock
	log   *slog.Logger
	cred  *credential
	limit lockout.Limiter // wrong PM credentials, for the whole API (PM comes through the host's web server)
	wake  chan struct{}

	mu       sync.Mutex // guards the fields below and the files
	desired  *Directory
	synced   *Directory
	inflight *inflight
	sending  bool
	status   api.Provisioning // the sync's record (LastSync, LastChanges, BatchesSent, LastError)
}

// inflight is the batch on its way to the cloud.
type inflight struct {
	Batch cloudapi.DirectoryBatch `json:"batch"`
}

// New opens the service's files. A file that cannot be read is moved
// aside (NAME.corrupt-N) with a logged error and the service starts
// without it: a directory PM's next sync fills again.
func New(cfg Config) (*Service, error) {
	if cfg.Clock == nil {
		cfg.Clock = clockwork.NewRealClock()
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Health == nil {
		cfg.Health = health.New(cfg.Clock.Now)
	}
	if cfg.After == nil {
		cfg.After = func(string) {}
	}
	s := &Service{cfg: cfg, dir: filepath.Join(cfg.StateDir, DirName), clock: cfg.Clock, log: cfg.Logger.With("component", "provisioning"), wake: make(chan struct{}, 1)}
	// The directory is made at the first write: a host PM never uses
	// keeps none.
	if _, err := os.Stat(s.dir); err == nil {
		if _, err := atomicfile.RemoveStale(s.dir); err != nil {
			s.log.Warn("could not remove stale temporary files", "err", err)
		}
	}
	var err error
	if s.cred, err = loadCredential(filepath.Join(s.dir, CredentialFile)); err != nil {
		s.log.Error("the PM credential file cannot be read; the PM API is closed until it is set again", "err", err)
		s.cred = &credential{}
	}
	s.desired = s.loadOrAside(DesiredFile)
	s.synced = s.loadOrAside(SyncedFile)
	if s.inflight, err = loadInflight(filepath.Join(s.dir, InFlightFile)); err != nil {
		s.log.Error("the batch on its way to the cloud cannot be read; its changes are sent again", "err", err)
		s.aside(InFlightFile)
	}
	return s, nil
}

func (s *Service) loadOrAside(name string) *Directory {
	d, err := loadDirectory(filepath.Join(s.dir, name))
	if err != nil {
		s.log.Error("a provisioning file cannot be read; moved aside", "file", name, "err", err)
		s.aside(name)
		return NewDirectory()
	}
	return d
}

func (s *Service) aside(name string) {
	if dst, err := moveAside(filepath.Join(s.dir, name)); err != nil {
		s.log.Error("could not move the file aside", "file", name, "err", err)
	} else {
		s.log.Warn("file moved aside", "file", name, "to", dst)
	}
}

// Status is the API's state for `cld status` and `cld pm status`.
func (s *Service) Status() api.Provisioning {
	name, ok := s.cred.configured()
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.status
	st.Configured, st.Username = ok, name
	st.Users, st.Devices = len(s.desired.Users), len(s.desired.Devices)
	st.Pending = Diff(s.synced, s.desired).Count()
	if s.inflight != nil && st.Pending == 0 {
		st.Pending = batchCount(s.inflight.Batch)
	}
	st.Sending = s.sending
	return st
}

func batchCount(b cloudapi.DirectoryBatch) int {
	return len(b.UpsertUsers) + len(b.DeleteUsers) + len(b.UpsertDevices) + len(b.DeleteDevices)
}

// Active says whether there is anything to show: a credential set or a
// directory kept.
func (s *Service) Active() bool {
	_, ok := s.cred.configured()
	s.mu.Lock()
	defer s.mu.Unlock()
	return ok || len(s.desired.Users) > 0 || len(s.desired.Devices) > 0
}

// SetCredential sets the PM admin credential.
func (s *Service) SetCredential(c api.PMCredential) (api.Provisioning, error) {
	if err := s.mkdir(); err != nil {
		return s.Status(), api.Errorf(api.CodeInternal, "The PM credential was not set: %v.", err)
	}
	if err := s.cred.set(filepath.Join(s.dir, CredentialFile), c.Username, c.Password, s.cfg.BcryptCost); err != nil {
		return s.Status(), api.Errorf(api.CodeBadRequest, "The PM credential was not set: %v.", err)
	}
	s.limit.Succeeded()
	s.log.Info("PM admin credential set", "username", c.Username)
	return s.Status(), nil
}

// mkdir makes the service's directory (0700).
func (s *Service) mkdir() error {
	if err := os.MkdirAll(s.dir, 0o700); err != nil {
		return fmt.Errorf("%w; check that %s is writable", err, s.cfg.StateDir)
	}
	return nil
}

// commit makes next the desired directory: written to disk first, then
// kept, then the sender woken. Called with s.mu held.
func (s *Service) commitLocked(next *Directory) error {
	if err := s.mkdir(); err != nil {
		return err
	}
	if err := next.save(filepath.Join(s.dir, DesiredFile)); err != nil {
		return fmt.Errorf("saving the directory: %w", err)
	}
	s.desired = next
	select {
	case s.wake <- struct{}{}:
	default:
	}
	return nil
}

// newBatchID is a random batch ID.
func newBatchID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return "pm-" + hex.EncodeToString(b[:])
}

func loadInflight(path string) (*inflight, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var f inflight
	if err := decodeStrict(data, &f, path); err != nil {
		return nil, err
	}
	if f.Batch.ID == "" {
		return nil, fmt.Errorf("%s: no batch ID", path)
	}
	return &f, nil
}

// sleep waits d on the service's clock, or until woken or ctx ends.
func (s *Service) sleep(ctx context.Context, d time.Duration) {
	t := s.clock.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.Chan():
	case <-s.wake:
	}
}
