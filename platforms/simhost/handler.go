package simhost

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"
)

// maxSessions bounds each UI's in-memory sessions.
const maxSessions = 1000

// sessionLife is how long a sign-in lasts.
const sessionLife = 8 * time.Hour

// handler serves one simulated UI.
type handler struct {
	ui         UI
	user, pass string
	cookie     string
	log        *slog.Logger
	started    time.Time
	hijacked   *tracker

	mu       sync.Mutex
	sessions map[string]time.Time // token → expiry
}

// NewHandler returns the handler of one simulated UI with the given demo
// credentials, for serving it yourself (e.g. with httptest). Its WebSocket
// connections end with their requests' contexts.
func NewHandler(ui UI, username, password string) http.Handler {
	return newHandler(ui, username, password, slog.New(slog.DiscardHandler), &tracker{})
}

func newHandler(ui UI, user, pass string, log *slog.Logger, t *tracker) *handler {
	return &handler{
		ui: ui, user: user, pass: pass, cookie: "simhost-" + ui.ID, log: log,
		started: time.Now(), hijacked: t, sessions: map[string]time.Time{},
	}
}

// tracker counts WebSocket handlers, which outlive http.Server.Shutdown, so
// that Host.Close can wait for them.
type tracker struct {
	mu     sync.Mutex
	closed bool
	wg     sync.WaitGroup
}

func (t *tracker) add() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return false
	}
	t.wg.Add(1)
	return true
}

func (t *tracker) done() { t.wg.Done() }

func (t *tracker) closeAndWait() {
	t.mu.Lock()
	t.closed = true
	t.mu.Unlock()
	t.wg.Wait()
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("X-Frame-Options", "SAMEORIGIN")
	method := r.Method
	if method == http.MethodHead {
		method = http.MethodGet
	}
	type route struct {
		public  bool
		methods map[string]http.HandlerFunc
	}
	var rt route
	if h.ui.SessionAPI != "" && r.URL.Path == h.ui.SessionAPI {
		h.sessionAPI(w, r)
		return
	}
	switch r.URL.Path {
	case "/health":
		rt = route{true, map[string]http.HandlerFunc{"GET": h.health}}
	case "/favicon.ico":
		rt = route{true, map[string]http.HandlerFunc{"GET": func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) }}}
	case "/login":
		rt = route{true, map[string]http.HandlerFunc{"GET": h.loginForm, "POST": h.login}}
	case "/logout":
		rt = route{false, map[string]http.HandlerFunc{"POST": h.logout}}
	case "/":
		rt = route{false, map[string]http.HandlerFunc{"GET": h.home}}
	case "/status":
		rt = route{false, map[string]http.HandlerFunc{"GET": h.status}}
	case "/console":
		rt = route{false, map[string]http.HandlerFunc{"GET": h.console}}
	case "/ws":
		rt = route{false, map[string]http.HandlerFunc{"GET": h.ws}}
	case "/download":
		rt = route{false, map[string]http.HandlerFunc{"GET": h.download}}
	default:
		h.errorPage(w, r, http.StatusNotFound, "Page not found", "There is no page at "+r.URL.Path+" on this "+h.ui.Title+".")
		return
	}
	if !rt.public && !h.signedIn(r) {
		if r.URL.Path == "/ws" || method != http.MethodGet {
			h.errorPage(w, r, http.StatusUnauthorized, "Sign-in required", "Sign in to "+h.ui.Title+" first.")
			return
		}
		// A relative redirect, as most UIs send.
		http.Redirect(w, r, "/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
		return
	}
	fn, ok := rt.methods[method]
	if !ok {
		allowed := make([]string, 0, len(rt.methods))
		for m := range rt.methods {
			allowed = append(allowed, m)
		}
		w.Header().Set("Allow", strings.Join(allowed, ", "))
		h.errorPage(w, r, http.StatusMethodNotAllowed, "Method not allowed", r.Method+" is not allowed on "+r.URL.Path+".")
		return
	}
	fn(w, r)
}

func (h *handler) health(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(map[string]string{"status": "ok", "ui": h.ui.ID, "title": h.ui.Title})
}

