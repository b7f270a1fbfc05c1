// Package hostinfo is what the adapters that read a host's own files
// (MX-ONE, SIP-DECT, MiCC-B, MiVoice 5000) share: Host, the platform value
// they build from what they found; Section, the strict `platform:` section
// of the config file ({type, root, files}); and readers for the settings
// such hosts keep (proxy, UI language, ports, SWA status, dates).
package hostinfo

import (
	"errors"
	"fmt"
	"net/url"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/cloudlink/cld/platforms"
)

// Info is what an adapter found on a host.
type Info struct {
	Type, Name, Version string
	Tunnels             []platforms.Tunnel
	Apps                []platforms.Application
	License             *platforms.License // nil when the host keeps none
	Facts               platforms.Facts
	Notices             []platforms.Notice
}

// Host is a detected platform: an adapter fills Info, calls Check and
// returns it (or a type that embeds it). It implements platforms.Platform,
// Describer, Facter and Noticer; the methods return copies.
type Host struct {
	Info Info
}

// New is a Host of the platform type typ, named name, at version.
func New(typ, name, version string) *Host {
	return &Host{Info: Info{Type: typ, Name: name, Version: version}}
}

var (
	_ platforms.Platform  = (*Host)(nil)
	_ platforms.Describer = (*Host)(nil)
	_ platforms.Facter    = (*Host)(nil)
	_ platforms.Noticer   = (*Host)(nil)
)

// Check validates what the adapter built from the host's files; a tunnel
// that does not validate comes from a bad setting in one of them.
func (h *Host) Check() error {
	if err := platforms.ValidateTunnels(h.Info.Tunnels); err != nil {
		return fmt.Errorf("%s: the tunnels read from the host do not validate: %w", h.Info.Name, err)
	}
	for _, a := range h.Info.Apps {
		if !platforms.ValidSlug(a.Type) {
			return fmt.Errorf("%s: application type %q is not a slug", h.Info.Name, a.Type)
		}
	}
	return nil
}

// Type implements platforms.Platform.
func (h *Host) Type() string { return h.Info.Type }

// Name implements platforms.Platform.
func (h *Host) Name() string { return h.Info.Name }

// Version implements platforms.Platform.
func (h *Host) Version() string { return h.Info.Version }

// Tunnels implements platforms.Platform.
func (h *Host) Tunnels() []platforms.Tunnel { return slices.Clone(h.Info.Tunnels) }

// Applications implements platforms.Describer.
func (h *Host) Applications() []platforms.Application { return slices.Clone(h.Info.Apps) }

// License implements platforms.Describer (nil when the host keeps none).
func (h *Host) License() *platforms.License {
	if h.Info.License == nil {
		return nil
	}
	l := *h.Info.License
	return &l
}

// Parent implements platforms.Describer: these platforms are top-level.
func (h *Host) Parent() string { return "" }

// Facts implements platforms.Facter.
func (h *Host) Facts() platforms.Facts {
	f := h.Info.Facts
	f.Source = slices.Clone(h.Info.Facts.Source)
	return f
}

// Notices implements platforms.Noticer.
func (h *Host) Notices() []platforms.Notice { return slices.Clone(h.Info.Notices) }

// Notice adds a notice.
func (h *Host) Notice(code, text, remedy string) {
	h.Info.Notices = append(h.Info.Notices, platforms.Notice{Code: code, Text: text, Remedy: remedy})
}

// Source records a file the facts were read from.
func (h *Host) Source(root, p string) {
	h.Info.Facts.Source = append(h.Info.Facts.Source, filepath.Join(root, filepath.FromSlash(p)))
}

// Section is the adapter's part of the config file (Root is the config's
// host_root, cfg.Root, when the section gives none):
//
//	platform:
//	  type: TYPE
//	  root: /            # optional: the host's file system root
//	  files:             # optional: where the host keeps each fact
//	    KEY: /absolute/path
type Section struct {
	Root  string
	Files map[string]string
}

// ParseSection reads cfg strictly: only type, root and files, files only
// with the keys in known, every value an absolute path without "..".
// Problems are returned together, each with the file and line, wrapping
// platforms.ErrConfig.
func ParseSection(cfg platforms.Config, known []string) (Section, error) {
	sec := Section{Root: cfg.Root, Files: map[string]string{}}
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
		bad(n, "the platform section must be a mapping such as {type: %s, files: {…}}", cfg.Type)
		return sec, fmt.Errorf("%w: %w", platforms.ErrConfig, errors.Join(errs...))
	}
	topKeys := []string{"type", "root", "files"}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if seen[k.Value] {
			bad(k, "key %q appears twice in platform", k.Value)
			continue
		}
		seen[k.Value] = true
		switch k.Value {
		case "type":
		case "root":
			if v.Kind != yaml.ScalarNode || strings.TrimSpace(v.Value) == "" || !filepath.IsAbs(strings.TrimSpace(v.Value)) {
				bad(v, "platform.root must be an absolute directory, the host's file system root (e.g. /)")
				continue
			}
			sec.Root = filepath.Clean(strings.TrimSpace(v.Value))
		case "files":
			if v.Kind != yaml.MappingNode {
				if v.Tag != "!!null" {
					bad(v, "platform.files must be a mapping of a fact to the absolute path of its file (known keys: %s)", strings.Join(known, ", "))
				}
				continue
			}
			fseen := map[string]bool{}
			for j := 0; j+1 < len(v.Content); j += 2 {
				fk, fv := v.Content[j], v.Content[j+1]
				switch {
				case !slices.Contains(known, fk.Value):
					bad(fk, "unknown key %q in platform.files (known keys: %s)", fk.Value, strings.Join(known, ", "))
				case fseen[fk.Value]:
					bad(fk, "key %q appears twice in platform.files", fk.Value)
				case fv.Kind != yaml.ScalarNode:
					bad(fv, "platform.files.%s must be a path such as /etc/…", fk.Value)
				default:
					p, err := HostPath(fv.Value)
					if err != nil {
						bad(fv, "platform.files.%s %v", fk.Value, err)
						break
					}
					sec.Files[fk.Value] = p
				}
				fseen[fk.Value] = true
			}
		default:
			bad(k, "unknown key %q in platform (known keys: %s)", k.Value, strings.Join(topKeys, ", "))
		}
	}
	if len(errs) > 0 {
		return sec, fmt.Errorf("%w: %w", platforms.ErrConfig, errors.Join(errs...))
	}
	return sec, nil
}

