package main

import (
	"context"
	"encoding/json"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cloudlink/cld/cloud/cloudapi"
)

func TestClockUsage(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		args     []string
		code     int
		contains []string
	}{
		{[]string{"clock"}, 2, []string{"offset or show"}},
		{[]string{"clock", "skew"}, 2, []string{`unknown command "clock skew"`}},
		{[]string{"clock", "offset", "44s"}, 2, []string{"--data is required"}},
		{[]string{"clock", "offset", "--data", dir}, 2, []string{"no offset given", "such as 44s"}},
		{[]string{"clock", "offset", "--data", dir, "44"}, 2, []string{`"44" is not a duration`, "with a unit", "Usage: cld-cloud clock offset"}},
		{[]string{"clock", "offset", "--data", dir, "soon"}, 2, []string{`"soon" is not a duration`}},
		{[]string{"clock", "offset", "--data", dir, "-5x"}, 2, []string{`"-5x" is not a duration`}},
		{[]string{"clock", "offset", "--data", dir, "1000000h"}, 2, []string{"beyond"}},
		{[]string{"clock", "offset", "--data", dir, "4s", "5s"}, 2, []string{`unexpected argument "5s"`}},
		{[]string{"clock", "offset", "-h"}, 0, []string{"DURATION", "within a second"}},
		{[]string{"clock", "show"}, 2, []string{"--data is required"}},
		{[]string{"clock", "show", "--data", dir, "extra"}, 2, []string{"unexpected argument"}},
		// No store in the directory: refused, not created.
		{[]string{"clock", "show", "--data", dir}, 1, []string{"holds no cloud data"}},
		{[]string{"clock", "offset", "--data", dir, "44s"}, 1, []string{"holds no cloud data"}},
		{[]string{"serve", "--data", dir, "--clock-offset", "44"}, 2, []string{`"44" is not a duration`, "Usage: cld-cloud serve"}},
		{[]string{"serve", "--data", dir, "--clock-offset", "-1000000h"}, 2, []string{"beyond"}},
		{[]string{"help"}, 0, []string{"clock offset", "clock show"}},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			wantCode(t, cli(t, "", tt.args...), tt.code, tt.contains...)
		})
	}
}

// TestClockCommands sets and shows the offset without a server, with the
// offset before or after the flags, and negative.
func TestClockCommands(t *testing.T) {
	dir := t.TempDir()
	wantCode(t, cli(t, "", "account", "list", "--data", dir), 0) // creates the store
	wantCode(t, cli(t, "", "clock", "show", "--data", dir), 0, "has no offset (offset 0s)")
	wantCode(t, cli(t, "", "clock", "offset", "--data", dir, "44s"), 0, "runs 44s ahead (offset 44s, was 0s)")
	wantCode(t, cli(t, "", "clock", "show", "--data", dir), 0, "runs 44s ahead (offset 44s, set ")
	wantCode(t, cli(t, "", "clock", "offset", "-1m30s", "--data", dir), 0, "runs 1m30s behind (offset -1m30s, was 44s)")
	wantCode(t, cli(t, "", "clock", "show", "--data="+dir), 0, "runs 1m30s behind")
	wantCode(t, cli(t, "", "clock", "offset", "--data", dir, "--", "-50s"), 0, "runs 50s behind")
	wantCode(t, cli(t, "", "clock", "offset", "--data", dir, "0"), 0, "has no offset (offset 0s, was -50s)")
}

// cloudTime asks the running cloud for its time and returns its offset
// from this host's clock (round-trip corrected).
func cloudTime(t *testing.T, c *http.Client, base string) time.Duration {
	t.Helper()
	t0 := time.Now()
	res, err := c.Get(base + cloudapi.PathTime)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	t3 := time.Now()
	var tr cloudapi.TimeResponse
	if err := json.NewDecoder(res.Body).Decode(&tr); err != nil || res.StatusCode != 200 {
		t.Fatalf("time: %d %v", res.StatusCode, err)
	}
	if tr.SendTime.Before(tr.ReceiveTime) {
		t.Errorf("send %v before receive %v", tr.SendTime, tr.ReceiveTime)
	}
	date, err := http.ParseTime(res.Header.Get("Date"))
	if err != nil {
		t.Fatalf("Date %q: %v", res.Header.Get("Date"), err)
	}
	offset := (tr.ReceiveTime.Sub(t0) + tr.SendTime.Sub(t3)) / 2
	if d := date.Sub(t3) - offset; d < -time.Second-time.Second/2 || d > time.Second {
		t.Errorf("Date %s is %v off the time endpoint's offset %v", res.Header.Get("Date"), d, offset)
	}
	return offset
}

