package cloudapi

import (
	"errors"
	"fmt"
	"net/mail"
	"strings"
	"unicode"
	"unicode/utf8"
)

// PathSystemDirectory receives the linked system's directory changes: the
// users and devices its host's provisioning (MX-ONE's Provisioning
// Manager) keeps (POST with the device token, DirectoryBatch →
// DirectoryAccepted). The cloud stores them per account. A batch is
// applied once: its ID is remembered, and a batch sent again is answered
// with Duplicate true and changes nothing. Upserts and deletes are by key
// (a user's e-mail, a device's ID), so applying a change twice leaves the
// same directory.
const PathSystemDirectory = "/api/v1/systems/self/directory"

// Directory limits: what one account holds, and so what one batch may
// carry.
const (
	MaxDirectoryUsers   = 5000
	MaxDirectoryDevices = 5000
	// MaxDirectoryBatchBytes bounds a batch's body.
	MaxDirectoryBatchBytes = 16 << 20
)

// DirectoryUser is a user of the host's directory. Email (the key, compared
// without regard to case), Extension and FirstName or LastName are needed.
type DirectoryUser struct {
	Email     string   `json:"email"`
	Extension string   `json:"extension"`
	FirstName string   `json:"first_name,omitempty"`
	LastName  string   `json:"last_name,omitempty"`
	Services  []string `json:"services,omitempty"` // e.g. ServiceZoomClient
	Role      string   `json:"role,omitempty"`     // e.g. "user", "admin"
}

// DirectoryDevice is a device (phone, DECT handset, soft client) of the
// host's directory. ID (the key) and Extension are needed.
type DirectoryDevice struct {
	ID        string `json:"id"`
	Extension string `json:"extension"`
	Type      string `json:"type,omitempty"`  // e.g. "sip", "dect"
	Name      string `json:"name,omitempty"`  // e.g. "Reception phone"
	Owner     string `json:"owner,omitempty"` // a user's e-mail
}

// ServiceZoomClient is the CloudLink service of a user with Zoom Phone
// integration ("ZOOM Client" in Provisioning Manager).
const ServiceZoomClient = "zoom-client"

// DirectoryBatch is one set of changes to an account's directory.
type DirectoryBatch struct {
	ID            string            `json:"id"` // unique per batch (the daemon's queue entry)
	UpsertUsers   []DirectoryUser   `json:"upsert_users,omitempty"`
	DeleteUsers   []string          `json:"delete_users,omitempty"` // e-mails
	UpsertDevices []DirectoryDevice `json:"upsert_devices,omitempty"`
	DeleteDevices []string          `json:"delete_devices,omitempty"` // device IDs
}

// DirectoryAccepted answers POST PathSystemDirectory.
type DirectoryAccepted struct {
	ID        string `json:"id"`
	Duplicate bool   `json:"duplicate"` // applied before (a retry): nothing changed
	Users     int    `json:"users"`     // the account's users after the batch
	Devices   int    `json:"devices"`   // and its devices
}

// Field limits of directory entries.
const (
	maxEmail     = 254
	maxExtension = 20
	maxName      = 128
	maxID        = 64
	maxServices  = 16
	maxSlug      = 32
)

// UserKey is the key of a user: the e-mail in lower case, trimmed.
func UserKey(email string) string { return strings.ToLower(strings.TrimSpace(email)) }

// Validate says what is wrong with the user, every problem in one error
// (nil when it is fine). It does not change u; Normalize does.
func (u DirectoryUser) Validate() error {
	var errs []error
	if e := strings.TrimSpace(u.Email); e == "" {
		errs = append(errs, errors.New("email is needed"))
	} else if err := checkEmail(e); err != nil {
		errs = append(errs, err)
	}
	if err := checkExtension(u.Extension); err != nil {
		errs = append(errs, err)
	}
	if strings.TrimSpace(u.FirstName) == "" && strings.TrimSpace(u.LastName) == "" {
		errs = append(errs, errors.New("first_name or last_name is needed"))
	}
	for _, f := range []struct{ name, v string }{{"first_name", u.FirstName}, {"last_name", u.LastName}} {
		if err := checkText(f.name, f.v, maxName); err != nil {
			errs = append(errs, err)
		}
	}
	if len(u.Services) > maxServices {
		errs = append(errs, fmt.Errorf("services has %d entries; at most %d", len(u.Services), maxServices))
	}
	seen := map[string]bool{}
	for _, s := range u.Services {
		switch {
		case !isSlug(s):
			errs = append(errs, fmt.Errorf("service %q is not a service name such as %s", s, ServiceZoomClient))
		case seen[s]:
			errs = append(errs, fmt.Errorf("service %q is listed twice", s))
		}
		seen[s] = true
	}
	if u.Role != "" && !isSlug(u.Role) {
		errs = append(errs, fmt.Errorf("role %q is not a role name such as user or admin", u.Role))
	}
	return errors.Join(errs...)
}

