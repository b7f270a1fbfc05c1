package cloud

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/cloudlink/cld/cloud/cloudapi"
	"github.com/cloudlink/cld/cloud/store"
)

// postDirectory sends a directory batch body.
func postDirectory(t testing.TB, ts *TestServer, token, enc string, body io.Reader) resp {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, ts.URL+cloudapi.PathSystemDirectory, body)
	req.Header.Set("Content-Type", "application/json")
	if enc != "" {
		req.Header.Set("Content-Encoding", enc)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return do(t, ts.Client(), req)
}

func directoryOK(t testing.TB, r resp) cloudapi.DirectoryAccepted {
	t.Helper()
	if r.Status != http.StatusOK {
		t.Fatalf("POST directory: %d %s", r.Status, r.Body)
	}
	var a cloudapi.DirectoryAccepted
	if err := json.Unmarshal([]byte(r.Body), &a); err != nil {
		t.Fatal(err)
	}
	return a
}

// wantAPIError checks an error answer's status and that its description
// holds every one of want.
func wantAPIError(t testing.TB, r resp, status int, want ...string) {
	t.Helper()
	if r.Status != status {
		t.Fatalf("status %d, want %d: %s", r.Status, status, r.Body)
	}
	e := r.apiError(t)
	for _, w := range want {
		if !strings.Contains(e.Description, w) {
			t.Errorf("error %q lacks %q", e.Description, w)
		}
	}
}

func testBatch(id string) cloudapi.DirectoryBatch {
	return cloudapi.DirectoryBatch{ID: id,
		UpsertUsers: []cloudapi.DirectoryUser{
			{Email: "Anna.Berg@Example.com", Extension: "2001", FirstName: "Anna", LastName: "Berg",
				Services: []string{cloudapi.ServiceZoomClient}, Role: "user"},
			{Email: "bo.lind@example.com", Extension: "2002", LastName: "Lind <script>"},
		},
		UpsertDevices: []cloudapi.DirectoryDevice{{ID: "SEP001122334455", Extension: "2001", Type: "sip", Name: "Reception phone",
			Owner: "anna.berg@example.com"}},
	}
}

func TestDirectoryLimitsAgree(t *testing.T) {
	if store.MaxDirectoryUsers != cloudapi.MaxDirectoryUsers || store.MaxDirectoryDevices != cloudapi.MaxDirectoryDevices {
		t.Fatalf("store limits %d/%d, wire contract %d/%d", store.MaxDirectoryUsers, store.MaxDirectoryDevices,
			cloudapi.MaxDirectoryUsers, cloudapi.MaxDirectoryDevices)
	}
}

