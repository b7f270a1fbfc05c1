package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"golang.org/x/net/netutil"
	"golang.org/x/sync/errgroup"

	"github.com/cloudlink/cld/agent"
	"github.com/cloudlink/cld/agent/client"
	"github.com/cloudlink/cld/agent/config"
	"github.com/cloudlink/cld/agent/localapi"
	"github.com/cloudlink/cld/agent/logbuf"
	"github.com/cloudlink/cld/agent/provisioning"
	"github.com/cloudlink/cld/inventory"
	"github.com/cloudlink/cld/platforms"
	"github.com/cloudlink/cld/platforms/all"
	"github.com/cloudlink/cld/platforms/openscape"
	"github.com/cloudlink/cld/ui"
)

// runFlags are the flags of `cld run`; each, when given, overrides the file.
type runFlags struct {
	config, state, socket, cloud, cloudCA, listen, logLevel string
}

func (f *runFlags) add(fs *flag.FlagSet) {
	fs.StringVar(&f.config, "config", "", "config file (YAML; default $"+envConfig+", else "+config.DefaultConfigFile+", read only if it exists)")
	fs.StringVar(&f.state, "state", "", "state directory (state_dir; default /var/lib/cld)")
	fs.StringVar(&f.socket, "socket", "", "unix socket of the local API (socket; default /run/cld/cld.sock)")
	fs.StringVar(&f.cloud, "cloud", "", "CloudLink base URL, https (cloud)")
	fs.StringVar(&f.cloudCA, "cloud-ca", "", "PEM file of CA certificates to trust for the cloud (cloud_ca)")
	fs.StringVar(&f.listen, "listen", "", "dashboard address host:port (listen; default 127.0.0.1:8087)")
	fs.StringVar(&f.logLevel, "log-level", "", "debug, info, warn or error (log_level)")
}

// loadRunConfig builds the configuration: defaults, then the file, then the
// flags that were given on the command line.
func loadRunConfig(fs *flag.FlagSet, f *runFlags) (config.Config, error) {
	cfg, err := config.LoadConfigFile(configFile(f.config))
	if err != nil {
		return cfg, err
	}
	fs.Visit(func(fl *flag.Flag) {
		switch fl.Name {
		case "state":
			cfg.StateDir = f.state
		case "socket":
			cfg.Socket = f.socket
		case "cloud":
			cfg.Cloud = f.cloud
		case "cloud-ca":
			cfg.CloudCA = f.cloudCA
		case "listen":
			cfg.Listen = f.listen
		case "log-level":
			cfg.LogLevel = f.logLevel
		}
	})
	return cfg, cfg.Validate()
}

func (c *cli) cmdRun(args []string) int {
	fs := c.newFlags("run", "[--config FILE] [--state DIR] [--socket PATH] [--cloud URL] [--cloud-ca FILE] [--listen HOST:PORT] [--log-level LEVEL]")
	var f runFlags
	f.add(fs)
	if code, ok := c.parse(fs, args); !ok {
		return code
	}
	cfg, err := loadRunConfig(fs, &f)
	if err != nil {
		fmt.Fprintf(c.stderr, "cld: %v\n", err)
		return exitFail
	}
	tuneMemory()
	var level slog.LevelVar
	level.Set(parseLevel(cfg.LogLevel))
	// The log goes to stderr (the journal under systemd) and its recent
	// lines stay in memory for `cld support-bundle`.
	recent := logbuf.New(256 << 10)
	log := slog.New(slog.NewTextHandler(io.MultiWriter(c.stderr, recent), &slog.HandlerOptions{Level: &level}))
	if code, done := launch(cfg, log); done {
		return code
	}
	startFault()
	sigCtx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithCancel(sigCtx)
	defer cancel()
	restart := newRestarter(cancel)
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	reload := reloader{hup: hup, level: &level, load: func() (config.Config, error) { return loadRunConfig(fs, &f) }}
	opts := []agent.Option{agent.WithLogBuffer(recent), restart.option(), agent.WithProvisioningSteps(updateStep)}
	if daemonClock != nil {
		opts = append(opts, agent.WithClock(daemonClock))
	}
	if passwordCost != 0 {
		opts = append(opts, agent.WithPasswordCost(passwordCost))
	}
	if err := runDaemon(ctx, cfg, log, reload, opts...); err != nil {
		log.Error("cld cannot run", "component", "main", "err", err)
		fmt.Fprintf(c.stderr, "cld: %v\n", err)
		return exitFail
	}
	return restart.after(log, exitOK)
}

