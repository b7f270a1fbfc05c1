// Package proxy decides which HTTP proxy a connection to the cloud goes
// through (the configured `proxy:` and `no_proxy:`, else the environment)
// and turns a proxy's refusal into an *Error that names the proxy, never its
// credentials, and the setting to check.
package proxy

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"strings"
	"sync"
)

// Proxy rules (documented for operators):
//
//   - `proxy:` in the config file, when set, is used for every connection
//     to the cloud — linking, token refresh, heartbeat, tunnel reports and
//     the tunnel session — except hosts listed in `no_proxy:`. Loopback
//     addresses are not exempt: the setting is explicit.
//   - Without it, the environment decides with Go's usual semantics
//     (http.ProxyFromEnvironment): HTTPS_PROXY/https_proxy for the cloud's
//     https URLs, NO_PROXY/no_proxy exempting hosts; localhost and loopback
//     addresses never use an environment proxy.
//   - https URLs go through the proxy with CONNECT; basic credentials come
//     from the proxy URL's user and password (percent-encode special
//     characters). The password is never logged and never shown: logs and
//     messages carry the proxy's host:port only, or the URL redacted.

// ParseURL checks a proxy URL: http or https, a host, an optional
// user:password, no path, query or fragment.
func ParseURL(s string) (*url.URL, error) {
	u, err := url.Parse(strings.TrimSpace(s))
	if err != nil {
		// url.Parse's error quotes the input, password and all.
		return nil, errors.New("it is not a URL such as http://user:password@proxy.example:3128 (special characters in the password must be percent-encoded)")
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("%q must start with http:// or https://", u.Redacted())
	}
	if u.Hostname() == "" {
		return nil, fmt.Errorf("%q has no host", u.Redacted())
	}
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("%q must be scheme://[user:password@]host:port without a path", u.Redacted())
	}
	u.Path = ""
	return u, nil
}

// NoProxy is a parsed no_proxy list.
type NoProxy struct {
	all      bool
	prefixes []netip.Prefix
	names    []string // lower case; a leading dot means subdomains only
}

func ParseNoProxy(s string) (*NoProxy, error) {
	np := &NoProxy{}
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' }) {
		switch {
		case f == "*":
			np.all = true
		case strings.Contains(f, "/"):
			p, err := netip.ParsePrefix(f)
			if err != nil {
				return nil, fmt.Errorf("%q is not a CIDR such as 10.0.0.0/8", f)
			}
			np.prefixes = append(np.prefixes, p.Masked())
		default:
			if ip, err := netip.ParseAddr(strings.Trim(f, "[]")); err == nil {
				np.prefixes = append(np.prefixes, netip.PrefixFrom(ip, ip.BitLen()))
				continue
			}
			if strings.ContainsAny(f, ":@?#") {
				return nil, fmt.Errorf("%q is not a host name, IP address or CIDR", f)
			}
			np.names = append(np.names, strings.ToLower(f))
		}
	}
	return np, nil
}

// match reports whether host (a name or IP, without port) bypasses the proxy.
func (np *NoProxy) Match(host string) bool {
	if np.all {
		return true
	}
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	if ip, err := netip.ParseAddr(host); err == nil {
		for _, p := range np.prefixes {
			if p.Contains(ip.Unmap()) || p.Contains(ip) {
				return true
			}
		}
		return false
	}
	for _, n := range np.names {
		if strings.HasPrefix(n, ".") {
			if strings.HasSuffix(host, n) {
				return true
			}
			continue
		}
		if host == n || strings.HasSuffix(host, "."+n) {
			return true
		}
	}
	return false
}

// Setup is the proxy decision of one daemon's cloud client.
type Setup struct {
	fromConfig bool
	fixed      *url.URL // the configured proxy, nil for the environment
	np         *NoProxy
	hint       string // the remedy for a refusal, naming the setting
	hint407    string // the remedy for 407 Proxy Authentication Required

	mu   sync.Mutex      // guards the fields above (Reconfigure) and used
	used map[string]bool // proxy host:ports handed to the transport
}

// New makes the decision for the configured proxy URL and no_proxy list
// (both may be empty: the environment decides); file names the config file
// in remedies. Its errors name the setting at fault.
func New(proxyURL, noProxy, file string) (*Setup, error) {
	ps := &Setup{used: map[string]bool{}}
	if proxyURL != "" {
		u, err := ParseURL(proxyURL)
		if err != nil {
			return nil, fmt.Errorf("proxy: %v", err)
		}
		np, err := ParseNoProxy(noProxy)
		if err != nil {
			return nil, fmt.Errorf("no_proxy: %v", err)
		}
		ps.fromConfig, ps.fixed, ps.np = true, u, np
		ps.hint = "check proxy: in " + file
		ps.hint407 = "check proxy: user and password in " + file
	} else {
		ps.hint = "check HTTPS_PROXY in cld's environment, or set proxy: in " + file
		ps.hint407 = "check the user and password of HTTPS_PROXY in cld's environment, or set proxy: in " + file
	}
	return ps, nil
}

// Reconfigure replaces the decision with that of New(proxyURL, noProxy,
// file) (a reloaded configuration); connections opened from now on follow
// it. On an error the decision stays as it was.
func (ps *Setup) Reconfigure(proxyURL, noProxy, file string) error {
	n, err := New(proxyURL, noProxy, file)
	if err != nil {
		return err
	}
	ps.mu.Lock()
	ps.fromConfig, ps.fixed, ps.np, ps.hint, ps.hint407 = n.fromConfig, n.fixed, n.np, n.hint, n.hint407
	ps.mu.Unlock()
	return nil
}

