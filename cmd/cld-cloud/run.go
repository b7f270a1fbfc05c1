package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"golang.org/x/crypto/bcrypt"
	"golang.org/x/sync/errgroup"
	"golang.org/x/term"

	"github.com/cloudlink/cld/cloud"
	"github.com/cloudlink/cld/cloud/store"
)

// Exit codes.
const (
	exitOK      = 0
	exitFailed  = 1
	exitUsage   = 2
	programName = "cld-cloud"
)

const usageText = `Usage: cld-cloud COMMAND [FLAGS]

The reference CloudLink platform.

Commands:
  serve          serve the cloud over HTTPS
  account add    add an account
  account list   list the accounts
  user add       add a user, or add an existing user to another account
  user list      list the users and their accounts
  clock offset   set the cloud's clock off from this host's (to demonstrate clock drift)
  clock show     show the cloud's clock offset
  report list    list a system's stored inventory reports
  report show    print a system's inventory report (the latest, or --id) as JSON
  directory      show an account's synced user and device directory (--json: all of it)
  release keygen   make the release signing key pair
  release publish  sign and publish a cld binary on a stage
  release list     list the published releases
  release withdraw stop offering a release
  system stage     put a system on a release stage (production, beta, development)

Run "cld-cloud COMMAND -h" for a command's flags.
`

// env is what a command runs with.
type env struct {
	ctx    context.Context
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	// isTerminal reports whether stdin is a terminal to prompt on.
	isTerminal func() bool
	// readPassword reads a password from the terminal without echo.
	readPassword func() (string, error)
}

// errUsage marks a usage error (exit 2); the message was printed already.
var errUsage = errors.New("usage error")

func run(args []string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	fd := int(os.Stdin.Fd())
	return runEnv(env{
		ctx: ctx, stdin: os.Stdin, stdout: stdout, stderr: stderr,
		isTerminal: func() bool { return term.IsTerminal(fd) },
		readPassword: func() (string, error) {
			b, err := term.ReadPassword(fd)
			return string(b), err
		},
	}, args)
}

func runEnv(e env, args []string) int {
	if len(args) == 0 {
		fmt.Fprint(e.stderr, usageText)
		return exitUsage
	}
	var err error
	switch cmd := args[0]; cmd {
	case "-h", "-help", "--help", "help":
		fmt.Fprint(e.stdout, usageText)
		return exitOK
	case "serve":
		err = cmdServe(e, args[1:])
	case "clock":
		switch {
		case len(args) < 2:
			fmt.Fprintf(e.stderr, "%s: \"clock\" needs a subcommand: offset or show\n\n%s", programName, usageText)
			return exitUsage
		case args[1] == "offset":
			err = cmdClockOffset(e, args[2:])
		case args[1] == "show":
			err = cmdClockShow(e, args[2:])
		default:
			fmt.Fprintf(e.stderr, "%s: unknown command %q; use offset or show\n\n%s", programName, "clock "+args[1], usageText)
			return exitUsage
		}
	case "report":
		switch {
		case len(args) < 2:
			fmt.Fprintf(e.stderr, "%s: \"report\" needs a subcommand: list or show\n\n%s", programName, usageText)
			return exitUsage
		case args[1] == "list":
			err = cmdReportList(e, args[2:])
		case args[1] == "show":
			err = cmdReportShow(e, args[2:])
		default:
			fmt.Fprintf(e.stderr, "%s: unknown command %q; use list or show\n\n%s", programName, "report "+args[1], usageText)
			return exitUsage
		}
	case "directory":
		err = cmdDirectory(e, args[1:])
	case "release":
		err = cmdRelease(e, args[1:])
	case "system":
		if len(args) < 2 || args[1] != "stage" {
			fmt.Fprintf(e.stderr, "%s: \"system\" needs the subcommand stage\n\n%s", programName, usageText)
			return exitUsage
		}
		err = cmdSystemStage(e, args[2:])
	case "account", "user":
		if len(args) < 2 {
			fmt.Fprintf(e.stderr, "%s: %q needs a subcommand: add or list\n\n%s", programName, cmd, usageText)
			return exitUsage
		}
		switch cmd + " " + args[1] {
		case "account add":
			err = cmdAccountAdd(e, args[2:])
		case "account list":
			err = cmdAccountList(e, args[2:])
		case "user add":
			err = cmdUserAdd(e, args[2:])
		case "user list":
			err = cmdUserList(e, args[2:])
		default:
			fmt.Fprintf(e.stderr, "%s: unknown command %q; use add or list\n\n%s", programName, cmd+" "+args[1], usageText)
			return exitUsage
		}
	default:
		fmt.Fprintf(e.stderr, "%s: unknown command %q\n\n%s", programName, cmd, usageText)
		return exitUsage
	}
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, flag.ErrHelp):
		return exitOK
	case errors.Is(err, errUsage):
		return exitUsage
	default:
		fmt.Fprintf(e.stderr, "%s: %v\n", programName, err)
		return exitFailed
	}
}

