package tunnel

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"golang.org/x/sync/errgroup"
)

func TestStreamReachesTunnelTarget(t *testing.T) {
	h := newHarness(t)
	echo, _ := echoServer(t)
	tb := &table{started: map[string]Target{"web": {Address: echo}}}
	startAgent(t, h.agentConfig("sys1", tb.Resolve))
	if !h.edge.Connected("sys1") {
		t.Fatal("Connected(sys1) = false after the session came up")
	}
	if h.edge.Connected("sys2") {
		t.Fatal("Connected(sys2) = true")
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := h.edge.Open(ctx, "sys1", "web", "203.0.113.7:5555")
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer c.Close()
	if got := c.RemoteAddr().String(); got != "sys1/web" {
		t.Errorf("RemoteAddr = %q", got)
	}
	msg := []byte("hello through the tunnel")
	if _, err := c.Write(msg); err != nil {
		t.Fatal(err)
	}
	// Half-close: the echo server sees the end, echoes everything back and
	// closes; we read to EOF.
	if err := c.(closeWriter).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("reading the echo: %v", err)
	}
	if !bytes.Equal(got, msg) {
		t.Fatalf("echo = %q, want %q", got, msg)
	}
	if calls := tb.Calls(); !slices.Equal(calls, []string{"web"}) {
		t.Errorf("Resolve calls = %q", calls)
	}

	_, err = h.edge.Open(ctx, "nosuch", "web", "")
	if !errors.Is(err, ErrNotConnected) {
		t.Errorf("Open on an unknown system: %v, want ErrNotConnected", err)
	}
}

func TestTLSTarget(t *testing.T) {
	h := newHarness(t)
	local := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "secure %s", r.Host)
	}))
	defer local.Close()
	roots := local.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs
	tb := &table{started: map[string]Target{
		"good": {Address: local.Listener.Addr().String(), TLS: &tls.Config{RootCAs: roots, ServerName: "example.com"}},
		"bad":  {Address: local.Listener.Addr().String(), TLS: &tls.Config{ServerName: "example.com"}}, // system roots: untrusted
	}}
	startAgent(t, h.agentConfig("sys1", tb.Resolve))
	tr := &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return h.edge.Open(ctx, "sys1", "good", "")
	}}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Get("http://ui.example/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "secure ui.example" {
		t.Fatalf("body = %q", body)
	}

	_, err = h.edge.Open(context.Background(), "sys1", "bad", "")
	var re *RefusalError
	if !errors.Is(err, ErrRefused) || !errors.As(err, &re) || re.Code != ReplyLocalDown {
		t.Fatalf("Open to a local service with an untrusted certificate: %v, want a ReplyLocalDown refusal", err)
	}
}

// rawOpen sends a raw stream header to the agent of sys and returns its
// reply.
func rawOpen(t *testing.T, e *Edge, sys string, hdr []byte) Reply {
	t.Helper()
	return rawOpenWith(t, e, sys, func(*edgeSession, uint32) []byte { return hdr })
}

// rawOpenWith is rawOpen with a header made for the session and the stream
// ID (to sign it).
func rawOpenWith(t *testing.T, e *Edge, sys string, build func(s *edgeSession, stream uint32) []byte) Reply {
	t.Helper()
	s := e.session(sys)
	if s == nil {
		t.Fatal("no session")
	}
	st, err := s.sess.OpenStream()
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	hdr := build(s, st.StreamID())
	st.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := st.Write(hdr); err != nil {
		t.Fatal(err)
	}
	rep, err := ReadReply(st)
	if err != nil {
		t.Fatalf("reading the reply to %q: %v", hdr, err)
	}
	// After a refusal the agent closes the stream.
	if rep.Code != ReplyOK {
		if n, err := st.Read(make([]byte, 1)); err != io.EOF {
			t.Errorf("after a refusal: read %d, %v; want EOF", n, err)
		}
	}
	return rep
}

func framed(typ byte, body string) []byte {
	b := []byte{Version, typ, 0, 0}
	binary.BigEndian.PutUint16(b[2:], uint16(len(body)))
	return append(b, body...)
}

