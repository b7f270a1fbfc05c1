package cloudclient

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/cloudlink/cld/agent/doctor"
	"github.com/cloudlink/cld/agent/proxy"
	"github.com/cloudlink/cld/cloud/cloudapi"
)

// Checks are the doctor's checks of the way to the cloud at cloud
// (host:port hostPort, through proxyURL when not nil): that its time
// endpoint answers over hc, and that its TLS certificate verifies. The two
// share one request.
func Checks(cloud, hostPort string, proxyURL *url.URL, hc *http.Client) []doctor.Check {
	p := &reachProbe{hc: hc, cloud: cloud, hostPort: hostPort, proxy: proxyURL}
	return []doctor.Check{
		{ID: "cloud_reachable", Title: "The cloud is reachable", Run: p.reachable},
		{ID: "tls", Title: "The cloud's TLS certificate verifies", Run: p.tls},
	}
}

// reachProbe makes one HTTPS request to the cloud's time endpoint for the
// reachability and TLS checks.
type reachProbe struct {
	hc       *http.Client
	cloud    string
	hostPort string
	proxy    *url.URL

	once   sync.Once
	tcp    string // what the TCP step found
	tcpErr error
	resp   *http.Response
	rtt    time.Duration
	err    error
}

func (p *reachProbe) via() string {
	if p.proxy != nil {
		return "through the proxy " + p.proxy.Redacted()
	}
	return "directly"
}

func (p *reachProbe) run(ctx context.Context) {
	p.once.Do(func() {
		dialTo := p.hostPort
		if p.proxy != nil {
			dialTo = proxy.CanonicalAddr(p.proxy)
		}
		var d net.Dialer
		start := time.Now()
		c, err := d.DialContext(ctx, "tcp", dialTo)
		if err != nil {
			p.tcpErr = err
		} else {
			c.Close()
			p.tcp = fmt.Sprintf("TCP connect to %s in %s", dialTo, time.Since(start).Round(time.Millisecond))
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(p.cloud, "/")+cloudapi.PathTime, nil)
		if err != nil {
			p.err = err
			return
		}
		start = time.Now()
		resp, err := p.hc.Do(req)
		p.rtt = time.Since(start)
		if err != nil {
			p.err = err
			return
		}
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		p.resp = resp
	})
}

// tlsErr is the certificate problem in err, if that is what it is.
func tlsErr(err error) (kind string, ok bool) {
	var ua x509.UnknownAuthorityError
	var hn x509.HostnameError
	var ci x509.CertificateInvalidError
	var ve *tls.CertificateVerificationError
	switch {
	case errors.As(err, &ua):
		return "untrusted", true
	case errors.As(err, &hn):
		return "hostname", true
	case errors.As(err, &ci):
		return "invalid", true
	case errors.As(err, &ve):
		return "untrusted", true
	}
	var rh tls.RecordHeaderError
	if errors.As(err, &rh) || strings.Contains(err.Error(), "tls: ") {
		return "handshake", true
	}
	return "", false
}

func (p *reachProbe) reachable(ctx context.Context) doctor.Result {
	if p.cloud == "" {
		return doctor.Skip("No cloud is configured or linked yet (set cloud: in the config or link with --cloud).")
	}
	p.run(ctx)
	u := strings.TrimRight(p.cloud, "/") + cloudapi.PathTime
	if p.err == nil {
		detail := fmt.Sprintf("%s; GET %s answered %s in %s, %s.", p.tcp, u, p.resp.Status, p.rtt.Round(time.Millisecond), p.via())
		if p.resp.StatusCode >= 500 {
			return doctor.Warn(detail, "CloudLink answered with a server error; if this lasts, contact CloudLink support.")
		}
		return doctor.Pass(detail)
	}
	if _, ok := tlsErr(p.err); ok && p.tcpErr == nil {
		return doctor.Pass(fmt.Sprintf("%s, %s; the HTTPS request then failed in TLS (see the TLS check).", p.tcp, p.via()))
	}
	var pe *proxy.Error
	if errors.As(p.err, &pe) {
		return doctor.Fail(fmt.Sprintf("GET %s %s failed: %v.", u, p.via(), pe), "Fix the proxy (see the proxy check), or its setting: "+pe.Hint+".")
	}
	detail := fmt.Sprintf("GET %s %s failed: %v.", u, p.via(), UnwrapURLError(p.err))
	if p.tcpErr != nil {
		detail = fmt.Sprintf("Cannot open a TCP connection %s: %v.", p.via(), p.tcpErr)
	}
	return doctor.Fail(detail, "Check this host's network, firewall (outgoing TCP 443 to the cloud) and proxy settings, and the cloud URL ("+p.cloud+").")
}

func (p *reachProbe) tls(ctx context.Context) doctor.Result {
	if p.cloud == "" {
		return doctor.Skip("No cloud is configured or linked yet.")
	}
	p.run(ctx)
	if p.err == nil {
		if p.resp.TLS == nil || len(p.resp.TLS.PeerCertificates) == 0 {
			return doctor.Warn("The cloud answered without TLS.", "Use an https:// cloud URL.")
		}
		cert := p.resp.TLS.PeerCertificates[0]
		return doctor.Pass(fmt.Sprintf("The certificate of %s verified (issued by %s, valid until %s), %s.",
			p.hostPort, cert.Issuer.CommonName, cert.NotAfter.UTC().Format("2006-01-02"), tls.VersionName(p.resp.TLS.Version)))
	}
	kind, ok := tlsErr(p.err)
	if !ok {
		return doctor.Skip("Not checked: the cloud could not be reached (see above).")
	}
	cause := UnwrapURLError(p.err)
	switch kind {
	case "untrusted":
		return doctor.Fail(fmt.Sprintf("The certificate of %s is not trusted: %v.", p.hostPort, cause),
			"For a private CloudLink, set cloud_ca (or --cloud-ca) to its CA certificate (PEM). Otherwise a TLS-inspecting proxy or firewall may sit in between: exempt the cloud from inspection or add its CA to cloud_ca.")
	case "hostname":
		return doctor.Fail(fmt.Sprintf("The certificate does not name %s: %v.", p.hostPort, cause), "Check the cloud URL (cloud: or --cloud); it must be the name the certificate is issued for.")
	case "invalid":
		return doctor.Fail(fmt.Sprintf("The certificate of %s is not valid: %v.", p.hostPort, cause), "If it is reported as expired or not yet valid, check this host's clock (see the clock checks); otherwise contact the cloud's operator.")
	}
	return doctor.Fail(fmt.Sprintf("The TLS handshake with %s failed: %v.", p.hostPort, cause), "Check that nothing between this host and the cloud intercepts TLS, and the cloud URL.")
}
