// Package micc is the platform adapter for MiContact Center Business
// (MiCC-B) 10.1 and later (vendor guide 2.1). MiCC-B is a Windows product:
// the daemon runs on the MiCC-B Enterprise Server, and the root given to
// Detect (and platform.root) is its system drive (C:\ on the server, a
// directory holding "Program Files (x86)", "Windows", … in tests). Paths
// below are on that drive, written with forward slashes; in the config file
// a Windows path (C:\Program Files (x86)\…) is accepted too.
//
// The guides do not say where MiCC-B keeps these facts; the adapter reads
// the places below (each one a config override, see Configure):
//
//	key       default path (on the system drive)                          format, what is read
//	version   /Program Files (x86)/Mitel/MiContact Center/version.ini     INI: [Product] Version=; [Components] NAME=VERSION
//	iis       /Windows/System32/inetsrv/config/applicationHost.config     IIS: the site with the /CCMWeb application and
//	                                                                       its https (else http) binding's port
//	web       /Program Files (x86)/Mitel/MiContact Center/CCMWeb/web.config   appSettings Language (CCMWeb's language)
//	proxy     /Windows/Microsoft.NET/Framework/v4.0.30319/Config/machine.config  system.net/defaultProxy/proxy@proxyaddress
//	                                                                       (the .NET default proxy MiCC-B's services use)
//
// Only version.ini makes a host MiCC-B. Its Version must be 10.1 or
// later, else Detect returns a *platforms.UnsupportedError naming the
// version found and 10.1. Applications: micontact-center-business, then one
// micc-b-NAME per [Components] entry (e.g. micc-b-ccmweb). Tunnel:
// micc-b-ccmweb, CCMWeb on 127.0.0.1 at the IIS binding's port (443 when
// applicationHost.config is absent; none when IIS has no /CCMWeb). MiCC-B
// licensing is synchronised from Mitel's licensing server and kept where
// the daemon cannot read it: License is nil. Embedding: CCMWeb has no
// place for the dashboard, which uses the daemon's own accounts
// (AuthLocal) on its own address.
package micc

import (
	"encoding/xml"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/cloudlink/cld/platforms"
	"github.com/cloudlink/cld/platforms/hostinfo"
)

// Type is the platform type of this adapter.
const Type = "micc-b"

// Product is the platform's name.
const Product = "MiContact Center Business"

// MinVersion is the version needed (vendor guide 2.1).
const MinVersion = "10.1"

// Paths are where the adapter reads each fact, absolute on the system
// drive. A zero field is the default (DefaultPaths).
type Paths struct {
	Version, IIS, Web, Proxy string
}

// DefaultPaths are the places documented in the package doc.
func DefaultPaths() Paths {
	const dir = "/Program Files (x86)/Mitel/MiContact Center"
	return Paths{
		Version: dir + "/version.ini",
		IIS:     "/Windows/System32/inetsrv/config/applicationHost.config",
		Web:     dir + "/CCMWeb/web.config",
		Proxy:   "/Windows/Microsoft.NET/Framework/v4.0.30319/Config/machine.config",
	}
}

var fileKeys = []string{"version", "iis", "web", "proxy"}

func (p *Paths) ptrs() []*string { return []*string{&p.Version, &p.IIS, &p.Web, &p.Proxy} }

func (p Paths) withDefaults() Paths {
	d := DefaultPaths()
	for i, f := range p.ptrs() {
		if *f == "" {
			*f = *d.ptrs()[i]
		}
	}
	return p
}

// Adapter detects MiCC-B. Root is the system drive that Configure reads
// ("" is the root of the machine the daemon runs on).
type Adapter struct {
	Root  string
	Paths Paths
}

// Adapters are this package's adapters.
func Adapters() []platforms.Adapter { return []platforms.Adapter{Adapter{}} }

// Type implements platforms.Adapter.
func (Adapter) Type() string { return Type }

// Configure implements platforms.Adapter: the section may give the system
// drive and the place of each file (keys as in the package doc):
//
//	platform:
//	  type: micc-b
//	  root: 'C:\'
//	  files:
//	    version: 'D:\MiCC\version.ini'   # the drive letter is dropped: a path on root
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
		return nil, fmt.Errorf("%w: platform.type is %s but %s has no MiCC-B version file %s; give its place as platform.files.version, or leave platform out to detect the host",
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
	ini, err := parseINI(text)
	if err != nil {
		return nil, fmt.Errorf("%s: %s: %w", Product, paths.Version, err)
	}
	version := ini.get("Product", "Version")
	if version == "" {
		return nil, fmt.Errorf("%s: %s has no Version= in [Product]; cannot tell the MiCC-B version", Product, paths.Version)
	}
	if !platforms.AtLeast(version, MinVersion) {
		return nil, &platforms.UnsupportedError{Platform: Product, Found: version, Needed: MinVersion + " or higher"}
	}
	h := hostinfo.New(Type, Product, version)
	h.Info.Apps = []platforms.Application{{Type: "micontact-center-business", Version: version}}
	for _, kv := range ini.sections["components"] {
		slug := "micc-b-" + slugify(kv[0])
		if slugify(kv[0]) == "" || !platforms.ValidSlug(slug) {
			return nil, fmt.Errorf("%s: %s: component %q is not a name such as CCMWeb", Product, paths.Version, kv[0])
		}
		h.Info.Apps = append(h.Info.Apps, platforms.Application{Type: slug, Version: kv[1]})
	}
	h.Info.Facts.Embedding = platforms.Embedding{Auth: platforms.AuthLocal}

	addr, found, err := ccmwebAddress(root, paths.IIS)
	if err != nil {
		return nil, err
	}
	if found {
		h.Info.Tunnels = []platforms.Tunnel{{ID: "micc-b-ccmweb", Component: Product, Name: "CCMWeb",
			Description: "Remote access via Mitel Administration", LocalAddress: addr, AcceptSelfSigned: strings.HasPrefix(addr, "https:")}}
	}

	var web struct {
		Settings []struct {
			Key   string `xml:"key,attr"`
			Value string `xml:"value,attr"`
		} `xml:"appSettings>add"`
	}
	switch ok, err := readXML(root, paths.Web, &web); {
	case err != nil:
		return nil, err
	case ok:
		h.Source(root, paths.Web)
		for _, s := range web.Settings {
			if strings.EqualFold(s.Key, "Language") {
				h.Info.Facts.Language = hostinfo.LanguageTag(s.Value)
			}
		}
	}

	var machine struct {
		DefaultProxy struct {
			Enabled string `xml:"enabled,attr"`
			Proxy   struct {
				Address string `xml:"proxyaddress,attr"`
			} `xml:"proxy"`
		} `xml:"system.net>defaultProxy"`
	}
	switch ok, err := readXML(root, paths.Proxy, &machine); {
	case err != nil:
		return nil, err
	case ok:
		h.Source(root, paths.Proxy)
		if dp := machine.DefaultProxy; !strings.EqualFold(dp.Enabled, "false") && strings.TrimSpace(dp.Proxy.Address) != "" {
			h.SetProxy(dp.Proxy.Address, paths.Proxy)
		}
	}
	if err := h.Check(); err != nil {
		return nil, err
	}
	return h, nil
}

