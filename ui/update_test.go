package ui

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cloudlink/cld/agent/api"
	"github.com/cloudlink/cld/ui/i18n"
)

// fakeNow is the fake daemon's clock for the update routes.
var fakeNow = time.Date(2024, 9, 18, 1, 19, 0, 0, time.UTC)

// updateRoutes are the fake daemon's self-update routes: each records its
// call and answers the status's Update after it.
func (f *fakeDaemon) updateRoutes(mux *http.ServeMux) {
	handle := func(route string, fn func(u *api.Update, r *http.Request) string) {
		mux.HandleFunc(route, func(w http.ResponseWriter, r *http.Request) {
			f.mu.Lock()
			defer f.mu.Unlock()
			if f.status.Update == nil {
				f.status.Update = &api.Update{}
			}
			if fn != nil {
				call := fn(f.status.Update, r)
				f.updateCalls = append(f.updateCalls, call)
				if f.updateErr != nil {
					writeJSON(w, 409, f.updateErr)
					return
				}
			}
			writeJSON(w, 200, f.status.Update)
		})
	}
	handle(api.RouteUpdate, nil)
	handle(api.RouteUpdateCheck, func(u *api.Update, _ *http.Request) string {
		if f.updateErr == nil {
			u.LastCheck = &fakeNow
			if f.onCheck != nil {
				f.onCheck(u)
			}
		}
		return "check"
	})
	handle(api.RouteUpdateNow, func(u *api.Update, _ *http.Request) string {
		if f.updateErr == nil && f.onUpdateNow != nil {
			f.onUpdateNow(u)
		}
		return "now"
	})
	handle(api.RouteUpdatePause, func(u *api.Update, r *http.Request) string {
		var req api.UpdatePauseRequest
		_ = json.NewDecoder(r.Body).Decode(&req)
		if f.updateErr == nil {
			until := fakeNow.Add(time.Duration(req.Days) * 24 * time.Hour)
			u.PausedUntil, u.PausedSince = &until, &fakeNow
		}
		return "pause " + itoa(int64(req.Days))
	})
	handle(api.RouteUpdateResume, func(u *api.Update, _ *http.Request) string {
		if f.updateErr == nil {
			u.PausedUntil, u.PausedSince = nil, nil
		}
		return "resume"
	})
	handle(api.RouteUpdateSchedule, func(u *api.Update, r *http.Request) string {
		var req api.UpdateScheduleRequest
		_ = json.NewDecoder(r.Body).Decode(&req)
		if req.Default {
			if f.updateErr == nil {
				u.Schedule, u.Default = "daily 03:17", true
			}
			return "schedule default"
		}
		s := strings.Join(slices.DeleteFunc([]string{req.Every, req.Weekday, req.Time}, func(s string) bool { return s == "" }), " ")
		if f.updateErr == nil {
			u.Schedule, u.Default = s, false
		}
		return "schedule " + s
	})
}

// updates returns the update calls made so far and forgets them.
func (f *fakeDaemon) updates() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.updateCalls
	f.updateCalls = nil
	return c
}

// linkedWithUpdate is a linked host whose last update was rolled back.
func linkedWithUpdate(st *api.Status) {
	linkedWithTunnels(st)
	last, next := fakeNow.Add(-time.Hour), fakeNow.Add(23*time.Hour)
	st.Update = &api.Update{
		Schedule: "daily 03:17", Default: true, Zone: "Europe/London",
		LastUpdate: &api.UpdateResult{Version: "0.2.0+90", From: "0.1.0+80", Time: fakeNow.Add(-2 * time.Hour), Result: "rolled_back",
			Reason: "0.2.0+90 was started 3 times within 2m0s of its installation: it keeps stopping"},
		LastCheck: &last, NextCheck: &next, Stage: "beta", State: api.UpdateStateIdle,
	}
}

