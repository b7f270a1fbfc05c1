package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/cloudlink/cld/platforms/simhost"
)

// run parses the flags and serves until a signal (or ctx for tests).
func run(args []string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if len(args) > 0 && args[0] == simhost.GatewayCoreCommand {
		return gatewayCore(ctx, args[1:], stdout, stderr)
	}
	return serve(ctx, args, stdout, stderr)
}

const usage = `Usage: cld-simhost [--platform NAME --root DIR] [--dir DIR] [--username U] [--password P]
       cld-simhost [--listen-server-manager HOST:PORT] [--listen-mbg HOST:PORT] [--dir DIR] …
       cld-simhost gateway-core [--config FILE]
Serves a simulated telephony host's management web UIs over HTTPS with a self-signed certificate.
With --platform, writes that host's file tree under --root (as its cld adapter reads it) and the
part of cld's config that points the daemon at it (DIR/cld-platform.yaml).`

func serve(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("cld-simhost", flag.ContinueOnError)
	fs.SetOutput(stderr)
	platform := fs.String("platform", "", "simulate the host `NAME`: "+simhost.PlatformList()+" (empty: the two UIs of the --listen flags only, no tree)")
	root := fs.String("root", "", "`DIR` to write the host's file tree to (with --platform; new, empty or written by cld-simhost before)")
	gwPort := fs.Int("gateway-port", 0, "REST `PORT` of the tree's CloudLink Gateway core (msl, smbc; 0: a free one)")
	sm := fs.String("listen-server-manager", simhost.DefaultServerManagerAddr, "`HOST:PORT` of the simulated MSL Server Manager (no --platform, or generic; empty: leave it out)")
	mbg := fs.String("listen-mbg", simhost.DefaultBorderGatewayAddr, "`HOST:PORT` of the simulated MiVoice Border Gateway administration UI (no --platform, or generic; empty: leave it out)")
	dir := fs.String("dir", "", "`DIR` to write the self-signed certificate to (cert.pem), and with --platform addresses.yaml and cld-platform.yaml (default: --root)")
	user := fs.String("username", simhost.DefaultUsername, "demo user `name` of every UI")
	pass := fs.String("password", simhost.DefaultPassword, "demo `password` of every UI")
	cld := fs.String("cld", "", "the daemon's dashboard `URL` (http://127.0.0.1:PORT) the host's web server serves under its cld path (mxone: https://SNM/cld, the dashboard and the PM API)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, usage)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	usageErr := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "cld-simhost: "+format+"\n", a...)
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "cld-simhost: unexpected argument %q\n", fs.Arg(0))
		fs.Usage()
		return 2
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })

	cfg := simhost.Config{Dir: *dir, Username: *user, Password: *pass, CLD: *cld,
		Logger: slog.New(slog.NewTextHandler(stderr, nil)).With("component", "simhost")}
	var p simhost.Platform
	if *platform != "" {
		var ok bool
		if p, ok = simhost.LookupPlatform(*platform); !ok {
			return usageErr("unknown platform %q; give one of %s", *platform, simhost.PlatformList())
		}
	}
	generic := *platform == "" || p.Name == simhost.PlatformGeneric
	switch {
	case generic && (set["root"] || set["gateway-port"]):
		return usageErr("--root and --gateway-port need --platform with a host tree (msl, mxone, smbc, osv)")
	case !generic && (set["listen-server-manager"] || set["listen-mbg"]):
		return usageErr("--listen-server-manager and --listen-mbg are for no --platform or generic; the %s platform's UIs listen on free ports of 127.0.0.1", p.Name)
	case !generic && *root == "":
		return usageErr("--platform %s needs --root DIR, where its host tree is written", p.Name)
	case *gwPort < 0 || *gwPort > 65535:
		return usageErr("--gateway-port %d is not a port", *gwPort)
	}
	if generic {
		if *sm != "" {
			cfg.UIs = append(cfg.UIs, simhost.ServerManager(*sm))
		}
		if *mbg != "" {
			cfg.UIs = append(cfg.UIs, simhost.BorderGateway(*mbg))
		}
		p.UIs = cfg.UIs
	} else {
		cfg.UIs = p.UIs
		abs, err := filepath.Abs(*root)
		if err != nil {
			return usageErr("--root: %v", err)
		}
		*root = abs
		if cfg.Dir == "" {
			cfg.Dir = abs
		}
	}
	if err := cfg.Validate(); err != nil {
		return usageErr("%v", err)
	}
	if !generic {
		// Before the certificate is written, which may go into the root.
		if err := simhost.ClearTree(*root); err != nil {
			fmt.Fprintf(stderr, "cld-simhost: %v\n", err)
			return 1
		}
	}
	h, err := simhost.Start(cfg)
	if err != nil {
		fmt.Fprintf(stderr, "cld-simhost: %v\n", err)
		return 1
	}
	gatewayPort := 0
	code := func() int {
		if *platform == "" {
			return 0
		}
		port := *gwPort
		if !generic {
			if p.Gateway && port == 0 {
				if port, err = freePort(); err != nil {
					fmt.Fprintf(stderr, "cld-simhost: a port for the gateway core: %v\n", err)
					return 1
				}
			}
			exe, err := executable()
			if err != nil {
				fmt.Fprintf(stderr, "cld-simhost: %v\n", err)
				return 1
			}
			tree := simhost.Tree{Platform: p.Name, Addresses: h.Addresses(), GatewayPort: port, CoreCommand: exe}
			if err := tree.Write(*root); err != nil {
				fmt.Fprintf(stderr, "cld-simhost: %v\n", err)
				return 1
			}
		}
		if cfg.Dir == "" {
			return 0
		}
		conf, err := simhost.CLDConfig(p, *root, h.Addresses(), absPath(filepath.Join(cfg.Dir, "cert.pem")))
		if err == nil {
			err = simhost.WriteFile(filepath.Join(cfg.Dir, "addresses.yaml"), simhost.AddressesYAML(p, h.Addresses(), port))
		}
		if err == nil {
			// Last: the demo waits for it.
			err = simhost.WriteFile(filepath.Join(cfg.Dir, "cld-platform.yaml"), conf)
		}
		if err != nil {
			fmt.Fprintf(stderr, "cld-simhost: %v\n", err)
			return 1
		}
		gatewayPort = port
		return 0
	}()
	if code == 0 {
		for _, u := range h.UIs() {
			if *platform != "" {
				fmt.Fprintf(stdout, "%s: https://%s/ [%s]\n", u.Title, u.Addr, u.Tunnel)
			} else {
				fmt.Fprintf(stdout, "%s: https://%s/\n", u.Title, u.Addr)
			}
		}
		if p.Gateway {
			fmt.Fprintf(stdout, "CloudLink Gateway core (the tree's stand-in, cld starts it): %s/status [%s]\n",
				simhost.GatewayAddress(gatewayPort), simhost.GatewayTunnel)
		}
		if *platform != "" {
			if !generic {
				fmt.Fprintf(stdout, "Host tree (%s): %s\n", p.Type, *root)
			}
			if cfg.Dir != "" {
				fmt.Fprintf(stdout, "cld config: %s\n", filepath.Join(cfg.Dir, "cld-platform.yaml"))
			}
		}
		<-ctx.Done()
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := h.Shutdown(sctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		fmt.Fprintf(stderr, "cld-simhost: %v\n", err)
		return 1
	}
	return code
}

