package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"
)

// measureUpdate times a self-update on loopback, from "update found" (the
// check of `cld update now` answers) to the new version answering healthy
// on its local API (on trial), and to its confirmation (the launcher's 15
// s watch included). It builds two cld binaries carrying a key of its own,
// the second one build newer, publishes the second in the running cloud
// and updates a second daemon linked to it.
func (s *stack) measureUpdate() (map[string]float64, error) {
	dir := filepath.Join(s.dir, "update")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	if out, err := exec.Command(filepath.Join(s.bin, "cld-cloud"), "release", "keygen", "--out", dir).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("keygen: %v: %s", err, out)
	}
	pub, err := os.ReadFile(filepath.Join(dir, "release.pub"))
	if err != nil {
		return nil, err
	}
	lines := strings.Split(strings.TrimSpace(string(pub)), "\n")
	key := lines[len(lines)-1]
	vers := map[string]string{"v1": "9.0.0+1", "v2": "9.0.0+2"}
	for name, v := range vers {
		cmd := exec.Command("go", "build", "-trimpath", "-tags", "nethttpomithttp2", "-ldflags",
			"-X github.com/cloudlink/cld/agent/build.Version="+v+" -X github.com/cloudlink/cld/agent/build.ReleaseKey="+key,
			"-o", filepath.Join(dir, name), "./cmd/cld")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("building cld %s: %v: %s", v, err, out)
		}
	}
	fi, err := os.Stat(filepath.Join(dir, "v2"))
	if err != nil {
		return nil, err
	}
	if out, err := exec.Command(filepath.Join(s.bin, "cld-cloud"), "release", "publish", "--data", filepath.Join(s.dir, "cloud"),
		"--stage", "production", "--binary", filepath.Join(dir, "v2"), "--key", filepath.Join(dir, "release.key"),
		"--version", vers["v2"], "--arch", runtime.GOARCH).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("publish: %v: %s", err, out)
	}
	socket := filepath.Join(dir, "cld.sock")
	logf, err := os.Create(filepath.Join(s.dir, "cld-update.log"))
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	d := exec.Command(filepath.Join(dir, "v1"), "run", "--state", filepath.Join(dir, "state"), "--socket", socket,
		"--cloud", "https://"+s.cloudAddr, "--cloud-ca", filepath.Join(s.dir, "cloud", "ca.pem"), "--listen", "", "--log-level", "info")
	d.Stdout, d.Stderr = logf, logf
	if err := d.Start(); err != nil {
		return nil, err
	}
	defer func() { d.Process.Kill(); d.Wait() }()
	cli := func(stdin string, args ...string) (string, error) {
		cmd := exec.Command(filepath.Join(dir, "v1"), append(args, "--socket", socket)...)
		cmd.Stdin = strings.NewReader(stdin)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	if err := waitFor(30*time.Second, "the update daemon", func() error { _, err := cli("", "status"); return err }); err != nil {
		return nil, err
	}
	if out, err := cli("demo-password\n", "link", "--username", "admin@demo.test", "--account", "100001", "--password-stdin"); err != nil {
		return nil, fmt.Errorf("link: %v: %s", err, out)
	}
	type state struct {
		Version string `json:"version"`
		Update  struct {
			State      string `json:"state"`
			LastUpdate *struct {
				Result string `json:"result"`
			} `json:"last_update"`
		} `json:"update"`
	}
	read := func() (state, error) {
		var st state
		out, err := cli("", "status", "--json")
		if err == nil {
			err = json.Unmarshal([]byte(out), &st)
		}
		return st, err
	}
	if out, err := cli("", "update", "now"); err != nil {
		return nil, fmt.Errorf("update now: %v: %s", err, out)
	}
	found := time.Now()
	var healthy, confirmed time.Duration
	err = waitForFast(2*time.Minute, func() error {
		st, err := read()
		if err != nil {
			return err
		}
		if st.Version == vers["v2"] && healthy == 0 {
			healthy = time.Since(found)
		}
		if st.Version == vers["v2"] && st.Update.LastUpdate != nil && st.Update.LastUpdate.Result == "updated" {
			confirmed = time.Since(found)
			return nil
		}
		return fmt.Errorf("version %s, state %s", st.Version, st.Update.State)
	})
	if err != nil {
		return nil, fmt.Errorf("the update did not complete (see %s): %w", logf.Name(), err)
	}
	return map[string]float64{
		"update_binary_mb":            float64(fi.Size()) / 1e6,
		"update_found_to_healthy_s":   healthy.Seconds(),
		"update_found_to_confirmed_s": confirmed.Seconds(),
	}, nil
}
