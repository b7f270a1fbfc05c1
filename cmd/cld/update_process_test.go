package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cloudlink/cld/agent/api"
	"github.com/cloudlink/cld/internal/gobuild"
	"github.com/cloudlink/cld/updater"
)

// The self-update's process tests build their own cld: the cldtest tag
// (kill at a step, faults, a short trial), a test release key, and
// versions: v1 the "package" that runs first, v2 a good release, and bad
// v2s that exit at start, crash after 5 s, or never answer healthy.
var (
	relOnce  sync.Once
	relErr   error
	relDir   string
	relBins  = map[string]string{} // name → path
	relVers  = map[string]string{"v1": "0.1.0+1", "v2": "0.2.0+2", "exit": "0.2.0+3", "crash": "0.2.0+4", "unhealthy": "0.2.0+5"}
	relFault = map[string]string{"exit": "exit", "crash": "crash", "unhealthy": "unhealthy"}
)

func buildReleases() {
	relDir, relErr = os.MkdirTemp("", "cld-rel-")
	if relErr != nil {
		return
	}
	out, err := exec.Command(cloudBin, "release", "keygen", "--out", relDir).CombinedOutput()
	if err != nil {
		relErr = fmt.Errorf("keygen: %v\n%s", err, out)
		return
	}
	pubText, _ := os.ReadFile(filepath.Join(relDir, "release.pub"))
	lines := strings.Split(strings.TrimSpace(string(pubText)), "\n")
	key := lines[len(lines)-1]
	for _, name := range []string{"v1", "v2", "exit", "crash", "unhealthy"} {
		ld := fmt.Sprintf("-X github.com/cloudlink/cld/agent/build.Version=%s -X github.com/cloudlink/cld/agent/build.ReleaseKey=%s", relVers[name], key)
		if f := relFault[name]; f != "" {
			ld += " -X main.testFault=" + f
		}
		path := filepath.Join(relDir, name)
		if err := gobuild.Build(path, ".", gobuild.Options{Flags: []string{"-tags", "cldtest", "-ldflags", ld}, Env: []string{"CGO_ENABLED=0"}}); err != nil {
			relErr = fmt.Errorf("the %s release: %v", name, err)
			return
		}
		relBins[name] = path
	}
}

func needReleases(t *testing.T) {
	t.Helper()
	needBinaries(t)
	relOnce.Do(buildReleases)
	if relErr != nil {
		t.Fatal(relErr)
	}
}

// releaseCloud is a cloud of its own (its releases concern only these
// tests) offering the named build.
func releaseCloud(t *testing.T, name string) *cloudProc {
	t.Helper()
	data := t.TempDir()
	c, err := startCloud(data, "--listen", "127.0.0.1:0", "--edge-listen", "off")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.cmd.Process.Kill(); <-c.done })
	out, err := exec.Command(cloudBin, "release", "publish", "--data", data, "--stage", "production", "--binary", relBins[name],
		"--key", filepath.Join(relDir, "release.key"), "--version", relVers[name], "--arch", runtime.GOARCH).CombinedOutput()
	if err != nil {
		t.Fatalf("publish: %v\n%s", err, out)
	}
	return c
}

// updateDaemon is a linked v1 daemon; env goes to its process.
func updateDaemon(t *testing.T, c *cloudProc, env ...string) *daemon {
	t.Helper()
	d := newDaemon(t, c)
	d.bin, d.env = relBins["v1"], env
	d.start()
	if out, errOut, code := d.cli(password+"\n", "link", "--username", admin, "--password-stdin", "--account", "100001"); code != 0 {
		t.Fatalf("link: exit %d\n%s%s", code, out, errOut)
	}
	return d
}

// updateState is `cld update status --json` with the running version.
func (d *daemon) updateState() (version string, u api.Update, err error) {
	out, errOut, code := d.cli("", "status", "--json")
	if code != 0 {
		return "", u, fmt.Errorf("status: %d %s", code, errOut)
	}
	var st api.Status
	if err := json.Unmarshal([]byte(out), &st); err != nil || st.Update == nil {
		return "", u, fmt.Errorf("status JSON: %v", err)
	}
	return st.Version, *st.Update, nil
}

// waitUpdate waits until the daemon runs version with the last update's
// result, and says how long it took.
func (d *daemon) waitUpdate(version, result string, within time.Duration) time.Duration {
	d.t.Helper()
	start := time.Now()
	var last string
	for time.Since(start) < within {
		v, u, err := d.updateState()
		if err == nil && v == version && u.LastUpdate != nil && u.LastUpdate.Result == result && u.State == api.UpdateStateIdle {
			return time.Since(start)
		}
		last = fmt.Sprintf("version %s, update %+v, last %+v, err %v", v, u, u.LastUpdate, err)
		time.Sleep(200 * time.Millisecond)
	}
	d.t.Fatalf("not %s with result %s within %s: %s\n%s", version, result, within, last, d.out.String())
	return 0
}

