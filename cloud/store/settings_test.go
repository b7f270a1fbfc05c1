package store

import (
	"context"
	"testing"
	"time"
)

func TestClockOffset(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	ctx := context.Background()
	d, at, err := s.ClockOffset(ctx)
	if err != nil || d != 0 || !at.IsZero() {
		t.Fatalf("never set: %v %v %v", d, at, err)
	}
	for _, want := range []time.Duration{44 * time.Second, -50*time.Second - time.Millisecond, 0} {
		if err := s.SetClockOffset(ctx, want, t0); err != nil {
			t.Fatal(err)
		}
		d, at, err := s.ClockOffset(ctx)
		if err != nil || d != want || !at.Equal(t0) {
			t.Fatalf("after setting %v: %v %v %v", want, d, at, err)
		}
	}
	// Another process sees it.
	if err := s.SetClockOffset(ctx, 7*time.Second, t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	s2 := open(t, dir)
	if d, at, err := s2.ClockOffset(ctx); err != nil || d != 7*time.Second || !at.Equal(t0.Add(time.Minute)) {
		t.Fatalf("second handle: %v %v %v", d, at, err)
	}
}
