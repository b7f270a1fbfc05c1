package updater

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"aead.dev/minisign"
)

// A launcher test's world: an update directory, a release key, and
// scripts standing in for the binaries (the trial runs them for real).
type world struct {
	t     *testing.T
	dir   Dir
	pub   minisign.PublicKey
	priv  minisign.PrivateKey
	state string // where the scripts say they are healthy
	execs []string
}

func newWorld(t *testing.T) *world {
	pub, priv, err := minisign.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	return &world{t: t, dir: Dir(filepath.Join(root, "update")), pub: pub, priv: priv, state: filepath.Join(root, "healthy")}
}

// script is a stand-in binary of version v: it reports itself healthy by
// writing its version to w.state (unless behave says otherwise), then
// lives on until stopped.
func (w *world) script(v, behave string) []byte {
	body := map[string]string{
		"good":      `echo "$VERSION" >"$STATE"; exec sleep 60`,
		"exit":      `exit 3`,
		"crash":     `echo "$VERSION" >"$STATE"; sleep 0.5; kill -SEGV $$`,
		"unhealthy": `exec sleep 60`,
	}[behave]
	return fmt.Appendf(nil, "#!/bin/sh\nVERSION=%s\nSTATE=%s\n%s\n", v, w.state, body)
}

// install installs a script as version v, as the daemon's apply does.
func (w *world) install(v, from, behave string, after func(string)) error {
	data := w.script(v, behave)
	path := filepath.Join(w.t.TempDir(), "download")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		w.t.Fatal(err)
	}
	r := minisign.NewReader(bytes.NewReader(data))
	if _, err := io.Copy(io.Discard, r); err != nil {
		w.t.Fatal(err)
	}
	sig := r.Sign(w.priv) // prehashed, as releases are signed
	sum := sha256.Sum256(data)
	unlock, err := w.dir.Lock()
	if err != nil {
		w.t.Fatal(err)
	}
	defer unlock()
	return w.dir.Install(path, Binary{Version: v, From: from, Size: int64(len(data)), SHA256: hex.EncodeToString(sum[:]),
		Signature: string(sig), InstalledAt: time.Now()}, after)
}

var errExec = errors.New("exec recorded")

func (w *world) launcher(version string, env ...string) *Launcher {
	return &Launcher{
		Dir: w.dir, Key: w.pub, Version: version, Self: "/usr/bin/cld", Args: []string{"cld", "run"}, Env: env,
		Health: func(context.Context) (string, bool, error) {
			data, err := os.ReadFile(w.state)
			if err != nil {
				return "", false, err
			}
			return strings.TrimSpace(string(data)), false, nil
		},
		Log:    slog.New(slog.NewTextHandler(io.Discard, nil)),
		Timing: Timing{HealthyWithin: 2 * time.Second, StableFor: 1500 * time.Millisecond, StopWait: 2 * time.Second, Poll: 50 * time.Millisecond, CrashWindow: time.Minute, MaxStarts: 3},
		Exec: func(path string, args, env []string) error {
			launched := ""
			for _, kv := range env {
				if v, ok := strings.CutPrefix(kv, EnvLaunched+"="); ok {
					launched = " launched-by=" + v
				}
			}
			w.execs = append(w.execs, path+launched)
			return errExec
		},
	}
}

func (w *world) outcome() Outcome {
	o, err := w.dir.ReadOutcome()
	if err != nil || o == nil {
		w.t.Fatalf("no outcome: %v", err)
	}
	_ = w.dir.ClearOutcome()
	return *o
}

func (w *world) binVersion() string {
	data, err := os.ReadFile(w.dir.Bin())
	if err != nil {
		return "none"
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "VERSION="); ok {
			return v
		}
	}
	return "?"
}

