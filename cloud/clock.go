package cloud

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/cloudlink/cld/cloud/cloudapi"
)

// The cloud's clock can be set off from the host's, so that clock drift can
// be demonstrated: Config.ClockOffset at start, Server.SetClockOffset in
// process, and the store's setting (cld-cloud clock offset) while it runs,
// which the server reloads every clockReloadInterval. The offset applies to
// the cloud's whole notion of time: every expiry, the time endpoint and
// every response's Date header. Certificates are still issued with the real
// time, which TLS checks.

// MaxClockOffset bounds the clock offset either way (times are stored as
// Unix nanoseconds, which end in 2262).
const MaxClockOffset = 100 * 365 * 24 * time.Hour

// clockReloadInterval is how often the server reloads the stored offset.
const clockReloadInterval = time.Second

// ValidateClockOffset checks a clock offset.
func ValidateClockOffset(d time.Duration) error {
	if d > MaxClockOffset || d < -MaxClockOffset {
		return fmt.Errorf("the clock offset %s is beyond ±%s (100 years)", d, MaxClockOffset)
	}
	return nil
}

// DescribeClockOffset says how the cloud's clock runs against the host's,
// such as "runs 44s ahead".
func DescribeClockOffset(d time.Duration) string {
	switch {
	case d > 0:
		return fmt.Sprintf("runs %s ahead", d)
	case d < 0:
		return fmt.Sprintf("runs %s behind", -d)
	default:
		return "has no offset"
	}
}

// offsetClock is a clock whose Now runs offset ahead of the underlying
// clock's. Timers and tickers are durations, so they are the underlying
// clock's.
type offsetClock struct {
	clockwork.Clock
	offset atomic.Int64 // time.Duration
}

func newOffsetClock(c clockwork.Clock, d time.Duration) *offsetClock {
	oc := &offsetClock{Clock: c}
	oc.offset.Store(int64(d))
	return oc
}

func (c *offsetClock) Now() time.Time {
	return c.Clock.Now().Add(time.Duration(c.offset.Load()))
}

func (c *offsetClock) Since(t time.Time) time.Duration { return c.Now().Sub(t) }
func (c *offsetClock) Until(t time.Time) time.Duration { return t.Sub(c.Now()) }

// clockState is the server's offset clock and the loop that reloads the
// stored offset.
type clockState struct {
	clock *offsetClock
	// mu orders reloads against SetClockOffset, so that a reload that read
	// the store before a SetClockOffset does not undo it.
	mu       sync.Mutex
	stop     chan struct{}
	done     chan struct{}
	stopOnce sync.Once
	// failing is set while reloading fails, so that the failure is logged
	// once.
	failing bool
}

// ClockOffset is how far the cloud's clock runs ahead of the underlying
// clock (Config.Clock); negative: behind.
func (s *Server) ClockOffset() time.Duration {
	return time.Duration(s.clk.clock.offset.Load())
}

// SetClockOffset sets the cloud's clock offset, effective immediately, and
// stores it (cld-cloud clock show reads it).
func (s *Server) SetClockOffset(ctx context.Context, d time.Duration) error {
	if err := ValidateClockOffset(d); err != nil {
		return err
	}
	s.clk.mu.Lock()
	defer s.clk.mu.Unlock()
	if err := s.store.SetClockOffset(ctx, d, time.Now()); err != nil {
		return err
	}
	s.applyClockOffset(d, "set")
	return nil
}

// applyClockOffset sets the offset in memory and logs a change. Hold
// s.clk.mu.
func (s *Server) applyClockOffset(d time.Duration, how string) {
	old := time.Duration(s.clk.clock.offset.Swap(int64(d)))
	if old != d {
		s.log.Info("the cloud's clock offset changed: it "+DescribeClockOffset(d),
			"offset", d, "previous", old, "how", how)
	}
}

// startClock wraps cfg.Clock with the offset, stores the initial offset
// and starts reloading it from the store. stopClock ends the reloading.
func (s *Server) startClock(ctx context.Context) error {
	s.clk = &clockState{
		clock: newOffsetClock(s.cfg.Clock, s.cfg.ClockOffset),
		stop:  make(chan struct{}),
		done:  make(chan struct{}),
	}
	s.cfg.Clock = s.clk.clock
	if err := s.store.SetClockOffset(ctx, s.cfg.ClockOffset, time.Now()); err != nil {
		return err
	}
	go s.reloadClockOffset()
	return nil
}

func (s *Server) stopClock() {
	s.clk.stopOnce.Do(func() { close(s.clk.stop) })
	<-s.clk.done
}

// reloadClockOffset reads the stored offset every clockReloadInterval (of
// real time: a fake Config.Clock does not stop it) until stopClock.
func (s *Server) reloadClockOffset() {
	defer close(s.clk.done)
	tick := time.NewTicker(clockReloadInterval)
	defer tick.Stop()
	for {
		select {
		case <-s.clk.stop:
			return
		case <-tick.C:
		}
		s.reloadClockOffsetOnce()
	}
}

func (s *Server) reloadClockOffsetOnce() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s.clk.mu.Lock()
	defer s.clk.mu.Unlock()
	d, _, err := s.store.ClockOffset(ctx)
	if err == nil {
		err = ValidateClockOffset(d)
	}
	if err != nil {
		if !s.clk.failing {
			s.log.Warn("reload the clock offset failed; keeping the current one", "offset", s.ClockOffset(), "err", err)
		}
		s.clk.failing = true
		return
	}
	s.clk.failing = false
	s.applyClockOffset(d, "stored (cld-cloud clock offset)")
}

// handleTime answers cloudapi.PathTime with the moments the request was
// received and the answer sent, by the cloud's clock. It reads nothing but
// the clock, so that it answers fast.
func (s *Server) handleTime(w http.ResponseWriter, r *http.Request) {
	recv := s.now()
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		writeError(w, &apiError{http.StatusMethodNotAllowed, cloudapi.ErrBadRequest, "Read the cloud's time with GET."})
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	send := s.now()
	b, _ := json.Marshal(cloudapi.TimeResponse{ReceiveTime: recv, SendTime: send})
	w.Write(append(b, '\n'))
}
