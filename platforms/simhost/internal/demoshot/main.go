// Command demoshot signs in to a running demo's dashboard in headless
// Chromium and saves a screenshot of it (the README's pictures of `make
// demo PLATFORM=…`); with --tunnel it also opens a started tunnel's public
// URL, signs in to the portal and to the simulated UI behind it, and
// checks that UI's title, saving that page too:
//
//	go run ./platforms/simhost/internal/demoshot --out docs/demo-mxone.png \
//	    [--dashboard http://127.0.0.1:8087/] [--password demo-password] \
//	    [--tunnel https://<uuid>.eu.edge.localhost:8444/ --tunnel-title "MX-ONE Service Node Manager"]
//
// The demo's certificates (the cloud's CA, the edge's) are not trusted by
// the browser: it ignores certificate errors, which is fine for a local
// demo only.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/chromedp/chromedp"
)

func main() {
	dash := flag.String("dashboard", "http://127.0.0.1:8087/", "the dashboard's `URL`")
	user := flag.String("username", "admin", "dashboard user `name`")
	pass := flag.String("password", "demo-password", "dashboard `password`")
	out := flag.String("out", "", "PNG `file` of the dashboard (required)")
	width := flag.Int("width", 1280, "window width")
	height := flag.Int("height", 1600, "window height")
	full := flag.Bool("full", false, "the whole page rather than the window")
	tunnel := flag.String("tunnel", "", "a started tunnel's public `URL` to open through the edge (optional)")
	title := flag.String("tunnel-title", "", "the simulated UI's title expected behind --tunnel")
	tunnelOut := flag.String("tunnel-out", "", "PNG `file` of the simulated UI reached through --tunnel (optional)")
	cloudUser := flag.String("cloud-username", "admin@demo.test", "the portal's user for --tunnel")
	cloudPass := flag.String("cloud-password", "demo-password", "the portal user's password")
	chromium := flag.String("chromium", "/usr/bin/chromium-headless-shell", "the browser (Debian's chromium-headless-shell, or chromium)")
	flag.Parse()
	if *out == "" {
		fmt.Fprintln(os.Stderr, "demoshot: --out FILE is required")
		os.Exit(2)
	}
	profile, err := os.MkdirTemp("", "demoshot-")
	if err != nil {
		fail(err)
	}
	defer os.RemoveAll(profile)
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(*chromium), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck, chromedp.UserDataDir(profile),
		chromedp.WindowSize(*width, *height), chromedp.Flag("ignore-certificate-errors", true),
		chromedp.Flag("disable-dev-shm-usage", true), chromedp.Flag("disable-background-networking", true))
	defer cancelAlloc()
	ctx, cancelTab := chromedp.NewContext(alloc)
	defer cancelTab()
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()

	base := strings.TrimSuffix(*dash, "/")
	css := func(s string) chromedp.CSS { return chromedp.CSS(s) }
	if err := chromedp.Do(ctx,
		chromedp.Navigate(base+"/login"),
		chromedp.WaitVisible(css("#username")),
		chromedp.SendKeys(css("#username"), *user),
		chromedp.SendKeys(css("#password"), *pass),
		chromedp.Submit(css("#password")),
		chromedp.WaitNotPresent(css("#password")),
		chromedp.WaitReady(css("body")),
		chromedp.Sleep(time.Second), // live updates settle
	); err != nil {
		fail(fmt.Errorf("signing in to the dashboard: %w", err))
	}
	capture := chromedp.CaptureScreenshot()
	if *full {
		capture = chromedp.FullScreenshot(100)
	}
	shot, err := chromedp.Run(ctx, capture)
	if err != nil {
		fail(fmt.Errorf("the dashboard's screenshot: %w", err))
	}
	if err := os.WriteFile(*out, shot, 0o644); err != nil {
		fail(err)
	}
	fmt.Println("dashboard:", *out)

	if *tunnel == "" {
		return
	}
	if err := chromedp.Do(ctx,
		chromedp.Navigate(*tunnel),
		// The portal's sign-in, then the simulated UI's own.
		chromedp.WaitVisible(css(`input[type=password]`)),
		chromedp.SendKeys(css(`input[type=email], input[name=email], input[name=username]`), *cloudUser),
		chromedp.SendKeys(css(`input[type=password]`), *cloudPass),
		chromedp.Click(css(`button[type=submit], input[type=submit]`)),
		chromedp.WaitVisible(css("#login-button")),
		chromedp.SendKeys(css("#username"), "admin"),
		chromedp.SendKeys(css("#password"), "admin"),
		chromedp.Click(css("#login-button")),
		chromedp.WaitVisible(css("#welcome")),
	); err != nil {
		loc, _ := chromedp.Run(ctx, chromedp.Location())
		body, _ := chromedp.Run(ctx, chromedp.Text(css("body")))
		fail(fmt.Errorf("through the tunnel: %w (at %s: %.300s)", err, loc, body))
	}
	loc, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		fail(err)
	}
	header, err := chromedp.Run(ctx, chromedp.Text(css("header .product")))
	if err != nil {
		fail(err)
	}
	if !strings.HasPrefix(loc, strings.TrimSuffix(*tunnel, "/")) {
		fail(fmt.Errorf("through the tunnel the browser ended at %s, not under %s", loc, *tunnel))
	}
	if *title != "" && header != *title {
		fail(fmt.Errorf("through the tunnel the UI is %q, want %q", header, *title))
	}
	fmt.Printf("tunnel: %s shows %q\n", loc, header)
	if *tunnelOut != "" {
		shot, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
		if err == nil {
			err = os.WriteFile(*tunnelOut, shot, 0o644)
		}
		if err != nil {
			fail(err)
		}
	}
}

func fail(err error) {
	if errors.Is(err, context.DeadlineExceeded) {
		err = fmt.Errorf("%w (timed out)", err)
	}
	fmt.Fprintln(os.Stderr, "demoshot:", err)
	os.Exit(1)
}
