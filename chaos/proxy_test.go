package chaos

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// The fault proxy stands between the daemons and the cloud: it terminates
// TLS with a certificate of the harness's own CA (which the daemons trust
// with --cloud-ca) and forwards to the cloud, WebSocket upgrades included.
// Its modes are the faults of the path: stall (nothing forwarded either
// way, nothing closed), 500, slow, garbage. While the cloud is down it
// resets the client's connection, as the cloud's closed port would. It
// counts requests per second by path, for the reconnect storm.
type faultProxy struct {
	ln    net.Listener
	srv   *http.Server
	url   string
	caPEM string // the harness CA's file

	mode atomic.Value // string: "", "stall", "500", "slow", "garbage"

	stallMu sync.Mutex
	stallC  chan struct{} // closed when the stall ends; nil while not stalled

	connsMu sync.Mutex
	conns   map[*stallConn]bool

	idleMu sync.Mutex
	idle   map[net.Conn]bool // keep-alive connections between requests

	countMu sync.Mutex
	counts  map[string]map[int64]int // path class → unix second → requests
}

const (
	modeStall   = "stall"
	mode500     = "500"
	modeSlow    = "slow"
	modeGarbage = "garbage"
)

// newCA makes the harness's CA and a server certificate for 127.0.0.1 and
// localhost; it writes the CA to dir/harness-ca.pem.
func newCA(dir string) (tls.Certificate, string, error) {
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "chaos harness CA"},
		NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(10 * 24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return tls.Certificate{}, "", err
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	// Valid long before and after now: the clock faults move the cloud's
	// clock, and the daemon's clock hook its own, by hours.
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-24 * time.Hour), NotAfter: time.Now().Add(5 * 24 * time.Hour),
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, KeyUsage: x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return tls.Certificate{}, "", err
	}
	file := dir + "/harness-ca.pem"
	if err := os.WriteFile(file, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), 0o644); err != nil {
		return tls.Certificate{}, "", err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, file, nil
}

func startFaultProxy(dir, cloudURL, cloudCA string) (*faultProxy, error) {
	cert, caFile, err := newCA(dir)
	if err != nil {
		return nil, err
	}
	pemBytes, err := os.ReadFile(cloudCA)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pemBytes)
	target, _ := url.Parse(cloudURL)
	p := &faultProxy{caPEM: caFile, counts: map[string]map[int64]int{}, conns: map[*stallConn]bool{}, idle: map[net.Conn]bool{}}
	p.mode.Store("")
	rp := httputil.NewSingleHostReverseProxy(target)
	rp.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, DialContext: (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		MaxIdleConnsPerHost: 64, IdleConnTimeout: 30 * time.Second}
	rp.ErrorLog = log.New(io.Discard, "", 0)
	rp.ErrorHandler = func(w http.ResponseWriter, r *http.Request, err error) {
		// The cloud is down: reset the client's connection, as its closed
		// port would (no 502 that a daemon might read as the cloud's answer).
		if hj, ok := w.(http.Hijacker); ok {
			if c, _, herr := hj.Hijack(); herr == nil {
				if tc, ok := c.(*tls.Conn); ok {
					if raw, ok := tc.NetConn().(*stallConn); ok {
						if t, ok := raw.Conn.(*net.TCPConn); ok {
							t.SetLinger(0)
						}
					}
				}
				c.Close()
				return
			}
		}
		w.WriteHeader(http.StatusBadGateway)
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.count(r.URL.Path)
		switch p.mode.Load().(string) {
		case mode500:
			http.Error(w, `{"error":"server_error","error_description":"chaos: injected 500"}`, http.StatusInternalServerError)
			return
		case modeSlow:
			// Slower than any of the daemon's timeouts; then the real answer.
			select {
			case <-time.After(20 * time.Second):
			case <-r.Context().Done():
				return
			}
		case modeGarbage:
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusOK)
			b := make([]byte, 512)
			rand.Read(b)
			w.Write(append([]byte(`{"access_token": [`), b...))
			return
		}
		rp.ServeHTTP(w, r)
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p.ln = &stallListener{Listener: ln, p: p}
	p.url = "https://" + ln.Addr().String()
	p.srv = &http.Server{Handler: h, ErrorLog: log.New(io.Discard, "", 0),
		TLSConfig:    &tls.Config{Certificates: []tls.Certificate{cert}},
		TLSNextProto: map[string]func(*http.Server, *tls.Conn, http.Handler){}} // HTTP/1.1 only, as the daemon speaks
	p.srv.ConnState = func(c net.Conn, s http.ConnState) {
		p.idleMu.Lock()
		defer p.idleMu.Unlock()
		if s == http.StateIdle {
			p.idle[c] = true
		} else {
			delete(p.idle, c)
		}
	}
	go p.srv.ServeTLS(p.ln, "", "")
	return p, nil
}