func TestSystemDirectory(t *testing.T) {
	var logs syncBuffer
	ts := NewTestServer(t, WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	rr, tok := linkedDevice(t, ts, installA, "pbx-alpha")
	ctx := context.Background()

	a := directoryOK(t, jsonRequest(t, ts, http.MethodPost, cloudapi.PathSystemDirectory, tok, testBatch("q-1")))
	if a != (cloudapi.DirectoryAccepted{ID: "q-1", Users: 2, Devices: 1}) {
		t.Fatalf("applied: %+v", a)
	}
	d, err := ts.Server.Store().Directory(ctx, DemoAccountID)
	if err != nil || len(d.Users) != 2 || d.Users[0].Email != "anna.berg@example.com" || d.Users[0].SystemID != rr.SystemID ||
		d.Users[0].Services[0] != cloudapi.ServiceZoomClient || len(d.Devices) != 1 || d.Summary.Batches != 1 {
		t.Fatalf("stored: %+v %v", d, err)
	}

	// The retry, gzip-compressed this time: a duplicate, nothing changed.
	retry := testBatch("q-1")
	retry.UpsertUsers, retry.DeleteUsers = retry.UpsertUsers[1:], []string{"anna.berg@example.com"}
	a = directoryOK(t, postDirectory(t, ts, tok, "gzip", bytes.NewReader(gzipped(t, mustJSON(t, retry)))))
	if a != (cloudapi.DirectoryAccepted{ID: "q-1", Duplicate: true, Users: 2, Devices: 1}) {
		t.Fatalf("retry: %+v", a)
	}
	// Deletes, by key in any case; an absent key is fine.
	a = directoryOK(t, jsonRequest(t, ts, http.MethodPost, cloudapi.PathSystemDirectory, tok, cloudapi.DirectoryBatch{ID: "q-2",
		DeleteUsers: []string{"BO.LIND@example.com", "gone@example.com"}, DeleteDevices: []string{"SEP001122334455"}}))
	if a != (cloudapi.DirectoryAccepted{ID: "q-2", Users: 1, Devices: 0}) {
		t.Fatalf("deletes: %+v", a)
	}
	out := logs.String()
	if !strings.Contains(out, "directory batch applied") || !strings.Contains(out, "directory batch already applied") ||
		!strings.Contains(out, "account_id=100001") || !strings.Contains(out, "upsert_users=2") {
		t.Errorf("log lacks the applied batches:\n%s", out)
	}
	if strings.Contains(strings.ToLower(out), "@example.com") {
		t.Errorf("log names an e-mail address:\n%s", out)
	}

	t.Run("token", func(t *testing.T) {
		b := mustJSON(t, testBatch("t"))
		wantAPIError(t, postDirectory(t, ts, "", "", bytes.NewReader(b)), http.StatusUnauthorized)
		wantAPIError(t, postDirectory(t, ts, "not-a-token", "", bytes.NewReader(b)), http.StatusUnauthorized)
		// A user's token is not a system's.
		wantAPIError(t, postDirectory(t, ts, adminToken(t, ts), "", bytes.NewReader(b)), http.StatusForbidden, "device token")
		if r := jsonRequest(t, ts, http.MethodGet, cloudapi.PathSystemDirectory, tok, nil); r.Status != http.StatusMethodNotAllowed ||
			r.Header.Get("Allow") != http.MethodPost {
			t.Errorf("GET: %d %v", r.Status, r.Header)
		}
		// A removed system's token no longer writes.
		rrB, tokB := linkedDevice(t, ts, installB, "pbx-beta")
		if err := ts.RevokeSystem(rrB.SystemID, "admin@demo.test"); err != nil {
			t.Fatal(err)
		}
		r := postDirectory(t, ts, tokB, "", bytes.NewReader(b))
		if r.Status != http.StatusUnauthorized || r.apiError(t).Code != cloudapi.ErrSystemRevoked {
			t.Errorf("revoked: %d %s", r.Status, r.Body)
		}
	})

	t.Run("bad bodies", func(t *testing.T) {
		for _, tc := range []struct {
			name, body string
			status     int
			want       []string
		}{
			{"empty", "", 400, []string{"empty"}},
			{"not JSON", "{", 400, []string{"ends too early"}},
			{"syntax", `{"id":"x",}`, 400, []string{"not valid JSON"}},
			{"array", `[1]`, 400, []string{"must be a JSON object"}},
			{"wrong type", `{"id":7}`, 400, []string{"The field id must be a"}},
			{"unknown field", `{"id":"x","upsert_user":[]}`, 400, []string{`"upsert_user"`, "unknown fields"}},
			{"unknown field of a user", `{"id":"x","upsert_users":[{"email":"a@example.com","extension":"1","first_name":"A","phone":"1"}]}`,
				400, []string{`"phone"`}},
			{"two objects", `{"id":"x"}{"id":"y"}`, 400, []string{"nothing after it"}},
			{"no id", `{"upsert_users":[]}`, 400, []string{"id is missing"}},
			{"long id", `{"id":"` + strings.Repeat("x", 65) + `"}`, 400, []string{"65 bytes long; at most 64"}},
			{"id with a control character", `{"id":"a\u0007b"}`, 400, []string{"printable"}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				wantAPIError(t, postDirectory(t, ts, tok, "", strings.NewReader(tc.body)), tc.status, tc.want...)
			})
		}
		r := postDirectory(t, ts, tok, "br", strings.NewReader(`{"id":"x"}`))
		if r.Status != http.StatusUnsupportedMediaType {
			t.Errorf("brotli: %d %s", r.Status, r.Body)
		}
		r = postDirectory(t, ts, tok, "gzip", strings.NewReader(`{"id":"x"}`))
		wantAPIError(t, r, 400, "not gzip data")
	})

	t.Run("bad items", func(t *testing.T) {
		for _, tc := range []struct {
			name string
			mut  func(*cloudapi.DirectoryBatch)
			want []string
		}{
			{"user without e-mail", func(b *cloudapi.DirectoryBatch) { b.UpsertUsers[1].Email = "" },
				[]string{"upsert_users[1]", "email is needed"}},
			{"user with a bad extension and no name", func(b *cloudapi.DirectoryBatch) {
				b.UpsertUsers[0].Extension, b.UpsertUsers[0].FirstName, b.UpsertUsers[0].LastName = "x1", "", ""
			}, []string{`upsert_users[0] ("Anna.Berg@Example.com") is invalid`, "may hold only digits", "; first_name or last_name is needed"}},
			{"user with a bad service", func(b *cloudapi.DirectoryBatch) { b.UpsertUsers[0].Services = []string{"ZOOM Client"} },
				[]string{"upsert_users[0]", `service "ZOOM Client"`}},
			{"device with a slash", func(b *cloudapi.DirectoryBatch) { b.UpsertDevices[0].ID = "a/b" },
				[]string{`upsert_devices[0] ("a/b")`, "no spaces, slashes"}},
			{"bad delete device", func(b *cloudapi.DirectoryBatch) { b.DeleteDevices = []string{"ok", "a b"} },
				[]string{`delete_devices[1] ("a b")`}},
			{"bad delete user", func(b *cloudapi.DirectoryBatch) { b.DeleteUsers = []string{" "} }, []string{"delete_users[0]", "is empty"}},
			{"user twice", func(b *cloudapi.DirectoryBatch) {
				b.UpsertUsers = append(b.UpsertUsers, cloudapi.DirectoryUser{Email: " anna.berg@EXAMPLE.com", Extension: "1", FirstName: "A"})
			}, []string{"upsert_users[2]", "has the e-mail of upsert_users[0]"}},
			{"user upserted and deleted", func(b *cloudapi.DirectoryBatch) { b.DeleteUsers = []string{"BO.LIND@example.com"} },
				[]string{"delete_users[0]", "has the e-mail of upsert_users[1]"}},
			{"device twice", func(b *cloudapi.DirectoryBatch) { b.DeleteDevices = []string{"x", " x "} },
				[]string{"delete_devices[1]", "has the id of delete_devices[0]"}},
			{"too many users", func(b *cloudapi.DirectoryBatch) {
				b.UpsertUsers = nil
				for i := range cloudapi.MaxDirectoryUsers + 1 {
					b.UpsertUsers = append(b.UpsertUsers, cloudapi.DirectoryUser{Email: fmt.Sprintf("u%d@example.com", i), Extension: "1", FirstName: "U"})
				}
			}, []string{"upsert_users holds 5001 entries", "at most 5000"}},
			{"too many deletes", func(b *cloudapi.DirectoryBatch) { b.DeleteDevices = make([]string, cloudapi.MaxDirectoryDevices+1) },
				[]string{"delete_devices holds 5001 entries"}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				b := testBatch("bad-" + tc.name)
				tc.mut(&b)
				wantAPIError(t, jsonRequest(t, ts, http.MethodPost, cloudapi.PathSystemDirectory, tok, b), 400, tc.want...)
			})
		}
		// Nothing of the refused batches was stored.
		if sum, err := ts.Server.Store().DirectorySummary(ctx, DemoAccountID); err != nil || sum.Users != 1 || sum.Batches != 2 {
			t.Errorf("after the refused batches: %+v %v", sum, err)
		}
		if strings.Contains(strings.ToLower(logs.String()), "example.com") {
			t.Errorf("log names an e-mail address:\n%s", logs.String())
		}
	})

	t.Run("too large", func(t *testing.T) {
		big := `{"id":"big","delete_devices":["` + strings.Repeat("x", cloudapi.MaxDirectoryBatchBytes) + `"]}`
		wantAPIError(t, postDirectory(t, ts, tok, "", strings.NewReader(big)), http.StatusRequestEntityTooLarge, "larger than 16 MiB")
		// Without a Content-Length, and as a gzip bomb.
		wantAPIError(t, postDirectory(t, ts, tok, "", hideLength{strings.NewReader(big)}), http.StatusRequestEntityTooLarge, "smaller batches")
		bomb := gzipped(t, []byte(big))
		if len(bomb) > 1<<20 {
			t.Fatalf("bomb of %d bytes", len(bomb))
		}
		wantAPIError(t, postDirectory(t, ts, tok, "gzip", bytes.NewReader(bomb)), http.StatusRequestEntityTooLarge, "larger than 16 MiB")
	})

	t.Run("limit exceeded", func(t *testing.T) {
		// A full directory in one batch, then one more user from another
		// system of the account: refused whole, nothing changed.
		full := cloudapi.DirectoryBatch{ID: "full"}
		for i := range cloudapi.MaxDirectoryUsers - 1 {
			full.UpsertUsers = append(full.UpsertUsers, cloudapi.DirectoryUser{Email: fmt.Sprintf("user%04d@example.com", i),
				Extension: fmt.Sprint(10000 + i), FirstName: "User", LastName: fmt.Sprint(i), Services: []string{"zoom-client"}})
		}
		for i := range cloudapi.MaxDirectoryDevices {
			full.UpsertDevices = append(full.UpsertDevices, cloudapi.DirectoryDevice{ID: fmt.Sprintf("dev-%04d", i),
				Extension: fmt.Sprint(10000 + i), Type: "sip", Owner: fmt.Sprintf("user%04d@example.com", i%4999)})
		}
		a := directoryOK(t, jsonRequest(t, ts, http.MethodPost, cloudapi.PathSystemDirectory, tok, full))
		if a.Users != cloudapi.MaxDirectoryUsers || a.Devices != cloudapi.MaxDirectoryDevices {
			t.Fatalf("full: %+v", a)
		}
		_, tokC := linkedDevice(t, ts, "3b241101-e2bb-4255-8caf-4136c566a962", "pbx-gamma")
		r := jsonRequest(t, ts, http.MethodPost, cloudapi.PathSystemDirectory, tokC, cloudapi.DirectoryBatch{ID: "one-more",
			UpsertUsers: []cloudapi.DirectoryUser{{Email: "one.more@example.com", Extension: "9", FirstName: "One"}}})
		wantAPIError(t, r, http.StatusConflict, "account 100001 with 5001 users", "at most 5000 users", "Nothing was changed")
		if sum, err := ts.Server.Store().DirectorySummary(ctx, DemoAccountID); err != nil || sum.Users != cloudapi.MaxDirectoryUsers || sum.Batches != 3 {
			t.Errorf("after the refused batch: %+v %v", sum, err)
		}
		// The portal's page of a full directory.
		br := newBrowser(t, ts)
		wantRedirect(t, br.post("/portal/signin", "email", DemoUserEmail, "password", DemoPassword), "/portal/systems")
		start := time.Now()
		page := br.get("/portal/directory")
		if page.Status != http.StatusOK || !strings.Contains(page.Body, `<dd class="count-users">5000</dd>`) ||
			!strings.Contains(page.Body, "user4998@example.com") || !strings.Contains(page.Body, "dev-4999") {
			t.Fatalf("full directory page: %d, %d bytes", page.Status, len(page.Body))
		}
		t.Logf("full directory page: %d KiB in %v", len(page.Body)>>10, time.Since(start))
	})
}

