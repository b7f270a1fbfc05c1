package openscape

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/cloudlink/cld/platforms"
)

// section is an adapter's platform section, read strictly.
type section struct {
	root      string
	files     map[string]string
	addresses map[string]string
	extra     map[string]string // the product's own scalar keys
}

// extraKey is a product's own scalar key in the section and its check.
type extraKey struct {
	key   string
	check func(string) error
}

// parseSection reads cfg's section for product pr: type, root, files
// (place key: absolute path), addresses (tunnel ID: local address) and the
// product's extra keys. Every problem is reported at once with its line.
func parseSection(pr *product, cfg platforms.Config, extra ...extraKey) (section, error) {
	sec := section{files: map[string]string{}, addresses: map[string]string{}, extra: map[string]string{}}
	n := cfg.Node
	if n == nil {
		return sec, nil
	}
	at := func(n *yaml.Node) string {
		if cfg.Source == "" {
			return fmt.Sprintf("line %d", n.Line)
		}
		return fmt.Sprintf("%s line %d", cfg.Source, n.Line)
	}
	var errs []error
	bad := func(n *yaml.Node, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: "+format, append([]any{at(n)}, args...)...))
	}
	if n.Kind != yaml.MappingNode {
		bad(n, "the platform section must be a mapping such as {type: %s}", pr.typ)
		return sec, fail(errs)
	}
	keys := []string{"type", "root", "files", "addresses"}
	for _, e := range extra {
		keys = append(keys, e.key)
	}
	mapping(n, "platform", keys, bad, func(k string, v *yaml.Node) {
		switch k {
		case "type":
		case "root":
			if s, ok := scalar(v, "platform.root", bad); ok {
				if !strings.HasPrefix(s, "/") {
					bad(v, "platform.root %q must be an absolute directory (the host's file system root, / by default)", s)
				}
				sec.root = s
			}
		case "files":
			mapping(v, "platform.files", placeKeys(pr), bad, func(k string, v *yaml.Node) {
				if s, ok := scalar(v, "platform.files."+k, bad); ok {
					if err := checkHostPath(s); err != nil {
						bad(v, "platform.files.%s: %v", k, err)
					}
					sec.files[k] = s
				}
			})
		case "addresses":
			mapping(v, "platform.addresses", tunnelIDs(pr), bad, func(k string, v *yaml.Node) {
				if s, ok := scalar(v, "platform.addresses."+k, bad); ok {
					if _, err := platforms.ParseLocalAddress(s); err != nil {
						bad(v, "platform.addresses.%s: local address %v", k, err)
					}
					sec.addresses[k] = s
				}
			})
		default:
			for _, e := range extra {
				if e.key != k {
					continue
				}
				if s, ok := scalar(v, "platform."+k, bad); ok {
					if err := e.check(s); err != nil {
						bad(v, "platform.%s: %v", k, err)
					}
					sec.extra[k] = s
				}
			}
		}
	})
	if len(errs) > 0 {
		return sec, fail(errs)
	}
	return sec, nil
}

func fail(errs []error) error {
	return fmt.Errorf("%w: %w", platforms.ErrConfig, errors.Join(errs...))
}

// mapping walks mapping n (a null value is an empty one), reporting
// unknown and repeated keys, and calls each for the known ones.
func mapping(n *yaml.Node, path string, known []string, bad func(*yaml.Node, string, ...any), each func(string, *yaml.Node)) {
	if n.Kind != yaml.MappingNode {
		if n.Tag != "!!null" {
			bad(n, "%s must be a mapping (key: value lines)", path)
		}
		return
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		switch {
		case !slices.Contains(known, k.Value):
			bad(k, "unknown key %q in %s (known keys: %s)", k.Value, path, strings.Join(known, ", "))
		case seen[k.Value]:
			bad(k, "key %q appears twice in %s", k.Value, path)
		default:
			each(k.Value, v)
		}
		seen[k.Value] = true
	}
}

// scalar is n's value when n is a non-empty scalar.
func scalar(n *yaml.Node, path string, bad func(*yaml.Node, string, ...any)) (string, bool) {
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" || strings.TrimSpace(n.Value) == "" {
		bad(n, "%s must be a single value", path)
		return "", false
	}
	return strings.TrimSpace(n.Value), true
}

// merged is o with cfg's root and the section's root, files and
// addresses over it.
func (sec section) merged(cfg platforms.Config, o Options) Options {
	m := Options{Root: o.Root, Files: maps.Clone(o.Files), Addresses: maps.Clone(o.Addresses)}
	if cfg.Root != "" {
		m.Root = cfg.Root
	}
	if sec.root != "" {
		m.Root = sec.root
	}
	if m.Root == "" {
		m.Root = "/"
	}
	if m.Files == nil {
		m.Files = map[string]string{}
	}
	if m.Addresses == nil {
		m.Addresses = map[string]string{}
	}
	maps.Copy(m.Files, sec.files)
	maps.Copy(m.Addresses, sec.addresses)
	return m
}

// configure runs the detection of a platform that the config file names:
// a host without the product's version file is a config error that says
// where it was looked for.
func configure(pr *product, cfg platforms.Config, o Options, extra func(*host, *Platform) error) (platforms.Platform, error) {
	p, err := detect(pr, o.Root, o, extra)
	if errors.Is(err, platforms.ErrNotDetected) {
		vf := pr.places[0]
		path := vf.path
		if f, ok := o.Files[vf.key]; ok {
			path = f
		}
		where := ""
		if cfg.Source != "" {
			where = cfg.Source + ": "
		}
		return nil, fmt.Errorf("%w: %splatform.type is %s, but there is no %s version file at %s under %s (whose %s names %s); set platform.files.%s (or platform.root) to where this host keeps it, or leave platform out to detect the host", platforms.ErrConfig, where, pr.typ, pr.name, path, o.Root, pr.productKey, pr.match, vf.key)
	}
	return asPlatform(p, err)
}
