package agent

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/cloudlink/cld/agent/api"
	"github.com/cloudlink/cld/agent/cloudclient"
	"github.com/cloudlink/cld/agent/config"
	"github.com/cloudlink/cld/agent/doctor"
	"github.com/cloudlink/cld/agent/drift"
	"github.com/cloudlink/cld/agent/health"
	"github.com/cloudlink/cld/agent/proxy"
	"github.com/cloudlink/cld/agent/state"
)

// doctorTimeout bounds each check of `cld doctor`.
const doctorTimeout = 20 * time.Second

// Doctor runs the prerequisite checks now: DNS, reachability, TLS, clock
// drift and synchronization (a fresh measurement), proxy, state directory,
// then those of the subsystems and those added with WithCheck.
func (a *Agent) Doctor(ctx context.Context) api.Doctor {
	checks := append(cloudChecks(a.cfg, a.link.Cloud(), a.hc, a.proxy, a.drift), a.platformCheck())
	for _, s := range a.o.subsystems {
		if c, ok := s.(interface{ Checks() []doctor.Check }); ok {
			checks = append(checks, c.Checks()...)
		}
	}
	return doctor.Run(ctx, doctorTimeout, append(checks, a.o.extraChecks...))
}

// cloudChecks are the checks of the way to the cloud (the linked one, else
// the configured one) and of the state directory, in the order a person
// fixes them.
func cloudChecks(cfg config.Config, cloud string, hc *http.Client, ps *proxy.Setup, dm *drift.Monitor) []doctor.Check {
	var host, hostPort string
	if u, err := url.Parse(cloud); err == nil && u.Host != "" {
		host = u.Hostname()
		hostPort = u.Host
		if u.Port() == "" {
			hostPort = net.JoinHostPort(host, "443")
		}
	}
	var via *url.URL
	noProxy := "No HTTP proxy is configured (proxy: in the config, or HTTPS_PROXY in cld's environment); cld connects directly."
	hint407 := "set the user and password in proxy: (http://user:password@host:port)"
	if ps != nil {
		hint407 = ps.Hint407()
		if cloud != "" {
			via = ps.URLFor(cloud)
			if via == nil && ps.Fixed() != nil {
				noProxy = fmt.Sprintf("The configured proxy is not used for %s (no_proxy).", host)
			}
		} else {
			via = ps.Fixed()
		}
	} else {
		noProxy = "cld uses an HTTP client given by its embedder; no proxy to check."
	}
	if cloud == "" {
		hostPort = "cloudlink.mitel.io:443" // CONNECT needs a target; any https host the proxy should allow
	}
	checks := []doctor.Check{doctor.DNS(host, via != nil, nil)}
	checks = append(checks, cloudclient.Checks(cloud, hostPort, via, hc)...)
	checks = append(checks, dm.Checks(cloud)...)
	return append(checks,
		doctor.Proxy(via, hostPort, noProxy, hint407),
		doctor.StateDir(cfg.StateDir),
	)
}

// DoctorWithoutDaemon runs the same checks in the calling process from cfg
// (the linked cloud read from the state directory when it can be), for
// `cld doctor` when the daemon does not answer: daemonErr becomes the first
// finding, a failure. The checks that need the daemon's own state (the
// warnings) are not part of it.
func DoctorWithoutDaemon(ctx context.Context, cfg config.Config, daemonErr error) (api.Doctor, error) {
	hc, ps, err := cloudclient.NewHTTPClient(cfg)
	if err != nil {
		return api.Doctor{}, err
	}
	defer cloudclient.CloseConnections(hc)
	cloud := cfg.Cloud
	if st, err := state.Load(cfg.StateDir); err == nil && st != nil && st.Link != nil && st.Link.Cloud != "" {
		cloud = st.Link.Cloud
	}
	dm := drift.NewMonitor(cfg.Clock, drift.Options{
		Clock: clockwork.NewRealClock(), Now: time.Now, Client: hc,
		Target: func() string { return cloud }, Registry: health.New(nil),
		Logger: slog.New(slog.DiscardHandler),
	})
	source := cfg.Source
	if source == "" {
		source = "defaults"
	}
	daemon := doctor.Check{ID: "daemon", Title: "The cld daemon is running", Run: func(context.Context) doctor.Result {
		return doctor.Fail(fmt.Sprintf("The daemon does not answer: %v. The other checks ran in this command instead, with the configuration %s.", daemonErr, source),
			"Start it (systemctl start cld) and read why it stopped (journalctl -u cld); the failures below may be the cause.")
	}}
	return doctor.Run(ctx, doctorTimeout, append([]doctor.Check{daemon}, cloudChecks(cfg, cloud, hc, ps, dm)...)), nil
}
