package cld_test

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// testRef is a test named in SECURITY.md: `TestName` or `pkg/path.TestName`
// (a subtest after a slash is allowed: `TestName/sub`).
var testRef = regexp.MustCompile("`(?:([a-z0-9_./-]+)\\.)?((?:Test|Fuzz)[A-Za-z0-9_]+)(?:/[^`]*)?`")

// declared maps each Test or Fuzz function of the module's _test.go files
// to the package directories that declare it.
func declared(t *testing.T) map[string][]string {
	t.Helper()
	decl := regexp.MustCompile(`(?m)^func ((?:Test|Fuzz)[A-Za-z0-9_]+)\(`)
	out := map[string][]string{}
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && path != "." && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata" || d.Name() == "node_modules") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, "_test.go") {
			return nil
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, m := range decl.FindAllSubmatch(src, -1) {
			out[string(m[1])] = append(out[string(m[1])], filepath.ToSlash(filepath.Dir(path)))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestSecurityNamesTests: every threat in SECURITY.md's threat model names
// the tests that show its mitigation, and every test named exists (in the
// package given, when one is). `make test` runs them all, so a named test
// that exists also passes there.
func TestSecurityNamesTests(t *testing.T) {
	doc, err := os.ReadFile("SECURITY.md")
	if err != nil {
		t.Fatalf("SECURITY.md: %v", err)
	}
	tests := declared(t)
	// The threat model: each "### " heading under "## Threat model" is a
	// threat; each needs at least one test reference.
	text := string(doc)
	start := strings.Index(text, "\n## Threat model")
	if start < 0 {
		t.Fatal(`SECURITY.md has no "## Threat model" section`)
	}
	model := text[start+1:]
	if end := strings.Index(model[3:], "\n## "); end >= 0 {
		model = model[:end+3]
	}
	threats := strings.Split(model, "\n### ")[1:]
	if len(threats) < 7 {
		t.Fatalf("SECURITY.md's threat model has %d threats (### headings), want at least the issue's seven", len(threats))
	}
	refs := 0
	for _, th := range threats {
		title, _, _ := strings.Cut(th, "\n")
		ms := testRef.FindAllStringSubmatch(th, -1)
		if len(ms) == 0 {
			t.Errorf("the threat %q names no test", title)
		}
		for _, m := range ms {
			refs++
			pkg, name := m[1], m[2]
			dirs, ok := tests[name]
			if !ok {
				t.Errorf("the threat %q names %s, which no _test.go declares", title, name)
				continue
			}
			if pkg != "" && !contains(dirs, pkg) {
				t.Errorf("the threat %q names %s.%s, but %s is declared in %v", title, pkg, name, name, dirs)
			}
		}
	}
	t.Logf("%d threats, %d test references, all declared", len(threats), refs)
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}
