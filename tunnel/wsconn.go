package tunnel

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
)

// WebSocket close codes this package sends (spec.md, "Errors a peer can
// read"). 1000 and 1001 are the standard ones.
const (
	// CloseReplaced: the edge closed a session because the same system
	// opened a newer one (session takeover).
	CloseReplaced websocket.StatusCode = 4000
	// CloseDisconnected: the edge's operator ended the system's session
	// (Edge.Disconnect), e.g. because the system was removed.
	CloseDisconnected websocket.StatusCode = 4001
)

// wsConn adapts a WebSocket to the byte stream that carries the yamux
// session (a net.Conn). Message boundaries carry no meaning; reads take
// binary messages in order. Writes coalesce each yamux frame (header and
// body, which yamux writes apart) into one WebSocket message.
type wsConn struct {
	ws *websocket.Conn
	// hardClose closes the transport under the WebSocket at once.
	hardClose func() error
	// On the dialing side, cork gathers a message's writes into one write
	// to TLS, and batch (when the HTTP client's dialer could be wrapped)
	// gathers the TLS records into one write(2). Both nil on the accepting
	// side, whose buffered writer is already large.
	cork          *corkConn
	batch         *batchConn
	local, remote net.Addr

	tune tuning // copied at creation

	rmu    sync.Mutex
	gate   chan struct{} // when not nil, reads wait until it is closed
	reader io.Reader
	rerr   error

	// The write side. yamux writes every frame from one goroutine (its
	// send loop) and waits for each write. Small frames are gathered in
	// pending and sent by flushLoop, one message per batch: what yamux
	// queues while a message is being written goes out together in the
	// next one, so under load several frames share a message, a TLS record
	// and a write(2) (group commit; nothing waits for more to come). A
	// large frame (bulk data) is written by the caller itself when nothing
	// is pending or being written: no copy, no handoff.
	callMu    sync.Mutex // serializes Write calls; guards co
	co        coalescer
	wmu       sync.Mutex // guards what follows, shared with flushLoop
	writing   bool       // a message is being written (by flushLoop or Write)
	pending   []byte     // whole frames (or pieces of maxMessage) not yet sent
	spare     []byte     // the other buffer, reused
	lastLarge time.Time  // when a batch last filled more than idleBuffer
	dataReady sync.Cond  // pending is not empty, or closing
	spaceFree sync.Cond  // pending was taken, or the write side failed
	flushing  bool       // flushLoop was started
	closing   bool       // Close was called: flushLoop drains and ends
	werr      error      // sticky: a failed send, or net.ErrClosed
	flushDone chan struct{}

	statusMu sync.Mutex
	code     websocket.StatusCode
	reason   string

	peerClose atomic.Pointer[websocket.CloseError]
	closeOnce sync.Once
	closed    chan struct{}

	// The silence watch (watchSilence): when a read last returned data,
	// as time since born; the timer; whether the watch ended the session.
	born      time.Time
	lastRead  atomic.Int64
	silence   atomic.Pointer[time.Timer]
	silent    time.Duration
	tooSilent atomic.Bool
}

// errSilent: the watch found nothing read from the peer for too long.
var errSilent = errors.New("nothing arrived from the peer within the silence bound")

// watchSilence closes the transport when nothing has been read for d (the
// agent's dead-path detection: the edge pings at least every keep-alive
// interval, so a live session is never silent that long). Reads then fail
// with errSilent. Call it before the first read.
func (c *wsConn) watchSilence(d time.Duration) {
	c.born, c.silent = time.Now(), d
	t := time.AfterFunc(time.Duration(math.MaxInt64), c.checkSilence)
	c.silence.Store(t)
	t.Reset(d)
}

// readSome notes that a read returned data. The timer is not pushed back
// here: a runtime timer moved later still woke the idle daemon at its old
// time (strace: a wake-up 4 s after every ping, with a push per ping); left
// alone it fires once a silence bound and finds the last read recent.
func (c *wsConn) readSome() {
	c.lastRead.Store(int64(time.Since(c.born)))
}

func (c *wsConn) checkSilence() {
	quiet := time.Since(c.born) - time.Duration(c.lastRead.Load())
	if quiet < c.silent {
		c.silence.Load().Reset(c.silent - quiet)
		return
	}
	c.tooSilent.Store(true)
	_ = c.hardClose()
}

func newWSConn(ws *websocket.Conn, hardClose func() error, cork *corkConn, batch *batchConn, local, remote net.Addr) *wsConn {
	ws.SetReadLimit(-1) // messages are read as a stream; their size does not matter
	c := &wsConn{ws: ws, hardClose: hardClose, cork: cork, batch: batch, local: local, remote: remote, closed: make(chan struct{})}
	c.tune = tune
	c.dataReady.L, c.spaceFree.L = &c.wmu, &c.wmu
	c.flushDone = make(chan struct{})
	c.co.emit = c.appendPending
	if c.tune.noGroup {
		c.co.emit = c.writeMessage
	}
	c.co.off = c.tune.noCoalesce
	return c
}