// Normalize trims the user's fields and lowers the e-mail's case.
func (u DirectoryUser) Normalize() DirectoryUser {
	u.Email = UserKey(u.Email)
	u.Extension = strings.TrimSpace(u.Extension)
	u.FirstName = strings.TrimSpace(u.FirstName)
	u.LastName = strings.TrimSpace(u.LastName)
	if len(u.Services) == 0 {
		u.Services = nil
	}
	return u
}

// Validate says what is wrong with the device (nil when it is fine).
func (d DirectoryDevice) Validate() error {
	var errs []error
	if err := CheckDeviceID(d.ID); err != nil {
		errs = append(errs, err)
	}
	if err := checkExtension(d.Extension); err != nil {
		errs = append(errs, err)
	}
	if d.Type != "" && !isSlug(d.Type) {
		errs = append(errs, fmt.Errorf("type %q is not a device type such as sip or dect", d.Type))
	}
	if err := checkText("name", d.Name, maxName); err != nil {
		errs = append(errs, err)
	}
	if o := strings.TrimSpace(d.Owner); o != "" {
		if err := checkEmail(o); err != nil {
			errs = append(errs, fmt.Errorf("owner: %w", err))
		}
	}
	return errors.Join(errs...)
}

// Normalize trims the device's fields and lowers the owner's case.
func (d DirectoryDevice) Normalize() DirectoryDevice {
	d.ID = strings.TrimSpace(d.ID)
	d.Extension = strings.TrimSpace(d.Extension)
	d.Name = strings.TrimSpace(d.Name)
	d.Owner = UserKey(d.Owner)
	return d
}

// CheckDeviceID checks a device ID: 1 to 64 printable characters without
// spaces or slashes (it is a path element of the daemon's API).
func CheckDeviceID(id string) error {
	id = strings.TrimSpace(id)
	if id == "" {
		return errors.New("id is needed")
	}
	if len(id) > maxID {
		return fmt.Errorf("id is %d bytes long; at most %d", len(id), maxID)
	}
	for _, r := range id {
		// unicode.IsPrint is false for control characters (C0 and C1) and
		// for every space but U+0020, which is refused on its own.
		if r == ' ' || r == '/' || r == '\\' || !unicode.IsPrint(r) || r == utf8.RuneError {
			return fmt.Errorf("id %q may hold no spaces, slashes or control characters", id)
		}
	}
	return nil
}

// checkEmail checks an e-mail address (trimmed) as given and as its key
// (UserKey: lower case, which for a few letters is longer in UTF-8), so
// that a user who validates still does once normalized.
func checkEmail(e string) error {
	for i, v := range []string{e, strings.ToLower(e)} {
		if i == 1 && v == e {
			break
		}
		if len(v) > maxEmail {
			if i == 1 {
				return fmt.Errorf("email is %d bytes long in lower case; at most %d", len(v), maxEmail)
			}
			return fmt.Errorf("email is %d bytes long; at most %d", len(v), maxEmail)
		}
		a, err := mail.ParseAddress(v)
		if err != nil || a.Address != v || a.Name != "" || !strings.Contains(v[strings.LastIndexByte(v, '@')+1:], ".") {
			return fmt.Errorf("email %q is not an e-mail address such as anna.berg@example.com", e)
		}
	}
	return nil
}

func checkExtension(x string) error {
	x = strings.TrimSpace(x)
	if x == "" {
		return errors.New("extension is needed")
	}
	if len(x) > maxExtension {
		return fmt.Errorf("extension %q is longer than %d characters", x, maxExtension)
	}
	for i, r := range x {
		if !(r >= '0' && r <= '9' || r == '*' || r == '#' || r == '+' && i == 0) {
			return fmt.Errorf("extension %q may hold only digits, * and # (and a leading +)", x)
		}
	}
	return nil
}

func checkText(name, v string, max int) error {
	if len(v) > max {
		return fmt.Errorf("%s is %d bytes long; at most %d", name, len(v), max)
	}
	if !utf8.ValidString(v) {
		return fmt.Errorf("%s is not valid UTF-8", name)
	}
	for _, r := range v {
		if r < ' ' || r == 0x7f {
			return fmt.Errorf("%s holds a control character", name)
		}
	}
	return nil
}

// isSlug: lower-case letters, digits and hyphens, starting with a letter,
// at most 32 bytes.
func isSlug(s string) bool {
	if s == "" || len(s) > maxSlug || s[0] < 'a' || s[0] > 'z' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}
