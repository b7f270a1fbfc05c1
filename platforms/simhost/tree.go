package simhost

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/cloudlink/cld/platforms"
)

// TreeMarker is the file at the top of a tree Tree.Write wrote; ClearTree
// empties only a directory that holds it.
const TreeMarker = ".cld-simhost-tree"

// Gateway core of the trees: its instance and version.
const (
	GatewayInstance = "default"
	GatewayVersion  = "2.4.1"
)

// GatewayCoreCommand is the argument bin/clgw-core passes to
// Tree.CoreCommand: cld-simhost's subcommand that runs GatewayCore.
const GatewayCoreCommand = "gateway-core"

// Tree is a simulated host's file tree, in the layout its platform's
// adapter reads (see platforms/README.md and each adapter's doc).
type Tree struct {
	// Platform is the simulated platform's name (PlatformMSL, …; generic
	// has no tree).
	Platform string
	// Addresses are the served UIs' local addresses by tunnel ID
	// (Host.Addresses). MX-ONE keeps its UIs' ports in the tree, so it
	// needs them (https://127.0.0.1:PORT); the other platforms' come from
	// cld's config (CLDConfig).
	Addresses map[string]string
	// GatewayPort is the gateway core's REST_PORT (platforms with a
	// gateway core).
	GatewayPort int
	// CoreCommand is the program the instance's bin/clgw-core runs, with
	// the argument GatewayCoreCommand: cld-simhost's absolute path.
	CoreCommand string
	// Now dates the licences (zero: time.Now()).
	Now time.Time
}

// ClearTree makes root ready for Tree.Write: created when missing, left
// as it is when empty, emptied when it holds a tree cld-simhost wrote
// before (TreeMarker); any other directory is refused, so that a mistyped
// root never loses files.
func ClearTree(root string) error {
	entries, err := os.ReadDir(root)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return os.MkdirAll(root, 0o755)
	case err != nil:
		return fmt.Errorf("simhost: %w", err)
	case len(entries) == 0:
		return nil
	}
	if _, err := os.Stat(filepath.Join(root, TreeMarker)); err != nil {
		return fmt.Errorf("simhost: %s is not empty and holds no tree cld-simhost wrote (%s); give a new or empty directory as the host's root", root, TreeMarker)
	}
	for _, e := range entries {
		if err := os.RemoveAll(filepath.Join(root, e.Name())); err != nil {
			return fmt.Errorf("simhost: emptying %s: %w", root, err)
		}
	}
	return nil
}

// Write writes the tree under root (an existing directory, see ClearTree).
func (t Tree) Write(root string) error {
	p, ok := LookupPlatform(t.Platform)
	if !ok {
		return fmt.Errorf("simhost: unknown platform %q (known: %s)", t.Platform, PlatformList())
	}
	if p.Name == PlatformGeneric {
		return errors.New("simhost: the generic platform has no host tree: cld's config describes it (CLDConfig)")
	}
	if p.Gateway {
		if t.GatewayPort < 1 || t.GatewayPort > 65535 {
			return fmt.Errorf("simhost: the %s tree's gateway core needs a REST port between 1 and 65535, not %d", p.Name, t.GatewayPort)
		}
		if !filepath.IsAbs(t.CoreCommand) {
			return fmt.Errorf("simhost: the gateway core's command %q must be an absolute path (cld-simhost's)", t.CoreCommand)
		}
	}
	now := t.Now
	if now.IsZero() {
		now = time.Now()
	}
	files, err := t.files(p, now)
	if err != nil {
		return err
	}
	files[TreeMarker] = file{text: "# A simulated " + p.Description + ", written by cld-simhost.\nplatform=" + p.Name + "\ntype=" + p.Type + "\n"}
	for _, name := range slices.Sorted(maps.Keys(files)) {
		f := files[name]
		full := filepath.Join(root, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			return fmt.Errorf("simhost: %w", err)
		}
		if f.dir {
			if err := os.MkdirAll(full, 0o755); err != nil {
				return fmt.Errorf("simhost: %w", err)
			}
			continue
		}
		mode := os.FileMode(0o644)
		if f.exec {
			mode = 0o755
		}
		if err := writeFileAtomic(full, []byte(f.text), mode); err != nil {
			return fmt.Errorf("simhost: writing %s: %w", name, err)
		}
	}
	return nil
}

// file is one entry of a tree: a text file, an executable or a directory.
type file struct {
	text string
	exec bool
	dir  bool
}

