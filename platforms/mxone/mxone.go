// Package mxone is the platform adapter for MiVoice MX-ONE 8.1 and later
// (the vendor guide's 2.1 and 5.2.1). An MX-ONE system is several servers
// (LIMs); the daemon runs on the server of the Service Node Manager (SNM),
// whose web server serves the dashboard under /cld, the CloudLink Daemon
// URL that Provisioning Manager (PM) is given as a subsystem
// (https://<SNM>/cld).
//
// The guides do not say where MX-ONE keeps these facts; the adapter reads
// the places below (each one a config override, see Configure):
//
//	key       default path                        format, what is read
//	release   /etc/opt/eri_sn/mxone-release       KEY=VALUE: VERSION (the service node's, e.g. 8.1.0.0.14), PRODUCT
//	servers   /etc/opt/eri_sn/mxone_servers.conf  one server a line: "NUMBER HOSTNAME ADDRESS ROLE[,ROLE…]"
//	hostname  /etc/hostname                       this server's host name (which line of servers is this one)
//	snm       /opt/mxone_snm/conf/snm.properties  snm.version, snm.language (the management UI's language)
//	pm        /opt/mxone_pm/conf/pm.properties    pm.version, pm.https.port (default: the web server's)
//	webserver /etc/opt/eri_sn/webserver.conf      HTTPS_PORT (443), CLD_PATH (/cld), CLD_AUTH (session|proxy),
//	                                              SESSION_URL, SESSION_ADMIN_ROLE, CLD_USER_HEADER (webserver_config's)
//	license   /etc/opt/eri_sn/license_status      "Key: Value" lines as license_status prints them:
//	                                              License type, License expiry date, SWA status, SWA expiry date
//	proxy     /etc/sysconfig/proxy                SLES: PROXY_ENABLED, HTTPS_PROXY, HTTP_PROXY
//
// Only the release file makes a host MX-ONE; the others are optional. The
// rules:
//
//   - The service node's VERSION must be 8.1 or later, else Detect returns a
//     *platforms.UnsupportedError naming the version found and 8.1.
//   - Provisioning Manager 7.6 or later is needed for the CloudLink/PM
//     integration (guide 2.1) but not for the rest of the daemon
//     (registration, inventory, tunnels), and PM is upgraded on its own and
//     may run on another server: a PM below 7.6, or none on this server, is
//     a Notice (mxone-pm-version, mxone-pm-unknown), not a refusal.
//     Platform.ProvisioningManager says whether the /cld PM API may be used.
//   - SWA: an active subscription is required (deployment guide 3.2.1); an
//     expired or missing one is a Notice (mxone-swa-inactive).
//
// Applications: mivoice-mx-one (the service node), and where installed on
// this server mx-one-service-node-manager and mx-one-provisioning-manager.
// Tunnels: mxone-snm-web and mxone-pm-web, https on 127.0.0.1 (self-signed
// certificates accepted, as the appliance ships them).
//
// Embedding: with SNM on this server, the dashboard is served under
// CLD_PATH (/cld) by the SNM's web server, which proxies it to the daemon.
// CLD_AUTH=session (the default): the daemon checks the SNM session cookie
// at SESSION_URL (default https://127.0.0.1:<HTTPS_PORT>/mxone_snm/api/session)
// and requires SESSION_ADMIN_ROLE (default system-administrator);
// CLD_AUTH=proxy: the web server authenticates and passes the user in
// CLD_USER_HEADER (default X-Remote-User). Not in a frame: PM opens a
// subsystem's link in a new browser window (deployment guide 7.4). PM's own
// calls to /cld use the PM admin credential of the PM API, not this. Without
// SNM on this server the dashboard uses the daemon's own accounts.
package mxone

import (
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/cloudlink/cld/platforms"
	"github.com/cloudlink/cld/platforms/hostinfo"
)

// Type is the platform type of this adapter.
const Type = "mxone"

// Product is the platform's name.
const Product = "MiVoice MX-ONE"

// Versions needed (vendor guide 2.1).
const (
	MinVersion   = "8.1"
	MinPMVersion = "7.6"
)

