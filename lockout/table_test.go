package lockout

import (
	"fmt"
	"sync"
	"testing"
	"time"
)

// TestTable: one Limiter per key with the table's Allowed; a full table
// drops its idle Limiters for a new key, and all of them when none is
// idle.
func TestTable(t *testing.T) {
	t0 := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	lockOut := func(l *Limiter, now time.Time) {
		for range 2 {
			l.Failed(now)
		}
	}
	for _, c := range []struct {
		name   string
		locked []string // of a, b, c: locked out at t0
		at     time.Duration
		kept   []string // still held after d was added at +at
		len    int
	}{
		{"idle ones dropped", []string{"b"}, time.Minute, []string{"b"}, 2},
		{"none idle: all dropped", []string{"a", "b", "c"}, time.Minute, nil, 1},
		{"all idle", []string{"a"}, FirstLockout + MaxLockout, nil, 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			tb := NewTable(3, 2)
			held := map[string]*Limiter{}
			for _, k := range []string{"a", "b", "c"} {
				held[k] = tb.Get(k, t0)
				if held[k].Allowed != 2 {
					t.Fatalf("Allowed %d, want the table's 2", held[k].Allowed)
				}
				if tb.Get(k, t0) != held[k] {
					t.Fatalf("a second Get of %s made another Limiter", k)
				}
			}
			for _, k := range c.locked {
				lockOut(held[k], t0)
			}
			now := t0.Add(c.at)
			if l := tb.Get("d", now); l.Wait(now) != 0 {
				t.Fatal("a new key is locked out")
			}
			if n := tb.Len(); n != c.len {
				t.Fatalf("%d keys held, want %d", n, c.len)
			}
			kept := map[string]bool{}
			for _, k := range c.kept {
				kept[k] = true
			}
			for _, k := range []string{"a", "b", "c"} {
				if same := tb.Get(k, now) == held[k]; same != kept[k] {
					t.Errorf("%s kept: %v, want %v", k, same, kept[k])
				}
			}
		})
	}
}

// TestTableConcurrent is for the race detector: Limiters got, failed,
// waited on and pruned from many goroutines.
func TestTableConcurrent(t *testing.T) {
	t0 := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	tb := NewTable(16, 0)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				now := t0.Add(time.Duration(i) * time.Second)
				l := tb.Get(fmt.Sprint(g, i%40), now)
				l.Failed(now)
				l.Wait(now)
				if i%7 == 0 {
					l.Succeeded()
				}
			}
		})
	}
	wg.Wait()
	if n := tb.Len(); n > 16 {
		t.Fatalf("%d keys held, want at most 16", n)
	}
}