// serving is a cld-cloud serve running in process.
type serving struct {
	base        string
	out, errb   *syncBuffer
	stopAndWait func(t *testing.T)
}

// startServe runs serve in process until stopAndWait.
func startServe(t *testing.T, args ...string) serving {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s := serving{out: &syncBuffer{}, errb: &syncBuffer{}}
	done := make(chan int, 1)
	go func() {
		done <- runEnv(env{ctx: ctx, stdin: strings.NewReader(""), stdout: s.out, stderr: s.errb,
			isTerminal: func() bool { return false }}, append([]string{"serve"}, args...))
	}()
	s.stopAndWait = func(t *testing.T) {
		t.Helper()
		cancel()
		select {
		case code := <-done:
			if code != 0 {
				t.Fatalf("serve exit %d: %s", code, s.errb.String())
			}
		case <-time.After(15 * time.Second):
			t.Fatal("serve did not stop")
		}
	}
	waitFor(t, "the listen URL", func() bool {
		select {
		case code := <-done:
			cancel()
			t.Fatalf("serve exited %d: %s %s", code, s.out.String(), s.errb.String())
		default:
		}
		if m := urlRE.FindStringSubmatch(s.out.String()); m != nil {
			s.base = m[1]
		}
		return s.base != ""
	})
	return s
}

// TestServeClockOffset starts serve with --clock-offset and changes the
// offset with "clock offset" while it runs.
func TestServeClockOffset(t *testing.T) {
	dir := t.TempDir()
	srv := startServe(t, "--data", dir, "--listen", "127.0.0.1:0", "--edge-listen", "off", "--clock-offset", "44s")
	if !strings.Contains(srv.out.String(), "The cloud's clock runs 44s ahead (--clock-offset)") {
		t.Errorf("start output lacks the offset:\n%s", srv.out.String())
	}
	c := caClient(t, filepath.Join(dir, "ca.pem"))
	defer c.CloseIdleConnections()
	near := func(got, want time.Duration) bool { return got > want-time.Second && got < want+time.Second }
	if got := cloudTime(t, c, srv.base); !near(got, 44*time.Second) {
		t.Fatalf("offset at start %v, want 44s", got)
	}
	wantCode(t, cli(t, "", "clock", "show", "--data", dir), 0, "runs 44s ahead")

	for _, want := range []time.Duration{-50 * time.Second, 0} {
		wantCode(t, cli(t, "", "clock", "offset", "--data", dir, want.String()), 0)
		start := time.Now()
		for got := cloudTime(t, c, srv.base); !near(got, want); got = cloudTime(t, c, srv.base) {
			if time.Since(start) > 2*time.Second {
				t.Fatalf("offset %v after %v, want %v", got, time.Since(start), want)
			}
			time.Sleep(50 * time.Millisecond)
		}
		t.Logf("offset %v applied after %v", want, time.Since(start).Round(time.Millisecond))
	}
	if logs := srv.errb.String(); !strings.Contains(logs, "runs 50s behind") || !strings.Contains(logs, "has no offset") {
		t.Errorf("changes not logged:\n%s", logs)
	}
	c.CloseIdleConnections()
	srv.stopAndWait(t)

	// serve without --clock-offset starts without an offset, whatever was
	// stored.
	wantCode(t, cli(t, "", "clock", "offset", "--data", dir, "10s"), 0)
	srv = startServe(t, "--data", dir, "--listen", "127.0.0.1:0", "--edge-listen", "off")
	if strings.Contains(srv.out.String(), "clock") {
		t.Errorf("start output names the clock:\n%s", srv.out.String())
	}
	wantCode(t, cli(t, "", "clock", "show", "--data", dir), 0, "has no offset")
	srv.stopAndWait(t)
}
