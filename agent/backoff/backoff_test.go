package backoff

import (
	"testing"
	"time"
)

func TestBackoffGrowsAndCaps(t *testing.T) {
	b := New(time.Second, 30*time.Second)
	prevMax := time.Duration(0)
	for i := 0; i < 20; i++ {
		d := b.Next()
		if d <= 0 || d > 30*time.Second {
			t.Fatalf("attempt %d: delay %v out of (0, 30s]", i, d)
		}
		// Without jitter the i-th delay is min(2^i s, 30s); with ±20% it stays within.
		nominal := time.Second << i
		if i > 5 || nominal > 30*time.Second {
			nominal = 30 * time.Second
		}
		if lo := time.Duration(float64(nominal) * 0.79); d < lo {
			t.Errorf("attempt %d: delay %v below %v", i, d, lo)
		}
		if d > prevMax {
			prevMax = d
		}
	}
	b.Reset()
	if d := b.Next(); d > 1200*time.Millisecond {
		t.Errorf("after Reset: %v, want about 1s", d)
	}
	if b.Attempts() != 1 {
		t.Errorf("Attempts = %d", b.Attempts())
	}
}
