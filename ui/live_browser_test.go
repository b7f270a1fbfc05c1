package ui

import (
	"cmp"
	"context"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"github.com/cloudlink/cld/agent/api"
)

// chromiumPath is the browser: Debian's chromium-headless-shell (as in
// ui/e2e), or the one CLD_CHROMIUM names.
var chromiumPath = cmp.Or(os.Getenv("CLD_CHROMIUM"), "/usr/bin/chromium-headless-shell")

// TestUpdateLiveInBrowser runs static/live.js in headless Chromium: a
// running update's progress changes on the page without a reload, and its
// end replaces the section with the outcome; with JavaScript off the page
// shows the same on reload. (ui/e2e drives the real daemon.)
func TestUpdateLiveInBrowser(t *testing.T) {
	if _, err := os.Stat(chromiumPath); err != nil {
		if os.Getenv("CI") == "" {
			t.Skipf("skipping the browser test: %s is not installed", chromiumPath)
		}
		t.Fatalf("CI is set but %s is missing: %v", chromiumPath, err)
	}
	f, h := newTestDashboard(t, Config{BasePath: "/cld"})
	f.set(func(st *api.Status) {
		linkedWithUpdate(st)
		st.Update.Available = &api.UpdateRelease{Version: "0.3.0+95", Size: 100 << 20}
		st.Update.State, st.Update.Progress = api.UpdateStateDownloading, &api.UpdateProgress{Done: 10 << 20, Total: 100 << 20}
	})
	srv := httptest.NewServer(h)
	defer srv.Close()

	profile := t.TempDir()
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(chromiumPath), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck, chromedp.UserDataDir(profile),
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-dev-shm-usage", true))
	defer cancelAlloc()
	ctx, cancelTab := chromedp.NewContext(allocCtx)
	defer cancelTab()
	ctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	do := func(what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, actions...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	text := func(sel string) string {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
		if err != nil {
			t.Fatalf("reading %s: %v", sel, err)
		}
		return s
	}
	// waitText waits until the element's text contains want, with the
	// page never reloaded (the mark set on the window survives).
	waitText := func(sel, want string) {
		t.Helper()
		deadline := time.Now().Add(15 * time.Second)
		for {
			got, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel), chromedp.AtLeast(0)))
			if err == nil && strings.Contains(got, want) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s still shows %q (%v), want %q", sel, got, err, want)
			}
			time.Sleep(100 * time.Millisecond)
		}
		mark, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.liveMark === 1`))
		if err != nil || !mark {
			t.Fatalf("the page was reloaded (mark %v, %v)", mark, err)
		}
	}

	do("signing in",
		chromedp.Navigate(srv.URL+"/cld/login"),
		chromedp.SendKeys(chromedp.CSS("#username"), "admin"),
		chromedp.SendKeys(chromedp.CSS("#password"), "demo-password"),
		chromedp.Click(chromedp.CSS(`form[action="/cld/login"] button`)),
		chromedp.WaitVisible(chromedp.CSS("#update-progress")),
	)
	if got := text("#update-progress-text"); !strings.Contains(got, "10 % (10.0 MiB of 100.0 MiB)") {
		t.Fatalf("progress shows %q", got)
	}
	do("marking the page", chromedp.Evaluate[chromedp.Void](`window.liveMark = 1`))
	// The user starts choosing a schedule: the live update leaves the form alone.
	do("choosing a time", chromedp.SetValue(chromedp.CSS("#update-time"), "05:05"))

	f.set(func(st *api.Status) { st.Update.Progress.Done = 60 << 20 })
	waitText("#update-progress-text", "60 % (60.0 MiB of 100.0 MiB)")
	if v, _ := chromedp.Run(ctx, chromedp.Value(chromedp.CSS("#update-time"))); v != "05:05" {
		t.Errorf("the live update reset the form's time to %q", v)
	}
	f.set(func(st *api.Status) { st.Update.State, st.Update.Progress = api.UpdateStateRestarting, nil })
	waitText("#update-progress-state", "Restarting the daemon into the new version")

	// The update ends: the section shows the outcome, polling stops.
	f.set(func(st *api.Status) {
		st.Update.State, st.Update.Available = api.UpdateStateIdle, nil
		st.Update.LastUpdate = &api.UpdateResult{Version: "0.3.0+95", From: "0.2.0+90", Time: fakeNow, Result: "updated"}
	})
	waitText("#update-last", "Updated from 0.2.0+90 to 0.3.0+95.")
	if n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("#update-progress, #update-now").length`)); err != nil || n != 0 {
		t.Errorf("after the update the section still has %d progress or Update now elements (%v)", n, err)
	}

	// The session ends (the daemon restarted): the page reloads to the sign-in.
	f.set(func(st *api.Status) { st.Update.State = api.UpdateStateConfirming })
	do("reloading", chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS("#update-progress")))
	sessions := h.(*server).sessions
	sessions.mu.Lock()
	clear(sessions.m)
	sessions.mu.Unlock()
	do("waiting for the sign-in page", chromedp.WaitVisible(chromedp.CSS("#username")))

	// JavaScript off: the page is complete on reload.
	noScript := func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
		_, err := cdp.Call(ctx, t, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true})
		return chromedp.Void{}, err
	}
	do("signing in without JavaScript",
		noScript,
		chromedp.SendKeys(chromedp.CSS("#username"), "admin"),
		chromedp.SendKeys(chromedp.CSS("#password"), "demo-password"),
		chromedp.Click(chromedp.CSS(`form[action="/cld/login"] button`)),
		chromedp.WaitVisible(chromedp.CSS("#update-progress")),
	)
	f.set(func(st *api.Status) { st.Update.State = api.UpdateStateIdle })
	do("refreshing", chromedp.Click(chromedp.CSS("#update-refresh")), chromedp.WaitNotPresent(chromedp.CSS("#update-progress")))
	if got := text("#update-last"); !strings.Contains(got, "Updated from 0.2.0+90 to 0.3.0+95.") {
		t.Errorf("after Refresh the status the section shows %q", got)
	}
}
