package agent

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/cloudlink/cld/agent/accounts"
	"github.com/cloudlink/cld/agent/api"
	"github.com/cloudlink/cld/agent/config"
	"github.com/cloudlink/cld/agent/link"
	"github.com/cloudlink/cld/agent/state"
	"github.com/cloudlink/cld/cloud/cloudapi"
)

func readState(t testing.TB, cfg config.Config) *state.State {
	t.Helper()
	st, err := state.Load(cfg.StateDir)
	if err != nil {
		t.Fatalf("state does not parse: %v", err)
	}
	return st
}

func TestFirstStartMakesIdentityAndDashboardAdmin(t *testing.T) {
	cfg := testConfig(t, t.TempDir())
	a, err := newAgent(t, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	st := readState(t, cfg)
	if _, err := uuid.Parse(st.InstallationID); err != nil || st.Link != nil || st.MachineIDHash == "" {
		t.Errorf("first state: %+v", st)
	}
	for _, name := range []string{state.LinkFile, accounts.UsersFile, accounts.InitialPasswordFile} {
		fi, err := os.Stat(filepath.Join(cfg.StateDir, name))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v, want 0600", name, fi.Mode().Perm())
		}
	}
	if fi, _ := os.Stat(cfg.StateDir); fi.Mode().Perm() != 0o700 {
		t.Errorf("state dir mode %v, want 0700", fi.Mode().Perm())
	}
	pw, _ := os.ReadFile(filepath.Join(cfg.StateDir, accounts.InitialPasswordFile))
	ctx := context.Background()
	if err := a.accounts.Login(ctx, api.DashboardLogin{Username: "admin", Password: strings.TrimSpace(string(pw))}); err != nil {
		t.Errorf("initial password refused: %v", err)
	}
	var ae *api.Error
	if err := a.accounts.Login(ctx, api.DashboardLogin{Username: "admin", Password: "wrong-password"}); !errors.As(err, &ae) || ae.Code != api.CodeUnauthorized {
		t.Errorf("wrong password: %v", err)
	}
	if err := a.accounts.Login(ctx, api.DashboardLogin{Username: "nobody", Password: "x"}); !errors.As(err, &ae) || ae.Code != api.CodeUnauthorized {
		t.Errorf("unknown user: %v", err)
	}
	// Changing admin's password retires the initial password file.
	if err := a.accounts.Set(ctx, api.DashboardUser{Username: "admin", Password: "a new password"}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(cfg.StateDir, accounts.InitialPasswordFile)); !os.IsNotExist(err) {
		t.Errorf("initial password file still there: %v", err)
	}
	if err := a.accounts.Login(ctx, api.DashboardLogin{Username: "admin", Password: "a new password"}); err != nil {
		t.Errorf("new password refused: %v", err)
	}
	for _, bad := range []api.DashboardUser{{Username: "", Password: "long enough"}, {Username: "a b", Password: "long enough"}, {Username: "ops", Password: "short"}} {
		if err := a.accounts.Set(ctx, bad); !errors.As(err, &ae) || ae.Code != api.CodeBadRequest {
			t.Errorf("SetDashboardUser(%+v) = %v, want bad_request", bad, err)
		}
	}
	// A second agent on the same state dir is refused while the first holds it.
	if _, err := newAgent(t, cfg); !errors.Is(err, state.ErrInUse) {
		t.Errorf("second agent on the same state dir: %v", err)
	}
}

