package licenses

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite licenses.json from the module graph")

// generate lists the modules linked into ./cmd/cld (go list -deps) with
// their licence files, and Go's own.
func generate(t *testing.T) []Module {
	t.Helper()
	cmd := exec.Command("go", "list", "-e", "-deps", "-f", "{{with .Module}}{{if not .Main}}{{.Path}}\t{{.Version}}\t{{.Dir}}{{end}}{{end}}", "./cmd/cld")
	cmd.Dir = "../.."
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	seen := map[string]bool{}
	// Go's standard library, at the go.mod's go version (the toolchain's
	// patch release may differ from machine to machine; its licence does
	// not).
	goroot, err := exec.Command("go", "env", "GOROOT").Output()
	if err != nil {
		t.Fatalf("go env GOROOT: %v", err)
	}
	mods := []Module{readModule(t, "go", "go"+goDirective(t), strings.TrimSpace(string(goroot)))}
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Split(l, "\t")
		if len(f) != 3 || seen[f[0]] {
			continue
		}
		seen[f[0]] = true
		mods = append(mods, readModule(t, f[0], f[1], f[2]))
	}
	slices.SortFunc(mods[1:], func(a, b Module) int { return strings.Compare(a.Path, b.Path) })
	return mods
}

// goDirective is the go line of the repository's go.mod (e.g. 1.26.0).
func goDirective(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile("../../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(l, "go "); ok {
			return strings.TrimSpace(v)
		}
	}
	t.Fatal("go.mod has no go line")
	return ""
}

func readModule(t *testing.T, path, version, dir string) Module {
	t.Helper()
	for _, name := range []string{"LICENSE", "LICENSE.txt", "LICENSE.md", "LICENCE", "COPYING"} {
		text, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			continue
		}
		lic := classify(string(text))
		if lic == "" {
			t.Fatalf("%s %s: %s is no licence this test knows; add its SPDX name to classify after reading it", path, version, name)
		}
		return Module{Path: path, Version: version, License: lic, File: name, Text: strings.TrimSpace(string(text))}
	}
	t.Fatalf("%s %s (%s) has no licence file", path, version, dir)
	return Module{}
}

// classify names the licences a licence file holds (SPDX), from the
// sentences each one has.
func classify(text string) string {
	norm := strings.Join(strings.Fields(text), " ")
	has := func(s ...string) bool {
		for _, x := range s {
			if !strings.Contains(norm, x) {
				return false
			}
		}
		return true
	}
	var ids []string
	switch {
	case has("Redistribution and use in source and binary forms", "Neither the name"):
		ids = append(ids, "BSD-3-Clause")
	case has("Redistribution and use in source and binary forms"):
		ids = append(ids, "BSD-2-Clause")
	}
	if has("Permission is hereby granted, free of charge") {
		ids = append(ids, "MIT")
	}
	if has("Apache License", "Version 2.0") {
		ids = append(ids, "Apache-2.0")
	}
	if has("Mozilla Public License", "2.0") {
		ids = append(ids, "MPL-2.0")
	}
	if has("Permission to use, copy, modify, and/or distribute this software for any purpose with or without fee is hereby granted") || has("Permission to use, copy, modify, and distribute this software for any purpose with or without fee is hereby granted") {
		ids = append(ids, "ISC")
	}
	slices.Sort(ids)
	return strings.Join(ids, " AND ")
}

func encode(mods []Module) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(mods); err != nil {
		panic(err)
	}
	return buf.Bytes()
}

// TestListCurrent: licenses.json is what the module graph gives now.
func TestListCurrent(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list")
	}
	want := encode(generate(t))
	if *update {
		if err := os.WriteFile("licenses.json", want, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	if !bytes.Equal(data, want) {
		t.Fatal("licenses.json is stale: the modules linked into cld changed; run `go test ./ui/licenses -update` (make generate) and commit it")
	}
}

func TestAll(t *testing.T) {
	all := All()
	if len(all) < 10 || all[0].Path != "go" {
		t.Fatalf("%d modules, first %+v", len(all), all[0])
	}
	for _, m := range all {
		if m.License == "" || m.Text == "" || m.Version == "" {
			t.Errorf("%s: %+v", m.Path, m)
		}
	}
}

func TestClassify(t *testing.T) {
	for text, want := range map[string]string{
		"Permission is hereby granted, free of charge, to any person":                               "MIT",
		"Redistribution and use in source and binary forms, with or\nwithout … Neither the name of": "BSD-3-Clause",
		"Apache License\n Version 2.0, January 2004":                                                "Apache-2.0",
		"Permission is hereby granted, free of charge … Apache License Version 2.0":                 "Apache-2.0 AND MIT",
		"All rights reserved.": "",
	} {
		if got := classify(text); got != want {
			t.Errorf("classify(%q) = %q, want %q", text, got, want)
		}
	}
}
