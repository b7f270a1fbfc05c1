package lockout

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// Timer starts a timer of d and returns its channel and its stop
// (time.Timer's C and Stop); tests pass their own.
type Timer func(d time.Duration) (<-chan time.Time, func() bool)

// NewTimer is the Timer of package time.
func NewTimer(d time.Duration) (<-chan time.Time, func() bool) {
	t := time.NewTimer(d)
	return t.C, t.Stop
}

// Gate bounds the credential checks (bcrypt: tens of milliseconds of a
// core each) that run at once, and those that wait for one: no queue grows
// without bound. It is safe for concurrent use.
type Gate struct {
	slots      chan struct{}
	maxWaiting int32
	waiting    atomic.Int32
}

// NewGate lets n checks run at once (at least 1) and maxWaiting more wait.
func NewGate(n, maxWaiting int) *Gate {
	return &Gate{slots: make(chan struct{}, max(n, 1)), maxWaiting: int32(maxWaiting)}
}

// Enter takes a slot for a check and returns its release (which may be
// called more than once). With none free, it waits for one until the
// timer of wait (started by timer; nil: NewTimer) fires, with at most
// maxWaiting others; ok is false when none came in time, when maxWaiting
// others wait already, or when ctx is done: the check is refused.
func (g *Gate) Enter(ctx context.Context, wait time.Duration, timer Timer) (release func(), ok bool) {
	if ctx.Err() != nil {
		return nil, false
	}
	select {
	case g.slots <- struct{}{}:
		return g.release(), true
	default:
	}
	if g.waiting.Add(1) > g.maxWaiting {
		g.waiting.Add(-1)
		return nil, false
	}
	defer g.waiting.Add(-1)
	if timer == nil {
		timer = NewTimer
	}
	expired, stop := timer(wait)
	defer stop()
	select {
	case g.slots <- struct{}{}:
		return g.release(), true
	case <-expired:
		return nil, false
	case <-ctx.Done():
		return nil, false
	}
}

func (g *Gate) release() func() {
	var once sync.Once
	return func() { once.Do(func() { <-g.slots }) }
}

// Waiting is the number of checks waiting for a slot.
func (g *Gate) Waiting() int { return int(g.waiting.Load()) }
