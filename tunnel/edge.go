package tunnel

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/coder/websocket"
	"github.com/hashicorp/yamux"
)

// DefaultOpenTimeout bounds Edge.Open's wait for the agent's reply; it is
// longer than the agent's local dial timeout so that a slow local service
// is reported as such.
const DefaultOpenTimeout = 15 * time.Second

// serverWriteBuffer is the size of the edge's buffered writer under the
// WebSocket: a whole message goes out in one write.
const serverWriteBuffer = 64 << 10

// AuthError, returned by EdgeConfig.Authenticate, chooses the HTTP status
// and error code of the answer (default: 401 "invalid_token").
type AuthError struct {
	Status      int    // HTTP status, 401 or 403
	Code        string // the JSON error code, such as "system_revoked"
	Description string // a sentence for the host's operator
}

func (e *AuthError) Error() string { return e.Description }

// errorJSON is the body of every error answer: the cloud's error shape
// (cloudapi.Error, the OAuth 2.0 shape).
type errorJSON struct {
	Code        string `json:"error"`
	Description string `json:"error_description,omitempty"`
}

func writeError(w http.ResponseWriter, status int, code, desc string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(errorJSON{Code: code, Description: desc})
}

// edgeSession is one daemon's session at the edge.
type edgeSession struct {
	systemID string
	nonce    string // the agent's session nonce, bound into every header's signature
	sess     *yamux.Session
	conn     *wsConn
}

func (s *edgeSession) close(code websocket.StatusCode, reason string) {
	s.conn.SetCloseStatus(code, reason)
	s.sess.Close()
}

func (e *Edge) init() {
	e.once.Do(func() {
		e.sessions = map[string]*edgeSession{}
		e.log = logger(e.cfg.Logger)
		e.signer, e.pub = edgeSigner(e.cfg.Signer)
	})
}

func (e *Edge) serveHTTP(w http.ResponseWriter, r *http.Request) {
	e.init()
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		writeError(w, http.StatusServiceUnavailable, "temporarily_unavailable", "The tunnel edge is shutting down; connect again later.")
		return
	}
	e.wg.Add(1)
	e.mu.Unlock()
	defer e.wg.Done()

	if r.Method != http.MethodGet {
		w.Header().Set("Allow", http.MethodGet)
		writeError(w, http.StatusMethodNotAllowed, "invalid_request", "The tunnel endpoint takes a WebSocket GET.")
		return
	}
	if e.cfg.Authenticate == nil {
		writeError(w, http.StatusInternalServerError, "server_error", "The tunnel edge has no way to check tokens.")
		return
	}
	systemID, err := e.cfg.Authenticate(r)
	if err == nil && systemID == "" {
		err = errors.New("the token belongs to no system")
	}
	if err != nil {
		status, code, desc := http.StatusUnauthorized, "invalid_token", err.Error()
		var ae *AuthError
		if errors.As(err, &ae) {
			if ae.Status != 0 {
				status = ae.Status
			}
			if ae.Code != "" {
				code = ae.Code
			}
		}
		if status == http.StatusUnauthorized {
			w.Header().Set("WWW-Authenticate", `Bearer error="`+code+`"`)
		}
		e.log.Info("tunnel session refused", "remote", r.RemoteAddr, "status", status, "err", err)
		writeError(w, status, code, desc)
		return
	}
	if !offersSubprotocol(r) {
		w.Header().Set("Sec-WebSocket-Protocol", Subprotocol)
		w.Header().Set("Upgrade", "websocket")
		writeError(w, http.StatusUpgradeRequired, "unsupported_protocol",
			"This tunnel edge speaks the WebSocket subprotocol "+Subprotocol+" only; update the daemon.")
		return
	}
	nonce := r.Header.Get(NonceHeader)
	if !validNonce(nonce) {
		writeError(w, http.StatusBadRequest, "invalid_request",
			"The upgrade request carries no valid session nonce ("+NonceHeader+"); update the daemon.")
		return
	}
	w.Header().Set(KeyHeader, encodeKey(e.pub))

	hw := &hijackWriter{ResponseWriter: w}
	ws, err := websocket.Accept(hw, r, &websocket.AcceptOptions{
		Subprotocols:    []string{Subprotocol},
		CompressionMode: websocket.CompressionDisabled,
	})
	if err != nil {
		e.log.Info("tunnel session upgrade failed", "system", systemID, "remote", r.RemoteAddr, "err", err)
		return // Accept has answered
	}
	if hw.conn == nil {
		ws.CloseNow()
		return
	}
	conn := newWSConn(ws, hw.conn.Close, nil, nil, hw.conn.LocalAddr(), hw.conn.RemoteAddr())
	// The session is registered before it reads anything, so that once the
	// agent has its first ping answered, Open finds it.
	release := conn.holdReads()
	sess, err := yamux.Client(conn, e.cfg.Session.yamux(e.log))
	if err != nil {
		release()
		conn.Close()
		e.log.Error("tunnel session start failed", "err", err)
		return
	}
	s := &edgeSession{systemID: systemID, nonce: nonce, sess: sess, conn: conn}
	ok := e.register(s)
	release()
	if !ok {
		s.close(websocket.StatusGoingAway, "the tunnel edge is shutting down")
		return
	}
	e.log.Info("tunnel session up", "system", systemID, "remote", r.RemoteAddr)

	// The agent never opens streams: any it opens are closed. AcceptStream
	// returns the reason once the session has ended.
	var end error
	for {
		st, err := sess.AcceptStream()
		if err != nil {
			if !sess.IsClosed() {
				continue
			}
			end = err
			break
		}
		st.Close()
	}
	sess.Close()
	e.unregister(s)
	reason := "ended"
	if pc := conn.PeerClose(); pc != nil {
		reason = fmt.Sprintf("closed by the agent: %s (%d)", pc.Reason, int(pc.Code))
	} else if errors.Is(end, yamux.ErrKeepAliveTimeout) {
		reason = "keep-alive timed out: the path to the agent is dead"
	} else if end != nil && !errors.Is(end, yamux.ErrSessionShutdown) {
		reason = end.Error()
	}
	e.log.Info("tunnel session down", "system", systemID, "remote", r.RemoteAddr, "reason", reason)
}

