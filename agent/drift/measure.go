// Package drift measures the host clock's offset to the cloud's time and
// reads whether the host says its clock is synchronized.
//
// The precise measurement asks the cloud's time endpoint (cloudapi.PathTime)
// a few times, NTP-style: t0 when the request is sent, t1 and t2 when the
// server received it and wrote the answer, t3 when the answer arrived;
// the cloud is ahead of the host by ((t1−t0)+(t2−t3))/2 and the round trip
// is (t3−t0)−(t2−t1). The sample with the smallest round trip wins (it has
// the least room for asymmetric delay). Every answer's Date header is a
// coarse second check (1 s resolution), used when the time endpoint is
// missing and, through Monitor.ObserveDate, on every answer of the cloud
// so that a clock that jumps is noticed before the next measurement.
//
// A second time source can be an NTP server (Config.NTPServer, queried with
// github.com/beevik/ntp). The cloud's time wins: tunnels and TLS depend on
// it; the NTP server is a cross-check that only warns.
//
// Drift in this package is the host clock minus the reference clock:
// positive when the host is ahead.
package drift

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strings"
	"time"

	"github.com/beevik/ntp"

	"github.com/cloudlink/cld/cloud/cloudapi"
)

// Offset returns how far the server's clock is ahead of the client's and the
// round trip, from the four NTP-style timestamps: t0 request sent and t3
// answer received (client clock), t1 request received and t2 answer sent
// (server clock).
func Offset(t0, t1, t2, t3 time.Time) (offset, rtt time.Duration) {
	offset = (t1.Sub(t0) + t2.Sub(t3)) / 2
	rtt = t3.Sub(t0) - t2.Sub(t1)
	if rtt < 0 {
		rtt = 0
	}
	return offset, rtt
}

// maxServerHold bounds t2−t1 in a plausible time answer.
const maxServerHold = time.Minute

// ParseTimeResponse decodes and checks the body of a PathTime answer: both
// times present, in a sane range, and sent no earlier than received.
func ParseTimeResponse(body []byte) (cloudapi.TimeResponse, error) {
	var tr cloudapi.TimeResponse
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&tr); err != nil {
		return tr, fmt.Errorf("the time answer is not JSON: %w", err)
	}
	if dec.More() {
		return tr, errors.New("the time answer holds more than one JSON value")
	}
	if tr.ReceiveTime.IsZero() || tr.SendTime.IsZero() {
		return tr, errors.New("the time answer lacks receive_time or send_time")
	}
	if !sane(tr.ReceiveTime) || !sane(tr.SendTime) {
		return tr, fmt.Errorf("the time answer's times are out of range (%s, %s)", tr.ReceiveTime.Format(time.RFC3339), tr.SendTime.Format(time.RFC3339))
	}
	if hold := tr.SendTime.Sub(tr.ReceiveTime); hold < 0 || hold > maxServerHold {
		return tr, fmt.Errorf("the time answer's send_time is %v after its receive_time", hold)
	}
	return tr, nil
}

// sane accepts years 2000…2200 (a host clock may be anywhere, a cloud's not).
func sane(t time.Time) bool {
	y := t.UTC().Year()
	return y >= 2000 && y <= 2200
}

// ParseDate parses an HTTP Date header (RFC 9110 formats) in a sane range.
func ParseDate(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, errors.New("no Date header")
	}
	t, err := http.ParseTime(s)
	if err != nil {
		return time.Time{}, fmt.Errorf("the Date header %q is not an HTTP date", truncate(s, 64))
	}
	if !sane(t) {
		return time.Time{}, fmt.Errorf("the Date header %q is out of range", truncate(s, 64))
	}
	return t, nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// DateDrift estimates the host's drift from a Date header: the server wrote
// a time in [date, date+1s) somewhere between t0 and t3 (host clock). The
// estimate's uncertainty is half the round trip plus half a second.
func DateDrift(date, t0, t3 time.Time) (drift, uncertainty time.Duration) {
	rtt := t3.Sub(t0)
	if rtt < 0 {
		rtt = 0
	}
	mid := t0.Add(rtt / 2)
	return mid.Sub(date.Add(500 * time.Millisecond)), rtt/2 + 500*time.Millisecond
}

// Method names how a Sample was measured.
const (
	MethodTimeEndpoint = "time endpoint"
	MethodDateHeader   = "Date header"
	MethodNTP          = "NTP"
)

// Sample is one measurement of the drift against one source.
type Sample struct {
	Drift time.Duration // host − reference; positive: the host is ahead
	RTT   time.Duration // round trip of the sample used
	// Uncertainty bounds the error (half the round trip; plus half a
	// second for a Date header).
	Uncertainty time.Duration
	Method      string
	Source      string // URL or NTP server
	At          time.Time
}

