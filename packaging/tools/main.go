// Command nfpm-build builds the daemon's .deb and .rpm packages with nfpm's
// library (github.com/goreleaser/nfpm/v2, pinned in this module's go.mod so
// that its dependencies stay out of the product's). It reads the nfpm
// configuration with the environment expanded (the Makefile sets VERSION,
// ARCH, BIN and ROOT) and writes one package per format into -out, printing
// each file's path.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/goreleaser/nfpm/v2"
	_ "github.com/goreleaser/nfpm/v2/deb"
	_ "github.com/goreleaser/nfpm/v2/rpm"
)

func main() {
	config := flag.String("config", "packaging/nfpm.yaml", "nfpm configuration")
	formats := flag.String("formats", "deb,rpm", "package formats, comma-separated")
	out := flag.String("out", "dist", "directory for the packages")
	flag.Parse()
	if err := build(*config, strings.Split(*formats, ","), *out); err != nil {
		fmt.Fprintf(os.Stderr, "nfpm-build: %v\n", err)
		os.Exit(1)
	}
}

func build(config string, formats []string, out string) error {
	cfg, err := nfpm.ParseFileWithEnvMapping(config, os.Getenv)
	if err != nil {
		return fmt.Errorf("%s: %w", config, err)
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	for _, format := range formats {
		info, err := cfg.Get(format)
		if err != nil {
			return fmt.Errorf("%s: %w", format, err)
		}
		info = nfpm.WithDefaults(info)
		if err := nfpm.PrepareForPackager(info, format); err != nil {
			return fmt.Errorf("%s: %w", format, err)
		}
		pkger, err := nfpm.Get(format)
		if err != nil {
			return err
		}
		path := filepath.Join(out, pkger.ConventionalFileName(info))
		if err := write(path, func(f *os.File) error { return pkger.Package(info, f) }); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		fmt.Println(path)
	}
	return nil
}

// write makes path with fill, removing a half-written file on failure.
func write(path string, fill func(*os.File) error) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	err = fill(f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
	}
	return err
}
