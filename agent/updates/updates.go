// Package updates is the daemon's self-update, a linked-only subsystem:
// at the scheduled time (updater.Schedule, in the host's time zone) it
// asks the cloud for the newest release of the system's stage and, unless
// updates are paused, applies a newer one: download (resumable, through
// the configured proxy), verification against the release key built into
// the daemon and the manifest's checksum, the swap into the update
// directory (updater.Dir), and a restart into the launcher, which tries
// the new version and confirms it or rolls it back (updater.Launcher).
//
// Its state (StateFile: schedule, pause, last check, last update, the
// release available, the progress of a running update) is written
// atomically at every step, so a daemon killed at any step starts again
// coherent: an update cut short before its swap is recorded as
// interrupted and tried at the next check; one swapped in is judged by the
// launcher, whose outcome the next start reports (status, warning,
// inventory report).
package updates

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"aead.dev/minisign"
	"github.com/jonboulle/clockwork"

	"github.com/cloudlink/cld/agent/api"
	"github.com/cloudlink/cld/agent/health"
	"github.com/cloudlink/cld/agent/link"
	"github.com/cloudlink/cld/atomicfile"
	"github.com/cloudlink/cld/inventory"
	"github.com/cloudlink/cld/updater"
)

// Files in the state directory.
const (
	StateFile = "update.json"
	DirName   = "update" // the updater.Dir
)

// WarnFailed is raised while the last update failed, was refused or was
// rolled back.
const WarnFailed = "update_failed"

// The declared warnings of WarnFailed, one per result.
var (
	defFailed = health.Declare(health.Def{Code: WarnFailed, Severity: api.SeverityWarning, Title: "Daemon update failed",
		Text:   "The update to {version} failed: {reason}.",
		Remedy: "This version keeps running and nothing is lost. `cld update status` says why; a newer release is tried at the next check, `cld update now` tries again at once, and `journalctl -u cld` has the details."})
	defRolledBack = health.Declare(health.Def{Code: WarnFailed, Severity: api.SeverityWarning, Title: defFailed.Title,
		Text: "The update to {version} was rolled back: {reason}.", Remedy: defFailed.Remedy})
	defRefused = health.Declare(health.Def{Code: WarnFailed, Severity: api.SeverityWarning, Title: defFailed.Title,
		Text: "The update to {version} was refused: {reason}.", Remedy: defFailed.Remedy})
)

// Config is what the updater needs.
type Config struct {
	StateDir string
	// Key is the release key built into the daemon; without one (a build
	// made without it) every release is refused.
	Key     *minisign.PublicKey
	Version string // the running version
	Arch    string // GOARCH
	Clock   clockwork.Clock
	Loc     *time.Location // the host's time zone (nil: time.Local)
	Logger  *slog.Logger
	Health  *health.Registry
	// LinkState is the link's state (api.State*).
	LinkState func() string
	// Restart stops the daemon to run the launcher again (through the
	// service manager, or by re-exec); nil in tests that stop at the swap.
	Restart func(reason string)
	// After is told each step of an apply (tests kill the process there).
	After func(step string)
	// Trial is the version this process is on trial as (updater.EnvTrial).
	Trial string
}

// Steps of an apply, besides updater.Swap's and updater.StepInstalled.
const (
	StepDownloaded = "downloaded"
	StepVerified   = "verified"
	StepRestarting = "restarting"
)

// persisted is StateFile.
type persisted struct {
	Schedule  *updater.Schedule `json:"schedule,omitempty"` // nil: the default
	Pause     updater.Pause     `json:"pause"`
	LastCheck time.Time         `json:"last_check,omitzero"`
	// LastScheduled is the last scheduled run: a pause that ended is
	// followed by another only after one (updates cannot be kept off).
	LastScheduled time.Time           `json:"last_scheduled,omitzero"`
	NextCheck     time.Time           `json:"next_check,omitzero"`
	LastUpdate    *api.UpdateResult   `json:"last_update,omitempty"`
	Available     *api.UpdateRelease  `json:"available,omitempty"`
	Skip          []string            `json:"skip,omitempty"` // versions that failed here
	Stage         string              `json:"stage,omitempty"`
	LastError     string              `json:"last_error,omitempty"`
	State         string              `json:"state"`            // api.UpdateState*
	Target        string              `json:"target,omitempty"` // the version being applied
	Progress      *api.UpdateProgress `json:"progress,omitempty"`
}

