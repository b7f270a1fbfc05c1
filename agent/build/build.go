// Package build holds the facts of the running binary: version, build number,
// commit, branch and release stage. The Makefile sets them with -ldflags
// "-X github.com/cloudlink/cld/agent/build.Version=…"; a plain `go build`
// falls back to what the Go toolchain recorded.
package build

import (
	"runtime/debug"

	"github.com/cloudlink/cld/agent/api"
)

// Set at link time by the Makefile.
var (
	Version = ""
	Number  = ""
	Commit  = ""
	Branch  = ""
	Stage   = "development"
)

// Info returns the build facts, filling gaps from the toolchain's records.
func Info() api.Build {
	b := api.Build{Version: Version, Build: Number, Commit: Commit, Branch: Branch, Stage: Stage}
	if bi, ok := debug.ReadBuildInfo(); ok {
		if b.Version == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			b.Version = bi.Main.Version
		}
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && b.Commit == "" {
				b.Commit = s.Value
			}
		}
	}
	if b.Version == "" {
		b.Version = "0.0.0-dev"
	}
	return b
}
