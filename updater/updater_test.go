package updater

import (
	"strings"
	"testing"
	"time"
)

func mustLoc(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

// runs lists a schedule's runs from start for days days, as a runner that
// asks Next after each run does.
func runs(s Schedule, start time.Time, days int) []time.Time {
	var out []time.Time
	end := start.AddDate(0, 0, days)
	for t := s.Next(start); t.Before(end); t = s.Next(t) {
		out = append(out, t)
	}
	return out
}

// In two zones, across both DST changes of a year, a daily schedule at
// every minute of the night runs exactly once on every calendar day.
func TestScheduleAcrossDST(t *testing.T) {
	for _, zone := range []string{"Europe/Berlin", "America/New_York"} {
		loc := mustLoc(t, zone)
		for _, change := range []time.Time{time.Date(2026, 3, 1, 0, 0, 0, 0, loc), time.Date(2026, 10, 20, 0, 0, 0, 0, loc)} {
			for minute := 0; minute < 6*60; minute += 15 {
				s := Schedule{Every: Daily, Minute: minute, Loc: loc}
				got := runs(s, change.Add(-time.Second), 40)
				seen := map[string]int{}
				for _, r := range got {
					seen[r.In(loc).Format("2006-01-02")]++
				}
				if len(got) != 40 || len(seen) != 40 {
					t.Fatalf("%s from %s at %02d:%02d: %d runs on %d days, want one a day", zone, change.Format("Jan"), minute/60, minute%60, len(got), len(seen))
				}
			}
		}
	}
}

func TestScheduleWeeklyAndDefault(t *testing.T) {
	loc := mustLoc(t, "Europe/Berlin")
	s, err := ParseSchedule([]string{"weekly", "Tue", "03:30"})
	if err != nil || s.String() != "weekly tue 03:30" {
		t.Fatalf("parse: %+v %v", s, err)
	}
	s.Loc = loc
	got := runs(s, time.Date(2026, 3, 1, 0, 0, 0, 0, loc), 63)
	if len(got) != 9 {
		t.Fatalf("%d weekly runs in 9 weeks", len(got))
	}
	for _, r := range got {
		if r := r.In(loc); r.Weekday() != time.Tuesday || r.Hour() != 3 || r.Minute() != 30 {
			t.Errorf("weekly run at %s", r)
		}
	}
	hours := map[int]bool{}
	for i := range 300 {
		d := DefaultSchedule(strings.Repeat("x", i%7) + string(rune('a'+i%26)) + string(rune('0'+i%10)))
		if d.Minute < 3*60 || d.Minute >= 5*60 || d.Every != Daily || d.Validate() != nil {
			t.Fatalf("default %+v outside 03:00–04:59", d)
		}
		hours[d.Minute/60] = true
		if d != DefaultSchedule(strings.Repeat("x", i%7)+string(rune('a'+i%26))+string(rune('0'+i%10))) {
			t.Fatal("the default is not stable")
		}
	}
	if len(hours) != 2 {
		t.Errorf("defaults fall in hours %v", hours)
	}
	for _, bad := range [][]string{nil, {"hourly", "03:00"}, {"daily"}, {"daily", "24:00"}, {"daily", "3:5"}, {"weekly", "funday", "03:00"}, {"weekly", "mon"}} {
		if _, err := ParseSchedule(bad); err == nil || !strings.Contains(err.Error(), "use `daily HH:MM`") {
			t.Errorf("ParseSchedule(%q): %v", bad, err)
		}
	}
}

// A pause ends by itself after at most 30 days from when it began, however
// often it is asked for again.
func TestPauseNeverPastThirtyDays(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	var never time.Time
	p, err := Pause{}.Extend(t0, 10*24*time.Hour, never)
	if err != nil || !p.Active(t0) || !p.Until.Equal(t0.Add(10*24*time.Hour)) {
		t.Fatalf("first pause: %+v %v", p, err)
	}
	for day := 1; day < 40; day++ {
		now := t0.Add(time.Duration(day) * 24 * time.Hour)
		next, err := p.Extend(now, 0, never)
		if day < 30 && err != nil {
			t.Fatalf("day %d: %v", day, err)
		}
		if day >= 30 && (err == nil || next.Active(now)) {
			t.Fatalf("day %d: paused again without a check in between: %+v %v", day, next, err)
		}
		p = next
		if p.Until.After(t0.Add(MaxPause)) {
			t.Fatalf("day %d: paused until %s, past 30 days from %s", day, p.Until, t0)
		}
	}
	if _, err := (Pause{}).Extend(t0, -time.Hour, never); err == nil {
		t.Error("a negative pause was accepted")
	}
	// After it ended and a check ran, a new pause may begin.
	later := t0.Add(31 * 24 * time.Hour)
	q, _ := Pause{Since: t0, Until: t0.Add(MaxPause)}.Extend(later, time.Hour, t0.Add(MaxPause+time.Minute))
	if !q.Since.Equal(later) || !q.Active(later) {
		t.Errorf("a new pause after the first ended: %+v", q)
	}
}
