package agent

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"aead.dev/minisign"
	"github.com/jonboulle/clockwork"

	"github.com/cloudlink/cld/agent/api"
	"github.com/cloudlink/cld/agent/config"
	"github.com/cloudlink/cld/agent/updates"
	"github.com/cloudlink/cld/cloud"
	"github.com/cloudlink/cld/cloud/store"
	"github.com/cloudlink/cld/updater"
)

// releaseKeys is a release key pair for the tests.
type releaseKeys struct {
	pub  minisign.PublicKey
	priv minisign.PrivateKey
}

func newReleaseKeys(t *testing.T) releaseKeys {
	pub, priv, err := minisign.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	return releaseKeys{pub, priv}
}

// sign is a release's signature of data (prehashed, as cld-cloud signs).
func (k releaseKeys) sign(data []byte) string {
	r := minisign.NewReader(bytes.NewReader(data))
	io.Copy(io.Discard, r)
	return string(r.Sign(k.priv))
}

func hexSHA(data []byte) string {
	s := sha256.Sum256(data)
	return hex.EncodeToString(s[:])
}

// publish stores a release as the cloud would offer it; r's empty fields
// are filled in from bin as an honest publisher would.
func publish(t *testing.T, ts *cloud.TestServer, k releaseKeys, r store.Release, bin []byte) {
	t.Helper()
	if r.Stage == "" {
		r.Stage = store.StageProduction
	}
	if r.Arch == "" {
		r.Arch = runtime.GOARCH
	}
	if r.SHA256 == "" {
		r.SHA256 = hexSHA(bin)
	}
	if r.Signature == "" {
		r.Signature = k.sign(bin)
	}
	if _, err := ts.Server.Store().PublishRelease(context.Background(), r, bin, time.Now()); err != nil {
		t.Fatal(err)
	}
}

// updateAgent is a linked agent whose update schedule runs on uc.
func updateAgent(t *testing.T, ts *cloud.TestServer, k releaseKeys, uc clockwork.Clock, cfg config.Config, after func(string)) (*running, string) {
	t.Helper()
	r := mustAgent(t, cfg, withoutClockCheck, WithUpdates(UpdateOptions{Key: &k.pub, Clock: uc, After: after}))
	st, err := r.link.Link(context.Background(), adminLogin)
	if err != nil {
		t.Fatal(err)
	}
	return r, st.SystemID
}

