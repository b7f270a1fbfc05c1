package lockout

import (
	"testing"
	"time"
)

func TestLockoutGrowsAndResets(t *testing.T) {
	var l Limiter
	now := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	for i := range MaxFailures - 1 {
		l.Failed(now.Add(time.Duration(i) * time.Second))
	}
	if d := l.Wait(now.Add(5 * time.Second)); d != 0 {
		t.Fatalf("locked after %d failures: %v", MaxFailures-1, d)
	}
	// Failures older than the window do not count.
	l.Failed(now.Add(Window + 2*time.Second))
	if d := l.Wait(now.Add(Window + 2*time.Second)); d != 0 {
		t.Fatalf("old failures counted: %v", d)
	}
	for range MaxFailures {
		l.Failed(now)
	}
	if d := l.Wait(now); d != FirstLockout {
		t.Fatalf("first lockout %v", d)
	}
	wants := []time.Duration{2 * time.Minute, 4 * time.Minute, 8 * time.Minute, MaxLockout, MaxLockout}
	for _, want := range wants {
		now = now.Add(MaxLockout)
		for range MaxFailures {
			l.Failed(now)
		}
		if d := l.Wait(now); d != want {
			t.Fatalf("lockout %v, want %v", d, want)
		}
	}
	l.Succeeded()
	if d := l.Wait(now); d != 0 {
		t.Fatalf("after a success: %v", d)
	}
	for range MaxFailures {
		l.Failed(now)
	}
	if d := l.Wait(now); d != FirstLockout {
		t.Fatalf("after a success the lockout starts again: %v", d)
	}
}

// TestLimiterRules: which wrong attempts count, and the lockouts they
// start, on an injected clock (steps at offsets from one start).
func TestLimiterRules(t *testing.T) {
	t0 := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	type step struct {
		at   time.Duration
		op   string        // "fail", "ok" (Succeeded) or "wait" (Wait must be want)
		want time.Duration // for "wait"
	}
	fails := func(at time.Duration, n int) []step {
		var s []step
		for i := range n {
			s = append(s, step{at: at + time.Duration(i)*time.Second, op: "fail"})
		}
		return s
	}
	seq := func(parts ...[]step) []step {
		var s []step
		for _, p := range parts {
			s = append(s, p...)
		}
		return s
	}
	for _, c := range []struct {
		name    string
		allowed int
		steps   []step
	}{
		{"MaxFailures within the window lock", 0, seq(fails(0, MaxFailures-1),
			[]step{{4 * time.Second, "wait", 0}}, fails(10*time.Second, 1),
			[]step{{10 * time.Second, "wait", FirstLockout}, {40 * time.Second, "wait", 30 * time.Second}, {70 * time.Second, "wait", 0}})},
		{"failures older than the window do not count", 0, seq(fails(0, MaxFailures-1),
			fails(Window+3*time.Second, 1), []step{{Window + 3*time.Second, "wait", 0}})},
		{"Allowed", 3, seq(fails(0, 2), []step{{2 * time.Second, "wait", 0}},
			fails(2*time.Second, 1), []step{{2 * time.Second, "wait", FirstLockout}})},
		{"the lockout doubles to MaxLockout", 0, seq(
			fails(0, MaxFailures), []step{{4 * time.Second, "wait", FirstLockout}},
			fails(10*time.Minute, MaxFailures), []step{{10*time.Minute + 4*time.Second, "wait", 2 * FirstLockout}},
			fails(20*time.Minute, MaxFailures), []step{{20*time.Minute + 4*time.Second, "wait", 4 * FirstLockout}},
			fails(30*time.Minute, MaxFailures), []step{{30*time.Minute + 4*time.Second, "wait", 8 * FirstLockout}},
			fails(40*time.Minute, MaxFailures), []step{{40*time.Minute + 4*time.Second, "wait", MaxLockout}},
			fails(60*time.Minute, MaxFailures), []step{{60*time.Minute + 4*time.Second, "wait", MaxLockout}})},
		{"a success resets count and lockout", 0, seq(
			fails(0, MaxFailures), fails(10*time.Minute, MaxFailures-1), []step{{11 * time.Minute, "ok", 0}},
			fails(11*time.Minute, 1), []step{{11 * time.Minute, "wait", 0}},
			fails(12*time.Minute, MaxFailures), []step{{12*time.Minute + 4*time.Second, "wait", FirstLockout}})},
		{"failures stamped after now (the clock set back) do not count", 0, seq(
			fails(time.Hour, MaxFailures-1), fails(0, 1), []step{{0, "wait", 0}},
			fails(time.Second, MaxFailures-2), []step{{5 * time.Second, "wait", 0}},
			fails(6*time.Second, 1), []step{{6 * time.Second, "wait", FirstLockout}})},
	} {
		t.Run(c.name, func(t *testing.T) {
			l := Limiter{Allowed: c.allowed}
			for i, s := range c.steps {
				now := t0.Add(s.at)
				switch s.op {
				case "fail":
					l.Failed(now)
				case "ok":
					l.Succeeded()
				case "wait":
					if got := l.Wait(now); got != s.want {
						t.Fatalf("step %d at +%v: Wait %v, want %v", i, s.at, got, s.want)
					}
				}
			}
		})
	}
}

// TestLimiterIdle: a Limiter is idle once neither its failures nor its
// lockout count any more.
func TestLimiterIdle(t *testing.T) {
	t0 := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		name  string
		fails []time.Duration // Failed at these offsets
		ok    bool            // then Succeeded
		at    time.Duration
		want  bool
	}{
		{"new", nil, false, 0, true},
		{"a failure within the window", []time.Duration{0}, false, Window - time.Second, false},
		{"a failure the window ago", []time.Duration{0}, false, Window, true},
		{"the clock set back behind a failure", []time.Duration{time.Hour}, false, 0, false},
		{"locked out", []time.Duration{0, 0, 0, 0, 0}, false, FirstLockout, false},
		{"a lockout that may still double", []time.Duration{0, 0, 0, 0, 0}, false, FirstLockout + MaxLockout - time.Second, false},
		{"a lockout MaxLockout over", []time.Duration{0, 0, 0, 0, 0}, false, FirstLockout + MaxLockout, true},
		{"reset by a success", []time.Duration{0, 0, 0, 0, 0}, true, time.Second, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			var l Limiter
			for _, f := range c.fails {
				l.Failed(t0.Add(f))
			}
			if c.ok {
				l.Succeeded()
			}
			if got := l.Idle(t0.Add(c.at)); got != c.want {
				t.Fatalf("Idle at +%v = %v, want %v", c.at, got, c.want)
			}
		})
	}
}
