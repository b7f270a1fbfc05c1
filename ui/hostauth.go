package ui

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// Authentication modes (Auth.Mode), as the platform adapters name them.
const (
	AuthLocal   = "local"   // the daemon's own accounts and sign-in page
	AuthProxy   = "proxy"   // the host's reverse proxy authenticates and passes the user
	AuthSession = "session" // the host UI's session, checked at the host's endpoint
)

// Defaults of the proxy mode's headers.
const (
	DefaultUserHeader   = "X-Remote-User"
	DefaultSecretHeader = "X-CLD-Proxy-Secret"
	// MinProxySecret is the shortest shared secret accepted.
	MinProxySecret = 16
)

// Auth is how the dashboard authenticates its users.
type Auth struct {
	// Mode is AuthLocal ("" too), AuthProxy or AuthSession.
	Mode string
	// Proxy mode: the user is in UserHeader of a request from a trusted
	// proxy (Config.TrustedProxies) that also carries Secret in
	// SecretHeader; anyone else's headers are refused.
	UserHeader, SecretHeader, Secret string
	// Session mode: the browser's cookies are passed to SessionURL (a GET
	// on the host's own auth endpoint), which answers 200 with
	// {"user": NAME, "roles": [ROLE, …]} for a valid session; AdminRole
	// must be among the roles. HTTPClient makes that request (TLS
	// verified; nil: a client with the system's roots).
	SessionURL string
	AdminRole  string
	HTTPClient *http.Client
}

// check validates the settings; the messages name the config key.
func (a *Auth) check() error {
	switch a.Mode {
	case "", AuthLocal:
		a.Mode = AuthLocal
	case AuthProxy:
		if a.UserHeader == "" {
			a.UserHeader = DefaultUserHeader
		}
		if a.SecretHeader == "" {
			a.SecretHeader = DefaultSecretHeader
		}
		if len(a.Secret) < MinProxySecret {
			return fmt.Errorf("ui: the proxy authentication needs a shared secret of at least %d characters (dashboard.auth.proxy_secret), which the host's proxy sends in %s", MinProxySecret, a.SecretHeader)
		}
		if http.CanonicalHeaderKey(a.UserHeader) == http.CanonicalHeaderKey(a.SecretHeader) {
			return errors.New("ui: the proxy's user header and secret header must differ")
		}
	case AuthSession:
		u, err := url.Parse(a.SessionURL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return fmt.Errorf("ui: the session authentication needs the host's session endpoint as an https:// URL (dashboard.auth.session_url), not %q", a.SessionURL)
		}
		if a.AdminRole == "" {
			return errors.New("ui: the session authentication needs the admin role the host must report (dashboard.auth.admin_role)")
		}
		if a.HTTPClient == nil {
			a.HTTPClient = &http.Client{Timeout: 5 * time.Second}
		}
	default:
		return fmt.Errorf("ui: authentication mode %q is not one of local, proxy, session", a.Mode)
	}
	return nil
}

// errHostAuth is why a request was not let in by the host's
// authentication; its text is for the log, not the browser.
type errHostAuth struct{ reason string }

func (e *errHostAuth) Error() string { return e.reason }

// hostUser is the user the host authenticated for r (proxy or session
// mode).
func (s *server) hostUser(r *http.Request) (string, error) {
	switch s.auth.Mode {
	case AuthProxy:
		if !s.isTrusted(r) {
			if r.Header.Get(s.auth.UserHeader) != "" {
				return "", &errHostAuth{"a user header from " + r.RemoteAddr + ", which is not a trusted proxy"}
			}
			return "", &errHostAuth{"not from the host's proxy (" + r.RemoteAddr + ")"}
		}
		if subtle.ConstantTimeCompare([]byte(r.Header.Get(s.auth.SecretHeader)), []byte(s.auth.Secret)) != 1 {
			return "", &errHostAuth{"from the proxy without its shared secret"}
		}
		user := strings.TrimSpace(r.Header.Get(s.auth.UserHeader))
		if !validHostUser(user) {
			return "", &errHostAuth{"from the proxy without a usable user in " + s.auth.UserHeader}
		}
		return user, nil
	case AuthSession:
		return s.hostSessions.check(r.Context(), s.auth, r.Header.Get("Cookie"), time.Now())
	}
	return "", &errHostAuth{"no host authentication"}
}

