package ui

import (
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/cloudlink/cld/ui/licenses"

	"go.uber.org/goleak"

	"github.com/cloudlink/cld/agent/api"
	"github.com/cloudlink/cld/agent/client"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestNewValidatesConfig(t *testing.T) {
	c := client.NewHandler(http.NotFoundHandler())
	for _, tc := range []struct {
		name string
		cfg  Config
		ok   bool
	}{
		{"no client", Config{}, false},
		{"root", Config{Client: c}, true},
		{"prefix", Config{Client: c, BasePath: "/cld/"}, true},
		{"relative prefix", Config{Client: c, BasePath: "cld"}, false},
		{"odd prefix", Config{Client: c, BasePath: `/c"ld`}, false},
		{"dot prefix", Config{Client: c, BasePath: "/a/../b"}, false},
		{"proxies", Config{Client: c, TrustedProxies: []string{"10.0.0.1", "192.168.0.0/16", "::1"}}, true},
		{"bad proxy", Config{Client: c, TrustedProxies: []string{"not-an-ip"}}, false},
	} {
		_, err := New(tc.cfg)
		if (err == nil) != tc.ok {
			t.Errorf("%s: New error = %v, want ok=%v", tc.name, err, tc.ok)
		}
	}
}

func TestFormatTime(t *testing.T) {
	at := time.Date(2024, 9, 18, 1, 19, 0, 0, time.UTC)
	if got, want := FormatTime(at, time.FixedZone("BST", 3600)), "Wed, 18 Sep 2024 02:19:00 BST +0100"; got != want {
		t.Errorf("FormatTime = %q, want %q", got, want)
	}
	if london, err := time.LoadLocation("Europe/London"); err == nil {
		if got, want := FormatTime(at, london), "Wed, 18 Sep 2024 02:19:00 BST +0100"; got != want {
			t.Errorf("FormatTime in London = %q, want %q", got, want)
		}
	}
	if got := FormatTime(time.Time{}, nil); got != "—" {
		t.Errorf("zero time = %q", got)
	}
}

func TestSignInRequired(t *testing.T) {
	_, h := newTestDashboard(t, Config{BasePath: "/cld"})
	b := newBrowser(t, h)
	for _, p := range []string{"/", "/licenses", "/terms", "/unlink", "/link/callback?code=x&state=y", "/nope"} {
		res := b.get(p)
		if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/cld/login" {
			t.Errorf("GET %s signed out: %d to %q, want 303 to /cld/login", p, res.StatusCode, res.Header.Get("Location"))
		}
	}
	res := b.do("POST", "/link", url.Values{"csrf": {"x"}})
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/cld/login?expired=1" {
		t.Errorf("POST /link signed out: %d to %q", res.StatusCode, res.Header.Get("Location"))
	}
	// The style sheet and the sign-in page are public.
	css := b.get("/static/style.css")
	if css.StatusCode != 200 || !strings.HasPrefix(css.Header.Get("Content-Type"), "text/css") {
		t.Errorf("style sheet: %d %q", css.StatusCode, css.Header.Get("Content-Type"))
	}
	if res := b.get("/static/favicon.svg"); res.StatusCode != 200 {
		t.Errorf("favicon: %d", res.StatusCode)
	}
	if res := b.get("/static/nope.css"); res.StatusCode != 404 {
		t.Errorf("missing static file: %d", res.StatusCode)
	}
	login := b.get("/login?expired=1")
	for _, want := range []string{`<label for="username">`, `<label for="password">`, `action="/cld/login"`, `href="/cld/static/style.css"`, "Your session has ended"} {
		if !strings.Contains(login.body, want) {
			t.Errorf("sign-in page lacks %q", want)
		}
	}
}

