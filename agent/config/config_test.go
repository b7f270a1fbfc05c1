package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestDefaultConfigIsValid(t *testing.T) {
	cfg := DefaultConfig()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if cfg.StateDir != "/var/lib/cld" || cfg.Socket != "/run/cld/cld.sock" || cfg.Listen != "127.0.0.1:8087" ||
		cfg.HeartbeatInterval != 5*time.Minute || cfg.MachineIDFile != "/etc/machine-id" ||
		len(cfg.Dashboard.TrustedProxies) != 2 {
		t.Errorf("unexpected defaults: %+v", cfg)
	}
}

func TestLoadConfigFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "cld.yaml")
	writeFile(t, p, `
state_dir: /srv/cld
cloud: https://cloud.example/
heartbeat_interval: 90s
dashboard:
  base_path: /cld
`)
	cfg, err := LoadConfigFile(p, true)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.StateDir != "/srv/cld" || cfg.Cloud != "https://cloud.example/" || cfg.HeartbeatInterval != 90*time.Second || cfg.Dashboard.BasePath != "/cld" {
		t.Errorf("file values not applied: %+v", cfg)
	}
	// Unset keys keep their defaults.
	if cfg.Socket != "/run/cld/cld.sock" || len(cfg.Dashboard.TrustedProxies) != 2 || cfg.Source != p {
		t.Errorf("defaults lost: %+v", cfg)
	}
}

func TestLoadConfigFileMissing(t *testing.T) {
	p := filepath.Join(t.TempDir(), "none.yaml")
	cfg, err := LoadConfigFile(p, false)
	if err != nil || cfg.StateDir != DefaultConfig().StateDir {
		t.Fatalf("implicit missing file: %v", err)
	}
	_, err = LoadConfigFile(p, true)
	if err == nil || !strings.Contains(err.Error(), "does not exist") || !errors.Is(err, ErrConfig) {
		t.Fatalf("explicit missing file: %v", err)
	}
}

func TestLoadConfigFileEmpty(t *testing.T) {
	p := filepath.Join(t.TempDir(), "empty.yaml")
	writeFile(t, p, "# nothing yet\n")
	if _, err := LoadConfigFile(p, true); err != nil {
		t.Fatal(err)
	}
}

