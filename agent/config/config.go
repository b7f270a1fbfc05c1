// Package config is the daemon's configuration: built-in defaults, then the
// YAML file, then command-line flags, validated with messages that say which
// setting to fix and where.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/cloudlink/cld/agent/drift"
	"github.com/cloudlink/cld/agent/proxy"
	"github.com/cloudlink/cld/platforms"
)

// DefaultConfigFile is read by `cld run` when --config is not given, and only
// if it exists.
const DefaultConfigFile = "/etc/cld/cld.yaml"

// Config configures the daemon. Values come from DefaultConfig, then the YAML
// file, then command-line flags.
type Config struct {
	// StateDir holds the persisted state (link, dashboard accounts); 0700.
	StateDir string `yaml:"state_dir"`
	// Socket is the unix socket of the local API (CLI).
	Socket string `yaml:"socket"`
	// Cloud is the CloudLink base URL (https). It may be empty until a link
	// request names one.
	Cloud string `yaml:"cloud"`
	// CloudCA is a PEM file of CA certificates trusted for the cloud in
	// addition to the system roots.
	CloudCA string `yaml:"cloud_ca"`
	// Listen is the dashboard's address (host:port); "" turns the dashboard off.
	Listen string `yaml:"listen"`
	// Dashboard configures the web dashboard.
	Dashboard DashboardConfig `yaml:"dashboard"`
	// LogLevel is debug, info, warn or error.
	LogLevel string `yaml:"log_level"`
	// HeartbeatInterval is how often the daemon checks in with the cloud.
	HeartbeatInterval time.Duration `yaml:"heartbeat_interval"`
	// MachineIDFile identifies the host; a change means a cloned host.
	MachineIDFile string `yaml:"machine_id_file"`
	// Proxy is the HTTP proxy for every connection to the cloud (linking,
	// heartbeat, tunnels), http://[user:password@]host:port; CONNECT is
	// used for https, with basic credentials from the URL. Empty: the
	// environment's HTTPS_PROXY/https_proxy and NO_PROXY apply.
	Proxy string `yaml:"proxy"`
	// NoProxy lists hosts reached without the configured Proxy: host names
	// (a name also matches its subdomains; ".example.com" only them), IP
	// addresses and CIDRs, separated by commas; "*" means none use it.
	NoProxy string `yaml:"no_proxy"`
	// Platform selects the host platform: type auto (the default) detects
	// it, type NAME forces an adapter (e.g. type: generic with its tunnels;
	// see platforms/).
	Platform platforms.Config `yaml:"platform"`
	// HostRoot is the root of the host's file system under which the
	// platform is detected ("/"; the demo and tests point it at a tree).
	HostRoot string `yaml:"host_root"`
	// Clock configures the clock-drift measurement (agent/drift): interval,
	// recheck_interval, warn_threshold, refuse_threshold, ntp_server, samples.
	Clock drift.Config `yaml:"clock"`

	// Source is the config file the values were read from ("" when none);
	// error messages name it.
	Source string `yaml:"-"`
}

// DashboardConfig configures the dashboard's mounting.
type DashboardConfig struct {
	// BasePath is the path prefix the host's management UI mounts it under.
	BasePath string `yaml:"base_path"`
	// TrustedProxies are the IPs (or CIDRs) whose X-Forwarded-* headers count.
	TrustedProxies []string `yaml:"trusted_proxies"`
	// FrameAncestors are the host UI origins that may show it in a frame.
	FrameAncestors []string `yaml:"frame_ancestors"`
	// Auth is how its users are authenticated.
	Auth DashboardAuth `yaml:"auth"`
}

// DashboardAuth chooses the dashboard's authentication: local (its own
// accounts, the default), proxy (the host's reverse proxy authenticates
// and passes the user, with a shared secret) or session (the host UI's
// session, checked at the host's endpoint).
type DashboardAuth struct {
	Mode         string `yaml:"mode"`
	UserHeader   string `yaml:"user_header"`
	SecretHeader string `yaml:"secret_header"`
	// ProxySecretFile holds the shared secret (mode 0600 or stricter).
	ProxySecretFile string `yaml:"proxy_secret_file"`
	SessionURL      string `yaml:"session_url"`
	AdminRole       string `yaml:"admin_role"`
	// SessionCA is a PEM file of the CA that signs the host's session
	// endpoint's certificate (empty: the system's roots).
	SessionCA string `yaml:"session_ca"`
}

