package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer is a bytes.Buffer safe for the serving goroutine and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--help"}, 0, "Usage: cld-simhost"},
		{[]string{"--nope"}, 2, "flag provided but not defined"},
		{[]string{"extra"}, 2, `unexpected argument "extra"`},
		{[]string{"--listen-server-manager", "", "--listen-mbg", ""}, 2, "no UI to serve"},
		{[]string{"--listen-mbg", "9444"}, 2, "want HOST:PORT"},
		{[]string{"--password", ""}, 2, "must not be empty"},
		{[]string{"--platform", "pbx"}, 2, `unknown platform "pbx"`},
		{[]string{"--platform", "msl"}, 2, "needs --root DIR"},
		{[]string{"--platform", "mxone", "--root", "x", "--listen-mbg", "127.0.0.1:0"}, 2, "--listen-mbg are for no --platform or generic"},
		{[]string{"--platform", "generic", "--root", "x"}, 2, "need --platform with a host tree"},
		{[]string{"--root", "x"}, 2, "need --platform with a host tree"},
		{[]string{"--platform", "smbc", "--root", "x", "--gateway-port", "70000"}, 2, "not a port"},
		{[]string{"gateway-core", "extra"}, 2, `unexpected argument "extra"`},
		{[]string{"gateway-core", "--config", "/nonexistent/clgw.conf"}, 1, "does not exist"},
	} {
		var out, errb syncBuffer
		if code := run(tc.args, &out, &errb); code != tc.code || !strings.Contains(errb.String(), tc.want) {
			t.Errorf("%q: exit %d, want %d; stderr:\n%s", tc.args, code, tc.code, errb.String())
		}
	}
}

func freeAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func TestServe(t *testing.T) {
	dir := t.TempDir()
	sm, mbg := freeAddr(t), freeAddr(t)
	ctx, cancel := context.WithCancel(t.Context())
	var out, errb syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- serve(ctx, []string{"--listen-server-manager", sm, "--listen-mbg", mbg, "--dir", dir}, &out, &errb)
	}()

	var pool *x509.CertPool
	deadline := time.Now().Add(20 * time.Second)
	for {
		if pem, err := os.ReadFile(filepath.Join(dir, "cert.pem")); err == nil {
			pool = x509.NewCertPool()
			if pool.AppendCertsFromPEM(pem) && strings.Contains(out.String(), mbg) {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no certificate or addresses; stdout %q stderr %q", out.String(), errb.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}
	defer tr.CloseIdleConnections()
	for _, a := range []string{sm, mbg} {
		resp, err := (&http.Client{Transport: tr}).Get("https://" + a + "/health")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("%s health: %d", a, resp.StatusCode)
		}
	}
	for _, want := range []string{"MSL Server Manager: https://" + sm + "/", "MiVoice Border Gateway administration: https://" + mbg + "/"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("stdout lacks %q:\n%s", want, out.String())
		}
	}
	tr.CloseIdleConnections()
	cancel()
	if code := <-done; code != 0 {
		t.Errorf("exit %d; stderr:\n%s", code, errb.String())
	}
}
