package tunnel

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// tlsEchoServer is echoServer over TLS (httptest's certificate, for
// example.com); it returns the address and the roots that trust it.
func tlsEchoServer(t testing.TB) (string, *tls.Config) {
	t.Helper()
	srv := httptest.NewUnstartedServer(http.NotFoundHandler())
	srv.StartTLS()
	roots := srv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs
	cfg := srv.TLS.Clone()
	srv.Close()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	addr, _ := echoOn(t, ln)
	return addr, &tls.Config{RootCAs: roots, ServerName: "example.com"}
}

// echoRound writes msg on c and reads it back.
func echoRound(t *testing.T, c net.Conn, msg []byte) {
	t.Helper()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	defer c.SetDeadline(time.Time{})
	if _, err := c.Write(msg); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(c, got); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, msg) {
		t.Fatal("the echo differs from what was sent")
	}
}

// TestIdleStreamsHoldNoBuffers: an idle open stream gives its copy buffers
// back to the pool (both directions, to a plain local service); one to a
// TLS service keeps the one of the direction from the service (a TLS
// connection cannot wait without a buffer). Data flows as before after the
// wait, in small and in large pieces.
func TestIdleStreamsHoldNoBuffers(t *testing.T) {
	h := newHarness(t)
	echo, _ := echoServer(t)
	tlsEcho, tlsCfg := tlsEchoServer(t)
	tb := &table{started: map[string]Target{"web": {Address: echo}, "tls": {Address: tlsEcho, TLS: tlsCfg}}}
	startAgent(t, h.agentConfig("sys1", tb.Resolve))
	base := buffersHeld.Load()

	const n = 20
	open := func(tunnelID string) []net.Conn {
		var cs []net.Conn
		for i := range n {
			c, err := h.edge.Open(context.Background(), "sys1", tunnelID, "")
			if err != nil {
				t.Fatalf("Open %s: %v", tunnelID, err)
			}
			t.Cleanup(func() { c.Close() })
			echoRound(t, c, fmt.Appendf(nil, "hello %d", i))
			cs = append(cs, c)
		}
		return cs
	}
	held := func(want int64) func() bool {
		return func() bool { return buffersHeld.Load()-base == want }
	}

	plain := open("web")
	waitFor(t, 5*time.Second, "idle streams to a plain service to give their buffers back", held(0))
	secure := open("tls")
	waitFor(t, 5*time.Second, "idle streams to a TLS service to keep one buffer each", held(n))

	big := make([]byte, 3*copyBufSize+17)
	rand.Read(big)
	for _, c := range []net.Conn{plain[0], plain[1], secure[0], secure[1]} {
		echoRound(t, c, []byte("again"))
		echoRound(t, c, big)
	}
	waitFor(t, 5*time.Second, "the streams to be idle again", held(n))

	for _, c := range plain {
		c.Close()
	}
	for _, c := range secure {
		c.Close()
	}
	waitFor(t, 10*time.Second, "closed streams to give every buffer back", held(0))
}
