package main

import (
	"bufio"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cloudlink/cld/agent/api"
)

// refusing407 is an HTTP proxy that answers every request 407 (wrong
// credentials).
func refusing407(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer c.Close()
				if _, err := http.ReadRequest(bufio.NewReader(c)); err == nil {
					c.Write([]byte("HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm=\"t\"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"))
				}
			})
		}
	})
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	return ln.Addr().String()
}

func (d *daemon) appendConfig(s string) {
	d.t.Helper()
	f, err := os.OpenFile(d.configFile, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		d.t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(s); err != nil {
		d.t.Fatal(err)
	}
}

// TestProcessDoctor runs `cld doctor` against real daemons: a healthy one
// (exit 0, status --json carries clock), one whose cloud has no DNS and
// whose state directory became unwritable, one behind a proxy that refuses
// (407): every finding is printed with its remedy and the exit code is 1.
func TestProcessDoctor(t *testing.T) {
	t.Parallel()
	needBinaries(t)
	c := theCloud(t)

	t.Run("healthy", func(t *testing.T) {
		d := newDaemon(t, c)
		d.start()
		out, errOut, code := d.cli("", "doctor")
		if code != 0 {
			t.Fatalf("cld doctor: exit %d\n%s%s", code, out, errOut)
		}
		for _, want := range []string{"[PASS] The cloud is reachable", "[PASS] The cloud's TLS certificate verifies", "[PASS] The clock agrees with the cloud's", "[PASS] The state directory is writable", "0 failed"} {
			if !strings.Contains(out, want) {
				t.Errorf("doctor output lacks %q:\n%s", want, out)
			}
		}
		_, raw := d.statusJSON()
		clock, ok := raw["clock"].(map[string]any)
		if !ok {
			t.Fatalf("status --json has no clock: %v", raw)
		}
		for _, k := range []string{"drift_seconds", "synchronized", "measured_at"} {
			if _, ok := clock[k]; !ok {
				t.Errorf("clock lacks %s: %v", k, clock)
			}
		}
		if clock["measured_at"] == nil {
			// The first measurement runs at start; it may still be on its way.
			time.Sleep(time.Second)
			_, raw = d.statusJSON()
			clock = raw["clock"].(map[string]any)
		}
		if clock["measured_at"] == nil || clock["drift_seconds"].(float64) > 1 || clock["drift_seconds"].(float64) < -1 {
			t.Errorf("clock %v", clock)
		}
		human, _, _ := d.cli("", "status")
		if !strings.Contains(human, "Clock drift:") || !strings.Contains(human, "Clock synchronized:") {
			t.Errorf("cld status lacks the clock:\n%s", human)
		}
	})

	t.Run("no DNS, unwritable state", func(t *testing.T) {
		d := newDaemon(t, c)
		d.cloud = "https://cloud.cld-doctor.invalid"
		d.start()
		// As root, mode bits do not stop writes: a regular file takes the
		// state directory's place (as a broken disk or mount would).
		if err := os.Rename(d.state, d.state+".moved"); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(d.state, []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
		out, errOut, code := d.cli("", "doctor")
		if code != 1 {
			t.Errorf("cld doctor: exit %d, want 1\n%s%s", code, out, errOut)
		}
		for _, want := range []string{
			"[FAIL] DNS resolves the cloud's domain", "cloud.cld-doctor.invalid does not resolve",
			"Remedy: Configure DNS on this host to resolve cloud.cld-doctor.invalid, or forward queries to a DNS server that can",
			"[FAIL] The cloud is reachable", "[FAIL] The state directory is writable", d.state + " is not a directory",
			"Remedy: Make " + d.state + " a directory", "Some checks FAILED",
		} {
			if !strings.Contains(out, want) {
				t.Errorf("doctor output lacks %q:\n%s", want, out)
			}
		}
		js, _, code := d.cli("", "doctor", "--json")
		var doc api.Doctor
		if err := json.Unmarshal([]byte(js), &doc); err != nil || code != 1 || doc.OK || len(doc.Checks) < 7 {
			t.Errorf("doctor --json: exit %d, %v\n%s", code, err, js)
		}
		os.Remove(d.state)
		os.Rename(d.state+".moved", d.state)
	})

	t.Run("no daemon", func(t *testing.T) {
		// The daemon cannot start (say, its state directory is a file):
		// cld doctor checks from the CLI with the same configuration.
		dir := t.TempDir()
		state := filepath.Join(dir, "state")
		os.WriteFile(state, []byte("x"), 0o600)
		cfgFile := filepath.Join(dir, "cld.yaml")
		os.WriteFile(cfgFile, []byte("cloud: https://cloud.cld-doctor.invalid\nstate_dir: "+state+"\n"), 0o600)
		cmd := command(cldBin, "doctor", "--config", cfgFile, "--socket", filepath.Join(dir, "none.sock"))
		outb, _ := cmd.CombinedOutput()
		out := string(outb)
		if code := cmd.ProcessState.ExitCode(); code != 1 {
			t.Errorf("exit %d, want 1\n%s", code, out)
		}
		for _, want := range []string{"[FAIL] The cld daemon is running", "systemctl start cld", "[FAIL] DNS resolves the cloud's domain",
			"Remedy: Configure DNS on this host to resolve cloud.cld-doctor.invalid", "[FAIL] The state directory is writable", state + " is not a directory"} {
			if !strings.Contains(out, want) {
				t.Errorf("doctor output lacks %q:\n%s", want, out)
			}
		}
	})

	t.Run("proxy refuses", func(t *testing.T) {
		d := newDaemon(t, c)
		d.appendConfig("proxy: http://cld:wrong-password@" + refusing407(t) + "\n")
		d.start()
		out, errOut, code := d.cli("", "doctor")
		if code != 1 {
			t.Errorf("cld doctor: exit %d, want 1\n%s%s", code, out, errOut)
		}
		for _, want := range []string{"[FAIL] The HTTP proxy works", "refused the credentials", "407 Proxy Authentication Required",
			"Remedy: Check the credentials: check proxy: user and password in " + d.configFile, "[FAIL] The cloud is reachable", "through the proxy"} {
			if !strings.Contains(out, want) {
				t.Errorf("doctor output lacks %q:\n%s", want, out)
			}
		}
		if strings.Contains(out, "wrong-password") {
			t.Error("the proxy password is printed")
		}
	})
}

var _ = filepath.Join

// TestProcessClockOffset drives the drift with the reference cloud's clock
// offset, as `make demo` can: --clock-offset 44s warns with "44s"; `cld-cloud
// clock offset 50s` on the live cloud makes `cld doctor` (a fresh
// measurement) fail and the warning an error; 0 clears it.
func TestProcessClockOffset(t *testing.T) {
	t.Parallel()
	needBinaries(t)
	data := filepath.Join(t.TempDir(), "cloud")
	c, err := startCloud(data, "--listen", "127.0.0.1:0", "--edge-listen", "off", "--clock-offset", "44s")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.cmd.Process.Signal(os.Interrupt); <-c.done })
	d := newDaemon(t, c)
	d.start()
	driftWarning := func() (api.Warning, bool) {
		st, _ := d.statusJSON()
		for _, w := range st.Warnings {
			if w.Code == "clock_drift" {
				return w, true
			}
		}
		return api.Warning{}, false
	}
	deadline := time.Now().Add(30 * time.Second)
	w, ok := driftWarning()
	for !ok && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond) // the first measurement runs at start
		w, ok = driftWarning()
	}
	if w.Text != "The system time is incorrect. This can cause connection problems. Clock drift detected: 44s" || w.Severity != api.SeverityWarning {
		t.Fatalf("at 44s: %+v", w)
	}
	human, _, _ := d.cli("", "status")
	if !strings.Contains(human, "Clock drift detected: 44s") || !strings.Contains(human, "Remedy: ") {
		t.Errorf("cld status:\n%s", human)
	}
	setOffset := func(off string) {
		t.Helper()
		cmd := command(cloudBin, "clock", "offset", "--data", data, off)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("cld-cloud clock offset %s: %v\n%s", off, err, out)
		}
		time.Sleep(1500 * time.Millisecond) // the running cloud applies it within a second
	}
	setOffset("50s")
	out, _, code := d.cli("", "doctor")
	if code != 1 || !strings.Contains(out, "[FAIL] The clock agrees with the cloud's") || !strings.Contains(out, "Clock drift detected: 50s") {
		t.Errorf("doctor at 50s: exit %d\n%s", code, out)
	}
	if w, _ := driftWarning(); w.Severity != api.SeverityError || !strings.HasSuffix(w.Text, "50s") {
		t.Errorf("at 50s: %+v", w)
	}
	setOffset("0s")
	out, _, code = d.cli("", "doctor")
	if code != 0 {
		t.Errorf("doctor at 0: exit %d\n%s", code, out)
	}
	if w, ok := driftWarning(); ok {
		t.Errorf("at 0: %+v", w)
	}
}
