package link

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"go.uber.org/goleak"

	"github.com/cloudlink/cld/agent/api"
	"github.com/cloudlink/cld/agent/health"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func newMachine(t *testing.T) *Machine {
	t.Helper()
	dir := t.TempDir()
	clock := clockwork.NewRealClock()
	m, err := New(Config{
		StateDir: dir, Cloud: "https://cloud.invalid", ConfigFile: "/etc/cld/cld.yaml",
		HeartbeatInterval: time.Minute, MachineIDFile: filepath.Join(dir, "machine-id"), Hostname: "host",
		Clock: clock, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), HTTPClient: http.DefaultClient,
		Health: health.New(clock.Now), Answer: func(context.Context) api.Status { return api.Status{} },
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// A link or unlink while another one runs is refused with a sentence, and
// touches nothing.
func TestLinkOrUnlinkWhileBusy(t *testing.T) {
	m := newMachine(t)
	ctx := context.Background()
	m.opMu.Lock()
	_, err := m.Link(ctx, api.LinkRequest{Username: "admin@acme.test", Password: "pw"})
	_, err2 := m.Unlink(ctx)
	m.opMu.Unlock()
	for _, e := range []error{err, err2} {
		var ae *api.Error
		if !errors.As(e, &ae) || ae.Code != api.CodeBusy || !strings.Contains(ae.Message, "in progress") {
			t.Errorf("got %v, want a busy error saying another operation is in progress", e)
		}
	}
	if st := m.State(); st != api.StateUnlinked {
		t.Errorf("state %s after refused operations", st)
	}
}