// offersSubprotocol reports whether the request offers Subprotocol.
func offersSubprotocol(r *http.Request) bool {
	for _, v := range r.Header.Values("Sec-WebSocket-Protocol") {
		for _, p := range strings.Split(v, ",") {
			if strings.TrimSpace(p) == Subprotocol {
				return true
			}
		}
	}
	return false
}

// hijackWriter gives the WebSocket library a larger buffered writer than
// net/http's 4 KiB one, so that a message goes out in one write.
type hijackWriter struct {
	http.ResponseWriter
	conn net.Conn
}

func (h *hijackWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	nc, brw, err := http.NewResponseController(h.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	h.conn = nc
	size := serverWriteBuffer
	if tune.serverBuf != 0 {
		size = tune.serverBuf
	}
	return nc, bufio.NewReadWriter(brw.Reader, bufio.NewWriterSize(nc, size)), nil
}

// register makes s the system's session; an earlier one is closed.
func (e *Edge) register(s *edgeSession) bool {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return false
	}
	old := e.sessions[s.systemID]
	e.sessions[s.systemID] = s
	e.notifyMu.Lock()
	e.mu.Unlock()
	if e.cfg.OnSession != nil {
		e.cfg.OnSession(s.systemID, true)
	}
	e.notifyMu.Unlock()
	if old != nil {
		e.log.Info("tunnel session replaced by a newer one of the same system", "system", s.systemID,
			"old", old.conn.RemoteAddr().String(), "new", s.conn.RemoteAddr().String())
		old.close(CloseReplaced, "replaced by a newer session of the same system")
	}
	return true
}

// unregister forgets s unless a newer session has replaced it.
func (e *Edge) unregister(s *edgeSession) {
	e.mu.Lock()
	current := e.sessions[s.systemID] == s
	if current {
		delete(e.sessions, s.systemID)
	}
	e.notifyMu.Lock()
	e.mu.Unlock()
	if current && e.cfg.OnSession != nil {
		e.cfg.OnSession(s.systemID, false)
	}
	e.notifyMu.Unlock()
}

func (e *Edge) session(systemID string) *edgeSession {
	e.init()
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.sessions[systemID]
}

