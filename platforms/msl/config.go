package msl

import (
	"errors"
	"fmt"
	"path"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/cloudlink/cld/platforms"
)

// ConfigSpec says which keys the platform section of an adapter built on
// this package may hold (besides type and root).
type ConfigSpec struct {
	Type    string   // the adapter's type, for messages
	Files   []string // keys of files: (each a path on the host)
	Tunnels []string // tunnel IDs of addresses: (each a local address)
	Values  []string // other single-value keys, e.g. user_header
}

// Section is a parsed platform section.
type Section struct {
	// Root is the host's root directory (root:, default the root Open
	// was given, the daemon's host_root, else /).
	Root      string
	Files     map[string]string // files: key → path on the host
	Addresses map[string]string // addresses: tunnel ID → local address
	Values    map[string]string
	// Where is "FILE line N: " of the section, for messages; At the same
	// for each key of Values.
	Where string
	At    map[string]string
}

// DefaultRoot is the root of a configured (not detected) platform when the
// section names none: the machine the daemon runs on.
const DefaultRoot = "/"

// ParseSection reads the platform section of cfg strictly: an unknown or
// repeated key, a value that is not a single value, a path that is not
// absolute or an address that is not a local address is an error naming
// the file and line. All problems are returned at once, wrapping
// platforms.ErrConfig.
func ParseSection(cfg platforms.Config, spec ConfigSpec) (*Section, error) {
	root := DefaultRoot
	if cfg.Root != "" {
		root = cfg.Root // the daemon's host_root (platforms.Open)
	}
	sec := &Section{Root: root, Files: map[string]string{}, Addresses: map[string]string{}, Values: map[string]string{}, At: map[string]string{}}
	at := func(n *yaml.Node) string {
		if cfg.Source == "" {
			return fmt.Sprintf("line %d", n.Line)
		}
		return fmt.Sprintf("%s line %d", cfg.Source, n.Line)
	}
	n := cfg.Node
	switch {
	case n == nil:
		if cfg.Source != "" {
			sec.Where = cfg.Source + ": "
		}
		return sec, nil
	case n.Kind != yaml.MappingNode:
		return nil, fmt.Errorf("%w: %s: the platform section must be a mapping such as {type: %s}", platforms.ErrConfig, at(n), spec.Type)
	}
	sec.Where = at(n) + ": "
	var errs []error
	bad := func(n *yaml.Node, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: "+format, append([]any{at(n)}, args...)...))
	}
	known := append([]string{"type", "root"}, spec.Values...)
	if len(spec.Files) > 0 {
		known = append(known, "files")
	}
	if len(spec.Tunnels) > 0 {
		known = append(known, "addresses")
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		switch {
		case !slices.Contains(known, k.Value):
			bad(k, "unknown key %q in platform (type %s knows: %s)", k.Value, spec.Type, strings.Join(known, ", "))
			continue
		case seen[k.Value]:
			bad(k, "key %q appears twice in platform", k.Value)
			continue
		}
		seen[k.Value] = true
		switch k.Value {
		case "type":
		case "root":
			if s, ok := scalar(v); !ok || !path.IsAbs(s) {
				bad(v, "platform.root must be an absolute directory such as /; got %s", show(v))
			} else {
				sec.Root = s
			}
		case "files":
			mapping(v, "platform.files", spec.Files, bad, func(key string, val *yaml.Node) {
				if s, ok := scalar(val); !ok || !path.IsAbs(s) {
					bad(val, "platform.files.%s must be an absolute path on the host such as /etc/e-smith-release; got %s", key, show(val))
				} else {
					sec.Files[key] = path.Clean(s)
				}
			})
		case "addresses":
			mapping(v, "platform.addresses", spec.Tunnels, bad, func(key string, val *yaml.Node) {
				s, ok := scalar(val)
				if !ok {
					bad(val, "platform.addresses.%s must be a local address such as https://127.0.0.1:443; got %s", key, show(val))
					return
				}
				if _, err := platforms.ParseLocalAddress(s); err != nil {
					bad(val, "platform.addresses.%s: %v", key, err)
					return
				}
				sec.Addresses[key] = s
			})
		default:
			if s, ok := scalar(v); !ok {
				bad(v, "platform.%s must be a single value; got %s", k.Value, show(v))
			} else {
				sec.Values[k.Value], sec.At[k.Value] = s, at(v)+": "
			}
		}
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("%w: %w", platforms.ErrConfig, errors.Join(errs...))
	}
	return sec, nil
}

// mapping checks that v maps known keys to values and calls each for them.
func mapping(v *yaml.Node, name string, known []string, bad func(*yaml.Node, string, ...any), each func(string, *yaml.Node)) {
	if v.Kind != yaml.MappingNode {
		if v.Tag != "!!null" {
			bad(v, "%s must be a mapping of %s", name, strings.Join(known, ", "))
		}
		return
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(v.Content); i += 2 {
		k := v.Content[i]
		switch {
		case !slices.Contains(known, k.Value):
			bad(k, "unknown key %q in %s (known keys: %s)", k.Value, name, strings.Join(known, ", "))
		case seen[k.Value]:
			bad(k, "key %q appears twice in %s", k.Value, name)
		default:
			seen[k.Value] = true
			each(k.Value, v.Content[i+1])
		}
	}
}

// scalar is n's trimmed value when it is a non-empty single value.
func scalar(n *yaml.Node) (string, bool) {
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		return "", false
	}
	s := strings.TrimSpace(n.Value)
	return s, s != ""
}

// show is how a value is named in messages.
func show(n *yaml.Node) string {
	switch {
	case n.Kind == yaml.MappingNode:
		return "a mapping"
	case n.Kind == yaml.SequenceNode:
		return "a list"
	case n.Tag == "!!null" || strings.TrimSpace(n.Value) == "":
		return "nothing"
	}
	return fmt.Sprintf("%q", n.Value)
}

// validHeader reports whether h is an HTTP header name.
func validHeader(h string) bool {
	if h == "" {
		return false
	}
	for _, r := range h {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-') {
			return false
		}
	}
	return true
}

// ValidBasePath reports whether p is a URL path prefix such as
// /server-manager/cloudlink (absolute, clean, no trailing slash, query or
// fragment).
func ValidBasePath(p string) bool {
	return strings.HasPrefix(p, "/") && len(p) > 1 && path.Clean(p) == p && !strings.ContainsAny(p, "?#% \t")
}
