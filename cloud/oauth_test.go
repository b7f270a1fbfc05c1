package cloud

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/cloudlink/cld/cloud/cloudapi"
)

func TestPasswordGrantErrors(t *testing.T) {
	ts := NewTestServer(t)
	base := url.Values{"grant_type": {"password"}, "username": {DemoAdminEmail}, "password": {DemoPassword},
		"client_id": {cloudapi.ClientIDDaemon}, "scope": {cloudapi.ScopeRegister}}
	tests := []struct {
		name     string
		form     url.Values
		status   int
		code     string
		contains []string
	}{
		{"wrong password", merge(base, "password", "nope", cloudapi.ParamAccount, "100001"), 400, "invalid_grant", []string{"The e-mail or password is wrong."}},
		{"unknown e-mail", merge(base, "username", "nobody@demo.test"), 400, "invalid_grant", []string{"The e-mail or password is wrong."}},
		{"several accounts", base, 400, cloudapi.ErrAccountRequired, []string{"100001", "100002", "account_id"}},
		{"unknown account", merge(base, cloudapi.ParamAccount, "999999"), 400, cloudapi.ErrUnknownAccount, []string{"999999", "100001"}},
		{"not admin", merge(base, "username", DemoUserEmail), 400, cloudapi.ErrNotAdmin,
			[]string{"user@demo.test is not an administrator of account 100001 (Demo Account). Sign in with a CloudLink account that has administrator rights."}},
		{"user not member of account", merge(base, "username", DemoUserEmail, cloudapi.ParamAccount, "100002"), 400, cloudapi.ErrUnknownAccount, nil},
		{"bad account number", merge(base, cloudapi.ParamAccount, "abc"), 400, cloudapi.ErrBadRequest, []string{"account_id"}},
		{"missing password", merge(base, "password", ""), 400, cloudapi.ErrBadRequest, []string{"password"}},
		{"unknown client", merge(base, "client_id", "other"), 401, "invalid_client", nil},
		{"unknown scope", merge(base, "scope", "admin:all", cloudapi.ParamAccount, "100001"), 400, "invalid_scope", []string{"admin:all"}},
		{"unknown grant", merge(base, "grant_type", "implicit"), 400, "unsupported_grant_type", nil},
		{"missing grant", merge(base, "grant_type", ""), 400, cloudapi.ErrBadRequest, []string{"grant_type"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := postForm(t, ts, cloudapi.PathToken, tt.form)
			if r.Status != tt.status {
				t.Fatalf("status %d, want %d; body %s", r.Status, tt.status, r.Body)
			}
			e := r.apiError(t)
			if e.Code != tt.code {
				t.Errorf("error %q, want %q (%s)", e.Code, tt.code, e.Description)
			}
			for _, c := range tt.contains {
				if !strings.Contains(e.Description, c) {
					t.Errorf("description %q lacks %q", e.Description, c)
				}
			}
			if r.Header.Get("Cache-Control") != "no-store" {
				t.Errorf("Cache-Control %q", r.Header.Get("Cache-Control"))
			}
		})
	}
}

func TestPasswordGrantSuccess(t *testing.T) {
	ts := NewTestServer(t)
	tr := passwordToken(t, ts, DemoAdminEmail, DemoSecondAccountID, cloudapi.ScopeRegister)
	if tr.RefreshToken == "" || tr.Scope != cloudapi.ScopeRegister || tr.ExpiresIn != 3600 {
		t.Errorf("token response %+v", tr)
	}
	// A single-account user needs no account number; without the register
	// scope a plain user may sign in.
	tr = passwordToken(t, ts, DemoUserEmail, 0, "")
	if tr.Scope != "" {
		t.Errorf("scope %q, want none", tr.Scope)
	}
	// E-mail is case-insensitive.
	passwordToken(t, ts, "ADMIN@Demo.Test", DemoAccountID, cloudapi.ScopeRegister)
}

