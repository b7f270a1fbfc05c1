// Package mv5000 is the platform adapter for MiVoice 5000 Server 8.2 SP2
// and later (vendor guide 2.1), the Linux call server whose management UI
// is Web Admin; the daemon runs on the server.
//
// The guides do not say where MiVoice 5000 keeps these facts; the adapter
// reads the places below (each one a config override, see Configure):
//
//	key         default path                          format, what is read
//	release     /opt/mitel/mv5000/etc/release         KEY=VALUE: VERSION (e.g. "8.2 SP2"), BUILD, PRODUCT
//	components  /opt/mitel/mv5000/etc/components      one component a line: "NAME VERSION" (# comments)
//	webadmin    /opt/mitel/mv5000/etc/webadmin.conf   KEY=VALUE: HTTPS_PORT (443), LANGUAGE (Web Admin's)
//	license     /opt/mitel/mv5000/etc/license.conf    KEY=VALUE: LICENSE_TYPE, LICENSE_EXPIRY, SWA_STATUS, SWA_EXPIRY
//	proxy       /etc/environment                      https_proxy, HTTPS_PROXY, http_proxy, HTTP_PROXY (the first set)
//
// Only the release file makes a host MiVoice 5000. Its VERSION must be
// 8.2 SP2 or later (compared by its numbers: "8.2 SP2" is 8, 2, 2; "R8.2
// SP1" and "8.2" are below), else Detect returns a
// *platforms.UnsupportedError naming the version found and 8.2 SP2.
// Applications: mivoice-5000, then mivoice-5000-NAME per component. Tunnel:
// mivoice-5000-web-admin, Web Admin over https on 127.0.0.1 (self-signed
// certificate accepted). License: from license.conf; without SWA_STATUS
// the status follows SWA_EXPIRY. Embedding: Web Admin has no place for the
// dashboard, which uses the daemon's own accounts (AuthLocal) on its own
// address.
package mv5000

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/cloudlink/cld/platforms"
	"github.com/cloudlink/cld/platforms/hostinfo"
)

// Type is the platform type of this adapter.
const Type = "mivoice-5000"

// Product is the platform's name.
const Product = "MiVoice 5000"

// MinVersion is the version needed (vendor guide 2.1).
const MinVersion = "8.2 SP2"

// Paths are where the adapter reads each fact, absolute on the host. A
// zero field is the default (DefaultPaths).
type Paths struct {
	Release, Components, WebAdmin, License, Proxy string
}

// DefaultPaths are the places documented in the package doc.
func DefaultPaths() Paths {
	const etc = "/opt/mitel/mv5000/etc"
	return Paths{Release: etc + "/release", Components: etc + "/components", WebAdmin: etc + "/webadmin.conf",
		License: etc + "/license.conf", Proxy: "/etc/environment"}
}

var fileKeys = []string{"release", "components", "webadmin", "license", "proxy"}

func (p *Paths) ptrs() []*string {
	return []*string{&p.Release, &p.Components, &p.WebAdmin, &p.License, &p.Proxy}
}

func (p Paths) withDefaults() Paths {
	d := DefaultPaths()
	for i, f := range p.ptrs() {
		if *f == "" {
			*f = *d.ptrs()[i]
		}
	}
	return p
}

// Adapter detects MiVoice 5000. Root is the host's file system root that
// Configure reads ("" is the root of the machine the daemon runs on). Now
// is the clock for the SWA status when the host states only an expiry
// date (nil: time.Now).
type Adapter struct {
	Root  string
	Paths Paths
	Now   func() time.Time
}

// Adapters are this package's adapters.
func Adapters() []platforms.Adapter { return []platforms.Adapter{Adapter{}} }

// Type implements platforms.Adapter.
func (Adapter) Type() string { return Type }

// Configure implements platforms.Adapter: the section may give the host's
// root and the place of each file (keys as in the package doc):
//
//	platform:
//	  type: mivoice-5000
//	  files:
//	    release: /opt/mitel/mv5000/etc/release
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
		return nil, fmt.Errorf("%w: platform.type is %s but %s has no MiVoice 5000 release file %s; give its place as platform.files.release, or leave platform out to detect the host",
			platforms.ErrConfig, Type, where, b.Paths.Release)
	}
	return p, err
}

