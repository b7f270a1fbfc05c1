package provisioning

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"sync"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/cloudlink/cld/atomicfile"
)

// credentialFile is the PM admin credential: the user name and a bcrypt
// hash of the password (mode 0600).
type credentialFile struct {
	Username string `json:"username"`
	Hash     string `json:"hash"`
}

var usernamePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._@+-]{0,63}$`)

// credential checks the PM admin user's HTTP Basic credentials. A
// verified password's SHA-256 is remembered so that PM's requests do not
// each pay for bcrypt; both the remembered digest and the user name are
// compared in constant time.
type credential struct {
	mu       sync.Mutex
	username string
	hash     []byte
	verified [32]byte // SHA-256 of the last password bcrypt accepted
	ok       bool
}

func loadCredential(path string) (*credential, error) {
	data, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return &credential{}, nil
	}
	if err != nil {
		return nil, err
	}
	var f credentialFile
	if err := json.Unmarshal(data, &f); err != nil || !usernamePattern.MatchString(f.Username) || f.Hash == "" {
		return nil, fmt.Errorf("%s does not hold a PM credential; set it again with `cld pm credential`", path)
	}
	return &credential{username: f.Username, hash: []byte(f.Hash)}, nil
}

// set replaces the credential and writes it to path.
func (c *credential) set(path, username, password string, cost int) error {
	if !usernamePattern.MatchString(username) {
		return fmt.Errorf("the user name %q is not valid: use 1–64 letters, digits and . _ @ + - (starting with a letter or digit)", username)
	}
	if len(password) < 8 || len(password) > 72 {
		return fmt.Errorf("the password must be 8 to 72 bytes long")
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(password), cost)
	if err != nil {
		return err
	}
	data, _ := json.Marshal(credentialFile{Username: username, Hash: string(hash)})
	if err := atomicfile.Write(path, data, 0o600); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.username, c.hash, c.ok = username, hash, false
	return nil
}

func (c *credential) configured() (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.username, len(c.hash) > 0
}

// check says whether username and password are the PM admin's.
func (c *credential) check(username, password string) bool {
	c.mu.Lock()
	name, hash, verified, ok := c.username, c.hash, c.verified, c.ok
	c.mu.Unlock()
	if len(hash) == 0 {
		return false
	}
	sum := sha256.Sum256([]byte(password))
	nameOK := subtle.ConstantTimeCompare([]byte(username), []byte(name)) == 1
	if ok && subtle.ConstantTimeCompare(sum[:], verified[:]) == 1 {
		return nameOK
	}
	if bcrypt.CompareHashAndPassword(hash, []byte(password)) != nil || !nameOK {
		return false
	}
	c.mu.Lock()
	if string(c.hash) == string(hash) {
		c.verified, c.ok = sum, true
	}
	c.mu.Unlock()
	return true
}

// Limits on wrong credentials: after maxFailures within failureWindow, the
// API refuses to check credentials for a lockout that doubles with each
// further lockout, up to maxLockout; a success resets it.
const (
	maxFailures   = 5
	failureWindow = time.Minute
	firstLockout  = time.Minute
	maxLockout    = 15 * time.Minute
)

// limiter counts wrong credentials. It is one for the whole API: PM's
// requests come through the host's web server, from one address.
type limiter struct {
	mu       sync.Mutex
	failures []time.Time
	until    time.Time
	lockout  time.Duration
}

// wait is how long credentials are not checked (0: they are).
func (l *limiter) wait(now time.Time) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Before(l.until) {
		return l.until.Sub(now)
	}
	return 0
}

// failed records a wrong credential.
func (l *limiter) failed(now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	keep := l.failures[:0]
	for _, t := range l.failures {
		if now.Sub(t) < failureWindow {
			keep = append(keep, t)
		}
	}
	l.failures = append(keep, now)
	if len(l.failures) >= maxFailures {
		switch {
		case l.lockout == 0:
			l.lockout = firstLockout
		case l.lockout < maxLockout:
			l.lockout = min(2*l.lockout, maxLockout)
		}
		l.until = now.Add(l.lockout)
		l.failures = l.failures[:0]
	}
}

// succeeded resets the count.
func (l *limiter) succeeded() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.failures, l.lockout, l.until = l.failures[:0], 0, time.Time{}
}