// Paths are where the adapter reads each fact, absolute on the host. A
// zero field is the default (DefaultPaths).
type Paths struct {
	Release, Servers, Hostname, SNM, PM, WebServer, License, Proxy string
}

// DefaultPaths are the places documented in the package doc.
func DefaultPaths() Paths {
	return Paths{
		Release:   "/etc/opt/eri_sn/mxone-release",
		Servers:   "/etc/opt/eri_sn/mxone_servers.conf",
		Hostname:  "/etc/hostname",
		SNM:       "/opt/mxone_snm/conf/snm.properties",
		PM:        "/opt/mxone_pm/conf/pm.properties",
		WebServer: "/etc/opt/eri_sn/webserver.conf",
		License:   "/etc/opt/eri_sn/license_status",
		Proxy:     "/etc/sysconfig/proxy",
	}
}

// fileKeys are the keys of platform.files, in the order of Paths.
var fileKeys = []string{"release", "servers", "hostname", "snm", "pm", "webserver", "license", "proxy"}

// withDefaults fills the zero fields from DefaultPaths.
func (p Paths) withDefaults() Paths {
	d := DefaultPaths()
	out := p
	of, df := out.fieldPtrs(), d.fieldPtrs()
	for i, f := range of {
		if *f == "" {
			*f = *df[i]
		}
	}
	return out
}

func (p *Paths) fieldPtrs() []*string {
	return []*string{&p.Release, &p.Servers, &p.Hostname, &p.SNM, &p.PM, &p.WebServer, &p.License, &p.Proxy}
}

// Adapter detects MX-ONE. Root is the host's file system root that
// Configure reads ("" is the root of the machine the daemon runs on);
// Detect takes its root as an argument. Now is the clock for the SWA
// status when the host states only an expiry date (nil: time.Now).
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
//	  type: mxone
//	  root: /
//	  files:
//	    servers: /etc/opt/eri_sn/mxone_servers.conf
//
// The host must then be MX-ONE: a host without the release file is an
// error naming the file.
func (a Adapter) Configure(cfg platforms.Config) (platforms.Platform, error) {
	sec, err := hostinfo.ParseSection(cfg, fileKeys)
	if err != nil {
		return nil, err
	}
	root := a.Root
	if sec.Root != "" {
		root = sec.Root
	}
	paths := a.Paths.withDefaults()
	for i, f := range paths.fieldPtrs() {
		*f = sec.Pick(fileKeys[i], *f)
	}
	b := a
	b.Paths = paths
	p, err := b.Detect(root)
	if errors.Is(err, platforms.ErrNotDetected) {
		return nil, fmt.Errorf("%w: platform.type is %s but %s has no MX-ONE release file %s; give its place as platform.files.release, or leave platform out to detect the host",
			platforms.ErrConfig, Type, rootName(root), paths.Release)
	}
	return p, err
}

func rootName(root string) string {
	if root == "" {
		return "this host"
	}
	return root
}

// Server is one server (LIM) of the MX-ONE system.
type Server struct {
	Number  int      // the server's number in the system, 1…
	Name    string   // its host name
	Address string   // its IP address
	Roles   []string // e.g. service-node, snm, pm, media-server
	Local   bool     // the server the daemon runs on
}

// Platform is a detected MX-ONE system.
type Platform struct {
	hostinfo.Host
	servers     []Server
	pmVersion   string
	pmSupported bool
}

// Servers are the system's servers in the order of the server list (the
// caller's copy).
func (p *Platform) Servers() []Server {
	out := slices.Clone(p.servers)
	for i := range out {
		out[i].Roles = slices.Clone(out[i].Roles)
	}
	return out
}

// LocalServer is the server the daemon runs on, when the list names it.
func (p *Platform) LocalServer() (Server, bool) {
	for _, s := range p.Servers() {
		if s.Local {
			return s, true
		}
	}
	return Server{}, false
}

