package provisioning

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"go.uber.org/goleak"
	"golang.org/x/crypto/bcrypt"

	"github.com/cloudlink/cld/agent/api"
	"github.com/cloudlink/cld/cloud/cloudapi"
	"github.com/cloudlink/cld/lockout"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const (
	pmUser = "pm-admin"
	pmPass = "pm-password-1"
)

type fixture struct {
	t     *testing.T
	dir   string
	clock *clockwork.FakeClock
	svc   *Service
	h     http.Handler
}

func newFixture(t *testing.T, dir string) *fixture {
	t.Helper()
	f := &fixture{t: t, dir: dir, clock: clockwork.NewFakeClockAt(time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC))}
	f.open()
	return f
}

func (f *fixture) open() {
	svc, err := New(Config{StateDir: f.dir, Clock: f.clock, Logger: slog.New(slog.DiscardHandler), BcryptCost: bcrypt.MinCost})
	if err != nil {
		f.t.Fatal(err)
	}
	f.svc, f.h = svc, svc.Handler()
}

func (f *fixture) setUp() {
	f.t.Helper()
	if _, err := f.svc.SetCredential(apiCred(pmUser, pmPass)); err != nil {
		f.t.Fatal(err)
	}
}

// do sends a request with the PM admin's credentials.
func (f *fixture) do(method, path, body string) (int, string) {
	return f.doAs(pmUser, pmPass, method, path, body)
}

func (f *fixture) doAs(user, pass, method, path, body string) (int, string) {
	f.t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	if user != "" {
		req.SetBasicAuth(user, pass)
	}
	if method == http.MethodPost || method == http.MethodPut {
		req.Header.Set("Content-Type", "application/json")
	}
	rec := httptest.NewRecorder()
	f.h.ServeHTTP(rec, req)
	return rec.Code, rec.Body.String()
}

func user(i int) cloudapi.DirectoryUser {
	return cloudapi.DirectoryUser{Email: fmt.Sprintf("user%04d@example.com", i), Extension: fmt.Sprint(10000 + i), FirstName: "User", LastName: fmt.Sprint(i), Services: []string{cloudapi.ServiceZoomClient}, Role: "user"}
}

func device(i int) cloudapi.DirectoryDevice {
	return cloudapi.DirectoryDevice{ID: fmt.Sprintf("dev-%04d", i), Extension: fmt.Sprint(10000 + i), Type: "sip", Name: fmt.Sprintf("Phone %d", i), Owner: user(i).Email}
}

func syncBody(t testing.TB, users []cloudapi.DirectoryUser, devices []cloudapi.DirectoryDevice) string {
	t.Helper()
	b, err := json.Marshal(map[string]any{"users": users, "devices": devices})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func many(n int) ([]cloudapi.DirectoryUser, []cloudapi.DirectoryDevice) {
	us, ds := make([]cloudapi.DirectoryUser, n), make([]cloudapi.DirectoryDevice, n)
	for i := range n {
		us[i], ds[i] = user(i), device(i)
	}
	return us, ds
}

func decodeSync(t *testing.T, body string) SyncResult {
	t.Helper()
	var r SyncResult
	if err := json.Unmarshal([]byte(body), &r); err != nil {
		t.Fatalf("%v: %s", err, body)
	}
	return r
}

func TestClosedUntilCredentialSet(t *testing.T) {
	f := newFixture(t, t.TempDir())
	code, body := f.do("GET", Prefix+"/users", "")
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "cld pm credential") {
		t.Fatalf("before the credential: %d %s", code, body)
	}
	f.setUp()
	if code, body := f.do("GET", Prefix+"/users", ""); code != 200 || !strings.Contains(body, `"count":0`) {
		t.Fatalf("after: %d %s", code, body)
	}
	info, err := os.Stat(filepath.Join(f.dir, DirName, CredentialFile))
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("credential file: %v %v", info, err)
	}
	data, _ := os.ReadFile(filepath.Join(f.dir, DirName, CredentialFile))
	if bytes.Contains(data, []byte(pmPass)) {
		t.Fatal("the credential file holds the password")
	}
	for _, bad := range [][2]string{{"x y", pmPass}, {pmUser, "short"}} {
		if _, err := f.svc.SetCredential(apiCred(bad[0], bad[1])); err == nil {
			t.Errorf("SetCredential(%q, %q) accepted", bad[0], bad[1])
		}
	}
}

