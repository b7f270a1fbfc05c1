package cloud

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cloudlink/cld/cloud/store"
)

// forwardOrigin answers the cases of TestForwardMatchesReverseProxy and
// records each request as it arrived.
func forwardOrigin(t *testing.T, record func(string)) *httptest.Server {
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		record(describeRequest(r, body))
		h := w.Header()
		switch r.URL.Path {
		case "/hop":
			h.Set("Connection", "X-Resp-Hop, close")
			h.Set("X-Resp-Hop", "1")
			h.Set("Keep-Alive", "timeout=1")
			h.Set("Proxy-Authenticate", "Basic")
			h.Set("X-Kept", "yes")
		case "/cookies":
			h.Add("Set-Cookie", "a=1; Domain=127.0.0.1; Path=/")
			h.Add("Set-Cookie", edgeCookie+"=forged; Path=/")
			h.Add("Set-Cookie", "b=2; Path=/; domain=.example.net; HttpOnly")
		case "/redirect":
			h.Set("Location", "http://"+r.Context().Value(http.LocalAddrContextKey).(net.Addr).String()+"/target?x=1")
			w.WriteHeader(http.StatusFound)
			return
		case "/chunked":
			io.WriteString(w, "first ")
			http.NewResponseController(w).Flush()
			io.WriteString(w, "second")
			return
		case "/trailers":
			h.Set("Trailer", "X-Sum")
			io.WriteString(w, "body")
			h.Set("X-Sum", "42")
			return
		case "/late-trailers":
			io.WriteString(w, "body")
			http.NewResponseController(w).Flush()
			h.Set(http.TrailerPrefix+"X-Late", "7")
			return
		case "/empty":
			w.WriteHeader(http.StatusNoContent)
			return
		case "/not-modified":
			h.Set("ETag", `"v1"`)
			w.WriteHeader(http.StatusNotModified)
			return
		case "/switch", "/cut":
			c, brw, _ := http.NewResponseController(w).Hijack()
			if r.URL.Path == "/switch" {
				brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: foo\r\nConnection: Upgrade\r\n\r\n")
			} else {
				brw.WriteString("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly ten b")
			}
			brw.Flush()
			c.Close()
			return
		}
		h.Set("Content-Type", "text/plain")
		fmt.Fprintf(w, "%s %d bytes", r.URL.Path, len(body))
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

// describeRequest is what the origin saw: the request line, Host, every
// header in order, the body and the trailers.
func describeRequest(r *http.Request, body []byte) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s %s\nHost: %s\n", r.Method, r.RequestURI, r.Proto, r.Host)
	for _, k := range slices.Sorted(func(yield func(string) bool) {
		for k := range r.Header {
			if !yield(k) {
				return
			}
		}
	}) {
		fmt.Fprintf(&b, "%s: %q\n", k, r.Header[k])
	}
	fmt.Fprintf(&b, "body %q\ntrailer %v\n", body, r.Trailer)
	return b.String()
}

// describeResponse is what the client got: the status, the headers but
// Date, the body (and whether it was cut short) and the trailers.
func describeResponse(res *http.Response) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s\n", res.Status)
	keys := make([]string, 0, len(res.Header))
	for k := range res.Header {
		if k != "Date" {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		fmt.Fprintf(&b, "%s: %q\n", k, res.Header[k])
	}
	body, err := io.ReadAll(res.Body)
	fmt.Fprintf(&b, "body %q (err %v)\ntrailer %v\nlength %d chunked %v\n", body, err != nil, res.Trailer, res.ContentLength, slices.Contains(res.TransferEncoding, "chunked"))
	return b.String()
}

