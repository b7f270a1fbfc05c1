package main

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/cloudlink/cld/agent/config"
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