func TestWrongCredentialsRateLimited(t *testing.T) {
	f := newFixture(t, t.TempDir())
	f.setUp()
	for i := range lockout.MaxFailures {
		code, body := f.doAs(pmUser, "wrong-password", "GET", Prefix+"/users", "")
		if code != http.StatusUnauthorized || !strings.Contains(body, "wrong") {
			t.Fatalf("attempt %d: %d %s", i, code, body)
		}
	}
	if code, _ := f.doAs("", "", "GET", Prefix+"/users", ""); code != http.StatusTooManyRequests {
		t.Fatalf("no credentials after %d failures: %d", lockout.MaxFailures, code)
	}
	// Locked: even the right password waits.
	req := httptest.NewRequest("GET", Prefix+"/users", nil)
	req.SetBasicAuth(pmUser, pmPass)
	rec := httptest.NewRecorder()
	f.h.ServeHTTP(rec, req)
	if rec.Code != http.StatusTooManyRequests || rec.Header().Get("Retry-After") != "60" {
		t.Fatalf("locked: %d Retry-After %q %s", rec.Code, rec.Header().Get("Retry-After"), rec.Body)
	}
	f.clock.Advance(lockout.FirstLockout)
	if code, body := f.do("GET", Prefix+"/users", ""); code != 200 {
		t.Fatalf("after the lockout: %d %s", code, body)
	}
	// The next lockout after failures again is longer.
	for range lockout.MaxFailures {
		f.doAs(pmUser, "wrong-password", "GET", Prefix+"/users", "")
	}
	if d := f.svc.limit.Wait(f.clock.Now()); d != lockout.FirstLockout {
		t.Fatalf("lockout after a success reset: %v", d)
	}
	f.clock.Advance(lockout.FirstLockout)
	for range lockout.MaxFailures {
		f.doAs("someone", pmPass, "GET", Prefix+"/users", "")
	}
	if d := f.svc.limit.Wait(f.clock.Now()); d != 2*lockout.FirstLockout {
		t.Fatalf("second lockout: %v, want %v", d, 2*lockout.FirstLockout)
	}
}

func TestSyncCountsAndIdempotence(t *testing.T) {
	f := newFixture(t, t.TempDir())
	f.setUp()
	us, ds := many(50)
	code, body := f.do("POST", Prefix+"/sync", syncBody(t, us, ds))
	r := decodeSync(t, body)
	if code != 200 || r.Users.Created != 50 || r.Devices.Created != 50 || r.Pending != 100 || len(r.Errors) != 0 {
		t.Fatalf("first sync: %d %+v", code, r)
	}
	// The same again: nothing changes, the file is not written.
	before, _ := os.Stat(filepath.Join(f.dir, DirName, DesiredFile))
	code, body = f.do("POST", Prefix+"/sync", syncBody(t, us, ds))
	r = decodeSync(t, body)
	if code != 200 || r.Users.Unchanged != 50 || r.Users.Created+r.Users.Changed+r.Users.Deleted != 0 || r.Devices.Unchanged != 50 {
		t.Fatalf("second sync: %d %+v", code, r)
	}
	after, _ := os.Stat(filepath.Join(f.dir, DirName, DesiredFile))
	if !after.ModTime().Equal(before.ModTime()) {
		t.Error("an identical sync rewrote the directory")
	}
	// One changed, one gone, one new; e-mail case does not matter.
	us[0].LastName = "Changed"
	us[1].Email = strings.ToUpper(us[1].Email)
	us = append(us[:49], user(99))
	code, body = f.do("POST", Prefix+"/sync", syncBody(t, us, ds[:49]))
	r = decodeSync(t, body)
	if code != 200 || r.Users.Created != 1 || r.Users.Changed != 1 || r.Users.Deleted != 1 || r.Users.Unchanged != 48 || r.Users.Total != 50 || r.Devices.Deleted != 1 {
		t.Fatalf("third sync: %d %+v", code, r)
	}
	c := Diff(NewDirectory(), f.svc.desired)
	if len(c.UpsertUsers) != 50 || len(c.UpsertDevices) != 49 {
		t.Fatalf("directory: %d users %d devices", len(c.UpsertUsers), len(c.UpsertDevices))
	}
	// Reopened from disk: the same directory.
	f.open()
	if d := Diff(c2dir(c), f.svc.desired); !d.Empty() {
		t.Fatalf("reopened directory differs: %+v", d)
	}
}

