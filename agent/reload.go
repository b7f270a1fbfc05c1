package agent

import (
	"slices"

	"github.com/cloudlink/cld/agent/config"
	"github.com/cloudlink/cld/platforms"
)

// configuredProxy is the proxy URL of the running configuration (its
// password is scrubbed from reports).
func (a *Agent) configuredProxy() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.cfg.Proxy
}

// Reload applies a re-read configuration (SIGHUP, `systemctl reload cld`)
// that cfg.Validate accepted, with the platform opened from it: the tunnel
// definitions (unchanged started tunnels keep their connections), the
// proxy and the clock settings (measured again at once). It returns what changed and the settings that take effect only at
// the next start; on an error nothing of the tunnels changed.
func (a *Agent) Reload(cfg config.Config, plat platforms.Platform) (changed, needRestart []string, err error) {
	changed, err = a.tunnels.Reload(a.withGateway(plat))
	if err != nil {
		return nil, nil, err
	}
	a.mu.Lock()
	a.o.platform = plat
	a.mu.Unlock()
	if a.proxy != nil && (cfg.Proxy != a.cfg.Proxy || cfg.NoProxy != a.cfg.NoProxy) {
		if err := a.proxy.Reconfigure(cfg.Proxy, cfg.NoProxy, cfg.File()); err != nil {
			return changed, nil, err
		}
		a.hc.CloseIdleConnections() // the next requests go the new way
		changed = append(changed, "proxy")
		a.mu.Lock()
		a.cfg.Proxy, a.cfg.NoProxy = cfg.Proxy, cfg.NoProxy
		a.mu.Unlock()
	}
	if cfg.Clock != a.drift.Config() {
		a.drift.SetConfig(cfg.Clock)
		changed = append(changed, "clock")
	}
	for _, s := range []struct {
		name string
		same bool
	}{
		{"state_dir", cfg.StateDir == a.cfg.StateDir},
		{"socket", cfg.Socket == a.cfg.Socket},
		{"cloud", cfg.Cloud == a.cfg.Cloud},
		{"cloud_ca", cfg.CloudCA == a.cfg.CloudCA},
		{"listen", cfg.Listen == a.cfg.Listen},
		{"dashboard", cfg.Dashboard.BasePath == a.cfg.Dashboard.BasePath && slices.Equal(cfg.Dashboard.TrustedProxies, a.cfg.Dashboard.TrustedProxies)},
		{"heartbeat_interval", cfg.HeartbeatInterval == a.cfg.HeartbeatInterval},
		{"machine_id_file", cfg.MachineIDFile == a.cfg.MachineIDFile},
	} {
		if !s.same {
			needRestart = append(needRestart, s.name)
		}
	}
	return changed, needRestart, nil
}
