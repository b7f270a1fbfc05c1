package drift

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/cloudlink/cld/agent/api"
	"github.com/cloudlink/cld/agent/doctor"
)

// Checks are the doctor's clock checks against the cloud at cloud: the
// drift (one fresh measurement, shared by the checks of one run), the
// host's synchronization and, with an NTP server configured, the NTP
// server's opinion.
func (m *Monitor) Checks(cloud string) []doctor.Check {
	var fresh struct {
		once sync.Once
		res  Result
		at   time.Time
	}
	measure := func(ctx context.Context) (Result, time.Time) {
		fresh.once.Do(func() {
			fresh.at = time.Now()
			fresh.res = m.Measure(ctx)
		})
		return fresh.res, fresh.at
	}
	checks := []doctor.Check{
		{ID: "clock_drift", Title: "The clock agrees with the cloud's", Run: func(ctx context.Context) doctor.Result {
			r, at := measure(ctx)
			return m.driftFinding(cloud, r, at)
		}},
		{ID: "clock_sync", Title: "The host's clock is synchronized", Run: func(ctx context.Context) doctor.Result {
			r, _ := measure(ctx)
			return syncFinding(r.Sync)
		}},
	}
	if m.Config().NTPServer != "" {
		checks = append(checks, doctor.Check{ID: "clock_ntp", Title: "The clock agrees with the NTP server", Run: func(ctx context.Context) doctor.Result {
			r, _ := measure(ctx)
			return m.ntpFinding(r)
		}})
	}
	return checks
}

func (m *Monitor) driftFinding(cloud string, r Result, start time.Time) doctor.Result {
	if cloud == "" {
		return doctor.Skip("No cloud is configured or linked yet; nothing to compare the clock with.")
	}
	c := r.Cloud
	if c == nil || c.At.Before(start) {
		why := "no answer"
		if r.CloudErr != nil {
			why = r.CloudErr.Error()
		}
		return doctor.Warn(fmt.Sprintf("Could not measure the drift against %s: %s.", cloud, why), "Fix the cloud's reachability first (see the checks above).")
	}
	how := fmt.Sprintf("via %s, round trip %s", c.Method, c.RTT.Round(time.Millisecond))
	if c.Method == MethodDateHeader {
		how += "; coarse (±1 s): the cloud has no time endpoint"
	}
	detail := fmt.Sprintf("Drift %ss against CloudLink at %s (%s).", api.SignedSeconds(c.Drift.Seconds()), cloud, how)
	cfg := m.Config()
	abs := c.Drift.Abs()
	switch {
	case abs > cfg.RefuseThreshold:
		return doctor.Fail(detail+fmt.Sprintf(" %s. Tunnels do not start beyond %s.", DriftText(c.Drift), FormatDrift(cfg.RefuseThreshold)), SyncRemedy)
	case abs > cfg.WarnThreshold:
		return doctor.Warn(detail+" "+DriftText(c.Drift)+".", SyncRemedy)
	}
	return doctor.Pass(detail + fmt.Sprintf(" Within %s.", FormatDrift(cfg.WarnThreshold)))
}

func (m *Monitor) ntpFinding(r Result) doctor.Result {
	srv := m.Config().NTPServer
	if r.NTPErr != nil || r.NTP == nil {
		return doctor.Warn(fmt.Sprintf("The NTP server %s did not answer: %v.", srv, r.NTPErr), DefNTPUnreachable.Remedy)
	}
	detail := fmt.Sprintf("Drift %ss against the NTP server %s (round trip %s)", api.SignedSeconds(r.NTP.Drift.Seconds()), srv, r.NTP.RTT.Round(time.Millisecond))
	if r.Cloud != nil {
		detail += fmt.Sprintf("; %ss against CloudLink, whose time counts for the tunnels", api.SignedSeconds(r.Cloud.Drift.Seconds()))
	}
	detail += "."
	if r.NTP.Drift.Abs() > m.Config().WarnThreshold {
		return doctor.Warn(detail, DefNTPDisagrees.Remedy)
	}
	return doctor.Pass(detail)
}

func syncFinding(s Sync) doctor.Result {
	switch {
	case s.Synchronized == nil:
		why := "no source answered"
		if s.Err != nil {
			why = strings.TrimRight(s.Err.Error(), ". ")
		}
		return doctor.Skip(fmt.Sprintf("Cannot tell whether the clock is synchronized: %s.", why))
	case *s.Synchronized:
		return doctor.Pass(fmt.Sprintf("The host reports its clock synchronized (%s).", s.Source))
	}
	return doctor.Warn(fmt.Sprintf("The host reports that its clock is not synchronized (%s: NTPSynchronized=no).", s.Source), SyncRemedy)
}
