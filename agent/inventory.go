package agent

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"
	_ "time/tzdata" // the daily report's time zone on hosts without zoneinfo

	"github.com/google/uuid"
	"github.com/jonboulle/clockwork"
	"github.com/robfig/cron/v3"

	"github.com/cloudlink/cld/agent/api"
	"github.com/cloudlink/cld/agent/atomicfile"
	"github.com/cloudlink/cld/agent/backoff"
	"github.com/cloudlink/cld/agent/health"
	"github.com/cloudlink/cld/agent/outbox"
	"github.com/cloudlink/cld/cloud/cloudapi"
	"github.com/cloudlink/cld/inventory"
	"github.com/cloudlink/cld/platforms"
)

// Inventory reports.
//
// Triggers: a report is made when the host links (the first session of a
// link), when the daemon starts already linked, once a day at a time of day
// derived from the system ID (DailyMinute: a fleet spreads over 04:00–23:59
// of the host's time zone, away from the hours in which daylight saving time
// changes), on a relevant change — a tunnel's status, the
// platform's type, name or version, an application installed, removed or
// upgraded, the license's SWA status (inventory.Changes) — and when asked (`cld inventory submit`, the dashboard).
// Changes are debounced: a report follows once nothing changed for
// invQuiet, and at the latest invMaxDelay after the first change. Tunnel
// changes are noticed at once (the tunnel manager's wake-ups); the platform
// and applications are compared every invPoll.
//
// Delivery: a made report goes to the outbox (InventoryOutboxFile, one
// entry, atomic writes, 0600) before any attempt; a newer report supersedes
// an older unsent one. The outbox is sent with capped exponential backoff
// and jitter while the host is linked, also after a restart, always with the
// report's own ID (the cloud stores a retried report once). A 2xx answer
// removes it and sets Last; a 400 invalid_report or 413 drops it (the cloud
// will never take it), logs an error and raises WarnInventoryRejected; a
// revoked system is handled as the link session does; anything else is
// retried. Last and Next are kept in InventoryStateFile.

// Files of the inventory in the state directory.
const (
	InventoryStateFile  = "inventory.json"
	InventoryOutboxFile = "inventory-outbox.json"
)

// Warning codes of the inventory.
const (
	WarnInventoryRejected = "inventory_rejected"
	WarnInventoryOutbox   = "inventory_outbox_corrupt"
)

// Report triggers (inventory.Report.Trigger).
const (
	TriggerLink   = "link"
	TriggerStart  = "start"
	TriggerDaily  = "daily"
	TriggerChange = "change"
	TriggerManual = "manual"
)

var (
	defInventoryRejected = health.Def{Code: WarnInventoryRejected, Severity: api.SeverityWarning, Title: "Inventory report refused by CloudLink",
		Remedy: "The report was dropped; the next one is sent as usual. If this repeats, update cld and send the daemon's log to support (journalctl -u cld)."}
	defInventoryOutbox = health.Def{Code: WarnInventoryOutbox, Severity: api.SeverityWarning, Title: "Inventory outbox was corrupt",
		Remedy: "Nothing to do: a new report is made and sent; the old file was kept for inspection."}
)

// InventoryCollector builds a report for trigger (with changes for a
// change report). The agent fills in what the collector leaves empty: ID,
// SystemID, GeneratedAt, Trigger and Changes.
type InventoryCollector func(ctx context.Context, trigger string, changes []string) (*inventory.Report, error)

// WithInventoryCollector replaces how reports are collected (tests); the
// default is inventory.Collect with the agent's providers.
func WithInventoryCollector(c InventoryCollector) Option {
	return func(a *Agent) { a.invCollect = c }
}

// Inventory tuning (see above).
const (
	invQuiet    = 10 * time.Second
	invMaxDelay = 60 * time.Second
	invPoll     = 15 * time.Minute
	invRetryMin = 5 * time.Second
	invRetryMax = 15 * time.Minute
	invTimeout  = 60 * time.Second
	// The daily window: minutes of the day from 04:00 to 23:59.
	invDailyFrom = 4 * 60
	invDailySpan = 24*60 - invDailyFrom
)

