package drift

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/cloudlink/cld/agent/api"
	"github.com/cloudlink/cld/agent/health"
)

// Config is the `clock:` section of the daemon's configuration.
type Config struct {
	// Interval is how often the drift is measured (default 5m).
	Interval time.Duration `yaml:"interval"`
	// RecheckInterval is how often it is measured while the tunnels are
	// held because of the drift, or while measuring fails (default 30s):
	// tunnels start again at most this long after the clock is right.
	RecheckInterval time.Duration `yaml:"recheck_interval"`
	// WarnThreshold: a larger drift raises the clock_drift warning
	// (default 10s).
	WarnThreshold time.Duration `yaml:"warn_threshold"`
	// RefuseThreshold: a larger drift keeps tunnels from starting (and
	// stops running ones) until it is back under it (default 45s).
	RefuseThreshold time.Duration `yaml:"refuse_threshold"`
	// NTPServer (host:port, port 123 by default) is an optional second time
	// source, a cross-check that only warns; "" for none.
	NTPServer string `yaml:"ntp_server"`
	// Samples is how many requests one measurement makes (default 4).
	Samples int `yaml:"samples"`
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{
		Interval:        5 * time.Minute,
		RecheckInterval: 30 * time.Second,
		WarnThreshold:   10 * time.Second,
		RefuseThreshold: 45 * time.Second,
		Samples:         4,
	}
}

// Validate checks the values; each error says what is allowed.
func (c Config) Validate() error {
	var errs []error
	if c.Interval < 10*time.Second || c.Interval > 24*time.Hour {
		errs = append(errs, fmt.Errorf("clock.interval: %s is outside 10s…24h", c.Interval))
	}
	if c.RecheckInterval < time.Second || c.RecheckInterval > c.Interval {
		errs = append(errs, fmt.Errorf("clock.recheck_interval: %s is outside 1s…clock.interval (%s)", c.RecheckInterval, c.Interval))
	}
	if c.WarnThreshold < time.Second {
		errs = append(errs, fmt.Errorf("clock.warn_threshold: %s is under 1s (the measurement's own resolution)", c.WarnThreshold))
	}
	if c.RefuseThreshold < c.WarnThreshold {
		errs = append(errs, fmt.Errorf("clock.refuse_threshold: %s is under clock.warn_threshold (%s)", c.RefuseThreshold, c.WarnThreshold))
	}
	if c.Samples < 1 || c.Samples > 16 {
		errs = append(errs, fmt.Errorf("clock.samples: %d is outside 1…16", c.Samples))
	}
	if c.NTPServer != "" {
		if _, _, err := net.SplitHostPort(c.NTPServer); err != nil {
			if _, _, err2 := net.SplitHostPort(c.NTPServer + ":123"); err2 != nil {
				errs = append(errs, fmt.Errorf("clock.ntp_server: %q is not host[:port]", c.NTPServer))
			}
		}
	}
	return errors.Join(errs...)
}

// Warning codes raised by the Monitor.
const (
	WarnDrift          = "clock_drift"
	WarnNotSynced      = "clock_not_synchronized"
	WarnNTPDisagrees   = "clock_ntp_drift"
	WarnNTPUnreachable = "clock_ntp_unreachable"
)

// SyncRemedy is the vendor guide's remedy for a clock that is not
// synchronized.
const SyncRemedy = "Run `timedatectl status` on this host: if \"System clock synchronized\" says no, configure a valid and reachable NTP server (in a network without internet access, a local NTP service) and check that it answers (e.g. `ntpq -p` on it)."

// refusedRemedy ends the remedy of a drift beyond the refuse threshold.
const refusedRemedy = " Tunnels do not start while the drift exceeds {limit}; they start by themselves once it is corrected."