func TestRefusals(t *testing.T) {
	h := newHarness(t)
	echo, echoHits := echoServer(t)
	forbidden, trapHits := trap(t)
	_, fport, _ := net.SplitHostPort(forbidden)
	down, _ := net.Listen("tcp", "127.0.0.1:0")
	downAddr := down.Addr().String()
	down.Close()

	tb := &table{
		started: map[string]Target{"web": {Address: echo}, "broken": {Address: downAddr}},
		stopped: map[string]bool{"off": true},
	}
	var refusedMu sync.Mutex
	refused := map[ReplyCode]int{}
	cfg := h.agentConfig("sys1", tb.Resolve)
	cfg.OnRefused = func(id string, code ReplyCode) {
		refusedMu.Lock()
		refused[code]++
		refusedMu.Unlock()
	}
	startAgent(t, cfg)
	ctx := context.Background()

	for _, tc := range []struct {
		tunnel string
		code   ReplyCode
	}{
		{"nosuch", ReplyUnknownTunnel},
		{"off", ReplyStopped},
		{"broken", ReplyLocalDown},
	} {
		_, err := h.edge.Open(ctx, "sys1", tc.tunnel, "")
		var re *RefusalError
		if !errors.Is(err, ErrRefused) || !errors.As(err, &re) || re.Code != tc.code {
			t.Errorf("Open(%s) = %v, want a refusal with %v", tc.tunnel, err, tc.code)
			continue
		}
		if re.Message == "" {
			t.Errorf("Open(%s): refusal without a message", tc.tunnel)
		}
		t.Logf("Open(%s): %v", tc.tunnel, err)
	}

	// The edge itself refuses to send an address.
	for _, id := range []string{forbidden, "https://x", "127.0.0.1", "Web", ""} {
		if _, err := h.edge.Open(ctx, "sys1", id, ""); err == nil || errors.Is(err, ErrRefused) {
			t.Errorf("Open(%q) = %v, want a local error", id, err)
		}
	}

	// Raw headers naming addresses, or smuggling fields: all refused with
	// ReplyBadHeader, and Resolve never sees them.
	bad := []string{
		`{"tunnel":"` + forbidden + `"}`,
		`{"tunnel":"127.0.0.1:22"}`,
		`{"tunnel":"https://x"}`,
		`{"tunnel":"localhost:` + fport + `"}`,
		`{"tunnel":"` + fport + `"x"}`,
		`{"tunnel":"web","address":"` + forbidden + `"}`,
		`{"tunnel":"web","target":"` + forbidden + `"}`,
		`{"Tunnel":"web"}`,
		`{"TUNNEL":"` + forbidden + `"}`,
		`{"tunnel":"web","tunnel":"` + forbidden + `"}`,
		`{"tunnel":"web"} {"tunnel":"` + forbidden + `"}`,
		`{"tunnel":"web"}x`,
		`{"tunnel":["web"]}`,
		`{"tunnel":null}`,
		`{"client":"1.2.3.4:5"}`,
		`["web"]`,
		`"web"`,
		``,
		`{"tunnel":"web","client":"` + strings.Repeat("x", 300) + `"}`,
		`{"tunnel":"web","client":"a\u0000b"}`,
		"{\"tunnel\":\"web\xff\"}",
	}
	for _, body := range bad {
		rep := rawOpen(t, h.edge, "sys1", framed(headerTypeOpen, body))
		if rep.Code != ReplyBadHeader {
			t.Errorf("header %q: reply %v (%q), want bad header", body, rep.Code, rep.Message)
		}
	}
	for _, hdr := range [][]byte{
		append([]byte{1, 1, 0, 16}, `{"tunnel":"web"}`...),       // version 1 (unsigned)
		append([]byte{Version, 2, 0, 16}, `{"tunnel":"web"}`...), // unknown type
		{Version, headerTypeOpen, 0xff, 0xff},                    // too long
	} {
		if rep := rawOpen(t, h.edge, "sys1", hdr); rep.Code != ReplyBadHeader {
			t.Errorf("header %q: reply %v (%q), want bad header", hdr, rep.Code, rep.Message)
		}
	}
	// A well-formed raw header signed by the edge still works.
	if rep := rawOpenWith(t, h.edge, "sys1", func(s *edgeSession, id uint32) []byte {
		return signedFrame(t, h.edge.signer, binding{"sys1", s.nonce, id}, Header{Tunnel: "web", Client: "1.2.3.4:5"})
	}); rep.Code != ReplyOK {
		t.Errorf("a valid raw header: %v %q", rep.Code, rep.Message)
	}

	for _, id := range tb.Calls() {
		if !ValidTunnelID(id) {
			t.Errorf("Resolve was called with %q", id)
		}
	}
	if calls := tb.Calls(); !slices.Equal(calls, []string{"nosuch", "off", "broken", "web"}) {
		t.Errorf("Resolve calls = %q", calls)
	}
	if n := trapHits.Load(); n != 0 {
		t.Errorf("the agent dialed an address it was sent: %d connections", n)
	}
	// The agent's dial is complete before its reply, the echo server's
	// accept may come after it.
	waitFor(t, 5*time.Second, "the tunnel's target to accept the agent's connection", func() bool { return echoHits.Load() >= 1 })
	if n := echoHits.Load(); n != 1 {
		t.Errorf("the tunnel's target saw %d connections, want 1", n)
	}
	refusedMu.Lock()
	defer refusedMu.Unlock()
	want := map[ReplyCode]int{ReplyUnknownTunnel: 1, ReplyStopped: 1, ReplyLocalDown: 1, ReplyBadHeader: len(bad) + 3}
	for code, n := range want {
		if refused[code] != n {
			t.Errorf("OnRefused(%v) called %d times, want %d", code, refused[code], n)
		}
	}
}

