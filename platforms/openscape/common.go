package openscape

import (
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/cloudlink/cld/platforms"
)

// Adapter types.
const (
	TypeBusiness = "openscape-business"
	TypeVoice    = "openscape-voice"
	TypeUC       = "openscape-uc"
	TypeSBC      = "openscape-sbc"
	Type4000     = "openscape-4000"
)

// Adapters returns the five OpenScape adapters with their default places
// (the OpenScape Voice one as the instance cld with the state directory
// /var/lib/cld; see AdaptersFor).
func Adapters() []platforms.Adapter { return AdaptersFor(Instance{}) }

// AdaptersFor is Adapters for the daemon instance self (its state
// directory names it in an OpenScape Voice node's CloudLink registration).
func AdaptersFor(self Instance) []platforms.Adapter {
	return []platforms.Adapter{Business{}, Voice{Self: self}, UC{}, SBC{}, OS4000{}}
}

// Options change where an adapter looks; the zero value reads the default
// places of the package doc.
type Options struct {
	// Root is the host's file system root that Configure reads when
	// neither the config's platform.root nor platforms.Config.Root (set by
	// platforms.Open) gives one ("" is /); Detect is given its root.
	Root string
	// Files moves a place, by its key in the package doc's table (e.g.
	// "version"), to another absolute path on the host.
	Files map[string]string
	// Addresses sets a tunnel's local address (scheme://host:port), by
	// tunnel ID.
	Addresses map[string]string
}

// place is one file an adapter reads: its key (the config's
// platform.files key), its default path on the host and what it holds.
type place struct{ key, path, what string }

// product is what the shared detection knows of one product.
type product struct {
	typ, name string
	// min is the oldest supported version, needed the UnsupportedError's
	// sentence for it.
	min, needed string
	// places are the files read; the first is the version file, whose
	// presence (with productKey holding match) makes the host this product.
	places                           []place
	productKey, versionKey, buildKey string
	match                            string
	// modelKey, when set, is the version file's key whose value (e.g. X3)
	// completes the platform's name.
	modelKey  string
	tunnels   []platforms.Tunnel
	embedding platforms.Embedding
	// language and proxy read the host UI's language and the host's proxy.
	language func(h *host) string
	proxy    func(h *host) (string, []platforms.Notice)
}

// Platform is an OpenScape host as an adapter found it. It implements
// platforms.Platform, Describer, Facter and Noticer.
type Platform struct {
	typ, name, version, build, os string
	apps                          []platforms.Application
	license                       *platforms.License
	tunnels                       []platforms.Tunnel
	facts                         platforms.Facts
	notices                       []platforms.Notice
	node                          *Node
	// register and unregister claim and release an OpenScape Voice node
	// for this daemon (nil on the other products).
	register   func(cmp string, now time.Time) error
	unregister func() error
}

// Register implements platforms.Registrar: an OpenScape Voice node is
// claimed for this daemon when its link session starts (another
// daemon's claim is an error naming it).
func (p *Platform) Register(cloud string, now time.Time) error {
	if p.register == nil {
		return nil
	}
	return p.register(cloud, now)
}

// Unregister implements platforms.Registrar: the claim is released when
// the link ends.
func (p *Platform) Unregister() error {
	if p.unregister == nil {
		return nil
	}
	return p.unregister()
}

var (
	_ platforms.Registrar = (*Platform)(nil)
	_ platforms.Describer = (*Platform)(nil)
	_ platforms.Facter    = (*Platform)(nil)
	_ platforms.Noticer   = (*Platform)(nil)
)

// Type implements platforms.Platform.
func (p *Platform) Type() string { return p.typ }

// Name implements platforms.Platform.
func (p *Platform) Name() string { return p.name }

// Version implements platforms.Platform: the release as the product names
// it, e.g. "V10R3 FR33 HF3".
func (p *Platform) Version() string { return p.version }

// Build is the product's build number as its version file gives it
// (e.g. "V10R3.33.3"), "" when it gives none.
func (p *Platform) Build() string { return p.build }

// OS is the operating system's PRETTY_NAME from os-release ("" when the
// host has none).
func (p *Platform) OS() string { return p.os }

// Tunnels implements platforms.Platform.
func (p *Platform) Tunnels() []platforms.Tunnel { return slices.Clone(p.tunnels) }

// Applications implements platforms.Describer: the product first, then
// the components of its component list.
func (p *Platform) Applications() []platforms.Application { return slices.Clone(p.apps) }

