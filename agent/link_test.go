package agent

import (
	"context"
	"errors"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/cloudlink/cld/agent/accounts"
	"github.com/cloudlink/cld/agent/api"
	"github.com/cloudlink/cld/agent/config"
	"github.com/cloudlink/cld/agent/link"
	"github.com/cloudlink/cld/agent/state"
	"github.com/cloudlink/cld/agent/updates"
	"github.com/cloudlink/cld/cloud"
	"github.com/cloudlink/cld/cloud/cloudapi"
)

var adminLogin = api.LinkRequest{Username: cloud.DemoAdminEmail, Password: cloud.DemoPassword, Account: cloud.DemoAccountID}

// cloudConfig is a test configuration that trusts the test cloud.
func cloudConfig(t testing.TB, ts *cloud.TestServer) config.Config {
	cfg := testConfig(t, t.TempDir())
	cfg.Cloud = ts.URL
	cfg.CloudCA = ts.CAFile
	return cfg
}

func mustAgent(t testing.TB, cfg config.Config, opts ...Option) *running {
	t.Helper()
	a, err := newAgent(t, cfg, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return start(t, a)
}

func wantAPIError(t testing.TB, err error, code string, contains ...string) {
	t.Helper()
	var ae *api.Error
	if !errors.As(err, &ae) {
		t.Fatalf("error = %v (%T), want *api.Error %s", err, err, code)
	}
	if ae.Code != code {
		t.Errorf("code = %q (%s), want %q", ae.Code, ae.Message, code)
	}
	for _, c := range contains {
		if !strings.Contains(ae.Message, c) {
			t.Errorf("message %q lacks %q", ae.Message, c)
		}
	}
}

// stateFiles lists the state dir's files.
func stateFiles(t testing.TB, cfg config.Config) []string {
	t.Helper()
	entries, err := os.ReadDir(cfg.StateDir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

// assertUnlinkedOnDisk checks that nothing of a link was written.
func assertUnlinkedOnDisk(t testing.TB, cfg config.Config) {
	t.Helper()
	if st := readState(t, cfg); st.Link != nil || len(st.PendingRevocations) != 0 {
		t.Errorf("state on disk: %+v", st)
	}
	want := []string{accounts.InitialPasswordFile, accounts.UsersFile, state.LinkFile, state.LockFile}
	// The update's settings (schedule, pause, last update) are the host's
	// and stay after an unlink.
	got := slices.DeleteFunc(stateFiles(t, cfg), func(n string) bool { return n == updates.StateFile })
	if !slices.Equal(got, want) {
		t.Errorf("state dir holds %v, want %v", got, want)
	}
}

// assertNoSecretsOnDisk checks that the user's password is nowhere.
func assertNoSecretsOnDisk(t testing.TB, cfg config.Config) {
	t.Helper()
	for _, name := range stateFiles(t, cfg) {
		data, _ := os.ReadFile(filepath.Join(cfg.StateDir, name))
		if strings.Contains(string(data), cloud.DemoPassword) {
			t.Errorf("%s holds the user's password", name)
		}
	}
}

func TestLinkWithPassword(t *testing.T) {
	ts := cloud.NewTestServer(t)
	cfg := cloudConfig(t, ts)
	r := mustAgent(t, cfg)
	ctx := context.Background()

	st, err := r.link.Link(ctx, adminLogin)
	if err != nil {
		t.Fatal(err)
	}
	if !st.Linked || st.State != api.StateLinked || st.SystemID == "" || st.Account == nil ||
		st.Account.ID != cloud.DemoAccountID || st.Account.Name != cloud.DemoAccountName || st.Account.Region != "eu" ||
		st.Account.Role != cloudapi.RoleAccountAdmin || st.Account.UUID == "" || st.Cloud != ts.URL || st.LinkedAt == nil {
		t.Fatalf("status after link: %+v %+v", st, st.Account)
	}
	sys, err := ts.System(st.SystemID)
	if err != nil || sys.Revoked() {
		t.Fatalf("cloud's record: %+v, %v", sys, err)
	}
	p := readState(t, cfg)
	if p.Link == nil || p.Link.SystemID != st.SystemID || p.Link.ClientSecret == "" || p.Link.MachineIDHash == "" {
		t.Errorf("state on disk: %+v", p.Link)
	}
	assertNoSecretsOnDisk(t, cfg)

	// The session checks in with the cloud.
	eventually(t, "the first heartbeat", func() bool {
		s := r.link.Current()
		if s == nil {
			return false
		}
		tok, _ := s.TokenInfo()
		return tok != ""
	})

	_, err = r.link.Link(ctx, adminLogin)
	wantAPIError(t, err, api.CodeAlreadyLinked, "already linked to account 100001", "cld unlink")

	// A restart keeps the link.
	r.stop()
	r2 := mustAgent(t, cfg)
	st2 := r2.Status(ctx)
	if !st2.Linked || st2.SystemID != st.SystemID || st2.Account.Name != cloud.DemoAccountName {
		t.Errorf("after restart: %+v", st2)
	}
	eventually(t, "a heartbeat after restart", func() bool {
		s := r2.link.Current()
		if s == nil {
			return false
		}
		tok, _ := s.TokenInfo()
		return tok != ""
	})
	if w := r2.Status(ctx).Warnings; len(w) != 0 {
		t.Errorf("warnings after restart: %+v", w)
	}

	// Unlink with the cloud up: revoked there, nothing pending here.
	st3, err := r2.link.Unlink(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st3.Linked || st3.State != api.StateUnlinked || st3.PendingRevocation || st3.Reason != "" {
		t.Errorf("after unlink: %+v", st3)
	}
	if sys, _ := ts.System(st.SystemID); !sys.Revoked() {
		t.Error("the cloud still has the system linked")
	}
	assertUnlinkedOnDisk(t, cfg)
	_, err = r2.link.Unlink(ctx)
	wantAPIError(t, err, api.CodeNotLinked, "not linked")
}

func TestLinkFailures(t *testing.T) {
	ts := cloud.NewTestServer(t)
	cfg := cloudConfig(t, ts)
	r := mustAgent(t, cfg)
	ctx := context.Background()
	tests := []struct {
		name     string
		req      api.LinkRequest
		code     string
		contains []string
	}{
		{"wrong password", api.LinkRequest{Username: cloud.DemoAdminEmail, Password: "not-the-password", Account: cloud.DemoAccountID},
			api.CodeWrongPassword, []string{"password is wrong"}},
		{"not admin", api.LinkRequest{Username: cloud.DemoUserEmail, Password: cloud.DemoPassword},
			api.CodeNotAdmin, []string{"not an administrator", "100001"}},
		{"unknown account", api.LinkRequest{Username: cloud.DemoAdminEmail, Password: cloud.DemoPassword, Account: 999999},
			api.CodeUnknownAccount, []string{"999999"}},
		{"account required", api.LinkRequest{Username: cloud.DemoAdminEmail, Password: cloud.DemoPassword},
			api.CodeAccountNeeded, []string{"100001", "100002", "--account"}},
		{"no user", api.LinkRequest{Password: "x"}, api.CodeBadRequest, []string{"--username"}},
		{"no password", api.LinkRequest{Username: "a@b"}, api.CodeBadRequest, []string{"password"}},
		{"http cloud", api.LinkRequest{Username: "a@b", Password: "x", Cloud: "http://example.test"}, api.CodeBadRequest, []string{"not an https URL"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := r.link.Link(ctx, tt.req)
			wantAPIError(t, err, tt.code, tt.contains...)
			if st := r.Status(ctx); st.State != api.StateUnlinked || st.Linked {
				t.Errorf("state after failure: %+v", st)
			}
			assertUnlinkedOnDisk(t, cfg)
		})
	}

	t.Run("untrusted certificate", func(t *testing.T) {
		cfg := cloudConfig(t, ts)
		cfg.CloudCA = ""
		r := mustAgent(t, cfg)
		_, err := r.link.Link(ctx, adminLogin)
		wantAPIError(t, err, api.CodeCloudDown, "Could not reach CloudLink at "+ts.URL, "certificate", "--cloud-ca")
		assertUnlinkedOnDisk(t, cfg)
	})

	t.Run("cloud stopped", func(t *testing.T) {
		ts.Stop()
		defer ts.Start()
		_, err := r.link.Link(ctx, adminLogin)
		wantAPIError(t, err, api.CodeCloudDown, "Could not reach CloudLink at "+ts.URL+": ", "Check the network, proxy and --cloud URL, then try again.")
		if st := r.Status(ctx); st.State != api.StateUnlinked {
			t.Errorf("state: %s", st.State)
		}
		assertUnlinkedOnDisk(t, cfg)
	})

	// After all that, linking still works.
	if _, err := r.link.Link(ctx, adminLogin); err != nil {
		t.Fatal(err)
	}
}

func TestLinkWithoutConfiguredCloud(t *testing.T) {
	ts := cloud.NewTestServer(t)
	cfg := cloudConfig(t, ts)
	cfg.Cloud = ""
	r := mustAgent(t, cfg)
	_, err := r.link.Link(context.Background(), api.LinkRequest{Username: "a@b", Password: "x"})
	wantAPIError(t, err, api.CodeBadRequest, "--cloud")
	req := adminLogin
	req.Cloud = ts.URL + "/"
	st, err := r.link.Link(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if st.Cloud != ts.URL || readState(t, cfg).Link.Cloud != ts.URL {
		t.Errorf("cloud of the link: %q", st.Cloud)
	}
}

var hiddenRE = regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)">`)

// signIn drives the cloud's sign-in page like a browser: the form, then the
// account step, following redirects to the dashboard's callback.
func signIn(t *testing.T, ts *cloud.TestServer, authorizeURL, email, password string, account int64) {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	hc := &http.Client{Jar: jar, Transport: &http.Transport{TLSClientConfig: ts.TLSConfig()}, Timeout: 30 * time.Second}
	defer hc.CloseIdleConnections()
	page := func(resp *http.Response, err error) string {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: %s\n%s", resp.Request.URL, resp.Status, b)
		}
		return string(b)
	}
	form := func(body string) url.Values {
		v := url.Values{}
		for _, m := range hiddenRE.FindAllStringSubmatch(body, -1) {
			v.Set(m[1], html.UnescapeString(m[2]))
		}
		return v
	}
	body := page(hc.Get(authorizeURL))
	v := form(body)
	v.Set("email", email)
	v.Set("password", password)
	v.Set("action", "signin")
	body = page(hc.PostForm(ts.URL+cloudapi.PathAuthorize, v))
	if strings.Contains(body, `name="pending"`) {
		v = form(body)
		v.Set("account", strconv.FormatInt(account, 10))
		v.Set("action", "continue")
		page(hc.PostForm(ts.URL+cloudapi.PathAuthorize, v))
	}
}

// callbackServer stands in for the dashboard's /link/callback.
type callbackServer struct {
	*httptest.Server
	mu  sync.Mutex
	got url.Values
}

func newCallbackServer(t *testing.T) *callbackServer {
	cb := &callbackServer{}
	cb.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cb.mu.Lock()
		cb.got = r.URL.Query()
		cb.mu.Unlock()
		io.WriteString(w, "back at the dashboard")
	}))
	t.Cleanup(cb.Close)
	return cb
}