func TestSignInAndOut(t *testing.T) {
	_, h := newTestDashboard(t, Config{BasePath: "/cld"})
	b := newBrowser(t, h)
	page := b.get("/login")
	tok := csrfOf(t, page.body)

	// Wrong password.
	res := b.do("POST", "/login", url.Values{"csrf": {tok}, "username": {"admin"}, "password": {"nope"}})
	if res.StatusCode != http.StatusUnauthorized || !strings.Contains(res.body, "The user name or password is incorrect.") {
		t.Fatalf("wrong password: %d\n%s", res.StatusCode, res.body)
	}
	if !strings.Contains(res.body, `value="admin"`) {
		t.Error("the user name is not kept after a failed sign-in")
	}
	// A sign-in form without its token is refused (login CSRF).
	res = b.do("POST", "/login", url.Values{"csrf": {"forged"}, "username": {"admin"}, "password": {"demo-password"}})
	if res.StatusCode != http.StatusForbidden {
		t.Fatalf("forged sign-in form: %d", res.StatusCode)
	}
	if _, ok := b.cookies[sessionCookie]; ok {
		t.Fatal("a session was created from a forged form")
	}

	b.signIn("/cld")
	c := b.cookies[sessionCookie]
	if c == nil || !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Path != "/cld" || c.Secure {
		t.Fatalf("session cookie = %+v", c)
	}
	if res := b.get("/login"); res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/cld/" {
		t.Errorf("GET login when signed in: %d to %q", res.StatusCode, res.Header.Get("Location"))
	}
	home := b.get("/")
	if home.StatusCode != 200 || !strings.Contains(home.body, "Signed in as <strong>admin</strong>") {
		t.Fatalf("dashboard after sign-in: %d\n%s", home.StatusCode, home.body)
	}
	old := c.Value
	res = b.do("POST", "/logout", url.Values{"csrf": {csrfOf(t, home.body)}})
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/cld/login" {
		t.Fatalf("sign out: %d to %q", res.StatusCode, res.Header.Get("Location"))
	}
	b.cookies[sessionCookie] = &http.Cookie{Name: sessionCookie, Value: old}
	if res := b.get("/"); res.StatusCode != http.StatusSeeOther {
		t.Errorf("the old session still works after sign-out: %d", res.StatusCode)
	}
}

// TestLoginTokenStable: a second request that renders the sign-in page
// (such as a browser's automatic /favicon.ico, redirected there) must not
// invalidate the form already shown.
func TestLoginTokenStable(t *testing.T) {
	_, h := newTestDashboard(t, Config{})
	b := newBrowser(t, h)
	first := csrfOf(t, b.get("/login").body)
	b.get("/favicon.ico")
	if again := csrfOf(t, b.get("/login").body); again != first {
		t.Fatalf("the sign-in token changed from %q to %q", first, again)
	}
	res := b.do("POST", "/login", url.Values{"csrf": {first}, "username": {"admin"}, "password": {"demo-password"}})
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-in with the first form: %d", res.StatusCode)
	}
	// A cookie that is not one of ours is replaced.
	b2 := newBrowser(t, h)
	b2.cookies[loginCookie] = &http.Cookie{Name: loginCookie, Value: "<script>"}
	if tok := csrfOf(t, b2.get("/login").body); tok == "<script>" || !validToken(tok) {
		t.Fatalf("a foreign login cookie was reused: %q", tok)
	}
}

func TestSecureCookie(t *testing.T) {
	for _, tc := range []struct {
		name   string
		tls    bool
		remote string
		proto  string
		secure bool
	}{
		{"plain http", false, "192.0.2.1:1", "", false},
		{"tls", true, "192.0.2.1:1", "", true},
		{"trusted proxy https", false, "127.0.0.1:1", "https", true},
		{"untrusted proxy https", false, "192.0.2.1:1", "https", false},
	} {
		_, h := newTestDashboard(t, Config{})
		b := newBrowser(t, h)
		b.tls, b.remote = tc.tls, tc.remote
		if tc.proto != "" {
			b.header.Set("X-Forwarded-Proto", tc.proto)
		}
		b.signIn("")
		if got := b.cookies[sessionCookie].Secure; got != tc.secure {
			t.Errorf("%s: Secure = %v, want %v", tc.name, got, tc.secure)
		}
	}
}

func TestSecurityHeaders(t *testing.T) {
	_, h := newTestDashboard(t, Config{})
	b := newBrowser(t, h)
	check := func(what string, res result) {
		t.Helper()
		for k, want := range map[string]string{
			"Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'self'",
			"X-Content-Type-Options":  "nosniff",
			"Referrer-Policy":         "same-origin",
		} {
			if got := res.Header.Get(k); got != want {
				t.Errorf("%s: %s = %q, want %q", what, k, got, want)
			}
		}
	}
	check("login", b.get("/login"))
	check("css", b.get("/static/style.css"))
	check("redirect", b.get("/"))
	b.signIn("")
	check("dashboard", b.get("/"))
	check("404", b.get("/nope"))
}

