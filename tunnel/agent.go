package tunnel

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"
	"github.com/hashicorp/yamux"
)

// Errors Serve wraps, for callers that branch on why a session could not
// be made or ended. The error's text is a sentence for the host's operator.
var (
	// ErrTokenRefused: the edge answered 401 or 403 to the device token.
	ErrTokenRefused = errors.New("the tunnel edge refused the device token")
	// ErrProxy: the HTTP proxy refused or failed the connection to the edge.
	ErrProxy = errors.New("the HTTP proxy did not connect us to the tunnel edge")
	// ErrTLS: the TLS handshake with the edge failed (untrusted or wrong
	// certificate, or something intercepting TLS).
	ErrTLS = errors.New("TLS with the tunnel edge failed")
	// ErrProtocol: the edge does not speak this protocol version.
	ErrProtocol = errors.New("the tunnel edge does not speak " + Subprotocol)
	// ErrDeadPath: keep-alives went unanswered.
	ErrDeadPath = errors.New("keep-alive timed out: the path to the edge is dead")
	// ErrReplaced: a newer session of the same system took over (another
	// daemon with this system's identity, or a reconnect of this one).
	ErrReplaced = errors.New("a newer session of this system replaced this one at the edge")
	// ErrEdgeClosed: the edge closed the session (shutting down, or it
	// ended this system's session).
	ErrEdgeClosed = errors.New("the tunnel edge closed the session")
	// ErrConnectionLost: the connection to the edge broke.
	ErrConnectionLost = errors.New("the connection to the tunnel edge was lost")
)

// Agent-side timeouts.
const (
	// DefaultHandshakeTimeout bounds connecting to the edge (TCP, proxy,
	// TLS and the WebSocket upgrade).
	DefaultHandshakeTimeout = 30 * time.Second
	// DefaultLocalDialTimeout bounds dialing a tunnel's local address,
	// TLS handshake included.
	DefaultLocalDialTimeout = 10 * time.Second
	// headerTimeout bounds reading a stream header (and writing a reply).
	headerTimeout = 10 * time.Second
)

func (cfg *AgentConfig) check() error {
	var errs []error
	u, err := url.Parse(cfg.URL)
	switch {
	case cfg.URL == "":
		errs = append(errs, errors.New("no tunnel edge URL"))
	case err != nil:
		errs = append(errs, fmt.Errorf("the tunnel edge URL is not a URL: %w", err))
	case u.Scheme != "wss" && u.Scheme != "https":
		errs = append(errs, fmt.Errorf("the tunnel edge URL must start with wss:// (the device token is never sent in clear), not %s://", u.Scheme))
	case u.Host == "":
		errs = append(errs, errors.New("the tunnel edge URL has no host"))
	}
	if cfg.Token == nil {
		errs = append(errs, errors.New("no Token function"))
	}
	if cfg.Resolve == nil {
		errs = append(errs, errors.New("no Resolve function"))
	}
	if cfg.SystemID == "" {
		errs = append(errs, errors.New("no SystemID (the stream headers' signatures name it)"))
	}
	if err := cfg.Session.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("tunnel: bad agent configuration: %w", err)
	}
	return nil
}

func logger(l *slog.Logger) *slog.Logger {
	if l == nil {
		l = slog.Default()
	}
	return l.With("component", "tunnel")
}

func serve(ctx context.Context, cfg AgentConfig, onConnected func()) error {
	if err := cfg.check(); err != nil {
		return err
	}
	if ctx.Err() != nil {
		return nil
	}
	log := logger(cfg.Logger)
	nonce := newNonce()
	conn, key, err := dialEdge(ctx, &cfg, nonce)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	// The edge pings, the agent answers and watches for silence (spec.md,
	// section 4): an idle host wakes for one ping a keep-alive interval,
	// and has no ping timer of its own.
	ycfg := cfg.Session.yamux(log)
	ycfg.EnableKeepAlive = false
	conn.watchSilence(cfg.Session.SilenceBound())
	sess, err := yamux.Server(conn, ycfg)
	if err != nil {
		conn.Close()
		return fmt.Errorf("tunnel: starting the session: %w", err)
	}
	a := &agentSession{cfg: &cfg, log: log, sess: sess, conn: conn, key: key, nonce: nonce}
	return a.run(ctx, onConnected)
}

