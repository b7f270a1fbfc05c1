package ui

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/a-h/templ"

	"github.com/cloudlink/cld/agent/api"
)

// TimeLayout is how the dashboard shows times, e.g.
// "Wed, 18 Sep 2024 02:19:00 BST +0100".
const TimeLayout = "Mon, 02 Jan 2006 15:04:05 MST -0700"

// FormatTime shows t in the dashboard's layout in loc (the host's time zone
// when nil); the zero time is shown as "—".
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
}

// time formats t in the dashboard's time zone.
func (d dashboard) time(t *time.Time) string {
	if t == nil {
		return "—"
	}
	return FormatTime(*t, d.Loc)
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

func severityLabel(sev string) string {
	switch sev {
	case api.SeverityError:
		return "Error"
	case api.SeverityInfo:
		return "Note"
	default:
		return "Warning"
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
func reasonTitle(state string) string {
	if state == api.StateLinkError {
		return "Linking failed:"
	}
	return "Not linked:"
}

func reasonRemedy(state string) string {
	if state == api.StateLinkError {
		return "Fix the cause above, then select Link to CloudLink to try again. The sign-in needs a CloudLink user with administrator rights in the account."
	}
	return "To link this system again, select Link to CloudLink and sign in with a CloudLink user who has administrator rights in the account."
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

func checkLabel(status string) string {
	switch status {
	case api.CheckPass:
		return "Pass"
	case api.CheckFail:
		return "Fail"
	case api.CheckWarn:
		return "Warning"
	}
	return "Skipped"
}

// clockDrift shows the measured drift (host minus the cloud) for the debug
// view, with when and against what; the NTP cross-check when configured.
func (d dashboard) clockDrift() string {
	c := d.Status.Clock
	if c.MeasuredAt == nil {
		return "not measured yet"
	}
	s := fmt.Sprintf("%s s (this host minus CloudLink, measured %s", api.SignedSeconds(c.DriftSeconds), d.time(c.MeasuredAt))
	if c.Source != "" {
		s += " against " + c.Source
	}
	s += ")"
	if c.NTPServer != "" {
		if c.NTPDriftSeconds != nil {
			s += fmt.Sprintf("; NTP server %s: %s s", c.NTPServer, api.SignedSeconds(*c.NTPDriftSeconds))
		} else {
			s += "; NTP server " + c.NTPServer + ": no answer"
		}
	}
	return s
}

// clockSync says whether the host reports its clock synchronized.
func (d dashboard) clockSync() string {
	switch s := d.Status.Clock.Synchronized; {
	case s == nil:
		return "unknown"
	case *s:
		return "yes"
	}
	return "no"
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