func TestDashboardUnlinked(t *testing.T) {
	f, h := newTestDashboard(t, Config{})
	b := newBrowser(t, h)
	b.signIn("")
	res := b.get("/")
	for _, want := range []string{
		"<h1>CloudLink Daemon</h1>", "Standard view", `href="/?view=debug"`, "Switch to debug view",
		"Version</th><td>1.2.3", `href="/terms"`, "Terms and Conditions", `href="/licenses"`, "Licenses",
		"Linking your system to CloudLink allows you to easily manage Cloud applications at the edge.",
		"To activate, you will need a CloudLink account with administrator rights.",
		`action="/link"`, "Link to CloudLink",
	} {
		if !strings.Contains(res.body, want) {
			t.Errorf("unlinked dashboard lacks %q", want)
		}
	}
	for _, unwanted := range []string{"Warnings", "Disconnect from CloudLink", "Build number", "role=\"alert\""} {
		if strings.Contains(res.body, unwanted) {
			t.Errorf("unlinked dashboard shows %q", unwanted)
		}
	}

	// A reason (link error, revoked) is shown prominently with the remedy.
	f.set(func(st *api.Status) {
		st.State, st.Reason = api.StateUnlinked, "The system was removed from the account Demo Account in the portal by admin@demo.test."
	})
	res = b.get("/")
	for _, want := range []string{`role="alert"`, "Not linked:", "removed from the account Demo Account", "To link this system again"} {
		if !strings.Contains(res.body, want) {
			t.Errorf("revoked dashboard lacks %q", want)
		}
	}
	f.set(func(st *api.Status) {
		st.State, st.Reason = api.StateLinkError, "The CloudLink platform is not reachable."
	})
	res = b.get("/")
	if !strings.Contains(res.body, "Linking failed:") || !strings.Contains(res.body, "try again") {
		t.Errorf("link error not shown with a remedy:\n%s", res.body)
	}
}

func TestDashboardLinkedViews(t *testing.T) {
	f, h := newTestDashboard(t, Config{})
	f.set(func(st *api.Status) {
		at := time.Date(2024, 9, 18, 1, 19, 0, 0, time.UTC)
		st.Linked, st.State, st.Account, st.SystemID, st.LinkedAt = true, api.StateLinked, demoAccount, "sys-123", &at
		st.Warnings = []api.Warning{
			{Code: "clock_drift", Severity: api.SeverityWarning, Text: "The system time is incorrect. This can cause connection problems. Clock drift detected: 44s"},
			{Code: "x", Severity: api.SeverityError, Text: "Something is broken."},
		}
	})
	b := newBrowser(t, h)
	b.signIn("")
	std := b.get("/")
	for _, want := range []string{
		"Demo Account", "Account ID</th><td>100001", "Region</th><td>eu", "Disconnect from CloudLink", `href="/unlink"`,
		"Clock drift detected: 44s", `class="msg msg-warning"`, `class="msg msg-error"`, "<strong>Error:</strong>",
	} {
		if !strings.Contains(std.body, want) {
			t.Errorf("standard view lacks %q", want)
		}
	}
	debugOnly := []string{"Build number", "<td>77</td>", "Git commit hash", "0123456789abcdef", "Git branch", "Stage</th><td id=\"about-stage\">beta",
		demoAccount.UUID, "Partner ID", "P-42", "User ID", "u-admin-1", "Type</th><td>client", "Role</th><td>ACCOUNT_ADMIN",
		"System ID", "sys-123", "Wed, 18 Sep 2024 02:19:00 BST +0100"}
	for _, s := range debugOnly {
		if strings.Contains(std.body, s) {
			t.Errorf("standard view shows debug fact %q", s)
		}
	}
	// Sections in the product's order.
	iw, ia, ir := strings.Index(std.body, ">Warnings<"), strings.Index(std.body, ">About<"), strings.Index(std.body, ">CloudLink Registration<")
	if !(iw >= 0 && iw < ia && ia < ir) {
		t.Errorf("sections out of order: warnings %d, about %d, registration %d", iw, ia, ir)
	}

	dbg := b.get("/?view=debug")
	for _, s := range append(debugOnly, "Debug view", "Switch to standard view") {
		if !strings.Contains(dbg.body, s) {
			t.Errorf("debug view lacks %q", s)
		}
	}
	if c := b.cookies[viewCookie]; c == nil || c.Value != "debug" {
		t.Fatalf("view cookie = %+v", c)
	}
	// The choice sticks without the query parameter (e.g. after a redirect).
	if again := b.get("/"); !strings.Contains(again.body, "Git commit hash") {
		t.Error("the debug view is not remembered")
	}
	b.get("/?view=standard")
	if again := b.get("/"); strings.Contains(again.body, "Git commit hash") {
		t.Error("switching back to the standard view did not stick")
	}
}

