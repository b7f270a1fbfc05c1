package updater

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"time"
)

// Progress is told the bytes downloaded so far of total.
type Progress func(done, total int64)

// Download fetches url into the file path (created 0600 when missing), at
// most size bytes, resuming with HTTP range requests after a dropped
// connection: what the file already holds is kept and asked for no more,
// so a download that stopped, even in an earlier run of the daemon, goes
// on where it ended. It gives up after attempts tries in a row that made no
// progress. header goes with every request (the cloud's authorization).
// The result still needs Artifact.Verify.
func Download(ctx context.Context, hc *http.Client, url string, header http.Header, path string, size int64, attempts int, progress Progress) error {
	if attempts < 1 {
		attempts = 1
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	defer f.Close()
	var lastErr error
	for failures := 0; failures < attempts; {
		have, err := f.Seek(0, io.SeekEnd)
		if err != nil {
			return err
		}
		if have > size {
			// Not this release's partial download: start again.
			if err := f.Truncate(0); err != nil {
				return err
			}
			have = 0
		}
		if have == size {
			return f.Sync()
		}
		n, err := fetchFrom(ctx, hc, url, header, f, have, size, progress)
		if progress != nil {
			progress(have+n, size)
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err == nil && have+n == size {
			return f.Sync()
		}
		if err == nil {
			err = fmt.Errorf("the answer ended after %d of %d bytes", have+n, size)
		}
		lastErr = err
		if n > 0 {
			failures = 0 // progress: the next drop gets its full set of tries
		} else {
			failures++
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Duration(failures) * 200 * time.Millisecond):
		}
	}
	return fmt.Errorf("downloading %s: %w", url, lastErr)
}

// fetchFrom appends bytes from offset have to f and returns how many.
func fetchFrom(ctx context.Context, hc *http.Client, url string, header http.Header, f *os.File, have, size int64, progress Progress) (int64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	for k, v := range header {
		req.Header[k] = v
	}
	if have > 0 {
		req.Header.Set("Range", "bytes="+strconv.FormatInt(have, 10)+"-")
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	switch {
	case have > 0 && resp.StatusCode == http.StatusPartialContent:
	case resp.StatusCode == http.StatusOK:
		if have > 0 {
			// The whole file again: start over rather than append it.
			if err := f.Truncate(0); err != nil {
				return 0, err
			}
			if _, err := f.Seek(0, io.SeekStart); err != nil {
				return 0, err
			}
			n, err := io.Copy(&progressWriter{w: f, total: size, fn: progress}, io.LimitReader(resp.Body, size))
			return n - have, err // relative to have, as the caller counts
		}
	default:
		return 0, fmt.Errorf("the download answered %s", resp.Status)
	}
	return io.Copy(&progressWriter{w: f, done: have, total: size, fn: progress}, io.LimitReader(resp.Body, size-have))
}

// progressWriter tells fn the bytes written so far, at most every 256 KiB.
type progressWriter struct {
	w           io.Writer
	done, total int64
	told        int64
	fn          Progress
}

func (p *progressWriter) Write(b []byte) (int, error) {
	n, err := p.w.Write(b)
	p.done += int64(n)
	if p.fn != nil && p.done-p.told >= 256<<10 {
		p.told = p.done
		p.fn(p.done, p.total)
	}
	return n, err
}
