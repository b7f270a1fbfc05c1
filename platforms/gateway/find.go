package gateway

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/coreos/go-systemd/v22/unit"
	"github.com/jonboulle/clockwork"

	"github.com/cloudlink/cld/platforms"
)

// Defaults of Options (host paths, relative to Options.Root unless said).
const (
	DefaultInstallDir    = "/opt/mitel/clgw"
	DefaultVersionFile   = "VERSION"
	DefaultConfigFile    = "etc/clgw.conf"
	DefaultStartCommand  = "bin/clgw-core"
	DefaultUnitTemplate  = "clgw@.service"
	DefaultUnitName      = "clgw.service"
	DefaultSystemdRunDir = "/run/systemd/system" // on the real root, not Options.Root
	DefaultHealthPath    = "/api/v1/health"
	DefaultStatusPath    = "/status"
	DefaultHealthTimeout = 5 * time.Second
	DefaultJobTimeout    = 2 * time.Minute
)

// DefaultUnitDirs are where unit files are looked for, in systemd's order
// of precedence.
var DefaultUnitDirs = []string{"/etc/systemd/system", "/usr/lib/systemd/system", "/lib/systemd/system"}

// Service manager choices of Options.ServiceManager.
const (
	ManagerAuto       = ""           // systemd where it runs and the unit exists, else the supervisor
	ManagerSystemd    = "systemd"    // always systemd over D-Bus
	ManagerSupervisor = "supervisor" // always the daemon's own supervisor
)

// Options says where the gateway core is installed and how it is driven.
// Only Root is required; every other zero field takes its default.
type Options struct {
	// Root is the host's file system root ("/" on a host; tests point it
	// at a tree). The paths below are under it, absolute on the host.
	Root string
	// InstallDir holds one directory per instance (DefaultInstallDir).
	InstallDir string
	// VersionFile, ConfigFile and StartCommand are relative to an
	// instance's directory (DefaultVersionFile, DefaultConfigFile,
	// DefaultStartCommand).
	VersionFile  string
	ConfigFile   string
	StartCommand string
	// UnitDirs are searched for UnitTemplate (an instance runs as
	// clgw@<instance>.service) and then UnitName (DefaultUnitDirs,
	// DefaultUnitTemplate, DefaultUnitName).
	UnitDirs     []string
	UnitTemplate string
	UnitName     string
	// Instance names the instance to drive; "" drives the only one (none
	// is driven when several are installed).
	Instance string
	// ServiceManager is ManagerAuto, ManagerSystemd or ManagerSupervisor.
	ServiceManager string
	// SystemdRunDir exists when systemd runs the host; it is a path on the
	// real root, not under Root (DefaultSystemdRunDir).
	SystemdRunDir string
	// HealthPath and StatusPath are paths of the REST interface
	// (DefaultHealthPath, DefaultStatusPath); HealthTimeout bounds a
	// health check (DefaultHealthTimeout).
	HealthPath    string
	StatusPath    string
	HealthTimeout time.Duration
	// JobTimeout bounds a systemd job: start, stop or restart
	// (DefaultJobTimeout).
	JobTimeout time.Duration
	// DialSystemd connects to systemd (DialSystemd); tests give a fake.
	DialSystemd func(context.Context) (SystemdConn, error)
	// Supervisor tunes the process supervisor.
	Supervisor Tuning
	// Clock runs the supervisor's backoff and stop timeout (the real clock).
	Clock clockwork.Clock
	// Logger gets the driver's events and the supervised core's output
	// (discarded when nil).
	Logger *slog.Logger
}

