package msl

import (
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/cloudlink/cld/platforms"
)

// Files are the places on the host the adapter reads, as paths on the host
// (joined under the root). Each is a key of the config's platform.files.
type Files struct {
	Release    string // files.release
	ConfigDB   string // files.config_db
	Packages   string // files.packages
	License    string // files.license
	SMBCMarker string // files.smbc_marker
	GatewayDir string // files.gateway_dir
}

// Default places of Files.
const (
	DefaultRelease    = "/etc/e-smith-release"
	DefaultConfigDB   = "/home/e-smith/db/configuration"
	DefaultPackages   = "/var/lib/mitel/packages.list"
	DefaultLicense    = "/var/lib/servicelink/license.conf"
	DefaultSMBCMarker = "/etc/mitel/smbc-container"
)

// DefaultFiles are the default places.
func DefaultFiles() Files {
	return Files{Release: DefaultRelease, ConfigDB: DefaultConfigDB, Packages: DefaultPackages, License: DefaultLicense, SMBCMarker: DefaultSMBCMarker, GatewayDir: DefaultGatewayDir}
}

// FileKeys are the keys of platform.files.
var FileKeys = []string{"release", "config_db", "packages", "license", "smbc_marker", "gateway_dir"}

// set puts the files: overrides of a section into f.
func (f *Files) set(over map[string]string) {
	for k, v := range over {
		switch k {
		case "release":
			f.Release = v
		case "config_db":
			f.ConfigDB = v
		case "packages":
			f.Packages = v
		case "license":
			f.License = v
		case "smbc_marker":
			f.SMBCMarker = v
		case "gateway_dir":
			f.GatewayDir = v
		}
	}
}

// MSL's name as UnsupportedError and the release file say it.
const ProductName = "Mitel Standard Linux"

// MSL's version rule (the solution guide: 11.0.110 and 12.1 onward; 12.0
// is not supported).
const NeededVersion = "11.0.110 or a later 11.x, or 12.1 or later (12.0 is not supported)"

// CheckVersion returns an *platforms.UnsupportedError when MSL version v
// is not supported, else nil.
func CheckVersion(v string) error {
	in120 := platforms.AtLeast(v, "12.0") && !platforms.AtLeast(v, "12.1")
	ok := platforms.AtLeast(v, "11.0.110") && !in120
	if !ok {
		return &platforms.UnsupportedError{Platform: ProductName, Found: v, Needed: NeededVersion}
	}
	return nil
}

var releaseRE = regexp.MustCompile(`release\s+(\d+(?:\.\d+)*)(?:\s*\((\d+)\))?`)

// ParseRelease reads MSL's version from its release line: "Mitel Standard
// Linux release 11.0 (110)" is 11.0.110 (the build in parentheses is the
// version's third number), "Mitel Standard Linux release 12.1.45.0" is
// 12.1.45.0. ok is false when the line is not MSL's (e.g. SME Server's own
// e-smith-release); version is "" when the line names no version.
func ParseRelease(line string) (version string, ok bool) {
	line, _, _ = strings.Cut(line, "\n")
	if !strings.Contains(line, ProductName) {
		return "", false
	}
	m := releaseRE.FindStringSubmatch(line)
	if m == nil {
		return "", true
	}
	v := m[1]
	if m[2] != "" && strings.Count(v, ".") == 1 {
		v += "." + m[2]
	}
	return v, true
}

// Product is a product MSL hosts, found by its package.
type Product struct {
	Slug    string // application type, e.g. mivoice-business
	Name    string // e.g. MiVoice Business (the tunnels' component)
	Package string // its package in the package list
	Min     string // the oldest supported version ("": any)
	Needed  string // the rule in words, e.g. "10.1 SP1 or later"
	Tunnels []Tunnel
	// Primary products name the platform (the gateway core does not).
	Primary bool
}

// Tunnel is a tunnel an MSL host offers, with its default local address.
type Tunnel struct {
	ID, Name, Description, Address string
}

// Descriptions of tunnels (as the solution guide's dashboard shows them).
const (
	RemoteAccess = "Remote access via Mitel Administration"
	MiVBServices = "End user API access to MiVB Services"
)

// MSLTunnels are MSL's own tunnels, on every MSL host.
var MSLTunnels = []Tunnel{
	{ID: "msl-server-manager", Name: "Server Manager", Description: RemoteAccess, Address: "https://127.0.0.1:443"},
	{ID: "msl-rest", Name: "MSL REST interface", Description: RemoteAccess, Address: "https://127.0.0.1:8443"},
}

// MSLComponent is the component of MSLTunnels.
const MSLComponent = "MSL"

// Gateway is the co-located CloudLink Gateway core (an MSL blade; on an
// SMBC, an application of the Controller Manager), found by ReadGateway;
// its tunnel's address comes from the instance's clgw.conf.
var Gateway = Product{Slug: "cloudlink-gateway", Name: "CloudLink Gateway",
	Tunnels: []Tunnel{{ID: "clgw-rest", Name: "CLGW REST interface", Description: RemoteAccess}}}

