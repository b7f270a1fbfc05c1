package e2e

import (
	"encoding/json"
	"fmt"

	"github.com/chromedp/chromedp"

	"github.com/cloudlink/cld/agent/api"
)

// checkUpdateSection checks the CloudLink Daemon Update section of a
// linked host against the real daemon: it sits between Inventory Report
// Submission and Tunnels; a weekly schedule chosen in the Reschedule form
// is the daemon's (`cld update status --json`) and shows selected in the
// form again; the default comes back the same way; Pause and Resume; and
// Check now against a cloud that offers no release. With pausedBefore (a
// pause already used since the last scheduled update), Pause is refused.
func (b *chromium) checkUpdateSection(st *stack, pausedBefore bool) {
	b.t.Helper()
	b.waitVisible(chromedp.CSS("#update"))
	b.expectText("#update", "CloudLink Daemon Update", "Schedule", "Last update", "Last check", "Next check", "Reschedule", "Pause", "Check now")
	order, err := runStep(b, chromedp.Evaluate[bool](`(() => {
		const ids = [...document.querySelectorAll("main section")].map(s => s.id);
		const i = ids.indexOf("inventory"), u = ids.indexOf("update"), t = ids.indexOf("tunnels");
		return i >= 0 && i + 1 === u && u + 1 === t;
	})()`))
	if err != nil || !order {
		b.fail("the order of the sections", err)
	}
	before := st.updateStatus()
	if !before.Default {
		b.t.Fatalf("a new daemon's update schedule is not the default: %+v", before)
	}
	b.expectValue("#update-every", "default")

	// Reschedule to every Wednesday at 04:45.
	b.do(
		chromedp.SetValue(chromedp.CSS("#update-every"), "weekly"),
		chromedp.SetValue(chromedp.CSS("#update-weekday"), "wed"),
		chromedp.SetValue(chromedp.CSS("#update-time"), "04:45"),
	)
	b.clickAndLoad(chromedp.CSS("#update-reschedule"))
	b.expectLocation(st.proxyURL + "/#update")
	b.expectText("body", "Rescheduled: every Wednesday, 04:45")
	b.expectText("#update-schedule", "Every Wednesday, 04:45")
	if u := st.updateStatus(); u.Schedule != "weekly wed 04:45" || u.Default {
		b.t.Fatalf("after Reschedule the daemon's schedule is %q (default %v), want weekly wed 04:45", u.Schedule, u.Default)
	}
	b.expectValue("#update-every", "weekly")
	b.expectValue("#update-weekday", "wed")
	b.expectValue("#update-time", "04:45")

	// Back to the default.
	b.do(chromedp.SetValue(chromedp.CSS("#update-every"), "default"))
	b.clickAndLoad(chromedp.CSS("#update-reschedule"))
	b.expectText("body", "Rescheduled to the default")
	if u := st.updateStatus(); !u.Default || u.Schedule != before.Schedule {
		b.t.Fatalf("after Reschedule to the default the daemon's schedule is %q (default %v), want %q", u.Schedule, u.Default, before.Schedule)
	}
	b.expectValue("#update-every", "default")

	// Pause, then resume. A pause already used since the last scheduled
	// update is refused, with when the next can begin.
	if pausedBefore {
		b.clickAndLoad(chromedp.CSS("#update-pause"))
		b.expectText("#flashes", "another can begin once a scheduled update has run")
		if u := st.updateStatus(); u.PausedUntil != nil {
			b.t.Fatalf("a second Pause paused the daemon's updates until %v", u.PausedUntil)
		}
		b.clickAndLoad(chromedp.CSS("#update-check"))
		b.expectText("body", "No update is available")
		return
	}
	b.clickAndLoad(chromedp.CSS("#update-pause"))
	b.expectText("body", "Updates are paused until")
	b.expectText("#update", "Paused until", "Resume")
	if u := st.updateStatus(); u.PausedUntil == nil {
		b.t.Fatal("after Pause the daemon's updates are not paused")
	}
	b.clickAndLoad(chromedp.CSS("#update-resume"))
	b.expectText("body", "Updates are resumed.")
	if u := st.updateStatus(); u.PausedUntil != nil {
		b.t.Fatalf("after Resume the daemon's updates are paused until %v", u.PausedUntil)
	}

	// Check now: the reference cloud offers no newer release.
	b.clickAndLoad(chromedp.CSS("#update-check"))
	b.expectText("body", "No update is available")
	if u := st.updateStatus(); u.LastCheck == nil {
		b.t.Fatal("after Check now the daemon has no last check")
	}
	b.expectText("#update-last-check", "20") // a date, not "Never"
}

// updateStatus is `cld update status --json`.
func (s *stack) updateStatus() api.Update {
	s.t.Helper()
	out := s.cli(nil, "update", "status", "--socket", s.sock, "--json")
	var u api.Update
	if err := json.Unmarshal(out, &u); err != nil {
		s.t.Fatalf("cld update status --json printed something else than the update's state: %v\n%s", err, out)
	}
	return u
}

// expectValue checks a form field's value.
func (b *chromium) expectValue(css, want string) {
	b.t.Helper()
	got, err := runStep(b, chromedp.Value(chromedp.CSS(css)))
	if err != nil {
		b.fail("reading the value of "+css, err)
	}
	if got != want {
		b.fail("form value", fmt.Errorf("%s is %q, want %q", css, got, want))
	}
}
