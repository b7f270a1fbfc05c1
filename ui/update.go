package ui

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/cloudlink/cld/agent/api"
	"github.com/cloudlink/cld/ui/i18n"
)

// Results of an update (api.UpdateResult.Result), as the daemon's updater
// names them.
const (
	resultUpdated     = "updated"
	resultRolledBack  = "rolled_back"
	resultRefused     = "refused"
	resultFailed      = "failed"
	resultInterrupted = "interrupted"
	resultReplaced    = "replaced"
)

// weekdays are the days a weekly schedule can name, as the form offers
// them: the value the daemon takes and the name shown (a catalog message).
var weekdays = []struct{ Value, Name string }{
	{"mon", "Monday"}, {"tue", "Tuesday"}, {"wed", "Wednesday"}, {"thu", "Thursday"},
	{"fri", "Friday"}, {"sat", "Saturday"}, {"sun", "Sunday"},
}

// weekdayName names a weekday value ("tue" → "Tuesday"); "" when unknown.
func weekdayName(v string) string {
	for _, d := range weekdays {
		if d.Value == v {
			return d.Name
		}
	}
	return ""
}

// schedule is an update schedule taken apart: daily or weekly, the day
// (weekly) and the time of day HH:MM.
type schedule struct {
	Every, Weekday, Time string
}

// parseSchedule reads the daemon's schedule ("daily 03:17", "weekly tue
// 03:30"); ok is false for anything else.
func parseSchedule(s string) (schedule, bool) {
	f := strings.Fields(s)
	switch {
	case len(f) == 2 && f[0] == "daily" && validClock(f[1]):
		return schedule{Every: "daily", Time: f[1]}, true
	case len(f) == 3 && f[0] == "weekly" && weekdayName(f[1]) != "" && validClock(f[2]):
		return schedule{Every: "weekly", Weekday: f[1], Time: f[2]}, true
	}
	return schedule{}, false
}

// validClock accepts a time of day HH:MM (00:00 to 23:59).
func validClock(s string) bool {
	if len(s) != 5 || s[2] != ':' {
		return false
	}
	for i, c := range s {
		if i != 2 && (c < '0' || c > '9') {
			return false
		}
	}
	return s[:2] <= "23" && s[3:] <= "59"
}

// text is the schedule in words: "Every day, 03:17", "Every Tuesday, 03:30".
func (s schedule) text(l *i18n.Locale) string {
	if s.Every == "weekly" {
		return l.T("Every {weekday}, {time}", "weekday", l.T(weekdayName(s.Weekday)), "time", s.Time)
	}
	return l.T("Every day, {time}", "time", s.Time)
}

// update is the self-update state, nil when the daemon does not report one.
func (d dashboard) update() *api.Update { return d.Status.Update }

// stage is the release stage: the one the cloud last said, else the build's.
func (d dashboard) stage() string {
	if u := d.update(); u != nil && u.Stage != "" {
		return u.Stage
	}
	return orDash(d.Status.Build.Stage)
}

// updateForm is what the Reschedule form shows selected: the schedule in
// force, "default" selected while it is the default.
func updateForm(u *api.Update) schedule {
	s, ok := parseSchedule(u.Schedule)
	if !ok {
		s = schedule{Every: "daily", Time: "03:00"}
	}
	if s.Weekday == "" {
		s.Weekday = "mon"
	}
	if u.Default {
		s.Every = "default"
	}
	return s
}

// scheduleText is the schedule in force in words, with its time zone.
func scheduleText(l *i18n.Locale, u *api.Update) string {
	s, ok := parseSchedule(u.Schedule)
	text := u.Schedule
	if ok {
		text = s.text(l)
	}
	return text + " (" + zoneText(l, u.Zone) + ")"
}

// zoneText names the time zone the schedule is in.
func zoneText(l *i18n.Locale, zone string) string {
	if zone == "" || zone == "Local" {
		return l.T("the host's time zone")
	}
	return zone
}

