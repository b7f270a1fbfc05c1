package provisioning

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"runtime/debug"
	"strconv"
	"strings"

	"github.com/cloudlink/cld/agent/api"
	"github.com/cloudlink/cld/agent/localapi"
	"github.com/cloudlink/cld/cloud/cloudapi"
)

// Prefix is where the PM API is served on the dashboard's listener,
// behind the dashboard's base path (on MX-ONE: https://<SNM>/cld/pm/v1).
const Prefix = "/pm/v1"

// Error codes of the PM API besides the local API's.
const (
	CodeTooLarge     = "too_large"
	CodeExists       = "exists"
	CodeNotFound     = "not_found"
	CodeTooMany      = "rate_limited"
	CodeNotSetUp     = "not_set_up"
	CodeLimitReached = "limit_reached"
)

// SyncResult answers POST /pm/v1/sync.
type SyncResult struct {
	Users   Counts      `json:"users"`
	Devices Counts      `json:"devices"`
	Errors  []ItemError `json:"errors"`
	// Pending is the number of changes the cloud does not have yet (they
	// are on disk and sent in the background).
	Pending int `json:"pending"`
}

// Counts are what a sync changed in one list.
type Counts struct {
	Created   int `json:"created"`
	Changed   int `json:"changed"`
	Deleted   int `json:"deleted"`
	Unchanged int `json:"unchanged"`
	Invalid   int `json:"invalid"`
	Total     int `json:"total"` // in the directory after the sync
}

// Routes registers the local API's routes (`cld pm`).
func (s *Service) Routes(rt *localapi.Router) {
	rt.Get(api.RoutePM, func(_ context.Context) any { return s.Status() })
	localapi.Post(rt, api.RoutePMCredential, func(_ context.Context, c api.PMCredential) (any, error) { return s.SetCredential(c) })
}

// Handler serves the PM API under Prefix.
func (s *Service) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+Prefix+"/sync", s.handleSync)
	mux.HandleFunc("GET "+Prefix+"/status", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, http.StatusOK, s.Status()) })
	mux.HandleFunc("GET "+Prefix+"/users", s.listUsers)
	mux.HandleFunc("POST "+Prefix+"/users", s.createUser)
	mux.HandleFunc("GET "+Prefix+"/users/{email}", s.getUser)
	mux.HandleFunc("PUT "+Prefix+"/users/{email}", s.putUser)
	mux.HandleFunc("DELETE "+Prefix+"/users/{email}", s.deleteUser)
	mux.HandleFunc("GET "+Prefix+"/devices", s.listDevices)
	mux.HandleFunc("POST "+Prefix+"/devices", s.createDevice)
	mux.HandleFunc("GET "+Prefix+"/devices/{id}", s.getDevice)
	mux.HandleFunc("PUT "+Prefix+"/devices/{id}", s.putDevice)
	mux.HandleFunc("DELETE "+Prefix+"/devices/{id}", s.deleteDevice)
	mux.HandleFunc(Prefix+"/", func(w http.ResponseWriter, r *http.Request) {
		writeErr(w, http.StatusNotFound, CodeNotFound, fmt.Sprintf("%s %s is not a route of the PM API; see docs/pm-api.md (e.g. POST %s/sync).", r.Method, r.URL.Path, Prefix))
	})
	return s.authenticate(mux)
}

