package localapi

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/cloudlink/cld/agent/api"
)

// FuzzRequest sends fuzzed requests (method, path, content type, body) to
// the local API's routes: every answer is JSON; a refusal is a 4xx with an
// api.Error whose message says what to send instead; nothing panics.
func FuzzRequest(f *testing.F) {
	routes := []string{
		api.RouteStatus, api.RouteVersion, api.RouteLink, api.RouteBrowserLink, api.RouteBrowserCallback,
		api.RouteUnlink, api.RouteDashboardUser, api.RouteDashboardLogin, api.RouteDoctor, api.RouteInventory,
		api.RouteInventoryReport, api.RouteInventorySubmit, api.RouteTunnels, api.RouteTunnelStart,
		api.RouteTunnelStop, api.RouteTunnelsStartAll, api.RouteTunnelsStopAll,
	}
	f.Add(uint8(2), "", "application/json", []byte(`{"username":"admin@example.com","password":"x","account":100001}`))
	f.Add(uint8(4), "", "application/json", []byte(`{"state":"s","code":"c"}`))
	f.Add(uint8(6), "PUT", "application/json", []byte(`{"username":"admin","password":"a-long-password"}`))
	f.Add(uint8(13), "", "", []byte(``))
	f.Add(uint8(5), "", "text/plain", []byte(`unlink=1`))
	f.Add(uint8(2), "", "application/json", []byte(`{"username":1}`))
	f.Add(uint8(2), "", "application/json", []byte(`{} {}`))
	f.Add(uint8(2), "", "application/json", []byte(`{"unknown":true}`))
	f.Add(uint8(16), "DELETE", "", []byte(`{}`))
	h := NewHandler(&fake{}, quiet())
	f.Fuzz(func(t *testing.T, route uint8, method, ctype string, body []byte) {
		m, path, _ := strings.Cut(routes[int(route)%len(routes)], " ")
		if method != "" {
			m = method
		}
		path = strings.ReplaceAll(path, "{id}", "a")
		if _, err := http.NewRequest(m, "http://x"+path, nil); err != nil {
			return // not a method a client can send
		}
		req := httptest.NewRequest(m, path, strings.NewReader(string(body)))
		if ctype != "" && !strings.ContainsAny(ctype, "\r\n\x00") {
			req.Header.Set("Content-Type", ctype)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("%s %s (%q, %q): %d %s", m, path, ctype, body, rec.Code, rec.Body)
		}
		if rec.Code == http.StatusNoContent || m == http.MethodHead {
			return
		}
		if rec.Code >= 400 {
			var e api.Error
			if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || e.Code == "" || e.Message == "" {
				t.Fatalf("%s %s: %d without a JSON error that says what to do: %s", m, path, rec.Code, rec.Body)
			}
		} else if !json.Valid(rec.Body.Bytes()) {
			t.Fatalf("%s %s: %d with a body that is not JSON: %s", m, path, rec.Code, rec.Body)
		}
	})
}
