// Package i18n holds the dashboard's message catalogs: one gettext PO file
// per language under locales/ (embedded), the msgid being the English text
// and the msgstr its translation, with msgid_plural and msgstr[0]/[1] where
// a count appears. Placeholders are named, "{name}", so that a translation
// may put them in any order. A Catalog matches a request's language
// preferences to one of its languages (golang.org/x/text/language) and
// gives its Locale, which translates messages and formats times with the
// language's day and month names.
//
// English is the source language: locales/en.po lists every message (an
// empty msgstr there means the msgid itself), and every other catalog must
// hold exactly the same messages with the same placeholders, which the
// package's tests check. A message missing at run time is shown as
// MissingPrefix + msgid + "]", never silently as English.
package i18n

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/text/feature/plural"
	"golang.org/x/text/language"
)

// MissingPrefix starts the text shown in place of a message that the
// page's catalog lacks.
const MissingPrefix = "[missing translation: "

// Source is the language the msgids are written in.
var Source = language.English

// languages are the shipped languages, English first (the fallback), each
// with its own name for the language choice.
var languages = []struct {
	tag  language.Tag
	name string
}{
	{language.English, "English"},
	{language.German, "Deutsch"},
	{language.French, "Français"},
	{language.Spanish, "Español"},
	{language.Italian, "Italiano"},
	{language.Dutch, "Nederlands"},
	{language.Swedish, "Svenska"},
}

//go:embed locales/*.po
var localesFS embed.FS

// Catalog is the messages of every shipped language.
type Catalog struct {
	locales []*Locale // in the order of languages
	byCode  map[string]*Locale
	tags    []language.Tag
	matcher language.Matcher
	// patterns recognise an English message with placeholders in a text
	// made elsewhere (see Locale.Text); built on first use.
	patternsOnce sync.Once
	patterns     []pattern
}

type pattern struct {
	re    *regexp.Regexp
	id    string
	names []string
}

// message is one catalog message: its forms (one, or two for a plural:
// singular then other) and whether it is a plural.
type message struct {
	forms  []string
	plural bool
}

// Locale is one language of a catalog.
type Locale struct {
	cat  *Catalog
	tag  language.Tag
	code string // "de"
	name string // "Deutsch"
	msgs map[string]message
}

var defaultCatalog = sync.OnceValues(func() (*Catalog, error) { return Load(localesFS, "locales") })

// Default returns the embedded catalogs. They are checked by the package's
// tests, so an error here is a build mistake: it panics.
func Default() *Catalog {
	c, err := defaultCatalog()
	if err != nil {
		panic(err)
	}
	return c
}

// Load reads <code>.po for every shipped language from dir in fsys.
func Load(fsys fs.FS, dir string) (*Catalog, error) {
	c := &Catalog{byCode: map[string]*Locale{}}
	for _, l := range languages {
		code := l.tag.String()
		name := path.Join(dir, code+".po")
		f, err := fsys.Open(name)
		if err != nil {
			return nil, fmt.Errorf("i18n: the catalog of %s: %w", l.name, err)
		}
		entries, err := parsePO(name, f)
		_ = f.Close()
		if err != nil {
			return nil, fmt.Errorf("i18n: %w", err)
		}
		loc := &Locale{cat: c, tag: l.tag, code: code, name: l.name, msgs: map[string]message{}}
		for _, e := range entries {
			if e.ID == "" {
				continue // the header
			}
			k := e.key()
			if _, dup := loc.msgs[k]; dup {
				return nil, fmt.Errorf("i18n: %s:%d: msgid %q is already in this file", name, e.Line, e.ID)
			}
			m := message{forms: slices.Clone(e.Str), plural: e.IDPlural != ""}
			if l.tag == Source {
				// An empty English msgstr is the msgid itself.
				if m.forms[0] == "" {
					m.forms[0] = e.ID
				}
				if m.plural && m.forms[1] == "" {
					m.forms[1] = e.IDPlural
				}
			}
			if slices.Contains(m.forms, "") {
				continue // untranslated: missing
			}
			loc.msgs[k] = m
		}
		c.locales = append(c.locales, loc)
		c.byCode[code] = loc
		c.tags = append(c.tags, l.tag)
	}
	c.matcher = language.NewMatcher(c.tags)
	return c, nil
}

// Locales returns the shipped languages, English first.
func (c *Catalog) Locales() []*Locale { return slices.Clone(c.locales) }

// English returns the source language's locale.
func (c *Catalog) English() *Locale { return c.locales[0] }

// Lookup returns the locale of a shipped language code ("de"), or nil.
func (c *Catalog) Lookup(code string) *Locale { return c.byCode[code] }

// Match returns the shipped language that best fits a language preference
// such as "de-CH" or an Accept-Language value ("fr-CH, fr;q=0.9, en;q=0.8"),
// and whether one fits well (a region or script of the same language does;
// an unrelated language does not).
func (c *Catalog) Match(pref string) (*Locale, bool) {
	tags, _, err := language.ParseAcceptLanguage(pref)
	if err != nil || len(tags) == 0 {
		return nil, false
	}
	_, i, conf := c.matcher.Match(tags...)
	if conf < language.High {
		return nil, false
	}
	return c.locales[i], true
}