// A header that never completes is refused after the header timeout;
// here we only check that a stream that is closed early does no harm.
func TestHeaderEarlyClose(t *testing.T) {
	h := newHarness(t)
	echo, hits := echoServer(t)
	tb := &table{started: map[string]Target{"web": {Address: echo}}}
	startAgent(t, h.agentConfig("sys1", tb.Resolve))
	st, err := h.edge.session("sys1").sess.OpenStream()
	if err != nil {
		t.Fatal(err)
	}
	st.Write([]byte{Version, headerTypeOpen, 0})
	st.Close()
	rep, err := ReadReply(st)
	if err != nil || rep.Code != ReplyBadHeader {
		t.Fatalf("reply = %v, %v", rep, err)
	}
	if hits.Load() != 0 || len(tb.Calls()) != 0 {
		t.Fatal("a partial header reached Resolve or the target")
	}
}

func TestManyConcurrentStreams(t *testing.T) {
	h := newHarness(t)
	echo, _ := echoServer(t)
	tb := &table{started: map[string]Target{"web": {Address: echo}}}
	startAgent(t, h.agentConfig("sys1", tb.Resolve))

	const n = 1000
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	start := make(chan struct{})
	var opened atomic.Int64
	var g errgroup.Group
	for i := range n {
		g.Go(func() error {
			<-start
			c, err := h.edge.Open(ctx, "sys1", "web", fmt.Sprintf("198.51.100.1:%d", i))
			if err != nil {
				return fmt.Errorf("stream %d: open: %w", i, err)
			}
			defer c.Close()
			opened.Add(1)
			msg := fmt.Appendf(nil, "stream %d says hello", i)
			if _, err := c.Write(msg); err != nil {
				return fmt.Errorf("stream %d: write: %w", i, err)
			}
			got := make([]byte, len(msg))
			if _, err := io.ReadFull(c, got); err != nil {
				return fmt.Errorf("stream %d: read: %w", i, err)
			}
			if !bytes.Equal(got, msg) {
				return fmt.Errorf("stream %d: echo %q", i, got)
			}
			return nil
		})
	}
	close(start)
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	if opened.Load() != n {
		t.Fatalf("opened %d of %d", opened.Load(), n)
	}
}

