// Package drifttest holds honest fakes for tests of clock-drift
// measurement: a cloud time endpoint and an NTP v4 server whose clocks run
// offset from the host's, and a TCP relay that injects network latency.
package drifttest

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cloudlink/cld/cloud/cloudapi"
)

// timeServer is a cloud's time endpoint whose clock runs offset from the
// host's (an honest implementation of PathTime, Date included).
// TimeServer is a cloud's time endpoint (cloudapi.PathTime, with Date)
// whose clock runs offset from the host's.
type TimeServer struct {
	*httptest.Server
	offset     atomic.Int64 // time.Duration
	NoEndpoint atomic.Bool  // answer 404 (an older cloud)
}

// NewTimeServer starts one (TLS) for the test.
func NewTimeServer(t testing.TB, offset time.Duration) *TimeServer {
	t.Helper()
	ts := &TimeServer{}
	ts.offset.Store(int64(offset))
	ts.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		now := func() time.Time { return time.Now().Add(time.Duration(ts.offset.Load())) }
		t1 := now()
		w.Header().Set("Date", t1.UTC().Format(http.TimeFormat))
		if r.URL.Path != cloudapi.PathTime || ts.NoEndpoint.Load() {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(cloudapi.TimeResponse{ReceiveTime: t1, SendTime: now()})
	}))
	ts.Config.ErrorLog = log.New(io.Discard, "", 0)
	ts.StartTLS()
	t.Cleanup(ts.Close)
	return ts
}

// SetOffset sets how far its clock runs ahead.
func (ts *TimeServer) SetOffset(d time.Duration) { ts.offset.Store(int64(d)) }

// delayRelay forwards TCP connections to target, delaying every chunk by
// up (client→server) and down (server→client): injected network latency
// without throttling.
// DelayRelay forwards TCP connections with latency.
type DelayRelay struct {
	ln       net.Listener
	target   string
	up, down time.Duration
	wg       sync.WaitGroup
	mu       sync.Mutex
	conns    []net.Conn
}

// NewDelayRelay relays to target, delaying client→server by up and
// server→client by down.
func NewDelayRelay(t testing.TB, target string, up, down time.Duration) *DelayRelay {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &DelayRelay{ln: ln, target: target, up: up, down: down}
	r.wg.Go(r.accept)
	t.Cleanup(r.close)
	return r
}

// Addr is the relay's address.
func (r *DelayRelay) Addr() string { return r.ln.Addr().String() }

func (r *DelayRelay) accept() {
	for {
		c, err := r.ln.Accept()
		if err != nil {
			return
		}
		s, err := net.Dial("tcp", r.target)
		if err != nil {
			c.Close()
			continue
		}
		r.mu.Lock()
		r.conns = append(r.conns, c, s)
		r.mu.Unlock()
		r.wg.Go(func() { pipeDelayed(s, c, r.up) })
		r.wg.Go(func() { pipeDelayed(c, s, r.down) })
	}
}

func (r *DelayRelay) close() {
	r.ln.Close()
	r.mu.Lock()
	for _, c := range r.conns {
		c.Close()
	}
	r.mu.Unlock()
	r.wg.Wait()
}

type chunk struct {
	due  time.Time
	data []byte
}

// pipeDelayed copies src to dst, each chunk d after it was read.
func pipeDelayed(dst, src net.Conn, d time.Duration) {
	q := make(chan chunk, 1024)
	var wg sync.WaitGroup
	wg.Go(func() {
		for c := range q {
			time.Sleep(time.Until(c.due)) // simulated latency, not logic
			if _, err := dst.Write(c.data); err != nil {
				break
			}
		}
		dst.Close()
	})
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			q <- chunk{due: time.Now().Add(d), data: append([]byte(nil), buf[:n]...)}
		}
		if err != nil {
			break
		}
	}
	close(q)
	wg.Wait()
}

// ntpServer is an honest NTP v4 server on loopback whose clock runs offset
// from the host's; each answer is sent delay after the query arrived.
// NTPServer is an honest NTP v4 server on loopback.
type NTPServer struct {
	pc     net.PacketConn
	offset time.Duration
	delay  time.Duration
	wg     sync.WaitGroup
}

