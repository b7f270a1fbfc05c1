// Package platforms describes the host platforms cld runs on (MSL, MX-ONE,
// OpenScape, …) through one adapter interface: an Adapter detects its
// platform on a host (or builds it from the daemon's config file), and a
// Platform says what the host is (type, name, version) and which reverse
// tunnels it offers (component, name, description, the local address each
// one reaches and how its TLS is checked).
//
// Adapters live in sub-packages (platforms/generic for a platform written in
// the config file). Open picks the platform of a host from the config's
// `platform:` section. This package never imports the agent, the UI or the
// cloud; it depends only on the tunnel protocol's ID rules.
//
// Beyond Platform, a platform may describe its applications and licence
// (Describer), its host's facts: the UI's language, the proxy setting, how
// the dashboard is embedded (Facter), and conditions to warn about
// (Noticer). Open selects the adapter: forced by type, or exactly one that
// detects the host.
package platforms

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/cloudlink/cld/tunnel"
)

// Platform is a host platform as an adapter found or configured it.
type Platform interface {
	// Type is the platform's type slug, e.g. "msl", "mxone", "generic".
	Type() string
	// Name is the product's name, e.g. "MiVoice Business".
	Name() string
	// Version is the product's version ("" when unknown).
	Version() string
	// Tunnels are the tunnels the platform offers, in display order. The
	// slice is the caller's to keep; every entry has passed Tunnel.Validate
	// and IDs are unique.
	Tunnels() []Tunnel
}

// Adapter knows one kind of platform.
type Adapter interface {
	// Type is the platform type this adapter handles (the config's
	// platform.type).
	Type() string
	// Detect looks for the platform under root (the host's file system
	// root; tests point it at a testdata tree). It returns ErrNotDetected
	// when the host is not this platform, and another error when it is but
	// cannot be used (e.g. an unsupported version), with a sentence that
	// says so.
	Detect(root string) (Platform, error)
	// Configure builds the platform from the config file's platform
	// section (cfg.Type is this adapter's type).
	Configure(cfg Config) (Platform, error)
}

// ErrNotDetected is returned by Adapter.Detect on a host that is not the
// adapter's platform.
var ErrNotDetected = errors.New("platform not detected")

// ErrConfig is wrapped by errors about the platform section of the config.
var ErrConfig = errors.New("platform configuration error")

// Config is the `platform:` section of the daemon's config file. Type picks
// the adapter ("" means: detect the platform); the rest of the section
// belongs to that adapter and is kept as a YAML node with its line numbers.
type Config struct {
	Type string
	// Node is the whole section (nil when the file has none).
	Node *yaml.Node
	// Source is the config file's name, for messages.
	Source string
	// Root is the host's file system root, set by Open: an adapter forced
	// by type detects its host under it (with the section's overrides).
	Root string
}

// Auto is the platform type that asks for detection (the default).
const Auto = "auto"

// UnmarshalYAML keeps the section for the adapter and reads its type.
func (c *Config) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.MappingNode {
		if n.Tag == "!!null" {
			*c = Config{}
			return nil
		}
		return fmt.Errorf("line %d: platform must be a mapping such as {type: generic, …}", n.Line)
	}
	c.Node = n
	c.Type = ""
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == "type" {
			v := n.Content[i+1]
			if v.Kind != yaml.ScalarNode {
				return fmt.Errorf("line %d: platform.type must be a word such as generic", v.Line)
			}
			c.Type = strings.TrimSpace(v.Value)
		}
	}
	return nil
}

// IsZero reports whether the config names no platform (detection).
func (c Config) IsZero() bool { return (c.Type == "" || c.Type == Auto) && c.Node == nil }

// NotDetectedError is Open's answer when no adapter recognizes the host:
// it names the types tried. It wraps ErrNotDetected.
type NotDetectedError struct{ Tried []string }

func (e *NotDetectedError) Error() string {
	return fmt.Sprintf("no host platform detected (tried: %s); the daemon runs without the host's tunnels. If this host is one of them, check its release files (cld doctor); otherwise set platform: {type: generic, …} in the config to describe its tunnels", strings.Join(e.Tried, ", "))
}

func (e *NotDetectedError) Unwrap() error { return ErrNotDetected }

// AmbiguousError is Open's answer when more than one adapter recognizes
// the host: it names them.
type AmbiguousError struct{ Candidates []string }

func (e *AmbiguousError) Error() string {
	return fmt.Sprintf("%v: the host looks like more than one platform (%s); set platform: {type: NAME} in the config to the one this daemon serves", ErrConfig, strings.Join(e.Candidates, ", "))
}

func (e *AmbiguousError) Unwrap() error { return ErrConfig }

