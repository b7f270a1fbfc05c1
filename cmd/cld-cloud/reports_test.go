package main

import (
	"context"
	"testing"
	"time"

	"github.com/cloudlink/cld/cloud/store"
)

func TestReportCommands(t *testing.T) {
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
	u, _, err := st.UpsertUser(ctx, "admin@demo.test", []byte("hash"), now)
	if err != nil {
		t.Fatal(err)
	}
	sys, _, err := st.RegisterSystem(ctx, store.System{Account: a, InstallationID: "i1", Hostname: "pbx", ClientID: "sys-1",
		SecretHash: "x", UserID: u.ID, UserEmail: u.Email, Role: store.RoleAccountAdmin}, now)
	if err != nil {
		t.Fatal(err)
	}
	wantCode(t, cli(t, "", "report", "list", "--data", dir, "--system", sys.ID), exitOK, "has sent no inventory report yet")
	for i, id := range []string{"r1", "r2"} {
		if _, _, err := st.AddReport(ctx, store.Report{SystemID: sys.ID, ID: id, ReceivedAt: now.Add(time.Duration(i) * time.Minute),
			Trigger: "change", Changes: []string{"tunnel a: stopped → started"}, Hostname: "mcd56", PlatformType: "msl",
			PlatformName: "MiVoice Business", PlatformVersion: "10.2", JSON: []byte(`{"id":"` + id + `"}`)}); err != nil {
			t.Fatal(err)
		}
	}
	st.Close()
	wantCode(t, cli(t, "", "report", "list", "--data", dir, "--system", sys.ID), exitOK,
		"RECEIVED", "2026-11-22T08:01:00Z  change", "r2", "mcd56", "msl (MiVoice Business)", "10.2", "tunnel a: stopped → started")
	wantCode(t, cli(t, "", "report", "show", "--data", dir, "--system", sys.ID), exitOK, `{"id":"r2"}`)
	wantCode(t, cli(t, "", "report", "show", "--data", dir, "--system", sys.ID, "--id", "r1"), exitOK, `{"id":"r1"}`)
	wantCode(t, cli(t, "", "report", "show", "--data", dir, "--system", sys.ID, "--id", "nope"), exitFailed, "no stored inventory report nope")
	wantCode(t, cli(t, "", "report", "list", "--data", dir, "--system", "nope"), exitFailed, "there is no system nope")
	wantCode(t, cli(t, "", "report", "list", "--data", dir), exitUsage, "--system is required")
	wantCode(t, cli(t, "", "report"), exitUsage, "needs a subcommand")
	wantCode(t, cli(t, "", "report", "bogus"), exitUsage, "use list or show")
}
