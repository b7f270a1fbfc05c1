package platforms

import (
	"strings"
	"testing"
)

func TestParseLocalAddress(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    Endpoint
		wantErr string
	}{
		{in: "https://127.0.0.1:443", want: Endpoint{TLS: true, Host: "127.0.0.1", Port: 443}},
		{in: "http://127.9.8.7:8080/", want: Endpoint{Host: "127.9.8.7", Port: 8080}},
		{in: "https://[::1]:9443", want: Endpoint{TLS: true, Host: "::1", Port: 9443}},
		{in: "https://mxone-snm.example.com:443", want: Endpoint{TLS: true, Host: "mxone-snm.example.com", Port: 443}},
		{in: "https://localhost:1", want: Endpoint{TLS: true, Host: "localhost", Port: 1}},
		{in: "", wantErr: "is empty"},
		{in: "127.0.0.1:443", wantErr: "not an http:// or https:// URL"},
		{in: "tcp://127.0.0.1:22", wantErr: "must start with http:// or https://"},
		{in: "https://192.168.1.10:443", wantErr: "not a loopback address"},
		{in: "https://[::ffff:10.0.0.1]:443", wantErr: "not a loopback address"},
		{in: "https://0.0.0.0:443", wantErr: "not a loopback address"},
		{in: "https://[fe80::1%25eth0]:443", wantErr: "zone"},
		{in: "https://127.0.0.1:0", wantErr: "not between 1 and 65535"},
		{in: "https://127.0.0.1:70000", wantErr: "not between 1 and 65535"},
		{in: "https://127.0.0.1", wantErr: "explicit port"},
		{in: "https://user:pw@127.0.0.1:443", wantErr: "user name or password"},
		{in: "https://127.0.0.1:443/x", wantErr: "without a path"},
		{in: "https://127.0.0.1:443?a=b", wantErr: "without a path"},
		{in: "https://127.0.0.1:443#f", wantErr: "without a path"},
		{in: "https://bad_host!:443", wantErr: "not a valid host name"},
		{in: "https://-bad.example:443", wantErr: "not a valid host name"},
		{in: "https://:443", wantErr: "no host"},
		{in: "https:opaque", wantErr: "no host"},
	} {
		got, err := ParseLocalAddress(tc.in)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("%q: error %v, want %q", tc.in, err, tc.wantErr)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%q = %+v, %v; want %+v", tc.in, got, err, tc.want)
		}
	}
	if a := (Endpoint{Host: "::1", Port: 443}).Address(); a != "[::1]:443" {
		t.Errorf("Address = %s", a)
	}
}

func TestValidateTunnels(t *testing.T) {
	ok := Tunnel{ID: "a", Component: "C", Name: "N", LocalAddress: "https://127.0.0.1:443", AcceptSelfSigned: true}
	if err := ValidateTunnels([]Tunnel{ok}); err != nil {
		t.Fatal(err)
	}
	long := ok
	long.Name = strings.Repeat("x", 201)
	twoLines := ok
	twoLines.Description = "a\nb"
	err := ValidateTunnels([]Tunnel{ok, ok, long, twoLines})
	for _, w := range []string{`tunnels[1]: id "a" is already used by tunnels[0]`, "tunnels[2] (a): name must be one line", "tunnels[3] (a): description must be one line"} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("error lacks %q: %v", w, err)
		}
	}
}

func FuzzParseLocalAddress(f *testing.F) {
	for _, s := range []string{"https://127.0.0.1:443", "http://[::1]:80", "https://host.example:1", "x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ep, err := ParseLocalAddress(s)
		if err != nil {
			return
		}
		if ep.Port < 1 || ep.Port > 65535 || ep.Host == "" {
			t.Fatalf("%q accepted as %+v", s, ep)
		}
	})
}
