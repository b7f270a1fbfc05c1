package inventory

import (
	"reflect"
	"regexp"
	"slices"
	"strings"
)

// Redacted replaces a secret in a report.
const Redacted = "[redacted]"

// minSecret is the shortest secret value that is scrubbed (shorter values
// would redact ordinary words).
const minSecret = 4

var (
	// userinfoRE matches the user information of a URL: scheme://user:pass@
	userinfoRE = regexp.MustCompile(`([A-Za-z][A-Za-z0-9+.\-]*://)[^/?#@\s]+@`)
	// credentialRE matches "password=…", "token: …" and the like.
	credentialRE = regexp.MustCompile(`(?i)\b(password|passwd|pwd|secret|client_secret|token|access_token|refresh_token|id_token|api[_-]?key|authorization)(\s*[=:]\s*)("[^"]*"|'[^']*'|[^\s,;&"']+)`)
	// bearerRE matches an HTTP authorization value: "Bearer …", "Basic …".
	bearerRE = regexp.MustCompile(`(?i)\b(bearer|basic)(\s+)([A-Za-z0-9._~+/\-]{6,}=*)`)
)

// ScrubText removes secrets from free text: the values in secrets, URL user
// information and credential-looking assignments ("password=…", "Bearer …").
func ScrubText(s string, secrets []string) string {
	if s == "" {
		return s
	}
	for _, sec := range secrets {
		if len(sec) >= minSecret {
			s = strings.ReplaceAll(s, sec, Redacted)
		}
	}
	s = userinfoRE.ReplaceAllString(s, "${1}"+Redacted+"@")
	for _, re := range []*regexp.Regexp{bearerRE, credentialRE} {
		s = re.ReplaceAllStringFunc(s, func(m string) string {
			sub := re.FindStringSubmatch(m)
			if strings.Trim(sub[3], `"'`) == Redacted {
				return m
			}
			return sub[1] + sub[2] + Redacted
		})
	}
	return s
}

// Scrub removes secrets from every string of the report, in place (see
// ScrubText). Collect calls it; the agent may call it again on a report it
// changed.
func Scrub(r *Report, secrets []string) {
	if r == nil {
		return
	}
	secrets = slices.Clone(secrets)
	// Longest first, so a secret that contains another is removed whole.
	slices.SortFunc(secrets, func(a, b string) int { return len(b) - len(a) })
	scrubValue(reflect.ValueOf(r).Elem(), secrets)
}

func scrubValue(v reflect.Value, secrets []string) {
	switch v.Kind() {
	case reflect.String:
		if v.CanSet() {
			if s := ScrubText(v.String(), secrets); s != v.String() {
				v.SetString(s)
			}
		}
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			scrubValue(v.Elem(), secrets)
		}
	case reflect.Struct:
		if v.Type().PkgPath() == "time" {
			return
		}
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				scrubValue(v.Field(i), secrets)
			}
		}
	case reflect.Slice, reflect.Array:
		for i := range v.Len() {
			scrubValue(v.Index(i), secrets)
		}
	}
}