// Products are the products MSL hosts, in display order (the first
// installed primary one names the platform); the gateway comes after them.
var Products = []Product{
	{Slug: "mivoice-business", Name: "MiVoice Business", Package: "mitel-mivb", Min: "10.1 SP1", Needed: "10.1 SP1 or later", Primary: true,
		Tunnels: []Tunnel{
			{ID: "mivb-admin", Name: "administration web interface", Description: RemoteAccess, Address: "https://127.0.0.1:8445"},
			{ID: "mivb-rest", Name: "REST interface", Description: MiVBServices, Address: "https://127.0.0.1:8446"},
		}},
	{Slug: "micollab", Name: "MiCollab", Package: "mitel-micollab", Min: "9.8 SP2", Needed: "9.8 SP2 or later", Primary: true,
		Tunnels: []Tunnel{{ID: "micollab-admin", Name: "administration web interface", Description: RemoteAccess, Address: "https://127.0.0.1:8447"}}},
	{Slug: "mivb-svi", Name: "MiVB SVI", Package: "mitel-mivb-svi", Min: "1.0.0.31", Needed: "1.0.0.31 or later", Primary: true,
		Tunnels: []Tunnel{{ID: "mivb-svi-admin", Name: "administration web interface", Description: RemoteAccess, Address: "https://127.0.0.1:8448"}}},
	{Slug: "mivoice-border-gateway", Name: "MiVoice Border Gateway", Package: "mitel-mbg", Min: "11.5", Needed: "11.5, 11.6 with MSL 12.1 or later, or 12.0 or later", Primary: true,
		Tunnels: []Tunnel{{ID: "mbg-admin", Name: "administration web interface", Description: RemoteAccess, Address: "https://127.0.0.1:8444"}}},
}

// TunnelIDs are the IDs of every tunnel an MSL host may offer.
func TunnelIDs() []string {
	var ids []string
	for _, t := range MSLTunnels {
		ids = append(ids, t.ID)
	}
	for _, p := range append(slices.Clone(Products), Gateway) {
		for _, t := range p.Tunnels {
			ids = append(ids, t.ID)
		}
	}
	return ids
}

// CheckProduct returns an *platforms.UnsupportedError when product p in
// version v is not supported on MSL version mslVersion, else nil.
func CheckProduct(p Product, v, mslVersion string) error {
	unsupported := &platforms.UnsupportedError{Platform: p.Name, Found: v, Needed: p.Needed}
	if p.Min != "" && !platforms.AtLeast(v, p.Min) {
		return unsupported
	}
	// MBG 11.6 runs with MSL 12.1 (its ServiceLink upgrade) only.
	if p.Slug == "mivoice-border-gateway" && platforms.AtLeast(v, "11.6") && !platforms.AtLeast(v, "11.7") && !platforms.AtLeast(mslVersion, "12.1") {
		unsupported.Found = fmt.Sprintf("%s on MSL %s", v, mslVersion)
		return unsupported
	}
	return nil
}

// Installed is a product installed on the host in a supported version.
type Installed struct {
	Product
	Version string
}

// Host is what Inspect read from an MSL host.
type Host struct {
	Root    string
	Files   Files
	Version string // MSL's version
	// Installed are the supported products found, in Products order.
	Installed []Installed
	// Gateway is the co-located gateway core (nil: none).
	Gateway *GatewayInstall
	// LeftOut are the products found in a version that is not supported;
	// each also has a Notice.
	LeftOut []*platforms.UnsupportedError
	Notices []platforms.Notice
	License *platforms.License
	// Facts holds Language, Proxy and Source (no Embedding).
	Facts platforms.Facts
}

// HasSMBCMarker reports whether root holds the marker of an SMB
// Controller's MSL container (f.SMBCMarker).
func HasSMBCMarker(root string, f Files) (bool, error) {
	_, err := platforms.ReadFile(root, f.SMBCMarker)
	switch {
	case errors.Is(err, platforms.ErrNotDetected):
		return false, nil
	case err != nil:
		return false, err
	}
	return true, nil
}

