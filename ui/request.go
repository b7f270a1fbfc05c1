package ui

import (
	"net"
	"net/http"
	"net/netip"
	"path"
	"strings"
)

// origin is where a request came from as the browser sees it: the path
// prefix the dashboard is mounted under, and the scheme and host of the
// public URL.
type origin struct {
	prefix  string // "" or e.g. "/cld" (no trailing slash)
	scheme  string // http or https
	host    string // host[:port] as the browser addressed it
	trusted bool   // the request came through a trusted proxy
}

// secure reports whether the browser reached the dashboard over TLS.
func (o origin) secure() bool { return o.scheme == "https" }

// url returns the prefix-aware absolute path of a dashboard path ("/…").
func (o origin) url(p string) string { return o.prefix + p }

// home is the dashboard's main page.
func (o origin) home() string { return o.prefix + "/" }

// cookiePath is the path dashboard cookies are scoped to.
func (o origin) cookiePath() string {
	if o.prefix == "" {
		return "/"
	}
	return o.prefix
}

// originOf works out the request's origin: X-Forwarded-Prefix, -Host and
// -Proto count only from a trusted proxy.
func (s *server) originOf(r *http.Request) origin {
	o := origin{prefix: s.basePath, scheme: "http", host: r.Host}
	if r.TLS != nil {
		o.scheme = "https"
	}
	if !s.isTrusted(r) {
		return o
	}
	o.trusted = true
	if v := lastValue(r.Header, "X-Forwarded-Prefix"); v != "" {
		if p, ok := cleanPrefix(v); ok {
			o.prefix = p
		} else {
			s.log.Warn("ignoring an unusable X-Forwarded-Prefix", "value", v)
		}
	}
	if v := lastValue(r.Header, "X-Forwarded-Host"); v != "" && validHost(v) {
		o.host = v
	}
	switch v := strings.ToLower(lastValue(r.Header, "X-Forwarded-Proto")); v {
	case "http", "https":
		o.scheme = v
	}
	return o
}

// isTrusted reports whether the request's peer is a trusted proxy.
func (s *server) isTrusted(r *http.Request) bool {
	if len(s.trusted) == 0 {
		return false
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return false
	}
	a = a.Unmap().WithZone("")
	for _, p := range s.trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// clientAddr is the address of the browser a request came from, whose
// wrong passwords the daemon limits together: the X-Forwarded-For entry
// that a trusted proxy added, else the peer's address.
func (s *server) clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	if s.isTrusted(r) {
		if a, err := netip.ParseAddr(lastValue(r.Header, "X-Forwarded-For")); err == nil {
			return a.Unmap().WithZone("").String()
		}
	}
	return host
}

// lastValue returns the last element of a header's comma-separated
// values: the one the trusted proxy that sent the request added. Proxies
// append, so the earlier ones came from the browser or from proxies
// before it, and any of them may be forged.
func lastValue(h http.Header, key string) string {
	vals := h.Values(key)
	if len(vals) == 0 {
		return ""
	}
	v := vals[len(vals)-1]
	if i := strings.LastIndexByte(v, ','); i >= 0 {
		v = v[i+1:]
	}
	return strings.TrimSpace(v)
}

// cleanPrefix normalizes a path prefix: "" and "/" become "", otherwise an
// absolute, clean path without trailing slash made of URL-safe characters.
func cleanPrefix(p string) (string, bool) {
	p = strings.TrimSpace(p)
	if p == "" || p == "/" {
		return "", true
	}
	if !strings.HasPrefix(p, "/") || strings.HasPrefix(p, "//") {
		return "", false
	}
	for _, c := range p {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("/-._~", c)) {
			return "", false
		}
	}
	p = strings.TrimSuffix(p, "/")
	if path.Clean(p) != p {
		return "", false
	}
	return p, true
}

// validHost accepts a host[:port] made of the characters of DNS names,
// IPv4 and bracketed IPv6 addresses.
func validHost(h string) bool {
	if h == "" || len(h) > 255 {
		return false
	}
	for _, c := range h {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("-.:[]_", c)) {
			return false
		}
	}
	return true
}

// stripPrefix removes prefix from the request path when the proxy in front
// did not; it returns the dashboard-relative path ("/" at least).
func stripPrefix(p, prefix string) string {
	if prefix != "" && (p == prefix || strings.HasPrefix(p, prefix+"/")) {
		p = p[len(prefix):]
	}
	if p == "" {
		p = "/"
	}
	return p
}