// License implements platforms.Describer.
func (p *Platform) License() *platforms.License {
	if p.license == nil {
		return nil
	}
	l := *p.license
	return &l
}

// Parent implements platforms.Describer: OpenScape hosts are top-level.
func (p *Platform) Parent() string { return "" }

// Facts implements platforms.Facter.
func (p *Platform) Facts() platforms.Facts {
	f := p.facts
	f.Source = slices.Clone(f.Source)
	return f
}

// Notices implements platforms.Noticer.
func (p *Platform) Notices() []platforms.Notice { return slices.Clone(p.notices) }

// Node is the OpenScape Voice node (nil on the other products).
func (p *Platform) Node() *Node {
	if p.node == nil {
		return nil
	}
	n := *p.node
	return &n
}

// host reads the places of a product under a root, with overrides, and
// remembers which files it read.
type host struct {
	root   string
	paths  map[string]string
	source []string
}

func newHost(pr *product, root string, files map[string]string) *host {
	h := &host{root: root, paths: map[string]string{}}
	for _, pl := range pr.places {
		h.paths[pl.key] = pl.path
	}
	for k, v := range files {
		h.paths[k] = v
	}
	return h
}

// path is the host path of place key.
func (h *host) path(key string) string { return h.paths[key] }

// kv reads place key as KEY=VALUE lines; ErrNotDetected when it is absent.
func (h *host) kv(key string) (map[string]string, error) {
	m, err := platforms.ReadKeyValues(h.root, h.path(key))
	if err == nil {
		h.read(key)
	}
	return m, err
}

// text reads place key; ErrNotDetected when it is absent.
func (h *host) text(key string) (string, error) {
	s, err := platforms.ReadFile(h.root, h.path(key))
	if err == nil {
		h.read(key)
	}
	return s, err
}

// read records that place key was read.
func (h *host) read(key string) {
	if !slices.Contains(h.source, h.path(key)) {
		h.source = append(h.source, h.path(key))
	}
}

// optionalKV is kv with an absent file as an empty map.
func (h *host) optionalKV(key string) (map[string]string, error) {
	m, err := h.kv(key)
	if errors.Is(err, platforms.ErrNotDetected) {
		return map[string]string{}, nil
	}
	return m, err
}

// detect finds product pr under root. extra, when not nil, completes the
// platform with what only that product has (the OpenScape Voice node).
func detect(pr *product, root string, o Options, extra func(*host, *Platform) error) (*Platform, error) {
	if err := checkOptions(pr, o); err != nil {
		return nil, err
	}
	h := newHost(pr, root, o.Files)
	vf := pr.places[0].key
	ver, err := h.kv(vf)
	if err != nil {
		if errors.Is(err, platforms.ErrNotDetected) {
			return nil, err
		}
		return nil, fmt.Errorf("%s: %w", pr.name, err)
	}
	if !strings.Contains(ver[pr.productKey], pr.match) {
		return nil, platforms.ErrNotDetected
	}
	version := strings.TrimSpace(ver[pr.versionKey])
	if _, ok := platforms.VersionParts(version); !ok {
		return nil, fmt.Errorf("%s: %s gives no version (%s=%q), so cld cannot check that it is supported (it needs %s); repair the file or point platform.files.%s at the host's version file", pr.name, h.path(vf), pr.versionKey, version, pr.needed, vf)
	}
	if !platforms.AtLeast(version, pr.min) {
		return nil, &platforms.UnsupportedError{Platform: pr.name, Found: version, Needed: pr.needed}
	}
	p := &Platform{typ: pr.typ, name: pr.name, version: version, build: strings.TrimSpace(ver[pr.buildKey])}
	if m := strings.TrimSpace(ver[pr.modelKey]); pr.modelKey != "" && m != "" {
		p.name += " " + m
	}
	if osr, err := h.optionalKV("os_release"); err != nil {
		return nil, fmt.Errorf("%s: %w", pr.name, err)
	} else {
		p.os = osr["PRETTY_NAME"]
	}
	if p.apps, err = components(h, pr, version); err != nil {
		return nil, err
	}
	if hasPlace(pr, "license") {
		if p.license, err = license(h); err != nil {
			return nil, fmt.Errorf("%s: %w", pr.name, err)
		}
	}
	p.facts.Language = pr.language(h)
	var notices []platforms.Notice
	p.facts.Proxy, notices = pr.proxy(h)
	p.notices = append(p.notices, notices...)
	p.facts.Embedding = pr.embedding
	p.tunnels = slices.Clone(pr.tunnels)
	for i, t := range p.tunnels {
		if a, ok := o.Addresses[t.ID]; ok {
			p.tunnels[i].LocalAddress = a
		}
	}
	if extra != nil {
		if err := extra(h, p); err != nil {
			return nil, err
		}
	}
	if err := platforms.ValidateTunnels(p.tunnels); err != nil {
		return nil, fmt.Errorf("%s: %w", pr.name, err)
	}
	p.facts.Source = h.source
	return p, nil
}

