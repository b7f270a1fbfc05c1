package main

import (
	"runtime"
	"runtime/debug"
	"testing"

	"github.com/cloudlink/cld/cmd/internal/cpuprofile"
)

// The daemon samples allocations only when a heap profile is asked for:
// without CLD_HEAPPROFILE the rate is 0, with it the runtime's default
// stays, so the profile written at the stop is not empty.
func TestTuneMemoryHeapSampling(t *testing.T) {
	rate := runtime.MemProfileRate
	gc := debug.SetGCPercent(100)
	t.Cleanup(func() {
		runtime.MemProfileRate = rate
		debug.SetGCPercent(gc)
	})
	const defaultRate = 512 * 1024

	t.Setenv(cpuprofile.HeapEnv, "")
	t.Setenv("GOGC", "") // set, so the GC target is left alone
	runtime.MemProfileRate = defaultRate
	tuneMemory()
	if runtime.MemProfileRate != 0 {
		t.Errorf("without %s: MemProfileRate %d, want 0", cpuprofile.HeapEnv, runtime.MemProfileRate)
	}

	t.Setenv(cpuprofile.HeapEnv, t.TempDir()+"/heap-%p.pprof")
	runtime.MemProfileRate = defaultRate
	tuneMemory()
	if runtime.MemProfileRate != defaultRate {
		t.Errorf("with %s: MemProfileRate %d, want the default %d", cpuprofile.HeapEnv, runtime.MemProfileRate, defaultRate)
	}
}
