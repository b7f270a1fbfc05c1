package main

import (
	"bufio"
	"strings"
	"testing"
)

// TestReadAnswer: the load generator takes a 200 answer by its
// Content-Length, notes Connection: close, and refuses what it cannot
// measure (another status, no length, a cut body).
func TestReadAnswer(t *testing.T) {
	for _, c := range []struct {
		name, in  string
		n         int64
		close, ok bool
	}{
		{"ok", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Type: text/plain\r\n\r\nhello", 5, false, true},
		{"close", "HTTP/1.1 200 OK\r\ncontent-length: 0\r\nConnection: close\r\n\r\n", 0, true, true},
		{"not 200", "HTTP/1.1 302 Found\r\nContent-Length: 0\r\n\r\n", 0, true, false},
		{"no length", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 0, true, false},
		{"bad length", "HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n", 0, true, false},
		{"cut body", "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", 0, true, false},
		{"cut headers", "HTTP/1.1 200 OK\r\nContent-Len", 0, true, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			n, closeAfter, err := readAnswer(bufio.NewReader(strings.NewReader(c.in)))
			if (err == nil) != c.ok {
				t.Fatalf("err = %v, want ok %v", err, c.ok)
			}
			if c.ok && (n != c.n || closeAfter != c.close) {
				t.Errorf("got %d bytes, close %v; want %d, %v", n, closeAfter, c.n, c.close)
			}
			if !c.ok && !closeAfter {
				t.Errorf("a failed answer must close the connection")
			}
		})
	}
	// Two answers in a row on one connection.
	br := bufio.NewReader(strings.NewReader("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nabHTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nc"))
	for _, want := range []int64{2, 1} {
		if n, _, err := readAnswer(br); err != nil || n != want {
			t.Fatalf("got %d, %v; want %d bytes", n, err, want)
		}
	}
}

// FuzzReadAnswer: any bytes from a peer or the origin give an answer or an
// error, never a panic, and never more body than they hold.
func FuzzReadAnswer(f *testing.F) {
	f.Add("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello")
	f.Add("HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n")
	f.Add("HTTP/1.1 200 \r\n:\r\n\r\n")
	f.Fuzz(func(t *testing.T, in string) {
		n, _, err := readAnswer(bufio.NewReader(strings.NewReader(in)))
		if err == nil && (n < 0 || n > int64(len(in))) {
			t.Fatalf("%d body bytes from %d bytes of input", n, len(in))
		}
	})
}