// authenticate lets through requests with the PM admin's HTTP Basic
// credentials, and limits wrong ones.
func (s *Service) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		if _, ok := s.cred.configured(); !ok {
			writeErr(w, http.StatusServiceUnavailable, CodeNotSetUp, "The Provisioning Manager API is not set up on this host: set the PM admin credential with `cld pm credential --username NAME --password-stdin`, then give the same in PM's CloudLink Daemon subsystem.")
			return
		}
		now := s.clock.Now()
		if d := s.limit.Wait(now); d > 0 {
			secs := int(math.Ceil(d.Seconds()))
			w.Header().Set("Retry-After", strconv.Itoa(secs))
			writeErr(w, http.StatusTooManyRequests, CodeTooMany, fmt.Sprintf("Too many wrong PM credentials; try again in %d s with the user name and password set by `cld pm credential`.", secs))
			return
		}
		user, pass, ok := r.BasicAuth()
		if !ok || !s.cred.check(user, pass) {
			s.limit.Failed(now)
			s.log.Warn("PM API: wrong credentials", "remote", r.RemoteAddr, "username", user)
			w.Header().Set("WWW-Authenticate", `Basic realm="cld PM API", charset="UTF-8"`)
			writeErr(w, http.StatusUnauthorized, api.CodeUnauthorized, "The PM admin user name or password is wrong; use the credential set by `cld pm credential`.")
			return
		}
		s.limit.Succeeded()
		if r.Method != http.MethodGet && r.Method != http.MethodDelete && !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
			writeErr(w, http.StatusUnsupportedMediaType, api.CodeBadRequest, "Send the body as JSON with Content-Type: application/json.")
			return
		}
		next.ServeHTTP(w, r)
	})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	data, err := json.Marshal(v)
	if err != nil {
		writeErr(w, http.StatusInternalServerError, api.CodeInternal, "Internal error: "+err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_, _ = w.Write(append(data, '\n'))
}

func writeErr(w http.ResponseWriter, code int, errCode, msg string) {
	data, _ := json.Marshal(api.Error{Code: errCode, Message: msg})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_, _ = w.Write(append(data, '\n'))
}

// writeRequestErr answers a refused request.
func writeRequestErr(w http.ResponseWriter, err error) {
	if re, ok := err.(*RequestError); ok {
		code := api.CodeBadRequest
		if re.Status == http.StatusRequestEntityTooLarge {
			code = CodeTooLarge
		}
		writeErr(w, re.Status, code, re.Message)
		return
	}
	writeErr(w, http.StatusInternalServerError, api.CodeInternal, err.Error()+". Nothing was changed; try again.")
}

func (s *Service) handleSync(w http.ResponseWriter, r *http.Request) {
	data, err := readBody(r.Body)
	if err != nil {
		writeRequestErr(w, err)
		return
	}
	p, err := ParseSync(data)
	if err != nil {
		writeRequestErr(w, err)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	next := p.Next(s.desired)
	res := SyncResult{Errors: p.Errors}
	if res.Errors == nil {
		res.Errors = []ItemError{}
	}
	c := Diff(s.desired, next)
	res.Users = countChanges(len(s.desired.Users), len(next.Users), len(c.DeleteUsers), func() (created, changed int) {
		for _, u := range c.UpsertUsers {
			if _, ok := s.desired.Users[cloudapi.UserKey(u.Email)]; ok {
				changed++
			} else {
				created++
			}
		}
		return
	})
	res.Devices = countChanges(len(s.desired.Devices), len(next.Devices), len(c.DeleteDevices), func() (created, changed int) {
		for _, d := range c.UpsertDevices {
			if _, ok := s.desired.Devices[d.ID]; ok {
				changed++
			} else {
				created++
			}
		}
		return
	})
	for _, e := range p.Errors {
		if e.Kind == "user" {
			res.Users.Invalid++
		} else {
			res.Devices.Invalid++
		}
	}
	if !c.Empty() {
		if err := s.commitLocked(next); err != nil {
			writeErr(w, http.StatusInternalServerError, api.CodeInternal, err.Error()+"; nothing was changed. Check the disk, then sync again.")
			return
		}
	}
	res.Pending = Diff(s.synced, s.desired).Count()
	if len(data) > 256<<10 {
		// A large sync's garbage (its body, the parsed entries) goes back
		// to the host at once: the daemon's RSS is a budget on an
		// appliance, and PM syncs seldom.
		defer func() { go debug.FreeOSMemory() }()
	}
	s.log.Info("PM sync", "users", len(next.Users), "devices", len(next.Devices), "changes", c.Count(), "invalid", len(p.Errors))
	writeJSON(w, http.StatusOK, res)
}

func countChanges(before, after, deleted int, upserts func() (int, int)) Counts {
	created, changed := upserts()
	return Counts{Created: created, Changed: changed, Deleted: deleted, Unchanged: before - changed - deleted, Total: after}
}

// change applies one entry's change to a copy of the directory and
// commits it; it answers with status and v, or the error.
func (s *Service) change(w http.ResponseWriter, status int, v any, fn func(d *Directory) (int, string, string)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	next := s.desired.Clone()
	if code, errCode, msg := fn(next); code != 0 {
		writeErr(w, code, errCode, msg)
		return
	}
	if err := s.commitLocked(next); err != nil {
		writeErr(w, http.StatusInternalServerError, api.CodeInternal, err.Error()+"; nothing was changed. Check the disk, then try again.")
		return
	}
	if v == nil {
		w.WriteHeader(status)
		return
	}
	writeJSON(w, status, v)
}

func (s *Service) listUsers(w http.ResponseWriter, _ *http.Request) {
	s.mu.Lock()
	users := s.desired.SortedUsers()
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"users": users, "count": len(users)})
}

