package health

import (
	"errors"
	"slices"
	"strings"
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

// Say fills the text's and the remedy's placeholders from name/value
// pairs; a placeholder without a value stays.
func TestSay(t *testing.T) {
	d := Def{Code: "c", Severity: api.SeverityWarning, Title: "T",
		Text:   "The file {path} was corrupt ({error}) and was moved to {to}.",
		Remedy: "Limit {limit}; {unknown} stays."}
	w := d.Say("path", "/var/lib/cld/x.json", "error", errors.New("bad JSON"), "to", "/var/lib/cld/x.json.corrupt-1", "limit", 60)
	if w.Code != "c" || w.Title != "T" || w.Severity != api.SeverityWarning ||
		w.Text != "The file /var/lib/cld/x.json was corrupt (bad JSON) and was moved to /var/lib/cld/x.json.corrupt-1." ||
		w.Remedy != "Limit 60; {unknown} stays." {
		t.Errorf("Say = %+v", w)
	}
	if w := d.With("an error's own message"); w.Text != "an error's own message" || w.Remedy != d.Remedy {
		t.Errorf("With = %+v", w)
	}
}

// Declare keeps every Def for Defs (by code), and refuses one without a
// code or a title.
func TestDeclare(t *testing.T) {
	b := Declare(Def{Code: "test_b", Title: "B"})
	a := Declare(Def{Code: "test_a", Title: "A", Text: "{x}"})
	var got []string
	for _, d := range Defs() {
		if strings.HasPrefix(d.Code, "test_") {
			got = append(got, d.Code)
		}
	}
	if a.Code != "test_a" || b.Title != "B" || !slices.Equal(got, []string{"test_a", "test_b"}) {
		t.Errorf("Defs = %v", got)
	}
	for _, d := range []Def{{Title: "no code"}, {Code: "no_title"}} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Declare(%+v) did not panic", d)
				}
			}()
			Declare(d)
		}()
	}
}
