// Package gateway drives the CloudLink Gateway core (CLGW) installed on the
// same host as the daemon: it finds the installed instances, reports their
// version and state, health-checks the running core over its REST
// interface, offers that interface as a tunnel, and starts, stops and
// restarts the core through the host's service manager — systemd over
// D-Bus where systemd runs, else a process supervisor of its own.
//
// # Where the gateway core is installed
//
// The vendor guides do not say where the co-located core keeps its files;
// this package assumes the layout below (every path relative to the root
// the caller passes — the host's "/" in production, a test tree in tests —
// and each one overridable in Options):
//
//	/opt/mitel/clgw/<instance>/           one directory per instance (Options.InstallDir)
//	    VERSION                           the core's version, one line, e.g. "2.4.17" (Options.VersionFile)
//	    etc/clgw.conf                     KEY=VALUE settings (Options.ConfigFile):
//	                                        REST_PORT=8090     the REST interface's port on 127.0.0.1 (required)
//	                                        REST_SCHEME=http   http (default) or https (self-signed accepted)
//	    bin/clgw-core                     the core's start command (Options.StartCommand)
//	/usr/lib/systemd/system/clgw@.service the template unit: instance <name> runs as clgw@<name>.service
//	/usr/lib/systemd/system/clgw.service  or a plain unit, for a host with a single instance
//	                                      (also looked for in /etc/systemd/system and /lib/systemd/system:
//	                                      Options.UnitDirs)
//
// A directory under the install directory is an instance when it holds the
// version file or the config file; anything else there is ignored. An
// instance's name is its directory's name.
//
// Traditional CLGW mode supports a single instance per platform: more than
// one (typically restored from the backup of a clustered CLGW) is reported
// as a Notice (NoticeMultipleInstances) with the solution guide's remedy,
// and the driver then refuses to control any of them unless
// Options.Instance names the one to drive. An unreadable version file or a
// config without a usable REST port is a Notice as well.
//
// # The REST interface
//
// The core's REST interface listens on REST_SCHEME://127.0.0.1:REST_PORT.
// Its health is an HTTP GET of Options.HealthPath (default /api/v1/health):
// a 2xx answer within Options.HealthTimeout is healthy; a JSON body may
// carry {"status": "...", "version": "..."}. Its status page, which the
// dashboard's "CloudLink Gateway Integration" panel links to, is
// Options.StatusPath (default /status). The interface is offered as the
// tunnel "CLGW REST interface" of the component "CloudLink Gateway"
// (Instance.Tunnel).
//
// # Service managers
//
// Manager is the one interface of both (Start, Stop, Restart, Status):
//
//   - Systemd, used when systemd runs (Options.SystemdRunDir,
//     /run/systemd/system of the real root, exists) and the instance has a
//     unit file: jobs with mode "replace" on the instance's unit through
//     github.com/coreos/go-systemd/v22/dbus, each awaited with a timeout,
//     and the state read from the unit's ActiveState and SubState.
//   - Supervisor, otherwise: the daemon runs the core's start command as
//     its child (working directory the instance's, with CLGW_INSTANCE,
//     CLGW_HOME and CLGW_CONFIG in its environment), restarts it when it
//     exits with a capped exponential backoff that starts again from the
//     minimum once the core stayed up for a while, and stops it with
//     SIGTERM, then SIGKILL after a timeout. The core then lives only as
//     long as the daemon (Close stops it; it is also sent SIGTERM should
//     the daemon die).
//
// The package imports nothing of the daemon's core: the daemon's gateway
// subsystem builds a Gateway with Open and uses its Status, Start, Stop,
// Restart, Notices and Tunnels.
package gateway
