package doctor

import (
	"context"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/cloudlink/cld/agent/api"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestRun: checks run concurrently, findings keep the list's order, a
// crashing or confused check is a failure, warnings do not fail.
func TestRun(t *testing.T) {
	checks := []Check{
		{ID: "slow", Title: "Slow", Run: func(ctx context.Context) Result { <-ctx.Done(); return Warn("gave up", "wait") }},
		{ID: "boom", Title: "Boom", Run: func(context.Context) Result { panic("kaput") }},
		{ID: "odd", Title: "Odd", Run: func(context.Context) Result { return Result{Status: "maybe"} }},
		{ID: "ok", Title: "OK", Run: func(context.Context) Result { return Pass("fine") }},
	}
	d := Run(context.Background(), 50*time.Millisecond, checks)
	if d.OK || len(d.Checks) != 4 {
		t.Fatalf("%+v", d)
	}
	want := []string{"slow warn", "boom fail", "odd fail", "ok pass"}
	for i, c := range d.Checks {
		if got := c.ID + " " + c.Status; got != want[i] {
			t.Errorf("check %d: %s, want %s", i, got, want[i])
		}
	}
	if !strings.Contains(d.Checks[1].Detail, "kaput") {
		t.Errorf("%+v", d.Checks[1])
	}
	if d := Run(context.Background(), time.Second, checks[:1]); !d.OK {
		t.Error("a warning failed the run")
	}
}

func TestGenericChecks(t *testing.T) {
	ctx := context.Background()
	if r := DNS("192.0.2.1", false, nil).Run(ctx); r.Status != api.CheckSkip {
		t.Errorf("IP: %+v", r)
	}
	if r := DNS("localhost", false, nil).Run(ctx); r.Status != api.CheckPass {
		t.Errorf("localhost: %+v", r)
	}
	if r := DNS("nothing.cld-test.invalid", false, nil).Run(ctx); r.Status != api.CheckFail || !strings.Contains(r.Remedy, "resolve nothing.cld-test.invalid") {
		t.Errorf("invalid: %+v", r)
	}
	if r := DNS("nothing.cld-test.invalid", true, nil).Run(ctx); r.Status != api.CheckWarn {
		t.Errorf("invalid behind a proxy: %+v", r)
	}
	dir := t.TempDir()
	if r := StateDir(dir).Run(ctx); r.Status != api.CheckPass {
		t.Errorf("state dir: %+v", r)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("left %v behind", ents)
	}
	file := filepath.Join(dir, "file")
	os.WriteFile(file, nil, 0o600)
	// Under a regular file: not even root can create anything there.
	if r := StateDir(filepath.Join(file, "state")).Run(ctx); r.Status != api.CheckFail || !strings.Contains(r.Detail, "not a directory") {
		t.Errorf("under a file: %+v", r)
	}
	if r := Proxy(nil, "x:443", "none configured", "").Run(ctx); r.Status != api.CheckSkip || r.Detail != "none configured" {
		t.Errorf("no proxy: %+v", r)
	}
	u, _ := url.Parse("http://127.0.0.1:1")
	if r := Proxy(u, "x:443", "", "").Run(ctx); r.Status != api.CheckFail || !strings.Contains(r.Detail, "Cannot connect to the proxy 127.0.0.1:1") {
		t.Errorf("proxy down: %+v", r)
	}
}
