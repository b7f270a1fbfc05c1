package openscape

import (
	"strings"

	"github.com/cloudlink/cld/platforms"
)

// SBC is the OpenScape Session Border Controller adapter (V11R2.1.0 and
// later).
type SBC struct{ Options }

var sbc = &product{
	typ: TypeSBC, name: "OpenScape Session Border Controller",
	min: "V11R2.1.0", needed: "OpenScape Session Border Controller V11R2.1.0 or later",
	places: []place{
		{"version", "/etc/opt/openscape-sbc/version", "the release: PRODUCT, VERSION, BUILD, HARDWARE"},
		{"os_release", "/etc/os-release", "the operating system (PRETTY_NAME)"},
		{"components", "/etc/opt/openscape-sbc/components.list", "the installed components, one \"name version\" a line"},
		{"portal", "/etc/opt/openscape-sbc/portal.conf", "the management portal's settings: LANGUAGE, HTTP_PROXY"},
	},
	productKey: "PRODUCT", versionKey: "VERSION", buildKey: "BUILD", match: "OpenScape Session Border Controller",
	tunnels: []platforms.Tunnel{{
		ID: "sbc-portal", Component: "OpenScape SBC", Name: "Management portal",
		Description:  "Remote access via Mitel Administration to the SBC's management portal",
		LocalAddress: "https://127.0.0.1:443", AcceptSelfSigned: true,
	}},
	embedding: platforms.Embedding{
		BasePath: "/cloudlink", Auth: platforms.AuthProxy, UserHeader: "X-Remote-User", Frame: true,
	},
	language: languageKey("portal", "LANGUAGE"),
	proxy:    portalProxy,
}

// portalProxy reads the management portal's HTTP_PROXY (empty: none).
func portalProxy(h *host) (string, []platforms.Notice) {
	kv, err := h.optionalKV("portal")
	if err != nil {
		return "", []platforms.Notice{proxyNotice(h.path("portal"), "", err)}
	}
	return hostProxy(h.path("portal"), strings.TrimSpace(kv["HTTP_PROXY"]))
}

// Type implements platforms.Adapter.
func (SBC) Type() string { return TypeSBC }

// Detect implements platforms.Adapter.
func (a SBC) Detect(root string) (platforms.Platform, error) {
	return asPlatform(detect(sbc, root, a.Options, nil))
}

// Configure implements platforms.Adapter.
func (a SBC) Configure(cfg platforms.Config) (platforms.Platform, error) {
	sec, err := parseSection(sbc, cfg)
	if err != nil {
		return nil, err
	}
	return configure(sbc, cfg, sec.merged(cfg, a.Options), nil)
}
