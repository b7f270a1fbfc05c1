package pki

import (
	"crypto/tls"
	"crypto/x509"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestCreateAndReload(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	ca, err := LoadOrCreateCA(dir, now)
	if err != nil {
		t.Fatal(err)
	}
	for name, mode := range map[string]os.FileMode{CAFile: 0o644, CAKeyFile: 0o600} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil || fi.Mode().Perm() != mode {
			t.Errorf("%s: mode %v, %v", name, fi.Mode(), err)
		}
	}
	if !ca.Cert.IsCA || ca.Cert.PublicKeyAlgorithm != x509.ECDSA {
		t.Errorf("CA %+v", ca.Cert)
	}
	again, err := LoadOrCreateCA(dir, now)
	if err != nil || !again.Cert.Equal(ca.Cert) {
		t.Fatalf("reload: %v", err)
	}

	cert, err := ca.EnsureServerCert(dir, []string{"cloud.lab", "10.0.0.5"}, now)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(cert.Certificate[0])
	for _, h := range []string{"localhost", "127.0.0.1", "::1", "cloud.lab", "10.0.0.5"} {
		if err := leaf.VerifyHostname(h); err != nil {
			t.Errorf("host %s: %v", h, err)
		}
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: ca.Pool(), DNSName: "localhost"}); err != nil {
		t.Errorf("verify: %v", err)
	}
	if fi, _ := os.Stat(filepath.Join(dir, ServerKeyFile)); fi.Mode().Perm() != 0o600 {
		t.Errorf("server key mode %v", fi.Mode())
	}

	// Same hosts: kept.
	same, _ := ca.EnsureServerCert(dir, []string{"10.0.0.5", "CLOUD.lab"}, now)
	if !slices.Equal(same.Certificate[0], cert.Certificate[0]) {
		t.Error("certificate reissued without a change")
	}
	// New host: reissued.
	more, _ := ca.EnsureServerCert(dir, []string{"cloud.lab", "10.0.0.5", "other.lab"}, now)
	if slices.Equal(more.Certificate[0], cert.Certificate[0]) {
		t.Error("certificate not reissued for a new host name")
	}
	// Near expiry: reissued.
	later, _ := ca.EnsureServerCert(dir, []string{"cloud.lab", "10.0.0.5", "other.lab"}, now.Add(ServerValidity-RenewBefore+time.Hour))
	if slices.Equal(later.Certificate[0], more.Certificate[0]) {
		t.Error("certificate not reissued near expiry")
	}
	if _, err := tls.LoadX509KeyPair(filepath.Join(dir, ServerFile), filepath.Join(dir, ServerKeyFile)); err != nil {
		t.Errorf("files on disk: %v", err)
	}
}

func TestBrokenCA(t *testing.T) {
	dir := t.TempDir()
	if _, err := LoadOrCreateCA(dir, time.Now()); err != nil {
		t.Fatal(err)
	}
	os.Remove(filepath.Join(dir, CAKeyFile))
	_, err := LoadOrCreateCA(dir, time.Now())
	if err == nil || !strings.Contains(err.Error(), "missing") {
		t.Fatalf("missing key: %v", err)
	}
	os.WriteFile(filepath.Join(dir, CAKeyFile), []byte("junk"), 0o600)
	if _, err := LoadOrCreateCA(dir, time.Now()); err == nil {
		t.Fatal("junk key accepted")
	}
	// A key that does not match the certificate.
	other := t.TempDir()
	if _, err := LoadOrCreateCA(other, time.Now()); err != nil {
		t.Fatal(err)
	}
	k, _ := os.ReadFile(filepath.Join(other, CAKeyFile))
	os.WriteFile(filepath.Join(dir, CAKeyFile), k, 0o600)
	if _, err := LoadOrCreateCA(dir, time.Now()); err == nil || !strings.Contains(err.Error(), "does not match") {
		t.Fatalf("mismatched key: %v", err)
	}
}

func TestNormalizeHosts(t *testing.T) {
	got, err := NormalizeHosts([]string{"Cloud.Lab", "[::1]", "*.edge.localhost", " "})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"*.edge.localhost", "127.0.0.1", "::1", "cloud.lab", "localhost"}
	if !slices.Equal(got, want) {
		t.Errorf("%v, want %v", got, want)
	}
	for _, bad := range []string{"a b", "-x.lab", "x..lab", "*.lab", "a_b.lab"} {
		if _, err := NormalizeHosts([]string{bad}); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestEdgeKeyAndIssue(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	ca, err := LoadOrCreateCA(dir, now)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, EdgeKeyFile)
	key, err := LoadOrCreateKey(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("edge key mode: %v %v", fi, err)
	}
	again, err := LoadOrCreateKey(path)
	if err != nil {
		t.Fatal(err)
	}
	h1, _ := SPKIHash(key.Public())
	h2, _ := SPKIHash(again.Public())
	if h1 != h2 || h1 == "" {
		t.Fatalf("key not stable: %s %s", h1, h2)
	}
	name := "0f8fad5b-d9cb-469f-a165-70867728950e.eu.edge.localhost"
	c, err := ca.IssueServerCert(key, []string{name}, now, 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Leaf.Verify(x509.VerifyOptions{DNSName: name, Roots: ca.Pool()}); err != nil {
		t.Fatalf("verify: %v", err)
	}
	if _, err := c.Leaf.Verify(x509.VerifyOptions{DNSName: "other.eu.edge.localhost", Roots: ca.Pool()}); err == nil {
		t.Fatal("certificate valid for another name")
	}
	if _, err := ca.IssueServerCert(key, []string{"bad name"}, now, time.Hour); err == nil {
		t.Fatal("bad name accepted")
	}
	if err := os.WriteFile(path, []byte("junk"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadOrCreateKey(path); err == nil || !strings.Contains(err.Error(), "remove the file") {
		t.Fatalf("junk key: %v", err)
	}
}