func (cb *callbackServer) query() url.Values {
	cb.mu.Lock()
	defer cb.mu.Unlock()
	return cb.got
}

func TestBrowserLink(t *testing.T) {
	ts := cloud.NewTestServer(t)
	cfg := cloudConfig(t, ts)
	r := mustAgent(t, cfg)
	ctx := context.Background()
	cb := newCallbackServer(t)
	redirect := cb.URL + "/cld/link/callback"

	_, err := r.link.BrowserLink(ctx, api.BrowserLinkRequest{RedirectURI: "http://x/elsewhere"})
	wantAPIError(t, err, api.CodeBadRequest, "/link/callback")

	start, err := r.link.BrowserLink(ctx, api.BrowserLinkRequest{RedirectURI: redirect})
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(start.AuthorizeURL)
	if q := u.Query(); q.Get("code_challenge_method") != "S256" || q.Get("code_challenge") == "" || q.Get("state") != start.State ||
		q.Get("client_id") != cloudapi.ClientIDDaemon || q.Get("redirect_uri") != redirect || !strings.HasPrefix(start.AuthorizeURL, ts.URL+cloudapi.PathAuthorize) {
		t.Fatalf("authorize URL: %s", start.AuthorizeURL)
	}
	signIn(t, ts, start.AuthorizeURL, cloud.DemoAdminEmail, cloud.DemoPassword, cloud.DemoSecondAccountID)
	q := cb.query()
	if q.Get("code") == "" || q.Get("state") != start.State {
		t.Fatalf("callback query: %v", q)
	}
	st, err := r.link.BrowserCallback(ctx, api.BrowserCallback{Code: q.Get("code"), State: q.Get("state")})
	if err != nil {
		t.Fatal(err)
	}
	if !st.Linked || st.Account.ID != cloud.DemoSecondAccountID || st.Account.Name != cloud.DemoSecondAccountName {
		t.Fatalf("status: %+v", st)
	}
	assertNoSecretsOnDisk(t, cfg)

	// The state works once.
	_, err = r.link.BrowserCallback(ctx, api.BrowserCallback{Code: q.Get("code"), State: q.Get("state")})
	wantAPIError(t, err, api.CodeBadState, "start linking again")
	_, err = r.link.BrowserLink(ctx, api.BrowserLinkRequest{RedirectURI: redirect})
	wantAPIError(t, err, api.CodeAlreadyLinked)
}

