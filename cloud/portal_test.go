package cloud

import (
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"

	"github.com/cloudlink/cld/cloud/cloudapi"
)

// browser is a client with cookies that does not follow redirects.
type browser struct {
	t  *testing.T
	ts *TestServer
	c  *http.Client
}

func newBrowser(t *testing.T, ts *TestServer) *browser {
	c := ts.Client()
	jar, _ := cookiejar.New(nil)
	c.Jar = jar
	return &browser{t, ts, c}
}

func (b *browser) get(path string) resp {
	b.t.Helper()
	req, _ := http.NewRequest("GET", b.ts.URL+path, nil)
	return do(b.t, b.c, req)
}

func (b *browser) post(path string, kv ...string) resp {
	b.t.Helper()
	return b.postWith(path, nil, kv...)
}

func (b *browser) postWith(path string, hdr map[string]string, kv ...string) resp {
	b.t.Helper()
	req, _ := http.NewRequest("POST", b.ts.URL+path, strings.NewReader(merge(url.Values{}, kv...).Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	return do(b.t, b.c, req)
}

func wantRedirect(t *testing.T, r resp, to string) {
	t.Helper()
	if r.Status != http.StatusSeeOther && r.Status != http.StatusFound || r.Header.Get("Location") != to {
		t.Fatalf("status %d location %q, want redirect to %s; body:\n%s", r.Status, r.Header.Get("Location"), to, r.Body)
	}
}

func TestPortal(t *testing.T) {
	ts := NewTestServer(t)
	admin := adminToken(t, ts)
	rr := register(t, ts, admin, installA, "pbx-alpha")
	other := passwordToken(t, ts, DemoAdminEmail, DemoSecondAccountID, cloudapi.ScopeRegister).AccessToken
	register(t, ts, other, installB, "pbx-beta")

	b := newBrowser(t, ts)
	wantRedirect(t, b.get("/portal/systems"), "/portal/")
	if r := b.get("/portal/"); r.Status != 200 || !strings.Contains(r.Body, "Sign in to the CloudLink portal") {
		t.Fatalf("%d %s", r.Status, r.Body)
	}
	if r := b.post("/portal/signin", "email", DemoAdminEmail, "password", "bad"); !strings.Contains(r.Body, "The e-mail or password is wrong.") {
		t.Fatalf("wrong password:\n%s", r.Body)
	}
	r := b.post("/portal/signin", "email", DemoAdminEmail, "password", DemoPassword)
	if !strings.Contains(r.Body, "Account number") {
		t.Fatalf("no account step:\n%s", r.Body)
	}
	r = b.post("/portal/signin", "pending", pendingID(t, r.Body), "account", "100001")
	wantRedirect(t, r, "/portal/systems")
	if sc := r.Header.Get("Set-Cookie"); !strings.Contains(sc, "HttpOnly") || !strings.Contains(sc, "Secure") || !strings.Contains(sc, "SameSite=Lax") {
		t.Errorf("cookie %q", sc)
	}
	wantRedirect(t, b.get("/portal/"), "/portal/systems")

	r = b.get("/portal/systems")
	for _, want := range []string{"pbx-alpha", rr.SystemID, "1.2.3", "Linked", DemoAdminEmail, "/portal/systems/" + rr.SystemID + "/remove", "Switch"} {
		if !strings.Contains(r.Body, want) {
			t.Errorf("systems page lacks %q", want)
		}
	}
	if strings.Contains(r.Body, "pbx-beta") {
		t.Error("a system of the other account is listed")
	}

	t.Run("switch account", func(t *testing.T) {
		wantRedirect(t, b.post("/portal/account", "account_id", "100002"), "/portal/systems")
		r := b.get("/portal/systems")
		if !strings.Contains(r.Body, "pbx-beta") || strings.Contains(r.Body, "pbx-alpha") {
			t.Errorf("after switch:\n%s", r.Body)
		}
		if r := b.post("/portal/account", "account_id", "999"); r.Status != 400 {
			t.Errorf("switch to a foreign account: %d", r.Status)
		}
		// A system of another account cannot be removed from here.
		if r := b.get("/portal/systems/" + rr.SystemID + "/remove"); r.Status != 404 {
			t.Errorf("foreign system: %d", r.Status)
		}
		wantRedirect(t, b.post("/portal/account", "account_id", "100001"), "/portal/systems")
	})

	t.Run("remove", func(t *testing.T) {
		r := b.get("/portal/systems/" + rr.SystemID + "/remove")
		if r.Status != 200 || !strings.Contains(r.Body, "Remove pbx-alpha?") {
			t.Fatalf("%d\n%s", r.Status, r.Body)
		}
		if r := b.postWith("/portal/systems/"+rr.SystemID+"/remove", map[string]string{"Sec-Fetch-Site": "cross-site"}); r.Status != 403 {
			t.Fatalf("cross-site remove: %d", r.Status)
		}
		r = b.post("/portal/systems/" + rr.SystemID + "/remove")
		wantRedirect(t, r, "/portal/systems?removed="+rr.SystemID)
		r = b.get("/portal/systems?removed=" + rr.SystemID)
		if !strings.Contains(r.Body, "Removed") || !strings.Contains(r.Body, "removed by admin@demo.test in the portal") || !strings.Contains(r.Body, "pbx-alpha was removed") {
			t.Errorf("after removal:\n%s", r.Body)
		}
		cr := clientCredentials(t, ts, rr.ClientID, rr.ClientSecret)
		if e := cr.apiError(t); e.Code != cloudapi.ErrSystemRevoked || !strings.Contains(e.Description, "by admin@demo.test in the portal") {
			t.Errorf("%+v", e)
		}
	})

	t.Run("sign out", func(t *testing.T) {
		wantRedirect(t, b.post("/portal/signout"), "/portal/")
		wantRedirect(t, b.get("/portal/systems"), "/portal/")
	})
}

func TestPortalNonAdmin(t *testing.T) {
	ts := NewTestServer(t)
	rr := register(t, ts, adminToken(t, ts), installA, "pbx-alpha")
	b := newBrowser(t, ts)
	wantRedirect(t, b.post("/portal/signin", "email", DemoUserEmail, "password", DemoPassword), "/portal/systems")
	r := b.get("/portal/systems")
	if !strings.Contains(r.Body, "pbx-alpha") || strings.Contains(r.Body, "/remove") || strings.Contains(r.Body, "Switch") {
		t.Errorf("systems page for a user:\n%s", r.Body)
	}
	if r := b.post("/portal/systems/" + rr.SystemID + "/remove"); r.Status != 403 {
		t.Errorf("user removes: %d", r.Status)
	}
	sys, _ := ts.System(rr.SystemID)
	if sys.Revoked() {
		t.Error("a user removed a system")
	}
}