func hasPlace(pr *product, key string) bool {
	return slices.ContainsFunc(pr.places, func(pl place) bool { return pl.key == key })
}

// components reads the product's component list: one component a line,
// its name (a slug) and its version separated by white space; # starts a
// comment. Lines whose name is not a slug are skipped. The product itself
// comes first.
func components(h *host, pr *product, version string) ([]platforms.Application, error) {
	apps := []platforms.Application{{Type: pr.typ, Version: version}}
	text, err := h.text("components")
	if errors.Is(err, platforms.ErrNotDetected) {
		return apps, nil
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", pr.name, err)
	}
	seen := map[string]bool{pr.typ: true}
	for _, line := range strings.Split(text, "\n") {
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		f := strings.Fields(line)
		if len(f) == 0 || !platforms.ValidSlug(f[0]) || seen[f[0]] {
			continue
		}
		seen[f[0]] = true
		apps = append(apps, platforms.Application{Type: f[0], Version: strings.Join(f[1:], " ")})
	}
	return apps, nil
}

// license reads the licence file: TYPE, EXPIRES, SWA_STATUS, SWA_EXPIRY
// (dates as 2027-12-31); nil when the host has none. Values that do not
// parse are left unknown.
func license(h *host) (*platforms.License, error) {
	kv, err := h.kv("license")
	if errors.Is(err, platforms.ErrNotDetected) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	l := &platforms.License{Type: strings.ToUpper(strings.TrimSpace(kv["TYPE"]))}
	switch s := strings.ToUpper(strings.TrimSpace(kv["SWA_STATUS"])); s {
	case platforms.SWAActive, platforms.SWAExpired, platforms.SWANone:
		l.SWAStatus = s
	}
	l.Expires, _ = time.Parse(time.DateOnly, strings.TrimSpace(kv["EXPIRES"]))
	l.SWAExpiry, _ = time.Parse(time.DateOnly, strings.TrimSpace(kv["SWA_EXPIRY"]))
	if *l == (platforms.License{}) {
		return nil, nil
	}
	return l, nil
}

// languageKey returns a language reader of KEY in place key.
func languageKey(key, field string) func(h *host) string {
	return func(h *host) string {
		kv, err := h.optionalKV(key)
		if err != nil {
			return ""
		}
		return bcp47(kv[field])
	}
}

// bcp47 turns a POSIX locale ("de_DE.UTF-8") or a tag ("en-US", "fr") into
// a BCP 47 tag; "" for C, POSIX or what is neither.
func bcp47(v string) string {
	v = strings.TrimSpace(v)
	if i := strings.IndexAny(v, ".@"); i >= 0 {
		v = v[:i]
	}
	lang, region, _ := strings.Cut(strings.ReplaceAll(v, "_", "-"), "-")
	if len(lang) < 2 || len(lang) > 3 || !isLetters(lang) || strings.EqualFold(lang, "C") {
		return ""
	}
	tag := strings.ToLower(lang)
	switch {
	case region == "":
	case len(region) == 2 && isLetters(region):
		tag += "-" + strings.ToUpper(region)
	default:
		return ""
	}
	return tag
}

func isLetters(s string) bool {
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			return false
		}
	}
	return s != ""
}

// sysconfigProxy reads SLES's /etc/sysconfig/proxy (place key): when
// PROXY_ENABLED is yes, HTTPS_PROXY, else HTTP_PROXY.
func sysconfigProxy(key string) func(h *host) (string, []platforms.Notice) {
	return func(h *host) (string, []platforms.Notice) {
		kv, err := h.optionalKV(key)
		if err != nil {
			return "", []platforms.Notice{proxyNotice(h.path(key), "", err)}
		}
		if !strings.EqualFold(strings.TrimSpace(kv["PROXY_ENABLED"]), "yes") {
			return "", nil
		}
		v := kv["HTTPS_PROXY"]
		if strings.TrimSpace(v) == "" {
			v = kv["HTTP_PROXY"]
		}
		return hostProxy(h.path(key), v)
	}
}

