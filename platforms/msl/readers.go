package msl

import (
	"net"
	"net/url"
	"strings"

	"github.com/cloudlink/cld/platforms"
)

// Package is one installed package of a package list.
type Package struct {
	Name, Version, Release, Arch string
}

// ReadPackages reads the package list root/path (see ParsePackages), by
// package name; platforms.ErrNotDetected when the file does not exist.
func ReadPackages(root, path string) (map[string]Package, error) {
	text, err := platforms.ReadFile(root, path)
	if err != nil {
		return nil, err
	}
	return ParsePackages(text), nil
}

// ParsePackages reads a package list in the format `rpm -qa` prints: one
// NAME-VERSION-RELEASE.ARCH per line (e.g.
// mitel-mbg-11.5.0.227-1.el7.x86_64; the .ARCH and an EPOCH: before the
// version are optional). Blank lines, # comments and lines that are not a
// package are skipped; a name listed twice keeps its last line.
func ParsePackages(text string) map[string]Package {
	pkgs := map[string]Package{}
	for _, line := range strings.Split(text, "\n") {
		if p, ok := parsePackage(strings.TrimSpace(line)); ok {
			pkgs[p.Name] = p
		}
	}
	return pkgs
}

var arches = map[string]bool{"x86_64": true, "noarch": true, "i686": true, "i386": true, "aarch64": true, "ppc64le": true, "s390x": true}

func parsePackage(s string) (Package, bool) {
	if s == "" || strings.HasPrefix(s, "#") || strings.ContainsAny(s, " \t") {
		return Package{}, false
	}
	var p Package
	if i := strings.LastIndexByte(s, '.'); i > 0 && arches[s[i+1:]] {
		p.Arch, s = s[i+1:], s[:i]
	}
	i := strings.LastIndexByte(s, '-')
	if i <= 0 {
		return Package{}, false
	}
	p.Release, s = s[i+1:], s[:i]
	i = strings.LastIndexByte(s, '-')
	if i <= 0 {
		return Package{}, false
	}
	p.Name, p.Version = s[:i], s[i+1:]
	if _, v, ok := strings.Cut(p.Version, ":"); ok {
		p.Version = v
	}
	if p.Release == "" || p.Version == "" || p.Version[0] < '0' || p.Version[0] > '9' {
		return Package{}, false
	}
	return p, true
}

// Record is one record of an e-smith database: its type and properties.
type Record struct {
	Type  string
	Props map[string]string
}

// Prop is the record's property name ("" when absent or r is nil).
func (r *Record) Prop(name string) string {
	if r == nil {
		return ""
	}
	return r.Props[name]
}

// ReadDB reads the e-smith database root/path (see ParseDB);
// platforms.ErrNotDetected when the file does not exist.
func ReadDB(root, path string) (map[string]*Record, error) {
	text, err := platforms.ReadFile(root, path)
	if err != nil {
		return nil, err
	}
	return ParseDB(text), nil
}

// ParseDB reads an e-smith database (MSL's /home/e-smith/db/* files): one
// record a line, KEY=TYPE|PROP|VALUE|PROP|VALUE…, a | or \ inside a value
// escaped with a backslash; # comments and blank lines skipped, a key
// listed twice keeps its last line, a property without a value is "".
func ParseDB(text string) map[string]*Record {
	db := map[string]*Record{}
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		key, rest, ok := strings.Cut(line, "=")
		key = strings.TrimSpace(key)
		if !ok || key == "" {
			continue
		}
		fields := splitEscaped(rest)
		r := &Record{Type: fields[0], Props: map[string]string{}}
		for i := 1; i < len(fields); i += 2 {
			if fields[i] == "" {
				continue
			}
			if i+1 < len(fields) {
				r.Props[fields[i]] = fields[i+1]
			} else {
				r.Props[fields[i]] = ""
			}
		}
		db[key] = r
	}
	return db
}

// splitEscaped splits s at the | that are not escaped by a backslash.
func splitEscaped(s string) []string {
	var fields []string
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\' && i+1 < len(s):
			i++
			b.WriteByte(s[i])
		case c == '|':
			fields = append(fields, b.String())
			b.Reset()
		default:
			b.WriteByte(c)
		}
	}
	return append(fields, b.String())
}

// LanguageTag turns a locale as hosts write it (de_DE.UTF-8, en-us, fr,
// zh_Hant_TW) into a BCP 47 tag (de-DE, en-US, fr, zh-Hant-TW); "" for
// none, C, POSIX or anything that is not a locale.
func LanguageTag(locale string) string {
	s := strings.TrimSpace(locale)
	if i := strings.IndexAny(s, ".@"); i >= 0 {
		s = s[:i]
	}
	if s == "" || s == "C" || s == "POSIX" {
		return ""
	}
	parts := strings.FieldsFunc(s, func(r rune) bool { return r == '_' || r == '-' })
	for i, p := range parts {
		for _, r := range p {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || i > 0 && r >= '0' && r <= '9') {
				return ""
			}
		}
		switch {
		case i == 0:
			if len(p) < 2 || len(p) > 3 {
				return ""
			}
			parts[i] = strings.ToLower(p)
		case len(p) == 4:
			parts[i] = strings.ToUpper(p[:1]) + strings.ToLower(p[1:])
		case len(p) == 2 || len(p) == 3:
			parts[i] = strings.ToUpper(p)
		default:
			return ""
		}
	}
	return strings.Join(parts, "-")
}

// ProxyURL makes a proxy URL from a host's setting: host may be a bare
// host name or IP, host:port or a URL; port (may be "") is used when host
// has none, else the scheme's default. The result is scheme://host:port
// without credentials or path; "" when host is empty or not a proxy.
func ProxyURL(host, port string) string {
	host = strings.TrimSpace(host)
	if host == "" {
		return ""
	}
	if !strings.Contains(host, "://") {
		host = "http://" + host
	}
	u, err := url.Parse(host)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" {
		return ""
	}
	p := u.Port()
	if p == "" {
		p = strings.TrimSpace(port)
	}
	if p == "" {
		p = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	for _, r := range p {
		if r < '0' || r > '9' {
			return ""
		}
	}
	return u.Scheme + "://" + net.JoinHostPort(u.Hostname(), p)
}