func TestUpdateSection(t *testing.T) {
	f, h := newTestDashboard(t, Config{BasePath: "/cld"})
	f.set(linkedWithUpdate)
	b := newBrowser(t, h)
	b.signIn("/cld")
	std := b.get("/cld/").body
	sec := section(t, std, "update")
	for _, want := range []string{
		`<h2 id="update-h">CloudLink Daemon Update</h2>`,
		`<span id="update-schedule">Every day, 03:17 (Europe/London)</span>`,
		"(the default, a time of the night spread over the systems)",
		// The form shows the schedule in force, the default chosen.
		`action="/cld/update/schedule"`,
		`<option value="default" selected>Default (spread over the night)</option>`,
		`<option value="daily">Every day</option>`, `<option value="weekly">Every week</option>`,
		`<option value="mon" selected>Monday</option>`, `<option value="sun">Sunday</option>`,
		`<input type="time" id="update-time" name="time" value="03:17" step="60">`,
		`id="update-reschedule">Reschedule</button>`,
		// The rolled-back update, marked in words and style.
		`<td id="update-last">Wed, 18 Sep 2024 00:19:00 BST +0100 <span class="status status-error">rolled back</span>`,
		`<div class="reason reason-error update-result">The update to 0.2.0+90 was rolled back: 0.2.0+90 was started 3 times within 2m0s of its installation: it keeps stopping.</div>`,
		`<td id="update-last-check">Wed, 18 Sep 2024 01:19:00 BST +0100</td>`,
		`<span id="update-next-check">Thu, 19 Sep 2024 01:19:00 BST +0100</span>`,
		`action="/cld/update/pause"`, `id="update-pause">Pause</button>`,
		`action="/cld/update/check"`, `id="update-check">Check now</button>`,
	} {
		if !strings.Contains(sec, want) {
			t.Errorf("update section lacks %q", want)
		}
	}
	for _, unwanted := range []string{"Paused until", "update/resume", "Update now", "Available", "update-progress", "data-live", "live.js", "Update state", "update-error"} {
		if strings.Contains(sec, unwanted) {
			t.Errorf("update section shows %q", unwanted)
		}
	}
	if n := strings.Count(sec, `name="csrf"`); n != 3 {
		t.Errorf("%d forms with a token, want 3 (Reschedule, Pause, Check now)", n)
	}
	// The spec's order: Inventory Report Submission, the update, Tunnels.
	ii, iu, it := strings.Index(std, `<section id="inventory"`), strings.Index(std, `<section id="update"`), strings.Index(std, `<section id="tunnels"`)
	if !(ii >= 0 && ii < iu && iu < it) {
		t.Errorf("sections at inventory %d, update %d, tunnels %d", ii, iu, it)
	}

	// The debug view: the stage the cloud said in About, the updater's state.
	dbg := b.get("/cld/?view=debug").body
	if !strings.Contains(section(t, dbg, "about"), `<td id="about-stage">beta</td>`) {
		t.Error("debug About lacks the update's stage")
	}
	if !strings.Contains(section(t, dbg, "update"), `<td id="update-state">idle</td>`) {
		t.Error("debug update section lacks the state")
	}
	f.set(func(st *api.Status) { st.Update.Stage = "" })
	if !strings.Contains(section(t, b.get("/cld/").body, "about"), `<td id="about-stage">beta</td>`) {
		t.Error("debug About does not fall back to the build's stage")
	}
	f.set(func(st *api.Status) { st.Update.Stage = "production" })
	if !strings.Contains(section(t, b.get("/cld/").body, "about"), `<td id="about-stage">production</td>`) {
		t.Error("debug About shows the build's stage over the cloud's")
	}
	b.get("/cld/?view=standard")

	// Paused, a weekly schedule of the user's, a release available that
	// failed here before, a check that failed.
	f.set(func(st *api.Status) {
		u := st.Update
		until := fakeNow.Add(30 * 24 * time.Hour)
		u.Schedule, u.Default, u.Zone, u.PausedUntil, u.PausedSince = "weekly tue 03:30", false, "Local", &until, &fakeNow
		u.Available = &api.UpdateRelease{Version: "0.3.0+95", Size: 9 << 20, Skipped: true, Notes: "Faster tunnels."}
		u.LastUpdate.Result, u.LastUpdate.Reason = "updated", ""
		u.LastError = "CloudLink could not be reached to check for updates (dial tcp: connection refused); it is checked again at the next scheduled time"
	})
	sec = section(t, b.get("/cld/").body, "update")
	for _, want := range []string{
		`<span id="update-schedule">Every Tuesday, 03:30 (the host&#39;s time zone)</span>`,
		`<option value="weekly" selected>Every week</option>`, `<option value="tue" selected>Tuesday</option>`, `value="03:30"`,
		`<span class="status status-started">updated</span><div class="reason update-result">Updated from 0.1.0+80 to 0.2.0+90.</div>`,
		`<span id="update-paused">Fri, 18 Oct 2024 02:19:00 BST +0100</span>`, `action="/cld/update/resume"`, `id="update-resume">Resume</button>`,
		`<strong>0.3.0+95</strong> <span class="muted">(9.0 MiB)</span>`, `action="/cld/update/now"`, `id="update-now">Update now</button>`,
		"This release failed on this host before: the schedule does not try it again; Update now does.", "Faster tunnels.",
		`<p class="msg msg-error" role="alert" id="update-error">CloudLink could not be reached to check for updates (dial tcp: connection refused); it is checked again at the next scheduled time.</p>`,
	} {
		if !strings.Contains(sec, want) {
			t.Errorf("paused update section lacks %q", want)
		}
	}
	for _, unwanted := range []string{`id="update-pause"`, "the default", "status-error"} {
		if strings.Contains(sec, unwanted) {
			t.Errorf("paused update section shows %q", unwanted)
		}
	}

	// Not linked, or a daemon without self-update: no section.
	f.set(func(st *api.Status) { st.Update = nil })
	if body := b.get("/cld/").body; strings.Contains(body, `id="update"`) {
		t.Error("a status without an update shows the update section")
	}
	f.set(func(st *api.Status) { linkedWithUpdate(st); st.Linked, st.State = false, api.StateUnlinked })
	if body := b.get("/cld/").body; strings.Contains(body, `id="update"`) {
		t.Error("an unlinked host shows the update section")
	}
}

