package updater

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"aead.dev/minisign"

	"github.com/cloudlink/cld/atomicfile"
)

// Dir is the update directory (the state directory's update/). Its layout:
//
//	bin/cld         the self-updated binary; absent, the package's binary runs
//	bin/cld.prev    the self-updated binary before it, for a rollback
//	installed.json  what those are (and, during a swap, the one coming in)
//	outcome.json    the last update's result, as the launcher decided it
//	lock            held while the binaries or installed.json change
//	download/       downloads, kept across restarts to resume
//
// The package manager's files are never touched: a package upgrade puts
// its binary in place as usual, and the launcher runs the newer of the two.
type Dir string

// The update directory's files.
func (d Dir) Bin() string           { return filepath.Join(string(d), "bin", "cld") }
func (d Dir) Prev() string          { return filepath.Join(string(d), "bin", "cld.prev") }
func (d Dir) installedFile() string { return filepath.Join(string(d), "installed.json") }
func (d Dir) outcomeFile() string   { return filepath.Join(string(d), "outcome.json") }
func (d Dir) Downloads() string     { return filepath.Join(string(d), "download") }

// Binary is one self-updated binary as installed.
type Binary struct {
	Version     string    `json:"version"`
	Size        int64     `json:"size"`
	SHA256      string    `json:"sha256"`
	Signature   string    `json:"signature"` // minisign, checked again before every start
	From        string    `json:"from"`      // the version it replaced
	InstalledAt time.Time `json:"installed_at"`
	// Linked is whether the host was linked when it was installed: the
	// trial requires the new version to find the link intact.
	Linked bool `json:"linked"`
	// Confirmed is set when the trial found it healthy and stable.
	Confirmed bool `json:"confirmed"`
	// Starts are its starts soon after the installation (restarts in a row
	// mean it crashes).
	Starts []time.Time `json:"starts,omitempty"`
}

func (b *Binary) artifact() Artifact {
	return Artifact{Size: b.Size, SHA256: b.SHA256, Signature: b.Signature}
}

// Installed is installed.json.
type Installed struct {
	Current *Binary `json:"current,omitempty"` // at Bin
	Prev    *Binary `json:"prev,omitempty"`    // at Prev
	Pending *Binary `json:"pending,omitempty"` // being swapped in
}

// Outcome is an update's result as it ended, for the daemon to report.
type Outcome struct {
	Version string    `json:"version"`
	From    string    `json:"from"`
	Result  string    `json:"result"` // one of the Result* values
	Reason  string    `json:"reason,omitempty"`
	Time    time.Time `json:"time"`
}

// Outcomes of an update.
const (
	ResultUpdated     = "updated"     // the new version runs, confirmed healthy
	ResultRolledBack  = "rolled_back" // it failed its trial; the previous version runs again
	ResultRefused     = "refused"     // it was not installed (signature, checksum, version, architecture)
	ResultFailed      = "failed"      // it could not be downloaded or installed
	ResultInterrupted = "interrupted" // the daemon stopped during it; tried again at the next check
	ResultReplaced    = "replaced"    // a package upgrade to a newer or equal version took over
)

// ReadInstalled reads installed.json (empty when there is none).
func (d Dir) ReadInstalled() (Installed, error) {
	var in Installed
	data, err := os.ReadFile(d.installedFile())
	if errors.Is(err, os.ErrNotExist) {
		return in, nil
	}
	if err != nil {
		return in, err
	}
	if err := json.Unmarshal(data, &in); err != nil {
		return Installed{}, fmt.Errorf("%s is not valid: %v", d.installedFile(), err)
	}
	return in, nil
}