func TestTokenRequestFormat(t *testing.T) {
	ts := NewTestServer(t)
	c := ts.Client()
	tests := []struct {
		name, method, ctype, body string
		status                    int
		contains                  string
	}{
		{"json body", "POST", "application/json", `{"grant_type":"password"}`, 400, "Content-Type"},
		{"get", "GET", "", "", 405, "POST"},
		{"duplicate", "POST", "application/x-www-form-urlencoded", "grant_type=password&grant_type=password", 400, "more than once"},
		{"oversized", "POST", "application/x-www-form-urlencoded", "grant_type=password&x=" + strings.Repeat("a", 70<<10), 400, "64 KiB"},
		{"bad escape", "POST", "application/x-www-form-urlencoded", "grant_type=%zz", 400, "not a valid form"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(tt.method, ts.URL+cloudapi.PathToken, strings.NewReader(tt.body))
			if tt.ctype != "" {
				req.Header.Set("Content-Type", tt.ctype)
			}
			r := do(t, c, req)
			if r.Status != tt.status {
				t.Fatalf("status %d, want %d: %s", r.Status, tt.status, r.Body)
			}
			if e := r.apiError(t); !strings.Contains(e.Description, tt.contains) {
				t.Errorf("description %q lacks %q", e.Description, tt.contains)
			}
		})
	}
}

func TestAuthorizationCodeFlow(t *testing.T) {
	clock := clockwork.NewFakeClockAt(time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC))
	ts := NewTestServer(t, WithClock(clock))
	verifier, challenge := pkce("abc")

	t.Run("get shows the form", func(t *testing.T) {
		req, _ := http.NewRequest("GET", ts.URL+cloudapi.PathAuthorize+"?"+authValues(challenge).Encode(), nil)
		r := do(t, ts.Client(), req)
		if r.Status != 200 || !strings.Contains(r.Body, `name="password"`) || !strings.Contains(r.Body, `name="code_challenge" value="`+challenge+`"`) {
			t.Fatalf("status %d body:\n%s", r.Status, r.Body)
		}
		for _, h := range []string{"Content-Security-Policy", "X-Frame-Options"} {
			if r.Header.Get(h) == "" {
				t.Errorf("missing header %s", h)
			}
		}
	})

	t.Run("code exchange, reuse revokes", func(t *testing.T) {
		code := signInCode(t, ts, DemoAdminEmail, DemoAccountID, challenge)
		tr := tokenOK(t, exchangeCode(t, ts, code, verifier))
		if tr.RefreshToken == "" || tr.Scope != cloudapi.ScopeRegister {
			t.Fatalf("token %+v", tr)
		}
		rr := register(t, ts, tr.AccessToken, installA, "pbx1")
		if rr.Account.ID != DemoAccountID {
			t.Errorf("account %d", rr.Account.ID)
		}
		r := exchangeCode(t, ts, code, verifier)
		if e := r.apiError(t); r.Status != 400 || e.Code != "invalid_grant" || !strings.Contains(e.Description, "already used") {
			t.Fatalf("reuse: %d %s", r.Status, r.Body)
		}
		// The tokens issued for the code are revoked.
		r = jsonRequest(t, ts, "POST", cloudapi.PathSystems, tr.AccessToken, cloudapi.RegisterRequest{InstallationID: installB, Hostname: "x"})
		if r.Status != 401 {
			t.Errorf("access token after code reuse: %d", r.Status)
		}
		r = postForm(t, ts, cloudapi.PathToken, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tr.RefreshToken}})
		if r.Status != 400 {
			t.Errorf("refresh token after code reuse: %d", r.Status)
		}
	})

	t.Run("second account via account step", func(t *testing.T) {
		code := signInCode(t, ts, DemoAdminEmail, DemoSecondAccountID, challenge)
		tr := tokenOK(t, exchangeCode(t, ts, code, verifier))
		rr := register(t, ts, tr.AccessToken, installA, "pbx2")
		if rr.Account.ID != DemoSecondAccountID {
			t.Errorf("account %d, want %d", rr.Account.ID, DemoSecondAccountID)
		}
	})

	t.Run("pkce mismatch", func(t *testing.T) {
		code := signInCode(t, ts, DemoAdminEmail, DemoAccountID, challenge)
		other, _ := pkce("xyz")
		r := exchangeCode(t, ts, code, other)
		if e := r.apiError(t); r.Status != 400 || e.Code != "invalid_grant" || !strings.Contains(e.Description, "PKCE") {
			t.Fatalf("%d %s", r.Status, r.Body)
		}
	})

	t.Run("missing verifier", func(t *testing.T) {
		code := signInCode(t, ts, DemoAdminEmail, DemoAccountID, challenge)
		r := exchangeCode(t, ts, code, "")
		if e := r.apiError(t); r.Status != 400 || e.Code != cloudapi.ErrBadRequest || !strings.Contains(e.Description, "code_verifier") {
			t.Fatalf("%d %s", r.Status, r.Body)
		}
	})

	t.Run("redirect mismatch", func(t *testing.T) {
		code := signInCode(t, ts, DemoAdminEmail, DemoAccountID, challenge)
		r := postForm(t, ts, cloudapi.PathToken, url.Values{"grant_type": {"authorization_code"}, "code": {code},
			"redirect_uri": {"http://other/link/callback"}, "client_id": {"cld"}, "code_verifier": {verifier}})
		if e := r.apiError(t); r.Status != 400 || e.Code != "invalid_grant" || !strings.Contains(e.Description, "redirect_uri") {
			t.Fatalf("%d %s", r.Status, r.Body)
		}
	})

	t.Run("code expires after 60s", func(t *testing.T) {
		code := signInCode(t, ts, DemoAdminEmail, DemoAccountID, challenge)
		clock.Advance(61 * time.Second)
		r := exchangeCode(t, ts, code, verifier)
		if e := r.apiError(t); r.Status != 400 || e.Code != "invalid_grant" || !strings.Contains(e.Description, "expired") {
			t.Fatalf("%d %s", r.Status, r.Body)
		}
	})

	t.Run("unknown code", func(t *testing.T) {
		r := exchangeCode(t, ts, "nonsense", verifier)
		if e := r.apiError(t); r.Status != 400 || e.Code != "invalid_grant" {
			t.Fatalf("%d %s", r.Status, r.Body)
		}
	})
}