func c2dir(c Changes) *Directory {
	d := NewDirectory()
	d.Apply(c)
	return d
}

func TestSyncInvalidItemsNamedValidOnesSync(t *testing.T) {
	f := newFixture(t, t.TempDir())
	f.setUp()
	us, ds := many(3)
	f.do("POST", Prefix+"/sync", syncBody(t, us, ds))
	bad := []any{
		us[0],
		map[string]any{"email": "no-extension@example.com", "first_name": "A"},
		map[string]any{"email": us[1].Email, "extension": us[1].Extension}, // no name: kept as it was
		map[string]any{"email": "not-an-address", "extension": "123", "last_name": "B"},
		map[string]any{"email": "n@example.com", "extension": 42, "last_name": "C"},
		map[string]any{"email": "z@example.com", "extension": "777", "last_name": "Z", "colour": "red"},
		user(10),
	}
	body, _ := json.Marshal(map[string]any{"users": bad, "devices": []any{ds[0], map[string]any{"id": "has space", "extension": "1"}}})
	code, out := f.do("POST", Prefix+"/sync", string(body))
	r := decodeSync(t, out)
	if code != 200 || r.Users.Invalid != 5 || r.Devices.Invalid != 1 || r.Users.Created != 1 || r.Users.Deleted != 1 || r.Users.Total != 3 {
		t.Fatalf("sync: %d %+v", code, r)
	}
	want := map[int]string{1: "extension is needed", 2: "first_name or last_name is needed", 3: "not an e-mail address", 4: `"extension" must be a string`, 5: `unknown field "colour"`}
	for _, e := range r.Errors {
		if e.Kind == "device" {
			if e.Index != 1 || e.Key != "has space" || !strings.Contains(e.Message, "no spaces") {
				t.Errorf("device error %+v", e)
			}
			continue
		}
		if w, ok := want[e.Index]; !ok || !strings.Contains(e.Message, w) {
			t.Errorf("user error %+v, want %q", e, w)
		}
		delete(want, e.Index)
	}
	if len(want) != 0 {
		t.Errorf("not named: %v", want)
	}
	if _, ok := f.svc.desired.Users[us[1].Email]; !ok {
		t.Error("the user sent with invalid data was deleted, not kept")
	}
	if _, ok := f.svc.desired.Users[us[2].Email]; ok {
		t.Error("the user left out was kept")
	}
}

