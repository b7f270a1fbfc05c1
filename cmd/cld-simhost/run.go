package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/cloudlink/cld/platforms/simhost"
)

// run parses the flags and serves until a signal (or ctx for tests).
func run(args []string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return serve(ctx, args, stdout, stderr)
}

func serve(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("cld-simhost", flag.ContinueOnError)
	fs.SetOutput(stderr)
	sm := fs.String("listen-server-manager", simhost.DefaultServerManagerAddr, "`HOST:PORT` of the simulated MSL Server Manager (empty: leave it out)")
	mbg := fs.String("listen-mbg", simhost.DefaultBorderGatewayAddr, "`HOST:PORT` of the simulated MiVoice Border Gateway administration UI (empty: leave it out)")
	dir := fs.String("dir", "", "`DIR` to write the self-signed certificate to (cert.pem)")
	user := fs.String("username", simhost.DefaultUsername, "demo user `name` of every UI")
	pass := fs.String("password", simhost.DefaultPassword, "demo `password` of every UI")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: cld-simhost [--listen-server-manager HOST:PORT] [--listen-mbg HOST:PORT] [--dir DIR] [--username U] [--password P]")
		fmt.Fprintln(stderr, "Serves a simulated telephony host's management web UIs over HTTPS with a self-signed certificate.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "cld-simhost: unexpected argument %q\n", fs.Arg(0))
		fs.Usage()
		return 2
	}
	cfg := simhost.Config{Dir: *dir, Username: *user, Password: *pass,
		Logger: slog.New(slog.NewTextHandler(stderr, nil)).With("component", "simhost")}
	if *sm != "" {
		cfg.UIs = append(cfg.UIs, simhost.ServerManager(*sm))
	}
	if *mbg != "" {
		cfg.UIs = append(cfg.UIs, simhost.BorderGateway(*mbg))
	}
	if err := cfg.Validate(); err != nil {
		fmt.Fprintf(stderr, "cld-simhost: %v\n", err)
		return 2
	}
	h, err := simhost.Start(cfg)
	if err != nil {
		fmt.Fprintf(stderr, "cld-simhost: %v\n", err)
		return 1
	}
	for _, u := range h.UIs() {
		fmt.Fprintf(stdout, "%s: https://%s/\n", u.Title, u.Addr)
	}
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := h.Shutdown(sctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		fmt.Fprintf(stderr, "cld-simhost: %v\n", err)
		return 1
	}
	return 0
}
