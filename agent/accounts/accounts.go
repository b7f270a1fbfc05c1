// Package accounts keeps the dashboard's local accounts: bcrypt hashes in a
// 0600 file of the state directory, the account "admin" with a generated
// password at first start, and the sign-in check (also the local API's over
// TCP). It serves the routes that set an account and check a sign-in.
package accounts

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"sync"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/cloudlink/cld/agent/api"
	"github.com/cloudlink/cld/agent/localapi"
	"github.com/cloudlink/cld/agent/lockout"
	"github.com/cloudlink/cld/agent/state"
	"github.com/cloudlink/cld/atomicfile"
)

// Files of the accounts in the state directory.
const (
	// UsersFile holds the dashboard accounts (bcrypt hashes).
	UsersFile = "dashboard-users.json"
	// InitialPasswordFile holds the generated password of the first
	// dashboard account "admin".
	InitialPasswordFile = "dashboard-initial-password"
)

// InitialUser is the account made at first start.
const InitialUser = "admin"

// validUsername says whether name is a dashboard user name: 1–64 letters,
// digits and . _ @ + -, starting with a letter or digit (the regexp
// ^[A-Za-z0-9][A-Za-z0-9._@+-]{0,63}$, checked by hand: compiled, that
// regexp alone took some 60 KB of the daemon's heap for its whole life).
func validUsername(name string) bool {
	if len(name) == 0 || len(name) > 64 {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case i > 0 && (c == '.' || c == '_' || c == '@' || c == '+' || c == '-'):
		default:
			return false
		}
	}
	return true
}

// Store holds the dashboard's local accounts (bcrypt hashes in a 0600 file).
type Store struct {
	dir   string
	log   *slog.Logger
	mu    sync.Mutex
	users map[string]string // name → bcrypt hash
	cost  int
	dummy func() []byte // hash compared against for unknown names (even timing)
	now   func() time.Time
	// limits count wrong passwords by user name (unknown names share
	// one), so that guessing is locked out.
	limits map[string]*lockout.Limiter
}

// maxLimits bounds the user names whose failures are counted.
const maxLimits = 256

// limiter is the lockout of a user name (d.mu held).
func (d *Store) limiter(name string) *lockout.Limiter {
	if _, ok := d.users[name]; !ok {
		name = "\x00unknown"
	}
	l, ok := d.limits[name]
	if !ok {
		if len(d.limits) >= maxLimits {
			clear(d.limits)
		}
		l = &lockout.Limiter{}
		d.limits[name] = l
	}
	return l
}

type dashUsersFile struct {
	Users []dashUserRecord `json:"users"`
}

type dashUserRecord struct {
	Username     string `json:"username"`
	PasswordHash string `json:"password_hash"`
}

// Open reads the accounts in dir, making the account "admin" when there are
// none; a corrupt file is moved aside (and a new admin made). cost is
// bcrypt's; now stamps the name of a file moved aside.
func Open(dir string, log *slog.Logger, now func() time.Time, cost int) (*Store, error) {
	d := &Store{dir: dir, log: log.With("component", "dashboard-users"), users: map[string]string{}, cost: cost, now: now, limits: map[string]*lockout.Limiter{}}
	d.dummy = sync.OnceValue(func() []byte {
		h, _ := bcrypt.GenerateFromPassword([]byte("not a password"), d.cost)
		return h
	})
	path := filepath.Join(dir, UsersFile)
	data, err := os.ReadFile(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		if err := d.createInitial(); err != nil {
			return nil, err
		}
	case err != nil:
		return nil, fmt.Errorf("reading %s: %w; check that cld runs as root", path, err)
	default:
		if perr := d.parse(data); perr != nil {
			to, qerr := atomicfile.Quarantine(path, now())
			if qerr != nil {
				return nil, fmt.Errorf("%s is corrupt (%w) and could not be moved aside (%w); move it away by hand and start again", path, perr, qerr)
			}
			d.log.Error("THE DASHBOARD ACCOUNTS FILE IS CORRUPT: moved it aside and made a new admin account", "file", path, "moved_to", to, "err", perr)
			d.users = map[string]string{}
			if err := d.createInitial(); err != nil {
				return nil, err
			}
		}
	}
	return d, nil
}

func (d *Store) parse(data []byte) error {
	var f dashUsersFile
	if err := json.Unmarshal(data, &f); err != nil {
		return fmt.Errorf("%w: %v", state.ErrCorrupt, err)
	}
	for i, u := range f.Users {
		if !validUsername(u.Username) {
			return fmt.Errorf("%w: user %d has an invalid name", state.ErrCorrupt, i)
		}
		if _, err := bcrypt.Cost([]byte(u.PasswordHash)); err != nil {
			return fmt.Errorf("%w: user %q has an invalid password hash", state.ErrCorrupt, u.Username)
		}
		d.users[u.Username] = u.PasswordHash
	}
	return nil
}

