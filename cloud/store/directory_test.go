package store

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"
)

// directorySystems seeds an account with two systems and a second account
// with one.
func directorySystems(t *testing.T, s *Store) (a Account, sysA, sysB, sysOther System) {
	t.Helper()
	ctx := context.Background()
	a, u := seed(t, s)
	reg := func(acc Account, inst string) System {
		sys, _, err := s.RegisterSystem(ctx, System{Account: acc, InstallationID: inst, Hostname: inst, ClientID: "sys-" + inst,
			SecretHash: "x", UserID: u.ID, UserEmail: u.Email, Role: RoleAccountAdmin}, t0)
		if err != nil {
			t.Fatal(err)
		}
		return sys
	}
	other, err := s.CreateAccount(ctx, Account{ID: 100002, Name: "Other", Region: "eu"}, t0)
	if err != nil {
		t.Fatal(err)
	}
	return a, reg(a, "i1"), reg(a, "i2"), reg(other, "i3")
}

func TestApplyDirectoryBatch(t *testing.T) {
	ctx := context.Background()
	s := open(t, t.TempDir())
	a, sysA, sysB, sysOther := directorySystems(t, s)

	if d, err := s.Directory(ctx, a.ID); err != nil || d.Users != nil || d.Devices != nil || d.Summary != (DirectorySummary{}) {
		t.Fatalf("empty directory: %+v %v", d, err)
	}
	b1 := DirectoryBatch{ID: "b1",
		UpsertUsers: []DirectoryUser{
			{Email: "Anna.Berg@Example.com", Extension: "2001", FirstName: "Anna", LastName: "Berg", Services: []string{"zoom-client"}, Role: "user"},
			{Email: "bo@example.com", Extension: "2002", LastName: "Bo"},
		},
		UpsertDevices: []DirectoryDevice{{ID: "SEP01", Extension: "2001", Type: "sip", Name: "Desk", Owner: "anna.berg@example.com"}},
		DeleteUsers:   []string{"nobody@example.com"}, // absent: fine
	}
	res, err := s.ApplyDirectoryBatch(ctx, a.ID, sysA.ID, b1, t0)
	if err != nil || res != (DirectoryResult{Users: 2, Devices: 1}) {
		t.Fatalf("b1: %+v %v", res, err)
	}
	want := Directory{
		Summary: DirectorySummary{Users: 2, Devices: 1, Batches: 1, LastBatchAt: t0},
		Users: []DirectoryUser{
			{Email: "anna.berg@example.com", Extension: "2001", FirstName: "Anna", LastName: "Berg", Services: []string{"zoom-client"},
				Role: "user", SystemID: sysA.ID, UpdatedAt: t0},
			{Email: "bo@example.com", Extension: "2002", LastName: "Bo", SystemID: sysA.ID, UpdatedAt: t0},
		},
		Devices: []DirectoryDevice{{ID: "SEP01", Extension: "2001", Type: "sip", Name: "Desk", Owner: "anna.berg@example.com",
			SystemID: sysA.ID, UpdatedAt: t0}},
	}
	d, err := s.Directory(ctx, a.ID)
	if err != nil || !reflect.DeepEqual(d, want) {
		t.Fatalf("after b1:\n got %+v %v\nwant %+v", d, err, want)
	}

	// The same batch again, later and with other content: nothing changes.
	again := b1
	again.UpsertUsers = []DirectoryUser{{Email: "carl@example.com", Extension: "3", FirstName: "Carl"}}
	again.DeleteUsers = []string{"bo@example.com"}
	res, err = s.ApplyDirectoryBatch(ctx, a.ID, sysA.ID, again, t0.Add(time.Hour))
	if err != nil || res != (DirectoryResult{Duplicate: true, Users: 2, Devices: 1}) {
		t.Fatalf("retry: %+v %v", res, err)
	}
	if d, err := s.Directory(ctx, a.ID); err != nil || !reflect.DeepEqual(d, want) {
		t.Fatalf("after the retry:\n got %+v %v\nwant %+v", d, err, want)
	}

	// The same batch ID from another system is another batch: it updates
	// Anna (the key in any case), deletes Bo and the device, adds one.
	t1 := t0.Add(time.Minute)
	res, err = s.ApplyDirectoryBatch(ctx, a.ID, sysB.ID, DirectoryBatch{ID: "b1",
		UpsertUsers:   []DirectoryUser{{Email: "ANNA.BERG@example.com", Extension: "2009", FirstName: "Anna"}},
		DeleteUsers:   []string{" BO@example.com "},
		DeleteDevices: []string{"SEP01"},
		UpsertDevices: []DirectoryDevice{{ID: "dect-7", Extension: "7"}},
	}, t1)
	if err != nil || res != (DirectoryResult{Users: 1, Devices: 1}) {
		t.Fatalf("b1 of system B: %+v %v", res, err)
	}
	d, err = s.Directory(ctx, a.ID)
	if err != nil || d.Summary != (DirectorySummary{Users: 1, Devices: 1, Batches: 2, LastBatchAt: t1}) ||
		!reflect.DeepEqual(d.Users, []DirectoryUser{{Email: "anna.berg@example.com", Extension: "2009", FirstName: "Anna", SystemID: sysB.ID, UpdatedAt: t1}}) ||
		!reflect.DeepEqual(d.Devices, []DirectoryDevice{{ID: "dect-7", Extension: "7", SystemID: sysB.ID, UpdatedAt: t1}}) {
		t.Fatalf("after b1 of system B: %+v %v", d, err)
	}

	// A key deleted and upserted in one batch is kept (deletes go first).
	if res, err := s.ApplyDirectoryBatch(ctx, a.ID, sysA.ID, DirectoryBatch{ID: "b2",
		DeleteDevices: []string{"dect-7"}, UpsertDevices: []DirectoryDevice{{ID: "dect-7", Extension: "8"}}}, t1); err != nil || res.Devices != 1 {
		t.Fatalf("b2: %+v %v", res, err)
	}
	if ds, err := s.DirectoryDevices(ctx, a.ID); err != nil || len(ds) != 1 || ds[0].Extension != "8" {
		t.Fatalf("devices after b2: %+v %v", ds, err)
	}
	// An empty batch is applied (and counted).
	if res, err := s.ApplyDirectoryBatch(ctx, a.ID, sysA.ID, DirectoryBatch{ID: "empty"}, t1); err != nil || res != (DirectoryResult{Users: 1, Devices: 1}) {
		t.Fatalf("empty batch: %+v %v", res, err)
	}

	// Accounts are apart.
	if res, err := s.ApplyDirectoryBatch(ctx, sysOther.Account.ID, sysOther.ID, DirectoryBatch{ID: "b1",
		UpsertUsers: []DirectoryUser{{Email: "anna.berg@example.com", Extension: "1", FirstName: "Other Anna"}}}, t1); err != nil ||
		res != (DirectoryResult{Users: 1}) {
		t.Fatalf("other account: %+v %v", res, err)
	}
	if us, err := s.DirectoryUsers(ctx, a.ID); err != nil || len(us) != 1 || us[0].FirstName != "Anna" {
		t.Fatalf("users of account A: %+v %v", us, err)
	}
	if sum, err := s.DirectorySummary(ctx, sysOther.Account.ID); err != nil || sum != (DirectorySummary{Users: 1, Batches: 1, LastBatchAt: t1}) {
		t.Fatalf("summary of the other account: %+v %v", sum, err)
	}
	if sum, err := s.DirectorySummary(ctx, a.ID); err != nil || sum != (DirectorySummary{Users: 1, Devices: 1, Batches: 4, LastBatchAt: t1}) {
		t.Fatalf("summary of account A: %+v %v", sum, err)
	}

	// A system of another account, an unknown system, no IDs.
	if _, err := s.ApplyDirectoryBatch(ctx, a.ID, sysOther.ID, DirectoryBatch{ID: "x"}, t1); err == nil {
		t.Error("a system of another account wrote to the account")
	}
	if _, err := s.ApplyDirectoryBatch(ctx, a.ID, "nope", DirectoryBatch{ID: "x"}, t1); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown system: %v", err)
	}
	if _, err := s.ApplyDirectoryBatch(ctx, a.ID, sysA.ID, DirectoryBatch{}, t1); err == nil {
		t.Error("a batch without ID was applied")
	}
}

