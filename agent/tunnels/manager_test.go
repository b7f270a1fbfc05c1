package tunnels

import (
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/cloudlink/cld/agent/cloudclient"
	"github.com/cloudlink/cld/agent/proxy"
	"github.com/cloudlink/cld/platforms"
	"github.com/cloudlink/cld/tunnel"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestTunnelTargets(t *testing.T) {
	ca := filepath.Join(t.TempDir(), "ca.pem")
	srv := httptest.NewTLSServer(http.NotFoundHandler())
	defer srv.Close()
	if err := os.WriteFile(ca, pemCert(srv.Certificate().Raw), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		t             platforms.Tunnel
		tls, insecure bool
		roots         bool
	}{
		{platforms.Tunnel{LocalAddress: "http://127.0.0.1:80"}, false, false, false},
		{platforms.Tunnel{LocalAddress: "https://127.0.0.1:443"}, true, false, false},
		{platforms.Tunnel{LocalAddress: "https://127.0.0.1:443", AcceptSelfSigned: true}, true, true, false},
		{platforms.Tunnel{LocalAddress: "https://localhost:443", CAFile: ca}, true, false, true},
	} {
		target, err := tunnelTarget(tc.t)
		if err != nil {
			t.Fatal(err)
		}
		if (target.TLS != nil) != tc.tls || (tc.tls && (target.TLS.InsecureSkipVerify != tc.insecure || (target.TLS.RootCAs != nil) != tc.roots)) {
			t.Errorf("%+v: target %+v", tc.t, target)
		}
	}
}

func pemCert(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func TestReconnectPolicy(t *testing.T) {
	p := newReconnectPolicy()
	now := time.Unix(1000, 0)
	var total time.Duration
	for total < reconnectFastWindow-time.Second {
		d := p.next(now.Add(total), false)
		if d > ReconnectFastMax || d <= 0 {
			t.Fatalf("fast step %v at %v", d, total)
		}
		total += d
	}
	// Past the window: slow, growing, capped, jittered.
	total = reconnectFastWindow
	var prev time.Duration
	for i := 0; i < 20; i++ {
		d := p.next(now.Add(total), false)
		if d < ReconnectFastMax || d > reconnectSlowMax {
			t.Fatalf("slow step %d = %v", i, d)
		}
		if i > 8 && d < reconnectSlowMax*7/10 {
			t.Errorf("slow step %d = %v, want near the cap", i, d)
		}
		prev = d
		total += d
	}
	_ = prev
	// A hard refusal is slow from the start; a reset begins a new outage.
	p.reset()
	if d := p.next(now, true); d < reconnectSlowMin*8/10 || d > reconnectSlowMin*12/10 {
		t.Errorf("hard first step = %v", d)
	}
	p.reset()
	if d := p.next(now, false); d > reconnectFastMin*12/10 {
		t.Errorf("first step after reset = %v", d)
	}
}

// fakeSession is a link session of the cloud at cloud.
type fakeSession struct {
	cloud       string
	invalidated int
}

func (f *fakeSession) CloudURL() string { return f.cloud }
func (f *fakeSession) Invalidate()      { f.invalidated++ }

func TestDescribeSessionErr(t *testing.T) {
	s := &fakeSession{cloud: "https://cloud.example"}
	m := &Manager{}
	for _, tc := range []struct {
		err  error
		want string
		hard bool
	}{
		{&proxy.Error{Proxy: "p:3128", Status: "407 Proxy Authentication Required", Hint: "check proxy:"}, "The HTTP proxy at p:3128 refused the connection: 407 Proxy Authentication Required — check proxy:. cld keeps retrying.", true},
		{&proxy.Error{Proxy: "p:3128", Err: errors.New("connection refused")}, "The HTTP proxy at p:3128 refused the connection: connection refused", false},
		{errors.New("failed to WebSocket dial: Proxy Authentication Required"), "407 Proxy Authentication Required", true},
		{fmt.Errorf("%w: dial tcp: connection refused", cloudclient.ErrUnreachable), "Could not reach CloudLink at " + s.CloudURL(), false},
		{&cloudclient.Error{Status: 401, Code: "invalid_client"}, "refused the device token for the tunnel session", true},
		{fmt.Errorf("%w: the proxy 127.0.0.1:3128 refused CONNECT with 407 Proxy Authentication Required: check", tunnel.ErrProxy), "The HTTP proxy at (unknown) refused the connection: 407 Proxy Authentication Required", true},
		{fmt.Errorf("%w: the proxy p:1 refused CONNECT to h with 403 Forbidden", tunnel.ErrProxy), "refused the connection: 403 Forbidden", true},
		{fmt.Errorf("%w (HTTP 401): token expired", tunnel.ErrTokenRefused), "refused this host's credentials", true},
		{fmt.Errorf("%w: x509: unknown authority", tunnel.ErrTLS), "cloud_ca", true},
		{fmt.Errorf("%w (no answer within 10s)", tunnel.ErrDeadPath), "went dead", false},
		{fmt.Errorf("%w (takeover)", tunnel.ErrReplaced), "same identity", true},
		{fmt.Errorf("%w: EOF", tunnel.ErrConnectionLost), "ended", false},
		{errors.New("tunnel: cannot connect to the edge at h: dial tcp: connection refused"), "Could not reach the tunnel edge", false},
		{errors.New("failed to WebSocket dial: expected handshake response status code 101 but got 403"), "The tunnel edge at " + s.CloudURL() + " refused the session", true},
		{errors.New("edge answered 503 Service Unavailable"), "refused the session", false},
		{&net.OpError{Op: "dial", Err: errors.New("i/o timeout")}, "Could not reach the tunnel edge", false},
		{errors.New("yamux: keepalive failed"), "The tunnel session to " + s.CloudURL() + " ended: yamux: keepalive failed", false},
	} {
		got, hard := m.describeSessionErr(tc.err, s)
		if !strings.Contains(got, tc.want) || hard != tc.hard {
			t.Errorf("%v: %q (hard %v), want %q (hard %v)", tc.err, got, hard, tc.want, tc.hard)
		}
	}
}