// files are the tree's entries by path (slash-separated, relative).
func (t Tree) files(p Platform, now time.Time) (map[string]file, error) {
	year := now.AddDate(1, 0, 0).Format(time.DateOnly)
	sles := file{text: `NAME="SLES"
VERSION="15-SP4"
VERSION_ID="15.4"
PRETTY_NAME="SUSE Linux Enterprise Server 15 SP4"
ID="sles"
ID_LIKE="suse"
`}
	noProxy := file{text: `## Path:        Network/Proxy
## Description: (the simulated host uses no proxy, so cld reaches the demo cloud directly)
PROXY_ENABLED="no"
HTTP_PROXY=""
HTTPS_PROXY=""
NO_PROXY="localhost, 127.0.0.1"
`}
	fs := map[string]file{}
	switch p.Name {
	case PlatformMSL:
		fs["etc/e-smith-release"] = file{text: "Mitel Standard Linux release 12.1 (45)\n"}
		fs["home/e-smith/db/configuration"] = file{text: `# DO NOT MODIFY THIS FILE.
# This file is automatically maintained by the Mitel Standard Linux configuration software.
# Manually editing this file may put your system in an unknown state.
DomainName=demo.example
SystemName=msl-demo
ServerManager=configuration|Language|en_US|Theme|mitel
UpstreamProxy=configuration|status|disabled
sysconfig=configuration|Language|en_US|ReleaseVersion|12.1.45
`}
		fs["var/lib/mitel/packages.list"] = file{text: `# rpm -qa, written by the MSL blade installer after each install or upgrade
e-smith-base-5.8.0-14.el8.mitel.noarch
e-smith-manager-2.8.0-9.el8.mitel.noarch
httpd-2.4.37-62.el8.x86_64
openssl-1.1.1k-12.el8_9.x86_64
servicelink-agent-4.2.1-3.el8.mitel.noarch
mitel-mivb-10.2.0.23-1.el8.x86_64
mitel-mbg-12.0.0.58-1.el8.x86_64
`}
		fs["var/lib/servicelink/license.conf"] = file{text: `# ServiceLink licence synchronisation (written by servicelink-agent)
ARID=4271-3385-0921
LICENSE_TYPE=SUBSCRIPTION
LICENSE_EXPIRES=` + year + `
SWA_STATUS=ACTIVE
SWA_EXPIRY=` + year + `
`}
	case PlatformSMBC:
		fs["etc/smbc-cm-release"] = file{text: `NAME="Mitel SMB Controller Manager"
ID=smbc-cm
VERSION_ID=2.2.1.12
PRETTY_NAME="Mitel SMB Controller Manager 2.2.1.12"
BUILD_ID=20240611
`}
		fs["etc/smbc-cm/cm.conf"] = file{text: `# Controller Manager settings (Administration, System, Language and Proxy)
UI_LANGUAGE=en_US
TIMEZONE=Europe/London
`}
		fs["etc/sysconfig/proxy"] = noProxy
		fs["etc/systemd/nspawn/msl.nspawn"] = file{text: "[Exec]\nBoot=yes\n\n[Network]\nVirtualEthernet=yes\n"}
		// The MSL container the Controller Manager runs (its own daemon,
		// type smbc-msl, is not part of the simulation).
		fs["var/lib/machines/msl/etc/e-smith-release"] = file{text: "Mitel Standard Linux release 11.0 (110)\n"}
		fs["var/lib/machines/msl/etc/mitel/smbc-container"] = file{text: "SMBC_CONTAINER=msl\nSMBC_CM_VERSION=2.2.1.12\nSMBC_CM_ADDRESS=10.30.0.1\n"}
	case PlatformOSV:
		fs["opt/unisphere/srx3000/etc/osv-release"] = file{text: `# OpenScape Voice software release of this node
PRODUCT="OpenScape Voice"
VERSION="V10R3 FR33 HF3"
BUILD="V10R3.33.3"
`}
		fs["etc/os-release"] = sles
		fs["etc/hiq8000/node.cfg"] = file{text: `# OpenScape Voice node configuration (from the installation's node.cfg)
NODE_ID="1"
NODE_NAME="osv1"
CLUSTER_NAME="osv-demo"
CLUSTER_TYPE="simplex"
ADMIN_IP="10.40.0.11"
`}
		fs["opt/unisphere/srx3000/etc/components.list"] = file{text: `# Installed OpenScape Voice components: name version
osv-server V10R3.33.3
osv-assistant V10R3.33.3
osv-soap-server V10R3.33.3
`}
		fs["opt/unisphere/srx3000/etc/license.conf"] = file{text: `# OpenScape Voice licence (Common License Management)
TYPE="SUBSCRIPTION"
EXPIRES="` + year + `"
SWA_STATUS="ACTIVE"
SWA_EXPIRY="` + year + `"
`}
		fs["etc/sysconfig/language"] = file{text: "## Path:        System/Environment/Language\nRC_LANG=\"en_US.UTF-8\"\n"}
		fs["etc/sysconfig/proxy"] = noProxy
		// Where the node's CloudLink registration is kept (none yet).
		fs["opt/unisphere/srx3000/cloudlink"] = file{dir: true}
	case PlatformMXONE:
		snm, err := t.port(p, "mxone-snm-web")
		if err != nil {
			return nil, err
		}
		pm, err := t.port(p, "mxone-pm-web")
		if err != nil {
			return nil, err
		}
		fs["etc/opt/eri_sn/mxone-release"] = file{text: `# MiVoice MX-ONE Service Node release, written by the installer
PRODUCT="MiVoice MX-ONE Service Node"
VERSION="8.1.0.0.14"
`}
		fs["etc/opt/eri_sn/mxone_servers.conf"] = file{text: `# MX-ONE system servers (kept by mxone_maintenance)
# number  hostname  address      roles
1         mx1       10.20.0.11   service-node,snm,pm
2         mx2       10.20.0.12   service-node
3         mx3       10.20.0.13   service-node,media-server
`}
		fs["etc/hostname"] = file{text: "mx1\n"}
		fs["etc/os-release"] = sles
		fs["etc/opt/eri_sn/webserver.conf"] = file{text: `# Web server settings (sudo -H webserver_config)
HTTPS_PORT=` + strconv.Itoa(snm) + `
CLD_PATH=/cld
CLD_AUTH=session
`}
		fs["opt/mxone_snm/conf/snm.properties"] = file{text: "# Service Node Manager\nsnm.version=8.1.0.14\nsnm.language=en_US\n"}
		fs["opt/mxone_pm/conf/pm.properties"] = file{text: "# Provisioning Manager\npm.version=8.1.0.9\npm.https.port=" + strconv.Itoa(pm) + "\n"}
		fs["etc/opt/eri_sn/license_status"] = file{text: `License server:      mx1 (10.20.0.11)
License type:        SUBSCRIPTION
License expiry date: ` + year + `
SWA status:          ACTIVE
SWA expiry date:     ` + year + `
`}
		fs["etc/sysconfig/proxy"] = noProxy
	default:
		return nil, fmt.Errorf("simhost: the %s platform has no host tree", p.Name)
	}
	if p.Gateway {
		dir := "opt/mitel/clgw/" + GatewayInstance + "/"
		fs[dir+"VERSION"] = file{text: GatewayVersion + "\n"}
		fs[dir+"etc/clgw.conf"] = file{text: "# CloudLink Gateway core settings\nREST_PORT=" + strconv.Itoa(t.GatewayPort) + "\nREST_SCHEME=http\nLOG_LEVEL=info\n"}
		// No systemd unit: the daemon's own supervisor runs the core,
		// even on a machine that runs systemd.
		fs[dir+"bin/clgw-core"] = file{exec: true, text: "#!/bin/sh\n# CloudLink Gateway core: the simulated host's stand-in (cld-simhost " + GatewayCoreCommand + ")\nexec " +
			shellQuote(t.CoreCommand) + " " + GatewayCoreCommand + " \"$@\"\n"}
	}
	return fs, nil
}