func TestSessionTakeover(t *testing.T) {
	h := newHarness(t)
	echo1, hits1 := echoServer(t)
	echo2, hits2 := echoServer(t)
	a1 := startAgent(t, h.agentConfig("sys1", (&table{started: map[string]Target{"web": {Address: echo1}}}).Resolve))
	a2 := startAgent(t, h.agentConfig("sys1", (&table{started: map[string]Target{"web": {Address: echo2}}}).Resolve))

	err := a1.wait(t, 5*time.Second)
	if !errors.Is(err, ErrReplaced) {
		t.Fatalf("the first session ended with %v, want ErrReplaced", err)
	}
	t.Logf("first session: %v", err)
	if !h.edge.Connected("sys1") {
		t.Fatal("not connected after the takeover")
	}
	c, err := h.edge.Open(context.Background(), "sys1", "web", "")
	if err != nil {
		t.Fatal(err)
	}
	c.Write([]byte("x"))
	io.ReadFull(c, make([]byte, 1))
	c.Close()
	if hits1.Load() != 0 || hits2.Load() != 1 {
		t.Fatalf("streams went to the old session (%d) / new (%d)", hits1.Load(), hits2.Load())
	}

	a2.cancel()
	if err := a2.wait(t, 5*time.Second); err != nil {
		t.Fatalf("Serve after cancel = %v, want nil", err)
	}
	waitFor(t, 5*time.Second, "the edge to notice the end", func() bool { return !h.edge.Connected("sys1") })
	waitFor(t, 5*time.Second, "the down event", func() bool { return len(h.sessionEvents()) == 3 })
	if ev := h.sessionEvents(); !slices.Equal(ev, []string{"sys1:up", "sys1:up", "sys1:down"}) {
		t.Fatalf("OnSession events = %q", ev)
	}
}

func TestEdgeKilled(t *testing.T) {
	h := newHarness(t)
	echo, _ := echoServer(t)
	a := startAgent(t, h.agentConfig("sys1", (&table{started: map[string]Target{"web": {Address: echo}}}).Resolve))
	start := time.Now()
	h.relay.Kill()
	err := a.wait(t, 3*time.Second)
	if !errors.Is(err, ErrConnectionLost) {
		t.Fatalf("Serve = %v, want ErrConnectionLost", err)
	}
	t.Logf("Serve returned after %s: %v", time.Since(start).Round(time.Millisecond), err)
}

func TestEdgeClose(t *testing.T) {
	h := newHarness(t)
	echo, _ := echoServer(t)
	a := startAgent(t, h.agentConfig("sys1", (&table{started: map[string]Target{"web": {Address: echo}}}).Resolve))
	h.edge.Close()
	err := a.wait(t, 3*time.Second)
	if !errors.Is(err, ErrEdgeClosed) || !strings.Contains(err.Error(), "shutting down") {
		t.Fatalf("Serve = %v, want ErrEdgeClosed saying the edge shuts down", err)
	}
	// A closed edge refuses new sessions.
	cfg := h.agentConfig("sys1", nil)
	cfg.Resolve = func(string) (Target, error) { return Target{}, errors.New("unused") }
	err = Serve(context.Background(), cfg, nil)
	if err == nil || !strings.Contains(err.Error(), "503") {
		t.Fatalf("Serve to a closed edge = %v, want HTTP 503", err)
	}
}

func TestDisconnect(t *testing.T) {
	h := newHarness(t)
	a := startAgent(t, h.agentConfig("sys1", (&table{}).Resolve))
	if !h.edge.Disconnect("sys1", "the system was removed") {
		t.Fatal("Disconnect = false")
	}
	err := a.wait(t, 3*time.Second)
	if !errors.Is(err, ErrEdgeClosed) || !strings.Contains(err.Error(), "the system was removed") {
		t.Fatalf("Serve = %v", err)
	}
	if h.edge.Disconnect("sys1", "again") {
		t.Fatal("Disconnect of a gone session = true")
	}
}

