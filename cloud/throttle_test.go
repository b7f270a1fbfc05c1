package cloud

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/cloudlink/cld/cloud/cloudapi"
)

func passwordGrant(t testing.TB, ts *TestServer, email, password string) resp {
	t.Helper()
	return postForm(t, ts, cloudapi.PathToken, url.Values{"grant_type": {"password"}, "username": {email}, "password": {password},
		cloudapi.ParamAccount: {"100001"}, "scope": {cloudapi.ScopeRegister}})
}

func wantRateLimited(t testing.TB, r resp, retryAfter string, contains string) {
	t.Helper()
	if r.Status != http.StatusTooManyRequests || r.Header.Get("Retry-After") != retryAfter {
		t.Fatalf("status %d Retry-After %q, want 429 and %s; body:\n%s", r.Status, r.Header.Get("Retry-After"), retryAfter, r.Body)
	}
	if !strings.Contains(r.Body, contains) {
		t.Fatalf("the refusal lacks %q:\n%s", contains, r.Body)
	}
}

// TestPasswordThrottleUser: wrong passwords for one e-mail lock it out
// (no password is checked meanwhile, not even the right one), with a
// lockout that doubles; the time is the injected clock's.
func TestPasswordThrottleUser(t *testing.T) {
	clock := clockwork.NewFakeClockAt(time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC))
	ts := NewTestServer(t, WithClock(clock))
	for i := range maxUserFailures {
		if r := passwordGrant(t, ts, DemoAdminEmail, fmt.Sprint("wrong", i)); r.Status != http.StatusBadRequest {
			t.Fatalf("wrong password %d: %d %s", i, r.Status, r.Body)
		}
	}
	runs := ts.Server.throttle.runs.Load()
	wantRateLimited(t, passwordGrant(t, ts, DemoAdminEmail, "wrong"), "60", "Too many wrong passwords for this user")
	// Going on from this client locks the client out too.
	for range 500 {
		wantRateLimited(t, passwordGrant(t, ts, DemoAdminEmail, "wrong"), "60", "rate_limited")
	}
	// The right password, too, waits for the lockout.
	r := passwordGrant(t, ts, DemoAdminEmail, DemoPassword)
	wantRateLimited(t, r, "60", "Too many wrong passwords")
	if n := ts.Server.throttle.runs.Load() - runs; n != 0 {
		t.Errorf("%d password checks ran while locked out", n)
	}
	// The sign-in page says so too, with the same Retry-After.
	clock.Advance(30 * time.Second)
	r = postForm(t, ts, cloudapi.PathAuthorize, merge(authValues(challengeOf("thr")), "email", DemoAdminEmail, "password", DemoPassword))
	wantRateLimited(t, r, "30", "try again in 30 s.")

	clock.Advance(31 * time.Second)
	tokenOK(t, passwordGrant(t, ts, DemoAdminEmail, DemoPassword))
	// A success resets the count; five more wrong ones lock again for 1 min
	// (the lockout doubles only while failures go on).
	for range maxUserFailures {
		passwordGrant(t, ts, DemoAdminEmail, "wrong")
	}
	wantRateLimited(t, passwordGrant(t, ts, DemoAdminEmail, DemoPassword), "60", "rate_limited")
	clock.Advance(61 * time.Second)
	for range maxUserFailures {
		passwordGrant(t, ts, DemoAdminEmail, "wrong")
	}
	wantRateLimited(t, passwordGrant(t, ts, DemoAdminEmail, DemoPassword), "120", "rate_limited")
	// Another user is not locked out by this one's failures.
	tokenOK(t, postForm(t, ts, cloudapi.PathToken, url.Values{"grant_type": {"password"}, "username": {DemoUserEmail}, "password": {DemoPassword}}))
}

// TestPasswordThrottleClient: wrong passwords from one client over many
// e-mails lock the client out, for every e-mail.
func TestPasswordThrottleClient(t *testing.T) {
	clock := clockwork.NewFakeClockAt(time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC))
	ts := NewTestServer(t, WithClock(clock))
	for i := range maxClientFailures {
		if r := passwordGrant(t, ts, fmt.Sprintf("guess%d@demo.test", i), "wrong"); r.Status != http.StatusBadRequest {
			t.Fatalf("guess %d: %d %s", i, r.Status, r.Body)
		}
	}
	wantRateLimited(t, passwordGrant(t, ts, DemoAdminEmail, DemoPassword), "60", "Too many wrong passwords from this address")
	clock.Advance(61 * time.Second)
	tokenOK(t, passwordGrant(t, ts, DemoAdminEmail, DemoPassword))
}

// TestPasswordThrottleConcurrency: at most maxChecks password checks run
// at once; a sign-in that finds no free one in time, or too many waiting,
// is refused with 429 and Retry-After: 1.
func TestPasswordThrottleConcurrency(t *testing.T) {
	ts := NewTestServer(t)
	th := &ts.Server.throttle
	expire := make(chan time.Time)
	waits := make(chan time.Duration, maxWaiting+2) // each wait for a slot, when it begins
	th.after = func(d time.Duration) <-chan time.Time { waits <- d; return expire }
	for range maxChecks {
		release, err := th.slot(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		defer release()
	}
	done := make(chan resp)
	go func() { done <- passwordGrant(t, ts, DemoAdminEmail, DemoPassword) }()
	// It waits for a slot until its wait expires.
	if d := <-waits; d != slotWait {
		t.Fatalf("waits %v for a slot, want %v", d, slotWait)
	}
	select {
	case r := <-done:
		t.Fatalf("answered while waiting for a slot: %d", r.Status)
	default:
	}
	close(expire)
	wantRateLimited(t, <-done, "1", "Too many sign-ins are being checked at once")

	// Too many waiting already: refused at once.
	th.after = func(d time.Duration) <-chan time.Time { waits <- d; return nil }
	ctx, cancel := context.WithCancel(t.Context())
	refused := make(chan error, maxWaiting)
	for range maxWaiting {
		go func() {
			release, err := th.slot(ctx)
			if err == nil {
				release()
			}
			refused <- err
		}()
	}
	for range maxWaiting {
		<-waits
	}
	wantRateLimited(t, passwordGrant(t, ts, DemoAdminEmail, DemoPassword), "1", "being checked at once")
	select {
	case <-waits:
		t.Fatal("a sign-in waited beyond maxWaiting waiting")
	default:
	}
	// The waiting ones end with their requests.
	cancel()
	for range maxWaiting {
		if err := <-refused; err == nil {
			t.Fatal("a waiting check got a slot that was never free")
		}
	}
}

func challengeOf(seed string) string { _, c := pkce(seed); return c }
