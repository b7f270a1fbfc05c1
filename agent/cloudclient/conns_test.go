package cloudclient

import (
	"crypto/tls"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/cloudlink/cld/agent/config"
)

// TestCloseConnections: an owner that stops closes the connections its
// client holds, the idle one and the one a request is still using, which
// CloseIdleConnections leaves open.
func TestCloseConnections(t *testing.T) {
	ca := newTestCA(t, "cloud CA", nil)
	entered, release := make(chan struct{}, 1), make(chan struct{})
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			entered <- struct{}{}
			select {
			case <-release:
			case <-r.Context().Done():
			}
		}
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{ca.leaf(t, "cloud.test")}}
	srv.EnableHTTP2 = true
	srv.StartTLS()
	defer srv.Close()
	defer close(release)

	cfg := config.DefaultConfig()
	cfg.CloudCA = ca.pemFile(t)
	hc, _, err := NewHTTPClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	res, err := hc.Get(srv.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	done := make(chan error, 1)
	go func() {
		res, err := hc.Get(srv.URL + "/slow")
		if err == nil {
			res.Body.Close()
		}
		done <- err
	}()
	<-entered
	hc.CloseIdleConnections()
	select {
	case err := <-done:
		t.Fatalf("CloseIdleConnections ended a request in flight: %v", err)
	default:
	}
	CloseConnections(hc)
	select {
	case err := <-done:
		if err == nil || errors.Is(err, http.ErrHandlerTimeout) {
			t.Fatalf("the request in flight: %v, want a closed connection", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("CloseConnections left the request's connection open")
	}
	if _, ok := dialers.Load(hc.Transport); ok {
		t.Error("the transport is still in the registry after CloseConnections")
	}
}
