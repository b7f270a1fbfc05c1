package tunnel

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/coder/websocket"
)

func yamuxHdr(typ byte, flags uint16, id, length uint32) []byte {
	h := make([]byte, yamuxHeaderLen)
	h[0], h[1] = yamuxVersion, typ
	binary.BigEndian.PutUint16(h[2:], flags)
	binary.BigEndian.PutUint32(h[4:], id)
	binary.BigEndian.PutUint32(h[8:], length)
	return h
}

type msgRecorder struct{ msgs [][]byte }

func (m *msgRecorder) emit(p []byte) error {
	m.msgs = append(m.msgs, bytes.Clone(p))
	return nil
}

func TestCoalescer(t *testing.T) {
	var rec msgRecorder
	c := coalescer{emit: rec.emit}
	body := bytes.Repeat([]byte("d"), 1000)
	// yamux's pattern: header, then body, in separate writes.
	c.Write(yamuxHdr(0, 0, 1, uint32(len(body))))
	if len(rec.msgs) != 0 {
		t.Fatal("a Data header went out before its body")
	}
	c.Write(body)
	// A window update and a ping: header only, out at once.
	c.Write(yamuxHdr(1, 0, 1, 65536))
	c.Write(yamuxHdr(2, 1, 0, 7))
	// A Data frame with an empty body (a FIN) goes out at once.
	c.Write(yamuxHdr(0, 4, 1, 0))
	// Split arbitrarily.
	all := append(yamuxHdr(0, 0, 3, 5), "hello"...)
	for _, b := range all {
		c.Write([]byte{b})
	}
	want := [][]byte{
		append(yamuxHdr(0, 0, 1, 1000), body...),
		yamuxHdr(1, 0, 1, 65536),
		yamuxHdr(2, 1, 0, 7),
		yamuxHdr(0, 4, 1, 0),
		all,
	}
	if len(rec.msgs) != len(want) {
		t.Fatalf("%d messages, want %d", len(rec.msgs), len(want))
	}
	for i := range want {
		if !bytes.Equal(rec.msgs[i], want[i]) {
			t.Errorf("message %d = %x…, want %x…", i, rec.msgs[i][:12], want[i][:12])
		}
	}

	// A frame longer than maxMessage goes out in pieces.
	rec.msgs = nil
	big := make([]byte, maxMessage*2+100)
	c.Write(yamuxHdr(0, 0, 5, uint32(len(big))))
	c.Write(big)
	var total int
	for _, m := range rec.msgs {
		if len(m) > maxMessage {
			t.Fatalf("message of %d bytes", len(m))
		}
		total += len(m)
	}
	if total != len(big)+yamuxHeaderLen || len(rec.msgs) != 3 {
		t.Fatalf("%d messages, %d bytes", len(rec.msgs), total)
	}

	// Garbage is an error, and stays one.
	if _, err := c.Write(make([]byte, 12)); err != nil {
		t.Fatal("a zero header is a valid empty Data frame")
	}
	bad := yamuxHdr(9, 0, 0, 0)
	if _, err := c.Write(bad); err == nil {
		t.Fatal("type 9 accepted")
	}
	if _, err := c.Write(yamuxHdr(1, 0, 0, 0)); err == nil {
		t.Fatal("no error after an error")
	}
	c2 := coalescer{emit: func([]byte) error { return errors.New("boom") }}
	if _, err := c2.Write(yamuxHdr(1, 0, 0, 0)); err == nil {
		t.Fatal("emit error lost")
	}
}

// FuzzCoalescer feeds a byte stream in arbitrary pieces: the messages
// concatenate to the input, no message is longer than maxMessage, and every
// complete frame ends a message.
func FuzzCoalescer(f *testing.F) {
	f.Add(append(yamuxHdr(0, 0, 1, 3), "abc"...), uint8(5))
	f.Add(append(yamuxHdr(1, 0, 1, 3), yamuxHdr(2, 0, 0, 0)...), uint8(1))
	f.Add(yamuxHdr(0, 0, 1, 1<<31), uint8(200))
	f.Fuzz(func(t *testing.T, in []byte, step uint8) {
		var out [][]byte
		c := coalescer{emit: func(p []byte) error {
			if len(p) > maxMessage {
				t.Fatalf("message of %d bytes", len(p))
			}
			out = append(out, bytes.Clone(p))
			return nil
		}}
		s := int(step)%37 + 1
		consumed := 0
		var err error
		for i := 0; i < len(in) && err == nil; i += s {
			var n int
			n, err = c.Write(in[i:min(i+s, len(in))])
			consumed += n
		}
		joined := bytes.Join(out, nil)
		if !bytes.HasPrefix(in, joined) {
			t.Fatal("messages are not the input")
		}
		if err == nil && consumed != len(in) {
			t.Fatalf("consumed %d of %d without an error", consumed, len(in))
		}
		// Re-parse the input: each complete frame's end is a message end.
		ends := map[int]bool{}
		pos := 0
		for _, m := range out {
			pos += len(m)
			ends[pos] = true
		}
		for off := 0; off+yamuxHeaderLen <= len(joined); {
			n, perr := yamuxBodyLen(joined[off:])
			if perr != nil {
				t.Fatalf("emitted an invalid frame header at %d: %v", off, perr)
			}
			end := off + yamuxHeaderLen + int(n)
			if end > len(joined) {
				break
			}
			if !ends[end] {
				t.Fatalf("frame ending at %d is not the end of a message", end)
			}
			off = end
		}
	})
}

