package updater

import (
	"fmt"
	"time"
)

// MaxPause is the longest updates can be paused: from when a pause began,
// however often it is asked for again. Updates can never be turned off.
const MaxPause = 30 * 24 * time.Hour

// Pause is a pause of the updates; the zero value is none.
type Pause struct {
	Since time.Time `json:"since,omitzero"` // when the pause began
	Until time.Time `json:"until,omitzero"` // when it ends by itself
}

// Active tells whether the pause holds at now.
func (p Pause) Active(now time.Time) bool {
	return !p.Until.IsZero() && now.Before(p.Until)
}

// Extend is the pause after asking at now for one of d (0: the longest):
// an active pause keeps its Since, and no request takes Until past Since +
// MaxPause. A pause that has ended can be followed by a new one only after
// a scheduled update ran (lastRun after its end), so that pausing again
// and again cannot turn updates off. d must be positive or zero.
func (p Pause) Extend(now time.Time, d time.Duration, lastRun time.Time) (Pause, error) {
	if d < 0 {
		return p, fmt.Errorf("a pause of %s is not possible; ask for up to %d days", d, int(MaxPause/(24*time.Hour)))
	}
	if !p.Until.IsZero() && !p.Active(now) && !lastRun.After(p.Until) {
		return p, fmt.Errorf("the last pause ended at %s; another can begin once a scheduled update has run", p.Until.Format(time.RFC3339))
	}
	if d == 0 || d > MaxPause {
		d = MaxPause
	}
	if !p.Active(now) {
		p = Pause{Since: now}
	}
	until := now.Add(d)
	if limit := p.Since.Add(MaxPause); until.After(limit) {
		until = limit
	}
	if until.After(p.Until) {
		p.Until = until
	}
	return p, nil
}