// port is the port of the UI of tunnel id, which must listen on 127.0.0.1
// (the adapters build https://127.0.0.1:PORT from the ports in the tree).
func (t Tree) port(p Platform, id string) (int, error) {
	addr, ok := t.Addresses[id]
	if !ok {
		return 0, fmt.Errorf("simhost: the %s tree needs the address of its UI %s", p.Name, id)
	}
	ep, err := platforms.ParseLocalAddress(addr)
	if err != nil || !ep.TLS || ep.Host != "127.0.0.1" {
		return 0, fmt.Errorf("simhost: the %s tree needs %s on https://127.0.0.1:PORT, not %q", p.Name, id, addr)
	}
	return ep.Port, nil
}

// shellQuote quotes s for sh.
func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// Addresses are the served UIs' local addresses by tunnel ID.
func (h *Host) Addresses() map[string]string {
	m := map[string]string{}
	for _, u := range h.uis {
		if u.Tunnel != "" {
			m[u.Tunnel] = "https://" + u.Addr
		}
	}
	return m
}

// GatewayAddress is the gateway core's REST interface in a tree whose
// clgw.conf says port.
func GatewayAddress(port int) string { return "http://127.0.0.1:" + strconv.Itoa(port) }

// genericTunnels are the generic platform's tunnels (component, name),
// as the demo has always configured them.
var genericTunnels = map[string][2]string{
	"msl-server-manager": {"MSL", "Server Manager"},
	"mbg-admin":          {"MiVoice Border Gateway", "administration web interface"},
}

