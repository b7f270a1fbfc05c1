// Command cld-simhost simulates a telephony host for the demo and the
// tests of reverse tunnels (platforms/simhost): it serves the host's
// management web UIs on local HTTPS ports with a self-signed certificate,
// and with --platform writes the host's file tree, as cld's adapter for
// that platform reads it:
//
//	cld-simhost --platform msl|mxone|smbc|osv|generic --root DIR [--dir DIR]
//	            [--gateway-port PORT] [--username admin] [--password admin]
//	cld-simhost [--listen-server-manager HOST:PORT] [--listen-mbg HOST:PORT]
//	            [--dir DIR] [--username admin] [--password admin]
//	cld-simhost gateway-core [--config FILE]
//
// --platform NAME (see simhost.Platforms):
//
//	msl      MSL 12.1 with MiVoice Business and MBG: Server Manager, MSL REST,
//	         MiVB administration and REST, MBG administration; a CloudLink
//	         Gateway core instance (opt/mitel/clgw/default)
//	mxone    MX-ONE 8.1: Service Node Manager and Provisioning Manager, their
//	         ports written into the tree (webserver.conf, pm.properties)
//	smbc     the SMB Controller Manager 2.2: its web interface; a gateway core
//	osv      an OpenScape Voice V10R3 FR33 HF3 node: Assistant and SOAP
//	generic  no tree: the two UIs of the --listen flags, described in cld's config
//
// The UIs listen on free ports of 127.0.0.1 (generic: the --listen flags).
// The tree goes under --root, which must be new, empty or a tree
// cld-simhost wrote before (it is emptied first). DIR (--dir, default
// --root) receives cert.pem, addresses.yaml (each tunnel ID's local
// address) and cld-platform.yaml: host_root and the platform section for
// cld's config — type auto where the tree holds the ports (mxone), else
// the forced type with platform.addresses. Without --platform it serves
// the two UIs of the --listen flags only, as before (an empty address
// leaves that UI out).
//
// The gateway core's bin/clgw-core runs `cld-simhost gateway-core`, a
// stand-in core that serves GET /api/v1/health and /status on the
// REST_PORT of its clgw.conf (CLGW_CONFIG, CLGW_HOME from the daemon's
// supervisor); cld starts it, as it does the real core.
//
// It runs until SIGINT or SIGTERM. Exit codes: 0 success, 1 serving
// failed, 2 usage error.
package main

import "os"

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }
