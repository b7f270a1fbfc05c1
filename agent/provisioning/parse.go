package provisioning

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/cloudlink/cld/cloud/cloudapi"
)

// MaxBodyBytes bounds a request's body: 5000 users and 5000 devices with
// every field at its longest fit in it.
const MaxBodyBytes = 8 << 20

// ItemError is an entry of a sync that does not validate; the others sync.
type ItemError struct {
	Kind    string `json:"kind"`  // "user" or "device"
	Index   int    `json:"index"` // its place in the request's list, from 0
	Key     string `json:"key"`   // its e-mail or ID as given ("" when missing)
	Message string `json:"message"`
}

// SyncRequest is the body of POST /pm/v1/sync: the whole directory as
// Provisioning Manager has it.
type SyncRequest struct {
	Users   []json.RawMessage `json:"users"`
	Devices []json.RawMessage `json:"devices"`
}

// Parsed is a sync request read: its valid entries (normalized), the
// keys of the invalid ones that have a key (left as they are), and why
// each invalid one is.
type Parsed struct {
	Users       []cloudapi.DirectoryUser
	Devices     []cloudapi.DirectoryDevice
	KeptUsers   map[string]bool
	KeptDevices map[string]bool
	Errors      []ItemError
}

// RequestError is a request refused as a whole: nothing changes.
type RequestError struct {
	Status  int    // the HTTP status: 400 or 413
	Message string // what is wrong and what to do
}

func (e *RequestError) Error() string { return e.Message }

func badRequest(format string, args ...any) *RequestError {
	return &RequestError{Status: 400, Message: fmt.Sprintf(format, args...)}
}

// readBody reads at most MaxBodyBytes of r.
func readBody(r io.Reader) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxBodyBytes+1))
	if err != nil {
		return nil, badRequest("The request body could not be read: %v.", err)
	}
	if len(data) > MaxBodyBytes {
		return nil, &RequestError{Status: 413, Message: fmt.Sprintf("The request body is larger than %d MiB; send at most %d users and %d devices.", MaxBodyBytes>>20, cloudapi.MaxDirectoryUsers, cloudapi.MaxDirectoryDevices)}
	}
	return data, nil
}

// decodeStrict decodes exactly one JSON value into v, refusing unknown
// fields, with a message that says where the problem is.
func decodeStrict(data []byte, v any, what string) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%s is not valid: %s", what, describe(err))
	}
	if _, err := dec.Token(); err != io.EOF {
		return fmt.Errorf("%s is not valid: it holds more than one JSON value", what)
	}
	return nil
}

func describe(err error) string {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return fmt.Sprintf("malformed JSON at byte %d (%v)", syn.Offset, syn)
	case errors.As(err, &typ):
		if typ.Field != "" {
			return fmt.Sprintf("field %q must be a %s, not a JSON %s", typ.Field, kind(typ.Type.Kind().String()), typ.Value)
		}
		return fmt.Sprintf("a JSON %s where a %s belongs", typ.Value, kind(typ.Type.Kind().String()))
	case errors.Is(err, io.EOF):
		return "the body is empty; send a JSON object"
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "the JSON ends too early"
	}
	msg := err.Error()
	if f, ok := strings.CutPrefix(msg, "json: unknown field "); ok {
		return "unknown field " + f
	}
	return strings.TrimPrefix(msg, "json: ")
}

func kind(k string) string {
	switch k {
	case "slice":
		return "list"
	case "struct", "map":
		return "object"
	}
	return k
}