// Declared warnings. WarnDrift has a form for a clock behind and one for a
// clock ahead of CloudLink's, each also as an error (beyond the refuse
// threshold, when tunnels do not start); WarnNTPDisagrees the same two
// directions, with the drift to CloudLink's time or without one yet.
var (
	DefDrift = health.Declare(health.Def{Code: WarnDrift, Severity: api.SeverityWarning, Title: "System time incorrect",
		Text:   "The system time is incorrect. This can cause connection problems. Clock drift detected: {drift}",
		Remedy: "This host's clock is {drift} behind CloudLink's time (measured {at}). " + SyncRemedy})
	defDriftAhead = health.Declare(health.Def{Code: WarnDrift, Severity: api.SeverityWarning, Title: DefDrift.Title, Text: DefDrift.Text,
		Remedy: "This host's clock is {drift} ahead of CloudLink's time (measured {at}). " + SyncRemedy})
	defDriftRefused = health.Declare(health.Def{Code: WarnDrift, Severity: api.SeverityError, Title: DefDrift.Title, Text: DefDrift.Text,
		Remedy: DefDrift.Remedy + refusedRemedy})
	defDriftAheadRefused = health.Declare(health.Def{Code: WarnDrift, Severity: api.SeverityError, Title: DefDrift.Title, Text: DefDrift.Text,
		Remedy: defDriftAhead.Remedy + refusedRemedy})
	DefNotSynced = health.Declare(health.Def{Code: WarnNotSynced, Severity: api.SeverityWarning, Title: "System clock not synchronized",
		Text:   "The host reports that its system clock is not synchronized ({source}: NTPSynchronized=no).",
		Remedy: SyncRemedy})
	DefNTPDisagrees = health.Declare(health.Def{Code: WarnNTPDisagrees, Severity: api.SeverityWarning, Title: "System time differs from the NTP server",
		Text:   "The system time is {drift} behind the NTP server {server} (the drift to CloudLink's time is {cloudDrift}).",
		Remedy: "Check that this host synchronizes with that NTP server (`timedatectl status`), and that the NTP server's own time is right."})
	defNTPAhead = health.Declare(health.Def{Code: WarnNTPDisagrees, Severity: api.SeverityWarning, Title: DefNTPDisagrees.Title,
		Text:   "The system time is {drift} ahead of the NTP server {server} (the drift to CloudLink's time is {cloudDrift}).",
		Remedy: DefNTPDisagrees.Remedy})
	defNTPBehindOnly = health.Declare(health.Def{Code: WarnNTPDisagrees, Severity: api.SeverityWarning, Title: DefNTPDisagrees.Title,
		Text:   "The system time is {drift} behind the NTP server {server} (the drift to CloudLink's time is not measured yet).",
		Remedy: DefNTPDisagrees.Remedy})
	defNTPAheadOnly = health.Declare(health.Def{Code: WarnNTPDisagrees, Severity: api.SeverityWarning, Title: DefNTPDisagrees.Title,
		Text:   "The system time is {drift} ahead of the NTP server {server} (the drift to CloudLink's time is not measured yet).",
		Remedy: DefNTPDisagrees.Remedy})
	DefNTPUnreachable = health.Declare(health.Def{Code: WarnNTPUnreachable, Severity: api.SeverityWarning, Title: "NTP server not answering",
		Text:   "The NTP server {server} configured as a second time source did not answer: {error}.",
		Remedy: "Check clock.ntp_server in the configuration and that UDP port 123 to it is open, or remove clock.ntp_server."})
)

// DriftText is the dashboard's sentence for a drift.
func DriftText(d time.Duration) string {
	return health.Fill(DefDrift.Text, "drift", FormatDrift(d))
}

// FormatDrift shows the size of a drift in whole seconds ("44s").
func FormatDrift(d time.Duration) string {
	return strconv.FormatInt(int64(math.Round(math.Abs(d.Seconds()))), 10) + "s"
}

// pick is the form of a warning for a clock behind (drift d ≤ 0) or ahead.
func pick(d time.Duration, behind, ahead health.Def) health.Def {
	if d > 0 {
		return ahead
	}
	return behind
}

// Result is the state after the latest measurement.
type Result struct {
	// Cloud is the latest measurement against the cloud (nil: none yet).
	Cloud *Sample
	// CloudErr is why the latest attempt failed (the older Cloud stays).
	CloudErr error
	NTP      *Sample
	NTPErr   error
	Sync     Sync
	// Gate is the tunnels' veto reason ("" when they may run).
	Gate string
}

// Monitor measures the drift at start and regularly, keeps the warnings in
// a health.Registry up to date and answers the tunnels' gate.
type Monitor struct {
	cfg    atomic.Pointer[Config] // replaced by SetConfig
	clock  clockwork.Clock        // schedules the measurements
	now    func() time.Time
	probe  HTTPProbe
	ntp    NTPProbe
	syncFn SyncReader
	target func() string // the cloud's base URL, "" when none
	reg    *health.Registry
	log    *slog.Logger

	mu        sync.Mutex
	res       Result
	onGate    []func()
	lastKick  time.Time
	measuring sync.Mutex // one measurement at a time

	kick chan struct{}
}

// Options of NewMonitor.
type Options struct {
	Clock  clockwork.Clock  // schedule; real clock when nil
	Now    func() time.Time // host wall clock; time.Now when nil
	Client *http.Client     // for the cloud (trust, proxy)
	// Target returns the cloud's base URL to measure against ("" none).
	Target   func() string
	Registry *health.Registry
	Sync     SyncReader // HostSync when nil
	Logger   *slog.Logger
}

