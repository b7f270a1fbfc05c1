// Package msl is the platform adapter of Mitel Standard Linux (type "msl")
// and the products it hosts: MiVoice Business, MiCollab, MiVB SVI, MiVoice
// Border Gateway and a co-located CloudLink Gateway core. The SMB
// Controller's adapters (platforms/smbc) are built on its readers.
//
// # Detection
//
// A host is MSL when its release file names Mitel Standard Linux:
//
//	/etc/e-smith-release    Mitel Standard Linux release 11.0 (110)
//
// The build in parentheses is the version's third number (11.0.110); a line
// with a full version ("… release 12.1.45.0") is read as it is. SME
// Server's own e-smith-release is not MSL. A tree that also holds the SMB
// Controller marker (/etc/mitel/smbc-container) is the MSL container of an
// SMBC and belongs to platforms/smbc, not to this adapter.
//
// # Versions
//
// MSL 11.0.110 or a later 11.x, and 12.1 or later (the solution guide:
// available by default in MSL 11.0.110 and 12.1 onward; 12.0 is not
// supported). Any other version is refused with a
// *platforms.UnsupportedError naming the version found and the ones needed.
// The products come from the package list:
//
//	product                 package                  application type        supported
//	MiVoice Business        mitel-mivb               mivoice-business        10.1 SP1 (10.1.1.x) or later
//	MiCollab                mitel-micollab           micollab                9.8 SP2 (9.8.2.x) or later
//	MiVB SVI                mitel-mivb-svi           mivb-svi                1.0.0.31 or later
//	MiVoice Border Gateway  mitel-mbg                mivoice-border-gateway  11.5; 11.6 with MSL 12.1 or later; 12.0 or later
//
// A co-located CloudLink Gateway core (application type cloudlink-gateway,
// any version) is found where platforms/gateway drives it: an instance
// directory under /opt/mitel/clgw holding VERSION or etc/clgw.conf. Its
// REST interface, REST_SCHEME://127.0.0.1:REST_PORT from that clgw.conf, is
// the tunnel clgw-rest, the same tunnel as gateway.Instance.Tunnel (not
// offered when several instances are installed: the gateway driver warns
// of those).
//
// A product in a version its rule does not support does not refuse the
// host: it is left out of the applications and the tunnels, with a Notice
// (code <application type>-unsupported-version, e.g.
// mivoice-border-gateway-unsupported-version) whose text names the version
// found and the one needed; Platform.LeftOut has the same as
// *platforms.UnsupportedError values. The daemon ships with MSL itself, and
// refusing the whole host for one old blade would take away MSL's own
// tunnels, the inventory and the dashboard that shows the warning.
//
// The first installed product of MiVoice Business, MiCollab, MiVB SVI and
// MBG (in that order) names the platform, as in the guide's inventory
// ("msl | MiVoice Business"): Name and Version are that product's; a host
// without one is "Mitel Standard Linux" in MSL's version. MSLVersion is
// always MSL's.
//
// # Tunnels
//
// All of them https with MSL's self-signed certificate accepted (an
// http:// address accepts none), except the gateway's, which is as its
// clgw.conf says. Server
// Manager is the host's web server on 443 (the portal opens
// /server-manager there: a local address has no path); the other UIs are on
// the loopback back-end ports the host's web server proxies to (this
// adapter's assumption: platform.addresses.<id> changes one).
//
//	id                  component               name                          local address
//	msl-server-manager  MSL                     Server Manager                https://127.0.0.1:443
//	msl-rest            MSL                     MSL REST interface            https://127.0.0.1:8443
//	mivb-admin          MiVoice Business        administration web interface  https://127.0.0.1:8445
//	mivb-rest           MiVoice Business        REST interface                https://127.0.0.1:8446
//	micollab-admin      MiCollab                administration web interface  https://127.0.0.1:8447
//	mivb-svi-admin      MiVB SVI                administration web interface  https://127.0.0.1:8448
//	mbg-admin           MiVoice Border Gateway  administration web interface  https://127.0.0.1:8444
//	clgw-rest           CloudLink Gateway       CLGW REST interface           from clgw.conf, e.g. http://127.0.0.1:8090
//
// # Facts: what is read from where, and the override key
//
//	fact                   read from                                              platform.… override
//	MSL, its version       /etc/e-smith-release                                   files.release
//	SMBC container         /etc/mitel/smbc-container (present: not msl)           files.smbc_marker
//	products, versions     /var/lib/mitel/packages.list, `rpm -qa` lines          files.packages
//	                       (NAME-VERSION-RELEASE.ARCH; missing: a Notice)
//	UI language            /home/e-smith/db/configuration (e-smith db):           files.config_db
//	                       ServerManager|Language, else sysconfig|Language
//	                       (de_DE is read as de-DE)
//	proxy                  same db: UpstreamProxy|Host, Port, status              files.config_db
//	                       (status disabled: none; credentials never taken)
//	licence and SWA        /var/lib/servicelink/license.conf, KEY=VALUE:          files.license
//	                       LICENSE_TYPE, LICENSE_EXPIRES, SWA_STATUS, SWA_EXPIRY
//	gateway core           /opt/mitel/clgw/<instance>/VERSION, etc/clgw.conf      files.gateway_dir
//	                       (REST_PORT, REST_SCHEME)
//	tunnel addresses       built in (above)                                       addresses.<id>
//	embedding base path    built in: /server-manager/cloudlink                    base_path
//	embedding user header  built in: X-Remote-User                                user_header
//	host root              Detect's root; for Configure host_root                 root
//
// Embedding: the host's web server serves the dashboard under
// /server-manager/cloudlink (Server Manager, Configuration, CloudLink) in
// Server Manager's frame (Frame true), after Server Manager's own sign-in;
// it passes the signed-in user in X-Remote-User (Auth proxy).
//
// # Configuration
//
// `platform: {type: msl}` forces this adapter on the machine's own root;
// every place above can be moved:
//
//	platform:
//	  type: msl
//	  root: /srv/msl-tree            # default /
//	  files:
//	    release: /etc/e-smith-release
//	    config_db: /home/e-smith/db/configuration
//	    packages: /var/lib/mitel/packages.list
//	    license: /var/lib/servicelink/license.conf
//	    smbc_marker: /etc/mitel/smbc-container
//	    gateway_dir: /opt/mitel/clgw
//	  addresses:
//	    msl-server-manager: https://127.0.0.1:9443
//	  base_path: /server-manager/cloudlink
//	  user_header: X-Remote-User
//
// Keys are checked strictly; every problem is reported with the file and
// line. A forced msl on a host that is not MSL, or that is an SMBC's MSL
// container, is an error that says so; an unsupported version is refused
// as in detection.
package msl

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/cloudlink/cld/platforms"
)

