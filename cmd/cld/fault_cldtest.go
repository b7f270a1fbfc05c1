//go:build cldtest

package main

import (
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/cloudlink/cld/updater"
)

// skewClock is the real clock shifted by skew (timers run in real time).
type skewClock struct {
	clockwork.Clock
	skew time.Duration
}

func (c skewClock) Now() time.Time                  { return c.Clock.Now().Add(c.skew) }
func (c skewClock) Since(t time.Time) time.Duration { return c.Now().Sub(t) }

// fileClock is the real clock shifted by the duration in a file.
type fileClock struct {
	clockwork.Clock
	file string

	mu   sync.Mutex
	skew time.Duration
	read time.Time
}

func (c *fileClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.Clock.Now()
	if now.Sub(c.read) > 100*time.Millisecond {
		c.read = now
		if b, err := os.ReadFile(c.file); err == nil {
			if d, err := time.ParseDuration(strings.TrimSpace(string(b))); err == nil {
				c.skew = d
			}
		}
	}
	return now.Add(c.skew)
}

func (c *fileClock) Since(t time.Time) time.Duration { return c.Now().Sub(t) }
func (c *fileClock) Until(t time.Time) time.Duration { return t.Sub(c.Now()) }

// testFault makes a test build misbehave, for the self-update's tests:
// set with -ldflags "-X main.testFault=exit|crash|unhealthy". A release
// build (without the cldtest tag) has none of this.
var testFault string

func init() {
	// CLD_TEST_KILL_AT=STEP: SIGKILL at that step of an update or of a
	// directory send (provisioning.Step*), as a
	// power cut or an OOM kill would stop it.
	if at := os.Getenv("CLD_TEST_KILL_AT"); at != "" {
		updateStep = func(step string) {
			if step == at {
				_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
				select {}
			}
		}
	}
	// CLD_TEST_UPDATE_SKEW=DURATION: the update schedule's clock runs this
	// far ahead of the host's, so a test reaches a scheduled check at once.
	if skew, err := time.ParseDuration(os.Getenv("CLD_TEST_UPDATE_SKEW")); err == nil {
		updateClock = skewClock{Clock: clockwork.NewRealClock(), skew: skew}
	}
	// CLD_TEST_CLOCK_FILE=FILE: the daemon's clock runs the duration that
	// FILE holds ahead of the host's ("2h", "-2h", "0"; read again at most
	// every 100 ms), so that a test makes it jump without touching the
	// machine's clock (the chaos harness).
	if f := os.Getenv("CLD_TEST_CLOCK_FILE"); f != "" {
		daemonClock = &fileClock{Clock: clockwork.NewRealClock(), file: f}
	}
	// CLD_TEST_PASSWORD_COST=N: bcrypt cost N for the password hashes the
	// daemon makes (4 makes the process tests' sign-ins cheap; under the
	// race detector a check at the default cost takes most of a second).
	if n, err := strconv.Atoi(os.Getenv("CLD_TEST_PASSWORD_COST")); err == nil {
		passwordCost = n
	}
	// CLD_TEST_TRIAL_STABLE=DURATION: a shorter trial (the kill tests).
	if d, err := time.ParseDuration(os.Getenv("CLD_TEST_TRIAL_STABLE")); err == nil {
		launchTiming = func() updater.Timing {
			t := updater.DefaultTiming()
			t.StableFor = d
			return t
		}
	}
	switch testFault {
	case "exit":
		startFault = func() { os.Stderr.WriteString("cld: test fault: exiting at start\n"); os.Exit(3) }
	case "crash":
		startFault = func() {
			go func() {
				time.Sleep(5 * time.Second)
				panic("test fault: crashing 5 s after the start")
			}()
		}
	case "unhealthy":
		wrapAPI = func(http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				http.Error(w, "test fault: never healthy", http.StatusServiceUnavailable)
			})
		}
	}
}