// NewMonitor returns a Monitor; Run it.
func NewMonitor(cfg Config, o Options) *Monitor {
	if o.Clock == nil {
		o.Clock = clockwork.NewRealClock()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Sync == nil {
		o.Sync = HostSync
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Target == nil {
		o.Target = func() string { return "" }
	}
	if o.Client == nil {
		o.Client = http.DefaultClient
	}
	nowFn := o.Now
	m := &Monitor{
		clock:  o.Clock,
		now:    nowFn,
		probe:  HTTPProbe{Client: o.Client, Now: nowFn, Samples: cfg.Samples},
		ntp:    NTPProbe{Now: nowFn},
		syncFn: o.Sync,
		target: o.Target,
		reg:    o.Registry,
		log:    o.Logger,
		kick:   make(chan struct{}, 1),
	}
	m.cfg.Store(&cfg)
	return m
}

// Config returns the configuration.
func (m *Monitor) Config() Config { return *m.cfg.Load() }

// SetConfig replaces the configuration (a reloaded one that Validate
// accepted) and measures again at once under it.
func (m *Monitor) SetConfig(cfg Config) {
	m.cfg.Store(&cfg)
	m.Kick()
}

// OnGateChange registers f, called (without locks) when Gate's answer
// changes.
func (m *Monitor) OnGateChange(f func()) {
	m.mu.Lock()
	m.onGate = append(m.onGate, f)
	m.mu.Unlock()
}

// Gate is the tunnels' veto: a reason while the drift is beyond the refusal
// threshold, else "".
func (m *Monitor) Gate() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.res.Gate
}

// Result returns the state after the latest measurement.
func (m *Monitor) Result() Result {
	m.mu.Lock()
	defer m.mu.Unlock()
	r := m.res
	if r.Cloud != nil {
		c := *r.Cloud
		r.Cloud = &c
	}
	if r.NTP != nil {
		n := *r.NTP
		r.NTP = &n
	}
	return r
}

// Status is the clock as api.Status shows it.
func (m *Monitor) Status() api.Clock {
	r := m.Result()
	c := api.Clock{Synchronized: r.Sync.Synchronized, NTPServer: m.Config().NTPServer}
	if r.NTP != nil {
		s := r.NTP.Seconds()
		c.NTPDriftSeconds = &s
	}
	if r.Cloud != nil {
		c.DriftSeconds = r.Cloud.Seconds()
		at := r.Cloud.At.UTC()
		c.MeasuredAt = &at
		c.Source = r.Cloud.Source
		if r.Cloud.Method == MethodDateHeader {
			c.Source += " (Date header)"
		}
	}
	return c
}

// Kick asks for a measurement now (e.g. the cloud changed).
func (m *Monitor) Kick() {
	select {
	case m.kick <- struct{}{}:
	default:
	}
}

// Run measures at once and then every Interval (RecheckInterval while the
// tunnels are held or measuring fails) until ctx ends.
func (m *Monitor) Run(ctx context.Context) error {
	for {
		r := m.Measure(ctx)
		if ctx.Err() != nil {
			return nil
		}
		next := m.Config().Interval
		if r.Gate != "" || (r.CloudErr != nil && !errors.Is(r.CloudErr, ErrNoTimeEndpoint) && m.target() != "") {
			next = m.Config().RecheckInterval
		}
		t := m.clock.NewTimer(next)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-m.kick:
			t.Stop()
		case <-t.Chan():
		}
	}
}

// Measure measures now (cloud, NTP server, host sync state), updates the
// warnings and the gate, and returns the new state. A failed cloud
// measurement keeps the previous drift (and gate): nothing new is known.
func (m *Monitor) Measure(ctx context.Context) Result {
	m.measuring.Lock()
	defer m.measuring.Unlock()
	mctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()

	var (
		cloud, ntpS      *Sample
		cloudErr, ntpErr error
		wg               sync.WaitGroup
	)
	base := m.target()
	if base != "" {
		wg.Go(func() {
			p := m.probe
			p.Samples = m.Config().Samples
			s, err := p.Measure(mctx, base)
			if err == nil || errors.Is(err, ErrNoTimeEndpoint) {
				cloud = &s
			}
			cloudErr = err
		})
	}
	if m.Config().NTPServer != "" {
		wg.Go(func() {
			s, err := m.ntp.Measure(mctx, m.Config().NTPServer)
			if err == nil {
				ntpS = &s
			}
			ntpErr = err
		})
	}
	var syn Sync
	wg.Go(func() { syn = m.syncFn(mctx) })
	wg.Wait()
	if ctx.Err() != nil {
		return m.Result()
	}

	m.mu.Lock()
	oldGate := m.res.Gate
	switch {
	case cloud != nil:
		m.res.Cloud = cloud
	case base == "":
		m.res.Cloud = nil // no cloud (e.g. unlinked without cloud:): nothing to hold tunnels for
	}
	m.res.CloudErr = cloudErr
	m.res.NTP, m.res.NTPErr = ntpS, ntpErr
	m.res.Sync = syn
	m.applyLocked()
	res := m.res
	fs := m.onGate
	m.mu.Unlock()

	m.logResult(res, cloud)
	if res.Gate != oldGate {
		if res.Gate != "" {
			m.log.Warn("the clock is too far off: tunnels are held until it is right", "drift", res.Cloud.Drift.Round(time.Millisecond), "limit", m.Config().RefuseThreshold)
		} else if oldGate != "" {
			m.log.Info("the clock is right again: tunnels may start")
		}
		for _, f := range fs {
			f()
		}
	}
	return m.Result()
}

