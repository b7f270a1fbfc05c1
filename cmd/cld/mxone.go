package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"golang.org/x/term"

	"github.com/cloudlink/cld/agent/api"
	"github.com/cloudlink/cld/agent/build"
	"github.com/cloudlink/cld/agent/client"
	"github.com/cloudlink/cld/agent/config"
	"github.com/cloudlink/cld/platforms"
	"github.com/cloudlink/cld/platforms/mxone"
	"github.com/cloudlink/cld/platforms/mxone/maintenance"
)

const mxoneUsage = `Usage: cld mxone <command> [flags]

Cloud Link Daemon on the servers of an MX-ONE system (what the mxone_maintenance
menu's cloudLinkDaemon plugin runs):
  servers [--json]                 each server's cld: package, service, link
  install --username U [--account N] [--package FILE]
                                   install the package on every server, then enable and link each
  enable (--all | --servers A,B) --username U [--account N]
                                   enable cld and link it with these CloudLink credentials
  disable (--all | --servers A,B)  unlink, stop and disable cld; its instance state is removed
  uninstall                        disable cld on every server and remove the package
  local state|enable|disable       the same on this server only (run on each server by the above)

Secrets: --secrets-stdin reads the root password (line 1: SSH to the other servers)
and the CloudLink password (line 2: install, enable) from standard input; without
it they are asked on the terminal. cld keeps neither.
SSH: as root, keys of ~/.ssh then the password; --ssh-port N (22), --known-hosts FILE
(/root/.ssh/known_hosts: an unknown or changed host key fails that server),
--connect-timeout D (10s). The package defaults to the newest cld*.rpm or cld*.deb in
/opt/mxone_install/cloudlink. The servers are the MX-ONE server list that cld's
platform adapter reads (--config FILE or $CLD_CONFIG: host_root, platform).
Output: one line per server (--json: a JSON array, one server a line); the exit
status is 1 when any server failed.
`

func (c *cli) cmdMXONE(args []string) int {
	return c.runGroup(group{name: "mxone", usage: mxoneUsage, subs: map[string]func([]string) int{
		"servers":   func(a []string) int { return c.mxoneSystem("servers", a) },
		"install":   func(a []string) int { return c.mxoneSystem("install", a) },
		"enable":    func(a []string) int { return c.mxoneSystem("enable", a) },
		"disable":   func(a []string) int { return c.mxoneSystem("disable", a) },
		"uninstall": func(a []string) int { return c.mxoneSystem("uninstall", a) },
		"local":     c.mxoneLocal,
	}}, args)
}

var mxoneSynopsis = map[string]string{
	"servers":   "[--json] [ssh flags]",
	"install":   "--username U [--account N] [--package FILE] [--secrets-stdin] [ssh flags]",
	"enable":    "(--all | --servers A,B) --username U [--account N] [--secrets-stdin] [ssh flags]",
	"disable":   "(--all | --servers A,B) [--secrets-stdin] [ssh flags]",
	"uninstall": "[--secrets-stdin] [ssh flags]",
}

