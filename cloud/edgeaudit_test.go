package cloud

import (
	"context"
	"crypto/tls"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/cloudlink/cld/tunnel"
)

// TestEdgeVouchesForUser: a request of a signed-in portal user reaches the
// host in a stream whose signed header names that user, and the daemon
// side reports the connection with the user once it ended.
func TestEdgeVouchesForUser(t *testing.T) {
	ts := NewTestServer(t)
	origin := newOrigin(t)
	sys := linkSystem(t, ts, DemoAccountID, installA, "pbx-alpha")
	public := putTunnelsOK(t, ts, sys.token, demoTunnels).Tunnels[0].PublicURL
	recs := make(chan tunnel.StreamRecord, 4)
	ctx, cancel := context.WithCancel(context.Background())
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ts.CAPool}}}
	done := make(chan struct{})
	go func() {
		defer close(done)
		tunnel.Serve(ctx, tunnel.AgentConfig{URL: ts.TunnelURL(), HTTPClient: client, SystemID: sys.SystemID,
			Token: func(context.Context) (string, error) { return sys.token, nil },
			Resolve: func(string) (tunnel.Target, error) {
				return tunnel.Target{Address: origin.Listener.Addr().String()}, nil
			},
			OnStream: func(r tunnel.StreamRecord) { recs <- r },
			Logger:   discardLogger()}, nil)
	}()
	defer func() { cancel(); <-done; client.CloseIdleConnections() }()
	waitUntil(t, "the tunnel session", func() bool { return ts.Server.TunnelConnected(sys.SystemID) })

	c := ts.EdgeClient(t, DemoUserEmail)
	res, err := c.Get(public)
	if err != nil {
		t.Fatal(err)
	}
	n, _ := io.Copy(io.Discard, res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("through the edge: %s", res.Status)
	}
	c.CloseIdleConnections() // the public connection ends, and its stream with it
	select {
	case r := <-recs:
		if r.User != DemoUserEmail || r.Tunnel != demoTunnels[0].ID || r.ToEdge < n || r.Client == "" {
			t.Fatalf("record %+v, want %s on %s with at least %d bytes", r, DemoUserEmail, demoTunnels[0].ID, n)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("no stream record after the public connection ended")
	}
}