// ProvisioningManager is PM's version on this server ("" when not here)
// and whether it is MinPMVersion or later (the PM API needs it).
func (p *Platform) ProvisioningManager() (version string, supported bool) {
	return p.pmVersion, p.pmSupported
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
		return nil, fmt.Errorf("%s: %s has no VERSION=; cannot tell the MX-ONE version", Product, paths.Release)
	}
	if !platforms.AtLeast(version, MinVersion) {
		return nil, &platforms.UnsupportedError{Platform: Product, Found: version, Needed: MinVersion + " or higher"}
	}
	p := &Platform{Host: *hostinfo.New(Type, Product, version)}
	p.Info.Apps = []platforms.Application{{Type: "mivoice-mx-one", Version: version}}

	if p.servers, err = readServers(root, paths.Servers); errors.Is(err, platforms.ErrNotDetected) {
		p.Notice("mxone-no-server-list", fmt.Sprintf("This MX-ONE server has no server list (%s); cld cannot enable or disable itself on the system's other servers.", paths.Servers),
			"Check the MX-ONE installation, or give the list's place as platform.files.servers in cld's config.")
	} else if err != nil {
		return nil, err
	}
	if name, err := platforms.ReadFile(root, paths.Hostname); err == nil {
		name, _, _ = strings.Cut(strings.TrimSpace(name), ".")
		for i := range p.servers {
			if strings.EqualFold(p.servers[i].Name, name) {
				p.servers[i].Local = true
			}
		}
	} else if !errors.Is(err, platforms.ErrNotDetected) {
		return nil, err
	}

	web, err := platforms.ReadKeyValues(root, paths.WebServer)
	if err != nil && !errors.Is(err, platforms.ErrNotDetected) {
		return nil, err
	}
	httpsPort, err := hostinfo.PortSetting(web["HTTPS_PORT"], 443, "HTTPS_PORT", paths.WebServer)
	if err != nil {
		return nil, err
	}

	snm, err := platforms.ReadKeyValues(root, paths.SNM)
	switch {
	case err == nil:
		p.Source(root, paths.SNM)
		p.Info.Apps = append(p.Info.Apps, platforms.Application{Type: "mx-one-service-node-manager", Version: snm["snm.version"]})
		p.Info.Tunnels = append(p.Info.Tunnels, platforms.Tunnel{ID: "mxone-snm-web", Component: "Service Node Manager", Name: "administration web interface",
			Description: "Remote access via Mitel Administration", LocalAddress: hostinfo.HTTPSURL(httpsPort), AcceptSelfSigned: true})
		p.Info.Facts.Language = hostinfo.LanguageTag(snm["snm.language"])
		if p.Info.Facts.Embedding, err = embedding(web, httpsPort, paths.WebServer); err != nil {
			return nil, err
		}
		if web != nil {
			p.Source(root, paths.WebServer)
		}
	case errors.Is(err, platforms.ErrNotDetected):
		p.Info.Facts.Embedding = platforms.Embedding{Auth: platforms.AuthLocal}
	default:
		return nil, err
	}

	pm, err := platforms.ReadKeyValues(root, paths.PM)
	switch {
	case err == nil:
		p.pmVersion = strings.TrimSpace(pm["pm.version"])
		p.pmSupported = platforms.AtLeast(p.pmVersion, MinPMVersion)
		port, err := hostinfo.PortSetting(pm["pm.https.port"], httpsPort, "pm.https.port", paths.PM)
		if err != nil {
			return nil, err
		}
		p.Info.Apps = append(p.Info.Apps, platforms.Application{Type: "mx-one-provisioning-manager", Version: p.pmVersion})
		p.Info.Tunnels = append(p.Info.Tunnels, platforms.Tunnel{ID: "mxone-pm-web", Component: "Provisioning Manager", Name: "administration web interface",
			Description: "Remote access via Mitel Administration", LocalAddress: hostinfo.HTTPSURL(port), AcceptSelfSigned: true})
		if !p.pmSupported {
			found := p.pmVersion
			if found == "" {
				found = "of an unknown version (" + paths.PM + " has no pm.version)"
			}
			p.Notice("mxone-pm-version", fmt.Sprintf("Provisioning Manager %s is installed; the CloudLink integration needs Provisioning Manager %s or higher, so PM cannot add cld as a subsystem or sync users.", found, MinPMVersion),
				"Upgrade Provisioning Manager to "+MinPMVersion+" or higher.")
		}
	case errors.Is(err, platforms.ErrNotDetected):
		where := "no server of the system is listed with the pm role"
		for _, s := range p.servers {
			if slices.Contains(s.Roles, "pm") && !s.Local {
				where = fmt.Sprintf("the server list has it on server %d (%s)", s.Number, s.Name)
				break
			}
		}
		p.Notice("mxone-pm-unknown", fmt.Sprintf("Provisioning Manager is not installed on this server (%s); cld cannot check its version. The CloudLink integration needs Provisioning Manager %s or higher.", where, MinPMVersion),
			"Make sure Provisioning Manager is "+MinPMVersion+" or higher before adding cld as a subsystem.")
	default:
		return nil, err
	}

	if err := p.readLicense(root, paths.License, a.now()); err != nil {
		return nil, err
	}
	if err := p.readProxy(root, paths.Proxy); err != nil {
		return nil, err
	}
	if err := p.Check(); err != nil {
		return nil, err
	}
	return p, nil
}

