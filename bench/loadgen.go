package main

// The load generator: the same for every path, so that its own cost is the
// same in every figure. It is a lean HTTP/1.1 keep-alive client (one
// connection per client, requests written whole, answers read by their
// Content-Length) rather than net/http's, whose CPU per request on two
// cores would take a large share of the machine from the path measured.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
)

// route is one way from the load generator to the origin: direct, or
// through a tunnel of this project or of a peer.
type route struct {
	name   string
	dial   func() (net.Conn, error) // a new connection, TLS done if the route has it
	host   string                   // the Host header
	header string                   // more request header lines, each ending "\r\n" (the portal cookie)
	tls    bool                     // the public side speaks TLS (for the WebSocket URL)
	// agent and server are the processes whose CPU a request costs on
	// this route (0: none, as for direct).
	agent, server func() int
}

// tcpDial dials addr, optionally with TLS to serverName.
func tcpDial(addr string, conf *tls.Config) func() (net.Conn, error) {
	return func() (net.Conn, error) {
		c, err := net.DialTimeout("tcp", addr, 10*time.Second)
		if err != nil || conf == nil {
			return c, err
		}
		tc := tls.Client(c, conf)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := tc.HandshakeContext(ctx); err != nil {
			c.Close()
			return nil, err
		}
		return tc, nil
	}
}

type loadResult struct {
	rps, p50, p99 float64 // requests per second, latency in ms
	requests      int
}

// client is one keep-alive connection of the load generator.
type client struct {
	r   route
	c   net.Conn
	br  *bufio.Reader
	req []byte
}

func newClient(r route, target string) (*client, error) {
	c, err := r.dial()
	if err != nil {
		return nil, err
	}
	req := "GET " + target + " HTTP/1.1\r\nHost: " + r.host + "\r\n" + r.header + "\r\n"
	return &client{r: r, c: c, br: bufio.NewReaderSize(c, 64<<10), req: []byte(req)}, nil
}

// do sends the request and reads the whole answer; it returns the body's
// size. A connection the answer closes is dialled again for the next.
func (k *client) do() (int64, error) {
	if k.c == nil {
		c, err := k.r.dial()
		if err != nil {
			return 0, err
		}
		k.c = c
		k.br.Reset(c)
	}
	if _, err := k.c.Write(k.req); err != nil {
		k.close()
		return 0, err
	}
	n, closeAfter, err := readAnswer(k.br)
	if err != nil || closeAfter {
		k.close()
	}
	return n, err
}

func (k *client) close() {
	if k.c != nil {
		k.c.Close()
		k.c = nil
	}
}

// readAnswer reads one HTTP/1.1 answer with a Content-Length; it must be
// 200 OK.
func readAnswer(br *bufio.Reader) (n int64, closeAfter bool, err error) {
	line, err := br.ReadSlice('\n')
	if err != nil {
		return 0, true, err
	}
	if !bytes.HasPrefix(line, []byte("HTTP/1.1 200 ")) {
		return 0, true, fmt.Errorf("answer %q", bytes.TrimSpace(line))
	}
	n = -1
	for {
		line, err = br.ReadSlice('\n')
		if err != nil {
			return 0, true, err
		}
		if len(line) <= 2 {
			break
		}
		k, v, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			continue
		}
		v = bytes.TrimSpace(v)
		switch {
		case bytes.EqualFold(k, []byte("Content-Length")):
			if n, err = strconv.ParseInt(string(v), 10, 64); err != nil {
				return 0, true, fmt.Errorf("Content-Length %q", v)
			}
		case bytes.EqualFold(k, []byte("Connection")) && bytes.EqualFold(v, []byte("close")):
			closeAfter = true
		}
	}
	if n < 0 {
		return 0, true, errors.New("answer without Content-Length")
	}
	if _, err := io.CopyN(io.Discard, br, n); err != nil {
		return 0, true, err
	}
	return n, closeAfter, nil
}

// load runs clients connections, each making requests for target one
// after the other for d, after one request each to open them all (not
// counted). Any failed request fails the round.
func (r route) load(clients int, d time.Duration, target string) (loadResult, error) {
	return loadAll([]route{r}, clients, d, target)
}