func TestApplyDirectoryBatchLimits(t *testing.T) {
	ctx := context.Background()
	s := open(t, t.TempDir())
	a, sysA, sysB, _ := directorySystems(t, s)

	// A full directory in one batch.
	full := DirectoryBatch{ID: "full"}
	for i := range MaxDirectoryUsers {
		full.UpsertUsers = append(full.UpsertUsers, DirectoryUser{Email: fmt.Sprintf("user%04d@example.com", i),
			Extension: fmt.Sprint(10000 + i), FirstName: "User", LastName: fmt.Sprint(i), Services: []string{"zoom-client"}, Role: "user"})
	}
	for i := range MaxDirectoryDevices {
		full.UpsertDevices = append(full.UpsertDevices, DirectoryDevice{ID: fmt.Sprintf("dev-%04d", i), Extension: fmt.Sprint(10000 + i),
			Type: "sip", Name: "Phone", Owner: fmt.Sprintf("user%04d@example.com", i)})
	}
	start := time.Now()
	res, err := s.ApplyDirectoryBatch(ctx, a.ID, sysA.ID, full, t0)
	if err != nil || res != (DirectoryResult{Users: MaxDirectoryUsers, Devices: MaxDirectoryDevices}) {
		t.Fatalf("full: %+v %v", res, err)
	}
	t.Logf("%d users and %d devices in one batch: %v", MaxDirectoryUsers, MaxDirectoryDevices, time.Since(start))
	start = time.Now()
	d, err := s.Directory(ctx, a.ID)
	if err != nil || len(d.Users) != MaxDirectoryUsers || len(d.Devices) != MaxDirectoryDevices ||
		d.Users[0].Email != "user0000@example.com" || d.Devices[MaxDirectoryDevices-1].ID != "dev-4999" {
		t.Fatalf("full directory: %d users, %d devices, %v", len(d.Users), len(d.Devices), err)
	}
	t.Logf("read back in %v", time.Since(start))

	// Upserting what is there is within the limit; one more user (from any
	// system of the account) or device is not, and changes nothing.
	if res, err := s.ApplyDirectoryBatch(ctx, a.ID, sysB.ID, DirectoryBatch{ID: "same", UpsertUsers: full.UpsertUsers[:10]}, t0); err != nil ||
		res.Users != MaxDirectoryUsers {
		t.Fatalf("upsert of existing users: %+v %v", res, err)
	}
	over := DirectoryBatch{ID: "over",
		DeleteDevices: []string{"dev-0000"},
		UpsertUsers:   []DirectoryUser{{Email: "one.more@example.com", Extension: "1", FirstName: "One"}},
	}
	_, err = s.ApplyDirectoryBatch(ctx, a.ID, sysB.ID, over, t0.Add(time.Hour))
	var full2 *DirectoryFullError
	if !errors.Is(err, ErrDirectoryFull) || !errors.As(err, &full2) || full2.Users != MaxDirectoryUsers+1 ||
		full2.Devices != MaxDirectoryDevices-1 || full2.MaxUsers != MaxDirectoryUsers {
		t.Fatalf("over the user limit: %v", err)
	}
	sum, err := s.DirectorySummary(ctx, a.ID)
	if err != nil || sum != (DirectorySummary{Users: MaxDirectoryUsers, Devices: MaxDirectoryDevices, Batches: 2, LastBatchAt: t0}) {
		t.Fatalf("after the refused batch: %+v %v", sum, err)
	}
	// Refused, so not recorded: the same ID with room made is applied.
	over.DeleteUsers = []string{"user0000@example.com"}
	if res, err := s.ApplyDirectoryBatch(ctx, a.ID, sysB.ID, over, t0.Add(time.Hour)); err != nil || res.Duplicate ||
		res != (DirectoryResult{Users: MaxDirectoryUsers, Devices: MaxDirectoryDevices - 1}) {
		t.Fatalf("the batch with room made: %+v %v", res, err)
	}
	if _, err := s.ApplyDirectoryBatch(ctx, a.ID, sysB.ID, DirectoryBatch{ID: "devs",
		UpsertDevices: []DirectoryDevice{{ID: "a", Extension: "1"}, {ID: "b", Extension: "2"}}}, t0); !errors.Is(err, ErrDirectoryFull) {
		t.Fatalf("over the device limit: %v", err)
	}
}

func TestDirectoryReopen(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := open(t, dir)
	a, sysA, _, _ := directorySystems(t, s)
	if _, err := s.ApplyDirectoryBatch(ctx, a.ID, sysA.ID, DirectoryBatch{ID: "b1",
		UpsertUsers: []DirectoryUser{{Email: "a@example.com", Extension: "1", FirstName: "A"}}}, t0); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s2 := open(t, dir)
	if res, err := s2.ApplyDirectoryBatch(ctx, a.ID, sysA.ID, DirectoryBatch{ID: "b1"}, t0); err != nil || !res.Duplicate || res.Users != 1 {
		t.Fatalf("after reopening: %+v %v", res, err)
	}
}
