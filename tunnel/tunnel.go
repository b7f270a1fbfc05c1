// Package tunnel is the reverse-tunnel protocol between a daemon (the agent
// side) and the cloud's tunnel edge: one WebSocket over TLS carrying a yamux
// session, one yamux stream per public connection, and a short header at the
// start of each stream that names the tunnel. The wire format is written
// down in spec.md beside this file.
//
// The agent side never dials an address it is sent: a stream names a tunnel
// ID, the agent looks it up in its own table (AgentConfig.Resolve) and dials
// only that tunnel's configured local address, or refuses the stream.
//
// Reconnect policy (backoff, jitter) belongs to the caller: Serve runs one
// session and returns when it ends.
package tunnel

import (
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"regexp"
	"sync"
	"time"
)

// Subprotocol is the WebSocket subprotocol both sides must agree on; its
// suffix is the protocol version.
const Subprotocol = "cld-tunnel.v2"

// Version is the version of the stream header and reply written by this
// implementation (2: signed headers, subprotocol cld-tunnel.v2).
const Version = 2

// MaxHeaderLen bounds the JSON body of a stream header or reply.
const MaxHeaderLen = 1024

// tunnelID is what a tunnel ID may look like: a slug, never an address.
var tunnelID = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)

// ValidTunnelID reports whether id is a well-formed tunnel ID (lower-case
// letters, digits and dashes, at most 63 characters). Host names, IP
// addresses, ports and URLs are not.
func ValidTunnelID(id string) bool { return tunnelID.MatchString(id) }

// Header opens a stream: the edge asks the agent for a tunnel.
type Header struct {
	Tunnel string `json:"tunnel"`           // tunnel ID
	Client string `json:"client,omitempty"` // public client address, for the agent's log
	User   string `json:"user,omitempty"`   // the portal user the edge vouches for
	Sig    string `json:"sig,omitempty"`    // the edge's Ed25519 signature (sign.go), base64
}

// ReplyCode is the agent's answer to a stream header.
type ReplyCode uint8

// Reply codes.
const (
	ReplyOK            ReplyCode = 0 // the local connection is up; raw bytes follow
	ReplyUnknownTunnel ReplyCode = 1 // no tunnel with that ID on this host
	ReplyStopped       ReplyCode = 2 // the tunnel exists but is not started
	ReplyLocalDown     ReplyCode = 3 // dialing the tunnel's local address failed
	ReplyBadHeader     ReplyCode = 4 // the header could not be read or was invalid
	ReplyBadSignature  ReplyCode = 5 // the header's signature is missing or not the edge's
)

// Reply is the agent's answer, sent before any raw bytes.
type Reply struct {
	Code    ReplyCode
	Message string // a sentence for the edge's log and error page
}

// ErrRefused is wrapped by the edge's Open error when the agent refused.
var ErrRefused = errors.New("tunnel refused by the host")

// ErrNotConnected is returned by Edge.Open when the system has no session.
var ErrNotConnected = errors.New("the host is not connected to the tunnel edge")

// Target is where a started tunnel leads.
type Target struct {
	Address string      // host:port of the local management UI
	TLS     *tls.Config // nil: plain TCP; else TLS with this config (ServerName set)
	// Track, when set, is called once the stream is up with a function that
	// closes it (the stream and its local connection); the agent keeps it
	// and calls it when the tunnel stops, so that connections the edge
	// keeps alive cannot outlive a stop. Track may call closeStream at once
	// (the tunnel stopped meanwhile). The returned function is called when
	// the stream has ended.
	Track func(closeStream func()) (ended func())
	// Count, when set, is told the bytes a stream carried from the edge to
	// the local service and back, once the stream has ended.
	Count func(fromEdge, toEdge int64)
}

// AgentConfig configures the agent side of one session.
type AgentConfig struct {
	// URL of the edge's WebSocket endpoint (wss://…/tunnel/v1/connect).
	URL string
	// HTTPClient dials the edge: trusted roots, and the host's HTTP proxy
	// (Transport.Proxy; CONNECT with credentials).
	HTTPClient *http.Client
	// Token returns the device's current bearer token.
	Token func(ctx context.Context) (string, error)
	// Resolve looks a tunnel ID up in the daemon's own table. It returns the
	// target of a started tunnel, or a *RefusalError saying why not (another
	// error refuses with ReplyStopped and a generic message). It is called
	// for each stream, from many goroutines at once, with valid IDs only.
	Resolve func(tunnelID string) (Target, error)
	// OnRefused, when set, is called for each refused stream (for counters),
	// from many goroutines at once; tunnelID is "" for a bad header.
	OnRefused func(tunnelID string, code ReplyCode)
	// SystemID is this host's system ID: a stream header's signature must
	// name it (required).
	SystemID string
	// OnStream, when set, is told of every stream that was accepted, once
	// it has ended (for the access audit), from many goroutines at once.
	OnStream func(StreamRecord)
	// Logger; nil means slog.Default().
	Logger *slog.Logger

	// Session tunes the yamux session (keep-alives, windows); zero fields
	// mean the defaults.
	Session SessionConfig
	// HandshakeTimeout bounds connecting to the edge; zero means
	// DefaultHandshakeTimeout.
	HandshakeTimeout time.Duration
	// LocalDialTimeout bounds dialing a tunnel's local address; zero means
	// DefaultLocalDialTimeout.
	LocalDialTimeout time.Duration
}

