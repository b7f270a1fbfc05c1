package main

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cloudlink/cld/agent/provisioning"
)

// TestProcessRequestLimits: what a client on the network sends the
// daemon's listener is bounded, each refusal saying why: a 100 KiB header
// (431), a local API body over 64 KiB (413), a dashboard form over 64 KiB
// (400) and a PM sync over 8 MiB (413); of 300 idle connections the
// daemon holds at most maxDashboardConns (its file descriptors counted),
// and answers again once they go.
func TestProcessRequestLimits(t *testing.T) {
	t.Parallel()
	needBinaries(t)
	d := newDaemon(t, theCloud(t))
	d.start()
	if out, errOut, code := d.cli(pmPass+"\n", "pm", "credential", "--username", pmUser, "--password-stdin"); code != 0 {
		t.Fatalf("pm credential: %d %s%s", code, out, errOut)
	}
	dash := d.dashboardURL()
	admin := strings.TrimSpace(mustRead(t, filepath.Join(d.state, "dashboard-initial-password")))
	hc := &http.Client{Timeout: 30 * time.Second}
	send := func(method, path, ctype string, body []byte, header map[string]string, user, pass string) (int, string) {
		t.Helper()
		req, err := http.NewRequest(method, dash+path, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if ctype != "" {
			req.Header.Set("Content-Type", ctype)
		}
		for k, v := range header {
			req.Header.Set(k, v)
		}
		if user != "" {
			req.SetBasicAuth(user, pass)
		}
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		return resp.StatusCode, string(b)
	}

	if code, _ := send("GET", "/", "", nil, map[string]string{"X-Padding": strings.Repeat("a", 100<<10)}, "", ""); code != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("a 100 KiB header: %d, want 431", code)
	}
	big := fmt.Sprintf(`{"username":"%s","password":"x"}`, strings.Repeat("a", 70<<10))
	if code, body := send("POST", "/api/v1/link", "application/json", []byte(big), nil, "admin", admin); code != http.StatusRequestEntityTooLarge && (code != http.StatusBadRequest || !strings.Contains(body, "larger than")) {
		t.Errorf("a 70 KiB local API body: %d %s, want 413 or 400 saying it is too large", code, body)
	}
	form := url.Values{"username": {"admin"}, "password": {strings.Repeat("p", 70<<10)}, "csrf": {"x"}}.Encode()
	if code, body := send("POST", "/login", "application/x-www-form-urlencoded", []byte(form), map[string]string{"Sec-Fetch-Site": "same-origin"}, "", ""); code != http.StatusBadRequest || !strings.Contains(body, "The form could not be read") {
		t.Errorf("a 70 KiB sign-in form: %d, want 400 saying the form could not be read\n%.300s", code, body)
	}
	huge := bytes.Repeat([]byte(" "), provisioning.MaxBodyBytes+1)
	if code, body := send("POST", provisioning.Prefix+"/sync", "application/json", huge, nil, pmUser, pmPass); code != http.StatusRequestEntityTooLarge {
		t.Errorf("a PM sync over 8 MiB: %d %.300s, want 413", code, body)
	}

	// Idle connections: the daemon holds at most maxDashboardConns.
	pid := d.cmd.Process.Pid
	before := countFDs(t, pid)
	addr := strings.SplitN(strings.TrimPrefix(dash, "http://"), "/", 2)[0]
	var conns []net.Conn
	for range 300 {
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			break // the kernel's backlog is full: also a bound
		}
		conns = append(conns, c)
	}
	time.Sleep(500 * time.Millisecond) // let the daemon accept what it will
	held := countFDs(t, pid) - before
	for _, c := range conns {
		c.Close()
	}
	if held > maxDashboardConns+2 {
		t.Errorf("%d idle connections made the daemon hold %d more file descriptors, want at most %d", len(conns), held, maxDashboardConns)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		code, _ := send("GET", "/login", "", nil, nil, "", "")
		if code == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the dashboard does not answer after the idle connections closed: %d", code)
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("%d idle connections: %d more file descriptors held (bound %d)", len(conns), held, maxDashboardConns)
}

// countFDs is the number of open file descriptors of a process.
func countFDs(t *testing.T, pid int) int {
	t.Helper()
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}
