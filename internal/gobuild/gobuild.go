// Package gobuild builds the project's commands for the tests that run them
// as real processes (end-to-end, packaging, chaos, process tests).
//
// A build goes through `go run -exec cp PKG OUT`: the go command links the
// binary and, instead of running it, copies it to OUT. Unlike `go build`,
// `go run` keeps the linked executable in the build cache (Go 1.24 on), so a
// second test run with the same sources and flags copies it from there
// instead of linking again: on a two-core machine the links were about a
// tenth of `make test`'s CPU. The copy is the test's own (a self-update may
// replace it).
package gobuild

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Options are a build's settings beyond the package and the output.
type Options struct {
	Dir   string   // the directory go runs in ("": the current one)
	Flags []string // build flags: -race, -tags, -ldflags, -trimpath
	Env   []string // more environment (CGO_ENABLED=0, GOARCH=...) after the process's own
}

// Build builds the main package pkg (as go names it, relative to Dir) into
// the file out, creating out's directory.
func Build(out, pkg string, o Options) error {
	out, err := filepath.Abs(out)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return err
	}
	cp, err := exec.LookPath("cp")
	if err != nil {
		return fmt.Errorf("gobuild: cp is needed to take the binary out of go run: %w", err)
	}
	args := append([]string{"run", "-exec", cp}, o.Flags...)
	args = append(args, pkg, out)
	cmd := exec.Command("go", args...)
	cmd.Dir = o.Dir
	cmd.Env = append(os.Environ(), o.Env...)
	var output bytes.Buffer
	cmd.Stdout, cmd.Stderr = &output, &output
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("building %s (go %s): %v\n%s", pkg, strings.Join(args, " "), err, output.Bytes())
	}
	if _, err := os.Stat(out); err != nil {
		return fmt.Errorf("building %s: go run made no %s: %v", pkg, out, err)
	}
	return nil
}