// StreamRecord is one accepted stream, as the agent saw it: the tunnel, the
// public client and the portal user the edge vouched for in its signed
// header, when it started and ended, and the bytes each way.
type StreamRecord struct {
	Tunnel   string
	Client   string
	User     string
	Start    time.Time
	End      time.Time
	FromEdge int64 // bytes from the public client to the local service
	ToEdge   int64 // bytes from the local service to the public client
}

// RefusalError is returned by AgentConfig.Resolve to refuse a stream.
type RefusalError struct {
	Code    ReplyCode
	Message string
}

func (e *RefusalError) Error() string { return e.Message }

// Serve connects to the edge once and serves incoming streams until the
// session ends or ctx is done. onConnected, when not nil, is called once the
// session is established. It returns nil only when ctx ended; otherwise an
// error that says why the session could not be made or ended (an HTTP status
// from the edge or the proxy, a TLS failure, a dead path).
//
// The goroutines Serve started have ended when it returns (yamux's own
// timer goroutines end on their own moments later). The errors wrap
// ErrTokenRefused, ErrProxy, ErrTLS, ErrProtocol, ErrDeadPath, ErrReplaced,
// ErrEdgeClosed or ErrConnectionLost where they apply.
func Serve(ctx context.Context, cfg AgentConfig, onConnected func()) error {
	return serve(ctx, cfg, onConnected)
}

// EdgeConfig configures the edge side.
type EdgeConfig struct {
	// Authenticate checks a connecting daemon's request (its bearer token)
	// and returns the system ID it belongs to.
	Authenticate func(r *http.Request) (systemID string, err error)
	// Logger; nil means slog.Default().
	Logger *slog.Logger

	// OnSession, when set, is called when a system's session comes up
	// (true) and when the system has no session any more (false); a
	// takeover by the same system reports up again and never down. Calls
	// are made one at a time, in order; they must not block for long.
	OnSession func(systemID string, up bool)
	// Session tunes the yamux sessions; zero fields mean the defaults.
	Session SessionConfig
	// Signer signs the stream headers; its public key must be an
	// ed25519.PublicKey (an ed25519.PrivateKey is a Signer). Nil: NewEdge
	// makes a new key, announced to each agent when its session is set up.
	Signer crypto.Signer
	// OpenTimeout bounds Open's wait for the agent's reply; zero means
	// DefaultOpenTimeout.
	OpenTimeout time.Duration
}

// Edge accepts daemon sessions (ServeHTTP, the WebSocket endpoint) and opens
// streams to them. A system that connects again takes over its own earlier
// session, which is closed.
type Edge struct {
	cfg EdgeConfig

	once     sync.Once
	log      *slog.Logger
	signer   crypto.Signer
	pub      ed25519.PublicKey
	mu       sync.Mutex // guards sessions and closed
	sessions map[string]*edgeSession
	closed   bool
	notifyMu sync.Mutex     // orders OnSession calls
	wg       sync.WaitGroup // ServeHTTP calls in progress
}

// NewEdge returns an edge.
func NewEdge(cfg EdgeConfig) *Edge {
	e := &Edge{cfg: cfg}
	e.init()
	return e
}

// ServeHTTP upgrades an authenticated daemon's request to the tunnel
// session and holds it until it ends. A request that Authenticate refuses
// is answered 401 (or AuthError's status) with a JSON error body; one that
// does not offer the subprotocol, 426.
func (e *Edge) ServeHTTP(w http.ResponseWriter, r *http.Request) { e.serveHTTP(w, r) }

// Open opens a stream to the tunnel of the connected system and returns it
// once the agent accepted; client is the public client's address. A
// refusal wraps ErrRefused and a *RefusalError with the agent's code and
// message; a system without a session gives ErrNotConnected. The returned
// conn supports CloseWrite (half-close); Close ends both directions.
//
// ctx bounds the wait for the agent's answer (and DefaultOpenTimeout);
// opening the yamux stream itself waits only while more than
// SessionConfig.AcceptBacklog opens are unanswered.
func (e *Edge) Open(ctx context.Context, systemID, tunnelID, client string) (net.Conn, error) {
	return e.open(ctx, systemID, tunnelID, client, "")
}

// OpenAs is Open on behalf of a signed-in user: the signed header names
// user (at most 256 printable bytes), and the agent records it in its
// access audit.
func (e *Edge) OpenAs(ctx context.Context, systemID, tunnelID, client, user string) (net.Conn, error) {
	return e.open(ctx, systemID, tunnelID, client, user)
}

// PublicKey is the edge's stream-signing key, as announced to the agents.
func (e *Edge) PublicKey() ed25519.PublicKey {
	e.init()
	return e.pub
}

// Connected reports whether the system has a live session.
func (e *Edge) Connected(systemID string) bool { return e.connected(systemID) }

// Close ends every session (WebSocket close 1001), refuses new ones, and
// waits until every ServeHTTP call has returned.
func (e *Edge) Close() error { return e.close() }
