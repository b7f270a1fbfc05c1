package accounts

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/cloudlink/cld/agent/api"
	"github.com/cloudlink/cld/agent/health"
)

// throttleRig is a Store on an injected clock whose bcrypt checks are
// counted.
type throttleRig struct {
	d      *Store
	now    time.Time
	mu     sync.Mutex
	checks int
	admin  string
}

func newThrottleRig(t *testing.T) *throttleRig {
	t.Helper()
	dir := t.TempDir()
	r := &throttleRig{now: time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)}
	d, err := Open(dir, slog.New(slog.DiscardHandler), func() time.Time { r.mu.Lock(); defer r.mu.Unlock(); return r.now }, bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Set(context.Background(), api.DashboardUser{Username: "second", Password: "second-password"}); err != nil {
		t.Fatal(err)
	}
	pw, err := os.ReadFile(filepath.Join(dir, InitialPasswordFile))
	if err != nil {
		t.Fatal(err)
	}
	r.admin = strings.TrimSpace(string(pw))
	compare := d.compare
	d.compare = func(h, p []byte) error {
		r.mu.Lock()
		r.checks++
		r.mu.Unlock()
		return compare(h, p)
	}
	r.d = d
	return r
}

func (r *throttleRig) advance(d time.Duration) { r.mu.Lock(); r.now = r.now.Add(d); r.mu.Unlock() }

func (r *throttleRig) login(user, pass, client string) (code string, retry int) {
	err := r.d.Login(context.Background(), api.DashboardLogin{Username: user, Password: pass, Client: client})
	if err == nil {
		return "ok", 0
	}
	var ae *api.Error
	if errors.As(err, &ae) {
		return ae.Code, ae.RetryAfter
	}
	return err.Error(), 0
}

// 500 wrong passwords in a row, then the right one: refused (rate
// limited, with the seconds to wait) until the backoff has passed, and
// only the first few wrong ones cost a bcrypt check. Per user name, and per
// client whatever the names it tries.
func TestLoginBackoffAfter500Wrong(t *testing.T) {
	t.Run("one user", func(t *testing.T) {
		r := newThrottleRig(t)
		for i := range 500 {
			if c, _ := r.login("admin", fmt.Sprintf("guess-%d", i), "192.0.2.7:4000"); c != api.CodeUnauthorized && c != api.CodeRateLimited {
				t.Fatalf("guess %d: %s", i, c)
			}
		}
		c, retry := r.login("admin", r.admin, "192.0.2.7:4000")
		if c != api.CodeRateLimited || retry <= 0 {
			t.Fatalf("the right password after 500 wrong ones: %s (retry after %d s), want rate_limited with a wait", c, retry)
		}
		if r.checks > 2*ClientAllowed {
			t.Fatalf("%d bcrypt checks for 500 wrong passwords", r.checks)
		}
		r.advance(time.Duration(retry)*time.Second - time.Second)
		if c, _ := r.login("admin", r.admin, "192.0.2.7:4000"); c != api.CodeRateLimited {
			t.Fatalf("the right password a second before the backoff ends: %s", c)
		}
		r.advance(time.Second)
		if c, _ := r.login("admin", r.admin, "192.0.2.7:4000"); c != "ok" {
			t.Fatalf("the right password after the backoff: %s", c)
		}
	})
	t.Run("one client, many names", func(t *testing.T) {
		r := newThrottleRig(t)
		for i := range 500 {
			user := fmt.Sprintf("user%d", i) // unknown names
			if i%2 == 1 {
				user = "second"
			}
			r.login(user, "guess", "198.51.100.9:5000")
			r.advance(100 * time.Millisecond) // 50 s in all
		}
		c, retry := r.login("admin", r.admin, "198.51.100.9:6000")
		if c != api.CodeRateLimited || retry <= 0 {
			t.Fatalf("admin's right password from the client that guessed 500 times: %s (retry after %d s), want rate_limited", c, retry)
		}
		if c, _ := r.login("admin", r.admin, "203.0.113.5:1"); c != "ok" {
			t.Fatalf("admin from another client: %s", c)
		}
		r.advance(time.Duration(retry) * time.Second)
		if c, _ := r.login("admin", r.admin, "198.51.100.9:6000"); c != "ok" {
			t.Fatalf("after the client's backoff: %s", c)
		}
	})
	t.Run("IPv6 /64", func(t *testing.T) {
		r := newThrottleRig(t)
		for i := range ClientAllowed {
			r.login(fmt.Sprintf("user%d", i%3)+"x", "guess", fmt.Sprintf("[2001:db8:1:2::%x]:443", i+1))
			r.login("second", fmt.Sprintf("guess-%d", i), fmt.Sprintf("[2001:db8:1:2::%x]:443", i+100))
		}
		if c, _ := r.login("admin", r.admin, "[2001:db8:1:2:ffff::1]:1"); c != api.CodeRateLimited {
			t.Fatalf("admin from the same /64: %s", c)
		}
		if c, _ := r.login("admin", r.admin, "[2001:db8:1:3::1]:1"); c != "ok" {
			t.Fatalf("admin from another /64: %s", c)
		}
	})
}