// Type is the platform type of this adapter.
const Type = "msl"

// Embedding defaults.
const (
	DefaultBasePath   = "/server-manager/cloudlink"
	DefaultUserHeader = "X-Remote-User"
)

// Adapters are this package's adapters.
func Adapters() []platforms.Adapter { return []platforms.Adapter{Adapter{}} }

// Adapter detects and configures MSL hosts.
type Adapter struct{}

// Type implements platforms.Adapter.
func (Adapter) Type() string { return Type }

// Detect implements platforms.Adapter.
func (Adapter) Detect(root string) (platforms.Platform, error) {
	o := DefaultOptions()
	smbc, err := HasSMBCMarker(root, o.Files)
	if err != nil {
		return nil, err
	}
	if smbc {
		return nil, platforms.ErrNotDetected
	}
	h, err := Inspect(root, o.Files)
	if err != nil {
		return nil, err
	}
	return Build(h, o)
}

// Spec is the platform section's keys for an adapter of type typ built on
// this package (msl, smbc-msl).
func Spec(typ string) ConfigSpec {
	return ConfigSpec{Type: typ, Files: FileKeys, Tunnels: TunnelIDs(), Values: []string{"base_path", "user_header"}}
}

// Configure implements platforms.Adapter.
func (Adapter) Configure(cfg platforms.Config) (platforms.Platform, error) {
	sec, err := ParseSection(cfg, Spec(Type))
	if err != nil {
		return nil, err
	}
	o, err := OptionsFrom(sec, DefaultOptions())
	if err != nil {
		return nil, err
	}
	smbc, err := HasSMBCMarker(sec.Root, o.Files)
	if err != nil {
		return nil, err
	}
	if smbc {
		return nil, fmt.Errorf("%w: %splatform.type is msl, but %s holds %s: this is the MSL container of an SMB Controller; use type: smbc-msl", platforms.ErrConfig, sec.Where, sec.Root, o.Files.SMBCMarker)
	}
	h, err := InspectConfigured(sec, o.Files, Type)
	if err != nil {
		return nil, err
	}
	return Build(h, o)
}

// InspectConfigured is Inspect for a configured (forced) platform: a host
// that is not MSL is a config error that says so.
func InspectConfigured(sec *Section, f Files, typ string) (*Host, error) {
	h, err := Inspect(sec.Root, f)
	if errors.Is(err, platforms.ErrNotDetected) {
		return nil, fmt.Errorf("%w: %splatform.type is %s, but %s has no %s release file %s (or it is not MSL's); point root or files.release at the host's, or leave platform out to detect the platform", platforms.ErrConfig, sec.Where, typ, sec.Root, ProductName, f.Release)
	}
	return h, err
}

// Build is New as a platforms.Platform (nil on error).
func Build(h *Host, o Options) (platforms.Platform, error) {
	p, err := New(h, o)
	if err != nil {
		return nil, err
	}
	return p, nil
}

// Options shape the platform built from a Host.
type Options struct {
	Type   string // platform type (msl)
	Parent string // the parent platform's type ("": top level)
	Files  Files
	// Addresses replace tunnels' default local addresses, by tunnel ID.
	Addresses map[string]string
	Embedding platforms.Embedding
}

// DefaultOptions are an msl platform's.
func DefaultOptions() Options {
	return Options{Type: Type, Files: DefaultFiles(), Embedding: platforms.Embedding{
		BasePath: DefaultBasePath, Auth: platforms.AuthProxy, UserHeader: DefaultUserHeader, Frame: true}}
}

