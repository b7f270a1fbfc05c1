// Package licenses is the list of the licences of the Go modules linked
// into cld, with their texts, for the dashboard's About section. The list
// (licenses.json) is generated from the module graph of ./cmd/cld by this
// package's test (go test ./ui/licenses -update), committed, and checked
// to be current by the same test, so it is never typed by hand.
package licenses

import (
	_ "embed"
	"encoding/json"
	"sync"
)

// Module is a module linked into cld and its licence.
type Module struct {
	Path    string `json:"path"`    // e.g. golang.org/x/crypto; "go" for Go's standard library
	Version string `json:"version"` // e.g. v0.31.0
	License string `json:"license"` // SPDX expression, e.g. "BSD-3-Clause" or "Apache-2.0 AND MIT"
	File    string `json:"file"`    // the licence file's name in the module, e.g. LICENSE
	Text    string `json:"text"`    // the licence file's text
}

//go:embed licenses.json
var data []byte

var (
	once sync.Once
	list []Module
)

// All are the modules linked into cld, ordered by path (Go's standard
// library first).
func All() []Module {
	once.Do(func() {
		if err := json.Unmarshal(data, &list); err != nil {
			panic("licenses.json does not read: " + err.Error()) // a build defect, caught by the test
		}
	})
	return append([]Module(nil), list...)
}
