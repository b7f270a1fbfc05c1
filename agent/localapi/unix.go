package localapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/cloudlink/cld/agent/api"
)

// ErrSocketInUse means another daemon listens on the socket path.
var ErrSocketInUse = errors.New("another cld daemon is listening on the socket")

// ListenUnix listens on the socket path with mode 0600. A stale socket file
// (nothing listening) is removed; a live one is refused with ErrSocketInUse.
func ListenUnix(path string) (net.Listener, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("creating the socket's directory: %w; check socket (--socket)", err)
	}
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode().Type() != os.ModeSocket {
			return nil, fmt.Errorf("%s exists and is not a socket; remove it or choose another --socket", path)
		}
		c, err := net.DialTimeout("unix", path, time.Second)
		if err == nil {
			c.Close()
			return nil, fmt.Errorf("%w %s; stop it first (systemctl stop cld) or give this one another --socket", ErrSocketInUse, path)
		}
		if !errors.Is(err, syscall.ECONNREFUSED) && !errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("checking the existing socket %s: %w", path, err)
		}
		if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("removing the stale socket %s: %w", path, err)
		}
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("listening on %s: %w; check socket (--socket)", path, err)
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(true)
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("making %s private: %w", path, err)
	}
	return ln, nil
}

// PeerAllowed decides whether a local API peer with uid may use the API:
// root, or the user the daemon runs as.
func PeerAllowed(uid, self uint32) bool {
	return uid == 0 || uid == self
}

type peerKey struct{}

type peer struct {
	uid uint32
	err error
}

// peerCred reads SO_PEERCRED of a unix connection.
func peerCred(c net.Conn) peer {
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return peer{err: errors.New("not a unix socket connection")}
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return peer{err: err}
	}
	var cred *unix.Ucred
	var cerr error
	if err := raw.Control(func(fd uintptr) {
		cred, cerr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return peer{err: err}
	}
	if cerr != nil {
		return peer{err: cerr}
	}
	return peer{uid: cred.Uid}
}

// peerGuard admits requests whose connection's peer (from ConnContext)
// PeerAllowed; others get 403 with what to do.
func peerGuard(h http.Handler, self uint32, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, ok := r.Context().Value(peerKey{}).(peer)
		if !ok {
			p.err = errors.New("peer credentials unknown")
		}
		if p.err != nil || !PeerAllowed(p.uid, self) {
			log.Warn("refused a local API call from another user", "uid", p.uid, "err", p.err)
			writeError(w, http.StatusForbidden, &api.Error{Code: api.CodeUnauthorized,
				Message: "Only root and the cld service user may use the daemon's local API; run the command with sudo."})
			return
		}
		h.ServeHTTP(w, r)
	})
}

// ServeUnix serves h on the unix listener until ctx ends, admitting only
// peers that PeerAllowed; others get 403 with what to do.
func ServeUnix(ctx context.Context, ln net.Listener, h http.Handler, log *slog.Logger) error {
	if log == nil {
		log = slog.Default()
	}
	log = log.With("component", "localapi")
	guard := peerGuard(h, uint32(os.Geteuid()), log)
	srv := &http.Server{
		Handler:           guard,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			return context.WithValue(ctx, peerKey{}, peerCred(c))
		},
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serving the local API: %w", err)
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