func validHostUser(u string) bool {
	if u == "" || len(u) > 128 || !utf8.ValidString(u) {
		return false
	}
	for _, c := range u {
		if c < ' ' || c == 0x7f {
			return false
		}
	}
	return true
}

// hostSessionCache remembers the host's answers for a while, so that the
// dashboard's live updates do not ask the host at every request.
type hostSessionCache struct {
	mu sync.Mutex
	m  map[[32]byte]hostAnswer
}

type hostAnswer struct {
	user    string
	err     error
	expires time.Time
}

const (
	hostSessionTTL     = 30 * time.Second
	hostSessionRefused = 5 * time.Second
	maxHostSessions    = 1000
)

// check asks the host's session endpoint about the browser's cookies.
func (c *hostSessionCache) check(ctx context.Context, a Auth, cookies string, now time.Time) (string, error) {
	if cookies == "" {
		return "", &errHostAuth{"no host session cookie"}
	}
	key := sha256.Sum256([]byte(cookies))
	c.mu.Lock()
	if c.m == nil {
		c.m = map[[32]byte]hostAnswer{}
	}
	if ans, ok := c.m[key]; ok && now.Before(ans.expires) {
		c.mu.Unlock()
		return ans.user, ans.err
	}
	c.mu.Unlock()
	user, err := askHost(ctx, a, cookies)
	ttl := hostSessionTTL
	if err != nil {
		ttl = hostSessionRefused
	}
	c.mu.Lock()
	if len(c.m) >= maxHostSessions {
		for k, v := range c.m {
			if !now.Before(v.expires) {
				delete(c.m, k)
			}
		}
		if len(c.m) >= maxHostSessions {
			clear(c.m)
		}
	}
	c.m[key] = hostAnswer{user: user, err: err, expires: now.Add(ttl)}
	c.mu.Unlock()
	return user, err
}

func askHost(ctx context.Context, a Auth, cookies string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, a.SessionURL, nil)
	if err != nil {
		return "", err
	}
	req.Header.Set("Cookie", cookies)
	req.Header.Set("Accept", "application/json")
	resp, err := a.HTTPClient.Do(req)
	if err != nil {
		return "", &errHostAuth{"the host's session endpoint did not answer: " + err.Error()}
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden {
		return "", &errHostAuth{"the host has no valid session for these cookies"}
	}
	if resp.StatusCode != http.StatusOK {
		return "", &errHostAuth{fmt.Sprintf("the host's session endpoint answered %d", resp.StatusCode)}
	}
	var ans struct {
		User  string   `json:"user"`
		Roles []string `json:"roles"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&ans); err != nil || !validHostUser(ans.User) {
		return "", &errHostAuth{"the host's session endpoint's answer is not {\"user\": …, \"roles\": […]}"}
	}
	if !slices.Contains(ans.Roles, a.AdminRole) {
		return "", &errHostAuth{fmt.Sprintf("the host's user %s lacks the role %s", ans.User, a.AdminRole)}
	}
	return ans.User, nil
}

// contentSecurityPolicy allows the dashboard's own scripts, styles and
// images only (no inline script), and frames by itself and ancestors
// (origins such as https://snm.example.com:443, for a host UI that shows
// the dashboard in a frame).
func contentSecurityPolicy(ancestors []string) (string, error) {
	fa := []string{"'self'"}
	for _, a := range ancestors {
		u, err := url.Parse(a)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || strings.ContainsAny(a, " ;,'") {
			return "", fmt.Errorf("ui: frame ancestor %q is not an origin such as https://snm.example.com (dashboard.frame_ancestors)", a)
		}
		fa = append(fa, u.Scheme+"://"+u.Host)
	}
	return "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors " + strings.Join(fa, " "), nil
}