// TestUpdateProgress: a running update shows its state and progress, a
// page that works on reload and the live script that keeps it current.
func TestUpdateProgress(t *testing.T) {
	f, h := newTestDashboard(t, Config{BasePath: "/cld"})
	f.set(func(st *api.Status) {
		linkedWithUpdate(st)
		st.Update.Available = &api.UpdateRelease{Version: "0.3.0+95", Size: 8 << 20}
		st.Update.State, st.Update.Progress = api.UpdateStateDownloading, &api.UpdateProgress{Done: 3 << 20, Total: 8 << 20}
	})
	b := newBrowser(t, h)
	b.signIn("/cld")
	sec := section(t, b.get("/cld/").body, "update")
	for _, want := range []string{
		`<section id="update" aria-labelledby="update-h" data-live="/cld/update/live">`,
		`<div class="msg msg-info update-progress" id="update-progress" data-live-part>`,
		`<strong id="update-progress-state">Downloading 0.3.0+95</strong>`,
		`<progress id="update-progress-bar" max="8388608" value="3145728" aria-labelledby="update-progress-state"></progress>`,
		`<span id="update-progress-text">37 % (3.0 MiB of 8.0 MiB)</span>`,
		`<form method="get" action="/cld/#update" class="inline"><button type="submit" class="link" id="update-refresh">Refresh the status</button>`,
		`<script src="/cld/static/live.js" defer></script>`,
		`id="update-check">Check now</button>`,
	} {
		if !strings.Contains(sec, want) {
			t.Errorf("running update's section lacks %q", want)
		}
	}
	if strings.Contains(sec, "update-now") {
		t.Error("a running update offers Update now")
	}
	for state, want := range map[string]string{
		api.UpdateStateVerifying:  "Verifying the download 0.3.0+95",
		api.UpdateStateInstalling: "Installing 0.3.0+95",
		api.UpdateStateRestarting: "Restarting the daemon into the new version",
		api.UpdateStateConfirming: "Confirming the new version (on trial)",
	} {
		f.set(func(st *api.Status) { st.Update.State, st.Update.Progress = state, nil })
		sec := section(t, b.get("/cld/").body, "update")
		if !strings.Contains(sec, `<strong id="update-progress-state">`+want+`</strong>`) || !strings.Contains(sec, "data-live=") || strings.Contains(sec, "<progress") {
			t.Errorf("%s: section lacks its state %q, or shows a progress bar without progress", state, want)
		}
		if restart := strings.Contains(sec, "you may have to sign in again"); restart != (state == api.UpdateStateRestarting || state == api.UpdateStateConfirming) {
			t.Errorf("%s: the restart note shown = %v", state, restart)
		}
	}
	f.set(func(st *api.Status) { st.Update.State = api.UpdateStateChecking })
	if sec := section(t, b.get("/cld/").body, "update"); strings.Contains(sec, "data-live") || strings.Contains(sec, "update-progress") {
		t.Error("a check shows as a running update")
	}
	if res := b.get("/cld/static/live.js"); res.StatusCode != 200 || !strings.Contains(res.Header.Get("Content-Type"), "javascript") {
		t.Errorf("live.js: %d %q", res.StatusCode, res.Header.Get("Content-Type"))
	}
}