// Seconds is the drift in seconds, rounded to milliseconds.
func (s Sample) Seconds() float64 {
	return math.Round(s.Drift.Seconds()*1000) / 1000
}

// ErrNoTimeEndpoint means the cloud has no usable time endpoint; the Date
// header was used instead (see MeasureHTTP).
var ErrNoTimeEndpoint = errors.New("the cloud has no time endpoint")

// HTTPProbe measures against a cloud's time endpoint.
type HTTPProbe struct {
	Client *http.Client
	// Now reads the host clock (time.Now when nil); tests may shift it.
	Now func() time.Time
	// Samples is how many requests are made (default 4); the one with the
	// smallest round trip wins.
	Samples int
}

// Measure asks base+PathTime Samples times and returns the best sample.
// When no answer carries a usable time body but some carry a Date header
// (e.g. an older cloud answering 404), the coarse Date estimate is returned
// with Method MethodDateHeader. It fails only when nothing usable came back.
func (p HTTPProbe) Measure(ctx context.Context, base string) (Sample, error) {
	now := p.Now
	if now == nil {
		now = time.Now
	}
	n := p.Samples
	if n <= 0 {
		n = 4
	}
	u := strings.TrimRight(base, "/") + cloudapi.PathTime
	var (
		best, coarse *Sample
		lastErr      error
	)
	for range n {
		if ctx.Err() != nil {
			break
		}
		s, c, err := p.one(ctx, u, now)
		if s != nil && (best == nil || s.RTT < best.RTT) {
			best = s
		}
		if c != nil && (coarse == nil || c.Uncertainty < coarse.Uncertainty) {
			coarse = c
		}
		if err != nil {
			lastErr = err
			if s == nil && c == nil {
				break // transport failure: no point in hammering
			}
		}
	}
	switch {
	case best != nil:
		return *best, nil
	case coarse != nil:
		if lastErr == nil {
			lastErr = ErrNoTimeEndpoint
		}
		return *coarse, fmt.Errorf("%w (%v); used the Date header", ErrNoTimeEndpoint, lastErr)
	case lastErr != nil:
		return Sample{}, lastErr
	}
	return Sample{}, ctx.Err()
}

// one makes one request: a precise sample from a good time answer, a coarse
// one from its Date header.
func (p HTTPProbe) one(ctx context.Context, u string, now func() time.Time) (precise, coarse *Sample, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, nil, err
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Cache-Control", "no-cache")
	t0 := now()
	resp, err := p.Client.Do(req)
	if err != nil {
		return nil, nil, err
	}
	body, rerr := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	t3 := now()
	if date, derr := ParseDate(resp.Header.Get("Date")); derr == nil {
		d, unc := DateDrift(date, t0, t3)
		coarse = &Sample{Drift: d, RTT: t3.Sub(t0), Uncertainty: unc, Method: MethodDateHeader, Source: u, At: t3}
	}
	if rerr != nil {
		return nil, coarse, rerr
	}
	if resp.StatusCode != http.StatusOK {
		return nil, coarse, fmt.Errorf("GET %s answered %s", u, resp.Status)
	}
	tr, err := ParseTimeResponse(body)
	if err != nil {
		return nil, coarse, err
	}
	off, rtt := Offset(t0, tr.ReceiveTime, tr.SendTime, t3)
	return &Sample{Drift: -off, RTT: rtt, Uncertainty: rtt / 2, Method: MethodTimeEndpoint, Source: u, At: t3}, coarse, nil
}

// NTPProbe measures against an NTP server.
type NTPProbe struct {
	Timeout time.Duration // default 5 s
	// Now reads the host clock (nil: the kernel's, as beevik/ntp does).
	Now func() time.Time
}

// Measure queries server (host:port; port 123 when left out).
func (p NTPProbe) Measure(ctx context.Context, server string) (Sample, error) {
	to := p.Timeout
	if to <= 0 {
		to = 5 * time.Second
	}
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < to {
		to = max(time.Until(dl), time.Millisecond)
	}
	opt := ntp.QueryOptions{Timeout: to, GetSystemTime: p.Now}
	r, err := ntp.QueryWithOptions(server, opt)
	if err != nil {
		return Sample{}, fmt.Errorf("querying the NTP server %s: %w", server, err)
	}
	if err := r.Validate(); err != nil {
		return Sample{}, fmt.Errorf("the NTP server %s answered unusably: %w", server, err)
	}
	now := time.Now
	if p.Now != nil {
		now = p.Now
	}
	return Sample{Drift: -r.ClockOffset, RTT: r.RTT, Uncertainty: r.RTT / 2, Method: MethodNTP, Source: server, At: now()}, nil
}
