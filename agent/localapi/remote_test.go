package localapi

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
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
				if rec.Header().Get("WWW-Authenticate") == "" {
					t.Fatal("no WWW-Authenticate challenge")
				}
			}
		})
	}
}
