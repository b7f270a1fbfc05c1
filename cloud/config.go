package cloud

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
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
	// Logger receives the server's logs; it gets a component attribute.
	Logger *slog.Logger
}

// Defaults.
const (
	DefaultListen          = "127.0.0.1:8443"
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
	if c.Clock == nil {
		errs = append(errs, errors.New("no clock set"))
	}
	if c.Logger == nil {
		errs = append(errs, errors.New("no logger set"))
	}
	return errors.Join(errs...)
}