func TestBadRequestsChangeNothing(t *testing.T) {
	f := newFixture(t, t.TempDir())
	f.setUp()
	us, ds := many(3)
	f.do("POST", Prefix+"/sync", syncBody(t, us, ds))
	snapshot, _ := os.ReadFile(filepath.Join(f.dir, DirName, DesiredFile))
	u5001, _ := many(cloudapi.MaxDirectoryUsers + 1)
	dupMail := []cloudapi.DirectoryUser{user(1), user(2)}
	dupMail[1].Email = strings.ToUpper(dupMail[0].Email)
	dupExt := []cloudapi.DirectoryUser{user(1), user(2)}
	dupExt[1].Extension = dupExt[0].Extension
	for _, tc := range []struct {
		name, body string
		code       int
		want       string
	}{
		{"malformed", `{"users": [`, 400, "ends too early"},
		{"syntax", `{"users": [}`, 400, "malformed JSON at byte"},
		{"not an object", `[1,2]`, 400, "Send {"},
		{"two values", `{"users":[]} {}`, 400, "more than one JSON value"},
		{"unknown field", `{"people": []}`, 400, `unknown field \"people\"`},
		{"empty", ``, 400, "empty"},
		{"5001 users", syncBody(t, u5001, nil), 400, "5001 users"},
		{"duplicate e-mail", syncBody(t, dupMail, nil), 400, "have the e-mail " + dupMail[0].Email},
		{"duplicate extension", syncBody(t, dupExt, nil), 400, "have the extension " + dupExt[0].Extension},
		{"duplicate device", syncBody(t, nil, []cloudapi.DirectoryDevice{device(1), device(1)}), 400, "have the ID dev-0001"},
		{"oversized", `{"users":[` + strings.Repeat(" ", MaxBodyBytes) + `]}`, 413, "larger than"},
	} {
		code, body := f.do("POST", Prefix+"/sync", tc.body)
		if code != tc.code || !strings.Contains(body, tc.want) || !strings.Contains(body, `"error"`) {
			t.Errorf("%s: %d %s", tc.name, code, truncate(body))
		}
	}
	if code, _ := f.doAs(pmUser, pmPass, "POST", Prefix+"/sync", ""); code != 400 {
		t.Errorf("no body: %d", code)
	}
	now, _ := os.ReadFile(filepath.Join(f.dir, DirName, DesiredFile))
	if !bytes.Equal(snapshot, now) {
		t.Error("a refused request changed the directory")
	}
	req := httptest.NewRequest("POST", Prefix+"/sync", strings.NewReader(syncBody(t, us, ds)))
	req.SetBasicAuth(pmUser, pmPass)
	req.Header.Set("Content-Type", "text/plain")
	rec := httptest.NewRecorder()
	f.h.ServeHTTP(rec, req)
	if rec.Code != http.StatusUnsupportedMediaType {
		t.Errorf("text/plain: %d", rec.Code)
	}
	if code, body := f.do("GET", Prefix+"/nothing", ""); code != 404 || !strings.Contains(body, "pm-api.md") {
		t.Errorf("unknown route: %d %s", code, body)
	}
}

func truncate(s string) string {
	if len(s) > 300 {
		return s[:300] + "…"
	}
	return s
}

func TestUserAndDeviceRoutes(t *testing.T) {
	f := newFixture(t, t.TempDir())
	f.setUp()
	u := user(1)
	ub, _ := json.Marshal(u)
	if code, body := f.do("POST", Prefix+"/users", string(ub)); code != 201 || !strings.Contains(body, u.Email) {
		t.Fatalf("create: %d %s", code, body)
	}
	if code, body := f.do("POST", Prefix+"/users", string(ub)); code != 409 || !strings.Contains(body, "exists") {
		t.Fatalf("create again: %d %s", code, body)
	}
	other := user(2)
	other.Extension = u.Extension
	ob, _ := json.Marshal(other)
	if code, body := f.do("POST", Prefix+"/users", string(ob)); code != 409 || !strings.Contains(body, "extension") {
		t.Fatalf("create with a taken extension: %d %s", code, body)
	}
	u.FirstName = "Anna"
	ub, _ = json.Marshal(u)
	if code, body := f.do("PUT", Prefix+"/users/"+strings.ToUpper(u.Email), string(ub)); code != 200 || !strings.Contains(body, "Anna") {
		t.Fatalf("put: %d %s", code, body)
	}
	if code, body := f.do("PUT", Prefix+"/users/other@example.com", string(ub)); code != 400 || !strings.Contains(body, "key") {
		t.Fatalf("put under another e-mail: %d %s", code, body)
	}
	if code, body := f.do("GET", Prefix+"/users/"+u.Email, ""); code != 200 || !strings.Contains(body, "Anna") {
		t.Fatalf("get: %d %s", code, body)
	}
	if code, body := f.do("POST", Prefix+"/users", `{"email":"x@example.com"}`); code != 400 || !strings.Contains(body, "extension is needed") {
		t.Fatalf("create invalid: %d %s", code, body)
	}
	d := device(1)
	db, _ := json.Marshal(d)
	if code, body := f.do("PUT", Prefix+"/devices/"+d.ID, string(db)); code != 201 {
		t.Fatalf("put new device: %d %s", code, body)
	}
	if code, body := f.do("GET", Prefix+"/devices", ""); code != 200 || !strings.Contains(body, `"count":1`) {
		t.Fatalf("list devices: %d %s", code, body)
	}
	if code, _ := f.do("DELETE", Prefix+"/devices/"+d.ID, ""); code != 204 {
		t.Fatalf("delete device: %d", code)
	}
	if code, _ := f.do("DELETE", Prefix+"/devices/"+d.ID, ""); code != 404 {
		t.Fatalf("delete device again: %d", code)
	}
	if code, _ := f.do("DELETE", Prefix+"/users/"+u.Email, ""); code != 204 {
		t.Fatalf("delete user: %d", code)
	}
	if st := f.svc.Status(); st.Users != 0 || st.Devices != 0 || st.Pending != 0 {
		t.Fatalf("status after deleting all: %+v", st)
	}
}

