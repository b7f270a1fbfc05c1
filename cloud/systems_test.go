package cloud

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/cloudlink/cld/cloud/cloudapi"
)

func TestRegister(t *testing.T) {
	clock := clockwork.NewFakeClockAt(time.Date(2026, 2, 3, 4, 5, 6, 0, time.UTC))
	ts := NewTestServer(t, WithClock(clock))
	admin := adminToken(t, ts)

	first := register(t, ts, admin, installA, "pbx1")
	if !strings.HasPrefix(first.ClientID, "sys-") || len(first.ClientSecret) < 40 || first.SystemID == "" {
		t.Errorf("credentials %+v", first)
	}
	if first.ClientType != cloudapi.ClientTypeSystem || first.Role != cloudapi.RoleAccountAdmin || first.UserID == "" {
		t.Errorf("response %+v", first)
	}
	if a := first.Account; a.ID != DemoAccountID || a.Name != DemoAccountName || a.Region != "eu" || a.PartnerID != DemoPartnerID || a.UUID == "" {
		t.Errorf("account %+v", a)
	}
	oldDev := deviceToken(t, ts, first)

	t.Run("same installation keeps system id, replaces credentials", func(t *testing.T) {
		again := register(t, ts, admin, installA, "pbx1-renamed")
		if again.SystemID != first.SystemID {
			t.Errorf("system id changed: %s → %s", first.SystemID, again.SystemID)
		}
		if again.ClientID == first.ClientID || again.ClientSecret == first.ClientSecret {
			t.Error("credentials not replaced")
		}
		r := clientCredentials(t, ts, first.ClientID, first.ClientSecret)
		if r.Status != 401 || r.apiError(t).Code != "invalid_client" {
			t.Errorf("old credentials: %d %s", r.Status, r.Body)
		}
		if r := jsonRequest(t, ts, "GET", cloudapi.PathSystemSelf, oldDev, nil); r.Status != 401 || r.apiError(t).Code != cloudapi.ErrInvalidToken {
			t.Errorf("old device token: %d %s", r.Status, r.Body)
		}
		systems, err := ts.Systems(DemoAccountID)
		if err != nil || len(systems) != 1 || systems[0].Hostname != "pbx1-renamed" {
			t.Errorf("systems %+v %v", systems, err)
		}
	})
	t.Run("another installation is another system", func(t *testing.T) {
		b := register(t, ts, admin, installB, "pbx2")
		if b.SystemID == first.SystemID {
			t.Error("same system id")
		}
		systems, _ := ts.Systems(DemoAccountID)
		if len(systems) != 2 {
			t.Errorf("%d systems", len(systems))
		}
	})
	t.Run("same installation in another account is another system", func(t *testing.T) {
		tok := passwordToken(t, ts, DemoAdminEmail, DemoSecondAccountID, cloudapi.ScopeRegister).AccessToken
		c := register(t, ts, tok, installA, "pbx1")
		if c.SystemID == first.SystemID || c.Account.ID != DemoSecondAccountID {
			t.Errorf("%+v", c)
		}
	})
}

