package atomicfile

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestWriteReplacesAtomicallyWithPerm(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f.json")
	if err := Write(p, []byte("one"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := Write(p, []byte("two"), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(p)
	if err != nil || string(got) != "two" {
		t.Fatalf("content = %q, %v; want two", got, err)
	}
	fi, _ := os.Stat(p)
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode = %v, want 0600", fi.Mode().Perm())
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("directory holds %d entries, want only the file (no temp left)", len(entries))
	}
}

func TestWriteFailureLeavesOldContent(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f")
	if err := Write(p, []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	// A directory in the way of the rename: the write must fail cleanly.
	bad := filepath.Join(dir, "sub")
	if err := os.Mkdir(bad, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(bad, "x"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := Write(bad, []byte("new"), 0o600); err == nil {
		t.Fatal("Write over a non-empty directory succeeded")
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if IsTemp(e.Name()) {
			t.Errorf("temporary file %s left behind", e.Name())
		}
	}
	if got, _ := os.ReadFile(p); string(got) != "old" {
		t.Errorf("unrelated file changed: %q", got)
	}
}

func TestRemoveStale(t *testing.T) {
	dir := t.TempDir()
	keep := filepath.Join(dir, "link.json")
	os.WriteFile(keep, []byte("{}"), 0o600)
	os.WriteFile(filepath.Join(dir, ".link.json.tmp-abc123"), []byte("{half"), 0o600)
	os.WriteFile(filepath.Join(dir, ".hidden"), nil, 0o600)
	removed, err := RemoveStale(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(removed) != 1 || removed[0] != ".link.json.tmp-abc123" {
		t.Errorf("removed = %v", removed)
	}
	for _, name := range []string{"link.json", ".hidden"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			t.Errorf("%s was removed: %v", name, err)
		}
	}
}

func TestQuarantine(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "link.json")
	os.WriteFile(p, []byte("garbage"), 0o600)
	to, err := Quarantine(p, time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(to, p+".corrupt-20260102T030405") {
		t.Errorf("moved to %s", to)
	}
	if _, err := os.Stat(p); !os.IsNotExist(err) {
		t.Errorf("original still there: %v", err)
	}
	if got, _ := os.ReadFile(to); string(got) != "garbage" {
		t.Errorf("quarantined content = %q", got)
	}
}

func TestRemove(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "x")
	os.WriteFile(p, nil, 0o600)
	if err := Remove(p); err != nil {
		t.Fatal(err)
	}
	if err := Remove(p); err != nil {
		t.Fatalf("removing a missing file: %v", err)
	}
}
