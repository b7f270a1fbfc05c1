package agent

import (
	"context"
	"encoding/json"
	"net/http"
	"runtime"

	"github.com/cloudlink/cld/agent/api"
	"github.com/cloudlink/cld/agent/link"
	"github.com/cloudlink/cld/agent/localapi"
	"github.com/cloudlink/cld/agent/metrics"
)

// observeRoutes are the operator's routes: /metrics, /healthz, /readyz.
func (a *Agent) observeRoutes(rt *localapi.Router) {
	rt.Raw(api.RouteMetrics, func(*http.Request) (int, string, []byte) {
		return http.StatusOK, metrics.ContentType, a.metrics()
	})
	probe := func(p api.Probe) (int, string, []byte) {
		if p.Reasons == nil {
			p.Reasons = []string{}
		}
		body, _ := json.Marshal(p)
		code := http.StatusOK
		if !p.OK {
			code = http.StatusServiceUnavailable
		}
		return code, "application/json", append(body, '\n')
	}
	rt.Get(api.RouteLog, func(context.Context) any {
		if a.o.logBuf == nil {
			return api.Log{}
		}
		return api.Log{Text: string(a.o.logBuf.Bytes())}
	})
	rt.Raw(api.RouteHealthz, func(*http.Request) (int, string, []byte) { return probe(a.healthz()) })
	rt.Raw(api.RouteReadyz, func(*http.Request) (int, string, []byte) { return probe(a.readyz()) })
}

// healthz: the daemon's loops run (a supervisor restarts it otherwise).
func (a *Agent) healthz() api.Probe {
	if !a.link.Running() {
		return api.Probe{Reasons: []string{"The daemon's loops are not running."}}
	}
	return api.Probe{OK: true}
}

// readyz: the daemon does its work as configured: running, not in a link
// error, and, when linked, reaching the cloud. An unlinked host is ready
// (it waits to be linked); a supervisor need not restart it.
func (a *Agent) readyz() api.Probe {
	p := a.healthz()
	if !p.OK {
		return p
	}
	st := a.link.Status()
	if st.State == api.StateLinkError {
		p.Reasons = append(p.Reasons, st.Reason)
	}
	for _, code := range []string{link.WarnCloudUnreachable, link.WarnCloudError} {
		if w, ok := a.health.Get(code); ok {
			p.Reasons = append(p.Reasons, w.Text)
		}
	}
	p.OK = len(p.Reasons) == 0
	return p
}

// metrics collects the exposition from the parts.
func (a *Agent) metrics() []byte {
	var w metrics.Writer
	b := a.build
	w.Gauge("cld_build_info", "The running cld's build facts.", 1, "version", b.Version, "commit", b.Commit, "branch", b.Branch, "stage", b.Stage)
	state := a.link.State()
	for _, s := range []string{api.StateUnlinked, api.StateLinking, api.StateLinked, api.StateLinkError} {
		w.Gauge("cld_link_state", "The link state (1 for the current one).", metrics.Bool(s == state), "state", s)
	}
	if c := a.drift.Status(); c.MeasuredAt != nil {
		w.Gauge("cld_clock_drift_seconds", "The host's clock minus CloudLink's, at the last measurement.", c.DriftSeconds)
	}
	count := map[string]int{}
	for _, x := range a.Warnings() {
		count[x.Severity]++
	}
	for _, sev := range []string{api.SeverityError, api.SeverityWarning, api.SeverityInfo} {
		w.Gauge("cld_warnings", "Current warnings by severity.", float64(count[sev]), "severity", sev)
	}
	w.Gauge("go_goroutines", "Goroutines that currently exist.", float64(runtime.NumGoroutine()))
	a.tunnels.Metrics(&w)
	a.reporter.Metrics(&w)
	for _, s := range a.o.subsystems {
		if m, ok := s.(interface{ Metrics(*metrics.Writer) }); ok {
			m.Metrics(&w)
		}
	}
	return w.Bytes()
}