func TestAuthorizeRequestValidation(t *testing.T) {
	ts := NewTestServer(t)
	_, challenge := pkce("abc")
	good := authValues(challenge)
	tests := []struct {
		name      string
		v         url.Values
		pageError string // want a 400 error page containing this
		redirErr  string // want a redirect with this error
	}{
		{"unknown client", merge(good, "client_id", "evil"), "unknown", ""},
		{"no redirect", merge(good, "redirect_uri", ""), "no redirect_uri", ""},
		{"wrong suffix", merge(good, "redirect_uri", "https://evil.example/steal"), "/link/callback", ""},
		{"javascript scheme", merge(good, "redirect_uri", "javascript:alert(1)//link/callback"), "not an http", ""},
		{"fragment", merge(good, "redirect_uri", "https://h/link/callback#x"), "fragment", ""},
		{"userinfo", merge(good, "redirect_uri", "https://u:p@h/link/callback"), "user information", ""},
		{"missing challenge", merge(good, "code_challenge", ""), "", "invalid_request"},
		{"plain method", merge(good, "code_challenge_method", "plain"), "", "invalid_request"},
		{"no method", merge(good, "code_challenge_method", ""), "", "invalid_request"},
		{"short challenge", merge(good, "code_challenge", "abc"), "", "invalid_request"},
		{"token response type", merge(good, "response_type", "token"), "", "unsupported_response_type"},
		{"unknown scope", merge(good, "scope", "everything"), "", "invalid_scope"},
		{"bad account", merge(good, cloudapi.ParamAccount, "-5"), "", "invalid_request"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest("GET", ts.URL+cloudapi.PathAuthorize+"?"+tt.v.Encode(), nil)
			r := do(t, ts.Client(), req)
			if tt.pageError != "" {
				if r.Status != 400 || r.Header.Get("Location") != "" || !strings.Contains(r.Body, tt.pageError) {
					t.Fatalf("status %d location %q body:\n%s", r.Status, r.Header.Get("Location"), r.Body)
				}
				return
			}
			if r.Status != http.StatusFound {
				t.Fatalf("status %d, want 302: %s", r.Status, r.Body)
			}
			u, _ := url.Parse(r.Header.Get("Location"))
			if !strings.HasPrefix(u.String(), testRedirect) || u.Query().Get("error") != tt.redirErr || u.Query().Get("state") != "st-123" {
				t.Errorf("redirect %s, want error %s", u, tt.redirErr)
			}
		})
	}
}