func TestBrowserLinkErrorsAndExpiry(t *testing.T) {
	ts := cloud.NewTestServer(t)
	fc := clockwork.NewFakeClockAt(time.Now())
	cfg := cloudConfig(t, ts)
	r := mustAgent(t, cfg, WithClock(fc))
	ctx := context.Background()
	redirect := "http://127.0.0.1:8087/link/callback"

	s1, err := r.link.BrowserLink(ctx, api.BrowserLinkRequest{RedirectURI: redirect})
	if err != nil {
		t.Fatal(err)
	}
	fc.Advance(11 * time.Minute)
	_, err = r.link.BrowserCallback(ctx, api.BrowserCallback{Code: "c", State: s1.State})
	wantAPIError(t, err, api.CodeBadState, "expired")

	s2, _ := r.link.BrowserLink(ctx, api.BrowserLinkRequest{RedirectURI: redirect})
	_, err = r.link.BrowserCallback(ctx, api.BrowserCallback{State: s2.State, Error: cloudapi.ErrNotAdmin, ErrorDescription: "user@demo.test is not an administrator of account 100001 (Demo Account)."})
	wantAPIError(t, err, api.CodeNotAdmin, "is not an administrator")

	s3, _ := r.link.BrowserLink(ctx, api.BrowserLinkRequest{RedirectURI: redirect})
	_, err = r.link.BrowserCallback(ctx, api.BrowserCallback{Code: "forged", State: s3.State})
	wantAPIError(t, err, api.CodeBadState, "start linking again")

	_, err = r.link.BrowserCallback(ctx, api.BrowserCallback{Code: "x", State: "never-issued"})
	wantAPIError(t, err, api.CodeBadState)
	assertUnlinkedOnDisk(t, cfg)
}

