package main

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/cloudlink/cld/agent/config"
	"github.com/cloudlink/cld/platforms"
	"github.com/cloudlink/cld/ui"
)

// dashboardAuth turns the config's dashboard.auth into the dashboard's:
// the proxy's shared secret read from its file (which must not be
// readable by others), the host's session endpoint reached with TLS
// verified against session_ca (or the system's roots).
func dashboardAuth(c config.DashboardAuth) (ui.Auth, error) {
	a := ui.Auth{Mode: c.Mode, UserHeader: c.UserHeader, SecretHeader: c.SecretHeader, SessionURL: c.SessionURL, AdminRole: c.AdminRole}
	if c.ProxySecretFile != "" {
		fi, err := os.Stat(c.ProxySecretFile)
		if err != nil {
			return a, fmt.Errorf("dashboard.auth.proxy_secret_file: %w", err)
		}
		if fi.Mode().Perm()&0o077 != 0 {
			return a, fmt.Errorf("dashboard.auth.proxy_secret_file %s is readable by others (mode %04o); make it 0600 (chmod 600 %s)", c.ProxySecretFile, fi.Mode().Perm(), c.ProxySecretFile)
		}
		data, err := os.ReadFile(c.ProxySecretFile)
		if err != nil {
			return a, fmt.Errorf("dashboard.auth.proxy_secret_file: %w", err)
		}
		a.Secret = strings.TrimSpace(string(data))
	}
	if c.Mode == ui.AuthSession {
		tc := &tls.Config{MinVersion: tls.VersionTLS12}
		if c.SessionCA != "" {
			pem, err := os.ReadFile(c.SessionCA)
			if err != nil {
				return a, fmt.Errorf("dashboard.auth.session_ca: %w", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return a, fmt.Errorf("dashboard.auth.session_ca %s holds no PEM certificate", c.SessionCA)
			}
			tc.RootCAs = pool
		}
		a.HTTPClient = &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: tc, Proxy: nil}}
	}
	return a, nil
}

// DefaultProxySecretFile is where the shared secret of the host's proxy is
// looked for when the platform says its web server authenticates (proxy)
// and the config names no file.
const DefaultProxySecretFile = "/etc/cld/proxy-secret"

// platformDashboard fills what the config leaves out of the dashboard's
// settings from the platform's facts on embedding: the base path its web
// server serves the dashboard under, and how it authenticates (session:
// its session endpoint and admin role; proxy: its user header, with the
// shared secret in DefaultProxySecretFile). What the config sets wins. A
// proxy mode without the secret file stays with local accounts (logged),
// since cld never trusts a user header without the secret.
func platformDashboard(d config.DashboardConfig, plat platforms.Platform, log *slog.Logger) config.DashboardConfig {
	f, ok := plat.(platforms.Facter)
	if !ok {
		return d
	}
	e := f.Facts().Embedding
	if d.BasePath == "" {
		d.BasePath = e.BasePath
	}
	if d.Auth.Mode != "" {
		return d
	}
	switch e.Auth {
	case platforms.AuthSession:
		d.Auth.Mode = ui.AuthSession
		if d.Auth.SessionURL == "" {
			d.Auth.SessionURL = e.SessionURL
		}
		if d.Auth.AdminRole == "" {
			d.Auth.AdminRole = e.AdminRole
		}
		log.Info("dashboard: signed in by the host UI's session", "component", "dashboard", "platform", plat.Name(), "session_url", d.Auth.SessionURL, "admin_role", d.Auth.AdminRole)
	case platforms.AuthProxy:
		file := d.Auth.ProxySecretFile
		if file == "" {
			file = DefaultProxySecretFile
		}
		if _, err := os.Stat(file); err != nil {
			log.Warn("dashboard: the host's web server authenticates users, but there is no shared secret to trust it by; the dashboard uses its own accounts", "component", "dashboard",
				"platform", plat.Name(), "secret_file", file, "remedy", "write a random secret to "+file+" (mode 0600) and configure the host's web server to send it in "+ui.DefaultSecretHeader)
			return d
		}
		d.Auth.Mode, d.Auth.ProxySecretFile = ui.AuthProxy, file
		if d.Auth.UserHeader == "" {
			d.Auth.UserHeader = e.UserHeader
		}
		log.Info("dashboard: signed in by the host's web server", "component", "dashboard", "platform", plat.Name(), "user_header", d.Auth.UserHeader)
	}
	return d
}
