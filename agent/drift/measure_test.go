package drift

import (
	"context"
	"encoding/json"
	"errors"
	"github.com/cloudlink/cld/agent/drift/drifttest"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/cloudlink/cld/cloud/cloudapi"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestOffset(t *testing.T) {
	base := time.Date(2026, 11, 22, 8, 0, 0, 0, time.UTC)
	ms := time.Millisecond
	for _, tc := range []struct {
		name               string
		t0, t1, t2, t3     time.Duration // from base
		wantOffset, wantRT time.Duration
	}{
		{"in step, symmetric", 0, 50 * ms, 51 * ms, 101 * ms, 0, 100 * ms},
		{"server 44s ahead", 0, 44*time.Second + 50*ms, 44*time.Second + 50*ms, 100 * ms, 44 * time.Second, 100 * ms},
		{"server 50s behind", 0, -50*time.Second + 10*ms, -50*time.Second + 12*ms, 22 * ms, -50 * time.Second, 20 * ms},
		{"all delay on the way back", 0, 0, 0, 400 * ms, -200 * ms, 400 * ms},
	} {
		t.Run(tc.name, func(t *testing.T) {
			off, rtt := Offset(base.Add(tc.t0), base.Add(tc.t1), base.Add(tc.t2), base.Add(tc.t3))
			if off != tc.wantOffset || rtt != tc.wantRT {
				t.Errorf("offset %v rtt %v, want %v %v", off, rtt, tc.wantOffset, tc.wantRT)
			}
		})
	}
}

func TestParseTimeResponse(t *testing.T) {
	good := `{"receive_time":"2026-11-22T08:00:00.1Z","send_time":"2026-11-22T08:00:00.2Z"}`
	if tr, err := ParseTimeResponse([]byte(good)); err != nil || tr.SendTime.Sub(tr.ReceiveTime) != 100*time.Millisecond {
		t.Fatalf("%+v %v", tr, err)
	}
	for name, body := range map[string]string{
		"not json":     `<html>`,
		"missing send": `{"receive_time":"2026-11-22T08:00:00Z"}`,
		"sent before":  `{"receive_time":"2026-11-22T08:00:01Z","send_time":"2026-11-22T08:00:00Z"}`,
		"held an hour": `{"receive_time":"2026-11-22T08:00:00Z","send_time":"2026-11-22T09:00:00Z"}`,
		"year 1":       `{"receive_time":"0001-01-01T00:00:01Z","send_time":"0001-01-01T00:00:01Z"}`,
		"two values":   good + good,
		"wrong types":  `{"receive_time":1,"send_time":2}`,
	} {
		if _, err := ParseTimeResponse([]byte(body)); err == nil {
			t.Errorf("%s: accepted %s", name, body)
		}
	}
}

func TestParseDate(t *testing.T) {
	d, err := ParseDate("Sun, 22 Nov 2026 08:00:44 GMT")
	if err != nil || !d.Equal(time.Date(2026, 11, 22, 8, 0, 44, 0, time.UTC)) {
		t.Fatal(d, err)
	}
	for _, s := range []string{"", "yesterday", "Mon, 01 Jan 1900 00:00:00 GMT"} {
		if _, err := ParseDate(s); err == nil {
			t.Errorf("accepted %q", s)
		}
	}
	// A Date in [D, D+1s) seen between t0 and t3: the estimate is centred.
	t0 := time.Date(2026, 11, 22, 8, 0, 0, 0, time.UTC)
	dr, unc := DateDrift(t0.Add(-44*time.Second), t0, t0.Add(200*time.Millisecond))
	if dr != 44*time.Second-400*time.Millisecond || unc != 600*time.Millisecond {
		t.Errorf("DateDrift = %v ± %v", dr, unc)
	}
}

