package main

import (
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/cloudlink/cld/agent/api"
	"github.com/cloudlink/cld/agent/provisioning"
	"github.com/cloudlink/cld/cloud/cloudapi"
	"github.com/cloudlink/cld/platforms/simhost"
)

const pmUser, pmPass = "pm-admin", "pm-password-1"

var dashboardRE = regexp.MustCompile(`msg="dashboard listening".* url=(http://\S+?)/?(\s|$)`)

// pmDirectory is what `cld-cloud directory --json` prints.
type pmDirectory struct {
	Users   []cloudapi.DirectoryUser   `json:"users"`
	Devices []cloudapi.DirectoryDevice `json:"devices"`
	Batches int                        `json:"batches"`
}

func cloudDirectory(t *testing.T, data string) pmDirectory {
	t.Helper()
	out, err := exec.Command(cloudBin, "directory", "--data", data, "--account", "100001", "--json").Output()
	if err != nil {
		t.Fatalf("cld-cloud directory: %v %s", err, out)
	}
	var d pmDirectory
	if err := json.Unmarshal(out, &d); err != nil {
		t.Fatal(err)
	}
	return d
}

// pmBody is a sync of n users and n devices.
func pmBody(n int) string {
	users, devices := make([]cloudapi.DirectoryUser, n), make([]cloudapi.DirectoryDevice, n)
	for i := range n {
		users[i] = cloudapi.DirectoryUser{Email: fmt.Sprintf("user%04d@example.com", i), Extension: fmt.Sprint(30000 + i), LastName: fmt.Sprintf("User %d", i), Services: []string{cloudapi.ServiceZoomClient}}
		devices[i] = cloudapi.DirectoryDevice{ID: fmt.Sprintf("SEP%012d", i), Extension: fmt.Sprint(30000 + i), Type: "sip"}
	}
	b, _ := json.Marshal(map[string]any{"users": users, "devices": devices})
	return string(b)
}

func (d *daemon) dashboardURL() string {
	d.t.Helper()
	m := d.waitLog(dashboardRE)
	return m[1]
}

func (d *daemon) pmStatus() api.Provisioning {
	d.t.Helper()
	out, errOut, code := d.cli("", "pm", "status", "--json")
	var p api.Provisioning
	if code != 0 || json.Unmarshal([]byte(out), &p) != nil {
		d.t.Fatalf("cld pm status: %d %s%s", code, out, errOut)
	}
	return p
}

// A sync interrupted by kill -9 completes after the restart with nothing
// lost or doubled at the cloud: killed before the batch was sent, after
// the cloud applied it but before the daemon recorded that (the batch is
// sent again with its ID and applied once), and at once after PM's answer.
func TestProcessPMSyncKill9(t *testing.T) {
	t.Parallel()
	needReleases(t) // a build with the cldtest tag (CLD_TEST_KILL_AT)
	const n = 5000
	body := pmBody(n)
	for _, at := range []string{provisioning.StepSending, provisioning.StepAccepted, "answered"} {
		t.Run(at, func(t *testing.T) {
			data := t.TempDir()
			c, err := startCloud(data, "--listen", "127.0.0.1:0", "--edge-listen", "off")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { c.cmd.Process.Kill(); <-c.done })
			d := newDaemon(t, c)
			d.bin = relBins["v1"]
			if at != "answered" {
				d.env = []string{"CLD_TEST_KILL_AT=" + at}
			}
			d.start()
			if out, errOut, code := d.cli(password+"\n", "link", "--username", admin, "--password-stdin", "--account", "100001"); code != 0 {
				t.Fatalf("link: exit %d\n%s%s", code, out, errOut)
			}
			if out, errOut, code := d.cli(pmPass+"\n", "pm", "credential", "--username", pmUser, "--password-stdin"); code != 0 {
				t.Fatalf("pm credential: exit %d\n%s%s", code, out, errOut)
			}
			req, _ := http.NewRequest("POST", d.dashboardURL()+provisioning.Prefix+"/sync", strings.NewReader(body))
			req.SetBasicAuth(pmUser, pmPass)
			req.Header.Set("Content-Type", "application/json")
			start := time.Now()
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			var res provisioning.SyncResult
			json.NewDecoder(resp.Body).Decode(&res)
			resp.Body.Close()
			if resp.StatusCode != 200 || res.Users.Created != n || res.Devices.Created != n {
				t.Fatalf("sync: %d %+v", resp.StatusCode, res)
			}
			if at == "answered" {
				d.kill9()
			} else {
				select {
				case <-d.done:
					d.cmd = nil
				case <-time.After(60 * time.Second):
					t.Fatalf("not killed at %s:\n%s", at, d.out.String())
				}
			}
			before := cloudDirectory(t, data)
			d.env = nil
			d.start()
			deadline := time.Now().Add(60 * time.Second)
			for p := d.pmStatus(); p.Pending != 0 || p.Sending; p = d.pmStatus() {
				if time.Now().After(deadline) {
					t.Fatalf("the sync did not complete after the restart: %+v\n%s", p, d.out.String())
				}
				time.Sleep(50 * time.Millisecond)
			}
			took := time.Since(start)
			after := cloudDirectory(t, data)
			if len(after.Users) != n || len(after.Devices) != n {
				t.Fatalf("the cloud has %d users and %d devices, want %d each", len(after.Users), len(after.Devices), n)
			}
			seen := map[string]bool{}
			for _, u := range after.Users {
				if seen[u.Email] || !strings.HasPrefix(u.Email, "user") {
					t.Fatalf("user %+v twice or unknown", u)
				}
				seen[u.Email] = true
			}
			// Whenever the kill came, the cloud applied one batch: one
			// killed after the cloud applied it is sent again with its ID,
			// a duplicate.
			if after.Batches != 1 {
				t.Fatalf("the cloud applied %d batches (before the restart %d), want 1", after.Batches, before.Batches)
			}
			t.Logf("killed at %s: the cloud had %d batches before the restart; complete %.1fs after PM's request", at, before.Batches, took.Seconds())
			d.stop()
		})
	}
}