// freePort is a port of 127.0.0.1 nothing listens on now.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// executable is this program's absolute path (the tree's clgw-core runs
// it as the stand-in gateway core).
func executable() (string, error) {
	exe, err := os.Executable()
	if err != nil {
		return "", fmt.Errorf("finding this program for the gateway core's command: %w", err)
	}
	if r, err := filepath.EvalSymlinks(exe); err == nil {
		exe = r
	}
	return filepath.Abs(exe)
}

// gatewayCore runs the stand-in CloudLink Gateway core until a signal.
func gatewayCore(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("cld-simhost gateway-core", flag.ContinueOnError)
	fs.SetOutput(stderr)
	env := simhost.GatewayCoreFromEnv()
	conf := fs.String("config", env.Config, "the instance's clgw.conf `FILE` (REST_PORT, REST_SCHEME; default $CLGW_CONFIG, else $CLGW_HOME/etc/clgw.conf)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: cld-simhost gateway-core [--config FILE]")
		fmt.Fprintln(stderr, "A stand-in CloudLink Gateway core: serves GET /api/v1/health and /status on 127.0.0.1:REST_PORT.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "cld-simhost gateway-core: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	env.Config = *conf
	env.Logger = slog.New(slog.NewTextHandler(stderr, nil)).With("component", "clgw-core")
	g, err := simhost.StartGatewayCore(env)
	if err != nil {
		fmt.Fprintf(stderr, "cld-simhost: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "CloudLink Gateway core (stand-in): %s/status\n", g.URL())
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := g.Shutdown(sctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		fmt.Fprintf(stderr, "cld-simhost: %v\n", err)
		return 1
	}
	return 0
}

// absPath is p made absolute (as it is when that fails).
func absPath(p string) string {
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}
