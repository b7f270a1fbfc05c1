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
// under any of Deny, except those under one of Allow, and on exactly the
// packages in Only. With Below, it applies to the packages strictly under
// From, not to From itself.
type rule struct {
	From  string
	Below bool
	Deny  []string
	Only  []string
	Allow []string
	Why   string
}

// The daemon's core in layers (ARCHITECTURE.md): the composition root
// (agent) builds the parts; the subsystems (the link's linked-only parts
// and the dashboard accounts) use the link and the lower packages; the
// link uses only the lower packages; the lower packages use none of the
// higher. No part imports the root, and no subsystem another.
var (
	agentSubsystems = []string{"agent/tunnels", "agent/reporter", "agent/accounts", "agent/updates", "agent/gateway", "agent/provisioning"}
	agentLower      = []string{"agent/config", "agent/state", "agent/proxy", "agent/cloudclient", "agent/health", "agent/drift",
		"agent/doctor", "agent/localapi", "agent/api", "agent/client", "agent/build", "agent/backoff", "agent/outbox", "agent/metrics", "agent/logbuf"}
)

func agentRules() []rule {
	rs := []rule{
		{From: "agent", Below: true, Only: []string{"agent"}, Why: "the parts never import the composition root"},
		{From: "agent/link", Deny: agentSubsystems, Why: "the link runs its subsystems through link.Subsystem; it never imports them"},
	}
	for _, p := range agentLower {
		rs = append(rs, rule{From: p, Deny: append([]string{"agent/link"}, agentSubsystems...), Why: "the lower parts of the core import none of the higher"})
	}
	for _, p := range agentSubsystems {
		var others []string
		for _, q := range agentSubsystems {
			if q != p {
				others = append(others, q)
			}
		}
		rs = append(rs, rule{From: p, Deny: others, Why: "subsystems meet through interfaces that the composition root wires, never by import"})
	}
	return rs
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
	{From: "lockout", Deny: []string{""}, Why: "the lockout of wrong credentials is shared by daemon and cloud and imports nothing of the project"},
	{From: "agent/api", Deny: []string{""}, Why: "the local API types import nothing of the project"},
	{From: "internal/gobuild", Deny: []string{""}, Why: "the tests' build helper imports nothing of the project"},
}

func init() { rules = append(rules, agentRules()...) }

type pkg struct {
	ImportPath string
	Deps       []string
}

func pkgPath(dir string) string {
	if dir == "" {
		return module
	}
	return module + "/" + dir
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
			if !under(p.ImportPath, r.From) || (r.Below && p.ImportPath == pkgPath(r.From)) {
				continue
			}
			checked++
			for _, d := range p.Deps {
				if !strings.HasPrefix(d, module) || d == p.ImportPath {
					continue
				}
				denied := false
				if r.From == "" || !under(d, r.From) {
					for _, deny := range r.Deny {
						denied = denied || under(d, deny)
					}
					for _, allow := range r.Allow {
						if under(d, allow) {
							denied = false
						}
					}
				}
				for _, only := range r.Only {
					denied = denied || d == pkgPath(only)
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
		// The core's layers: a part that imports the root, a lower part
		// that imports the link, a subsystem that imports another; the
		// allowed ways down pass.
		{ImportPath: m + "agent/tunnels", Deps: []string{m + "agent/link", m + "agent/cloudclient", m + "agent"}},
		{ImportPath: m + "agent/config", Deps: []string{m + "agent/proxy", m + "agent/link"}},
		{ImportPath: m + "agent/reporter", Deps: []string{m + "agent/link", m + "agent/tunnels"}},
		{ImportPath: m + "agent", Deps: []string{m + "agent/link", m + "agent/tunnels", m + "agent/reporter", m + "agent/accounts"}},
	}
	bad, _ := violations(pkgs)
	want := []string{"ui depends on " + m + "agent/localapi", "agent depends on " + m + "cloud:", "tunnel depends on " + m + "agent/api",
		"agent/tunnels depends on " + m + "agent: not allowed (the parts never import the composition root)",
		"agent/config depends on " + m + "agent/link: not allowed (the lower parts",
		"agent/reporter depends on " + m + "agent/tunnels: not allowed (subsystems meet"}
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

// TestPackageDocs holds every package of the project to a package doc
// comment that says what it owns.
func TestPackageDocs(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", "{{.ImportPath}}\t{{len .GoFiles}}\t{{.Doc}}", "./...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	n := 0
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.SplitN(line, "\t", 3)
		if len(f) < 3 || f[1] == "0" {
			continue // no non-test files (this package)
		}
		n++
		if strings.TrimSpace(f[2]) == "" {
			t.Errorf("%s has no package doc comment; say in one what it owns", f[0])
		}
	}
	if n < 10 {
		t.Fatalf("only %d packages listed", n)
	}
}