// TestUpdateLive: the section alone, for the live script; it keeps the
// session's messages for the next page.
func TestUpdateLive(t *testing.T) {
	f, h := newTestDashboard(t, Config{BasePath: "/cld"})
	f.set(func(st *api.Status) {
		linkedWithUpdate(st)
		st.Update.State, st.Update.Progress = api.UpdateStateDownloading, &api.UpdateProgress{Done: 1 << 20, Total: 4 << 20}
	})
	b := newBrowser(t, h)
	b.signIn("/cld")
	tok := csrfOf(t, b.get("/cld/").body)
	b.do("POST", "/cld/update/check", url.Values{"csrf": {tok}}) // queues a message
	live := b.get("/cld/update/live")
	if live.StatusCode != 200 || live.Header.Get("Cache-Control") != "no-store" || !strings.HasPrefix(live.body, `<section id="update" aria-labelledby="update-h" data-live="/cld/update/live">`) ||
		!strings.HasSuffix(live.body, "</section>") || !strings.Contains(live.body, "25 % (1.0 MiB of 4.0 MiB)") || !strings.Contains(live.body, `value="`+tok+`"`) {
		t.Fatalf("live section: %d %q\n%s", live.StatusCode, live.Header.Get("Cache-Control"), live.body)
	}
	if strings.Contains(live.body, "<html") || strings.Contains(live.body, "No update is available") {
		t.Error("the live section is more than the section")
	}
	if body := b.get("/cld/").body; !strings.Contains(body, "No update is available") {
		t.Error("the live section took the page's message")
	}
	// Done: the section without data-live (the script then stops).
	f.set(func(st *api.Status) { st.Update.State, st.Update.Progress = api.UpdateStateIdle, nil })
	if live := b.get("/cld/update/live"); live.StatusCode != 200 || strings.Contains(live.body, "data-live") {
		t.Errorf("live section after the update: %d\n%s", live.StatusCode, live.body)
	}
	// No section any more: 204 (the script reloads the page).
	f.set(func(st *api.Status) { st.Linked = false })
	if live := b.get("/cld/update/live"); live.StatusCode != http.StatusNoContent || live.body != "" {
		t.Errorf("live section unlinked: %d %q", live.StatusCode, live.body)
	}
	// Signed out: to the sign-in page (the script reloads the page).
	if res := newBrowser(t, h).get("/cld/update/live"); res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/cld/login" {
		t.Errorf("signed-out live section: %d to %q", res.StatusCode, res.Header.Get("Location"))
	}
}

