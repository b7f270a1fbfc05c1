// Package audit is the daemon's access audit: one record per public
// connection through a tunnel (the portal user the edge vouched for in its
// signed stream header, the tunnel, the client, start, end, bytes each way),
// appended as a JSON line to a bounded log in the state directory and
// written to the journal.
//
// The log is File; when a record would make it grow past MaxBytes it is
// renamed to File+".1" (replacing the older one) and a new File begins, so
// the audit never holds more than twice MaxBytes. Each record is one
// write(2) on a file opened with O_APPEND, mode 0600: a crash can at worst
// cut the last line, which readers skip. The log survives restarts.
package audit

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/cloudlink/cld/agent/api"
)

// File is the audit log's name in the state directory.
const File = "access-audit.jsonl"

// DefaultMaxBytes bounds one file of the log.
const DefaultMaxBytes = 1 << 20

// MaxList bounds Last.
const MaxList = 100

// tailBytes is how much of a file's end Last reads: far more than MaxList
// records of at most about 900 bytes each.
const tailBytes = 128 << 10

// Log is the access audit log. Its methods may be called from many
// goroutines at once.
type Log struct {
	path     string
	maxBytes int64
	log      *slog.Logger

	mu   sync.Mutex
	f    *os.File // nil until the first record, or after a failure
	size int64
}

// Open returns the log in dir (maxBytes <= 0: DefaultMaxBytes). Nothing is
// opened until the first record.
func Open(dir string, maxBytes int64, log *slog.Logger) *Log {
	if maxBytes <= 0 {
		maxBytes = DefaultMaxBytes
	}
	if log == nil {
		log = slog.Default()
	}
	return &Log{path: filepath.Join(dir, File), maxBytes: maxBytes, log: log.With("component", "audit")}
}

// Path is the log's file.
func (l *Log) Path() string { return l.path }

// MaxBytes bounds one file of the log.
func (l *Log) MaxBytes() int64 { return l.maxBytes }

// Add records a connection: in the journal, and as a line of the log.
func (l *Log) Add(r api.AuditRecord) error {
	l.log.Info("tunnel connection", "tunnel", r.Tunnel, "user", r.User, "client", r.Client,
		"start", r.Start.UTC().Format(time.RFC3339), "end", r.End.UTC().Format(time.RFC3339),
		"bytes_in", r.BytesIn, "bytes_out", r.BytesOut)
	line, err := json.Marshal(r)
	if err != nil {
		return err
	}
	line = append(line, '\n')
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.openLocked(); err != nil {
		return l.fail(err)
	}
	if l.size > 0 && l.size+int64(len(line)) > l.maxBytes {
		if err := l.rotateLocked(); err != nil {
			return l.fail(err)
		}
	}
	n, err := l.f.Write(line)
	l.size += int64(n)
	if err != nil {
		l.f.Close()
		l.f = nil
		return l.fail(err)
	}
	return nil
}

func (l *Log) fail(err error) error {
	err = fmt.Errorf("access audit %s: %w", l.path, err)
	l.log.Error("cannot write the access audit", "err", err)
	return err
}

func (l *Log) openLocked() error {
	if l.f != nil {
		return nil
	}
	f, err := os.OpenFile(l.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	_ = f.Chmod(0o600) // a file made by hand, or by an older daemon
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return err
	}
	l.f, l.size = f, st.Size()
	return nil
}

func (l *Log) rotateLocked() error {
	_ = l.f.Sync()
	l.f.Close()
	l.f = nil
	if err := os.Rename(l.path, l.path+".1"); err != nil {
		return err
	}
	return l.openLocked()
}

// Close closes the log's file; a later Add opens it again.
func (l *Log) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return nil
	}
	err := l.f.Close()
	l.f = nil
	return err
}

// Last returns the n most recent records (at most MaxList), newest first.
// Lines that cannot be read (a cut last line) are skipped.
func (l *Log) Last(n int) ([]api.AuditRecord, error) {
	if n <= 0 || n > MaxList {
		n = MaxList
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	var recs []api.AuditRecord
	for _, p := range []string{l.path, l.path + ".1"} {
		got, err := readTail(p, tailBytes)
		if err != nil {
			return nil, err
		}
		recs = append(got, recs...)
		if len(recs) >= n {
			break
		}
	}
	if len(recs) > n {
		recs = recs[len(recs)-n:]
	}
	for i, j := 0, len(recs)-1; i < j; i, j = i+1, j-1 {
		recs[i], recs[j] = recs[j], recs[i]
	}
	return recs, nil
}

// readTail reads the records in the last limit bytes of the file (none when it
// does not exist), oldest first.
func readTail(path string, limit int64) ([]api.AuditRecord, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	off := max(0, st.Size()-limit)
	buf := make([]byte, st.Size()-off)
	if _, err := f.ReadAt(buf, off); err != nil && err != io.EOF {
		return nil, err
	}
	if off > 0 { // the first line is cut
		if i := bytes.IndexByte(buf, '\n'); i >= 0 {
			buf = buf[i+1:]
		}
	}
	var recs []api.AuditRecord
	for line := range bytes.SplitSeq(buf, []byte{'\n'}) {
		if r, ok := parse(line); ok {
			recs = append(recs, r)
		}
	}
	return recs, nil
}

func parse(line []byte) (api.AuditRecord, bool) {
	var r api.AuditRecord
	if len(line) == 0 || json.Unmarshal(line, &r) != nil || r.Tunnel == "" {
		return r, false
	}
	return r, true
}

// Totals are the audit's totals over a period.
type Totals struct {
	Connections int
	BytesIn     int64
	BytesOut    int64
	Users       int // distinct users ("" not counted)
}

// Totals sums the records of connections that ended after since (the whole
// log for the zero time), reading the log line by line.
func (l *Log) Totals(since time.Time) (Totals, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var t Totals
	users := map[string]struct{}{}
	for _, p := range []string{l.path + ".1", l.path} {
		f, err := os.Open(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return Totals{}, err
		}
		br := bufio.NewReader(f) // lines are bounded by the file's size
		for {
			line, rerr := br.ReadBytes('\n')
			if rerr != nil && rerr != io.EOF {
				err = rerr
				break
			}
			r, ok := parse(bytes.TrimSuffix(line, []byte{'\n'}))
			if rerr == io.EOF {
				ok = ok && len(line) > 0
			}
			if !ok || !r.End.After(since) {
				if rerr == io.EOF {
					break
				}
				continue
			}
			t.Connections++
			t.BytesIn += r.BytesIn
			t.BytesOut += r.BytesOut
			if r.User != "" {
				users[r.User] = struct{}{}
			}
			if rerr == io.EOF {
				break
			}
		}
		f.Close()
		if err != nil {
			return Totals{}, err
		}
	}
	t.Users = len(users)
	return t, nil
}