// sentence makes a sentence of a fragment of the daemon ("the check failed:
// x" → "The check failed: x.").
func sentence(s string) string {
	s = strings.TrimSpace(s)
	if s == "" {
		return s
	}
	s = strings.ToUpper(s[:1]) + s[1:]
	if !strings.HasSuffix(s, ".") && !strings.HasSuffix(s, "!") && !strings.HasSuffix(s, "?") {
		s += "."
	}
	return s
}

// withReason is "text: reason." or "text." without one (the reason as
// the daemon gives it).
func withReason(l *i18n.Locale, text, reason string) string {
	if reason = strings.TrimSpace(reason); reason == "" {
		return l.T("{text}.", "text", text)
	}
	return sentence(l.T("{text}: {reason}", "text", text, "reason", reason))
}

// resultText says in words how an update ended.
func resultText(l *i18n.Locale, r *api.UpdateResult) string {
	v := r.Version
	switch r.Result {
	case resultUpdated:
		if r.From != "" {
			return l.T("Updated from {from} to {version}.", "from", r.From, "version", v)
		}
		return l.T("Updated to {version}.", "version", v)
	case resultRolledBack:
		return withReason(l, l.T("The update to {version} was rolled back", "version", v), r.Reason)
	case resultRefused:
		return withReason(l, l.T("The update to {version} was refused", "version", v), r.Reason)
	case resultFailed:
		return withReason(l, l.T("The update to {version} failed", "version", v), r.Reason)
	case resultInterrupted:
		return withReason(l, l.T("The update to {version} was interrupted", "version", v), r.Reason)
	case resultReplaced:
		if r.Reason != "" {
			return sentence(r.Reason)
		}
		return l.T("A package upgrade replaced the daemon.")
	}
	return withReason(l, l.T("The update to {version} ended: {result}", "version", v, "result", r.Result), r.Reason)
}

// resultBad tells a last update that went wrong (it is marked, and has
// its warning in the Warnings section).
func resultBad(r *api.UpdateResult) bool {
	return r != nil && (r.Result == resultRolledBack || r.Result == resultRefused || r.Result == resultFailed)
}

// resultLabel and resultClass name and style a result (in words too, not
// by colour alone).
func resultLabel(l *i18n.Locale, r *api.UpdateResult) string {
	switch r.Result {
	case resultUpdated:
		return l.T("updated")
	case resultRolledBack:
		return l.T("rolled back")
	case resultRefused:
		return l.T("refused")
	case resultFailed:
		return l.T("failed")
	case resultInterrupted:
		return l.T("interrupted")
	case resultReplaced:
		return l.T("replaced")
	case "":
		return l.T("unknown")
	}
	return r.Result
}

// resultTextClass styles the sentence of a result.
func resultTextClass(r *api.UpdateResult) string {
	if resultBad(r) {
		return "reason reason-error update-result"
	}
	return "reason update-result"
}

func resultClass(r *api.UpdateResult) string {
	switch {
	case resultBad(r):
		return "status status-error"
	case r.Result == resultUpdated:
		return "status status-started"
	}
	return "status status-stopped"
}

// updateActive tells whether an update is being applied: the section shows
// its state and progress, kept current by the live script.
func updateActive(u *api.Update) bool {
	switch u.State {
	case api.UpdateStateDownloading, api.UpdateStateVerifying, api.UpdateStateInstalling,
		api.UpdateStateRestarting, api.UpdateStateConfirming:
		return true
	}
	return false
}

// updateStateText says what a running update does now.
func updateStateText(l *i18n.Locale, u *api.Update) string {
	v := ""
	if a := u.Available; a != nil {
		v = a.Version
	}
	switch u.State {
	case api.UpdateStateDownloading:
		if v != "" {
			return l.T("Downloading {version}", "version", v)
		}
		return l.T("Downloading")
	case api.UpdateStateVerifying:
		if v != "" {
			return l.T("Verifying the download {version}", "version", v)
		}
		return l.T("Verifying the download")
	case api.UpdateStateInstalling:
		if v != "" {
			return l.T("Installing {version}", "version", v)
		}
		return l.T("Installing")
	case api.UpdateStateRestarting:
		return l.T("Restarting the daemon into the new version")
	case api.UpdateStateConfirming:
		return l.T("Confirming the new version (on trial)")
	}
	return u.State
}