// wsPair connects two wsConns through a real WebSocket (the accepting side
// first).
func wsPair(t *testing.T) (server, client *wsConn) {
	t.Helper()
	got := make(chan *wsConn, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		c := newWSConn(ws, func() error { return ws.CloseNow() }, nil, nil, addr("s"), addr("c"))
		got <- c
		<-c.closed
	}))
	t.Cleanup(srv.Close)
	ws, _, err := websocket.Dial(context.Background(), srv.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	client = newWSConn(ws, func() error { return ws.CloseNow() }, nil, nil, addr("c"), addr("s"))
	server = <-got
	t.Cleanup(func() { client.Close(); server.Close() })
	return server, client
}

// TestGroupedWrites: frames written by one goroutine, as yamux does, arrive
// whole and in order, large and small mixed (small frames queued while a
// message is being sent share the next one: the count is logged); what was written before Close
// arrives before the close frame; writes after Close fail.
func TestGroupedWrites(t *testing.T) {
	server, client := wsPair(t)
	done := make(chan []byte)
	go func() {
		var b []byte
		msgs := 0
		for {
			_, r, err := server.ws.Reader(context.Background())
			if err != nil {
				var ce websocket.CloseError
				if errors.As(err, &ce) {
					server.peerClose.Store(&ce)
				}
				break
			}
			m, _ := io.ReadAll(r)
			if len(m) > maxMessage {
				t.Errorf("message of %d bytes", len(m))
			}
			b = append(b, m...)
			msgs++
		}
		t.Logf("%d messages", msgs)
		done <- b
	}()
	var want bytes.Buffer
	const frames = 2000
	for i := range frames {
		n := i % 700
		if i%7 == 0 {
			n = directWrite + i // sent by Write itself when nothing is pending
		}
		body := bytes.Repeat([]byte{byte(i)}, n)
		h := yamuxHdr(0, 0, uint32(i), uint32(len(body)))
		for _, p := range [][]byte{h, body} {
			if _, err := client.Write(p); err != nil {
				t.Fatal(err)
			}
			want.Write(p)
		}
	}
	// A large frame goes out in messages of at most maxMessage.
	big := bytes.Repeat([]byte("b"), 3*maxMessage+5)
	client.Write(yamuxHdr(0, 0, 1, uint32(len(big))))
	client.Write(big)
	want.Write(yamuxHdr(0, 0, 1, uint32(len(big))))
	want.Write(big)
	// Small traffic after the burst: the large buffers are let go.
	small := yamuxHdr(1, 0, 1, 1)
	want.Write(small)
	client.Write(small)
	deadline := time.Now().Add(10 * time.Second)
	for {
		client.wmu.Lock()
		ok := len(client.pending) == 0 && cap(client.pending) <= idleBuffer && cap(client.spare) <= idleBuffer
		client.wmu.Unlock()
		if ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the send buffers stay large after a burst")
		}
		client.Write(small)
		want.Write(small)
		time.Sleep(10 * time.Millisecond)
	}
	client.Close()
	if got := <-done; !bytes.Equal(got, want.Bytes()) {
		t.Fatalf("read %d bytes, want %d (same: %v)", len(got), want.Len(), bytes.HasPrefix(want.Bytes(), got))
	}
	if server.PeerClose() == nil {
		t.Fatal("no close frame after the data")
	}
	if _, err := client.Write(yamuxHdr(1, 0, 1, 0)); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("write after Close: %v", err)
	}
}

// TestGroupedWritesPeerGone: once the transport fails, writes fail (the
// session ends) instead of piling up.
func TestGroupedWritesPeerGone(t *testing.T) {
	server, client := wsPair(t)
	server.hardClose()
	deadline := time.Now().Add(10 * time.Second)
	body := make([]byte, 32<<10)
	for {
		_, err := client.Write(yamuxHdr(0, 0, 1, uint32(len(body))))
		if err == nil {
			_, err = client.Write(body)
		}
		if err != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("writes to a closed peer still succeed")
		}
	}
}

// The send buffers keep a burst's size while batches are large now and
// then (a bulk transfer alternates large batches and one-frame ones), and
// shrink once none has been large for keepLarge.
func TestKeepBuffers(t *testing.T) {
	c := &wsConn{}
	large := make([]byte, 2*idleBuffer, 4*idleBuffer)
	c.keepBuffers(large)
	if cap(c.spare) != 4*idleBuffer {
		t.Fatalf("after a large batch: spare of %d bytes, want the batch's %d kept", cap(c.spare), 4*idleBuffer)
	}
	// A one-frame batch in the large buffer, between large ones.
	c.pending, c.spare = c.spare[:0], nil
	oneFrame := make([]byte, 100, 4*idleBuffer)
	c.keepBuffers(oneFrame)
	if cap(c.spare) != 4*idleBuffer || cap(c.pending) != 4*idleBuffer {
		t.Fatalf("a small batch right after a large one: spare %d, pending %d bytes; want both large buffers kept", cap(c.spare), cap(c.pending))
	}
	// Too large to keep at all.
	c.spare = nil
	c.keepBuffers(make([]byte, 2*idleBuffer, 4*maxPending))
	if c.spare != nil {
		t.Fatalf("a batch buffer of %d bytes was kept", 4*maxPending)
	}
	// Small traffic for longer than keepLarge: both shrink.
	c.lastLarge = time.Now().Add(-keepLarge - time.Millisecond)
	c.pending = c.pending[:0]
	c.keepBuffers(make([]byte, 100, 4*idleBuffer))
	if c.spare != nil || c.pending != nil {
		t.Fatalf("small traffic for %v: spare %d, pending %d bytes; want both let go", keepLarge, cap(c.spare), cap(c.pending))
	}
	// Small buffers are always kept.
	c.keepBuffers(make([]byte, 100, idleBuffer))
	if cap(c.spare) != idleBuffer {
		t.Fatalf("a small buffer was not kept: spare %d bytes", cap(c.spare))
	}
}
