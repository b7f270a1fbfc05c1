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
