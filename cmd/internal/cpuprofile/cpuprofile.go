// Package cpuprofile is the CLD_CPUPROFILE debug aid shared by `cld run`
// and `cld-cloud serve`: a pprof CPU profile of the whole process.
package cpuprofile

import (
	"fmt"
	"io"
	"os"
	"os/signal"
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

// Start starts a CPU profile when CLD_CPUPROFILE is set. The
// profile is complete when the returned function is called, or as soon as
// SIGINT or SIGTERM arrive (the process may be killed moments later); a
// process killed with -9 leaves none.
func Start(stderr io.Writer) (stop func()) {
	path := os.Getenv(Env)
	if path == "" {
		return func() {}
	}
	path = strings.ReplaceAll(path, "%p", strconv.Itoa(os.Getpid()))
	f, err := os.Create(path)
	if err == nil {
		if err = pprof.StartCPUProfile(f); err != nil {
			f.Close()
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "%s: no CPU profile: %v\n", Env, err)
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
			pprof.StopCPUProfile()
			f.Close()
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