// Read reads the byte stream. A close frame from the peer reads as io.EOF;
// PeerClose tells its code and reason.
func (c *wsConn) Read(p []byte) (int, error) {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	if c.rerr != nil {
		return 0, c.rerr
	}
	if c.gate != nil {
		select {
		case <-c.gate:
			c.gate = nil
		case <-c.closed:
			return 0, net.ErrClosed
		}
	}
	for {
		if c.reader == nil {
			typ, r, err := c.ws.Reader(context.Background())
			if err != nil && c.tooSilent.Load() {
				err = errSilent
			}
			if err != nil {
				var ce websocket.CloseError
				if errors.As(err, &ce) {
					c.peerClose.Store(&ce)
					err = io.EOF
				}
				c.rerr = err
				return 0, err
			}
			if typ != websocket.MessageBinary {
				c.SetCloseStatus(websocket.StatusUnsupportedData, "text message on a "+Subprotocol+" session")
				c.rerr = errors.New("the peer sent a text message; the tunnel session carries binary messages only")
				return 0, c.rerr
			}
			c.reader = r
		}
		n, err := c.reader.Read(p)
		if n > 0 && c.silent > 0 {
			c.readSome()
		}
		if err == io.EOF {
			c.reader = nil
			if n == 0 {
				continue
			}
			err = nil
		}
		return n, err
	}
}

// holdReads makes reads wait until the returned function is called; the
// edge registers a session before its yamux reads anything.
func (c *wsConn) holdReads() (release func()) {
	gate := make(chan struct{})
	c.gate = gate
	var once sync.Once
	return func() { once.Do(func() { close(gate) }) }
}

// idleBuffer is the largest send buffer kept while the traffic is small.
const idleBuffer = 64 << 10

// maxPending bounds the bytes gathered for sending: beyond it, Write waits
// for the flush loop (yamux's own write timeout still applies above).
const maxPending = 1 << 20