// The update is found at its scheduled time (the schedule's clock is
// injected), downloaded, verified and installed into the update
// directory, ready for the launcher; status and the inventory section say
// so. This build's version is 0.0.0-dev, so 0.0.1 is newer.
func TestUpdateFoundAtScheduledCheck(t *testing.T) {
	ts := cloud.NewTestServer(t)
	k := newReleaseKeys(t)
	uc := clockwork.NewFakeClockAt(time.Date(2026, 3, 28, 12, 0, 0, 0, time.Local))
	cfg := cloudConfig(t, ts)
	r, _ := updateAgent(t, ts, k, uc, cfg, nil)
	ctx := context.Background()
	if _, err := r.updates.SetSchedule(api.UpdateScheduleRequest{Every: "daily", Time: "03:30"}); err != nil {
		t.Fatal(err)
	}
	bin := bytes.Repeat([]byte("cld v0.0.1 "), 40000)
	publish(t, ts, k, store.Release{Version: "0.0.1+2", Notes: "fixes"}, bin)
	var next time.Time
	eventually(t, "the next check planned", func() bool {
		u := r.Status(ctx).Update
		if u.NextCheck != nil {
			next = *u.NextCheck
		}
		return u.NextCheck != nil && u.LastCheck == nil
	})
	if want := time.Date(2026, 3, 29, 3, 30, 0, 0, time.Local); !next.Equal(want) {
		t.Fatalf("next check %s, want %s", next, want)
	}
	uc.Advance(next.Sub(uc.Now()) - time.Minute)
	time.Sleep(50 * time.Millisecond)
	if r.Status(ctx).Update.LastCheck != nil {
		t.Fatal("checked before its time")
	}
	uc.Advance(time.Minute)
	eventually(t, "the update installed", func() bool { return r.Status(ctx).Update.State == api.UpdateStateRestarting })
	u := r.Status(ctx).Update
	if u.Stage != "production" || u.Available == nil || u.Available.Version != "0.0.1+2" || u.LastCheck == nil {
		t.Errorf("status %+v", u)
	}
	dir := updater.Dir(filepath.Join(cfg.StateDir, updates.DirName))
	if got, _ := os.ReadFile(dir.Bin()); !bytes.Equal(got, bin) {
		t.Errorf("the update directory holds %d bytes, not the release", len(got))
	}
	in, _ := dir.ReadInstalled()
	if in.Current == nil || in.Current.Version != "0.0.1+2" || in.Current.Confirmed || !in.Current.Linked {
		t.Errorf("installed %+v", in.Current)
	}
	if fi, err := os.Stat(dir.Bin()); err != nil || fi.Mode().Perm()&0o100 == 0 {
		t.Errorf("the new binary is not executable: %v %v", fi.Mode(), err)
	}
	// The launcher's outcome is reported by the next start.
	r.stop()
	dir.WriteOutcome(updater.Outcome{Version: "0.0.1+2", From: "0.0.0-dev", Result: updater.ResultRolledBack, Reason: "0.0.1+2 stopped 1s after its start (exit status 3)", Time: time.Now()})
	r2 := mustAgent(t, cfg, withoutClockCheck, WithUpdates(UpdateOptions{Key: &k.pub, Clock: uc}))
	u = r2.Status(ctx).Update
	if u.LastUpdate == nil || u.LastUpdate.Result != updater.ResultRolledBack || u.State != api.UpdateStateIdle {
		t.Fatalf("after the rollback: %+v", u)
	}
	if w, ok := r2.Health().Get(updates.WarnFailed); !ok || !strings.Contains(w.Text, "exit status 3") {
		t.Errorf("warning %+v %v", w, ok)
	}
	inv := r2.updates.Report()
	if inv.LastResult != updater.ResultRolledBack || inv.LastVersion != "0.0.1+2" || inv.Schedule != "daily" || inv.TimeOfDay != "03:30" {
		t.Errorf("inventory section %+v", inv)
	}
	eventually(t, "the skipped release", func() bool {
		a := r2.Status(ctx).Update.Available
		return a != nil && a.Skipped
	})
}

