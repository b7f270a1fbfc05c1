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

// TestLocalServiceReset: the local service answers and then resets its
// connection (RST) while the stream is open. The stream passes on what was answered, then ends,
// and the agent's copies for it end and give their buffers back; the
// session carries the next stream as before.
func TestLocalServiceReset(t *testing.T) {
	h := newHarness(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	answer := bytes.Repeat([]byte("partial answer "), 5000) // more than a copy buffer
	serveConns(t, ln, func(c net.Conn) {
		buf := make([]byte, 64)
		if _, err := c.Read(buf); err != nil {
			c.Close()
			return
		}
		c.Write(answer)
		// The client says it has the answer; then the reset.
		if _, err := io.ReadFull(c, buf[:3]); err != nil {
			c.Close()
			return
		}
		c.(*net.TCPConn).SetLinger(0)
		c.Close() // RST
	})
	echo, _ := echoServer(t)
	tb := &table{started: map[string]Target{"reset": {Address: ln.Addr().String()}, "web": {Address: echo}}}
	startAgent(t, h.agentConfig("sys1", tb.Resolve))
	// No stream of an earlier test still holds a buffer (the count is the
	// package's).
	waitFor(t, 5*time.Second, "earlier tests' streams to give their buffers back", func() bool { return buffersHeld.Load() == 0 })

	c, err := h.edge.Open(context.Background(), "sys1", "reset", "")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write([]byte("GET")); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(answer))
	if _, err := io.ReadFull(c, got); err != nil || !bytes.Equal(got, answer) {
		t.Fatalf("the answer before the reset: %v", err)
	}
	if _, err := c.Write([]byte("ack")); err != nil {
		t.Fatal(err)
	}
	rest, err := io.ReadAll(c)
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatal("the stream did not end after the local service reset its connection")
	}
	if len(rest) != 0 {
		t.Fatalf("%d bytes after the answer", len(rest))
	}
	waitFor(t, 5*time.Second, "the reset stream's copies to give their buffers back", func() bool { return buffersHeld.Load() == 0 })

	c2, err := h.edge.Open(context.Background(), "sys1", "web", "")
	if err != nil {
		t.Fatalf("Open after the reset: %v", err)
	}
	defer c2.Close()
	echoRound(t, c2, []byte("still carried"))
}
