package inventory

import (
	"cmp"
	"fmt"
	"slices"
)

// Changes lists, one sentence each, what changed between two reports in the
// data that triggers a new report: tunnels (added, removed, status),
// applications (installed, removed, upgraded), the platform (type, name,
// version) and the license's SWA status. Host facts that always move
// (uptime, free disk) are not compared. A nil prev compares with an empty
// report. The agent uses it for the "change" trigger (debounced) and puts
// the result into Config.Changes.
func Changes(prev, next *Report) []string {
	if prev == nil {
		prev = &Report{}
	}
	if next == nil {
		next = &Report{}
	}
	var out []string
	add := func(format string, args ...any) { out = append(out, fmt.Sprintf(format, args...)) }
	// A section whose collector failed in either report is not compared: a
	// collector that timed out under load is not a platform removed (nor,
	// the next time, one installed).
	platformKnown := collected(prev, "platform") && collected(next, "platform")
	tunnelsKnown := collected(prev, "tunnels") && collected(next, "tunnels")
	if !platformKnown {
		prev, next = withoutPlatform(prev), withoutPlatform(next)
	}
	if !tunnelsKnown {
		prev, next = withoutTunnels(prev), withoutTunnels(next)
	}

	// The platform.
	pp, np := cmp.Or(prev.Platform, &Platform{}), cmp.Or(next.Platform, &Platform{})
	switch {
	case prev.Platform == nil && next.Platform != nil:
		add("platform %s %q %s added", np.Type, np.Name, np.Version)
	case prev.Platform != nil && next.Platform == nil:
		add("platform %s %q removed", pp.Type, pp.Name)
	case pp.Type != np.Type || pp.Name != np.Name:
		add("platform: %s %q → %s %q", pp.Type, pp.Name, np.Type, np.Name)
	case pp.Version != np.Version:
		add("platform version: %s → %s", orNone(pp.Version), orNone(np.Version))
	}

	// Applications, by type.
	pa := map[string]string{}
	for _, a := range prev.Applications {
		pa[a.Type] = a.Version
	}
	na := map[string]string{}
	for _, a := range next.Applications {
		na[a.Type] = a.Version
		if v, ok := pa[a.Type]; !ok {
			add("application %s %s installed", a.Type, orNone(a.Version))
		} else if v != a.Version {
			add("application %s: %s → %s", a.Type, orNone(v), orNone(a.Version))
		}
	}
	for _, a := range prev.Applications {
		if _, ok := na[a.Type]; !ok {
			add("application %s removed", a.Type)
		}
	}

	// The license's software assurance.
	ps, ns := "", ""
	if prev.License != nil {
		ps = prev.License.SWAStatus
	}
	if next.License != nil {
		ns = next.License.SWAStatus
	}
	if ps != ns {
		add("license SWA status: %s → %s", orNone(ps), orNone(ns))
	}

	// Tunnels, by ID.
	pt := map[string]Tunnel{}
	for _, t := range prev.Tunnels {
		pt[t.ID] = t
	}
	nt := map[string]bool{}
	for _, t := range next.Tunnels {
		nt[t.ID] = true
		if o, ok := pt[t.ID]; !ok {
			add("tunnel %s added (%s)", t.ID, t.Status)
		} else if o.Status != t.Status {
			add("tunnel %s: %s → %s", t.ID, o.Status, t.Status)
		}
	}
	var removed []string
	for id := range pt {
		if !nt[id] {
			removed = append(removed, id)
		}
	}
	slices.Sort(removed)
	for _, id := range removed {
		add("tunnel %s removed", id)
	}
	return out
}

func orNone(s string) string { return cmp.Or(s, "(none)") }

// collected reports whether the named collector did not fail in r (a
// report without that collector's result counts as collected).
func collected(r *Report, name string) bool {
	for _, c := range r.Collection {
		if c.Name == name {
			return c.Status != CollectorFailed
		}
	}
	return true
}

// withoutPlatform is a copy of r without what the platform collector fills
// (the platform, its applications, the license); the daemon's own
// application stays.
func withoutPlatform(r *Report) *Report {
	c := *r
	c.Platform, c.License, c.Applications = nil, nil, nil
	for _, a := range r.Applications {
		if a.Type == DaemonApplication {
			c.Applications = append(c.Applications, a)
		}
	}
	return &c
}

// withoutTunnels is a copy of r without its tunnels.
func withoutTunnels(r *Report) *Report {
	c := *r
	c.Tunnels = nil
	return &c
}