// mxoneSystem runs one of the system-wide commands.
func (c *cli) mxoneSystem(cmd string, args []string) int {
	fs := c.newFlags("mxone "+cmd, mxoneSynopsis[cmd])
	cfgFile := fs.String("config", "", "cld's config file (default $"+envConfig+", else "+config.DefaultConfigFile+")")
	asJSON := fs.Bool("json", false, "print the results as a JSON array, one server a line")
	sshPort := fs.Int("ssh-port", 22, "the servers' SSH port")
	knownHosts := fs.String("known-hosts", maintenance.DefaultKnownHosts, "the known_hosts file the servers' host keys are checked against")
	connTimeout := fs.Duration("connect-timeout", 10*time.Second, "SSH connect and handshake timeout")
	secretsStdin := fs.Bool("secrets-stdin", false, "read the root password (line 1) and the CloudLink password (line 2) from standard input")
	var username, servers, pkg string
	var account int64
	var all bool
	if cmd == "install" || cmd == "enable" {
		fs.StringVar(&username, "username", "", "the CloudLink user (e-mail) that links each server; an administrator of the account")
		fs.Int64Var(&account, "account", 0, "the CloudLink account number (needed when the user belongs to several accounts)")
	}
	if cmd == "enable" || cmd == "disable" {
		fs.BoolVar(&all, "all", false, "every server of the system")
		fs.StringVar(&servers, "servers", "", "the servers by host name, separated by commas")
	}
	if cmd == "install" {
		fs.StringVar(&pkg, "package", "", "the cld .rpm or .deb (default: the newest in "+maintenance.DefaultPackageDir+")")
	}
	if code, ok := c.parse(fs, args); !ok {
		return code
	}
	switch {
	case (cmd == "install" || cmd == "enable") && strings.TrimSpace(username) == "":
		return c.usageErr(fs, "--username is required (the CloudLink user that links the servers)")
	case (cmd == "enable" || cmd == "disable") && all == (servers != ""):
		return c.usageErr(fs, "give either --all or --servers A,B")
	case account < 0:
		return c.usageErr(fs, "--account must be a positive account number")
	}
	plat, err := openMXONE(*cfgFile)
	if err != nil {
		return c.fail(err)
	}
	sel := plat.Servers()
	if servers != "" {
		if sel, err = maintenance.Select(sel, servers); err != nil {
			return c.fail(err)
		}
	}
	if cmd == "install" && pkg == "" {
		if pkg, err = maintenance.DefaultPackage(maintenance.DefaultPackageDir); err != nil {
			return c.fail(err)
		}
	}
	needCloud := cmd == "install" || cmd == "enable"
	rootPW, cloudPW, code := c.readSecrets(*secretsStdin, needCloud, username)
	if code != 0 {
		return code
	}
	cfg := maintenance.Config{Servers: plat.Servers(), SSH: maintenance.SSHConfig{Port: *sshPort, Password: rootPW,
		KnownHosts: *knownHosts, ConnectTimeout: *connTimeout}}
	if home, err := os.UserHomeDir(); err == nil {
		cfg.SSH.KeyFiles = maintenance.DefaultKeyFiles(home)
	}
	sys, err := maintenance.New(cfg)
	if err != nil {
		return c.fail(err)
	}
	defer sys.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	cred := maintenance.Credentials{Username: strings.TrimSpace(username), Account: account, Password: cloudPW}
	var rs []maintenance.Result
	switch cmd {
	case "servers":
		rs = sys.ServerStates(ctx)
	case "install":
		rs = sys.Install(ctx, pkg, cred)
	case "enable":
		rs = sys.Enable(ctx, sel, cred)
	case "disable":
		rs = sys.Disable(ctx, sel)
	case "uninstall":
		rs = sys.Uninstall(ctx)
	}
	if *asJSON {
		// One server a line, so that a shell script (the menu plugin's
		// checklist) reads it without a JSON parser.
		fmt.Fprintln(c.stdout, "[")
		for i, r := range rs {
			b, _ := json.Marshal(r)
			sep := ","
			if i == len(rs)-1 {
				sep = ""
			}
			fmt.Fprintf(c.stdout, "%s%s\n", b, sep)
		}
		fmt.Fprintln(c.stdout, "]")
	} else {
		for _, r := range rs {
			fmt.Fprintln(c.stdout, r.Line())
		}
	}
	if maintenance.Failed(rs) {
		return exitFail
	}
	return exitOK
}

// openMXONE opens this host's platform as cld's config gives it; it must
// be MX-ONE.
func openMXONE(flagFile string) (*mxone.Platform, error) {
	cfg, err := config.LoadConfigFile(configFile(flagFile))
	if err != nil {
		return nil, err
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	p, err := openPlatform(cfg)
	if errors.Is(err, platforms.ErrNotDetected) {
		return nil, fmt.Errorf("this host is not an MX-ONE server (%v); cld mxone runs on a server of an MX-ONE system", err)
	}
	if err != nil {
		return nil, err
	}
	mp, ok := p.(*mxone.Platform)
	if !ok {
		return nil, fmt.Errorf("this host is %s, not MX-ONE; cld mxone runs on a server of an MX-ONE system", p.Name())
	}
	if _, ok := mp.LocalServer(); !ok {
		return nil, errors.New("the MX-ONE server list does not name this server (its host name is not in it); check /etc/hostname and /etc/opt/eri_sn/mxone_servers.conf")
	}
	return mp, nil
}

// readSecrets reads the root password and (needCloud) the CloudLink
// password: two lines of standard input, or asked on the terminal.
func (c *cli) readSecrets(fromStdin, needCloud bool, username string) (rootPW, cloudPW string, code int) {
	if fromStdin {
		r := bufio.NewReader(io.LimitReader(c.stdin, 8192))
		line := func() string {
			l, _ := r.ReadString('\n')
			return strings.TrimRight(l, "\r\n")
		}
		rootPW, cloudPW = line(), line()
		if needCloud && cloudPW == "" {
			fmt.Fprintln(c.stderr, "cld: --secrets-stdin: line 2 (the CloudLink password) is empty; pipe in the root password and the CloudLink password, one a line")
			return "", "", exitUsage
		}
		return rootPW, cloudPW, 0
	}
	f, ok := c.stdin.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		fmt.Fprintln(c.stderr, "cld: no terminal to ask for the passwords; pipe them in with --secrets-stdin (line 1 root, line 2 CloudLink)")
		return "", "", exitUsage
	}
	ask := func(prompt string) string {
		fmt.Fprint(c.stderr, prompt)
		b, _ := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(c.stderr)
		return string(b)
	}
	rootPW = ask("Root password of the MX-ONE servers (for SSH): ")
	if needCloud {
		if cloudPW = ask("CloudLink password for " + username + ": "); cloudPW == "" {
			fmt.Fprintln(c.stderr, "cld: the CloudLink password is empty; nothing was done")
			return "", "", exitFail
		}
	}
	return rootPW, cloudPW, 0
}

