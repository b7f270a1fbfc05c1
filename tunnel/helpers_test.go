package tunnel

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// pathConnect is cloudapi.PathTunnelConnect (tunnel may not import cloud).
const pathConnect = "/tunnel/v1/connect"

func testLogger() *slog.Logger {
	if os.Getenv("TUNNEL_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// harness is an edge on a TLS server, reached through a TCP relay that a
// test can kill or freeze.
type harness struct {
	t      testing.TB
	edge   *Edge
	srv    *httptest.Server
	relay  *relay
	url    string
	client *http.Client

	evMu   sync.Mutex
	events []string // OnSession events: "sys:up", "sys:down"
}

type harnessOption func(*EdgeConfig)

func newHarness(t testing.TB, opts ...harnessOption) *harness {
	t.Helper()
	h := &harness{t: t}
	cfg := EdgeConfig{
		Authenticate: func(r *http.Request) (string, error) {
			tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
			if !ok {
				return "", errors.New("no bearer token")
			}
			if sys, ok := strings.CutPrefix(tok, "tok-"); ok {
				return sys, nil
			}
			if tok == "revoked" {
				return "", &AuthError{Status: http.StatusForbidden, Code: "system_revoked", Description: "The system was removed from its account."}
			}
			return "", errors.New("The token is unknown or expired; link the host again.")
		},
		OnSession: func(systemID string, up bool) {
			h.evMu.Lock()
			defer h.evMu.Unlock()
			s := ":down"
			if up {
				s = ":up"
			}
			h.events = append(h.events, systemID+s)
		},
		Logger: testLogger(),
	}
	for _, o := range opts {
		o(&cfg)
	}
	h.edge = NewEdge(cfg)
	mux := http.NewServeMux()
	mux.Handle(pathConnect, h.edge)
	h.srv = httptest.NewUnstartedServer(mux)
	h.srv.EnableHTTP2 = true // as a cloud serving browsers would: the upgrade must still be HTTP/1.1
	h.srv.StartTLS()
	h.relay = newRelay(t, h.srv.Listener.Addr().String())
	h.url = "wss://" + h.relay.Addr() + pathConnect
	h.client = h.srv.Client()
	t.Cleanup(func() {
		h.edge.Close()
		h.srv.Close()
		h.relay.Close()
		h.client.CloseIdleConnections()
	})
	return h
}

func (h *harness) sessionEvents() []string {
	h.evMu.Lock()
	defer h.evMu.Unlock()
	return append([]string(nil), h.events...)
}

// agentConfig returns a configuration for system sys.
func (h *harness) agentConfig(sys string, resolve func(string) (Target, error)) AgentConfig {
	return AgentConfig{
		URL:        h.url,
		HTTPClient: h.client,
		Token:      func(context.Context) (string, error) { return "tok-" + sys, nil },
		Resolve:    resolve,
		SystemID:   sys,
		Logger:     testLogger(),
	}
}

// agent is a running Serve.
type agent struct {
	cancel context.CancelFunc
	done   chan struct{}
	err    error
}

// wait waits for Serve to return, at most d.
func (a *agent) wait(t testing.TB, d time.Duration) error {
	t.Helper()
	select {
	case <-a.done:
		return a.err
	case <-time.After(d):
		t.Fatalf("Serve did not return within %s", d)
		return nil
	}
}

// startAgent runs Serve and waits until the session is up (or Serve failed).
func startAgent(t testing.TB, cfg AgentConfig) *agent {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	a := &agent{cancel: cancel, done: make(chan struct{})}
	up := make(chan struct{})
	go func() {
		defer close(a.done)
		a.err = Serve(ctx, cfg, func() { close(up) })
	}()
	t.Cleanup(func() {
		cancel()
		<-a.done
	})
	select {
	case <-up:
	case <-a.done:
		t.Fatalf("Serve: %v", a.err)
	case <-time.After(10 * time.Second):
		t.Fatal("the session did not come up within 10s")
	}
	return a
}

// waitFor polls cond (without sleeping for logic: it only bounds a wait).
func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// relay forwards TCP connections to target; Freeze makes it drop all
// bytes silently (a dead path), Kill closes every connection.
type relay struct {
	ln     net.Listener
	target string
	frozen atomic.Bool
	mu     sync.Mutex
	conns  map[net.Conn]bool
	wg     sync.WaitGroup
}

func newRelay(t testing.TB, target string) *relay {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &relay{ln: ln, target: target, conns: map[net.Conn]bool{}}
	r.wg.Add(1)
	go r.accept()
	return r
}

func (r *relay) Addr() string { return r.ln.Addr().String() }

func (r *relay) accept() {
	defer r.wg.Done()
	for {
		c, err := r.ln.Accept()
		if err != nil {
			return
		}
		u, err := net.Dial("tcp", r.target)
		if err != nil {
			c.Close()
			continue
		}
		r.mu.Lock()
		r.conns[c], r.conns[u] = true, true
		r.mu.Unlock()
		r.wg.Add(2)
		go r.copy(u, c)
		go r.copy(c, u)
	}
}

func (r *relay) copy(dst, src net.Conn) {
	defer r.wg.Done()
	defer func() {
		src.Close()
		r.mu.Lock()
		delete(r.conns, src)
		r.mu.Unlock()
		// A frozen path does not pass an end on either: the other side
		// hears nothing until Kill or Close.
		if !r.frozen.Load() {
			dst.Close()
			r.mu.Lock()
			delete(r.conns, dst)
			r.mu.Unlock()
		}
	}()
	buf := make([]byte, 64<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 && !r.frozen.Load() {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// Freeze stops forwarding without closing anything, as a path that went
// dead does: neither data nor the end of a side gets through.
func (r *relay) Freeze() { r.frozen.Store(true) }

// Kill closes every relayed connection (as if the edge's process died).
func (r *relay) Kill() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for c := range r.conns {
		c.Close()
	}
}

func (r *relay) Close() {
	r.ln.Close()
	r.Kill()
	r.wg.Wait()
}

// echoServer echoes each connection until its end, then half-closes.
func echoServer(t testing.TB) (addr string, accepted *atomic.Int64) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return echoOn(t, ln)
}

// serveConns runs handle in a goroutine of its own for each connection ln
// accepts, until ln is closed (at the end of tb).
func serveConns(tb testing.TB, ln net.Listener, handle func(net.Conn)) {
	tb.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go handle(c)
		}
	}()
}

// echoOn echoes each connection ln accepts until its end, then half-closes
// where it can; the test's end closes ln and what is still open.
func echoOn(t testing.TB, ln net.Listener) (addr string, accepted *atomic.Int64) {
	accepted = new(atomic.Int64)
	var wg sync.WaitGroup
	var mu sync.Mutex
	open := map[net.Conn]bool{}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			mu.Lock()
			open[c] = true
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer func() {
					mu.Lock()
					delete(open, c)
					mu.Unlock()
					c.Close()
				}()
				io.Copy(c, c)
				if cw, ok := c.(interface{ CloseWrite() error }); ok {
					cw.CloseWrite()
				}
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for c := range open {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln.Addr().String(), accepted
}

// trap is a listener that no connection may reach.
func trap(t testing.TB) (addr string, hits *atomic.Int64) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hits = new(atomic.Int64)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			hits.Add(1)
			c.Close()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
	})
	return ln.Addr().String(), hits
}

// table is a Resolve over a fixed set of started and stopped tunnels that
// records every call.
type table struct {
	mu      sync.Mutex
	started map[string]Target
	stopped map[string]bool
	calls   []string
}

func (tb *table) Resolve(id string) (Target, error) {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	tb.calls = append(tb.calls, id)
	if t, ok := tb.started[id]; ok {
		return t, nil
	}
	if tb.stopped[id] {
		return Target{}, &RefusalError{Code: ReplyStopped, Message: "tunnel " + id + " is stopped"}
	}
	return Target{}, &RefusalError{Code: ReplyUnknownTunnel, Message: "no tunnel " + id + " on this host"}
}

func (tb *table) Calls() []string {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	return append([]string(nil), tb.calls...)
}
