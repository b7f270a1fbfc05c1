package lockout

import (
	"net"
	"net/netip"
)

// ClientKey is what the failures of the client at addr (host or
// host:port) are counted under: its IP address, an IPv6 one's /64 (one
// host's network, which it can fill with addresses); addr's host as it is
// when it is no IP address, and "" for "" (no client: the CLI, an
// in-process call).
func ClientKey(addr string) string {
	if addr == "" {
		return ""
	}
	host := addr
	if h, _, err := net.SplitHostPort(addr); err == nil {
		host = h
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	ip = ip.Unmap().WithZone("")
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		return p.String()
	}
	return ip.String()
}
