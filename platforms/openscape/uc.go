package openscape

import "github.com/cloudlink/cld/platforms"

// UC is the OpenScape UC adapter (the UC Application with its Management
// Apps, the Common Management Portal; V10R6 FR7 HF1 and later).
type UC struct{ Options }

var uc = &product{
	typ: TypeUC, name: "OpenScape UC",
	min: "V10R6 FR7 HF1", needed: "OpenScape UC (including Management Apps) V10R6 FR7 HF1 or later",
	places: []place{
		{"version", "/enterprise/servicetools/install/conf/version.properties", "the release: product.name, product.version, product.build, product.deployment"},
		{"os_release", "/etc/os-release", "the operating system (PRETTY_NAME)"},
		{"components", "/enterprise/servicetools/install/conf/components.list", "the installed components, one \"name version\" a line"},
		{"cmp", "/enterprise/servicetools/install/conf/cmp.properties", "the CMP's settings: ui.language"},
		{"proxy", "/etc/sysconfig/proxy", "SLES's proxy: PROXY_ENABLED, HTTPS_PROXY, HTTP_PROXY"},
	},
	productKey: "product.name", versionKey: "product.version", buildKey: "product.build", match: "OpenScape UC",
	tunnels: []platforms.Tunnel{{
		ID: "osuc-cmp", Component: "Management Apps", Name: "Common Management Portal (CMP)",
		Description:  "Remote access via Mitel Administration to the OpenScape UC Common Management Portal",
		LocalAddress: "https://127.0.0.1:443", AcceptSelfSigned: true,
	}},
	embedding: platforms.Embedding{
		BasePath: "/management/cloudlink", Auth: platforms.AuthSession,
		SessionURL: "https://127.0.0.1:443/management/api/session", AdminRole: "Administrator", Frame: true,
	},
	language: languageKey("cmp", "ui.language"),
	proxy:    sysconfigProxy("proxy"),
}

// Type implements platforms.Adapter.
func (UC) Type() string { return TypeUC }

// Detect implements platforms.Adapter.
func (a UC) Detect(root string) (platforms.Platform, error) {
	return asPlatform(detect(uc, root, a.Options, nil))
}

// Configure implements platforms.Adapter.
func (a UC) Configure(cfg platforms.Config) (platforms.Platform, error) {
	sec, err := parseSection(uc, cfg)
	if err != nil {
		return nil, err
	}
	return configure(uc, cfg, sec.merged(cfg, a.Options), nil)
}