// newFlags returns a flag set that prints errors and usage to stderr.
func newFlags(e env, name, synopsis string) *flag.FlagSet {
	fs := flag.NewFlagSet(programName+" "+name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: %s %s %s\n\nFlags:\n", programName, name, synopsis)
		fs.PrintDefaults()
	}
	return fs
}

// parseFlags parses and turns flag errors into errUsage.
func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return errUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(fs.Output(), "unexpected argument %q\n", fs.Arg(0))
		fs.Usage()
		return errUsage
	}
	return nil
}

func usagef(fs *flag.FlagSet, format string, args ...any) error {
	fmt.Fprintf(fs.Output(), format+"\n", args...)
	fs.Usage()
	return errUsage
}

// stringList is a repeatable string flag.
type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ",") }
func (l *stringList) Set(v string) error { *l = append(*l, v); return nil }

func cmdServe(e env, args []string) error {
	fs := newFlags(e, "serve", "--data DIR [--listen HOST:PORT] [--edge-listen HOST:PORT] [--edge-domain DOMAIN] [--demo] [--hostname NAME]... [--token-ttl 1h] [--clock-offset DURATION] [--password-cost N]")
	cfg := cloud.DefaultConfig()
	fs.StringVar(&cfg.DataDir, "data", "", "data directory (database, CA and certificates); created if missing")
	fs.StringVar(&cfg.Listen, "listen", cloud.DefaultListen, "address to serve HTTPS on (HOST:PORT; port 0 picks a free one)")
	fs.StringVar(&cfg.EdgeListen, "edge-listen", cloud.DefaultEdgeListen, "address of the tunnel edge's public HTTPS listener (HOST:PORT; \"off\" for none)")
	fs.StringVar(&cfg.EdgeDomain, "edge-domain", cloud.DefaultEdgeDomain, "DNS domain of public tunnel addresses https://<uuid>.<region>.DOMAIN (names under .localhost reach this machine without DNS)")
	fs.StringVar(&cfg.PublicURL, "public-url", "", "the cloud's base URL as browsers reach it, for the tunnel edge's sign-in redirects (default: https://<listen address>)")
	demo := fs.Bool("demo", false, "add the demo accounts and users (idempotent)")
	var hosts stringList
	fs.Var(&hosts, "hostname", "extra host name or IP address for the server certificate (repeatable)")
	fs.DurationVar(&cfg.AccessTokenTTL, "token-ttl", cloud.DefaultAccessTokenTTL, "access token lifetime")
	fs.Var((*clockOffsetFlag)(&cfg.ClockOffset), "clock-offset", "run the cloud's clock `DURATION` ahead of the host's (negative: behind), such as 44s or -50s, to demonstrate clock drift; \"cld-cloud clock offset\" changes it while serving")
	fs.IntVar(&cfg.BcryptCost, "password-cost", cfg.BcryptCost, "bcrypt cost of the password hashes the server makes, the demo users' too (4 to 31; each step doubles the work of a check: lower it only for tests)")
	logLevel := fs.String("log-level", "info", "log level: debug, info, warn or error")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if cfg.DataDir == "" {
		return usagef(fs, "--data is required")
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return usagef(fs, "--log-level %q: use debug, info, warn or error", *logLevel)
	}
	if cfg.EdgeListen == "off" {
		cfg.EdgeListen = ""
	}
	cfg.Hostnames = hosts
	if host, _, err := net.SplitHostPort(cfg.Listen); err == nil && host != "" {
		if ip := net.ParseIP(host); ip == nil || !ip.IsUnspecified() {
			cfg.Hostnames = append(cfg.Hostnames, host)
		}
	}
	cfg.Logger = slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: level}))
	if err := cfg.Validate(); err != nil {
		return usagef(fs, "%v", err)
	}

	srv, err := cloud.New(e.ctx, cfg)
	if err != nil {
		return err
	}
	defer srv.Close()
	if *demo {
		if err := srv.SeedDemo(e.ctx); err != nil {
			return fmt.Errorf("seed demo data: %w", err)
		}
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w; choose another --listen address or stop what uses it", cfg.Listen, err)
	}
	var edgeLn net.Listener
	if cfg.EdgeListen != "" {
		if edgeLn, err = net.Listen("tcp", cfg.EdgeListen); err != nil {
			ln.Close()
			return fmt.Errorf("listen on %s for the tunnel edge: %w; choose another --edge-listen address or stop what uses it", cfg.EdgeListen, err)
		}
	}
	fmt.Fprintf(e.stdout, "CloudLink reference cloud listening on %s\n", listenURL(ln.Addr()))
	fmt.Fprintf(e.stdout, "CA certificate (give it to daemons to trust): %s\n", srv.CAFile())
	if edgeLn != nil {
		_, port, _ := net.SplitHostPort(edgeLn.Addr().String())
		suffix := ":" + port
		if port == "443" {
			suffix = ""
		}
		fmt.Fprintf(e.stdout, "Tunnel edge: public tunnel URLs https://<uuid>.<region>.%s%s/ (listener %s)\n", cfg.EdgeDomain, suffix, edgeLn.Addr())
		fmt.Fprintf(e.stdout, "Tunnel edge certificate key SPKI (sha256, base64): %s\n", srv.EdgeSPKIHash())
	} else {
		fmt.Fprintln(e.stdout, "Tunnel edge: no public listener (--edge-listen off)")
	}
	if cfg.ClockOffset != 0 {
		fmt.Fprintf(e.stdout, "The cloud's clock %s (--clock-offset)\n", cloud.DescribeClockOffset(cfg.ClockOffset))
	}
	if *demo {
		fmt.Fprintf(e.stdout, "Demo accounts: %d (%s), %d (%s)\n", cloud.DemoAccountID, cloud.DemoAccountName, cloud.DemoSecondAccountID, cloud.DemoSecondAccountName)
		fmt.Fprintf(e.stdout, "Demo users (password %q): %s (administrator of both accounts), %s (user of %d)\n",
			cloud.DemoPassword, cloud.DemoAdminEmail, cloud.DemoUserEmail, cloud.DemoAccountID)
	}
	if err := serveAll(e.ctx, srv, ln, edgeLn); err != nil {
		return err
	}
	fmt.Fprintln(e.stdout, "Stopped.")
	return nil
}