// loadAll is load with the clients spread over routes, round robin.
func loadAll(rs []route, clients int, d time.Duration, target string) (loadResult, error) {
	r := rs[0]
	ks := make([]*client, clients)
	errs := make([]error, clients)
	var wg sync.WaitGroup
	for i := range ks {
		wg.Go(func() {
			k, err := newClient(rs[i%len(rs)], target)
			if err == nil {
				_, err = k.do()
			}
			ks[i], errs[i] = k, err
		})
	}
	wg.Wait()
	defer func() {
		for _, k := range ks {
			if k != nil {
				k.close()
			}
		}
	}()
	if err := errors.Join(errs...); err != nil {
		return loadResult{}, fmt.Errorf("%s: opening %d connections: %w", r.name, clients, err)
	}
	var (
		failures atomic.Int64
		firstErr atomic.Value
		mu       sync.Mutex
		lat      []float32
	)
	start := time.Now()
	deadline := start.Add(d)
	for _, k := range ks {
		wg.Go(func() {
			mine := make([]float32, 0, 4096)
			for {
				t0 := time.Now()
				if t0.After(deadline) {
					break
				}
				if _, err := k.do(); err != nil {
					failures.Add(1)
					firstErr.CompareAndSwap(nil, err)
					continue
				}
				mine = append(mine, float32(time.Since(t0).Microseconds()))
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		})
	}
	wg.Wait()
	elapsed := time.Since(start).Seconds()
	if n := failures.Load(); n > 0 {
		return loadResult{}, fmt.Errorf("%s: %d of %d requests failed, the first: %v", r.name, n, int64(len(lat))+n, firstErr.Load())
	}
	if len(lat) == 0 {
		return loadResult{}, fmt.Errorf("%s: no request completed", r.name)
	}
	slices.Sort(lat)
	q := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))]) / 1000 }
	return loadResult{rps: float64(len(lat)) / elapsed, p50: q(0.50), p99: q(0.99), requests: len(lat)}, nil
}

// download fetches size bytes parallel times at once, each on a connection
// of its own, and returns the bytes per second of all together.
func (r route) download(size int64, parallel int) (float64, error) {
	target := "/download?size=" + strconv.FormatInt(size, 10)
	ks := make([]*client, parallel)
	for i := range ks {
		k, err := newClient(r, target)
		if err != nil {
			for _, k := range ks[:i] {
				k.close()
			}
			return 0, fmt.Errorf("%s: %w", r.name, err)
		}
		ks[i] = k
	}
	errs := make([]error, parallel)
	var total atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for i, k := range ks {
		wg.Go(func() {
			defer k.close()
			n, err := k.do()
			if err == nil && n != size {
				err = fmt.Errorf("%d bytes, want %d", n, size)
			}
			total.Add(n)
			errs[i] = err
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return 0, fmt.Errorf("%s: download: %w", r.name, err)
	}
	return float64(total.Load()) / time.Since(start).Seconds(), nil
}

// wsEcho opens a WebSocket to the origin's echo and returns the median
// round trip of n small messages, in ms.
func (r route) wsEcho(n int) (float64, error) {
	ws, err := r.websocket(context.Background())
	if err != nil {
		return 0, err
	}
	defer ws.CloseNow()
	msg := bytes.Repeat([]byte("e"), 64)
	rtts := make([]float64, 0, n)
	for range n {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		t0 := time.Now()
		err := ws.Write(ctx, websocket.MessageBinary, msg)
		if err == nil {
			var got []byte
			_, got, err = ws.Read(ctx)
			if err == nil && !bytes.Equal(got, msg) {
				err = errors.New("the echo differs")
			}
		}
		cancel()
		if err != nil {
			return 0, fmt.Errorf("%s: WebSocket echo: %w", r.name, err)
		}
		rtts = append(rtts, float64(time.Since(t0).Microseconds())/1000)
	}
	return median(rtts), nil
}

// websocket opens a WebSocket to the origin's /ws through the route.
func (r route) websocket(ctx context.Context) (*websocket.Conn, error) {
	dial := func(context.Context, string, string) (net.Conn, error) { return r.dial() }
	hc := &http.Client{Transport: &http.Transport{DialContext: dial, DialTLSContext: dial}}
	scheme := "ws://"
	if r.tls {
		scheme = "wss://"
	}
	h := http.Header{}
	if r.header != "" {
		k, v, _ := bytes.Cut(bytes.TrimSpace([]byte(r.header)), []byte(": "))
		h.Set(string(k), string(v))
	}
	ws, _, err := websocket.Dial(ctx, scheme+r.host+"/ws", &websocket.DialOptions{HTTPClient: hc, HTTPHeader: h})
	if err != nil {
		return nil, fmt.Errorf("%s: WebSocket: %w", r.name, err)
	}
	return ws, nil
}
