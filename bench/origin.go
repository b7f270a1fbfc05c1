package main

// The origin: one minimal plain-HTTP server that every route reaches, a
// process of its own (the bench runs itself as `bench origin`), so that the
// origin costs the same on every route and "direct" is the physical limit.

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/coder/websocket"
)

// smallSize is the body of /small, the small-request answer.
const smallSize = 1024

// runOrigin serves /small (1 KiB), /download?size=N (N bytes) and /ws (a
// WebSocket echo) on --listen and prints its address on stdout.
func runOrigin(args []string) error {
	fs := flag.NewFlagSet("origin", flag.ExitOnError)
	listen := fs.String("listen", "127.0.0.1:0", "address to listen on")
	fs.Parse(args)
	l, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	small := []byte(strings.Repeat("x", smallSize))
	chunk := make([]byte, 256<<10)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /small", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.Header().Set("Content-Length", strconv.Itoa(len(small)))
		w.Write(small)
	})
	mux.HandleFunc("GET /download", func(w http.ResponseWriter, r *http.Request) {
		n, err := strconv.ParseInt(r.URL.Query().Get("size"), 10, 64)
		if err != nil || n < 0 {
			http.Error(w, "size=BYTES", http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Content-Length", strconv.FormatInt(n, 10))
		for n > 0 {
			m := min(n, int64(len(chunk)))
			if _, err := w.Write(chunk[:m]); err != nil {
				return
			}
			n -= m
		}
	})
	mux.HandleFunc("GET /ws", func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, &websocket.AcceptOptions{OriginPatterns: []string{"*"}})
		if err != nil {
			return
		}
		defer c.CloseNow()
		ctx := context.Background()
		for {
			typ, b, err := c.Read(ctx)
			if err != nil {
				return
			}
			if err := c.Write(ctx, typ, b); err != nil {
				return
			}
		}
	})
	fmt.Println(l.Addr())
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	return srv.Serve(l)
}

// startOrigin runs this program as the origin and returns its address.
func startOrigin(logDir string) (*exec.Cmd, string, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, "", err
	}
	cmd := exec.Command(self, "origin")
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, "", err
	}
	if cmd.Stderr, err = os.Create(logDir + "/origin.log"); err != nil {
		return nil, "", err
	}
	if err := cmd.Start(); err != nil {
		return nil, "", err
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		cmd.Process.Kill()
		return nil, "", fmt.Errorf("the origin did not start: %w", err)
	}
	return cmd, strings.TrimSpace(line), nil
}
