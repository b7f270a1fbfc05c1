package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
)

// TestProcessSIGHUP: a SIGHUP with a broken file is refused with the file's
// line in the log and the daemon keeps its configuration; a good file's new
// tunnel appears without a restart, and a setting that needs one is named.
func TestProcessSIGHUP(t *testing.T) {
	t.Parallel()
	needBinaries(t)
	d := newDaemon(t, theCloud(t))
	base := fmt.Sprintf("machine_id_file: %s\nheartbeat_interval: 1m\n", filepath.Join(d.dir, "machine-id"))
	platform := func(ids ...string) string {
		s := "platform:\n  type: generic\n  name: Test host\n  tunnels:\n"
		for i, id := range ids {
			s += fmt.Sprintf("    - {id: %s, component: PBX, name: %s, local_address: \"http://127.0.0.1:%d\"}\n", id, strings.ToUpper(id), 9+i)
		}
		return s
	}
	write := func(s string) {
		if err := os.WriteFile(d.configFile, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	list := func() string {
		out, errOut, code := d.cli("", "tunnel", "list")
		if code != 0 {
			t.Fatalf("tunnel list: %d %s", code, errOut)
		}
		return out
	}
	write(base + platform("web"))
	d.start()
	if out := list(); !strings.Contains(out, "web") {
		t.Fatalf("tunnels at start: %s", out)
	}

	write(base + "lgo_level: debug\n" + platform("web", "admin"))
	d.cmd.Process.Signal(syscall.SIGHUP)
	d.waitLog(regexp.MustCompile(`the new configuration is refused; the running one stays.*line 3: unknown key \\?"lgo_level\\?"`))
	if out := list(); strings.Contains(out, "admin") {
		t.Errorf("a refused reload changed the tunnels: %s", out)
	}

	write(strings.Replace(base, "1m", "2m", 1) + platform("web", "admin"))
	d.cmd.Process.Signal(syscall.SIGHUP)
	d.waitLog(regexp.MustCompile(`configuration reloaded.*changed="?\[admin \(new\)\]`))
	d.waitLog(regexp.MustCompile(`take effect at the next start.*settings=\[heartbeat_interval\]`))
	if out := list(); !strings.Contains(out, "admin") || !strings.Contains(out, "web") {
		t.Errorf("tunnels after the reload: %s", out)
	}
}
