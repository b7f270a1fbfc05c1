package tunnel

import (
	"context"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/yamux"
)

// addr is a net.Addr of this package ("cld-tunnel" network).
type addr string

func (a addr) Network() string { return "cld-tunnel" }
func (a addr) String() string  { return string(a) }

// streamConn is a yamux stream as a net.Conn with the usual semantics:
// CloseWrite half-closes (a yamux FIN; reads go on); Close ends both
// directions at once and unblocks pending reads and writes.
type streamConn struct {
	*yamux.Stream
	local, remote net.Addr
	closed        atomic.Bool
}

func newStreamConn(st *yamux.Stream, local, remote net.Addr) *streamConn {
	return &streamConn{Stream: st, local: local, remote: remote}
}

func (c *streamConn) Read(p []byte) (int, error) {
	n, err := c.Stream.Read(p)
	if err != nil && err != io.EOF && c.closed.Load() {
		err = net.ErrClosed
	}
	return n, err
}

func (c *streamConn) Write(p []byte) (int, error) {
	n, err := c.Stream.Write(p)
	if err != nil && c.closed.Load() {
		err = net.ErrClosed
	}
	return n, err
}

// CloseWrite sends the peer an end of stream; reading goes on.
func (c *streamConn) CloseWrite() error { return c.Stream.Close() }

// Close closes both directions. yamux has no way to reset a stream at
// will: the peer sees an end of stream, and data it still sends is
// dropped here (up to the stream window) until it closes too or
// StreamCloseTimeout resets the stream.
func (c *streamConn) Close() error {
	if c.closed.Swap(true) {
		return nil
	}
	past := time.Unix(1, 0)
	_ = c.Stream.SetDeadline(past)
	return c.Stream.Close()
}

func (c *streamConn) LocalAddr() net.Addr  { return c.local }
func (c *streamConn) RemoteAddr() net.Addr { return c.remote }

// copyBufSize is the size of the pooled buffers that pipe streams; it also
// bounds the size of the yamux Data frames the agent writes. (A variable
// for measurements only.)
var copyBufSize = 32 << 10

var bufPool = sync.Pool{New: func() any { b := make([]byte, copyBufSize); return &b }}

// Wrappers that hide ReadFrom/WriteTo so that io.CopyBuffer uses the
// pooled buffer (a *net.TCPConn's fallback paths allocate their own).
type writerOnly struct{ io.Writer }
type readerOnly struct{ io.Reader }

// copyPooled copies src to dst with a pooled buffer.
func copyPooled(dst io.Writer, src io.Reader) (int64, error) {
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	return io.CopyBuffer(writerOnly{dst}, readerOnly{src}, *bp)
}

// closeWriter is a connection that can be half-closed.
type closeWriter interface{ CloseWrite() error }

// pipe copies a and b both ways until both directions have ended, with
// half-close: the end of one direction is passed on as CloseWrite (where
// the conn supports it; else the other direction decides). An error in
// either direction, or the end of ctx, ends both at once. Both conns are closed when
// pipe returns. It returns the bytes copied from a to b and from b to a.
func pipe(ctx context.Context, a, b net.Conn) (aToB, bToA int64) {
	var once sync.Once
	kill := func() {
		once.Do(func() {
			_ = a.Close()
			_ = b.Close()
		})
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		aToB = oneWay(b, a, kill)
	}()
	stop := context.AfterFunc(ctx, kill)
	defer stop()
	bToA = oneWay(a, b, kill)
	<-done
	kill()
	return aToB, bToA
}

// oneWay copies src to dst; at src's end it half-closes dst, on an error it
// kills both. It returns the bytes copied.
func oneWay(dst, src net.Conn, kill func()) int64 {
	n, err := copyPooled(dst, src)
	if err != nil {
		kill()
		return n
	}
	if cw, ok := dst.(closeWriter); ok {
		if cw.CloseWrite() != nil {
			kill()
		}
		return n
	}
	kill()
	return n
}