// ccmwebAddress reads IIS's site that holds /CCMWeb: its local address
// (https preferred), https://127.0.0.1:443 when IIS's config is absent,
// found false when IIS has no /CCMWeb.
func ccmwebAddress(root, file string) (string, bool, error) {
	var cfg struct {
		Sites []struct {
			Name string `xml:"name,attr"`
			Apps []struct {
				Path string `xml:"path,attr"`
			} `xml:"application"`
			Bindings []struct {
				Protocol string `xml:"protocol,attr"`
				Info     string `xml:"bindingInformation,attr"`
			} `xml:"bindings>binding"`
		} `xml:"system.applicationHost>sites>site"`
	}
	ok, err := readXML(root, file, &cfg)
	if err != nil {
		return "", false, err
	}
	if !ok {
		return hostinfo.HTTPSURL(443), true, nil
	}
	for _, s := range cfg.Sites {
		has := false
		for _, app := range s.Apps {
			has = has || strings.EqualFold(strings.TrimRight(app.Path, "/"), "/CCMWeb")
		}
		if !has {
			continue
		}
		var addr string
		for _, b := range s.Bindings {
			proto := strings.ToLower(b.Protocol)
			if proto != "https" && proto != "http" || addr != "" && proto == "http" {
				continue
			}
			// bindingInformation is IP:PORT:HOSTNAME ("*:443:").
			parts := strings.Split(b.Info, ":")
			if len(parts) < 3 {
				return "", false, fmt.Errorf("%s: site %q: binding %q is not IP:PORT:HOST", file, s.Name, b.Info)
			}
			port, err := strconv.Atoi(parts[len(parts)-2])
			if err != nil || port < 1 || port > 65535 {
				return "", false, fmt.Errorf("%s: site %q: binding %q has no port between 1 and 65535", file, s.Name, b.Info)
			}
			addr = proto + "://127.0.0.1:" + strconv.Itoa(port)
		}
		return addr, addr != "", nil
	}
	return "", false, nil
}

// readXML decodes an XML file under root; false when it does not exist.
func readXML(root, file string, v any) (bool, error) {
	text, err := platforms.ReadFile(root, file)
	if errors.Is(err, platforms.ErrNotDetected) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if err := xml.Unmarshal([]byte(strings.TrimPrefix(text, "\ufeff")), v); err != nil {
		return false, fmt.Errorf("%s: %s is not XML that reads: %v", Product, file, err)
	}
	return true, nil
}

// ini is an INI file: sections (lower-cased names) of KEY=VALUE pairs in
// order.
type ini struct{ sections map[string][][2]string }

func (f ini) get(section, key string) string {
	for _, kv := range f.sections[strings.ToLower(section)] {
		if strings.EqualFold(kv[0], key) {
			return kv[1]
		}
	}
	return ""
}

// parseINI reads [section] headers, KEY=VALUE lines and ; or # comments.
func parseINI(text string) (ini, error) {
	f := ini{sections: map[string][][2]string{}}
	section := ""
	for i, line := range strings.Split(strings.TrimPrefix(text, "\ufeff"), "\n") {
		line = strings.TrimSpace(line)
		switch {
		case line == "" || line[0] == ';' || line[0] == '#':
		case line[0] == '[':
			if !strings.HasSuffix(line, "]") {
				return f, fmt.Errorf("line %d: %q is not a [section] header", i+1, line)
			}
			section = strings.ToLower(strings.TrimSpace(line[1 : len(line)-1]))
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok || strings.TrimSpace(k) == "" {
				return f, fmt.Errorf("line %d: %q is not KEY=VALUE", i+1, line)
			}
			f.sections[section] = append(f.sections[section], [2]string{strings.TrimSpace(k), strings.Trim(strings.TrimSpace(v), `"`)})
		}
	}
	return f, nil
}

// slugify turns a component name (CCMWeb, Enterprise Server) into a slug.
func slugify(s string) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(strings.TrimSpace(s)) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
			dash = false
		} else if !dash && b.Len() > 0 {
			b.WriteByte('-')
			dash = true
		}
	}
	return strings.TrimSuffix(b.String(), "-")
}
