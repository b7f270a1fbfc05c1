package agent

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

	"github.com/cloudlink/cld/agent/atomicfile"
	"github.com/cloudlink/cld/cloud/cloudapi"
)

// State file names inside the state directory.
const (
	// LinkFile holds the installation identity, the link (device
	// credentials and account facts) and pending revocations: one file, so
	// that a link or unlink is one atomic rename.
	LinkFile = "link.json"
	// DashboardUsersFile holds the dashboard accounts (bcrypt hashes).
	DashboardUsersFile = "dashboard-users.json"
	// InitialPasswordFile holds the generated password of the first
	// dashboard account "admin".
	InitialPasswordFile = "dashboard-initial-password"
)

const stateFormat = 1

// ErrCorruptState is wrapped by errors about a state file that cannot be
// parsed or is inconsistent.
var ErrCorruptState = errors.New("corrupt state file")

// ErrNewerState means the state was written by a newer cld.
var ErrNewerState = errors.New("state written by a newer cld")

// persisted is the content of LinkFile.
type persisted struct {
	Format int `json:"format"`
	// InstallationID identifies this installation to the cloud (random
	// UUID made at first start; replaced when a cloned host re-links).
	InstallationID string `json:"installation_id"`
	// MachineIDHash is the salted machine-id hash when InstallationID was
	// made: a copied, unlinked state dir gets a fresh identity.
	MachineIDHash string `json:"machine_id_hash"`
	// Link is nil when unlinked.
	Link *linkRecord `json:"link,omitempty"`
	// PendingRevocations are device credentials still to revoke in the
	// cloud after an unlink that could not reach it.
	PendingRevocations []revocation `json:"pending_revocations,omitempty"`
	// Reason says why the host became unlinked (e.g. revoked in the
	// portal); shown until the next link.
	Reason string `json:"reason,omitempty"`
}

// linkRecord is everything the daemon keeps about its link.
type linkRecord struct {
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

// revocation is a device credential awaiting revocation in the cloud.
type revocation struct {
	Cloud        string    `json:"cloud"`
	SystemID     string    `json:"system_id"`
	ClientID     string    `json:"client_id"`
	ClientSecret string    `json:"client_secret"`
	Since        time.Time `json:"since"`
}

func (p *persisted) clone() *persisted {
	c := *p
	if p.Link != nil {
		l := *p.Link
		c.Link = &l
	}
	c.PendingRevocations = append([]revocation(nil), p.PendingRevocations...)
	return &c
}

// parseState decodes and checks LinkFile's content.
func parseState(data []byte) (*persisted, error) {
	var p persisted
	if err := json.Unmarshal(data, &p); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCorruptState, err)
	}
	if p.Format > stateFormat {
		return nil, fmt.Errorf("%w (format %d, this cld reads %d)", ErrNewerState, p.Format, stateFormat)
	}
	if p.Format != stateFormat {
		return nil, fmt.Errorf("%w: format %d is unknown", ErrCorruptState, p.Format)
	}
	if _, err := uuid.Parse(p.InstallationID); err != nil {
		return nil, fmt.Errorf("%w: installation_id %q is not a UUID", ErrCorruptState, p.InstallationID)
	}
	if l := p.Link; l != nil {
		var missing []string
		for name, v := range map[string]string{"system_id": l.SystemID, "client_id": l.ClientID, "client_secret": l.ClientSecret, "cloud": l.Cloud, "installation_id": l.InstallationID} {
			if v == "" {
				missing = append(missing, name)
			}
		}
		if len(missing) > 0 {
			return nil, fmt.Errorf("%w: link lacks %s", ErrCorruptState, strings.Join(missing, ", "))
		}
	}
	for i, r := range p.PendingRevocations {
		if r.ClientID == "" || r.ClientSecret == "" || r.Cloud == "" {
			return nil, fmt.Errorf("%w: pending revocation %d is incomplete", ErrCorruptState, i)
		}
	}
	return &p, nil
}

// loadState reads LinkFile from dir; (nil, nil) when there is none yet.
func loadState(dir string) (*persisted, error) {
	data, err := os.ReadFile(filepath.Join(dir, LinkFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return parseState(data)
}

// saveState writes LinkFile atomically (0600: it holds secrets).
func saveState(dir string, p *persisted) error {
	p.Format = stateFormat
	data, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.Write(filepath.Join(dir, LinkFile), append(data, '\n'), 0o600)
}

// machineIDHash is SHA-256 (hex) of the machine-id salted with the
// installation ID, as sent to the cloud; "" when the machine-id is unknown.
func machineIDHash(machineID, installationID string) string {
	if machineID == "" {
		return ""
	}
	sum := sha256.Sum256([]byte(installationID + ":" + machineID))
	return hex.EncodeToString(sum[:])
}

// readMachineID returns the trimmed content of the machine-id file.
func readMachineID(path string) (string, error) {
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