// agentSession is one session of Serve.
type agentSession struct {
	cfg   *AgentConfig
	log   *slog.Logger
	sess  *yamux.Session
	conn  *wsConn
	key   ed25519.PublicKey // the edge's stream-signing key, from the upgrade's answer
	nonce string            // this session's nonce, sent in the upgrade request
}

func (a *agentSession) run(ctx context.Context, onConnected func()) error {
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(ctx, func() {
		a.conn.SetCloseStatus(websocket.StatusGoingAway, "the host's tunnel service is stopping")
		a.sess.Close()
	})
	defer stop()

	// The first ping's answer proves that the edge has registered the
	// session (it reads nothing before): only then is the host reachable.
	if _, err := a.sess.Ping(); err != nil {
		a.sess.Close()
		if ctx.Err() != nil {
			return nil
		}
		return a.endError(err)
	}
	a.log.Info("tunnel session up", "edge", a.conn.RemoteAddr().String())
	if onConnected != nil {
		onConnected()
	}
	var wg sync.WaitGroup
	var err error
	for {
		st, aerr := a.sess.AcceptStream()
		if aerr != nil {
			if !a.sess.IsClosed() {
				// A failed acknowledgement of one stream; keep-alives
				// decide whether the session is still good.
				a.log.Debug("accepting a stream failed", "err", aerr)
				continue
			}
			err = aerr
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if carry := a.serveStream(sctx, st); carry != nil {
				wg.Add(1)
				go func() {
					defer wg.Done()
					carry()
				}()
			}
		}()
	}
	cancel()
	a.sess.Close()
	wg.Wait()
	if ctx.Err() != nil {
		a.log.Info("tunnel session closed")
		return nil
	}
	err = a.endError(err)
	a.log.Warn("tunnel session down", "err", err)
	return err
}

// endError says why the session ended.
func (a *agentSession) endError(err error) error {
	if pc := a.conn.PeerClose(); pc != nil {
		reason := pc.Reason
		if reason == "" {
			reason = "no reason given"
		}
		switch pc.Code {
		case CloseReplaced:
			return fmt.Errorf("%w (%s)", ErrReplaced, reason)
		default:
			return fmt.Errorf("%w: %s (WebSocket close code %d)", ErrEdgeClosed, reason, int(pc.Code))
		}
	}
	switch {
	case errors.Is(err, errSilent):
		return fmt.Errorf("%w (nothing arrived within %s)", ErrDeadPath, a.cfg.Session.SilenceBound())
	case errors.Is(err, yamux.ErrKeepAliveTimeout), errors.Is(err, yamux.ErrTimeout):
		return fmt.Errorf("%w (no answer within %s)", ErrDeadPath, a.cfg.Session.withDefaults().KeepAliveTimeout)
	case err == nil, errors.Is(err, yamux.ErrSessionShutdown):
		return ErrConnectionLost
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, net.ErrClosed):
		return fmt.Errorf("%w: the edge ended the connection without closing the session", ErrConnectionLost)
	case errors.Is(err, yamux.ErrInvalidVersion), errors.Is(err, yamux.ErrInvalidMsgType),
		errors.Is(err, yamux.ErrRecvWindowExceeded), errors.Is(err, yamux.ErrDuplicateStream),
		errors.Is(err, yamux.ErrUnexpectedFlag):
		return fmt.Errorf("tunnel: the edge broke the session protocol: %w", err)
	}
	return fmt.Errorf("%w: %w", ErrConnectionLost, err)
}

