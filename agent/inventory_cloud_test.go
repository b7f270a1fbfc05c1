package agent

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/cloudlink/cld/agent/api"
	"github.com/cloudlink/cld/agent/reporter"
	"github.com/cloudlink/cld/cloud"
)

// cloudReports lists the triggers and IDs the reference cloud stored for a
// system, oldest first.
func cloudReports(t *testing.T, ts *cloud.TestServer, systemID string) (triggers, ids []string) {
	t.Helper()
	reps, err := ts.Reports(systemID)
	if err != nil {
		t.Fatal(err)
	}
	for i := len(reps) - 1; i >= 0; i-- {
		triggers = append(triggers, reps[i].Trigger)
		ids = append(ids, reps[i].ID)
	}
	return triggers, ids
}

// TestInventoryWithReferenceCloud: a linked daemon's report is at the
// reference cloud right after linking, and starting a tunnel produces a new
// (debounced) report.
func TestInventoryWithReferenceCloud(t *testing.T) {
	ts := cloud.NewTestServer(t)
	web, admin := newOrigin(t, "web"), newOrigin(t, "admin")
	invClock := clockwork.NewFakeClock()
	cfg := cloudConfig(t, ts)
	r := mustAgent(t, cfg, withoutClockCheck, WithPlatform(originPlatform(t, web, admin)),
		withInventoryTuning(func(tu *reporter.Tuning) { tu.Clock = invClock }))
	ctx := context.Background()
	st, err := r.link.Link(ctx, adminLogin)
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "the link report at the cloud", func() bool {
		tr, _ := cloudReports(t, ts, st.SystemID)
		return len(tr) == 1
	})
	reps, _ := ts.Reports(st.SystemID)
	if rep := reps[0].Report; rep.Trigger != reporter.TriggerLink || rep.SystemID != st.SystemID || rep.Platform == nil || rep.Host == nil || rep.Daemon == nil {
		t.Fatalf("link report: %+v", rep)
	}
	if _, err := r.tunnels.Start("web"); err != nil {
		t.Fatal(err)
	}
	waitTunnel(t, r.Agent, "web", api.TunnelStarted)
	for start := invClock.Now(); len(mustTriggers(t, ts, st.SystemID)) < 2; {
		if d := invClock.Since(start); d > reporter.DefaultTuning().MaxDelay+reporter.DefaultTuning().Quiet {
			t.Fatalf("no change report after %s of inventory time", d)
		}
		invClock.Advance(time.Second)
		time.Sleep(5 * time.Millisecond) // guard only: delivery is asynchronous
	}
	reps, _ = ts.Reports(st.SystemID)
	if rep := reps[0].Report; rep.Trigger != reporter.TriggerChange || !strings.Contains(strings.Join(rep.Changes, ";"), "tunnel web: stopped → started") {
		t.Fatalf("change report: %+v", rep)
	}
	eventually(t, "Last set", func() bool { return r.Status(ctx).Inventory.Last != nil && !r.Status(ctx).Inventory.Pending })
}

func mustTriggers(t *testing.T, ts *cloud.TestServer, systemID string) []string {
	tr, _ := cloudReports(t, ts, systemID)
	return tr
}

// TestInventoryAcceptanceOutage is the acceptance: with the
// reference cloud down for an hour of simulated time and the daemon
// restarted twice in between, the newest report arrives once the cloud is
// back, exactly once.
func TestInventoryAcceptanceOutage(t *testing.T) {
	ts := cloud.NewTestServer(t)
	// Midnight UTC: the test's hours stay clear of the daily report (04:00 or later).
	invClock := clockwork.NewFakeClockAt(time.Date(2024, 9, 18, 0, 0, 0, 0, time.UTC))
	cfg := cloudConfig(t, ts)
	opts := []Option{withoutClockCheck, withInventoryTuning(func(tu *reporter.Tuning) { tu.Clock, tu.Loc = invClock, time.UTC })}
	r := mustAgent(t, cfg, opts...)
	ctx := context.Background()
	st, err := r.link.Link(ctx, adminLogin)
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "the link report", func() bool { return len(mustTriggers(t, ts, st.SystemID)) == 1 })

	ts.Stop()
	advance := func(d time.Duration) {
		for step := time.Duration(0); step < d; step += time.Minute {
			invClock.Advance(time.Minute)
			time.Sleep(2 * time.Millisecond) // lets the loop set its next timer (not a logic wait)
		}
	}
	outbox := func() string {
		rig := &invRig{t: t, cfg: cfg}
		return rig.outboxID()
	}
	advance(10 * time.Minute)
	r.stop()
	r = mustAgent(t, cfg, opts...) // restart 1
	eventually(t, "the start report waits", func() bool { return r.Status(ctx).Inventory.Pending })
	first := outbox()
	advance(20 * time.Minute)
	r.stop()
	r = mustAgent(t, cfg, opts...) // restart 2
	eventually(t, "a newer report supersedes", func() bool { id := outbox(); return id != "" && id != first })
	second := outbox()
	advance(30 * time.Minute)
	if n := len(mustTriggers(t, ts, st.SystemID)); n != 1 {
		t.Fatalf("%d reports stored while the cloud was down", n)
	}
	newest := outbox()
	if newest != second {
		box, _ := os.ReadFile(filepath.Join(cfg.StateDir, reporter.OutboxFile))
		t.Fatalf("outbox %q before the cloud is back, want restart 2's report %s; the outbox holds:\n%.1500s", newest, second, box)
	}

	ts.Start()
	eventually(t, "the newest report arrives", func() bool {
		invClock.Advance(time.Minute)
		return !r.Status(ctx).Inventory.Pending
	})
	advance(2 * reporter.DefaultTuning().RetryMax) // nothing more is sent
	triggers, ids := cloudReports(t, ts, st.SystemID)
	if len(ids) != 2 || ids[1] != newest || triggers[1] != reporter.TriggerStart {
		t.Fatalf("stored %v %v; want the link report and %s (first %s, outbox now %q)", triggers, ids, newest, first, outbox())
	}
	for _, id := range ids {
		if id == first {
			t.Fatalf("the superseded report %s was stored", id)
		}
	}
	if inv := r.Status(ctx).Inventory; inv.Last == nil || inv.LastError != "" {
		t.Fatalf("after delivery: %+v", inv)
	}
}