// Write writes the byte stream. It returns once p is gathered for sending;
// a failed send is reported by a later Write.
func (c *wsConn) Write(p []byte) (int, error) {
	c.callMu.Lock()
	defer c.callMu.Unlock()
	if c.tune.noGroup {
		return c.co.Write(p)
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	for c.werr == nil && !c.closing && len(c.pending) >= maxPending {
		c.spaceFree.Wait()
	}
	if c.werr != nil {
		return 0, c.werr
	}
	if c.closing {
		return 0, net.ErrClosed
	}
	if !c.flushing {
		c.flushing = true
		go c.flushLoop()
	}
	return c.co.Write(p)
}

// directWrite is the smallest frame Write sends itself when the
// connection is idle: a syscall per frame of this size costs little.
const directWrite = 8 << 10

// appendPending is the coalescer's emit when writes are gathered: Write
// holds callMu and wmu.
func (c *wsConn) appendPending(p []byte) error {
	if len(p) >= directWrite && !c.writing && len(c.pending) == 0 {
		c.writing = true
		c.wmu.Unlock()
		err := c.writeMessage(p) // p is the coalescer's, guarded by callMu
		c.wmu.Lock()
		c.writing = false
		if err != nil && c.werr == nil {
			c.werr = err
			c.spaceFree.Broadcast()
		}
		c.dataReady.Signal() // flushLoop may wait for the end of this write
		return err
	}
	if len(c.pending) == 0 {
		c.dataReady.Signal()
	}
	c.pending = append(c.pending, p...)
	return nil
}

// flushLoop sends what Write gathered, all of it in one message (or
// several of maxMessage), until the conn is closed and drained or a send
// fails.
func (c *wsConn) flushLoop() {
	defer close(c.flushDone)
	c.wmu.Lock()
	defer c.wmu.Unlock()
	for {
		for (len(c.pending) == 0 || c.writing) && !(c.closing && !c.writing) && c.werr == nil {
			c.dataReady.Wait()
		}
		if c.werr != nil {
			c.pending = nil
			return
		}
		if len(c.pending) == 0 {
			return // closing, and everything was sent
		}
		batch := c.pending
		c.writing = true
		c.pending, c.spare = c.spare[:0], nil
		c.spaceFree.Broadcast()
		c.wmu.Unlock()
		var err error
		for rest := batch; len(rest) > 0 && err == nil; {
			k := min(len(rest), maxMessage)
			err = c.writeMessage(rest[:k])
			rest = rest[k:]
		}
		c.wmu.Lock()
		c.writing = false
		c.keepBuffers(batch)
		if err != nil {
			if c.werr == nil {
				c.werr = err
			}
			c.pending = nil
			c.spaceFree.Broadcast()
			return
		}
	}
}

// keepLarge is how long the send buffers keep the size a burst grew them
// to after the last batch that needed it.
const keepLarge = time.Second

// keepBuffers decides, after batch was sent, which send buffers to keep
// (wmu held). Buffers grow to the bursts and are kept, up to the largest a
// full batch grows to, while the traffic is large: a bulk transfer's
// batches alternate between large ones and small ones (when the writes keep
// up, a batch is one frame), and growing a new buffer from empty after
// each small one allocated three quarters of all the daemon allocated
// under `make bench` (its heap profile; bench/README.md, "What was
// tried"). Once no batch has been large for keepLarge they shrink, at the
// next send (keep-alives come at least every KeepAliveInterval).
func (c *wsConn) keepBuffers(batch []byte) {
	if cap(batch) <= idleBuffer && cap(c.pending) <= idleBuffer {
		c.spare = batch[:0]
		return
	}
	now := time.Now()
	if len(batch) > idleBuffer {
		c.lastLarge = now
	}
	if now.Sub(c.lastLarge) < keepLarge {
		if cap(batch) <= 2*maxPending {
			c.spare = batch[:0]
		}
		return
	}
	if cap(batch) <= idleBuffer {
		c.spare = batch[:0]
	}
	if len(c.pending) == 0 && cap(c.pending) > idleBuffer {
		c.pending = nil
	}
}

// stopWrites makes the flush loop send what is gathered and end; later
// writes fail. It returns a channel closed when the loop has ended.
func (c *wsConn) stopWrites() <-chan struct{} {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if !c.closing {
		c.closing = true
		c.dataReady.Signal()
		c.spaceFree.Broadcast()
		if !c.flushing {
			c.flushing = true
			close(c.flushDone)
		}
	}
	return c.flushDone
}

// writeMessage sends one WebSocket message.
func (c *wsConn) writeMessage(p []byte) error {
	if c.batch != nil && !c.tune.noBatch {
		c.batch.Cork()
	}
	if c.cork != nil && !c.tune.noCork {
		c.cork.Cork()
	}
	err := c.ws.Write(context.Background(), websocket.MessageBinary, p)
	if c.cork != nil {
		if ferr := c.cork.Uncork(); err == nil {
			err = ferr
		}
	}
	if c.batch != nil {
		if ferr := c.batch.Uncork(); err == nil {
			err = ferr
		}
	}
	return err
}

// tuning switches optimizations off, for measurements in tests only; a
// session takes the value of tune when it starts.
type tuning struct {
	noCoalesce, noCork, noBatch, noGroup bool
	serverBuf                            int
}

var tune tuning

// SetCloseStatus sets the code and reason Close sends; the first call wins.
func (c *wsConn) SetCloseStatus(code websocket.StatusCode, reason string) {
	c.statusMu.Lock()
	defer c.statusMu.Unlock()
	if c.code == 0 {
		c.code, c.reason = code, truncateUTF8(reason, 123)
	}
}

// PeerClose returns the close frame the peer sent, or nil.
func (c *wsConn) PeerClose() *websocket.CloseError { return c.peerClose.Load() }

// Close sends a close frame (SetCloseStatus, else 1001) and waits briefly
// for the peer's; then it closes the transport. It waits for nothing else.
func (c *wsConn) Close() error {
	c.closeOnce.Do(func() {
		c.statusMu.Lock()
		code, reason := c.code, c.reason
		c.statusMu.Unlock()
		if code == 0 {
			code, reason = websocket.StatusGoingAway, "session ended"
		}
		done := make(chan struct{})
		go func() {
			defer close(done)
			<-c.stopWrites() // what yamux wrote goes out before the close frame
			_ = c.ws.Close(code, reason)
		}()
		t := time.NewTimer(closeGrace)
		select {
		case <-done:
		case <-t.C:
			_ = c.hardClose()
			<-done
		}
		t.Stop()
		_ = c.hardClose()
		if st := c.silence.Load(); st != nil {
			st.Stop()
		}
		close(c.closed)
	})
	return nil
}

func (c *wsConn) LocalAddr() net.Addr  { return c.local }
func (c *wsConn) RemoteAddr() net.Addr { return c.remote }

// Deadlines are not used by yamux and not supported.
func (c *wsConn) SetDeadline(time.Time) error      { return errNoDeadline }
func (c *wsConn) SetReadDeadline(time.Time) error  { return errNoDeadline }
func (c *wsConn) SetWriteDeadline(time.Time) error { return errNoDeadline }

var errNoDeadline = errors.New("tunnel: the session transport has no deadlines")

// yamux frame layout (hashicorp/yamux spec.md): version(1) type(1)
// flags(2) stream ID(4) length(4), big-endian; a Data frame's length bytes
// of body follow.
const (
	yamuxHeaderLen = 12
	yamuxVersion   = 0
	yamuxTypeData  = 0
	yamuxTypeMax   = 3 // GoAway

	// maxMessage bounds a coalesced message: a longer frame body goes out
	// in several messages (their boundaries carry no meaning).
	maxMessage = 256 << 10
)

// yamuxBodyLen parses a yamux frame header and returns how many body bytes
// follow it.
func yamuxBodyLen(h []byte) (uint32, error) {
	if len(h) < yamuxHeaderLen {
		return 0, fmt.Errorf("short yamux frame header (%d bytes)", len(h))
	}
	if h[0] != yamuxVersion {
		return 0, fmt.Errorf("yamux frame version %d, want %d", h[0], yamuxVersion)
	}
	if h[1] > yamuxTypeMax {
		return 0, fmt.Errorf("unknown yamux frame type %d", h[1])
	}
	if h[1] != yamuxTypeData {
		return 0, nil // the length field of other types is not a body length
	}
	return binary.BigEndian.Uint32(h[8:12]), nil
}

// coalescer turns yamux's writes into WebSocket messages of whole frames:
// it parses the frame headers in the byte stream and holds a Data frame's
// header until its body has arrived.
type coalescer struct {
	emit   func([]byte) error
	buf    []byte // the frame being gathered
	inBody bool   // the header in buf is complete
	need   uint32 // body bytes still to come
	err    error  // sticky: after an error the stream is out of step
	off    bool   // one message per write (measurements only)
}

func (c *coalescer) Write(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	if c.off {
		if err := c.emit(p); err != nil {
			return 0, err
		}
		return len(p), nil
	}
	total := len(p)
	for len(p) > 0 {
		if !c.inBody {
			k := min(yamuxHeaderLen-len(c.buf), len(p))
			c.buf = append(c.buf, p[:k]...)
			p = p[k:]
			if len(c.buf) < yamuxHeaderLen {
				break
			}
			need, err := yamuxBodyLen(c.buf)
			if err != nil {
				c.err = fmt.Errorf("tunnel: writing the session: %w", err)
				return total - len(p), c.err
			}
			c.inBody, c.need = true, need
		}
		k := min(uint64(c.need), uint64(len(p)), uint64(maxMessage-len(c.buf)))
		c.buf = append(c.buf, p[:k]...)
		p = p[k:]
		c.need -= uint32(k)
		if c.need == 0 || len(c.buf) >= maxMessage {
			if err := c.emit(c.buf); err != nil {
				c.err = err
				return total - len(p), err
			}
			c.buf = c.buf[:0]
			if c.need == 0 {
				c.inBody = false
			}
		}
	}
	return total, nil
}

// corker gathers writes while corked and sends them as one write when
// uncorked. Writes while not corked pass straight through.
type corker struct {
	w      io.Writer
	mu     sync.Mutex
	corked bool
	buf    []byte
}

const maxCork = 512 << 10

func (c *corker) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.corked && len(c.buf)+len(p) <= maxCork {
		c.buf = append(c.buf, p...)
		return len(p), nil
	}
	if err := c.flushLocked(); err != nil {
		return 0, err
	}
	return c.w.Write(p)
}