// withDefaults fills the zero fields.
func (o Options) withDefaults() Options {
	def := func(s *string, v string) {
		if *s == "" {
			*s = v
		}
	}
	def(&o.InstallDir, DefaultInstallDir)
	def(&o.VersionFile, DefaultVersionFile)
	def(&o.ConfigFile, DefaultConfigFile)
	def(&o.StartCommand, DefaultStartCommand)
	def(&o.UnitTemplate, DefaultUnitTemplate)
	def(&o.UnitName, DefaultUnitName)
	def(&o.SystemdRunDir, DefaultSystemdRunDir)
	def(&o.HealthPath, DefaultHealthPath)
	def(&o.StatusPath, DefaultStatusPath)
	if o.UnitDirs == nil {
		o.UnitDirs = DefaultUnitDirs
	}
	if o.HealthTimeout <= 0 {
		o.HealthTimeout = DefaultHealthTimeout
	}
	if o.JobTimeout <= 0 {
		o.JobTimeout = DefaultJobTimeout
	}
	if o.DialSystemd == nil {
		o.DialSystemd = DialSystemd
	}
	if o.Clock == nil {
		o.Clock = clockwork.NewRealClock()
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	o.Supervisor = o.Supervisor.withDefaults()
	return o
}

// hostPath is the file p (a host path) under root.
func (o Options) hostPath(p string) string {
	return filepath.Join(o.Root, filepath.FromSlash(p))
}

// Instance is one installed gateway core.
type Instance struct {
	// Name is the instance directory's name, e.g. "default".
	Name string
	// Dir is the instance's directory as a host path (e.g.
	// /opt/mitel/clgw/default); Path is the same under Options.Root.
	Dir  string
	Path string
	// Version is the core's version ("" when its version file is missing
	// or unreadable: see the Notices).
	Version string
	// RESTScheme and RESTPort are the REST interface's (port 0 when the
	// config gives none).
	RESTScheme string
	RESTPort   int
	// Unit is the systemd unit that runs the instance and UnitFile the host
	// path of its unit file ("" when none is installed).
	Unit     string
	UnitFile string
	// StartCommand is the start command under Options.Root (for the
	// supervisor) and ConfigFile the config under Options.Root.
	StartCommand string
	ConfigFile   string
}

// RESTAddress is the REST interface's base URL, e.g. http://127.0.0.1:8090
// ("" without a port).
func (i Instance) RESTAddress() string {
	if i.RESTPort == 0 {
		return ""
	}
	return fmt.Sprintf("%s://127.0.0.1:%d", i.RESTScheme, i.RESTPort)
}

// Tunnel IDs, component and names of the REST interface's tunnel.
const (
	TunnelID          = "clgw-rest"
	TunnelComponent   = "CloudLink Gateway"
	TunnelName        = "CLGW REST interface"
	TunnelDescription = "Remote access via Mitel Administration"
)

// Tunnel is the instance's REST interface as a tunnel (it has passed
// Validate); an error when the config gives no REST port.
func (i Instance) Tunnel() (platforms.Tunnel, error) {
	if i.RESTPort == 0 {
		return platforms.Tunnel{}, fmt.Errorf("CloudLink Gateway instance %s: its config gives no REST_PORT, so its REST interface cannot be offered as a tunnel", i.Name)
	}
	t := platforms.Tunnel{
		ID:               TunnelID,
		Component:        TunnelComponent,
		Name:             TunnelName,
		Description:      TunnelDescription,
		LocalAddress:     i.RESTAddress(),
		AcceptSelfSigned: i.RESTScheme == "https",
	}
	if err := t.Validate(); err != nil {
		return platforms.Tunnel{}, fmt.Errorf("CloudLink Gateway instance %s: %w", i.Name, err)
	}
	return t, nil
}

// Notice codes.
const (
	NoticeMultipleInstances  = "clgw-multiple-instances"
	NoticeVersionUnreadable  = "clgw-version-unreadable"
	NoticeConfigInvalid      = "clgw-config-invalid"
	NoticeInstanceNotPresent = "clgw-instance-not-installed"
)

// RemedyMultipleInstances is the solution guide's resolution for more than
// one CLGW instance on a platform.
const RemedyMultipleInstances = "Remove any duplicate or conflicting CLGW instances from this platform, " +
	"ensure only one CLGW is installed and associated with the CloudLink account, then re-onboard the CLGW. " +
	"Do not restore backups of a clustered CLGW onto this platform."

// Installation is what Find found.
type Installation struct {
	// Instances are the installed instances, sorted by name.
	Instances []Instance
	// Selected is the instance to drive: Options.Instance, else the only
	// one; nil when none is installed, several are and none was named, or
	// the named one is not installed.
	Selected *Instance
	// Notices are the problems found, each with its remedy.
	Notices []platforms.Notice
}

// Installed reports whether any instance is installed.
func (in Installation) Installed() bool { return len(in.Instances) > 0 }

// Names are the instances' names.
func (in Installation) Names() []string {
	names := make([]string, 0, len(in.Instances))
	for _, i := range in.Instances {
		names = append(names, i.Name)
	}
	return names
}

// Find looks for the installed gateway instances under opts.Root. A host
// without any is an Installation with none, not an error; the error is for
// a missing Root or an install directory that cannot be read.
func Find(opts Options) (Installation, error) {
	if opts.Root == "" {
		return Installation{}, errors.New("gateway: Options.Root is empty; give the host's file system root")
	}
	opts = opts.withDefaults()
	var in Installation
	entries, err := os.ReadDir(opts.hostPath(opts.InstallDir))
	if errors.Is(err, fs.ErrNotExist) {
		err = nil
	}
	if err != nil {
		return in, fmt.Errorf("gateway: reading the install directory %s: %w", opts.InstallDir, err)
	}
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		inst, notices, ok := readInstance(opts, e.Name())
		if !ok {
			continue
		}
		in.Instances = append(in.Instances, inst)
		in.Notices = append(in.Notices, notices...)
	}
	names := in.Names()
	if len(names) > 1 {
		in.Notices = append([]platforms.Notice{{
			Code: NoticeMultipleInstances,
			Text: fmt.Sprintf("%d CloudLink Gateway instances are installed on this host (%s under %s); traditional CLGW mode supports only one per platform, "+
				"and a second one, often restored from a backup of a clustered CLGW, makes MiVB sync and CLGW re-onboarding fail", len(names), strings.Join(names, ", "), opts.InstallDir),
			Remedy: RemedyMultipleInstances,
		}}, in.Notices...)
	}
	switch {
	case opts.Instance != "":
		for k := range in.Instances {
			if in.Instances[k].Name == opts.Instance {
				in.Selected = &in.Instances[k]
			}
		}
		if in.Selected == nil && len(names) > 0 {
			in.Notices = append(in.Notices, platforms.Notice{
				Code:   NoticeInstanceNotPresent,
				Text:   fmt.Sprintf("the configured CloudLink Gateway instance %q is not installed under %s (installed: %s)", opts.Instance, opts.InstallDir, strings.Join(names, ", ")),
				Remedy: "Name one of the installed instances in the daemon's gateway setting, or leave it empty to drive the only one.",
			})
		}
	case len(in.Instances) == 1:
		in.Selected = &in.Instances[0]
	}
	return in, nil
}

