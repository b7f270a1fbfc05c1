package cloud

import (
	"context"
	"fmt"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cloudlink/cld/lockout"
)

// Limits of the password checks (package lockout's rules, the daemon's
// too: a lockout is lockout.FirstLockout, doubling with each further one
// to lockout.MaxLockout; a right password resets the e-mail's).
const (
	// maxUserFailures wrong passwords for one e-mail within lockout.Window
	// lock the e-mail out.
	maxUserFailures = lockout.MaxFailures
	// maxClientFailures wrong passwords from one client (its IP address,
	// an IPv6 address's /64), over all e-mails, lock the client out.
	maxClientFailures = 10
	// maxChecks password checks (bcrypt) run at once; a sign-in waits
	// slotWait for one with at most maxWaiting others, else it is refused.
	maxChecks  = 2
	slotWait   = 500 * time.Millisecond
	maxWaiting = 8
	// maxThrottled bounds each table of counted e-mails and clients.
	maxThrottled = 10000
)

// errRateLimited is the code of a refused password check (429).
const errRateLimited = "rate_limited"

// rateLimitError refuses a password check for Wait.
type rateLimitError struct {
	Wait time.Duration
	Msg  string // one %d: the seconds
}

func (e *rateLimitError) seconds() int { return max(1, int(math.Ceil(e.Wait.Seconds()))) }

func (e *rateLimitError) Error() string { return fmt.Sprintf(e.Msg, e.seconds()) }

// signInThrottle limits the password checks of a Server; the zero value
// is ready.
type signInThrottle struct {
	// mu makes admit and result one step each, and guards the fields
	// made at first use and after.
	mu      sync.Mutex
	users   *lockout.Table // by lower-cased e-mail
	clients *lockout.Table // by lockout.ClientKey
	checks  *lockout.Gate
	// runs counts the password checks run (bcrypt comparisons).
	runs atomic.Int64
	// after is the slot wait's timer (nil: a time.Timer; tests replace it).
	after func(time.Duration) <-chan time.Time
}

// setupLocked makes the tables and the gate at first use (mu held).
func (t *signInThrottle) setupLocked() {
	if t.checks == nil {
		t.users = lockout.NewTable(maxThrottled, maxUserFailures)
		t.clients = lockout.NewTable(maxThrottled, maxClientFailures)
		t.checks = lockout.NewGate(maxChecks, maxWaiting)
	}
}

// admit decides whether a password check for email from client may run
// at now.
func (t *signInThrottle) admit(now time.Time, client, email string) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.setupLocked()
	var cl *lockout.Limiter
	if client != "" {
		cl = t.clients.Get(client, now)
		if w := cl.Wait(now); w > 0 {
			return &rateLimitError{w, "Too many wrong passwords from this address; try again in %d s."}
		}
	}
	if w := t.users.Get(strings.ToLower(email), now).Wait(now); w > 0 {
		// A client that keeps trying a locked-out e-mail is guessing: it
		// counts against the client.
		if cl != nil {
			cl.Failed(now)
		}
		return &rateLimitError{w, "Too many wrong passwords for this user; try again in %d s."}
	}
	return nil
}

// result records a checked password.
func (t *signInThrottle) result(now time.Time, client, email string, right bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.setupLocked()
	u := t.users.Get(strings.ToLower(email), now)
	if right {
		u.Succeeded()
		return
	}
	u.Failed(now)
	if client != "" {
		t.clients.Get(client, now).Failed(now)
	}
}

// slot waits up to slotWait for one of the maxChecks slots and returns
// its release; with none in time, or maxWaiting others waiting, or ctx
// done, the check is refused.
func (t *signInThrottle) slot(ctx context.Context) (func(), error) {
	t.mu.Lock()
	t.setupLocked()
	checks, after := t.checks, t.after
	t.mu.Unlock()
	var timer lockout.Timer // nil: lockout.NewTimer
	if after != nil {
		timer = func(d time.Duration) (<-chan time.Time, func() bool) { return after(d), func() bool { return false } }
	}
	release, ok := checks.Enter(ctx, slotWait, timer)
	if !ok {
		return nil, &rateLimitError{time.Second, "Too many sign-ins are being checked at once; try again in %d s."}
	}
	return release, nil
}
