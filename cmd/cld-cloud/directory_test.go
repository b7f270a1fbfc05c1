package main

import (
	"context"
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/cloudlink/cld/cloud/store"
)

func TestDirectoryCommand(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	st, err := store.Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 22, 8, 0, 0, 0, time.UTC)
	a, err := st.CreateAccount(ctx, store.Account{ID: 100001, Name: "Demo", Region: "eu"}, now)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.CreateAccount(ctx, store.Account{ID: 100002, Name: "Other", Region: "eu"}, now); err != nil {
		t.Fatal(err)
	}
	u, _, err := st.UpsertUser(ctx, "admin@demo.test", []byte("hash"), now)
	if err != nil {
		t.Fatal(err)
	}
	sys, _, err := st.RegisterSystem(ctx, store.System{Account: a, InstallationID: "i1", Hostname: "pbx", ClientID: "sys-1",
		SecretHash: "x", UserID: u.ID, UserEmail: u.Email, Role: store.RoleAccountAdmin}, now)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.ApplyDirectoryBatch(ctx, a.ID, sys.ID, store.DirectoryBatch{ID: "b1",
		UpsertUsers: []store.DirectoryUser{
			{Email: "bo@example.com", Extension: "2002", LastName: "Bo"},
			{Email: "anna.berg@example.com", Extension: "2001", FirstName: "Anna", LastName: "Berg", Services: []string{"zoom-client"}, Role: "user"},
		},
		UpsertDevices: []store.DirectoryDevice{{ID: "SEP01", Extension: "2001", Type: "sip", Name: "Desk", Owner: "anna.berg@example.com"}},
	}, now); err != nil {
		t.Fatal(err)
	}
	if _, err := st.ApplyDirectoryBatch(ctx, a.ID, sys.ID, store.DirectoryBatch{ID: "b2"}, now.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	st.Close()

	wantCode(t, cli(t, "", "directory", "--data", dir, "--account", "100001"), exitOK,
		"Account 100001: 2 users, 1 device; 2 batches applied, the last at 2026-11-22T08:01:00Z.")
	wantCode(t, cli(t, "", "directory", "--data", dir, "--account", "100002"), exitOK,
		"Account 100002: 0 users, 0 devices; 0 batches applied, none applied yet.")

	r := cli(t, "", "directory", "--data", dir, "--account", "100001", "--json")
	wantCode(t, r, exitOK)
	const want = `{"account":100001,"users":[{"email":"anna.berg@example.com","extension":"2001","first_name":"Anna","last_name":"Berg",` +
		`"services":["zoom-client"],"role":"user"},{"email":"bo@example.com","extension":"2002","last_name":"Bo"}],` +
		`"devices":[{"id":"SEP01","extension":"2001","type":"sip","name":"Desk","owner":"anna.berg@example.com"}],` +
		`"batches":2,"last_batch_at":"2026-11-22T08:01:00Z"}` + "\n"
	if r.stdout != want {
		t.Errorf("--json:\n got %s\nwant %s", r.stdout, want)
	}
	var got, exp map[string]any
	json.Unmarshal([]byte(r.stdout), &got)
	json.Unmarshal([]byte(want), &exp)
	if !reflect.DeepEqual(got, exp) {
		t.Error("--json is not the documented shape")
	}
	wantCode(t, cli(t, "", "directory", "--data", dir, "--account", "100002", "--json"), exitOK,
		`{"account":100002,"users":[],"devices":[],"batches":0}`)

	wantCode(t, cli(t, "", "directory", "--data", dir, "--account", "999"), exitFailed, "there is no account 999")
	wantCode(t, cli(t, "", "directory", "--data", dir), exitUsage, "--account is required")
	wantCode(t, cli(t, "", "directory", "--account", "1"), exitUsage, "--data is required")
	wantCode(t, cli(t, "", "directory", "--data", dir, "--account", "x"), exitUsage, "must be an account number")
	wantCode(t, cli(t, "", "directory", "-h"), exitOK, `"last_batch_at"`, "field names of")
	wantCode(t, cli(t, "", "help"), exitOK, "directory      show an account's synced user and device directory")
}
