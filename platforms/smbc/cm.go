package smbc

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"slices"
	"strings"

	"github.com/cloudlink/cld/platforms"
	"github.com/cloudlink/cld/platforms/msl"
)

// CMFiles are the places on the Controller Manager the adapter reads, as
// paths on the host (joined under the root); each is a key of
// platform.files.
type CMFiles struct {
	Release    string // files.release
	Settings   string // files.settings
	Proxy      string // files.proxy
	GatewayDir string // files.gateway_dir
}

// Default places of CMFiles.
const (
	DefaultCMRelease  = "/etc/smbc-cm-release"
	DefaultCMSettings = "/etc/smbc-cm/cm.conf"
	DefaultCMProxy    = "/etc/sysconfig/proxy"
)

// DefaultCMFiles are the default places.
func DefaultCMFiles() CMFiles {
	return CMFiles{Release: DefaultCMRelease, Settings: DefaultCMSettings, Proxy: DefaultCMProxy, GatewayDir: msl.DefaultGatewayDir}
}

// CMFileKeys are the keys of platform.files of smbc-cm.
var CMFileKeys = []string{"release", "settings", "proxy", "gateway_dir"}

// The Controller Manager's own tunnel.
var CMTunnel = msl.Tunnel{ID: "smbc-cm-admin", Name: "Controller Manager web interface", Description: msl.RemoteAccess, Address: "https://127.0.0.1:443"}

// CMComponent is the component of CMTunnel and the platform's name.
const CMComponent = "SMB Controller"

// Embedding defaults of smbc-cm.
const (
	DefaultCMBasePath   = "/cloudlink"
	DefaultCMSessionURL = "https://127.0.0.1:443/api/v1/session"
	DefaultCMAdminRole  = "admin"
)

// CMTunnelIDs are the IDs of the tunnels a Controller Manager may offer.
func CMTunnelIDs() []string {
	ids := []string{CMTunnel.ID}
	for _, t := range msl.Gateway.Tunnels {
		ids = append(ids, t.ID)
	}
	return ids
}

// CMOptions shape a Controller Manager platform.
type CMOptions struct {
	Files     CMFiles
	Addresses map[string]string // tunnel ID → local address
	Embedding platforms.Embedding
}

// DefaultCMOptions are smbc-cm's.
func DefaultCMOptions() CMOptions {
	return CMOptions{Files: DefaultCMFiles(), Embedding: platforms.Embedding{BasePath: DefaultCMBasePath,
		Auth: platforms.AuthSession, SessionURL: DefaultCMSessionURL, AdminRole: DefaultCMAdminRole, Frame: true}}
}

// CMAdapter detects and configures an SMBC's Controller Manager.
type CMAdapter struct{}

// Type implements platforms.Adapter.
func (CMAdapter) Type() string { return CMType }

// Detect implements platforms.Adapter.
func (CMAdapter) Detect(root string) (platforms.Platform, error) {
	p, err := InspectCM(root, DefaultCMOptions())
	if err != nil {
		return nil, err
	}
	return p, nil
}

// Configure implements platforms.Adapter.
func (CMAdapter) Configure(cfg platforms.Config) (platforms.Platform, error) {
	sec, err := msl.ParseSection(cfg, msl.ConfigSpec{Type: CMType, Files: CMFileKeys, Tunnels: CMTunnelIDs(), Values: []string{"base_path", "session_url", "admin_role"}})
	if err != nil {
		return nil, err
	}
	o := DefaultCMOptions()
	for k, v := range sec.Files {
		switch k {
		case "release":
			o.Files.Release = v
		case "gateway_dir":
			o.Files.GatewayDir = v
		case "settings":
			o.Files.Settings = v
		case "proxy":
			o.Files.Proxy = v
		}
	}
	o.Addresses = sec.Addresses
	var errs []error
	if v, ok := sec.Values["base_path"]; ok {
		if !msl.ValidBasePath(v) {
			errs = append(errs, fmt.Errorf("%splatform.base_path %q must be a URL path such as %s", sec.At["base_path"], v, DefaultCMBasePath))
		}
		o.Embedding.BasePath = v
	}
	if v, ok := sec.Values["session_url"]; ok {
		if err := checkSessionURL(v); err != nil {
			errs = append(errs, fmt.Errorf("%splatform.session_url %q %v", sec.At["session_url"], v, err))
		}
		o.Embedding.SessionURL = v
	}
	if v, ok := sec.Values["admin_role"]; ok {
		o.Embedding.AdminRole = v
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("%w: %w", platforms.ErrConfig, errors.Join(errs...))
	}
	p, err := InspectCM(sec.Root, o)
	if errors.Is(err, platforms.ErrNotDetected) {
		return nil, fmt.Errorf("%w: %splatform.type is %s, but %s has no Controller Manager release file %s (with ID=smbc-cm); point root or files.release at the host's, or leave platform out to detect the platform", platforms.ErrConfig, sec.Where, CMType, sec.Root, o.Files.Release)
	}
	if err != nil {
		return nil, err
	}
	return p, nil
}

