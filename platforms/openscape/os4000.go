package openscape

import "github.com/cloudlink/cld/platforms"

// OS4000 is the OpenScape 4000 adapter (V11 R0.22 and later): the host
// that runs the OpenScape 4000 Assistant and Platform Portal next to the
// RMX switching software.
type OS4000 struct{ Options }

var os4000 = &product{
	typ: Type4000, name: "OpenScape 4000",
	min: "V11.R0.22", needed: "OpenScape 4000 V11.R0.22 or later",
	places: []place{
		{"version", "/etc/opt/os4000/version.conf", "the release: PRODUCT, VERSION, BUILD, DEPLOYMENT"},
		{"os_release", "/etc/os-release", "the operating system (PRETTY_NAME)"},
		{"components", "/etc/opt/os4000/components.list", "the installed components, one \"name version\" a line"},
		{"license", "/etc/opt/os4000/license.conf", "the licence: TYPE, EXPIRES, SWA_STATUS, SWA_EXPIRY"},
		{"assistant", "/etc/opt/os4000/assistant.conf", "the Assistant's settings: LANGUAGE"},
		{"proxy", "/etc/sysconfig/proxy", "SLES's proxy: PROXY_ENABLED, HTTPS_PROXY, HTTP_PROXY"},
	},
	productKey: "PRODUCT", versionKey: "VERSION", buildKey: "BUILD", match: "OpenScape 4000",
	tunnels: []platforms.Tunnel{{
		ID: "os4k-assistant", Component: "OpenScape 4000", Name: "OpenScape 4000 Assistant",
		Description:  "Remote access via Mitel Administration to the Assistant (and through it the RMX)",
		LocalAddress: "https://127.0.0.1:443", AcceptSelfSigned: true,
	}, {
		ID: "os4k-platform-portal", Component: "OpenScape 4000", Name: "Platform Portal",
		Description:  "Remote access via Mitel Administration to the platform administration portal",
		LocalAddress: "https://127.0.0.1:8443", AcceptSelfSigned: true,
	}},
	embedding: platforms.Embedding{
		BasePath: "/cloudlink", Auth: platforms.AuthSession,
		SessionURL: "https://127.0.0.1:443/Assistant/api/session", AdminRole: "Administrator", Frame: true,
	},
	language: languageKey("assistant", "LANGUAGE"),
	proxy:    sysconfigProxy("proxy"),
}

// Type implements platforms.Adapter.
func (OS4000) Type() string { return Type4000 }

// Detect implements platforms.Adapter.
func (a OS4000) Detect(root string) (platforms.Platform, error) {
	return asPlatform(detect(os4000, root, a.Options, nil))
}

// Configure implements platforms.Adapter.
func (a OS4000) Configure(cfg platforms.Config) (platforms.Platform, error) {
	sec, err := parseSection(os4000, cfg)
	if err != nil {
		return nil, err
	}
	return configure(os4000, cfg, sec.merged(cfg, a.Options), nil)
}
