package tunnel

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// signedFrame is a framed header signed by s for b.
func signedFrame(t testing.TB, s crypto.Signer, b binding, h Header) []byte {
	t.Helper()
	if err := signHeader(s, b, &h); err != nil {
		t.Fatal(err)
	}
	var w bytes.Buffer
	if err := WriteHeader(&w, h); err != nil {
		t.Fatal(err)
	}
	return w.Bytes()
}

// testKey is a fixed key for tests and fuzz seeds.
func testKey(seed byte) ed25519.PrivateKey {
	return ed25519.NewKeyFromSeed(bytes.Repeat([]byte{seed}, ed25519.SeedSize))
}

// TestSignedHeaders: the agent serves only streams whose header the edge
// signed for this system, this session and this stream; every other one is
// refused with ReplyBadSignature, counted, and never reaches Resolve.
func TestSignedHeaders(t *testing.T) {
	h := newHarness(t)
	echo, hits := echoServer(t)
	tb := &table{started: map[string]Target{"web": {Address: echo}}}
	var mu sync.Mutex
	refused := map[ReplyCode]int{}
	cfg := h.agentConfig("sys1", tb.Resolve)
	cfg.OnRefused = func(id string, code ReplyCode) {
		mu.Lock()
		refused[code]++
		mu.Unlock()
		if id != "" {
			t.Errorf("OnRefused names tunnel %q for an unverified header", id)
		}
	}
	startAgent(t, cfg)
	edgeKey := h.edge.signer
	other := testKey(7)
	hdr := Header{Tunnel: "web", Client: "203.0.113.9:4444", User: "alice@example.com"}

	cases := []struct {
		name  string
		build func(s *edgeSession, id uint32) []byte
	}{
		{"unsigned", func(s *edgeSession, id uint32) []byte {
			return framed(headerTypeOpen, `{"tunnel":"web","client":"203.0.113.9:4444","user":"alice@example.com"}`)
		}},
		{"empty signature", func(s *edgeSession, id uint32) []byte {
			return framed(headerTypeOpen, `{"tunnel":"web","sig":""}`)
		}},
		{"not base64", func(s *edgeSession, id uint32) []byte {
			return framed(headerTypeOpen, `{"tunnel":"web","sig":"!!!!"}`)
		}},
		{"short signature", func(s *edgeSession, id uint32) []byte {
			return framed(headerTypeOpen, `{"tunnel":"web","sig":"AAAA"}`)
		}},
		{"forged (another key)", func(s *edgeSession, id uint32) []byte {
			return signedFrame(t, other, binding{"sys1", s.nonce, id}, hdr)
		}},
		{"replayed to another stream", func(s *edgeSession, id uint32) []byte {
			return signedFrame(t, edgeKey, binding{"sys1", s.nonce, id + 2}, hdr)
		}},
		{"replayed to another system", func(s *edgeSession, id uint32) []byte {
			return signedFrame(t, edgeKey, binding{"sys2", s.nonce, id}, hdr)
		}},
		{"replayed from another session", func(s *edgeSession, id uint32) []byte {
			return signedFrame(t, edgeKey, binding{"sys1", newNonce(), id}, hdr)
		}},
		{"user changed", func(s *edgeSession, id uint32) []byte {
			f := signedFrame(t, edgeKey, binding{"sys1", s.nonce, id}, hdr)
			return bytes.Replace(f, []byte("alice@"), []byte("mallo@"), 1)
		}},
		{"tunnel changed", func(s *edgeSession, id uint32) []byte {
			h2 := hdr
			h2.Tunnel = "wex"
			f := signedFrame(t, edgeKey, binding{"sys1", s.nonce, id}, h2)
			return bytes.Replace(f, []byte(`"wex"`), []byte(`"web"`), 1)
		}},
	}
	for _, tc := range cases {
		rep := rawOpenWith(t, h.edge, "sys1", tc.build)
		if rep.Code != ReplyBadSignature {
			t.Errorf("%s: reply %v (%q), want bad signature", tc.name, rep.Code, rep.Message)
		}
	}
	if n := len(tb.Calls()); n != 0 || hits.Load() != 0 {
		t.Fatalf("refused headers reached Resolve (%d calls) or the target (%d)", n, hits.Load())
	}
	// The edge's own signature opens the stream.
	if rep := rawOpenWith(t, h.edge, "sys1", func(s *edgeSession, id uint32) []byte {
		return signedFrame(t, edgeKey, binding{"sys1", s.nonce, id}, hdr)
	}); rep.Code != ReplyOK {
		t.Fatalf("signed header: %v %q", rep.Code, rep.Message)
	}
	mu.Lock()
	defer mu.Unlock()
	if refused[ReplyBadSignature] != len(cases) || len(refused) != 1 {
		t.Errorf("refusals counted %v, want %d bad signatures", refused, len(cases))
	}
}

// TestForgingEdge: an edge whose signer does not match the key it
// announces (a forger in between) gets every stream refused.
func TestForgingEdge(t *testing.T) {
	h := newHarness(t, func(c *EdgeConfig) { c.Signer = mismatchedSigner{testKey(1), testKey(2)} })
	echo, hits := echoServer(t)
	tb := &table{started: map[string]Target{"web": {Address: echo}}}
	var refused sync.Map
	cfg := h.agentConfig("sys1", tb.Resolve)
	cfg.OnRefused = func(_ string, code ReplyCode) { refused.Store(code, true) }
	startAgent(t, cfg)
	_, err := h.edge.OpenAs(context.Background(), "sys1", "web", "", "alice@example.com")
	var re *RefusalError
	if !errors.As(err, &re) || re.Code != ReplyBadSignature {
		t.Fatalf("Open through a forging edge = %v, want a bad-signature refusal", err)
	}
	if _, ok := refused.Load(ReplyBadSignature); !ok || hits.Load() != 0 {
		t.Fatal("the refusal was not counted, or the stream reached the target")
	}
}

