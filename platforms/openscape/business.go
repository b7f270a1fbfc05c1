package openscape

import (
	"net"
	"strings"

	"github.com/cloudlink/cld/platforms"
)

// Business is the OpenScape Business adapter (X models and S, V3R3 FR2
// and later).
type Business struct{ Options }

var business = &product{
	typ: TypeBusiness, name: "OpenScape Business",
	min: "V3R3 FR2", needed: "OpenScape Business V3R3 FR2 or later",
	places: []place{
		{"version", "/opt/osbiz/etc/version.conf", "the release: PRODUCT, MODEL, VERSION, BUILD"},
		{"os_release", "/etc/os-release", "the operating system (PRETTY_NAME)"},
		{"components", "/opt/osbiz/etc/components.list", "the installed components, one \"name version\" a line"},
		{"license", "/opt/osbiz/etc/license.conf", "the licence: TYPE, EXPIRES, SWA_STATUS, SWA_EXPIRY"},
		{"wbm", "/opt/osbiz/etc/wbm.conf", "the WBM's settings: LANGUAGE; PROXY_ENABLED, PROXY_HOST, PROXY_PORT"},
	},
	productKey: "PRODUCT", versionKey: "VERSION", buildKey: "BUILD", match: "OpenScape Business", modelKey: "MODEL",
	tunnels: []platforms.Tunnel{{
		ID: "osb-wbm", Component: "OpenScape Business", Name: "Administration (WBM)",
		Description:  "Remote access via Mitel Administration to OpenScape Business Assistant (WBM)",
		LocalAddress: "https://127.0.0.1:443", AcceptSelfSigned: true,
	}},
	embedding: platforms.Embedding{
		BasePath: "/cloudlink", Auth: platforms.AuthSession,
		SessionURL: "https://127.0.0.1:443/management/api/session", AdminRole: "Expert", Frame: true,
	},
	language: languageKey("wbm", "LANGUAGE"),
	proxy:    wbmProxy,
}

// wbmProxy reads the proxy that WBM's Internet settings keep:
// PROXY_ENABLED=yes with PROXY_HOST and PROXY_PORT.
func wbmProxy(h *host) (string, []platforms.Notice) {
	kv, err := h.optionalKV("wbm")
	if err != nil {
		return "", []platforms.Notice{proxyNotice(h.path("wbm"), "", err)}
	}
	if !strings.EqualFold(strings.TrimSpace(kv["PROXY_ENABLED"]), "yes") {
		return "", nil
	}
	host, port := strings.TrimSpace(kv["PROXY_HOST"]), strings.TrimSpace(kv["PROXY_PORT"])
	v := host
	if port != "" {
		v = net.JoinHostPort(host, port)
	}
	return hostProxy(h.path("wbm"), v)
}

// Type implements platforms.Adapter.
func (Business) Type() string { return TypeBusiness }

// Detect implements platforms.Adapter.
func (a Business) Detect(root string) (platforms.Platform, error) {
	return asPlatform(detect(business, root, a.Options, nil))
}

// Configure implements platforms.Adapter.
func (a Business) Configure(cfg platforms.Config) (platforms.Platform, error) {
	sec, err := parseSection(business, cfg)
	if err != nil {
		return nil, err
	}
	return configure(business, cfg, sec.merged(cfg, a.Options), nil)
}
