package audit

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cloudlink/cld/agent/api"
)

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func rec(i int, user string, end time.Time) api.AuditRecord {
	return api.AuditRecord{Tunnel: "web", User: user, Client: fmt.Sprintf("203.0.113.9:%d", 1000+i),
		Start: end.Add(-time.Second), End: end, BytesIn: int64(i), BytesOut: int64(10 * i)}
}

// TestLogBoundedAndOrdered: records come back newest first, at most
// MaxList; the log rotates at its size, keeps one older file, and its files
// are 0600.
func TestLogBoundedAndOrdered(t *testing.T) {
	dir := t.TempDir()
	l := Open(dir, 16<<10, quiet())
	t0 := time.Date(2026, 12, 7, 8, 0, 0, 0, time.UTC)
	const n = 500
	for i := range n {
		if err := l.Add(rec(i, "alice@example.com", t0.Add(time.Duration(i)*time.Second))); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range []string{l.Path(), l.Path() + ".1"} {
		st, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if st.Size() > 16<<10 {
			t.Errorf("%s is %d bytes, over the bound", p, st.Size())
		}
		if st.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v, want 0600", p, st.Mode().Perm())
		}
	}
	if _, err := os.Stat(l.Path() + ".2"); err == nil {
		t.Error("more than one older file kept")
	}
	got, err := l.Last(0)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != MaxList || got[0].BytesIn != n-1 || got[MaxList-1].BytesIn != n-MaxList {
		t.Fatalf("Last = %d records, first %+v", len(got), got[0])
	}
	if got, _ := l.Last(3); len(got) != 3 || got[2].BytesIn != n-3 {
		t.Fatalf("Last(3) = %+v", got)
	}
}

// TestLogSurvivesRestartAndCutLine: a new Log on the same directory reads
// the earlier records and appends after them; a cut last line (a crash
// mid-write) is skipped.
func TestLogSurvivesRestartAndCutLine(t *testing.T) {
	dir := t.TempDir()
	t0 := time.Now().UTC().Truncate(time.Second)
	l := Open(dir, 0, quiet())
	l.Add(rec(1, "alice@example.com", t0))
	l.Close()
	f, _ := os.OpenFile(filepath.Join(dir, File), os.O_WRONLY|os.O_APPEND, 0)
	f.WriteString(`{"tunnel":"web","user":"cut`)
	f.Close()
	l2 := Open(dir, 0, quiet())
	l2.Add(rec(2, "bob@example.com", t0.Add(time.Second)))
	got, err := l2.Last(10)
	if err != nil {
		t.Fatal(err)
	}
	// The cut line and the record after it share a line: that one is lost,
	// the earlier one is not.
	if len(got) < 1 || got[len(got)-1].User != "alice@example.com" || !got[len(got)-1].End.Equal(t0) {
		t.Fatalf("after a restart: %+v", got)
	}
	data, _ := os.ReadFile(filepath.Join(dir, File))
	if !strings.HasPrefix(string(data), `{"tunnel":"web","user":"alice@example.com"`) {
		t.Fatalf("log = %s", data)
	}
}

// TestTotals: connections, bytes and distinct users of the connections that
// ended after a time, over both files.
func TestTotals(t *testing.T) {
	l := Open(t.TempDir(), 64<<10, quiet())
	t0 := time.Date(2026, 12, 7, 8, 0, 0, 0, time.UTC)
	var wg sync.WaitGroup
	for i := range 60 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l.Add(rec(i, []string{"alice@example.com", "bob@example.com", ""}[i%3], t0.Add(time.Duration(i)*time.Minute)))
		}()
	}
	wg.Wait()
	all, err := l.Totals(time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if all.Connections != 60 || all.Users != 2 {
		t.Fatalf("Totals(all) = %+v", all)
	}
	late, _ := l.Totals(t0.Add(49 * time.Minute))
	var in, out int64
	for i := 50; i < 60; i++ {
		in, out = in+int64(i), out+int64(10*i)
	}
	if late.Connections != 10 || late.BytesIn != in || late.BytesOut != out || late.Users != 2 {
		t.Fatalf("Totals(since) = %+v, want 10 connections, %d in, %d out, 2 users", late, in, out)
	}
}