// checkSessionURL checks that s is an http(s) URL of a UI on this host.
func checkSessionURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
		return errors.New("must be an http:// or https:// URL such as " + DefaultCMSessionURL)
	}
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	if _, err := platforms.ParseLocalAddress(u.Scheme + "://" + net.JoinHostPort(u.Hostname(), port)); err != nil {
		return fmt.Errorf("is not a URL on this host: %v", err)
	}
	return nil
}

// CMPlatform is an SMBC's Controller Manager.
type CMPlatform struct {
	version string
	apps    []platforms.Application
	tunnels []platforms.Tunnel
	facts   platforms.Facts
	notices []platforms.Notice
}

var (
	_ platforms.Describer = (*CMPlatform)(nil)
	_ platforms.Facter    = (*CMPlatform)(nil)
	_ platforms.Noticer   = (*CMPlatform)(nil)
)

// InspectCM reads the Controller Manager under root: ErrNotDetected
// without its release file, *platforms.UnsupportedError before CM 2.2.
func InspectCM(root string, o CMOptions) (*CMPlatform, error) {
	f := o.Files
	rel, err := platforms.ReadKeyValues(root, f.Release)
	if err != nil {
		return nil, err
	}
	if rel["ID"] != CMType {
		return nil, platforms.ErrNotDetected
	}
	p := &CMPlatform{version: rel["VERSION_ID"]}
	if p.version == "" {
		return nil, fmt.Errorf("%s: VERSION_ID is missing; expected e.g. VERSION_ID=2.2.1.12", f.Release)
	}
	if err := CheckCMVersion(p.version); err != nil {
		return nil, err
	}
	source := func(path string) {
		p.facts.Source = append(p.facts.Source, filepath.Join(root, filepath.FromSlash(path)))
	}
	source(f.Release)
	add := func(component string, t msl.Tunnel) {
		addr := t.Address
		if a, ok := o.Addresses[t.ID]; ok {
			addr = a
		}
		p.tunnels = append(p.tunnels, platforms.Tunnel{ID: t.ID, Component: component, Name: t.Name,
			Description: t.Description, LocalAddress: addr, AcceptSelfSigned: strings.HasPrefix(addr, "https:")})
	}
	add(CMComponent, CMTunnel)

	g, err := msl.ReadGateway(root, f.GatewayDir)
	if err != nil {
		return nil, err
	}
	if g != nil {
		p.apps = append(p.apps, platforms.Application{Type: msl.Gateway.Slug, Version: g.Version})
		if t := msl.Gateway.Tunnels[0]; g.Address != "" || o.Addresses[t.ID] != "" {
			t.Address = g.Address
			add(msl.Gateway.Name, t)
		}
	}
	if err := platforms.ValidateTunnels(p.tunnels); err != nil {
		return nil, fmt.Errorf("%w: platform: %w", platforms.ErrConfig, err)
	}

	settings, err := platforms.ReadKeyValues(root, f.Settings)
	switch {
	case errors.Is(err, platforms.ErrNotDetected):
	case err != nil:
		return nil, err
	default:
		source(f.Settings)
		p.facts.Language = msl.LanguageTag(settings["UI_LANGUAGE"])
	}
	px, err := platforms.ReadKeyValues(root, f.Proxy)
	switch {
	case errors.Is(err, platforms.ErrNotDetected):
	case err != nil:
		return nil, err
	default:
		source(f.Proxy)
		if strings.EqualFold(px["PROXY_ENABLED"], "yes") {
			p.facts.Proxy = msl.ProxyURL(px["HTTPS_PROXY"], "")
			if p.facts.Proxy == "" {
				p.facts.Proxy = msl.ProxyURL(px["HTTP_PROXY"], "")
			}
		}
	}
	p.facts.Embedding = o.Embedding
	return p, nil
}

// Type implements platforms.Platform.
func (p *CMPlatform) Type() string { return CMType }

// Name implements platforms.Platform.
func (p *CMPlatform) Name() string { return CMComponent }

// Version implements platforms.Platform: the Controller Manager's.
func (p *CMPlatform) Version() string { return p.version }

// Tunnels implements platforms.Platform.
func (p *CMPlatform) Tunnels() []platforms.Tunnel { return slices.Clone(p.tunnels) }

// Applications implements platforms.Describer.
func (p *CMPlatform) Applications() []platforms.Application { return slices.Clone(p.apps) }

// License implements platforms.Describer: the CM keeps none (the MSL
// container reports the licence).
func (p *CMPlatform) License() *platforms.License { return nil }

// Parent implements platforms.Describer: the CM is the top level.
func (p *CMPlatform) Parent() string { return "" }

// Facts implements platforms.Facter.
func (p *CMPlatform) Facts() platforms.Facts {
	f := p.facts
	f.Source = slices.Clone(p.facts.Source)
	return f
}

// Notices implements platforms.Noticer.
func (p *CMPlatform) Notices() []platforms.Notice { return slices.Clone(p.notices) }