// Detect implements platforms.Adapter.
func (a Adapter) Detect(root string) (platforms.Platform, error) {
	paths := a.Paths.withDefaults()
	rel, err := platforms.ReadKeyValues(root, paths.Release)
	if err != nil {
		return nil, err
	}
	version := strings.TrimSpace(rel["VERSION"])
	if version == "" {
		return nil, fmt.Errorf("%s: %s has no VERSION=; cannot tell the MiVoice 5000 version", Product, paths.Release)
	}
	if !platforms.AtLeast(version, MinVersion) {
		return nil, &platforms.UnsupportedError{Platform: Product, Found: version, Needed: MinVersion + " or higher"}
	}
	h := hostinfo.New(Type, Product, version)
	appVersion := version
	if b := strings.TrimSpace(rel["BUILD"]); b != "" {
		appVersion = b
	}
	h.Info.Apps = []platforms.Application{{Type: "mivoice-5000", Version: appVersion}}
	h.Info.Facts.Embedding = platforms.Embedding{Auth: platforms.AuthLocal}

	switch text, err := platforms.ReadFile(root, paths.Components); {
	case err == nil:
		seen := map[string]int{}
		for i, line := range strings.Split(text, "\n") {
			line, _, _ = strings.Cut(line, "#")
			f := strings.Fields(line)
			if len(f) == 0 {
				continue
			}
			if len(f) != 2 || !platforms.ValidSlug("mivoice-5000-"+f[0]) || strings.ToLower(f[0]) != f[0] {
				return nil, fmt.Errorf("%s: %s line %d: want NAME VERSION with a lower-case NAME such as call-server", Product, paths.Components, i+1)
			}
			if j, dup := seen[f[0]]; dup {
				return nil, fmt.Errorf("%s: %s line %d: component %s is already on line %d", Product, paths.Components, i+1, f[0], j)
			}
			seen[f[0]] = i + 1
			h.Info.Apps = append(h.Info.Apps, platforms.Application{Type: "mivoice-5000-" + f[0], Version: f[1]})
		}
	case !errors.Is(err, platforms.ErrNotDetected):
		return nil, err
	}

	web, err := platforms.ReadKeyValues(root, paths.WebAdmin)
	if err != nil && !errors.Is(err, platforms.ErrNotDetected) {
		return nil, err
	}
	if web != nil {
		h.Source(root, paths.WebAdmin)
	}
	port, err := hostinfo.PortSetting(web["HTTPS_PORT"], 443, "HTTPS_PORT", paths.WebAdmin)
	if err != nil {
		return nil, err
	}
	h.Info.Facts.Language = hostinfo.LanguageTag(web["LANGUAGE"])
	h.Info.Tunnels = []platforms.Tunnel{{ID: "mivoice-5000-web-admin", Component: "MiVoice 5000 Server", Name: "Web Admin",
		Description: "Remote access via Mitel Administration", LocalAddress: hostinfo.HTTPSURL(port), AcceptSelfSigned: true}}

	if err := readLicense(h, root, paths.License, a.now()); err != nil {
		return nil, err
	}

	env, err := platforms.ReadKeyValues(root, paths.Proxy)
	switch {
	case err == nil:
		h.Source(root, paths.Proxy)
		for _, k := range []string{"https_proxy", "HTTPS_PROXY", "http_proxy", "HTTP_PROXY"} {
			if v := strings.TrimSpace(env[k]); v != "" {
				h.SetProxy(v, paths.Proxy)
				break
			}
		}
	case !errors.Is(err, platforms.ErrNotDetected):
		return nil, err
	}
	if err := h.Check(); err != nil {
		return nil, err
	}
	return h, nil
}

func (a Adapter) now() time.Time {
	if a.Now != nil {
		return a.Now()
	}
	return time.Now()
}

// readLicense reads license.conf (absent: License stays nil).
func readLicense(h *hostinfo.Host, root, file string, now time.Time) error {
	kv, err := platforms.ReadKeyValues(root, file)
	if errors.Is(err, platforms.ErrNotDetected) {
		return nil
	}
	if err != nil {
		return err
	}
	l := &platforms.License{Type: strings.ToUpper(strings.TrimSpace(kv["LICENSE_TYPE"]))}
	for _, f := range []struct {
		key string
		dst *time.Time
	}{{"LICENSE_EXPIRY", &l.Expires}, {"SWA_EXPIRY", &l.SWAExpiry}} {
		if *f.dst, err = hostinfo.Date(kv[f.key]); err != nil {
			return fmt.Errorf("%s: %s: %s %q is not a date such as 2027-12-31", Product, file, f.key, kv[f.key])
		}
	}
	status, ok := hostinfo.SWAStatus(kv["SWA_STATUS"], l.SWAExpiry, now)
	if !ok {
		return fmt.Errorf("%s: %s: SWA_STATUS %q is not ACTIVE, EXPIRED or NONE", Product, file, kv["SWA_STATUS"])
	}
	l.SWAStatus = status
	h.Info.License = l
	return nil
}
