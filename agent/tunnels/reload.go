package tunnels

import (
	"fmt"
	"slices"

	"github.com/cloudlink/cld/agent/api"
	"github.com/cloudlink/cld/agent/backoff"
	"github.com/cloudlink/cld/agent/config"
	"github.com/cloudlink/cld/platforms"
)

// tableOf checks the platform's tunnels and makes the manager's table.
func tableOf(p platforms.Platform) ([]tunnelDef, map[string]int, error) {
	byID := map[string]int{}
	var defs []tunnelDef
	if p == nil {
		return defs, byID, nil
	}
	ts := p.Tunnels()
	if err := platforms.ValidateTunnels(ts); err != nil {
		return nil, nil, fmt.Errorf("%w: platform %s: %w", config.ErrConfig, p.Type(), err)
	}
	for _, t := range ts {
		target, err := tunnelTarget(t)
		if err != nil {
			return nil, nil, fmt.Errorf("%w: platform tunnel %s: %w", config.ErrConfig, t.ID, err)
		}
		byID[t.ID] = len(defs)
		defs = append(defs, tunnelDef{Tunnel: t, target: target})
	}
	return defs, byID, nil
}

func newRun() *tunnelRun { return &tunnelRun{recheck: backoff.New(localRecheckMin, LocalRecheckMax)} }

// sameTunnel tells whether a reload left a tunnel's definition as it was.
func sameTunnel(a, b platforms.Tunnel) bool {
	return a.ID == b.ID && a.Component == b.Component && a.Name == b.Name && a.Description == b.Description &&
		a.LocalAddress == b.LocalAddress && a.AcceptSelfSigned == b.AcceptSelfSigned && a.CAFile == b.CAFile
}

// Reload takes the platform's tunnels afresh (SIGHUP): an unchanged tunnel
// keeps its state and its open connections; a changed one keeps its chosen
// state but closes its connections (they lead to the old address) and is
// checked again; a removed one is stopped and forgotten; a new one starts
// stopped. A platform whose tunnels cannot be served is refused as a whole,
// and the running table stays.
func (m *Manager) Reload(p platforms.Platform) (changed []string, err error) {
	defs, byID, err := tableOf(p)
	if err != nil {
		return nil, err
	}
	var closers []*func()
	m.mu.Lock()
	old := make(map[string]tunnelDef, len(m.defs))
	for _, d := range m.defs {
		old[d.ID] = d
	}
	run := make(map[string]*tunnelRun, len(defs))
	for _, d := range defs {
		o, had := old[d.ID]
		switch {
		case had && sameTunnel(o.Tunnel, d.Tunnel):
			run[d.ID] = m.run[d.ID]
			d.target = o.target // the open streams' TLS settings stay those of the running table
		case had:
			changed = append(changed, d.ID+" (changed)")
			run[d.ID] = newRun()
		default:
			changed = append(changed, d.ID+" (new)")
			run[d.ID] = newRun()
		}
		if had {
			defs[byID[d.ID]] = d
		}
	}
	next := map[string]bool{}
	for id, on := range m.enabled {
		if _, ok := byID[id]; ok && on {
			next[id] = true
		}
	}
	for id := range old {
		if _, ok := byID[id]; !ok {
			changed = append(changed, id+" (removed)")
		}
	}
	for id := range old {
		if r, ok := run[id]; ok && r == m.run[id] {
			continue // unchanged: its streams stay open
		}
		for c := range m.streams[id] {
			closers = append(closers, c)
		}
		delete(m.streams, id)
	}
	if len(changed) == 0 {
		m.mu.Unlock()
		return nil, nil
	}
	var saveErr error
	if len(next) != len(m.enabled) {
		saveErr = m.saveLocked(next)
	}
	m.defs, m.byID, m.run, m.enabled = defs, byID, run, next
	m.notifyLocked()
	m.mu.Unlock()
	for _, c := range closers {
		(*c)()
	}
	slices.Sort(changed)
	m.log.Info("tunnel definitions reloaded", "changed", changed)
	if saveErr != nil {
		m.log.Error("could not save the tunnel state after a reload", "err", saveErr)
		return changed, api.Errorf(api.CodeInternal, "The tunnels were reloaded, but saving their state failed (%v); check that %s is writable.", saveErr, m.cfg.StateDir)
	}
	m.kickRetry()
	return changed, nil
}
