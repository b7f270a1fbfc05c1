package inventory

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/cloudlink/cld/platforms"
)

// DaemonApplication is the application type of the daemon itself; every
// report lists it with the daemon's version.
const DaemonApplication = "cloudlink-daemon"

// Triggers: why a report was made.
const (
	TriggerLink   = "link"
	TriggerStart  = "start"
	TriggerDaily  = "daily"
	TriggerChange = "change"
	TriggerManual = "manual"
)

// ErrNoData is wrapped by a collector's error when its source is absent on
// this host (e.g. no /proc in a container, no platform file): the report
// says "no_data" for it, which is not a failure.
var ErrNoData = errors.New("no data")

// PlatformSource returns the host's platform, read afresh for every report
// (so a version change is seen). A nil platform, or an error wrapping
// ErrNoData or fs.ErrNotExist, means the host has none: "no_data". The
// platform may implement platforms.Describer for its applications, license
// and parent.
type PlatformSource func(ctx context.Context) (platforms.Platform, error)

// Providers hand the collectors the data the agent owns. A nil provider
// makes its collector report "no_data".
type Providers struct {
	Platform PlatformSource
	Tunnels  func(ctx context.Context) ([]Tunnel, error)
	// Clock returns the measured clock drift (nil: not measured yet).
	Clock    func(ctx context.Context) (*Clock, error)
	Warnings func(ctx context.Context) ([]Warning, error)
	// Update returns the self-update's schedule and last result; Gateway
	// the co-located gateway (nil: none installed).
	Update  func(ctx context.Context) (*UpdateSchedule, error)
	Gateway func(ctx context.Context) (*Gateway, error)
	// Access returns the access audit's totals over the report period
	// (nil: no audit).
	Access func(ctx context.Context) (*Access, error)
}

// Config is what Collect needs.
type Config struct {
	// SystemID is the system the daemon is linked as (required).
	SystemID string
	// Trigger says why the report is made (TriggerLink, …); Changes what
	// changed, for TriggerChange.
	Trigger string
	Changes []string
	// Daemon is the daemon's own build (Version required).
	Daemon Daemon
	// Providers of the agent's data.
	Providers Providers
	// Root is the host's file system root under which /proc, /sys and /etc
	// are read ("" or "/": the real host). Tests point it at a testdata
	// tree; facts that cannot be read under a root (system calls) are read
	// only on the real host.
	Root string
	// StateDir is the daemon's state directory; the disk facts are of the
	// file system that holds it ("": no disk facts).
	StateDir string
	// Interfaces lists the host's network interfaces (nil: the real
	// host's, through gopsutil).
	Interfaces func(ctx context.Context) ([]Interface, error)
	// Timeout bounds each collector; one that takes longer is "failed".
	Timeout time.Duration
	// Secrets are values that must never appear in a report (the client
	// secret, tokens, the proxy password); free text is scrubbed of them
	// and of URL user information.
	Secrets []string
	// Now and NewID make reports reproducible in tests (default: the
	// clock and a random UUID).
	Now   func() time.Time
	NewID func() string
}

// Interface is a network interface as the network collector sees it.
type Interface struct {
	Name  string
	Up    bool
	Loop  bool
	Addrs []string // CIDR or plain addresses
}

// DefaultTimeout bounds each collector unless Config.Timeout says otherwise.
const DefaultTimeout = 2 * time.Second

// DefaultConfig returns a Config for the real host with the default
// timeout; the caller fills SystemID, Trigger, Daemon and Providers.
func DefaultConfig() Config {
	return Config{Trigger: TriggerManual, Timeout: DefaultTimeout}
}

// Validate checks the fields Collect needs.
func (c *Config) Validate() error {
	var errs []error
	if strings.TrimSpace(c.SystemID) == "" {
		errs = append(errs, errors.New("inventory: the system ID is empty; link the daemon first"))
	}
	if strings.TrimSpace(c.Daemon.Version) == "" {
		errs = append(errs, errors.New("inventory: the daemon's version is empty"))
	}
	if c.Timeout < 0 {
		errs = append(errs, fmt.Errorf("inventory: the collector timeout %s is negative", c.Timeout))
	}
	return errors.Join(errs...)
}

// result is what one collector produced: a function that puts its data into
// the report (run after all collectors, one at a time) and an error.
type result struct {
	apply func(*Report)
	err   error
}

// collector is one registered collector.
type collector struct {
	name string
	fn   func(ctx context.Context, e *env) (func(*Report), error)
}

