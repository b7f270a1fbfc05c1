package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// PM sync sizes: the guide's maximum for MX-ONE 8.1 and later.
const pmUsers, pmDevices = 5000, 5000

// measurePM syncs 5000 users and 5000 devices through the daemon's
// Provisioning Manager API (on the dashboard's listener) into the
// reference cloud: the time from PM's request until the cloud holds them
// all; then the same sync again: its answer's time, and the batches it
// sent to the cloud (none) and the changes it made (none).
func (s *stack) measurePM() (map[string]float64, error) {
	const user, pass = "pm-admin", "pm-bench-password"
	if _, err := s.cli(pass+"\n", []string{"pm", "credential"}, "--username", user, "--password-stdin"); err != nil {
		return nil, err
	}
	body := pmBody()
	post := func() (map[string]any, time.Duration, error) {
		req, _ := http.NewRequest("POST", "http://"+s.dashAddr+"/pm/v1/sync", strings.NewReader(body))
		req.SetBasicAuth(user, pass)
		req.Header.Set("Content-Type", "application/json")
		start := time.Now()
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return nil, 0, err
		}
		defer resp.Body.Close()
		var out map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != 200 {
			return nil, 0, fmt.Errorf("PM sync: %d %v %v", resp.StatusCode, out, err)
		}
		return out, time.Since(start), nil
	}
	start := time.Now()
	if _, _, err := post(); err != nil {
		return nil, err
	}
	var first cloudDir
	if err := waitFor(60*time.Second, "the PM directory in the cloud", func() error {
		var err error
		if first, err = s.cloudDirectory(); err != nil {
			return err
		}
		if len(first.Users) != pmUsers || len(first.Devices) != pmDevices {
			return fmt.Errorf("the cloud has %d users and %d devices", len(first.Users), len(first.Devices))
		}
		return nil
	}); err != nil {
		return nil, err
	}
	syncS := time.Since(start).Seconds()
	out, took, err := post()
	if err != nil {
		return nil, err
	}
	changes := 0.0
	for _, list := range []string{"users", "devices"} {
		c, _ := out[list].(map[string]any)
		for _, k := range []string{"created", "changed", "deleted", "invalid"} {
			n, _ := c[k].(float64)
			changes += n
		}
	}
	time.Sleep(2 * time.Second) // a batch it sent would be at the cloud by now
	second, err := s.cloudDirectory()
	if err != nil {
		return nil, err
	}
	fmt.Printf("PM sync of %d users and %d devices: %.2f s to the cloud (%d batch); the same again: %.0f ms, %d batches, %.0f changes\n",
		pmUsers, pmDevices, syncS, first.Batches, took.Seconds()*1000, second.Batches-first.Batches, changes)
	return map[string]float64{
		"pm_sync_10k_s":          syncS,
		"pm_resync_ms":           took.Seconds() * 1000,
		"pm_resync_batches_sent": float64(second.Batches - first.Batches),
		"pm_resync_changes":      changes,
		"daemon_rss_pm_10k_mb":   readMemory(s.cld.pid()).rss,
	}, nil
}

// cloudDir is what `cld-cloud directory --json` prints.
type cloudDir struct {
	Users   []json.RawMessage `json:"users"`
	Devices []json.RawMessage `json:"devices"`
	Batches int               `json:"batches"`
}

func (s *stack) cloudDirectory() (cloudDir, error) {
	var d cloudDir
	out, err := exec.Command(filepath.Join(s.bin, "cld-cloud"), "directory", "--data", filepath.Join(s.dir, "cloud"), "--account", "100001", "--json").Output()
	if err != nil {
		return d, fmt.Errorf("cld-cloud directory: %v: %s", err, out)
	}
	return d, json.Unmarshal(out, &d)
}

func pmBody() string {
	type user struct {
		Email     string   `json:"email"`
		Extension string   `json:"extension"`
		FirstName string   `json:"first_name"`
		LastName  string   `json:"last_name"`
		Services  []string `json:"services"`
	}
	type device struct {
		ID        string `json:"id"`
		Extension string `json:"extension"`
		Type      string `json:"type"`
	}
	users, devices := make([]user, pmUsers), make([]device, pmDevices)
	for i := range users {
		users[i] = user{Email: fmt.Sprintf("user%04d@example.com", i), Extension: fmt.Sprint(40000 + i), FirstName: "User", LastName: fmt.Sprint(i), Services: []string{"zoom-client"}}
	}
	for i := range devices {
		devices[i] = device{ID: fmt.Sprintf("SEP%012d", i), Extension: fmt.Sprint(40000 + i), Type: "sip"}
	}
	b, _ := json.Marshal(map[string]any{"users": users, "devices": devices})
	return string(b)
}