// Update now: v1 downloads v2, verifies it, swaps it in and starts the
// launcher again in its place (no service manager here: re-exec), which
// tries v2 and confirms it; v2 then runs with the link intact.
func TestProcessSelfUpdate(t *testing.T) {
	needReleases(t)
	t.Parallel()
	c := releaseCloud(t, "v2")
	d := updateDaemon(t, c)
	pid := d.cmd.Process.Pid
	if out, errOut, code := d.cli("", "update", "now"); code != 0 {
		t.Fatalf("update now: exit %d\n%s%s", code, out, errOut)
	}
	took := d.waitUpdate(relVers["v2"], updater.ResultUpdated, 90*time.Second)
	t.Logf("update now → v2 confirmed and running: %s", took.Round(time.Millisecond))
	if d.cmd.Process.Pid != pid {
		t.Error("the daemon's process changed (re-exec keeps it)")
	}
	st, _ := d.statusJSON()
	if !st.Linked || st.Version != relVers["v2"] {
		t.Errorf("after the update: linked=%v version=%s", st.Linked, st.Version)
	}
	if _, err := os.Stat(filepath.Join(d.state, "update", "bin", "cld")); err != nil {
		t.Errorf("the update is not in the state directory: %v", err)
	}
	out, _, _ := d.cli("", "update", "status")
	if !regexp.MustCompile(`Last update: .*updated from 0\.1\.0\+1`).MatchString(out) {
		t.Errorf("cld update status:\n%s", out)
	}
}

// A v2 that exits at start, one that crashes 5 s after it, and one that
// never answers healthy: v1 is back by itself within a minute, and the
// reason is in the status (and so in the next inventory report).
func TestProcessSelfUpdateRollsBack(t *testing.T) {
	t.Parallel()
	needReleases(t)
	for _, fault := range []string{"exit", "crash", "unhealthy"} {
		t.Run(fault, func(t *testing.T) {
			t.Parallel()
			c := releaseCloud(t, fault)
			d := updateDaemon(t, c)
			if out, errOut, code := d.cli("", "update", "now"); code != 0 {
				t.Fatalf("update now: exit %d\n%s%s", code, out, errOut)
			}
			took := d.waitUpdate(relVers["v1"], updater.ResultRolledBack, 90*time.Second)
			t.Logf("%s: v1 back after %s", fault, took.Round(time.Millisecond))
			if took > time.Minute {
				t.Errorf("v1 was back only after %s", took)
			}
			_, u, _ := d.updateState()
			if u.Available == nil || !u.Available.Skipped {
				t.Errorf("the failed release is not marked skipped: %+v", u.Available)
			}
			_, _, _ = d.cli("", "inventory", "submit")
			out, _, _ := d.cli("", "inventory", "preview")
			if !strings.Contains(out, `"last_result": "rolled_back"`) {
				t.Errorf("the inventory report lacks the rollback:\n%s", out)
			}
		})
	}
}

// A kill -9 at every step of an update leaves a binary that runs (v1 or
// v2) and a coherent state: started again, the daemon is v1 with the
// update recorded as interrupted (and it goes through when asked again),
// or v2 confirmed.
func TestProcessSelfUpdateKill9AtEveryStep(t *testing.T) {
	t.Parallel()
	needReleases(t)
	steps := []string{"downloaded", "verified", updater.StepPrepared, updater.StepKept, updater.StepCommitted, updater.StepInstalled,
		"restarting", updater.StepTrial, updater.StepHealthy, updater.StepConfirmed}
	c := releaseCloud(t, "v2")
	for _, step := range steps {
		t.Run(step, func(t *testing.T) {
			t.Parallel()
			d := updateDaemon(t, c, "CLD_TEST_KILL_AT="+step, "CLD_TEST_TRIAL_STABLE=1s")
			d.cli("", "update", "now")
			select {
			case <-d.done:
			case <-time.After(60 * time.Second):
				t.Fatalf("not killed at %s:\n%s", step, d.out.String())
			}
			d.cmd = nil
			d.env = []string{"CLD_TEST_TRIAL_STABLE=1s"}
			d.start()
			deadline := time.Now().Add(60 * time.Second)
			for {
				v, u, err := d.updateState()
				switch {
				case err != nil:
				case v == relVers["v2"] && u.LastUpdate != nil && u.LastUpdate.Result == updater.ResultUpdated:
					return // v2, confirmed
				case v == relVers["v1"] && u.LastUpdate != nil && u.LastUpdate.Result == updater.ResultInterrupted && u.State == api.UpdateStateIdle:
					// Coherent; and the update goes through when asked again.
					if out, errOut, code := d.cli("", "update", "now"); code != 0 {
						t.Fatalf("update now again: exit %d\n%s%s", code, out, errOut)
					}
					d.waitUpdate(relVers["v2"], updater.ResultUpdated, 60*time.Second)
					return
				}
				if time.Now().After(deadline) {
					t.Fatalf("killed at %s, then: version %s, update %+v (%v)\n%s", step, v, u.LastUpdate, err, d.out.String())
				}
				time.Sleep(200 * time.Millisecond)
			}
		})
	}
}