func (a Adapter) now() time.Time {
	if a.Now != nil {
		return a.Now()
	}
	return time.Now()
}

// embedding reads how the SNM's web server serves the dashboard.
func embedding(web map[string]string, httpsPort int, file string) (platforms.Embedding, error) {
	e := platforms.Embedding{BasePath: "/cld", Auth: platforms.AuthSession}
	if v := strings.TrimSpace(web["CLD_PATH"]); v != "" {
		if !path.IsAbs(v) || strings.ContainsAny(v, "?#\\ ") || path.Clean(v) != v {
			return e, fmt.Errorf("%s: CLD_PATH %q is not a path such as /cld", file, v)
		}
		e.BasePath = v
	}
	switch auth := strings.ToLower(strings.TrimSpace(web["CLD_AUTH"])); auth {
	case "", platforms.AuthSession:
		e.SessionURL = strings.TrimSpace(web["SESSION_URL"])
		if e.SessionURL == "" {
			e.SessionURL = hostinfo.HTTPSURL(httpsPort) + "/mxone_snm/api/session"
		}
		if u, err := url.Parse(e.SessionURL); err != nil || u.User != nil || u.Host == "" {
			return e, fmt.Errorf("%s: SESSION_URL %q is not a URL on this host such as https://127.0.0.1:443/mxone_snm/api/session", file, e.SessionURL)
		} else if _, err := platforms.ParseLocalAddress(u.Scheme + "://" + u.Host); err != nil {
			return e, fmt.Errorf("%s: SESSION_URL %v", file, err)
		}
		e.AdminRole = strings.TrimSpace(web["SESSION_ADMIN_ROLE"])
		if e.AdminRole == "" {
			e.AdminRole = "system-administrator"
		}
	case platforms.AuthProxy:
		e.Auth = platforms.AuthProxy
		e.UserHeader = strings.TrimSpace(web["CLD_USER_HEADER"])
		if e.UserHeader == "" {
			e.UserHeader = "X-Remote-User"
		}
	default:
		return e, fmt.Errorf("%s: CLD_AUTH %q is not session or proxy", file, auth)
	}
	return e, nil
}

