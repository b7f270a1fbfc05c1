package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cloudlink/cld/agent/config"
	"github.com/cloudlink/cld/ui"
)

func TestDashboardAuthSecretFile(t *testing.T) {
	dir := t.TempDir()
	secret := filepath.Join(dir, "proxy-secret")
	if err := os.WriteFile(secret, []byte("0123456789abcdef-secret\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c := config.DashboardAuth{Mode: ui.AuthProxy, ProxySecretFile: secret}
	if _, err := dashboardAuth(c); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("a secret readable by others: %v", err)
	}
	os.Chmod(secret, 0o600)
	a, err := dashboardAuth(c)
	if err != nil || a.Secret != "0123456789abcdef-secret" || a.Mode != ui.AuthProxy {
		t.Fatalf("auth %+v %v", a, err)
	}
	if _, err := dashboardAuth(config.DashboardAuth{Mode: ui.AuthProxy, ProxySecretFile: filepath.Join(dir, "none")}); err == nil {
		t.Fatal("a missing secret file accepted")
	}
	bad := filepath.Join(dir, "ca.pem")
	os.WriteFile(bad, []byte("not a certificate"), 0o644)
	if _, err := dashboardAuth(config.DashboardAuth{Mode: ui.AuthSession, SessionURL: "https://127.0.0.1/s", AdminRole: "a", SessionCA: bad}); err == nil || !strings.Contains(err.Error(), "no PEM") {
		t.Fatalf("a CA file without a certificate: %v", err)
	}
}
