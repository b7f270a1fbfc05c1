// Package gateway is the daemon's part that drives a co-located
// CloudLink Gateway core (platforms/gateway): it keeps its status (polled,
// and after every control), starts it when the daemon's own supervisor
// runs it (under systemd the unit's own enablement decides), raises the
// warnings of several instances and of a failed or unhealthy core, offers
// its REST interface as a tunnel, and serves the gateway routes of the
// local API. It runs whether or not the host is linked.
package gateway

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/cloudlink/cld/agent/api"
	"github.com/cloudlink/cld/agent/health"
	"github.com/cloudlink/cld/agent/localapi"
	"github.com/cloudlink/cld/inventory"
	"github.com/cloudlink/cld/platforms"
	gw "github.com/cloudlink/cld/platforms/gateway"
)

// Warning codes.
const (
	WarnDown   = "gateway_down"
	warnNotice = "gateway_" // + the driver's notice code
)

// The declared warnings of WarnDown: the core failed, or it runs but does
// not answer healthy.
var (
	defDown = health.Declare(health.Def{Code: WarnDown, Severity: api.SeverityWarning, Title: "CloudLink Gateway is not running",
		Text:   "The CloudLink Gateway {instance} has failed.",
		Remedy: "Start it on the dashboard or with `cld gateway start`; if it stops again, see its log (journalctl -u clgw, or the daemon's log when cld supervises it)."})
	defUnhealthy = health.Declare(health.Def{Code: WarnDown, Severity: api.SeverityWarning, Title: defDown.Title,
		Text:   "The CloudLink Gateway {instance} runs but its REST interface does not answer healthy ({url}).",
		Remedy: defDown.Remedy})
)

// Poll is how often the status is read again.
const Poll = 30 * time.Second

// Config is what the part needs.
type Config struct {
	Options gw.Options // Root at least
	Logger  *slog.Logger
	Health  *health.Registry
	Poll    time.Duration // 0: Poll
}

// Driver is the part.
type Driver struct {
	cfg Config
	g   *gw.Gateway
	log *slog.Logger

	mu   sync.Mutex
	last gw.Status
	err  string // the last control's failure
}

// New finds the gateway (a host without one is a Driver that reports
// nothing) and raises the warnings of its installation.
func New(cfg Config) (*Driver, error) {
	if cfg.Poll <= 0 {
		cfg.Poll = Poll
	}
	g, err := gw.Open(cfg.Options)
	if err != nil {
		return nil, fmt.Errorf("the CloudLink Gateway: %w", err)
	}
	d := &Driver{cfg: cfg, g: g, log: cfg.Logger.With("component", "gateway")}
	for _, n := range g.Notices() {
		cfg.Health.Set(api.Warning{Code: warnNotice + n.Code, Severity: api.SeverityWarning,
			Title: "CloudLink Gateway: " + n.Code, Text: n.Text, Remedy: n.Remedy})
	}
	if g.Installed() {
		d.log.Info("CloudLink Gateway found", "instances", g.Installation().Names(), "manager", managerName(g))
	}
	return d, nil
}

func managerName(g *gw.Gateway) string {
	if m := g.Manager(); m != nil {
		return m.Name()
	}
	return ""
}

// Installed tells whether a gateway is installed.
func (d *Driver) Installed() bool { return d.g.Installed() }

// Tunnels are the gateway's tunnels (its REST interface), none without one.
func (d *Driver) Tunnels() []platforms.Tunnel {
	if !d.g.Installed() {
		return nil
	}
	return d.g.Tunnels()
}

// Run keeps the status until ctx ends: the daemon's supervisor starts the
// core first, and stops it at the end (Close).
func (d *Driver) Run(ctx context.Context) error {
	if !d.g.Installed() {
		return nil
	}
	defer d.g.Close()
	if managerName(d.g) == gw.ManagerSupervisor {
		if err := d.g.Start(ctx); err != nil {
			d.log.Warn("the CloudLink Gateway did not start", "err", err)
		}
	}
	t := time.NewTicker(d.cfg.Poll)
	defer t.Stop()
	d.settle(ctx)
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		d.refresh(ctx)
	}
}

