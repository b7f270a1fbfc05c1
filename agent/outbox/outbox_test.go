package outbox

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestSupersedeAndRemoveByID(t *testing.T) {
	path := filepath.Join(t.TempDir(), "outbox.json")
	now := time.Date(2024, 9, 18, 1, 19, 0, 0, time.UTC)
	o, err := Open(path, now)
	if err != nil {
		t.Fatal(err)
	}
	if o.Pending() {
		t.Fatal("a new outbox is empty")
	}
	if old, err := o.Put(Entry{ID: "r1", SystemID: "s", QueuedAt: now, Body: []byte(`{"id":"r1"}`)}); err != nil || old != "" {
		t.Fatal(old, err)
	}
	old, err := o.Put(Entry{ID: "r2", SystemID: "s", QueuedAt: now, Body: []byte(`{"id":"r2"}`)})
	if err != nil || old != "r1" {
		t.Fatalf("superseded %q, %v; want r1", old, err)
	}
	// The older report's acceptance must not remove the newer one.
	if ok, err := o.Remove("r1"); ok || err != nil {
		t.Fatal("removed r2 by r1's ID", ok, err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("outbox file mode: %v %v", fi, err)
	}
	// A restart finds r2.
	o2, err := Open(path, now)
	if err != nil {
		t.Fatal(err)
	}
	e, ok := o2.Peek()
	if !ok || e.ID != "r2" || string(e.Body) != `{"id":"r2"}` {
		t.Fatalf("after reopening: %+v %v", e, ok)
	}
	if ok, err := o2.Remove("r2"); !ok || err != nil {
		t.Fatal(ok, err)
	}
	o3, _ := Open(path, now)
	if o3.Pending() {
		t.Fatal("removed entry came back")
	}
}

func TestCorruptIsQuarantined(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "outbox.json")
	os.WriteFile(path, []byte("{not json"), 0o600)
	o, err := Open(path, time.Now())
	if !errors.Is(err, ErrCorrupt) || o == nil || o.Pending() {
		t.Fatalf("Open(corrupt) = %v, %v", o, err)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatal("corrupt file left in place")
	}
}

func TestClear(t *testing.T) {
	path := filepath.Join(t.TempDir(), "outbox.json")
	o, _ := Open(path, time.Now())
	o.Put(Entry{ID: "r1", Body: []byte(`{}`)})
	if err := o.Clear(); err != nil || o.Pending() {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatal("the file stayed")
	}
	if err := o.Clear(); err != nil {
		t.Fatal("clearing twice:", err)
	}
}