// No more than MaxChecks password checks run at once; MaxWaiting more wait
// for a slot, at most SlotWait (the injected timer), and the rest are
// refused at once: never a queue that grows without bound.
func TestLoginConcurrentChecksCapped(t *testing.T) {
	r := newThrottleRig(t)
	gate := make(chan struct{})
	started := make(chan struct{}, 64)
	var mu sync.Mutex
	running, most := 0, 0
	r.d.compare = func(h, p []byte) error {
		mu.Lock()
		running++
		most = max(most, running)
		mu.Unlock()
		started <- struct{}{}
		<-gate
		mu.Lock()
		running--
		mu.Unlock()
		return bcrypt.CompareHashAndPassword(h, p)
	}
	expire := make(chan time.Time)
	var waited sync.WaitGroup
	r.d.timer = func(d time.Duration) (<-chan time.Time, func() bool) {
		if d != SlotWait {
			t.Errorf("waits %v for a slot", d)
		}
		waited.Done()
		return expire, func() bool { return true }
	}
	waited.Add(MaxWaiting)
	const n = MaxChecks + MaxWaiting + 5
	type result struct {
		code  string
		retry int
	}
	results := make(chan result, n)
	for i := range n {
		go func() {
			c, retry := r.login("admin", "wrong", fmt.Sprintf("192.0.2.%d:1", i+1))
			results <- result{c, retry}
		}()
	}
	// The first two checks begin, and the ones beyond the waiting room are
	// refused at once (in either order: a refusal may come before a check
	// that holds its slot has begun).
	for begun, refused := 0, 0; begun < MaxChecks || refused < n-MaxChecks-MaxWaiting; {
		select {
		case <-started:
			if begun++; begun > MaxChecks {
				t.Fatal("a third check ran while two were running")
			}
		case res := <-results:
			if refused++; refused > n-MaxChecks-MaxWaiting {
				t.Fatalf("a sign-in answered before the first two checks had begun: %+v", res)
			}
			if res.code != api.CodeRateLimited || res.retry != 1 {
				t.Fatalf("beyond the cap: %+v, want rate_limited, retry after 1 s", res)
			}
		case <-time.After(10 * time.Second): // guards against a hang only
			t.Fatalf("%d password checks began, %d sign-ins were refused at once", begun, refused)
		}
	}
	waited.Wait() // MaxWaiting wait for a slot (their timers started)
	select {
	case <-started:
		t.Fatal("a third check ran while two were running")
	case res := <-results:
		t.Fatalf("a waiting sign-in answered before its wait ended: %+v", res)
	default:
	}
	close(expire) // their wait ends
	for range MaxWaiting {
		if res := <-results; res.code != api.CodeRateLimited || res.retry != 1 {
			t.Fatalf("after waiting for a slot: %+v, want rate_limited, retry after 1 s", res)
		}
	}
	close(gate)
	for range MaxChecks {
		if res := <-results; res.code != api.CodeUnauthorized {
			t.Fatalf("a checked wrong password: %+v", res)
		}
	}
	if most != MaxChecks {
		t.Fatalf("%d checks ran at once, want %d", most, MaxChecks)
	}
}

// More than BurstFailures refused sign-ins within a minute raise the
// warning auth_failures_burst, naming the clients (most refusals first);
// it is cleared once the minute holds no more (as the probe sees it when
// the warnings are read).
func TestBurstOfFailuresWarns(t *testing.T) {
	r := newThrottleRig(t)
	reg := health.New(func() time.Time { r.mu.Lock(); defer r.mu.Unlock(); return r.now })
	r.d.WatchBursts(reg)
	warned := func() (api.Warning, bool) {
		reg.Refresh()
		for _, w := range reg.List() {
			if w.Code == WarnBurst {
				return w, true
			}
		}
		return api.Warning{}, false
	}
	for i := range BurstFailures {
		client := "192.0.2.1:1000"
		if i%4 == 0 {
			client = "[2001:db8:5:6::9]:443"
		}
		r.login(fmt.Sprintf("user%d", i), "guess", client)
		r.advance(time.Second)
	}
	if w, ok := warned(); ok {
		t.Fatalf("warned after %d refusals: %+v", BurstFailures, w)
	}
	r.login("admin", "guess", "198.51.100.3:1")
	w, ok := warned()
	if !ok {
		t.Fatalf("no warning after %d refusals in a minute: %+v", BurstFailures+1, reg.List())
	}
	if w.Severity != api.SeverityWarning || !strings.Contains(w.Text, "21 sign-ins") ||
		!strings.Contains(w.Text, "192.0.2.1 (15), 2001:db8:5:6::/64 (5), 198.51.100.3 (1)") {
		t.Fatalf("warning %+v, want the count and the clients with the most refusals first", w)
	}
	// The burst passes with the minute.
	r.advance(30 * time.Second)
	if _, ok := warned(); !ok {
		t.Fatal("cleared while the minute still holds the burst")
	}
	r.advance(BurstWindow)
	if w, ok := warned(); ok {
		t.Fatalf("still warned a minute after the burst: %+v", w)
	}
}