func parseLevel(level string) slog.Level {
	switch strings.ToLower(level) {
	case "debug":
		return slog.LevelDebug
	case "warn", "warning":
		return slog.LevelWarn
	case "error":
		return slog.LevelError
	}
	return slog.LevelInfo
}

// reloader re-reads the configuration on SIGHUP (`systemctl reload cld`):
// the same defaults → file → flags as at start. A file that does not
// validate is refused with its file:line message and the running
// configuration stays; otherwise the log level, the tunnel definitions and
// the proxy apply at once and the log names the settings that wait for a
// restart.
type reloader struct {
	hup   <-chan os.Signal
	level *slog.LevelVar
	load  func() (config.Config, error)
}

func (r reloader) run(ctx context.Context, a *agent.Agent, log *slog.Logger) error {
	log = log.With("component", "main")
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-r.hup:
		}
		log.Info("SIGHUP: reloading the configuration")
		cfg, err := r.load()
		if err != nil {
			log.Error("the new configuration is refused; the running one stays", "err", err)
			continue
		}
		plat, err := openPlatform(cfg)
		if errors.Is(err, platforms.ErrNotDetected) {
			plat, err = nil, nil // none detected: as at the start, no platform
		}
		if err != nil {
			log.Error("the new platform configuration is refused; the running one stays", "err", err)
			continue
		}
		changed, needRestart, err := a.Reload(cfg, plat)
		if err != nil {
			log.Error("the new configuration could not be applied in full", "changed", changed, "err", err)
			continue
		}
		r.level.Set(parseLevel(cfg.LogLevel))
		log.Info("configuration reloaded", "log_level", cfg.LogLevel, "changed", changed)
		if len(needRestart) > 0 {
			log.Warn("these settings changed and take effect at the next start (systemctl restart cld)", "settings", needRestart)
		}
	}
}

// openPlatform opens the host's platform with every adapter (the config's
// platform section: a type, or auto detection under host_root).
func openPlatform(cfg config.Config) (platforms.Platform, error) {
	return platforms.Open(cfg.Platform, cfg.HostRoot, adapters(cfg)...)
}

// adapters are every platform adapter, for this daemon (its state
// directory tells its own OpenScape Voice node registration from
// another's).
func adapters(cfg config.Config) []platforms.Adapter {
	return all.For(openscape.Instance{StateDir: cfg.StateDir})
}