// waitTimers waits until the fake clock has n timers set: the loops under
// test are then idle and waiting.
func waitTimers(t testing.TB, fc *clockwork.FakeClock, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := fc.BlockUntilContext(ctx, n); err != nil {
		t.Fatalf("waiting for %d timers: %v", n, err)
	}
}

func TestTokenRefreshedBeforeExpiry(t *testing.T) {
	fc := clockwork.NewFakeClockAt(time.Now())
	ts := cloud.NewTestServer(t, cloud.WithClock(fc), cloud.WithTokenTTL(time.Minute))
	cfg := cloudConfig(t, ts)
	cfg.HeartbeatInterval = 10 * time.Minute
	r := mustAgent(t, cfg, WithClock(fc))
	ctx := context.Background()
	if _, err := r.link.Link(ctx, adminLogin); err != nil {
		t.Fatal(err)
	}
	waitTimers(t, fc, 1) // the keep-alive loop waits, holding a token
	s := r.link.Current()
	tok0, at0 := s.TokenInfo()
	if tok0 == "" {
		t.Fatal("no token after the first heartbeat")
	}
	if got := s.RefreshAt().Sub(at0); got != 48*time.Second {
		t.Errorf("refresh planned %v after the grant, want 48s (80%% of 60s)", got)
	}
	prev := tok0
	for i := 0; i < 3; i++ {
		fc.Advance(48 * time.Second)
		// The cloud shares the fake clock and may hold timers of its own,
		// so the refresh is awaited by its effect, not by a timer count.
		var tok string
		var at time.Time
		eventually(t, fmt.Sprintf("round %d's refresh", i), func() bool {
			tok, at = s.TokenInfo()
			return tok != prev
		})
		if !at.Equal(fc.Now()) {
			t.Fatalf("round %d: token refreshed at %s, not at 80%% of its lifetime (%s)", i, at, fc.Now())
		}
		waitTimers(t, fc, 1) // the loop waits again before the next round
		prev = tok
	}
	// The first token has expired by now; the current one works.
	if _, err := s.Cloud().Self(ctx, tok0); err == nil {
		t.Error("the cloud still accepts the first token")
	}
	if _, err := s.Cloud().Self(ctx, prev); err != nil {
		t.Errorf("the refreshed token is refused: %v", err)
	}
	if w := r.Status(ctx).Warnings; len(w) != 0 {
		t.Errorf("warnings: %+v", w)
	}
}

