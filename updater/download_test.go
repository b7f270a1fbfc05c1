package updater

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// flakyServer serves body with range support (http.ServeContent) but drops
// each of the first drops connections after chunk bytes.
func flakyServer(t *testing.T, body []byte, drops, chunk int) (*httptest.Server, *[]string) {
	var mu sync.Mutex
	var ranges []string
	n := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		ranges = append(ranges, r.Header.Get("Range"))
		n++
		drop := n <= drops
		mu.Unlock()
		if !drop {
			http.ServeContent(w, r, "cld", time.Time{}, bytes.NewReader(body))
			return
		}
		start := 0
		if rg := r.Header.Get("Range"); rg != "" {
			start, _ = strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(rg, "bytes="), "-"))
			w.Header().Set("Content-Range", "bytes "+strconv.Itoa(start)+"-"+strconv.Itoa(len(body)-1)+"/"+strconv.Itoa(len(body)))
			w.Header().Set("Content-Length", strconv.Itoa(len(body)-start))
			w.WriteHeader(http.StatusPartialContent)
		} else {
			w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		}
		w.Write(body[start:min(start+chunk, len(body))])
		w.(http.Flusher).Flush()
		panic(http.ErrAbortHandler) // the connection drops mid-body
	}))
	t.Cleanup(srv.Close)
	return srv, &ranges
}

// A download dropped three times resumes where it stopped (range
// requests), and one left from an earlier run is continued, not restarted.
func TestDownloadResumes(t *testing.T) {
	body := bytes.Repeat([]byte("0123456789"), 100_000)
	srv, ranges := flakyServer(t, body, 3, 300_000)
	path := filepath.Join(t.TempDir(), "cld.new")
	var last int64
	err := Download(context.Background(), srv.Client(), srv.URL, nil, path, int64(len(body)), 3, func(done, total int64) { last = done })
	if err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(path)
	if !bytes.Equal(got, body) || last != int64(len(body)) {
		t.Fatalf("downloaded %d bytes (progress %d), want %d equal ones", len(got), last, len(body))
	}
	if want := []string{"", "bytes=300000-", "bytes=600000-", "bytes=900000-"}; strings.Join(*ranges, ",") != strings.Join(want, ",") {
		t.Errorf("requests %q, want %q", *ranges, want)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v", fi.Mode())
	}

	// A partial file from before a restart: only the rest is fetched.
	path2 := filepath.Join(t.TempDir(), "cld.new")
	os.WriteFile(path2, body[:123], 0o600)
	srv2, ranges2 := flakyServer(t, body, 0, 0)
	if err := Download(context.Background(), srv2.Client(), srv2.URL, nil, path2, int64(len(body)), 1, nil); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(path2); !bytes.Equal(got, body) || strings.Join(*ranges2, ",") != "bytes=123-" {
		t.Errorf("resume from a partial file: %d bytes, requests %q", len(got), *ranges2)
	}

	// A server that keeps failing without progress is given up on, with why.
	dead := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { http.Error(w, "no", http.StatusServiceUnavailable) }))
	defer dead.Close()
	err = Download(context.Background(), dead.Client(), dead.URL, nil, filepath.Join(t.TempDir(), "x"), 10, 2, nil)
	if err == nil || !strings.Contains(err.Error(), "503") {
		t.Errorf("a failing server: %v", err)
	}
}