// Choose picks the page's language from the preferences in order of
// precedence (e.g. the user's choice, the host UI's language, the
// browser's Accept-Language): the first that fits a shipped language wins,
// else English.
func (c *Catalog) Choose(prefs ...string) *Locale {
	for _, p := range prefs {
		if strings.TrimSpace(p) == "" {
			continue
		}
		if l, ok := c.Match(p); ok {
			return l
		}
	}
	return c.English()
}

// Code is the language's BCP 47 code ("de"), for <html lang> and ?lang=.
func (l *Locale) Code() string { return l.code }

// Name is the language's name in itself ("Deutsch").
func (l *Locale) Name() string { return l.name }

// Tag is the language's tag.
func (l *Locale) Tag() language.Tag { return l.tag }

// Has reports whether the catalog holds msgid.
func (l *Locale) Has(msgid string) bool {
	_, ok := l.msgs[msgid]
	return ok
}

// T translates msgid and fills its placeholders from args, pairs of a name
// and a value ("name", "Server Manager"): T("The tunnel {name} is started.",
// "name", n). A missing message shows as MissingPrefix + msgid + "]".
func (l *Locale) T(msgid string, args ...any) string {
	m, ok := l.msgs[msgid]
	if !ok || m.plural {
		return MissingPrefix + msgid + "]"
	}
	return fill(m.forms[0], args)
}

// N translates a plural message, msgid being its English singular, in the
// form the language uses for count n; {n} is the count.
func (l *Locale) N(msgid string, n int, args ...any) string {
	m, ok := l.msgs[msgid]
	if !ok || !m.plural {
		return MissingPrefix + msgid + "]"
	}
	form := m.forms[len(m.forms)-1]
	if plural.Cardinal.MatchPlural(l.tag, n, 0, 0, 0, 0) == plural.One {
		form = m.forms[0]
	}
	return fill(form, append([]any{"n", n}, args...))
}

// Text translates a text made by code that does not use the catalog
// itself: an English message of the catalog, as is or with its
// placeholders filled (the values stay as they are), becomes its
// translation; any other text (e.g. a message of the daemon) is returned
// unchanged.
func (l *Locale) Text(s string) string {
	if m, ok := l.msgs[s]; ok && !m.plural {
		return m.forms[0]
	}
	if l.tag == Source || !strings.ContainsAny(s, " ") {
		return s
	}
	l.cat.patternsOnce.Do(l.cat.buildPatterns)
	for _, p := range l.cat.patterns {
		sub := p.re.FindStringSubmatch(s)
		if sub == nil {
			continue
		}
		args := make([]any, 0, 2*len(p.names))
		for i, name := range p.names {
			args = append(args, name, sub[i+1])
		}
		return l.T(p.id, args...)
	}
	return s
}

// buildPatterns makes a regular expression of every English message with
// placeholders that is not a plural.
func (c *Catalog) buildPatterns() {
	en := c.English()
	ids := make([]string, 0, len(en.msgs))
	for id, m := range en.msgs {
		if !m.plural && strings.Contains(id, "{") {
			ids = append(ids, id)
		}
	}
	// Longer messages first, so that the most specific one wins.
	slices.SortFunc(ids, func(a, b string) int { return len(b) - len(a) })
	for _, id := range ids {
		var re strings.Builder
		re.WriteString("^")
		var names []string
		rest := id
		for {
			i := strings.Index(rest, "{")
			j := strings.Index(rest, "}")
			if i < 0 || j < i {
				break
			}
			re.WriteString(regexp.QuoteMeta(rest[:i]))
			re.WriteString("(.+?)")
			names = append(names, rest[i+1:j])
			rest = rest[j+1:]
		}
		re.WriteString(regexp.QuoteMeta(rest))
		re.WriteString("$")
		c.patterns = append(c.patterns, pattern{re: regexp.MustCompile(re.String()), id: id, names: names})
	}
}

// fill replaces each {name} of s by its value in args.
func fill(s string, args []any) string {
	if len(args) < 2 || !strings.Contains(s, "{") {
		return s
	}
	pairs := make([]string, 0, len(args))
	for i := 0; i+1 < len(args); i += 2 {
		name, _ := args[i].(string)
		pairs = append(pairs, "{"+name+"}", valueString(args[i+1]))
	}
	return strings.NewReplacer(pairs...).Replace(s)
}

func valueString(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case int:
		return strconv.Itoa(v)
	case int64:
		return strconv.FormatInt(v, 10)
	case fmt.Stringer:
		return v.String()
	}
	return fmt.Sprint(v)
}

// Placeholders returns the names of the placeholders of s ("{name}"), sorted.
func Placeholders(s string) []string {
	var names []string
	for _, m := range placeholderRE.FindAllStringSubmatch(s, -1) {
		names = append(names, m[1])
	}
	slices.Sort(names)
	return slices.Compact(names)
}

var placeholderRE = regexp.MustCompile(`\{([A-Za-z][A-Za-z0-9_]*)\}`)

type ctxKey struct{}

// NewContext returns ctx carrying the page's locale.
func NewContext(ctx context.Context, l *Locale) context.Context {
	return context.WithValue(ctx, ctxKey{}, l)
}

// FromContext returns the locale ctx carries, English when none.
func FromContext(ctx context.Context) *Locale {
	if l, ok := ctx.Value(ctxKey{}).(*Locale); ok && l != nil {
		return l
	}
	return Default().English()
}
