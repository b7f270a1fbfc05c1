package state

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"

	"github.com/cloudlink/cld/atomicfile"
)

// ErrInUse means another daemon uses the same state directory.
var ErrInUse = errors.New("another cld daemon uses the state directory")

// Prepare makes dir (0700, made private if it was not) and removes the
// temporary files an interrupted write left behind.
func Prepare(dir string, log *slog.Logger) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("creating the state directory: %w; check state_dir (--state) and that cld runs as root", err)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("state directory: %w", err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("state_dir %s is not a directory; point state_dir (--state) at a directory", dir)
	}
	if fi.Mode().Perm() != 0o700 {
		if err := os.Chmod(dir, 0o700); err != nil {
			return fmt.Errorf("making the state directory private: %w", err)
		}
	}
	removed, err := atomicfile.RemoveStale(dir)
	if err != nil {
		return fmt.Errorf("cleaning the state directory %s: %w", dir, err)
	}
	if len(removed) > 0 {
		log.Info("removed temporary files left by an interrupted write", "dir", dir, "files", removed)
	}
	return nil
}

// Lock takes the directory's lock (flock on LockFile) for this process;
// closing the returned file releases it. A lock held by another daemon is
// ErrInUse, with what to do.
func Lock(dir string) (*os.File, error) {
	path := filepath.Join(dir, LockFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("opening %s: %w", path, err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, fmt.Errorf("%w %s; stop it first (systemctl stop cld) or give this one another --state", ErrInUse, dir)
		}
		return nil, fmt.Errorf("locking %s: %w", path, err)
	}
	return f, nil
}