func TestRevokedSystemIsNoticed(t *testing.T) {
	fc := clockwork.NewFakeClockAt(time.Now())
	ts := cloud.NewTestServer(t, cloud.WithClock(fc))
	cfg := cloudConfig(t, ts)
	r := mustAgent(t, cfg, WithClock(fc))
	ctx := context.Background()
	st, err := r.link.Link(ctx, adminLogin)
	if err != nil {
		t.Fatal(err)
	}
	waitTimers(t, fc, 1)
	if err := ts.RevokeSystem(st.SystemID, "boss@demo.test"); err != nil {
		t.Fatal(err)
	}
	fc.Advance(cfg.HeartbeatInterval)
	eventually(t, "the revocation is noticed", func() bool { return r.Status(ctx).State == api.StateUnlinked })
	st = r.Status(ctx)
	if st.Linked || !strings.Contains(st.Reason, "boss@demo.test") || !strings.Contains(st.Reason, "removed") || st.SystemID != "" || st.PendingRevocation {
		t.Errorf("status after revocation: %+v", st)
	}
	p := readState(t, cfg)
	if p.Link != nil || p.Reason != st.Reason {
		t.Errorf("state on disk: %+v", p)
	}
	// The reason survives a restart and goes with the next link.
	r.stop()
	r2 := mustAgent(t, cfg, WithClock(fc))
	if got := r2.Status(ctx); got.State != api.StateUnlinked || got.Reason != st.Reason {
		t.Errorf("after restart: %+v", got)
	}
	st2, err := r2.link.Link(ctx, adminLogin)
	if err != nil {
		t.Fatal(err)
	}
	if st2.Reason != "" || !st2.Linked {
		t.Errorf("after relink: %+v", st2)
	}
}

func TestCloudOutageIsAWarningAndRecovers(t *testing.T) {
	fc := clockwork.NewFakeClockAt(time.Now())
	ts := cloud.NewTestServer(t, cloud.WithClock(fc))
	cfg := cloudConfig(t, ts)
	r := mustAgent(t, cfg, WithClock(fc))
	ctx := context.Background()
	if _, err := r.link.Link(ctx, adminLogin); err != nil {
		t.Fatal(err)
	}
	waitTimers(t, fc, 1)
	ts.Stop()
	fc.Advance(cfg.HeartbeatInterval)
	waitTimers(t, fc, 1) // the failed heartbeat set a backoff timer
	st := r.Status(ctx)
	if !st.Linked || len(st.Warnings) != 1 || st.Warnings[0].Code != link.WarnCloudUnreachable || !strings.Contains(st.Warnings[0].Text, ts.URL) {
		t.Fatalf("status during the outage: %+v", st)
	}
	ts.Start()
	fc.Advance(6 * time.Minute) // past the longest backoff
	eventually(t, "the warning clears", func() bool { return len(r.Status(ctx).Warnings) == 0 })
	if !r.Status(ctx).Linked {
		t.Error("unlinked by an outage")
	}
}