// mismatchedSigner announces one key and signs with another.
type mismatchedSigner struct{ announced, signs ed25519.PrivateKey }

func (m mismatchedSigner) Public() crypto.PublicKey { return m.announced.Public() }
func (m mismatchedSigner) Sign(r io.Reader, msg []byte, o crypto.SignerOpts) ([]byte, error) {
	return m.signs.Sign(r, msg, o)
}

// TestStreamRecord: an accepted stream is reported once it ended, with the
// user the edge vouched for and the bytes each way.
func TestStreamRecord(t *testing.T) {
	h := newHarness(t)
	echo, _ := echoServer(t)
	tb := &table{started: map[string]Target{"web": {Address: echo}}}
	recs := make(chan StreamRecord, 1)
	cfg := h.agentConfig("sys1", tb.Resolve)
	cfg.OnStream = func(r StreamRecord) { recs <- r }
	startAgent(t, cfg)
	before := time.Now()
	c, err := h.edge.OpenAs(context.Background(), "sys1", "web", "203.0.113.9:4444", "alice@example.com")
	if err != nil {
		t.Fatal(err)
	}
	msg := []byte("hello through the tunnel")
	c.Write(msg)
	c.(interface{ CloseWrite() error }).CloseWrite()
	got, _ := io.ReadAll(c)
	c.Close()
	if !bytes.Equal(got, msg) {
		t.Fatalf("echo = %q", got)
	}
	select {
	case r := <-recs:
		if r.Tunnel != "web" || r.User != "alice@example.com" || r.Client != "203.0.113.9:4444" ||
			r.FromEdge != int64(len(msg)) || r.ToEdge != int64(len(msg)) || r.Start.Before(before.Add(-time.Second)) || r.End.Before(r.Start) {
			t.Fatalf("record = %+v", r)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no stream record")
	}
}

// TestSessionKeyExchange: the edge refuses an upgrade without a session
// nonce, and the agent gives up on an edge that announces no key.
func TestSessionKeyExchange(t *testing.T) {
	h := newHarness(t)
	req, _ := http.NewRequest(http.MethodGet, "https://"+h.srv.Listener.Addr().String()+pathConnect, nil)
	req.Header.Set("Authorization", "Bearer tok-sys1")
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "websocket")
	req.Header.Set("Sec-WebSocket-Version", "13")
	req.Header.Set("Sec-WebSocket-Key", base64.StdEncoding.EncodeToString(make([]byte, 16)))
	req.Header.Set("Sec-WebSocket-Protocol", Subprotocol)
	resp, err := h.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("upgrade without a nonce: %d, want 400", resp.StatusCode)
	}

	keyless := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{Subprotocols: []string{Subprotocol}})
		if err == nil {
			defer ws.CloseNow()
			time.Sleep(time.Second)
		}
	}))
	defer keyless.Close()
	cfg := h.agentConfig("sys1", (&table{}).Resolve)
	cfg.URL = "wss://" + keyless.Listener.Addr().String() + pathConnect
	cfg.HTTPClient = keyless.Client()
	err = Serve(context.Background(), cfg, nil)
	if !errors.Is(err, ErrProtocol) || !strings.Contains(err.Error(), KeyHeader) {
		t.Fatalf("Serve against a keyless edge = %v, want ErrProtocol naming %s", err, KeyHeader)
	}
}

// FuzzVerifyHeader feeds stream headers (and announced keys) to the
// agent's parsing and signature check: nothing panics, and a header is
// accepted only with the signature the edge's key makes for it.
func FuzzVerifyHeader(f *testing.F) {
	key := testKey(3)
	b := binding{system: "sys1", nonce: "AAAAAAAAAAAAAAAAAAAAAA", stream: 1}
	pub := encodeKey(key.Public().(ed25519.PublicKey))
	f.Add(signedFrame(f, key, b, Header{Tunnel: "web", Client: "203.0.113.9:4444", User: "alice@example.com"}), pub)
	f.Add(signedFrame(f, testKey(4), b, Header{Tunnel: "web", User: "alice@example.com"}), pub)
	f.Add(framed(headerTypeOpen, `{"tunnel":"web","user":"alice@example.com"}`), pub)
	f.Add(framed(headerTypeOpen, `{"tunnel":"web","sig":"AAAA"}`), "AAAA")
	f.Add(framed(headerTypeOpen, `{"tunnel":"web","user":"a\u0001","sig":""}`), "")
	f.Fuzz(func(t *testing.T, frame []byte, announced string) {
		h, err := ReadHeader(bytes.NewReader(frame))
		if err != nil {
			if !errors.Is(err, ErrBadHeader) {
				t.Fatalf("error does not wrap ErrBadHeader: %v", err)
			}
			return
		}
		if len(h.User) > maxUserLen || len(h.Sig) > 128 {
			t.Fatalf("accepted %+v", h)
		}
		k, err := parseKey(announced)
		if err != nil {
			k = key.Public().(ed25519.PublicKey)
		}
		if err := verifyHeader(k, b, h); err != nil {
			if !errors.Is(err, ErrBadSignature) {
				t.Fatalf("error does not wrap ErrBadSignature: %v", err)
			}
			return
		}
		if !k.Equal(key.Public()) {
			return // a fuzzed key with a matching fuzzed signature: not the edge's
		}
		want := h
		if err := signHeader(key, b, &want); err != nil || want.Sig != h.Sig {
			t.Fatalf("accepted a signature the edge did not make: %+v", h)
		}
	})
}
