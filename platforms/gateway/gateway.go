package gateway

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/cloudlink/cld/platforms"
)

// Status is the gateway's state for `cld status --json`, the dashboard's
// "CloudLink Gateway Integration" panel and the inventory.
type Status struct {
	// Installed: at least one instance is installed (the panel shows only
	// then).
	Installed bool `json:"installed"`
	// Instances are the installed instances' names.
	Instances []string `json:"instances"`
	// Status is the driven instance's state (StateUnknown when none is
	// driven: none or several installed).
	Status State `json:"status"`
	// Version is the driven instance's version; with several instances
	// and none driven, their version when they all have the same one.
	Version string `json:"version"`
	// Instance is the instance driven and Manager what drives it
	// ("systemd" or "supervisor"); "" when none.
	Instance string `json:"instance,omitempty"`
	Manager  string `json:"manager,omitempty"`
	// Service is the service manager's account of it.
	Service *ServiceStatus `json:"service,omitempty"`
	// Health is the REST interface's health check, made while it runs.
	Health *Health `json:"health,omitempty"`
	// StatusURL is the core's status page on the host (loopback; the
	// dashboard reaches it through the REST tunnel or links to it).
	StatusURL string `json:"status_url,omitempty"`
	// Error says why the state is unknown, as a sentence.
	Error string `json:"error,omitempty"`
}

// ErrNotInstalled is returned by the controls on a host without a gateway.
var ErrNotInstalled = errors.New("no CloudLink Gateway is installed on this host")

// ErrAmbiguous is wrapped by the controls' error when several instances
// are installed and none was named.
var ErrAmbiguous = errors.New("more than one CloudLink Gateway instance is installed")

// Gateway is the co-located gateway as Open found it: its instances, the
// one driven and the Manager that drives it.
type Gateway struct {
	opts Options
	in   Installation
	mgr  Manager // nil when no instance is driven
}

// Open finds the installed instances (Find) and builds the Manager of the
// selected one: Systemd when opts.ServiceManager says so, or, by default,
// when systemd runs the host and the instance has a unit file; else the
// Supervisor. A host without a gateway is a Gateway with nothing
// installed, not an error. Open starts nothing.
func Open(opts Options) (*Gateway, error) {
	in, err := Find(opts)
	if err != nil {
		return nil, err
	}
	opts = opts.withDefaults()
	g := &Gateway{opts: opts, in: in}
	if in.Selected == nil {
		return g, nil
	}
	inst := *in.Selected
	switch opts.ServiceManager {
	case ManagerAuto:
		if SystemdRunning(opts.SystemdRunDir) && inst.Unit != "" {
			g.mgr = g.systemd(inst)
		} else {
			g.mgr = g.supervisor(inst)
		}
	case ManagerSystemd:
		if inst.Unit == "" {
			return nil, fmt.Errorf("gateway: the service manager is systemd, but no unit file %s or %s of CloudLink Gateway instance %s is installed in %s",
				opts.UnitTemplate, opts.UnitName, inst.Name, strings.Join(opts.UnitDirs, ", "))
		}
		g.mgr = g.systemd(inst)
	case ManagerSupervisor:
		g.mgr = g.supervisor(inst)
	default:
		return nil, fmt.Errorf("gateway: the service manager %q is unknown; use %q, %q or leave it empty to choose", opts.ServiceManager, ManagerSystemd, ManagerSupervisor)
	}
	return g, nil
}

func (g *Gateway) systemd(inst Instance) Manager {
	return NewSystemd(inst.Unit, g.opts.DialSystemd, g.opts.JobTimeout)
}

func (g *Gateway) supervisor(inst Instance) Manager {
	return NewSupervisor(SupervisorConfig{
		Instance: inst.Name,
		Command:  inst.StartCommand,
		Dir:      inst.Path,
		Env:      []string{"CLGW_INSTANCE=" + inst.Name, "CLGW_HOME=" + inst.Path, "CLGW_CONFIG=" + inst.ConfigFile},
		Tuning:   g.opts.Supervisor,
		Clock:    g.opts.Clock,
		Logger:   g.opts.Logger,
	})
}

// Installation is what Open found.
func (g *Gateway) Installation() Installation { return g.in }

