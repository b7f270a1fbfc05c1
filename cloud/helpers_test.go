package cloud

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/cloudlink/cld/cloud/cloudapi"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// resp is a read response.
type resp struct {
	Status int
	Header http.Header
	Body   string
}

func (r resp) apiError(t testing.TB) cloudapi.Error {
	t.Helper()
	var e cloudapi.Error
	if err := json.Unmarshal([]byte(r.Body), &e); err != nil {
		t.Fatalf("error body %q: %v", r.Body, err)
	}
	return e
}

func do(t testing.TB, c *http.Client, req *http.Request) resp {
	t.Helper()
	res, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	return resp{res.StatusCode, res.Header, string(b)}
}

func postForm(t testing.TB, ts *TestServer, path string, v url.Values) resp {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, ts.URL+path, strings.NewReader(v.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return do(t, ts.Client(), req)
}

func tokenOK(t testing.TB, r resp) tokenResponse {
	t.Helper()
	if r.Status != http.StatusOK {
		t.Fatalf("token request: status %d, body %s", r.Status, r.Body)
	}
	var tr tokenResponse
	if err := json.Unmarshal([]byte(r.Body), &tr); err != nil {
		t.Fatalf("token body %q: %v", r.Body, err)
	}
	if tr.AccessToken == "" || tr.TokenType != "Bearer" || tr.ExpiresIn <= 0 {
		t.Fatalf("bad token response %+v", tr)
	}
	if r.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("Cache-Control = %q, want no-store", r.Header.Get("Cache-Control"))
	}
	return tr
}

// passwordToken signs in with the password grant.
func passwordToken(t testing.TB, ts *TestServer, email string, account int64, scope string) tokenResponse {
	t.Helper()
	v := url.Values{"grant_type": {"password"}, "username": {email}, "password": {DemoPassword}, "client_id": {cloudapi.ClientIDDaemon}}
	if scope != "" {
		v.Set("scope", scope)
	}
	if account != 0 {
		v.Set(cloudapi.ParamAccount, strconv.FormatInt(account, 10))
	}
	return tokenOK(t, postForm(t, ts, cloudapi.PathToken, v))
}

func adminToken(t testing.TB, ts *TestServer) string {
	return passwordToken(t, ts, DemoAdminEmail, DemoAccountID, cloudapi.ScopeRegister).AccessToken
}

func jsonRequest(t testing.TB, ts *TestServer, method, path, bearer string, body any) resp {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		rd = strings.NewReader(string(j))
	}
	req, _ := http.NewRequest(method, ts.URL+path, rd)
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	return do(t, ts.Client(), req)
}

const installA = "0f8fad5b-d9cb-469f-a165-70867728950e"
const installB = "7c9e6679-7425-40de-944b-e07fc1f90ae7"

func register(t testing.TB, ts *TestServer, bearer, installation, host string) cloudapi.RegisterResponse {
	t.Helper()
	r := jsonRequest(t, ts, http.MethodPost, cloudapi.PathSystems, bearer, cloudapi.RegisterRequest{
		InstallationID: installation, MachineIDHash: strings.Repeat("ab", 32), Hostname: host, Version: "1.2.3"})
	if r.Status != http.StatusOK {
		t.Fatalf("register: status %d, body %s", r.Status, r.Body)
	}
	var rr cloudapi.RegisterResponse
	if err := json.Unmarshal([]byte(r.Body), &rr); err != nil {
		t.Fatal(err)
	}
	return rr
}

func clientCredentials(t testing.TB, ts *TestServer, id, secret string) resp {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, ts.URL+cloudapi.PathToken, strings.NewReader("grant_type=client_credentials"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
	return do(t, ts.Client(), req)
}

func deviceToken(t testing.TB, ts *TestServer, rr cloudapi.RegisterResponse) string {
	t.Helper()
	return tokenOK(t, clientCredentials(t, ts, rr.ClientID, rr.ClientSecret)).AccessToken
}

// pkce returns a verifier and its S256 challenge.
func pkce(seed string) (verifier, challenge string) {
	verifier = strings.Repeat(seed, 50)[:64]
	sum := sha256.Sum256([]byte(verifier))
	return verifier, base64.RawURLEncoding.EncodeToString(sum[:])
}

const testRedirect = "http://pbx.example:8080/cld/link/callback"

func authValues(challenge string) url.Values {
	return url.Values{
		"response_type": {"code"}, "client_id": {cloudapi.ClientIDDaemon}, "redirect_uri": {testRedirect},
		"state": {"st-123"}, "code_challenge": {challenge}, "code_challenge_method": {"S256"},
		"scope": {cloudapi.ScopeRegister},
	}
}

var pendingRE = regexp.MustCompile(`name="pending" value="([^"]+)"`)

func pendingID(t testing.TB, body string) string {
	t.Helper()
	m := pendingRE.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no pending field in page:\n%s", body)
	}
	return m[1]
}

// codeFrom checks a redirect to testRedirect and returns its code.
func codeFrom(t testing.TB, r resp) string {
	t.Helper()
	if r.Status != http.StatusFound {
		t.Fatalf("status %d, want 302; body:\n%s", r.Status, r.Body)
	}
	u, err := url.Parse(r.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(u.String(), testRedirect+"?") {
		t.Fatalf("redirect to %s, want %s", u, testRedirect)
	}
	q := u.Query()
	if q.Get("state") != "st-123" {
		t.Errorf("state = %q", q.Get("state"))
	}
	if q.Get("code") == "" {
		t.Fatalf("no code in %s", u)
	}
	return q.Get("code")
}

func merge(a url.Values, kv ...string) url.Values {
	out := url.Values{}
	for k, v := range a {
		out[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		out.Set(kv[i], kv[i+1])
	}
	return out
}

// signInCode runs the sign-in page as a browser would (one or two steps)
// and returns the code.
func signInCode(t testing.TB, ts *TestServer, email string, account int64, challenge string) string {
	t.Helper()
	v := merge(authValues(challenge), "email", email, "password", DemoPassword)
	r := postForm(t, ts, cloudapi.PathAuthorize, v)
	if r.Status == http.StatusOK && account != 0 {
		v = merge(authValues(challenge), "pending", pendingID(t, r.Body), "account", strconv.FormatInt(account, 10))
		r = postForm(t, ts, cloudapi.PathAuthorize, v)
	}
	return codeFrom(t, confirmed(t, ts, v, r))
}

// confirmed passes the confirmation step that names a non-loopback
// dashboard (testRedirect's) when r is that step; v are the request's
// parameters (its form fields are left out by the cloud).
func confirmed(t testing.TB, ts *TestServer, v url.Values, r resp) resp {
	t.Helper()
	m := confirmRE.FindStringSubmatch(r.Body)
	if r.Status != http.StatusOK || m == nil {
		return r
	}
	return postForm(t, ts, cloudapi.PathAuthorize, merge(v, "confirm", m[1], "action", "confirm"))
}

func exchangeCode(t testing.TB, ts *TestServer, code, verifier string) resp {
	t.Helper()
	return postForm(t, ts, cloudapi.PathToken, url.Values{"grant_type": {"authorization_code"}, "code": {code},
		"redirect_uri": {testRedirect}, "client_id": {cloudapi.ClientIDDaemon}, "code_verifier": {verifier}})
}
