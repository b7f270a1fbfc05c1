package ui

import (
	"context"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/a-h/templ"

	"github.com/cloudlink/cld/ui/i18n"
)

// langCookie remembers the language chosen in the page (?lang=).
const langCookie = "cld_lang"

// hostLanguageTTL is how long the host UI's language, read from the
// daemon's status, is reused before it is read again.
const hostLanguageTTL = 30 * time.Second

// withLanguage chooses the request's language and returns the request with
// it in its context (where templates and handlers find it): ?lang= (which
// the page's language choice sends; remembered in the cld_lang cookie),
// else that cookie, else the host management UI's language (the platform's
// fact in the daemon's status), else the browser's Accept-Language, else
// English. It is called where the request's reqCtx is built.
func (s *server) withLanguage(w http.ResponseWriter, r *http.Request, rc *reqCtx) *http.Request {
	p := stripPrefix(r.URL.Path, rc.prefix)
	if strings.HasPrefix(p, "/static/") {
		return r
	}
	cat := i18n.Default()
	l := (*i18n.Locale)(nil)
	if q := r.URL.Query().Get("lang"); q != "" {
		if m, ok := cat.Match(q); ok {
			l = m
			http.SetCookie(w, &http.Cookie{
				Name: langCookie, Value: l.Code(), Path: rc.cookiePath(), MaxAge: 365 * 24 * 3600,
				HttpOnly: true, Secure: rc.secure(), SameSite: http.SameSiteLaxMode,
			})
		}
	}
	if l == nil {
		if c, err := r.Cookie(langCookie); err == nil {
			l, _ = cat.Match(c.Value)
		}
	}
	if l == nil {
		l, _ = cat.Match(s.hostLanguage(r.Context()))
	}
	if l == nil {
		l = cat.Choose(r.Header.Get("Accept-Language"))
	}
	w.Header().Add("Vary", "Accept-Language, Cookie")
	ctx := i18n.NewContext(r.Context(), l)
	ret := "/"
	if (r.Method == http.MethodGet || r.Method == http.MethodHead) && s.routes[p].methods["GET"] != nil {
		ret = p
	}
	ctx = context.WithValue(ctx, langReturnKey{}, ret)
	return r.WithContext(ctx)
}

// langReturnKey is the context key of the dashboard path the language
// choice's form goes to: the page shown, when it is a GET page, else the
// main page.
type langReturnKey struct{}

func langReturn(ctx context.Context) string {
	if p, ok := ctx.Value(langReturnKey{}).(string); ok {
		return p
	}
	return "/"
}

// hostLanguage is the host management UI's language as the daemon's
// status reports it (api.Platform.Language, e.g. "de-DE"), read at most
// every hostLanguageTTL per dashboard; "" when there is none or the
// daemon cannot be asked.
func (s *server) hostLanguage(ctx context.Context) string {
	v, _ := hostLanguages.LoadOrStore(s, &hostLanguageCache{})
	h := v.(*hostLanguageCache)
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.at.IsZero() && time.Since(h.at) < hostLanguageTTL {
		return h.lang
	}
	h.lang, h.at = "", time.Now()
	func() {
		defer func() { _ = recover() }() // the dashboard's own call reports it
		ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		if st, err := s.client.Status(ctx); err == nil && st.Platform != nil {
			h.lang = st.Platform.Language
		} else if err != nil {
			h.at = time.Time{} // ask again on the next request
		}
	}()
	return h.lang
}

// hostLanguages caches each dashboard's host UI language.
var hostLanguages sync.Map // *server → *hostLanguageCache

type hostLanguageCache struct {
	mu   sync.Mutex
	lang string
	at   time.Time
}

// lc is the page's locale.
func lc(ctx context.Context) *i18n.Locale { return i18n.FromContext(ctx) }

// tr translates a catalog message for the page (see i18n.Locale.T).
func tr(ctx context.Context, msgid string, args ...any) string { return lc(ctx).T(msgid, args...) }

// trText translates a text made outside the catalog's calls (a page
// title, a message or an error page's sentence): a catalog message becomes
// its translation, anything else (e.g. the daemon's own messages) stays.
func trText(ctx context.Context, s string) string { return lc(ctx).Text(s) }

// trHTML translates a catalog message whose placeholders are markup: each
// value is a templ.Component (e.g. strong(name)) or a string (escaped).
func trHTML(ctx context.Context, msgid string, args ...any) templ.Component {
	return templ.ComponentFunc(func(ctx context.Context, w io.Writer) error {
		text := lc(ctx).T(msgid)
		vals := map[string]any{}
		for i := 0; i+1 < len(args); i += 2 {
			if k, ok := args[i].(string); ok {
				vals[k] = args[i+1]
			}
		}
		for text != "" {
			i := strings.Index(text, "{")
			j := strings.Index(text, "}")
			if i < 0 || j < i {
				break
			}
			if _, err := io.WriteString(w, templ.EscapeString(text[:i])); err != nil {
				return err
			}
			switch v := vals[text[i+1:j]].(type) {
			case templ.Component:
				if err := v.Render(ctx, w); err != nil {
					return err
				}
			case string:
				if _, err := io.WriteString(w, templ.EscapeString(v)); err != nil {
					return err
				}
			default:
				if _, err := io.WriteString(w, templ.EscapeString(text[i:j+1])); err != nil {
					return err
				}
			}
			text = text[j+1:]
		}
		_, err := io.WriteString(w, templ.EscapeString(text))
		return err
	})
}
