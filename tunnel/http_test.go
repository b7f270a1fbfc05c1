package tunnel

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// origin is a management UI stand-in: pages, a redirect, a cookie, a large
// download and a WebSocket echo.
func origin(t testing.TB) *httptest.Server {
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		http.SetCookie(w, &http.Cookie{Name: "session", Value: "abc", Path: "/"})
		fmt.Fprintf(w, "host=%s path=%s", r.Host, r.URL.Path)
	})
	mux.HandleFunc("/login", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/home", http.StatusFound)
	})
	mux.HandleFunc("/small", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("ok"))
	})
	mux.HandleFunc("/big", func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(r.URL.Query().Get("n"))
		w.Header().Set("Content-Length", strconv.Itoa(n))
		writePattern(w, int64(n), 1)
	})
	mux.HandleFunc("/ws", func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, &websocket.AcceptOptions{InsecureSkipVerify: true})
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

// writePattern writes n pseudo-random bytes from seed: a random block, of
// a length that aligns with no frame or buffer size, repeated.
func writePattern(w io.Writer, n int64, seed uint64) error {
	block := make([]byte, 1<<20+13)
	rand.NewChaCha8([32]byte{byte(seed)}).Read(block)
	for n > 0 {
		chunk := block[:min(int64(len(block)), n)]
		if _, err := w.Write(chunk); err != nil {
			return err
		}
		n -= int64(len(chunk))
	}
	return nil
}

func patternSum(n int64, seed uint64) [32]byte {
	h := sha256.New()
	writePattern(h, n, seed)
	var s [32]byte
	copy(s[:], h.Sum(nil))
	return s
}

// publicProxy is the edge's public side as the cloud builds it: a
// reverse proxy whose connections are tunnel streams.
func publicProxy(t testing.TB, e *Edge, sys, tunnelID string) (*httptest.Server, *http.Transport) {
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return e.Open(ctx, sys, tunnelID, "")
		},
		MaxIdleConnsPerHost: 100,
	}
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.Out.URL.Scheme = "http"
			pr.Out.URL.Host = "tunnel"
			pr.Out.Host = pr.In.Host
		},
		Transport: tr,
		ErrorLog:  nil,
	}
	srv := httptest.NewServer(rp)
	t.Cleanup(func() {
		srv.Close()
		tr.CloseIdleConnections()
	})
	return srv, tr
}

func TestHTTPThroughTunnel(t *testing.T) {
	h := newHarness(t)
	o := origin(t)
	tb := &table{started: map[string]Target{"web": {Address: o.Listener.Addr().String()}}}
	startAgent(t, h.agentConfig("sys1", tb.Resolve))
	pub, _ := publicProxy(t, h.edge, "sys1", "web")
	client := pub.Client()
	defer client.CloseIdleConnections()

	req, _ := http.NewRequest("GET", pub.URL+"/login", nil)
	req.Host = "abc.eu.edge.localhost"
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "host=abc.eu.edge.localhost path=/home" {
		t.Fatalf("after the redirect: %d %q", resp.StatusCode, body)
	}
	if c := resp.Header.Get("Set-Cookie"); !strings.HasPrefix(c, "session=abc") {
		t.Fatalf("Set-Cookie = %q", c)
	}

	// A download with a checksum.
	const n = 8 << 20
	resp, err = client.Get(pub.URL + "/big?n=" + strconv.Itoa(n))
	if err != nil {
		t.Fatal(err)
	}
	hs := sha256.New()
	got, err := io.Copy(hs, resp.Body)
	resp.Body.Close()
	if err != nil || got != n || [32]byte(hs.Sum(nil)) != patternSum(n, 1) {
		t.Fatalf("download: %d bytes, %v, checksum match %v", got, err, [32]byte(hs.Sum(nil)) == patternSum(n, 1))
	}

	// A WebSocket through the reverse proxy and the tunnel.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, strings.Replace(pub.URL, "http", "ws", 1)+"/ws", &websocket.DialOptions{HTTPClient: client})
	if err != nil {
		t.Fatalf("WebSocket through the tunnel: %v", err)
	}
	defer ws.CloseNow()
	for i := range 3 {
		msg := fmt.Sprintf("message %d", i)
		if err := ws.Write(ctx, websocket.MessageText, []byte(msg)); err != nil {
			t.Fatal(err)
		}
		_, b, err := ws.Read(ctx)
		if err != nil || string(b) != "echo: "+msg {
			t.Fatalf("echo %q, %v", b, err)
		}
	}
	ws.Close(websocket.StatusNormalClosure, "")

	// Many concurrent small requests.
	errs := make(chan error, 200)
	for range 200 {
		go func() {
			resp, err := client.Get(pub.URL + "/small")
			if err == nil {
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if string(b) != "ok" {
					err = fmt.Errorf("body %q", b)
				}
			}
			errs <- err
		}()
	}
	for range 200 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}

// TestLargeTransfer sends 64 MiB each way at once through one stream to an
// echo server and checks both with SHA-256 (16 MiB under the race detector
// or -short).
func TestLargeTransfer(t *testing.T) {
	n := int64(64 << 20)
	if testing.Short() || raceEnabled {
		n = 16 << 20
	}
	h := newHarness(t)
	echo, _ := echoServer(t)
	startAgent(t, h.agentConfig("sys1", (&table{started: map[string]Target{"web": {Address: echo}}}).Resolve))
	c, err := h.edge.Open(context.Background(), "sys1", "web", "")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	start := time.Now()
	werr := make(chan error, 1)
	go func() {
		err := writePattern(c, n, 7)
		if err == nil {
			err = c.(closeWriter).CloseWrite()
		}
		werr <- err
	}()
	hs := sha256.New()
	got, err := io.Copy(hs, c)
	if err != nil {
		t.Fatal(err)
	}
	if err := <-werr; err != nil {
		t.Fatal(err)
	}
	if got != n || [32]byte(hs.Sum(nil)) != patternSum(n, 7) {
		t.Fatalf("echoed %d of %d bytes; checksum match %v", got, n, [32]byte(hs.Sum(nil)) == patternSum(n, 7))
	}
	t.Logf("%d MiB each way in %s", n>>20, time.Since(start).Round(time.Millisecond))
}