// createInitial makes the account "admin" with a random password written to
// InitialPasswordFile (0600); the log says where, never the password.
func (d *Store) createInitial() error {
	const alphabet = "abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
	b := make([]byte, 20)
	if _, err := rand.Read(b); err != nil {
		return err
	}
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	pw := string(b)
	pwPath := filepath.Join(d.dir, InitialPasswordFile)
	if err := atomicfile.Write(pwPath, []byte(pw+"\n"), 0o600); err != nil {
		return fmt.Errorf("writing the initial dashboard password: %w", err)
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(pw), d.cost)
	if err != nil {
		return err
	}
	d.users[InitialUser] = string(hash)
	if err := d.saveLocked(); err != nil {
		return err
	}
	d.log.Warn("created the dashboard account \"admin\"; its password is in the file named here (readable by root only); change it with `cld dashboard-user --username admin`", "password_file", pwPath)
	return nil
}

func (d *Store) saveLocked() error {
	var f dashUsersFile
	for name, h := range d.users {
		f.Users = append(f.Users, dashUserRecord{Username: name, PasswordHash: h})
	}
	data, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return err
	}
	if err := atomicfile.Write(filepath.Join(d.dir, UsersFile), append(data, '\n'), 0o600); err != nil {
		return fmt.Errorf("saving the dashboard accounts: %w", err)
	}
	return nil
}

// Routes registers the account routes on the local API.
func (d *Store) Routes(rt *localapi.Router) {
	localapi.Post(rt, api.RouteDashboardUser, func(ctx context.Context, u api.DashboardUser) (any, error) { return nil, d.Set(ctx, u) })
	localapi.Post(rt, api.RouteDashboardLogin, func(ctx context.Context, l api.DashboardLogin) (any, error) { return nil, d.Login(ctx, l) })
}

// Set creates or changes a dashboard account.
func (d *Store) Set(_ context.Context, u api.DashboardUser) error {
	if !validUsername(u.Username) {
		return api.Errorf(api.CodeBadRequest, "The user name %q is not valid: use 1–64 letters, digits and . _ @ + - (starting with a letter or digit).", u.Username)
	}
	if len(u.Password) < 8 {
		return api.Errorf(api.CodeBadRequest, "The password is too short: use at least 8 characters.")
	}
	if len(u.Password) > 72 {
		return api.Errorf(api.CodeBadRequest, "The password is too long: use at most 72 bytes.")
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(u.Password), d.cost)
	if err != nil {
		return fmt.Errorf("hashing the password: %w", err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	old, had := d.users[u.Username]
	d.users[u.Username] = string(hash)
	if err := d.saveLocked(); err != nil {
		if had {
			d.users[u.Username] = old
		} else {
			delete(d.users, u.Username)
		}
		return api.Errorf(api.CodeInternal, "Could not save the dashboard account (%v); check that %s is writable and not full.", err, d.dir)
	}
	if u.Username == InitialUser {
		// The generated password is no longer valid: don't leave it lying around.
		if err := atomicfile.Remove(filepath.Join(d.dir, InitialPasswordFile)); err != nil {
			d.log.Warn("could not remove the initial password file", "err", err)
		}
	}
	d.log.Info("dashboard account set", "username", u.Username, "new", !had)
	return nil
}

// Login checks a dashboard sign-in; a wrong name or password is an
// *api.Error with code unauthorized.
func (d *Store) Login(_ context.Context, l api.DashboardLogin) error {
	now := d.now()
	d.mu.Lock()
	hash, ok := d.users[l.Username]
	lim := d.limiter(l.Username)
	d.mu.Unlock()
	if wait := lim.Wait(now); wait > 0 {
		return api.Errorf(api.CodeRateLimited, "Too many wrong passwords for this user; try again in %d s.", int(math.Ceil(wait.Seconds())))
	}
	if !ok {
		_ = bcrypt.CompareHashAndPassword(d.dummy(), []byte(l.Password))
	}
	if ok && bcrypt.CompareHashAndPassword([]byte(hash), []byte(l.Password)) == nil {
		lim.Succeeded()
		return nil
	}
	lim.Failed(now)
	d.log.Warn("dashboard sign-in refused: wrong user name or password", "username", l.Username)
	return api.Errorf(api.CodeUnauthorized, "The user name or password is wrong.")
}
