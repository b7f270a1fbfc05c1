package localapi

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/cloudlink/cld/agent/api"
)

func TestRemoteHandlerNeedsDashboardAccount(t *testing.T) {
	f := &fake{}
	h := NewRemoteHandler(f.DashboardLogin, NewHandler(f, quiet()))
	cases := []struct {
		name       string
		user, pass string
		basic      bool
		want       int
	}{
		{"no credentials", "", "", false, http.StatusUnauthorized},
		{"wrong password", "admin", "wrong", true, http.StatusUnauthorized},
		{"right password", "admin", "right", true, http.StatusOK},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodGet, RemotePrefix+"/v1/status", nil)
			if c.basic {
				req.SetBasicAuth(c.user, c.pass)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != c.want {
				t.Fatalf("status %d, want %d: %s", rec.Code, c.want, rec.Body)
			}
			if c.want == http.StatusUnauthorized {
				var e api.Error
				if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || e.Code != api.CodeUnauthorized || e.Message == "" {
					t.Fatalf("error body %q (%v), want an unauthorized api.Error with a message", rec.Body, err)
				}
				if got := rec.Header().Get("WWW-Authenticate"); got != RemoteChallenge {
					t.Fatalf("WWW-Authenticate %q, want %q", got, RemoteChallenge)
				}
			}
		})
	}
}

// The 401 of the TCP local API names no Basic challenge, so that a browser
// that opens an /api URL neither prompts for nor caches a password that
// would ride on later cross-site requests; programs send Basic credentials
// preemptively and are not affected.
func TestRemoteUnauthorizedHasNoBasicChallenge(t *testing.T) {
	f := &fake{}
	h := NewRemoteHandler(f.DashboardLogin, NewHandler(f, quiet()))
	for _, basic := range []bool{false, true} {
		req := httptest.NewRequest(http.MethodGet, RemotePrefix+"/v1/status", nil)
		if basic {
			req.SetBasicAuth("admin", "wrong")
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		ch := rec.Header().Values("WWW-Authenticate")
		if rec.Code != http.StatusUnauthorized || len(ch) != 1 {
			t.Fatalf("credentials %v: %d with WWW-Authenticate %q, want a 401 with one challenge", basic, rec.Code, ch)
		}
		if scheme, _, _ := strings.Cut(ch[0], " "); strings.EqualFold(scheme, "Basic") || !strings.EqualFold(scheme, "CLD") {
			t.Fatalf("credentials %v: WWW-Authenticate %q, want the CLD scheme (no browser prompt)", basic, ch[0])
		}
	}
}

// A state-changing request with a form or text body is a 415 that says
// what to send; JSON and no body are let through.
func TestRemoteStateChangeNeedsJSONOrNoBody(t *testing.T) {
	f := &fake{}
	h := NewRemoteHandler(f.DashboardLogin, NewHandler(f, quiet()))
	for _, c := range []struct {
		ct, body string
		want     int
	}{
		{"application/x-www-form-urlencoded", "a=b", http.StatusUnsupportedMediaType},
		{"text/plain", "{}", http.StatusUnsupportedMediaType},
		{"multipart/form-data; boundary=x", "--x--", http.StatusUnsupportedMediaType},
		{"", "{}", http.StatusUnsupportedMediaType},
		{"application/json", "{}", http.StatusOK},
		{"", "", http.StatusOK},
	} {
		var req *http.Request
		if c.body == "" {
			req = httptest.NewRequest(http.MethodPost, RemotePrefix+"/v1/tunnels/start-all", nil)
		} else {
			req = httptest.NewRequest(http.MethodPost, RemotePrefix+"/v1/tunnels/start-all", strings.NewReader(c.body))
		}
		if c.ct != "" {
			req.Header.Set("Content-Type", c.ct)
		}
		req.SetBasicAuth("admin", "right")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != c.want {
			t.Fatalf("Content-Type %q: %d, want %d: %s", c.ct, rec.Code, c.want, rec.Body)
		}
		if c.want == http.StatusUnsupportedMediaType {
			var e api.Error
			if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || !strings.Contains(e.Message, "Content-Type: application/json") || !strings.Contains(e.Message, "no body") {
				t.Fatalf("Content-Type %q: 415 body %q, want one that says to send JSON or no body", c.ct, rec.Body)
			}
		}
	}
}