func (s *Service) listDevices(w http.ResponseWriter, _ *http.Request) {
	s.mu.Lock()
	devices := s.desired.SortedDevices()
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"devices": devices, "count": len(devices)})
}

func pathKey(r *http.Request, name string) string {
	v, err := url.PathUnescape(r.PathValue(name))
	if err != nil {
		return r.PathValue(name)
	}
	return v
}

func (s *Service) getUser(w http.ResponseWriter, r *http.Request) {
	key := cloudapi.UserKey(pathKey(r, "email"))
	s.mu.Lock()
	u, ok := s.desired.Users[key]
	s.mu.Unlock()
	if !ok {
		writeErr(w, http.StatusNotFound, CodeNotFound, fmt.Sprintf("No user has the e-mail %q.", key))
		return
	}
	writeJSON(w, http.StatusOK, u)
}

func (s *Service) getDevice(w http.ResponseWriter, r *http.Request) {
	id := pathKey(r, "id")
	s.mu.Lock()
	d, ok := s.desired.Devices[id]
	s.mu.Unlock()
	if !ok {
		writeErr(w, http.StatusNotFound, CodeNotFound, fmt.Sprintf("No device has the ID %q.", id))
		return
	}
	writeJSON(w, http.StatusOK, d)
}

// setUser checks that u may be put into d (its extension free, the limit
// not reached) and puts it; mustBeNew refuses an existing e-mail.
func setUser(d *Directory, u cloudapi.DirectoryUser, mustBeNew bool) (int, string, string) {
	key := cloudapi.UserKey(u.Email)
	_, exists := d.Users[key]
	switch {
	case exists && mustBeNew:
		return http.StatusConflict, CodeExists, fmt.Sprintf("A user with the e-mail %s exists; change it with PUT %s/users/%s.", key, Prefix, url.PathEscape(key))
	case !exists && len(d.Users) >= cloudapi.MaxDirectoryUsers:
		return http.StatusConflict, CodeLimitReached, fmt.Sprintf("The directory has %d users, the most CloudLink takes; delete one first.", cloudapi.MaxDirectoryUsers)
	}
	if other := d.userByExtension(u.Extension, key); other != "" {
		return http.StatusConflict, CodeExists, fmt.Sprintf("The extension %s is the user %s's; give each user its own extension.", u.Extension, other)
	}
	d.Users[key] = u
	return 0, "", ""
}

func (s *Service) createUser(w http.ResponseWriter, r *http.Request) {
	u, ok := s.readUser(w, r)
	if !ok {
		return
	}
	s.change(w, http.StatusCreated, u, func(d *Directory) (int, string, string) { return setUser(d, u, true) })
}

