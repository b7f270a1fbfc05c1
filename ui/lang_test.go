package ui

import (
	"html"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/cloudlink/cld/agent/api"
	"github.com/cloudlink/cld/ui/i18n"
)

// expectIn fails for each wanted text a page lacks.
func expectIn(t *testing.T, what, body string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(body, w) {
			t.Errorf("%s lacks %q", what, w)
		}
	}
}

func TestLanguageFromAcceptLanguage(t *testing.T) {
	_, h := newTestDashboard(t, Config{})
	b := newBrowser(t, h)
	b.header.Set("Accept-Language", "de-CH, de;q=0.9, en;q=0.5")
	login := b.get("/login")
	expectIn(t, "the sign-in page", login.body, `<html lang="de">`, "Anmelden", "Benutzername", "Passwort", "<title>Anmelden · CloudLink Daemon</title>")
	b.signIn("")
	page := b.get("/")
	expectIn(t, "the dashboard", page.body, `<html lang="de">`, "Zur Debug-Ansicht wechseln", ">Info<", "Mit CloudLink verknüpfen",
		`<option value="de" lang="de" selected>Deutsch</option>`)
	if strings.Contains(page.body, "Switch to debug view") {
		t.Error("the German dashboard shows English")
	}
	if v := page.Header.Get("Vary"); !strings.Contains(v, "Accept-Language") {
		t.Errorf("Vary = %q", v)
	}
}

// ?lang= (the footer's form) wins and is remembered in a cookie under the
// dashboard's prefix; an unknown one changes nothing.
func TestLanguageChosenInThePage(t *testing.T) {
	_, h := newTestDashboard(t, Config{BasePath: "/cld"})
	b := newBrowser(t, h)
	b.header.Set("Accept-Language", "de")
	b.signIn("/cld")
	page := b.get("/cld/?lang=fr")
	expectIn(t, "the page after ?lang=fr", page.body, `<html lang="fr">`, "Passer à la vue de débogage",
		`<form method="get" action="/cld/" class="inline" id="language-form">`, `<select id="language-select" name="lang">`)
	var c *http.Cookie
	for _, k := range page.Cookies() {
		if k.Name == langCookie {
			c = k
		}
	}
	if c == nil || c.Value != "fr" || c.Path != "/cld" || !c.HttpOnly || c.MaxAge <= 0 {
		t.Fatalf("language cookie = %+v", c)
	}
	// Remembered without the parameter, over the browser's language.
	expectIn(t, "the next page", b.get("/cld/").body, `<html lang="fr">`, "Passer à la vue de débogage")
	expectIn(t, "the checks page", b.get("/cld/checks").body, "Vérifications des prérequis",
		`action="/cld/checks" class="inline" id="language-form"`)
	// An unknown language is ignored: the cookie's stays.
	expectIn(t, "?lang=xx", b.get("/cld/?lang=xx").body, `<html lang="fr">`)
	if b.cookies[langCookie].Value != "fr" {
		t.Errorf("cookie after ?lang=xx = %q", b.cookies[langCookie].Value)
	}
	// A region is matched to the shipped language.
	expectIn(t, "?lang=sv-FI", b.get("/cld/?lang=sv-FI").body, `<html lang="sv">`, "Byt till felsökningsvy")
	if b.cookies[langCookie].Value != "sv" {
		t.Errorf("cookie after ?lang=sv-FI = %q", b.cookies[langCookie].Value)
	}
	// A POST's page returns to the main page.
	res := b.do("POST", "/cld/logout", url.Values{"csrf": {"wrong"}})
	expectIn(t, "a refused POST", res.body, `action="/cld/" class="inline" id="language-form"`, "Förfrågan avvisades")
}

// The host management UI's language comes before the browser's; a choice
// in the page before both.
func TestLanguageFromPlatform(t *testing.T) {
	f, h := newTestDashboard(t, Config{})
	f.set(func(st *api.Status) {
		st.Platform = &api.Platform{Type: "msl", Name: "MSL", Version: "11.0", Language: "de-DE"}
	})
	b := newBrowser(t, h)
	b.header.Set("Accept-Language", "fr-FR, fr;q=0.9")
	b.signIn("")
	expectIn(t, "the dashboard on a German host", b.get("/").body, `<html lang="de">`, "Zur Debug-Ansicht wechseln")
	expectIn(t, "?lang=it", b.get("/?lang=it").body, `<html lang="it">`, "Passa alla vista di debug")
	expectIn(t, "after choosing Italian", b.get("/").body, `<html lang="it">`)
}

func TestLanguageFallback(t *testing.T) {
	f, h := newTestDashboard(t, Config{})
	f.set(func(st *api.Status) { st.Platform = &api.Platform{Type: "generic", Language: "ja-JP"} })
	b := newBrowser(t, h)
	b.header.Set("Accept-Language", "zh-CN, ja;q=0.8")
	b.signIn("")
	page := b.get("/")
	expectIn(t, "the dashboard", page.body, `<html lang="en">`, "Switch to debug view", `<option value="en" lang="en" selected>English</option>`)
	// No Accept-Language at all: English.
	b.header.Del("Accept-Language")
	expectIn(t, "without Accept-Language", b.get("/").body, `<html lang="en">`)
}

