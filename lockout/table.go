package lockout

import (
	"sync"
	"time"
)

// Table holds a Limiter for each key (a user name, a client's ClientKey),
// at most size of them, so that a flood of keys cannot take the memory: a
// new key in a full table first drops the idle Limiters, then, when none
// is, all of them. It is safe for concurrent use.
type Table struct {
	size, allowed int

	mu sync.Mutex
	m  map[string]*Limiter
}

// NewTable is a table of at most size Limiters (at least 1), each with
// Allowed set to allowed (0: MaxFailures).
func NewTable(size, allowed int) *Table {
	return &Table{size: max(size, 1), allowed: allowed, m: map[string]*Limiter{}}
}

// Get is the Limiter of key, made when it has none (at now, for the
// pruning of a full table).
func (t *Table) Get(key string, now time.Time) *Limiter {
	t.mu.Lock()
	defer t.mu.Unlock()
	if l, ok := t.m[key]; ok {
		return l
	}
	if len(t.m) >= t.size {
		for k, l := range t.m {
			if l.Idle(now) {
				delete(t.m, k)
			}
		}
		if len(t.m) >= t.size {
			clear(t.m)
		}
	}
	l := &Limiter{Allowed: t.allowed}
	t.m[key] = l
	return l
}

// Len is the number of keys held.
func (t *Table) Len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.m)
}
