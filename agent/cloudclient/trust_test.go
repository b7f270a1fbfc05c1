package cloudclient

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/cloudlink/cld/agent/config"
)

// testCA is a certificate authority for trust tests.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

func newTestCA(t *testing.T, name string, parent *testCA) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	signer, signerKey := tmpl, key
	if parent != nil {
		signer, signerKey = parent.cert, parent.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, signer, &key.PublicKey, signerKey)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &testCA{cert: cert, key: key}
}

// leaf issues a server certificate for 127.0.0.1 and dnsName; chain is
// appended after it (intermediates the server sends).
func (ca *testCA) leaf(t *testing.T, dnsName string, chain ...*testCA) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: dnsName},
		DNSNames:     []string{dnsName},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	c := tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
	for _, ic := range chain {
		c.Certificate = append(c.Certificate, ic.cert.Raw)
	}
	return c
}

func (ca *testCA) pemFile(t *testing.T) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(f, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.cert.Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

func tlsServer(t *testing.T, cert tls.Certificate) *httptest.Server {
	t.Helper()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // refused handshakes are the point
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

// get makes one request with tc; serverName, when set, replaces the name
// the certificate is checked against.
func get(t *testing.T, tc *tls.Config, url, serverName string) error {
	t.Helper()
	tc = tc.Clone()
	tc.ServerName = serverName
	tr := &http.Transport{TLSClientConfig: tc}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr, Timeout: 10 * time.Second}).Get(url)
	if err == nil {
		resp.Body.Close()
	}
	return err
}

// TestCloudTLSConfigVerifies: with cloud_ca the daemon trusts certificates
// of that CA for the right name only — an IP-literal cloud URL included,
// where no SNI is sent — and nothing of an unknown CA.
func TestCloudTLSConfigVerifies(t *testing.T) {
	ca := newTestCA(t, "cloud CA", nil)
	other := newTestCA(t, "someone else's CA", nil)
	tc, err := TLSConfig(ca.pemFile(t))
	if err != nil {
		t.Fatal(err)
	}
	if tc.InsecureSkipVerify || tc.VerifyConnection != nil {
		t.Fatal("the cloud's TLS must use crypto/tls's own verification")
	}
	right := tlsServer(t, ca.leaf(t, "cloud.test"))       // names cloud.test and 127.0.0.1
	nameOnly := tlsServer(t, ca.leafFor(t, "cloud.test")) // names cloud.test only
	unknown := tlsServer(t, other.leaf(t, "cloud.test"))
	if err := get(t, tc, right.URL, ""); err != nil {
		t.Fatalf("a certificate of cloud_ca for 127.0.0.1, reached at %s: %v", right.URL, err)
	}
	if err := get(t, tc, right.URL, "cloud.test"); err != nil {
		t.Fatalf("a certificate of cloud_ca for cloud.test: %v", err)
	}
	var verr *tls.CertificateVerificationError
	if err := get(t, tc, nameOnly.URL, ""); !errors.As(err, &verr) {
		t.Fatalf("a cloud_ca certificate that does not name 127.0.0.1, reached at %s: %v, want a verification error", nameOnly.URL, err)
	}
	if err := get(t, tc, right.URL, "elsewhere.test"); !errors.As(err, &verr) {
		t.Fatalf("a cloud_ca certificate for another name: %v, want a verification error", err)
	}
	if err := get(t, tc, unknown.URL, ""); !errors.As(err, &verr) {
		t.Fatalf("a certificate of an unknown CA: %v, want a verification error", err)
	}
}

// leafFor issues a server certificate that names only dnsName.
func (ca *testCA) leafFor(t *testing.T, dnsName string) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: dnsName},
		DNSNames:     []string{dnsName},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

func TestCloudTLSConfigFiles(t *testing.T) {
	tc, err := TLSConfig("")
	if err != nil || tc.InsecureSkipVerify || tc.VerifyConnection != nil || tc.RootCAs != nil {
		t.Fatalf("without cloud_ca: %+v, %v; want crypto/tls's own verification against the system roots", tc, err)
	}
	dir := t.TempDir()
	if _, err := TLSConfig(filepath.Join(dir, "missing.pem")); !errors.Is(err, config.ErrConfig) {
		t.Fatalf("missing file: %v, want ErrConfig", err)
	}
	junk := filepath.Join(dir, "junk.pem")
	os.WriteFile(junk, []byte("not a certificate"), 0o600)
	if _, err := TLSConfig(junk); !errors.Is(err, config.ErrConfig) {
		t.Fatalf("no PEM: %v, want ErrConfig", err)
	}
}