// serveStream answers one stream opened by the edge. Once the stream is
// accepted it returns the function that carries it, to be run in a
// goroutine of its own: the header's check, the target's lookup and the
// dial grow a goroutine's stack, and a stack, once grown, stays with its
// goroutine while the stream lives (until a collection shrinks it), so the
// long-lived copying starts on fresh, small stacks.
func (a *agentSession) serveStream(ctx context.Context, st *yamux.Stream) (carry func()) {
	_ = st.SetReadDeadline(time.Now().Add(headerTimeout))
	h, err := ReadHeader(st)
	if err != nil {
		if a.sess.IsClosed() || ctx.Err() != nil {
			st.Close()
			return nil
		}
		a.refuse(st, "", ReplyBadHeader, err.Error(), err)
		return nil
	}
	_ = st.SetReadDeadline(time.Time{})
	if err := verifyHeader(a.key, binding{system: a.cfg.SystemID, nonce: a.nonce, stream: st.StreamID()}, h); err != nil {
		a.refuse(st, "", ReplyBadSignature, err.Error(), err)
		return nil
	}

	target, err := a.cfg.Resolve(h.Tunnel)
	if err != nil {
		var re *RefusalError
		code, msg := ReplyStopped, fmt.Sprintf("tunnel %q is not available on this host", h.Tunnel)
		if errors.As(err, &re) {
			if re.Code != ReplyOK {
				code = re.Code
			}
			if re.Message != "" {
				msg = re.Message
			}
		}
		a.refuse(st, h.Tunnel, code, msg, err)
		return nil
	}

	local, err := dialTarget(ctx, target, a.cfg.LocalDialTimeout)
	if err != nil {
		if ctx.Err() != nil {
			st.Close()
			return nil
		}
		msg := fmt.Sprintf("the local service of tunnel %q is not reachable: %v", h.Tunnel, err)
		a.refuse(st, h.Tunnel, ReplyLocalDown, msg, err)
		return nil
	}
	_ = st.SetWriteDeadline(time.Now().Add(headerTimeout))
	if err := WriteReply(st, Reply{Code: ReplyOK}); err != nil {
		local.Close()
		st.Close()
		return nil
	}
	_ = st.SetWriteDeadline(time.Time{})
	return func() { a.carry(ctx, st, h, target, local) }
}

// carry copies an accepted stream to and from its local service until both
// directions have ended.
func (a *agentSession) carry(ctx context.Context, st *yamux.Stream, h Header, target Target, local net.Conn) {
	start := time.Now()
	a.log.Debug("tunnel stream", "tunnel", h.Tunnel, "client", h.Client, "user", h.User, "local", target.Address)
	sc := newStreamConn(st, addr("agent"), addr("edge"))
	if target.Track != nil {
		var once sync.Once
		ended := target.Track(func() {
			once.Do(func() {
				_ = sc.Close()
				_ = local.Close()
			})
		})
		defer ended()
	}
	fromEdge, toEdge := pipe(ctx, sc, local)
	if target.Count != nil {
		target.Count(fromEdge, toEdge)
	}
	if a.cfg.OnStream != nil {
		a.cfg.OnStream(StreamRecord{Tunnel: h.Tunnel, Client: h.Client, User: h.User,
			Start: start, End: time.Now(), FromEdge: fromEdge, ToEdge: toEdge})
	}
}

// refuse answers a stream with a refusal and closes it.
func (a *agentSession) refuse(st *yamux.Stream, tunnelID string, code ReplyCode, msg string, cause error) {
	if a.cfg.OnRefused != nil {
		a.cfg.OnRefused(tunnelID, code)
	}
	a.log.Info("tunnel stream refused", "tunnel", tunnelID, "code", code.String(), "err", cause)
	_ = st.SetWriteDeadline(time.Now().Add(headerTimeout))
	_ = WriteReply(st, Reply{Code: code, Message: msg})
	st.Close()
}

// dialTarget connects to a tunnel's local address, and nothing else.
func dialTarget(ctx context.Context, t Target, timeout time.Duration) (net.Conn, error) {
	if timeout <= 0 {
		timeout = DefaultLocalDialTimeout
	}
	if _, _, err := net.SplitHostPort(t.Address); err != nil {
		return nil, fmt.Errorf("the tunnel's local address %q is not host:port", t.Address)
	}
	d := &net.Dialer{Timeout: timeout}
	if t.TLS == nil {
		return d.DialContext(ctx, "tcp", t.Address)
	}
	td := &tls.Dialer{NetDialer: d, Config: t.TLS}
	return td.DialContext(ctx, "tcp", t.Address)
}