// Messages are shown in the page's language: the ui's own (tunnels) and
// those handed over in English (the unlink), but a daemon's text that is
// no catalog message stays as it comes.
func TestLanguageOfMessages(t *testing.T) {
	f, h := newTestDashboard(t, Config{})
	f.set(linkedWithTunnels)
	f.set(func(st *api.Status) {
		st.Warnings = []api.Warning{{Code: "x", Severity: api.SeverityWarning, Title: "Clock drift", Text: "The system time is incorrect."}}
	})
	b := newBrowser(t, h)
	b.header.Set("Accept-Language", "nl")
	b.signIn("")
	page := b.get("/")
	expectIn(t, "the Dutch dashboard", page.body, "<strong>Waarschuwing:</strong>", "The system time is incorrect.", ">Klokafwijking<")
	id := f.status.Tunnels[0].ID
	b.do("POST", "/tunnels/"+id+"/stop", url.Values{"csrf": {csrfOf(t, page.body)}})
	expectIn(t, "after a stop", b.get("/").body, "De tunnel ‘")
	b.do("POST", "/unlink", url.Values{"csrf": {csrfOf(t, page.body)}})
	expectIn(t, "after the unlink", b.get("/").body, "Losgekoppeld van CloudLink. De tunnels zijn gestopt")
	nf := b.get("/nope")
	expectIn(t, "the 404 page", nf.body, "<title>Pagina niet gevonden · CloudLink Daemon</title>", "Op dit adres staat geen dashboardpagina.", "HTTP-status 404")
}

// A German dashboard shows a warning the daemon raised in English (from
// its declared clock-drift warning) in German: its title, its text with the
// measured drift filled in and its remedy with the drift and the time of
// the measurement; an error's own message given as a text stays as it is.
func TestWarningsInPageLanguage(t *testing.T) {
	f, h := newTestDashboard(t, Config{})
	f.set(linkedWithTunnels)
	since := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	f.set(func(st *api.Status) {
		st.Warnings = []api.Warning{
			{Code: "clock_drift", Severity: api.SeverityError, Title: "System time incorrect",
				Text:   "The system time is incorrect. This can cause connection problems. Clock drift detected: 44s",
				Remedy: "This host's clock is 44s behind CloudLink's time (measured 2026-03-04T05:06:07Z). Run `timedatectl status` on this host: if \"System clock synchronized\" says no, configure a valid and reachable NTP server (in a network without internet access, a local NTP service) and check that it answers (e.g. `ntpq -p` on it). Tunnels do not start while the drift exceeds 60s; they start by themselves once it is corrected.",
				Since:  &since},
			{Code: "platform_problem", Severity: api.SeverityWarning, Title: "Host platform not recognized",
				Text:   "no adapter detects this host under /",
				Remedy: "The daemon links and reports, but offers none of the host's tunnels. Run `cld doctor`; set platform: in /etc/cld/cld.yaml (a type, or type: generic with the tunnels) and `systemctl restart cld`."},
		}
	})
	b := newBrowser(t, h)
	b.header.Set("Accept-Language", "de")
	b.signIn("")
	page := b.get("/")
	expectIn(t, "the German dashboard", page.body,
		`id="warning-clock_drift"`, "<strong>Fehler:</strong>",
		`<span class="warning-title">Systemzeit falsch</span>`,
		`<p class="warning-text">Die Systemzeit ist falsch. Das kann Verbindungsprobleme verursachen. Festgestellte Uhrabweichung: 44s</p>`,
		html.EscapeString("Die Uhr dieses Hosts geht gegenüber der Zeit von CloudLink 44s nach (gemessen 2026-03-04T05:06:07Z). Führen Sie auf diesem Host `timedatectl status` aus: Zeigt \"System clock synchronized\" no, konfigurieren Sie einen gültigen und erreichbaren NTP-Server (in einem Netz ohne Internetzugang einen lokalen NTP-Dienst) und prüfen Sie, ob er antwortet (z. B. mit `ntpq -p` auf dem Server). Tunnel starten nicht, solange die Abweichung 60s übersteigt; sie starten von selbst, sobald sie korrigiert ist.")+"</p>",
		`<span class="warning-title">Host-Plattform nicht erkannt</span>`,
		`<p class="warning-text">no adapter detects this host under /</p>`,
		"Der Daemon verknüpft sich und sendet Berichte, bietet aber keinen der Tunnel des Hosts an.")
	for _, en := range []string{"System time incorrect", "Clock drift detected", "behind CloudLink", "Host platform not recognized"} {
		if strings.Contains(page.body, en) {
			t.Errorf("the German dashboard shows %q", en)
		}
	}
}