// collectors are run by Collect, concurrently; results keep this order.
var collectors = []collector{
	{"host", collectHost},
	{"cpu", collectCPU},
	{"memory", collectMemory},
	{"disk", collectDisk},
	{"network", collectNetwork},
	{"timezone", collectTimeZone},
	{"platform", collectPlatform},
	{"tunnels", collectTunnels},
	{"clock", collectClock},
	{"warnings", collectWarnings},
	{"daemon", collectDaemon},
	{"update", collectUpdate},
	{"gateway", collectGateway},
	{"access", collectAccess},
}

// Collectors returns the names of the collectors, in report order.
func Collectors() []string {
	names := make([]string, len(collectors))
	for i, c := range collectors {
		names[i] = c.name
	}
	return names
}

// Collect builds a report: every collector runs concurrently with its own
// timeout; a collector that fails, times out or panics is recorded as
// "failed" with the reason and never takes the report down. The report is
// scrubbed of secrets before it is returned. The error is only about the
// Config (or a cancelled ctx).
func Collect(ctx context.Context, cfg Config) (*Report, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultTimeout
	}
	now, newID := cfg.Now, cfg.NewID
	if now == nil {
		now = time.Now
	}
	if newID == nil {
		newID = func() string { return uuid.NewString() }
	}
	e := newEnv(&cfg)

	type done struct {
		i   int
		res result
		dur time.Duration
	}
	ch := make(chan done, len(collectors)) // buffered: a late collector never blocks
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	starts := make([]time.Time, len(collectors))
	for i, c := range collectors {
		starts[i] = time.Now()
		go func() {
			var res result
			defer func() {
				if p := recover(); p != nil {
					res = result{err: fmt.Errorf("panic: %v", p)}
				}
				ch <- done{i, res, time.Since(starts[i])}
			}()
			tctx, tcancel := context.WithTimeout(cctx, cfg.Timeout)
			defer tcancel()
			apply, err := c.fn(tctx, e)
			res = result{apply: apply, err: err}
		}()
	}

	results := make([]*done, len(collectors))
	timer := time.NewTimer(cfg.Timeout + cfg.Timeout/10)
	defer timer.Stop()
	pending := len(collectors)
wait:
	for pending > 0 {
		select {
		case d := <-ch:
			results[d.i] = &d
			pending--
		case <-timer.C:
			break wait
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}

	r := &Report{
		SchemaVersion: SchemaVersion,
		ID:            newID(),
		SystemID:      cfg.SystemID,
		GeneratedAt:   now().UTC().Truncate(time.Millisecond),
		Trigger:       cfg.Trigger,
		Changes:       slices.Clone(cfg.Changes),
	}
	r.Collection = make([]CollectorResult, len(collectors))
	for i, c := range collectors {
		cr := CollectorResult{Name: c.name}
		d := results[i]
		switch {
		case d == nil:
			cr.Status = CollectorFailed
			cr.Detail = fmt.Sprintf("timed out after %s", cfg.Timeout)
			cr.DurationMS = ms(time.Since(starts[i]))
		default:
			cr.DurationMS = ms(d.dur)
			switch err := d.res.err; {
			case err == nil:
				cr.Status = CollectorOK
				if d.res.apply != nil {
					d.res.apply(r)
				}
			case errors.Is(err, ErrNoData):
				cr.Status = CollectorNoData
				cr.Detail = strings.TrimSuffix(strings.TrimPrefix(err.Error(), ErrNoData.Error()+": "), ": "+ErrNoData.Error())
			case errors.Is(err, context.DeadlineExceeded):
				cr.Status = CollectorFailed
				cr.Detail = fmt.Sprintf("timed out after %s: %v", cfg.Timeout, err)
			default:
				cr.Status = CollectorFailed
				cr.Detail = err.Error()
			}
		}
		r.Collection[i] = cr
	}
	finish(r, &cfg)
	Scrub(r, cfg.Secrets)
	return r, nil
}

// finish puts the daemon into the applications and drops empty sections.
func finish(r *Report, cfg *Config) {
	apps := []Application{{Type: DaemonApplication, Version: cfg.Daemon.Version}}
	for _, a := range r.Applications {
		if a.Type != DaemonApplication {
			apps = append(apps, a)
		}
	}
	r.Applications = apps
	if r.Host != nil && reflect.ValueOf(*r.Host).IsZero() {
		r.Host = nil
	}
}

// ms is d in milliseconds, to the microsecond.
func ms(d time.Duration) float64 {
	return float64(d.Microseconds()) / 1000
}

// noData returns an error wrapping ErrNoData with a reason.
func noData(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrNoData, fmt.Sprintf(format, args...))
}