func TestUnlinkWithCloudDownRetriesRevocation(t *testing.T) {
	fc := clockwork.NewFakeClockAt(time.Now())
	ts := cloud.NewTestServer(t, cloud.WithClock(fc))
	cfg := cloudConfig(t, ts)
	r := mustAgent(t, cfg, WithClock(fc))
	ctx := context.Background()
	st, err := r.link.Link(ctx, adminLogin)
	if err != nil {
		t.Fatal(err)
	}
	systemID := st.SystemID
	ts.Stop()
	st, err = r.link.Unlink(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Linked || st.State != api.StateUnlinked || !st.PendingRevocation {
		t.Fatalf("after unlink with the cloud down: %+v", st)
	}
	if len(st.Warnings) != 1 || st.Warnings[0].Code != link.WarnRevocationPending || !strings.Contains(st.Warnings[0].Text, systemID) {
		t.Errorf("warnings: %+v", st.Warnings)
	}
	if p := readState(t, cfg); p.Link != nil || len(p.PendingRevocations) != 1 || p.PendingRevocations[0].SystemID != systemID {
		t.Errorf("state on disk: %+v", p)
	}
	waitTimers(t, fc, 1) // the revocation loop waits to retry
	fc.Advance(10 * time.Minute)
	waitTimers(t, fc, 1) // retried, failed again, waits again
	if !r.Status(ctx).PendingRevocation {
		t.Fatal("revocation confirmed while the cloud is down")
	}
	ts.Start()
	fc.Advance(10 * time.Minute) // the backoff is capped at 10 minutes
	eventually(t, "the revocation is confirmed", func() bool { return !r.Status(ctx).PendingRevocation })
	if sys, _ := ts.System(systemID); !sys.Revoked() {
		t.Error("the cloud still has the system")
	}
	assertUnlinkedOnDisk(t, cfg)
	if w := r.Status(ctx).Warnings; len(w) != 0 {
		t.Errorf("warnings: %+v", w)
	}
}

func TestPendingRevocationSurvivesRestart(t *testing.T) {
	ts := cloud.NewTestServer(t)
	cfg := cloudConfig(t, ts)
	r := mustAgent(t, cfg)
	ctx := context.Background()
	st, err := r.link.Link(ctx, adminLogin)
	if err != nil {
		t.Fatal(err)
	}
	ts.Stop()
	if st, err := r.link.Unlink(ctx); err != nil || !st.PendingRevocation {
		t.Fatalf("unlink: %+v %v", st, err)
	}
	r.stop()
	ts.Start()
	r2 := mustAgent(t, cfg)
	eventually(t, "the revocation is confirmed after restart", func() bool { return !r2.Status(ctx).PendingRevocation })
	if sys, _ := ts.System(st.SystemID); !sys.Revoked() {
		t.Error("the cloud still has the system")
	}
}

func TestRelinkClonedHostGetsOwnIdentity(t *testing.T) {
	ts := cloud.NewTestServer(t)
	cfg := cloudConfig(t, ts)
	r := mustAgent(t, cfg)
	ctx := context.Background()
	orig, err := r.link.Link(ctx, adminLogin)
	if err != nil {
		t.Fatal(err)
	}
	origID := readState(t, cfg).InstallationID
	r.stop()

	writeFile(t, cfg.MachineIDFile, "fedcba9876543210fedcba9876543210\n") // the clone
	r2 := mustAgent(t, cfg)
	if st := r2.Status(ctx); st.State != api.StateLinkError || st.Reason != link.CloneReason {
		t.Fatalf("clone status: %+v", st)
	}
	st, err := r2.link.Link(ctx, adminLogin)
	if err != nil {
		t.Fatalf("linking from link_error: %v", err)
	}
	if st.SystemID == orig.SystemID {
		t.Error("the clone took over the original host's system")
	}
	if p := readState(t, cfg); p.InstallationID == origID || p.Link.InstallationID == origID {
		t.Error("the clone kept the original installation ID")
	}
	if sys, _ := ts.System(orig.SystemID); sys.Revoked() {
		t.Error("the original host's system was revoked")
	}
}

// recorder is a Subsystem that notes when it runs.
type recorder struct {
	mu      sync.Mutex
	running bool
	starts  int
}

func (*recorder) Name() string { return "recorder" }

func (r *recorder) RunLinked(ctx context.Context, s *link.Session) error {
	r.mu.Lock()
	r.running = true
	r.starts++
	r.mu.Unlock()
	<-ctx.Done()
	r.mu.Lock()
	r.running = false
	r.mu.Unlock()
	return nil
}

func (r *recorder) state() (bool, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.running, r.starts
}

func TestSubsystemsRunWhileLinked(t *testing.T) {
	ts := cloud.NewTestServer(t)
	cfg := cloudConfig(t, ts)
	rec := &recorder{}
	r := mustAgent(t, cfg, WithSubsystem(rec))
	ctx := context.Background()
	if running, _ := rec.state(); running {
		t.Fatal("runs while unlinked")
	}
	if _, err := r.link.Link(ctx, adminLogin); err != nil {
		t.Fatal(err)
	}
	// The session starts its subsystems in their own goroutines once the
	// link is made; the unlink below, in contrast, waits for them to stop.
	eventually(t, "the subsystem runs after the link", func() bool { running, _ := rec.state(); return running })
	if _, n := rec.state(); n != 1 {
		t.Fatalf("after link: the subsystem started %d times, want 1", n)
	}
	if _, err := r.link.Unlink(ctx); err != nil {
		t.Fatal(err)
	}
	if running, _ := rec.state(); running {
		t.Fatal("still running after unlink")
	}
}
