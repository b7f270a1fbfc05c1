// Package reporter is the daemon's inventory sender, a linked-only
// subsystem.
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
// Delivery: a made report goes to the outbox (OutboxFile, one
// entry, atomic writes, 0600) before any attempt; a newer report supersedes
// an older unsent one. The outbox is sent with capped exponential backoff
// and jitter while the host is linked, also after a restart, always with the
// report's own ID (the cloud stores a retried report once). A 2xx answer
// removes it and sets Last; a 400 invalid_report or 413 drops it (the cloud
// will never take it), logs an error and raises WarnRejected; a
// revoked system is handled as the link session does; anything else is
// retried. Last and Next are kept in StateFile.
package reporter

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"
	_ "time/tzdata" // the daily report's time zone on hosts without zoneinfo

	"github.com/jonboulle/clockwork"
	"github.com/robfig/cron/v3"

	"github.com/cloudlink/cld/agent/api"
	"github.com/cloudlink/cld/agent/health"
	"github.com/cloudlink/cld/agent/link"
	"github.com/cloudlink/cld/agent/localapi"
	"github.com/cloudlink/cld/agent/metrics"
	"github.com/cloudlink/cld/agent/outbox"
	"github.com/cloudlink/cld/atomicfile"
	"github.com/cloudlink/cld/inventory"
)

// Files of the inventory in the state directory.
const (
	StateFile  = "inventory.json"
	OutboxFile = "inventory-outbox.json"
)

// Warning codes of the inventory.
const (
	WarnRejected = "inventory_rejected"
	WarnOutbox   = "inventory_outbox_corrupt"
)

// Report triggers (inventory.Report.Trigger).
const (
	TriggerLink   = "link"
	TriggerStart  = "start"
	TriggerDaily  = "daily"
	TriggerChange = "change"
	TriggerManual = "manual"
)

// The declared warnings: a report refused (with the cloud's reason, or
// with only its status and code), the outbox corrupt (the text is the
// outbox's error).
var (
	defRejected = health.Declare(health.Def{Code: WarnRejected, Severity: api.SeverityWarning, Title: "Inventory report refused by CloudLink",
		Text:   "CloudLink refused the inventory report {id} (made {made}, trigger {trigger}) and will never accept it: {reason}",
		Remedy: "The report was dropped; the next one is sent as usual. If this repeats, update cld and send the daemon's log to support (journalctl -u cld)."})
	defRejectedCode = health.Declare(health.Def{Code: WarnRejected, Severity: api.SeverityWarning, Title: defRejected.Title,
		Text:   "CloudLink refused the inventory report {id} (trigger {trigger}) with {status} {code}; it was dropped.",
		Remedy: defRejected.Remedy})
	defOutbox = health.Declare(health.Def{Code: WarnOutbox, Severity: api.SeverityWarning, Title: "Inventory outbox was corrupt",
		Remedy: "Nothing to do: a new report is made and sent; the old file was kept for inspection."})
)

// Collector builds a report for trigger (with changes for a change
// report). The reporter fills in what the collector leaves empty: ID,
// SystemID, GeneratedAt, Trigger and Changes.
type Collector func(ctx context.Context, trigger string, changes []string) (*inventory.Report, error)

// Tunnels is what the reporter needs of the tunnel manager.
type Tunnels interface {
	List() api.Tunnels
	Changed() <-chan struct{} // closed at the tunnels' next change
}