// readServers reads the system's server list: "NUMBER HOSTNAME ADDRESS
// ROLES" a line, # comments.
func readServers(root, file string) ([]Server, error) {
	text, err := platforms.ReadFile(root, file)
	if err != nil {
		return nil, err
	}
	var out []Server
	var errs []error
	numbers, names := map[int]int{}, map[string]int{}
	for i, line := range strings.Split(text, "\n") {
		line, _, _ = strings.Cut(line, "#")
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		lineNo := i + 1
		bad := func(format string, args ...any) {
			errs = append(errs, fmt.Errorf("%s line %d: "+format, append([]any{file, lineNo}, args...)...))
		}
		if len(f) != 4 {
			bad("want NUMBER HOSTNAME ADDRESS ROLES (4 fields), found %d", len(f))
			continue
		}
		s := Server{Name: f[1], Address: f[2]}
		n, err := strconv.Atoi(f[0])
		if err != nil || n < 1 || n > 999 {
			bad("server number %q is not between 1 and 999", f[0])
			continue
		}
		s.Number = n
		if _, err := platforms.ParseLocalAddress("http://" + s.Name + ":1"); err != nil || strings.Contains(s.Name, ":") {
			bad("host name %q is not valid", s.Name)
		}
		if a, err := netip.ParseAddr(s.Address); err != nil || a.Zone() != "" {
			bad("address %q is not an IP address", s.Address)
		}
		for _, r := range strings.Split(f[3], ",") {
			if !platforms.ValidSlug(r) {
				bad("role %q is not a word such as service-node, snm, pm, media-server", r)
			}
			s.Roles = append(s.Roles, r)
		}
		if j, dup := numbers[n]; dup {
			bad("server number %d is already on line %d", n, j)
		}
		if j, dup := names[strings.ToLower(s.Name)]; dup {
			bad("host name %s is already on line %d", s.Name, j)
		}
		numbers[n], names[strings.ToLower(s.Name)] = lineNo, lineNo
		out = append(out, s)
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("%s: the server list does not read: %w", Product, errors.Join(errs...))
	}
	return out, nil
}

// readLicense reads the license_status report.
func (p *Platform) readLicense(root, file string, now time.Time) error {
	text, err := platforms.ReadFile(root, file)
	if errors.Is(err, platforms.ErrNotDetected) {
		p.Notice("mxone-swa-inactive", fmt.Sprintf("cld found no MX-ONE license status (%s); CloudLink on MX-ONE requires an active SWA subscription.", file),
			"Check the SWA subscription with license_status.")
		return nil
	}
	if err != nil {
		return err
	}
	kv := map[string]string{}
	for _, line := range strings.Split(text, "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok {
			kv[strings.ToLower(strings.TrimSpace(k))] = strings.TrimSpace(v)
		}
	}
	l := &platforms.License{Type: strings.ToUpper(kv["license type"])}
	for _, f := range []struct {
		key string
		dst *time.Time
	}{{"license expiry date", &l.Expires}, {"swa expiry date", &l.SWAExpiry}} {
		if *f.dst, err = hostinfo.Date(kv[f.key]); err != nil {
			return fmt.Errorf("%s: %q is not a date such as 2027-12-31 (%s)", file, kv[f.key], f.key)
		}
	}
	status, ok := hostinfo.SWAStatus(kv["swa status"], l.SWAExpiry, now)
	if !ok {
		return fmt.Errorf("%s: SWA status %q is not ACTIVE, EXPIRED or NONE", file, kv["swa status"])
	}
	l.SWAStatus = status
	p.Info.License = l
	if status == platforms.SWAExpired || status == platforms.SWANone {
		text := "The MX-ONE SWA subscription is " + strings.ToLower(status)
		if !l.SWAExpiry.IsZero() {
			text += " (expiry " + l.SWAExpiry.Format(time.DateOnly) + ")"
		}
		p.Notice("mxone-swa-inactive", text+"; CloudLink on MX-ONE requires an active SWA subscription.", "Renew the SWA subscription.")
	}
	return nil
}

// readProxy reads SLES's /etc/sysconfig/proxy.
func (p *Platform) readProxy(root, file string) error {
	kv, err := platforms.ReadKeyValues(root, file)
	if errors.Is(err, platforms.ErrNotDetected) {
		return nil
	}
	if err != nil {
		return err
	}
	p.Source(root, file)
	if !strings.EqualFold(kv["PROXY_ENABLED"], "yes") {
		return nil
	}
	raw := kv["HTTPS_PROXY"]
	if raw == "" {
		raw = kv["HTTP_PROXY"]
	}
	p.SetProxy(raw, file)
	return nil
}
