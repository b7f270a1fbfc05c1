package agent

import (
	"fmt"
	"net/http"

	"github.com/jonboulle/clockwork"

	"github.com/cloudlink/cld/agent/api"
	"github.com/cloudlink/cld/agent/drift"
	"github.com/cloudlink/cld/agent/health"
)

// The agent's declared warnings (the clock's are declared in agent/drift).
// Every warning lives in the one registry a.health: Status (dashboard, `cld
// status`), the doctor and the inventory read it.
var (
	defCloudUnreachable = health.Def{Code: WarnCloudUnreachable, Severity: api.SeverityWarning, Title: "CloudLink not reachable",
		Remedy: "Check the network, DNS and proxy settings of this host (`cld doctor` checks them one by one)."}
	defCloudError = health.Def{Code: WarnCloudError, Severity: api.SeverityWarning, Title: "CloudLink answered with an error",
		Remedy: "cld keeps retrying; if this lasts, contact CloudLink support."}
	defRevocationPending = health.Def{Code: WarnRevocationPending, Severity: api.SeverityWarning, Title: "Unlink not yet confirmed by CloudLink",
		Remedy: "cld keeps retrying. If this lasts, check the network and proxy, or remove the system in the CloudLink portal."}
	defStateCorrupt = health.Def{Code: WarnStateCorrupt, Severity: api.SeverityError, Title: "State file was corrupt",
		Remedy: "Link this host again with `cld link` or the dashboard."}
	defMachineID = health.Def{Code: WarnMachineID, Severity: api.SeverityWarning, Title: "machine-id unreadable",
		Remedy: "Check machine_id_file in the configuration (normally /etc/machine-id) and that cld may read it."}
	defTunnelsCorrupt = health.Def{Code: WarnTunnelsCorrupt, Severity: api.SeverityWarning, Title: "Tunnel state file was corrupt",
		Remedy: "Start the tunnels you need again (dashboard or `cld tunnel start`)."}
)

// Warning codes of the clock (agent/drift), re-exported for callers of the
// agent.
const (
	WarnClockDrift        = drift.WarnDrift
	WarnClockNotSynced    = drift.WarnNotSynced
	WarnClockNTPDrift     = drift.WarnNTPDisagrees
	WarnClockNTPUnreached = drift.WarnNTPUnreachable
)

// withDriftClock schedules the drift measurements on c (tests).
func withDriftClock(c clockwork.Clock) Option { return func(a *Agent) { a.driftClock = c } }

// withoutClockCheck keeps the drift monitor from measuring: for test rigs
// whose fake clock runs far from their fake cloud's on purpose.
func withoutClockCheck(a *Agent) { a.noClockCheck = true }

// withHostSync replaces the host's synchronization reader (tests).
func withHostSync(f drift.SyncReader) Option { return func(a *Agent) { a.hostSync = f } }

// setupHealth makes the clock-drift monitor (it measures against the
// linked cloud, else the configured one) and puts its veto in front of the
// tunnels' gate. Called by New once the HTTP client is ready.
func (a *Agent) setupHealth() {
	dc := a.driftClock
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
			if a.noClockCheck {
				return ""
			}
			return a.driftTarget()
		},
		Registry: a.health,
		Sync:     a.hostSync,
		Logger:   a.baseLog.With("component", "clock"),
	})
	prev := a.tunnelGate
	a.tunnelGate = func() string {
		if r := a.drift.Gate(); r != "" {
			return r
		}
		if prev != nil {
			return prev()
		}
		return ""
	}
	a.drift.OnGateChange(a.TunnelGateChanged)
}

// driftTarget is the cloud the clock is compared with.
func (a *Agent) driftTarget() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.st != nil && a.st.Link != nil && a.st.Link.Cloud != "" {
		return a.st.Link.Cloud
	}
	return a.cfg.Cloud
}

// observingClient is the cloud API client (a.hc's trust, proxy and
// connections) whose every answer's Date header goes to the drift monitor:
// a coarse check between measurements.
func (a *Agent) observingClient() *http.Client {
	rt := a.hc.Transport
	if rt == nil {
		rt = http.DefaultTransport
	}
	return &http.Client{
		Transport:     &dateObserver{rt: rt, a: a},
		CheckRedirect: a.hc.CheckRedirect,
		Jar:           a.hc.Jar,
		Timeout:       a.hc.Timeout,
	}
}

// dateObserver passes each answer's Date (with when the request left and
// the answer's header arrived, on the host's clock) to the drift monitor.
type dateObserver struct {
	rt http.RoundTripper
	a  *Agent
}

func (d *dateObserver) RoundTrip(req *http.Request) (*http.Response, error) {
	t0 := d.a.clock.Now()
	resp, err := d.rt.RoundTrip(req)
	if err == nil && resp != nil && d.a.drift != nil {
		d.a.drift.ObserveDate(resp.Header.Get("Date"), t0, d.a.clock.Now())
	}
	return resp, err
}

// CloseIdleConnections passes on to the wrapped transport.
func (d *dateObserver) CloseIdleConnections() {
	if c, ok := d.rt.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

// Warnings returns every current warning, most severe first: the one list
// the dashboard, `cld status`, `cld doctor` and the inventory show.
func (a *Agent) Warnings() []api.Warning {
	a.mu.Lock()
	var pending *revocation
	if a.st != nil && len(a.st.PendingRevocations) > 0 {
		r := a.st.PendingRevocations[0]
		pending = &r
	}
	a.mu.Unlock()
	if pending != nil {
		a.health.Set(defRevocationPending.With(fmt.Sprintf("The unlink is done on this host, but CloudLink at %s has not yet confirmed that system %s is removed.", pending.Cloud, pending.SystemID)))
	} else {
		a.health.Clear(WarnRevocationPending)
	}
	return a.health.List()
}

// Health is the registry of warnings (for subsystems that raise their own).
func (a *Agent) Health() *health.Registry { return a.health }
