package i18n

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
)

// readCatalog reads one embedded catalog's entries (without the header).
func readCatalog(t *testing.T, code string) map[string]*entry {
	t.Helper()
	name := "locales/" + code + ".po"
	f, err := localesFS.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	entries, err := parsePO(name, f)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]*entry{}
	for _, e := range entries {
		if e.ID != "" {
			m[e.key()] = e
		}
	}
	return m
}

// Every language has exactly the messages English has, each translated,
// a plural where English has one, and the same placeholders.
func TestCatalogsComplete(t *testing.T) {
	en := readCatalog(t, "en")
	if len(en) < 100 {
		t.Fatalf("English has only %d messages", len(en))
	}
	for id, e := range en {
		if e.IDPlural != "" && !slices.Equal(Placeholders(e.ID), Placeholders(e.IDPlural)) {
			t.Errorf("en.po:%d: msgid_plural of %q has other placeholders than its msgid", e.Line, id)
		}
	}
	for _, l := range languages[1:] {
		code := l.tag.String()
		t.Run(code, func(t *testing.T) {
			cat := readCatalog(t, code)
			for id, e := range en {
				tr, ok := cat[id]
				if !ok {
					t.Errorf("%s.po lacks msgid %q (en.po:%d)", code, id, e.Line)
					continue
				}
				if (tr.IDPlural != "") != (e.IDPlural != "") {
					t.Errorf("%s.po:%d: %q is a plural in one catalog only", code, tr.Line, id)
					continue
				}
				want := Placeholders(e.ID)
				for i, s := range tr.Str {
					if s == "" {
						t.Errorf("%s.po:%d: %q has an empty msgstr", code, tr.Line, id)
						continue
					}
					if got := Placeholders(s); !slices.Equal(got, want) {
						t.Errorf("%s.po:%d: msgstr[%d] of %q has placeholders %v, English %v", code, tr.Line, i, id, got, want)
					}
					if strings.Count(s, "{") != strings.Count(s, "}") {
						t.Errorf("%s.po:%d: msgstr of %q has unbalanced braces", code, tr.Line, id)
					}
				}
			}
			for id, tr := range cat {
				if _, ok := en[id]; !ok {
					t.Errorf("%s.po:%d: msgid %q is not in en.po", code, tr.Line, id)
				}
			}
		})
	}
	t.Logf("%d messages in each of %d languages", len(en), len(languages))
}

// The checks above do catch a wrong catalog.
func TestPlaceholdersCompared(t *testing.T) {
	if got := Placeholders("The tunnel {name} ({component}) {name}"); !slices.Equal(got, []string{"component", "name"}) {
		t.Errorf("Placeholders = %v", got)
	}
	if slices.Equal(Placeholders("Der Tunnel {nmae}"), Placeholders("The tunnel {name}")) {
		t.Error("a misspelt placeholder compares equal")
	}
}

func TestMatch(t *testing.T) {
	c := Default()
	for _, tc := range []struct {
		pref, want string
		ok         bool
	}{
		{"de", "de", true},
		{"de-DE", "de", true},
		{"de-CH", "de", true},
		{"fr-CA", "fr", true},
		{"es-419", "es", true},
		{"it-IT", "it", true},
		{"nl-BE", "nl", true},
		{"sv-FI", "sv", true},
		{"en-US", "en", true},
		{"fr-CH, fr;q=0.9, en;q=0.8, de;q=0.7", "fr", true},
		{"ja, de;q=0.5", "de", true},
		{"ja", "", false},
		{"zh-CN, ja;q=0.8", "", false},
		{"", "", false},
		{"not a tag!", "", false},
	} {
		l, ok := c.Match(tc.pref)
		if ok != tc.ok || (ok && l.Code() != tc.want) {
			got := ""
			if l != nil {
				got = l.Code()
			}
			t.Errorf("Match(%q) = %q, %v; want %q, %v", tc.pref, got, ok, tc.want, tc.ok)
		}
	}
	if got := c.Choose("", "xx", "ja", "nl-NL,nl;q=0.9"); got.Code() != "nl" {
		t.Errorf("Choose = %s, want nl", got.Code())
	}
	if got := c.Choose("ja", ""); got.Code() != "en" {
		t.Errorf("Choose = %s, want the English fallback", got.Code())
	}
	if got := c.Choose("sv", "de"); got.Code() != "sv" {
		t.Errorf("Choose = %s, want the first preference, sv", got.Code())
	}
}

