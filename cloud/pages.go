package cloud

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"time"

	"github.com/cloudlink/cld/cloud/store"
)

//go:embed templates/*.html
var templateFS embed.FS

// pages holds one parsed template set per page.
type pages struct {
	byName map[string]*template.Template
}

func loadPages() (*pages, error) {
	funcs := template.FuncMap{
		"fmtTime":  formatTime,
		"reason":   revokeReason,
		"fmtDate":  fmtDate,
		"fmtMS":    fmtMS,
		"fmtShort": func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") },
		"pathEsc":  url.PathEscape,
	}
	base, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html")
	if err != nil {
		return nil, fmt.Errorf("parse page layout: %w", err)
	}
	p := &pages{byName: map[string]*template.Template{}}
	for _, name := range []string{"signin.html", "error.html", "systems.html", "remove.html", "edge.html", "system.html"} {
		t, err := template.Must(base.Clone()).ParseFS(templateFS, "templates/"+name)
		if err != nil {
			return nil, fmt.Errorf("parse page %s: %w", name, err)
		}
		p.byName[name] = t
	}
	return p, nil
}

type hiddenField struct{ Name, Value string }

// signInForm is the sign-in form of the OAuth authorize page and the portal.
type signInForm struct {
	Action       string
	Hidden       []hiddenField
	Step         string // "credentials", "account" or "confirm"
	Email        string
	Pending      string // id of the pending sign-in (account step)
	AccountValue string
	Accounts     []store.Membership
	Cancel       bool   // offer Cancel (OAuth: back to the client with access_denied)
	StartOver    string // URL to sign in again (account step)
	// Dashboard, AccountName and AccountID are what the confirm step
	// names: where the code would go, and for which account.
	Dashboard   string
	AccountName string
	AccountID   int64
}

// portalNav is the header of portal pages.
type portalNav struct {
	Email       string
	Account     store.Account
	IsAdmin     bool
	Memberships []store.Membership
}

// pageData is what every page template gets.
type pageData struct {
	Title   string
	Heading string
	Lead    string
	Error   string
	Notice  string
	Narrow  bool
	Wide    bool // wide tables (the systems page)
	Nav     *portalNav
	Form    *signInForm
	Systems []store.System
	Rows    []systemRow // the systems page
	System  *store.System
	Detail  *systemPage // the system page
}

// systemRow is a system on the systems page with its tunnel session and
// tunnels.
type systemRow struct {
	store.System
	Connected bool // its tunnel session is up
	Tunnels   []tunnelRow
	Report    *store.Report // the latest inventory report (without JSON); nil: none yet
}

// Host is the host name the latest report gives, else the one the system
// linked with.
func (r systemRow) Host() string {
	if r.Report != nil && r.Report.Hostname != "" {
		return r.Report.Hostname
	}
	return r.Hostname
}

// TunnelsStarted counts the started tunnels.
func (r systemRow) TunnelsStarted() int {
	n := 0
	for _, t := range r.Tunnels {
		if t.Status == "started" {
			n++
		}
	}
	return n
}

// tunnelRow is one tunnel on the systems page.
type tunnelRow struct {
	store.Tunnel
	PublicURL string // empty without a public listener or for a removed system
}

// render writes a page; the template runs into a buffer first, so that a
// template error gives a clean 500.
func (s *Server) render(w http.ResponseWriter, status int, name string, d pageData) {
	t, ok := s.pages.byName[name]
	var buf bytes.Buffer
	if !ok {
		s.log.Error("unknown page template", "name", name)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	if err := t.ExecuteTemplate(&buf, "layout", d); err != nil {
		s.log.Error("render page failed", "page", name, "err", err)
		http.Error(w, "The page could not be shown. See the cloud's log.", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// errorPage shows a message page.
func (s *Server) errorPage(w http.ResponseWriter, r *http.Request, status int, heading, msg string) {
	s.render(w, status, "error.html", pageData{Title: heading, Heading: heading, Error: msg, Narrow: true})
}