// invTuning can be changed by tests.
type invTuning struct {
	quiet, maxDelay, poll, retryMin, retryMax time.Duration
	loc                                       *time.Location
	// clock schedules the reports (daily, debounce, retries) and stamps
	// Last: real time unless a test sets it, like the drift monitor's, so
	// that tests faking the agent's clock for other loops are not
	// disturbed by the inventory's timers.
	clock clockwork.Clock
}

// withInventoryTuning adjusts the inventory's timings (tests).
func withInventoryTuning(f func(*invTuning)) Option {
	return func(a *Agent) { a.invTune = f }
}

// DailyMinute is the minute of the day (in the host's time zone) of a
// system's daily report: from a hash of the system ID, between 04:00 and
// 23:59, so that a fleet does not report at once and no host reports in the
// hours (00:00–04:00) in which time zones change to or from daylight saving
// time (cron skips a time that does not exist and may run one that occurs
// twice again).
func DailyMinute(systemID string) int {
	h := sha256.Sum256([]byte("cld-inventory-daily/" + systemID))
	return invDailyFrom + int(binary.BigEndian.Uint32(h[:4])%invDailySpan)
}

// dailySchedule is the cron schedule of a system's daily report.
func dailySchedule(systemID string) (cron.Schedule, string, error) {
	m := DailyMinute(systemID)
	spec := fmt.Sprintf("%d %d * * *", m%60, m/60)
	s, err := cron.ParseStandard(spec)
	return s, spec, err
}

// invState is InventoryStateFile.
type invState struct {
	Format int        `json:"format"`
	Last   *time.Time `json:"last,omitempty"` // the cloud last accepted a report
	LastID string     `json:"last_id,omitempty"`
	Next   *time.Time `json:"next,omitempty"` // the next daily report
	// LinkReported is the LinkedAt of the link whose "link" report was
	// made: a session of another link makes a "link" report, else "start".
	LinkReported *time.Time `json:"link_reported,omitempty"`
	SystemID     string     `json:"system_id,omitempty"`
}

const invStateFormat = 1

// inventoryManager is the agent's inventory Subsystem.
type inventoryManager struct {
	a       *Agent
	log     *slog.Logger
	clock   clockwork.Clock
	collect InventoryCollector
	tune    invTuning
	box     *outbox.Outbox
	submit  chan invSubmit

	mu      sync.Mutex
	st      invState
	lastErr string
	active  chan struct{} // closed when the running session's loop ends; nil when none
}

type invSubmit struct {
	ctx   context.Context
	reply chan error
}

func newInventoryManager(a *Agent) (*inventoryManager, error) {
	m := &inventoryManager{
		a:      a,
		log:    a.baseLog.With("component", "inventory"),
		submit: make(chan invSubmit),
		tune: invTuning{quiet: invQuiet, maxDelay: invMaxDelay, poll: invPoll,
			retryMin: invRetryMin, retryMax: invRetryMax, loc: time.Local, clock: clockwork.NewRealClock()},
	}
	if a.invTune != nil {
		a.invTune(&m.tune)
	}
	m.clock = m.tune.clock
	m.collect = a.invCollect
	if m.collect == nil {
		m.collect = a.collectInventory
	}
	box, err := outbox.Open(filepath.Join(a.cfg.StateDir, InventoryOutboxFile), a.clock.Now())
	if errors.Is(err, outbox.ErrCorrupt) {
		m.log.Error("THE INVENTORY OUTBOX WAS CORRUPT: moved it aside; a new report will be sent", "err", err)
		a.health.Set(defInventoryOutbox.With(err.Error()))
	} else if err != nil {
		return nil, err
	}
	m.box = box
	m.st = m.loadState()
	return m, nil
}

func (m *inventoryManager) statePath() string {
	return filepath.Join(m.a.cfg.StateDir, InventoryStateFile)
}

func (m *inventoryManager) loadState() invState {
	data, err := os.ReadFile(m.statePath())
	if err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			m.log.Warn("cannot read the inventory state; Last and Next start empty", "err", err)
		}
		return invState{Format: invStateFormat}
	}
	var st invState
	if err := json.Unmarshal(data, &st); err != nil || st.Format < 1 || st.Format > invStateFormat {
		m.log.Warn("the inventory state is unreadable; Last and Next start empty", "err", err)
		_, _ = atomicfile.Quarantine(m.statePath(), m.clock.Now())
		return invState{Format: invStateFormat}
	}
	return st
}

