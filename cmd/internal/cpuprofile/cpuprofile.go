// Package cpuprofile is the CLD_CPUPROFILE and CLD_HEAPPROFILE debug aid
// shared by `cld run` and `cld-cloud serve`: a pprof CPU profile of the
// whole process, and its heap when it stops.
package cpuprofile

import (
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

// Env names the file `cld run` or `cld-cloud serve` writes a pprof CPU profile to
// (README, "Performance"); "%p" in it stands for the process ID. A debug
// aid, off unless set.
const Env = "CLD_CPUPROFILE"

// HeapEnv names the file a pprof heap profile is written to when the
// process stops ("%p" as in Env): what is in use then, and all allocated
// since the start. Off unless set.
const HeapEnv = "CLD_HEAPPROFILE"

// Start starts a CPU profile when CLD_CPUPROFILE is set. The
// profiles are complete when the returned function is called, or as soon as
// SIGINT or SIGTERM arrive (the process may be killed moments later); a
// process killed with -9 leaves none.
func Start(stderr io.Writer) (stop func()) {
	pid := strconv.Itoa(os.Getpid())
	cpuPath := strings.ReplaceAll(os.Getenv(Env), "%p", pid)
	heapPath := strings.ReplaceAll(os.Getenv(HeapEnv), "%p", pid)
	if cpuPath == "" && heapPath == "" {
		return func() {}
	}
	var f *os.File
	if cpuPath != "" {
		var err error
		f, err = os.Create(cpuPath)
		if err == nil {
			if err = pprof.StartCPUProfile(f); err != nil {
				f.Close()
			}
		}
		if err != nil {
			fmt.Fprintf(stderr, "%s: no CPU profile: %v\n", Env, err)
			f = nil
		}
	}
	if f == nil && heapPath == "" {
		return func() {}
	}
	var once sync.Once
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	done := make(chan struct{})
	stop = func() {
		once.Do(func() {
			signal.Stop(sig)
			close(done)
			if f != nil {
				pprof.StopCPUProfile()
				f.Close()
			}
			if heapPath != "" {
				if err := writeHeap(heapPath); err != nil {
					fmt.Fprintf(stderr, "%s: no heap profile: %v\n", HeapEnv, err)
				}
			}
		})
	}
	go func() {
		select {
		case <-sig:
			stop()
		case <-done:
		}
	}()
	return stop
}

func writeHeap(path string) error {
	h, err := os.Create(path)
	if err != nil {
		return err
	}
	runtime.GC() // the in-use figures as of now
	err = pprof.WriteHeapProfile(h)
	if cerr := h.Close(); err == nil {
		err = cerr
	}
	return err
}