// The plain-text answers are in the request's language too: a static
// file's refused method (its request carries no locale of its own).
func TestPlainTextInPageLanguage(t *testing.T) {
	_, h := newTestDashboard(t, Config{})
	b := newBrowser(t, h)
	b.header.Set("Accept-Language", "de")
	if r := b.do("POST", "/static/style.css", url.Values{}); r.StatusCode != http.StatusMethodNotAllowed || strings.TrimSpace(r.body) != "Methode nicht erlaubt." {
		t.Errorf("POST of a static file in German: %d %q", r.StatusCode, r.body)
	}
	b.cookies[langCookie] = &http.Cookie{Name: langCookie, Value: "sv"}
	if r := b.do("POST", "/static/style.css", url.Values{}); strings.TrimSpace(r.body) != "Metoden är inte tillåten." {
		t.Errorf("POST of a static file with the Swedish cookie: %d %q", r.StatusCode, r.body)
	}
}

// Every language renders every page and state of the dashboard without a
// missing message, with its own texts and times.
func TestEveryLanguageRendersDashboard(t *testing.T) {
	linked := func(st *api.Status) {
		linkedWithUpdate(st)
		withGateway(st)
		st.Gateway.Instances = []string{"default", "restored"}
		st.Gateway.Manager = ""
		at := time.Date(2024, 9, 18, 1, 19, 0, 0, time.UTC)
		st.LinkedAt = &at
		st.Warnings = []api.Warning{{Code: "w", Severity: api.SeverityError, Text: "broken", Remedy: "fix it", Since: &at}}
		st.Clock = api.Clock{MeasuredAt: &at, DriftSeconds: 0.2, Source: "https://cloud", NTPServer: "ntp.example"}
		st.Inventory.Last, st.Inventory.Pending, st.Inventory.LastError = &at, true, "no route"
		st.PendingRevocation = true
		st.Update.Available = &api.UpdateRelease{Version: "0.3.0", Size: 12 << 20, Skipped: true, Commit: "abc", Notes: "notes"}
		st.Tunnels = append(st.Tunnels, api.Tunnel{ID: "t-err", Component: "C", Name: "N", Enabled: true, Status: api.TunnelError, Reason: "why"},
			api.Tunnel{ID: "t-start", Name: "S", Enabled: true, Status: api.TunnelStarting})
	}
	for _, l := range i18n.Default().Locales() {
		t.Run(l.Code(), func(t *testing.T) {
			f, h := newTestDashboard(t, Config{BasePath: "/cld"})
			f.set(func(st *api.Status) {
				withGateway(st)
				st.State, st.Reason = api.StateLinkError, "the daemon's reason"
				st.Platform = &api.Platform{Problem: "no platform"}
			})
			f.doctor = api.Doctor{Checks: []api.Check{{ID: "a", Status: api.CheckPass}, {ID: "b", Status: api.CheckFail}, {ID: "c", Status: api.CheckWarn}, {ID: "d", Status: api.CheckSkip}}}
			b := newBrowser(t, h)
			b.header.Set("Accept-Language", l.Code())
			pages := map[string]string{"sign-in": b.get("/cld/login").body}
			b.signIn("/cld")
			pages["unlinked"] = b.get("/cld/").body
			f.set(func(st *api.Status) { st.State = api.StateLinking; st.Reason = "" })
			pages["linking"] = b.get("/cld/").body
			f.set(linked)
			pages["linked standard"] = b.get("/cld/?view=standard").body
			pages["linked debug"] = b.get("/cld/?view=debug").body
			for _, p := range []string{"/checks", "/terms", "/licenses", "/unlink", "/nope", "/update/live", "/gateway/live"} {
				pages[p] = b.get("/cld" + p).body
			}
			f.set(func(st *api.Status) {
				st.Update.State, st.Update.Progress = api.UpdateStateDownloading, &api.UpdateProgress{Done: 3 << 20, Total: 12 << 20}
			})
			pages["updating"] = b.get("/cld/").body
			for name, body := range pages {
				if i := strings.Index(body, i18n.MissingPrefix); i >= 0 {
					t.Errorf("%s: a missing message: %s", name, body[i:min(len(body), i+120)])
				}
				if !strings.HasSuffix(name, "/live") && !strings.Contains(body, `<html lang="`+l.Code()+`">`) {
					t.Errorf("%s: no <html lang=%q>", name, l.Code())
				}
			}
			tr := func(msgid string) string { return html.EscapeString(l.T(msgid)) }
			expectIn(t, "the debug view", pages["linked debug"], tr("Switch to standard view"), tr("CloudLink Daemon Update"),
				tr("CloudLink Gateway Integration"), tr("Tunnels"), l.Time(time.Date(2024, 9, 18, 1, 19, 0, 0, time.UTC), time.FixedZone("BST", 3600)))
			expectIn(t, "the unlinked view", pages["unlinked"], tr("Link to CloudLink"), tr("Linking failed:"), "the daemon&#39;s reason")
			expectIn(t, "the standard view", pages["linked standard"], tr("Switch to debug view"))
		})
	}
}