func TestCrossSiteProtection(t *testing.T) {
	f, h := newTestDashboard(t, Config{})
	b := newBrowser(t, h)
	b.signIn("")
	tok := csrfOf(t, b.get("/").body)

	for _, tc := range []struct {
		name   string
		form   url.Values
		header map[string]string
	}{
		{"no token", url.Values{}, nil},
		{"wrong token", url.Values{"csrf": {"wrong"}}, nil},
		{"cross-site fetch", url.Values{"csrf": {tok}}, map[string]string{"Sec-Fetch-Site": "cross-site"}},
		{"foreign origin", url.Values{"csrf": {tok}}, map[string]string{"Sec-Fetch-Site": "", "Origin": "https://evil.example"}},
	} {
		for k, v := range tc.header {
			b.header.Set(k, v)
		}
		res := b.do("POST", "/link", tc.form)
		b.header = http.Header{}
		if res.StatusCode != http.StatusForbidden || !strings.Contains(res.body, "Request refused") {
			t.Errorf("%s: %d, want 403 page", tc.name, res.StatusCode)
		}
	}
	if f.redirectURI != "" {
		t.Fatal("a refused request reached the daemon")
	}
	res := b.do("POST", "/link", url.Values{"csrf": {tok}})
	if res.StatusCode != http.StatusSeeOther || !strings.HasPrefix(res.Header.Get("Location"), "https://localhost:8443/oauth/authorize?") {
		t.Fatalf("link: %d to %q", res.StatusCode, res.Header.Get("Location"))
	}
	// Behind a trusted proxy, a browser without fetch metadata is judged by
	// its Origin against the forwarded host.
	b.remote = "127.0.0.1:5000"
	b.header.Set("X-Forwarded-Host", "snm.example")
	b.header.Set("Sec-Fetch-Site", "")
	b.header.Set("Origin", "http://snm.example")
	if res := b.do("POST", "/link", url.Values{"csrf": {tok}}); res.StatusCode != http.StatusSeeOther {
		t.Errorf("same-origin POST through the proxy: %d", res.StatusCode)
	}
	b.header.Set("Origin", "http://evil.example")
	if res := b.do("POST", "/link", url.Values{"csrf": {tok}}); res.StatusCode != http.StatusForbidden {
		t.Errorf("cross-origin POST through the proxy: %d", res.StatusCode)
	}
	// A host the browser put first, before the one the proxy appended, is
	// not believed.
	b.header.Set("X-Forwarded-Host", "evil.example, snm.example")
	if res := b.do("POST", "/link", url.Values{"csrf": {tok}}); res.StatusCode != http.StatusForbidden {
		t.Errorf("a cross-origin POST with the forged host first: %d", res.StatusCode)
	}
	b.header["X-Forwarded-Host"] = []string{"evil.example", "snm.example"}
	b.header.Set("Origin", "http://snm.example")
	if res := b.do("POST", "/link", url.Values{"csrf": {tok}}); res.StatusCode != http.StatusSeeOther {
		t.Errorf("the proxy's host in a second header line: %d", res.StatusCode)
	}
	b.header = http.Header{}

	// Another session's token does not work.
	b2 := newBrowser(t, h)
	b2.signIn("")
	if res := b2.do("POST", "/link", url.Values{"csrf": {tok}}); res.StatusCode != http.StatusForbidden {
		t.Errorf("another session's token: %d", res.StatusCode)
	}
}

