package ui

import (
	"strings"
	"testing"
	"time"

	"github.com/cloudlink/cld/agent/api"
)

// TestWarningsAndChecks: a warning shows its title, text with the measured
// value, remedy and since; the Checks page shows the doctor's findings.
func TestWarningsAndChecks(t *testing.T) {
	f, h := newTestDashboard(t, Config{BasePath: "/cld", Location: time.UTC})
	since := time.Date(2024, 9, 18, 1, 19, 0, 0, time.UTC)
	f.set(func(st *api.Status) {
		st.Warnings = []api.Warning{{Code: "clock_drift", Severity: api.SeverityError, Title: "System time incorrect",
			Text:   "The system time is incorrect. This can cause connection problems. Clock drift detected: 44s",
			Remedy: "Run `timedatectl status` on this host.", Since: &since}}
	})
	f.mu.Lock()
	f.doctor = api.Doctor{OK: false, Checks: []api.Check{
		{ID: "dns", Title: "DNS resolves the cloud's domain", Status: api.CheckFail, Detail: "cloud.example.invalid does not resolve", Remedy: "Configure DNS on this host to resolve cloud.example.invalid"},
		{ID: "state_dir", Title: "The state directory is writable", Status: api.CheckPass, Detail: "Created and removed a file", Remedy: "never shown for a pass"},
		{ID: "proxy", Title: "The HTTP proxy works", Status: api.CheckSkip, Detail: "No HTTP proxy is configured"},
	}}
	f.mu.Unlock()
	b := newBrowser(t, h)
	b.signIn("/cld")
	res := b.get("/cld/")
	for _, want := range []string{
		`id="warning-clock_drift"`, "<strong>Error:</strong>", "System time incorrect",
		"Clock drift detected: 44s", "What to do:</strong> Run `timedatectl status` on this host.",
		"Since Wed, 18 Sep 2024 01:19:00 UTC +0000", `href="/cld/checks"`,
	} {
		if !strings.Contains(res.body, want) {
			t.Errorf("dashboard lacks %q", want)
		}
	}
	res = b.get("/cld/checks")
	if res.StatusCode != 200 {
		t.Fatalf("checks: %d", res.StatusCode)
	}
	for _, want := range []string{
		"Prerequisite checks", "Some checks failed", `id="check-dns" class="check-fail"`, "<strong>Fail</strong>",
		"cloud.example.invalid does not resolve", "Configure DNS on this host to resolve cloud.example.invalid",
		`id="check-state_dir" class="check-pass"`, "<strong>Pass</strong>", "<strong>Skipped</strong>", "cld doctor",
	} {
		if !strings.Contains(res.body, want) {
			t.Errorf("checks page lacks %q", want)
		}
	}
	if strings.Contains(res.body, "never shown for a pass") {
		t.Error("a passed check shows a remedy")
	}
}

// TestDebugViewClock: the debug view shows the measured drift and sync.
func TestDebugViewClock(t *testing.T) {
	f, h := newTestDashboard(t, Config{Location: time.UTC})
	at := time.Date(2024, 9, 18, 1, 19, 0, 0, time.UTC)
	no, ntp := false, 0.25
	f.set(func(st *api.Status) {
		st.Clock = api.Clock{DriftSeconds: -44.012, Synchronized: &no, MeasuredAt: &at, Source: "https://cloud.example/api/v1/time", NTPServer: "ntp.example:123", NTPDriftSeconds: &ntp}
	})
	b := newBrowser(t, h)
	b.signIn("")
	if std := b.get("/"); strings.Contains(std.body, "Clock drift") {
		t.Error("the standard view shows the clock")
	}
	dbg := b.get("/?view=debug")
	for _, want := range []string{`id="clock-drift">-44.012 s (this host minus CloudLink, measured Wed, 18 Sep 2024 01:19:00 UTC +0000 against https://cloud.example/api/v1/time); NTP server ntp.example:123: +0.250 s`, `id="clock-sync">no`} {
		if !strings.Contains(dbg.body, want) {
			t.Errorf("debug view lacks %q", want)
		}
	}
}