// Open returns the host's platform. platform.type NAME forces that
// adapter (configured from the section; a detecting adapter looks under
// root with the section's overrides); without a type, or with type auto
// (the default), every adapter's Detect runs: exactly one must recognize
// the host. None is a *NotDetectedError (the daemon runs without a
// platform), two or more an *AmbiguousError naming them; an adapter that
// recognizes the host but refuses it (e.g. *UnsupportedError) returns its
// error.
func Open(cfg Config, root string, adapters ...Adapter) (Platform, error) {
	cfg.Root = root
	if cfg.Type != "" && cfg.Type != Auto {
		var known []string
		for _, a := range adapters {
			if a.Type() == cfg.Type {
				p, err := a.Configure(cfg)
				if err != nil {
					return nil, err
				}
				return p, nil
			}
			known = append(known, a.Type())
		}
		return nil, fmt.Errorf("%w: %splatform.type %q is unknown; known types: %s, or auto to detect", ErrConfig, where(cfg.Source, cfg.Node), cfg.Type, strings.Join(known, ", "))
	}
	if cfg.Type == "" && cfg.Node != nil && len(cfg.Node.Content) > 0 {
		return nil, fmt.Errorf("%w: %sthe platform section needs a type (e.g. type: generic, or type: auto to detect)", ErrConfig, where(cfg.Source, cfg.Node))
	}
	type match struct {
		p   Platform
		err error
	}
	var tried, found []string
	var matches []match
	for _, a := range adapters {
		p, err := a.Detect(root)
		if errors.Is(err, ErrNotDetected) {
			tried = append(tried, a.Type())
			continue
		}
		found = append(found, a.Type())
		matches = append(matches, match{p, err})
	}
	switch len(matches) {
	case 0:
		return nil, &NotDetectedError{Tried: tried}
	case 1:
		return matches[0].p, matches[0].err
	}
	return nil, &AmbiguousError{Candidates: found}
}

// where is "FILE line N: " for messages about node ("" parts left out).
func where(source string, n *yaml.Node) string {
	switch {
	case source != "" && n != nil:
		return fmt.Sprintf("%s line %d: ", source, n.Line)
	case source != "":
		return source + ": "
	case n != nil:
		return fmt.Sprintf("line %d: ", n.Line)
	}
	return ""
}

// Tunnel is one reverse tunnel a platform offers: a management web UI on
// the host that the cloud's portal may reach while the tunnel is started.
type Tunnel struct {
	// ID is a stable slug, unique on the host (tunnel.ValidTunnelID), e.g.
	// "msl-server-manager". The CLI, the API and the edge name tunnels by it.
	ID string
	// Component is the product part it belongs to, e.g. "MSL", "MBG".
	Component string
	// Name is the tunnel's name, e.g. "Server Manager".
	Name string
	// Description says what it gives access to, e.g. "Remote access via
	// Mitel Administration".
	Description string
	// LocalAddress is the URL of the local UI, scheme://host:port with no
	// path (e.g. https://127.0.0.1:443). The daemon dials only this.
	LocalAddress string
	// AcceptSelfSigned accepts whatever certificate the local UI presents
	// (only for https; many appliances ship a self-signed one).
	AcceptSelfSigned bool
	// CAFile is a PEM file of CAs that sign the local UI's certificate
	// (https only; not with AcceptSelfSigned). Without either, the system
	// roots are trusted.
	CAFile string
}

// Endpoint is a parsed local address.
type Endpoint struct {
	TLS  bool   // https
	Host string // host name or IP (without brackets)
	Port int
}

// Address is host:port.
func (e Endpoint) Address() string { return net.JoinHostPort(e.Host, strconv.Itoa(e.Port)) }

// ParseLocalAddress checks a tunnel's local address: an http or https URL
// with a host on this machine (a loopback IP, or a host name) and an
// explicit port, without user, path, query or fragment.
func ParseLocalAddress(s string) (Endpoint, error) {
	const example = "e.g. https://127.0.0.1:443"
	if strings.TrimSpace(s) == "" {
		return Endpoint{}, fmt.Errorf("is empty; give the URL of the local UI (%s)", example)
	}
	u, err := url.Parse(s)
	if err != nil {
		return Endpoint{}, fmt.Errorf("%q is not an http:// or https:// URL (%s)", s, example)
	}
	var ep Endpoint
	switch u.Scheme {
	case "https":
		ep.TLS = true
	case "http":
	default:
		return Endpoint{}, fmt.Errorf("%q must start with http:// or https:// (%s)", s, example)
	}
	if u.Opaque != "" || u.Host == "" {
		return Endpoint{}, fmt.Errorf("%q has no host (%s)", s, example)
	}
	if u.User != nil {
		return Endpoint{}, fmt.Errorf("%q must not hold a user name or password", s)
	}
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.ForceQuery {
		return Endpoint{}, fmt.Errorf("%q must be scheme://host:port only, without a path, query or fragment (%s)", s, example)
	}
	host, portStr := u.Hostname(), u.Port()
	if portStr == "" {
		return Endpoint{}, fmt.Errorf("%q needs an explicit port (%s)", s, example)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil || port < 1 || port > 65535 {
		return Endpoint{}, fmt.Errorf("%q: port %s is not between 1 and 65535", s, portStr)
	}
	if host == "" {
		return Endpoint{}, fmt.Errorf("%q has no host (%s)", s, example)
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		if ip.Zone() != "" {
			return Endpoint{}, fmt.Errorf("%q: an IPv6 zone is not allowed", s)
		}
		if !ip.Unmap().IsLoopback() {
			return Endpoint{}, fmt.Errorf("%q: the IP address %s is not a loopback address; a tunnel reaches a UI on this host: use 127.0.0.1, ::1 or a host name of this host", s, host)
		}
	} else if !validHostName(host) {
		return Endpoint{}, fmt.Errorf("%q: %q is not a valid host name", s, host)
	}
	ep.Host, ep.Port = host, port
	return ep, nil
}

// validHostName accepts DNS names made of letters, digits, dashes and dots.
func validHostName(h string) bool {
	h = strings.TrimSuffix(h, ".")
	if h == "" || len(h) > 253 {
		return false
	}
	for _, label := range strings.Split(h, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
				return false
			}
		}
	}
	return true
}

