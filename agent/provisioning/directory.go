package provisioning

import (
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/cloudlink/cld/atomicfile"
	"github.com/cloudlink/cld/cloud/cloudapi"
)

// Directory is a set of users (by key: cloudapi.UserKey of the e-mail)
// and devices (by ID). Its entries are normalized and valid.
type Directory struct {
	Users   map[string]cloudapi.DirectoryUser   `json:"users"`
	Devices map[string]cloudapi.DirectoryDevice `json:"devices"`
}

// NewDirectory is an empty directory.
func NewDirectory() *Directory {
	return &Directory{Users: map[string]cloudapi.DirectoryUser{}, Devices: map[string]cloudapi.DirectoryDevice{}}
}

// Clone is a copy of d that shares nothing with it.
func (d *Directory) Clone() *Directory {
	c := &Directory{Users: make(map[string]cloudapi.DirectoryUser, len(d.Users)), Devices: make(map[string]cloudapi.DirectoryDevice, len(d.Devices))}
	for k, u := range d.Users {
		u.Services = slices.Clone(u.Services)
		c.Users[k] = u
	}
	for k, v := range d.Devices {
		c.Devices[k] = v
	}
	return c
}

// userByExtension is the key of the user with extension x other than
// except ("" when none).
func (d *Directory) userByExtension(x, except string) string {
	for k, u := range d.Users {
		if u.Extension == x && k != except {
			return k
		}
	}
	return ""
}

// SortedUsers are the users ordered by key.
func (d *Directory) SortedUsers() []cloudapi.DirectoryUser {
	out := make([]cloudapi.DirectoryUser, 0, len(d.Users))
	for _, k := range sortedKeys(d.Users) {
		out = append(out, d.Users[k])
	}
	return out
}

// SortedDevices are the devices ordered by ID.
func (d *Directory) SortedDevices() []cloudapi.DirectoryDevice {
	out := make([]cloudapi.DirectoryDevice, 0, len(d.Devices))
	for _, k := range sortedKeys(d.Devices) {
		out = append(out, d.Devices[k])
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// Changes are what turns one directory into another.
type Changes struct {
	UpsertUsers   []cloudapi.DirectoryUser
	DeleteUsers   []string
	UpsertDevices []cloudapi.DirectoryDevice
	DeleteDevices []string
}

// Empty says whether there is nothing to change.
func (c Changes) Empty() bool {
	return len(c.UpsertUsers) == 0 && len(c.DeleteUsers) == 0 && len(c.UpsertDevices) == 0 && len(c.DeleteDevices) == 0
}

// Count is the number of changes.
func (c Changes) Count() int {
	return len(c.UpsertUsers) + len(c.DeleteUsers) + len(c.UpsertDevices) + len(c.DeleteDevices)
}

// Batch is the changes as a batch with the ID id.
func (c Changes) Batch(id string) cloudapi.DirectoryBatch {
	return cloudapi.DirectoryBatch{ID: id, UpsertUsers: c.UpsertUsers, DeleteUsers: c.DeleteUsers, UpsertDevices: c.UpsertDevices, DeleteDevices: c.DeleteDevices}
}

// Diff is what changes from into to, in key order.
func Diff(from, to *Directory) Changes {
	var c Changes
	for _, k := range sortedKeys(to.Users) {
		if old, ok := from.Users[k]; !ok || !sameUser(old, to.Users[k]) {
			c.UpsertUsers = append(c.UpsertUsers, to.Users[k])
		}
	}
	for _, k := range sortedKeys(from.Users) {
		if _, ok := to.Users[k]; !ok {
			c.DeleteUsers = append(c.DeleteUsers, k)
		}
	}
	for _, k := range sortedKeys(to.Devices) {
		if old, ok := from.Devices[k]; !ok || old != to.Devices[k] {
			c.UpsertDevices = append(c.UpsertDevices, to.Devices[k])
		}
	}
	for _, k := range sortedKeys(from.Devices) {
		if _, ok := to.Devices[k]; !ok {
			c.DeleteDevices = append(c.DeleteDevices, k)
		}
	}
	return c
}

func sameUser(a, b cloudapi.DirectoryUser) bool {
	return a.Email == b.Email && a.Extension == b.Extension && a.FirstName == b.FirstName &&
		a.LastName == b.LastName && a.Role == b.Role && slices.Equal(a.Services, b.Services)
}

// Apply makes the changes to d.
func (d *Directory) Apply(c Changes) {
	for _, u := range c.UpsertUsers {
		d.Users[cloudapi.UserKey(u.Email)] = u
	}
	for _, k := range c.DeleteUsers {
		delete(d.Users, k)
	}
	for _, v := range c.UpsertDevices {
		d.Devices[v.ID] = v
	}
	for _, k := range c.DeleteDevices {
		delete(d.Devices, k)
	}
}

// fileFormat is the version of the directory files.
const fileFormat = 1

type directoryFile struct {
	Format int `json:"format"`
	Directory
}

// loadDirectory reads a directory file; a missing file is an empty
// directory. A file that does not read, or holds entries that no longer
// validate, is an error that names it (the caller moves it aside).
func loadDirectory(path string) (*Directory, error) {
	data, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return NewDirectory(), nil
	}
	if err != nil {
		return nil, err
	}
	var f directoryFile
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if f.Format != fileFormat {
		return nil, fmt.Errorf("%s: format %d, want %d", path, f.Format, fileFormat)
	}
	d := NewDirectory()
	for k, u := range f.Users {
		if err := u.Validate(); err != nil || cloudapi.UserKey(u.Email) != k {
			return nil, fmt.Errorf("%s: user %q: %v", path, k, err)
		}
		d.Users[k] = u.Normalize()
	}
	for k, v := range f.Devices {
		if err := v.Validate(); err != nil || v.ID != k {
			return nil, fmt.Errorf("%s: device %q: %v", path, k, err)
		}
		d.Devices[k] = v.Normalize()
	}
	return d, nil
}

// save writes d to path atomically (0600).
func (d *Directory) save(path string) error {
	data, err := json.Marshal(directoryFile{Format: fileFormat, Directory: *d})
	if err != nil {
		return err
	}
	return atomicfile.Write(path, data, 0o600)
}

// moveAside renames a file that cannot be read to NAME.corrupt-N.
func moveAside(path string) (string, error) {
	for i := 1; i < 100; i++ {
		dst := fmt.Sprintf("%s.corrupt-%d", path, i)
		if _, err := os.Stat(dst); os.IsNotExist(err) {
			return dst, os.Rename(path, dst)
		}
	}
	return "", fmt.Errorf("too many %s.corrupt-N files; remove old ones", strings.TrimSuffix(path, ".json"))
}