// Config is what a Reporter needs.
type Config struct {
	StateDir string // holds StateFile and OutboxFile
	// Collect builds the reports; nil collects with Sources.
	Collect Collector
	Sources Sources
	Tunnels Tunnels
	// LinkState is the link's state (api.State*).
	LinkState func() string
	Clock     clockwork.Clock // the host's clock (a corrupt outbox's stamp)
	Logger    *slog.Logger
	Health    *health.Registry
	// Tune adjusts the timings (tests).
	Tune func(*Tuning)
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

// Tuning are the timings, for tests to change.
type Tuning struct {
	Quiet, MaxDelay, Poll, RetryMin, RetryMax time.Duration
	Loc                                       *time.Location
	// Clock schedules the reports (daily, debounce, retries) and stamps
	// Last: real time unless a test sets it, like the drift monitor's, so
	// that tests faking the daemon's clock for other loops are not
	// disturbed by the inventory's timers.
	Clock clockwork.Clock
}

// DefaultTuning are the timings described above, in the host's time zone.
func DefaultTuning() Tuning {
	return Tuning{Quiet: invQuiet, MaxDelay: invMaxDelay, Poll: invPoll,
		RetryMin: invRetryMin, RetryMax: invRetryMax, Loc: time.Local, Clock: clockwork.NewRealClock()}
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

// invState is StateFile.
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

// Reporter makes and sends the inventory reports; it is a link.Subsystem.
type Reporter struct {
	cfg     Config
	log     *slog.Logger
	clock   clockwork.Clock
	collect Collector
	tune    Tuning
	box     *outbox.Outbox
	submit  chan invSubmit

	sent, failed atomic.Int64 // delivery attempts, for the metrics

	mu      sync.Mutex
	st      invState
	lastErr string
	active  chan struct{} // closed when the running session's loop ends; nil when none
}

type invSubmit struct {
	ctx   context.Context
	reply chan error
}

// New opens the outbox (a corrupt one is moved aside, with a warning) and
// the reporting state.
func New(cfg Config) (*Reporter, error) {
	m := &Reporter{
		cfg:    cfg,
		log:    cfg.Logger.With("component", "inventory"),
		submit: make(chan invSubmit),
		tune:   DefaultTuning(),
	}
	if cfg.Tune != nil {
		cfg.Tune(&m.tune)
	}
	m.clock = m.tune.Clock
	m.collect = cfg.Collect
	if m.collect == nil {
		m.collect = m.collectInventory
	}
	box, err := outbox.Open(filepath.Join(cfg.StateDir, OutboxFile), cfg.Clock.Now())
	if errors.Is(err, outbox.ErrCorrupt) {
		m.log.Error("THE INVENTORY OUTBOX WAS CORRUPT: moved it aside; a new report will be sent", "err", err)
		cfg.Health.Set(defOutbox.With(err.Error()))
	} else if err != nil {
		return nil, err
	}
	m.box = box
	m.st = m.loadState()
	return m, nil
}

func (m *Reporter) statePath() string {
	return filepath.Join(m.cfg.StateDir, StateFile)
}

func (m *Reporter) loadState() invState {
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
func (m *Reporter) update(f func(st *invState)) {
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

// Name implements link.Subsystem.
func (m *Reporter) Name() string { return "inventory" }

// LinkEnded implements link.Ender: after an unlink (called once the session
// has stopped) the unsent report and Last and Next are dropped, for they
// belong to a system that is gone. A revocation keeps them while the
// session ends; a report made for another system is dropped when the next
// link's session finds it.
func (m *Reporter) LinkEnded(revoked bool) {
	if !revoked {
		m.forget()
	}
}

func (m *Reporter) forget() {
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
	m.cfg.Health.Clear(WarnRejected)
}

// Metrics writes the inventory's metrics.
func (m *Reporter) Metrics(w *metrics.Writer) {
	st := m.Status()
	w.Counter("cld_inventory_reports_sent_total", "Inventory reports the cloud accepted.", float64(m.sent.Load()))
	w.Counter("cld_inventory_reports_failed_total", "Attempts to deliver an inventory report that failed (retried, or refused for good).", float64(m.failed.Load()))
	w.Gauge("cld_inventory_report_pending", "Whether a report waits in the outbox.", metrics.Bool(st.Pending))
	if st.Last != nil {
		w.Gauge("cld_inventory_last_accepted_timestamp_seconds", "When the cloud last accepted a report (Unix time).", float64(st.Last.Unix()))
	}
}

// Status is the state of inventory reporting (Next only while linked).
func (m *Reporter) Status() api.Inventory {
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

func (m *Reporter) setErr(s string) {
	m.mu.Lock()
	m.lastErr = s
	m.mu.Unlock()
}

// --- the local API's side ---------------------------------------------------------

// Routes registers the inventory routes on the local API; current is the
// running link session (nil when none).
func (m *Reporter) Routes(rt *localapi.Router, current func() *link.Session) {
	rt.Get(api.RouteInventory, func(context.Context) any { return m.Status() })
	rt.Document(api.RouteInventoryReport, func(ctx context.Context) (json.RawMessage, error) { return m.Preview(ctx, current()) })
	rt.Action(api.RouteInventorySubmit, func(r *http.Request) (any, error) { return m.Submit(r.Context()) })
}

// Preview is the exact report (JSON) that Submit would send now: made as a
// manual report for the linked system s (no system ID when s is nil).
func (m *Reporter) Preview(ctx context.Context, s *link.Session) (json.RawMessage, error) {
	r, err := m.build(ctx, s, TriggerManual, nil)
	if ae, ok := errors.AsType[*api.Error](err); ok {
		return nil, ae
	}
	if err != nil {
		return nil, api.Errorf(api.CodeInternal, "Could not collect the inventory report: %v. See the daemon's log (journalctl -u cld).", err)
	}
	return json.Marshal(r)
}

// Submit makes a report now and waits for one delivery attempt. A failed
// attempt is not an API error: the answer's LastError says why, and the
// report stays in the outbox to be retried (unless the cloud refused it for
// good).
func (m *Reporter) Submit(ctx context.Context) (api.Inventory, error) {
	m.mu.Lock()
	done := m.active
	m.mu.Unlock()
	if done == nil || m.cfg.LinkState() != api.StateLinked {
		return m.Status(), api.Errorf(api.CodeNotLinked, "This system is not linked to CloudLink, so there is nowhere to send a report. Link it first (`cld link` or the dashboard); `cld inventory preview` shows the report anyway.")
	}
	req := invSubmit{ctx: ctx, reply: make(chan error, 1)}
	select {
	case m.submit <- req:
	case <-done:
		return m.Status(), api.Errorf(api.CodeNotLinked, "The link session ended; try again once the system is linked.")
	case <-ctx.Done():
		return m.Status(), ctx.Err()
	}
	var err error
	select {
	case err = <-req.reply:
	case <-ctx.Done():
		return m.Status(), ctx.Err()
	}
	st := m.Status()
	if err != nil && st.LastError == "" {
		st.LastError = err.Error()
	}
	if err != nil && !st.Pending && !errors.Is(err, errReportRejected) && !errors.Is(err, errLinkOver) {
		return st, api.Errorf(api.CodeInternal, "Could not make the inventory report: %v. See the daemon's log (journalctl -u cld).", err)
	}
	return st, nil
}
