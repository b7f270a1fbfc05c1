// Package backoff computes capped exponential retry delays with jitter, so
// that a fleet of daemons retrying after an outage does not do so in step.
package backoff

import (
	"math/rand/v2"
	"time"
)

// Backoff yields growing delays: Min, Min*Factor, … up to Max, each spread by
// ±Jitter (a fraction, e.g. 0.2). The zero value is not useful; use New.
type Backoff struct {
	Min, Max time.Duration
	Factor   float64
	Jitter   float64
	n        int
}

// New returns a Backoff from min to max, doubling, with 20% jitter.
func New(min, max time.Duration) *Backoff {
	return &Backoff{Min: min, Max: max, Factor: 2, Jitter: 0.2}
}

// Next returns the delay before the next attempt and advances the sequence.
// The result never exceeds Max.
func (b *Backoff) Next() time.Duration {
	d := float64(b.Min)
	for i := 0; i < b.n && d < float64(b.Max); i++ {
		d *= b.Factor
	}
	if d > float64(b.Max) {
		d = float64(b.Max)
	}
	b.n++
	if b.Jitter > 0 {
		d *= 1 - b.Jitter + 2*b.Jitter*rand.Float64()
	}
	if d > float64(b.Max) {
		d = float64(b.Max)
	}
	if d < 0 {
		d = 0
	}
	return time.Duration(d)
}

// Reset starts the sequence again from Min (after a success).
func (b *Backoff) Reset() { b.n = 0 }

// Attempts is the number of delays handed out since the last Reset.
func (b *Backoff) Attempts() int { return b.n }
