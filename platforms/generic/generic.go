// Package generic is the platform adapter for a host described in the
// daemon's config file rather than detected: its name, version and tunnels
// are written in the `platform:` section, e.g.
//
//	platform:
//	  type: generic
//	  name: "Demo host"
//	  version: "1.0"
//	  tunnels:
//	    - id: msl-server-manager
//	      component: MSL
//	      name: Server Manager
//	      description: Remote access via Mitel Administration
//	      local_address: https://127.0.0.1:9443
//	      accept_self_signed: true
//	  # optional, for the inventory:
//	  parent: smbc            # the platform this one runs inside (SMBC child)
//	  applications:
//	    - type: mivoice-business
//	      version: "10.1.0.12"
//	  license:
//	    type: PERPETUAL       # or SUBSCRIPTION, …
//	    expires: 2027-12-31   # a date or an RFC 3339 time
//	    swa_status: ACTIVE    # ACTIVE, EXPIRED or NONE
//	    swa_expiry: 2026-12-31
//
// Keys are checked strictly: an unknown key, a duplicate tunnel ID, an ID
// that is not a slug or a local address that is not http(s)://host:port on
// this host is an error that names the file, the line and the fix.
package generic

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/cloudlink/cld/platforms"
)

// Type is the platform type of this adapter.
const Type = "generic"

// Adapter configures a generic platform; it never detects one.
type Adapter struct{}

// Type implements platforms.Adapter.
func (Adapter) Type() string { return Type }

// Detect implements platforms.Adapter: a generic platform exists only when
// the config file describes it.
func (Adapter) Detect(string) (platforms.Platform, error) { return nil, platforms.ErrNotDetected }

// Configure implements platforms.Adapter.
func (Adapter) Configure(cfg platforms.Config) (platforms.Platform, error) {
	return Parse(cfg.Node, cfg.Source)
}

// Platform is a platform described in the config file.
type Platform struct {
	name, version string
	tunnels       []platforms.Tunnel
	details       Details
}

// Details are the optional inventory facts of a generic platform.
type Details struct {
	Applications []platforms.Application
	License      *platforms.License
	// Parent is the type of the platform this one runs inside, e.g. smbc.
	Parent string
}

var _ platforms.Describer = (*Platform)(nil)

// NewWithDetails is New with the platform's applications, license and
// parent.
func NewWithDetails(name, version string, tunnels []platforms.Tunnel, d Details) (*Platform, error) {
	p, err := New(name, version, tunnels)
	if err != nil {
		return nil, err
	}
	var errs []error
	for i, a := range d.Applications {
		if !platforms.ValidSlug(a.Type) {
			errs = append(errs, fmt.Errorf("applications[%d]: type %q is not valid: use lower-case letters, digits and dashes (e.g. mivoice-business)", i, a.Type))
		}
	}
	if d.Parent != "" && !platforms.ValidSlug(d.Parent) {
		errs = append(errs, fmt.Errorf("parent %q is not a platform type such as smbc", d.Parent))
	}
	if d.License != nil {
		switch d.License.SWAStatus {
		case "", platforms.SWAActive, platforms.SWAExpired, platforms.SWANone:
		default:
			errs = append(errs, fmt.Errorf("license.swa_status %q is not one of ACTIVE, EXPIRED, NONE", d.License.SWAStatus))
		}
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("%w: platform: %w", platforms.ErrConfig, errors.Join(errs...))
	}
	p.details.Applications = slices.Clone(d.Applications)
	if d.License != nil {
		l := *d.License
		p.details.License = &l
	}
	p.details.Parent = d.Parent
	return p, nil
}

// New returns a generic platform after validating its tunnels.
func New(name, version string, tunnels []platforms.Tunnel) (*Platform, error) {
	if err := platforms.ValidateTunnels(tunnels); err != nil {
		return nil, fmt.Errorf("%w: platform: %w", platforms.ErrConfig, err)
	}
	if strings.TrimSpace(name) == "" {
		name = "Generic host"
	}
	return &Platform{name: name, version: version, tunnels: slices.Clone(tunnels)}, nil
}