// update changes the persisted state under the lock.
func (m *inventoryManager) update(f func(st *invState)) {
	m.mu.Lock()
	defer m.mu.Unlock()
	st := m.st
	f(&st)
	st.Format = invStateFormat
	data, err := json.Marshal(st)
	if err == nil {
		err = atomicfile.Write(m.statePath(), data, 0o600)
	}
	if err != nil {
		m.log.Error("could not save the inventory state", "err", err)
	}
	m.st = st
}

func (m *inventoryManager) Name() string { return "inventory" }

// forget drops the unsent report and Last and Next after an unlink (called
// once the session has stopped): they belong to a system that is gone.
func (m *inventoryManager) forget() {
	if err := m.box.Clear(); err != nil {
		m.log.Error("could not empty the inventory outbox", "err", err)
	}
	m.mu.Lock()
	m.st = invState{Format: invStateFormat}
	m.lastErr = ""
	err := atomicfile.Remove(m.statePath())
	m.mu.Unlock()
	if err != nil {
		m.log.Error("could not remove the inventory state", "err", err)
	}
	m.a.health.Clear(WarnInventoryRejected)
}

// status is api.Inventory (Next only while linked).
func (m *inventoryManager) status() api.Inventory {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := api.Inventory{Pending: m.box.Pending(), LastError: m.lastErr}
	if m.st.Last != nil {
		t := *m.st.Last
		out.Last = &t
	}
	if m.st.Next != nil && m.active != nil {
		t := *m.st.Next
		out.Next = &t
	}
	return out
}

func (m *inventoryManager) setErr(s string) {
	m.mu.Lock()
	m.lastErr = s
	m.mu.Unlock()
}

