package main

import (
	"context"
	"fmt"
	"io"
	"io/fs"
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

// TestProcessSecretsNowhere plants secrets (a proxy password in the
// config, a dashboard account's password, PM's credential, and wrong
// passwords tried at the dashboard and the PM API) in a linked daemon that
// sends a report and a PM sync, then looks everywhere the daemon writes or
// answers: its log, every file under its directories, the cloud's data,
// the status, doctor, metrics and report preview answers. No planted
// secret and not the system's client secret appears anywhere but in the
// files that must hold them, and those are 0600.
func TestProcessSecretsNowhere(t *testing.T) {
	t.Parallel()
	needBinaries(t)
	data := t.TempDir()
	c, err := startCloud(data, "--listen", "127.0.0.1:0", "--edge-listen", "off")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.cmd.Process.Kill(); <-c.done })
	d := newDaemon(t, c)
	const (
		proxyPass = "planted-proxy-Pa55"
		dashPass  = "planted-dashboard-Pa55"
		pmSecret  = "planted-pm-Pa55word"
		wrongDash = "planted-wrong-dashboard-guess"
		wrongPM   = "planted-wrong-pm-guess"
	)
	cfg := fmt.Sprintf("machine_id_file: %s\nstate_dir: %s\nheartbeat_interval: 1m\nproxy: http://proxyuser:%s@127.0.0.1:3128\nno_proxy: \"*\"\n",
		filepath.Join(d.dir, "machine-id"), d.state, proxyPass)
	if err := os.WriteFile(d.configFile, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	d.start()
	for _, step := range []struct {
		stdin string
		args  []string
	}{
		{password + "\n", []string{"link", "--username", admin, "--password-stdin", "--account", "100001"}},
		{dashPass + "\n", []string{"dashboard-user", "--username", "ops", "--password-stdin"}},
		{pmSecret + "\n", []string{"pm", "credential", "--username", pmUser, "--password-stdin"}},
		{"", []string{"inventory", "submit"}},
	} {
		if out, errOut, code := d.cli(step.stdin, step.args...); code != 0 {
			t.Fatalf("cld %s: exit %d\n%s%s", strings.Join(step.args, " "), code, out, errOut)
		}
	}
	dash := d.dashboardURL()
	hc := &http.Client{Timeout: 30 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

	// Wrong guesses at the dashboard's sign-in and at PM's API.
	resp, err := hc.PostForm(dash+"/login", url.Values{"username": {"ops"}, "password": {wrongDash}, "csrf": {"x"}})
	if err == nil {
		resp.Body.Close()
	}
	req, _ := http.NewRequest(http.MethodGet, dash+provisioning.Prefix+"/status", nil)
	req.SetBasicAuth(pmUser, wrongPM)
	if resp, err := hc.Do(req); err == nil {
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("PM's API with a wrong password: %s, want 401", resp.Status)
		}
	}
	// A PM sync with the right credential.
	req, _ = http.NewRequest(http.MethodPost, dash+provisioning.Prefix+"/sync", strings.NewReader(pmBody(3)))
	req.SetBasicAuth(pmUser, pmSecret)
	req.Header.Set("Content-Type", "application/json")
	if resp, err := hc.Do(req); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("PM sync: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
	deadline := time.Now().Add(30 * time.Second)
	for p := d.pmStatus(); p.Pending != 0 || p.Sending; p = d.pmStatus() {
		if time.Now().After(deadline) {
			t.Fatalf("the PM sync did not reach the cloud: %+v", p)
		}
		time.Sleep(50 * time.Millisecond)
	}

	// What the daemon answers.
	answers := map[string]string{}
	for _, args := range [][]string{{"status", "--json"}, {"doctor", "--json"}, {"inventory", "preview"}, {"pm", "status", "--json"}, {"tunnel", "list", "--json"}} {
		out, errOut, _ := d.cli("", args...)
		answers["cld "+strings.Join(args, " ")] = out + errOut
	}
	answers["GET /metrics"] = unixGet(t, d.socket, "/metrics")
	clientSecret := mustReadSecret(t, d.state)
	initial := strings.TrimSpace(mustRead(t, filepath.Join(d.state, "dashboard-initial-password")))
	d.stop()
	answers["the daemon's log"] = d.out.String()

	secrets := map[string]string{"the proxy password": proxyPass, "the dashboard password": dashPass, "PM's password": pmSecret,
		"a wrong dashboard guess": wrongDash, "a wrong PM guess": wrongPM, "the client secret": clientSecret,
		"the initial dashboard password": initial, "the cloud user's password": password}
	// Files that must hold a secret, and must be 0600.
	holders := map[string][]string{
		d.configFile:                        {proxyPass},
		filepath.Join(d.state, "link.json"): {clientSecret},
		filepath.Join(d.state, "dashboard-initial-password"): {initial},
	}
	for name, text := range answers {
		for what, s := range secrets {
			if strings.Contains(text, s) {
				t.Errorf("%s holds %s", name, what)
			}
		}
	}
	files := 0
	for _, root := range []string{d.dir, data} {
		filepath.WalkDir(root, func(path string, e fs.DirEntry, err error) error {
			if err != nil || e.IsDir() || e.Type()&fs.ModeSocket != 0 {
				return nil
			}
			b, err := os.ReadFile(path)
			if err != nil {
				t.Errorf("reading %s: %v", path, err)
				return nil
			}
			files++
			for what, s := range secrets {
				if !strings.Contains(string(b), s) {
					continue
				}
				if allowed := holders[path]; !contains(allowed, s) {
					t.Errorf("%s holds %s", path, what)
				}
			}
			return nil
		})
	}
	for path := range holders {
		if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s must be 0600: %v %v", path, fi.Mode(), err)
		}
	}
	if files < 10 {
		t.Fatalf("only %d files looked at", files)
	}
	t.Logf("%d files and %d answers looked at, no secret out of place", files, len(answers))
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// unixGet is a GET on the daemon's local API socket.
func unixGet(t *testing.T, socket, path string) string {
	t.Helper()
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", socket)
		}}}
	resp, err := hc.Get("http://cld" + path)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s %s", path, resp.Status, b)
	}
	return string(b)
}