// TestPrefixes checks the callback URL, links and redirects for the ways
// the dashboard can be mounted.
func TestPrefixes(t *testing.T) {
	for _, tc := range []struct {
		name     string
		base     string
		remote   string
		path     string // path of the request as it reaches the dashboard ("" prefix stripped)
		headers  map[string]string
		prefix   string // prefix the browser sees
		callback string
	}{
		{name: "root", path: "", callback: "http://example.com/link/callback"},
		{name: "base path, proxy strips", base: "/cld", path: "", prefix: "/cld", callback: "http://example.com/cld/link/callback"},
		{name: "base path, proxy keeps it", base: "/cld", path: "/cld", prefix: "/cld", callback: "http://example.com/cld/link/callback"},
		{name: "trusted proxy", remote: "127.0.0.1:3333", path: "", prefix: "/cld",
			headers:  map[string]string{"X-Forwarded-Prefix": "/cld/", "X-Forwarded-Host": "snm.example:8443", "X-Forwarded-Proto": "https"},
			callback: "https://snm.example:8443/cld/link/callback"},
		{name: "trusted proxy beats base path", base: "/other", remote: "[::1]:3333", path: "", prefix: "/mgmt/cld",
			headers:  map[string]string{"X-Forwarded-Prefix": "/mgmt/cld", "X-Forwarded-Host": "host.example"},
			callback: "http://host.example/mgmt/cld/link/callback"},
		{name: "untrusted proxy ignored", remote: "192.0.2.7:3333", path: "",
			headers:  map[string]string{"X-Forwarded-Prefix": "/cld", "X-Forwarded-Host": "evil.example", "X-Forwarded-Proto": "https"},
			callback: "http://example.com/link/callback"},
		{name: "bad forwarded prefix ignored", remote: "127.0.0.1:3333", path: "",
			headers:  map[string]string{"X-Forwarded-Prefix": `/x"><script>`},
			callback: "http://example.com/link/callback"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, h := newTestDashboard(t, Config{BasePath: tc.base})
			b := newBrowser(t, h)
			if tc.remote != "" {
				b.remote = tc.remote
			}
			for k, v := range tc.headers {
				b.header.Set(k, v)
			}
			page := b.get(tc.path + "/login")
			if page.StatusCode != 200 {
				t.Fatalf("login page: %d", page.StatusCode)
			}
			if c := b.cookies[loginCookie]; c.Path != tc.prefix && !(tc.prefix == "" && c.Path == "/") {
				t.Errorf("cookie path %q, want %q", c.Path, tc.prefix)
			}
			res := b.do("POST", tc.path+"/login", url.Values{"csrf": {csrfOf(t, page.body)}, "username": {"admin"}, "password": {"demo-password"}})
			if got := res.Header.Get("Location"); got != tc.prefix+"/" {
				t.Fatalf("after sign-in to %q, want %q", got, tc.prefix+"/")
			}
			home := b.get(tc.path + "/")
			for _, want := range []string{
				`href="` + tc.prefix + `/static/style.css"`, `href="` + tc.prefix + `/licenses"`,
				`action="` + tc.prefix + `/link"`, `action="` + tc.prefix + `/logout"`, `href="` + tc.prefix + `/?view=debug"`,
			} {
				if !strings.Contains(home.body, want) {
					t.Errorf("dashboard lacks %q", want)
				}
			}
			res = b.do("POST", tc.path+"/link", url.Values{"csrf": {csrfOf(t, home.body)}})
			if res.StatusCode != http.StatusSeeOther {
				t.Fatalf("link: %d\n%s", res.StatusCode, res.body)
			}
			if f.redirectURI != tc.callback {
				t.Errorf("callback URL %q, want %q", f.redirectURI, tc.callback)
			}
			res = b.get(tc.path + "/link/callback?code=c1&state=s1")
			if got := res.Header.Get("Location"); res.StatusCode != http.StatusSeeOther || got != tc.prefix+"/" {
				t.Errorf("callback: %d to %q, want %q", res.StatusCode, got, tc.prefix+"/")
			}
		})
	}
}

