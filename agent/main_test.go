package agent

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/goleak"
	"golang.org/x/crypto/bcrypt"

	"github.com/jonboulle/clockwork"

	"github.com/cloudlink/cld/agent/config"
	"github.com/cloudlink/cld/agent/drift"
	"github.com/cloudlink/cld/agent/reporter"
	"github.com/cloudlink/cld/agent/tunnels"
)

// TestMain fails the package when goroutines are left after its tests. A
// connection being closed (an HTTP/2 client's read loop, after
// CloseIdleConnections) ends a moment later, longer on a loaded machine
// than goleak's own retries wait; a goroutine still there after 10 s is a
// leak.
func TestMain(m *testing.M) {
	code := m.Run()
	if code == 0 {
		deadline := time.Now().Add(10 * time.Second)
		err := goleak.Find()
		for err != nil && time.Now().Before(deadline) {
			time.Sleep(100 * time.Millisecond)
			err = goleak.Find()
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "goleak: goroutines left after the tests: %v\n", err)
			code = 1
		}
	}
	os.Exit(code)
}

// testLogger discards logs unless CLD_TEST_LOG is set.
func testLogger(t testing.TB) *slog.Logger {
	if os.Getenv("CLD_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})).With("test", t.Name())
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// fastHash makes bcrypt cheap: the race detector makes the default cost slow.
func fastHash(o *options) { o.bcryptCost = bcrypt.MinCost }

// withServe replaces tunnel.Serve.
func withServe(s tunnels.ServeFunc) Option { return func(o *options) { o.tunnelServe = s } }

// withDriftClock schedules the drift measurements on c.
func withDriftClock(c clockwork.Clock) Option { return func(o *options) { o.driftClock = c } }

// withoutClockCheck keeps the drift monitor from measuring: for test rigs
// whose fake clock runs far from their fake cloud's on purpose.
func withoutClockCheck(o *options) { o.noClockCheck = true }

// withHostSync replaces the host's synchronization reader.
func withHostSync(f drift.SyncReader) Option { return func(o *options) { o.hostSync = f } }

// withInventoryTuning adjusts the inventory's timings.
func withInventoryTuning(f func(*reporter.Tuning)) Option {
	return func(o *options) { o.invTune = f }
}

// newAgent is New with test defaults (quiet logs, cheap hashes) plus opts.
func newAgent(t testing.TB, cfg config.Config, opts ...Option) (*Agent, error) {
	t.Helper()
	return New(cfg, append([]Option{WithLogger(testLogger(t)), fastHash}, opts...)...)
}

// testConfig is a configuration for an agent in dir with its own machine-id.
func testConfig(t testing.TB, dir string) config.Config {
	t.Helper()
	cfg := config.DefaultConfig()
	cfg.StateDir = filepath.Join(dir, "state")
	cfg.Socket = filepath.Join(dir, "cld.sock")
	cfg.Listen = ""
	cfg.MachineIDFile = filepath.Join(dir, "machine-id")
	if _, err := os.Stat(cfg.MachineIDFile); os.IsNotExist(err) {
		writeFile(t, cfg.MachineIDFile, "0123456789abcdef0123456789abcdef\n")
	}
	return cfg
}

func writeFile(t testing.TB, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// eventually polls cond (a state reached by a background goroutine) until
// it holds; the timeout only guards against a hang (generous: a loaded
// machine with the race detector is slow).
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// running is an Agent whose Run goroutine the test controls.
type running struct {
	*Agent
	cancel context.CancelFunc
	done   chan error
}

// start runs a in the background; the returned stop (also a cleanup) ends
// Run and releases the state directory.
func start(t testing.TB, a *Agent) *running {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{Agent: a, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- a.Run(ctx) }()
	t.Cleanup(r.stop)
	// Run has begun when it accepts session commands.
	eventually(t, "Run started", func() bool {
		return a.link.Running()
	})
	return r
}

func (r *running) stop() {
	if r.cancel == nil {
		return
	}
	r.cancel()
	<-r.done
	r.cancel = nil
	r.Close()
}
