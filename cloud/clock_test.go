package cloud

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/cloudlink/cld/cloud/cloudapi"
)

// getTime asks the time endpoint and returns the answer with the real
// times just before sending and after reading it.
func getTime(t *testing.T, c *http.Client, ts *TestServer) (tr cloudapi.TimeResponse, res resp, before, after time.Time) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, ts.URL+cloudapi.PathTime, nil)
	before = time.Now()
	res = do(t, c, req)
	after = time.Now()
	if res.Status != http.StatusOK {
		t.Fatalf("GET %s: %d %s", cloudapi.PathTime, res.Status, res.Body)
	}
	if err := json.Unmarshal([]byte(res.Body), &tr); err != nil {
		t.Fatalf("time body %q: %v", res.Body, err)
	}
	return tr, res, before, after
}

// checkDate checks that a response's Date is the real time plus offset,
// within a second (Date has whole seconds).
func checkDate(t *testing.T, h http.Header, before, after time.Time, offset time.Duration) {
	t.Helper()
	d, err := http.ParseTime(h.Get("Date"))
	if err != nil {
		t.Fatalf("Date %q: %v", h.Get("Date"), err)
	}
	lo, hi := before.Add(offset).Add(-time.Second), after.Add(offset).Add(time.Second)
	if d.Before(lo) || d.After(hi) {
		t.Errorf("Date %s (%v from the real time), want the real time %+v (±1s)", h.Get("Date"), d.Sub(after).Round(time.Millisecond), offset)
	}
}

func TestTimeEndpoint(t *testing.T) {
	ts := NewTestServer(t, WithClockOffset(44*time.Second))
	if got := ts.ClockOffset(); got != 44*time.Second {
		t.Fatalf("ClockOffset %v", got)
	}
	c := ts.Client()
	for _, offset := range []time.Duration{44 * time.Second, -50 * time.Second, 0, 3 * time.Hour} {
		if offset != 44*time.Second {
			ts.SetClockOffset(offset) // effective at once
		}
		tr, res, before, after := getTime(t, c, ts)
		if tr.ReceiveTime.IsZero() || tr.SendTime.Before(tr.ReceiveTime) {
			t.Errorf("offset %v: receive %v, send %v", offset, tr.ReceiveTime, tr.SendTime)
		}
		if lo, hi := before.Add(offset), after.Add(offset); tr.ReceiveTime.Before(lo) || tr.SendTime.After(hi) {
			t.Errorf("offset %v: receive %v send %v, want within [%v, %v]", offset, tr.ReceiveTime, tr.SendTime, lo, hi)
		}
		if res.Header.Get("Cache-Control") != "no-store" || !strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") {
			t.Errorf("headers %v", res.Header)
		}
		checkDate(t, res.Header, before, after, offset)
	}
	// Only GET (and HEAD).
	req, _ := http.NewRequest(http.MethodPost, ts.URL+cloudapi.PathTime, nil)
	if r := do(t, c, req); r.Status != http.StatusMethodNotAllowed || r.apiError(t).Code != cloudapi.ErrBadRequest {
		t.Errorf("POST: %d %s", r.Status, r.Body)
	}
	req, _ = http.NewRequest(http.MethodHead, ts.URL+cloudapi.PathTime, nil)
	if r := do(t, c, req); r.Status != http.StatusOK {
		t.Errorf("HEAD: %d", r.Status)
	}
}