func TestRestartKeepsIdentityAndUsers(t *testing.T) {
	cfg := testConfig(t, t.TempDir())
	a, err := newAgent(t, cfg)
	if err != nil {
		t.Fatal(err)
	}
	id := readState(t, cfg).InstallationID
	a.Close()
	os.Remove(filepath.Join(cfg.StateDir, accounts.InitialPasswordFile)) // the users file alone decides
	b, err := newAgent(t, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if readState(t, cfg).InstallationID != id {
		t.Errorf("installation ID changed across restart")
	}
	if _, err := os.Stat(filepath.Join(cfg.StateDir, accounts.InitialPasswordFile)); !os.IsNotExist(err) {
		t.Errorf("a second admin password was made on restart")
	}
}

func TestStaleTempFilesRemovedAtStart(t *testing.T) {
	cfg := testConfig(t, t.TempDir())
	os.MkdirAll(cfg.StateDir, 0o700)
	stale := filepath.Join(cfg.StateDir, ".link.json.tmp-0123456789ab")
	writeFile(t, stale, `{"format":1,"installation_id":"half`)
	a, err := newAgent(t, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Errorf("stale temp file not removed: %v", err)
	}
}

func TestCorruptStateIsMovedAsideAndStartsUnlinked(t *testing.T) {
	for name, content := range map[string]string{
		"truncated":      `{"format":1,"installation_id":"8c4`,
		"garbage":        "\x00\x01 not json",
		"bad identity":   `{"format":1,"installation_id":"not-a-uuid"}`,
		"link lacks key": `{"format":1,"installation_id":"` + uuid.NewString() + `","link":{"system_id":"s"}}`,
	} {
		t.Run(name, func(t *testing.T) {
			cfg := testConfig(t, t.TempDir())
			os.MkdirAll(cfg.StateDir, 0o700)
			path := filepath.Join(cfg.StateDir, state.LinkFile)
			writeFile(t, path, content)
			a, err := newAgent(t, cfg)
			if err != nil {
				t.Fatalf("New refused to start: %v", err)
			}
			defer a.Close()
			st := a.Status(context.Background())
			if st.State != api.StateUnlinked {
				t.Errorf("state %q, want unlinked", st.State)
			}
			var w *api.Warning
			for i := range st.Warnings {
				if st.Warnings[i].Code == link.WarnStateCorrupt {
					w = &st.Warnings[i]
				}
			}
			if w == nil || w.Severity != api.SeverityError || !strings.Contains(w.Text, path) || !strings.Contains(w.Text, ".corrupt-") || !strings.Contains(w.Text, "Link it again") {
				t.Errorf("warning = %+v", w)
			}
			matches, _ := filepath.Glob(path + ".corrupt-*")
			if len(matches) != 1 {
				t.Fatalf("quarantined files: %v", matches)
			}
			if got, _ := os.ReadFile(matches[0]); string(got) != content {
				t.Errorf("quarantined content changed")
			}
			readState(t, cfg) // a fresh, valid state
		})
	}
}

func TestNewerStateRefused(t *testing.T) {
	cfg := testConfig(t, t.TempDir())
	os.MkdirAll(cfg.StateDir, 0o700)
	writeFile(t, filepath.Join(cfg.StateDir, state.LinkFile), `{"format":99,"installation_id":"`+uuid.NewString()+`"}`)
	_, err := newAgent(t, cfg)
	if !errors.Is(err, state.ErrNewer) || !strings.Contains(err.Error(), "newer cld") || !strings.Contains(err.Error(), state.LinkFile) {
		t.Fatalf("err = %v", err)
	}
}

// linkedState writes a linked state as if the host with machineID had linked.
func linkedState(t testing.TB, cfg config.Config, machineID, cloud string) *state.State {
	t.Helper()
	os.MkdirAll(cfg.StateDir, 0o700)
	id := uuid.NewString()
	st := &state.State{InstallationID: id, MachineIDHash: state.MachineIDHash(machineID, id), Link: &state.Link{
		SystemID: "sys-1", ClientID: "client-1", ClientSecret: "secret-1",
		Account: cloudapi.Account{ID: 100001, Name: "Demo Account", Region: "eu"}, Role: cloudapi.RoleAccountAdmin,
		Cloud: cloud, LinkedAt: time.Now().UTC(), InstallationID: id, MachineIDHash: state.MachineIDHash(machineID, id),
	}}
	if err := state.Save(cfg.StateDir, st); err != nil {
		t.Fatal(err)
	}
	return st
}

func TestMachineIDChangeIsLinkError(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(t, dir)
	linkedState(t, cfg, "original-machine", "https://127.0.0.1:1")
	writeFile(t, cfg.MachineIDFile, "cloned-machine\n")
	a, err := newAgent(t, cfg)
	if err != nil {
		t.Fatal(err)
	}
	r := start(t, a)
	st := r.Status(context.Background())
	if st.State != api.StateLinkError || st.Linked || st.Reason != link.CloneReason {
		t.Errorf("status = %+v", st)
	}
	if r.link.Current() != nil {
		t.Error("a session runs with the original host's credentials")
	}
	// Unlinking a clone drops the credentials without revoking the original's system.
	st, err = r.link.Unlink(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if st.State != api.StateUnlinked || st.PendingRevocation {
		t.Errorf("after unlink: %+v", st)
	}
	if p := readState(t, cfg); p.Link != nil || len(p.PendingRevocations) != 0 {
		t.Errorf("state after unlink: %+v", p)
	}
}

func TestMachineIDSameIsLinked(t *testing.T) {
	cfg := testConfig(t, t.TempDir())
	linkedState(t, cfg, "0123456789abcdef0123456789abcdef", "https://127.0.0.1:1")
	a, err := newAgent(t, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if st := a.Status(context.Background()); st.State != api.StateLinked || !st.Linked || st.Account.ID != 100001 || st.SystemID != "sys-1" {
		t.Errorf("status = %+v", st)
	}
}

func TestCopiedUnlinkedStateGetsNewIdentity(t *testing.T) {
	cfg := testConfig(t, t.TempDir())
	a, err := newAgent(t, cfg)
	if err != nil {
		t.Fatal(err)
	}
	id := readState(t, cfg).InstallationID
	a.Close()
	writeFile(t, cfg.MachineIDFile, "another-machine\n")
	b, err := newAgent(t, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if readState(t, cfg).InstallationID == id {
		t.Error("a copied state dir kept the original's installation ID")
	}
}

func TestMissingMachineIDIsAWarning(t *testing.T) {
	cfg := testConfig(t, t.TempDir())
	cfg.MachineIDFile = filepath.Join(t.TempDir(), "absent")
	a, err := newAgent(t, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	st := a.Status(context.Background())
	if len(st.Warnings) != 1 || st.Warnings[0].Code != link.WarnMachineID {
		t.Errorf("warnings = %+v", st.Warnings)
	}
}
