// The container tests: systemd booted with systemd-nspawn in a copy of the
// Debian root, each in a cgroup of its own.

package packaging_test

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// bootChecks boots root's systemd with systemd-nspawn (private network)
// and runs script there as a oneshot unit that powers the container off
// when done; each of its findings ("OK: …", "FAIL: …") in /cld-check.result
// is logged, a FAIL failing the test, which also fails unless the script
// got to "DONE" within timeout seconds.
//
// The container tests run at the same time, each in its own copy of the
// root and network namespace (--private-network: the same loopback ports
// are fine), with a machine name of its own. Not registered with machined
// and in the unit it runs in (--keep-unit: this machine may have no
// systemd), nspawn puts the container's systemd in the cgroup "payload"
// under its own: so that two containers do not share one (and each
// systemd the other's units), each nspawn is started in a cgroup of its
// own (privateCgroup), or, where none can be made, one at a time.
func bootChecks(t *testing.T, root, script string, timeout int) {
	t.Helper()
	run(t, "install", "-m", "0755", script, filepath.Join(root, "cld-check.sh"))
	unit := fmt.Sprintf("[Unit]\nDescription=cld package checks\nAfter=multi-user.target\n\n[Service]\nType=oneshot\nTimeoutStartSec=%d\nExecStart=/cld-check.sh\n\n[Install]\nWantedBy=multi-user.target\n", timeout)
	if err := os.WriteFile(filepath.Join(root, "etc/systemd/system/cld-check.service"), []byte(unit), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/etc/systemd/system/cld-check.service", filepath.Join(root, "etc/systemd/system/multi-user.target.wants/cld-check.service")); err != nil {
		t.Fatal(err)
	}
	name := fmt.Sprintf("cld-test-%d-%d", os.Getpid(), containerSeq.Add(1))
	nspawn := []string{"timeout", fmt.Sprint(timeout), "systemd-nspawn", "--boot", "--register=no", "--keep-unit", "--private-network", "--machine=" + name, "-q", "-D", root}
	procs, err := privateCgroup(t, name)
	if err != nil {
		t.Logf("no cgroup of its own for the container (%v): it runs when no other does", err)
		containerMu.Lock()
		defer containerMu.Unlock()
	} else {
		// The shell joins the cgroups, then is nspawn (by way of timeout).
		nspawn = append([]string{"sh", "-c", `n=$1; shift; while [ "$n" -gt 0 ]; do echo $$ >"$1" || exit 125; shift; n=$((n - 1)); done; exec "$@"`, "sh", fmt.Sprint(len(procs))}, append(procs, nspawn...)...)
	}
	cmd := exec.Command(nspawn[0], nspawn[1:]...)
	out, err := cmd.CombinedOutput()
	result, _ := os.ReadFile(filepath.Join(root, "cld-check.result"))
	log, _ := os.ReadFile(filepath.Join(root, "cld-check.log"))
	if err != nil || !strings.Contains(string(result), "DONE") {
		t.Fatalf("the container did not finish the checks: %v\n%s\nresult:\n%s\nlog:\n%s", err, tailOf(string(out), 3000), result, tailOf(string(log), 3000))
	}
	for _, l := range strings.Split(strings.TrimSpace(string(result)), "\n") {
		if strings.HasPrefix(l, "FAIL") {
			t.Error(l)
		} else {
			t.Log(l)
		}
	}
	if t.Failed() {
		t.Logf("check log:\n%s", tailOf(string(log), 4000))
	}
}

var (
	containerSeq atomic.Int32
	containerMu  sync.Mutex
)

// privateCgroup makes the cgroup name under this process's own in each
// hierarchy where systemd keeps its cgroups (cgroup2, and name=systemd on
// a hybrid host), removed when the test is done, and returns their
// cgroup.procs files.
func privateCgroup(t *testing.T, name string) ([]string, error) {
	t.Helper()
	self, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return nil, err
	}
	mountinfo, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	// The hierarchies this process is in, by the name their mounts have in
	// mountinfo (cgroup2, or the v1 name=systemd's option), and its path.
	paths := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(string(self)), "\n") {
		f := strings.SplitN(l, ":", 3)
		switch {
		case len(f) != 3:
		case f[0] == "0" && f[1] == "":
			paths["cgroup2"] = f[2]
		case f[1] == "name=systemd":
			paths["name=systemd"] = f[2]
		}
	}
	var dirs []string
	for _, l := range strings.Split(string(mountinfo), "\n") {
		// ID parent major:minor root mountpoint options [optional…] - type source superoptions
		pre, post, ok := strings.Cut(l, " - ")
		f, g := strings.Fields(pre), strings.Fields(post)
		if !ok || len(f) < 5 || len(g) < 3 {
			continue
		}
		var key string
		switch {
		case g[0] == "cgroup2":
			key = "cgroup2"
		case g[0] == "cgroup" && slices.Contains(strings.Split(g[2], ","), "name=systemd"):
			key = "name=systemd"
		default:
			continue
		}
		path, ok := paths[key]
		if !ok {
			continue
		}
		rel, ok := strings.CutPrefix(path, strings.TrimSuffix(f[3], "/"))
		if !ok {
			return nil, fmt.Errorf("this process's %s cgroup %s is not under the mount %s of %s", key, path, f[4], f[3])
		}
		dirs = append(dirs, filepath.Join(f[4], rel, name))
		delete(paths, key) // the first mount of a hierarchy
	}
	if len(dirs) == 0 {
		return nil, errors.New("no cgroup2 or name=systemd hierarchy mounted")
	}
	var procs []string
	for _, d := range dirs {
		if err := os.Mkdir(d, 0o755); err != nil {
			return nil, err
		}
		t.Cleanup(func() { removeCgroup(t, d) })
		procs = append(procs, filepath.Join(d, "cgroup.procs"))
	}
	return procs, nil
}

// removeCgroup removes the cgroup dir and those under it (nspawn's
// supervisor and payload, the container's own), the deepest first, once
// their processes are gone.
func removeCgroup(t *testing.T, dir string) {
	var dirs []string
	filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			dirs = append(dirs, path)
		}
		return nil
	})
	slices.Reverse(dirs)
	for _, d := range dirs {
		var err error
		for range 50 {
			if err = os.Remove(d); err == nil || errors.Is(err, fs.ErrNotExist) {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			t.Logf("the container's cgroup is left: %v", err)
			return
		}
	}
}

func tailOf(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}