func TestRegisterErrors(t *testing.T) {
	ts := NewTestServer(t)
	admin := adminToken(t, ts)
	plain := passwordToken(t, ts, DemoUserEmail, 0, "").AccessToken
	good := `{"installation_id":"` + installA + `","hostname":"h","version":"1"}`
	tests := []struct {
		name     string
		token    string
		body     string
		status   int
		code     string
		contains string
	}{
		{"no token", "", good, 401, cloudapi.ErrInvalidToken, "access token"},
		{"bad token", "garbage", good, 401, cloudapi.ErrInvalidToken, "unknown"},
		{"no scope", plain, good, 403, "insufficient_scope", cloudapi.ScopeRegister},
		{"not json", admin, `{"installation_id":`, 400, cloudapi.ErrBadRequest, "JSON"},
		{"empty", admin, ``, 400, cloudapi.ErrBadRequest, "empty"},
		{"wrong type", admin, `{"installation_id":42,"hostname":"h"}`, 400, cloudapi.ErrBadRequest, "installation_id"},
		{"hostname wrong type", admin, `{"installation_id":"` + installA + `","hostname":["h"]}`, 400, cloudapi.ErrBadRequest, "hostname"},
		{"missing installation", admin, `{"hostname":"h"}`, 400, cloudapi.ErrBadRequest, "installation_id"},
		{"installation not uuid", admin, `{"installation_id":"abc","hostname":"h"}`, 400, cloudapi.ErrBadRequest, "installation_id"},
		{"missing hostname", admin, `{"installation_id":"` + installA + `"}`, 400, cloudapi.ErrBadRequest, "hostname"},
		{"bad machine hash", admin, `{"installation_id":"` + installA + `","hostname":"h","machine_id_hash":"xyz"}`, 400, cloudapi.ErrBadRequest, "machine_id_hash"},
		{"control chars", admin, `{"installation_id":"` + installA + `","hostname":"h\u0000"}`, 400, cloudapi.ErrBadRequest, "hostname"},
		{"trailing data", admin, good + `{}`, 400, cloudapi.ErrBadRequest, "one JSON object"},
		{"oversized", admin, `{"installation_id":"` + installA + `","hostname":"h","x":"` + strings.Repeat("a", 70<<10) + `"}`, 400, cloudapi.ErrBadRequest, "64 KiB"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := jsonRequest(t, ts, "POST", cloudapi.PathSystems, tt.token, tt.body)
			if r.Status != tt.status {
				t.Fatalf("status %d, want %d: %s", r.Status, tt.status, r.Body)
			}
			e := r.apiError(t)
			if e.Code != tt.code || !strings.Contains(e.Description, tt.contains) {
				t.Errorf("error %+v, want %s containing %q", e, tt.code, tt.contains)
			}
		})
	}
	t.Run("unknown fields are ignored", func(t *testing.T) {
		r := jsonRequest(t, ts, "POST", cloudapi.PathSystems, admin, `{"installation_id":"`+installA+`","hostname":"h","future":1}`)
		if r.Status != 200 {
			t.Fatalf("%d %s", r.Status, r.Body)
		}
	})
	t.Run("device token cannot register", func(t *testing.T) {
		rr := register(t, ts, admin, installB, "h2")
		r := jsonRequest(t, ts, "POST", cloudapi.PathSystems, deviceToken(t, ts, rr), good)
		if r.Status != 403 {
			t.Fatalf("%d %s", r.Status, r.Body)
		}
	})
	t.Run("get not allowed", func(t *testing.T) {
		r := jsonRequest(t, ts, "GET", cloudapi.PathSystems, admin, nil)
		if r.Status != 405 || r.apiError(t).Code != cloudapi.ErrBadRequest {
			t.Fatalf("%d %s", r.Status, r.Body)
		}
	})
}

