// Package build holds the facts of the running binary: version, build number,
// commit, branch and release stage, and the release key its updates are
// checked against. The Makefile sets them with -ldflags
// "-X github.com/cloudlink/cld/agent/build.Version=…"; a plain `go build`
// falls back to what the Go toolchain recorded.
package build

import (
	"runtime/debug"

	"aead.dev/minisign"

	"github.com/cloudlink/cld/agent/api"
)

// Set at link time by the Makefile.
var (
	Version = ""
	Number  = ""
	Commit  = ""
	Branch  = ""
	Stage   = "development"
	// ReleaseKey is the minisign public key (its base64 line) that every
	// self-update must be signed by: the publisher's production key, whose
	// private half is kept offline by the release manager. The demo and the
	// tests build their own in with -X …/agent/build.ReleaseKey=….
	ReleaseKey = "RWSB7TRD4tydf5hwzyAEJQ4s3Zf1ZPcu+GzXVPmB6YrHbt5pdcsY1qdz"
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

// Key is ReleaseKey parsed; nil with the error when the build carries
// none or a broken one (every release is then refused).
func Key() (*minisign.PublicKey, error) {
	var k minisign.PublicKey
	if err := k.UnmarshalText([]byte(ReleaseKey)); err != nil {
		return nil, err
	}
	return &k, nil
}
