package drift

import (
	"context"
	"github.com/cloudlink/cld/agent/drift/drifttest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/cloudlink/cld/agent/api"
	"github.com/cloudlink/cld/agent/health"
)

func TestConfigValidate(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatal(err)
	}
	c := DefaultConfig()
	c.Interval, c.RefuseThreshold, c.NTPServer, c.Samples = time.Second, time.Second, "a:b:c", 0
	err := c.Validate()
	for _, want := range []string{"clock.interval", "clock.refuse_threshold", "clock.ntp_server", "clock.samples"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("missing %s in %v", want, err)
		}
	}
}

func synced(b bool) SyncReader {
	return func(context.Context) Sync { return Sync{Synchronized: &b, Source: "timedatectl"} }
}

// TestMonitorGate runs the monitor on a fake clock against a cloud whose
// clock is offset: 44 s warns, 50 s holds the tunnels, and back at 0 the
// gate opens at the next recheck, without anything else happening.
func TestMonitorGate(t *testing.T) {
	ts := drifttest.NewTimeServer(t, 44*time.Second)
	fc := clockwork.NewFakeClock()
	reg := health.New(nil)
	ntp := drifttest.NewNTPServer(t, 0, 0)
	cfg := DefaultConfig()
	cfg.NTPServer = ntp.Addr()
	m := NewMonitor(cfg, Options{Clock: fc, Client: ts.Client(), Target: func() string { return ts.URL }, Registry: reg, Sync: synced(false)})
	var gateChanges atomic.Int32
	m.OnGateChange(func() { gateChanges.Add(1) })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	defer func() { cancel(); <-done; ts.Client().CloseIdleConnections() }()
	waitTimer := func() {
		t.Helper()
		wctx, c := context.WithTimeout(ctx, 10*time.Second)
		defer c()
		if err := fc.BlockUntilContext(wctx, 1); err != nil {
			t.Fatal("the monitor did not wait for its next measurement")
		}
	}

	waitTimer() // measured at start
	w, ok := reg.Get(WarnDrift)
	if !ok || w.Text != "The system time is incorrect. This can cause connection problems. Clock drift detected: 44s" || w.Severity != api.SeverityWarning || !strings.Contains(w.Remedy, "behind CloudLink") {
		t.Fatalf("44s: %+v", w)
	}
	if m.Gate() != "" {
		t.Fatalf("44s holds the tunnels: %s", m.Gate())
	}
	if st := m.Status(); st.DriftSeconds > -43.9 || st.DriftSeconds < -44.1 || st.MeasuredAt == nil || st.Synchronized == nil || *st.Synchronized {
		t.Errorf("status %+v", st)
	}
	if w, ok := reg.Get(WarnNotSynced); !ok || !strings.Contains(w.Remedy, "timedatectl status") {
		t.Errorf("not synchronized: %+v", w)
	}
	// The NTP server agrees with the host (0) but not with the cloud: the
	// cloud wins, NTP does not warn since the host agrees with it.
	if reg.Has(WarnNTPDisagrees) || reg.Has(WarnNTPUnreachable) {
		t.Errorf("NTP warnings: %+v", reg.List())
	}
	since := *w.Since

	ts.SetOffset(50 * time.Second)
	fc.Advance(cfg.Interval)
	waitTimer()
	if g := m.Gate(); !strings.Contains(g, "Clock drift detected: 50s") || !strings.Contains(g, "more than 45s") {
		t.Fatalf("gate at 50s: %q", g)
	}
	if w, _ := reg.Get(WarnDrift); w.Severity != api.SeverityError || !strings.HasSuffix(w.Text, "50s") {
		t.Errorf("50s: %+v", w)
	}
	if gateChanges.Load() != 1 {
		t.Errorf("gate changes %d", gateChanges.Load())
	}

	// Held: rechecked every RecheckInterval; the clock is right again.
	ts.SetOffset(0)
	fc.Advance(cfg.RecheckInterval)
	waitTimer()
	if g := m.Gate(); g != "" {
		t.Fatalf("gate after the fix: %q", g)
	}
	if reg.Has(WarnDrift) || gateChanges.Load() != 2 {
		t.Errorf("after the fix: %+v, %d gate changes", reg.List(), gateChanges.Load())
	}
	if w, _ := reg.Get(WarnNotSynced); !w.Since.Equal(since) {
		// the not-synchronized warning stayed set all along
		t.Logf("since %v vs %v", w.Since, since)
	}
}

// TestObserveDate: a Date header far from the measured drift makes the
// monitor measure again at once.
func TestObserveDate(t *testing.T) {
	ts := drifttest.NewTimeServer(t, 0)
	fc := clockwork.NewFakeClock()
	reg := health.New(nil)
	m := NewMonitor(DefaultConfig(), Options{Clock: fc, Client: ts.Client(), Target: func() string { return ts.URL }, Registry: reg, Sync: synced(true)})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	defer func() { cancel(); <-done; ts.Client().CloseIdleConnections() }()
	if err := fc.BlockUntilContext(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if reg.Has(WarnDrift) || reg.Has(WarnNotSynced) {
		t.Fatalf("%+v", reg.List())
	}
	ts.SetOffset(20 * time.Second)
	now := time.Now()
	m.ObserveDate(now.Add(200*time.Millisecond).UTC().Format("Mon, 02 Jan 2006 15:04:05 GMT"), now, now) // agrees: nothing
	m.ObserveDate(now.Add(20*time.Second).UTC().Format("Mon, 02 Jan 2006 15:04:05 GMT"), now, now)
	deadline := time.Now().Add(10 * time.Second)
	for !reg.Has(WarnDrift) {
		if time.Now().After(deadline) {
			t.Fatal("the Date header did not lead to a new measurement")
		}
		time.Sleep(time.Millisecond)
	}
}

// TestMonitorTargetGone: without a cloud to compare with (unlinked, no
// cloud: configured) nothing holds the tunnels; an NTP server that does not
// answer is a warning of its own.
func TestMonitorTargetGone(t *testing.T) {
	ts := drifttest.NewTimeServer(t, 50*time.Second)
	defer ts.Client().CloseIdleConnections()
	var target atomic.Value
	target.Store(ts.URL)
	reg := health.New(nil)
	cfg := DefaultConfig()
	cfg.NTPServer = "127.0.0.1:9" // nobody answers
	m := NewMonitor(cfg, Options{Client: ts.Client(), Target: func() string { return target.Load().(string) }, Registry: reg, Sync: synced(true)})
	ctx := context.Background()
	if r := m.Measure(ctx); r.Gate == "" || !reg.Has(WarnDrift) {
		t.Fatalf("at 50s: %+v", r)
	}
	if w, ok := reg.Get(WarnNTPUnreachable); !ok || !strings.Contains(w.Text, "127.0.0.1:9") || !strings.Contains(w.Remedy, "clock.ntp_server") {
		t.Errorf("NTP unreachable: %+v", reg.List())
	}
	target.Store("")
	if r := m.Measure(ctx); r.Gate != "" || r.Cloud != nil || reg.Has(WarnDrift) {
		t.Errorf("without a cloud: %+v %+v", r, reg.List())
	}
	if st := m.Status(); st.MeasuredAt != nil {
		t.Errorf("status %+v", st)
	}
}