// progress is a running update's progress, ok when it has a size.
func progress(u *api.Update) (done, total int64, ok bool) {
	p := u.Progress
	if p == nil || p.Total <= 0 {
		return 0, 0, false
	}
	return min(max(p.Done, 0), p.Total), p.Total, true
}

// progressText is "45 % (12.3 MiB of 27.0 MiB)".
func progressText(l *i18n.Locale, u *api.Update) string {
	done, total, ok := progress(u)
	if !ok {
		return ""
	}
	return l.T("{percent} % ({done} of {total})", "percent", done*100/total, "done", byteSize(l, done), "total", byteSize(l, total))
}

// byteSize shows a size in KiB or MiB.
func byteSize(l *i18n.Locale, n int64) string {
	if n < 1<<20 {
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return l.Decimal(fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)))
}

// updateHome is the main page at the update section.
func updateHome(rc *reqCtx) string { return rc.home() + "#update" }

// handleUpdateLive answers the update section alone, as it is now: the
// live script (static/live.js) fetches it while an update runs.
func (s *server) handleUpdateLive(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	st, err := s.client.Status(r.Context())
	if err != nil {
		http.Error(w, lc(r.Context()).Text(daemonMessage(err)), http.StatusServiceUnavailable)
		return
	}
	if !st.Linked || st.Update == nil {
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusNoContent) // no section: the script reloads the page
		return
	}
	// The section alone; the session's messages stay for the next page.
	p := page{Title: lc(r.Context()).T("CloudLink Daemon Update"), Prefix: rc.prefix, User: rc.user, CSRF: rc.csrf, Debug: rc.debug}
	s.render(w, r, http.StatusOK, updateSection(p, dashboard{Status: st, Loc: s.loc}))
}

// handleUpdateSchedule saves the schedule chosen in the Reschedule form.
func (s *server) handleUpdateSchedule(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	l := lc(r.Context())
	req, msg := scheduleRequest(l, r.PostFormValue("every"), r.PostFormValue("weekday"), strings.TrimSpace(r.PostFormValue("time")))
	if msg != "" {
		s.sessions.addFlash(rc.sid, flash{Kind: "error", Text: msg})
		http.Redirect(w, r, updateHome(rc), http.StatusSeeOther)
		return
	}
	u, err := s.client.SetUpdateSchedule(r.Context(), req)
	if err != nil {
		s.updateFailed(w, r, rc, "changing the update schedule", err)
		return
	}
	s.log.Info("update schedule changed", "user", rc.user, "schedule", u.Schedule, "default", u.Default)
	text := l.T("Rescheduled: {schedule}.", "schedule", lowerFirst(scheduleText(l, &u)))
	if u.Default {
		text = l.T("Rescheduled to the default: {schedule}, a time of the night spread over the systems.", "schedule", lowerFirst(scheduleText(l, &u)))
	}
	s.updateDone(w, r, rc, flash{Kind: "success", Text: text})
}

// scheduleRequest is the request for what the form chose, or a sentence
// that says what to fix.
func scheduleRequest(l *i18n.Locale, every, weekday, clock string) (api.UpdateScheduleRequest, string) {
	switch every {
	case "default":
		return api.UpdateScheduleRequest{Default: true}, ""
	case "daily", "weekly":
	default:
		return api.UpdateScheduleRequest{}, l.T("Choose a schedule: every day, every week or the default.")
	}
	if !validClock(clock) {
		return api.UpdateScheduleRequest{}, l.T("Enter the time of day as HH:MM, from 00:00 to 23:59 (e.g. 03:30).")
	}
	req := api.UpdateScheduleRequest{Every: every, Time: clock}
	if every == "weekly" {
		if weekdayName(weekday) == "" {
			return api.UpdateScheduleRequest{}, l.T("Choose the day of the week of a weekly schedule.")
		}
		req.Weekday = weekday
	}
	return req, ""
}

func lowerFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToLower(s[:1]) + s[1:]
}