// Type implements platforms.Platform.
func (p *Platform) Type() string { return Type }

// Name implements platforms.Platform.
func (p *Platform) Name() string { return p.name }

// Version implements platforms.Platform.
func (p *Platform) Version() string { return p.version }

// Tunnels implements platforms.Platform.
func (p *Platform) Tunnels() []platforms.Tunnel { return slices.Clone(p.tunnels) }

// Applications implements platforms.Describer.
func (p *Platform) Applications() []platforms.Application {
	return slices.Clone(p.details.Applications)
}

// License implements platforms.Describer.
func (p *Platform) License() *platforms.License {
	if p.details.License == nil {
		return nil
	}
	l := *p.details.License
	return &l
}

// Parent implements platforms.Describer.
func (p *Platform) Parent() string { return p.details.Parent }

// Keys of the section and of one tunnel, for strict checking.
var (
	platformKeys    = []string{"type", "name", "version", "tunnels", "parent", "applications", "license"}
	tunnelKeys      = []string{"id", "component", "name", "description", "local_address", "accept_self_signed", "ca_file"}
	applicationKeys = []string{"type", "version"}
	licenseKeys     = []string{"type", "expires", "swa_status", "swa_expiry"}
)

type section struct {
	Type         string            `yaml:"type"`
	Name         string            `yaml:"name"`
	Version      string            `yaml:"version"`
	Tunnels      []tunnelYAML      `yaml:"tunnels"`
	Parent       string            `yaml:"parent"`
	Applications []applicationYAML `yaml:"applications"`
	License      *licenseYAML      `yaml:"license"`
}

type applicationYAML struct {
	Type    string `yaml:"type"`
	Version string `yaml:"version"`
}

type licenseYAML struct {
	Type      string `yaml:"type"`
	Expires   string `yaml:"expires"`
	SWAStatus string `yaml:"swa_status"`
	SWAExpiry string `yaml:"swa_expiry"`
}

type tunnelYAML struct {
	ID               string `yaml:"id"`
	Component        string `yaml:"component"`
	Name             string `yaml:"name"`
	Description      string `yaml:"description"`
	LocalAddress     string `yaml:"local_address"`
	AcceptSelfSigned bool   `yaml:"accept_self_signed"`
	CAFile           string `yaml:"ca_file"`
}