// NewNTPServer starts one whose clock runs offset from the host's; each
// answer is on the wire delay long.
func NewNTPServer(t testing.TB, offset, delay time.Duration) *NTPServer {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &NTPServer{pc: pc, offset: offset, delay: delay}
	s.wg.Go(s.serve)
	t.Cleanup(func() { pc.Close(); s.wg.Wait() })
	return s
}

// Addr is the server's UDP address.
func (s *NTPServer) Addr() string { return s.pc.LocalAddr().String() }

const ntpEpochOffset = 2208988800

func ntpTime(t time.Time) uint64 {
	sec := uint64(t.Unix() + ntpEpochOffset)
	frac := uint64(t.Nanosecond()) << 32 / 1e9
	return sec<<32 | frac
}

func (s *NTPServer) serve() {
	buf := make([]byte, 512)
	for {
		n, addr, err := s.pc.ReadFrom(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		recv := time.Now().Add(s.offset)
		if n < 48 {
			continue
		}
		req := append([]byte(nil), buf[:48]...)
		s.wg.Go(func() {
			resp := make([]byte, 48)
			resp[0] = 0<<6 | 4<<3 | 4                   // LI 0, version 4, mode server
			resp[1] = 1                                 // stratum 1
			resp[2] = req[2]                            // poll
			resp[3] = 0xEC                              // precision 2^-20
			binary.BigEndian.PutUint32(resp[8:], 1<<10) // root dispersion ~15 ms
			copy(resp[12:16], "LOCL")
			binary.BigEndian.PutUint64(resp[16:], ntpTime(recv.Add(-time.Second))) // reference
			copy(resp[24:32], req[40:48])                                          // origin = client's transmit
			binary.BigEndian.PutUint64(resp[32:], ntpTime(recv))
			binary.BigEndian.PutUint64(resp[40:], ntpTime(time.Now().Add(s.offset)))
			time.Sleep(s.delay) // the answer is on the wire this long: network latency
			_, _ = s.pc.WriteTo(resp, addr)
		})
	}
}

// relayClient reaches ts through a relay (same TLS trust, dialled at addr).
// RelayClient reaches ts through a relay at addr (same TLS trust).
func RelayClient(ts *httptest.Server, addr string) *http.Client {
	tr := ts.Client().Transport.(*http.Transport).Clone()
	tr.DialContext = func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}
	return &http.Client{Transport: tr}
}

// UDPDelayRelay forwards UDP datagrams to target with latency: each query
// up later, each answer down later (one upstream socket per client).
type UDPDelayRelay struct {
	pc       net.PacketConn
	target   string
	up, down time.Duration
	wg       sync.WaitGroup
	mu       sync.Mutex
	peers    map[string]net.Conn
}

// NewUDPDelayRelay starts one on loopback.
func NewUDPDelayRelay(t testing.TB, target string, up, down time.Duration) *UDPDelayRelay {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &UDPDelayRelay{pc: pc, target: target, up: up, down: down, peers: map[string]net.Conn{}}
	r.wg.Go(r.serve)
	t.Cleanup(func() {
		pc.Close()
		r.mu.Lock()
		for _, c := range r.peers {
			c.Close()
		}
		r.mu.Unlock()
		r.wg.Wait()
	})
	return r
}

// Addr is the relay's UDP address.
func (r *UDPDelayRelay) Addr() string { return r.pc.LocalAddr().String() }

func (r *UDPDelayRelay) serve() {
	buf := make([]byte, 2048)
	for {
		n, from, err := r.pc.ReadFrom(buf)
		if err != nil {
			return
		}
		msg := append([]byte(nil), buf[:n]...)
		r.mu.Lock()
		up, ok := r.peers[from.String()]
		if !ok {
			up, err = net.Dial("udp", r.target)
			if err != nil {
				r.mu.Unlock()
				continue
			}
			r.peers[from.String()] = up
			r.wg.Go(func() {
				b := make([]byte, 2048)
				for {
					n, err := up.Read(b)
					if err != nil {
						return
					}
					ans := append([]byte(nil), b[:n]...)
					r.wg.Go(func() {
						time.Sleep(r.down) // simulated latency
						_, _ = r.pc.WriteTo(ans, from)
					})
				}
			})
		}
		r.mu.Unlock()
		r.wg.Go(func() {
			time.Sleep(r.up) // simulated latency
			_, _ = up.Write(msg)
		})
	}
}