func TestUpdateActions(t *testing.T) {
	f, h := newTestDashboard(t, Config{BasePath: "/cld"})
	f.set(linkedWithUpdate)
	b := newBrowser(t, h)
	b.signIn("/cld")
	tok := csrfOf(t, b.get("/cld/").body)
	post := func(path string, form url.Values) {
		t.Helper()
		form.Set("csrf", tok)
		res := b.do("POST", path, form)
		if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/cld/#update" {
			t.Fatalf("POST %s: %d to %q, want 303 to /cld/#update\n%s", path, res.StatusCode, res.Header.Get("Location"), res.body)
		}
	}
	expectFlash := func(want string) {
		t.Helper()
		if body := b.get("/cld/").body; !strings.Contains(body, want) {
			t.Errorf("after the action the page lacks %q", want)
		}
	}

	post("/cld/update/schedule", url.Values{"every": {"weekly"}, "weekday": {"wed"}, "time": {"04:45"}})
	expectFlash(`role="status">Rescheduled: every Wednesday, 04:45 (Europe/London).`)
	if sec := section(t, b.get("/cld/").body, "update"); !strings.Contains(sec, "Every Wednesday, 04:45") || !strings.Contains(sec, `<option value="wed" selected>`) {
		t.Error("the section does not show the new schedule")
	}
	post("/cld/update/schedule", url.Values{"every": {"daily"}, "weekday": {"wed"}, "time": {" 23:59 "}})
	expectFlash("Rescheduled: every day, 23:59 (Europe/London).")
	post("/cld/update/schedule", url.Values{"every": {"default"}, "weekday": {"wed"}, "time": {""}})
	expectFlash("Rescheduled to the default: every day, 03:17 (Europe/London), a time of the night spread over the systems.")
	post("/cld/update/pause", url.Values{})
	expectFlash("Updates are paused until Fri, 18 Oct 2024 02:19:00 BST +0100. Resume them at any time.")
	post("/cld/update/resume", url.Values{})
	expectFlash("Updates are resumed. The next check is at Thu, 19 Sep 2024 01:19:00 BST +0100.")
	post("/cld/update/check", url.Values{})
	expectFlash(`role="status">No update is available: this system runs the newest release of its stage (beta).`)
	f.onCheck = func(u *api.Update) { u.Available = &api.UpdateRelease{Version: "0.3.0+95"} }
	post("/cld/update/check", url.Values{})
	expectFlash("The release 0.3.0+95 is available. It is applied at the next scheduled time, or now with Update now.")
	f.onCheck = func(u *api.Update) { u.Available.Skipped = true }
	post("/cld/update/check", url.Values{})
	expectFlash("The release 0.3.0+95 is available. It failed on this host before, so the schedule does not try it again; Update now does.")
	f.onCheck = func(u *api.Update) {
		u.Available = nil
		u.LastUpdate = &api.UpdateResult{Version: "0.4.0", Time: fakeNow, Result: "refused", Reason: "the release needs at least 0.3.0 to update from"}
	}
	post("/cld/update/check", url.Values{})
	expectFlash(`role="alert">The update to 0.4.0 was refused: the release needs at least 0.3.0 to update from.`)
	f.onCheck = func(u *api.Update) { u.LastError = "the update check failed: the cloud answered 500" }
	post("/cld/update/check", url.Values{})
	expectFlash(`role="alert">The update check failed: the cloud answered 500.`)
	f.onUpdateNow = func(u *api.Update) {
		u.Available = &api.UpdateRelease{Version: "0.3.0+95", Size: 100}
		u.State, u.Progress = api.UpdateStateDownloading, &api.UpdateProgress{Total: 100}
	}
	post("/cld/update/now", url.Values{})
	expectFlash("The update to 0.3.0+95 has begun.")
	if got, want := f.updates(), []string{"schedule weekly wed 04:45", "schedule daily 23:59", "schedule default", "pause 30", "resume",
		"check", "check", "check", "check", "check", "now"}; !slices.Equal(got, want) {
		t.Errorf("daemon calls %q, want %q", got, want)
	}

	// The daemon's sentence when it refuses.
	f.updateErr = &api.Error{Code: api.CodeBusy, Message: "An update is already running; `cld update status` shows its progress."}
	for _, path := range []string{"/cld/update/now", "/cld/update/check", "/cld/update/pause", "/cld/update/resume", "/cld/update/schedule"} {
		post(path, url.Values{"every": {"daily"}, "time": {"01:00"}})
		expectFlash(`role="alert">An update is already running; `)
	}
	f.updateErr = nil
	f.updates()

	// Bad requests never reach the daemon.
	for _, tc := range []struct {
		method, path string
		form         url.Values
		code         int
		want         string
	}{
		{"POST", "/cld/update/schedule", url.Values{"csrf": {tok}, "every": {"daily"}, "time": {"3:30"}}, 303, "Enter the time of day as HH:MM"},
		{"POST", "/cld/update/schedule", url.Values{"csrf": {tok}, "every": {"weekly"}, "time": {"24:00"}, "weekday": {"tue"}}, 303, "Enter the time of day as HH:MM"},
		{"POST", "/cld/update/schedule", url.Values{"csrf": {tok}, "every": {"weekly"}, "time": {"03:30"}, "weekday": {"someday"}}, 303, "Choose the day of the week"},
		{"POST", "/cld/update/schedule", url.Values{"csrf": {tok}, "every": {"hourly"}, "time": {"03:30"}}, 303, "Choose a schedule: every day, every week or the default."},
		{"GET", "/cld/update/now", nil, 405, "does not accept GET"},
		{"GET", "/cld/update/schedule", nil, 405, "does not accept GET"},
		{"POST", "/cld/update/live", url.Values{"csrf": {tok}}, 405, "does not accept POST"},
		{"POST", "/cld/update/now", url.Values{"csrf": {"forged"}}, 403, "Request refused"},
		{"POST", "/cld/update/pause", url.Values{}, 403, "Request refused"},
	} {
		res := b.do(tc.method, tc.path, tc.form)
		body := res.body
		if res.StatusCode == http.StatusSeeOther {
			body = b.get("/cld/").body
		}
		if res.StatusCode != tc.code || !strings.Contains(body, tc.want) {
			t.Errorf("%s %s %v: %d, want %d with %q", tc.method, tc.path, tc.form, res.StatusCode, tc.code, tc.want)
		}
	}
	b.header.Set("Sec-Fetch-Site", "cross-site")
	if res := b.do("POST", "/cld/update/now", url.Values{"csrf": {tok}}); res.StatusCode != http.StatusForbidden {
		t.Errorf("cross-site Update now: %d", res.StatusCode)
	}
	b.header = http.Header{}
	if calls := f.updates(); len(calls) != 0 {
		t.Errorf("refused requests reached the daemon: %q", calls)
	}
	// Signed out: to the sign-in page, nothing done.
	if res := newBrowser(t, h).do("POST", "/cld/update/pause", url.Values{"csrf": {tok}}); res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/cld/login?expired=1" {
		t.Errorf("signed-out pause: %d to %q", res.StatusCode, res.Header.Get("Location"))
	}
	if calls := f.updates(); len(calls) != 0 {
		t.Errorf("a signed-out request reached the daemon: %q", calls)
	}
}