// Parse reads the platform section (a YAML mapping node) of the config file
// named source, strictly, and validates it. All problems are returned at
// once, each with the file and line.
func Parse(n *yaml.Node, source string) (*Platform, error) {
	at := func(n *yaml.Node) string {
		if source == "" {
			return fmt.Sprintf("line %d", n.Line)
		}
		return fmt.Sprintf("%s line %d", source, n.Line)
	}
	fail := func(errs []error) error {
		return fmt.Errorf("%w: %w", platforms.ErrConfig, errors.Join(errs...))
	}
	if n == nil || n.Kind != yaml.MappingNode {
		return nil, fail([]error{errors.New("the platform section must be a mapping such as {type: generic, name: …, tunnels: […]}")})
	}
	var errs []error
	errs = append(errs, unknownKeys(n, "platform", platformKeys, at)...)
	var tunnelNodes, appNodes []*yaml.Node
	var licenseNode, parentNode *yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		v := n.Content[i+1]
		switch n.Content[i].Value {
		case "applications":
			if v.Kind != yaml.SequenceNode {
				if v.Tag != "!!null" {
					errs = append(errs, fmt.Errorf("%s: platform.applications must be a list of {type, version}", at(v)))
				}
				continue
			}
			for j, an := range v.Content {
				if an.Kind != yaml.MappingNode {
					errs = append(errs, fmt.Errorf("%s: platform.applications[%d] must be a mapping with type and version", at(an), j))
					continue
				}
				errs = append(errs, unknownKeys(an, fmt.Sprintf("platform.applications[%d]", j), applicationKeys, at)...)
				errs = append(errs, scalars(an, fmt.Sprintf("platform.applications[%d]", j), at)...)
				appNodes = append(appNodes, an)
			}
			continue
		case "license":
			if v.Kind != yaml.MappingNode {
				if v.Tag != "!!null" {
					errs = append(errs, fmt.Errorf("%s: platform.license must be a mapping with type, expires, swa_status, swa_expiry", at(v)))
				}
				continue
			}
			errs = append(errs, unknownKeys(v, "platform.license", licenseKeys, at)...)
			errs = append(errs, scalars(v, "platform.license", at)...)
			licenseNode = v
			continue
		case "parent":
			if v.Kind != yaml.ScalarNode {
				errs = append(errs, fmt.Errorf("%s: platform.parent must be a platform type such as smbc", at(v)))
			}
			parentNode = v
			continue
		case "tunnels":
		default:
			continue
		}
		if v.Kind != yaml.SequenceNode {
			if v.Tag != "!!null" {
				errs = append(errs, fmt.Errorf("%s: platform.tunnels must be a list of tunnels (- id: …)", at(v)))
			}
			continue
		}
		for j, tn := range v.Content {
			if tn.Kind != yaml.MappingNode {
				errs = append(errs, fmt.Errorf("%s: platform.tunnels[%d] must be a mapping with id, component, name, description, local_address", at(tn), j))
				continue
			}
			errs = append(errs, unknownKeys(tn, fmt.Sprintf("platform.tunnels[%d]", j), tunnelKeys, at)...)
			tunnelNodes = append(tunnelNodes, tn)
		}
	}
	if len(errs) > 0 {
		return nil, fail(errs)
	}
	var sec section
	if err := n.Decode(&sec); err != nil {
		return nil, fail([]error{fmt.Errorf("%s: platform: %v", at(n), strings.TrimPrefix(err.Error(), "yaml: "))})
	}
	tunnels := make([]platforms.Tunnel, len(sec.Tunnels))
	seen := map[string]int{}
	for i, ty := range sec.Tunnels {
		t := platforms.Tunnel{
			ID: strings.TrimSpace(ty.ID), Component: strings.TrimSpace(ty.Component), Name: strings.TrimSpace(ty.Name),
			Description: strings.TrimSpace(ty.Description), LocalAddress: strings.TrimSpace(ty.LocalAddress),
			AcceptSelfSigned: ty.AcceptSelfSigned, CAFile: strings.TrimSpace(ty.CAFile),
		}
		tunnels[i] = t
		loc := at(tunnelNodes[i])
		if err := t.Validate(); err != nil {
			for _, e := range unjoin(err) {
				errs = append(errs, fmt.Errorf("%s: platform.tunnels[%d]: %w", loc, i, e))
			}
		}
		if j, dup := seen[t.ID]; dup && t.ID != "" {
			errs = append(errs, fmt.Errorf("%s: platform.tunnels[%d]: id %q is already used by tunnels[%d]; tunnel IDs must be unique", loc, i, t.ID, j))
		} else {
			seen[t.ID] = i
		}
	}
	var d Details
	if sec.Parent = strings.TrimSpace(sec.Parent); sec.Parent != "" {
		if !platforms.ValidSlug(sec.Parent) {
			errs = append(errs, fmt.Errorf("%s: platform.parent %q is not a platform type such as smbc", at(parentNode), sec.Parent))
		}
		d.Parent = sec.Parent
	}
	seenApp := map[string]int{}
	for i, ay := range sec.Applications {
		a := platforms.Application{Type: strings.TrimSpace(ay.Type), Version: strings.TrimSpace(ay.Version)}
		loc := at(appNodes[i])
		switch {
		case a.Type == "":
			errs = append(errs, fmt.Errorf("%s: platform.applications[%d]: type is empty; name the application type, e.g. mivoice-business", loc, i))
		case !platforms.ValidSlug(a.Type):
			errs = append(errs, fmt.Errorf("%s: platform.applications[%d]: type %q is not valid: use lower-case letters, digits and dashes (e.g. mivoice-business)", loc, i, a.Type))
		}
		if len(a.Version) > 100 || strings.ContainsAny(a.Version, "\r\n\x00") {
			errs = append(errs, fmt.Errorf("%s: platform.applications[%d]: version must be one line of at most 100 characters", loc, i))
		}
		if j, dup := seenApp[a.Type]; dup && a.Type != "" {
			errs = append(errs, fmt.Errorf("%s: platform.applications[%d]: type %q is already listed as applications[%d]", loc, i, a.Type, j))
		} else {
			seenApp[a.Type] = i
		}
		d.Applications = append(d.Applications, a)
	}
	if sec.License != nil && licenseNode != nil {
		ly := sec.License
		l := &platforms.License{Type: strings.TrimSpace(ly.Type), SWAStatus: strings.ToUpper(strings.TrimSpace(ly.SWAStatus))}
		switch l.SWAStatus {
		case "", platforms.SWAActive, platforms.SWAExpired, platforms.SWANone:
		default:
			errs = append(errs, fmt.Errorf("%s: platform.license.swa_status %q is not one of ACTIVE, EXPIRED, NONE", at(valueNode(licenseNode, "swa_status")), ly.SWAStatus))
		}
		if len(l.Type) > 100 || strings.ContainsAny(l.Type, "\r\n\x00") {
			errs = append(errs, fmt.Errorf("%s: platform.license.type must be one line of at most 100 characters", at(valueNode(licenseNode, "type"))))
		}
		for _, f := range []struct {
			key string
			src string
			dst *time.Time
		}{{"expires", ly.Expires, &l.Expires}, {"swa_expiry", ly.SWAExpiry, &l.SWAExpiry}} {
			if strings.TrimSpace(f.src) == "" {
				continue
			}
			t, err := parseDate(f.src)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: platform.license.%s %q is not a date such as 2027-12-31 (or an RFC 3339 time)", at(valueNode(licenseNode, f.key)), f.key, f.src))
				continue
			}
			*f.dst = t
		}
		d.License = l
	}
	if len(errs) > 0 {
		return nil, fail(errs)
	}
	return NewWithDetails(sec.Name, sec.Version, tunnels, d)
}