// Updater is the subsystem.
type Updater struct {
	cfg  Config
	dir  updater.Dir
	log  *slog.Logger
	wake chan struct{}

	mu       sync.Mutex
	st       persisted
	systemID string
	session  *link.Session
	runCtx   context.Context // the running session's
	applying bool
}

// New loads the state and folds in the launcher's outcome of the last
// update (or records an update cut short).
func New(cfg Config) (*Updater, error) {
	if cfg.Loc == nil {
		cfg.Loc = time.Local
	}
	u := &Updater{cfg: cfg, dir: updater.Dir(filepath.Join(cfg.StateDir, DirName)),
		log: cfg.Logger.With("component", "update"), wake: make(chan struct{}, 1)}
	if err := u.load(); err != nil {
		return nil, err
	}
	u.reconcile()
	cfg.Health.AddProbe(u.probe)
	return u, nil
}

// Name is the subsystem's name.
func (u *Updater) Name() string { return "update" }

// Dir is the update directory.
func (u *Updater) Dir() updater.Dir { return u.dir }

func (u *Updater) file() string { return filepath.Join(u.cfg.StateDir, StateFile) }

func (u *Updater) load() error {
	data, err := os.ReadFile(u.file())
	if errors.Is(err, os.ErrNotExist) {
		u.st.State = api.UpdateStateIdle
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading %s: %w", u.file(), err)
	}
	var st persisted
	err = json.Unmarshal(data, &st)
	if err == nil && st.Schedule != nil {
		err = st.Schedule.Validate()
	}
	if err != nil {
		moved, qerr := atomicfile.Quarantine(u.file(), time.Now())
		u.log.Warn("the update state was not valid; it was moved aside and the defaults apply", "err", err, "moved_to", moved, "move_err", qerr)
		u.st.State = api.UpdateStateIdle
		return nil
	}
	u.st = st
	return nil
}

// saveLocked writes the state; u.mu is held.
func (u *Updater) saveLocked() {
	data, err := json.MarshalIndent(u.st, "", "  ")
	if err == nil {
		err = atomicfile.Write(u.file(), append(data, '\n'), 0o600)
	}
	if err != nil {
		u.log.Error("the update state cannot be written", "err", err)
	}
}

// reconcile takes the launcher's outcome, or notes an update that the
// daemon's stop cut short.
func (u *Updater) reconcile() {
	u.mu.Lock()
	defer u.mu.Unlock()
	o, err := u.dir.ReadOutcome()
	if err != nil {
		u.log.Warn("the last update's outcome is unreadable", "err", err)
	}
	if u.cfg.Trial != "" {
		return // on trial: the launcher decides, the next start reports
	}
	busy := u.st.State != "" && u.st.State != api.UpdateStateIdle && u.st.State != api.UpdateStateChecking
	switch {
	case o != nil:
		u.st.LastUpdate = &api.UpdateResult{Version: o.Version, From: o.From, Time: o.Time, Result: o.Result, Reason: o.Reason}
		if o.Result == updater.ResultRolledBack && !slices.Contains(u.st.Skip, o.Version) {
			u.st.Skip = append(u.st.Skip, o.Version)
		}
		if o.Result == updater.ResultUpdated || o.Result == updater.ResultReplaced {
			u.st.Available = nil
		}
		u.log.Info("the last update's outcome", "version", o.Version, "from", o.From, "result", o.Result, "reason", o.Reason)
	case busy:
		u.st.LastUpdate = &api.UpdateResult{Version: u.st.Target, From: u.cfg.Version, Time: u.cfg.Clock.Now(), Result: updater.ResultInterrupted,
			Reason: fmt.Sprintf("the daemon stopped while the update was %s; it is tried again at the next check", u.st.State)}
		u.log.Warn("an update was cut short by the daemon's stop", "version", u.st.Target, "state", u.st.State)
	default:
		return
	}
	u.st.State, u.st.Target, u.st.Progress = api.UpdateStateIdle, "", nil
	u.saveLocked()
	if o != nil {
		_ = u.dir.ClearOutcome()
	}
}

