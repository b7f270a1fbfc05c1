package cloud

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/jonboulle/clockwork"
	"golang.org/x/crypto/bcrypt"

	"github.com/cloudlink/cld/cloud/pki"
)

// Config configures a Server. Start from DefaultConfig.
type Config struct {
	// DataDir holds the database, the CA and the server certificate.
	DataDir string
	// Listen is the address ListenAndServe listens on (host:port).
	Listen string
	// Hostnames are added to the server certificate besides localhost,
	// 127.0.0.1 and ::1.
	Hostnames []string

	// EdgeListen is the address of the tunnel edge's public HTTPS listener
	// (host:port), where https://<uuid>.<region>.<EdgeDomain> is served.
	// Empty: no public listener (public URLs are then not reported).
	EdgeListen string
	// PublicURL is the cloud's base URL as browsers reach it (such as
	// https://cloud.example.com); the tunnel edge sends browsers to its
	// portal to sign in. Empty: https://<the address it listens on>.
	PublicURL string
	// EdgeDomain is the DNS domain of public tunnel host names. The
	// default, edge.localhost, resolves to the loopback address in
	// browsers and curl without any DNS set-up.
	EdgeDomain string

	// AccessTokenTTL is the lifetime of access tokens.
	AccessTokenTTL time.Duration
	// RefreshTokenTTL is the lifetime of refresh tokens (each rotation
	// starts a new one).
	RefreshTokenTTL time.Duration
	// CodeTTL is the lifetime of an authorization code.
	CodeTTL time.Duration
	// PendingTTL is how long a verified sign-in waits for its account number.
	PendingTTL time.Duration
	// SessionTTL is the lifetime of a portal session.
	SessionTTL time.Duration
	// ShutdownTimeout bounds the graceful shutdown of Serve.
	ShutdownTimeout time.Duration

	// BcryptCost is the cost of new password hashes.
	BcryptCost int

	// Clock decides every expiry (tokens, codes, sessions). Certificates
	// are always issued with the real time, which TLS checks.
	Clock clockwork.Clock
	// ClockOffset sets the cloud's clock off from Clock (positive: ahead),
	// so that clock drift can be demonstrated: every expiry, the time
	// endpoint and every response's Date follow Clock plus the offset. New
	// stores it, replacing the stored one; Server.SetClockOffset and the
	// store's setting (cld-cloud clock offset) change it while serving.
	ClockOffset time.Duration
	// Logger receives the server's logs; it gets a component attribute.
	Logger *slog.Logger
}

// Defaults.
const (
	DefaultListen          = "127.0.0.1:8443"
	DefaultEdgeListen      = "127.0.0.1:8444"
	DefaultEdgeDomain      = "edge.localhost"
	DefaultAccessTokenTTL  = time.Hour
	DefaultRefreshTokenTTL = 30 * 24 * time.Hour
	DefaultCodeTTL         = 60 * time.Second
	DefaultPendingTTL      = 10 * time.Minute
	DefaultSessionTTL      = 12 * time.Hour
)

// DefaultConfig returns the defaults; DataDir must still be set.
func DefaultConfig() Config {
	return Config{
		Listen:          DefaultListen,
		EdgeListen:      DefaultEdgeListen,
		EdgeDomain:      DefaultEdgeDomain,
		AccessTokenTTL:  DefaultAccessTokenTTL,
		RefreshTokenTTL: DefaultRefreshTokenTTL,
		CodeTTL:         DefaultCodeTTL,
		PendingTTL:      DefaultPendingTTL,
		SessionTTL:      DefaultSessionTTL,
		ShutdownTimeout: 10 * time.Second,
		BcryptCost:      bcrypt.DefaultCost,
		Clock:           clockwork.NewRealClock(),
		Logger:          slog.Default(),
	}
}