// Every bad release is refused with its reason in the status, and nothing
// is installed.
func TestUpdateRefusals(t *testing.T) {
	good := bytes.Repeat([]byte("cld v0.0.1 "), 1000)
	other := newReleaseKeys(t)
	for _, tc := range []struct {
		name    string
		release func(k releaseKeys) (store.Release, []byte)
		reason  string
	}{
		{"bad signature", func(k releaseKeys) (store.Release, []byte) {
			return store.Release{Version: "0.0.1", Signature: k.sign([]byte("something else")), SHA256: hexSHA(good)}, good
		}, "signature does not verify"},
		{"another key", func(k releaseKeys) (store.Release, []byte) {
			return store.Release{Version: "0.0.1", Signature: other.sign(good)}, good
		}, "signature does not verify"},
		{"wrong checksum", func(k releaseKeys) (store.Release, []byte) {
			return store.Release{Version: "0.0.1", SHA256: hexSHA([]byte("x"))}, good
		}, "SHA-256"},
		{"truncated", func(k releaseKeys) (store.Release, []byte) {
			return store.Release{Version: "0.0.1", SHA256: hexSHA(good), Signature: k.sign(good)}, good[:len(good)/2]
		}, "SHA-256"},
		{"downgrade", func(k releaseKeys) (store.Release, []byte) {
			return store.Release{Version: "0.0.0-alpha"}, good
		}, "downgrade"},
		{"another architecture", func(k releaseKeys) (store.Release, []byte) {
			return store.Release{Version: "0.0.1", Arch: "riscv64"}, good
		}, "no binary for " + runtime.GOARCH},
		{"minimum version", func(k releaseKeys) (store.Release, []byte) {
			return store.Release{Version: "0.0.2", MinVersion: "0.0.1"}, good
		}, "updates only from 0.0.1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ts := cloud.NewTestServer(t)
			k := newReleaseKeys(t)
			cfg := cloudConfig(t, ts)
			r, _ := updateAgent(t, ts, k, clockwork.NewFakeClock(), cfg, nil)
			rel, bin := tc.release(k)
			publish(t, ts, k, rel, bin)
			ctx := context.Background()
			eventually(t, "the session", func() bool { return r.Status(ctx).Update.NextCheck != nil })
			_, err := r.updates.UpdateNow(ctx)
			u := r.Status(ctx).Update
			if err == nil {
				eventually(t, "the apply's end", func() bool { u = r.Status(ctx).Update; return u.State == api.UpdateStateIdle })
			}
			if tc.name == "downgrade" {
				// Said (a withdrawn release offers the one before it
				// again), not warned about.
				if !strings.Contains(u.LastError, tc.reason) || u.LastUpdate != nil || err == nil || !strings.Contains(err.Error(), tc.reason) {
					t.Fatalf("downgrade: last error %q, last update %+v, err %v", u.LastError, u.LastUpdate, err)
				}
				if r.Warnings(); r.Health().Has(updates.WarnFailed) {
					t.Error("a downgrade offered raised a warning")
				}
				return
			}
			if u.LastUpdate == nil || u.LastUpdate.Result != updater.ResultRefused || !strings.Contains(u.LastUpdate.Reason, tc.reason) {
				t.Fatalf("last update %+v (err %v), want refused for %q", u.LastUpdate, err, tc.reason)
			}
			if _, err := os.Stat(updater.Dir(filepath.Join(cfg.StateDir, updates.DirName)).Bin()); err == nil {
				t.Error("a refused release was installed")
			}
			r.Warnings() // runs the probes
			if !r.Health().Has(updates.WarnFailed) {
				t.Error("no warning")
			}
		})
	}
}

// A pause and a schedule survive a restart; a pause never reaches past 30
// days from when it began, however often it is asked for.
func TestUpdatePauseAndScheduleSurviveRestart(t *testing.T) {
	uc := clockwork.NewFakeClockAt(time.Date(2026, 10, 20, 12, 0, 0, 0, time.UTC))
	cfg := testConfig(t, t.TempDir())
	opts := []Option{withoutClockCheck, WithUpdates(UpdateOptions{Clock: uc})}
	r := mustAgent(t, cfg, opts...)
	began := uc.Now()
	if _, err := r.updates.Pause(10); err != nil {
		t.Fatal(err)
	}
	if _, err := r.updates.SetSchedule(api.UpdateScheduleRequest{Every: "weekly", Weekday: "tue", Time: "02:45"}); err != nil {
		t.Fatal(err)
	}
	for range 4 { // 24 days on, asking each time for 30 more
		uc.Advance(6 * 24 * time.Hour)
		u, err := r.updates.Pause(30)
		if err != nil {
			t.Fatal(err)
		}
		if u.PausedUntil.After(began.Add(updater.MaxPause)) {
			t.Fatalf("the pause reaches %s, past 30 days from %s", u.PausedUntil, began)
		}
	}
	r.stop()
	r = mustAgent(t, cfg, opts...)
	u := r.updates.Status()
	if u.Schedule != "weekly tue 02:45" || u.Default {
		t.Errorf("schedule after the restart: %q default=%v", u.Schedule, u.Default)
	}
	if u.PausedUntil == nil || !u.PausedUntil.Equal(began.Add(updater.MaxPause)) {
		t.Errorf("paused until %v, want %s", u.PausedUntil, began.Add(updater.MaxPause))
	}
	uc.Advance(6 * 24 * time.Hour)
	if u := r.updates.Status(); u.PausedUntil != nil {
		t.Errorf("the pause did not end by itself: %v", u.PausedUntil)
	}
	if _, err := r.updates.Pause(30); err == nil {
		t.Error("a new pause began right after one ended, before any scheduled update")
	}
	if _, err := r.updates.Pause(31); err == nil {
		t.Error("a pause of 31 days was accepted")
	}
}

