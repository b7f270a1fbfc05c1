// Package lockout limits guessing of credentials: after MaxFailures wrong
// attempts within Window, credentials are not checked for a lockout that
// doubles with each further lockout, up to MaxLockout; a right one resets
// it. The clock is the caller's (times are passed in).
package lockout

import (
	"sync"
	"time"
)

// Limits.
const (
	MaxFailures  = 5
	Window       = time.Minute
	FirstLockout = time.Minute
	MaxLockout   = 15 * time.Minute
)

// Limiter counts wrong attempts for one thing guarded (an API, a user
// name). The zero value is ready.
type Limiter struct {
	// Allowed is the number of wrong attempts within Window that start a
	// lockout (0: MaxFailures); set it before first use.
	Allowed int

	mu       sync.Mutex
	failures []time.Time
	until    time.Time
	lockout  time.Duration
}

// Wait is how long credentials are not checked (0: they are).
func (l *Limiter) Wait(now time.Time) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Before(l.until) {
		return l.until.Sub(now)
	}
	return 0
}

// Failed records a wrong attempt.
func (l *Limiter) Failed(now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	keep := l.failures[:0]
	for _, t := range l.failures {
		if now.Sub(t) < Window {
			keep = append(keep, t)
		}
	}
	l.failures = append(keep, now)
	allowed := l.Allowed
	if allowed <= 0 {
		allowed = MaxFailures
	}
	if len(l.failures) >= allowed {
		switch {
		case l.lockout == 0:
			l.lockout = FirstLockout
		case l.lockout < MaxLockout:
			l.lockout = min(2*l.lockout, MaxLockout)
		}
		l.until = now.Add(l.lockout)
		l.failures = l.failures[:0]
	}
}

// Succeeded resets the count and the lockout.
func (l *Limiter) Succeeded() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.failures, l.lockout, l.until = l.failures[:0], 0, time.Time{}
}
