package i18n

import (
	"strings"
	"testing"
	"testing/fstest"
)

func TestParsePO(t *testing.T) {
	src := `# a comment
msgid ""
msgstr ""
"Language: de\n"

#: ui/x.templ
msgid "Hello, "
"{name}"
msgstr "Hallo, {name}"

msgctxt "button"
msgid "Start"
msgstr "Starten"

msgid "{n} file"
msgid_plural "{n} files"
msgstr[0] "{n} Datei"
msgstr[1] "{n} Dateien"

msgid "Quote \"x\"\tand\\n"
msgstr "Zitat \"x\""
`
	entries, err := parsePO("de.po", strings.NewReader(src))
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 5 {
		t.Fatalf("%d entries, want 5", len(entries))
	}
	if e := entries[0]; e.ID != "" || e.Str[0] != "Language: de\n" {
		t.Errorf("header = %+v", e)
	}
	if e := entries[1]; e.ID != "Hello, {name}" || e.Str[0] != "Hallo, {name}" || e.Line != 7 {
		t.Errorf("continued entry = %+v", e)
	}
	if e := entries[2]; e.key() != "button\x04Start" || e.Str[0] != "Starten" {
		t.Errorf("context entry = %+v", e)
	}
	if e := entries[3]; e.IDPlural != "{n} files" || len(e.Str) != 2 || e.Str[1] != "{n} Dateien" {
		t.Errorf("plural entry = %+v", e)
	}
	if e := entries[4]; e.ID != "Quote \"x\"\tand\\n" || e.Str[0] != `Zitat "x"` {
		t.Errorf("escaped entry = %+v", e)
	}
}

// A malformed file is an error that names the file and the line.
func TestParsePOErrors(t *testing.T) {
	for _, tc := range []struct{ name, src, want string }{
		{"unquoted", "msgid \"a\"\nmsgstr b\n", `fr.po:2: "msgstr" must be followed by a quoted string`},
		{"unterminated", "msgid \"a\"\nmsgstr \"b\n", "fr.po:2: the string has no closing quote"},
		{"trailing", "msgid \"a\" x\nmsgstr \"b\"\n", `fr.po:1: unexpected "x" after the closing quote`},
		{"no msgstr", "msgid \"a\"\n\nmsgid \"b\"\nmsgstr \"c\"\n", `fr.po:1: the entry for msgid "a" has no msgstr`},
		{"stray string", "\"a\"\n", "fr.po:1: a string continues nothing"},
		{"unknown keyword", "msgid \"a\"\nmsgtxt \"b\"\n", `fr.po:2: unknown keyword "msgtxt"`},
		{"bad escape", "msgid \"a\\q\"\nmsgstr \"b\"\n", `fr.po:1: unknown escape \q`},
		{"plural without forms", "msgid \"a\"\nmsgid_plural \"as\"\nmsgstr[0] \"x\"\n", `fr.po:1: the plural entry for msgid "a" needs msgstr[0] and msgstr[1]`},
		{"plural with msgstr", "msgid \"a\"\nmsgid_plural \"as\"\nmsgstr \"x\"\n", `fr.po:3: the plural entry for msgid "a" needs msgstr[0], msgstr[1], not msgstr`},
		{"form out of order", "msgid \"a\"\nmsgid_plural \"as\"\nmsgstr[1] \"x\"\n", "fr.po:3: msgstr[1] out of order: expected msgstr[0]"},
		{"form without plural", "msgid \"a\"\nmsgstr[0] \"x\"\n", "fr.po:2: msgstr[0] belongs to an entry with msgid_plural"},
		{"msgstr first", "msgstr \"x\"\n", "fr.po:1: msgstr must follow a msgid"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parsePO("fr.po", strings.NewReader(tc.src))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error = %v, want one with %q", err, tc.want)
			}
		})
	}
}

// Load names the file and line of a malformed catalog, and of a msgid
// that appears twice.
func TestLoadErrors(t *testing.T) {
	good := "msgid \"a\"\nmsgstr \"\"\n"
	fsys := fstest.MapFS{}
	for _, l := range languages {
		fsys["locales/"+l.tag.String()+".po"] = &fstest.MapFile{Data: []byte(good)}
	}
	if _, err := Load(fsys, "locales"); err != nil {
		t.Fatal(err)
	}
	fsys["locales/it.po"] = &fstest.MapFile{Data: []byte("msgid \"a\"\nmsgstr \"b\"\n\nmsgid \"c\"\nmsgstr \"d\n")}
	if _, err := Load(fsys, "locales"); err == nil || !strings.Contains(err.Error(), "locales/it.po:5:") {
		t.Errorf("error = %v, want one naming locales/it.po:5", err)
	}
	fsys["locales/it.po"] = &fstest.MapFile{Data: []byte("msgid \"a\"\nmsgstr \"b\"\n\nmsgid \"a\"\nmsgstr \"d\"\n")}
	if _, err := Load(fsys, "locales"); err == nil || !strings.Contains(err.Error(), `locales/it.po:4: msgid "a" is already in this file`) {
		t.Errorf("error = %v, want the duplicate named", err)
	}
	fsys["locales/it.po"] = &fstest.MapFile{Data: []byte(good)}
	delete(fsys, "locales/sv.po")
	if _, err := Load(fsys, "locales"); err == nil || !strings.Contains(err.Error(), "Svenska") {
		t.Errorf("error = %v, want the missing catalog named", err)
	}
}

func FuzzParsePO(f *testing.F) {
	f.Add("msgid \"a\"\nmsgstr \"b\"\n")
	f.Add("msgid \"a\"\nmsgid_plural \"b\"\nmsgstr[0] \"c\"\nmsgstr[1] \"d\"\n")
	f.Fuzz(func(t *testing.T, src string) {
		_, _ = parsePO("f.po", strings.NewReader(src))
	})
}