// In two time zones, across both DST changes, the running schedule checks
// exactly once on every day, also at times that the spring change skips
// (02:30 in Berlin on 29 March) or the autumn change repeats (01:30 in New
// York on 1 November): the schedule's clock is injected and moved from one
// planned check to the next.
func TestUpdateScheduleAcrossDST(t *testing.T) {
	ts := cloud.NewTestServer(t)
	k := newReleaseKeys(t)
	for _, tc := range []struct {
		zone, at string
		from     time.Time
	}{
		{"Europe/Berlin", "02:30", time.Date(2026, 3, 20, 12, 0, 0, 0, time.UTC)},
		{"Europe/Berlin", "02:30", time.Date(2026, 10, 20, 12, 0, 0, 0, time.UTC)},
		{"America/New_York", "01:30", time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)},
		{"America/New_York", "01:30", time.Date(2026, 10, 25, 12, 0, 0, 0, time.UTC)},
	} {
		t.Run(tc.zone+"/"+tc.from.Format("Jan"), func(t *testing.T) {
			loc, err := time.LoadLocation(tc.zone)
			if err != nil {
				t.Fatal(err)
			}
			uc := clockwork.NewFakeClockAt(tc.from)
			cfg := cloudConfig(t, ts)
			r := mustAgent(t, cfg, withoutClockCheck, WithUpdates(UpdateOptions{Key: &k.pub, Clock: uc, Loc: loc}))
			// Scheduled before the link, so the loop starts with it.
			if _, err := r.updates.SetSchedule(api.UpdateScheduleRequest{Every: "daily", Time: tc.at}); err != nil {
				t.Fatal(err)
			}
			if _, err := r.link.Link(context.Background(), adminLogin); err != nil {
				t.Fatal(err)
			}
			days := map[string]int{}
			eventually(t, "the session", func() bool { return r.updates.Status().NextCheck != nil })
			for range 20 {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				err := uc.BlockUntilContext(ctx, 1) // the loop waits for its next check
				cancel()
				if err != nil {
					t.Fatal("the schedule loop is not waiting")
				}
				next := *r.updates.Status().NextCheck
				uc.Advance(next.Sub(uc.Now()))
				eventually(t, "the check at "+next.String(), func() bool {
					u := r.updates.Status()
					return u.LastCheck != nil && !u.LastCheck.Before(next)
				})
				at := r.updates.Status().LastCheck.In(loc)
				days[at.Format("2006-01-02")]++
				if wall := at.Format("15:04"); wall != tc.at {
					// Only where the spring change skips the time: the
					// first minute after the gap, an hour later.
					skipped := time.Date(at.Year(), at.Month(), at.Day()+1, 0, 0, 0, 0, loc).Sub(time.Date(at.Year(), at.Month(), at.Day(), 0, 0, 0, 0, loc)) < 24*time.Hour
					if later := fmt.Sprintf("%02d%s", int(tc.at[1]-'0')+1, tc.at[2:]); !skipped || wall != later {
						t.Errorf("checked at %s, not at %s", at, tc.at)
					}
				}
			}
			day := tc.from.In(loc)
			for i := 1; i <= 20; i++ {
				d := time.Date(day.Year(), day.Month(), day.Day()+i, 12, 0, 0, 0, loc).Format("2006-01-02")
				if days[d] != 1 {
					t.Errorf("%s: %d checks on %s (all: %v)", tc.zone, days[d], d, days)
				}
			}
		})
	}
}