func (m *Monitor) logResult(r Result, cloud *Sample) {
	if cloud != nil {
		m.log.Debug("measured the clock drift", "drift", cloud.Drift.Round(time.Millisecond), "rtt", cloud.RTT.Round(time.Millisecond), "method", cloud.Method, "source", cloud.Source)
	}
	if r.CloudErr != nil && !errors.Is(r.CloudErr, ErrNoTimeEndpoint) {
		m.log.Debug("could not measure the clock drift against the cloud", "err", r.CloudErr)
	}
}

// applyLocked turns the state into warnings and the gate.
func (m *Monitor) applyLocked() {
	r := &m.res
	r.Gate = ""
	c := r.Cloud
	if c != nil && c.Drift.Abs() > m.Config().RefuseThreshold {
		r.Gate = fmt.Sprintf("%s. Tunnels do not start while the clock differs from CloudLink's by more than %s; they start by themselves once it is corrected (check `timedatectl status`).", DriftText(c.Drift), FormatDrift(m.Config().RefuseThreshold))
	}
	if m.reg == nil {
		return
	}
	if c != nil && c.Drift.Abs() > m.Config().WarnThreshold {
		def := pick(c.Drift, DefDrift, defDriftAhead)
		if r.Gate != "" {
			def = pick(c.Drift, defDriftRefused, defDriftAheadRefused)
		}
		m.reg.Set(def.Say("drift", FormatDrift(c.Drift), "at", c.At.UTC().Format(time.RFC3339), "limit", FormatDrift(m.Config().RefuseThreshold)))
	} else {
		m.reg.Clear(WarnDrift)
	}
	if s := r.Sync.Synchronized; s != nil && !*s {
		m.reg.Set(DefNotSynced.Say("source", r.Sync.Source))
	} else {
		m.reg.Clear(WarnNotSynced)
	}
	switch {
	case m.Config().NTPServer == "":
		m.reg.Clear(WarnNTPDisagrees, WarnNTPUnreachable)
	case r.NTPErr != nil:
		m.reg.Clear(WarnNTPDisagrees)
		m.reg.Set(DefNTPUnreachable.Say("server", m.Config().NTPServer, "error", r.NTPErr))
	default:
		m.reg.Clear(WarnNTPUnreachable)
		n := r.NTP
		if n.Drift.Abs() > m.Config().WarnThreshold {
			def := pick(n.Drift, defNTPBehindOnly, defNTPAheadOnly)
			cloudDrift := ""
			if r.Cloud != nil {
				def, cloudDrift = pick(n.Drift, DefNTPDisagrees, defNTPAhead), FormatDrift(r.Cloud.Drift)
			}
			m.reg.Set(def.Say("drift", FormatDrift(n.Drift), "server", n.Source, "cloudDrift", cloudDrift))
		} else {
			m.reg.Clear(WarnNTPDisagrees)
		}
	}
}

// ObserveDate takes the Date header of an answer of the cloud (request sent
// at t0, answer at t3, host clock). When it disagrees with the last
// measurement by more than its own uncertainty plus a second, the clock has
// probably jumped: a measurement is started at once (at most every 10 s).
func (m *Monitor) ObserveDate(date string, t0, t3 time.Time) {
	d, err := ParseDate(date)
	if err != nil {
		return
	}
	coarse, unc := DateDrift(d, t0, t3)
	m.mu.Lock()
	last := m.res.Cloud
	now := m.clock.Now()
	recent := !m.lastKick.IsZero() && now.Sub(m.lastKick) < 10*time.Second
	jump := last != nil && (coarse-last.Drift).Abs() > unc+last.Uncertainty+time.Second
	if jump && !recent {
		m.lastKick = now
	}
	m.mu.Unlock()
	if jump && !recent {
		m.log.Info("a Date header of the cloud disagrees with the measured drift; measuring again", "date_drift", coarse.Round(time.Millisecond), "measured", last.Drift.Round(time.Millisecond))
		m.Kick()
	}
}