func (s *Service) putUser(w http.ResponseWriter, r *http.Request) {
	key := cloudapi.UserKey(pathKey(r, "email"))
	u, ok := s.readUser(w, r)
	if !ok {
		return
	}
	if cloudapi.UserKey(u.Email) != key {
		writeErr(w, http.StatusBadRequest, api.CodeBadRequest, fmt.Sprintf("The body's email %q is not the path's %q; a user's e-mail is its key (delete the user and create it anew to change it).", u.Email, key))
		return
	}
	s.mu.Lock()
	_, existed := s.desired.Users[key]
	s.mu.Unlock()
	status := http.StatusOK
	if !existed {
		status = http.StatusCreated
	}
	s.change(w, status, u, func(d *Directory) (int, string, string) { return setUser(d, u, false) })
}

func (s *Service) deleteUser(w http.ResponseWriter, r *http.Request) {
	key := cloudapi.UserKey(pathKey(r, "email"))
	s.change(w, http.StatusNoContent, nil, func(d *Directory) (int, string, string) {
		if _, ok := d.Users[key]; !ok {
			return http.StatusNotFound, CodeNotFound, fmt.Sprintf("No user has the e-mail %q.", key)
		}
		delete(d.Users, key)
		return 0, "", ""
	})
}

func setDevice(d *Directory, v cloudapi.DirectoryDevice, mustBeNew bool) (int, string, string) {
	_, exists := d.Devices[v.ID]
	switch {
	case exists && mustBeNew:
		return http.StatusConflict, CodeExists, fmt.Sprintf("A device with the ID %s exists; change it with PUT %s/devices/%s.", v.ID, Prefix, url.PathEscape(v.ID))
	case !exists && len(d.Devices) >= cloudapi.MaxDirectoryDevices:
		return http.StatusConflict, CodeLimitReached, fmt.Sprintf("The directory has %d devices, the most CloudLink takes; delete one first.", cloudapi.MaxDirectoryDevices)
	}
	d.Devices[v.ID] = v
	return 0, "", ""
}

func (s *Service) createDevice(w http.ResponseWriter, r *http.Request) {
	v, ok := s.readDevice(w, r)
	if !ok {
		return
	}
	s.change(w, http.StatusCreated, v, func(d *Directory) (int, string, string) { return setDevice(d, v, true) })
}

func (s *Service) putDevice(w http.ResponseWriter, r *http.Request) {
	id := pathKey(r, "id")
	v, ok := s.readDevice(w, r)
	if !ok {
		return
	}
	if v.ID != id {
		writeErr(w, http.StatusBadRequest, api.CodeBadRequest, fmt.Sprintf("The body's id %q is not the path's %q; a device's ID is its key.", v.ID, id))
		return
	}
	s.mu.Lock()
	_, existed := s.desired.Devices[id]
	s.mu.Unlock()
	status := http.StatusOK
	if !existed {
		status = http.StatusCreated
	}
	s.change(w, status, v, func(d *Directory) (int, string, string) { return setDevice(d, v, false) })
}

func (s *Service) deleteDevice(w http.ResponseWriter, r *http.Request) {
	id := pathKey(r, "id")
	s.change(w, http.StatusNoContent, nil, func(d *Directory) (int, string, string) {
		if _, ok := d.Devices[id]; !ok {
			return http.StatusNotFound, CodeNotFound, fmt.Sprintf("No device has the ID %q.", id)
		}
		delete(d.Devices, id)
		return 0, "", ""
	})
}

func (s *Service) readUser(w http.ResponseWriter, r *http.Request) (cloudapi.DirectoryUser, bool) {
	data, err := readBody(r.Body)
	if err == nil {
		var u cloudapi.DirectoryUser
		if u, err = ParseUser(data); err == nil {
			return u, true
		}
	}
	writeRequestErr(w, err)
	return cloudapi.DirectoryUser{}, false
}

func (s *Service) readDevice(w http.ResponseWriter, r *http.Request) (cloudapi.DirectoryDevice, bool) {
	data, err := readBody(r.Body)
	if err == nil {
		var d cloudapi.DirectoryDevice
		if d, err = ParseDevice(data); err == nil {
			return d, true
		}
	}
	writeRequestErr(w, err)
	return cloudapi.DirectoryDevice{}, false
}
