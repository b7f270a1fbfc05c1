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
//
// go test caches a package's result by the test binary and the files the
// test opened, so a test that only runs a command it built would pass from
// the cache after a change to that command's sources. Build therefore opens
// every source file of the module's own packages the command is built
// from (and go.mod and go.sum): go test then reruns the test when one of
// them changes.
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
	return noteSources(pkg, o)
}

// sourcesTemplate lists, for `go list -deps`, the files of the main
// module's packages a build reads, one absolute path a line, and the
// module's go.mod (go.sum beside it).
const sourcesTemplate = `{{if and .Module .Module.Main}}{{$d := .Dir}}` +
	`{{range .GoFiles}}{{$d}}/{{.}}{{"\n"}}{{end}}` +
	`{{range .CgoFiles}}{{$d}}/{{.}}{{"\n"}}{{end}}` +
	`{{range .SFiles}}{{$d}}/{{.}}{{"\n"}}{{end}}` +
	`{{range .EmbedFiles}}{{$d}}/{{.}}{{"\n"}}{{end}}` +
	`{{.Module.GoMod}}{{"\n"}}{{end}}`

// openFile is how noteSources opens a file (a test replaces it).
var openFile = func(name string) error {
	f, err := os.Open(name)
	if err != nil {
		return err
	}
	return f.Close()
}

// noteSources opens the sources of pkg's build, so that go test counts
// them among the test's inputs (see the package doc).
func noteSources(pkg string, o Options) error {
	args := append([]string{"list", "-deps", "-f", sourcesTemplate}, o.Flags...)
	args = append(args, pkg)
	cmd := exec.Command("go", args...)
	cmd.Dir = o.Dir
	cmd.Env = append(os.Environ(), o.Env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	listed, err := cmd.Output()
	if err != nil {
		return fmt.Errorf("listing the sources of %s (go %s): %v\n%s", pkg, strings.Join(args, " "), err, stderr.Bytes())
	}
	seen := map[string]bool{}
	for _, name := range strings.Split(string(listed), "\n") {
		if name == "" || seen[name] {
			continue
		}
		seen[name] = true
		names := []string{name}
		if filepath.Base(name) == "go.mod" {
			names = append(names, filepath.Join(filepath.Dir(name), "go.sum"))
		}
		for _, n := range names {
			if err := openFile(n); err != nil && !(os.IsNotExist(err) && filepath.Base(n) == "go.sum") {
				return fmt.Errorf("building %s: its source %s: %v", pkg, n, err)
			}
		}
	}
	return nil
}
