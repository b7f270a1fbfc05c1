package reporter

import (
	"fmt"
	"testing"
	"time"
)

func TestDailyMinute(t *testing.T) {
	seen := map[int]bool{}
	for i := range 200 {
		m := DailyMinute(fmt.Sprintf("sys-%d", i))
		if m < 4*60 || m >= 24*60 {
			t.Fatalf("minute %d outside 04:00–23:59", m)
		}
		if m != DailyMinute(fmt.Sprintf("sys-%d", i)) {
			t.Fatal("not stable")
		}
		seen[m/60] = true
	}
	if len(seen) < 15 {
		t.Fatalf("200 systems fall in only %d hours", len(seen))
	}
	// In a zone with daylight saving time the report stays at its local
	// time of day across the change.
	london, err := time.LoadLocation("Europe/London")
	if err != nil {
		t.Fatal(err)
	}
	s, _, err := dailySchedule("sys-1")
	if err != nil {
		t.Fatal(err)
	}
	m := DailyMinute("sys-1")
	at := time.Date(2024, 3, 30, 0, 0, 0, 0, london) // the night before spring-forward
	for range 3 {
		at = s.Next(at)
		if at.Hour()*60+at.Minute() != m {
			t.Fatalf("%v is not minute %d", at, m)
		}
	}
}