// refresh reads the status and keeps WarnDown while the core is failed
// or does not answer healthy.
func (d *Driver) refresh(ctx context.Context) gw.Status {
	cctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	st := d.g.Status(cctx)
	d.mu.Lock()
	d.last = st
	d.mu.Unlock()
	down := st.Status == gw.StateFailed || (st.Status == gw.StateRunning && st.Health != nil && !st.Health.OK)
	if down {
		w := defDown.Say("instance", st.Instance)
		if st.Health != nil && !st.Health.OK {
			w = defUnhealthy.Say("instance", st.Instance, "url", st.Health.URL)
		}
		d.cfg.Health.Set(w)
	} else {
		d.cfg.Health.Clear(WarnDown)
	}
	return st
}

// Status is the gateway for the status and the dashboard (nil without
// one).
func (d *Driver) Status() *api.Gateway {
	if !d.g.Installed() {
		return nil
	}
	d.mu.Lock()
	st, cerr := d.last, d.err
	d.mu.Unlock()
	out := &api.Gateway{Installed: true, Instances: st.Instances, Status: string(st.Status), Version: st.Version,
		Manager: st.Manager, StatusURL: st.StatusURL, Error: st.Error}
	if out.Instances == nil {
		out.Instances = d.g.Installation().Names()
	}
	if out.Status == "" {
		out.Status = string(gw.StateUnknown)
	}
	if st.Health != nil {
		out.Healthy = st.Health.OK
	}
	if cerr != "" {
		out.Error = cerr
	}
	return out
}

// Report is the inventory report's gateway section (nil without one).
func (d *Driver) Report() *inventory.Gateway {
	st := d.Status()
	if st == nil {
		return nil
	}
	return &inventory.Gateway{Installed: true, Version: st.Version, Status: st.Status, Instances: len(st.Instances)}
}

// Routes registers the gateway routes.
func (d *Driver) Routes(rt *localapi.Router) {
	rt.Get(api.RouteGateway, func(ctx context.Context) any { return d.statusOrNone() })
	for route, op := range map[string]func(context.Context) error{
		api.RouteGatewayStart: d.g.Start, api.RouteGatewayStop: d.g.Stop, api.RouteGatewayRestart: d.g.Restart,
	} {
		rt.Action(route, func(r *http.Request) (any, error) { return d.control(r.Context(), op) })
	}
}

func (d *Driver) statusOrNone() api.Gateway {
	if st := d.Status(); st != nil {
		return *st
	}
	return api.Gateway{Instances: []string{}, Status: string(gw.StateUnknown)}
}

// control runs a start, stop or restart and answers the status after it.
func (d *Driver) control(ctx context.Context, op func(context.Context) error) (any, error) {
	if !d.g.Installed() {
		return nil, api.Errorf(api.CodeBadRequest, "No CloudLink Gateway is installed on this host.")
	}
	cctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	err := op(cctx)
	d.mu.Lock()
	d.err = ""
	if err != nil {
		d.err = err.Error()
	}
	d.mu.Unlock()
	d.settle(ctx)
	if err != nil {
		return d.statusOrNone(), api.Errorf(api.CodeInternal, "The CloudLink Gateway could not be controlled: %v.", err)
	}
	return d.statusOrNone(), nil
}

// settle reads the status again until a core just started answers
// healthy (a started process listens a moment after its start), for at
// most settleFor, so that neither the answer nor the warnings show a
// start that is still under way as a failure.
func (d *Driver) settle(ctx context.Context) {
	deadline := time.Now().Add(settleFor)
	for {
		st := d.refresh(ctx)
		starting := st.Status == gw.StateStarting || (st.Status == gw.StateRunning && st.Health != nil && !st.Health.OK)
		if !starting || time.Now().After(deadline) {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// settleFor bounds settle.
const settleFor = 10 * time.Second
