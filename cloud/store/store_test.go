package store

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 600, time.UTC)

func open(t *testing.T, dir string) *Store {
	t.Helper()
	s, err := Open(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func seed(t *testing.T, s *Store) (Account, User) {
	t.Helper()
	ctx := context.Background()
	a, err := s.CreateAccount(ctx, Account{ID: 100001, Name: "Demo", Region: "eu", PartnerID: "p1"}, t0)
	if err != nil {
		t.Fatal(err)
	}
	u, created, err := s.UpsertUser(ctx, "Admin@Demo.test ", []byte("hash"), t0)
	if err != nil || !created {
		t.Fatal(err, created)
	}
	if err := s.SetMembership(ctx, u.ID, a.ID, RoleAccountAdmin); err != nil {
		t.Fatal(err)
	}
	return a, u
}

func TestReopenPersists(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	s := open(t, dir)
	a, u := seed(t, s)
	sys, replaced, err := s.RegisterSystem(ctx, System{Account: a, InstallationID: "i1", Hostname: "h", ClientID: "sys-1",
		SecretHash: "x", UserID: u.ID, UserEmail: u.Email, Role: RoleAccountAdmin}, t0)
	if err != nil || replaced {
		t.Fatal(err, replaced)
	}
	s.Close()

	fi, err := os.Stat(filepath.Join(dir, FileName))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("database file mode %v, %v", fi.Mode(), err)
	}

	s2 := open(t, dir)
	got, err := s2.Account(ctx, 100001)
	if err != nil || got.UUID != a.UUID || got.Name != "Demo" || got.PartnerID != "p1" || !got.CreatedAt.Equal(t0) {
		t.Fatalf("account after reopen %+v, %v", got, err)
	}
	gu, err := s2.UserByEmail(ctx, "admin@demo.test")
	if err != nil || gu.ID != u.ID || string(gu.PasswordHash) != "hash" {
		t.Fatalf("user %+v %v", gu, err)
	}
	gs, err := s2.SystemByClientID(ctx, "sys-1")
	if err != nil || gs.ID != sys.ID || gs.Account.UUID != a.UUID || !gs.LinkedAt.Equal(t0) {
		t.Fatalf("system %+v %v", gs, err)
	}
	var v int
	if err := s2.db.QueryRow("PRAGMA user_version").Scan(&v); err != nil || v != SchemaVersion {
		t.Fatalf("schema version %d, %v", v, err)
	}
	var mode string
	if err := s2.db.QueryRow("PRAGMA journal_mode").Scan(&mode); err != nil || mode != "wal" {
		t.Fatalf("journal mode %q, %v", mode, err)
	}
}

func TestNewerSchemaRefused(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	if _, err := s.db.Exec("PRAGMA user_version = 999"); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if _, err := Open(context.Background(), dir); err == nil {
		t.Fatal("opened a newer schema")
	}
}

func TestConcurrentOpenAndWrite(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			s, err := Open(ctx, dir)
			if err != nil {
				errs <- err
				return
			}
			defer s.Close()
			for j := 0; j < 5; j++ {
				if _, err := s.CreateAccount(ctx, Account{ID: int64(i*100 + j + 1), Name: "a", Region: "eu"}, t0); err != nil {
					errs <- err
					return
				}
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	s := open(t, dir)
	as, err := s.Accounts(ctx)
	if err != nil || len(as) != 20 {
		t.Fatalf("%d accounts, %v", len(as), err)
	}
}

func TestAccountsAndUsers(t *testing.T) {
	ctx := context.Background()
	s := open(t, t.TempDir())
	a, u := seed(t, s)
	if _, err := s.CreateAccount(ctx, Account{ID: a.ID, Name: "x", Region: "eu"}, t0); !errors.Is(err, ErrExists) {
		t.Errorf("duplicate account: %v", err)
	}
	again, err := s.EnsureAccount(ctx, Account{ID: a.ID, Name: "other"}, t0)
	if err != nil || again.UUID != a.UUID || again.Name != "Demo" {
		t.Errorf("EnsureAccount %+v %v", again, err)
	}
	if _, err := s.Account(ctx, 5); !errors.Is(err, ErrNotFound) {
		t.Errorf("missing account: %v", err)
	}
	// Existing user: the password stays unless given.
	u2, created, err := s.UpsertUser(ctx, "admin@demo.test", nil, t0)
	if err != nil || created || string(u2.PasswordHash) != "hash" || u2.ID != u.ID {
		t.Errorf("upsert without password %+v %v %v", u2, created, err)
	}
	u3, _, err := s.UpsertUser(ctx, "admin@demo.test", []byte("new"), t0)
	if err != nil || string(u3.PasswordHash) != "new" {
		t.Errorf("password change %+v %v", u3, err)
	}
	if _, _, err := s.UpsertUser(ctx, "new@demo.test", nil, t0); err == nil {
		t.Error("created a user without password")
	}
	if err := s.SetMembership(ctx, u.ID, 424242, RoleUser); !errors.Is(err, ErrNotFound) {
		t.Errorf("membership in missing account: %v", err)
	}
	if err := s.SetMembership(ctx, u.ID, a.ID, RoleUser); err != nil {
		t.Fatal(err)
	}
	m, err := s.Membership(ctx, u.ID, a.ID)
	if err != nil || m.Role != RoleUser || m.IsAdmin() || m.Email != "admin@demo.test" || m.Account.Name != "Demo" {
		t.Errorf("membership %+v %v", m, err)
	}
	all, err := s.AllMemberships(ctx)
	if err != nil || len(all) != 1 {
		t.Errorf("all memberships %+v %v", all, err)
	}
}

func TestTokensAndCodes(t *testing.T) {
	ctx := context.Background()
	s := open(t, t.TempDir())
	a, u := seed(t, s)
	rt := Token{Hash: "r1", Kind: KindRefresh, ClientID: "cld", UserID: u.ID, AccountID: a.ID, CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}
	at := Token{Hash: "a1", Kind: KindAccess, ClientID: "cld", UserID: u.ID, AccountID: a.ID, ParentHash: "r1", CreatedAt: t0, ExpiresAt: t0.Add(time.Minute)}
	if err := s.InsertTokens(ctx, at, rt); err != nil {
		t.Fatal(err)
	}
	got, err := s.Token(ctx, "a1")
	if err != nil || !got.Valid(t0) || got.Valid(t0.Add(time.Minute)) || got.ParentHash != "r1" {
		t.Fatalf("%+v %v", got, err)
	}
	// Rotation is single-use.
	rt2 := Token{Hash: "r2", Kind: KindRefresh, ClientID: "cld", UserID: u.ID, AccountID: a.ID, CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}
	if err := s.RotateRefresh(ctx, "r1", rt2); err != nil {
		t.Fatal(err)
	}
	if err := s.RotateRefresh(ctx, "r1", Token{Hash: "r3", Kind: KindRefresh, ExpiresAt: t0}); !errors.Is(err, ErrUsed) {
		t.Fatalf("second rotation: %v", err)
	}
	if _, err := s.Token(ctx, "r3"); !errors.Is(err, ErrNotFound) {
		t.Error("the losing rotation stored its tokens")
	}
	// Revoking a refresh token revokes its access tokens.
	at2 := Token{Hash: "a2", Kind: KindAccess, ParentHash: "r2", AccountID: a.ID, CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}
	if err := s.InsertTokens(ctx, at2); err != nil {
		t.Fatal(err)
	}
	if found, err := s.RevokeToken(ctx, "r2"); err != nil || !found {
		t.Fatal(found, err)
	}
	if got, _ := s.Token(ctx, "a2"); !got.Revoked {
		t.Error("child access token not revoked")
	}
	if found, _ := s.RevokeToken(ctx, "nope"); found {
		t.Error("found an unknown token")
	}

	c := Code{Hash: "c1", ClientID: "cld", RedirectURI: "http://x/link/callback", CodeChallenge: "ch", UserID: u.ID, AccountID: a.ID, CreatedAt: t0, ExpiresAt: t0.Add(time.Minute)}
	if err := s.InsertCode(ctx, c); err != nil {
		t.Fatal(err)
	}
	got1, err := s.ConsumeCode(ctx, "c1")
	if err != nil || got1.RedirectURI != c.RedirectURI || !got1.ExpiresAt.Equal(c.ExpiresAt) {
		t.Fatalf("%+v %v", got1, err)
	}
	if _, err := s.ConsumeCode(ctx, "c1"); !errors.Is(err, ErrUsed) {
		t.Fatalf("reuse: %v", err)
	}
	if _, err := s.ConsumeCode(ctx, "c2"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown: %v", err)
	}

	if err := s.PurgeExpired(ctx, t0.Add(2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Token(ctx, "a1"); !errors.Is(err, ErrNotFound) {
		t.Error("expired token not purged")
	}
}

func TestSessions(t *testing.T) {
	ctx := context.Background()
	s := open(t, t.TempDir())
	a, u := seed(t, s)
	se := Session{Hash: "s1", Kind: SessionPortal, UserID: u.ID, AccountID: a.ID, CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}
	if err := s.InsertSession(ctx, se); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Session(ctx, "s1", SessionPending, t0); !errors.Is(err, ErrNotFound) {
		t.Error("session found under the wrong kind")
	}
	if _, err := s.Session(ctx, "s1", SessionPortal, t0.Add(time.Hour)); !errors.Is(err, ErrNotFound) {
		t.Error("expired session found")
	}
	if err := s.SetSessionAccount(ctx, "s1", 7); err != nil {
		t.Fatal(err)
	}
	got, err := s.Session(ctx, "s1", SessionPortal, t0)
	if err != nil || got.AccountID != 7 {
		t.Fatalf("%+v %v", got, err)
	}
	if err := s.DeleteSession(ctx, "s1"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Session(ctx, "s1", SessionPortal, t0); !errors.Is(err, ErrNotFound) {
		t.Error("deleted session found")
	}
}

func TestSystemsRegisterRevoke(t *testing.T) {
	ctx := context.Background()
	s := open(t, t.TempDir())
	a, u := seed(t, s)
	base := System{Account: a, InstallationID: "i1", Hostname: "h1", ClientID: "sys-1", SecretHash: "x", UserID: u.ID, UserEmail: u.Email, Role: RoleAccountAdmin}
	first, _, err := s.RegisterSystem(ctx, base, t0)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.InsertTokens(ctx, Token{Hash: "dev", Kind: KindAccess, SystemID: first.ID, AccountID: a.ID, ExpiresAt: t0.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	rev, already, err := s.RevokeSystem(ctx, first.ID, RevokedInPortal, "a@b", t0.Add(time.Minute))
	if err != nil || already || !rev.Revoked() || rev.RevokedBy != "a@b" {
		t.Fatalf("%+v %v %v", rev, already, err)
	}
	if _, already, _ := s.RevokeSystem(ctx, first.ID, RevokedFromHost, "", t0.Add(2*time.Minute)); !already {
		t.Error("second revocation not reported as already")
	}
	base.ClientID, base.Hostname = "sys-2", "h2"
	second, replaced, err := s.RegisterSystem(ctx, base, t0.Add(time.Hour))
	if err != nil || !replaced || second.ID != first.ID || second.Revoked() || second.ClientID != "sys-2" || second.Hostname != "h2" {
		t.Fatalf("%+v %v %v", second, replaced, err)
	}
	if tok, _ := s.Token(ctx, "dev"); !tok.Revoked {
		t.Error("old device token survives re-registration")
	}
	if _, err := s.SystemByClientID(ctx, "sys-1"); !errors.Is(err, ErrNotFound) {
		t.Error("old client id still known")
	}
	list, err := s.Systems(ctx, a.ID)
	if err != nil || len(list) != 1 {
		t.Fatalf("%+v %v", list, err)
	}
}

func TestTunnels(t *testing.T) {
	ctx := context.Background()
	s := open(t, t.TempDir())
	a, u := seed(t, s)
	sys, _, err := s.RegisterSystem(ctx, System{Account: a, InstallationID: "i1", Hostname: "h1", ClientID: "sys-1", SecretHash: "x",
		UserID: u.ID, UserEmail: u.Email, Role: RoleAccountAdmin}, t0)
	if err != nil {
		t.Fatal(err)
	}
	list := []Tunnel{
		{ID: "b", UUID: "u-b", Component: "C", Name: "B", Description: "d", Status: "started"},
		{ID: "a", UUID: "u-a", Name: "A", Status: "stopped", Reason: "r"},
	}
	if err := s.SetTunnels(ctx, sys.ID, list, t0); err != nil {
		t.Fatal(err)
	}
	got, err := s.Tunnels(ctx, sys.ID)
	if err != nil || len(got) != 2 || got[0].ID != "b" || got[1].ID != "a" || got[0].SystemID != sys.ID || !got[1].UpdatedAt.Equal(t0) || got[1].Reason != "r" {
		t.Fatalf("%+v %v", got, err)
	}
	tun, owner, err := s.TunnelByUUID(ctx, "u-b")
	if err != nil || tun.ID != "b" || tun.Status != "started" || owner.ID != sys.ID || owner.Account.Region != "eu" {
		t.Fatalf("%+v %+v %v", tun, owner, err)
	}
	if _, _, err := s.TunnelByUUID(ctx, "nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown uuid: %v", err)
	}
	// Replacing the list drops tunnels no longer reported.
	if err := s.SetTunnels(ctx, sys.ID, list[1:], t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.TunnelByUUID(ctx, "u-b"); !errors.Is(err, ErrNotFound) {
		t.Errorf("dropped tunnel found: %v", err)
	}
	if err := s.SetTunnelsStatus(ctx, sys.ID, "stopped", "removed", t0.Add(2*time.Minute)); err != nil {
		t.Fatal(err)
	}
	byID, err := s.AccountTunnels(ctx, a.ID)
	if err != nil || len(byID[sys.ID]) != 1 || byID[sys.ID][0].Reason != "removed" {
		t.Fatalf("%+v %v", byID, err)
	}
	if err := s.SetTunnels(ctx, "no-system", list, t0); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown system: %v", err)
	}
	dup := []Tunnel{{ID: "x", UUID: "u-x", Status: "stopped"}, {ID: "x", UUID: "u-y", Status: "stopped"}}
	if err := s.SetTunnels(ctx, sys.ID, dup, t0); !errors.Is(err, ErrExists) {
		t.Errorf("duplicate id: %v", err)
	}
	if got, _ := s.Tunnels(ctx, sys.ID); len(got) != 1 {
		t.Errorf("a failed replacement changed the list: %+v", got)
	}
}

func TestConsumeAndDeleteUserSessions(t *testing.T) {
	ctx := context.Background()
	s := open(t, t.TempDir())
	a, u := seed(t, s)
	for _, se := range []Session{
		{Hash: "t1", Kind: SessionEdgeTicket, UserID: u.ID, AccountID: a.ID, Binding: "h", CreatedAt: t0, ExpiresAt: t0.Add(time.Minute)},
		{Hash: "t2", Kind: SessionEdgeTicket, UserID: u.ID, AccountID: a.ID, Binding: "h", CreatedAt: t0, ExpiresAt: t0.Add(time.Minute)},
		{Hash: "e1", Kind: SessionEdge, UserID: u.ID, AccountID: a.ID, Binding: "h", CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)},
		{Hash: "p1", Kind: SessionPortal, UserID: u.ID, AccountID: a.ID, CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)},
	} {
		if err := s.InsertSession(ctx, se); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.ConsumeSession(ctx, "t1", SessionEdge, t0); !errors.Is(err, ErrNotFound) {
		t.Errorf("wrong kind: %v", err)
	}
	got, err := s.ConsumeSession(ctx, "t1", SessionEdgeTicket, t0)
	if err != nil || got.Binding != "h" || got.UserID != u.ID || got.AccountID != a.ID {
		t.Fatalf("%+v %v", got, err)
	}
	if _, err := s.ConsumeSession(ctx, "t1", SessionEdgeTicket, t0); !errors.Is(err, ErrNotFound) {
		t.Errorf("used twice: %v", err)
	}
	if _, err := s.ConsumeSession(ctx, "t2", SessionEdgeTicket, t0.Add(time.Minute)); !errors.Is(err, ErrNotFound) {
		t.Errorf("expired ticket: %v", err)
	}
	if err := s.DeleteUserSessions(ctx, u.ID, SessionEdge); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Session(ctx, "e1", SessionEdge, t0); !errors.Is(err, ErrNotFound) {
		t.Error("edge session survives")
	}
	if _, err := s.Session(ctx, "p1", SessionPortal, t0); err != nil {
		t.Errorf("portal session deleted: %v", err)
	}
}