// Inspect reads an MSL host under root from the files f: the release file
// (platforms.ErrNotDetected when it is missing or not MSL's), MSL's version
// rule (*platforms.UnsupportedError), the products in the package list,
// the Server Manager's language and the proxy from the configuration
// database, the gateway core's instances and the licence file. It does not
// look at the SMBC marker.
// Files other than the release file are optional.
func Inspect(root string, f Files) (*Host, error) {
	h := &Host{Root: root, Files: f}
	line, err := platforms.ReadFile(root, f.Release)
	if err != nil {
		return nil, err
	}
	v, ok := ParseRelease(line)
	if !ok {
		return nil, platforms.ErrNotDetected
	}
	if v == "" {
		return nil, fmt.Errorf("%s: %q names no version; expected e.g. \"%s release 11.0 (110)\"", f.Release, line, ProductName)
	}
	if err := CheckVersion(v); err != nil {
		return nil, err
	}
	h.Version = v
	h.source(f.Release)

	pkgs, err := ReadPackages(root, f.Packages)
	switch {
	case errors.Is(err, platforms.ErrNotDetected):
		h.Notices = append(h.Notices, platforms.Notice{Code: "msl-package-list-missing",
			Text:   fmt.Sprintf("The package list %s is missing, so cld cannot tell which products (MiVoice Business, MBG, MiCollab, MiVB SVI) are installed; only MSL's own tunnels are offered.", f.Packages),
			Remedy: fmt.Sprintf("Write it with `rpm -qa > %s` (the blade installer keeps it after each install), then restart cld (systemctl restart cld).", f.Packages)})
	case err != nil:
		return nil, err
	default:
		h.source(f.Packages)
	}
	for _, p := range Products {
		pkg, ok := pkgs[p.Package]
		if !ok {
			continue
		}
		if err := CheckProduct(p, pkg.Version, v); err != nil {
			var u *platforms.UnsupportedError
			errors.As(err, &u)
			h.LeftOut = append(h.LeftOut, u)
			h.Notices = append(h.Notices, platforms.Notice{Code: p.Slug + "-unsupported-version",
				Text:   fmt.Sprintf("%s %s is installed but not supported: cld needs %s. It is left out of the inventory and its tunnels are not offered.", p.Name, u.Found, p.Needed),
				Remedy: fmt.Sprintf("Upgrade %s to %s (Server Manager, ServiceLink, Blades), then restart cld (systemctl restart cld).", p.Name, p.Needed)})
			continue
		}
		h.Installed = append(h.Installed, Installed{Product: p, Version: pkg.Version})
	}

	if h.Gateway, err = ReadGateway(root, f.GatewayDir); err != nil {
		return nil, err
	}

	db, err := ReadDB(root, f.ConfigDB)
	switch {
	case errors.Is(err, platforms.ErrNotDetected):
	case err != nil:
		return nil, err
	default:
		h.source(f.ConfigDB)
		h.Facts.Language = LanguageTag(db["ServerManager"].Prop("Language"))
		if h.Facts.Language == "" {
			h.Facts.Language = LanguageTag(db["sysconfig"].Prop("Language"))
		}
		if px := db["UpstreamProxy"]; px != nil && !strings.EqualFold(px.Prop("status"), "disabled") {
			h.Facts.Proxy = ProxyURL(px.Prop("Host"), px.Prop("Port"))
		}
	}

	if err := h.readLicense(); err != nil {
		return nil, err
	}
	return h, nil
}

// source notes a file the facts came from.
func (h *Host) source(path string) {
	h.Facts.Source = append(h.Facts.Source, filepath.Join(h.Root, filepath.FromSlash(path)))
}

// readLicense reads the licence file (KEY=VALUE: LICENSE_TYPE,
// LICENSE_EXPIRES, SWA_STATUS, SWA_EXPIRY; dates as YYYY-MM-DD). A field
// it cannot read is left out with a notice.
func (h *Host) readLicense() error {
	kv, err := platforms.ReadKeyValues(h.Root, h.Files.License)
	switch {
	case errors.Is(err, platforms.ErrNotDetected):
		return nil
	case err != nil:
		return err
	}
	h.source(h.Files.License)
	l := &platforms.License{Type: strings.ToUpper(kv["LICENSE_TYPE"])}
	var bad []string
	switch s := strings.ToUpper(kv["SWA_STATUS"]); s {
	case "", platforms.SWAActive, platforms.SWAExpired, platforms.SWANone:
		l.SWAStatus = s
	default:
		bad = append(bad, fmt.Sprintf("SWA_STATUS %q is not ACTIVE, EXPIRED or NONE", kv["SWA_STATUS"]))
	}
	for key, dst := range map[string]*time.Time{"LICENSE_EXPIRES": &l.Expires, "SWA_EXPIRY": &l.SWAExpiry} {
		if s := kv[key]; s != "" {
			t, err := time.Parse(time.DateOnly, s)
			if err != nil {
				bad = append(bad, fmt.Sprintf("%s %q is not a date such as 2030-05-02", key, s))
				continue
			}
			*dst = t
		}
	}
	if len(bad) > 0 {
		slices.Sort(bad)
		h.Notices = append(h.Notices, platforms.Notice{Code: "msl-license-unreadable",
			Text:   fmt.Sprintf("The licence file %s has values cld cannot read (%s); they are left out of the inventory.", h.Files.License, strings.Join(bad, "; ")),
			Remedy: "Synchronize the licence in Server Manager (ServiceLink, Status), then restart cld (systemctl restart cld)."})
	}
	if *l != (platforms.License{}) {
		h.License = l
	}
	return nil
}
