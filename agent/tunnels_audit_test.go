package agent

import (
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cloudlink/cld/agent/api"
	"github.com/cloudlink/cld/inventory"
	"github.com/cloudlink/cld/platforms"
	"github.com/cloudlink/cld/platforms/generic"
	"github.com/cloudlink/cld/tunnel"
)

// testSigner is the fake edge's stream-header key; forge makes it sign with
// another key than the one it announces, unsigned makes it sign nothing.
type testSigner struct {
	key, other      ed25519.PrivateKey
	forge, unsigned atomic.Bool
}

func newTestSigner() *testSigner {
	_, k, _ := ed25519.GenerateKey(rand.Reader)
	_, o, _ := ed25519.GenerateKey(rand.Reader)
	return &testSigner{key: k, other: o}
}

func (s *testSigner) Public() crypto.PublicKey { return s.key.Public() }
func (s *testSigner) Sign(r io.Reader, msg []byte, o crypto.SignerOpts) ([]byte, error) {
	switch {
	case s.unsigned.Load():
		return nil, nil
	case s.forge.Load():
		return s.other.Sign(r, msg, o)
	}
	return s.key.Sign(r, msg, o)
}

// TestTunnelAccessAudit: a connection through a tunnel on behalf of a
// portal user is recorded in the access audit (local API, as `cld tunnel
// audit` reads it) with the user, the tunnel, the client and the bytes; a
// stream whose header is forged or unsigned is refused, counted, and not
// recorded.
func TestTunnelAccessAudit(t *testing.T) {
	origin := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, strings.Repeat("x", 1000))
	}))
	origin.Config.ErrorLog = log.New(io.Discard, "", 0)
	origin.Start()
	defer origin.Close()
	p, err := generic.New("Test host", "", []platforms.Tunnel{
		{ID: "web", Component: "Web", Name: "Admin", LocalAddress: "http://" + origin.Listener.Addr().String()},
	})
	if err != nil {
		t.Fatal(err)
	}
	rig := newTunnelRig(t, withServe(tunnel.Serve), WithPlatform(p))
	ctx := context.Background()
	rig.link(t)
	if _, err := rig.api.StartTunnel(ctx, "web"); err != nil {
		t.Fatal(err)
	}
	rig.waitStatus(t, "web", api.TunnelStarted)

	get := func() (int, error) {
		c, err := rig.cloud.edge.OpenAs(ctx, "sys-1", "web", "203.0.113.9:5555", "alice@example.com")
		if err != nil {
			return 0, err
		}
		defer c.Close()
		fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: public.example\r\nConnection: close\r\n\r\n")
		b, err := io.ReadAll(c)
		return len(b), err
	}
	n, err := get()
	if err != nil || n < 1000 {
		t.Fatalf("through the tunnel: %d bytes, %v", n, err)
	}
	var a api.Audit
	deadline := time.Now().Add(10 * time.Second)
	for {
		if a, err = rig.api.TunnelAudit(ctx); err != nil {
			t.Fatal(err)
		}
		if len(a.Records) > 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if len(a.Records) != 1 {
		t.Fatalf("audit = %+v, want one record", a)
	}
	r := a.Records[0]
	if r.User != "alice@example.com" || r.Tunnel != "web" || r.Client != "203.0.113.9:5555" || r.BytesOut != int64(n) || r.BytesIn == 0 || r.End.Before(r.Start) {
		t.Fatalf("record = %+v, want alice on web with %d bytes out", r, n)
	}
	if !strings.HasSuffix(a.Path, "access-audit.jsonl") {
		t.Errorf("audit path %q", a.Path)
	}

	for _, mode := range []*atomic.Bool{&rig.cloud.signer.forge, &rig.cloud.signer.unsigned} {
		mode.Store(true)
		_, err := get()
		mode.Store(false)
		var re *tunnel.RefusalError
		if !errors.As(err, &re) || re.Code != tunnel.ReplyBadSignature {
			t.Fatalf("a bad header: %v, want a bad-signature refusal", err)
		}
	}
	ts, err := rig.api.Tunnels(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if ts.RefusedUnsigned != 2 || ts.Refused < 2 {
		t.Fatalf("refused %d, of which unsigned %d; want 2 unsigned", ts.Refused, ts.RefusedUnsigned)
	}
	if a, _ := rig.api.TunnelAudit(ctx); len(a.Records) != 1 {
		t.Fatalf("refused streams were recorded: %+v", a.Records)
	}

	// The inventory report carries the audit's totals.
	raw, err := rig.api.InventoryPreview(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var rep inventory.Report
	if err := json.Unmarshal(raw, &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Access == nil || rep.Access.Connections != 1 || rep.Access.Users != 1 || rep.Access.BytesOut != uint64(n) || rep.Access.BytesIn != uint64(r.BytesIn) {
		t.Fatalf("report's access totals = %+v, want 1 connection of 1 user, %d bytes out", rep.Access, n)
	}
}