// serveAll serves the cloud on ln and the tunnel edge on edgeLn (if not
// nil) until ctx ends or one of them fails.
func serveAll(ctx context.Context, srv *cloud.Server, ln, edgeLn net.Listener) error {
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { return srv.Serve(ctx, ln) })
	if edgeLn != nil {
		g.Go(func() error {
			if err := srv.ServeEdge(ctx, edgeLn); err != nil {
				return fmt.Errorf("tunnel edge: %w", err)
			}
			return nil
		})
	}
	return g.Wait()
}

// listenURL is the URL to print for the bound address.
func listenURL(a net.Addr) string {
	host, port, err := net.SplitHostPort(a.String())
	if err != nil {
		return "https://" + a.String()
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		host = "localhost"
	}
	return "https://" + net.JoinHostPort(host, port)
}

func openStore(e env, dir string) (*store.Store, error) {
	st, err := store.Open(e.ctx, dir)
	if err != nil {
		return nil, fmt.Errorf("%w (is --data %s the cloud's data directory?)", err, dir)
	}
	return st, nil
}

func cmdAccountAdd(e env, args []string) error {
	fs := newFlags(e, "account add", "--data DIR --id N --name NAME --region R [--partner-id P]")
	dir := fs.String("data", "", "data directory of the cloud")
	var a store.Account
	fs.Int64Var(&a.ID, "id", 0, "account number, such as 100001")
	fs.StringVar(&a.Name, "name", "", "account name")
	fs.StringVar(&a.Region, "region", "", "region code, such as eu or us")
	fs.StringVar(&a.PartnerID, "partner-id", "", "partner id (optional)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	switch {
	case *dir == "":
		return usagef(fs, "--data is required")
	case a.ID == 0:
		return usagef(fs, "--id is required")
	case a.Name == "":
		return usagef(fs, "--name is required")
	case a.Region == "":
		return usagef(fs, "--region is required")
	}
	a.Name = strings.TrimSpace(a.Name)
	if err := cloud.ValidateAccount(a); err != nil {
		return usagef(fs, "%v", err)
	}
	st, err := openStore(e, *dir)
	if err != nil {
		return err
	}
	defer st.Close()
	got, err := st.CreateAccount(e.ctx, a, time.Now())
	if errors.Is(err, store.ErrExists) {
		old, _ := st.Account(e.ctx, a.ID)
		return fmt.Errorf("account %d already exists (%s); choose another --id", a.ID, old.Name)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "Added account %d (%s), region %s, UUID %s.\n", got.ID, got.Name, got.Region, got.UUID)
	return nil
}