// RunLinked makes the start or link report, then runs the triggers and the
// delivery of the outbox until ctx ends.
func (m *inventoryManager) RunLinked(ctx context.Context, s *Session) error {
	done := make(chan struct{})
	m.mu.Lock()
	m.active = done
	st := m.st
	m.mu.Unlock()
	defer func() {
		m.mu.Lock()
		m.active = nil
		m.mu.Unlock()
		close(done)
	}()

	sched, spec, err := dailySchedule(s.SystemID())
	if err != nil {
		return fmt.Errorf("inventory: daily schedule: %w", err)
	}
	loc := m.tune.loc
	now := m.clock.Now()
	next := sched.Next(now.In(loc))
	m.log.Info("inventory reports scheduled", "daily_at", fmt.Sprintf("%02d:%02d", DailyMinute(s.SystemID())/60, DailyMinute(s.SystemID())%60),
		"cron", spec, "time_zone", loc.String(), "next", next)
	m.update(func(st *invState) { n := next; st.Next = &n; st.SystemID = s.SystemID() })

	trigger := TriggerStart
	linkedAt := s.link.LinkedAt
	if st.LinkReported == nil || !st.LinkReported.Equal(linkedAt) {
		trigger = TriggerLink
	}
	last, err := m.enqueue(ctx, s, trigger, nil)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		m.log.Error("could not make the "+trigger+" inventory report", "err", err)
	} else if trigger == TriggerLink {
		m.update(func(st *invState) { st.LinkReported = &linkedAt })
	}

	bo := backoff.New(m.tune.retryMin, m.tune.retryMax)
	retryAt := now // the outbox (this report, or one left from before a restart) goes at once
	poll := now.Add(m.tune.poll)
	var dirtySince, dirtyLast time.Time // a change waits for its report; zero when none
	var dirtyWhy []string
	seenSig := tunnelSig(reportTunnels(last))
	tunnelWake := m.a.tunnels.changed()
	markDirty := func(now time.Time, why string) {
		if dirtySince.IsZero() {
			dirtySince = now
		}
		dirtyLast = now
		if why != "" && !slices.Contains(dirtyWhy, why) {
			dirtyWhy = append(dirtyWhy, why)
		}
	}

	for {
		if ctx.Err() != nil {
			return nil
		}
		now := m.clock.Now()
		if !now.Before(next) {
			if r, err := m.enqueue(ctx, s, TriggerDaily, nil); err == nil {
				last = r
				retryAt = now
				bo.Reset()
			} else if ctx.Err() == nil {
				m.log.Error("could not make the daily inventory report", "err", err)
			}
			next = sched.Next(now.In(loc))
			m.update(func(st *invState) { n := next; st.Next = &n })
		}
		if !now.Before(poll) {
			poll = now.Add(m.tune.poll)
			markDirty(now, "") // look for platform and application changes
		}
		if !dirtySince.IsZero() && (!now.Before(dirtyLast.Add(m.tune.quiet)) || !now.Before(dirtySince.Add(m.tune.maxDelay))) {
			dirtySince, dirtyLast, dirtyWhy = time.Time{}, time.Time{}, nil
			r, err := m.build(ctx, s, TriggerChange, nil)
			switch {
			case err != nil && ctx.Err() == nil:
				m.log.Error("could not make a change inventory report", "err", err)
			case err == nil:
				if changes := inventory.Changes(last, r); len(changes) > 0 {
					r.Changes = changes
					if err := m.put(r); err != nil {
						m.log.Error("could not queue the change inventory report", "err", err)
					} else {
						m.log.Info("inventory changed; report queued", "id", r.ID, "changes", changes)
						last = r
						retryAt = now
						bo.Reset()
					}
				}
				seenSig = tunnelSig(reportTunnels(last))
			}
		}
		if m.box.Pending() && !now.Before(retryAt) {
			err := m.deliver(ctx, s)
			switch {
			case errors.Is(err, errSessionOver):
				return nil
			case err != nil && m.box.Pending():
				d := bo.Next()
				retryAt = m.clock.Now().Add(d)
				m.log.Warn("inventory report not delivered; retrying", "in", d.Round(time.Millisecond), "err", err)
			default:
				bo.Reset()
			}
		}

		// Sleep until the next thing is due.
		now = m.clock.Now()
		wake := next
		if poll.Before(wake) {
			wake = poll
		}
		if !dirtySince.IsZero() {
			due := dirtyLast.Add(m.tune.quiet)
			if max := dirtySince.Add(m.tune.maxDelay); max.Before(due) {
				due = max
			}
			if due.Before(wake) {
				wake = due
			}
		}
		if m.box.Pending() && retryAt.Before(wake) {
			wake = retryAt
		}
		t := m.clock.NewTimer(max(wake.Sub(now), 0))
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.Chan():
		case <-tunnelWake:
			t.Stop()
			tunnelWake = m.a.tunnels.changed()
			live := liveTunnels(m.a.tunnels.list(m.a.linkState()))
			if sig := tunnelSig(live); sig != seenSig {
				seenSig = sig
				markDirty(m.clock.Now(), "tunnels")
			}
		case req := <-m.submit:
			t.Stop()
			r, err := m.enqueue(req.ctx, s, TriggerManual, nil)
			if err == nil {
				last = r
				err = m.deliver(req.ctx, s)
				if m.box.Pending() {
					retryAt = m.clock.Now().Add(bo.Next())
				} else {
					bo.Reset()
				}
			}
			req.reply <- err
			if errors.Is(err, errSessionOver) {
				return nil
			}
		}
	}
}

// changed returns a channel closed at the tunnels' next change.
func (m *tunnelManager) changed() <-chan struct{} {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.wake
}

// build collects a report for trigger and fills in its identity.
func (m *inventoryManager) build(ctx context.Context, s *Session, trigger string, changes []string) (*inventory.Report, error) {
	ctx, cancel := context.WithTimeout(ctx, invTimeout)
	defer cancel()
	r, err := m.collect(ctx, trigger, changes)
	if err != nil {
		return nil, err
	}
	if r == nil {
		return nil, errors.New("the collector returned no report")
	}
	if r.SchemaVersion == 0 {
		r.SchemaVersion = inventory.SchemaVersion
	}
	if r.ID == "" {
		r.ID = uuid.NewString()
	}
	if s != nil {
		r.SystemID = s.SystemID()
	}
	if r.GeneratedAt.IsZero() {
		r.GeneratedAt = m.clock.Now().UTC()
	}
	r.Trigger = trigger
	if changes != nil {
		r.Changes = changes
	}
	if r.Collection == nil {
		r.Collection = []inventory.CollectorResult{}
	}
	return r, nil
}