func TestSignInPage(t *testing.T) {
	ts := NewTestServer(t)
	_, challenge := pkce("abc")
	post := func(kv ...string) resp {
		return postForm(t, ts, cloudapi.PathAuthorize, merge(authValues(challenge), kv...))
	}

	t.Run("wrong password", func(t *testing.T) {
		r := post("email", DemoAdminEmail, "password", "wrong")
		if r.Status != 200 || !strings.Contains(r.Body, "The e-mail or password is wrong.") || !strings.Contains(r.Body, `value="admin@demo.test"`) {
			t.Fatalf("%d:\n%s", r.Status, r.Body)
		}
		if strings.Contains(r.Body, "wrong\"") {
			t.Error("the password is echoed in the page")
		}
	})
	t.Run("not admin", func(t *testing.T) {
		r := post("email", DemoUserEmail, "password", DemoPassword)
		want := "user@demo.test is not an administrator of account 100001 (Demo Account). Sign in with a CloudLink account that has administrator rights."
		if r.Status != 200 || !strings.Contains(r.Body, want) {
			t.Fatalf("%d:\n%s", r.Status, r.Body)
		}
	})
	t.Run("multi-account asks the account number", func(t *testing.T) {
		r := post("email", DemoAdminEmail, "password", DemoPassword)
		if r.Status != 200 || !strings.Contains(r.Body, "Account number") || strings.Contains(r.Body, DemoPassword) {
			t.Fatalf("%d:\n%s", r.Status, r.Body)
		}
		pending := pendingID(t, r.Body)
		// Unknown account: a clear message, still on the account step.
		r = post("pending", pending, "account", "424242")
		if !strings.Contains(r.Body, "no CloudLink account with the number 424242") || !strings.Contains(r.Body, "Account number") {
			t.Fatalf("unknown account:\n%s", r.Body)
		}
		r = post("pending", pending, "account", "not a number")
		if !strings.Contains(r.Body, "Enter the account number") {
			t.Fatalf("bad number:\n%s", r.Body)
		}
		codeFrom(t, confirmed(t, ts, authValues(challenge), post("pending", pending, "account", "100002")))
		// The pending record is single-use.
		r = post("pending", pending, "account", "100002")
		if r.Status != 200 || !strings.Contains(r.Body, "expired") {
			t.Fatalf("reused pending: %d\n%s", r.Status, r.Body)
		}
	})
	t.Run("pending bound to the request", func(t *testing.T) {
		r := post("email", DemoAdminEmail, "password", DemoPassword)
		pending := pendingID(t, r.Body)
		_, other := pkce("zzz")
		r = postForm(t, ts, cloudapi.PathAuthorize, merge(authValues(other), "pending", pending, "account", "100001"))
		if r.Status != 200 || !strings.Contains(r.Body, "expired") {
			t.Fatalf("%d\n%s", r.Status, r.Body)
		}
	})
	t.Run("account given up front", func(t *testing.T) {
		v := merge(authValues(challenge), cloudapi.ParamAccount, "100001")
		codeFrom(t, confirmed(t, ts, v, post("email", DemoAdminEmail, "password", DemoPassword, cloudapi.ParamAccount, "100001")))
	})
	t.Run("cancel", func(t *testing.T) {
		r := post("action", "cancel")
		u, _ := url.Parse(r.Header.Get("Location"))
		if r.Status != 302 || u.Query().Get("error") != "access_denied" || u.Query().Get("state") != "st-123" {
			t.Fatalf("%d %s", r.Status, u)
		}
	})
	t.Run("cross-site post refused", func(t *testing.T) {
		req, _ := http.NewRequest("POST", ts.URL+cloudapi.PathAuthorize, strings.NewReader(merge(authValues(challenge), "email", DemoAdminEmail, "password", DemoPassword, cloudapi.ParamAccount, "100001").Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Sec-Fetch-Site", "cross-site")
		r := do(t, ts.Client(), req)
		if r.Status != 403 {
			t.Fatalf("%d", r.Status)
		}
	})
}

func TestPendingSignInExpires(t *testing.T) {
	clock := clockwork.NewFakeClock()
	ts := NewTestServer(t, WithClock(clock))
	_, challenge := pkce("abc")
	r := postForm(t, ts, cloudapi.PathAuthorize, merge(authValues(challenge), "email", DemoAdminEmail, "password", DemoPassword))
	pending := pendingID(t, r.Body)
	clock.Advance(DefaultPendingTTL + time.Second)
	r = postForm(t, ts, cloudapi.PathAuthorize, merge(authValues(challenge), "pending", pending, "account", "100001"))
	if !strings.Contains(r.Body, "Your sign-in has expired. Sign in again.") {
		t.Fatalf("%s", r.Body)
	}
}

func TestRefreshRotation(t *testing.T) {
	ts := NewTestServer(t)
	first := passwordToken(t, ts, DemoAdminEmail, DemoAccountID, cloudapi.ScopeRegister)
	refresh := func(tok string) resp {
		return postForm(t, ts, cloudapi.PathToken, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok}, "client_id": {"cld"}})
	}
	second := tokenOK(t, refresh(first.RefreshToken))
	if second.RefreshToken == first.RefreshToken || second.AccessToken == first.AccessToken || second.Scope != cloudapi.ScopeRegister {
		t.Fatalf("not rotated: %+v", second)
	}
	r := refresh(first.RefreshToken)
	if e := r.apiError(t); r.Status != 400 || e.Code != "invalid_grant" {
		t.Fatalf("old refresh token: %d %s", r.Status, r.Body)
	}
	third := tokenOK(t, refresh(second.RefreshToken))
	register(t, ts, third.AccessToken, installA, "pbx")

	// A narrower scope may be asked; a wider one not.
	plain := passwordToken(t, ts, DemoUserEmail, 0, "")
	r = postForm(t, ts, cloudapi.PathToken, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {plain.RefreshToken}, "scope": {cloudapi.ScopeRegister}})
	if e := r.apiError(t); r.Status != 400 || e.Code != "invalid_scope" {
		t.Fatalf("wider scope: %d %s", r.Status, r.Body)
	}
	// An access token is not a refresh token.
	r = refresh(third.AccessToken)
	if r.Status != 400 {
		t.Fatalf("access token as refresh token: %d", r.Status)
	}
}