func (e *Edge) open(ctx context.Context, systemID, tunnelID, client, user string) (net.Conn, error) {
	if !ValidTunnelID(tunnelID) {
		return nil, fmt.Errorf("tunnel: %s is not a tunnel ID", quoteShort(tunnelID))
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s := e.session(systemID)
	if s == nil || s.sess.IsClosed() {
		return nil, fmt.Errorf("%w (system %s)", ErrNotConnected, systemID)
	}
	st, err := s.openStream(ctx)
	if err != nil {
		if cerr := ctx.Err(); cerr != nil {
			return nil, fmt.Errorf("tunnel: opening tunnel %s of system %s: %w", tunnelID, systemID, cerr)
		}
		if errors.Is(err, yamux.ErrSessionShutdown) || errors.Is(err, yamux.ErrRemoteGoAway) {
			return nil, fmt.Errorf("%w (system %s)", ErrNotConnected, systemID)
		}
		return nil, fmt.Errorf("tunnel: opening a stream to system %s: %w", systemID, err)
	}
	c := newStreamConn(st, addr("edge"), addr(systemID+"/"+tunnelID))
	timeout := e.cfg.OpenTimeout
	if timeout <= 0 {
		timeout = DefaultOpenTimeout
	}
	deadline := time.Now().Add(timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	_ = st.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { _ = st.SetDeadline(time.Unix(1, 0)) })

	h := Header{Tunnel: tunnelID, Client: cleanClient(client), User: user}
	err = h.validate()
	if err == nil {
		err = signHeader(e.signer, binding{system: systemID, nonce: s.nonce, stream: st.StreamID()}, &h)
	}
	if err == nil {
		err = WriteHeader(st, h)
	}
	var rep Reply
	if err == nil {
		rep, err = ReadReply(st)
	}
	if !stop() && err == nil {
		err = ctx.Err()
	}
	if err != nil {
		c.Close()
		if cerr := ctx.Err(); cerr != nil {
			return nil, fmt.Errorf("tunnel: opening tunnel %s of system %s: %w", tunnelID, systemID, cerr)
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return nil, fmt.Errorf("tunnel: the host (system %s) did not answer for tunnel %s in time", systemID, tunnelID)
		}
		if s.sess.IsClosed() {
			return nil, fmt.Errorf("%w (system %s)", ErrNotConnected, systemID)
		}
		return nil, fmt.Errorf("tunnel: opening tunnel %s of system %s: %w", tunnelID, systemID, err)
	}
	if rep.Code != ReplyOK {
		c.Close()
		msg := rep.Message
		if msg == "" {
			msg = rep.Code.String()
		}
		return nil, fmt.Errorf("%w: %w", ErrRefused, &RefusalError{Code: rep.Code, Message: msg})
	}
	_ = st.SetDeadline(time.Time{})
	return c, nil
}

// openStream opens a stream and gives up when ctx ends. yamux's
// OpenStream waits, without a context, while AcceptBacklog opens are
// unacknowledged (a host that stopped answering, until keep-alives end the
// session; a stream closed before its acknowledgement keeps its place
// until the host answers or the stream times out, so the number of Opens
// under way does not tell whether it would wait). So it runs aside, and a
// stream it opens after ctx ended is closed.
func (s *edgeSession) openStream(ctx context.Context) (*yamux.Stream, error) {
	type result struct {
		st  *yamux.Stream
		err error
	}
	done := make(chan result, 1)
	go func() {
		st, err := s.sess.OpenStream()
		done <- result{st, err}
	}()
	select {
	case r := <-done:
		return r.st, r.err
	case <-ctx.Done():
		go func() {
			if r := <-done; r.st != nil {
				r.st.Close()
			}
		}()
		return nil, ctx.Err()
	}
}

// cleanClient makes a public client's address fit a header.
func cleanClient(s string) string {
	s = strings.Map(func(r rune) rune {
		if !unicode.IsPrint(r) {
			return '?'
		}
		return r
	}, strings.ToValidUTF8(s, "?"))
	return truncateUTF8(s, maxClientLen)
}

func (e *Edge) connected(systemID string) bool {
	s := e.session(systemID)
	return s != nil && !s.sess.IsClosed()
}

// Disconnect ends a system's session, if it has one, telling the agent
// why (WebSocket close code 4001 and reason); it reports whether there was
// one. The agent will connect again and be authenticated again.
func (e *Edge) Disconnect(systemID, reason string) bool {
	s := e.session(systemID)
	if s == nil || s.sess.IsClosed() {
		return false
	}
	s.close(CloseDisconnected, reason)
	return true
}

func (e *Edge) close() error {
	e.init()
	e.mu.Lock()
	e.closed = true
	all := make([]*edgeSession, 0, len(e.sessions))
	for _, s := range e.sessions {
		all = append(all, s)
	}
	e.mu.Unlock()
	var wg sync.WaitGroup
	for _, s := range all {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.close(websocket.StatusGoingAway, "the tunnel edge is shutting down")
		}()
	}
	wg.Wait()
	e.wg.Wait()
	return nil
}