func TestUpdateResultText(t *testing.T) {
	for _, tc := range []struct {
		r    api.UpdateResult
		want string
		bad  bool
	}{
		{api.UpdateResult{Version: "0.2.0+90", From: "0.1.0", Result: "updated"}, "Updated from 0.1.0 to 0.2.0+90.", false},
		{api.UpdateResult{Version: "0.2.0+90", Result: "updated"}, "Updated to 0.2.0+90.", false},
		{api.UpdateResult{Version: "0.2.0+90", Result: "rolled_back", Reason: "it did not become healthy within 2m0s"}, "The update to 0.2.0+90 was rolled back: it did not become healthy within 2m0s.", true},
		{api.UpdateResult{Version: "0.2.0+90", Result: "refused", Reason: "the signature does not match the release key."}, "The update to 0.2.0+90 was refused: the signature does not match the release key.", true},
		{api.UpdateResult{Version: "0.2.0+90", Result: "failed", Reason: "the download stopped"}, "The update to 0.2.0+90 failed: the download stopped.", true},
		{api.UpdateResult{Version: "0.2.0+90", Result: "failed"}, "The update to 0.2.0+90 failed.", true},
		{api.UpdateResult{Version: "0.2.0+90", Result: "interrupted", Reason: "the daemon stopped while the update was downloading; it is tried again at the next check"},
			"The update to 0.2.0+90 was interrupted: the daemon stopped while the update was downloading; it is tried again at the next check.", false},
		{api.UpdateResult{Version: "0.3.0", Result: "replaced", Reason: "a package upgrade to 0.3.0 took over from the self-update to 0.2.0"},
			"A package upgrade to 0.3.0 took over from the self-update to 0.2.0.", false},
		{api.UpdateResult{Version: "0.2.0", Result: "odd", Reason: "why"}, "The update to 0.2.0 ended: odd: why.", false},
	} {
		if got := resultText(i18n.Default().English(), &tc.r); got != tc.want {
			t.Errorf("%+v: %q, want %q", tc.r, got, tc.want)
		}
		if got := resultBad(&tc.r); got != tc.bad {
			t.Errorf("%+v: marked failed = %v, want %v", tc.r, got, tc.bad)
		}
	}
	for _, tc := range []struct {
		in string
		ok bool
	}{{"daily 03:17", true}, {"weekly tue 03:30", true}, {"weekly sun 00:00", true}, {"daily 24:00", false}, {"weekly tuesday 03:30", false}, {"hourly", false}, {"daily 3:17", false}} {
		if _, ok := parseSchedule(tc.in); ok != tc.ok {
			t.Errorf("parseSchedule(%q) ok = %v", tc.in, ok)
		}
	}
}