// FromConfig tells whether the proxy is the configured one (not the
// environment's).
func (ps *Setup) FromConfig() bool {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	return ps.fromConfig
}

// Fixed is the configured proxy; nil when the environment decides.
func (ps *Setup) Fixed() *url.URL {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	return ps.fixed
}

// Hint is the remedy for a refusal of the proxy, naming the setting.
func (ps *Setup) Hint() string {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	return ps.hint
}

// Hint407 is the remedy for 407 Proxy Authentication Required.
func (ps *Setup) Hint407() string {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	return ps.hint407
}

// ProxyFor is the transport's Proxy function.
func (ps *Setup) ProxyFor(req *http.Request) (*url.URL, error) {
	var u *url.URL
	ps.mu.Lock()
	fixed, np := ps.fixed, ps.np
	ps.mu.Unlock()
	if fixed != nil {
		if !np.Match(req.URL.Hostname()) {
			u = fixed
		}
	} else {
		var err error
		if u, err = http.ProxyFromEnvironment(req); err != nil {
			return nil, err
		}
	}
	if u != nil {
		ps.mu.Lock()
		ps.used[CanonicalAddr(u)] = true
		ps.mu.Unlock()
	}
	return u, nil
}

// URLFor is the proxy a URL (https://… or wss://…) goes through; nil
// for none.
func (ps *Setup) URLFor(rawURL string) *url.URL {
	u, err := url.Parse(rawURL)
	if err != nil || u.Host == "" {
		return ps.Fixed()
	}
	switch u.Scheme {
	case "wss":
		u.Scheme = "https"
	case "ws":
		u.Scheme = "http"
	}
	p, _ := ps.ProxyFor(&http.Request{URL: u, Header: http.Header{}})
	return p
}

// describe says which proxy a URL uses, redacted, for the log ("" for none).
func (ps *Setup) Describe(rawURL string) string {
	if p := ps.URLFor(rawURL); p != nil {
		return p.Redacted()
	}
	return ""
}

func CanonicalAddr(u *url.URL) string {
	port := u.Port()
	if port == "" {
		port = "80"
		if u.Scheme == "https" {
			port = "443"
		}
	}
	return net.JoinHostPort(u.Hostname(), port)
}

func (ps *Setup) isProxy(addr string) bool {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	return ps.used[addr]
}

// Error means the HTTP proxy did not open the way to the cloud: it
// refused the CONNECT (Status, e.g. "407 Proxy Authentication Required") or
// could not be reached (Err).
type Error struct {
	Proxy  string // host:port; never the credentials
	Status string
	Err    error
	Hint   string // what to check
}

func (e *Error) Error() string {
	cause := e.Status
	if cause == "" && e.Err != nil {
		cause = e.Err.Error()
		var oe *net.OpError
		if errors.As(e.Err, &oe) && oe.Err != nil {
			cause = oe.Err.Error()
			var se interface{ Unwrap() error }
			if errors.As(oe.Err, &se) {
				if inner := se.Unwrap(); inner != nil {
					cause = inner.Error()
				}
			}
		}
	}
	s := fmt.Sprintf("the HTTP proxy at %s refused the connection: %s", e.Proxy, cause)
	if e.Hint != "" {
		s += " — " + e.Hint
	}
	return s
}

func (e *Error) Unwrap() error { return e.Err }

// OnConnectResponse turns a refused CONNECT into a *Error.
func (ps *Setup) OnConnectResponse(_ context.Context, proxyURL *url.URL, _ *http.Request, resp *http.Response) error {
	if resp.StatusCode == http.StatusOK {
		return nil
	}
	hint := ps.Hint()
	switch resp.StatusCode {
	case http.StatusProxyAuthRequired, http.StatusUnauthorized:
		// 407 asks for credentials; some proxies (tinyproxy) answer wrong
		// ones with 401.
		hint = ps.Hint407()
	case http.StatusForbidden:
		hint = "check that the proxy allows CONNECT to the cloud's host and port, and " + ps.Hint()
	}
	return &Error{Proxy: CanonicalAddr(proxyURL), Status: resp.Status, Hint: hint}
}

// WrapDial marks failures to reach the proxy itself as *Error.
func (ps *Setup) WrapDial(dial func(ctx context.Context, network, addr string) (net.Conn, error)) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := dial(ctx, network, addr)
		if err != nil && ps.isProxy(addr) && ctx.Err() == nil {
			return nil, &Error{Proxy: addr, Err: err, Hint: ps.Hint() + ", and that the proxy is running"}
		}
		return c, err
	}
}

// Passwords are the passwords of the configured proxy URL and of the
// environment's (HTTPS_PROXY, HTTP_PROXY and their lower-case forms): what
// reports and support bundles must never contain.
func Passwords(configured string) []string {
	var out []string
	for _, raw := range []string{configured, os.Getenv("HTTPS_PROXY"), os.Getenv("https_proxy"), os.Getenv("HTTP_PROXY"), os.Getenv("http_proxy")} {
		if raw == "" {
			continue
		}
		if u, err := url.Parse(raw); err == nil && u.User != nil {
			if pw, ok := u.User.Password(); ok && pw != "" {
				out = append(out, pw)
			}
		}
	}
	return out
}
