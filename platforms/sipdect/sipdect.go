// Package sipdect is the platform adapter for SIP-DECT: the OpenMobility
// Manager (OMM) installed on a Linux server (the "OMM on Linux" package),
// where the daemon runs beside it. The vendor guide lists SIP-DECT without
// a minimum version, so every version is accepted (there is no
// UnsupportedError for SIP-DECT); a version file that holds no version is
// an error.
//
// The guides do not say where the OMM keeps these facts; the adapter reads
// the places below (each one a config override, see Configure):
//
//	key       default path               format, what is read
//	version   /opt/SIP-DECT/VERSION      one line: the OMM's version, e.g. 9.0SP1-BA04
//	settings  /etc/sysconfig/SIP-DECT    KEY=VALUE (read by SIP-DECT.service): OMM_HTTPS_PORT (443),
//	                                     OMM_WEB_LANGUAGE (the OMM web service's language)
//	proxy     /etc/environment           https_proxy, HTTPS_PROXY, http_proxy, HTTP_PROXY (the first set)
//
// Only the version file makes a host SIP-DECT. Applications: sip-dect-omm.
// Tunnel: sip-dect-omm-web, the OMM web service (https on 127.0.0.1,
// self-signed certificate accepted). The OMM keeps no licence or SWA the
// daemon can read (License is nil). Embedding: the OMM web service has no
// place for the dashboard, which is served on its own address with the
// daemon's own accounts (AuthLocal).
package sipdect

import (
	"errors"
	"fmt"
	"strings"

	"github.com/cloudlink/cld/platforms"
	"github.com/cloudlink/cld/platforms/hostinfo"
)

// Type is the platform type of this adapter.
const Type = "sip-dect"

// Product is the platform's name.
const Product = "SIP-DECT"

// Paths are where the adapter reads each fact, absolute on the host. A
// zero field is the default (DefaultPaths).
type Paths struct {
	Version, Settings, Proxy string
}

// DefaultPaths are the places documented in the package doc.
func DefaultPaths() Paths {
	return Paths{Version: "/opt/SIP-DECT/VERSION", Settings: "/etc/sysconfig/SIP-DECT", Proxy: "/etc/environment"}
}

// fileKeys are the keys of platform.files, in the order of Paths.ptrs.
var fileKeys = []string{"version", "settings", "proxy"}

func (p *Paths) ptrs() []*string { return []*string{&p.Version, &p.Settings, &p.Proxy} }

func (p Paths) withDefaults() Paths {
	d := DefaultPaths()
	for i, f := range p.ptrs() {
		if *f == "" {
			*f = *d.ptrs()[i]
		}
	}
	return p
}

// Adapter detects SIP-DECT. Root is the host's file system root that
// Configure reads ("" is the root of the machine the daemon runs on).
type Adapter struct {
	Root  string
	Paths Paths
}

// Adapters are this package's adapters.
func Adapters() []platforms.Adapter { return []platforms.Adapter{Adapter{}} }

// Type implements platforms.Adapter.
func (Adapter) Type() string { return Type }

// Configure implements platforms.Adapter: the section may give the host's
// root and the place of each file (keys as in the package doc):
//
//	platform:
//	  type: sip-dect
//	  files:
//	    version: /opt/SIP-DECT/VERSION
func (a Adapter) Configure(cfg platforms.Config) (platforms.Platform, error) {
	sec, err := hostinfo.ParseSection(cfg, fileKeys)
	if err != nil {
		return nil, err
	}
	root := a.Root
	if sec.Root != "" {
		root = sec.Root
	}
	b := a
	b.Paths = a.Paths.withDefaults()
	for i, f := range b.Paths.ptrs() {
		*f = sec.Pick(fileKeys[i], *f)
	}
	p, err := b.Detect(root)
	if errors.Is(err, platforms.ErrNotDetected) {
		where := root
		if where == "" {
			where = "this host"
		}
		return nil, fmt.Errorf("%w: platform.type is %s but %s has no OMM version file %s; give its place as platform.files.version, or leave platform out to detect the host",
			platforms.ErrConfig, Type, where, b.Paths.Version)
	}
	return p, err
}

// Detect implements platforms.Adapter.
func (a Adapter) Detect(root string) (platforms.Platform, error) {
	paths := a.Paths.withDefaults()
	text, err := platforms.ReadFile(root, paths.Version)
	if err != nil {
		return nil, err
	}
	version, _, _ := strings.Cut(text, "\n")
	version = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(version), "SIP-DECT"))
	if version == "" {
		return nil, fmt.Errorf("%s: %s holds no version; cannot tell the OMM's version", Product, paths.Version)
	}
	h := hostinfo.New(Type, Product, version)
	h.Info.Apps = []platforms.Application{{Type: "sip-dect-omm", Version: version}}
	h.Info.Facts.Embedding = platforms.Embedding{Auth: platforms.AuthLocal}

	set, err := platforms.ReadKeyValues(root, paths.Settings)
	if err != nil && !errors.Is(err, platforms.ErrNotDetected) {
		return nil, err
	}
	if set != nil {
		h.Source(root, paths.Settings)
	}
	port, err := hostinfo.PortSetting(set["OMM_HTTPS_PORT"], 443, "OMM_HTTPS_PORT", paths.Settings)
	if err != nil {
		return nil, err
	}
	h.Info.Facts.Language = hostinfo.LanguageTag(set["OMM_WEB_LANGUAGE"])
	h.Info.Tunnels = []platforms.Tunnel{{ID: "sip-dect-omm-web", Component: "OpenMobility Manager", Name: "OMM web service",
		Description: "Remote access via Mitel Administration", LocalAddress: hostinfo.HTTPSURL(port), AcceptSelfSigned: true}}

	env, err := platforms.ReadKeyValues(root, paths.Proxy)
	switch {
	case err == nil:
		h.Source(root, paths.Proxy)
		for _, k := range []string{"https_proxy", "HTTPS_PROXY", "http_proxy", "HTTP_PROXY"} {
			if v := strings.TrimSpace(env[k]); v != "" {
				h.SetProxy(v, paths.Proxy)
				break
			}
		}
	case !errors.Is(err, platforms.ErrNotDetected):
		return nil, err
	}
	if err := h.Check(); err != nil {
		return nil, err
	}
	return h, nil
}
