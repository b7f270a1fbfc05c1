package cloud

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/cloudlink/cld/tunnel"
)

func FuzzDecodeRegisterRequest(f *testing.F) {
	f.Add(`{"installation_id":"` + installA + `","machine_id_hash":"` + strings.Repeat("0a", 32) + `","hostname":"pbx","version":"1.0"}`)
	f.Add(`{"installation_id":42}`)
	f.Add(`{"hostname":"h\u0000"}`)
	f.Add(`[]`)
	f.Add(`null`)
	f.Add(`{"installation_id":"` + installA + `","hostname":"h"} {}`)
	f.Add("")
	f.Fuzz(func(t *testing.T, body string) {
		req, aerr := decodeRegisterRequest(http.MaxBytesReader(nil, io.NopCloser(strings.NewReader(body)), maxBodyBytes))
		if aerr != nil {
			if aerr.Status != http.StatusBadRequest || aerr.Code != "invalid_request" || aerr.Description == "" {
				t.Fatalf("bad error %+v", aerr)
			}
			return
		}
		if _, err := uuid.Parse(req.InstallationID); err != nil {
			t.Fatalf("accepted installation id %q", req.InstallationID)
		}
		if req.Hostname == "" || len(req.Hostname) > 253 || !utf8.ValidString(req.Hostname) {
			t.Fatalf("accepted host name %q", req.Hostname)
		}
		if req.MachineIDHash != "" && !hexPattern.MatchString(req.MachineIDHash) {
			t.Fatalf("accepted machine id hash %q", req.MachineIDHash)
		}
	})
}

func FuzzParseTokenRequest(f *testing.F) {
	f.Add("application/x-www-form-urlencoded", "grant_type=password&username=a%40b&password=x&account_id=100001", "")
	f.Add("application/x-www-form-urlencoded", "grant_type=client_credentials", "Basic c3lzLWFiYzpzZWNyZXQ=")
	f.Add("application/x-www-form-urlencoded", "grant_type=refresh_token&refresh_token=abc&scope=systems%3Aregister", "")
	f.Add("application/x-www-form-urlencoded", "grant_type=a&grant_type=b", "")
	f.Add("application/x-www-form-urlencoded; charset=utf-8", "grant_type=authorization_code&code=%zz", "Basic !!")
	f.Add("text/plain", "", "Bearer x")
	f.Fuzz(func(t *testing.T, ctype, body, auth string) {
		r := httptest.NewRequest(http.MethodPost, "/oauth/token", strings.NewReader(body))
		r.Header.Set("Content-Type", ctype)
		if auth != "" {
			r.Header.Set("Authorization", auth)
		}
		r.Body = http.MaxBytesReader(nil, r.Body, maxBodyBytes)
		tr, aerr := parseTokenRequest(r)
		if aerr != nil {
			if aerr.Status != 400 && aerr.Status != 401 || aerr.Code == "" || aerr.Description == "" {
				t.Fatalf("bad error %+v", aerr)
			}
			return
		}
		if tr.GrantType == "" {
			t.Fatal("accepted a request without grant_type")
		}
		if tr.AccountID < 0 {
			t.Fatalf("negative account %d", tr.AccountID)
		}
		if !tr.BasicAuth && auth != "" {
			t.Fatal("Authorization header ignored")
		}
	})
}

func FuzzParseAuthRequest(f *testing.F) {
	_, challenge := pkce("abc")
	f.Add(authValues(challenge).Encode())
	f.Add("client_id=cld&redirect_uri=http%3A%2F%2Fh%2Flink%2Fcallback&response_type=code")
	f.Add("client_id=cld&redirect_uri=javascript%3A%2F%2Flink%2Fcallback")
	f.Add("client_id=cld&client_id=cld")
	f.Fuzz(func(t *testing.T, query string) {
		v, err := url.ParseQuery(query)
		if err != nil {
			return
		}
		req, pageErr, redirErr := parseAuthRequest(v)
		if pageErr != "" {
			return
		}
		// Whatever is redirected to must be a valid redirect URI.
		if msg := checkRedirectURI(req.RedirectURI); msg != "" {
			t.Fatalf("redirect to invalid URI %q: %s", req.RedirectURI, msg)
		}
		if redirErr == nil && (req.Method != "S256" || len(req.CodeChallenge) != 43 || req.ResponseType != "code") {
			t.Fatalf("accepted %+v", req)
		}
	})
}

