package accounts

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/cloudlink/cld/agent/api"
	"github.com/cloudlink/cld/lockout"
)

// Wrong passwords lock the user name out for a while (others are not),
// an unknown name is locked out like a known one, and the right
// password then works once the lockout is over.
func TestLoginLockout(t *testing.T) {
	dir := t.TempDir()
	now := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	d, err := Open(dir, slog.New(slog.DiscardHandler), func() time.Time { return now }, bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := d.Set(ctx, api.DashboardUser{Username: "second", Password: "second-password"}); err != nil {
		t.Fatal(err)
	}
	pw, err := os.ReadFile(filepath.Join(dir, InitialPasswordFile))
	if err != nil {
		t.Fatal(err)
	}
	admin := strings.TrimSpace(string(pw))
	code := func(err error) string {
		var ae *api.Error
		if errors.As(err, &ae) {
			return ae.Code
		}
		if err != nil {
			return err.Error()
		}
		return "ok"
	}
	for i := range lockout.MaxFailures {
		if c := code(d.Login(ctx, api.DashboardLogin{Username: "admin", Password: "guess"})); c != api.CodeUnauthorized {
			t.Fatalf("guess %d: %s", i, c)
		}
		d.Login(ctx, api.DashboardLogin{Username: "nobody", Password: "guess"})
	}
	if c := code(d.Login(ctx, api.DashboardLogin{Username: "admin", Password: admin})); c != api.CodeRateLimited {
		t.Fatalf("the right password during the lockout: %s", c)
	}
	if c := code(d.Login(ctx, api.DashboardLogin{Username: "nobody", Password: "x"})); c != api.CodeRateLimited {
		t.Fatalf("an unknown name during its lockout: %s", c)
	}
	if c := code(d.Login(ctx, api.DashboardLogin{Username: "second", Password: "second-password"})); c != "ok" {
		t.Fatalf("another user during admin's lockout: %s", c)
	}
	now = now.Add(lockout.FirstLockout)
	if c := code(d.Login(ctx, api.DashboardLogin{Username: "admin", Password: admin})); c != "ok" {
		t.Fatalf("after the lockout: %s", c)
	}
}
