package tunnel

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
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

// buffersHeld counts the copy buffers taken from bufPool and not yet given
// back (the tests read it).
var buffersHeld atomic.Int64

func getBuf() *[]byte {
	buffersHeld.Add(1)
	return bufPool.Get().(*[]byte)
}

func putBuf(bp *[]byte) {
	buffersHeld.Add(-1)
	bufPool.Put(bp)
}

// copyPooled copies src to dst with a pooled buffer. A stream holds the
// buffer only while data flows: after a read that did not fill it, the
// buffer goes back to the pool and the copy waits for src to have
// something to read (data, its end or an error) without one, where src can
// wait so. A socket is then read in the runtime's poller, into a buffer
// taken for that one read (socketReader); a yamux stream waits in a
// zero-length read first (readWaiter). An idle open stream then holds no
// copy buffer, only its goroutine.
func copyPooled(dst io.Writer, src io.Reader) (written int64, err error) {
	sockRead := socketReader(src)
	var wait func()
	if sockRead == nil {
		wait = readWaiter(src)
	}
	canWait := sockRead != nil || wait != nil // without holding a buffer
	var bp *[]byte
	defer func() {
		if bp != nil {
			putBuf(bp)
		}
	}()
	for {
		var nr int
		var er error
		switch {
		case bp != nil:
			nr, er = src.Read(*bp)
		case sockRead != nil:
			bp, nr, er = sockRead()
		default:
			if wait != nil {
				wait()
			}
			bp = getBuf()
			nr, er = src.Read(*bp)
		}
		if nr > 0 {
			nw, ew := dst.Write((*bp)[:nr])
			if nw < 0 || nw > nr {
				nw, ew = 0, errors.New("invalid write result")
			}
			written += int64(nw)
			if ew == nil && nw != nr {
				ew = io.ErrShortWrite
			}
			if ew != nil {
				return written, ew
			}
		}
		if er != nil {
			if er == io.EOF {
				er = nil
			}
			return written, er
		}
		if canWait && nr < len(*bp) {
			putBuf(bp)
			bp = nil
		}
	}
}

// readWaiter returns a function that blocks until r has something to read
// (data, its end or an error; the read that follows tells which), or nil
// when r cannot wait without a buffer. A yamux stream waits in a
// zero-length read. A TLS connection may hold decrypted bytes the socket
// no longer shows, so it gets nil.
func readWaiter(r io.Reader) func() {
	if c, ok := r.(*streamConn); ok {
		return func() { _, _ = c.Stream.Read(nil) }
	}
	return nil
}

// socketReader returns, for a TCP or Unix socket, a function that reads it
// once it has something to read, into a buffer from the pool taken only
// for the read: a read that would block gives the buffer back and waits in
// the runtime's poller. It returns the buffer (nil with an error and no
// data), the bytes read and io.EOF at the peer's end. Other readers get
// nil. (A peek that waited, followed by a read, cost a system call more
// per answer: 13 % of the daemon's CPU under small requests.)
func socketReader(r io.Reader) func() (*[]byte, int, error) {
	var sc syscall.Conn
	network := ""
	switch c := r.(type) {
	case *net.TCPConn:
		sc, network = c, "tcp"
	case *net.UnixConn:
		sc, network = c, "unix"
	default:
		return nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	var (
		bp   *[]byte
		n    int
		rerr error
	)
	read := func(fd uintptr) bool {
		bp = getBuf()
		for {
			n, rerr = syscall.Read(int(fd), *bp)
			if rerr != syscall.EINTR {
				break
			}
		}
		if rerr == syscall.EAGAIN {
			putBuf(bp)
			bp = nil
			return false
		}
		return true
	}
	return func() (*[]byte, int, error) {
		if err := rc.Read(read); err != nil {
			if bp != nil {
				putBuf(bp)
				bp = nil
			}
			return nil, 0, err
		}
		got := bp
		bp = nil
		switch {
		case rerr != nil:
			putBuf(got)
			return nil, 0, &net.OpError{Op: "read", Net: network, Err: os.NewSyscallError("read", rerr)}
		case n <= 0:
			putBuf(got)
			return nil, 0, io.EOF
		}
		return got, n, nil
	}
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
