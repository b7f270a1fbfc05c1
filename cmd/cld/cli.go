package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
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
)

// Exit codes.
const (
	exitOK    = 0
	exitFail  = 1
	exitUsage = 2
)

const usageText = `Usage: cld <command> [flags]

Commands:
  run             run the daemon (usually started by systemd)
  status          show the link state (--json for the API's JSON)
  link            link this host to a CloudLink account
  unlink          disconnect this host from CloudLink
  tunnel          list, start and stop the host's tunnels (cld tunnel help)
  inventory       inventory reports: status, preview [--json], submit (cld inventory help)
  update          self-update: status, check, now, pause, resume, schedule (cld update help)
  gateway         the co-located CloudLink Gateway: status, start, stop, restart
  mxone           MX-ONE: install, enable, disable, uninstall cld on the system's servers (cld mxone help)
  pm              MX-ONE Provisioning Manager's API: status, credential (cld pm help)
  doctor          check the prerequisites (DNS, cloud, TLS, clock, proxy, state); exit 1 on a failure
  dashboard-user  create a dashboard account or change its password
  support-bundle  write a tar.gz for support (status, doctor, log, config; secrets redacted)
  version         show the version of this cld

Global flags (before or after the command): --socket PATH, --config FILE
(default: the file $CLD_CONFIG names, else /etc/cld/cld.yaml).
Run 'cld help <command>' (or 'cld <command> -h') for the flags of a command.
`

// cli carries the streams of one invocation.
type cli struct {
	stdin          io.Reader
	stdout, stderr io.Writer
}

// run is the whole CLI; it returns the process exit code.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	c := &cli{stdin: stdin, stdout: stdout, stderr: stderr}
	args = globalsAfterCommand(args)
	if len(args) == 0 {
		fmt.Fprint(stderr, usageText)
		return exitUsage
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "run":
		return c.cmdRun(rest)
	case "status":
		return c.cmdStatus(rest)
	case "link":
		return c.cmdLink(rest)
	case "unlink":
		return c.cmdUnlink(rest)
	case "tunnel", "tunnels":
		return c.cmdTunnel(rest)
	case "inventory":
		return c.cmdInventory(rest)
	case "update":
		return c.cmdUpdate(rest)
	case "gateway":
		return c.cmdGateway(rest)
	case "mxone":
		return c.cmdMXONE(rest)
	case "pm":
		return c.cmdPM(rest)
	case "dashboard-user":
		return c.cmdDashboardUser(rest)
	case "doctor":
		return c.cmdDoctor(rest)
	case "support-bundle":
		return c.cmdSupportBundle(rest)
	case "version", "--version":
		return c.cmdVersion(rest)
	case "help", "-h", "-help", "--help":
		if cmd == "help" && len(rest) > 0 && rest[0] != "help" {
			// The command's own usage, on stdout.
			return run([]string{rest[0], "-h"}, stdin, stdout, stdout)
		}
		fmt.Fprint(stdout, usageText)
		return exitOK
	}
	fmt.Fprintf(stderr, "cld: unknown command %q\n\n%s", cmd, usageText)
	return exitUsage
}

// globalsAfterCommand moves the global flags given before the command
// (`cld --socket S status`) behind it, where every command parses them.
func globalsAfterCommand(args []string) []string {
	var globals []string
	for len(args) > 0 {
		name, _, hasValue := strings.Cut(strings.TrimLeft(args[0], "-"), "=")
		if !strings.HasPrefix(args[0], "-") || (name != "socket" && name != "config") {
			break
		}
		n := 1
		if !hasValue && len(args) > 1 {
			n = 2
		}
		globals = append(globals, args[:n]...)
		args = args[n:]
	}
	if len(globals) == 0 || len(args) == 0 {
		return append(globals, args...)
	}
	out := append([]string{args[0]}, args[1:]...)
	return append(out, globals...)
}

// newFlags makes a flag set whose errors and -h print the command's usage.
func (c *cli) newFlags(name, synopsis string) *flag.FlagSet {
	fs := flag.NewFlagSet("cld "+name, flag.ContinueOnError)
	fs.SetOutput(c.stderr)
	fs.Usage = func() {
		fmt.Fprintf(c.stderr, "Usage: cld %s %s\n\nFlags:\n", name, synopsis)
		fs.PrintDefaults()
	}
	return fs
}

