package provisioning

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"sync"

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
