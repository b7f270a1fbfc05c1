//go:build cldtest

package atomicfile

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// killAt is CLD_TEST_KILL_WRITE=NAME:STEP of a cldtest build: the process
// kills itself with SIGKILL when a Write of a file named NAME (the base
// name) reaches STEP (StepPartial, StepSynced or StepRenamed), as a power
// cut or an OOM kill would stop it there. The chaos harness uses it.
var killAt = os.Getenv("CLD_TEST_KILL_WRITE")

func step(s, path string) {
	if killAt == "" {
		return
	}
	name, at, _ := strings.Cut(killAt, ":")
	if at == s && filepath.Base(path) == name {
		_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
		select {}
	}
}
