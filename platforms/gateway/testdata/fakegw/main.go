// Command fakegw is a stand-in CloudLink Gateway core for the gateway
// package's tests. It runs the way the supervisor runs the real core
// (CLGW_HOME, CLGW_CONFIG in its environment) and serves the REST
// interface's health and status paths on 127.0.0.1:REST_PORT.
//
// Files in CLGW_HOME steer it:
//
//	crash        exit with status 3 right after starting
//	unhealthy    answer the health path with 503
//	ignore-term  ignore SIGTERM (only SIGKILL ends it)
//
// POST /crash makes it exit with status 3. Each start appends its PID to
// CLGW_HOME/starts.log.
package main

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

func main() {
	home := os.Getenv("CLGW_HOME")
	exists := func(name string) bool {
		_, err := os.Stat(filepath.Join(home, name))
		return err == nil
	}
	log, err := os.OpenFile(filepath.Join(home, "starts.log"), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		fail(err)
	}
	fmt.Fprintln(log, os.Getpid())
	log.Close()
	if exists("crash") {
		fmt.Fprintln(os.Stderr, "fakegw: crashing on start")
		os.Exit(3)
	}
	port := restPort(os.Getenv("CLGW_CONFIG"))
	version, _ := os.ReadFile(filepath.Join(home, "VERSION"))

	sigs := make(chan os.Signal, 1)
	if exists("ignore-term") {
		signal.Ignore(syscall.SIGTERM)
	} else {
		signal.Notify(sigs, syscall.SIGTERM)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/v1/health", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if exists("unhealthy") {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprint(w, `{"status":"degraded"}`)
			return
		}
		fmt.Fprintf(w, `{"status":"ok","version":%q}`, strings.TrimSpace(string(version)))
	})
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "<h1>CloudLink Gateway status</h1>")
	})
	mux.HandleFunc("POST /crash", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(os.Stderr, "fakegw: crashing on request")
		os.Exit(3)
	})
	ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%s", port))
	if err != nil {
		fail(err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	fmt.Println("fakegw: listening on", ln.Addr())
	<-sigs
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = srv.Shutdown(ctx)
	fmt.Println("fakegw: stopped")
}

func restPort(config string) string {
	f, err := os.Open(config)
	if err != nil {
		fail(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "REST_PORT="); ok {
			return v
		}
	}
	fail(fmt.Errorf("%s sets no REST_PORT", config))
	return ""
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "fakegw:", err)
	os.Exit(1)
}