// TestForwardMatchesReverseProxy: the edge's forward and the
// httputil.ReverseProxy it replaces, configured as the edge configured
// it, make the same request of the origin and give the client the same
// answer, header by header, for requests and answers that exercise what a
// proxy must change (hop-by-hop headers, forwarding headers, cookies,
// queries, bodies, trailers, empty and cut-short answers).
func TestForwardMatchesReverseProxy(t *testing.T) {
	ts := NewTestServer(t)
	e := ts.Server.edge
	var mu sync.Mutex
	var seen string
	origin := forwardOrigin(t, func(s string) { mu.Lock(); seen = s; mu.Unlock() })
	originAddr := origin.Listener.Addr().String()
	base := &http.Transport{DisableCompression: true}
	t.Cleanup(base.CloseIdleConnections)
	tr := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		r = r.Clone(r.Context())
		r.URL.Host = originAddr
		return base.RoundTrip(r)
	})
	ref := *e.proxy
	ref.Transport = tr
	// The reference sets the forwarding headers with ReverseProxy's own
	// SetXForwarded, not with rewriteOut, which both proxies of the edge
	// share.
	ref.Rewrite = func(pr *httputil.ProxyRequest) {
		pt, _ := pr.In.Context().Value(proxyTargetKey{}).(*proxyTarget)
		pr.Out.URL.Scheme = "http"
		pr.Out.URL.Host = pt.rt.tunnel.UUID
		pr.Out.Host = pr.In.Host
		pr.SetXForwarded()
		stripCookies(pr.Out.Header)
	}
	rt := route{
		tunnel: store.Tunnel{ID: "web", UUID: "4f1c3d3e-1d6b-5b7a-9a51-0c1f3a3e2b10", Origin: "http://" + originAddr, Status: "started"},
		system: store.System{Hostname: "pbx-alpha"},
	}
	front := func(lean bool) string {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			r = r.WithContext(context.WithValue(r.Context(), proxyTargetKey{}, &proxyTarget{rt: rt, client: r.RemoteAddr}))
			if lean {
				e.forward(w, r, tr)
			} else {
				ref.ServeHTTP(w, r)
			}
		}))
		t.Cleanup(srv.Close)
		return srv.Listener.Addr().String()
	}
	refAddr, leanAddr := front(false), front(true)

	cases := map[string]string{
		"hop-by-hop request headers": "GET /plain?a=1&b=2 HTTP/1.1\r\nHost: tunnel.example\r\n" +
			"Connection: keep-alive, X-Hop\r\nX-Hop: secret\r\nKeep-Alive: timeout=5\r\nProxy-Authorization: Basic eDp5\r\n" +
			"Proxy-Connection: keep-alive\r\nTe: trailers, deflate\r\nUpgrade: h2c\r\nX-Other: kept\r\n\r\n",
		"forwarding headers from the client": "GET /plain HTTP/1.1\r\nHost: tunnel.example\r\nUser-Agent: test/1\r\n" +
			"X-Forwarded-For: 203.0.113.9\r\nX-Forwarded-Host: evil.example\r\nX-Forwarded-Proto: gopher\r\nForwarded: for=203.0.113.9\r\n\r\n",
		"edge and portal cookies": "GET /plain HTTP/1.1\r\nHost: tunnel.example\r\n" +
			"Cookie: a=1; " + edgeCookie + "=s; " + sessionCookie + "=p\r\nCookie: " + legacyEdgeCookie + "=old; b=2\r\n\r\n",
		"only the edge's cookies":   "GET /plain HTTP/1.1\r\nHost: tunnel.example\r\nCookie: " + edgeCookie + "=s\r\n\r\n",
		"queries net/url refuses":   "GET /plain?x=1;y=2&z=%zz&ok=%41 HTTP/1.1\r\nHost: tunnel.example\r\n\r\n",
		"a body with a length":      "POST /echo HTTP/1.1\r\nHost: tunnel.example\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello",
		"a chunked body, trailers":  "PUT /echo HTTP/1.1\r\nHost: tunnel.example\r\nTransfer-Encoding: chunked\r\nTrailer: X-Up\r\n\r\n5\r\nhello\r\n0\r\nX-Up: 1\r\n\r\n",
		"HEAD":                      "HEAD /plain HTTP/1.1\r\nHost: tunnel.example\r\n\r\n",
		"DELETE without a body":     "DELETE /item/7 HTTP/1.1\r\nHost: tunnel.example\r\nContent-Length: 0\r\n\r\n",
		"hop-by-hop answer headers": "GET /hop HTTP/1.1\r\nHost: tunnel.example\r\n\r\n",
		"cookies from the origin":   "GET /cookies HTTP/1.1\r\nHost: tunnel.example\r\n\r\n",
		"a redirect to the origin":  "GET /redirect HTTP/1.1\r\nHost: tunnel.example\r\n\r\n",
		"a chunked answer":          "GET /chunked HTTP/1.1\r\nHost: tunnel.example\r\n\r\n",
		"announced trailers":        "GET /trailers HTTP/1.1\r\nHost: tunnel.example\r\nTe: trailers\r\n\r\n",
		"trailers not announced":    "GET /late-trailers HTTP/1.1\r\nHost: tunnel.example\r\n\r\n",
		"no content":                "GET /empty HTTP/1.1\r\nHost: tunnel.example\r\n\r\n",
		"not modified":              "GET /not-modified HTTP/1.1\r\nHost: tunnel.example\r\nIf-None-Match: \"v1\"\r\n\r\n",
		"a switch not asked for":    "GET /switch HTTP/1.1\r\nHost: tunnel.example\r\n\r\n",
		"an answer cut short":       "GET /cut HTTP/1.1\r\nHost: tunnel.example\r\n\r\n",
	}
	ask := func(addr, raw string) (origin, client string) {
		mu.Lock()
		seen = ""
		mu.Unlock()
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := io.WriteString(c, raw); err != nil {
			t.Fatal(err)
		}
		req, err := http.ReadRequest(bufio.NewReader(strings.NewReader(raw)))
		if err != nil {
			t.Fatalf("the case's own request: %v", err)
		}
		if res, err := http.ReadResponse(bufio.NewReader(c), req); err != nil {
			client = "no answer" // the connection was cut before the head
		} else {
			client = describeResponse(res)
		}
		mu.Lock()
		defer mu.Unlock()
		return seen, client
	}
	for name, raw := range cases {
		t.Run(name, func(t *testing.T) {
			refOrigin, refClient := ask(refAddr, raw)
			leanOrigin, leanClient := ask(leanAddr, raw)
			if refOrigin != leanOrigin {
				t.Errorf("the origin saw\n%s\nthrough forward, and through ReverseProxy\n%s", leanOrigin, refOrigin)
			}
			if name == "an answer cut short" {
				// forward flushes the head and the first bytes before it
				// waits for more; ReverseProxy holds them for up to 50 ms.
				// Either way the client must see the answer cut short.
				for _, got := range []string{refClient, leanClient} {
					if got != "no answer" && !strings.Contains(got, "(err true)") {
						t.Errorf("a cut-short answer reached the client as a whole one:\n%s", got)
					}
				}
				return
			}
			if refClient != leanClient {
				t.Errorf("the client got\n%s\nthrough forward, and through ReverseProxy\n%s", leanClient, refClient)
			}
		})
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestViaReverseProxy(t *testing.T) {
	for _, c := range []struct {
		method, connection string
		want               bool
	}{
		{"GET", "", false},
		{"GET", "keep-alive", false},
		{"GET", "Upgrade", true},
		{"GET", "keep-alive, upgrade", true},
		{"CONNECT", "", true},
	} {
		r := httptest.NewRequest(c.method, "/", nil)
		if c.connection != "" {
			r.Header.Set("Connection", c.connection)
		}
		if got := viaReverseProxy(r); got != c.want {
			t.Errorf("%s with Connection %q: %v, want %v", c.method, c.connection, got, c.want)
		}
	}
}

func TestIsEventStream(t *testing.T) {
	for ct, want := range map[string]bool{
		"text/event-stream":                true,
		"Text/Event-Stream; charset=utf-8": true,
		"text/event-stream ;x=1":           true,
		"text/event-streams":               false,
		"text/plain":                       false,
		"":                                 false,
	} {
		if got := isEventStream(ct); got != want {
			t.Errorf("isEventStream(%q) = %v, want %v", ct, got, want)
		}
	}
}