// DefaultConfig returns the built-in defaults.
func DefaultConfig() Config {
	return Config{
		StateDir:          "/var/lib/cld",
		Socket:            "/run/cld/cld.sock",
		Listen:            "127.0.0.1:8087",
		Dashboard:         DashboardConfig{TrustedProxies: []string{"127.0.0.1", "::1"}},
		LogLevel:          "info",
		HeartbeatInterval: 5 * time.Minute,
		MachineIDFile:     "/etc/machine-id",
		HostRoot:          "/",
		Clock:             drift.DefaultConfig(),
	}
}

// ErrConfig is wrapped by every configuration error.
var ErrConfig = errors.New("configuration error")

// configKeys lists the YAML keys for messages about unknown keys.
const configKeys = "state_dir, socket, cloud, cloud_ca, listen, dashboard (base_path, trusted_proxies, frame_ancestors, auth (mode, user_header, secret_header, proxy_secret_file, session_url, admin_role, session_ca)), log_level, heartbeat_interval, machine_id_file, proxy, no_proxy, platform, host_root, clock (interval, recheck_interval, warn_threshold, refuse_threshold, ntp_server, samples)"

// unknownFieldRE reads yaml.v3's unknown-key errors; compiled on the first
// bad file rather than at every start.
var unknownFieldRE = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`line (\d+): field (\S+) not found in type`)
})

// LoadConfigFile returns DefaultConfig overlaid with the YAML file at path.
// When explicit is false (no --config given) a missing file is not an error.
// Unknown keys are errors that name the key, the line and the file.
func LoadConfigFile(path string, explicit bool) (Config, error) {
	cfg := DefaultConfig()
	data, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) && !explicit {
			return cfg, nil
		}
		if errors.Is(err, os.ErrNotExist) {
			return cfg, fmt.Errorf("%w: the config file %s does not exist; create it or leave --config out", ErrConfig, path)
		}
		return cfg, fmt.Errorf("%w: reading the config file: %w", ErrConfig, err)
	}
	if err := ParseConfig(data, path, &cfg); err != nil {
		return cfg, err
	}
	cfg.Source = path
	cfg.Platform.Source = path
	return cfg, nil
}

// ParseConfig overlays the YAML document data (read from the file named
// source) onto cfg, strictly: unknown keys and wrong types are errors.
func ParseConfig(data []byte, source string, cfg *Config) error {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	err := dec.Decode(cfg)
	if errors.Is(err, io.EOF) {
		return nil // empty file: defaults
	}
	if err != nil {
		var te *yaml.TypeError
		if errors.As(err, &te) {
			var msgs []string
			for _, e := range te.Errors {
				if m := unknownFieldRE().FindStringSubmatch(e); m != nil {
					msgs = append(msgs, fmt.Sprintf("%s line %s: unknown key %q (known keys: %s)", source, m[1], m[2], configKeys))
				} else {
					msgs = append(msgs, fmt.Sprintf("%s: %s", source, e))
				}
			}
			return fmt.Errorf("%w: %s; fix the file and start again", ErrConfig, strings.Join(msgs, "; "))
		}
		return fmt.Errorf("%w: %s is not valid YAML: %v; fix the file and start again", ErrConfig, source, err)
	}
	// A second document is a mistake (e.g. a pasted "---").
	var extra any
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return fmt.Errorf("%w: %s holds more than one YAML document; keep only one", ErrConfig, source)
	}
	return nil
}

// where says where a setting can be changed, for messages.
func (c *Config) where(setting, flag string) string {
	file := c.File()
	if flag == "" {
		return fmt.Sprintf("set %s in %s", setting, file)
	}
	return fmt.Sprintf("set %s in %s or pass %s", setting, file, flag)
}

