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
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/cloudlink/cld/agent/api"
	"github.com/cloudlink/cld/agent/health"
	"github.com/cloudlink/cld/agent/localapi"
	"github.com/cloudlink/cld/agent/state"
	"github.com/cloudlink/cld/atomicfile"
	"github.com/cloudlink/cld/lockout"
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
	limits *lockout.Table
	// clients count wrong passwords by the address a sign-in came from
	// (lockout.ClientKey), whatever the user name, so that one client
	// cannot spread its guesses over many names.
	clients *lockout.Table
	// checks runs at most MaxChecks password checks (bcrypt) at once,
	// with at most MaxWaiting sign-ins waiting for one.
	checks *lockout.Gate
	// compare is bcrypt's check; timer starts the wait for a slot (both
	// replaced by tests).
	compare func(hash, password []byte) error
	timer   lockout.Timer
	// refused are the recent refused sign-ins (at most maxRefused, none
	// older than BurstWindow), for the warning of a burst; health is the
	// registry it is raised in (nil: none).
	refusedMu sync.Mutex
	refused   []refusal
	health    *health.Registry
}

// refusal is one refused sign-in: when and from which client
// (lockout.ClientKey).
type refusal struct {
	at     time.Time
	client string
}

// The warning of a burst of refused sign-ins.
const (
	WarnBurst = "auth_failures_burst"
	// BurstFailures is the number of refused sign-ins (wrong passwords,
	// lockouts, no free check) within BurstWindow above which the warning
	// is raised; it is cleared once the window holds no more.
	BurstFailures = 20
	BurstWindow   = time.Minute
	maxRefused    = 1024
	// burstClients is how many clients the warning names.
	burstClients = 5
)

var defBurst = health.Declare(health.Def{Code: WarnBurst, Severity: api.SeverityWarning, Title: "Many wrong passwords",
	Text:   "{count} sign-ins to the dashboard or the local API were refused in the last minute, from {clients}.",
	Remedy: "If these are not your own users, someone is guessing passwords: the daemon already slows them down (lockouts per user and per address). Block the addresses at the host's firewall and keep the dashboard off untrusted networks."})

// WatchBursts raises the warning of a burst of refused sign-ins in reg
// (and clears it, also as a probe, when the burst has passed).
func (d *Store) WatchBursts(reg *health.Registry) {
	d.refusedMu.Lock()
	d.health = reg
	d.refusedMu.Unlock()
	reg.AddProbe(func() { d.checkBurst(d.now(), false) })
}

// checkBurst forgets refusals older than BurstWindow, records one from
// client when add, and sets or clears the warning.
func (d *Store) checkBurst(now time.Time, add bool, client ...string) {
	d.refusedMu.Lock()
	keep := d.refused[:0]
	for _, f := range d.refused {
		if now.Sub(f.at) < BurstWindow {
			keep = append(keep, f)
		}
	}
	d.refused = keep
	if add {
		if len(d.refused) >= maxRefused {
			d.refused = append(d.refused[:0], d.refused[1:]...)
		}
		d.refused = append(d.refused, refusal{at: now, client: client[0]})
	}
	reg, n := d.health, len(d.refused)
	var clients string
	if n > BurstFailures {
		clients = burstClientList(d.refused)
	}
	d.refusedMu.Unlock()
	if reg == nil {
		return
	}
	reg.Update(n > BurstFailures, defBurst.Say("count", n, "clients", clients))
}

// burstClientList names the clients of rs, those with the most refusals
// first (at most burstClients, then how many more).
func burstClientList(rs []refusal) string {
	counts := map[string]int{}
	for _, r := range rs {
		c := r.client
		if c == "" {
			c = "this host (the CLI)"
		}
		counts[c]++
	}
	names := slices.Collect(maps.Keys(counts))
	slices.SortFunc(names, func(a, b string) int {
		if counts[a] != counts[b] {
			return counts[b] - counts[a]
		}
		return strings.Compare(a, b)
	})
	var parts []string
	for i, c := range names {
		if i == burstClients {
			parts = append(parts, fmt.Sprintf("%d more", len(names)-burstClients))
			break
		}
		parts = append(parts, fmt.Sprintf("%s (%d)", c, counts[c]))
	}
	return strings.Join(parts, ", ")
}

// maxLimits bounds the user names whose failures are counted, maxClients
// the clients (a full table drops its idle ones for a new key, else all).
const (
	maxLimits  = 256
	maxClients = 4096
)

