package agent

import (
	"strings"
	"testing"

	"github.com/cloudlink/cld/agent/health"
	"github.com/cloudlink/cld/ui/i18n"
)

// Every declared warning (health.Defs: the agent links in every part that
// declares one) has its title, text template and remedy in every
// language's catalog, so that the dashboard shows it in the page's
// language; and a text raised with values becomes that language's text
// with the same values (the dashboard's trText recognises it).
func TestWarningsInCatalogs(t *testing.T) {
	defs := health.Defs()
	codes := map[string]bool{}
	for _, d := range defs {
		codes[d.Code] = true
	}
	if len(codes) < 17 {
		t.Fatalf("only %d warning codes declared (%d Defs): %v", len(codes), len(defs), codes)
	}
	for _, l := range i18n.Default().Locales() {
		for _, d := range defs {
			for _, f := range []struct{ field, msgid string }{{"Title", d.Title}, {"Text", d.Text}, {"Remedy", d.Remedy}} {
				if f.msgid == "" {
					continue
				}
				if !l.Has(f.msgid) {
					t.Errorf("%s.po lacks the %s of warning %s: %q", l.Code(), f.field, d.Code, f.msgid)
					continue
				}
				var kv []any
				for _, name := range i18n.Placeholders(f.msgid) {
					kv = append(kv, name, "<"+strings.ToUpper(name)+">")
				}
				raised := health.Fill(f.msgid, kv...)
				if got, want := l.Text(raised), l.T(f.msgid, kv...); got != want {
					t.Errorf("%s: the %s of warning %s raised as %q shows as %q, want %q", l.Code(), f.field, d.Code, raised, got, want)
				}
			}
		}
	}
}