// readInstance reads the instance directory name; false when it is not an
// instance (neither version nor config file).
func readInstance(opts Options, name string) (Instance, []platforms.Notice, bool) {
	dir := path.Join(opts.InstallDir, name)
	inst := Instance{
		Name:         name,
		Dir:          dir,
		Path:         opts.hostPath(dir),
		RESTScheme:   "http",
		StartCommand: opts.hostPath(path.Join(dir, opts.StartCommand)),
		ConfigFile:   opts.hostPath(path.Join(dir, opts.ConfigFile)),
	}
	versionFile := path.Join(dir, opts.VersionFile)
	configFile := path.Join(dir, opts.ConfigFile)
	version, verr := platforms.ReadFile(opts.Root, versionFile)
	conf, cerr := platforms.ReadKeyValues(opts.Root, configFile)
	if errors.Is(verr, platforms.ErrNotDetected) && errors.Is(cerr, platforms.ErrNotDetected) {
		return inst, nil, false
	}
	var notices []platforms.Notice
	if verr == nil {
		verr = checkVersion(version)
	}
	if verr != nil {
		if errors.Is(verr, platforms.ErrNotDetected) {
			verr = errors.New("is missing")
		}
		notices = append(notices, platforms.Notice{
			Code:   NoticeVersionUnreadable,
			Text:   fmt.Sprintf("the version file %s of CloudLink Gateway instance %s %v, so its version is unknown", versionFile, name, verr),
			Remedy: fmt.Sprintf("Repair or reinstall the CloudLink Gateway instance %s; its version file must hold one line such as 2.4.17.", name),
		})
	} else {
		inst.Version = version
	}
	if problem := readConfig(&inst, conf, cerr); problem != "" {
		notices = append(notices, platforms.Notice{
			Code:   NoticeConfigInvalid,
			Text:   fmt.Sprintf("the config %s of CloudLink Gateway instance %s %s, so its REST interface cannot be health-checked or offered as a tunnel", configFile, name, problem),
			Remedy: fmt.Sprintf("Repair or reinstall the CloudLink Gateway instance %s; its config must set REST_PORT to the REST interface's port (e.g. REST_PORT=8090).", name),
		})
	}
	for _, d := range opts.UnitDirs {
		if inst.Unit != "" {
			break
		}
		for _, candidate := range []string{opts.UnitTemplate, opts.UnitName} {
			f := path.Join(d, candidate)
			if st, err := os.Stat(opts.hostPath(f)); err != nil || st.IsDir() {
				continue
			}
			inst.UnitFile = f
			inst.Unit = candidate
			if prefix, ok := strings.CutSuffix(candidate, "@.service"); ok {
				inst.Unit = prefix + "@" + unit.UnitNameEscape(name) + ".service"
			}
			break
		}
	}
	return inst, notices, true
}

// checkVersion accepts one line of at most 64 printable characters that
// starts with a digit (e.g. 2.4.17, "2.4 SP1").
func checkVersion(v string) error {
	switch {
	case v == "":
		return errors.New("is empty")
	case len(v) > 64 || strings.ContainsAny(v, "\r\n"):
		return errors.New("is not a single short line")
	case strings.IndexFunc(v, func(r rune) bool { return !unicode.IsPrint(r) }) >= 0:
		return errors.New("holds characters that are not text")
	case v[0] < '0' || v[0] > '9':
		return fmt.Errorf("holds %q, which is not a version", v)
	}
	return nil
}

// readConfig sets the REST interface from the config; a problem as a
// phrase ("" when none).
func readConfig(inst *Instance, conf map[string]string, err error) string {
	switch {
	case errors.Is(err, platforms.ErrNotDetected):
		return "is missing"
	case err != nil:
		return fmt.Sprintf("cannot be read (%v)", err)
	}
	switch s := strings.ToLower(conf["REST_SCHEME"]); s {
	case "", "http":
	case "https":
		inst.RESTScheme = s
	default:
		return fmt.Sprintf("sets REST_SCHEME=%s, which is neither http nor https", conf["REST_SCHEME"])
	}
	p, ok := conf["REST_PORT"]
	if !ok || p == "" {
		return "sets no REST_PORT"
	}
	port, perr := strconv.Atoi(p)
	if perr != nil || port < 1 || port > 65535 {
		return fmt.Sprintf("sets REST_PORT=%s, which is not a port between 1 and 65535", p)
	}
	inst.RESTPort = port
	return ""
}