func FuzzParseTimeResponse(f *testing.F) {
	f.Add([]byte(`{"receive_time":"2026-11-22T08:00:00.1Z","send_time":"2026-11-22T08:00:00.2Z"}`))
	f.Add([]byte(`{"receive_time":null}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, b []byte) {
		tr, err := ParseTimeResponse(b)
		if err != nil {
			return
		}
		if tr.ReceiveTime.IsZero() || tr.SendTime.Before(tr.ReceiveTime) || tr.SendTime.Sub(tr.ReceiveTime) > maxServerHold {
			t.Fatalf("accepted an implausible answer %+v", tr)
		}
		// What was accepted survives a round trip.
		again, _ := json.Marshal(tr)
		if _, err := ParseTimeResponse(again); err != nil {
			t.Fatalf("re-encoded answer refused: %v", err)
		}
	})
}

func FuzzParseDate(f *testing.F) {
	f.Add("Sun, 22 Nov 2026 08:00:44 GMT")
	f.Add("Sunday, 22-Nov-26 08:00:44 GMT")
	f.Add("Sun Nov 22 08:00:44 2026")
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseDate(s)
		if err != nil {
			return
		}
		if !sane(d) {
			t.Fatalf("accepted %q as %v", s, d)
		}
		t0 := time.Now()
		if dr, unc := DateDrift(d, t0, t0); unc != 500*time.Millisecond || dr != t0.Sub(d.Add(500*time.Millisecond)) {
			t.Fatal("DateDrift inconsistent")
		}
	})
}

func within(t *testing.T, what string, got, want, tol time.Duration) {
	t.Helper()
	if (got - want).Abs() > tol {
		t.Errorf("%s: drift %v, want %v ± %v", what, got, want, tol)
	} else {
		t.Logf("%s: drift %v (error %v)", what, got.Round(time.Microsecond), (got - want).Round(time.Microsecond))
	}
}

func TestHTTPProbe(t *testing.T) {
	ts := drifttest.NewTimeServer(t, 0)
	p := HTTPProbe{Client: ts.Client()}
	defer p.Client.CloseIdleConnections()
	ctx := context.Background()
	for _, off := range []time.Duration{0, 44 * time.Second, -50 * time.Second, 1500 * time.Millisecond} {
		ts.SetOffset(off)
		s, err := p.Measure(ctx, ts.URL)
		if err != nil || s.Method != MethodTimeEndpoint || s.Source != ts.URL+cloudapi.PathTime {
			t.Fatalf("offset %v: %+v %v", off, s, err)
		}
		// The cloud ahead by off means the host is behind by off.
		within(t, "loopback, cloud "+off.String(), s.Drift, -off, 50*time.Millisecond)
	}
}

// TestHTTPProbeDelayed puts 200 ms of latency between the host and the
// cloud, both ways and on the way back only (the worst, asymmetric case).
func TestHTTPProbeDelayed(t *testing.T) {
	ts := drifttest.NewTimeServer(t, 44*time.Second)
	ctx := context.Background()
	for _, tc := range []struct {
		name     string
		up, down time.Duration
	}{
		{"200ms each way", 200 * time.Millisecond, 200 * time.Millisecond},
		{"200ms on the way back only", 0, 200 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			relay := drifttest.NewDelayRelay(t, ts.Listener.Addr().String(), tc.up, tc.down)
			p := HTTPProbe{Client: drifttest.RelayClient(ts.Server, relay.Addr()), Samples: 3}
			defer p.Client.CloseIdleConnections()
			s, err := p.Measure(ctx, ts.URL)
			if err != nil {
				t.Fatal(err)
			}
			if s.RTT < tc.up+tc.down {
				t.Errorf("rtt %v under the injected delay", s.RTT)
			}
			within(t, tc.name, s.Drift, -44*time.Second, time.Second)
			if s.Uncertainty > time.Second {
				t.Errorf("uncertainty %v", s.Uncertainty)
			}
		})
	}
}

func TestHTTPProbeDateFallback(t *testing.T) {
	ts := drifttest.NewTimeServer(t, -30*time.Second)
	ts.NoEndpoint.Store(true)
	p := HTTPProbe{Client: ts.Client(), Samples: 2}
	defer p.Client.CloseIdleConnections()
	s, err := p.Measure(context.Background(), ts.URL)
	if !errors.Is(err, ErrNoTimeEndpoint) || s.Method != MethodDateHeader {
		t.Fatalf("%+v %v", s, err)
	}
	within(t, "Date header", s.Drift, 30*time.Second, 1500*time.Millisecond)

	// Nothing at all: an error, no sample.
	ts.Close()
	if s, err := p.Measure(context.Background(), ts.URL); err == nil {
		t.Fatalf("a closed server measured %+v", s)
	}
}

func TestNTPProbe(t *testing.T) {
	for _, tc := range []struct {
		name   string
		offset time.Duration
		delay  time.Duration
	}{
		{"in step", 0, 0},
		{"server 30s ahead, 200ms answer delay", 30 * time.Second, 200 * time.Millisecond},
		{"server 50s behind, 200ms answer delay", -50 * time.Second, 200 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := drifttest.NewNTPServer(t, tc.offset, tc.delay)
			got, err := NTPProbe{Timeout: 3 * time.Second}.Measure(context.Background(), s.Addr())
			if err != nil {
				t.Fatal(err)
			}
			if got.Method != MethodNTP || got.Source != s.Addr() || got.RTT < tc.delay {
				t.Errorf("%+v", got)
			}
			within(t, tc.name, got.Drift, -tc.offset, time.Second)
		})
	}
	// Nobody answers: an error that names the server.
	_, err := NTPProbe{Timeout: 300 * time.Millisecond}.Measure(context.Background(), "127.0.0.1:9")
	if err == nil || !strings.Contains(err.Error(), "127.0.0.1:9") {
		t.Errorf("err = %v", err)
	}
}

func TestHostSync(t *testing.T) {
	if b, err := ParseTimedatectl("yes\n"); err != nil || !b {
		t.Error(b, err)
	}
	if b, err := ParseTimedatectl("no"); err != nil || b {
		t.Error(b, err)
	}
	if _, err := ParseTimedatectl("System has not been booted with systemd"); err == nil {
		t.Error("accepted garbage")
	}
	// No systemd here (a container): D-Bus fails; a timedatectl that
	// answers decides, one that fails leaves it unknown.
	if _, err := os.Stat("/run/dbus/system_bus_socket"); err == nil {
		t.Skip("a system bus is running; the fallback cannot be forced")
	}
	dir := t.TempDir()
	script := filepath.Join(dir, "timedatectl")
	old := timedatectlPath
	t.Cleanup(func() { timedatectlPath = old })
	timedatectlPath = script
	if err := os.WriteFile(script, []byte("#!/bin/sh\necho no\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	s := HostSync(context.Background())
	if s.Synchronized == nil || *s.Synchronized || s.Source != "timedatectl" {
		t.Errorf("%+v", s)
	}
	if err := os.WriteFile(script, []byte("#!/bin/sh\necho 'Failed to connect to bus' >&2; exit 1\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	s = HostSync(context.Background())
	if s.Synchronized != nil || s.Err == nil || !strings.Contains(s.Err.Error(), "Failed to connect to bus") {
		t.Errorf("%+v", s)
	}
}

var _ = http.StatusOK
