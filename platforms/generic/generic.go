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

// Keys of the section and of one tunnel, for strict checking.
var (
	platformKeys = []string{"type", "name", "version", "tunnels"}
	tunnelKeys   = []string{"id", "component", "name", "description", "local_address", "accept_self_signed", "ca_file"}
)

type section struct {
	Type    string       `yaml:"type"`
	Name    string       `yaml:"name"`
	Version string       `yaml:"version"`
	Tunnels []tunnelYAML `yaml:"tunnels"`
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
	var tunnelNodes []*yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value != "tunnels" {
			continue
		}
		v := n.Content[i+1]
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
	if len(errs) > 0 {
		return nil, fail(errs)
	}
	return New(sec.Name, sec.Version, tunnels)
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