func TestLinkCallback(t *testing.T) {
	f, h := newTestDashboard(t, Config{BasePath: "/cld"})
	b := newBrowser(t, h)
	b.signIn("/cld")

	// The cloud sent an error back: the daemon's sentence is shown once.
	f.callbackErr = &api.Error{Code: api.CodeNotAdmin, Message: "The user user@demo.test is not an administrator of the account 100001; sign in with an account administrator."}
	res := b.get("/cld/link/callback?error=access_denied&error_description=not+admin&state=s1")
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/cld/" {
		t.Fatalf("error callback: %d to %q", res.StatusCode, res.Header.Get("Location"))
	}
	if f.callback.Error != "access_denied" || f.callback.ErrorDescription != "not admin" || f.callback.State != "s1" {
		t.Errorf("callback passed on as %+v", f.callback)
	}
	home := b.get("/cld/")
	if !strings.Contains(home.body, "is not an administrator of the account 100001") || !strings.Contains(home.body, `class="msg msg-error" role="alert"`) {
		t.Errorf("error flash missing:\n%s", home.body)
	}
	if n := strings.Count(home.body, "is not an administrator"); n != 1 {
		t.Errorf("the daemon's sentence appears %d times, want once (as the status's reason)", n)
	}
	// Without a reason in the status, the message is the flash.
	f.set(func(st *api.Status) { st.State, st.Reason = api.StateUnlinked, "" })
	b.get("/cld/link/callback?error=access_denied&state=s1")
	f.set(func(st *api.Status) { st.State, st.Reason = api.StateUnlinked, "" })
	home = b.get("/cld/")
	if n := strings.Count(home.body, "is not an administrator"); n != 1 {
		t.Errorf("the flash appears %d times, want once", n)
	}
	if again := b.get("/cld/"); strings.Contains(again.body, "is not an administrator") {
		t.Error("a flash message shows up twice")
	}

	// Neither code nor error.
	b.get("/cld/link/callback")
	if home := b.get("/cld/"); !strings.Contains(home.body, "neither a result nor an error") {
		t.Error("an empty callback is not explained")
	}

	f.callbackErr = nil
	b.get("/cld/link/callback?code=abc&state=s1")
	if f.callback.Code != "abc" {
		t.Errorf("code passed on as %q", f.callback.Code)
	}
	home = b.get("/cld/")
	for _, want := range []string{"Linked to the CloudLink account Demo Account (100001).", "Account ID</th><td>100001", "Disconnect from CloudLink"} {
		if !strings.Contains(home.body, want) {
			t.Errorf("after linking the dashboard lacks %q", want)
		}
	}
}

func TestLinkStartError(t *testing.T) {
	f, h := newTestDashboard(t, Config{})
	f.linkErr = &api.Error{Code: api.CodeCloudDown, Message: "The CloudLink platform at https://localhost:8443/ is not reachable."}
	b := newBrowser(t, h)
	b.signIn("")
	res := b.do("POST", "/link", url.Values{"csrf": {csrfOf(t, b.get("/").body)}})
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/" {
		t.Fatalf("failed link start: %d to %q", res.StatusCode, res.Header.Get("Location"))
	}
	if home := b.get("/"); !strings.Contains(home.body, "is not reachable.") {
		t.Error("the daemon's sentence is not shown")
	}
}

func TestUnlink(t *testing.T) {
	f, h := newTestDashboard(t, Config{})
	b := newBrowser(t, h)
	b.signIn("")
	// Not linked: the confirmation page sends back with a note.
	if res := b.get("/unlink"); res.StatusCode != http.StatusSeeOther {
		t.Errorf("unlink page when unlinked: %d", res.StatusCode)
	}
	b.get("/") // consume the note
	f.set(func(st *api.Status) { st.Linked, st.State, st.Account = true, api.StateLinked, demoAccount })
	f.unlinkPending = true

	confirm := b.get("/unlink")
	for _, want := range []string{"Disconnect from CloudLink?", "<strong>Demo Account</strong> (100001)", `action="/unlink"`, "Cancel"} {
		if !strings.Contains(confirm.body, want) {
			t.Errorf("confirmation lacks %q", want)
		}
	}
	res := b.do("POST", "/unlink", url.Values{"csrf": {csrfOf(t, confirm.body)}})
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("unlink: %d", res.StatusCode)
	}
	home := b.get("/")
	for _, want := range []string{"Disconnected from CloudLink.", "keeps retrying", "Link to CloudLink"} {
		if !strings.Contains(home.body, want) {
			t.Errorf("after unlink the dashboard lacks %q", want)
		}
	}
	// Unlinking again: the daemon's sentence.
	b.do("POST", "/unlink", url.Values{"csrf": {csrfOf(t, home.body)}})
	if home := b.get("/"); !strings.Contains(home.body, "This system is not linked.") {
		t.Error("the daemon's error is not shown")
	}
}