func TestConfigErrorsNameKeyAndFile(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name, yaml string
		want       []string
	}{
		{"unknown key", "state_dir: /x\nclod: https://x\n", []string{"line 2", `unknown key "clod"`, "cld.yaml", "known keys"}},
		{"unknown nested key", "dashboard:\n  base: /x\n", []string{`unknown key "base"`}},
		{"wrong type", "heartbeat_interval: often\n", []string{"cld.yaml", "often"}},
		{"not yaml", "state_dir: [\n", []string{"cld.yaml", "not valid YAML"}},
		{"two documents", "state_dir: /a\n---\nstate_dir: /b\n", []string{"more than one YAML document"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(dir, "cld.yaml")
			writeFile(t, p, tt.yaml)
			_, err := LoadConfigFile(p, true)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

func TestValidateMessages(t *testing.T) {
	tests := []struct {
		name   string
		change func(*Config)
		want   []string
	}{
		{"http cloud", func(c *Config) { c.Cloud = "http://x" }, []string{`cloud: "http://x" is not an https URL; set cloud: https://… in /etc/cld/cld.yaml or pass --cloud`}},
		{"garbage cloud", func(c *Config) { c.Cloud = "::" }, []string{"is not an https URL"}},
		{"empty state", func(c *Config) { c.StateDir = "" }, []string{"state_dir is empty", "--state"}},
		{"bad listen", func(c *Config) { c.Listen = "8087" }, []string{`listen: "8087" is not host:port`, "--listen"}},
		{"bad proxy", func(c *Config) { c.Dashboard.TrustedProxies = []string{"proxy.local"} }, []string{"trusted_proxies", "proxy.local"}},
		{"auth mode", func(c *Config) { c.Dashboard.Auth.Mode = "kerberos" }, []string{"dashboard.auth.mode", "kerberos", "local, proxy, session"}},
		{"proxy without secret", func(c *Config) { c.Dashboard.Auth.Mode = "proxy" }, []string{"proxy_secret_file is needed", "0600"}},
		{"relative secret", func(c *Config) { c.Dashboard.Auth = DashboardAuth{Mode: "proxy", ProxySecretFile: "secret"} }, []string{"proxy_secret_file", "absolute"}},
		{"session without URL", func(c *Config) { c.Dashboard.Auth.Mode = "session" }, []string{"session_url and admin_role are needed"}},
		{"bad base path", func(c *Config) { c.Dashboard.BasePath = "cld" }, []string{"base_path", "must be a path starting with /"}},
		{"bad level", func(c *Config) { c.LogLevel = "loud" }, []string{"log_level", "--log-level"}},
		{"short heartbeat", func(c *Config) { c.HeartbeatInterval = time.Second }, []string{"heartbeat_interval"}},
		{"source named", func(c *Config) { c.Source = "/tmp/x.yaml"; c.LogLevel = "x" }, []string{"/tmp/x.yaml"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := DefaultConfig()
			tt.change(&cfg)
			err := cfg.Validate()
			if err == nil {
				t.Fatal("no error")
			}
			if !errors.Is(err, ErrConfig) {
				t.Errorf("error does not wrap ErrConfig: %v", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
	// Several problems are all reported.
	cfg := DefaultConfig()
	cfg.Cloud, cfg.LogLevel = "http://x", "loud"
	err := cfg.Validate()
	if err == nil || !strings.Contains(err.Error(), "cloud:") || !strings.Contains(err.Error(), "log_level") {
		t.Errorf("not all problems reported: %v", err)
	}
	cfg = DefaultConfig()
	cfg.Listen = ""
	cfg.Dashboard.TrustedProxies = []string{"10.0.0.0/8", "::1"}
	if err := cfg.Validate(); err != nil {
		t.Errorf("valid config refused: %v", err)
	}
}

func TestNormalizeCloudURL(t *testing.T) {
	for in, want := range map[string]string{
		"https://cloud.example/":      "https://cloud.example",
		"https://127.0.0.1:8443":      "https://127.0.0.1:8443",
		" https://cloud.example/api/": "https://cloud.example/api",
	} {
		got, err := NormalizeCloudURL(in)
		if err != nil || got != want {
			t.Errorf("NormalizeCloudURL(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", "cloud.example", "http://cloud.example", "https://u:p@cloud.example", "https://x?q=1", "ftp://x"} {
		if _, err := NormalizeCloudURL(in); err == nil {
			t.Errorf("NormalizeCloudURL(%q) accepted", in)
		}
	}
}

func FuzzParseConfig(f *testing.F) {
	f.Add([]byte("state_dir: /x\ncloud: https://c\n"))
	f.Add([]byte("dashboard:\n  trusted_proxies: [1.2.3.4]\n"))
	f.Add([]byte("heartbeat_interval: 5m\n---\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg := DefaultConfig()
		if err := ParseConfig(data, "fuzz.yaml", &cfg); err != nil {
			return
		}
		_ = cfg.Validate()
	})
}

func TestConfigProxyValidation(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Proxy = "ftp://user:topsecret@proxy:21"
	cfg.NoProxy = "10.0.0.0/33"
	err := cfg.Validate()
	if err == nil || !strings.Contains(err.Error(), "proxy:") || !strings.Contains(err.Error(), "no_proxy:") || strings.Contains(err.Error(), "topsecret") {
		t.Errorf("Validate: %v", err)
	}
	// The keys exist in the file format.
	p := filepath.Join(t.TempDir(), "cld.yaml")
	writeFile(t, p, "proxy: http://u:p@proxy.example:3128\nno_proxy: intranet.example, 10.0.0.0/8\n")
	cfg, err = LoadConfigFile(p, true)
	if err != nil || cfg.Proxy != "http://u:p@proxy.example:3128" || cfg.NoProxy != "intranet.example, 10.0.0.0/8" {
		t.Errorf("file: %+v %v", cfg, err)
	}
}

func writeFile(t testing.TB, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}