func cmdAccountList(e env, args []string) error {
	fs := newFlags(e, "account list", "--data DIR")
	dir := fs.String("data", "", "data directory of the cloud")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *dir == "" {
		return usagef(fs, "--data is required")
	}
	st, err := openStore(e, *dir)
	if err != nil {
		return err
	}
	defer st.Close()
	accounts, err := st.Accounts(e.ctx)
	if err != nil {
		return err
	}
	if len(accounts) == 0 {
		fmt.Fprintln(e.stdout, "No accounts yet. Add one with: cld-cloud account add --data DIR --id N --name NAME --region R")
		return nil
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tREGION\tPARTNER\tUUID")
	for _, a := range accounts {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\n", a.ID, a.Name, a.Region, dash(a.PartnerID), a.UUID)
	}
	return tw.Flush()
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func cmdUserAdd(e env, args []string) error {
	fs := newFlags(e, "user add", "--data DIR --email E --account N [--admin] [--password-stdin]")
	dir := fs.String("data", "", "data directory of the cloud")
	email := fs.String("email", "", "the user's e-mail address (sign-in name)")
	account := fs.String("account", "", "account number to add the user to")
	admin := fs.Bool("admin", false, "make the user ACCOUNT_ADMIN of the account (else USER)")
	pwStdin := fs.Bool("password-stdin", false, "read the password from the first line of stdin instead of prompting")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	switch {
	case *dir == "":
		return usagef(fs, "--data is required")
	case *email == "":
		return usagef(fs, "--email is required")
	case *account == "":
		return usagef(fs, "--account is required")
	}
	accountID, err := strconv.ParseInt(*account, 10, 64)
	if err != nil || accountID <= 0 {
		return usagef(fs, "--account must be an account number such as 100001, not %q", *account)
	}
	addr, err := cloud.NormalizeEmailAddress(*email)
	if err != nil {
		return usagef(fs, "--email: %v", err)
	}
	st, err := openStore(e, *dir)
	if err != nil {
		return err
	}
	defer st.Close()
	acct, err := st.Account(e.ctx, accountID)
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("there is no account %d; add it first with: cld-cloud account add --data %s --id %d --name NAME --region R", accountID, *dir, accountID)
	}
	if err != nil {
		return err
	}
	_, uerr := st.UserByEmail(e.ctx, addr)
	exists := uerr == nil
	if uerr != nil && !errors.Is(uerr, store.ErrNotFound) {
		return uerr
	}

	var password string
	switch {
	case *pwStdin:
		line, err := bufio.NewReader(io.LimitReader(e.stdin, 4096)).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return fmt.Errorf("read the password from stdin: %w", err)
		}
		password = strings.TrimRight(line, "\r\n")
		if password == "" && !exists {
			return fmt.Errorf("no password on stdin; %s is a new user and needs one", addr)
		}
	case e.isTerminal():
		prompt := fmt.Sprintf("Password for %s: ", addr)
		if exists {
			prompt = fmt.Sprintf("New password for %s (leave empty to keep the current one): ", addr)
		}
		password, err = promptPassword(e, prompt, !exists)
		if err != nil {
			return err
		}
	case !exists:
		return fmt.Errorf("%s is a new user and needs a password, but stdin is not a terminal to ask on; pipe it with --password-stdin", addr)
	}
	if password != "" {
		if err := cloud.ValidatePassword(password); err != nil {
			return fmt.Errorf("%w; choose a longer one", err)
		}
	}
	res, err := cloud.AddUser(e.ctx, st, addr, password, accountID, *admin, bcrypt.DefaultCost, time.Now())
	if err != nil {
		return err
	}
	role := store.RoleUser
	if *admin {
		role = store.RoleAccountAdmin
	}
	switch {
	case res.Created:
		fmt.Fprintf(e.stdout, "Added user %s to account %d (%s) as %s.\n", addr, acct.ID, acct.Name, role)
	case res.PasswordChanged:
		fmt.Fprintf(e.stdout, "User %s is now %s of account %d (%s); the password was changed.\n", addr, role, acct.ID, acct.Name)
	default:
		fmt.Fprintf(e.stdout, "User %s is now %s of account %d (%s); the password is unchanged.\n", addr, role, acct.ID, acct.Name)
	}
	return nil
}

