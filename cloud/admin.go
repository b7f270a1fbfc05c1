package cloud

import (
	"context"
	"errors"
	"fmt"
	"net/mail"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/crypto/bcrypt"

	"github.com/cloudlink/cld/cloud/store"
)

// Demo data seeded by SeedDemo (cld-cloud serve --demo).
const (
	DemoPartnerID         = "demo-partner"
	DemoRegion            = "eu"
	DemoAccountID         = 100001
	DemoAccountName       = "Demo Account"
	DemoSecondAccountID   = 100002
	DemoSecondAccountName = "Second Account"
	// DemoAdminEmail is ACCOUNT_ADMIN of both demo accounts.
	DemoAdminEmail = "admin@demo.test"
	// DemoUserEmail is a USER of the first demo account only.
	DemoUserEmail = "user@demo.test"
	// DemoPassword is both demo users' password.
	DemoPassword = "demo-password"
)

// Password limits. bcrypt reads at most 72 bytes.
const (
	MinPasswordLen = 8
	MaxPasswordLen = 72
)

var regionPattern = regexp.MustCompile(`^[a-z][a-z0-9-]{0,31}$`)

// ValidateAccount checks an account's fields as the CLI takes them.
func ValidateAccount(a store.Account) error {
	if a.ID <= 0 {
		return fmt.Errorf("the account number must be a positive number such as 100001, not %d", a.ID)
	}
	name := strings.TrimSpace(a.Name)
	if name == "" {
		return errors.New("the account needs a name")
	}
	if utf8.RuneCountInString(name) > 100 || !utf8.ValidString(name) || strings.ContainsFunc(name, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return errors.New("the account name must be at most 100 printable characters")
	}
	if !regionPattern.MatchString(a.Region) {
		return fmt.Errorf("the region %q must be a short lower-case code such as eu or us", a.Region)
	}
	if len(a.PartnerID) > 100 || strings.ContainsFunc(a.PartnerID, func(r rune) bool { return r <= 0x20 || r == 0x7f }) {
		return errors.New("the partner id must be at most 100 characters without spaces")
	}
	return nil
}

// NormalizeEmailAddress checks and lower-cases a bare e-mail address.
func NormalizeEmailAddress(email string) (string, error) {
	e := store.NormalizeEmail(email)
	addr, err := mail.ParseAddress(e)
	if err != nil || addr.Address != e || addr.Name != "" || len(e) > 254 {
		return "", fmt.Errorf("%q is not an e-mail address such as admin@example.com", email)
	}
	return e, nil
}

// ValidatePassword checks a new password's length.
func ValidatePassword(pw string) error {
	if len(pw) < MinPasswordLen {
		return fmt.Errorf("the password must have at least %d characters", MinPasswordLen)
	}
	if len(pw) > MaxPasswordLen {
		return fmt.Errorf("the password must have at most %d bytes", MaxPasswordLen)
	}
	return nil
}

// HashPassword checks and hashes a new password with bcrypt.
func HashPassword(pw string, cost int) ([]byte, error) {
	if err := ValidatePassword(pw); err != nil {
		return nil, err
	}
	h, err := bcrypt.GenerateFromPassword([]byte(pw), cost)
	if err != nil {
		return nil, fmt.Errorf("hash password: %w", err)
	}
	return h, nil
}

// AddUserResult tells what AddUser did.
type AddUserResult struct {
	User            store.User
	Created         bool // a new user
	PasswordChanged bool // an existing user got a new password
}

// AddUser creates the user (password needed) or, for an existing e-mail,
// keeps the password unless one is given; then gives the user the role in
// the account (RoleAccountAdmin when admin, else RoleUser).
func AddUser(ctx context.Context, st *store.Store, email, password string, accountID int64, admin bool, cost int, now time.Time) (AddUserResult, error) {
	email, err := NormalizeEmailAddress(email)
	if err != nil {
		return AddUserResult{}, err
	}
	if _, err := st.Account(ctx, accountID); errors.Is(err, store.ErrNotFound) {
		return AddUserResult{}, fmt.Errorf("there is no account %d: %w", accountID, err)
	} else if err != nil {
		return AddUserResult{}, err
	}
	var hash []byte
	if password != "" {
		if hash, err = HashPassword(password, cost); err != nil {
			return AddUserResult{}, err
		}
	} else if _, err := st.UserByEmail(ctx, email); errors.Is(err, store.ErrNotFound) {
		return AddUserResult{}, fmt.Errorf("%s is a new user and needs a password", email)
	} else if err != nil {
		return AddUserResult{}, err
	}
	u, created, err := st.UpsertUser(ctx, email, hash, now)
	if err != nil {
		return AddUserResult{}, err
	}
	role := store.RoleUser
	if admin {
		role = store.RoleAccountAdmin
	}
	if err := st.SetMembership(ctx, u.ID, accountID, role); err != nil {
		return AddUserResult{}, err
	}
	return AddUserResult{User: u, Created: created, PasswordChanged: !created && hash != nil}, nil
}

// SeedDemo adds the demo partner's accounts and users unless they exist.
// Existing users keep their passwords; the demo memberships are set.
func SeedDemo(ctx context.Context, st *store.Store, cost int, now time.Time) error {
	for _, a := range []store.Account{
		{ID: DemoAccountID, Name: DemoAccountName, Region: DemoRegion, PartnerID: DemoPartnerID},
		{ID: DemoSecondAccountID, Name: DemoSecondAccountName, Region: DemoRegion, PartnerID: DemoPartnerID},
	} {
		if _, err := st.EnsureAccount(ctx, a, now); err != nil {
			return fmt.Errorf("seed demo account %d: %w", a.ID, err)
		}
	}
	hash, err := HashPassword(DemoPassword, cost)
	if err != nil {
		return err
	}
	for _, m := range []struct {
		email   string
		account int64
		role    string
	}{
		{DemoAdminEmail, DemoAccountID, store.RoleAccountAdmin},
		{DemoAdminEmail, DemoSecondAccountID, store.RoleAccountAdmin},
		{DemoUserEmail, DemoAccountID, store.RoleUser},
	} {
		var u store.User
		u, err := st.UserByEmail(ctx, m.email)
		if errors.Is(err, store.ErrNotFound) {
			u, _, err = st.UpsertUser(ctx, m.email, hash, now)
		}
		if err != nil {
			return fmt.Errorf("seed demo user %s: %w", m.email, err)
		}
		if err := st.SetMembership(ctx, u.ID, m.account, m.role); err != nil {
			return fmt.Errorf("seed demo user %s: %w", m.email, err)
		}
	}
	return nil
}

// SeedDemo seeds the demo data into the server's store.
func (s *Server) SeedDemo(ctx context.Context) error {
	return SeedDemo(ctx, s.store, s.cfg.BcryptCost, s.now())
}