const mxoneLocalUsage = `Usage: cld mxone local <command> [flags]

This server only (cld mxone runs these on each server of the system):
  state [--json]     the package, the service (enabled, running) and the link
  enable --username U [--account N] --password-stdin [--json]
                     systemctl enable --now cld.service, wait for the daemon, link it
                     (already linked: left as it is)
  disable [--json]   unlink (the system is revoked at CloudLink), systemctl disable
                     --now cld.service, the state directory's contents removed

Each takes --socket PATH and --config FILE.
`

func (c *cli) mxoneLocal(args []string) int {
	return c.runGroup(group{name: "mxone local", usage: mxoneLocalUsage, subs: map[string]func([]string) int{
		"state":   func(a []string) int { return c.mxoneLocalCmd("state", a) },
		"enable":  func(a []string) int { return c.mxoneLocalCmd("enable", a) },
		"disable": func(a []string) int { return c.mxoneLocalCmd("disable", a) },
	}}, args)
}

func (c *cli) mxoneLocalCmd(cmd string, args []string) int {
	synopsis := "[--json] [--socket PATH] [--config FILE]"
	if cmd == "enable" {
		synopsis = "--username U [--account N] --password-stdin " + synopsis
	}
	fs := c.newFlags("mxone local "+cmd, synopsis)
	var sf socketFlags
	sf.add(fs)
	asJSON := fs.Bool("json", false, "print the result as JSON")
	var username string
	var account int64
	var pwStdin bool
	if cmd == "enable" {
		fs.StringVar(&username, "username", "", "the CloudLink user (e-mail) that links this server")
		fs.Int64Var(&account, "account", 0, "the CloudLink account number")
		fs.BoolVar(&pwStdin, "password-stdin", false, "read the CloudLink password from the first line of standard input")
	}
	if code, ok := c.parse(fs, args); !ok {
		return code
	}
	if cmd == "enable" && strings.TrimSpace(username) == "" {
		return c.usageErr(fs, "--username is required")
	}
	cfg, err := sf.loadConfig()
	if err != nil {
		return c.fail(err)
	}
	l := &maintenance.Local{Daemon: clientDaemon{client.NewUnix(cfg.Socket)}, StateDir: cfg.StateDir, Version: build.Info().Version}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var res maintenance.LocalResult
	switch cmd {
	case "state":
		st := l.State(ctx)
		if *asJSON {
			return c.printJSONLine(st)
		}
		fmt.Fprintln(c.stdout, st.Summary())
		return exitOK
	case "enable":
		password, code := c.readPassword(fs, pwStdin, "CloudLink password for "+username+": ")
		if code != 0 {
			return code
		}
		res, err = l.Enable(ctx, maintenance.Credentials{Username: strings.TrimSpace(username), Account: account, Password: password})
	case "disable":
		res, err = l.Disable(ctx)
	}
	if err != nil {
		return c.fail(err)
	}
	if *asJSON {
		return c.printJSONLine(res)
	}
	fmt.Fprintln(c.stdout, res.Message)
	return exitOK
}

func (c *cli) printJSONLine(v any) int {
	if err := json.NewEncoder(c.stdout).Encode(v); err != nil {
		return c.fail(err)
	}
	return exitOK
}

// clientDaemon is maintenance.Daemon through the daemon's local API.
type clientDaemon struct{ cl *client.Client }

func daemonStatus(st api.Status) maintenance.DaemonStatus {
	d := maintenance.DaemonStatus{Linked: st.Linked, SystemID: st.SystemID, PendingRevocation: st.PendingRevocation}
	if a := st.Account; a != nil {
		d.Account, d.AccountName = a.ID, a.Name
	}
	return d
}

// sentence is the API error's message for a person.
func sentence(err error) error {
	var ae *api.Error
	if errors.As(err, &ae) {
		return errors.New(ae.Message)
	}
	return err
}

func (d clientDaemon) Status(ctx context.Context) (maintenance.DaemonStatus, error) {
	st, err := d.cl.Status(ctx)
	return daemonStatus(st), sentence(err)
}

func (d clientDaemon) Link(ctx context.Context, cr maintenance.Credentials) (maintenance.DaemonStatus, error) {
	st, err := d.cl.Link(ctx, api.LinkRequest{Username: cr.Username, Password: cr.Password, Account: cr.Account})
	return daemonStatus(st), sentence(err)
}

func (d clientDaemon) Unlink(ctx context.Context) (maintenance.DaemonStatus, error) {
	st, err := d.cl.Unlink(ctx)
	return daemonStatus(st), sentence(err)
}