func TestServeCancel(t *testing.T) {
	h := newHarness(t)
	echo, _ := echoServer(t)
	a := startAgent(t, h.agentConfig("sys1", (&table{started: map[string]Target{"web": {Address: echo}}}).Resolve))
	// An open stream with an idle local connection must not hold Serve.
	c, err := h.edge.Open(context.Background(), "sys1", "web", "")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	a.cancel()
	if err := a.wait(t, 3*time.Second); err != nil {
		t.Fatalf("Serve after cancel = %v, want nil", err)
	}
	if _, err := c.Read(make([]byte, 1)); err == nil {
		t.Fatal("the stream survived the session")
	}
	waitFor(t, 3*time.Second, "the edge to drop the session", func() bool { return !h.edge.Connected("sys1") })
}

// TestDeadPath cuts the path silently (the relay drops everything without
// closing): both sides notice through keep-alives. Shortened timings; the
// defaults' bound is checked by TestDefaultDeadPathBound.
func TestDeadPath(t *testing.T) {
	sc := SessionConfig{KeepAliveInterval: 200 * time.Millisecond, KeepAliveTimeout: 300 * time.Millisecond}
	h := newHarness(t, func(c *EdgeConfig) { c.Session = sc })
	cfg := h.agentConfig("sys1", (&table{}).Resolve)
	cfg.Session = sc
	a := startAgent(t, cfg)
	start := time.Now()
	h.relay.Freeze()
	bound := sc.DeadPathBound()
	err := a.wait(t, bound+2*time.Second)
	took := time.Since(start)
	if !errors.Is(err, ErrDeadPath) {
		t.Fatalf("Serve = %v, want ErrDeadPath", err)
	}
	if took > bound+500*time.Millisecond {
		t.Errorf("detected after %s, bound %s", took, bound)
	}
	t.Logf("dead path detected after %s (bound %s): %v", took.Round(time.Millisecond), bound, err)
	waitFor(t, bound+2*time.Second, "the edge to drop the dead session", func() bool { return !h.edge.Connected("sys1") })
}

// TestAgentWatchesSilence: the agent sends no pings of its own (with an
// edge that sends none either, its session is silent, though the edge's
// yamux would answer pings), ends a session from which nothing arrives for
// SilenceBound with ErrDeadPath, and keeps one whose edge pings.
func TestAgentWatchesSilence(t *testing.T) {
	sc := SessionConfig{KeepAliveInterval: 100 * time.Millisecond, KeepAliveTimeout: 150 * time.Millisecond}
	pinging := newHarness(t, func(c *EdgeConfig) { c.Session = sc })
	quiet := newHarness(t, func(c *EdgeConfig) { c.Session = sc; c.Session.noPing = true })
	tb := &table{}
	live := pinging.agentConfig("live", tb.Resolve)
	live.Session = sc
	startAgent(t, live)
	mute := quiet.agentConfig("mute", tb.Resolve)
	mute.Session = sc
	bound := sc.SilenceBound()
	start := time.Now()
	m := startAgent(t, mute)
	err := m.wait(t, bound+5*time.Second)
	took := time.Since(start)
	if !errors.Is(err, ErrDeadPath) {
		t.Errorf("Serve with a silent edge = %v, want ErrDeadPath", err)
	}
	if took < bound {
		t.Errorf("the silent session ended after %s, before the silence bound %s", took, bound)
	}
	if took > sc.DeadPathBound()+time.Second {
		t.Errorf("the silent session ended after %s, dead-path bound %s", took, sc.DeadPathBound())
	}
	t.Logf("silent session ended after %s (silence bound %s): %v", took.Round(time.Millisecond), bound, err)
	// The session with a pinging edge lived through all that, longer than
	// the bound.
	if !pinging.edge.Connected("live") || slices.Contains(pinging.sessionEvents(), "live:down") {
		t.Fatalf("the session with a pinging edge ended too: %q", pinging.sessionEvents())
	}
}