// promptPassword asks on the terminal without echo; a new password is
// asked twice.
func promptPassword(e env, prompt string, confirm bool) (string, error) {
	fmt.Fprint(e.stderr, prompt)
	pw, err := e.readPassword()
	fmt.Fprintln(e.stderr)
	if err != nil {
		return "", fmt.Errorf("read the password: %w", err)
	}
	if pw == "" || !confirm {
		return pw, nil
	}
	fmt.Fprint(e.stderr, "Repeat the password: ")
	again, err := e.readPassword()
	fmt.Fprintln(e.stderr)
	if err != nil {
		return "", fmt.Errorf("read the password: %w", err)
	}
	if again != pw {
		return "", errors.New("the two passwords differ; run the command again")
	}
	return pw, nil
}

func cmdUserList(e env, args []string) error {
	fs := newFlags(e, "user list", "--data DIR")
	dir := fs.String("data", "", "data directory of the cloud")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *dir == "" {
		return usagef(fs, "--data is required")
	}
	st, err := openStore(e, *dir)
	if err != nil {
		return err
	}
	defer st.Close()
	ms, err := st.AllMemberships(e.ctx)
	if err != nil {
		return err
	}
	if len(ms) == 0 {
		fmt.Fprintln(e.stdout, "No users yet. Add one with: cld-cloud user add --data DIR --email E --account N [--admin]")
		return nil
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "EMAIL\tACCOUNT\tACCOUNT NAME\tROLE\tUSER ID")
	for _, m := range ms {
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\n", m.Email, m.Account.ID, m.Account.Name, m.Role, m.UserID)
	}
	return tw.Flush()
}
