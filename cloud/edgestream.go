package cloud

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// The edge's proxy sends requests over tunnel streams with streamTransport,
// its http.RoundTripper, instead of an http.Transport.
//
// Each public (client) connection keeps one tunnel stream: its requests,
// which HTTP/1.1 serves one after another, go over that stream in turn,
// written and read by the request's own goroutine. http.Transport keeps a
// pool shared by all clients instead, and two goroutines per pooled
// connection that hand every request and response over channels; on the
// small-request path that hand-over was a tenth of the edge's CPU. A held
// stream also keeps the stream header's client address true for every
// request on it.
//
// The stream is opened by the connection's first proxied request, kept
// while responses end cleanly (a body read to its end, no Connection:
// close), and closed with the public connection (http.Server.ConnState),
// when a response is not read to its end, when the request's context ends
// (the client went away), or on the next request after the tunnels
// changed (tunnelsChanged). A request sent over a kept stream that fails
// before any byte of an answer arrives (the daemon closed the stream while
// it was idle) is sent again over a new stream when it has no body;
// before any other request (one with a body, or not idempotent) is sent
// over a kept stream, the stream is checked without waiting.

// streamHolder is a public connection's tunnel stream.
type streamHolder struct {
	mu     sync.Mutex
	s      *heldStream // nil: none, or in use
	closed bool        // the public connection is gone
}

// heldStream is an open tunnel stream with its buffers.
type heldStream struct {
	conn net.Conn
	br   *bufio.Reader
	bw   *bufio.Writer
	// key is the system and tunnel the stream leads to; gen is the
	// edge's stream generation when it was opened.
	key string
	gen uint64
}

type streamHolderKey struct{}

// streamBufSize is the size of a held stream's read and write buffers.
const streamBufSize = 16 << 10

// take returns the kept stream if it leads to key and is of generation
// gen, and nothing otherwise (closing a stale one). The caller owns what
// it gets until it gives it back with keep.
func (h *streamHolder) take(key string, gen uint64) *heldStream {
	h.mu.Lock()
	s := h.s
	h.s = nil
	h.mu.Unlock()
	if s != nil && (s.key != key || s.gen != gen) {
		s.conn.Close()
		s = nil
	}
	return s
}

// keep gives a stream back for the connection's next request; a holder
// whose connection is gone, or that got another stream meanwhile, closes
// it instead.
func (h *streamHolder) keep(s *heldStream) {
	h.mu.Lock()
	if h.closed || h.s != nil {
		h.mu.Unlock()
		s.conn.Close()
		return
	}
	h.s = s
	h.mu.Unlock()
}

// close closes the kept stream; later ones are closed when given back.
func (h *streamHolder) close() {
	h.mu.Lock()
	s := h.s
	h.s, h.closed = nil, true
	h.mu.Unlock()
	if s != nil {
		s.conn.Close()
	}
}

// connContext gives each public connection its stream holder.
func (e *edge) connContext(ctx context.Context, c net.Conn) context.Context {
	h := &streamHolder{}
	e.holdersMu.Lock()
	e.holders[c] = h
	e.holdersMu.Unlock()
	return context.WithValue(ctx, streamHolderKey{}, h)
}

// connState closes a public connection's stream when the connection ends.
// (A hijacked connection is an upgraded one, e.g. a WebSocket: its stream
// went with the upgrade and is closed by the proxy's copy.)
func (e *edge) connState(c net.Conn, st http.ConnState) {
	if st != http.StateClosed && st != http.StateHijacked {
		return
	}
	e.holdersMu.Lock()
	h := e.holders[c]
	delete(e.holders, c)
	e.holdersMu.Unlock()
	if h != nil {
		h.close()
	}
}

// closeHeldStreams closes every public connection's kept stream.
func (e *edge) closeHeldStreams() {
	e.holdersMu.Lock()
	hs := make([]*streamHolder, 0, len(e.holders))
	for _, h := range e.holders {
		hs = append(hs, h)
	}
	e.holdersMu.Unlock()
	for _, h := range hs {
		h.mu.Lock()
		s := h.s
		h.s = nil
		h.mu.Unlock()
		if s != nil {
			s.conn.Close()
		}
	}
}

// streamTransport is the proxy's RoundTripper (see above).
type streamTransport struct {
	e *edge
	// gen is bumped when the tunnels change, so that kept streams are not
	// used again.
	gen atomic.Uint64
}

// errNoAnswer: the stream ended before any byte of an answer.
var errNoAnswer = errors.New("the tunnel stream closed before the answer began")

func (t *streamTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	pt, _ := ctx.Value(proxyTargetKey{}).(*proxyTarget)
	if pt == nil {
		closeBody(req)
		return nil, errors.New("no tunnel for this request")
	}
	if req.URL.Host != pt.rt.tunnel.UUID {
		closeBody(req)
		return nil, fmt.Errorf("request for %s sent to tunnel %s", req.URL.Host, pt.rt.tunnel.UUID)
	}
	h, _ := ctx.Value(streamHolderKey{}).(*streamHolder)
	if h == nil {
		h = &streamHolder{closed: true} // not from the public listener: one stream per request
	}
	// A stream carries one user's requests: the header the daemon records
	// names that user.
	key := pt.rt.system.ID + "/" + pt.rt.tunnel.ID + "/" + pt.user
	gen := t.gen.Load()
	hasBody := req.Body != nil && req.Body != http.NoBody
	replayable := !hasBody && idempotent(req)
	s := h.take(key, gen)
	if s != nil && !replayable && !s.idleAndOpen() {
		s.conn.Close()
		s = nil
	}
	for attempt := 0; ; attempt++ {
		reused := s != nil
		if s == nil {
			c, err := t.open(ctx, pt)
			if err != nil {
				closeBody(req)
				return nil, err
			}
			s = &heldStream{conn: c, br: bufio.NewReaderSize(c, streamBufSize), bw: bufio.NewWriterSize(c, streamBufSize), key: key, gen: gen}
		}
		res, err := t.exchange(ctx, h, s, req, hasBody)
		if err == nil {
			return res, nil
		}
		s.conn.Close()
		s = nil
		// A kept stream the daemon had closed: send again over a new one
		// what can be sent again.
		if !reused || attempt > 0 || !replayable || !errors.Is(err, errNoAnswer) || ctx.Err() != nil {
			return nil, err
		}
	}
}