// HostPath checks a file's path on the host: absolute ("/etc/…"; a Windows
// path such as C:\ProgramData\… is taken relative to the root, which is
// then the drive), with no "..".
func HostPath(v string) (string, error) {
	p := strings.TrimSpace(v)
	if len(p) >= 2 && p[1] == ':' && (p[0] >= 'A' && p[0] <= 'Z' || p[0] >= 'a' && p[0] <= 'z') {
		p = p[2:]
	}
	p = strings.ReplaceAll(p, `\`, "/")
	if !path.IsAbs(p) {
		return "", fmt.Errorf("%q must be an absolute path on the host, e.g. /etc/…", v)
	}
	for _, el := range strings.Split(p, "/") {
		if el == ".." {
			return "", fmt.Errorf("%q must not hold \"..\"", v)
		}
	}
	return path.Clean(p), nil
}

// Pick returns the configured path of key, else def.
func (s Section) Pick(key, def string) string {
	if p, ok := s.Files[key]; ok {
		return p
	}
	return def
}

// ProxyURL reads a proxy setting as the host writes it
// (http://[user:pass@]host:port[/], or host:port) and returns
// http://host:port: the scheme defaults to http and the port to the
// scheme's. ok is false when the setting is not a proxy URL; creds is true
// when it held a user name or password, which the daemon does not take
// from the host.
func ProxyURL(raw string) (proxy string, creds, ok bool) {
	s := strings.TrimSpace(raw)
	if s == "" {
		return "", false, true
	}
	if !strings.Contains(s, "://") {
		s = "http://" + s
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" ||
		(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return "", false, false
	}
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return "", false, false
	}
	host := u.Hostname()
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	return u.Scheme + "://" + host + ":" + port, u.User != nil, true
}

// SetProxy sets the facts' proxy from a host setting read from file,
// with a notice when it is unusable or held credentials.
func (h *Host) SetProxy(raw, file string) {
	p, creds, ok := ProxyURL(raw)
	switch {
	case !ok:
		h.Notice("host-proxy-invalid", fmt.Sprintf("The host's proxy setting %q in %s is not a proxy URL such as http://proxy.example.com:3128; cld does not use it.", raw, file),
			"Correct the host's proxy setting, or set proxy in cld's config file.")
		return
	case creds:
		h.Notice("host-proxy-credentials", fmt.Sprintf("The host's proxy setting in %s holds a user name or password, which cld does not take from the host; it uses %s without them.", file, p),
			"Give the proxy's credentials in cld's config file (proxy), or allow this host through the proxy without them.")
	}
	h.Info.Facts.Proxy = p
}

// LanguageTag turns a UI language setting ("de", "de_DE", "fr-CA",
// "en_US.UTF-8") into a BCP 47 tag; "" when it is not one.
func LanguageTag(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), ".")
	s, _, _ = strings.Cut(s, "@")
	parts := strings.FieldsFunc(s, func(r rune) bool { return r == '_' || r == '-' })
	if len(parts) == 0 || len(parts[0]) < 2 || len(parts[0]) > 3 {
		return ""
	}
	for i, p := range parts {
		if len(p) > 8 {
			return ""
		}
		for _, r := range p {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
				return ""
			}
		}
		switch {
		case i == 0:
			parts[i] = strings.ToLower(p)
		case len(p) == 2:
			parts[i] = strings.ToUpper(p)
		default:
			parts[i] = strings.ToLower(p)
		}
	}
	return strings.Join(parts, "-")
}

// HTTPSURL is https://127.0.0.1:port.
func HTTPSURL(port int) string { return "https://127.0.0.1:" + strconv.Itoa(port) }

// PortSetting reads a TCP port setting (def when empty).
func PortSetting(v string, def int, what, file string) (int, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > 65535 {
		return 0, fmt.Errorf("%s: %s %q is not a port between 1 and 65535", file, what, v)
	}
	return n, nil
}

// SWAStatus is the SWA status a host states (ACTIVE, EXPIRED, NONE, in
// any case), or, when it states none, the one its expiry date gives at now.
func SWAStatus(stated string, expiry time.Time, now time.Time) (string, bool) {
	switch s := strings.ToUpper(strings.TrimSpace(stated)); s {
	case platforms.SWAActive, platforms.SWAExpired, platforms.SWANone:
		return s, true
	case "":
		switch {
		case expiry.IsZero():
			return "", true
		case now.Before(expiry.AddDate(0, 0, 1)):
			return platforms.SWAActive, true
		default:
			return platforms.SWAExpired, true
		}
	}
	return "", false
}

// Date reads YYYY-MM-DD (midnight UTC); zero for "".
func Date(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, nil
	}
	return time.Parse(time.DateOnly, s)
}
