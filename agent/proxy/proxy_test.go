package proxy

import (
	"context"
	"net/http"
	"strings"
	"testing"
)

func TestParseURL(t *testing.T) {
	for _, tc := range []struct {
		in, want, wantErr string
	}{
		{in: "http://proxy.example:3128", want: "http://proxy.example:3128"},
		{in: "http://user:p%40ss@10.0.0.1:8080/", want: "http://user:xxxxx@10.0.0.1:8080"},
		{in: "https://proxy.example", want: "https://proxy.example"},
		{in: "socks5://proxy:1080", wantErr: "must start with http:// or https://"},
		{in: "proxy.example:3128", wantErr: "must start with http://"},
		{in: "http://", wantErr: "has no host"},
		{in: "http://user:secret@proxy:3128/path", wantErr: "without a path"},
		{in: "http://user:se cret%zz@proxy:3128", wantErr: "not a URL"},
	} {
		u, err := ParseURL(tc.in)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("%q: %v, want %q", tc.in, err, tc.wantErr)
			}
			if err != nil && strings.Contains(err.Error(), "secret") {
				t.Errorf("%q: the error shows the password: %v", tc.in, err)
			}
			continue
		}
		if err != nil || u.Redacted() != tc.want {
			t.Errorf("%q = %v, %v; want %s", tc.in, u, err, tc.want)
		}
	}
}

func TestNoProxy(t *testing.T) {
	np, err := ParseNoProxy("intranet.example, .corp.example 10.0.0.0/8,192.168.1.5 [::1]")
	if err != nil {
		t.Fatal(err)
	}
	for host, want := range map[string]bool{
		"intranet.example": true, "a.intranet.example": true, "INTRANET.example.": true, "xintranet.example": false,
		"corp.example": false, "x.corp.example": true, "10.1.2.3": true, "11.0.0.1": false, "192.168.1.5": true,
		"192.168.1.6": false, "::1": true, "cloud.example": false, "127.0.0.1": false,
	} {
		if got := np.Match(host); got != want {
			t.Errorf("match(%q) = %v", host, got)
		}
	}
	all, _ := ParseNoProxy("*")
	if !all.Match("anything") {
		t.Error("* does not match")
	}
	if _, err := ParseNoProxy("http://x"); err == nil {
		t.Error("a URL was accepted")
	}
}

func TestProxySetup(t *testing.T) {
	ps, err := New("http://user:topsecret@proxy.example:3128", "direct.example", "/etc/cld/cld.yaml")
	if err != nil {
		t.Fatal(err)
	}
	req := func(u string) *http.Request {
		r, _ := http.NewRequest("GET", u, nil)
		return r
	}
	if p, _ := ps.ProxyFor(req("https://127.0.0.1:8443/x")); p == nil || p.Host != "proxy.example:3128" {
		t.Errorf("configured proxy for loopback: %v", p)
	}
	if p, _ := ps.ProxyFor(req("https://direct.example/x")); p != nil {
		t.Errorf("no_proxy host proxied: %v", p)
	}
	if d := ps.Describe("wss://cloud.example/tunnel"); d != "http://user:xxxxx@proxy.example:3128" {
		t.Errorf("describe = %q", d)
	}
	// A refused CONNECT names the proxy, the status and the remedy, never the password.
	err = ps.OnConnectResponse(context.Background(), ps.fixed, nil, &http.Response{StatusCode: 407, Status: "407 Proxy Authentication Required"})
	want := "the HTTP proxy at proxy.example:3128 refused the connection: 407 Proxy Authentication Required — check proxy: user and password in /etc/cld/cld.yaml"
	if err == nil || err.Error() != want {
		t.Errorf("407: %v\nwant %s", err, want)
	}
	err = ps.OnConnectResponse(context.Background(), ps.fixed, nil, &http.Response{StatusCode: 403, Status: "403 Forbidden"})
	if err == nil || !strings.Contains(err.Error(), "403 Forbidden — check that the proxy allows CONNECT") {
		t.Errorf("403: %v", err)
	}
	if ps.OnConnectResponse(context.Background(), ps.fixed, nil, &http.Response{StatusCode: 200}) != nil {
		t.Error("200 refused")
	}
	// The environment's proxy when none is configured.
	t.Setenv("HTTPS_PROXY", "http://envuser:envpass@envproxy.example:8080")
	t.Setenv("NO_PROXY", "")
	ps, err = New("", "", "/etc/cld/cld.yaml")
	if err != nil {
		t.Fatal(err)
	}
	// (http.ProxyFromEnvironment reads the environment once per process,
	// so only the hint is checked here; the rules are Go's.)
	if !strings.Contains(ps.hint407, "HTTPS_PROXY") {
		t.Errorf("environment hint: %q", ps.hint407)
	}
}
