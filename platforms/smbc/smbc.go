// Package smbc holds the adapters of the SMB Controller (SMBC). An SMBC
// deployment runs two daemons, represented as one system in Mitel
// Administration:
//
//   - smbc-msl: the daemon in the SMBC's MSL container. It is an MSL host
//     (read by platforms/msl: the same files, products, version rules,
//     tunnels and facts) that also holds the SMBC marker; its
//     Describer.Parent is "smbc", so only this child platform is listed in
//     the system's inventory.
//   - smbc-cm: the daemon in the Controller Manager load, CM 2.2.x or
//     later (older is refused with a *platforms.UnsupportedError).
//
// The plain msl adapter detects no SMBC tree (the marker excludes it) and
// these adapters detect no plain MSL host: each finds only its own hosts.
//
// # smbc-msl
//
// Detected when the SMBC marker exists and the tree is an MSL host:
//
//	/etc/mitel/smbc-container   KEY=VALUE, written by the Controller Manager when it
//	                            creates the container: SMBC_CONTAINER=msl,
//	                            SMBC_CM_VERSION=2.2.1.12, SMBC_CM_ADDRESS=…
//
// A marker naming a Controller Manager older than 2.2 refuses the container
// too (Platform "SMB Controller Manager"). Everything else, and the
// platform section's keys, are msl's (see platforms/msl):
//
//	fact                   read from                                         platform.… override
//	SMBC container, CM     /etc/mitel/smbc-container (must exist)            files.smbc_marker
//	MSL, its version       /etc/e-smith-release                              files.release
//	products, versions     /var/lib/mitel/packages.list (rpm -qa lines)      files.packages
//	UI language, proxy     /home/e-smith/db/configuration                    files.config_db
//	licence and SWA        /var/lib/servicelink/license.conf                 files.license
//	gateway core           /opt/mitel/clgw/<instance>/VERSION, etc/clgw.conf files.gateway_dir
//	tunnel addresses       built in (msl's)                                  addresses.<id>
//	embedding              msl's: /server-manager/cloudlink, X-Remote-User   base_path, user_header
//	host root              Detect's root; for Configure host_root        root
//
// # smbc-cm
//
// Detected by the Controller Manager's release file, os-release style:
//
//	/etc/smbc-cm-release        ID=smbc-cm, VERSION_ID=2.2.1.12, NAME="Mitel SMB Controller Manager"
//
// The platform is "SMB Controller" in the CM's version. Its applications
// are the co-located CloudLink Gateway (on an SMBC the gateway is an
// application of the Controller Manager) when an instance is installed
// where platforms/gateway drives it (as on MSL: /opt/mitel/clgw/<instance>
// with VERSION or etc/clgw.conf). Tunnels:
//
//	id             component          name                              local address
//	smbc-cm-admin  SMB Controller     Controller Manager web interface  https://127.0.0.1:443 (self-signed accepted)
//	clgw-rest      CloudLink Gateway  CLGW REST interface               REST_SCHEME://127.0.0.1:REST_PORT of clgw.conf
//
// The dashboard is shown in a frame of the Controller Manager's web UI
// under /cloudlink; a user is authenticated with the CM's session, checked
// at https://127.0.0.1:443/api/v1/session, which must report the role
// admin (Auth session).
//
//	fact                   read from                                         platform.… override
//	CM, its version        /etc/smbc-cm-release (ID, VERSION_ID)             files.release
//	gateway core           /opt/mitel/clgw/<instance>/VERSION, etc/clgw.conf files.gateway_dir
//	UI language            /etc/smbc-cm/cm.conf UI_LANGUAGE (it_IT: it-IT)   files.settings
//	proxy                  /etc/sysconfig/proxy: PROXY_ENABLED, HTTPS_PROXY  files.proxy
//	                       else HTTP_PROXY (credentials never taken)
//	tunnel addresses       built in (above)                                  addresses.<id>
//	embedding              built in: /cloudlink, the session URL, admin      base_path, session_url, admin_role
//	host root              Detect's root; for Configure host_root        root
package smbc

import (
	"errors"
	"fmt"

	"github.com/cloudlink/cld/platforms"
	"github.com/cloudlink/cld/platforms/msl"
)

// Platform types.
const (
	MSLType = "smbc-msl"
	CMType  = "smbc-cm"
	// Parent is the type the MSL container names as its parent.
	Parent = "smbc"
)

// The Controller Manager's version rule.
const (
	CMName   = "SMB Controller Manager"
	MinCM    = "2.2"
	NeededCM = "2.2.x or later"
)

// CheckCMVersion returns an *platforms.UnsupportedError when Controller
// Manager version v is not supported, else nil.
func CheckCMVersion(v string) error {
	if !platforms.AtLeast(v, MinCM) {
		return &platforms.UnsupportedError{Platform: CMName, Found: v, Needed: NeededCM}
	}
	return nil
}

// Adapters are this package's adapters: smbc-msl and smbc-cm.
func Adapters() []platforms.Adapter { return []platforms.Adapter{MSLAdapter{}, CMAdapter{}} }

// MSLAdapter detects and configures the MSL container of an SMBC.
type MSLAdapter struct{}

// Type implements platforms.Adapter.
func (MSLAdapter) Type() string { return MSLType }

func mslOptions() msl.Options {
	o := msl.DefaultOptions()
	o.Type, o.Parent = MSLType, Parent
	return o
}

// Detect implements platforms.Adapter.
func (MSLAdapter) Detect(root string) (platforms.Platform, error) {
	return detectMSL(root, mslOptions(), nil)
}

// Configure implements platforms.Adapter.
func (MSLAdapter) Configure(cfg platforms.Config) (platforms.Platform, error) {
	sec, err := msl.ParseSection(cfg, msl.Spec(MSLType))
	if err != nil {
		return nil, err
	}
	o, err := msl.OptionsFrom(sec, mslOptions())
	if err != nil {
		return nil, err
	}
	return detectMSL(sec.Root, o, sec)
}

// detectMSL finds the container under root; sec is the section of a
// configured platform (nil: detection).
func detectMSL(root string, o msl.Options, sec *msl.Section) (platforms.Platform, error) {
	marker, err := platforms.ReadKeyValues(root, o.Files.SMBCMarker)
	if errors.Is(err, platforms.ErrNotDetected) && sec != nil {
		return nil, fmt.Errorf("%w: %splatform.type is %s, but %s has no SMB Controller marker %s: this is not an SMBC's MSL container (a plain MSL host is type: msl)", platforms.ErrConfig, sec.Where, MSLType, root, o.Files.SMBCMarker)
	}
	if err != nil {
		return nil, err
	}
	var h *msl.Host
	if sec != nil {
		h, err = msl.InspectConfigured(sec, o.Files, MSLType)
	} else {
		h, err = msl.Inspect(root, o.Files)
	}
	if err != nil {
		return nil, err
	}
	if cm := marker["SMBC_CM_VERSION"]; cm != "" {
		if err := CheckCMVersion(cm); err != nil {
			return nil, err
		}
	}
	return msl.Build(h, o)
}
