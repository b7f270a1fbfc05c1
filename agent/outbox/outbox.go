// Package outbox keeps the one report that waits for the cloud on disk: a
// single file in the state directory, written atomically with mode 0600.
//
// The outbox holds at most one entry: putting a newer one replaces (supersedes)
// an older unsent one, since only the newest description of the host matters.
// An entry is removed only by its own ID, so that a report queued while an
// older one was on its way is not lost when the older one is accepted.
package outbox

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/cloudlink/cld/atomicfile"
)

const format = 1

// ErrCorrupt is wrapped by Open's error when the file could not be read as
// an outbox; the file was moved aside and the outbox starts empty.
var ErrCorrupt = errors.New("outbox file corrupt")

// Entry is one queued report.
type Entry struct {
	ID       string    `json:"id"`
	SystemID string    `json:"system_id"`
	Trigger  string    `json:"trigger,omitempty"`
	QueuedAt time.Time `json:"queued_at"`
	// Body is the exact document to send (JSON), byte for byte.
	Body json.RawMessage `json:"body"`
}

type file struct {
	Format int    `json:"format"`
	Entry  *Entry `json:"entry,omitempty"`
}

// Outbox is the on-disk outbox. Its methods are safe for concurrent use.
type Outbox struct {
	path string
	mu   sync.Mutex
	cur  *Entry
}

// Open loads the outbox at path (a missing file is an empty outbox). A corrupt
// file is quarantined (renamed aside) and Open returns a usable, empty
// outbox together with an error wrapping ErrCorrupt.
func Open(path string, now time.Time) (*Outbox, error) {
	o := &Outbox{path: path}
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return o, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading the outbox %s: %w", path, err)
	}
	var f file
	if err := json.Unmarshal(data, &f); err != nil || f.Format < 1 || f.Format > format || (f.Entry != nil && (f.Entry.ID == "" || len(f.Entry.Body) == 0)) {
		if err == nil {
			err = fmt.Errorf("format %d or entry invalid", f.Format)
		}
		to, qerr := atomicfile.Quarantine(path, now)
		if qerr != nil {
			return nil, fmt.Errorf("%w: %s: %v; and it could not be moved aside: %w", ErrCorrupt, path, err, qerr)
		}
		return o, fmt.Errorf("%w: %s (%v); moved to %s", ErrCorrupt, path, err, to)
	}
	o.cur = f.Entry
	return o, nil
}

// Put queues e, replacing (superseding) any older entry; it returns the
// superseded entry's ID ("" when none).
func (o *Outbox) Put(e Entry) (superseded string, err error) {
	if e.ID == "" || len(e.Body) == 0 {
		return "", errors.New("outbox: an entry needs an ID and a body")
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if err := o.writeLocked(&e); err != nil {
		return "", err
	}
	if o.cur != nil && o.cur.ID != e.ID {
		superseded = o.cur.ID
	}
	o.cur = &e
	return superseded, nil
}

// Peek returns the queued entry, if any.
func (o *Outbox) Peek() (Entry, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.cur == nil {
		return Entry{}, false
	}
	return *o.cur, true
}

// Pending tells whether an entry waits.
func (o *Outbox) Pending() bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.cur != nil
}

// Remove deletes the entry with the given ID (after the cloud accepted it, or
// refused it for good). It returns false, and changes nothing, when the
// outbox holds another entry (a newer one superseded it meanwhile) or none.
func (o *Outbox) Remove(id string) (bool, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.cur == nil || o.cur.ID != id {
		return false, nil
	}
	if err := o.writeLocked(nil); err != nil {
		return false, err
	}
	o.cur = nil
	return true, nil
}

// Clear empties the outbox and deletes its file (after an unlink: the
// reports named a system that is gone).
func (o *Outbox) Clear() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.cur = nil
	return atomicfile.Remove(o.path)
}

func (o *Outbox) writeLocked(e *Entry) error {
	data, err := json.Marshal(file{Format: format, Entry: e})
	if err != nil {
		return err
	}
	if err := atomicfile.Write(o.path, data, 0o600); err != nil {
		return fmt.Errorf("saving the outbox: %w", err)
	}
	return nil
}