// handleUpdatePause pauses updates for the longest time, 30 days.
func (s *server) handleUpdatePause(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	u, err := s.client.PauseUpdates(r.Context(), 30)
	if err != nil {
		s.updateFailed(w, r, rc, "pausing updates", err)
		return
	}
	s.log.Info("updates paused", "user", rc.user, "until", u.PausedUntil)
	l, d := lc(r.Context()), dashboard{Loc: s.loc}
	s.updateDone(w, r, rc, flash{Kind: "success", Text: l.T("Updates are paused until {time}. Resume them at any time.", "time", d.time(l, u.PausedUntil))})
}

// handleUpdateResume ends a pause.
func (s *server) handleUpdateResume(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	u, err := s.client.UpdateAction(r.Context(), api.RouteUpdateResume)
	if err != nil {
		s.updateFailed(w, r, rc, "resuming updates", err)
		return
	}
	s.log.Info("updates resumed", "user", rc.user)
	l := lc(r.Context())
	text := l.T("Updates are resumed.")
	if u.NextCheck != nil {
		text = l.T("Updates are resumed. The next check is at {time}.", "time", (dashboard{Loc: s.loc}).time(l, u.NextCheck))
	}
	s.updateDone(w, r, rc, flash{Kind: "success", Text: text})
}

// handleUpdateCheck asks the cloud for a newer release now.
func (s *server) handleUpdateCheck(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	u, err := s.client.UpdateAction(r.Context(), api.RouteUpdateCheck)
	if err != nil {
		s.updateFailed(w, r, rc, "checking for an update", err)
		return
	}
	s.log.Info("update check", "user", rc.user, "available", u.Available != nil, "err", u.LastError)
	s.updateDone(w, r, rc, checkFlash(lc(r.Context()), u))
}

// checkFlash is the message after Check now.
func checkFlash(l *i18n.Locale, u api.Update) flash {
	switch last := u.LastUpdate; {
	case u.LastError != "":
		return flash{Kind: "error", Text: sentence(u.LastError)}
	case u.Available != nil && u.Available.Skipped:
		return flash{Kind: "info", Text: l.T("The release {version} is available. It failed on this host before, so the schedule does not try it again; Update now does.", "version", u.Available.Version)}
	case u.Available != nil:
		return flash{Kind: "info", Text: l.T("The release {version} is available. It is applied at the next scheduled time, or now with Update now.", "version", u.Available.Version)}
	case last != nil && last.Result == resultRefused && u.LastCheck != nil && last.Time.Equal(*u.LastCheck):
		return flash{Kind: "error", Text: resultText(l, last)}
	}
	if u.Stage != "" {
		return flash{Kind: "success", Text: l.T("No update is available: this system runs the newest release of its stage ({stage}).", "stage", u.Stage)}
	}
	return flash{Kind: "success", Text: l.T("No update is available: this system runs the newest release of its stage.")}
}

// handleUpdateNow applies the available release now; the section then
// shows its progress.
func (s *server) handleUpdateNow(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	u, err := s.client.UpdateAction(r.Context(), api.RouteUpdateNow)
	if err != nil {
		s.updateFailed(w, r, rc, "starting an update", err)
		return
	}
	l := lc(r.Context())
	text := l.T("The update has begun. The daemon restarts into the new version, and the dashboard is unavailable for a moment; you may have to sign in again.")
	if a := u.Available; a != nil && a.Version != "" {
		text = l.T("The update to {version} has begun. The daemon restarts into the new version, and the dashboard is unavailable for a moment; you may have to sign in again.", "version", a.Version)
	}
	s.log.Info("update started", "user", rc.user, "state", u.State)
	s.updateDone(w, r, rc, flash{Kind: "info", Text: text})
}

// updateFailed logs an update action the daemon refused, shows its
// sentence and goes back to the section.
func (s *server) updateFailed(w http.ResponseWriter, r *http.Request, rc *reqCtx, what string, err error) {
	s.log.Warn(what, "err", err)
	s.updateDone(w, r, rc, flash{Kind: "error", Text: daemonMessage(err)})
}

func (s *server) updateDone(w http.ResponseWriter, r *http.Request, rc *reqCtx, f flash) {
	s.sessions.addFlash(rc.sid, f)
	http.Redirect(w, r, updateHome(rc), http.StatusSeeOther)
}