func FuzzDecodeTunnelsRequest(f *testing.F) {
	f.Add(`{"tunnels":[{"id":"msl-server-manager","component":"MSL","name":"Server Manager","status":"started"}]}`)
	f.Add(`{"tunnels":[{"id":"127.0.0.1:443","name":"x","status":"started"}]}`)
	f.Add(`{"tunnels":[{"id":"a","name":"x","status":"running"}]}`)
	f.Add(`{"tunnels":null}`)
	f.Add(`{"tunnels":[{"id":"a","name":"\u0000"}]}`)
	f.Add(`[]`)
	f.Add("")
	f.Fuzz(func(t *testing.T, body string) {
		req, aerr := decodeTunnelsRequest(http.MaxBytesReader(nil, io.NopCloser(strings.NewReader(body)), maxTunnelsBodyBytes))
		if aerr != nil {
			if aerr.Status != http.StatusBadRequest || aerr.Code != "invalid_request" || aerr.Description == "" || !utf8.ValidString(aerr.Description) {
				t.Fatalf("bad error %+v", aerr)
			}
			return
		}
		if len(req.Tunnels) > MaxTunnels {
			t.Fatalf("accepted %d tunnels", len(req.Tunnels))
		}
		seen := map[string]bool{}
		for _, tu := range req.Tunnels {
			if !tunnel.ValidTunnelID(tu.ID) || seen[tu.ID] || tu.Name == "" {
				t.Fatalf("accepted tunnel %+v", tu)
			}
			seen[tu.ID] = true
			switch tu.Status {
			case "stopped", "starting", "started", "error":
			default:
				t.Fatalf("accepted status %q", tu.Status)
			}
		}
	})
}

func FuzzEdgeInput(f *testing.F) {
	f.Add("0f8fad5b-d9cb-469f-a165-70867728950e.eu.edge.localhost:8444", "/a?b=c", "http://127.0.0.1/x", "a=1; Domain=x")
	f.Add("EVIL.example", "//evil", "https://[::1]:8/", "domain")
	f.Add("x.eu.edge.localhost.", "/\\x", "//h/p", "=; domain=; Domain")
	f.Add("[::1]:1", "", "%zz", "")
	e := &edge{domain: "edge.localhost"}
	f.Fuzz(func(t *testing.T, host, ret, loc, cookie string) {
		hostname, id, region, kind := e.parseHost(host)
		if kind == hostTunnel {
			if _, err := uuid.Parse(id); err != nil || !regionPattern.MatchString(region) || hostname != id+"."+region+".edge.localhost" {
				t.Fatalf("parseHost(%q) = %q %q %q", host, hostname, id, region)
			}
		}
		if safeReturn(ret) {
			u, err := url.Parse(ret)
			if err != nil || u.Host != "" || u.Scheme != "" || !strings.HasPrefix(ret, "/") || strings.HasPrefix(ret, "//") {
				t.Fatalf("safeReturn(%q) = true", ret)
			}
			// A browser resolves it on the same host.
			base, _ := url.Parse("https://a.eu.edge.localhost/")
			if r, err := base.Parse(ret); err != nil || r.Host != base.Host {
				t.Fatalf("safeReturn(%q) leads to %v", ret, r)
			}
		}
		if nl, ok := rewriteLocation(loc, "a.eu.edge.localhost:8444"); ok && !strings.HasPrefix(nl, "https://a.eu.edge.localhost:8444") {
			t.Fatalf("rewriteLocation(%q) = %q", loc, nl)
		}
		if c := stripCookieDomain(cookie); strings.Contains(strings.ToLower(c), "; domain=") && !strings.Contains(strings.ToLower(cookie), "domain=") {
			t.Fatalf("stripCookieDomain(%q) = %q", cookie, c)
		}
		h := http.Header{"Cookie": {cookie}}
		stripCookies(h)
	})
}