// Cork starts gathering writes.
func (c *corker) Cork() {
	c.mu.Lock()
	c.corked = true
	c.mu.Unlock()
}

// Uncork sends what was gathered and stops gathering.
func (c *corker) Uncork() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.corked = false
	return c.flushLocked()
}

func (c *corker) flushLocked() error {
	if len(c.buf) == 0 {
		return nil
	}
	_, err := c.w.Write(c.buf)
	c.buf = c.buf[:0]
	return err
}

// corkConn is the dialing side's plaintext transport under the WebSocket
// library (the upgraded HTTP connection). The library masks a client's
// payload into a 4 KiB buffer and flushes it each time it fills: one TLS
// record (and, without batchConn, one write(2)) per 4 KiB. Corked around a
// message, those become one TLS write, cut into records of up to 16 KiB.
type corkConn struct {
	rwc io.ReadWriteCloser
	corker
}

func newCorkConn(rwc io.ReadWriteCloser) *corkConn {
	c := &corkConn{rwc: rwc}
	c.w = rwc
	return c
}

func (c *corkConn) Read(p []byte) (int, error) { return c.rwc.Read(p) }
func (c *corkConn) Close() error               { return c.rwc.Close() }

// batchConn is the dialing side's TCP connection under TLS. crypto/tls
// writes each record with its own write(2); corked around a message, the
// records go out in one.
type batchConn struct {
	net.Conn
	corker
}

func newBatchConn(c net.Conn) *batchConn {
	b := &batchConn{Conn: c}
	b.w = c
	return b
}

func (b *batchConn) Write(p []byte) (int, error) { return b.corker.Write(p) }