// Endpoint parses the tunnel's local address (see ParseLocalAddress).
func (t Tunnel) Endpoint() (Endpoint, error) { return ParseLocalAddress(t.LocalAddress) }

// Validate checks one tunnel and returns every problem, each as a sentence
// that names the field.
func (t Tunnel) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if !tunnel.ValidTunnelID(t.ID) {
		bad("id %q is not valid: use lower-case letters, digits and dashes, starting with a letter or digit, at most 63 characters (e.g. msl-server-manager)", t.ID)
	}
	if strings.TrimSpace(t.Component) == "" {
		bad("component is empty; name the product part, e.g. MSL")
	}
	if strings.TrimSpace(t.Name) == "" {
		bad("name is empty; give the tunnel's name, e.g. Server Manager")
	}
	for field, v := range map[string]string{"component": t.Component, "name": t.Name, "description": t.Description} {
		if len(v) > 200 || strings.ContainsAny(v, "\r\n\x00") {
			bad("%s must be one line of at most 200 characters", field)
		}
	}
	ep, err := t.Endpoint()
	if err != nil {
		bad("local_address %v", err)
	}
	if err == nil && !ep.TLS && (t.AcceptSelfSigned || t.CAFile != "") {
		bad("accept_self_signed and ca_file apply only to an https local_address")
	}
	if t.AcceptSelfSigned && t.CAFile != "" {
		bad("give either accept_self_signed or ca_file, not both")
	}
	if t.CAFile != "" {
		if data, err := os.ReadFile(t.CAFile); err != nil {
			bad("ca_file: %v", err)
		} else if !strings.Contains(string(data), "-----BEGIN CERTIFICATE-----") {
			bad("ca_file %s holds no PEM certificate", t.CAFile)
		}
	}
	return errors.Join(errs...)
}

// ValidateTunnels checks every tunnel and that IDs are unique.
func ValidateTunnels(ts []Tunnel) error {
	var errs []error
	seen := map[string]int{}
	for i, t := range ts {
		if err := t.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("tunnels[%d] (%s): %w", i, t.ID, err))
		}
		if j, dup := seen[t.ID]; dup && t.ID != "" {
			errs = append(errs, fmt.Errorf("tunnels[%d]: id %q is already used by tunnels[%d]; tunnel IDs must be unique", i, t.ID, j))
		} else {
			seen[t.ID] = i
		}
	}
	return errors.Join(errs...)
}

// Application is one application type installed on a platform, with its
// version ("" when unknown), e.g. {mivoice-business 10.1.0.12}.
type Application struct {
	Type    string
	Version string
}

// License is a platform's license and software assurance (SWA). Zero
// fields are unknown.
type License struct {
	Type      string    // e.g. PERPETUAL, SUBSCRIPTION
	Expires   time.Time // zero: does not expire or unknown
	SWAStatus string    // ACTIVE, EXPIRED or NONE
	SWAExpiry time.Time
}

// SWA statuses.
const (
	SWAActive  = "ACTIVE"
	SWAExpired = "EXPIRED"
	SWANone    = "NONE"
)

// Describer is implemented by platforms that know what is installed on
// them, their license and whether they are nested in a parent platform. It
// is optional: the inventory reads it when a Platform implements it.
type Describer interface {
	// Applications are the application types installed, in display order
	// (the caller's copy).
	Applications() []Application
	// License is the platform's license (nil when unknown).
	License() *License
	// Parent is the type of the platform this one runs inside (e.g. "smbc"
	// for the child platform of an SMB Controller), "" for a top-level one.
	// On a nested platform only the child is listed in a system's
	// inventory.
	Parent() string
}

// ValidSlug reports whether s is a type slug: lower-case letters, digits and
// dashes, starting with a letter or digit, at most 63 characters (e.g.
// mivoice-business).
func ValidSlug(s string) bool { return tunnel.ValidTunnelID(s) }