// idempotent reports whether sending the request twice does what sending
// it once does (RFC 9110, 9.2.2).
func idempotent(req *http.Request) bool {
	switch req.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace:
		return true
	}
	return false
}

// open opens a tunnel stream to the request's tunnel.
func (t *streamTransport) open(ctx context.Context, pt *proxyTarget) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, edgeOpenTimeout)
	defer cancel()
	return t.e.tun.OpenAs(ctx, pt.rt.system.ID, pt.rt.tunnel.ID, pt.client, t.e.userName(ctx, pt.user))
}

// exchange sends the request over s and reads the response's head. The
// response's body gives s back to h once read to its end.
func (t *streamTransport) exchange(ctx context.Context, h *streamHolder, s *heldStream, req *http.Request, hasBody bool) (*http.Response, error) {
	// The client going away ends the exchange (and the stream).
	var aborted atomic.Bool
	stop := context.AfterFunc(ctx, func() { aborted.Store(true); s.conn.Close() })
	fail := func(err error) (*http.Response, error) {
		stop()
		if aborted.Load() {
			return nil, ctx.Err()
		}
		return nil, err
	}
	var bodyErr chan error
	if hasBody {
		// The body goes out beside the response, as http.Transport does:
		// the origin may answer (and stop reading) before it has all of it.
		bodyErr = make(chan error, 1)
		go func() { bodyErr <- writeRequest(s.bw, req) }()
	} else if err := writeRequest(s.bw, req); err != nil {
		return fail(fmt.Errorf("%w: %v", errNoAnswer, err))
	}
	var res *http.Response
	for {
		if _, err := s.br.Peek(1); err != nil {
			return fail(fmt.Errorf("%w: %v", errNoAnswer, err))
		}
		r, err := http.ReadResponse(s.br, req)
		if err != nil {
			return fail(fmt.Errorf("reading the answer through the tunnel: %w", err))
		}
		// Interim answers (100 Continue, 103 Early Hints) are read past;
		// 101 Switching Protocols is the final one of an upgrade.
		if r.StatusCode >= 100 && r.StatusCode < 200 && r.StatusCode != http.StatusSwitchingProtocols {
			continue
		}
		res = r
		break
	}
	if res.StatusCode == http.StatusSwitchingProtocols {
		// The stream now carries the upgraded protocol and leaves the
		// holder; the proxy copies it both ways and closes it.
		stop()
		res.Body = &upgradedStream{s: s}
		return res, nil
	}
	res.Body = &streamBody{rc: res.Body, t: t, h: h, s: s, stop: stop, bodyErr: bodyErr,
		reusable: !res.Close && !req.Close}
	return res, nil
}

// writeRequest writes the request and flushes it.
func writeRequest(bw *bufio.Writer, req *http.Request) error {
	if err := req.Write(bw); err != nil {
		return err
	}
	return bw.Flush()
}

// idleAndOpen reports, without waiting, whether the stream is open and
// has nothing unread (a stream the daemon closed reads as its end).
func (s *heldStream) idleAndOpen() bool {
	if s.br.Buffered() > 0 {
		return false
	}
	_ = s.conn.SetReadDeadline(time.Unix(1, 0))
	_, err := s.br.Peek(1)
	_ = s.conn.SetReadDeadline(time.Time{})
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// streamBody is a response body read from a held stream.
type streamBody struct {
	rc       io.ReadCloser
	t        *streamTransport
	h        *streamHolder
	s        *heldStream
	stop     func() bool
	bodyErr  chan error // the request body's writer, when it has one
	reusable bool
	once     sync.Once
}

func (b *streamBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	if err == io.EOF {
		b.done(true)
	}
	return n, err
}

func (b *streamBody) Close() error {
	b.done(false)
	return nil
}

// done gives the stream back (the body was read to its end and the
// exchange may go on) or closes it.
func (b *streamBody) done(atEOF bool) {
	b.once.Do(func() {
		live := b.stop()
		ok := atEOF && live && b.reusable && b.s.gen == b.t.gen.Load()
		if b.bodyErr != nil {
			// Kept only when the request body has gone out whole (an
			// origin may answer before reading all of it).
			select {
			case err := <-b.bodyErr:
				ok = ok && err == nil
			default:
				ok = false // closing the stream ends the body's writer too
			}
		}
		if !ok {
			b.s.conn.Close()
			return
		}
		b.h.keep(b.s)
	})
}

// upgradedStream is the stream of a 101 answer: reads take what the
// response reader had buffered first.
type upgradedStream struct{ s *heldStream }

func (u *upgradedStream) Read(p []byte) (int, error)  { return u.s.br.Read(p) }
func (u *upgradedStream) Write(p []byte) (int, error) { return u.s.conn.Write(p) }
func (u *upgradedStream) Close() error                { return u.s.conn.Close() }

// closeBody closes a request's body that will not be sent.
func closeBody(req *http.Request) {
	if req.Body != nil {
		req.Body.Close()
	}
}