// Limits of the password checks.
const (
	// ClientAllowed is the number of wrong passwords within
	// lockout.Window from one client, over all user names, that lock the
	// client out (lockout's lockouts, doubling).
	ClientAllowed = 10
	// MaxChecks is the number of password checks (bcrypt, some 50–100 ms
	// of a core each at the default cost) run at once.
	MaxChecks = 2
	// SlotWait is how long a sign-in waits for a check's slot before it
	// is refused (429, Retry-After: 1), and MaxWaiting how many may wait
	// at once (others are refused at once): no queue grows without bound.
	SlotWait   = 500 * time.Millisecond
	MaxWaiting = 8
)

// clientLimiter is the lockout of a client at now; nil for none (the
// CLI, in-process calls without an address).
func (d *Store) clientLimiter(key string, now time.Time) *lockout.Limiter {
	if key == "" {
		return nil
	}
	return d.clients.Get(key, now)
}

// limiter is the lockout of a user name at now (d.mu held, for the
// names).
func (d *Store) limiter(name string, now time.Time) *lockout.Limiter {
	if _, ok := d.users[name]; !ok {
		name = "\x00unknown"
	}
	return d.limits.Get(name, now)
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
	d := &Store{dir: dir, log: log.With("component", "dashboard-users"), users: map[string]string{}, cost: cost, now: now,
		limits: lockout.NewTable(maxLimits, 0), clients: lockout.NewTable(maxClients, ClientAllowed),
		checks: lockout.NewGate(MaxChecks, MaxWaiting), compare: bcrypt.CompareHashAndPassword, timer: lockout.NewTimer}
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
// *api.Error with code unauthorized. Before the password is checked, a
// user name or client (l.Client) locked out by earlier wrong passwords is
// refused with code rate_limited and RetryAfter, and so is a sign-in that
// finds no free check (MaxChecks) within SlotWait.
func (d *Store) Login(ctx context.Context, l api.DashboardLogin) error {
	now := d.now()
	client := lockout.ClientKey(l.Client)
	err := d.login(ctx, now, client, l)
	if err != nil {
		d.checkBurst(now, true, client)
	}
	return err
}

func (d *Store) login(ctx context.Context, now time.Time, client string, l api.DashboardLogin) error {
	d.mu.Lock()
	hash, ok := d.users[l.Username]
	lim := d.limiter(l.Username, now)
	clim := d.clientLimiter(client, now)
	d.mu.Unlock()
	if clim != nil {
		if wait := clim.Wait(now); wait > 0 {
			return rateLimited("Too many wrong passwords from this address; try again in %d s.", wait)
		}
	}
	if wait := lim.Wait(now); wait > 0 {
		// A client that keeps trying a locked-out name (or names: unknown
		// ones share a lockout) is guessing: it counts against the client.
		if clim != nil {
			clim.Failed(now)
		}
		return rateLimited("Too many wrong passwords for this user; try again in %d s.", wait)
	}
	release, err := d.slot(ctx)
	if err != nil {
		return err
	}
	if !ok {
		_ = d.compare(d.dummy(), []byte(l.Password))
	}
	right := ok && d.compare([]byte(hash), []byte(l.Password)) == nil
	release()
	if right {
		lim.Succeeded()
		return nil
	}
	lim.Failed(now)
	if clim != nil {
		clim.Failed(now)
	}
	d.log.Warn("dashboard sign-in refused: wrong user name or password", "username", l.Username, "client", client)
	return api.Errorf(api.CodeUnauthorized, "The user name or password is wrong.")
}

// rateLimited is the refusal of a sign-in for wait (format has one %d, the
// seconds).
func rateLimited(format string, wait time.Duration) *api.Error {
	secs := max(1, int(math.Ceil(wait.Seconds())))
	return &api.Error{Code: api.CodeRateLimited, Message: fmt.Sprintf(format, secs), RetryAfter: secs}
}

// slot waits up to SlotWait for one of the MaxChecks slots of a password
// check and returns its release; a sign-in that finds none in time, or
// finds MaxWaiting others waiting already, or whose ctx is done, is
// refused (rate_limited).
func (d *Store) slot(ctx context.Context) (func(), error) {
	release, ok := d.checks.Enter(ctx, SlotWait, d.timer)
	if !ok {
		return nil, &api.Error{Code: api.CodeRateLimited, Message: "Too many sign-ins are being checked at once; try again in 1 s.", RetryAfter: 1}
	}
	return release, nil
}