// enqueue builds a report and puts it in the outbox.
func (m *inventoryManager) enqueue(ctx context.Context, s *Session, trigger string, changes []string) (*inventory.Report, error) {
	r, err := m.build(ctx, s, trigger, changes)
	if err != nil {
		return nil, err
	}
	if err := m.put(r); err != nil {
		return nil, err
	}
	m.log.Info("inventory report queued", "id", r.ID, "trigger", trigger)
	return r, nil
}

func (m *inventoryManager) put(r *inventory.Report) error {
	body, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("encoding the report: %w", err)
	}
	old, err := m.box.Put(outbox.Entry{ID: r.ID, SystemID: r.SystemID, Trigger: r.Trigger, QueuedAt: m.clock.Now().UTC(), Body: body})
	if err != nil {
		return err
	}
	if old != "" {
		m.log.Info("an unsent inventory report was superseded by a newer one", "dropped", old, "by", r.ID)
	}
	return nil
}

// errReportRejected: the cloud refused a report for good (it was dropped).
var errReportRejected = errors.New("CloudLink refused the inventory report")

// deliver sends the outbox's report once. It returns nil when the outbox is
// empty afterwards because the cloud took the report, errReportRejected
// (wrapped) when the report was dropped, errSessionOver when the link is
// over, and another error to retry.
func (m *inventoryManager) deliver(ctx context.Context, s *Session) error {
	e, ok := m.box.Peek()
	if !ok {
		return nil
	}
	if e.SystemID != s.SystemID() {
		m.log.Warn("dropping an inventory report made for another link", "id", e.ID, "report_system_id", e.SystemID)
		_, _ = m.box.Remove(e.ID)
		m.setErr("")
		return nil
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	_, _ = zw.Write(e.Body)
	if err := zw.Close(); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, invTimeout)
	defer cancel()
	acc, err := m.post(ctx, s, gz.Bytes())
	var ce *CloudError
	switch {
	case err == nil:
		if _, rerr := m.box.Remove(e.ID); rerr != nil {
			m.log.Error("could not remove the delivered report from the outbox", "err", rerr)
		}
		now := m.clock.Now().UTC().Truncate(time.Second)
		m.update(func(st *invState) { st.Last, st.LastID = &now, e.ID })
		m.setErr("")
		m.a.health.Clear(WarnInventoryRejected)
		m.log.Info("inventory report accepted by CloudLink", "id", e.ID, "trigger", e.Trigger, "duplicate", acc.Duplicate, "bytes", len(e.Body), "gzip_bytes", gz.Len())
		return nil
	case errors.As(err, &ce) && (ce.Code == cloudapi.ErrSystemRevoked || ce.Code == "invalid_client" || ce.Code == "unauthorized_client"):
		m.setErr(err.Error())
		s.handleErr(ctx, err) // the link session's handling: unlinked or link error
		return errSessionOver
	case errors.As(err, &ce) && (ce.Status == http.StatusRequestEntityTooLarge || (ce.Status == http.StatusBadRequest && ce.Code == cloudapi.ErrInvalidReport)):
		_, _ = m.box.Remove(e.ID)
		msg := fmt.Sprintf("CloudLink refused the inventory report %s (made %s, trigger %s) and will never accept it: %s", e.ID, e.QueuedAt.Format(time.RFC3339), e.Trigger, ce.Description)
		if ce.Description == "" {
			msg = fmt.Sprintf("CloudLink refused the inventory report %s (trigger %s) with %d %s; it was dropped.", e.ID, e.Trigger, ce.Status, ce.Code)
		}
		m.log.Error("CLOUDLINK REFUSED AN INVENTORY REPORT; IT WAS DROPPED", "id", e.ID, "status", ce.Status, "code", ce.Code, "description", ce.Description)
		m.a.health.Set(defInventoryRejected.With(msg))
		m.setErr(msg)
		return fmt.Errorf("%w: %s", errReportRejected, msg)
	case errors.Is(err, ErrCloudUnreachable):
		m.setErr(describeUnreachable(s.link.Cloud, err) + " The report waits on disk and is retried.")
		return err
	default:
		if ctx.Err() != nil && errors.Is(err, context.Canceled) {
			return err
		}
		m.setErr(err.Error() + ". The report waits on disk and is retried.")
		return err
	}
}

