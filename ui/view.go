package ui

import (
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/a-h/templ"

	"github.com/cloudlink/cld/agent/api"
	"github.com/cloudlink/cld/ui/i18n"
)

// TimeLayout is how the dashboard shows times, e.g.
// "Wed, 18 Sep 2024 02:19:00 BST +0100".
const TimeLayout = "Mon, 02 Jan 2006 15:04:05 MST -0700"

// FormatTime shows t in the dashboard's layout in loc (the host's time zone
// when nil), with English day and month names; the zero time is shown as
// "—". A page shows times in its language with i18n.Locale.Time.
func FormatTime(t time.Time, loc *time.Location) string {
	if t.IsZero() {
		return "—"
	}
	if loc == nil {
		loc = time.Local
	}
	return t.In(loc).Format(TimeLayout)
}

// page is what every page's frame needs.
type page struct {
	Title   string
	Prefix  string // path prefix, "" or e.g. "/cld"
	User    string // signed-in user ("" on the sign-in and some error pages)
	CSRF    string // token for the hidden field of every form
	Debug   bool
	Flashes []flash
	// HostAuth: the host signs users in and out (proxy or session mode),
	// so the page offers no sign-out of its own.
	HostAuth bool
}

// url is the prefix-aware URL of a dashboard path ("/…").
func (p page) url(path string) templ.SafeURL { return templ.SafeURL(p.Prefix + path) }

// dashboard is the data of the main page.
type dashboard struct {
	Status api.Status
	Loc    *time.Location
	// Edge is the tunnel list with the edge session's state, read for the
	// debug view only (nil otherwise or when it could not be read).
	Edge *api.Tunnels
	// Audit is the access audit's most recent records, for the debug view
	// only (nil otherwise or when it could not be read).
	Audit *api.Audit
}

// time formats t in the dashboard's time zone and the page's language.
func (d dashboard) time(l *i18n.Locale, t *time.Time) string {
	if t == nil {
		return "—"
	}
	return l.Time(*t, d.Loc)
}

// version is the daemon version to show.
func (d dashboard) version() string {
	if d.Status.Version != "" {
		return d.Status.Version
	}
	return d.Status.Build.Version
}

// portalURL is a link to the cloud the host is linked to, when it is a
// plain http(s) URL.
func (d dashboard) portalURL() (templ.SafeURL, bool) {
	u, err := url.Parse(d.Status.Cloud)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return "", false
	}
	return templ.SafeURL(u.String()), true
}

// flashClass is the CSS class of a message kind.
func flashClass(kind string) string {
	switch kind {
	case "success":
		return "msg msg-success"
	case "error":
		return "msg msg-error"
	default:
		return "msg msg-info"
	}
}

// severityClass and severityLabel style and name a warning's severity
// (in words too, not by colour alone).
func severityClass(sev string) string {
	switch sev {
	case api.SeverityError:
		return "msg msg-error"
	case api.SeverityInfo:
		return "msg msg-info"
	default:
		return "msg msg-warning"
	}
}

func severityLabel(l *i18n.Locale, sev string) string {
	switch sev {
	case api.SeverityError:
		return l.T("Error")
	case api.SeverityInfo:
		return l.T("Note")
	default:
		return l.T("Warning")
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func orDash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}

// flashRole makes errors an alert for screen readers, the rest a status.
func flashRole(kind string) string {
	if kind == "error" {
		return "alert"
	}
	return "status"
}

// reasonTitle and reasonRemedy frame the daemon's reason for not being
// linked with what the user can do about it.
func reasonTitle(l *i18n.Locale, state string) string {
	if state == api.StateLinkError {
		return l.T("Linking failed:")
	}
	return l.T("Not linked:")
}

func reasonRemedy(l *i18n.Locale, state string) string {
	if state == api.StateLinkError {
		return l.T("Fix the cause above, then select Link to CloudLink to try again. The sign-in needs a CloudLink user with administrator rights in the account.")
	}
	return l.T("To link this system again, select Link to CloudLink and sign in with a CloudLink user who has administrator rights in the account.")
}

// checkClass and checkLabel style and name a check's result (in words too,
// not by colour alone).
func checkClass(status string) string {
	switch status {
	case api.CheckPass:
		return "check-pass"
	case api.CheckFail:
		return "check-fail"
	case api.CheckWarn:
		return "check-warn"
	}
	return "check-skip"
}

func checkLabel(l *i18n.Locale, status string) string {
	switch status {
	case api.CheckPass:
		return l.T("Pass")
	case api.CheckFail:
		return l.T("Fail")
	case api.CheckWarn:
		return l.T("Warning")
	}
	return l.T("Skipped")
}

// clockDrift shows the measured drift (host minus the cloud) for the debug
// view, with when and against what; the NTP cross-check when configured.
func (d dashboard) clockDrift(l *i18n.Locale) string {
	c := d.Status.Clock
	if c.MeasuredAt == nil {
		return l.T("not measured yet")
	}
	drift, at := l.Decimal(api.SignedSeconds(c.DriftSeconds)), d.time(l, c.MeasuredAt)
	s := l.T("{drift} s (this host minus CloudLink, measured {time})", "drift", drift, "time", at)
	if c.Source != "" {
		s = l.T("{drift} s (this host minus CloudLink, measured {time} against {source})", "drift", drift, "time", at, "source", c.Source)
	}
	if c.NTPServer != "" {
		if c.NTPDriftSeconds != nil {
			s += l.T("; NTP server {server}: {drift} s", "server", c.NTPServer, "drift", l.Decimal(api.SignedSeconds(*c.NTPDriftSeconds)))
		} else {
			s += l.T("; NTP server {server}: no answer", "server", c.NTPServer)
		}
	}
	return s
}

// clockSync says whether the host reports its clock synchronized.
func (d dashboard) clockSync(l *i18n.Locale) string {
	switch s := d.Status.Clock.Synchronized; {
	case s == nil:
		return l.T("unknown")
	case *s:
		return l.T("yes")
	}
	return l.T("no")
}

// platformText is the host platform as About shows it: name, version and
// type, or why there is none.
func platformText(p *api.Platform) string {
	if p.Problem != "" {
		return p.Problem
	}
	text := strings.TrimSpace(p.Name + " " + p.Version)
	if p.Type != "" {
		text += " (" + p.Type + ")"
	}
	return text
}

// daemonModule is the daemon's own module, first on the Licenses page.
const daemonModule = "github.com/cloudlink/cld"
