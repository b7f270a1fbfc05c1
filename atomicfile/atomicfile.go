// Package atomicfile writes files so that a crash (power loss, kill -9) at any
// moment leaves either the old or the new content on disk, never a mix:
// the data goes to a temporary file in the same directory, is synced, renamed
// over the target and the directory is synced.
//
// Temporary files are named ".<name>.tmp-<random>"; RemoveStale deletes the
// ones a crash left behind. Quarantine moves a corrupt file aside so that a
// daemon can start without losing it.
package atomicfile

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

const tmpMarker = ".tmp-"

// The steps of a Write a test build can stop at (see step).
const (
	StepPartial = "partial" // half the data is in the temporary file
	StepSynced  = "synced"  // the temporary file is complete and synced, not yet renamed
	StepRenamed = "renamed" // renamed over the target, the directory not yet synced
)

// Write replaces path with data atomically and durably; the file gets perm
// (e.g. 0o600 for secrets) whatever the umask.
func Write(path string, data []byte, perm os.FileMode) (err error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	var rnd [6]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	tmp := filepath.Join(dir, "."+base+tmpMarker+hex.EncodeToString(rnd[:]))
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if err := f.Chmod(perm); err != nil { // the umask may have narrowed or widened nothing, but be exact
		return fmt.Errorf("writing %s: %w", path, err)
	}
	// Two halves, so that a test build can stop between them (step).
	half := len(data) / 2
	if _, err := f.Write(data[:half]); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	step(StepPartial, path)
	if _, err := f.Write(data[half:]); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("writing %s: sync: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	step(StepSynced, path)
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	step(StepRenamed, path)
	return SyncDir(dir)
}

// Remove deletes path durably (the directory is synced); a missing file is
// not an error.
func Remove(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return SyncDir(filepath.Dir(path))
}

// SyncDir fsyncs a directory so that renames and removals in it are durable.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("syncing directory %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("syncing directory %s: %w", dir, err)
	}
	return nil
}

// IsTemp reports whether name (a base name) is one of Write's temporary files.
func IsTemp(name string) bool {
	return strings.HasPrefix(name, ".") && strings.Contains(name, tmpMarker)
}

// RemoveStale deletes the temporary files that an interrupted Write left in
// dir and returns their names.
func RemoveStale(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var removed []string
	for _, e := range entries {
		if e.Type().IsRegular() && IsTemp(e.Name()) {
			if err := os.Remove(filepath.Join(dir, e.Name())); err != nil && !errors.Is(err, os.ErrNotExist) {
				return removed, err
			}
			removed = append(removed, e.Name())
		}
	}
	if len(removed) > 0 {
		return removed, SyncDir(dir)
	}
	return nil, nil
}

// Quarantine renames a corrupt file to "<path>.corrupt-<time>" so that it is
// kept for inspection but no longer read, and returns the new path.
func Quarantine(path string, now time.Time) (string, error) {
	to := path + ".corrupt-" + now.UTC().Format("20060102T150405.000000000Z")
	if err := os.Rename(path, to); err != nil {
		return "", fmt.Errorf("moving corrupt %s aside: %w", path, err)
	}
	return to, SyncDir(filepath.Dir(path))
}