// hostProxy checks the proxy value v read from file; a value cld cannot
// use is left out with a notice, credentials are dropped with one.
func hostProxy(file, v string) (string, []platforms.Notice) {
	p, creds, err := normalizeProxy(v)
	if err != nil {
		return "", []platforms.Notice{proxyNotice(file, v, err)}
	}
	if creds {
		return p, []platforms.Notice{{
			Code:   "host-proxy-credentials",
			Text:   fmt.Sprintf("The host's proxy setting in %s holds a user name or password; cld uses the proxy %s without them.", file, p),
			Remedy: "If the proxy needs credentials, give the proxy with them in cld's own proxy setting (proxy: in the config file); it takes precedence over the host's.",
		}}
	}
	return p, nil
}

func proxyNotice(file, v string, err error) platforms.Notice {
	what := fmt.Sprintf("%q", v)
	if v == "" {
		what = "it"
	}
	return platforms.Notice{
		Code:   "host-proxy-invalid",
		Text:   fmt.Sprintf("The host's proxy setting in %s cannot be used (%s: %v); cld connects without the host's proxy.", file, what, err),
		Remedy: "Correct the proxy in the host's own settings (http://host:port), or give one in cld's config file (proxy:).",
	}
}

// normalizeProxy turns "proxy:3128", "http://user:pw@proxy:3128/" into
// http://proxy:3128 ("" stays ""); creds reports dropped credentials.
func normalizeProxy(v string) (p string, creds bool, err error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return "", false, nil
	}
	if !strings.Contains(v, "://") {
		v = "http://" + v
	}
	u, err := url.Parse(v)
	if err != nil {
		return "", false, errors.New("not a URL")
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return "", false, fmt.Errorf("scheme %s is not http or https", u.Scheme)
	}
	if u.Hostname() == "" {
		return "", false, errors.New("no host")
	}
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return "", false, errors.New("a proxy is scheme://host:port, without a path")
	}
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	} else if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return "", false, fmt.Errorf("port %s is not between 1 and 65535", port)
	}
	host := u.Hostname()
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	return u.Scheme + "://" + host + ":" + port, u.User != nil, nil
}

// checkOptions checks options set in code (Configure checks the config
// file's with line numbers first).
func checkOptions(pr *product, o Options) error {
	var errs []error
	for k, v := range o.Files {
		if !hasPlace(pr, k) {
			errs = append(errs, fmt.Errorf("files: unknown place %q (known: %s)", k, strings.Join(placeKeys(pr), ", ")))
		} else if err := checkHostPath(v); err != nil {
			errs = append(errs, fmt.Errorf("files.%s: %w", k, err))
		}
	}
	for id, a := range o.Addresses {
		if !slices.ContainsFunc(pr.tunnels, func(t platforms.Tunnel) bool { return t.ID == id }) {
			errs = append(errs, fmt.Errorf("addresses: unknown tunnel %q (known: %s)", id, strings.Join(tunnelIDs(pr), ", ")))
		} else if _, err := platforms.ParseLocalAddress(a); err != nil {
			errs = append(errs, fmt.Errorf("addresses.%s: %w", id, err))
		}
	}
	if len(errs) > 0 {
		slices.SortFunc(errs, func(a, b error) int { return strings.Compare(a.Error(), b.Error()) })
		return fmt.Errorf("%w: %s: %w", platforms.ErrConfig, pr.typ, errors.Join(errs...))
	}
	return nil
}

// checkHostPath accepts an absolute, clean path on the host.
func checkHostPath(v string) error {
	if !strings.HasPrefix(v, "/") {
		return fmt.Errorf("%q is not an absolute path on the host (e.g. %s)", v, "/etc/os-release")
	}
	if filepath.ToSlash(filepath.Clean(v)) != v || strings.Contains(v, "/../") {
		return fmt.Errorf("%q is not a clean path (no //, . or .. parts, no trailing /)", v)
	}
	return nil
}

func placeKeys(pr *product) []string {
	var ks []string
	for _, pl := range pr.places {
		ks = append(ks, pl.key)
	}
	return ks
}

func tunnelIDs(pr *product) []string {
	var ids []string
	for _, t := range pr.tunnels {
		ids = append(ids, t.ID)
	}
	return ids
}

// asPlatform keeps a failed detection's platform a nil interface.
func asPlatform(p *Platform, err error) (platforms.Platform, error) {
	if err != nil {
		return nil, err
	}
	return p, nil
}