// A good new version passes its trial: it is confirmed, the launcher
// starts over, and the next launch runs it directly.
func TestLaunchTrialConfirms(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	if err := w.install("0.2.0+2", "0.1.0+1", "good", nil); err != nil {
		t.Fatal(err)
	}
	l := w.launcher("0.1.0+1")
	start := time.Now()
	if err := l.Launch(context.Background()); !errors.Is(err, errExec) {
		t.Fatalf("Launch = %v", err)
	}
	if took := time.Since(start); took < l.Timing.StableFor {
		t.Errorf("confirmed after %s, before the stable time %s", took, l.Timing.StableFor)
	}
	if want := "/usr/bin/cld"; len(w.execs) != 1 || w.execs[0] != want {
		t.Fatalf("execs %q, want the launcher itself again", w.execs)
	}
	if o := w.outcome(); o.Result != ResultUpdated || o.Version != "0.2.0+2" || o.From != "0.1.0+1" {
		t.Errorf("outcome %+v", o)
	}
	in, _ := w.dir.ReadInstalled()
	if in.Current == nil || !in.Current.Confirmed {
		t.Fatalf("not confirmed: %+v", in.Current)
	}
	w.execs = nil
	if err := w.launcher("0.1.0+1").Launch(context.Background()); !errors.Is(err, errExec) {
		t.Fatalf("second Launch = %v", err)
	}
	if want := w.dir.Bin() + " launched-by=/usr/bin/cld"; len(w.execs) != 1 || w.execs[0] != want {
		t.Errorf("execs %q, want %q", w.execs, want)
	}
	// A process the launcher started does not launch again.
	w.execs = nil
	if err := w.launcher("0.2.0+2", EnvLaunched+"=/usr/bin/cld").Launch(context.Background()); err != nil || len(w.execs) != 0 {
		t.Errorf("a launched process launched again: %v %q", err, w.execs)
	}
}

// A version that exits at start, one that crashes after it answered
// healthy, and one that never answers healthy are each rolled back: the
// package's binary runs again and the outcome says why.
func TestLaunchTrialRollsBack(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ behave, reason string }{
		{"exit", "exit status 3"},
		{"crash", "killed by segmentation fault"},
		{"unhealthy", "did not become healthy"},
	} {
		t.Run(tc.behave, func(t *testing.T) {
			w := newWorld(t)
			if err := w.install("0.2.0+2", "0.1.0+1", tc.behave, nil); err != nil {
				t.Fatal(err)
			}
			l := w.launcher("0.1.0+1")
			start := time.Now()
			if err := l.Launch(context.Background()); !errors.Is(err, errExec) {
				t.Fatalf("Launch = %v", err)
			}
			if took := time.Since(start); took > l.Timing.HealthyWithin+l.Timing.StableFor+time.Second {
				t.Errorf("the rollback took %s", took)
			}
			o := w.outcome()
			if o.Result != ResultRolledBack || o.Version != "0.2.0+2" || !strings.Contains(o.Reason, tc.reason) {
				t.Errorf("outcome %+v, want rolled_back because %q", o, tc.reason)
			}
			if v := w.binVersion(); v != "none" {
				t.Errorf("the update directory still holds %s", v)
			}
			// Started over, the package's binary runs.
			if err := w.launcher("0.1.0+1").Launch(context.Background()); err != nil {
				t.Errorf("after the rollback Launch = %v", err)
			}
		})
	}
}

// A failed update over an earlier self-update brings that one back.
func TestLaunchRollsBackToPreviousSelfUpdate(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	if err := w.install("0.2.0+2", "0.1.0+1", "good", nil); err != nil {
		t.Fatal(err)
	}
	if err := w.launcher("0.1.0+1").Launch(context.Background()); !errors.Is(err, errExec) {
		t.Fatal(err)
	}
	w.outcome()
	if err := w.install("0.3.0+3", "0.2.0+2", "exit", nil); err != nil {
		t.Fatal(err)
	}
	if err := w.launcher("0.1.0+1").Launch(context.Background()); !errors.Is(err, errExec) {
		t.Fatal(err)
	}
	if o := w.outcome(); o.Result != ResultRolledBack || o.Version != "0.3.0+3" {
		t.Errorf("outcome %+v", o)
	}
	if v := w.binVersion(); v != "0.2.0+2" {
		t.Errorf("after the rollback the update directory holds %s, want 0.2.0+2", v)
	}
	in, _ := w.dir.ReadInstalled()
	if in.Current == nil || in.Current.Version != "0.2.0+2" || !in.Current.Confirmed {
		t.Errorf("current %+v", in.Current)
	}
}