// proxyStatus records the answer of the HTTP proxy to CONNECT.
type proxyStatus struct {
	mu     sync.Mutex
	status int
	proxy  string // host:port, never credentials
}

// corkTransport hands the upgraded connection of a 101 answer over as a
// corkConn (see wsConn).
type corkTransport struct {
	base http.RoundTripper
	mu   sync.Mutex
	conn *corkConn
}

func (t *corkTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(req)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		return resp, err
	}
	rwc, ok := resp.Body.(io.ReadWriteCloser)
	if !ok {
		return resp, nil // websocket.Dial reports it
	}
	cc := newCorkConn(rwc)
	t.mu.Lock()
	t.conn = cc
	t.mu.Unlock()
	resp.Body = cc
	return resp, nil
}

// dialEdge opens the WebSocket to the edge and says clearly why it could
// not.
func dialEdge(ctx context.Context, cfg *AgentConfig, nonce string) (*wsConn, ed25519.PublicKey, error) {
	u, _ := url.Parse(cfg.URL)
	host := u.Host
	tok, err := cfg.Token(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("tunnel: getting the device token: %w", err)
	}

	base := cfg.HTTPClient
	if base == nil {
		base = http.DefaultClient
	}
	client := *base
	rt := base.Transport
	if rt == nil {
		rt = http.DefaultTransport
	}
	ps := &proxyStatus{}
	var batch struct {
		sync.Mutex
		c *batchConn
	}
	if t, ok := rt.(*http.Transport); ok {
		t = t.Clone()
		// A caller's own dialer stays in charge: the DialContext set below
		// would take priority over the deprecated Dial and DialTLS.
		//lint:ignore SA1019 reads the deprecated fields only to leave a caller's dialer alone
		if t.Dial == nil && t.DialTLS == nil && t.DialTLSContext == nil {
			dial := t.DialContext
			if dial == nil {
				dial = (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext
			}
			t.DialContext = func(ctx context.Context, network, address string) (net.Conn, error) {
				c, err := dial(ctx, network, address)
				if err != nil {
					return nil, err
				}
				bc := newBatchConn(c)
				batch.Lock()
				batch.c = bc // the last one dialed carries the session
				batch.Unlock()
				return bc, nil
			}
		}
		prev := t.OnProxyConnectResponse
		t.OnProxyConnectResponse = func(ctx context.Context, proxyURL *url.URL, req *http.Request, resp *http.Response) error {
			ps.mu.Lock()
			ps.status, ps.proxy = resp.StatusCode, proxyURL.Host
			ps.mu.Unlock()
			if prev != nil {
				return prev(ctx, proxyURL, req, resp)
			}
			return nil
		}
		defer t.CloseIdleConnections()
		rt = t
	}
	ct := &corkTransport{base: rt}
	client.Transport = ct

	timeout := cfg.HandshakeTimeout
	if timeout <= 0 {
		timeout = DefaultHandshakeTimeout
	}
	dctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	ws, resp, err := websocket.Dial(dctx, cfg.URL, &websocket.DialOptions{
		HTTPClient:      &client,
		HTTPHeader:      http.Header{"Authorization": {"Bearer " + tok}, NonceHeader: {nonce}},
		Subprotocols:    []string{Subprotocol},
		CompressionMode: websocket.CompressionDisabled,
	})
	if err != nil {
		if ctx.Err() != nil {
			return nil, nil, ctx.Err()
		}
		return nil, nil, dialError(host, resp, ps, err, dctx.Err() != nil, timeout)
	}
	if ws.Subprotocol() != Subprotocol {
		ws.CloseNow()
		return nil, nil, fmt.Errorf("%w: it did not agree to the WebSocket subprotocol %s", ErrProtocol, Subprotocol)
	}
	key, err := parseKey(resp.Header.Get(KeyHeader))
	if err != nil {
		ws.CloseNow()
		return nil, nil, fmt.Errorf("%w: %w", ErrProtocol, err)
	}
	ct.mu.Lock()
	cc := ct.conn
	ct.mu.Unlock()
	if cc == nil {
		ws.CloseNow()
		return nil, nil, errors.New("tunnel: the HTTP client did not hand over the upgraded connection")
	}
	batch.Lock()
	bc := batch.c
	batch.Unlock()
	return newWSConn(ws, cc.Close, cc, bc, addr("agent"), addr(host)), key, nil
}

// dialError turns a failed WebSocket dial into a sentence.
func dialError(host string, resp *http.Response, ps *proxyStatus, err error, timedOut bool, timeout time.Duration) error {
	ps.mu.Lock()
	pstatus, proxy := ps.status, ps.proxy
	ps.mu.Unlock()
	if resp != nil && resp.StatusCode != http.StatusSwitchingProtocols {
		desc := errorBody(resp)
		switch resp.StatusCode {
		case http.StatusUnauthorized, http.StatusForbidden:
			return fmt.Errorf("%w (HTTP %d): %s", ErrTokenRefused, resp.StatusCode, orDefault(desc, "the host may have to be linked again"))
		case http.StatusProxyAuthRequired:
			return fmt.Errorf("%w: the proxy asks for authentication (HTTP 407): check the proxy user and password in the configuration or HTTPS_PROXY", ErrProxy)
		case http.StatusUpgradeRequired:
			return fmt.Errorf("%w (HTTP 426): %s", ErrProtocol, orDefault(desc, "the edge wants another protocol version; update the daemon"))
		}
		msg := fmt.Sprintf("tunnel: the edge at %s answered HTTP %d %s instead of accepting the session", host, resp.StatusCode, http.StatusText(resp.StatusCode))
		if desc != "" {
			msg += ": " + desc
		}
		return errors.New(msg)
	}
	if pstatus != 0 && pstatus != http.StatusOK {
		switch pstatus {
		case http.StatusProxyAuthRequired:
			return fmt.Errorf("%w: the proxy %s refused CONNECT with 407 Proxy Authentication Required: check the proxy user and password in the configuration or HTTPS_PROXY", ErrProxy, proxy)
		case http.StatusForbidden:
			return fmt.Errorf("%w: the proxy %s refused CONNECT to %s with 403 Forbidden: ask for %s (port 443) to be allowed", ErrProxy, proxy, host, host)
		}
		return fmt.Errorf("%w: the proxy %s answered CONNECT to %s with %d %s: check the proxy and its logs", ErrProxy, proxy, host, pstatus, http.StatusText(pstatus))
	}
	var (
		opErr    *net.OpError
		unknownA x509.UnknownAuthorityError
		hostErr  x509.HostnameError
		invalid  x509.CertificateInvalidError
		verifyE  *tls.CertificateVerificationError
		recHdr   tls.RecordHeaderError
		alert    tls.AlertError
	)
	switch {
	case errors.As(err, &unknownA), errors.As(err, &verifyE), errors.As(err, &invalid):
		return fmt.Errorf("%w: the certificate of %s is not trusted (is the cloud's CA configured, or does a proxy intercept TLS?): %w", ErrTLS, host, err)
	case errors.As(err, &hostErr):
		return fmt.Errorf("%w: the certificate does not name %s: %w", ErrTLS, host, err)
	case errors.As(err, &recHdr), errors.As(err, &alert):
		return fmt.Errorf("%w: %s does not speak TLS as expected (a wrong port, or something in between?): %w", ErrTLS, host, err)
	case errors.As(err, &opErr) && opErr.Op == "proxyconnect":
		return fmt.Errorf("%w: the proxy could not be reached: %w", ErrProxy, err)
	case timedOut:
		return fmt.Errorf("tunnel: connecting to the edge at %s took longer than %s: %w", host, timeout, err)
	}
	return fmt.Errorf("tunnel: cannot connect to the edge at %s: %w", host, err)
}

// errorBody returns the description of a JSON error body (the cloud's
// error shape), or the start of a text body.
func errorBody(resp *http.Response) string {
	if resp.Body == nil {
		return ""
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
	var e errorJSON
	if json.Unmarshal(b, &e) == nil && (e.Description != "" || e.Code != "") {
		return orDefault(e.Description, e.Code)
	}
	s := strings.ToValidUTF8(string(bytes.TrimSpace(b)), "\uFFFD")
	return truncateUTF8(strings.Join(strings.Fields(s), " "), 200)
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}