// post sends a gzipped report with the device token (once more with a new
// token when the cloud says the token is no longer valid).
func (m *inventoryManager) post(ctx context.Context, s *Session, gz []byte) (*cloudapi.InventoryAccepted, error) {
	tok, err := s.Token(ctx)
	if err != nil {
		return nil, err
	}
	acc, err := s.cloud.postInventory(ctx, tok, gz)
	var ce *CloudError
	if errors.As(err, &ce) && ce.Status == http.StatusUnauthorized && ce.Code != cloudapi.ErrSystemRevoked {
		s.invalidate()
		if tok, err = s.Token(ctx); err != nil {
			return nil, err
		}
		acc, err = s.cloud.postInventory(ctx, tok, gz)
	}
	return acc, err
}

// postInventory is POST PathSystemInventory with a gzipped JSON body.
func (c *cloudClient) postInventory(ctx context.Context, deviceToken string, gz []byte) (*cloudapi.InventoryAccepted, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+cloudapi.PathSystemInventory, bytes.NewReader(gz))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Content-Encoding", "gzip")
	req.Header.Set("Authorization", "Bearer "+deviceToken)
	var acc cloudapi.InventoryAccepted
	if err := c.do(req, &acc); err != nil {
		return nil, err
	}
	return &acc, nil
}

// --- change detection ------------------------------------------------------------

func reportTunnels(r *inventory.Report) []inventory.Tunnel {
	if r == nil {
		return nil
	}
	return r.Tunnels
}

func liveTunnels(ts api.Tunnels) []inventory.Tunnel {
	out := make([]inventory.Tunnel, 0, len(ts.Tunnels))
	for _, t := range ts.Tunnels {
		out = append(out, inventory.Tunnel{ID: t.ID, Component: t.Component, Name: t.Name, Status: t.Status, PublicURL: t.PublicURL})
	}
	return out
}

func tunnelSig(ts []inventory.Tunnel) string {
	var b strings.Builder
	for _, t := range ts {
		fmt.Fprintf(&b, "%s=%s;", t.ID, t.Status)
	}
	return b.String()
}

// WithInventoryPlatform sets where the inventory reads the platform, afresh
// for every report so that a new version or application is seen (cmd/cld
// passes inventory.PlatformFile over the config file). Without it the
// platform given with WithPlatform is reported.
func WithInventoryPlatform(src inventory.PlatformSource) Option {
	return func(a *Agent) { a.invPlatform = src }
}