// TestDateHeader checks that every kind of answer is dated by the cloud's
// clock, over HTTP/2 and HTTP/1.1.
func TestDateHeader(t *testing.T) {
	const offset = -50 * time.Second
	ts := NewTestServer(t, WithClockOffset(offset))
	h1 := &http.Client{Transport: &http.Transport{
		TLSClientConfig: ts.TLSConfig(),
		TLSNextProto:    map[string]func(string, *tls.Conn) http.RoundTripper{},
	}, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	defer h1.CloseIdleConnections()
	clients := map[string]*http.Client{"HTTP/2.0": ts.Client(), "HTTP/1.1": h1}
	paths := []string{"/healthz", "/", "/api/v1/nothing", "/portal/", "/portal/nothing", cloudapi.PathCACert, cloudapi.PathSystemSelf, cloudapi.PathTime}
	for proto, c := range clients {
		for _, p := range paths {
			req, _ := http.NewRequest(http.MethodGet, ts.URL+p, nil)
			before := time.Now()
			res, err := c.Do(req)
			after := time.Now()
			if err != nil {
				t.Fatalf("%s %s: %v", proto, p, err)
			}
			res.Body.Close()
			if res.Proto != proto {
				t.Errorf("%s: answered with %s", p, res.Proto)
			}
			if n := len(res.Header.Values("Date")); n != 1 {
				t.Errorf("%s %s: %d Date headers", proto, p, n)
			}
			checkDate(t, res.Header, before, after, offset)
		}
	}
	// A token answer (POST, form) too.
	before := time.Now()
	r := postForm(t, ts, cloudapi.PathToken, nil)
	checkDate(t, r.Header, before, time.Now(), offset)
}

// TestClockOffsetExpiry checks that expiry follows the cloud's clock,
// offset included, and that moving the offset by ±50 s leaves 1 h tokens
// working.
func TestClockOffsetExpiry(t *testing.T) {
	clock := clockwork.NewFakeClockAt(time.Date(2026, 5, 6, 7, 8, 9, 0, time.UTC))
	ts := NewTestServer(t, WithClock(clock), WithClockOffset(50*time.Second))
	rr := register(t, ts, adminToken(t, ts), installA, "pbx")
	dev := deviceToken(t, ts, rr) // expires at T+50s+1h by the cloud's clock
	self := func() int { return jsonRequest(t, ts, "GET", cloudapi.PathSystemSelf, dev, nil).Status }
	if s := self(); s != 200 {
		t.Fatalf("fresh token: %d", s)
	}
	ts.SetClockOffset(-50 * time.Second)
	if s := self(); s != 200 {
		t.Fatalf("offset moved by -100s: %d", s)
	}
	clock.Advance(time.Hour + 99*time.Second) // the cloud's time: T+1h+49s
	if s := self(); s != 200 {
		t.Fatalf("a second before expiry: %d", s)
	}
	clock.Advance(2 * time.Second) // T+1h+51s
	if s := self(); s != 401 {
		t.Fatalf("after expiry: %d", s)
	}
	// Fresh tokens work at any offset.
	ts.SetClockOffset(3 * time.Hour)
	dev = deviceToken(t, ts, rr)
	if s := self(); s != 200 {
		t.Fatalf("token issued 3h ahead: %d", s)
	}
}

// syncBuffer is a bytes.Buffer safe for concurrent use.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestClockOffsetReload checks that the server picks up an offset stored
// by another process (cld-cloud clock offset) within a second or so, and
// logs it.
func TestClockOffsetReload(t *testing.T) {
	var logs syncBuffer
	ts := NewTestServer(t, WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	if d, _, err := ts.Server.Store().ClockOffset(context.Background()); err != nil || d != 0 {
		t.Fatalf("stored at start: %v %v", d, err)
	}
	c := ts.Client()
	if err := ts.Server.Store().SetClockOffset(context.Background(), 44*time.Second, time.Now()); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	for {
		tr, _, before, _ := getTime(t, c, ts)
		if tr.ReceiveTime.Sub(before) > 40*time.Second {
			break
		}
		if time.Since(start) > 2*time.Second {
			t.Fatalf("offset not picked up after %v", time.Since(start))
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("picked up after %v", time.Since(start).Round(time.Millisecond))
	if !strings.Contains(logs.String(), "runs 44s ahead") {
		t.Errorf("change not logged:\n%s", logs.String())
	}
	// SetClockOffset stores what it sets, so a reload keeps it.
	ts.SetClockOffset(-7 * time.Second)
	if d, _, err := ts.Server.Store().ClockOffset(context.Background()); err != nil || d != -7*time.Second {
		t.Fatalf("stored: %v %v", d, err)
	}
	time.Sleep(clockReloadInterval + 200*time.Millisecond)
	if got := ts.ClockOffset(); got != -7*time.Second {
		t.Errorf("after a reload: %v", got)
	}
}

func TestClockOffsetBounds(t *testing.T) {
	cfg := DefaultConfig()
	cfg.DataDir = t.TempDir()
	for _, d := range []time.Duration{MaxClockOffset + time.Second, -MaxClockOffset - time.Second} {
		cfg.ClockOffset = d
		if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "clock offset") {
			t.Errorf("offset %v: %v", d, err)
		}
	}
	cfg.ClockOffset = -MaxClockOffset
	if err := cfg.Validate(); err != nil {
		t.Error(err)
	}
	ts := NewTestServer(t)
	if err := ts.Server.SetClockOffset(context.Background(), 2*MaxClockOffset); err == nil {
		t.Error("SetClockOffset beyond the bound accepted")
	}
	for d, want := range map[time.Duration]string{44 * time.Second: "runs 44s ahead", -90 * time.Second: "runs 1m30s behind", 0: "has no offset"} {
		if got := DescribeClockOffset(d); got != want {
			t.Errorf("DescribeClockOffset(%v) = %q, want %q", d, got, want)
		}
	}
}

func TestOffsetClock(t *testing.T) {
	base := clockwork.NewFakeClockAt(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	c := newOffsetClock(base, 44*time.Second)
	if got := c.Now(); !got.Equal(base.Now().Add(44 * time.Second)) {
		t.Errorf("Now %v", got)
	}
	if got := c.Since(base.Now()); got != 44*time.Second {
		t.Errorf("Since %v", got)
	}
	if got := c.Until(base.Now()); got != -44*time.Second {
		t.Errorf("Until %v", got)
	}
	// Timers are durations: the offset does not fire them.
	tm := c.NewTimer(time.Minute)
	base.Advance(59 * time.Second)
	select {
	case <-tm.Chan():
		t.Error("timer fired early")
	default:
	}
	base.Advance(time.Second)
	select {
	case <-tm.Chan():
	case <-time.After(5 * time.Second):
		t.Error("timer did not fire")
	}
}