// TestDeadPathDefaults is TestDeadPath with the default settings, as the
// issue asks (a relay that silently stops forwarding must be noticed within
// 30 s). It takes 17–25 s of wall time, so it runs in parallel with the
// package's other tests, and not with -short.
func TestDeadPathDefaults(t *testing.T) {
	if testing.Short() {
		t.Skip("the dead-path test with the default timings takes up to 25 s; it runs without -short")
	}
	t.Parallel()
	h := newHarness(t)
	a := startAgent(t, h.agentConfig("sys1", (&table{}).Resolve))
	start := time.Now()
	h.relay.Freeze()
	err := a.wait(t, 35*time.Second)
	took := time.Since(start)
	if !errors.Is(err, ErrDeadPath) || took > DefaultSessionConfig().DeadPathBound() {
		t.Fatalf("Serve = %v after %s", err, took)
	}
	t.Logf("dead path detected after %s with the defaults", took.Round(time.Millisecond))
}

func TestDefaultDeadPathBound(t *testing.T) {
	d := DefaultSessionConfig()
	if got := d.DeadPathBound(); got != 25*time.Second || got >= 30*time.Second {
		t.Fatalf("default dead-path bound = %s, want 25s (under 30s)", got)
	}
	// The zero configuration means the defaults, in yamux's terms too.
	y := SessionConfig{}.yamux(testLogger())
	if !y.EnableKeepAlive || y.KeepAliveInterval != 10*time.Second || y.ConnectionWriteTimeout != 7*time.Second {
		t.Fatalf("yamux keep-alive config = %v every %s, timeout %s", y.EnableKeepAlive, y.KeepAliveInterval, y.ConnectionWriteTimeout)
	}
	if y.KeepAliveInterval+2*y.ConnectionWriteTimeout+closeGrace != d.DeadPathBound() {
		t.Fatal("DeadPathBound does not follow the yamux settings")
	}
	if err := (SessionConfig{StreamWindow: 1000}).Validate(); err == nil {
		t.Fatal("a window below 256 KiB passed Validate")
	}
}

func TestAuthErrors(t *testing.T) {
	h := newHarness(t)
	for _, tc := range []struct {
		token string
		want  string
	}{
		{"bogus", "link the host again"},
		{"revoked", "removed from its account"},
	} {
		cfg := h.agentConfig("x", (&table{}).Resolve)
		cfg.Token = func(context.Context) (string, error) { return tc.token, nil }
		err := Serve(context.Background(), cfg, nil)
		if !errors.Is(err, ErrTokenRefused) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("token %q: Serve = %v", tc.token, err)
		}
		if strings.Contains(err.Error(), tc.token) {
			t.Errorf("the error shows the token: %v", err)
		}
		t.Logf("%v", err)
	}

	// The raw answer: 401 with a JSON body in the cloud's error shape.
	req, _ := http.NewRequest("GET", "https://"+h.relay.Addr()+pathConnect, nil)
	resp, err := h.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 401 || resp.Header.Get("Content-Type") != "application/json" || !strings.Contains(string(body), `"error":"invalid_token"`) {
		t.Fatalf("answer %d %q %s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
}

func TestSubprotocolRequired(t *testing.T) {
	h := newHarness(t)
	_, resp, err := websocket.Dial(context.Background(), h.url, &websocket.DialOptions{
		HTTPClient:   h.client,
		HTTPHeader:   http.Header{"Authorization": {"Bearer tok-sys1"}},
		Subprotocols: []string{"cld-tunnel.v0"},
	})
	if err == nil || resp == nil || resp.StatusCode != http.StatusUpgradeRequired {
		t.Fatalf("dial with another subprotocol: %v, %v", resp, err)
	}

	// An agent against a server that upgrades without the subprotocol.
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err == nil {
			c.CloseNow()
		}
	}))
	defer srv.Close()
	cfg := h.agentConfig("sys1", (&table{}).Resolve)
	cfg.URL = strings.Replace(srv.URL, "https", "wss", 1)
	cfg.HTTPClient = srv.Client()
	if err := Serve(context.Background(), cfg, nil); !errors.Is(err, ErrProtocol) {
		t.Fatalf("Serve = %v, want ErrProtocol", err)
	}
}