// CLDConfig is the part of cld's config that makes the daemon serve the
// simulated host of platform p: host_root (the tree's root) and the
// platform section. A platform that keeps its UIs' ports in the tree is
// detected (type auto); the others are forced to their type with the
// served UIs' addresses (platform.addresses, by tunnel ID), since their
// adapters' addresses are built in; generic is described with its tunnels
// and has no host_root. addrs are the served UIs' addresses
// (Host.Addresses). When a UI checks sessions for cld's dashboard (its
// SessionAPI) and certFile is given, dashboard.auth.session_ca names the
// UIs' certificate, so that the daemon verifies the host's TLS.
func CLDConfig(p Platform, root string, addrs map[string]string, certFile string) ([]byte, error) {
	type tunnel struct {
		ID               string `yaml:"id"`
		Component        string `yaml:"component"`
		Name             string `yaml:"name"`
		Description      string `yaml:"description"`
		LocalAddress     string `yaml:"local_address"`
		AcceptSelfSigned bool   `yaml:"accept_self_signed"`
	}
	type section struct {
		Type      string            `yaml:"type"`
		Name      string            `yaml:"name,omitempty"`
		Version   string            `yaml:"version,omitempty"`
		Addresses map[string]string `yaml:"addresses,omitempty"`
		Tunnels   []tunnel          `yaml:"tunnels,omitempty"`
	}
	type dashboard struct {
		Auth struct {
			SessionCA string `yaml:"session_ca"`
		} `yaml:"auth"`
	}
	var doc struct {
		HostRoot  string     `yaml:"host_root,omitempty"`
		Platform  section    `yaml:"platform"`
		Dashboard *dashboard `yaml:"dashboard,omitempty"`
	}
	for _, u := range p.UIs {
		if u.SessionAPI != "" && certFile != "" {
			doc.Dashboard = &dashboard{}
			doc.Dashboard.Auth.SessionCA = certFile
		}
	}
	for _, u := range p.UIs {
		if _, ok := addrs[u.Tunnel]; !ok {
			return nil, fmt.Errorf("simhost: no address of the %s UI (tunnel %s)", u.Title, u.Tunnel)
		}
	}
	header := "# The simulated " + p.Description + " (cld-simhost --platform " + p.Name + ").\n"
	switch {
	case p.Name == PlatformGeneric:
		doc.Platform = section{Type: p.Type, Name: "Simulated PBX host", Version: "1.0"}
		for _, u := range p.UIs {
			cn := genericTunnels[u.Tunnel]
			doc.Platform.Tunnels = append(doc.Platform.Tunnels, tunnel{ID: u.Tunnel, Component: cn[0], Name: cn[1],
				Description: "Remote access via Mitel Administration", LocalAddress: addrs[u.Tunnel], AcceptSelfSigned: true})
		}
	case !filepath.IsAbs(root):
		return nil, fmt.Errorf("simhost: the host's root %q must be an absolute path (host_root)", root)
	case p.Forced:
		header += "# Its adapter's tunnel addresses are built in, so the type is forced and the\n# served UIs' addresses given; the gateway core's comes from its clgw.conf.\n"
		doc.HostRoot = root
		doc.Platform = section{Type: p.Type, Addresses: map[string]string{}}
		for _, u := range p.UIs {
			doc.Platform.Addresses[u.Tunnel] = addrs[u.Tunnel]
		}
	default:
		header += "# The tree holds its UIs' ports: the daemon detects the platform.\n"
		doc.HostRoot = root
		doc.Platform = section{Type: platforms.Auto}
	}
	var out bytes.Buffer
	out.WriteString(header)
	enc := yaml.NewEncoder(&out)
	enc.SetIndent(2)
	if err := enc.Encode(&doc); err != nil {
		return nil, fmt.Errorf("simhost: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("simhost: %w", err)
	}
	return out.Bytes(), nil
}

// AddressesYAML lists every tunnel's local address (the served UIs' and,
// with gatewayPort > 0, the gateway core's), by tunnel ID.
func AddressesYAML(p Platform, addrs map[string]string, gatewayPort int) []byte {
	var b strings.Builder
	b.WriteString("# Local addresses of the simulated " + p.Name + " host's tunnels (tunnel ID: URL).\n")
	for _, u := range p.UIs {
		if a, ok := addrs[u.Tunnel]; ok {
			fmt.Fprintf(&b, "%s: %s # %s\n", u.Tunnel, a, u.Title)
		}
	}
	if p.Gateway && gatewayPort > 0 {
		fmt.Fprintf(&b, "%s: %s # CloudLink Gateway core REST interface (run by cld)\n", GatewayTunnel, GatewayAddress(gatewayPort))
	}
	return []byte(b.String())
}

// WriteFile writes data to path atomically (mode 0644).
func WriteFile(path string, data []byte) error { return writeFileAtomic(path, data, 0o644) }
