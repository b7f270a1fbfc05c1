package updater

import (
	"crypto"
	_ "crypto/sha256" // selfupdate's checksum
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/minio/selfupdate"
)

// Swap steps, in order; a crash after any of them leaves a runnable
// binary at the target (the old one until StepCommitted, the new one from
// then on) and a previous binary to roll back to once StepKept is done.
const (
	StepPrepared  = "prepared"  // the new binary is written next to the target (.cld.new), checksum checked
	StepKept      = "kept"      // the running binary is hard-linked as the previous one
	StepCommitted = "committed" // the new binary has replaced the target (one rename)
)

// Swap replaces the binary at target with the one read from update (whose
// SHA-256 must be sum, as the verified manifest says), keeping the running
// binary as prev for a rollback. minio/selfupdate prepares the new file and
// checks it; the commit is a hard link of the old binary to prev and one
// rename over the target, so the target is never missing, even for a
// moment (when there was none, nothing is kept) (selfupdate's own commit renames the target away first). after,
// when not nil, is called after each step (tests stop there, as a kill -9
// would).
func Swap(target, prev string, update io.Reader, sum []byte, after func(step string)) error {
	step := func(s string) {
		if after != nil {
			after(s)
		}
	}
	mode := os.FileMode(0o755)
	if fi, err := os.Stat(target); err == nil {
		mode = fi.Mode().Perm()
	}
	opts := selfupdate.Options{TargetPath: target, TargetMode: mode, Checksum: sum, Hash: crypto.SHA256}
	if err := selfupdate.PrepareAndCheckBinary(update, opts); err != nil {
		return fmt.Errorf("preparing the new binary: %w", err)
	}
	newPath := filepath.Join(filepath.Dir(target), "."+filepath.Base(target)+".new")
	step(StepPrepared)
	if err := os.Remove(prev); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("making room for the previous binary: %w", err)
	}
	// A first update has no binary at the target yet (the package's runs
	// until then) and keeps none.
	if err := os.Link(target, prev); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("keeping the running binary as %s: %w", prev, err)
	}
	step(StepKept)
	if err := os.Rename(newPath, target); err != nil {
		return fmt.Errorf("replacing %s: %w", target, err)
	}
	syncDir(filepath.Dir(target))
	step(StepCommitted)
	return nil
}

// Rollback puts the previous binary back at target (one rename) and keeps
// no previous one after it.
func Rollback(target, prev string) error {
	if _, err := os.Stat(prev); err != nil {
		return fmt.Errorf("no previous binary to roll back to: %w", err)
	}
	if err := os.Rename(prev, target); err != nil {
		return fmt.Errorf("rolling back to %s: %w", prev, err)
	}
	syncDir(filepath.Dir(target))
	return nil
}

func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
}
