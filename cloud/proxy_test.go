package cloud

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/cloudlink/cld/cloud/cloudapi"
	"github.com/cloudlink/cld/tunnel"
)

// origin is a management UI on the host, reached through a tunnel.
// /stream sends one line and holds the response open until release is
// closed (or the client goes).
func newOrigin(t *testing.T) *httptest.Server {
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	mux := http.NewServeMux()
	mux.HandleFunc("/stream", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, "first line\n")
		http.NewResponseController(w).Flush()
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	// /held-sized sends the first half of an answer of known length and
	// /held-body only its head, and hold the rest as /stream does.
	mux.HandleFunc("/held-sized", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "22")
		io.WriteString(w, "first half\n")
		http.NewResponseController(w).Flush()
		select {
		case <-release:
			io.WriteString(w, "other half\n")
		case <-r.Context().Done():
		}
	})
	mux.HandleFunc("/held-body", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "5")
		w.WriteHeader(http.StatusAccepted)
		http.NewResponseController(w).Flush()
		select {
		case <-release:
			io.WriteString(w, "later")
		case <-r.Context().Done():
		}
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		http.SetCookie(w, &http.Cookie{Name: "origin", Value: "1", Path: "/", Domain: "127.0.0.1", HttpOnly: true})
		w.Header().Set("Content-Type", "text/plain")
		fmt.Fprintf(w, "host=%s\nproto=%s\nfwd-host=%s\nfwd-for=%s\ncookie=%s\nauthorization=%s\n", r.Host,
			r.Header.Get("X-Forwarded-Proto"), r.Header.Get("X-Forwarded-Host"), r.Header.Get("X-Forwarded-For"),
			r.Header.Get("Cookie"), r.Header.Get("Authorization"))
	})
	mux.HandleFunc("/redirect", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "http://"+r.Context().Value(http.LocalAddrContextKey).(net.Addr).String()+"/target?x=1", http.StatusFound)
	})
	mux.HandleFunc("/redirect-public", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "http://"+r.Host+"/login", http.StatusSeeOther)
	})
	mux.HandleFunc("/redirect-to", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, r.URL.Query().Get("to"), http.StatusFound)
	})
	mux.HandleFunc("/redirect-relative", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/target", http.StatusFound)
	})
	mux.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Echo", r.URL.Query().Get("i"))
		io.Copy(w, r.Body)
		io.WriteString(w, r.URL.Query().Get("i"))
	})
	mux.HandleFunc("/download", func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.ParseInt(r.URL.Query().Get("size"), 10, 64)
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Content-Length", strconv.FormatInt(n, 10))
		io.Copy(w, io.LimitReader(newPattern(), n))
	})
	mux.HandleFunc("/ws", func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		for {
			typ, b, err := c.Read(r.Context())
			if err != nil {
				return
			}
			if err := c.Write(r.Context(), typ, append([]byte("echo: "), b...)); err != nil {
				return
			}
		}
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

// patternBlock repeats in download bodies; its odd length keeps it out of
// step with every buffer size, so that a lost, doubled or reordered piece
// changes the checksum.
var patternBlock = func() []byte {
	b := make([]byte, 1<<20+7)
	rand.NewChaCha8([32]byte{1, 2, 3}).Read(b)
	return b
}()

// pattern is an endless deterministic stream for download checks.
type pattern struct{ off int }

func newPattern() io.Reader { return &pattern{} }

func (p *pattern) Read(b []byte) (int, error) {
	n := copy(b, patternBlock[p.off:])
	p.off = (p.off + n) % len(patternBlock)
	return n, nil
}

// runAgent runs tunnel.Serve for the system in a loop (reconnecting after
// a second) until the test ends; each tunnel ID in targets leads to its
// address. It returns a function that reports Serve's last error.
func runAgent(t *testing.T, ts *TestServer, sys linked, targets map[string]string) func() error {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ts.CAPool}}}
	var mu sync.Mutex
	var last error
	done := make(chan struct{})
	cfg := tunnel.AgentConfig{
		URL:        ts.TunnelURL(),
		HTTPClient: client,
		Token:      func(context.Context) (string, error) { return sys.token, nil },
		SystemID:   sys.SystemID,
		Resolve: func(id string) (tunnel.Target, error) {
			if a, ok := targets[id]; ok {
				return tunnel.Target{Address: a}, nil
			}
			return tunnel.Target{}, &tunnel.RefusalError{Code: tunnel.ReplyStopped, Message: "the tunnel " + id + " is stopped on the host"}
		},
		Logger: discardLogger(),
	}
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			err := tunnel.Serve(ctx, cfg, nil)
			mu.Lock()
			last = err
			mu.Unlock()
			select {
			case <-ctx.Done():
			case <-time.After(200 * time.Millisecond):
			}
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		client.CloseIdleConnections()
	})
	waitUntil(t, "the tunnel session", func() bool { return ts.Server.TunnelConnected(sys.SystemID) })
	return func() error {
		mu.Lock()
		defer mu.Unlock()
		return last
	}
}