// Validate checks every value and returns all problems at once, each saying
// how to fix it.
func (c *Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf(format, args...))
	}
	if c.StateDir == "" {
		bad("state_dir is empty; %s", c.where("state_dir: /var/lib/cld", "--state DIR"))
	}
	if c.Socket == "" {
		bad("socket is empty; %s", c.where("socket: /run/cld/cld.sock", "--socket PATH"))
	}
	if c.Cloud != "" {
		if _, err := NormalizeCloudURL(c.Cloud); err != nil {
			bad("cloud: %v; %s", err, c.where("cloud: https://…", "--cloud"))
		}
	}
	if c.Listen != "" {
		host, port, err := net.SplitHostPort(c.Listen)
		if err != nil || port == "" {
			bad("listen: %q is not host:port (e.g. 127.0.0.1:8087); %s (\"\" turns the dashboard off)", c.Listen, c.where("listen: 127.0.0.1:8087", "--listen"))
		} else if host != "" && host != "localhost" {
			if _, err := netip.ParseAddr(host); err != nil {
				bad("listen: %q is not an IP address; %s", host, c.where("listen: 127.0.0.1:8087", "--listen"))
			}
		}
	}
	if bp := c.Dashboard.BasePath; bp != "" && (!strings.HasPrefix(bp, "/") || strings.ContainsAny(bp, "?# ")) {
		bad("dashboard.base_path: %q must be a path starting with / (e.g. /cld); %s", bp, c.where("dashboard: {base_path: /cld}", ""))
	}
	for _, p := range c.Dashboard.TrustedProxies {
		if _, err := netip.ParseAddr(p); err == nil {
			continue
		}
		if _, err := netip.ParsePrefix(p); err == nil {
			continue
		}
		bad("dashboard.trusted_proxies: %q is not an IP address or CIDR; %s", p, c.where("dashboard: {trusted_proxies: [127.0.0.1]}", ""))
	}
	switch a := c.Dashboard.Auth; a.Mode {
	case "", "local":
	case "proxy":
		if a.ProxySecretFile == "" {
			bad("dashboard.auth.proxy_secret_file is needed with mode proxy: a file (mode 0600) holding the secret the host's proxy sends; %s", c.where("dashboard: {auth: {mode: proxy, proxy_secret_file: /etc/cld/proxy-secret}}", ""))
		} else if !filepath.IsAbs(a.ProxySecretFile) {
			bad("dashboard.auth.proxy_secret_file: %q is not an absolute path", a.ProxySecretFile)
		}
	case "session":
		if a.SessionURL == "" || a.AdminRole == "" {
			bad("dashboard.auth.session_url and admin_role are needed with mode session; %s", c.where("dashboard: {auth: {mode: session, session_url: https://127.0.0.1/…/session, admin_role: system-administrator}}", ""))
		}
	default:
		bad("dashboard.auth.mode: %q is not one of local, proxy, session", a.Mode)
	}
	switch strings.ToLower(c.LogLevel) {
	case "debug", "info", "warn", "warning", "error":
	default:
		bad("log_level: %q is not one of debug, info, warn, error; %s", c.LogLevel, c.where("log_level: info", "--log-level"))
	}
	if c.HeartbeatInterval < 10*time.Second || c.HeartbeatInterval > 24*time.Hour {
		bad("heartbeat_interval: %s is outside 10s…24h; %s", c.HeartbeatInterval, c.where("heartbeat_interval: 5m", ""))
	}
	if c.MachineIDFile == "" {
		bad("machine_id_file is empty; %s", c.where("machine_id_file: /etc/machine-id", ""))
	}
	if fi, err := os.Stat(c.HostRoot); !filepath.IsAbs(c.HostRoot) || err != nil || !fi.IsDir() {
		bad("host_root: %q is not an absolute path of a directory; %s", c.HostRoot, c.where("host_root: /", ""))
	}
	if c.Proxy != "" {
		if _, err := proxy.ParseURL(c.Proxy); err != nil {
			bad("proxy: %v; %s", err, c.where("proxy: http://user:password@proxy.example:3128", ""))
		}
	}
	if _, err := proxy.ParseNoProxy(c.NoProxy); err != nil {
		bad("no_proxy: %v; %s", err, c.where("no_proxy: \"intranet.example, 10.0.0.0/8\"", ""))
	}
	if err := c.Clock.Validate(); err != nil {
		bad("%v; %s", err, c.where("clock: {interval: 5m, warn_threshold: 10s, refuse_threshold: 45s}", ""))
	}
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("%w: %w", ErrConfig, errors.Join(errs...))
}

// NormalizeCloudURL checks that s is an https base URL and returns it without
// a trailing slash.
func NormalizeCloudURL(s string) (string, error) {
	u, err := url.Parse(strings.TrimSpace(s))
	if err != nil || u.Scheme == "" || u.Host == "" {
		return "", fmt.Errorf("%q is not an https URL", s)
	}
	if u.Scheme != "https" {
		return "", fmt.Errorf("%q is not an https URL", s)
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("%q must be a plain https://host[:port][/path] URL without user, query or fragment", s)
	}
	return strings.TrimRight(u.Scheme+"://"+u.Host+u.EscapedPath(), "/"), nil
}

// File is the config file that settings are changed in, for messages: the
// one read, else DefaultConfigFile.
func (c *Config) File() string {
	if c.Source != "" {
		return c.Source
	}
	return DefaultConfigFile
}
