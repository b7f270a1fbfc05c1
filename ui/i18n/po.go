package i18n

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// entry is one message of a PO file: its msgid (the English text), the
// English plural (msgid_plural) and the translations (msgstr, or msgstr[0]
// and msgstr[1] for a plural).
type entry struct {
	Context  string // msgctxt, "" when none
	ID       string
	IDPlural string
	Str      []string
	Line     int // where the entry starts
}

// key is the entry's key in a catalog: the msgid, prefixed by msgctxt and
// "\x04" when it has one (as GNU gettext does).
func (e *entry) key() string {
	if e.Context == "" {
		return e.ID
	}
	return e.Context + "\x04" + e.ID
}

// parsePO reads a gettext PO file: comments, msgctxt, msgid, msgid_plural,
// msgstr and msgstr[N], each followed by a quoted string and optionally
// continued by quoted strings on the lines below. The header entry (the
// empty msgid) is returned as the first entry when present. A malformed
// file is an error naming the file and line.
func parsePO(name string, r io.Reader) ([]*entry, error) {
	var (
		entries []*entry
		cur     *entry
		target  *string // where continuation strings go
		last    string  // the keyword of target, for ordering checks
	)
	fail := func(line int, format string, args ...any) error {
		return fmt.Errorf("%s:%d: %s", name, line, fmt.Sprintf(format, args...))
	}
	finish := func() error {
		if cur == nil {
			return nil
		}
		if len(cur.Str) == 0 {
			return fail(cur.Line, "the entry for msgid %q has no msgstr", cur.ID)
		}
		if cur.IDPlural != "" && len(cur.Str) < 2 {
			return fail(cur.Line, "the plural entry for msgid %q needs msgstr[0] and msgstr[1]", cur.ID)
		}
		entries = append(entries, cur)
		cur, target, last = nil, nil, ""
		return nil
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if n == 1 {
			line = strings.TrimPrefix(line, "\ufeff")
		}
		switch {
		case line == "":
			if err := finish(); err != nil {
				return nil, err
			}
			continue
		case strings.HasPrefix(line, "#"):
			continue
		case strings.HasPrefix(line, `"`):
			if target == nil {
				return nil, fail(n, "a string continues nothing (it must follow msgid, msgstr or another string)")
			}
			s, err := unquote(line)
			if err != nil {
				return nil, fail(n, "%v", err)
			}
			*target += s
			continue
		}
		kw, rest, _ := strings.Cut(line, " ")
		rest = strings.TrimSpace(rest)
		if !strings.HasPrefix(rest, `"`) {
			return nil, fail(n, "%q must be followed by a quoted string", kw)
		}
		s, err := unquote(rest)
		if err != nil {
			return nil, fail(n, "%v", err)
		}
		switch {
		case kw == "msgctxt":
			if err := finish(); err != nil {
				return nil, err
			}
			cur = &entry{Line: n, Context: s}
			target, last = &cur.Context, kw
		case kw == "msgid":
			if cur != nil && last != "msgctxt" {
				if err := finish(); err != nil {
					return nil, err
				}
			}
			if cur == nil {
				cur = &entry{Line: n}
			}
			cur.ID = s
			target, last = &cur.ID, kw
		case kw == "msgid_plural":
			if cur == nil || last != "msgid" {
				return nil, fail(n, "msgid_plural must follow a msgid")
			}
			cur.IDPlural = s
			target, last = &cur.IDPlural, kw
		case kw == "msgstr":
			if cur != nil && cur.IDPlural != "" {
				return nil, fail(n, "the plural entry for msgid %q needs msgstr[0], msgstr[1], not msgstr", cur.ID)
			}
			if cur == nil || last != "msgid" {
				return nil, fail(n, "msgstr must follow a msgid")
			}
			cur.Str = []string{s}
			target, last = &cur.Str[0], kw
		case strings.HasPrefix(kw, "msgstr[") && strings.HasSuffix(kw, "]"):
			i, err := strconv.Atoi(kw[len("msgstr[") : len(kw)-1])
			if err != nil || i < 0 || i > 5 {
				return nil, fail(n, "%q is not a plural form index such as msgstr[0]", kw)
			}
			if cur == nil || cur.IDPlural == "" {
				return nil, fail(n, "%s belongs to an entry with msgid_plural", kw)
			}
			if i != len(cur.Str) {
				return nil, fail(n, "%s out of order: expected msgstr[%d]", kw, len(cur.Str))
			}
			cur.Str = append(cur.Str, s)
			target, last = &cur.Str[i], "msgstr[]"
		default:
			return nil, fail(n, "unknown keyword %q (want msgctxt, msgid, msgid_plural, msgstr or msgstr[N])", kw)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if err := finish(); err != nil {
		return nil, err
	}
	return entries, nil
}

// unquote reads one PO string: double quotes with C escapes (\n, \t, \",
// \\); nothing may follow the closing quote.
func unquote(s string) (string, error) {
	if len(s) < 2 || s[0] != '"' {
		return "", fmt.Errorf("%s: not a quoted string", s)
	}
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		c := s[i]
		switch c {
		case '"':
			if rest := strings.TrimSpace(s[i+1:]); rest != "" {
				return "", fmt.Errorf("unexpected %q after the closing quote", rest)
			}
			return b.String(), nil
		case '\\':
			i++
			if i >= len(s) {
				return "", fmt.Errorf("the string ends in a backslash")
			}
			switch s[i] {
			case 'n':
				b.WriteByte('\n')
			case 't':
				b.WriteByte('\t')
			case '"', '\\':
				b.WriteByte(s[i])
			default:
				return "", fmt.Errorf("unknown escape \\%c", s[i])
			}
		default:
			b.WriteByte(c)
		}
	}
	return "", fmt.Errorf("the string has no closing quote")
}
