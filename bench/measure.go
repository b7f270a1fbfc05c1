package main

// What the bench reads of a process (from /proc) and its small helpers.

import (
	"context"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/cloudlink/cld/inventory"
	"github.com/cloudlink/cld/platforms/generic"
)

// clockTicks is USER_HZ, the unit of /proc/PID/stat's times (100 on Linux).
const clockTicks = 100

// cpuSeconds reads a process's CPU time (user + system) in seconds.
func cpuSeconds(pid int) float64 {
	if pid == 0 {
		return 0
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// The fields after the command name (which may hold spaces) start after
	// its closing parenthesis; utime and stime are fields 14 and 15.
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return (u + st) / clockTicks
}

// memory is a process's resident memory in MB: all, anonymous (heap,
// stacks) and file-backed (the mapped binary).
type memory struct{ rss, anon, file float64 }

func readMemory(pid int) memory {
	var m memory
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return m
	}
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) < 2 {
			continue
		}
		kb, _ := strconv.ParseFloat(f[1], 64)
		switch f[0] {
		case "VmRSS:":
			m.rss = kb / 1024
		case "RssAnon:":
			m.anon = kb / 1024
		case "RssFile:":
			m.file = kb / 1024
		}
	}
	return m
}

// switches is a process's context switches (voluntary and not, all its
// threads): each is a wake-up of a thread.
func switches(pid int) float64 {
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/status", pid))
	var n float64
	for _, t := range tasks {
		b, err := os.ReadFile(t)
		if err != nil {
			continue
		}
		for _, l := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.HasSuffix(k, "ctxt_switches") {
				x, _ := strconv.ParseFloat(strings.TrimSpace(v), 64)
				n += x
			}
		}
	}
	return n
}

// peakRSS samples processes' RSS until stopped.
type peakRSS struct {
	stopc chan struct{}
	done  chan []float64
}

func newPeakRSS(pids ...func() int) *peakRSS {
	p := &peakRSS{stopc: make(chan struct{}), done: make(chan []float64)}
	go func() {
		peak := make([]float64, len(pids))
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			for i, pid := range pids {
				peak[i] = max(peak[i], readMemory(pid()).rss)
			}
			select {
			case <-p.stopc:
				p.done <- peak
				return
			case <-t.C:
			}
		}
	}()
	return p
}

func (p *peakRSS) stop() []float64 {
	close(p.stopc)
	return <-p.done
}

// measureInventory times a full inventory collection of this host (the
// real /proc, /sys and /etc, every collector) and returns the median of
// runs, in milliseconds.
func measureInventory(runs int) (float64, error) {
	stateDir, err := os.MkdirTemp("", "cld-bench-inventory-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(stateDir)
	platformFile := filepath.Join(stateDir, "cld.yaml")
	if err := os.WriteFile(platformFile, []byte("platform:\n  type: generic\n  name: Bench host\n  version: \"1.0\"\n"+
		"  applications: [{type: mivoice-business, version: \"10.1\"}]\n  license: {type: PERPETUAL, swa_status: ACTIVE, swa_expiry: 2030-01-01}\n"), 0o600); err != nil {
		return 0, err
	}
	cfg := inventory.DefaultConfig()
	cfg.SystemID, cfg.Trigger, cfg.StateDir = "bench", inventory.TriggerManual, stateDir
	cfg.Daemon = inventory.Daemon{Version: "bench"}
	cfg.Providers = inventory.Providers{
		Platform: inventory.PlatformFile(platformFile, "/", generic.Adapter{}),
		Tunnels:  func(context.Context) ([]inventory.Tunnel, error) { return nil, nil },
		Clock:    func(context.Context) (*inventory.Clock, error) { return &inventory.Clock{}, nil },
		Warnings: func(context.Context) ([]inventory.Warning, error) { return nil, nil },
	}
	var ms []float64
	for range runs {
		start := time.Now()
		r, err := inventory.Collect(context.Background(), cfg)
		if err != nil {
			return 0, fmt.Errorf("inventory: %w", err)
		}
		ms = append(ms, float64(time.Since(start).Microseconds())/1000)
		for _, c := range r.Collection {
			if c.Status == inventory.CollectorFailed {
				return 0, fmt.Errorf("inventory: collector %s failed: %s", c.Name, c.Detail)
			}
		}
	}
	return median(ms), nil
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// freeAddr returns a loopback address with a free port.
func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

func dial(addr string) error {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err == nil {
		c.Close()
	}
	return err
}

func waitFor(d time.Duration, what string, f func() error) error {
	deadline := time.Now().Add(d)
	for {
		err := f()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("timed out waiting for %s: %w", what, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitForFast polls every 5 ms, for timing measurements.
func waitForFast(d time.Duration, f func() error) error {
	deadline := time.Now().Add(d)
	for {
		err := f()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return err
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func loadPool(file string) (*x509.CertPool, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	p := x509.NewCertPool()
	if !p.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("%s holds no PEM certificate", file)
	}
	return p, nil
}
