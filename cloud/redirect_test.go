package cloud

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/cloudlink/cld/cloud/cloudapi"
)

var confirmRE = regexp.MustCompile(`name="confirm" value="([^"]+)"`)

// TestAuthorizeRedirectPinned: a code goes at once only to a loopback or
// localhost redirect; any other host is named on a confirmation step the
// signed-in admin must pass, and the confirmation is good only for the
// request it was shown for.
func TestAuthorizeRedirectPinned(t *testing.T) {
	ts := NewTestServer(t)
	verifier, challenge := pkce("pin")
	const evil = "https://attacker.example/x/link/callback"
	start := merge(authValues(challenge), "redirect_uri", evil)

	// The sign-in page already says where the browser returns.
	req, _ := http.NewRequest("GET", ts.URL+cloudapi.PathAuthorize+"?"+start.Encode(), nil)
	if r := do(t, ts.Client(), req); r.Status != 200 || !strings.Contains(r.Body, "attacker.example") {
		t.Fatalf("sign-in page: %d\n%s", r.Status, r.Body)
	}
	r := postForm(t, ts, cloudapi.PathAuthorize, merge(start, "email", DemoAdminEmail, "password", DemoPassword))
	if r.Status == 200 && strings.Contains(r.Body, `name="pending"`) {
		r = postForm(t, ts, cloudapi.PathAuthorize, merge(start, "pending", pendingID(t, r.Body), "account", "100001", "action", "continue"))
	}
	if r.Status != http.StatusOK || r.Header.Get("Location") != "" {
		t.Fatalf("a sign-in for a redirect to another host was answered %d, Location %q, want the confirmation page", r.Status, r.Header.Get("Location"))
	}
	if !strings.Contains(r.Body, "You are linking the system whose dashboard is at <strong>https://attacker.example/x</strong>") ||
		!strings.Contains(r.Body, "Continue only if you started linking there") {
		t.Fatalf("the confirmation page does not name the dashboard:\n%s", r.Body)
	}
	m := confirmRE.FindStringSubmatch(r.Body)
	if m == nil {
		t.Fatalf("no confirm field:\n%s", r.Body)
	}
	confirm := m[1]

	// The confirmation holds only for the request it was shown for.
	other := merge(start, "redirect_uri", "https://elsewhere.example/link/callback", "confirm", confirm, "action", "confirm")
	if r := postForm(t, ts, cloudapi.PathAuthorize, other); r.Status == http.StatusFound || strings.Contains(r.Header.Get("Location"), "code=") {
		t.Fatalf("a confirmation with another redirect_uri: %d %s", r.Status, r.Header.Get("Location"))
	}
	// A made-up confirmation is refused.
	if r := postForm(t, ts, cloudapi.PathAuthorize, merge(start, "confirm", "made-up", "action", "confirm")); r.Status == http.StatusFound {
		t.Fatalf("a made-up confirmation: %d %s", r.Status, r.Header.Get("Location"))
	}

	// Continue: the code goes to the confirmed host, once.
	r = postForm(t, ts, cloudapi.PathAuthorize, merge(start, "confirm", confirm, "action", "confirm"))
	if r.Status != http.StatusFound {
		t.Fatalf("confirm: %d\n%s", r.Status, r.Body)
	}
	u, _ := url.Parse(r.Header.Get("Location"))
	if !strings.HasPrefix(u.String(), evil+"?") || u.Query().Get("code") == "" || u.Query().Get("state") != "st-123" {
		t.Fatalf("confirm redirects to %s", u)
	}
	tr := tokenOK(t, postForm(t, ts, cloudapi.PathToken, url.Values{"grant_type": {"authorization_code"}, "code": {u.Query().Get("code")},
		"redirect_uri": {evil}, "client_id": {cloudapi.ClientIDDaemon}, "code_verifier": {verifier}}))
	if tr.Scope != cloudapi.ScopeRegister {
		t.Fatalf("token %+v", tr)
	}
	if r := postForm(t, ts, cloudapi.PathAuthorize, merge(start, "confirm", confirm, "action", "confirm")); r.Status == http.StatusFound {
		t.Fatalf("a confirmation used twice: %d %s", r.Status, r.Header.Get("Location"))
	}

	// Cancel on the confirmation step goes back with access_denied.
	r = postForm(t, ts, cloudapi.PathAuthorize, merge(start, "email", DemoAdminEmail, "password", DemoPassword))
	if strings.Contains(r.Body, `name="pending"`) {
		r = postForm(t, ts, cloudapi.PathAuthorize, merge(start, "pending", pendingID(t, r.Body), "account", "100001", "action", "continue"))
	}
	m = confirmRE.FindStringSubmatch(r.Body)
	if m == nil {
		t.Fatalf("no confirm field:\n%s", r.Body)
	}
	r = postForm(t, ts, cloudapi.PathAuthorize, merge(start, "confirm", m[1], "action", "cancel"))
	if u, _ := url.Parse(r.Header.Get("Location")); r.Status != http.StatusFound || u.Query().Get("error") != errAccessDenied || u.Query().Get("code") != "" {
		t.Fatalf("cancel: %d %s", r.Status, r.Header.Get("Location"))
	}
}

// TestAuthorizeLoopbackRedirect: loopback addresses and localhost get the
// code at once, as a dashboard opened on the host itself does.
func TestAuthorizeLoopbackRedirect(t *testing.T) {
	ts := NewTestServer(t)
	_, challenge := pkce("loop")
	for _, redirect := range []string{"http://127.0.0.1:8087/link/callback", "http://localhost:8087/cld/link/callback", "http://[::1]:8087/link/callback", "http://LOCALHOST./link/callback"} {
		v := merge(authValues(challenge), "redirect_uri", redirect, "email", DemoAdminEmail, "password", DemoPassword)
		r := postForm(t, ts, cloudapi.PathAuthorize, v)
		if r.Status == 200 && strings.Contains(r.Body, `name="pending"`) {
			r = postForm(t, ts, cloudapi.PathAuthorize, merge(authValues(challenge), "redirect_uri", redirect, "pending", pendingID(t, r.Body), "account", "100001"))
		}
		if r.Status != http.StatusFound || !strings.Contains(r.Header.Get("Location"), "code=") {
			t.Errorf("%s: %d %s", redirect, r.Status, r.Header.Get("Location"))
		}
	}
	// Names that only look local are not.
	for _, h := range []string{"localhost.attacker.example", "127.0.0.1.attacker.example", "0.0.0.0", "10.0.0.1"} {
		if isLoopbackRedirect("http://" + h + "/link/callback") {
			t.Errorf("%s counted as loopback", h)
		}
	}
}