func TestTranslate(t *testing.T) {
	c := Default()
	de, fr, en := c.Lookup("de"), c.Lookup("fr"), c.English()
	if got := de.T("Switch to debug view"); got != "Zur Debug-Ansicht wechseln" {
		t.Errorf("T = %q", got)
	}
	if got := en.T("Switch to debug view"); got != "Switch to debug view" {
		t.Errorf("English T = %q", got)
	}
	if got := de.T("The tunnel {name} is started.", "name", "„Web“"); got != "Der Tunnel „Web“ ist gestartet." {
		t.Errorf("T with a placeholder = %q", got)
	}
	if got := de.T("no such message"); got != MissingPrefix+"no such message]" {
		t.Errorf("missing = %q", got)
	}
	// Plurals: French counts 0 and 1 as one, the others only 1.
	const many = "{n} CloudLink Gateway instance is installed ({instances}): traditional CLGW mode supports only one per platform, and several (often restored from a backup of a clustered CLGW) make MiVB provisioning and CLGW re-onboarding fail."
	if got := en.N(many, 2, "instances", "a, b"); !strings.HasPrefix(got, "2 CloudLink Gateway instances are installed (a, b)") {
		t.Errorf("English plural = %q", got)
	}
	if got := en.N(many, 1, "instances", "a"); !strings.HasPrefix(got, "1 CloudLink Gateway instance is installed (a)") {
		t.Errorf("English singular = %q", got)
	}
	if got := de.N(many, 3, "instances", "a, b, c"); !strings.HasPrefix(got, "3 CloudLink Gateway-Instanzen sind installiert") {
		t.Errorf("German plural = %q", got)
	}
	if got := fr.N(many, 0, "instances", ""); !strings.HasPrefix(got, "0 instance de CloudLink Gateway est installée") {
		t.Errorf("French zero = %q", got)
	}
	if got := de.N("Switch to debug view", 2); !strings.HasPrefix(got, MissingPrefix) {
		t.Errorf("N of a singular message = %q", got)
	}
}

// Text translates an English catalog message made elsewhere, with its
// values as they are, and leaves any other text alone.
func TestText(t *testing.T) {
	de := Default().Lookup("de")
	for in, want := range map[string]string{
		"Page not found": "Seite nicht gefunden",
		"Linked to the CloudLink account Demo Account (100001).":    "Mit dem CloudLink-Konto Demo Account (100001) verknüpft.",
		"This page does not accept PUT requests.":                   "Diese Seite nimmt keine PUT-Anfragen an.",
		"The CloudLink daemon could not do this: the cloud said no": "Der CloudLink-Daemon konnte dies nicht ausführen: the cloud said no",
		"wrong user name or password":                               "wrong user name or password",
		"The account is locked; ask your administrator.":            "The account is locked; ask your administrator.",
		"": "",
	} {
		if got := de.Text(in); got != want {
			t.Errorf("Text(%q) = %q, want %q", in, got, want)
		}
	}
	if got := Default().English().Text("This page does not accept PUT requests."); got != "This page does not accept PUT requests." {
		t.Errorf("English Text = %q", got)
	}
}

func TestContext(t *testing.T) {
	if got := FromContext(context.Background()); got.Code() != "en" {
		t.Errorf("no locale in the context gives %s, want en", got.Code())
	}
	it := Default().Lookup("it")
	if got := FromContext(NewContext(context.Background(), it)); got != it {
		t.Errorf("FromContext = %s, want it", got.Code())
	}
}

func TestLocales(t *testing.T) {
	var codes []string
	for _, l := range Default().Locales() {
		codes = append(codes, fmt.Sprintf("%s:%s", l.Code(), l.Name()))
	}
	want := []string{"en:English", "de:Deutsch", "fr:Français", "es:Español", "it:Italiano", "nl:Nederlands", "sv:Svenska"}
	if !slices.Equal(codes, want) {
		t.Errorf("Locales = %v, want %v", codes, want)
	}
}