// Installed reports whether any instance is installed.
func (g *Gateway) Installed() bool { return g.in.Installed() }

// Notices are the problems found (several instances, an unreadable version
// file, a config without a REST port), each with its remedy; the daemon
// raises them as health warnings.
func (g *Gateway) Notices() []platforms.Notice {
	return append([]platforms.Notice(nil), g.in.Notices...)
}

// Manager is the driven instance's service manager (nil when none).
func (g *Gateway) Manager() Manager { return g.mgr }

// Tunnels are the tunnels of the driven instance: its REST interface
// (none when no instance is driven or its config gives no port).
func (g *Gateway) Tunnels() []platforms.Tunnel {
	if g.in.Selected == nil {
		return nil
	}
	t, err := g.in.Selected.Tunnel()
	if err != nil {
		return nil
	}
	return []platforms.Tunnel{t}
}

// controlled is the driven instance's manager, or why there is none.
func (g *Gateway) controlled() (Manager, error) {
	if g.mgr != nil {
		return g.mgr, nil
	}
	names := g.in.Names()
	switch {
	case len(names) == 0:
		return nil, ErrNotInstalled
	case g.opts.Instance != "":
		return nil, fmt.Errorf("the configured CloudLink Gateway instance %q is not installed (installed: %s)", g.opts.Instance, strings.Join(names, ", "))
	}
	return nil, fmt.Errorf("%w (%s); none is controlled until only one is left. %s", ErrAmbiguous, strings.Join(names, ", "), RemedyMultipleInstances)
}

// Start starts the driven instance.
func (g *Gateway) Start(ctx context.Context) error {
	m, err := g.controlled()
	if err != nil {
		return err
	}
	return m.Start(ctx)
}

// Stop stops the driven instance.
func (g *Gateway) Stop(ctx context.Context) error {
	m, err := g.controlled()
	if err != nil {
		return err
	}
	return m.Stop(ctx)
}

// Restart restarts the driven instance.
func (g *Gateway) Restart(ctx context.Context) error {
	m, err := g.controlled()
	if err != nil {
		return err
	}
	return m.Restart(ctx)
}

// Health checks the driven instance's REST interface.
func (g *Gateway) Health(ctx context.Context) (Health, error) {
	if _, err := g.controlled(); err != nil {
		return Health{}, err
	}
	inst := g.in.Selected
	if inst.RESTPort == 0 {
		return Health{}, fmt.Errorf("CloudLink Gateway instance %s: its config gives no REST_PORT, so it cannot be health-checked", inst.Name)
	}
	return CheckHealth(ctx, inst.RESTAddress()+g.opts.HealthPath, g.opts.HealthTimeout), nil
}

// Status reports the gateway: what is installed, the driven instance's
// state from its service manager and, while it runs, its health.
func (g *Gateway) Status(ctx context.Context) Status {
	st := Status{Installed: g.Installed(), Instances: g.in.Names(), Status: StateUnknown}
	m, err := g.controlled()
	if err != nil {
		if st.Installed {
			st.Error = err.Error()
			st.Version = sameVersion(g.in.Instances)
		}
		return st
	}
	inst := g.in.Selected
	st.Instance, st.Manager, st.Version = inst.Name, m.Name(), inst.Version
	if inst.RESTPort != 0 {
		st.StatusURL = inst.RESTAddress() + g.opts.StatusPath
	}
	ss, err := m.Status(ctx)
	st.Status, st.Service = ss.State, &ss
	if err != nil {
		st.Error = err.Error()
		return st
	}
	if ss.State == StateRunning && inst.RESTPort != 0 {
		h := CheckHealth(ctx, inst.RESTAddress()+g.opts.HealthPath, g.opts.HealthTimeout)
		st.Health = &h
	}
	return st
}

// sameVersion is the instances' version when they all have the same one.
func sameVersion(insts []Instance) string {
	if len(insts) == 0 {
		return ""
	}
	v := insts[0].Version
	for _, i := range insts[1:] {
		if i.Version != v {
			return ""
		}
	}
	return v
}

// Close releases the manager: the supervisor stops the core it runs; a
// core under systemd keeps running.
func (g *Gateway) Close() error {
	if g.mgr == nil {
		return nil
	}
	return g.mgr.Close()
}
