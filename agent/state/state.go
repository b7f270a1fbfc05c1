// Package state owns the daemon's state directory: making it private (0700)
// and clean of interrupted writes, the lock that keeps a second daemon out,
// and the link file (installation identity, the link's device credentials
// and account facts, pending revocations), written atomically with 0600.
// It also reads the machine-id that tells a cloned host apart.
package state

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/cloudlink/cld/atomicfile"
	"github.com/cloudlink/cld/cloud/cloudapi"
)

// State file names inside the state directory.
const (
	// LinkFile holds the installation identity, the link (device
	// credentials and account facts) and pending revocations: one file, so
	// that a link or unlink is one atomic rename.
	LinkFile = "link.json"
	// LockFile is locked (flock) by the daemon that uses the directory.
	LockFile = "lock"
)

const stateFormat = 1

// ErrCorrupt is wrapped by errors about a state file that cannot be
// parsed or is inconsistent.
var ErrCorrupt = errors.New("corrupt state file")

// ErrNewer means the state was written by a newer cld.
var ErrNewer = errors.New("state written by a newer cld")

// State is the content of LinkFile.
type State struct {
	Format int `json:"format"`
	// InstallationID identifies this installation to the cloud (random
	// UUID made at first start; replaced when a cloned host re-links).
	InstallationID string `json:"installation_id"`
	// MachineIDHash is the salted machine-id hash when InstallationID was
	// made: a copied, unlinked state dir gets a fresh identity.
	MachineIDHash string `json:"machine_id_hash"`
	// Link is nil when unlinked.
	Link *Link `json:"link,omitempty"`
	// PendingRevocations are device credentials still to revoke in the
	// cloud after an unlink that could not reach it.
	PendingRevocations []Revocation `json:"pending_revocations,omitempty"`
	// Reason says why the host became unlinked (e.g. revoked in the
	// portal); shown until the next link.
	Reason string `json:"reason,omitempty"`
}

// Link is everything the daemon keeps about its link.
type Link struct {
	SystemID       string           `json:"system_id"`
	ClientID       string           `json:"client_id"`
	ClientSecret   string           `json:"client_secret"`
	Account        cloudapi.Account `json:"account"`
	UserID         string           `json:"user_id"`
	Role           string           `json:"role"`
	ClientType     string           `json:"client_type"`
	Cloud          string           `json:"cloud"`
	LinkedAt       time.Time        `json:"linked_at"`
	InstallationID string           `json:"installation_id"`
	MachineIDHash  string           `json:"machine_id_hash"`
}

// Revocation is a device credential awaiting revocation in the cloud.
type Revocation struct {
	Cloud        string    `json:"cloud"`
	SystemID     string    `json:"system_id"`
	ClientID     string    `json:"client_id"`
	ClientSecret string    `json:"client_secret"`
	Since        time.Time `json:"since"`
}

// Clone is a deep copy, to change and save before it replaces the original.
func (p *State) Clone() *State {
	c := *p
	if p.Link != nil {
		l := *p.Link
		c.Link = &l
	}
	c.PendingRevocations = append([]Revocation(nil), p.PendingRevocations...)
	return &c
}

// Parse decodes and checks LinkFile's content.
func Parse(data []byte) (*State, error) {
	var p State
	if err := json.Unmarshal(data, &p); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	if p.Format > stateFormat {
		return nil, fmt.Errorf("%w (format %d, this cld reads %d)", ErrNewer, p.Format, stateFormat)
	}
	if p.Format != stateFormat {
		return nil, fmt.Errorf("%w: format %d is unknown", ErrCorrupt, p.Format)
	}
	if _, err := uuid.Parse(p.InstallationID); err != nil {
		return nil, fmt.Errorf("%w: installation_id %q is not a UUID", ErrCorrupt, p.InstallationID)
	}
	if l := p.Link; l != nil {
		var missing []string
		for name, v := range map[string]string{"system_id": l.SystemID, "client_id": l.ClientID, "client_secret": l.ClientSecret, "cloud": l.Cloud, "installation_id": l.InstallationID} {
			if v == "" {
				missing = append(missing, name)
			}
		}
		if len(missing) > 0 {
			return nil, fmt.Errorf("%w: link lacks %s", ErrCorrupt, strings.Join(missing, ", "))
		}
	}
	for i, r := range p.PendingRevocations {
		if r.ClientID == "" || r.ClientSecret == "" || r.Cloud == "" {
			return nil, fmt.Errorf("%w: pending revocation %d is incomplete", ErrCorrupt, i)
		}
	}
	return &p, nil
}

// Load reads LinkFile from dir; (nil, nil) when there is none yet.
func Load(dir string) (*State, error) {
	data, err := os.ReadFile(filepath.Join(dir, LinkFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return Parse(data)
}

// Save writes LinkFile atomically (0600: it holds secrets).
func Save(dir string, p *State) error {
	p.Format = stateFormat
	data, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.Write(filepath.Join(dir, LinkFile), append(data, '\n'), 0o600)
}

// MachineIDHash is SHA-256 (hex) of the machine-id salted with the
// installation ID, as sent to the cloud; "" when the machine-id is unknown.
func MachineIDHash(machineID, installationID string) string {
	if machineID == "" {
		return ""
	}
	sum := sha256.Sum256([]byte(installationID + ":" + machineID))
	return hex.EncodeToString(sum[:])
}

// ReadMachineID returns the trimmed content of the machine-id file.
func ReadMachineID(path string) (string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	id := strings.TrimSpace(string(data))
	if id == "" {
		return "", fmt.Errorf("%s is empty", path)
	}
	return id, nil
}
