package agent

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/cloudlink/cld/agent/api"
	"github.com/cloudlink/cld/agent/doctor"
	"github.com/cloudlink/cld/agent/drift"
	"github.com/cloudlink/cld/agent/health"
	"github.com/cloudlink/cld/cloud/cloudapi"
)

// doctorTimeout bounds each check of `cld doctor`.
const doctorTimeout = 20 * time.Second

// WithCheck adds a check to `cld doctor` and the dashboard's Checks page
// (later capabilities: gateway instances, platform version, updates).
func WithCheck(c doctor.Check) Option {
	return func(a *Agent) { a.extraChecks = append(a.extraChecks, c) }
}

// Doctor runs the prerequisite checks now: DNS, reachability, TLS, clock
// drift and synchronization (a fresh measurement), proxy, state directory,
// and those added with WithCheck.
func (a *Agent) Doctor(ctx context.Context) api.Doctor {
	return doctor.Run(ctx, doctorTimeout, a.doctorChecks())
}

func (a *Agent) doctorChecks() []doctor.Check {
	cloud := a.driftTarget()
	var host, hostPort string
	if u, err := url.Parse(cloud); err == nil && u.Host != "" {
		host = u.Hostname()
		hostPort = u.Host
		if u.Port() == "" {
			hostPort = net.JoinHostPort(host, "443")
		}
	}
	var proxy *url.URL
	noProxy := "No HTTP proxy is configured (proxy: in the config, or HTTPS_PROXY in cld's environment); cld connects directly."
	hint407 := "set the user and password in proxy: (http://user:password@host:port)"
	if a.proxy != nil {
		hint407 = a.proxy.hint407
		if cloud != "" {
			proxy = a.proxy.proxyURLFor(cloud)
			if proxy == nil && (a.proxy.fixed != nil) {
				noProxy = fmt.Sprintf("The configured proxy is not used for %s (no_proxy).", host)
			}
		} else {
			proxy = a.proxy.fixed
		}
	} else {
		noProxy = "cld uses an HTTP client given by its embedder; no proxy to check."
	}
	if cloud == "" {
		hostPort = "cloudlink.mitel.io:443" // CONNECT needs a target; any https host the proxy should allow
	}
	reach := &reachProbe{a: a, cloud: cloud, hostPort: hostPort, proxy: proxy}
	var fresh struct {
		once sync.Once
		res  drift.Result
		at   time.Time
	}
	measure := func(ctx context.Context) (drift.Result, time.Time) {
		fresh.once.Do(func() {
			fresh.at = time.Now()
			fresh.res = a.drift.Measure(ctx)
		})
		return fresh.res, fresh.at
	}
	checks := []doctor.Check{
		doctor.DNS(host, proxy != nil, nil),
		{ID: "cloud_reachable", Title: "The cloud is reachable", Run: reach.reachable},
		{ID: "tls", Title: "The cloud's TLS certificate verifies", Run: reach.tls},
		{ID: "clock_drift", Title: "The clock agrees with the cloud's", Run: func(ctx context.Context) doctor.Result {
			r, at := measure(ctx)
			return a.driftFinding(cloud, r, at)
		}},
		{ID: "clock_sync", Title: "The host's clock is synchronized", Run: func(ctx context.Context) doctor.Result {
			r, _ := measure(ctx)
			return syncFinding(r.Sync)
		}},
	}
	if a.cfg.Clock.NTPServer != "" {
		checks = append(checks, doctor.Check{ID: "clock_ntp", Title: "The clock agrees with the NTP server", Run: func(ctx context.Context) doctor.Result {
			r, _ := measure(ctx)
			return a.ntpFinding(r)
		}})
	}
	checks = append(checks,
		doctor.Proxy(proxy, hostPort, noProxy, hint407),
		doctor.StateDir(a.cfg.StateDir),
	)
	return append(checks, a.extraChecks...)
}

func (a *Agent) driftFinding(cloud string, r drift.Result, start time.Time) doctor.Result {
	if cloud == "" {
		return doctor.Skip("No cloud is configured or linked yet; nothing to compare the clock with.")
	}
	c := r.Cloud
	if c == nil || c.At.Before(start) {
		why := "no answer"
		if r.CloudErr != nil {
			why = r.CloudErr.Error()
		}
		return doctor.Warn(fmt.Sprintf("Could not measure the drift against %s: %s.", cloud, why), "Fix the cloud's reachability first (see the checks above).")
	}
	how := fmt.Sprintf("via %s, round trip %s", c.Method, c.RTT.Round(time.Millisecond))
	if c.Method == drift.MethodDateHeader {
		how += "; coarse (±1 s): the cloud has no time endpoint"
	}
	detail := fmt.Sprintf("Drift %+.3fs against CloudLink at %s (%s).", c.Drift.Seconds(), cloud, how)
	cfg := a.cfg.Clock
	abs := c.Drift.Abs()
	switch {
	case abs > cfg.RefuseThreshold:
		return doctor.Fail(detail+fmt.Sprintf(" %s. Tunnels do not start beyond %s.", drift.DriftText(c.Drift), drift.FormatDrift(cfg.RefuseThreshold)), drift.SyncRemedy)
	case abs > cfg.WarnThreshold:
		return doctor.Warn(detail+" "+drift.DriftText(c.Drift)+".", drift.SyncRemedy)
	}
	return doctor.Pass(detail + fmt.Sprintf(" Within %s.", drift.FormatDrift(cfg.WarnThreshold)))
}

