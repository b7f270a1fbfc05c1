package tunnel

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/binary"
	"io"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/yamux"
)

// yamux frame types and flags (the session protocol's wire format).
const (
	frameData   = 0
	frameWindow = 1
	framePing   = 2
	frameGoAway = 3
	flagSYN     = 1
	flagACK     = 2
	flagFIN     = 4
	flagRST     = 8
)

// frame is one yamux frame: version 0, type, flags, stream, length, body.
func frame(typ byte, flags uint16, stream uint32, length uint32, body []byte) []byte {
	b := make([]byte, 12, 12+len(body))
	b[1] = typ
	binary.BigEndian.PutUint16(b[2:], flags)
	binary.BigEndian.PutUint32(b[4:], stream)
	binary.BigEndian.PutUint32(b[8:], length)
	return append(b, body...)
}

// FuzzAgentSession feeds what a hostile or broken edge could send down an
// established session (yamux frames carrying stream headers and data) to
// the agent's side of it. Whatever arrives, the agent must not crash, must
// serve only streams whose header the edge signed, and its session must end
// with every stream's goroutine once the edge's side closes.
func FuzzAgentSession(f *testing.F) {
	const system, nonce = "sys-fuzz", "fuzz-nonce-0123456789"
	signer := testKey(7)
	signed := func(stream uint32, h Header) []byte {
		return signedFrame(f, signer, binding{system: system, nonce: nonce, stream: stream}, h)
	}
	open := frame(frameWindow, flagSYN, 1, 0, nil)
	hdr := signed(1, Header{Tunnel: "web", Client: "203.0.113.9:443", User: "admin@demo.test"})
	body := append(append([]byte{}, hdr...), "GET / HTTP/1.0\r\n\r\n"...)
	f.Add(bytes.Join([][]byte{open, frame(frameData, 0, 1, uint32(len(body)), body), frame(frameData, flagFIN, 1, 0, nil)}, nil))
	f.Add(bytes.Join([][]byte{frame(framePing, flagSYN, 0, 42, nil), open, frame(frameData, flagRST, 1, 0, nil)}, nil))
	unsigned := []byte{2, 1, 0, 16}
	unsigned = append(unsigned, `{"tunnel":"web"}`...)
	f.Add(bytes.Join([][]byte{open, frame(frameData, 0, 1, uint32(len(unsigned)), unsigned)}, nil))
	f.Add(bytes.Join([][]byte{open, frame(frameWindow, flagSYN, 3, 1<<30, nil), frame(frameData, 0, 3, 1<<31, nil)}, nil))
	f.Add(frame(frameGoAway, 0, 0, 1, nil))
	f.Add([]byte{1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0})

	// The local service: an echo server on loopback, shared by all runs.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		f.Fatal(err)
	}
	serveConns(f, ln, func(c net.Conn) {
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		_, _ = io.Copy(c, c)
	})
	log := slog.New(slog.DiscardHandler)
	pub := signer.Public().(ed25519.PublicKey)

	f.Fuzz(func(t *testing.T, in []byte) {
		edge, agent := net.Pipe()
		sess, err := yamux.Server(agent, SessionConfig{}.yamux(log))
		if err != nil {
			t.Fatal(err)
		}
		var mu sync.Mutex
		var served []Header
		cfg := &AgentConfig{SystemID: system, LocalDialTimeout: time.Second,
			Resolve: func(id string) (Target, error) {
				if id != "web" {
					return Target{}, &RefusalError{Code: ReplyUnknownTunnel, Message: "no such tunnel"}
				}
				return Target{Address: ln.Addr().String()}, nil
			},
			OnStream: func(r StreamRecord) {
				mu.Lock()
				served = append(served, Header{Tunnel: r.Tunnel, Client: r.Client, User: r.User})
				mu.Unlock()
			}}
		a := &agentSession{cfg: cfg, log: log, sess: sess, key: pub, nonce: nonce}
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()

		done := make(chan struct{})
		go func() {
			defer close(done)
			var wg sync.WaitGroup
			for {
				st, err := sess.AcceptStream()
				if err != nil {
					if sess.IsClosed() {
						break
					}
					continue
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					a.serveStream(ctx, st)
				}()
			}
			cancel()
			wg.Wait()
		}()
		go func() { _, _ = io.Copy(io.Discard, edge) }()
		_ = edge.SetWriteDeadline(time.Now().Add(5 * time.Second))
		_, _ = edge.Write(in)
		edge.Close()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatalf("the agent's session did not end 10 s after the edge closed it (input %q)", in)
		}
		<-sess.CloseChan()
		mu.Lock()
		defer mu.Unlock()
		for _, h := range served {
			if h.Tunnel != "web" {
				t.Fatalf("served a stream for tunnel %q, which Resolve refuses", h.Tunnel)
			}
		}
	})
}
