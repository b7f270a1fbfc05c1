package cloud

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// countingOrigin is an origin that counts the connections the agent opens
// to it: one per tunnel stream.
type countingOrigin struct {
	*httptest.Server
	conns atomic.Int64
}

func newCountingOrigin(t *testing.T) *countingOrigin {
	o := &countingOrigin{}
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok "+r.Header.Get("X-Forwarded-For"))
	})
	mux.HandleFunc("/close", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Connection", "close")
		io.WriteString(w, "closing")
	})
	mux.HandleFunc("/post", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		io.WriteString(w, r.Method+" "+string(b))
	})
	hold := make(chan struct{})
	t.Cleanup(func() { close(hold) })
	mux.HandleFunc("/hold", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "first\n")
		http.NewResponseController(w).Flush()
		select {
		case <-hold:
		case <-r.Context().Done():
		}
	})
	o.Server = httptest.NewUnstartedServer(mux)
	o.Config.ConnState = func(c net.Conn, st http.ConnState) {
		if st == http.StateNew {
			o.conns.Add(1)
		}
	}
	o.Start()
	t.Cleanup(o.Close)
	return o
}

// keptStreams counts the public connections that keep a tunnel stream.
func keptStreams(e *edge) int {
	e.holdersMu.Lock()
	defer e.holdersMu.Unlock()
	n := 0
	for _, h := range e.holders {
		h.mu.Lock()
		if h.s != nil {
			n++
		}
		h.mu.Unlock()
	}
	return n
}

// keptStreamsClosed reports whether every kept stream reads as closed.
func keptStreamsClosed(e *edge) bool {
	e.holdersMu.Lock()
	defer e.holdersMu.Unlock()
	for _, h := range e.holders {
		h.mu.Lock()
		s := h.s
		h.mu.Unlock()
		if s != nil && s.idleAndOpen() {
			return false
		}
	}
	return true
}

func TestEdgeHeldStreams(t *testing.T) {
	ts := NewTestServer(t)
	origin := newCountingOrigin(t)
	sys := linkSystem(t, ts, DemoAccountID, installA, "pbx-alpha")
	public := putTunnelsOK(t, ts, sys.token, demoTunnels).Tunnels[0].PublicURL
	runAgent(t, ts, sys, map[string]string{"msl-server-manager": origin.Listener.Addr().String()})
	e := ts.Server.edge
	get := func(c *http.Client, path string) string {
		t.Helper()
		res, body := getBody(t, c, public+strings.TrimPrefix(path, "/"))
		if res.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %d %s", path, res.StatusCode, body)
		}
		return body
	}

	t.Run("one stream per public connection", func(t *testing.T) {
		c := ts.EdgeClient(t, DemoUserEmail)
		get(c, "/") // the sign-in's own requests may have opened streams
		before := origin.conns.Load()
		for range 20 {
			get(c, "/")
		}
		if n := origin.conns.Load() - before; n != 0 {
			t.Errorf("20 requests on one connection opened %d more streams, want 0", n)
		}
		// Another client (its own connection) gets its own stream.
		c2 := ts.EdgeClient(t, DemoUserEmail)
		get(c2, "/")
		before = origin.conns.Load()
		get(c, "/")
		get(c2, "/")
		if n := origin.conns.Load() - before; n != 0 {
			t.Errorf("two clients in turn opened %d more streams, want 0", n)
		}
		if n := keptStreams(e); n < 2 {
			t.Errorf("%d kept streams, want at least 2", n)
		}
	})

	t.Run("connection close from the origin", func(t *testing.T) {
		c := ts.EdgeClient(t, DemoUserEmail)
		get(c, "/")
		before := origin.conns.Load()
		if body := get(c, "/close"); body != "closing" {
			t.Fatalf("body %q", body)
		}
		get(c, "/")
		if n := origin.conns.Load() - before; n != 1 {
			t.Errorf("after Connection: close, %d new streams, want 1", n)
		}
	})

	t.Run("stream closed by the host while kept", func(t *testing.T) {
		c := ts.EdgeClient(t, DemoUserEmail)
		get(c, "/")
		// The origin drops its connections: the agent ends the streams,
		// the edge's kept ones read as closed.
		origin.CloseClientConnections()
		if body := get(c, "/"); !strings.HasPrefix(body, "ok") {
			t.Fatalf("GET after the stream closed: %q", body)
		}
		get(c, "/")
		origin.CloseClientConnections()
		waitUntil(t, "the kept streams to read as closed", func() bool { return keptStreamsClosed(e) })
		res, err := c.Post(public+"post", "text/plain", strings.NewReader("payload"))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusOK || string(b) != "POST payload" {
			t.Errorf("POST after the stream closed: %d %q", res.StatusCode, b)
		}
	})

	t.Run("client goes away mid-answer", func(t *testing.T) {
		c := ts.EdgeClient(t, DemoUserEmail)
		get(c, "/")
		ctx, cancel := context.WithCancel(context.Background())
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, public+"hold", nil)
		res, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		line := make([]byte, 6)
		if _, err := io.ReadFull(res.Body, line); err != nil || string(line) != "first\n" {
			t.Fatalf("first line %q %v", line, err)
		}
		before := origin.conns.Load()
		cancel()
		res.Body.Close()
		// The held answer's stream is closed, not kept: the next request
		// (a new public connection) opens another.
		if body := get(c, "/"); !strings.HasPrefix(body, "ok") {
			t.Fatalf("after the abort: %q", body)
		}
		if n := origin.conns.Load() - before; n != 1 {
			t.Errorf("after the abort, %d new streams, want 1", n)
		}
	})

	t.Run("tunnels changed", func(t *testing.T) {
		c := ts.EdgeClient(t, DemoUserEmail)
		get(c, "/")
		putTunnelsOK(t, ts, sys.token, demoTunnels)
		if n := keptStreams(e); n != 0 {
			t.Errorf("%d kept streams after the tunnel list changed, want 0", n)
		}
		before := origin.conns.Load()
		get(c, "/")
		if n := origin.conns.Load() - before; n != 1 {
			t.Errorf("after the change, %d new streams, want 1", n)
		}
	})

	t.Run("concurrent clients", func(t *testing.T) {
		var wg sync.WaitGroup
		errs := make(chan string, 8)
		for range 8 {
			c := ts.EdgeClient(t, DemoUserEmail)
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range 25 {
					res, err := c.Get(public + "post")
					if err != nil {
						errs <- err.Error()
						return
					}
					b, _ := io.ReadAll(res.Body)
					res.Body.Close()
					if res.StatusCode != http.StatusOK || string(b) != "GET " {
						errs <- res.Status + " " + string(b)
						return
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for e := range errs {
			t.Error(e)
		}
	})

	t.Run("public connection closed", func(t *testing.T) {
		c := ts.EdgeClient(t, DemoUserEmail)
		get(c, "/")
		n := keptStreams(e)
		c.CloseIdleConnections()
		waitUntil(t, "the stream of the closed connection to go", func() bool { return keptStreams(e) < n })
	})
}
