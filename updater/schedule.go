// Package updater is the daemon's self-update library: the schedule of
// update checks, the pause rules, the release manifest and the choice of
// its artifact, the resumable download and its signature and checksum
// checks, the atomic swap of the binary with its rollback, the update
// directory (Dir) that keeps the self-updated binaries in the state
// directory, and the Launcher with which `cld run` starts: the package's
// binary runs a newer verified self-update, trying a new one first and
// rolling back one that fails. It imports nothing of the daemon's core;
// the agent's update subsystem (agent/updates) runs the schedule and the
// apply.
package updater

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
)

// Schedule is a robfig/cron schedule (the daemon's other daily job, the
// inventory report, is one too).
var _ cron.Schedule = Schedule{}

// Every is how often a schedule runs.
type Every string

// The schedules' frequencies.
const (
	Daily  Every = "daily"
	Weekly Every = "weekly"
)

// Schedule is when updates are checked and applied: every day, or every
// week on Weekday, at Minute past midnight in the host's time zone. It is
// a robfig/cron Schedule (Next), computed on the calendar so that a day's
// run is never skipped when daylight saving time jumps over its time (it
// runs at the first minute that exists after it) and never doubled when the
// time occurs twice.
type Schedule struct {
	Every   Every          `json:"every"`
	Weekday time.Weekday   `json:"weekday,omitempty"` // with Weekly
	Minute  int            `json:"minute"`            // of the day, 0…1439
	Loc     *time.Location `json:"-"`                 // the host's zone; time.Local when nil
}

// The default window: 03:00–04:59, after the night's DST changes (which
// happen between 01:00 and 03:00 in the zones that have them) and before
// the working day.
const (
	defaultFrom = 3 * 60
	defaultSpan = 2 * 60
)

// DefaultSchedule is daily at a minute of the night window derived from the
// system ID, so that a fleet does not update at once.
func DefaultSchedule(systemID string) Schedule {
	h := sha256.Sum256([]byte("cld-update-daily/" + systemID))
	return Schedule{Every: Daily, Minute: defaultFrom + int(binary.BigEndian.Uint32(h[:4])%defaultSpan)}
}

// ParseSchedule reads `daily HH:MM` or `weekly DAY HH:MM` (DAY a weekday's
// name or its first three letters), with errors a person can act on.
func ParseSchedule(words []string) (Schedule, error) {
	usage := "use `daily HH:MM` or `weekly DAY HH:MM`, e.g. `weekly tue 03:30`"
	if len(words) == 0 {
		return Schedule{}, fmt.Errorf("no schedule given; %s", usage)
	}
	var s Schedule
	var clock string
	switch strings.ToLower(words[0]) {
	case string(Daily):
		if len(words) != 2 {
			return Schedule{}, fmt.Errorf("a daily schedule takes a time of day; %s", usage)
		}
		s.Every, clock = Daily, words[1]
	case string(Weekly):
		if len(words) != 3 {
			return Schedule{}, fmt.Errorf("a weekly schedule takes a day and a time of day; %s", usage)
		}
		d, err := parseWeekday(words[1])
		if err != nil {
			return Schedule{}, fmt.Errorf("%v; %s", err, usage)
		}
		s.Every, s.Weekday, clock = Weekly, d, words[2]
	default:
		return Schedule{}, fmt.Errorf("%q is not daily or weekly; %s", words[0], usage)
	}
	m, err := parseClock(clock)
	if err != nil {
		return Schedule{}, fmt.Errorf("%v; %s", err, usage)
	}
	s.Minute = m
	return s, nil
}

func parseWeekday(w string) (time.Weekday, error) {
	w = strings.ToLower(w)
	for d := time.Sunday; d <= time.Saturday; d++ {
		name := strings.ToLower(d.String())
		if w == name || (len(w) == 3 && strings.HasPrefix(name, w)) {
			return d, nil
		}
	}
	return 0, fmt.Errorf("%q is not a day of the week", w)
}

func parseClock(c string) (int, error) {
	hh, mm, ok := strings.Cut(c, ":")
	h, err1 := strconv.Atoi(hh)
	m, err2 := strconv.Atoi(mm)
	if !ok || err1 != nil || err2 != nil || len(mm) != 2 || h < 0 || h > 23 || m < 0 || m > 59 {
		return 0, fmt.Errorf("%q is not a time of day HH:MM (00:00–23:59)", c)
	}
	return h*60 + m, nil
}

// String is the schedule as ParseSchedule reads it.
func (s Schedule) String() string {
	clock := fmt.Sprintf("%02d:%02d", s.Minute/60, s.Minute%60)
	if s.Every == Weekly {
		return fmt.Sprintf("weekly %s %s", strings.ToLower(s.Weekday.String()[:3]), clock)
	}
	return "daily " + clock
}

// Next is the first run after t: on the first day (in the schedule's zone)
// whose run lies after t. A time that does not exist that day (DST jumped
// over it) is taken as Go's time.Date resolves it, the same wall time in the
// zone's offset from before the jump, which lies just after the gap; a day
// runs once even when its time occurs twice, since the next run is always
// looked for after the last one.
func (s Schedule) Next(t time.Time) time.Time {
	loc := s.Loc
	if loc == nil {
		loc = time.Local
	}
	a := t.In(loc)
	y, m, d := a.Date()
	for i := 0; i <= 8; i++ {
		day := time.Date(y, m, d+i, 12, 0, 0, 0, loc) // noon: clear of any DST change
		if s.Every == Weekly && day.Weekday() != s.Weekday {
			continue
		}
		run := time.Date(day.Year(), day.Month(), day.Day(), s.Minute/60, s.Minute%60, 0, 0, loc)
		if run.After(t) {
			return run
		}
	}
	return time.Time{} // unreachable for a valid schedule
}

// Validate checks a schedule read from a file.
func (s Schedule) Validate() error {
	if s.Every != Daily && s.Every != Weekly {
		return fmt.Errorf("update schedule: %q is not daily or weekly", s.Every)
	}
	if s.Minute < 0 || s.Minute >= 24*60 || s.Weekday < time.Sunday || s.Weekday > time.Saturday {
		return fmt.Errorf("update schedule: minute %d or weekday %d out of range", s.Minute, s.Weekday)
	}
	return nil
}
