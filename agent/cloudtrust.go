package agent

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
)

// cloudTLSConfig is the TLS configuration for the cloud (API and tunnel
// edge): the host's system roots plus the PEM certificates in caFile.
//
// Without caFile this is crypto/tls's own verification against the system
// roots. With caFile the chain is verified by cloudTrust instead, first
// against caFile alone and only when that fails against the system roots:
// the same certificates are accepted as with one pool holding both, but a
// private cloud signed by its cloud_ca never makes the daemon parse the
// host's whole CA bundle, which costs about 3 MB of allocations (some 150
// certificates) and keeps about 0.5 MB for the life of the process.
func cloudTLSConfig(caFile string) (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if caFile == "" {
		return tc, nil // RootCAs nil: the system roots
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("%w: cloud_ca: %w; point cloud_ca (or --cloud-ca) at the cloud's CA certificate (PEM)", ErrConfig, err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%w: cloud_ca: %s holds no PEM certificate; point cloud_ca (or --cloud-ca) at the cloud's CA certificate (PEM)", ErrConfig, caFile)
	}
	t := &cloudTrust{extra: pool}
	// crypto/tls's verification is replaced, not skipped: VerifyConnection
	// runs on every handshake, resumed ones included, and a handshake
	// whose chain it refuses fails with a bad_certificate alert, as it
	// would in crypto/tls.
	tc.InsecureSkipVerify = true
	tc.VerifyConnection = t.verify
	return tc, nil
}

// cloudTrust verifies a server's chain against extra, then against system.
type cloudTrust struct {
	extra  *x509.CertPool
	system *x509.CertPool // nil: the host's system roots (tests set a pool)
}

// verify does what crypto/tls does for a client with RootCAs holding both
// pools (x509 trust anchors end a chain, so a chain verifies against the
// union exactly when it verifies against one of them), and fails with the
// same error type (*tls.CertificateVerificationError wrapping the x509
// error).
func (t *cloudTrust) verify(cs tls.ConnectionState) error {
	certs := cs.PeerCertificates
	if len(certs) == 0 {
		return errors.New("tls: the server sent no certificate")
	}
	opts := x509.VerifyOptions{DNSName: cs.ServerName, Intermediates: x509.NewCertPool(), Roots: t.extra}
	for _, c := range certs[1:] {
		opts.Intermediates.AddCert(c)
	}
	_, err := certs[0].Verify(opts)
	if err == nil {
		return nil
	}
	opts.Roots = t.system
	_, sysErr := certs[0].Verify(opts)
	if sysErr == nil {
		return nil
	}
	// Report why the configured CA did not do, unless it simply is not the
	// issuer: then the system roots' answer is the one that says more (if
	// the host has any).
	var ua x509.UnknownAuthorityError
	var noRoots x509.SystemRootsError
	if errors.As(err, &ua) && !errors.As(sysErr, &noRoots) {
		err = sysErr
	}
	return &tls.CertificateVerificationError{UnverifiedCertificates: certs, Err: err}
}