func TestCorruptFilesMovedAside(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, DirName), 0o700); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{DesiredFile, SyncedFile, InFlightFile} {
		if err := os.WriteFile(filepath.Join(dir, DirName, name), []byte("{not json"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	f := newFixture(t, dir)
	if st := f.svc.Status(); st.Users != 0 || st.Pending != 0 {
		t.Fatalf("status: %+v", st)
	}
	for _, name := range []string{DesiredFile, SyncedFile, InFlightFile} {
		if _, err := os.Stat(filepath.Join(dir, DirName, name+".corrupt-1")); err != nil {
			t.Errorf("%s not moved aside: %v", name, err)
		}
	}
}

func TestDiffApply(t *testing.T) {
	a, b := NewDirectory(), NewDirectory()
	us, ds := many(10)
	a.Apply(Changes{UpsertUsers: us[:6], UpsertDevices: ds[:6]})
	b.Apply(Changes{UpsertUsers: us[3:], UpsertDevices: ds[3:]})
	x := b.Users[us[4].Email]
	x.Services = nil
	b.Users[us[4].Email] = x
	c := Diff(a, b)
	if len(c.UpsertUsers) != 5 || len(c.DeleteUsers) != 3 || len(c.UpsertDevices) != 4 || len(c.DeleteDevices) != 3 {
		t.Fatalf("diff: %d %d %d %d", len(c.UpsertUsers), len(c.DeleteUsers), len(c.UpsertDevices), len(c.DeleteDevices))
	}
	a.Apply(c)
	if !Diff(a, b).Empty() {
		t.Fatal("a with the diff applied is not b")
	}
}

// FuzzParseSync: the payload parser never panics, and what it accepts
// is valid and without duplicate keys.
func FuzzParseSync(f *testing.F) {
	us, ds := many(2)
	f.Add([]byte(syncBody(f, us, ds)))
	f.Add([]byte(`{"users":[{"email":"a@b.co","extension":"1","first_name":"x","services":["zoom-client"]}],"devices":[{"id":"d","extension":"2"}]}`))
	f.Add([]byte(`{"users":[{"email":1}],"devices":[null]}`))
	f.Add([]byte(`{"users":[{}, {"email":"A@b.co"}, {"email":"a@B.co"}]}`))
	f.Add([]byte(`{`))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := ParseSync(data)
		if err != nil {
			if _, ok := err.(*RequestError); !ok {
				t.Fatalf("error of type %T: %v", err, err)
			}
			return
		}
		seen := map[string]bool{}
		for _, u := range p.Users {
			if err := u.Validate(); err != nil {
				t.Fatalf("accepted invalid user %+v: %v", u, err)
			}
			if seen[u.Email] {
				t.Fatalf("duplicate %s accepted", u.Email)
			}
			seen[u.Email] = true
		}
		for _, d := range p.Devices {
			if err := d.Validate(); err != nil {
				t.Fatalf("accepted invalid device %+v: %v", d, err)
			}
		}
		next := p.Next(NewDirectory())
		if _, err := json.Marshal(next); err != nil {
			t.Fatal(err)
		}
		_, _ = io.Discard.Write(data)
	})
}

func apiCred(u, p string) api.PMCredential { return api.PMCredential{Username: u, Password: p} }