// OptionsFrom puts a parsed section's overrides into o.
func OptionsFrom(sec *Section, o Options) (Options, error) {
	o.Files.set(sec.Files)
	o.Addresses = maps.Clone(sec.Addresses)
	var errs []error
	if v, ok := sec.Values["base_path"]; ok {
		if !ValidBasePath(v) {
			errs = append(errs, fmt.Errorf("%splatform.base_path %q must be a URL path such as %s", sec.At["base_path"], v, DefaultBasePath))
		}
		o.Embedding.BasePath = v
	}
	if v, ok := sec.Values["user_header"]; ok {
		if !validHeader(v) {
			errs = append(errs, fmt.Errorf("%splatform.user_header %q must be an HTTP header name such as %s", sec.At["user_header"], v, DefaultUserHeader))
		}
		o.Embedding.UserHeader = v
	}
	if len(errs) > 0 {
		return o, fmt.Errorf("%w: %w", platforms.ErrConfig, errors.Join(errs...))
	}
	return o, nil
}

// Platform is an MSL host (or an SMBC's MSL container).
type Platform struct {
	typ, parent   string
	name, version string
	mslVersion    string
	apps          []platforms.Application
	tunnels       []platforms.Tunnel
	license       *platforms.License
	facts         platforms.Facts
	notices       []platforms.Notice
	leftOut       []*platforms.UnsupportedError
}

var (
	_ platforms.Describer = (*Platform)(nil)
	_ platforms.Facter    = (*Platform)(nil)
	_ platforms.Noticer   = (*Platform)(nil)
)

// New builds the platform of host h.
func New(h *Host, o Options) (*Platform, error) {
	if o.Type == "" {
		o.Type = Type
	}
	p := &Platform{typ: o.Type, parent: o.Parent, name: ProductName, version: h.Version, mslVersion: h.Version,
		notices: slices.Clone(h.Notices), leftOut: slices.Clone(h.LeftOut)}
	add := func(component string, ts []Tunnel) {
		for _, t := range ts {
			addr := t.Address
			if a, ok := o.Addresses[t.ID]; ok {
				addr = a
			}
			p.tunnels = append(p.tunnels, platforms.Tunnel{ID: t.ID, Component: component, Name: t.Name,
				Description: t.Description, LocalAddress: addr, AcceptSelfSigned: strings.HasPrefix(addr, "https:")})
		}
	}
	add(MSLComponent, MSLTunnels)
	named := false
	for _, in := range h.Installed {
		p.apps = append(p.apps, platforms.Application{Type: in.Slug, Version: in.Version})
		add(in.Name, in.Tunnels)
		if in.Primary && !named {
			p.name, p.version, named = in.Name, in.Version, true
		}
	}
	if g := h.Gateway; g != nil {
		p.apps = append(p.apps, platforms.Application{Type: Gateway.Slug, Version: g.Version})
		if t := Gateway.Tunnels[0]; g.Address != "" || o.Addresses[t.ID] != "" {
			t.Address = g.Address
			add(Gateway.Name, []Tunnel{t})
		}
	}
	if err := platforms.ValidateTunnels(p.tunnels); err != nil {
		return nil, fmt.Errorf("%w: platform: %w", platforms.ErrConfig, err)
	}
	if h.License != nil {
		l := *h.License
		p.license = &l
	}
	p.facts = h.Facts
	p.facts.Source = slices.Clone(h.Facts.Source)
	p.facts.Embedding = o.Embedding
	return p, nil
}

// Type implements platforms.Platform.
func (p *Platform) Type() string { return p.typ }

// Name implements platforms.Platform: the first installed product's name,
// else Mitel Standard Linux.
func (p *Platform) Name() string { return p.name }

// Version implements platforms.Platform: that product's version, else MSL's.
func (p *Platform) Version() string { return p.version }

// MSLVersion is MSL's own version.
func (p *Platform) MSLVersion() string { return p.mslVersion }

// Tunnels implements platforms.Platform.
func (p *Platform) Tunnels() []platforms.Tunnel { return slices.Clone(p.tunnels) }

// Applications implements platforms.Describer: the supported products
// installed (the daemon adds itself in the inventory).
func (p *Platform) Applications() []platforms.Application { return slices.Clone(p.apps) }

// License implements platforms.Describer.
func (p *Platform) License() *platforms.License {
	if p.license == nil {
		return nil
	}
	l := *p.license
	return &l
}

// Parent implements platforms.Describer.
func (p *Platform) Parent() string { return p.parent }

// Facts implements platforms.Facter.
func (p *Platform) Facts() platforms.Facts {
	f := p.facts
	f.Source = slices.Clone(p.facts.Source)
	return f
}

// Notices implements platforms.Noticer.
func (p *Platform) Notices() []platforms.Notice { return slices.Clone(p.notices) }

// LeftOut are the products installed in a version that is not supported.
func (p *Platform) LeftOut() []*platforms.UnsupportedError { return slices.Clone(p.leftOut) }