func (d Dir) writeInstalled(in Installed) error {
	data, err := json.MarshalIndent(in, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.Write(d.installedFile(), append(data, '\n'), 0o600)
}

// WriteOutcome records an update's result for the daemon to report.
func (d Dir) WriteOutcome(o Outcome) error {
	data, err := json.MarshalIndent(o, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.Write(d.outcomeFile(), append(data, '\n'), 0o600)
}

// ReadOutcome returns the recorded outcome, if any; ClearOutcome removes
// it once the daemon has kept it (reading it twice gives the same).
func (d Dir) ReadOutcome() (*Outcome, error) {
	data, err := os.ReadFile(d.outcomeFile())
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var o Outcome
	if err := json.Unmarshal(data, &o); err != nil {
		_ = os.Remove(d.outcomeFile())
		return nil, fmt.Errorf("%s is not valid (removed): %v", d.outcomeFile(), err)
	}
	return &o, nil
}

// ClearOutcome removes the recorded outcome once it is reported.
func (d Dir) ClearOutcome() error {
	if err := os.Remove(d.outcomeFile()); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// Lock takes the update lock (waiting for it): one swap, rollback or
// launch decision at a time, across processes; the package's maintainer
// scripts take it too (flock(1)) before they restart the service.
func (d Dir) Lock() (unlock func(), err error) {
	if err := os.MkdirAll(filepath.Join(string(d), "bin"), 0o700); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(filepath.Join(string(d), "lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("taking the update lock: %w", err)
	}
	return func() { f.Close() }, nil
}

// Install swaps the verified binary in the file path in as the current
// one (not yet confirmed), keeping the current one as the previous. The
// caller holds the lock. after is told each step (see Swap, then
// StepInstalled once installed.json says so).
func (d Dir) Install(path string, b Binary, after func(step string)) error {
	in, err := d.ReadInstalled()
	if err != nil {
		return err
	}
	if in.Current != nil {
		if _, err := os.Stat(d.Bin()); err != nil {
			in.Current = nil // its file is gone; the package's binary runs
		}
	}
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	sum, err := hexSum(b.SHA256)
	if err != nil {
		return err
	}
	in.Pending = &b
	if err := d.writeInstalled(in); err != nil {
		return err
	}
	if err := Swap(d.Bin(), d.Prev(), f, sum, after); err != nil {
		in.Pending = nil
		_ = d.writeInstalled(in)
		return err
	}
	in.Prev, in.Current, in.Pending = in.Current, &b, nil
	if in.Prev == nil {
		_ = os.Remove(d.Prev())
	}
	if err := d.writeInstalled(in); err != nil {
		return err
	}
	if after != nil {
		after(StepInstalled)
	}
	return nil
}

func hexSum(s string) ([]byte, error) {
	sum, err := hex.DecodeString(s)
	if err != nil || len(sum) != 32 {
		return nil, fmt.Errorf("the checksum %q is not a SHA-256", s)
	}
	return sum, nil
}

// StepInstalled follows Swap's steps: installed.json names the new binary.
const StepInstalled = "installed"

// rollback puts the previous self-updated binary back, or none (the
// package's binary runs), and records why. The caller holds the lock.
func (d Dir) rollback(in Installed, reason string, now time.Time) (Installed, error) {
	failed := in.Current
	if in.Prev != nil {
		if err := Rollback(d.Bin(), d.Prev()); err == nil {
			in.Current, in.Prev = in.Prev, nil
		} else {
			in.Prev = nil
		}
	}
	if in.Current == failed {
		if err := os.Remove(d.Bin()); err != nil && !errors.Is(err, os.ErrNotExist) {
			return in, fmt.Errorf("removing the failed binary: %w", err)
		}
		in.Current = nil
	}
	if err := d.writeInstalled(in); err != nil {
		return in, err
	}
	if failed != nil {
		_ = d.WriteOutcome(Outcome{Version: failed.Version, From: failed.From, Result: ResultRolledBack, Reason: reason, Time: now})
	}
	return in, nil
}

// reconcile makes installed.json agree with the files after a crash at
// any step, and checks the current binary (size, checksum, signature by
// key): a swap that had not committed is forgotten, one that had is
// current; a binary that matches no record, or no longer verifies, is
// removed. The caller holds the lock.
func (d Dir) reconcile(in Installed, key minisign.PublicKey) (Installed, string, error) {
	_ = os.Remove(filepath.Join(filepath.Dir(d.Bin()), ".cld.new"))
	f, err := os.Open(d.Bin())
	if errors.Is(err, os.ErrNotExist) {
		changed := in.Current != nil || in.Pending != nil
		in.Current, in.Pending = nil, nil
		if changed {
			return in, "", d.writeInstalled(in)
		}
		return in, "", nil
	}
	if err != nil {
		return in, "", err
	}
	defer f.Close()
	var note string
	match := func(b *Binary) bool {
		if b == nil {
			return false
		}
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return false
		}
		return b.artifact().Verify(key, f) == nil
	}
	switch {
	case in.Pending != nil && match(in.Pending):
		// Killed after the commit, before installed.json said so.
		if in.Current != nil {
			in.Prev = in.Current
		}
		in.Current, in.Pending = in.Pending, nil
	case match(in.Current):
		in.Pending = nil
	default:
		note = "the self-updated binary matched no record or no longer verified against the release key; it was removed and the package's binary runs"
		_ = os.Remove(d.Bin())
		_ = os.Remove(d.Prev())
		in = Installed{}
	}
	if in.Prev != nil {
		if _, err := os.Stat(d.Prev()); err != nil {
			in.Prev = nil
		}
	}
	return in, note, d.writeInstalled(in)
}