// A confirmed update that keeps restarting soon after its installation is
// rolled back.
func TestLaunchCrashLoopRollsBack(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	if err := w.install("0.2.0+2", "0.1.0+1", "good", nil); err != nil {
		t.Fatal(err)
	}
	if err := w.launcher("0.1.0+1").Launch(context.Background()); !errors.Is(err, errExec) {
		t.Fatal(err)
	}
	w.outcome()
	for i := 0; ; i++ {
		w.execs = nil
		err := w.launcher("0.1.0+1").Launch(context.Background())
		if err == nil {
			break // the package's binary runs
		}
		if i > 5 {
			t.Fatalf("still running the update after %d starts", i)
		}
	}
	if o := w.outcome(); o.Result != ResultRolledBack || !strings.Contains(o.Reason, "keeps stopping") {
		t.Errorf("outcome %+v", o)
	}
}

// The package wins: a package upgrade to the self-update's version or a
// newer one removes the self-update.
func TestLaunchPackageUpgradeWins(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	if err := w.install("0.2.0+2", "0.1.0+1", "good", nil); err != nil {
		t.Fatal(err)
	}
	if err := w.launcher("0.2.0+2").Launch(context.Background()); err != nil || len(w.execs) != 0 {
		t.Fatalf("Launch = %v, execs %q", err, w.execs)
	}
	if v := w.binVersion(); v != "none" {
		t.Errorf("the self-update is still there: %s", v)
	}
	if o := w.outcome(); o.Result != ResultReplaced {
		t.Errorf("outcome %+v", o)
	}
}

// A self-updated binary changed on disk no longer verifies and is removed
// before it could run.
func TestLaunchRefusesAlteredBinary(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	if err := w.install("0.2.0+2", "0.1.0+1", "good", nil); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(w.dir.Bin())
	os.WriteFile(w.dir.Bin(), bytes.Replace(data, []byte("sleep 60"), []byte("sleep 61"), 1), 0o755)
	if err := w.launcher("0.1.0+1").Launch(context.Background()); err != nil || len(w.execs) != 0 {
		t.Fatalf("Launch = %v, execs %q", err, w.execs)
	}
	if v := w.binVersion(); v != "none" {
		t.Errorf("the altered binary is still there")
	}
	if o := w.outcome(); o.Result != ResultFailed || !strings.Contains(o.Reason, "no longer verified") {
		t.Errorf("outcome %+v", o)
	}
}

// An install stopped after any of its steps (as a kill -9 would stop it)
// leaves a binary that runs and a record that agrees with it: the old one
// before the commit, the new one (on trial) from then on.
func TestInstallKilledAtEveryStep(t *testing.T) {
	t.Parallel()
	for _, stop := range []string{StepPrepared, StepKept, StepCommitted, StepInstalled} {
		t.Run(stop, func(t *testing.T) {
			w := newWorld(t)
			if err := w.install("0.2.0+2", "0.1.0+1", "good", nil); err != nil {
				t.Fatal(err)
			}
			if err := w.launcher("0.1.0+1").Launch(context.Background()); !errors.Is(err, errExec) {
				t.Fatal(err)
			}
			w.outcome()
			func() {
				defer func() {
					if r := recover(); r != nil && r != errKilled {
						panic(r)
					}
				}()
				_ = w.install("0.3.0+3", "0.2.0+2", "good", func(step string) {
					if step == stop {
						panic(errKilled)
					}
				})
			}()
			committed := stop == StepCommitted || stop == StepInstalled
			want := map[bool]string{false: "0.2.0+2", true: "0.3.0+3"}[committed]
			if v := w.binVersion(); v != want {
				t.Fatalf("the update directory holds %s, want %s", v, want)
			}
			w.execs = nil
			err := w.launcher("0.1.0+1").Launch(context.Background())
			if !errors.Is(err, errExec) {
				t.Fatalf("Launch = %v", err)
			}
			in, _ := w.dir.ReadInstalled()
			if in.Pending != nil || in.Current == nil || in.Current.Version != want {
				t.Fatalf("record after the launch: %+v", in)
			}
			if committed {
				// It ran on trial and was confirmed.
				if o := w.outcome(); o.Result != ResultUpdated || o.Version != "0.3.0+3" {
					t.Errorf("outcome %+v", o)
				}
				if in.Prev == nil || in.Prev.Version != "0.2.0+2" {
					t.Errorf("the previous binary is not kept: %+v", in.Prev)
				}
			} else if len(w.execs) != 1 || !strings.HasPrefix(w.execs[0], w.dir.Bin()) {
				t.Errorf("execs %q, want the confirmed 0.2.0+2 run directly", w.execs)
			}
		})
	}
}
