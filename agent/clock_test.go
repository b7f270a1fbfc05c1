package agent

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/cloudlink/cld/agent/api"
	"github.com/cloudlink/cld/agent/drift"
	"github.com/cloudlink/cld/cloud"
)

func syncedHost(b bool) drift.SyncReader {
	return func(context.Context) drift.Sync { return drift.Sync{Synchronized: &b, Source: "timedatectl"} }
}

func warningOf(st api.Status, code string) (api.Warning, bool) {
	for _, w := range st.Warnings {
		if w.Code == code {
			return w, true
		}
	}
	return api.Warning{}, false
}

// TestClockDriftHoldsTunnels is the acceptance of issue 4 against the
// in-process reference cloud: at 44 s the warning shows "44s" and tunnels
// run; at 50 s they stop with the reason; back at 0 they start again
// within one (re)measurement interval of the fake clock, with no restart.
func TestClockDriftHoldsTunnels(t *testing.T) {
	ts := cloud.NewTestServer(t)
	ts.SetClockOffset(44 * time.Second)
	web, admin := newOrigin(t, "web"), newOrigin(t, "admin")
	fc := clockwork.NewFakeClock()
	cfg := cloudConfig(t, ts)
	r := mustAgent(t, cfg, WithPlatform(originPlatform(t, web, admin)), withDriftClock(fc), withHostSync(syncedHost(true)))
	ctx := context.Background()
	if _, err := r.Link(ctx, adminLogin); err != nil {
		t.Fatal(err)
	}
	if _, err := r.StartTunnel(ctx, "web"); err != nil {
		t.Fatal(err)
	}
	waitTunnel(t, r.Agent, "web", api.TunnelStarted)
	waitMeasured := func(what string, cond func(api.Status) bool) api.Status {
		t.Helper()
		var st api.Status
		eventually(t, what, func() bool { st = r.Status(ctx); return cond(st) })
		return st
	}
	st := waitMeasured("the 44s drift", func(st api.Status) bool { _, ok := warningOf(st, WarnClockDrift); return ok })
	w, _ := warningOf(st, WarnClockDrift)
	if w.Text != "The system time is incorrect. This can cause connection problems. Clock drift detected: 44s" || w.Severity != api.SeverityWarning || w.Since == nil || w.Title == "" || !strings.Contains(w.Remedy, "timedatectl status") {
		t.Fatalf("warning %+v", w)
	}
	if c := st.Clock; c.DriftSeconds > -43.5 || c.DriftSeconds < -44.5 || c.MeasuredAt == nil || c.Synchronized == nil || !*c.Synchronized || !strings.Contains(c.Source, ts.URL) {
		t.Errorf("clock %+v", c)
	}
	if x := tunnelOf(t, r.Agent, "web"); x.Status != api.TunnelStarted {
		t.Fatalf("44s stopped the tunnel: %+v", x)
	}

	// 50 s: the next measurement holds the tunnels, each says why.
	ts.SetClockOffset(50 * time.Second)
	waitTimers(t, fc, 1)
	fc.Advance(cfg.Clock.Interval)
	x := waitTunnel(t, r.Agent, "web", api.TunnelError, "Clock drift detected: 50s", "more than 45s")
	t.Logf("held: %s", x.Reason)
	st = r.Status(ctx)
	if w, _ := warningOf(st, WarnClockDrift); w.Severity != api.SeverityError || !strings.HasSuffix(w.Text, "Clock drift detected: 50s") {
		t.Errorf("warning at 50s: %+v", w)
	}
	if y := tunnelOf(t, r.Agent, "admin"); y.Status != api.TunnelStopped {
		t.Errorf("a stopped tunnel stays stopped: %+v", y)
	}
	// A tunnel started while held is held too.
	if ts, err := r.StartTunnel(ctx, "admin"); err != nil {
		t.Fatal(err)
	} else if ts.Tunnels[1].ID == "admin" && ts.Tunnels[1].Status != api.TunnelError {
		t.Errorf("admin started while held: %+v", ts.Tunnels[1])
	}

	// Fixed: within one recheck interval (no restart) both come up.
	ts.SetClockOffset(0)
	waitTimers(t, fc, 1)
	fc.Advance(cfg.Clock.RecheckInterval)
	waitTunnel(t, r.Agent, "web", api.TunnelStarted)
	waitTunnel(t, r.Agent, "admin", api.TunnelStarted)
	st = r.Status(ctx)
	if _, ok := warningOf(st, WarnClockDrift); ok || st.Clock.DriftSeconds < -0.5 || st.Clock.DriftSeconds > 0.5 {
		t.Errorf("after the fix: %+v %+v", st.Warnings, st.Clock)
	}
}

// TestClockNotSynchronized: the host's own word is a warning of its own.
func TestClockNotSynchronized(t *testing.T) {
	ts := cloud.NewTestServer(t)
	r := mustAgent(t, cloudConfig(t, ts), withDriftClock(clockwork.NewFakeClock()), withHostSync(syncedHost(false)))
	var st api.Status
	eventually(t, "measured", func() bool { st = r.Status(context.Background()); return st.Clock.MeasuredAt != nil })
	w, ok := warningOf(st, WarnClockNotSynced)
	if !ok || !strings.Contains(w.Remedy, "timedatectl status") || !strings.Contains(w.Remedy, "NTP") || st.Clock.Synchronized == nil || *st.Clock.Synchronized {
		t.Errorf("%+v %+v", w, st.Clock)
	}
	if _, ok := warningOf(st, WarnClockDrift); ok {
		t.Errorf("no drift expected: %+v", st.Warnings)
	}
}