func (a *Agent) ntpFinding(r drift.Result) doctor.Result {
	srv := a.cfg.Clock.NTPServer
	if r.NTPErr != nil || r.NTP == nil {
		return doctor.Warn(fmt.Sprintf("The NTP server %s did not answer: %v.", srv, r.NTPErr), drift.DefNTPUnreachable.Remedy)
	}
	detail := fmt.Sprintf("Drift %+.3fs against the NTP server %s (round trip %s)", r.NTP.Drift.Seconds(), srv, r.NTP.RTT.Round(time.Millisecond))
	if r.Cloud != nil {
		detail += fmt.Sprintf("; %+.3fs against CloudLink, whose time counts for the tunnels", r.Cloud.Drift.Seconds())
	}
	detail += "."
	if r.NTP.Drift.Abs() > a.cfg.Clock.WarnThreshold {
		return doctor.Warn(detail, drift.DefNTPDisagrees.Remedy)
	}
	return doctor.Pass(detail)
}

func syncFinding(s drift.Sync) doctor.Result {
	switch {
	case s.Synchronized == nil:
		why := "no source answered"
		if s.Err != nil {
			why = strings.TrimRight(s.Err.Error(), ". ")
		}
		return doctor.Skip(fmt.Sprintf("Cannot tell whether the clock is synchronized: %s.", why))
	case *s.Synchronized:
		return doctor.Pass(fmt.Sprintf("The host reports its clock synchronized (%s).", s.Source))
	}
	return doctor.Warn(fmt.Sprintf("The host reports that its clock is not synchronized (%s: NTPSynchronized=no).", s.Source), drift.SyncRemedy)
}

// reachProbe makes one HTTPS request to the cloud's time endpoint for the
// reachability and TLS checks.
type reachProbe struct {
	a        *Agent
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
			dialTo = canonicalProxyAddr(p.proxy)
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
		resp, err := p.a.hc.Do(req)
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
	var pe *ProxyError
	if errors.As(p.err, &pe) {
		return doctor.Fail(fmt.Sprintf("GET %s %s failed: %v.", u, p.via(), pe), "Fix the proxy (see the proxy check), or its setting: "+pe.Hint+".")
	}
	detail := fmt.Sprintf("GET %s %s failed: %v.", u, p.via(), unwrapURLError(p.err))
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
	cause := unwrapURLError(p.err)
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

// DoctorWithoutDaemon runs the same checks in the calling process from cfg
// (the linked cloud read from the state directory when it can be), for
// `cld doctor` when the daemon does not answer: daemonErr becomes the first
// finding, a failure. The checks that need the daemon's own state (the
// warnings) are not part of it.
func DoctorWithoutDaemon(ctx context.Context, cfg Config, daemonErr error) (api.Doctor, error) {
	hc, ps, err := newHTTPClient(cfg)
	if err != nil {
		return api.Doctor{}, err
	}
	defer hc.CloseIdleConnections()
	a := &Agent{cfg: cfg, log: slog.New(slog.DiscardHandler), baseLog: slog.New(slog.DiscardHandler),
		clock: clockwork.NewRealClock(), hc: hc, proxy: ps}
	a.health = health.New(nil)
	if st, err := loadState(cfg.StateDir); err == nil && st != nil {
		a.st = st
	}
	a.setupHealth()
	daemon := doctor.Check{ID: "daemon", Title: "The cld daemon is running", Run: func(context.Context) doctor.Result {
		return doctor.Fail(fmt.Sprintf("The daemon does not answer: %v. The other checks ran in this command instead, with the configuration %s.", daemonErr, orDefault(cfg.Source, "defaults")),
			"Start it (systemctl start cld) and read why it stopped (journalctl -u cld); the failures below may be the cause.")
	}}
	return doctor.Run(ctx, doctorTimeout, append([]doctor.Check{daemon}, a.doctorChecks()...)), nil
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
