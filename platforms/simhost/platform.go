package simhost

import (
	"slices"
	"strings"
)

// The simulated platforms (Platform.Name, cld-simhost --platform).
const (
	PlatformMSL     = "msl"
	PlatformMXONE   = "mxone"
	PlatformSMBC    = "smbc"
	PlatformOSV     = "osv"
	PlatformGeneric = "generic"
)

// Platform is a host platform cld-simhost simulates: the adapter type its
// tree detects as, the management UIs it serves (one per tunnel the
// adapter offers, but the gateway core's) and whether the tree holds a
// co-located CloudLink Gateway core.
type Platform struct {
	// Name is the simulator's name of it (PlatformMSL, …).
	Name string
	// Type is the adapter type (platforms/all) the tree detects as, e.g.
	// msl, smbc-cm, openscape-voice, mxone; generic has no tree.
	Type string
	// Description says what is simulated, for usage texts.
	Description string
	// UIs are the management UIs served, each with its Tunnel (listen
	// addresses on 127.0.0.1, port 0: any free one).
	UIs []UI
	// Gateway: the tree holds a CloudLink Gateway core instance, whose
	// REST interface (the tunnel clgw-rest) the stand-in core serves once
	// the daemon starts it (GatewayCore).
	Gateway bool
	// Forced: the adapter reads the UIs' ports from nowhere in the tree
	// (they are built in), so cld's config forces Type and gives them in
	// platform.addresses (CLDConfig); otherwise the tree holds them and
	// the platform is detected (type auto).
	Forced bool
}

// GatewayTunnel is the tunnel ID of the gateway core's REST interface.
const GatewayTunnel = "clgw-rest"

// loopback is where the UIs listen: the adapters build 127.0.0.1 addresses.
const loopback = "127.0.0.1:0"

// ui is a UI on a free loopback port.
func ui(id, tunnel, product, title, version string) UI {
	return UI{ID: id, Tunnel: tunnel, Product: product, Title: title, Version: version, Addr: loopback}
}

// platforms are the simulated platforms, the default first.
var simulated = []Platform{
	{
		Name: PlatformMSL, Type: "msl", Forced: true, Gateway: true,
		Description: "Mitel Standard Linux 12.1 with MiVoice Business, MiVoice Border Gateway and a CloudLink Gateway core",
		UIs: []UI{
			ui("server-manager", "msl-server-manager", "MSL", "MSL Server Manager", "12.1.45"),
			ui("msl-rest", "msl-rest", "MSL", "MSL REST interface", "12.1.45"),
			ui("mivb", "mivb-admin", "MiVoice Business", "MiVoice Business administration", "10.2.0.23"),
			ui("mivb-rest", "mivb-rest", "MiVoice Business", "MiVoice Business REST interface", "10.2.0.23"),
			ui("mbg", "mbg-admin", "MiVoice Border Gateway", "MiVoice Border Gateway administration", "12.0.0.58"),
		},
	},
	{
		Name: PlatformMXONE, Type: "mxone",
		Description: "MiVoice MX-ONE 8.1 (three servers), with the Service Node Manager and Provisioning Manager on this one",
		UIs: []UI{
			withCLD(ui("mxone-snm", "mxone-snm-web", "MiVoice MX-ONE", "MX-ONE Service Node Manager", "8.1.0.14"), "/cld"),
			ui("mxone-pm", "mxone-pm-web", "MiVoice MX-ONE", "MX-ONE Provisioning Manager", "8.1.0.9"),
		},
	},
	{
		Name: PlatformSMBC, Type: "smbc-cm", Forced: true, Gateway: true,
		Description: "SMB Controller Manager 2.2 (with its MSL container) and a CloudLink Gateway core",
		UIs: []UI{
			ui("smbc-cm", "smbc-cm-admin", "SMB Controller", "SMB Controller Manager", "2.2.1.12"),
		},
	},
	{
		Name: PlatformOSV, Type: "openscape-voice", Forced: true,
		Description: "OpenScape Voice V10R3 FR33 HF3, a simplex node",
		UIs: []UI{
			ui("osv-assistant", "osv-assistant", "OpenScape Voice", "OpenScape Voice Assistant (CMP)", "V10R3.33.3"),
			ui("osv-soap", "osv-soap", "OpenScape Voice", "OpenScape Voice provisioning interface (SOAP/XML)", "V10R3.33.3"),
		},
	},
	{
		Name: PlatformGeneric, Type: "generic", Forced: true,
		Description: "a generic platform described in cld's config: MSL Server Manager and MBG administration",
		UIs: []UI{
			ServerManager(DefaultServerManagerAddr),
			BorderGateway(DefaultBorderGatewayAddr),
		},
	},
}

// Platforms are the simulated platforms' names, the default (msl) first.
func Platforms() []string {
	names := make([]string, len(simulated))
	for i, p := range simulated {
		names[i] = p.Name
	}
	return names
}

// LookupPlatform returns the simulated platform of that name.
func LookupPlatform(name string) (Platform, bool) {
	i := slices.IndexFunc(simulated, func(p Platform) bool { return p.Name == name })
	if i < 0 {
		return Platform{}, false
	}
	p := simulated[i]
	p.UIs = slices.Clone(p.UIs)
	return p, true
}

// PlatformList is "msl, mxone, …" for messages.
func PlatformList() string { return strings.Join(Platforms(), ", ") }

// withCLD is u serving cld under path (proxied to Config.CLD), with its
// session check for cld's dashboard at /mxone_snm/api/session.
func withCLD(u UI, path string) UI {
	u.CLDPath, u.SessionAPI = path, "/mxone_snm/api/session"
	return u
}