func TestPortalDirectory(t *testing.T) {
	ts := NewTestServer(t)
	_, tok := linkedDevice(t, ts, installA, "pbx-alpha")
	b := testBatch("q-1")
	for i := range 3000 {
		b.UpsertDevices = append(b.UpsertDevices, cloudapi.DirectoryDevice{ID: fmt.Sprintf("dect-%04d", i), Extension: fmt.Sprint(3000 + i),
			Type: "dect"})
	}
	directoryOK(t, jsonRequest(t, ts, http.MethodPost, cloudapi.PathSystemDirectory, tok, b))
	// A user only of the second account.
	if _, err := AddUser(context.Background(), ts.Server.Store(), "other@demo.test", DemoPassword, DemoSecondAccountID, false,
		bcrypt.MinCost, time.Now()); err != nil {
		t.Fatal(err)
	}

	anon := newBrowser(t, ts)
	wantRedirect(t, anon.get("/portal/directory"), "/portal/")

	br := newBrowser(t, ts)
	wantRedirect(t, br.post("/portal/signin", "email", DemoUserEmail, "password", DemoPassword), "/portal/systems")
	if r := br.get("/portal/systems"); !strings.Contains(r.Body, `href="/portal/directory"`) {
		t.Error("the systems page has no link to the directory")
	}
	r := br.get("/portal/directory")
	if r.Status != http.StatusOK || r.Header.Get("Cache-Control") != "no-store" || r.Header.Get("X-Frame-Options") != "DENY" {
		t.Fatalf("directory page: %d %v", r.Status, r.Header)
	}
	for _, want := range []string{"Directory of account 100001", "anna.berg@example.com", "2001", "Anna Berg", "zoom-client",
		"Lind &lt;script&gt;", "SEP001122334455", "Reception phone", "dect-2999", `<dd class="count-users">2</dd>`,
		`<dd class="count-devices">3001</dd>`, `<dd class="count-batches">1</dd>`, " UTC</dd>"} {
		if !strings.Contains(r.Body, want) {
			t.Errorf("directory page lacks %q", want)
		}
	}
	if strings.Contains(r.Body, "Lind <script>") {
		t.Error("a name is not escaped")
	}

	other := newBrowser(t, ts)
	wantRedirect(t, other.post("/portal/signin", "email", "other@demo.test", "password", DemoPassword), "/portal/systems")
	r = other.get("/portal/directory")
	if r.Status != http.StatusOK || !strings.Contains(r.Body, "Directory of account 100002") || !strings.Contains(r.Body, "No users yet") ||
		!strings.Contains(r.Body, "none yet") {
		t.Fatalf("other account's directory page: %d\n%s", r.Status, r.Body)
	}
	if strings.Contains(r.Body, "anna.berg@example.com") || strings.Contains(r.Body, "SEP001122334455") {
		t.Error("a user of another account sees the directory")
	}
}