func waitUntil(t testing.TB, what string, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !f() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func getBody(t testing.TB, c *http.Client, u string) (*http.Response, string) {
	t.Helper()
	res, err := c.Get(u)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("GET %s: read: %v", u, err)
	}
	return res, string(b)
}

func TestEdgeProxy(t *testing.T) {
	ts := NewTestServer(t)
	origin := newOrigin(t)
	sys := linkSystem(t, ts, DemoAccountID, installA, "pbx-alpha")
	// The daemon names the tunnel's local address as the origin knows
	// itself (here a host name and port of the host).
	withOrigin := demoTunnels[0]
	withOrigin.Origin = "HTTP://Mgmt.PBX.example.net:8080"
	tunnels := []cloudapi.TunnelInfo{withOrigin, demoTunnels[1],
		{ID: "refused", Name: "Refused by the host", Status: cloudapi.TunnelStarted}}
	tr := putTunnelsOK(t, ts, sys.token, tunnels)
	public := tr.Tunnels[0].PublicURL
	host := strings.TrimSuffix(strings.TrimPrefix(public, "https://"), "/")
	runAgent(t, ts, sys, map[string]string{"msl-server-manager": origin.Listener.Addr().String()})
	c := ts.EdgeClient(t, DemoUserEmail)

	t.Run("page and cookies", func(t *testing.T) {
		res, body := getBody(t, c, public+"?first")
		if res.StatusCode != 200 {
			t.Fatalf("%d %s", res.StatusCode, body)
		}
		for _, want := range []string{"host=" + host + "\n", "proto=https\n", "fwd-host=" + host + "\n", "fwd-for=127.0.0.1\n", "cookie=\n", "authorization=\n"} {
			if !strings.Contains(body, want) {
				t.Errorf("origin saw no %q:\n%s", want, body)
			}
		}
		sc := res.Header.Get("Set-Cookie")
		if !strings.HasPrefix(sc, "origin=1") || strings.Contains(strings.ToLower(sc), "domain") {
			t.Errorf("Set-Cookie %q", sc)
		}
		// The origin's cookie comes back (host-only on the public name);
		// the edge's own cookie never reaches the origin.
		req, _ := http.NewRequest("GET", public, nil)
		req.Header.Set("Authorization", "Basic b3JpZ2luOnB3")
		res, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if !strings.Contains(string(b), "cookie=origin=1\n") || !strings.Contains(string(b), "authorization=Basic b3JpZ2luOnB3\n") {
			t.Errorf("second request:\n%s", b)
		}
	})
	t.Run("redirects", func(t *testing.T) {
		nc := *c
		nc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
		for path, want := range map[string]string{
			"redirect":          "https://" + host + "/target?x=1",
			"redirect-public":   "https://" + host + "/login",
			"redirect-relative": "/target",
			// The tunnel's own origin, and the system's host name on its port.
			"redirect-to?to=http://mgmt.pbx.example.net:8080/own?y=2": "https://" + host + "/own?y=2",
			"redirect-to?to=http://PBX-ALPHA:8080/sys":                "https://" + host + "/sys",
			// Not the origin: another port, another host.
			"redirect-to?to=http://mgmt.pbx.example.net/other":      "http://mgmt.pbx.example.net/other",
			"redirect-to?to=https://mgmt.pbx.example.net:8080/tls":  "https://mgmt.pbx.example.net:8080/tls",
			"redirect-to?to=http://elsewhere.example.net:8080/away": "http://elsewhere.example.net:8080/away",
		} {
			res, _ := getBody(t, &nc, public+path)
			if res.StatusCode/100 != 3 || res.Header.Get("Location") != want {
				t.Errorf("%s: %d Location %q, want %q", path, res.StatusCode, res.Header.Get("Location"), want)
			}
		}
	})
	t.Run("websocket", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		ws, res, err := websocket.Dial(ctx, "wss"+strings.TrimPrefix(public, "https")+"ws", &websocket.DialOptions{HTTPClient: c})
		if err != nil {
			t.Fatalf("dial: %v (%v)", err, res)
		}
		defer ws.CloseNow()
		for i := range 20 {
			msg := fmt.Sprintf("hello %d", i)
			if err := ws.Write(ctx, websocket.MessageText, []byte(msg)); err != nil {
				t.Fatal(err)
			}
			_, b, err := ws.Read(ctx)
			if err != nil || string(b) != "echo: "+msg {
				t.Fatalf("read %q, %v", b, err)
			}
		}
		ws.Close(websocket.StatusNormalClosure, "")
	})
	// get sends a GET for path through the edge; the answer is closed at
	// the end of t.
	get := func(t *testing.T, path string) *http.Response {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		t.Cleanup(cancel)
		req, _ := http.NewRequestWithContext(ctx, "GET", public+path, nil)
		res, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { res.Body.Close() })
		return res
	}
	t.Run("streaming", func(t *testing.T) {
		// A response without a length reaches the client as it comes.
		res := get(t, "stream")
		buf := make([]byte, len("first line\n"))
		if _, err := io.ReadFull(res.Body, buf); err != nil || string(buf) != "first line\n" {
			t.Fatalf("read %q, %v", buf, err)
		}
	})
	t.Run("streaming with a length", func(t *testing.T) {
		// What has come of an answer of known length reaches the client
		// while the rest is still to come; so does a head without its
		// body.
		res := get(t, "held-sized")
		buf := make([]byte, len("first half\n"))
		if _, err := io.ReadFull(res.Body, buf); err != nil || string(buf) != "first half\n" {
			t.Fatalf("read %q, %v", buf, err)
		}
		res2 := get(t, "held-body")
		if res2.StatusCode != http.StatusAccepted || res2.ContentLength != 5 {
			t.Errorf("head %d, length %d; want 202 and 5", res2.StatusCode, res2.ContentLength)
		}
	})
	t.Run("download", func(t *testing.T) {
		// 256 MiB; under the race detector (ten times slower) 64 MiB, and
		// 16 MiB with -short.
		size := int64(256 << 20)
		switch {
		case testing.Short():
			size = 16 << 20
		case raceEnabled:
			size = 64 << 20
		}
		want := sha256.New()
		io.Copy(want, io.LimitReader(newPattern(), size))
		start := time.Now()
		res, err := c.Get(public + "download?size=" + strconv.FormatInt(size, 10))
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		got := sha256.New()
		n, err := io.Copy(got, res.Body)
		if err != nil || n != size {
			t.Fatalf("downloaded %d of %d bytes: %v", n, size, err)
		}
		if !bytes.Equal(got.Sum(nil), want.Sum(nil)) {
			t.Fatal("download checksum differs")
		}
		d := time.Since(start)
		t.Logf("downloaded %d MiB in %v (%.0f MiB/s), sha256 %s", size>>20, d.Round(time.Millisecond), float64(size>>20)/d.Seconds(), hex.EncodeToString(got.Sum(nil))[:16])
	})
	t.Run("concurrent", func(t *testing.T) {
		const n = 200
		var wg sync.WaitGroup
		errs := make(chan error, n)
		for i := range n {
			wg.Go(func() {
				body := strings.Repeat("x", i)
				res, err := c.Post(public+"echo?i="+strconv.Itoa(i), "text/plain", strings.NewReader(body))
				if err != nil {
					errs <- err
					return
				}
				b, err := io.ReadAll(res.Body)
				res.Body.Close()
				if err != nil || res.StatusCode != 200 || string(b) != body+strconv.Itoa(i) {
					errs <- fmt.Errorf("request %d: %d %q %v", i, res.StatusCode, b, err)
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
	})
	t.Run("refused by the host", func(t *testing.T) {
		res, body := getBody(t, c, tr.Tunnels[2].PublicURL)
		if res.StatusCode != http.StatusBadGateway || !strings.Contains(body, "Tunnel refused by the host") || !strings.Contains(body, "is stopped on the host") {
			t.Errorf("%d %s", res.StatusCode, body)
		}
	})
	t.Run("stopped", func(t *testing.T) {
		stopped := []cloudapi.TunnelInfo{demoTunnels[0]}
		stopped[0].Status = cloudapi.TunnelStopped
		putTunnelsOK(t, ts, sys.token, stopped)
		res, body := getBody(t, c, public)
		if res.StatusCode != http.StatusServiceUnavailable || !strings.Contains(body, "Tunnel not started") {
			t.Errorf("%d %s", res.StatusCode, body)
		}
		putTunnelsOK(t, ts, sys.token, tunnels)
		if res, body := getBody(t, c, public); res.StatusCode != 200 {
			t.Errorf("started again: %d %s", res.StatusCode, body)
		}
	})
}

// TestEdgeRestart kills the cloud and its edge and brings them back on the
// same addresses: the agent's session comes back and the public URL works
// again.
func TestEdgeRestart(t *testing.T) {
	ts := NewTestServer(t)
	origin := newOrigin(t)
	sys := linkSystem(t, ts, DemoAccountID, installA, "pbx-alpha")
	public := putTunnelsOK(t, ts, sys.token, demoTunnels).Tunnels[0].PublicURL
	runAgent(t, ts, sys, map[string]string{"msl-server-manager": origin.Listener.Addr().String()})
	c := ts.EdgeClient(t, DemoUserEmail)
	if res, body := getBody(t, c, public); res.StatusCode != 200 {
		t.Fatalf("%d %s", res.StatusCode, body)
	}
	ts.Stop()
	waitUntil(t, "the session to end", func() bool { return !ts.Server.TunnelConnected(sys.SystemID) })
	if _, err := c.Get(public); err == nil {
		t.Fatal("the public URL answered while the edge was down")
	}
	ts.Start()
	start := time.Now()
	waitUntil(t, "the session to come back", func() bool { return ts.Server.TunnelConnected(sys.SystemID) })
	if res, body := getBody(t, c, public); res.StatusCode != 200 || !strings.Contains(body, "proto=https") {
		t.Fatalf("after restart: %d %s", res.StatusCode, body)
	}
	t.Logf("back %v after the restart", time.Since(start).Round(time.Millisecond))
}

// TestEdgeRevokedSession removes a system in the portal and unlinks
// another from the host: their sessions end at once and new ones are
// refused.
func TestEdgeRevokedSession(t *testing.T) {
	ts := NewTestServer(t)
	origin := newOrigin(t)
	for _, how := range []string{"portal", "host"} {
		t.Run(how, func(t *testing.T) {
			install := installA
			if how == "host" {
				install = installB
			}
			sys := linkSystem(t, ts, DemoAccountID, install, "pbx-"+how)
			public := putTunnelsOK(t, ts, sys.token, demoTunnels).Tunnels[0].PublicURL
			lastErr := runAgent(t, ts, sys, map[string]string{"msl-server-manager": origin.Listener.Addr().String()})
			c := ts.EdgeClient(t, DemoUserEmail)
			if res, body := getBody(t, c, public); res.StatusCode != 200 {
				t.Fatalf("%d %s", res.StatusCode, body)
			}
			if how == "portal" {
				if err := ts.RevokeSystem(sys.SystemID, DemoAdminEmail); err != nil {
					t.Fatal(err)
				}
			} else if r := jsonRequest(t, ts, http.MethodDelete, cloudapi.PathSystemSelf, sys.token, nil); r.Status != http.StatusNoContent {
				t.Fatalf("unlink: %d %s", r.Status, r.Body)
			}
			waitUntil(t, "the session to end", func() bool { return !ts.Server.TunnelConnected(sys.SystemID) })
			waitUntil(t, "a refused reconnect", func() bool {
				err := lastErr()
				return err != nil && strings.Contains(err.Error(), "401") || err != nil && strings.Contains(err.Error(), cloudapi.ErrSystemRevoked)
			})
			if err := lastErr(); !strings.Contains(err.Error(), "removed") && !strings.Contains(err.Error(), "unlinked") {
				t.Errorf("reconnect error says nothing of the removal: %v", err)
			}
			if ts.Server.TunnelConnected(sys.SystemID) {
				t.Error("a removed system is connected again")
			}
			res, _ := getBody(t, c, public)
			if res.StatusCode != http.StatusNotFound {
				t.Errorf("removed system's tunnel: %d", res.StatusCode)
			}
		})
	}
}

// BenchmarkEdgeRequests compares small requests through a tunnel's public
// URL with requests straight to the origin.
func BenchmarkEdgeRequests(b *testing.B) {
	ts := NewTestServer(b)
	origin := newOrigin(&testing.T{})
	defer origin.Close()
	sys := linkSystem(b, ts, DemoAccountID, installA, "pbx-alpha")
	public := putTunnelsOK(b, ts, sys.token, demoTunnels).Tunnels[0].PublicURL
	ctx, cancel := context.WithCancel(context.Background())
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ts.CAPool}}}
	done := make(chan struct{})
	go func() {
		defer close(done)
		tunnel.Serve(ctx, tunnel.AgentConfig{URL: ts.TunnelURL(), HTTPClient: client,
			Token:    func(context.Context) (string, error) { return sys.token, nil },
			SystemID: sys.SystemID,
			Resolve: func(string) (tunnel.Target, error) {
				return tunnel.Target{Address: origin.Listener.Addr().String()}, nil
			}, Logger: discardLogger()}, nil)
	}()
	defer func() { cancel(); <-done; client.CloseIdleConnections() }()
	waitUntil(b, "the tunnel session", func() bool { return ts.Server.TunnelConnected(sys.SystemID) })
	edge := &http.Client{Transport: ts.EdgeTransport()}
	ck := ts.EdgeCookie(b, DemoUserEmail, public)
	direct := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 512}}
	defer direct.CloseIdleConnections()
	run := func(b *testing.B, c *http.Client, u string, cookie *http.Cookie) {
		b.SetParallelism(8)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				req, _ := http.NewRequest("GET", u, nil)
				if cookie != nil {
					req.AddCookie(cookie)
				}
				res, err := c.Do(req)
				if err != nil {
					b.Error(err)
					return
				}
				io.Copy(io.Discard, res.Body)
				res.Body.Close()
				if res.StatusCode != 200 {
					b.Errorf("status %d", res.StatusCode)
					return
				}
			}
		})
	}
	b.Run("direct", func(b *testing.B) { run(b, direct, origin.URL+"/echo?i=1", nil) })
	b.Run("tunnel", func(b *testing.B) { run(b, edge, public+"echo?i=1", ck) })
}
