// Package logbuf keeps the daemon's most recent log lines in memory, for
// `cld support-bundle` on hosts where no journal holds them.
package logbuf

import (
	"bytes"
	"sync"
)

// Buffer is an io.Writer that keeps the last lines written to it, up to a
// byte budget; older lines are dropped whole.
type Buffer struct {
	mu    sync.Mutex
	max   int
	lines [][]byte
	size  int
	part  []byte // a line not yet ended by '\n'
}

// New keeps up to max bytes of lines.
func New(max int) *Buffer { return &Buffer{max: max} }

// Write keeps p's lines; it never fails.
func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := len(p)
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			b.part = append(b.part, p...)
			if len(b.part) > b.max {
				b.part = b.part[len(b.part)-b.max:]
			}
			break
		}
		line := append(b.part, p[:i+1]...)
		b.part = nil
		p = p[i+1:]
		b.lines = append(b.lines, line)
		b.size += len(line)
		for b.size > b.max && len(b.lines) > 0 {
			b.size -= len(b.lines[0])
			b.lines = b.lines[1:]
		}
	}
	return n, nil
}

// Bytes are the kept lines, oldest first.
func (b *Buffer) Bytes() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]byte, 0, b.size+len(b.part))
	for _, l := range b.lines {
		out = append(out, l...)
	}
	return append(out, b.part...)
}
