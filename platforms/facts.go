package platforms

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Facts are what an adapter knows of its host beyond the tunnels: the
// host management UI's language, the host's own proxy setting and how the
// dashboard is embedded there. A Platform that knows them implements
// Facter.
type Facts struct {
	// Language is the host management UI's language as a BCP 47 tag
	// ("de", "en-US"); "" when the host does not say.
	Language string
	// Proxy is the HTTP proxy the host itself is configured with
	// (http://host:port, no credentials), "" for none; the daemon uses it
	// when its own config names none.
	Proxy string
	// Embedding is how the host's management UI shows the dashboard.
	Embedding Embedding
	// Source names the files the facts were read from, for `cld doctor`.
	Source []string
}

// Embedding is how the dashboard sits in the host's management UI.
type Embedding struct {
	// BasePath is where the host's web server serves the dashboard (e.g.
	// /server-manager/cloudlink on MSL, /cld on MX-ONE's SNM); "" when it
	// is served on its own address.
	BasePath string
	// Auth is how a user is authenticated: AuthProxy, AuthSession or
	// AuthLocal.
	Auth string
	// UserHeader names the header in which the host's reverse proxy
	// passes the signed-in user (AuthProxy).
	UserHeader string
	// SessionURL is the host's endpoint that checks a session cookie
	// (AuthSession); AdminRole the role it must report.
	SessionURL string
	AdminRole  string
	// Frame is true when the host shows the dashboard in a frame of its
	// own UI (the page then allows that frame ancestor).
	Frame bool
}

// Authentication modes of Embedding.Auth.
const (
	AuthProxy   = "proxy"   // the host's reverse proxy authenticates and forwards the user
	AuthSession = "session" // the host UI's session, checked at SessionURL
	AuthLocal   = "local"   // the daemon's own dashboard accounts
)

// Facter is implemented by a Platform that knows its Facts.
type Facter interface {
	Facts() Facts
}

// UnsupportedError is returned by Adapter.Detect on a host that is the
// adapter's platform but in a version the daemon does not support.
type UnsupportedError struct {
	Platform string // the product, e.g. "Mitel Standard Linux"
	Found    string // the version found
	Needed   string // what is supported, e.g. "11.0.110 or 12.1 and later"
}

func (e *UnsupportedError) Error() string {
	return fmt.Sprintf("%s %s is not supported: cld needs %s; upgrade the host, or set platform: generic in the config to run without this host's integration", e.Platform, e.Found, e.Needed)
}

// AtLeast reports whether version v is at least min, comparing their
// numbers in order (VersionParts: "10.1 SP1" is 10, 1, 1; a missing part
// is 0). A version without numbers is not at least anything.
func AtLeast(v, min string) bool {
	a, ok1 := VersionParts(v)
	b, ok2 := VersionParts(min)
	if !ok1 || !ok2 {
		return false
	}
	for i := 0; i < len(a) || i < len(b); i++ {
		var x, y int
		if i < len(a) {
			x = a[i]
		}
		if i < len(b) {
			y = b[i]
		}
		if x != y {
			return x > y
		}
	}
	return true
}

// VersionParts reads the numbers of a version in order: "11.0.110" is
// [11 0 110], "10.1 SP1" [10 1 1], "V10R3 FR33 HF3" [10 3 33 3],
// "8.2 SP2" [8 2 2]; false when it holds no number.
func VersionParts(v string) ([]int, bool) {
	var parts []int
	n, in := 0, false
	for _, r := range v + " " {
		if r >= '0' && r <= '9' {
			n, in = n*10+int(r-'0'), true
			continue
		}
		if in {
			parts = append(parts, n)
			n, in = 0, false
		}
	}
	return parts, len(parts) > 0
}

// ReadFile reads root/path (path absolute on the host, e.g.
// /etc/e-smith-release) trimmed; ErrNotDetected when it does not exist.
func ReadFile(root, path string) (string, error) {
	data, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(path)))
	if errors.Is(err, os.ErrNotExist) {
		return "", ErrNotDetected
	}
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(data)), nil
}

// ReadKeyValues reads a KEY=VALUE file (os-release, /etc/sysconfig style;
// quotes around values removed, # comments and blank lines skipped) under
// root; ErrNotDetected when it does not exist.
func ReadKeyValues(root, path string) (map[string]string, error) {
	text, err := ReadFile(root, path)
	if err != nil {
		return nil, err
	}
	kv := map[string]string{}
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		v = strings.TrimSpace(v)
		if len(v) >= 2 && (v[0] == '"' && v[len(v)-1] == '"' || v[0] == '\'' && v[len(v)-1] == '\'') {
			v = v[1 : len(v)-1]
		}
		kv[strings.TrimSpace(k)] = v
	}
	return kv, nil
}

// Notice is something about the host that the operator must know (the
// daemon raises it as a health warning), e.g. a second daemon configured
// for the same OpenScape Voice node.
type Notice struct {
	Code   string // a slug, e.g. osv-second-daemon
	Text   string // what is the case, naming what was found
	Remedy string // what to do
}

// Noticer is implemented by a Platform that has notices.
type Noticer interface {
	Notices() []Notice
}

// Registrar is implemented by a Platform that records which daemon serves
// it (an OpenScape Voice node takes one CloudLink connection): Register
// when a link session starts (an error when another daemon holds it),
// Unregister when the link ends.
type Registrar interface {
	Register(cloud string, now time.Time) error
	Unregister() error
}
