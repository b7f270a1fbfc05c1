// Package lockout limits the guessing of credentials, for the daemon and
// the reference cloud alike (it imports nothing of the project): after
// MaxFailures wrong attempts within Window (or a Limiter's Allowed),
// credentials are not checked for a lockout that doubles with each further
// lockout, up to MaxLockout, and a right one resets it. A Table keeps a
// bounded set of Limiters by key (a user name, a client's ClientKey), and a
// Gate bounds the checks (bcrypt) that run at once and those that wait.
// The clock is the caller's: times are passed in, timers are injected.
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
// name, a client). The zero value is ready; it is safe for concurrent use.
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

// Failed records a wrong attempt. Failures older than Window no longer
// count, nor do those stamped after now (the clock was set back): they
// would otherwise count for as long as the jump.
func (l *Limiter) Failed(now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	keep := l.failures[:0]
	for _, t := range l.failures {
		if now.Sub(t) < Window && !t.After(now) {
			keep = append(keep, t)
		}
	}
	l.failures = append(keep, now)
	allowed := l.Allowed
	if allowed <= 0 {
		allowed = MaxFailures
	}
	if len(l.failures) >= allowed {
		l.lockout = min(max(2*l.lockout, FirstLockout), MaxLockout)
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

// Idle says that nothing of l counts any more at now, so that it may be
// dropped: its last failure is older than Window and its last lockout
// ended MaxLockout ago or more (a further lockout would have doubled it).
func (l *Limiter) Idle(now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Before(l.until.Add(MaxLockout)) {
		return false
	}
	return len(l.failures) == 0 || now.Sub(l.failures[len(l.failures)-1]) >= Window
}