// Validate reports the first problem with the configuration, as a sentence
// that names the setting.
func (c Config) Validate() error {
	var errs []error
	if c.DataDir == "" {
		errs = append(errs, errors.New("no data directory: set the data directory (--data DIR)"))
	}
	if c.Listen != "" {
		if _, _, err := net.SplitHostPort(c.Listen); err != nil {
			errs = append(errs, fmt.Errorf("listen address %q is not HOST:PORT (for example 127.0.0.1:8443): %w", c.Listen, err))
		}
	}
	if c.EdgeListen != "" {
		if _, _, err := net.SplitHostPort(c.EdgeListen); err != nil {
			errs = append(errs, fmt.Errorf("tunnel edge listen address %q is not HOST:PORT (for example 127.0.0.1:8444): %w", c.EdgeListen, err))
		} else if c.Listen != "" && c.EdgeListen == c.Listen && !strings.HasSuffix(c.Listen, ":0") {
			errs = append(errs, fmt.Errorf("the tunnel edge listen address %s is the cloud's own listen address: give the edge another port", c.EdgeListen))
		}
	}
	if c.PublicURL != "" {
		if u, err := url.Parse(c.PublicURL); err != nil || u.Scheme != "https" || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.User != nil {
			errs = append(errs, fmt.Errorf("public URL %q must be an https URL without a path, such as https://cloud.example.com", c.PublicURL))
		}
	}
	if err := validEdgeDomain(c.EdgeDomain); err != nil {
		errs = append(errs, err)
	}
	if _, err := pki.NormalizeHosts(c.Hostnames); err != nil {
		errs = append(errs, fmt.Errorf("host names: %w", err))
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"access token lifetime", c.AccessTokenTTL},
		{"refresh token lifetime", c.RefreshTokenTTL},
		{"authorization code lifetime", c.CodeTTL},
		{"pending sign-in lifetime", c.PendingTTL},
		{"session lifetime", c.SessionTTL},
	} {
		if d.v <= 0 {
			errs = append(errs, fmt.Errorf("the %s must be positive, not %s", d.name, d.v))
		}
	}
	if c.AccessTokenTTL > 0 && c.AccessTokenTTL < time.Second {
		errs = append(errs, fmt.Errorf("the access token lifetime %s is shorter than a second", c.AccessTokenTTL))
	}
	if c.AccessTokenTTL > c.RefreshTokenTTL {
		errs = append(errs, fmt.Errorf("the access token lifetime (%s) must not exceed the refresh token lifetime (%s)", c.AccessTokenTTL, c.RefreshTokenTTL))
	}
	if c.BcryptCost < bcrypt.MinCost || c.BcryptCost > bcrypt.MaxCost {
		errs = append(errs, fmt.Errorf("bcrypt cost %d is outside %d..%d", c.BcryptCost, bcrypt.MinCost, bcrypt.MaxCost))
	}
	if err := ValidateClockOffset(c.ClockOffset); err != nil {
		errs = append(errs, err)
	}
	if c.Clock == nil {
		errs = append(errs, errors.New("no clock set"))
	}
	if c.Logger == nil {
		errs = append(errs, errors.New("no logger set"))
	}
	return errors.Join(errs...)
}

// maxEdgeDomainLen leaves room for "<uuid>.<region>." (36+1+32+1) within
// the 253 characters of a DNS name.
const maxEdgeDomainLen = 180

// validEdgeDomain checks the tunnel edge's domain.
func validEdgeDomain(d string) error {
	switch {
	case d == "":
		return errors.New("no tunnel edge domain set: set it (--edge-domain, for example edge.localhost)")
	case d != strings.ToLower(strings.TrimSpace(d)):
		return fmt.Errorf("tunnel edge domain %q must be lower case without spaces", d)
	case len(d) > maxEdgeDomainLen:
		return fmt.Errorf("tunnel edge domain %q is longer than %d characters", d, maxEdgeDomainLen)
	case net.ParseIP(d) != nil:
		return fmt.Errorf("tunnel edge domain %q is an IP address: give a DNS domain such as edge.localhost", d)
	case strings.Contains(d, "*"):
		return fmt.Errorf("tunnel edge domain %q must not hold a wildcard: give the domain, such as edge.localhost", d)
	}
	if _, err := pki.NormalizeHosts([]string{d}); err != nil {
		return fmt.Errorf("tunnel edge domain %q is not a valid DNS name (letters, digits, dashes and dots)", d)
	}
	return nil
}
