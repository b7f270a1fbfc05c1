package updater

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

var errKilled = errors.New("killed")

// A swap stopped after each of its steps (as a kill -9 would stop it)
// leaves a whole binary at the target, the old or the new one, and once the
// old one is kept a rollback brings it back.
func TestSwapKilledAtEveryStep(t *testing.T) {
	old, next := []byte("#!/bin/sh\necho v1\n"), []byte("#!/bin/sh\necho v2\n")
	sum := sha256.Sum256(next)
	for _, stop := range []string{StepPrepared, StepKept, StepCommitted, ""} {
		dir := t.TempDir()
		target, prev := filepath.Join(dir, "cld"), filepath.Join(dir, "cld.prev")
		if err := os.WriteFile(target, old, 0o755); err != nil {
			t.Fatal(err)
		}
		func() {
			defer func() {
				if r := recover(); r != nil && r != errKilled {
					panic(r)
				}
			}()
			err := Swap(target, prev, bytes.NewReader(next), sum[:], func(step string) {
				if step == stop {
					panic(errKilled)
				}
			})
			if err != nil {
				t.Fatalf("swap: %v", err)
			}
		}()
		got, err := os.ReadFile(target)
		committed := stop == StepCommitted || stop == ""
		if err != nil || (committed && !bytes.Equal(got, next)) || (!committed && !bytes.Equal(got, old)) {
			t.Fatalf("stopped after %q: the target holds %q (%v)", stop, got, err)
		}
		if fi, _ := os.Stat(target); fi.Mode().Perm() != 0o755 {
			t.Errorf("stopped after %q: mode %v", stop, fi.Mode())
		}
		if stop == StepPrepared {
			continue // nothing kept yet: the old binary still runs
		}
		if err := Rollback(target, prev); err != nil {
			t.Fatalf("stopped after %q: rollback: %v", stop, err)
		}
		if got, _ := os.ReadFile(target); !bytes.Equal(got, old) {
			t.Errorf("stopped after %q: rolled back to %q", stop, got)
		}
	}
	// A wrong checksum is refused before anything changes.
	dir := t.TempDir()
	target := filepath.Join(dir, "cld")
	os.WriteFile(target, old, 0o755)
	bad := sha256.Sum256([]byte("other"))
	if err := Swap(target, target+".prev", bytes.NewReader(next), bad[:], nil); err == nil {
		t.Error("a wrong checksum was accepted")
	}
	if got, _ := os.ReadFile(target); !bytes.Equal(got, old) {
		t.Error("a refused swap changed the target")
	}
	if err := Rollback(target, target+".prev"); err == nil {
		t.Error("a rollback without a previous binary succeeded")
	}
}