// parse parses args; the int is the exit code when parsing ended the command.
func (c *cli) parse(fs *flag.FlagSet, args []string) (int, bool) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK, false
		}
		return exitUsage, false
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(c.stderr, "cld: unexpected argument %q\n", fs.Arg(0))
		fs.Usage()
		return exitUsage, false
	}
	return 0, true
}

func (c *cli) usageErr(fs *flag.FlagSet, format string, args ...any) int {
	fmt.Fprintf(c.stderr, "cld: "+format+"\n", args...)
	fs.Usage()
	return exitUsage
}

// fail prints why an operation failed; api errors carry the sentence to show.
func (c *cli) fail(err error) int {
	var ae *api.Error
	switch {
	case errors.As(err, &ae):
		fmt.Fprintf(c.stderr, "cld: %s\n", ae.Message)
	case errors.Is(err, client.ErrDaemonDown) && strings.Contains(err.Error(), "permission denied"):
		fmt.Fprintf(c.stderr, "cld: %v\ncld: only root and the cld service user may use the daemon's socket; run the command with sudo.\n", err)
	default:
		fmt.Fprintf(c.stderr, "cld: %v\n", err)
	}
	return exitFail
}

// socketFlags adds --socket and --config to a client command.
type socketFlags struct {
	socket, config string
}

func (s *socketFlags) add(fs *flag.FlagSet) {
	fs.StringVar(&s.socket, "socket", "", "the daemon's unix socket (default: socket: from the config file, else /run/cld/cld.sock)")
	fs.StringVar(&s.config, "config", "", "config file to read the socket path from (default $"+envConfig+", else "+config.DefaultConfigFile+" if it exists)")
}

// envConfig names the config file when --config is not given, for every
// command (`cld run` too); it must then exist.
const envConfig = "CLD_CONFIG"

// configFile is the config file to read: --config, else $CLD_CONFIG, else
// the default; explicit (it must exist) unless it is the default.
func configFile(flagValue string) (path string, explicit bool) {
	if flagValue != "" {
		return flagValue, true
	}
	if env := os.Getenv(envConfig); env != "" {
		return env, true
	}
	return config.DefaultConfigFile, false
}

// client resolves the socket: --socket, else the config file's, else default.
func (s *socketFlags) client() (*client.Client, error) {
	if s.socket != "" {
		return client.NewUnix(s.socket), nil
	}
	cfg, err := config.LoadConfigFile(configFile(s.config))
	if err != nil {
		return nil, err
	}
	return client.NewUnix(cfg.Socket), nil
}

func (c *cli) cmdStatus(args []string) int {
	return show(c, "status", "print the status as JSON (api.Status)", args, (*client.Client).Status, printStatus)
}