// signedIn reports whether the request carries a live session cookie.
func (h *handler) signedIn(r *http.Request) bool {
	c, err := r.Cookie(h.cookie)
	if err != nil || c.Value == "" {
		return false
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	exp, ok := h.sessions[c.Value]
	if ok && time.Now().After(exp) {
		delete(h.sessions, c.Value)
		return false
	}
	return ok
}

func (h *handler) newSession() string {
	tok := rand.Text()
	now := time.Now()
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.sessions) >= maxSessions {
		var oldest string
		var oldestExp time.Time
		for k, exp := range h.sessions {
			if now.After(exp) {
				delete(h.sessions, k)
				continue
			}
			if oldest == "" || exp.Before(oldestExp) {
				oldest, oldestExp = k, exp
			}
		}
		if len(h.sessions) >= maxSessions {
			delete(h.sessions, oldest)
		}
	}
	h.sessions[tok] = now.Add(sessionLife)
	return tok
}

// safeNext returns the local path to go to after signing in.
func safeNext(next string) string {
	if next == "" || !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") || strings.ContainsAny(next, "\r\n") {
		return "/"
	}
	return next
}

// validHost accepts a host[:port] made of the characters of DNS names and
// IP addresses.
func validHost(host string) bool {
	if host == "" || len(host) > 255 {
		return false
	}
	for _, c := range host {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("-.:[]_", c)) {
			return false
		}
	}
	return true
}

func (h *handler) loginForm(w http.ResponseWriter, r *http.Request) {
	next := safeNext(r.URL.Query().Get("next"))
	if h.signedIn(r) {
		http.Redirect(w, r, next, http.StatusSeeOther)
		return
	}
	h.render(w, r, http.StatusOK, "login", pageData{Title: "Sign in", Next: next})
}

func (h *handler) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		h.errorPage(w, r, http.StatusBadRequest, "Bad request", "The sign-in form could not be read.")
		return
	}
	next := safeNext(r.PostFormValue("next"))
	user, pass := r.PostFormValue("username"), r.PostFormValue("password")
	if user == "" || pass == "" {
		h.render(w, r, http.StatusBadRequest, "login", pageData{Title: "Sign in", Next: next, Error: "Enter the user name and the password.", Username: user})
		return
	}
	okUser := subtle.ConstantTimeCompare([]byte(user), []byte(h.user))
	okPass := subtle.ConstantTimeCompare([]byte(pass), []byte(h.pass))
	if okUser&okPass != 1 {
		h.log.Info("sign-in refused", "user", user, "remote", r.RemoteAddr)
		h.render(w, r, http.StatusUnauthorized, "login", pageData{Title: "Sign in", Next: next, Error: "The user name or password is incorrect.", Username: user})
		return
	}
	http.SetCookie(w, &http.Cookie{
		Name: h.cookie, Value: h.newSession(), Path: "/",
		HttpOnly: true, Secure: true, SameSite: http.SameSiteLaxMode,
	})
	h.log.Info("signed in", "user", user, "remote", r.RemoteAddr, "host", r.Host)
	// An absolute redirect built from the Host the browser used, as many
	// appliance UIs do: a tunnel must keep the Host (or rewrite Location).
	target := next
	if validHost(r.Host) {
		target = "https://" + r.Host + next
	}
	http.Redirect(w, r, target, http.StatusSeeOther)
}

