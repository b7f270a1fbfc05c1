package simhost

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/cloudlink/cld/platforms"
)

// GatewayCoreConfig configures the stand-in CloudLink Gateway core, run
// the way platforms/gateway runs the real one (its supervisor, or
// systemd's clgw@.service: CLGW_INSTANCE, CLGW_HOME and CLGW_CONFIG in
// the environment).
type GatewayCoreConfig struct {
	// Instance is the instance's name ("" is Home's base name).
	Instance string
	// Home is the instance's directory; its VERSION is the core's version.
	Home string
	// Config is its clgw.conf: REST_PORT (required), REST_SCHEME (http or
	// https, default http).
	Config string
	// Logger; nil means slog.Default() with component=clgw-core.
	Logger *slog.Logger
}

// GatewayCoreFromEnv is the configuration the environment gives (CLGW_*).
func GatewayCoreFromEnv() GatewayCoreConfig {
	return GatewayCoreConfig{Instance: os.Getenv("CLGW_INSTANCE"), Home: os.Getenv("CLGW_HOME"), Config: os.Getenv("CLGW_CONFIG")}
}

// GatewayCore is a running stand-in core: its REST interface answers
// GET /api/v1/health ({"status":"ok","version":…}) and GET /status (an
// HTML status page) on 127.0.0.1:REST_PORT.
type GatewayCore struct {
	srv  *http.Server
	url  string
	done chan error
}

// StartGatewayCore reads the config and serves until Shutdown.
func StartGatewayCore(cfg GatewayCoreConfig) (*GatewayCore, error) {
	if cfg.Config == "" && cfg.Home != "" {
		cfg.Config = filepath.Join(cfg.Home, "etc", "clgw.conf")
	}
	if cfg.Config == "" {
		return nil, errors.New("clgw-core: no config file: set CLGW_CONFIG (or CLGW_HOME), or give --config")
	}
	if cfg.Home == "" {
		cfg.Home = filepath.Dir(filepath.Dir(cfg.Config))
	}
	if cfg.Instance == "" {
		cfg.Instance = filepath.Base(cfg.Home)
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.Default().With("component", "clgw-core")
	}
	abs, err := filepath.Abs(cfg.Config)
	if err != nil {
		return nil, fmt.Errorf("clgw-core: %w", err)
	}
	conf, err := platforms.ReadKeyValues("/", abs)
	if errors.Is(err, platforms.ErrNotDetected) {
		return nil, fmt.Errorf("clgw-core: %s does not exist", cfg.Config)
	} else if err != nil {
		return nil, fmt.Errorf("clgw-core: %w", err)
	}
	port, err := strconv.Atoi(conf["REST_PORT"])
	if err != nil || port < 1 || port > 65535 {
		return nil, fmt.Errorf("clgw-core: %s: REST_PORT %q is not a port between 1 and 65535", cfg.Config, conf["REST_PORT"])
	}
	scheme := strings.ToLower(conf["REST_SCHEME"])
	switch scheme {
	case "":
		scheme = "http"
	case "http", "https":
	default:
		return nil, fmt.Errorf("clgw-core: %s: REST_SCHEME %q is not http or https", cfg.Config, conf["REST_SCHEME"])
	}
	version := GatewayVersion
	if v, err := platforms.ReadFile(cfg.Home, "VERSION"); err == nil && v != "" {
		version, _, _ = strings.Cut(v, "\n")
	}
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		return nil, fmt.Errorf("clgw-core: %w", err)
	}
	if scheme == "https" {
		cert, _, _, err := selfSigned(time.Now())
		if err != nil {
			ln.Close()
			return nil, fmt.Errorf("clgw-core: %w", err)
		}
		ln = tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
	}
	started := time.Now()
	info := func() map[string]string {
		return map[string]string{"status": "ok", "version": version, "instance": cfg.Instance,
			"uptime": time.Since(started).Round(time.Second).String()}
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/v1/health", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		_ = json.NewEncoder(w).Encode(info())
	})
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		_ = gatewayPage.Execute(w, info())
	})
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/status", http.StatusSeeOther)
	})
	g := &GatewayCore{
		srv: &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second,
			ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelDebug)},
		url:  scheme + "://" + ln.Addr().String(),
		done: make(chan error, 1),
	}
	go func() {
		err := g.srv.Serve(ln)
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		g.done <- err
	}()
	logger.Info("CloudLink Gateway core (stand-in) serving", "instance", cfg.Instance, "version", version, "url", g.url)
	return g, nil
}

// URL is the REST interface's base URL.
func (g *GatewayCore) URL() string { return g.url }

// Shutdown stops serving, waiting for requests in flight until ctx ends.
func (g *GatewayCore) Shutdown(ctx context.Context) error {
	err := g.srv.Shutdown(ctx)
	if err != nil {
		_ = g.srv.Close()
	}
	return errors.Join(err, <-g.done)
}

var gatewayPage = template.Must(template.New("status").Parse(`<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>CloudLink Gateway status</title>
<style>body { font: 14px/1.45 system-ui, sans-serif; margin: 1.5rem; } th, td { text-align: left; padding: 0.2rem 1rem 0.2rem 0; }</style>
</head>
<body>
<h1>CloudLink Gateway status</h1>
<table><tbody>
<tr><th scope="row">Status</th><td id="gateway-status">{{.status}}</td></tr>
<tr><th scope="row">Instance</th><td>{{.instance}}</td></tr>
<tr><th scope="row">Version</th><td>{{.version}}</td></tr>
<tr><th scope="row">Uptime</th><td>{{.uptime}}</td></tr>
</tbody></table>
<p>This is the simulated host's stand-in for the CloudLink Gateway core (cld-simhost gateway-core).</p>
</body>
</html>
`))
