package all

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cloudlink/cld/platforms"
)

// fixtures are the host trees under platforms/*/testdata/hosts/, each with
// its .expect: "TYPE" (that adapter detects it) or "unsupported TYPE"
// (that adapter recognizes it and refuses its version).
func fixtures(t *testing.T) map[string]string {
	t.Helper()
	dirs, err := filepath.Glob("../*/testdata/hosts/*/.expect")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, f := range dirs {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		out[filepath.Dir(f)] = strings.TrimSpace(string(data))
	}
	return out
}

// Every adapter against every fixture tree: each detects its own (or
// refuses its unsupported version with a message naming both versions)
// and none detects another's; auto selection finds exactly the expected
// one, and so does the type forced, under the config's host_root.
func TestEveryAdapterOnEveryFixture(t *testing.T) {
	fx := fixtures(t)
	types := map[string]bool{}
	for _, a := range Adapters() {
		types[a.Type()] = true
	}
	for dir, expect := range fx {
		want, unsupported := strings.CutPrefix(expect, "unsupported ")
		if !types[want] {
			t.Errorf("%s expects %q, which is no adapter of platforms/all", dir, want)
			continue
		}
		for _, a := range Adapters() {
			p, err := a.Detect(dir)
			var un *platforms.UnsupportedError
			switch {
			case a.Type() != want:
				if !errors.Is(err, platforms.ErrNotDetected) {
					t.Errorf("%s: adapter %s detects another's fixture (%v, %v)", dir, a.Type(), p, err)
				}
			case unsupported:
				if !errors.As(err, &un) || un.Found == "" || un.Needed == "" || !strings.Contains(err.Error(), un.Found) || !strings.Contains(err.Error(), un.Needed) {
					t.Errorf("%s: %s: want a refusal naming the version found and needed, got %v, %v", dir, a.Type(), p, err)
				}
			default:
				if err != nil || p == nil || p.Type() != want {
					t.Errorf("%s: %s does not detect its fixture: %v, %v", dir, a.Type(), p, err)
					continue
				}
				if err := platforms.ValidateTunnels(p.Tunnels()); err != nil {
					t.Errorf("%s: tunnels: %v", dir, err)
				}
			}
		}
		p, err := platforms.Open(platforms.Config{}, dir, Adapters()...)
		if !unsupported && (err != nil || p == nil || p.Type() != want) {
			t.Errorf("%s: auto selection: %v, %v; want %s", dir, p, err, want)
		}
		// Forced by type (platform: {type: TYPE}), the adapter detects
		// the host under the config's host_root.
		p, err = platforms.Open(platforms.Config{Type: want}, dir, Adapters()...)
		if !unsupported && (err != nil || p == nil || p.Type() != want) {
			t.Errorf("%s: platform.type %s with host_root %s: %v, %v", dir, want, dir, p, err)
		}
	}
	t.Logf("%d fixtures, %d adapters", len(fx), len(Adapters()))
}