// ParseSync reads the body of a sync. A body that is not such a request
// (malformed JSON, an unknown field, too many entries, two users with one
// e-mail or extension, two devices with one ID) is a *RequestError;
// entries that do not validate are named in Parsed.Errors.
func ParseSync(data []byte) (*Parsed, error) {
	var req SyncRequest
	if err := decodeStrict(data, &req, "The sync request"); err != nil {
		return nil, badRequest("%v. Send {\"users\": [...], \"devices\": [...]}.", err)
	}
	if n := len(req.Users); n > cloudapi.MaxDirectoryUsers {
		return nil, badRequest("The sync request has %d users; CloudLink takes at most %d users per system.", n, cloudapi.MaxDirectoryUsers)
	}
	if n := len(req.Devices); n > cloudapi.MaxDirectoryDevices {
		return nil, badRequest("The sync request has %d devices; CloudLink takes at most %d devices per system.", n, cloudapi.MaxDirectoryDevices)
	}
	p := &Parsed{KeptUsers: map[string]bool{}, KeptDevices: map[string]bool{}}
	emails, exts, ids := map[string]int{}, map[string]int{}, map[string]int{}
	var dups []string
	for i, raw := range req.Users {
		u, err := parseUser(raw)
		key := cloudapi.UserKey(u.Email)
		if key != "" {
			if j, ok := emails[key]; ok {
				dups = append(dups, fmt.Sprintf("users %d and %d have the e-mail %s", j, i, key))
			}
			emails[key] = i
		}
		if x := strings.TrimSpace(u.Extension); x != "" {
			if j, ok := exts[x]; ok {
				dups = append(dups, fmt.Sprintf("users %d and %d have the extension %s", j, i, x))
			}
			exts[x] = i
		}
		if err != nil {
			p.Errors = append(p.Errors, ItemError{Kind: "user", Index: i, Key: u.Email, Message: err.Error()})
			if key != "" {
				p.KeptUsers[key] = true
			}
			continue
		}
		p.Users = append(p.Users, u.Normalize())
	}
	for i, raw := range req.Devices {
		d, err := parseDevice(raw)
		id := strings.TrimSpace(d.ID)
		if id != "" {
			if j, ok := ids[id]; ok {
				dups = append(dups, fmt.Sprintf("devices %d and %d have the ID %s", j, i, id))
			}
			ids[id] = i
		}
		if err != nil {
			p.Errors = append(p.Errors, ItemError{Kind: "device", Index: i, Key: d.ID, Message: err.Error()})
			if id != "" {
				p.KeptDevices[id] = true
			}
			continue
		}
		p.Devices = append(p.Devices, d.Normalize())
	}
	if len(dups) > 0 {
		more := ""
		if len(dups) > 10 {
			more = fmt.Sprintf(" (and %d more)", len(dups)-10)
			dups = dups[:10]
		}
		return nil, badRequest("The sync request names an entry twice: %s%s. Each user needs its own e-mail and extension, each device its own ID; nothing was changed.", strings.Join(dups, "; "), more)
	}
	return p, nil
}

// parseUser reads one user strictly and validates it. On an error the
// user holds what could be read (for the error's key).
func parseUser(raw json.RawMessage) (cloudapi.DirectoryUser, error) {
	var u cloudapi.DirectoryUser
	if err := decodeStrict(raw, &u, "the user"); err != nil {
		var loose struct {
			Email     any `json:"email"`
			Extension any `json:"extension"`
		}
		if json.Unmarshal(raw, &loose) == nil {
			u.Email, _ = loose.Email.(string)
			u.Extension, _ = loose.Extension.(string)
		}
		return u, err
	}
	return u, u.Validate()
}

// parseDevice reads one device strictly and validates it.
func parseDevice(raw json.RawMessage) (cloudapi.DirectoryDevice, error) {
	var d cloudapi.DirectoryDevice
	if err := decodeStrict(raw, &d, "the device"); err != nil {
		var loose struct {
			ID any `json:"id"`
		}
		if json.Unmarshal(raw, &loose) == nil {
			d.ID, _ = loose.ID.(string)
		}
		return d, err
	}
	return d, d.Validate()
}

// ParseUser reads the body of a single user's create or change.
func ParseUser(data []byte) (cloudapi.DirectoryUser, error) {
	u, err := parseUser(data)
	if err != nil {
		return u, badRequest("%v.", err)
	}
	return u.Normalize(), nil
}

// ParseDevice reads the body of a single device's create or change.
func ParseDevice(data []byte) (cloudapi.DirectoryDevice, error) {
	d, err := parseDevice(data)
	if err != nil {
		return d, badRequest("%v.", err)
	}
	return d.Normalize(), nil
}

// Next is the directory a parsed sync makes of cur: its valid entries,
// the entries of cur it names with invalid data kept as they were (unless
// a valid entry now has the kept user's extension), and the rest of cur
// deleted.
func (p *Parsed) Next(cur *Directory) *Directory {
	next := NewDirectory()
	for k := range p.KeptUsers {
		if u, ok := cur.Users[k]; ok {
			next.Users[k] = u
		}
	}
	for k := range p.KeptDevices {
		if d, ok := cur.Devices[k]; ok {
			next.Devices[k] = d
		}
	}
	exts := map[string]bool{}
	for _, u := range p.Users {
		next.Users[cloudapi.UserKey(u.Email)] = u
		exts[u.Extension] = true
	}
	for k := range p.KeptUsers {
		// A kept entry whose extension a valid one now has gives way.
		if u, ok := next.Users[k]; ok && exts[u.Extension] && !slices.ContainsFunc(p.Users, func(v cloudapi.DirectoryUser) bool { return cloudapi.UserKey(v.Email) == k }) {
			delete(next.Users, k)
		}
	}
	for _, d := range p.Devices {
		next.Devices[d.ID] = d
	}
	return next
}
