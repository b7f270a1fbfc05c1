// Package cld_test holds repository-wide checks: the import rules of
// ARCHITECTURE.md, enforced on the real dependency graph from `go list -deps`.
package cld_test

import (
	"bytes"
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/cloudlink/cld"

// rule forbids packages under From (transitively) depending on packages
// under any of Deny, except those under one of Allow.
type rule struct {
	From  string
	Deny  []string
	Allow []string
	Why   string
}

var rules = []rule{
	{From: "platforms", Deny: []string{"agent", "ui", "cloud", "cmd"}, Why: "platform adapters are libraries the agent uses"},
	{From: "inventory", Deny: []string{"agent", "ui", "cloud", "cmd"}, Why: "inventory collectors are libraries the agent uses"},
	{From: "tunnel", Deny: []string{"agent", "ui", "cloud", "cmd"}, Why: "the tunnel protocol is shared by agent and edge"},
	{From: "updater", Deny: []string{"agent", "ui", "cloud", "cmd"}, Why: "the updater is a library the agent uses"},
	{From: "ui", Deny: []string{"agent", "cloud", "cmd"}, Allow: []string{"agent/client", "agent/api", "agent/build"},
		Why: "the dashboard reaches the daemon only through agent/client"},
	{From: "cloud", Deny: []string{"agent", "ui", "cmd"}, Why: "the reference cloud never depends on the daemon"},
	{From: "agent", Deny: []string{"ui", "cloud", "cmd"}, Allow: []string{"cloud/cloudapi"},
		Why: "the daemon speaks to the cloud through the wire contract only; only cmd/* wires the dashboard in"},
	{From: "cloud/cloudapi", Deny: []string{""}, Why: "the wire contract imports nothing of the project"},
	{From: "agent/api", Deny: []string{""}, Why: "the local API types import nothing of the project"},
}

type pkg struct {
	ImportPath string
	Deps       []string
}

func under(path, dir string) bool {
	full := module
	if dir != "" {
		full += "/" + dir
	}
	return path == full || strings.HasPrefix(path, full+"/")
}

// violations lists every dependency of pkgs that breaks a rule, and how many
// packages the rules applied to.
func violations(pkgs []pkg) (bad []string, checked int) {
	for _, p := range pkgs {
		for _, r := range rules {
			if !under(p.ImportPath, r.From) {
				continue
			}
			checked++
			for _, d := range p.Deps {
				if !strings.HasPrefix(d, module) || d == p.ImportPath || (r.From != "" && under(d, r.From)) {
					continue
				}
				denied := false
				for _, deny := range r.Deny {
					denied = denied || under(d, deny)
				}
				for _, allow := range r.Allow {
					if under(d, allow) {
						denied = false
					}
				}
				if denied {
					bad = append(bad, p.ImportPath+" depends on "+d+": not allowed ("+r.Why+")")
				}
			}
		}
	}
	return bad, checked
}

func TestImportRules(t *testing.T) {
	out, err := exec.Command("go", "list", "-json=ImportPath,Deps", "./...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	dec := json.NewDecoder(bytes.NewReader(out))
	var pkgs []pkg
	for dec.More() {
		var p pkg
		if err := dec.Decode(&p); err != nil {
			t.Fatalf("decoding go list output: %v", err)
		}
		pkgs = append(pkgs, p)
	}
	if len(pkgs) < 5 {
		t.Fatalf("go list found only %d packages; is the test running in the module root?", len(pkgs))
	}
	bad, checked := violations(pkgs)
	if checked == 0 {
		t.Fatal("no package matched any rule")
	}
	for _, b := range bad {
		t.Error(b)
	}
}

// TestViolationsDetected proves the check fails on forbidden edges and
// passes allowed ones.
func TestViolationsDetected(t *testing.T) {
	m := module + "/"
	pkgs := []pkg{
		{ImportPath: m + "ui", Deps: []string{m + "agent/client", m + "agent/api", m + "agent/localapi"}},
		{ImportPath: m + "agent", Deps: []string{m + "cloud/cloudapi", m + "agent/build", m + "cloud"}},
		{ImportPath: m + "cloud", Deps: []string{m + "cloud/cloudapi", m + "cloud/store"}},
		{ImportPath: m + "cloud/cloudapi", Deps: []string{"time"}},
		{ImportPath: m + "tunnel", Deps: []string{m + "agent/api"}},
	}
	bad, _ := violations(pkgs)
	want := []string{"ui depends on " + m + "agent/localapi", "agent depends on " + m + "cloud:", "tunnel depends on " + m + "agent/api"}
	if len(bad) != len(want) {
		t.Fatalf("got %d violations, want %d: %q", len(bad), len(want), bad)
	}
	for i, w := range want {
		if !strings.Contains(bad[i], w) {
			t.Errorf("violation %d = %q, want it to mention %q", i, bad[i], w)
		}
	}
	if !under(m+"agent/localapi", "agent") || under(m+"agentx", "agent") {
		t.Fatal("under() matches wrongly")
	}
}