// runDaemon wires the daemon: the local API on the unix socket (taken first,
// so that a second daemon stops before touching the state), the agent, and
// the dashboard on cfg.Listen, all under one context until it ends.
func runDaemon(ctx context.Context, cfg config.Config, log *slog.Logger, reload reloader, extra ...agent.Option) error {
	ln, err := localapi.ListenUnix(cfg.Socket)
	if err != nil {
		return err
	}
	defer ln.Close()
	plat, err := openPlatform(cfg)
	var noPlatform error
	if errors.Is(err, platforms.ErrNotDetected) {
		noPlatform, err = err, nil
	}
	if err != nil {
		return err
	}
	extra = append(extra, agent.WithPlatformProblem(noPlatform))
	if plat != nil {
		log.Info("host platform", "component", "main", "type", plat.Type(), "name", plat.Name(), "version", plat.Version(), "tunnels", len(plat.Tunnels()))
	} else {
		log.Warn("no host platform; no tunnels", "component", "main", "reason", noPlatform)
	}
	opts := append([]agent.Option{agent.WithLogger(log), agent.WithPlatform(plat)}, extra...)
	if cfg.Source != "" {
		// The inventory reads the platform afresh for every report, so a
		// new version or application is reported without a restart.
		opts = append(opts, agent.WithInventoryPlatform(inventory.PlatformFile(cfg.Source, cfg.HostRoot, adapters(cfg)...)))
	}
	a, err := agent.New(cfg, opts...)
	if err != nil {
		return err
	}
	defer a.Close()
	api := wrapAPI(a.APIHandler())

	var dashLn net.Listener
	var dash http.Handler
	if cfg.Listen != "" {
		var pages http.Handler
		cfg.Dashboard = platformDashboard(cfg.Dashboard, plat, log)
		auth, err := dashboardAuth(cfg.Dashboard.Auth)
		if err != nil {
			return err
		}
		pages, err = ui.New(ui.Config{
			Client:         client.NewHandler(api),
			BasePath:       cfg.Dashboard.BasePath,
			TrustedProxies: cfg.Dashboard.TrustedProxies,
			FrameAncestors: cfg.Dashboard.FrameAncestors,
			Auth:           auth,
			Logger:         log.With("component", "dashboard"),
		})
		if err != nil {
			return fmt.Errorf("dashboard: %w", err)
		}
		// One listener: the dashboard's pages, and the local API under
		// /api for programs that authenticate with a dashboard account.
		mux := http.NewServeMux()
		mux.Handle(localapi.RemotePrefix+"/", localapi.NewRemoteHandler(a.DashboardLogin, api))
		// Provisioning Manager's API, with its own credential; reached
		// through the host's web server, which may keep the base path.
		pm := a.ProvisioningHandler()
		mux.Handle(provisioning.Prefix+"/", pm)
		if b := strings.TrimSuffix(cfg.Dashboard.BasePath, "/"); b != "" {
			mux.Handle(b+provisioning.Prefix+"/", http.StripPrefix(b, pm))
		}
		mux.Handle("/", pages)
		dash = mux
		dashLn, err = net.Listen("tcp", cfg.Listen)
		if err != nil {
			return fmt.Errorf("the dashboard cannot listen on %s: %w; set listen: in the config or pass --listen (listen: \"\" turns the dashboard off)", cfg.Listen, err)
		}
		defer dashLn.Close()
		// A bound on open connections, so that a client on the network
		// cannot exhaust the daemon's file descriptors; connections that
		// send no request are closed after ReadHeaderTimeout.
		dashLn = netutil.LimitListener(dashLn, maxDashboardConns)
	}

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return a.Run(gctx) })
	if reload.hup != nil {
		g.Go(func() error { return reload.run(gctx, a, log) })
	}
	g.Go(func() error { return localapi.ServeUnix(gctx, ln, api, log) })
	if dashLn != nil {
		log.Info("dashboard listening", "component", "dashboard", "url", "http://"+dashLn.Addr().String()+cfg.Dashboard.BasePath+"/")
		g.Go(func() error { return serveHTTP(gctx, dashLn, dash, log) })
	}
	log.Info("local API listening", "component", "localapi", "socket", cfg.Socket)
	return g.Wait()
}

// maxDashboardConns bounds the dashboard listener's open connections (a
// browser opens about six; PM and a supervisor a few more).
const maxDashboardConns = 128

// serveHTTP serves the dashboard until ctx ends.
func serveHTTP(ctx context.Context, ln net.Listener, h http.Handler, log *slog.Logger) error {
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      2 * time.Minute,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.With("component", "dashboard").Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return fmt.Errorf("serving the dashboard: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		srv.Close()
	}
	<-errc
	return nil
}
