package e2e

import (
	"context"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestLanguageEndToEnd chooses German in the footer's language form of the
// dashboard behind the proxy under /cld (a GET form: no script involved):
// the page, <html lang> and the next pages are German, the choice kept in
// the cld_lang cookie under the prefix.
func TestLanguageEndToEnd(t *testing.T) {
	t.Parallel()
	requireChromium(t)
	st := startStack(t, stackOptions{})
	b := newChromium(t, st.spki)

	b.dashboardSignIn(st)
	b.waitVisible(chromedp.CSS("#language-select"))
	b.expectText("body", "Switch to debug view", "Link to CloudLink")
	if lang := b.htmlLang(); lang != "en" {
		t.Fatalf("<html lang> = %q, want en", lang)
	}

	b.do(chromedp.SetValue(chromedp.CSS("#language-select"), "de"))
	b.clickAndLoad(chromedp.CSS("#language-submit"))
	b.expectLocation(st.proxyURL + "/?lang=de")
	b.expectText("body", "Zur Debug-Ansicht wechseln", "Mit CloudLink verknüpfen", "Sprache wechseln")
	if lang := b.htmlLang(); lang != "de" {
		t.Fatalf("<html lang> = %q, want de", lang)
	}

	// Remembered: the Checks page, without ?lang=, is German too.
	b.navigate(st.proxyURL + "/checks")
	b.expectText("h1", "Voraussetzungsprüfungen")
	b.clickAndLoad(chromedp.CSS(`a[href="/cld/"]`))
	b.expectText("body", "Zur Debug-Ansicht wechseln")

	// Back to English from the same form.
	b.do(chromedp.SetValue(chromedp.CSS("#language-select"), "en"))
	b.clickAndLoad(chromedp.CSS("#language-submit"))
	b.expectText("body", "Switch to debug view")

	if bad := st.strays(); len(bad) > 0 {
		t.Errorf("the browser asked the proxy for paths outside %s: %v", prefix, bad)
	}
}

// htmlLang is the page's <html lang>.
func (b *chromium) htmlLang() string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, step)
	defer cancel()
	lang, err := chromedp.Run(ctx, chromedp.Evaluate[string]("document.documentElement.lang"))
	if err != nil {
		b.fail("reading <html lang>", err)
	}
	return lang
}