// probe keeps WarnFailed while the last update failed.
func (u *Updater) probe() {
	u.mu.Lock()
	last := u.st.LastUpdate
	u.mu.Unlock()
	failed := last != nil && (last.Result == updater.ResultRolledBack || last.Result == updater.ResultRefused || last.Result == updater.ResultFailed)
	if !failed {
		u.cfg.Health.Clear(WarnFailed)
		return
	}
	def := map[string]health.Def{updater.ResultRolledBack: defRolledBack, updater.ResultRefused: defRefused, updater.ResultFailed: defFailed}[last.Result]
	u.cfg.Health.Set(def.Say("version", last.Version, "reason", last.Reason))
}

// schedule is the schedule in force; u.mu is held.
func (u *Updater) scheduleLocked() (updater.Schedule, bool) {
	if u.st.Schedule != nil {
		s := *u.st.Schedule
		s.Loc = u.cfg.Loc
		return s, false
	}
	s := updater.DefaultSchedule(u.systemID)
	s.Loc = u.cfg.Loc
	return s, true
}

// Status is the update's state as the CLI and dashboard show it.
func (u *Updater) Status() api.Update {
	u.mu.Lock()
	defer u.mu.Unlock()
	s, def := u.scheduleLocked()
	st := api.Update{Schedule: s.String(), Default: def, Zone: zoneName(u.cfg.Loc, u.cfg.Clock.Now()), LastUpdate: u.st.LastUpdate,
		Stage: u.st.Stage, State: u.st.State, Progress: u.st.Progress, LastError: u.st.LastError}
	if u.cfg.Trial != "" {
		st.State = api.UpdateStateConfirming
	}
	if st.State == "" {
		st.State = api.UpdateStateIdle
	}
	now := u.cfg.Clock.Now()
	st.LastCheck = timePtr(u.st.LastCheck)
	if u.session != nil {
		st.NextCheck = timePtr(u.nextLocked(now))
	}
	if u.st.Pause.Active(now) {
		st.PausedUntil, st.PausedSince = timePtr(u.st.Pause.Until), timePtr(u.st.Pause.Since)
	}
	if a := u.st.Available; a != nil {
		c := *a
		c.Skipped = slices.Contains(u.st.Skip, a.Version)
		st.Available = &c
	}
	return st
}

// zoneName names the host's time zone: its IANA name when known, else its
// abbreviation (time.Local's name is "Local").
func zoneName(loc *time.Location, now time.Time) string {
	if name := loc.String(); name != "Local" {
		return name
	}
	if tz := os.Getenv("TZ"); tz != "" {
		return strings.TrimPrefix(tz, ":")
	}
	if target, err := os.Readlink("/etc/localtime"); err == nil {
		if _, name, ok := strings.Cut(target, "zoneinfo/"); ok {
			return name
		}
	}
	abbr, _ := now.In(loc).Zone()
	return abbr
}

// Report is the inventory report's update section: the schedule, the
// times, the last update's result and the stage.
func (u *Updater) Report() *inventory.UpdateSchedule {
	st := u.Status()
	u.mu.Lock()
	s, _ := u.scheduleLocked()
	u.mu.Unlock()
	r := &inventory.UpdateSchedule{Schedule: string(s.Every), TimeOfDay: fmt.Sprintf("%02d:%02d", s.Minute/60, s.Minute%60),
		PausedUntil: st.PausedUntil, LastCheck: st.LastCheck, NextCheck: st.NextCheck, Stage: st.Stage}
	if s.Every == updater.Weekly {
		r.Weekday = strings.ToLower(s.Weekday.String())
	}
	if l := st.LastUpdate; l != nil {
		r.LastVersion, r.LastResult, r.LastReason = l.Version, l.Result, l.Reason
		if l.Result == updater.ResultUpdated {
			t := l.Time
			r.LastUpdate = &t
		}
	}
	return r
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// nextLocked is the next scheduled check after now (and after the last).
func (u *Updater) nextLocked(now time.Time) time.Time {
	s, _ := u.scheduleLocked()
	from := now
	if u.st.LastCheck.After(from) {
		from = u.st.LastCheck
	}
	return s.Next(from)
}

func (u *Updater) kick() {
	select {
	case u.wake <- struct{}{}:
	default:
	}
}