// PM reaches the daemon as the guide says, at https://<SNM>/cld: the SNM's
// web server (the simulated host's, real TLS) serves cld under /cld and
// the PM API behind it. A batch with invalid users syncs the valid ones
// and names each invalid one; wrong credentials are refused.
func TestProcessPMThroughHostWebServer(t *testing.T) {
	t.Parallel()
	needBinaries(t)
	data := t.TempDir()
	c, err := startCloud(data, "--listen", "127.0.0.1:0", "--edge-listen", "off")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.cmd.Process.Kill(); <-c.done })
	d := newDaemon(t, c)
	d.start()
	if out, errOut, code := d.cli(password+"\n", "link", "--username", admin, "--password-stdin", "--account", "100001"); code != 0 {
		t.Fatalf("link: exit %d\n%s%s", code, out, errOut)
	}
	if out, errOut, code := d.cli(pmPass+"\n", "pm", "credential", "--username", pmUser, "--password-stdin"); code != 0 {
		t.Fatalf("pm credential: exit %d\n%s%s", code, out, errOut)
	}
	p, _ := simhost.LookupPlatform(simhost.PlatformMXONE)
	host, err := simhost.Start(simhost.Config{UIs: p.UIs[:1], Username: "admin", Password: "admin", CLD: d.dashboardURL(),
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer host.Close()
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: host.CertPool()}}}
	defer hc.CloseIdleConnections()
	pmURL := host.URL("mxone-snm") + "/cld" + provisioning.Prefix
	if !strings.HasPrefix(pmURL, "https://") {
		t.Fatalf("the SNM's URL %s is not https", pmURL)
	}
	post := func(user, pass, body string) (int, string) {
		req, _ := http.NewRequest("POST", pmURL+"/sync", strings.NewReader(body))
		req.SetBasicAuth(user, pass)
		req.Header.Set("Content-Type", "application/json")
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := post(pmUser, "wrong-password", `{"users":[]}`); code != 401 || !strings.Contains(body, "cld pm credential") {
		t.Fatalf("wrong password through the SNM: %d %s", code, body)
	}
	body := `{"users":[
		{"email":"anna.berg@example.com","extension":"2001","first_name":"Anna","last_name":"Berg","services":["zoom-client"]},
		{"email":"no-name@example.com","extension":"2002"},
		{"email":"bo.ek@example","extension":"2003","last_name":"Ek"},
		{"email":"carl.dahl@example.com","extension":"2004","last_name":"Dahl"}
	],"devices":[{"id":"SEP0011223344","extension":"2001","type":"sip","owner":"anna.berg@example.com"}]}`
	code, out := post(pmUser, pmPass, body)
	var res provisioning.SyncResult
	if code != 200 || json.Unmarshal([]byte(out), &res) != nil || res.Users.Created != 2 || res.Users.Invalid != 2 || len(res.Errors) != 2 {
		t.Fatalf("sync through the SNM: %d %s", code, out)
	}
	if e := res.Errors[0]; e.Index != 1 || e.Key != "no-name@example.com" || !strings.Contains(e.Message, "first_name or last_name is needed") {
		t.Errorf("first error %+v", e)
	}
	if e := res.Errors[1]; e.Index != 2 || !strings.Contains(e.Message, "not an e-mail address") {
		t.Errorf("second error %+v", e)
	}
	deadline := time.Now().Add(30 * time.Second)
	for d.pmStatus().Pending != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("not synced: %+v", d.pmStatus())
		}
		time.Sleep(50 * time.Millisecond)
	}
	dir := cloudDirectory(t, data)
	if len(dir.Users) != 2 || dir.Users[0].Email != "anna.berg@example.com" || dir.Users[1].Email != "carl.dahl@example.com" || len(dir.Devices) != 1 {
		t.Fatalf("the cloud's directory: %+v", dir)
	}
	out, _, _ = d.cli("", "status")
	if !strings.Contains(out, "2 users, 1 device") {
		t.Errorf("cld status does not show the PM directory:\n%s", out)
	}
}
