package main

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cloudlink/cld/agent/config"
)

// runCLI runs the CLI in process.
func runCLI(t *testing.T, stdin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(args, strings.NewReader(stdin), &out, &errb)
	return out.String(), errb.String(), code
}

func TestUsageErrors(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "none.sock")
	tests := []struct {
		name     string
		args     []string
		stdin    string
		code     int
		contains string
	}{
		{"no command", nil, "", exitUsage, "Usage: cld <command>"},
		{"unknown command", []string{"frobnicate"}, "", exitUsage, `unknown command "frobnicate"`},
		{"help", []string{"help"}, "", exitOK, ""},
		{"bad flag", []string{"status", "--bogus"}, "", exitUsage, "Usage: cld status"},
		{"extra argument", []string{"unlink", "now"}, "", exitUsage, `unexpected argument "now"`},
		{"link without user", []string{"link", "--password-stdin", "--socket", sock}, "pw\n", exitUsage, "--username is required"},
		{"link without password source", []string{"link", "--username", "a@b", "--socket", sock}, "", exitUsage, "--password-stdin"},
		{"link empty stdin", []string{"link", "--username", "a@b", "--password-stdin", "--socket", sock}, "", exitUsage, "held no password"},
		{"link http cloud", []string{"link", "--username", "a@b", "--cloud", "http://x", "--password-stdin", "--socket", sock}, "pw\n", exitUsage, "not an https URL"},
		{"link bad account", []string{"link", "--username", "a@b", "--account", "x", "--socket", sock}, "", exitUsage, "invalid value"},
		{"dashboard-user without name", []string{"dashboard-user", "--socket", sock}, "", exitUsage, "--username is required"},
		{"status, daemon down", []string{"status", "--socket", sock}, "", exitFail, "is `cld run` running"},
		{"unlink, daemon down", []string{"unlink", "--socket", sock}, "", exitFail, "daemon not reachable"},
		{"run, bad config value", []string{"run", "--cloud", "http://x", "--state", t.TempDir()}, "", exitFail, `cloud: "http://x" is not an https URL`},
		{"run, missing config file", []string{"run", "--config", "/nonexistent/cld.yaml"}, "", exitFail, "does not exist"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, errOut, code := runCLI(t, tt.stdin, tt.args...)
			if code != tt.code {
				t.Errorf("exit %d, want %d; stderr: %s", code, tt.code, errOut)
			}
			if !strings.Contains(out+errOut, tt.contains) {
				t.Errorf("output lacks %q:\n%s%s", tt.contains, out, errOut)
			}
		})
	}
}

func TestVersionWithoutDaemon(t *testing.T) {
	out, _, code := runCLI(t, "", "version")
	if code != 0 || !strings.HasPrefix(out, "cld ") {
		t.Errorf("version: %d %q", code, out)
	}
	out, _, code = runCLI(t, "", "version", "--json")
	if code != 0 || !strings.Contains(out, `"version"`) {
		t.Errorf("version --json: %d %q", code, out)
	}
}

func TestRunConfigPrecedence(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "cld.yaml")
	os.WriteFile(file, []byte("state_dir: /from/file\nsocket: /from/file.sock\nlisten: 127.0.0.1:9000\nheartbeat_interval: 2m\n"), 0o600)
	load := func(args ...string) (config.Config, error) {
		fs := flag.NewFlagSet("run", flag.ContinueOnError)
		var f runFlags
		f.add(fs)
		if err := fs.Parse(args); err != nil {
			t.Fatal(err)
		}
		return loadRunConfig(fs, &f)
	}
	cfg, err := load("--config", file, "--state", "/from/flag", "--cloud", "https://cloud.example")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.StateDir != "/from/flag" { // flag beats file
		t.Errorf("state_dir = %s", cfg.StateDir)
	}
	if cfg.Socket != "/from/file.sock" || cfg.Listen != "127.0.0.1:9000" || cfg.HeartbeatInterval != 2*time.Minute { // file beats default
		t.Errorf("file values: %+v", cfg)
	}
	if cfg.Cloud != "https://cloud.example" || cfg.LogLevel != "info" || cfg.MachineIDFile != "/etc/machine-id" { // defaults
		t.Errorf("flag/default values: %+v", cfg)
	}
	// An explicitly empty flag still overrides the file (listen "" turns the dashboard off).
	cfg, err = load("--config", file, "--listen", "")
	if err != nil || cfg.Listen != "" {
		t.Errorf("--listen \"\": %q %v", cfg.Listen, err)
	}
	// Without --config, a missing default file means defaults.
	if _, err := os.Stat(config.DefaultConfigFile); os.IsNotExist(err) {
		cfg, err = load()
		if err != nil || cfg.StateDir != "/var/lib/cld" {
			t.Errorf("defaults: %+v %v", cfg, err)
		}
	}
}

// The global flags work before the command as after it, and `cld help
// COMMAND` prints the command's usage on stdout.
func TestGlobalFlagsAndHelp(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "none.sock")
	for _, args := range [][]string{
		{"--socket", sock, "status"},
		{"--socket=" + sock, "status"},
		{"-socket", sock, "tunnel", "list"},
		{"status", "--socket", sock},
	} {
		_, errOut, code := runCLI(t, "", args...)
		if code != exitFail || !strings.Contains(errOut, "daemon not reachable at "+sock) {
			t.Errorf("%q: %d %s", args, code, errOut)
		}
	}
	if got := globalsAfterCommand([]string{"--config", "c.yaml", "--socket", "s", "tunnel", "start", "web"}); strings.Join(got, " ") != "tunnel start web --config c.yaml --socket s" {
		t.Errorf("globalsAfterCommand: %q", got)
	}
	out, errOut, code := runCLI(t, "", "help", "status")
	if code != exitOK || !strings.Contains(out, "Usage: cld status") || errOut != "" {
		t.Errorf("help status: %d %q %q", code, out, errOut)
	}
}
