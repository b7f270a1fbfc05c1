package cloud

import (
	"context"
	"fmt"
	"math"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Limits of the password checks (the same rules as the daemon's
// agent/lockout, which the cloud may not import).
const (
	// maxUserFailures wrong passwords for one e-mail within failureWindow
	// lock the e-mail out.
	maxUserFailures = 5
	// maxClientFailures wrong passwords from one client (its IP address,
	// an IPv6 address's /64), over all e-mails, lock the client out.
	maxClientFailures = 10
	failureWindow     = time.Minute
	// A lockout is firstLockout, doubling with each further one to
	// maxLockout; a right password resets the e-mail's.
	firstLockout = time.Minute
	maxLockout   = 15 * time.Minute
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

// failLimiter counts the wrong passwords of one e-mail or client (times
// are the caller's; mu of signInThrottle held).
type failLimiter struct {
	allowed  int
	failures []time.Time
	until    time.Time
	lockout  time.Duration
}

func (l *failLimiter) wait(now time.Time) time.Duration {
	if now.Before(l.until) {
		return l.until.Sub(now)
	}
	return 0
}

func (l *failLimiter) failed(now time.Time) {
	keep := l.failures[:0]
	for _, t := range l.failures {
		if now.Sub(t) < failureWindow && !t.After(now) {
			keep = append(keep, t)
		}
	}
	l.failures = append(keep, now)
	if len(l.failures) >= l.allowed {
		l.lockout = min(max(2*l.lockout, firstLockout), maxLockout)
		l.until = now.Add(l.lockout)
		l.failures = l.failures[:0]
	}
}

// idle: nothing of it counts any more at now (it may be dropped).
func (l *failLimiter) idle(now time.Time) bool {
	return !now.Before(l.until.Add(maxLockout)) && (len(l.failures) == 0 || now.Sub(l.failures[len(l.failures)-1]) >= failureWindow)
}

// signInThrottle limits the password checks of a Server; the zero value
// is ready.
type signInThrottle struct {
	mu      sync.Mutex
	users   map[string]*failLimiter // by lower-cased e-mail
	clients map[string]*failLimiter // by throttleClientKey
	checks  chan struct{}
	waiting atomic.Int32
	// runs counts the password checks run (bcrypt comparisons).
	runs atomic.Int64
	// after is the slot wait's timer (time.After; tests replace it).
	after func(time.Duration) <-chan time.Time
}

func limiterIn(m *map[string]*failLimiter, key string, allowed int, now time.Time) *failLimiter {
	if *m == nil {
		*m = map[string]*failLimiter{}
	}
	l, ok := (*m)[key]
	if !ok {
		if len(*m) >= maxThrottled {
			for k, x := range *m {
				if x.idle(now) {
					delete(*m, k)
				}
			}
			if len(*m) >= maxThrottled {
				clear(*m)
			}
		}
		l = &failLimiter{allowed: allowed}
		(*m)[key] = l
	}
	return l
}

// admit decides whether a password check for email from client may run
// at now.
func (t *signInThrottle) admit(now time.Time, client, email string) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if client != "" {
		if w := limiterIn(&t.clients, client, maxClientFailures, now).wait(now); w > 0 {
			return &rateLimitError{w, "Too many wrong passwords from this address; try again in %d s."}
		}
	}
	if w := limiterIn(&t.users, strings.ToLower(email), maxUserFailures, now).wait(now); w > 0 {
		// A client that keeps trying a locked-out e-mail is guessing: it
		// counts against the client.
		if client != "" {
			limiterIn(&t.clients, client, maxClientFailures, now).failed(now)
		}
		return &rateLimitError{w, "Too many wrong passwords for this user; try again in %d s."}
	}
	return nil
}

// result records a checked password.
func (t *signInThrottle) result(now time.Time, client, email string, right bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	u := limiterIn(&t.users, strings.ToLower(email), maxUserFailures, now)
	if right {
		u.failures, u.until, u.lockout = u.failures[:0], time.Time{}, 0
		return
	}
	u.failed(now)
	if client != "" {
		limiterIn(&t.clients, client, maxClientFailures, now).failed(now)
	}
}

// slot waits up to slotWait for one of the maxChecks slots and returns
// its release; with none in time, or maxWaiting others waiting, the
// check is refused.
func (t *signInThrottle) slot(ctx context.Context) (func(), error) {
	t.mu.Lock()
	if t.checks == nil {
		t.checks = make(chan struct{}, maxChecks)
	}
	checks, after := t.checks, t.after
	t.mu.Unlock()
	release := func() { <-checks }
	select {
	case checks <- struct{}{}:
		return release, nil
	default:
	}
	busy := &rateLimitError{time.Second, "Too many sign-ins are being checked at once; try again in %d s."}
	if t.waiting.Add(1) > maxWaiting {
		t.waiting.Add(-1)
		return nil, busy
	}
	defer t.waiting.Add(-1)
	if after == nil {
		after = time.After
	}
	select {
	case checks <- struct{}{}:
		return release, nil
	case <-after(slotWait):
		return nil, busy
	case <-ctx.Done():
		return nil, busy
	}
}

// throttleClientKey is what a client's failures are counted under: the IP
// address of addr (host:port), an IPv6 one's /64; addr's host when it is
// no IP address.
func throttleClientKey(addr string) string {
	if addr == "" {
		return ""
	}
	host := addr
	if h, _, err := net.SplitHostPort(addr); err == nil {
		host = h
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	ip = ip.Unmap().WithZone("")
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		return p.String()
	}
	return ip.String()
}