// show is a read-only command: [--json] [--socket PATH] [--config FILE],
// one call to the daemon, printed as JSON or for a person.
func show[T any](c *cli, name, jsonUsage string, args []string, get func(*client.Client, context.Context) (T, error), print func(io.Writer, T)) int {
	fs := c.newFlags(name, "[--json] [--socket PATH] [--config FILE]")
	var sf socketFlags
	sf.add(fs)
	asJSON := fs.Bool("json", false, jsonUsage)
	if code, ok := c.parse(fs, args); !ok {
		return code
	}
	cl, err := sf.client()
	if err != nil {
		return c.fail(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	v, err := get(cl, ctx)
	if err != nil {
		return c.fail(err)
	}
	if *asJSON {
		return c.printJSON(v)
	}
	print(c.stdout, v)
	return exitOK
}

// printStatus renders the status for a person.
func printStatus(w io.Writer, st api.Status) {
	row := func(k, v string) { fmt.Fprintf(w, "%-18s %s\n", k+":", v) }
	state := st.State
	switch st.State {
	case api.StateLinkError:
		state = "link error"
	}
	row("State", state)
	if st.Reason != "" && st.State != api.StateLinked {
		row("Reason", st.Reason)
	}
	if a := st.Account; a != nil {
		row("Account", fmt.Sprintf("%s (ID %d, region %s)", a.Name, a.ID, a.Region))
	}
	if st.SystemID != "" {
		row("System ID", st.SystemID)
	}
	if st.Cloud != "" {
		row("Cloud", st.Cloud)
	}
	if st.LinkedAt != nil {
		row("Linked at", st.LinkedAt.Local().Format("Mon, 02 Jan 2006 15:04:05 MST -0700"))
	}
	v := st.Version
	if st.Build.Build != "" {
		v += " (build " + st.Build.Build + ")"
	}
	row("Version", v)
	if p := st.Platform; p != nil {
		if p.Problem != "" {
			row("Platform", "none: "+p.Problem)
		} else {
			row("Platform", strings.TrimSpace(p.Name+" "+p.Version)+" ("+p.Type+")")
		}
	}
	if st.PendingRevocation {
		row("Pending revocation", "yes (retried in the background)")
	}
	printClock(row, st.Clock)
	if st.Linked || st.Inventory.Last != nil {
		printInventory(row, st.Inventory, false)
	}
	if u := st.Update; u != nil && st.Linked {
		printUpdate(row, *u, false)
	}
	if g := st.Gateway; g != nil {
		printGateway(row, *g)
	}
	if p := st.Provisioning; p != nil {
		printPM(row, *p)
	}
	if len(st.Tunnels) > 0 {
		fmt.Fprintln(w, "Tunnels:")
		for _, t := range st.Tunnels {
			line := fmt.Sprintf("  %-24s %-9s %s / %s", t.ID, t.Status, oneLine(t.Component), oneLine(t.Name))
			if t.Reason != "" {
				line += " — " + oneLine(t.Reason)
			}
			fmt.Fprintln(w, line)
		}
	}
	if len(st.Warnings) > 0 {
		fmt.Fprintln(w, "Warnings:")
		for _, wn := range st.Warnings {
			fmt.Fprintf(w, "  [%s] %s\n", wn.Severity, wn.Text)
			if wn.Remedy != "" {
				fmt.Fprintf(w, "      Remedy: %s\n", wn.Remedy)
			}
		}
	}
	if st.State == api.StateUnlinked || st.State == api.StateLinkError {
		fmt.Fprintln(w, "\nLink this host with: cld link --username EMAIL")
	}
}

func (c *cli) cmdLink(args []string) int {
	fs := c.newFlags("link", "--username EMAIL [--password-stdin] [--account N] [--cloud URL] [--socket PATH] [--config FILE]")
	var sf socketFlags
	sf.add(fs)
	username := fs.String("username", "", "the CloudLink user (e-mail) that signs in; must be an administrator of the account")
	pwStdin := fs.Bool("password-stdin", false, "read the password from the first line of standard input")
	account := fs.Int64("account", 0, "the CloudLink account number (needed when the e-mail belongs to several accounts)")
	cloud := fs.String("cloud", "", "the CloudLink URL (https://…); default: cloud: from the daemon's config")
	if code, ok := c.parse(fs, args); !ok {
		return code
	}
	if strings.TrimSpace(*username) == "" {
		return c.usageErr(fs, "--username is required (the e-mail address you sign in to CloudLink with)")
	}
	if *account < 0 {
		return c.usageErr(fs, "--account must be a positive account number")
	}
	if *cloud != "" {
		if _, err := config.NormalizeCloudURL(*cloud); err != nil {
			return c.usageErr(fs, "--cloud: %v", err)
		}
	}
	password, code := c.readPassword(fs, *pwStdin, "CloudLink password for "+*username+": ")
	if code != 0 {
		return code
	}
	cl, err := sf.client()
	if err != nil {
		return c.fail(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	st, err := cl.Link(ctx, api.LinkRequest{Username: *username, Password: password, Account: *account, Cloud: *cloud})
	if err != nil {
		return c.fail(err)
	}
	if a := st.Account; a != nil {
		fmt.Fprintf(c.stdout, "Linked to %s (account %d, region %s) as system %s.\n", a.Name, a.ID, a.Region, st.SystemID)
	} else {
		fmt.Fprintf(c.stdout, "Linked as system %s.\n", st.SystemID)
	}
	return exitOK
}

// readPassword reads the password from stdin (--password-stdin) or asks for
// it without echo on a terminal. A non-zero int is the exit code.
func (c *cli) readPassword(fs *flag.FlagSet, fromStdin bool, prompt string) (string, int) {
	if fromStdin {
		r := bufio.NewReader(io.LimitReader(c.stdin, 4096))
		line, err := r.ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			fmt.Fprintf(c.stderr, "cld: reading the password from standard input: %v\n", err)
			return "", exitFail
		}
		pw := strings.TrimRight(line, "\r\n")
		if pw == "" {
			return "", c.usageErr(fs, "--password-stdin: standard input held no password; pipe it in, e.g. printf '%%s\\n' \"$PASSWORD\" | cld …")
		}
		return pw, 0
	}
	f, ok := c.stdin.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return "", c.usageErr(fs, "no terminal to ask for the password; pipe it in with --password-stdin")
	}
	fmt.Fprint(c.stderr, prompt)
	b, err := term.ReadPassword(int(f.Fd()))
	fmt.Fprintln(c.stderr)
	if err != nil {
		fmt.Fprintf(c.stderr, "cld: reading the password: %v\n", err)
		return "", exitFail
	}
	if len(b) == 0 {
		fmt.Fprintln(c.stderr, "cld: the password is empty; nothing was changed")
		return "", exitFail
	}
	return string(b), 0
}

func (c *cli) cmdUnlink(args []string) int {
	fs := c.newFlags("unlink", "[--socket PATH] [--config FILE]")
	var sf socketFlags
	sf.add(fs)
	if code, ok := c.parse(fs, args); !ok {
		return code
	}
	cl, err := sf.client()
	if err != nil {
		return c.fail(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	st, err := cl.Unlink(ctx)
	if err != nil {
		return c.fail(err)
	}
	fmt.Fprintln(c.stdout, "Unlinked this host from CloudLink.")
	if st.PendingRevocation {
		fmt.Fprintln(c.stdout, "CloudLink could not be reached to confirm it; cld keeps retrying in the background (see `cld status`).")
	}
	return exitOK
}

func (c *cli) cmdDashboardUser(args []string) int {
	fs := c.newFlags("dashboard-user", "--username NAME [--password-stdin] [--socket PATH] [--config FILE]")
	var sf socketFlags
	sf.add(fs)
	username := fs.String("username", "", "the dashboard account to create or change")
	pwStdin := fs.Bool("password-stdin", false, "read the new password from the first line of standard input")
	if code, ok := c.parse(fs, args); !ok {
		return code
	}
	if *username == "" {
		return c.usageErr(fs, "--username is required")
	}
	password, code := c.readPassword(fs, *pwStdin, "New dashboard password for "+*username+": ")
	if code != 0 {
		return code
	}
	cl, err := sf.client()
	if err != nil {
		return c.fail(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := cl.SetDashboardUser(ctx, api.DashboardUser{Username: *username, Password: password}); err != nil {
		return c.fail(err)
	}
	fmt.Fprintf(c.stdout, "Dashboard account %q saved.\n", *username)
	return exitOK
}

func (c *cli) cmdVersion(args []string) int {
	fs := c.newFlags("version", "[--json] [--socket PATH] [--config FILE]")
	var sf socketFlags
	sf.add(fs)
	asJSON := fs.Bool("json", false, "print this binary's build facts as JSON")
	if code, ok := c.parse(fs, args); !ok {
		return code
	}
	b := build.Info()
	if *asJSON {
		return c.printJSON(b)
	}
	fmt.Fprintf(c.stdout, "cld %s\n", b.Version)
	for _, kv := range [][2]string{{"build", b.Build}, {"commit", b.Commit}, {"branch", b.Branch}, {"stage", b.Stage}} {
		if kv[1] != "" {
			fmt.Fprintf(c.stdout, "  %-7s %s\n", kv[0]+":", kv[1])
		}
	}
	// The running daemon's, when it answers and differs: a self-update
	// runs a newer binary than the package's, which this command is.
	if cl, err := sf.client(); err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if rb, err := cl.Version(ctx); err == nil && rb.Version != b.Version {
			fmt.Fprintf(c.stdout, "  daemon:  %s (running, self-updated)\n", rb.Version)
		}
	}
	return exitOK
}

// printJSON writes v to stdout as indented JSON (the --json output of the
// commands).
func (c *cli) printJSON(v any) int {
	enc := json.NewEncoder(c.stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return c.fail(err)
	}
	return exitOK
}