func TestSystemSelfAndRevocation(t *testing.T) {
	clock := clockwork.NewFakeClockAt(time.Date(2026, 4, 5, 6, 7, 8, 0, time.UTC))
	ts := NewTestServer(t, WithClock(clock))
	admin := adminToken(t, ts)
	rr := register(t, ts, admin, installA, "pbx.example.com")
	dev := deviceToken(t, ts, rr)

	r := jsonRequest(t, ts, "GET", cloudapi.PathSystemSelf, dev, nil)
	if r.Status != 200 {
		t.Fatalf("%d %s", r.Status, r.Body)
	}
	var info cloudapi.SystemInfo
	if err := json.Unmarshal([]byte(r.Body), &info); err != nil {
		t.Fatal(err)
	}
	if info.SystemID != rr.SystemID || info.Hostname != "pbx.example.com" || info.Account != rr.Account ||
		info.UserID != rr.UserID || info.Role != cloudapi.RoleAccountAdmin || info.ClientType != "client" ||
		!info.LinkedAt.Equal(clock.Now()) {
		t.Errorf("info %+v", info)
	}

	t.Run("user token is refused", func(t *testing.T) {
		if r := jsonRequest(t, ts, "GET", cloudapi.PathSystemSelf, admin, nil); r.Status != 403 {
			t.Errorf("%d %s", r.Status, r.Body)
		}
	})
	t.Run("client secret in form works too", func(t *testing.T) {
		tokenOK(t, postForm(t, ts, cloudapi.PathToken, url.Values{"grant_type": {"client_credentials"}, "client_id": {rr.ClientID}, "client_secret": {rr.ClientSecret}}))
	})
	t.Run("wrong secret", func(t *testing.T) {
		r := clientCredentials(t, ts, rr.ClientID, "wrong")
		if r.Status != 401 || r.apiError(t).Code != "invalid_client" || r.Header.Get("WWW-Authenticate") == "" {
			t.Errorf("%d %s", r.Status, r.Body)
		}
	})

	clock.Advance(time.Hour - time.Minute)
	if err := ts.RevokeSystem(rr.SystemID, DemoAdminEmail); err != nil {
		t.Fatal(err)
	}
	want := "This system was removed from CloudLink account 100001 (Demo Account) by admin@demo.test in the portal on Sun, 05 Apr 2026 07:06:08 UTC. Link it again to reconnect."
	t.Run("self after portal removal", func(t *testing.T) {
		r := jsonRequest(t, ts, "GET", cloudapi.PathSystemSelf, dev, nil)
		if e := r.apiError(t); r.Status != 401 || e.Code != cloudapi.ErrSystemRevoked || e.Description != want {
			t.Fatalf("%d %+v", r.Status, e)
		}
	})
	t.Run("client credentials after portal removal", func(t *testing.T) {
		r := clientCredentials(t, ts, rr.ClientID, rr.ClientSecret)
		if e := r.apiError(t); r.Status != 401 || e.Code != cloudapi.ErrSystemRevoked || e.Description != want {
			t.Fatalf("%d %+v", r.Status, e)
		}
	})
	t.Run("delete of a removed system is 204", func(t *testing.T) {
		if r := jsonRequest(t, ts, "DELETE", cloudapi.PathSystemSelf, dev, nil); r.Status != 204 {
			t.Fatalf("%d %s", r.Status, r.Body)
		}
		sys, _ := ts.System(rr.SystemID)
		if sys.RevokedBy != DemoAdminEmail {
			t.Errorf("the first removal was overwritten: %+v", sys)
		}
	})

	t.Run("link again, then unlink from the host", func(t *testing.T) {
		rr2 := register(t, ts, admin, installA, "pbx.example.com")
		if rr2.SystemID != rr.SystemID {
			t.Fatal("system id changed")
		}
		dev2 := deviceToken(t, ts, rr2)
		if r := jsonRequest(t, ts, "GET", cloudapi.PathSystemSelf, dev2, nil); r.Status != 200 {
			t.Fatalf("after relink: %d %s", r.Status, r.Body)
		}
		clock.Advance(time.Minute)
		for i := 0; i < 2; i++ { // idempotent
			if r := jsonRequest(t, ts, "DELETE", cloudapi.PathSystemSelf, dev2, nil); r.Status != 204 {
				t.Fatalf("delete #%d: %d %s", i, r.Status, r.Body)
			}
		}
		r := clientCredentials(t, ts, rr2.ClientID, rr2.ClientSecret)
		want := "This system was removed from CloudLink account 100001 (Demo Account): it was unlinked from the host on Sun, 05 Apr 2026 07:07:08 UTC. Link it again to reconnect."
		if e := r.apiError(t); r.Status != 401 || e.Code != cloudapi.ErrSystemRevoked || e.Description != want {
			t.Fatalf("%d %+v", r.Status, e)
		}
		systems, _ := ts.Systems(DemoAccountID)
		if len(systems) != 1 || !systems[0].Revoked() || revokeReason(systems[0]) != "unlinked from the host" {
			t.Errorf("%+v", systems)
		}
	})
}

func TestStopStart(t *testing.T) {
	ts := NewTestServer(t)
	c := ts.Client()
	get := func() error {
		res, err := c.Get(ts.URL + "/healthz")
		if err == nil {
			res.Body.Close()
		}
		return err
	}
	if err := get(); err != nil {
		t.Fatal(err)
	}
	ts.Stop()
	if err := get(); err == nil {
		t.Fatal("request succeeded while stopped")
	}
	ts.Stop() // twice is fine
	ts.Start()
	if err := get(); err != nil {
		t.Fatalf("after Start: %v", err)
	}
	// Data survives.
	passwordToken(t, ts, DemoUserEmail, 0, "")
}

func TestCACertEndpoint(t *testing.T) {
	ts := NewTestServer(t)
	req, _ := http.NewRequest("GET", ts.URL+cloudapi.PathCACert, nil)
	r := do(t, ts.Client(), req)
	if r.Status != 200 || !strings.HasPrefix(r.Body, "-----BEGIN CERTIFICATE-----") {
		t.Fatalf("%d %s", r.Status, r.Body)
	}
	req, _ = http.NewRequest("GET", ts.URL+"/", nil)
	if r := do(t, ts.Client(), req); r.Status != 302 || r.Header.Get("Location") != "/portal/" {
		t.Errorf("/ → %d %s", r.Status, r.Header.Get("Location"))
	}
	req, _ = http.NewRequest("GET", ts.URL+"/api/v1/nothing", nil)
	if r := do(t, ts.Client(), req); r.Status != 404 || r.apiError(t).Code == "" {
		t.Errorf("unknown API path: %d %s", r.Status, r.Body)
	}
}
