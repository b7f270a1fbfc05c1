package agent

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

func (ca *testCA) pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.cert)
	return p
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

// TestCloudTrust: with cloud_ca the daemon trusts exactly what one pool of
// the system roots and cloud_ca would trust, with crypto/tls's error types.
func TestCloudTrust(t *testing.T) {
	cloudCA := newTestCA(t, "cloud CA", nil)
	inter := newTestCA(t, "cloud intermediate", cloudCA)
	publicCA := newTestCA(t, "public CA", nil)
	otherCA := newTestCA(t, "someone else", nil)

	tc, err := cloudTLSConfig(cloudCA.pemFile(t))
	if err != nil {
		t.Fatal(err)
	}
	if !tc.InsecureSkipVerify || tc.VerifyConnection == nil || tc.MinVersion != tls.VersionTLS12 {
		t.Fatalf("config: skip %v, VerifyConnection set %v, min %x", tc.InsecureSkipVerify, tc.VerifyConnection != nil, tc.MinVersion)
	}
	// The host's roots are a test pool here: publicCA.
	tc.VerifyConnection = (&cloudTrust{extra: cloudCA.pool(), system: publicCA.pool()}).verify

	for _, tt := range []struct {
		name       string
		cert       tls.Certificate
		serverName string
		wantErr    any // nil, or a pointer to the x509 error type expected
	}{
		{name: "signed by cloud_ca", cert: cloudCA.leaf(t, "cloud.test")},
		{name: "by name", cert: cloudCA.leaf(t, "cloud.test"), serverName: "cloud.test"},
		{name: "intermediate sent by the server", cert: inter.leaf(t, "cloud.test", inter)},
		{name: "signed by a system root", cert: publicCA.leaf(t, "cloud.test")},
		{name: "intermediate not sent", cert: inter.leaf(t, "cloud.test"), wantErr: new(x509.UnknownAuthorityError)},
		{name: "unknown authority", cert: otherCA.leaf(t, "cloud.test"), wantErr: new(x509.UnknownAuthorityError)},
		{name: "wrong name, cloud_ca", cert: cloudCA.leaf(t, "cloud.test"), serverName: "other.test", wantErr: new(x509.HostnameError)},
		{name: "wrong name, system root", cert: publicCA.leaf(t, "cloud.test"), serverName: "other.test", wantErr: new(x509.HostnameError)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := tlsServer(t, tt.cert)
			err := get(t, tc, srv.URL, tt.serverName)
			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			var ve *tls.CertificateVerificationError
			if !errors.As(err, &ve) || len(ve.UnverifiedCertificates) == 0 {
				t.Fatalf("err = %v, want a *tls.CertificateVerificationError", err)
			}
			if !errors.As(err, tt.wantErr) {
				t.Fatalf("err = %v, want %T", err, tt.wantErr)
			}
		})
	}
}

// TestCloudTrustResumed: a resumed TLS session is checked again.
func TestCloudTrustResumed(t *testing.T) {
	cloudCA := newTestCA(t, "cloud CA", nil)
	srv := tlsServer(t, cloudCA.leaf(t, "cloud.test"))
	tc, err := cloudTLSConfig(cloudCA.pemFile(t))
	if err != nil {
		t.Fatal(err)
	}
	tc.ClientSessionCache = tls.NewLRUClientSessionCache(4)
	calls, resumed := 0, false
	trust := &cloudTrust{extra: cloudCA.pool(), system: x509.NewCertPool()}
	tc.VerifyConnection = func(cs tls.ConnectionState) error {
		calls++
		resumed = resumed || cs.DidResume
		return trust.verify(cs)
	}
	for i := 0; i < 2; i++ {
		if err := get(t, tc, srv.URL, ""); err != nil {
			t.Fatal(err)
		}
	}
	if calls != 2 || !resumed {
		t.Fatalf("VerifyConnection ran %d times (resumed %v), want 2 with a resumption", calls, resumed)
	}
}

func TestCloudTLSConfigFiles(t *testing.T) {
	tc, err := cloudTLSConfig("")
	if err != nil || tc.InsecureSkipVerify || tc.VerifyConnection != nil || tc.RootCAs != nil {
		t.Fatalf("without cloud_ca: %+v, %v; want crypto/tls's own verification against the system roots", tc, err)
	}
	dir := t.TempDir()
	if _, err := cloudTLSConfig(filepath.Join(dir, "missing.pem")); !errors.Is(err, ErrConfig) {
		t.Fatalf("missing file: %v, want ErrConfig", err)
	}
	junk := filepath.Join(dir, "junk.pem")
	os.WriteFile(junk, []byte("not a certificate"), 0o600)
	if _, err := cloudTLSConfig(junk); !errors.Is(err, ErrConfig) {
		t.Fatalf("no PEM: %v, want ErrConfig", err)
	}
}
