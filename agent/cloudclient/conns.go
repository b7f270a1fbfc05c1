package cloudclient

import (
	"context"
	"net"
	"net/http"
	"sync"
)

// connSet is the open connections one transport of NewHTTPClient dialed
// (and its clones: they share the dial function).
type connSet struct {
	mu  sync.Mutex
	set map[*trackedConn]struct{}
}

// dialers maps each transport NewHTTPClient made to its connSet.
var dialers sync.Map // *http.Transport → *connSet

func (s *connSet) wrap(dial func(ctx context.Context, network, addr string) (net.Conn, error)) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := dial(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		tc := &trackedConn{Conn: c, set: s}
		s.mu.Lock()
		if s.set == nil {
			s.set = map[*trackedConn]struct{}{}
		}
		s.set[tc] = struct{}{}
		s.mu.Unlock()
		return tc, nil
	}
}

func (s *connSet) closeAll() {
	s.mu.Lock()
	all := make([]*trackedConn, 0, len(s.set))
	for c := range s.set {
		all = append(all, c)
	}
	s.mu.Unlock()
	for _, c := range all {
		_ = c.Close()
	}
}

// trackedConn leaves its set when closed.
type trackedConn struct {
	net.Conn
	set  *connSet
	once sync.Once
}

func (c *trackedConn) Close() error {
	c.once.Do(func() {
		c.set.mu.Lock()
		delete(c.set.set, c)
		c.set.mu.Unlock()
	})
	return c.Conn.Close()
}

// CloseConnections closes every connection hc's transport (one that
// NewHTTPClient made) still holds, idle or not: for an owner that stops.
// CloseIdleConnections alone leaves those that a request just cancelled is
// still finishing with (an HTTP/2 stream being reset), which then idle on
// until the transport's IdleConnTimeout. The client may still be used
// afterwards; its new connections are then no longer tracked.
func CloseConnections(hc *http.Client) {
	hc.CloseIdleConnections()
	tr, ok := hc.Transport.(*http.Transport)
	if !ok {
		return
	}
	if s, ok := dialers.LoadAndDelete(tr); ok {
		s.(*connSet).closeAll()
	}
}