func TestTLSFailure(t *testing.T) {
	h := newHarness(t)
	cfg := h.agentConfig("sys1", (&table{}).Resolve)
	cfg.HTTPClient = &http.Client{Transport: &http.Transport{}} // system roots only
	err := Serve(context.Background(), cfg, nil)
	if !errors.Is(err, ErrTLS) {
		t.Fatalf("Serve = %v, want ErrTLS", err)
	}
	t.Log(err)
}

// TestProxyRefused runs a minimal CONNECT proxy that demands credentials.
func TestProxyRefused(t *testing.T) {
	h := newHarness(t)
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodConnect {
			http.Error(w, "CONNECT only", http.StatusMethodNotAllowed)
			return
		}
		w.Header().Set("Proxy-Authenticate", `Basic realm="test"`)
		w.WriteHeader(http.StatusProxyAuthRequired)
	}))
	defer proxy.Close()
	tr := h.client.Transport.(*http.Transport).Clone()
	pu, _ := url.Parse(proxy.URL)
	tr.Proxy = http.ProxyURL(pu)
	defer tr.CloseIdleConnections()
	cfg := h.agentConfig("sys1", (&table{}).Resolve)
	cfg.HTTPClient = &http.Client{Transport: tr}
	err := Serve(context.Background(), cfg, nil)
	if !errors.Is(err, ErrProxy) || !strings.Contains(err.Error(), "407") {
		t.Fatalf("Serve = %v, want ErrProxy with 407", err)
	}
	t.Log(err)
}

func TestConfigErrors(t *testing.T) {
	for _, cfg := range []AgentConfig{
		{},
		{URL: "ws://edge.example/tunnel/v1/connect", Token: func(context.Context) (string, error) { return "", nil }, Resolve: (&table{}).Resolve},
		{URL: "wss://edge.example/x", Resolve: (&table{}).Resolve},
	} {
		if err := Serve(context.Background(), cfg, nil); err == nil || !strings.Contains(err.Error(), "configuration") {
			t.Errorf("Serve(%+v) = %v", cfg, err)
		}
	}
	// A cancelled context: nil at once.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	cfg := AgentConfig{URL: "wss://127.0.0.1:1/x", Token: func(context.Context) (string, error) { return "t", nil }, Resolve: (&table{}).Resolve, SystemID: "sys"}
	if err := Serve(ctx, cfg, nil); err != nil {
		t.Fatalf("Serve with a cancelled context = %v", err)
	}
}

// TestOpenCancelWhileBacklogFull: when the host stops answering, opens
// beyond the accept backlog wait in yamux without a context; Open still
// returns as soon as its context ends.
func TestOpenCancelWhileBacklogFull(t *testing.T) {
	sc := SessionConfig{AcceptBacklog: 2}
	h := newHarness(t, func(c *EdgeConfig) { c.Session = sc })
	echo, _ := echoServer(t)
	tb := &table{started: map[string]Target{"web": {Address: echo}}}
	cfg := h.agentConfig("sys1", tb.Resolve)
	cfg.Session = sc
	startAgent(t, cfg)
	h.relay.Freeze() // the host gets nothing more: no open is acknowledged
	for i := range 4 {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		start := time.Now()
		c, err := h.edge.Open(ctx, "sys1", "web", "client")
		cancel()
		if err == nil {
			c.Close()
			t.Fatalf("open %d succeeded on a frozen path", i)
		}
		if took := time.Since(start); took > 3*time.Second {
			t.Fatalf("open %d returned after %s, its context ended after 200ms (%v)", i, took, err)
		}
		// The first ones wait for the reply (and say the host did not
		// answer in time); the later ones wait for a place in the backlog.
		if !errors.Is(err, context.DeadlineExceeded) && !strings.Contains(err.Error(), "did not answer") {
			t.Errorf("open %d: %v, want the context's error or no answer in time", i, err)
		}
	}
}