func (h *handler) logout(w http.ResponseWriter, r *http.Request) {
	if c, err := r.Cookie(h.cookie); err == nil {
		h.mu.Lock()
		delete(h.sessions, c.Value)
		h.mu.Unlock()
	}
	http.SetCookie(w, &http.Cookie{Name: h.cookie, Path: "/", MaxAge: -1, HttpOnly: true, Secure: true, SameSite: http.SameSiteLaxMode})
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

func (h *handler) home(w http.ResponseWriter, r *http.Request) {
	h.render(w, r, http.StatusOK, "home", pageData{Title: "Overview", SignedIn: true})
}

func (h *handler) status(w http.ResponseWriter, r *http.Request) {
	h.render(w, r, http.StatusOK, "status", pageData{
		Title: "System information", SignedIn: true,
		Uptime:    time.Since(h.started).Round(time.Second).String(),
		Requested: r.Host,
	})
}

func (h *handler) console(w http.ResponseWriter, r *http.Request) {
	h.render(w, r, http.StatusOK, "console", pageData{Title: "Console", SignedIn: true})
}

// ws echoes every WebSocket message back. The browser's Origin must be the
// host it addressed (the library's default check).
func (h *handler) ws(w http.ResponseWriter, r *http.Request) {
	if !h.hijacked.add() {
		http.Error(w, "shutting down", http.StatusServiceUnavailable)
		return
	}
	defer h.hijacked.done()
	c, err := websocket.Accept(w, r, nil)
	if err != nil {
		h.log.Info("WebSocket refused", "err", err, "origin", r.Header.Get("Origin"), "host", r.Host)
		return
	}
	defer c.CloseNow()
	c.SetReadLimit(1 << 20)
	ctx := r.Context()
	for {
		typ, data, err := c.Read(ctx)
		if err != nil {
			if websocket.CloseStatus(err) == websocket.StatusNormalClosure || websocket.CloseStatus(err) == websocket.StatusGoingAway {
				_ = c.Close(websocket.StatusNormalClosure, "")
			}
			return
		}
		if err := c.Write(ctx, typ, data); err != nil {
			return
		}
	}
}

// download streams size pseudo-random bytes (NewDownloadReader).
func (h *handler) download(w http.ResponseWriter, r *http.Request) {
	raw := r.URL.Query().Get("size")
	if raw == "" {
		raw = "1048576"
	}
	n, err := strconv.ParseInt(raw, 10, 64)
	if err != nil || n < 0 || n > MaxDownloadSize {
		h.errorPage(w, r, http.StatusBadRequest, "Bad request",
			fmt.Sprintf("size must be a number of bytes from 0 to %d, not %q.", MaxDownloadSize, raw))
		return
	}
	hd := w.Header()
	hd.Set("Content-Type", "application/octet-stream")
	hd.Set("Content-Disposition", fmt.Sprintf(`attachment; filename="download-%d.bin"`, n))
	hd.Set("Content-Length", strconv.FormatInt(n, 10))
	hd.Set("Cache-Control", "no-store")
	if r.Method == http.MethodHead {
		return
	}
	buf := make([]byte, 256<<10)
	_, _ = io.CopyBuffer(onlyWriter{w}, NewDownloadReader(n), buf)
}

// onlyWriter hides the ResponseWriter's ReadFrom so that CopyBuffer uses
// the large buffer.
type onlyWriter struct{ io.Writer }

// pageData is what the page templates use.
type pageData struct {
	UI        UI
	Title     string
	SignedIn  bool
	User      string
	Next      string
	Error     string
	Username  string
	Uptime    string
	Requested string
	Message   string
	Status    int
}

func (h *handler) render(w http.ResponseWriter, r *http.Request, status int, name string, d pageData) {
	d.UI, d.User, d.Status = h.ui, h.user, status
	var b strings.Builder
	if err := pages.ExecuteTemplate(&b, name, d); err != nil {
		h.log.Error("rendering a page", "page", name, "err", err)
		http.Error(w, "The page could not be rendered.", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		_, _ = io.WriteString(w, b.String())
	}
}

func (h *handler) errorPage(w http.ResponseWriter, r *http.Request, status int, title, msg string) {
	h.render(w, r, status, "error", pageData{Title: title, Message: msg, SignedIn: h.signedIn(r)})
}

// accent is the header colour of a UI, so that they look apart.
func accent(id string) string {
	switch id {
	case "mbg":
		return "#1f6b3a"
	case "server-manager", "msl-rest":
		return "#24436b"
	case "mivb", "mivb-rest":
		return "#6b2452"
	case "smbc-cm":
		return "#2f5d73"
	case "mxone-snm", "mxone-pm":
		return "#0b5563"
	case "osv-assistant", "osv-soap":
		return "#6b4b24"
	default:
		return "#4b4f56"
	}
}

// version is the software version a UI's overview shows.
func version(u UI) string {
	if u.Version != "" {
		return u.Version
	}
	return "12.0.1.23"
}

var pages = template.Must(template.New("pages").Funcs(template.FuncMap{"accent": accent, "version": version}).Parse(`
{{define "top"}}<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}} · {{.UI.Title}}</title>
<style>
body { margin: 0; font: 14px/1.45 system-ui, sans-serif; color: #1d2329; }
header { background: {{accent .UI.ID}}; color: #fff; padding: 0.6rem 1.25rem; display: flex; gap: 1rem; align-items: center; }
header .product { font-weight: 600; font-size: 1.1rem; }
header .spacer { flex: 1; }
header a, header button { color: #fff; }
header form { margin: 0; }
header button { background: none; border: 1px solid #fff; border-radius: 3px; padding: 0.2rem 0.6rem; font: inherit; cursor: pointer; }
nav ul { list-style: none; display: flex; gap: 1rem; padding: 0; margin: 0.5rem 0 1rem; }
main { padding: 0.5rem 1.25rem 2rem; max-width: 50rem; }
table { border-collapse: collapse; }
th, td { text-align: left; padding: 0.25rem 1rem 0.25rem 0; }
label { display: block; font-weight: 600; margin-top: 0.5rem; }
input { font: inherit; padding: 0.3rem; }
.error { background: #fbeaea; border: 1px solid #d48a86; padding: 0.5rem; }
output { font-family: monospace; }
</style>
</head>
<body>
<header>
<span class="product">{{.UI.Title}}</span>
<span class="spacer"></span>
{{if .SignedIn}}<span>Signed in as <strong>{{.User}}</strong></span>
<form method="post" action="/logout"><button type="submit">Sign out</button></form>{{end}}
</header>
<main>
{{if .SignedIn}}<nav aria-label="Main"><ul>
<li><a href="/">Overview</a></li>
<li><a href="/status">System information</a></li>
<li><a href="/console">Console</a></li>
<li><a href="/download?size=10485760">Download (10 MiB)</a></li>
</ul></nav>{{end}}
{{end}}

{{define "bottom"}}</main>
</body>
</html>
{{end}}

{{define "login"}}{{template "top" .}}
<h1>Sign in</h1>
{{if .Error}}<p class="error" role="alert">{{.Error}}</p>{{end}}
<form method="post" action="/login">
<input type="hidden" name="next" value="{{.Next}}">
<label for="username">User name</label>
<input id="username" name="username" type="text" autocomplete="username" required value="{{.Username}}">
<label for="password">Password</label>
<input id="password" name="password" type="password" autocomplete="current-password" required>
<p><button type="submit" id="login-button">Sign in</button></p>
</form>
<p>This is a simulated {{.UI.Product}} management interface for demonstrations and tests.</p>
{{template "bottom" .}}{{end}}

{{define "home"}}{{template "top" .}}
<h1 id="welcome">Welcome to {{.UI.Title}}</h1>
<p>You are signed in to the management interface of this simulated {{.UI.Product}} host.</p>
<table>
<tbody>
<tr><th scope="row">Product</th><td>{{.UI.Product}}</td></tr>
<tr><th scope="row">Host name</th><td>pbx-demo.example</td></tr>
<tr><th scope="row">Software version</th><td>{{version .UI}}</td></tr>
</tbody>
</table>
{{template "bottom" .}}{{end}}

{{define "status"}}{{template "top" .}}
<h1>System information</h1>
<table>
<tbody>
<tr><th scope="row">Status</th><td id="service-status">running</td></tr>
<tr><th scope="row">Uptime</th><td>{{.Uptime}}</td></tr>
<tr><th scope="row">Addressed as</th><td id="requested-host">{{.Requested}}</td></tr>
</tbody>
</table>
{{template "bottom" .}}{{end}}

{{define "console"}}{{template "top" .}}
<h1>Console</h1>
<p>The console talks to the host over a WebSocket: each message comes back as its echo.</p>
<noscript><p class="error">The console needs JavaScript.</p></noscript>
<p>Connection: <output id="ws-state">connecting</output></p>
<form id="ws-form">
<label for="ws-message">Message</label>
<input id="ws-message" name="message" type="text" value="hello through the tunnel">
<button type="submit">Send</button>
</form>
<p>Echo: <output id="ws-echo" aria-live="polite"></output></p>
<script>
(function () {
	var state = document.getElementById("ws-state");
	var echo = document.getElementById("ws-echo");
	var input = document.getElementById("ws-message");
	var ws = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws");
	ws.onopen = function () { state.textContent = "open"; ws.send(input.value); };
	ws.onmessage = function (e) { echo.textContent = e.data; };
	ws.onerror = function () { state.textContent = "error"; };
	ws.onclose = function () { if (state.textContent !== "error") { state.textContent = "closed"; } };
	document.getElementById("ws-form").addEventListener("submit", function (ev) {
		ev.preventDefault();
		ws.send(input.value);
	});
})();
</script>
{{template "bottom" .}}{{end}}

{{define "error"}}{{template "top" .}}
<h1>{{.Title}}</h1>
<p class="error" role="alert">{{.Message}}</p>
<p>HTTP status {{.Status}}. <a href="/">Back to the overview</a></p>
{{template "bottom" .}}{{end}}
`))

// sessionAPI is the host's own session check (MX-ONE SNM's
// /mxone_snm/api/session), which cld's dashboard asks in its session
// mode: the signed-in demo user with the administrator role, or 401.
func (h *handler) sessionAPI(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", "GET")
		http.Error(w, "GET only", http.StatusMethodNotAllowed)
		return
	}
	if !h.signedIn(r) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = w.Write([]byte(`{"error":"not signed in"}` + "\n"))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"user": h.user, "roles": []string{SessionAdminRole}})
}
