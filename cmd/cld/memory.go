// The runtime's periodic GOMAXPROCS update (Go 1.25) is off for the
// daemon: to follow a change of the host's CPU affinity or its cgroup's CPU
// quota, the runtime's monitor thread wakes every few seconds and reads both
// (sched_getaffinity, cpu.cfs_quota_us), which on an idle daemon was the
// most frequent wake-up of all (strace, `make bench`'s idle daemon). The
// value at the start still follows the quota; a restart picks up a new one.

//go:debug updatemaxprocs=0

package main

import (
	"os"
	"runtime"
	"runtime/debug"

	"github.com/cloudlink/cld/cmd/internal/cpuprofile"
)

// daemonGCPercent is the garbage collector's target for `cld run` (GOGC).
//
// The daemon's live heap is small (about 1 MB linked, with a tunnel
// started), but at the default GOGC=100 the runtime lets the heap grow to
// its 4 MB minimum before collecting, and then keeps that much resident.
// Idle, the daemon allocates a few hundred bytes a second, so it gets there
// within hours; any burst gets it there at once: the first handshake with a
// cloud signed by a public CA parses the host's CA bundle (about 3 MB of
// garbage), and a tunnel under load allocates far more. At 50 the minimum
// is 2 MB. Measured with the bench harness (the daemon trusting the cloud
// through the system roots, as in production): idle 13.0 MB instead of
// 14.4 MB, 16.8 MB instead of 19.6 MB after load; under load the collector
// ran 1.5 times as often for the same total CPU (0.83 s per run, the
// collections of a small heap are cheap), and throughput did not change
// beyond the noise. The cost: the first collection comes a moment after
// the start instead of hours later, and its bookkeeping (about 0.5 MB) with
// it, so a daemon that has never collected (`make bench`'s idle reading,
// 2 s after the tunnel starts, with cloud_ca) reads that much more.
// GOGC (and GOMEMLIMIT) in the environment still win.
const daemonGCPercent = 50

// tuneMemory applies the daemon's memory settings.
func tuneMemory() {
	// With runtime/pprof linked in (CLD_CPUPROFILE) the runtime samples
	// allocations for a heap profile all the same; the daemon writes one
	// only when CLD_HEAPPROFILE asks for it, and samples only then.
	if os.Getenv(cpuprofile.HeapEnv) == "" {
		runtime.MemProfileRate = 0
	}
	if _, ok := os.LookupEnv("GOGC"); !ok {
		debug.SetGCPercent(daemonGCPercent)
	}
}
