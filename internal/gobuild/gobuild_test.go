package gobuild

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestBuild builds a tiny command with a stamped variable and runs it: the
// copy is the binary, with the flags given.
func TestBuild(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("go.mod", "module example.com/hello\n\ngo 1.24\n")
	write("main.go", "package main\n\nimport \"fmt\"\n\nvar word = \"unset\"\n\nfunc main() { fmt.Println(\"hello\", word) }\n")
	out := filepath.Join(t.TempDir(), "sub", "hello")
	for range 2 { // the second build comes from the cache
		if err := Build(out, ".", Options{Dir: dir, Flags: []string{"-ldflags", "-X main.word=stamped"}, Env: []string{"CGO_ENABLED=0"}}); err != nil {
			t.Fatal(err)
		}
		got, err := exec.Command(out).Output()
		if err != nil {
			t.Fatal(err)
		}
		if strings.TrimSpace(string(got)) != "hello stamped" {
			t.Fatalf("the built binary printed %q, want %q", got, "hello stamped")
		}
		if err := os.Remove(out); err != nil {
			t.Fatal(err)
		}
	}
}

// TestBuildError: a package that does not compile is an error that shows
// the compiler's message.
func TestBuildError(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module example.com/bad\n\ngo 1.24\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "main.go"), []byte("package main\n\nfunc main() { undefinedName() }\n"), 0o644)
	err := Build(filepath.Join(t.TempDir(), "bad"), ".", Options{Dir: dir})
	if err == nil || !strings.Contains(err.Error(), "undefinedName") {
		t.Fatalf("Build of a broken package: %v, want the compiler's error naming undefinedName", err)
	}
}
