package agent

import (
	"bufio"
	"context"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/cloudlink/cld/agent/api"
	"github.com/cloudlink/cld/cloud"
)

func checkOf(t *testing.T, d api.Doctor, id string) api.Check {
	t.Helper()
	for _, c := range d.Checks {
		if c.ID == id {
			return c
		}
	}
	t.Fatalf("no check %s in %+v", id, d.Checks)
	return api.Check{}
}

func wantCheck(t *testing.T, d api.Doctor, id, status string, detailOrRemedy ...string) api.Check {
	t.Helper()
	c := checkOf(t, d, id)
	if c.Status != status {
		t.Errorf("%s: %s (%s | %s), want %s", id, c.Status, c.Detail, c.Remedy, status)
	}
	for _, s := range detailOrRemedy {
		if !strings.Contains(c.Detail+" | "+c.Remedy, s) {
			t.Errorf("%s: %q | %q lacks %q", id, c.Detail, c.Remedy, s)
		}
	}
	return c
}

// refusingProxy answers every request with 407 (a proxy whose credentials
// are wrong); it counts the requests.
type refusingProxy struct {
	ln net.Listener
	wg sync.WaitGroup
}

func newRefusingProxy(t *testing.T) *refusingProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &refusingProxy{ln: ln}
	p.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.wg.Go(func() {
				defer c.Close()
				req, err := http.ReadRequest(bufio.NewReader(c))
				if err != nil {
					return
				}
				_ = req
				c.Write([]byte("HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm=\"test\"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"))
			})
		}
	})
	t.Cleanup(func() { ln.Close(); p.wg.Wait() })
	return p
}

func TestDoctorHealthy(t *testing.T) {
	ts := cloud.NewTestServer(t)
	r := mustAgent(t, cloudConfig(t, ts), withDriftClock(clockwork.NewFakeClock()), withHostSync(syncedHost(true)))
	d := r.Doctor(context.Background())
	if !d.OK {
		t.Errorf("not OK: %+v", d.Checks)
	}
	wantCheck(t, d, "dns", api.CheckSkip, "IP address") // the test cloud is 127.0.0.1
	wantCheck(t, d, "cloud_reachable", api.CheckPass, "TCP connect", "200 OK", "directly")
	wantCheck(t, d, "tls", api.CheckPass, "verified")
	wantCheck(t, d, "clock_drift", api.CheckPass, "time endpoint")
	wantCheck(t, d, "clock_sync", api.CheckPass, "timedatectl")
	wantCheck(t, d, "proxy", api.CheckSkip, "No HTTP proxy")
	wantCheck(t, d, "state_dir", api.CheckPass, "Created and removed")
	for _, c := range d.Checks {
		t.Logf("%-16s %-4s %s", c.ID, c.Status, c.Detail)
	}
}

// TestDoctorFindings: no DNS for the cloud, an untrusted certificate, a
// proxy that refuses, an unwritable state directory, a drift beyond the
// limit: each a finding with its remedy, and OK false.
func TestDoctorFindings(t *testing.T) {
	t.Run("no DNS and no state dir", func(t *testing.T) {
		cfg := testConfig(t, t.TempDir())
		cfg.Cloud = "https://cloud.cld-doctor.invalid"
		r := mustAgent(t, cfg, withDriftClock(clockwork.NewFakeClock()), withHostSync(syncedHost(true)))
		// As root, permission bits do not stop writes: put a regular file
		// where the state directory was (the daemon keeps running).
		if err := os.Rename(cfg.StateDir, cfg.StateDir+".moved"); err != nil {
			t.Fatal(err)
		}
		writeFile(t, cfg.StateDir, "not a directory")
		d := r.Doctor(context.Background())
		if d.OK {
			t.Error("OK despite failures")
		}
		wantCheck(t, d, "dns", api.CheckFail, "cloud.cld-doctor.invalid does not resolve", "Configure DNS on this host to resolve cloud.cld-doctor.invalid")
		wantCheck(t, d, "cloud_reachable", api.CheckFail, "firewall")
		wantCheck(t, d, "tls", api.CheckSkip)
		wantCheck(t, d, "clock_drift", api.CheckWarn, "Could not measure")
		wantCheck(t, d, "state_dir", api.CheckFail, cfg.StateDir+" is not a directory", "Make "+cfg.StateDir+" a directory")
	})
	t.Run("untrusted certificate", func(t *testing.T) {
		ts := cloud.NewTestServer(t)
		cfg := cloudConfig(t, ts)
		cfg.CloudCA = ""
		r := mustAgent(t, cfg, withDriftClock(clockwork.NewFakeClock()), withHostSync(syncedHost(true)))
		d := r.Doctor(context.Background())
		wantCheck(t, d, "cloud_reachable", api.CheckPass, "TCP connect", "failed in TLS")
		wantCheck(t, d, "tls", api.CheckFail, "not trusted", "set cloud_ca")
		if d.OK {
			t.Error("OK")
		}
	})
	t.Run("proxy refuses", func(t *testing.T) {
		ts := cloud.NewTestServer(t)
		p := newRefusingProxy(t)
		cfg := cloudConfig(t, ts)
		cfg.Proxy = "http://cld:wrong@" + p.ln.Addr().String()
		r := mustAgent(t, cfg, withDriftClock(clockwork.NewFakeClock()), withHostSync(syncedHost(true)))
		d := r.Doctor(context.Background())
		wantCheck(t, d, "proxy", api.CheckFail, "refused the credentials", "407", "Check the credentials", "proxy: user and password")
		wantCheck(t, d, "cloud_reachable", api.CheckFail, "through the proxy http://cld:xxxxx@", "407")
		if d.OK {
			t.Error("OK")
		}
		for _, c := range d.Checks {
			if strings.Contains(c.Detail+c.Remedy, "wrong") {
				t.Errorf("the proxy password leaked: %+v", c)
			}
		}
	})
	t.Run("drift beyond the limit", func(t *testing.T) {
		ts := cloud.NewTestServer(t)
		r := mustAgent(t, cloudConfig(t, ts), withDriftClock(clockwork.NewFakeClock()), withHostSync(syncedHost(false)))
		ts.SetClockOffset(-50 * time.Second)
		d := r.Doctor(context.Background())
		wantCheck(t, d, "clock_drift", api.CheckFail, "Clock drift detected: 50s", "timedatectl status")
		wantCheck(t, d, "clock_sync", api.CheckWarn, "not synchronized", "configure a valid and reachable NTP server")
		if d.OK {
			t.Error("OK")
		}
	})
}

var _ = filepath.Join
