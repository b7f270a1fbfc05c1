// Package openscape holds the platform adapters of the OpenScape products:
// OpenScape Business (openscape-business), OpenScape Voice
// (openscape-voice), OpenScape UC with its Management Apps (openscape-uc),
// OpenScape Session Border Controller (openscape-sbc) and OpenScape 4000
// (openscape-4000). Adapters returns all five.
//
// # Where the hosts keep their facts
//
// The vendor guide gives only the supported versions; where each product
// keeps its release, components, licence, UI language and proxy is this
// package's choice, made to look like these SLES-based hosts. Every place
// has a key; the config's platform.files.KEY (or Options.Files) moves it.
// Files are KEY=VALUE lines (os-release style: quotes stripped, # comments)
// except the component lists: one component a line, "name version", the
// name a slug (other lines are skipped). Only the version file is needed:
// it makes the host the product when its product key names it; every
// other file may be missing (the fact is then unknown).
//
//	openscape-business  (the X models' embedded Linux or SLES for the S model)
//	  version     /opt/osbiz/etc/version.conf       PRODUCT="OpenScape Business", MODEL (X3, S…), VERSION, BUILD
//	  os_release  /etc/os-release                   PRETTY_NAME
//	  components  /opt/osbiz/etc/components.list
//	  license     /opt/osbiz/etc/license.conf       TYPE, EXPIRES, SWA_STATUS, SWA_EXPIRY
//	  wbm         /opt/osbiz/etc/wbm.conf           LANGUAGE; PROXY_ENABLED, PROXY_HOST, PROXY_PORT (WBM's Internet proxy)
//	openscape-voice  (one node of a duplex cluster, or a simplex one)
//	  version     /opt/unisphere/srx3000/etc/osv-release   PRODUCT="OpenScape Voice", VERSION, BUILD
//	  os_release  /etc/os-release
//	  node        /etc/hiq8000/node.cfg             NODE_ID, NODE_NAME, CLUSTER_NAME, CLUSTER_TYPE, PARTNER_NODE_ID, PARTNER_NODE_NAME
//	  components  /opt/unisphere/srx3000/etc/components.list
//	  license     /opt/unisphere/srx3000/etc/license.conf
//	  language    /etc/sysconfig/language           RC_LANG (the node has no UI language of its own)
//	  proxy       /etc/sysconfig/proxy              PROXY_ENABLED, HTTPS_PROXY, HTTP_PROXY
//	  registration /opt/unisphere/srx3000/cloudlink/registration  INSTANCE, STATE_DIR, NODE_NAME, CMP, SINCE
//	openscape-uc
//	  version     /enterprise/servicetools/install/conf/version.properties  product.name (OpenScape UC…), product.version, product.build
//	  os_release  /etc/os-release
//	  components  /enterprise/servicetools/install/conf/components.list
//	  cmp         /enterprise/servicetools/install/conf/cmp.properties      ui.language
//	  proxy       /etc/sysconfig/proxy
//	openscape-sbc
//	  version     /etc/opt/openscape-sbc/version     PRODUCT="OpenScape Session Border Controller", VERSION, BUILD, HARDWARE
//	  os_release  /etc/os-release
//	  components  /etc/opt/openscape-sbc/components.list
//	  portal      /etc/opt/openscape-sbc/portal.conf LANGUAGE, HTTP_PROXY (the management portal's)
//	openscape-4000
//	  version     /etc/opt/os4000/version.conf       PRODUCT="OpenScape 4000", VERSION, BUILD, DEPLOYMENT
//	  os_release  /etc/os-release
//	  components  /etc/opt/os4000/components.list
//	  license     /etc/opt/os4000/license.conf
//	  assistant   /etc/opt/os4000/assistant.conf     LANGUAGE (the Assistant's)
//	  proxy       /etc/sysconfig/proxy
//
// A language is a POSIX locale or a tag (de_DE.UTF-8, en, fr-CA) and
// becomes a BCP 47 tag (de-DE); C and POSIX are none. A proxy is used as
// http://host:port: a value without a scheme gets http://, one without a
// port the scheme's; credentials are dropped (notice
// host-proxy-credentials) and a value cld cannot use is left out (notice
// host-proxy-invalid). SLES's proxy counts only with PROXY_ENABLED="yes";
// HTTPS_PROXY comes before HTTP_PROXY.
//
// # Versions
//
// The oldest supported releases are the guide's: OpenScape Business V3R3
// FR2, OpenScape Voice V10R3 FR33 HF3, OpenScape UC V10R6 FR7 HF1,
// OpenScape SBC V11R2.1.0, OpenScape 4000 V11.R0.22. Versions compare by
// their numbers in order (platforms.AtLeast: V10R3 FR32 HF9 is 10, 3, 32,
// 9); an older one is a *platforms.UnsupportedError naming both.
//
// # Tunnels and the dashboard
//
//	openscape-business  osb-wbm               Administration (WBM)            https://127.0.0.1:443
//	openscape-voice     osv-assistant         OpenScape Voice Assistant (CMP) https://127.0.0.1:443
//	                    osv-soap              Provisioning interface (SOAP/XML) https://127.0.0.1:8767
//	openscape-uc        osuc-cmp              Common Management Portal (CMP)  https://127.0.0.1:443
//	openscape-sbc       sbc-portal            Management portal               https://127.0.0.1:443
//	openscape-4000      os4k-assistant        OpenScape 4000 Assistant        https://127.0.0.1:443
//	                    os4k-platform-portal  Platform Portal                 https://127.0.0.1:8443
//
// All accept the appliances' self-signed certificates;
// platform.addresses.ID (Options.Addresses) sets another local address.
//
// How the dashboard is embedded (platforms.Embedding):
//   - OpenScape Business: in a frame of WBM at /cloudlink; the WBM session
//     is checked at https://127.0.0.1:443/management/api/session and must
//     have the Expert profile.
//   - OpenScape Voice: on its own address with cld's own dashboard
//     accounts (local): the node has no web UI that signs users in (the
//     CMP of a duplex cluster usually runs on the OpenScape UC server).
//   - OpenScape UC: in a frame of the CMP at /management/cloudlink; the CMP
//     session is checked at https://127.0.0.1:443/management/api/session
//     with the Administrator role.
//   - OpenScape SBC: in a frame of the management portal at /cloudlink;
//     the portal's web server signs the user in and passes the name in
//     X-Remote-User (proxy).
//   - OpenScape 4000: in a frame of the Assistant at /cloudlink; the
//     Assistant's session is checked at
//     https://127.0.0.1:443/Assistant/api/session with the Administrator
//     role.
//
// # One CloudLink connection per OpenScape Voice node
//
// An OpenScape Voice node supports a connection to only one CloudLink CMP.
// The node keeps its CloudLink registration in the registration file: the
// cld instance that owns the node (INSTANCE, its service's name, and
// STATE_DIR, its state directory, which no two daemons share), the node's
// name, the CMP and since when. Voice.Claim writes it when a daemon links
// (failing when another holds it) and Voice.Release removes it on unlink.
// A daemon is its Instance (Voice.Self; the config's platform.instance
// and platform.state_dir; by default cld with /var/lib/cld), compared by
// the state directory or, when the file names none, by the name. When the
// file names another instance, the platform is still returned, with the
// notice osv-second-daemon (naming the other instance, with the guide's
// note as the remedy) and no tunnels. A file that names no instance is
// ignored; a missing one means that no daemon has claimed the node.
//
// # Configuration
//
// With platform.type set to one of these types the adapter runs its
// detection with the section's overrides, strictly checked:
//
//	platform:
//	  type: openscape-voice
//	  root: /                 # the host's file system root (default: host_root)
//	  files:                  # places moved (keys above), absolute paths
//	    node: /etc/opt/osv/node.cfg
//	  addresses:              # tunnel ID: local address
//	    osv-soap: https://127.0.0.1:8768
//	  instance: cld           # openscape-voice only: this daemon's name
//	  state_dir: /var/lib/cld #   and state directory
//
// A host without the product's version file is then a config error that
// says where it looked.
package openscape