func TestRevocation(t *testing.T) {
	ts := NewTestServer(t)
	revoke := func(tok, hint string) resp {
		v := url.Values{"token": {tok}}
		if hint != "" {
			v.Set("token_type_hint", hint)
		}
		return postForm(t, ts, cloudapi.PathRevoke, v)
	}
	canRegister := func(access string) bool {
		r := jsonRequest(t, ts, "POST", cloudapi.PathSystems, access, cloudapi.RegisterRequest{InstallationID: installA, Hostname: "h"})
		return r.Status == 200
	}

	t.Run("access token", func(t *testing.T) {
		tr := passwordToken(t, ts, DemoAdminEmail, DemoAccountID, cloudapi.ScopeRegister)
		if r := revoke(tr.AccessToken, "access_token"); r.Status != 200 {
			t.Fatalf("%d %s", r.Status, r.Body)
		}
		if canRegister(tr.AccessToken) {
			t.Error("revoked access token still works")
		}
		tokenOK(t, postForm(t, ts, cloudapi.PathToken, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tr.RefreshToken}}))
	})
	t.Run("refresh token revokes its access tokens", func(t *testing.T) {
		tr := passwordToken(t, ts, DemoAdminEmail, DemoAccountID, cloudapi.ScopeRegister)
		if !canRegister(tr.AccessToken) {
			t.Fatal("fresh token does not work")
		}
		if r := revoke(tr.RefreshToken, "refresh_token"); r.Status != 200 {
			t.Fatalf("%d %s", r.Status, r.Body)
		}
		if canRegister(tr.AccessToken) {
			t.Error("access token of a revoked refresh token still works")
		}
		r := postForm(t, ts, cloudapi.PathToken, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tr.RefreshToken}})
		if r.Status != 400 {
			t.Errorf("revoked refresh token: %d", r.Status)
		}
	})
	t.Run("unknown token is fine", func(t *testing.T) {
		if r := revoke("never-issued", ""); r.Status != 200 {
			t.Fatalf("%d", r.Status)
		}
	})
	t.Run("missing token", func(t *testing.T) {
		if r := revoke("", ""); r.Status != 400 || r.apiError(t).Code != cloudapi.ErrBadRequest {
			t.Fatalf("%d %s", r.Status, r.Body)
		}
	})
}