func (p *faultProxy) close() { p.setMode(""); p.srv.Close() }

// setMode switches the fault; "" forwards normally.
func (p *faultProxy) setMode(m string) {
	p.mode.Store(m)
	p.stallMu.Lock()
	defer p.stallMu.Unlock()
	switch {
	case m == modeStall && p.stallC == nil:
		p.stallC = make(chan struct{})
	case m != modeStall && p.stallC != nil:
		close(p.stallC)
		p.stallC = nil
	}
}

// dropAll closes every client connection (the daemons' sessions and
// idle connections break, so that they meet the fault when they come back).
func (p *faultProxy) dropAll() {
	p.connsMu.Lock()
	var cs []*stallConn
	for c := range p.conns {
		cs = append(cs, c)
	}
	p.connsMu.Unlock()
	for _, c := range cs {
		c.Close()
	}
}

// closeIdle closes the keep-alive connections that wait between requests,
// as a server's idle timeout would: the counts of goroutines and fds are
// then compared without the daemon's pool of idle connections in them.
func (p *faultProxy) closeIdle() {
	p.idleMu.Lock()
	var cs []net.Conn
	for c := range p.idle {
		cs = append(cs, c)
	}
	p.idleMu.Unlock()
	for _, c := range cs {
		c.Close()
	}
}

// stalled returns the channel that closes when a stall ends, or nil.
func (p *faultProxy) stalled() chan struct{} {
	p.stallMu.Lock()
	defer p.stallMu.Unlock()
	return p.stallC
}

func class(path string) string {
	if strings.HasPrefix(path, "/tunnel/") {
		return "tunnel"
	}
	return "api"
}

func (p *faultProxy) count(path string) {
	p.countMu.Lock()
	defer p.countMu.Unlock()
	c := class(path)
	if p.counts[c] == nil {
		p.counts[c] = map[int64]int{}
	}
	p.counts[c][time.Now().Unix()]++
}

// peak is the largest number of requests of the class in one second
// within [from, to], and the total.
func (p *faultProxy) peak(cls string, from, to time.Time) (peak, total int) {
	p.countMu.Lock()
	defer p.countMu.Unlock()
	for s, n := range p.counts[cls] {
		if s >= from.Unix() && s <= to.Unix() {
			total += n
			peak = max(peak, n)
		}
	}
	return peak, total
}

// stallListener hands out connections that stop moving bytes while the
// proxy stalls: reads and writes wait, nothing is closed or reset, as
// when a path drops every packet (TCP would retransmit until it resumes).
type stallListener struct {
	net.Listener
	p *faultProxy
}

func (l *stallListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	sc := &stallConn{Conn: c, p: l.p, closed: make(chan struct{})}
	l.p.connsMu.Lock()
	l.p.conns[sc] = true
	l.p.connsMu.Unlock()
	return sc, nil
}

type stallConn struct {
	net.Conn
	p        *faultProxy
	closed   chan struct{}
	closeOne sync.Once
}

var errClosed = errors.New("closed while stalled")

func (c *stallConn) wait() error {
	for {
		s := c.p.stalled()
		if s == nil {
			return nil
		}
		select {
		case <-s:
		case <-c.closed:
			return errClosed
		}
	}
}

func (c *stallConn) Read(b []byte) (int, error) {
	if err := c.wait(); err != nil {
		return 0, err
	}
	n, err := c.Conn.Read(b)
	if n > 0 && c.p.stalled() != nil {
		// Read before the stall began, to be delivered after it.
		if werr := c.wait(); werr != nil {
			return 0, werr
		}
	}
	return n, err
}

func (c *stallConn) Write(b []byte) (int, error) {
	if err := c.wait(); err != nil {
		return 0, err
	}
	return c.Conn.Write(b)
}

func (c *stallConn) Close() error {
	c.closeOne.Do(func() {
		close(c.closed)
		c.p.connsMu.Lock()
		delete(c.p.conns, c)
		c.p.connsMu.Unlock()
	})
	return c.Conn.Close()
}
