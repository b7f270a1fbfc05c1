package i18n

import (
	"testing"
	"time"
)

// Each language names days and months its usual way; the layout stays.
func TestTime(t *testing.T) {
	bst := time.FixedZone("BST", 3600)
	wed := time.Date(2024, 9, 18, 1, 19, 0, 0, time.UTC) // a Wednesday in September
	sun := time.Date(2024, 3, 31, 12, 0, 5, 0, time.UTC) // a Sunday in March
	for _, tc := range []struct{ code, wed, sun string }{
		{"en", "Wed, 18 Sep 2024 02:19:00 BST +0100", "Sun, 31 Mar 2024 13:00:05 BST +0100"},
		{"de", "Mi, 18 Sep 2024 02:19:00 BST +0100", "So, 31 Mär 2024 13:00:05 BST +0100"},
		{"fr", "mer., 18 sept. 2024 02:19:00 BST +0100", "dim., 31 mars 2024 13:00:05 BST +0100"},
		{"es", "mié, 18 sept 2024 02:19:00 BST +0100", "dom, 31 mar 2024 13:00:05 BST +0100"},
		{"it", "mer, 18 set 2024 02:19:00 BST +0100", "dom, 31 mar 2024 13:00:05 BST +0100"},
		{"nl", "wo, 18 sep 2024 02:19:00 BST +0100", "zo, 31 mrt 2024 13:00:05 BST +0100"},
		{"sv", "ons, 18 sep 2024 02:19:00 BST +0100", "sön, 31 mars 2024 13:00:05 BST +0100"},
	} {
		l := Default().Lookup(tc.code)
		if l == nil {
			t.Fatalf("no locale %s", tc.code)
		}
		if got := l.Time(wed, bst); got != tc.wed {
			t.Errorf("%s: %q, want %q", tc.code, got, tc.wed)
		}
		if got := l.Time(sun, bst); got != tc.sun {
			t.Errorf("%s: %q, want %q", tc.code, got, tc.sun)
		}
		if got := l.Time(time.Time{}, bst); got != "—" {
			t.Errorf("%s: zero time %q, want —", tc.code, got)
		}
	}
	// Every shipped language has its names.
	for _, l := range Default().Locales() {
		if _, ok := dateNames[l.Code()]; !ok {
			t.Errorf("no day and month names for %s", l.Code())
		}
	}
	// English keeps time.Format's names exactly.
	en := Default().English()
	for d := range 7 {
		at := wed.AddDate(0, 0, d)
		if got, want := en.Time(at, time.UTC), at.Format("Mon, 02 Jan 2006 15:04:05 MST -0700"); got != want {
			t.Errorf("English %q, want %q", got, want)
		}
	}
	for m := range 12 {
		at := time.Date(2024, time.Month(m+1), 1, 0, 0, 0, 0, time.UTC)
		if got, want := en.Time(at, time.UTC), at.Format("Mon, 02 Jan 2006 15:04:05 MST -0700"); got != want {
			t.Errorf("English %q, want %q", got, want)
		}
	}
}

func TestDecimal(t *testing.T) {
	for code, want := range map[string]string{"en": "+0.200 s, 12.5 MiB", "de": "+0,200 s, 12,5 MiB", "fr": "+0,200 s, 12,5 MiB", "sv": "+0,200 s, 12,5 MiB"} {
		if got := Default().Lookup(code).Decimal("+0.200 s, 12.5 MiB"); got != want {
			t.Errorf("%s: %q, want %q", code, got, want)
		}
	}
	for _, l := range Default().Locales() {
		if l.Code() != "en" && !decimalComma[l.Code()] {
			t.Errorf("%s: no decimal separator decided", l.Code())
		}
	}
}
