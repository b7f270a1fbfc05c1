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

// TestBuildNotesSources: a build opens the sources of the module's
// packages the command is built from (an imported package, an embedded
// file, go.mod), so that go test reruns a test that runs the command when
// they change; files of other packages, and of other build tags, are left
// alone.
func TestBuildNotesSources(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("go.mod", "module example.com/hello\n\ngo 1.24\n")
	write("main.go", "package main\n\nimport (\n\t_ \"embed\"\n\t\"fmt\"\n\n\t\"example.com/hello/word\"\n)\n\n//go:embed greeting.txt\nvar greeting string\n\nfunc main() { fmt.Println(greeting, word.W) }\n")
	write("greeting.txt", "hello")
	write("word/word.go", "package word\n\nconst W = \"world\"\n")
	write("word/other.go", "//go:build othertag\n\npackage word\n")
	write("unused/unused.go", "package unused\n")

	var opened []string
	saved := openFile
	t.Cleanup(func() { openFile = saved })
	openFile = func(name string) error {
		opened = append(opened, name)
		return saved(name)
	}
	if err := Build(filepath.Join(t.TempDir(), "hello"), ".", Options{Dir: dir, Env: []string{"CGO_ENABLED=0"}}); err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, name := range opened {
		rel, err := filepath.Rel(dir, name)
		if err != nil {
			t.Fatal(err)
		}
		got[filepath.ToSlash(rel)] = true
	}
	for _, want := range []string{"main.go", "greeting.txt", "word/word.go", "go.mod"} {
		if !got[want] {
			t.Errorf("the build did not open %s (opened %v)", want, opened)
		}
	}
	for _, not := range []string{"word/other.go", "unused/unused.go"} {
		if got[not] {
			t.Errorf("the build opened %s, which it does not read", not)
		}
	}
}
