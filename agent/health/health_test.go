package health

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"go.uber.org/goleak"

	"github.com/cloudlink/cld/agent/api"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var drift = Def{Code: "clock_drift", Severity: api.SeverityWarning, Title: "System time incorrect", Remedy: "Configure NTP."}

func TestSinceStableWhileSet(t *testing.T) {
	fc := clockwork.NewFakeClockAt(time.Date(2026, 1, 2, 3, 4, 5, 600, time.UTC))
	r := New(fc.Now)
	var changes atomic.Int32
	r.OnChange(func() { changes.Add(1) })
	r.Set(drift.With("Clock drift detected: 12s"))
	w, ok := r.Get("clock_drift")
	if !ok || w.Since == nil || !w.Since.Equal(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)) || w.Title != drift.Title || w.Remedy != drift.Remedy {
		t.Fatalf("first set: %+v", w)
	}
	first := *w.Since
	fc.Advance(time.Minute)
	up := drift.With("Clock drift detected: 44s")
	up.Severity = api.SeverityError
	r.Set(up)
	w, _ = r.Get("clock_drift")
	if !w.Since.Equal(first) || w.Text != "Clock drift detected: 44s" || w.Severity != api.SeverityError {
		t.Fatalf("changed text must keep since: %+v", w)
	}
	r.Set(up) // same content: no change event
	if got := changes.Load(); got != 2 {
		t.Errorf("change events = %d, want 2", got)
	}
	r.Clear("clock_drift", "unknown")
	if r.Has("clock_drift") || len(r.List()) != 0 {
		t.Fatal("not cleared")
	}
	r.Clear("clock_drift") // nothing to clear: no event
	if got := changes.Load(); got != 3 {
		t.Errorf("change events = %d, want 3", got)
	}
	fc.Advance(time.Minute)
	r.Update(true, drift.With("again"))
	w, _ = r.Get("clock_drift")
	if !w.Since.Equal(first.Add(2 * time.Minute)) {
		t.Errorf("a new set after clear starts a new since: %v", w.Since)
	}
	r.Update(false, drift.With(""))
	if r.Has("clock_drift") {
		t.Error("Update(false) did not clear")
	}
}

func TestListOrderAndCopies(t *testing.T) {
	r := New(nil)
	r.Set(api.Warning{Code: "b", Text: "b"}) // severity defaults to warning
	r.Set(api.Warning{Code: "a", Severity: api.SeverityInfo, Text: "a"})
	r.Set(api.Warning{Code: "z", Severity: api.SeverityError, Text: "z"})
	r.Set(api.Warning{Code: "c", Severity: api.SeverityWarning, Text: "c"})
	l := r.List()
	var codes string
	for _, w := range l {
		codes += w.Code
	}
	if codes != "zbca" {
		t.Errorf("order %q, want zbca", codes)
	}
	*l[0].Since = time.Time{} // callers get copies
	if w, _ := r.Get("z"); w.Since.IsZero() {
		t.Error("List leaked the registry's Since")
	}
	given := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	r.Set(api.Warning{Code: "g", Text: "g", Since: &given})
	if w, _ := r.Get("g"); !w.Since.Equal(given) {
		t.Errorf("a given since is kept: %v", w.Since)
	}
}

func TestConcurrent(t *testing.T) {
	r := New(nil)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for j := range 200 {
				if (i+j)%2 == 0 {
					r.Set(drift.With("x"))
				} else {
					r.Clear(drift.Code)
				}
				_ = r.List()
			}
		})
	}
	wg.Wait()
}