// collectInventory is the default collector: inventory.Collect with the
// agent's providers (platform, tunnels, clock, warnings, build) and every
// secret the daemon holds, so that none can end up in a report.
func (a *Agent) collectInventory(ctx context.Context, trigger string, changes []string) (*inventory.Report, error) {
	cfg := inventory.DefaultConfig()
	a.mu.Lock()
	if l := a.st.Link; l != nil {
		cfg.SystemID = l.SystemID
		cfg.Secrets = append(cfg.Secrets, l.ClientSecret)
	}
	a.mu.Unlock()
	if cfg.SystemID == "" {
		return nil, apiErr(api.CodeNotLinked, "This system is not linked to CloudLink, and a report names the linked system; link it first (`cld link` or the dashboard).")
	}
	if s := a.currentSession(); s != nil {
		if tok, _ := s.tokenInfo(); tok != "" {
			cfg.Secrets = append(cfg.Secrets, tok)
		}
	}
	cfg.Secrets = append(cfg.Secrets, proxyPasswords(a.cfg.Proxy)...)
	cfg.Trigger, cfg.Changes = trigger, changes
	cfg.Daemon = inventory.Daemon{Version: a.build.Version, Build: a.build.Build, Commit: a.build.Commit, Branch: a.build.Branch, Stage: a.build.Stage}
	cfg.StateDir = a.cfg.StateDir
	cfg.Now = a.clock.Now
	plat := a.invPlatform
	if plat == nil {
		plat = func(context.Context) (platforms.Platform, error) { return a.platform, nil }
	}
	cfg.Providers = inventory.Providers{
		Platform: plat,
		Tunnels: func(context.Context) ([]inventory.Tunnel, error) {
			return liveTunnels(a.tunnels.list(a.linkState())), nil
		},
		Clock: func(context.Context) (*inventory.Clock, error) {
			c := a.drift.Status()
			if c.MeasuredAt == nil {
				return nil, nil
			}
			return &inventory.Clock{DriftSeconds: c.DriftSeconds, Synchronized: c.Synchronized, MeasuredAt: c.MeasuredAt}, nil
		},
		Warnings: func(context.Context) ([]inventory.Warning, error) {
			ws := a.health.List()
			out := make([]inventory.Warning, 0, len(ws))
			for _, w := range ws {
				out = append(out, inventory.Warning{Code: w.Code, Severity: w.Severity, Text: w.Text})
			}
			return out, nil
		},
	}
	return inventory.Collect(ctx, cfg)
}

// proxyPasswords are the passwords of the configured and the environment's
// proxies (never to be reported).
func proxyPasswords(configured string) []string {
	var out []string
	for _, raw := range []string{configured, os.Getenv("HTTPS_PROXY"), os.Getenv("https_proxy"), os.Getenv("HTTP_PROXY"), os.Getenv("http_proxy")} {
		if raw == "" {
			continue
		}
		if u, err := url.Parse(raw); err == nil && u.User != nil {
			if pw, ok := u.User.Password(); ok && pw != "" {
				out = append(out, pw)
			}
		}
	}
	return out
}

// --- the local API's side ---------------------------------------------------------

// Inventory is the state of inventory reporting.
func (a *Agent) Inventory(context.Context) api.Inventory { return a.inv.status() }

// InventoryPreview is the exact report (JSON) that `submit` would send now:
// made as a manual report for the linked system (no system ID unlinked).
func (a *Agent) InventoryPreview(ctx context.Context) (json.RawMessage, error) {
	r, err := a.inv.build(ctx, a.currentSession(), TriggerManual, nil)
	if ae, ok := errors.AsType[*api.Error](err); ok {
		return nil, ae
	}
	if err != nil {
		return nil, apiErr(api.CodeInternal, "Could not collect the inventory report: %v. See the daemon's log (journalctl -u cld).", err)
	}
	return json.Marshal(r)
}

// SubmitInventory makes a report now and waits for one delivery attempt.
// A failed attempt is not an API error: the answer's LastError says why, and
// the report stays in the outbox to be retried (unless the cloud refused it
// for good).
func (a *Agent) SubmitInventory(ctx context.Context) (api.Inventory, error) {
	m := a.inv
	m.mu.Lock()
	done := m.active
	m.mu.Unlock()
	if done == nil || a.linkState() != api.StateLinked {
		return m.status(), apiErr(api.CodeNotLinked, "This system is not linked to CloudLink, so there is nowhere to send a report. Link it first (`cld link` or the dashboard); `cld inventory preview` shows the report anyway.")
	}
	req := invSubmit{ctx: ctx, reply: make(chan error, 1)}
	select {
	case m.submit <- req:
	case <-done:
		return m.status(), apiErr(api.CodeNotLinked, "The link session ended; try again once the system is linked.")
	case <-ctx.Done():
		return m.status(), ctx.Err()
	}
	var err error
	select {
	case err = <-req.reply:
	case <-ctx.Done():
		return m.status(), ctx.Err()
	}
	st := m.status()
	if err != nil && st.LastError == "" {
		st.LastError = err.Error()
	}
	if err != nil && !st.Pending && !errors.Is(err, errReportRejected) && !errors.Is(err, errSessionOver) {
		return st, apiErr(api.CodeInternal, "Could not make the inventory report: %v. See the daemon's log (journalctl -u cld).", err)
	}
	return st, nil
}
