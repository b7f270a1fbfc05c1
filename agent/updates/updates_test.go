package updates

import (
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/cloudlink/cld/agent/api"
	"github.com/cloudlink/cld/agent/health"
	"github.com/cloudlink/cld/updater"
)

func newUpdater(t *testing.T, dir, trial string) (*Updater, *health.Registry) {
	t.Helper()
	reg := health.New(nil)
	u, err := New(Config{StateDir: dir, Version: "0.1.0+1", Clock: clockwork.NewFakeClock(), Logger: slog.New(slog.DiscardHandler),
		Health: reg, LinkState: func() string { return api.StateLinked }, Trial: trial})
	if err != nil {
		t.Fatal(err)
	}
	return u, reg
}

func writeState(t *testing.T, dir, json string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, StateFile), []byte(json), 0o600); err != nil {
		t.Fatal(err)
	}
}

// A daemon stopped during an update starts again idle, with the update
// recorded as interrupted; on trial it leaves the judgement to the
// launcher; the launcher's outcome is folded in once.
func TestReconcileAtStart(t *testing.T) {
	dir := t.TempDir()
	writeState(t, dir, `{"state":"installing","target":"0.2.0+2"}`)
	u, _ := newUpdater(t, dir, "0.2.0+2")
	if st := u.Status(); st.State != api.UpdateStateConfirming || st.LastUpdate != nil {
		t.Errorf("on trial: %+v", st)
	}
	u, reg := newUpdater(t, dir, "")
	st := u.Status()
	if st.State != api.UpdateStateIdle || st.LastUpdate == nil || st.LastUpdate.Result != updater.ResultInterrupted || st.LastUpdate.Version != "0.2.0+2" {
		t.Fatalf("after the stop: %+v %+v", st, st.LastUpdate)
	}
	reg.Refresh()
	if reg.Has(WarnFailed) {
		t.Error("an interrupted update is not a failure")
	}
	d := updater.Dir(filepath.Join(dir, DirName))
	os.MkdirAll(string(d), 0o700)
	d.WriteOutcome(updater.Outcome{Version: "0.2.0+2", From: "0.1.0+1", Result: updater.ResultRolledBack, Reason: "it stopped", Time: time.Now()})
	u, reg = newUpdater(t, dir, "")
	if st := u.Status(); st.LastUpdate == nil || st.LastUpdate.Result != updater.ResultRolledBack || !slicesContains(u.st.Skip, "0.2.0+2") {
		t.Fatalf("after the rollback: %+v", st.LastUpdate)
	}
	reg.Refresh()
	if !reg.Has(WarnFailed) {
		t.Error("no warning after a rollback")
	}
	if o, _ := d.ReadOutcome(); o != nil {
		t.Error("the outcome was not cleared once reported")
	}
	// A corrupt state file is moved aside; the defaults apply.
	writeState(t, dir, `{"schedule":{"every":"hourly"}}`)
	u, _ = newUpdater(t, dir, "")
	if st := u.Status(); !st.Default || st.State != api.UpdateStateIdle {
		t.Errorf("after a corrupt state: %+v", st)
	}
}

func slicesContains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