func TestBadRequests(t *testing.T) {
	f, h := newTestDashboard(t, Config{})
	b := newBrowser(t, h)
	b.signIn("")
	tok := csrfOf(t, b.get("/").body)
	if res := b.get("/no/such/page"); res.StatusCode != 404 || !strings.Contains(res.body, "Page not found") {
		t.Errorf("unknown page: %d", res.StatusCode)
	}
	if res := b.do("DELETE", "/unlink", nil); res.StatusCode != 405 || res.Header.Get("Allow") != "GET, POST" {
		t.Errorf("wrong method: %d, Allow %q", res.StatusCode, res.Header.Get("Allow"))
	}
	if res := b.get("/logout"); res.StatusCode != 405 {
		t.Errorf("GET logout: %d", res.StatusCode)
	}
	big := url.Values{"csrf": {tok}, "x": {strings.Repeat("a", maxFormBytes)}}
	if res := b.do("POST", "/link", big); res.StatusCode != 400 || !strings.Contains(res.body, "Bad request") {
		t.Errorf("oversized form: %d", res.StatusCode)
	}
	if res := b.do("HEAD", "/", nil); res.StatusCode != 200 || res.body != "" {
		t.Errorf("HEAD: %d with %d bytes", res.StatusCode, len(res.body))
	}

	// A daemon that panics gives an error page, not a dropped connection.
	f.mu.Lock()
	f.statusPanics = true
	f.mu.Unlock()
	if res := b.get("/"); res.StatusCode != 500 || !strings.Contains(res.body, "Something went wrong") {
		t.Errorf("panic: %d\n%s", res.StatusCode, res.body)
	}
}

func TestDaemonDown(t *testing.T) {
	h, err := New(Config{Client: client.NewUnix(t.TempDir() + "/none.sock"), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	b := newBrowser(t, h)
	page := b.get("/login")
	res := b.do("POST", "/login", url.Values{"csrf": {csrfOf(t, page.body)}, "username": {"admin"}, "password": {"x"}})
	if res.StatusCode != http.StatusServiceUnavailable || !strings.Contains(res.body, "not reachable") {
		t.Errorf("sign-in with the daemon down: %d\n%s", res.StatusCode, res.body)
	}
}

func TestLicensesAndTerms(t *testing.T) {
	_, h := newTestDashboard(t, Config{BasePath: "/cld"})
	b := newBrowser(t, h)
	b.signIn("/cld")
	// The daemon's own terms, and every module linked into cld with its
	// license and text (ui/licenses).
	lic := b.get("/cld/licenses")
	for _, want := range []string{"<h1>Licenses</h1>", "github.com/cloudlink/cld", `href="/cld/terms"`, `<th scope="col">License</th>`,
		`<tr id="license-github.com/hashicorp/yamux"><td>github.com/hashicorp/yamux</td>`, "<summary>MPL-2.0</summary>", "Mozilla Public License",
		"<summary>BSD-3-Clause</summary>", "Redistribution and use in source and binary forms"} {
		if !strings.Contains(lic.body, want) {
			t.Errorf("licenses page lacks %q", want)
		}
	}
	if n := strings.Count(lic.body, "<details>"); n != len(licenses.All()) {
		t.Errorf("%d license texts, want %d", n, len(licenses.All()))
	}
	terms := b.get("/cld/terms")
	if terms.StatusCode != 200 || !strings.Contains(terms.body, "<h1>Terms and Conditions</h1>") {
		t.Errorf("terms page: %d", terms.StatusCode)
	}
}

func TestSessionExpiry(t *testing.T) {
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	st := newSessionStore(8*time.Hour, func() time.Time { return now })
	id := st.create("admin")
	now = now.Add(7 * time.Hour)
	if _, _, ok := st.touch(id); !ok {
		t.Fatal("session ended before its idle time")
	}
	now = now.Add(7 * time.Hour) // 7h idle again: still alive (touched)
	if _, _, ok := st.touch(id); !ok {
		t.Fatal("a used session ended")
	}
	now = now.Add(8*time.Hour + time.Second)
	if _, _, ok := st.touch(id); ok {
		t.Fatal("session outlived its idle time")
	}
	if _, _, ok := st.touch(""); ok {
		t.Fatal("empty session ID accepted")
	}
	// The store stays bounded.
	for range maxSessions + 5 {
		st.create("u")
	}
	if n := len(st.m); n > maxSessions {
		t.Fatalf("%d sessions kept", n)
	}
}
