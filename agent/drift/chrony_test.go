package drift

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/cloudlink/cld/agent/drift/drifttest"
)

// startChrony runs Debian's chronyd as a real NTP server on loopback
// (`local stratum`, not touching the host's clock) and returns its
// address; the test is skipped when chronyd is not installed (make deps).
func startChrony(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("chronyd")
	if err != nil {
		for _, p := range []string{"/usr/sbin/chronyd", "/sbin/chronyd"} {
			if _, err := os.Stat(p); err == nil {
				bin = p
			}
		}
	}
	if bin == "" {
		t.Skip("chronyd is not installed (apt-get install chrony)")
	}
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := pc.LocalAddr().(*net.UDPAddr).Port
	pc.Close()
	dir := t.TempDir()
	conf := filepath.Join(dir, "chrony.conf")
	os.WriteFile(conf, []byte(fmt.Sprintf("port %d\nbindaddress 127.0.0.1\nlocal stratum 8\nallow 127.0.0.1\ncmdport 0\npidfile %s\n", port, filepath.Join(dir, "chronyd.pid"))), 0o600)
	args := []string{"-x", "-d", "-f", conf}
	if os.Geteuid() == 0 {
		args = append(args, "-u", "root")
	}
	cmd := exec.Command(bin, args...)
	log := &limitedBuffer{}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() { cmd.Process.Kill(); <-done })
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := (NTPProbe{Timeout: 200 * time.Millisecond}).Measure(context.Background(), addr); err == nil {
			return addr
		}
		select {
		case <-done:
			t.Fatalf("chronyd exited: %s", log)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("chronyd does not answer on %s: %s", addr, log)
		}
		time.Sleep(50 * time.Millisecond) // waiting for an external process
	}
}

type limitedBuffer struct {
	mu sync.Mutex
	b  []byte
}

func (l *limitedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.b) < 64<<10 {
		l.b = append(l.b, p...)
	}
	return len(p), nil
}

func (l *limitedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return string(l.b)
}

// TestChronyUnderDelay queries a real NTP server (chronyd, serving the
// host's own clock) directly and through 200 ms of injected latency, both
// ways and on the way back only: the estimate stays within 1 s of 0.
func TestChronyUnderDelay(t *testing.T) {
	addr := startChrony(t)
	ctx := context.Background()
	for _, tc := range []struct {
		name     string
		up, down time.Duration
	}{
		{"direct", 0, 0},
		{"200ms each way", 200 * time.Millisecond, 200 * time.Millisecond},
		{"200ms on the way back only", 0, 200 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			target := addr
			if tc.up+tc.down > 0 {
				target = drifttest.NewUDPDelayRelay(t, addr, tc.up, tc.down).Addr()
			}
			s, err := NTPProbe{Timeout: 3 * time.Second}.Measure(ctx, target)
			if err != nil {
				t.Fatal(err)
			}
			if s.RTT < tc.up+tc.down {
				t.Errorf("rtt %v under the injected delay", s.RTT)
			}
			within(t, "chronyd, "+tc.name, s.Drift, 0, time.Second)
		})
	}
}
