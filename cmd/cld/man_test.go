package main

import (
	"flag"
	"os"
	"regexp"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the generated packaging/cld.8")

// TestManPageCurrent: packaging/cld.8 is what manPage makes from the
// commands' own usage text; `go test ./cmd/cld -run ManPage -update` (or
// `make generate`) rewrites it.
func TestManPageCurrent(t *testing.T) {
	version, err := os.ReadFile("../../VERSION")
	if err != nil {
		t.Fatal(err)
	}
	want := manPage(strings.TrimSpace(string(version)))
	const path = "../../packaging/cld.8"
	if *update {
		if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(path)
	if err != nil || string(got) != want {
		t.Fatalf("%s is stale (%v): run `make generate` and commit it", path, err)
	}
	for _, cmd := range manCommands {
		if !strings.Contains(want, ".SS "+cmd+"\n") || !strings.Contains(usageText, "  "+cmd+" ") {
			t.Errorf("the man page or the usage lacks %s", cmd)
		}
	}
	if !strings.Contains(want, "Usage: cld tunnel") || !strings.Contains(want, "--password-stdin") {
		t.Error("the man page lacks the commands' own usage")
	}
}

// TestCompletionKnowsEveryCommand: the bash completion offers every command
// of the usage text and the global flags.
func TestCompletionKnowsEveryCommand(t *testing.T) {
	data, err := os.ReadFile("../../packaging/cld.bash")
	if err != nil {
		t.Fatal(err)
	}
	comp := string(data)
	for _, m := range regexp.MustCompile(`(?m)^  ([a-z-]+)\s`).FindAllStringSubmatch(usageText, -1) {
		if !regexp.MustCompile(`\b` + regexp.QuoteMeta(m[1]) + `\b`).MatchString(comp) {
			t.Errorf("packaging/cld.bash lacks the command %s", m[1])
		}
	}
	for _, f := range []string{"--socket", "--config"} {
		if !strings.Contains(comp, f) {
			t.Errorf("packaging/cld.bash lacks %s", f)
		}
	}
}