// parseDate reads YYYY-MM-DD (midnight UTC) or an RFC 3339 time.
func parseDate(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, err
	}
	return t.UTC(), nil
}

// valueNode is the value of key in mapping n (n itself when absent).
func valueNode(n *yaml.Node, key string) *yaml.Node {
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return n
}

// scalars reports the values of mapping n that are not scalars.
func scalars(n *yaml.Node, path string, at func(*yaml.Node) string) []error {
	var errs []error
	for i := 0; i+1 < len(n.Content); i += 2 {
		if v := n.Content[i+1]; v.Kind != yaml.ScalarNode {
			errs = append(errs, fmt.Errorf("%s: %s.%s must be a single value", at(v), path, n.Content[i].Value))
		}
	}
	return errs
}

// unknownKeys reports the keys of mapping n that are not in known.
func unknownKeys(n *yaml.Node, path string, known []string, at func(*yaml.Node) string) []error {
	var errs []error
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := n.Content[i]
		if !slices.Contains(known, k.Value) {
			errs = append(errs, fmt.Errorf("%s: unknown key %q in %s (known keys: %s)", at(k), k.Value, path, strings.Join(known, ", ")))
		} else if seen[k.Value] {
			errs = append(errs, fmt.Errorf("%s: key %q appears twice in %s", at(k), k.Value, path))
		}
		seen[k.Value] = true
	}
	return errs
}

// unjoin splits an errors.Join result into its parts.
func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}
