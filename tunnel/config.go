package tunnel

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/hashicorp/yamux"
)

// SessionConfig tunes one yamux session (spec.md, "yamux settings"). Both
// sides use the same defaults; a zero field means its default.
type SessionConfig struct {
	// KeepAliveInterval is the pause between two keep-alive pings (yamux
	// KeepAliveInterval; the next pause starts when a ping is answered).
	KeepAliveInterval time.Duration
	// KeepAliveTimeout bounds the sending of a frame and the wait for a
	// ping's answer (yamux ConnectionWriteTimeout).
	KeepAliveTimeout time.Duration
	// StreamWindow is the most a stream may have in flight unread (yamux
	// MaxStreamWindowSize); at least 256 KiB.
	StreamWindow uint32
	// StreamCloseTimeout is how long a stream closed on this side waits
	// for the peer's close before it is reset.
	StreamCloseTimeout time.Duration
	// AcceptBacklog bounds streams opened but not yet accepted.
	AcceptBacklog int

	// noPing (tests only): the edge sends no keep-alive pings.
	noPing bool
}

// Defaults of SessionConfig (spec.md explains each).
const (
	DefaultKeepAliveInterval  = 10 * time.Second
	DefaultKeepAliveTimeout   = 7 * time.Second
	DefaultStreamWindow       = 1 << 20
	DefaultStreamCloseTimeout = 30 * time.Second
	DefaultAcceptBacklog      = 1024

	// closeGrace bounds the WebSocket close handshake when a session ends;
	// then the transport is closed.
	closeGrace = time.Second
)

// DefaultSessionConfig returns the defaults.
func DefaultSessionConfig() SessionConfig {
	return SessionConfig{
		KeepAliveInterval:  DefaultKeepAliveInterval,
		KeepAliveTimeout:   DefaultKeepAliveTimeout,
		StreamWindow:       DefaultStreamWindow,
		StreamCloseTimeout: DefaultStreamCloseTimeout,
		AcceptBacklog:      DefaultAcceptBacklog,
	}
}

// withDefaults fills zero fields.
func (c SessionConfig) withDefaults() SessionConfig {
	d := DefaultSessionConfig()
	if c.KeepAliveInterval == 0 {
		c.KeepAliveInterval = d.KeepAliveInterval
	}
	if c.KeepAliveTimeout == 0 {
		c.KeepAliveTimeout = d.KeepAliveTimeout
	}
	if c.StreamWindow == 0 {
		c.StreamWindow = d.StreamWindow
	}
	if c.StreamCloseTimeout == 0 {
		c.StreamCloseTimeout = d.StreamCloseTimeout
	}
	if c.AcceptBacklog == 0 {
		c.AcceptBacklog = d.AcceptBacklog
	}
	return c
}

// Validate checks the configuration (zero fields count as their defaults).
func (c SessionConfig) Validate() error {
	c = c.withDefaults()
	var errs []error
	if c.KeepAliveInterval < 0 {
		errs = append(errs, errors.New("the keep-alive interval must be positive"))
	}
	if c.KeepAliveTimeout < 0 {
		errs = append(errs, errors.New("the keep-alive timeout must be positive"))
	}
	if c.StreamWindow < 256<<10 {
		errs = append(errs, fmt.Errorf("the stream window must be at least 256 KiB, not %d bytes", c.StreamWindow))
	}
	if c.StreamCloseTimeout < 0 {
		errs = append(errs, errors.New("the stream close timeout must be positive"))
	}
	if c.AcceptBacklog < 0 {
		errs = append(errs, errors.New("the accept backlog must be positive"))
	}
	return errors.Join(errs...)
}

// DeadPathBound is the longest a silently dead path can go unnoticed by a
// side with this configuration, including closing the transport. At the
// edge: the next ping starts at most KeepAliveInterval after the last
// answer, its sending may take up to KeepAliveTimeout, its answer is
// awaited for another KeepAliveTimeout (see yamux's Session.Ping and
// keepalive), and the WebSocket close handshake is cut after one second.
// At the agent: SilenceBound, then the same second.
func (c SessionConfig) DeadPathBound() time.Duration {
	c = c.withDefaults()
	return c.KeepAliveInterval + 2*c.KeepAliveTimeout + closeGrace
}

// SilenceBound is how long the agent waits for anything from the edge
// before it takes the path for dead and ends the session: the edge's next
// ping is queued at most KeepAliveInterval after the last answer and may
// take KeepAliveTimeout to be sent; another KeepAliveTimeout is the
// margin. The agent notices a dead path within SilenceBound plus the time
// to close the transport (DeadPathBound), as the edge does with its pings.
func (c SessionConfig) SilenceBound() time.Duration {
	c = c.withDefaults()
	return c.KeepAliveInterval + 2*c.KeepAliveTimeout
}

// yamux returns the yamux configuration (the edge's; the agent turns the
// keep-alive off and watches for silence instead).
func (c SessionConfig) yamux(log *slog.Logger) *yamux.Config {
	c = c.withDefaults()
	y := yamux.DefaultConfig()
	y.AcceptBacklog = c.AcceptBacklog
	y.EnableKeepAlive = !c.noPing
	y.KeepAliveInterval = c.KeepAliveInterval
	y.ConnectionWriteTimeout = c.KeepAliveTimeout
	y.MaxStreamWindowSize = c.StreamWindow
	y.StreamCloseTimeout = c.StreamCloseTimeout
	// A stream is opened by the edge and accepted by the agent at once;
	// an unanswered open means a dead path, which keep-alives catch.
	y.StreamOpenTimeout = c.KeepAliveInterval + 2*c.KeepAliveTimeout
	y.LogOutput = nil
	y.Logger = yamuxLogger{log}
	return y
}

// yamuxLogger sends yamux's log lines to slog at debug level: the errors
// that matter end the session and are reported by Serve or the edge.
type yamuxLogger struct{ log *slog.Logger }

func (l yamuxLogger) Print(v ...any) { l.out(fmt.Sprint(v...)) }
func (l yamuxLogger) Printf(format string, v ...any) {
	l.out(fmt.Sprintf(format, v...))
}
func (l yamuxLogger) Println(v ...any) { l.out(fmt.Sprint(v...)) }

func (l yamuxLogger) out(s string) {
	l.log.Debug(strings.TrimSpace(s), "component", "yamux")
}
