package cloud

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/cloudlink/cld/lockout"
)

// Bounds of the work of issuing the public names' certificates.
const (
	// maxClientCerts is how many certificates for names not in the cache
	// one client (lockout.ClientKey of its address) may have issued
	// within certWindow; a cached name is always served.
	maxClientCerts = 20
	certWindow     = time.Minute
	// maxCertNameLen bounds a server name (a tunnel's is far shorter).
	maxCertNameLen = 253
)

// errCertRate refuses a client that asked for too many new names.
var errCertRate = errors.New("too many certificates for new names asked for from this address; try again in a minute")

// edgeCerts is the certificate cache of the public listener (at most
// maxEdgeCache names), the issuances in progress (one per name, whoever
// asks) and the clients' recent issuances. The mutex guards the maps only,
// never an issuance. The zero value is ready.
type edgeCerts struct {
	mu       sync.Mutex
	cache    map[string]*tls.Certificate
	inflight map[string]*certCall
	clients  map[string][]time.Time // issuances within certWindow, by client
}

type certCall struct {
	done chan struct{}
	c    *tls.Certificate
	err  error
}

// getCertificate returns the certificate of a tunnel's public host name
// (or of the edge domain itself, for a client without SNI): from the
// cache, else issued once for however many ask at the same time, and
// counted against the client that started it. Other names are refused.
func (e *edge) getCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	name := strings.TrimSuffix(strings.ToLower(hello.ServerName), ".")
	if len(name) > maxCertNameLen {
		return nil, fmt.Errorf("the server name is longer than %d characters", maxCertNameLen)
	}
	if name == "" {
		name = e.domain // no SNI (an IP address): the request gets the "not a tunnel address" page
	} else if _, _, _, kind := e.parseHost(name); kind != hostTunnel && name != e.domain {
		return nil, fmt.Errorf("%q is not a tunnel address of this edge (*.<region>.%s)", clip(name, 100), e.domain)
	}
	client := ""
	if hello.Conn != nil && hello.Conn.RemoteAddr() != nil {
		client = lockout.ClientKey(hello.Conn.RemoteAddr().String())
	}
	now := time.Now()
	ce := &e.certs
	known := false // name is a known tunnel's (looked up once needed)
	for {
		ce.mu.Lock()
		if c, ok := ce.cache[name]; ok && c.Leaf.NotAfter.Sub(now) > 24*time.Hour {
			ce.mu.Unlock()
			return c, nil
		}
		if call, ok := ce.inflight[name]; ok {
			ce.mu.Unlock()
			ctx := hello.Context()
			if ctx == nil {
				ctx = context.Background()
			}
			select {
			case <-call.done:
				return call.c, call.err
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		if known || ce.allowLocked(client, e.s.now()) {
			break // with mu held
		}
		ce.mu.Unlock()
		// The store is read without the lock held.
		if known = e.knownTunnelName(hello, name); !known {
			e.log.Debug("tunnel certificate refused: too many new names from one client", "client", client, "name", clip(name, 100))
			return nil, errCertRate
		}
	}
	call := &certCall{done: make(chan struct{})}
	if ce.inflight == nil {
		ce.inflight = map[string]*certCall{}
	}
	ce.inflight[name] = call
	ce.mu.Unlock()

	c, err := e.issue(name, now)
	if err != nil {
		e.log.Error("issue tunnel certificate failed", "name", name, "err", err)
		call.err = err
	} else {
		call.c = &c
	}
	ce.mu.Lock()
	delete(ce.inflight, name)
	if err == nil {
		if ce.cache == nil {
			ce.cache = map[string]*tls.Certificate{}
		}
		if len(ce.cache) >= maxEdgeCache {
			ce.pruneLocked(now)
		}
		ce.cache[name] = call.c
	}
	ce.mu.Unlock()
	close(call.done)
	return call.c, call.err
}

// knownTunnelName reports whether name is the public name of a tunnel
// of the store: those are issued beyond a client's allowance, which
// bounds made-up names only. (A route read, mostly from the cache.)
func (e *edge) knownTunnelName(hello *tls.ClientHelloInfo, name string) bool {
	_, id, region, kind := e.parseHost(name)
	if kind != hostTunnel {
		return false
	}
	ctx := hello.Context()
	if ctx == nil {
		ctx = context.Background()
	}
	rt, found, err := e.lookupRoute(ctx, id)
	return err == nil && found && !rt.system.Revoked() && rt.system.Account.Region == region
}

// allowLocked counts an issuance for client at now, or reports that it
// has had its maxClientCerts within certWindow (mu held). A client
// without an address is not limited.
func (ce *edgeCerts) allowLocked(client string, now time.Time) bool {
	if client == "" {
		return true
	}
	if ce.clients == nil {
		ce.clients = map[string][]time.Time{}
	}
	recent := func(ts []time.Time) []time.Time {
		keep := ts[:0]
		for _, t := range ts {
			if now.Sub(t) < certWindow && !t.After(now) {
				keep = append(keep, t)
			}
		}
		return keep
	}
	ts := recent(ce.clients[client])
	if len(ts) >= maxClientCerts {
		ce.clients[client] = ts
		return false
	}
	if _, ok := ce.clients[client]; !ok && len(ce.clients) >= maxThrottled {
		for k, v := range ce.clients {
			if len(recent(v)) == 0 {
				delete(ce.clients, k)
			}
		}
		if len(ce.clients) >= maxThrottled {
			clear(ce.clients)
		}
	}
	ce.clients[client] = append(ts, now)
	return true
}

// pruneLocked makes room in the full cache: the certificates that need
// issuing again go first, then all (mu held).
func (ce *edgeCerts) pruneLocked(now time.Time) {
	for k, c := range ce.cache {
		if c.Leaf.NotAfter.Sub(now) <= 24*time.Hour {
			delete(ce.cache, k)
		}
	}
	if len(ce.cache) >= maxEdgeCache {
		clear(ce.cache)
	}
}