func TestTokenExpiry(t *testing.T) {
	clock := clockwork.NewFakeClockAt(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	ts := NewTestServer(t, WithClock(clock), WithTokenTTL(10*time.Minute))
	tr := passwordToken(t, ts, DemoAdminEmail, DemoAccountID, cloudapi.ScopeRegister)
	if tr.ExpiresIn != 600 {
		t.Errorf("expires_in %d", tr.ExpiresIn)
	}
	rr := register(t, ts, tr.AccessToken, installA, "pbx")
	dev := deviceToken(t, ts, rr)

	clock.Advance(10*time.Minute - time.Second)
	if r := jsonRequest(t, ts, "GET", cloudapi.PathSystemSelf, dev, nil); r.Status != 200 {
		t.Fatalf("device token before expiry: %d %s", r.Status, r.Body)
	}
	clock.Advance(time.Second)
	r := jsonRequest(t, ts, "GET", cloudapi.PathSystemSelf, dev, nil)
	if r.Status != 401 || r.apiError(t).Code != cloudapi.ErrInvalidToken || !strings.Contains(r.Header.Get("WWW-Authenticate"), "invalid_token") {
		t.Fatalf("expired device token: %d %s", r.Status, r.Body)
	}
	r = jsonRequest(t, ts, "POST", cloudapi.PathSystems, tr.AccessToken, cloudapi.RegisterRequest{InstallationID: installB, Hostname: "h"})
	if r.Status != 401 {
		t.Fatalf("expired user token: %d", r.Status)
	}
	// The refresh token lives 30 days.
	tr2 := tokenOK(t, postForm(t, ts, cloudapi.PathToken, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tr.RefreshToken}}))
	clock.Advance(DefaultRefreshTokenTTL)
	r = postForm(t, ts, cloudapi.PathToken, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tr2.RefreshToken}})
	if r.Status != 400 || r.apiError(t).Code != "invalid_grant" {
		t.Fatalf("expired refresh token: %d %s", r.Status, r.Body)
	}
	// Device credentials do not expire.
	deviceToken(t, ts, rr)
}
